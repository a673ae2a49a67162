import { readFile } from "node:fs/promises";
import { dirname, isAbsolute, resolve } from "node:path";
import { parseAllDocuments } from "yaml";
import type { DatasetRef, JobSpec, PipelineSpecInput, SweepSpec } from "../client/index.ts";
import { invalidInput, notFound, suggestSimilar } from "../core/index.ts";

/** Kinds `paved apply` knows; a document without `kind` is a Job. */
export const KNOWN_KINDS = ["Job", "Sweep", "Pipeline"] as const;
export type Kind = (typeof KNOWN_KINDS)[number];

export interface LoadedDocument {
  kind: "Job";
  spec: JobSpec;
  /** The file (and document number when there are several), for messages. */
  where: string;
}
export interface SweepDocument {
  kind: "Sweep";
  spec: SweepSpec;
  where: string;
}
/** A pipeline (kind: Pipeline) as written, its job steps' paths made absolute. */
export interface PipelineDocument {
  kind: "Pipeline";
  spec: PipelineSpecInput;
  where: string;
}
/** A document of any kind `paved apply` knows. */
export type AnyDocument = LoadedDocument | SweepDocument | PipelineDocument;

/** Reads a YAML (or JSON) spec file of jobs, one or more `---` separated documents. */
export async function loadSpecFile(file: string, cwd: string): Promise<LoadedDocument[]> {
  return jobsOnly(await loadSpecDocuments(file, cwd));
}

/** Reads a YAML (or JSON) spec file of any kind `paved apply` knows (Job, Sweep). */
export async function loadSpecDocuments(file: string, cwd: string): Promise<AnyDocument[]> {
  const path = resolve(cwd, file);
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") throw notFound(`spec file '${file}' does not exist; check the path given to -f`);
    throw invalidInput(`cannot read spec file '${file}': ${(error as Error).message}`);
  }
  return parseSpecDocuments(text, path);
}

function jobsOnly(documents: AnyDocument[]): LoadedDocument[] {
  return documents.map((d) => {
    if (d.kind !== "Job") throw invalidInput(`${d.where}: is a ${d.kind}; create it with \`paved apply -f sweep.yaml\` or \`paved sweeps create -f sweep.yaml\``);
    return d;
  });
}

/** Parses job spec documents; relative paths in them are resolved against the file's folder. */
export function parseSpecText(text: string, path: string): LoadedDocument[] {
  return jobsOnly(parseSpecDocuments(text, path));
}

/** Parses spec documents of any kind; relative paths in them are resolved against the file's folder. */
export function parseSpecDocuments(text: string, path: string): AnyDocument[] {
  const documents = parseAllDocuments(text);
  const loaded: AnyDocument[] = [];
  for (const [index, document] of documents.entries()) {
    const where = documents.length > 1 ? `${path} (document ${index + 1})` : path;
    if (document.errors.length > 0) throw invalidInput(`${where} is not valid YAML: ${document.errors[0]?.message}`);
    const value: unknown = document.toJS();
    if (value === null || value === undefined) continue;
    if (typeof value !== "object" || Array.isArray(value)) throw invalidInput(`${where} must hold a mapping with kind: Job and the job's fields (or kind: Sweep)`);
    loaded.push(toDocument(value as Record<string, unknown>, dirname(path), where));
  }
  if (loaded.length === 0) throw invalidInput(`${path} holds no documents; see \`paved docs cli\` for an example spec`);
  return loaded;
}

function toDocument(raw: Record<string, unknown>, folder: string, where: string): AnyDocument {
  const { kind = "Job", apiVersion: _apiVersion, metadata, spec: nested, ...rest } = raw;
  if (typeof kind !== "string" || !(KNOWN_KINDS as readonly string[]).includes(kind)) {
    const similar = typeof kind === "string" ? suggestSimilar(kind, KNOWN_KINDS) : undefined;
    throw invalidInput(`${where}: unknown kind '${String(kind)}'${similar ? `; did you mean '${similar}'?` : ""}; known kinds: ${KNOWN_KINDS.join(", ")}`, {
      kind,
      knownKinds: [...KNOWN_KINDS],
    });
  }
  if (kind === "Pipeline") return toPipelineDocument(raw, folder, where);
  // Both a flat document and the Kubernetes shape (metadata.name + spec) are accepted.
  const fields: Record<string, unknown> =
    nested && typeof nested === "object" && !Array.isArray(nested) ? { ...rest, ...(nested as Record<string, unknown>) } : { ...rest };
  const name = (metadata as { name?: unknown } | undefined)?.name;
  if (fields.name === undefined && typeof name === "string") fields.name = name;
  if (kind === "Sweep") {
    const trial = fields.trial;
    if (!trial || typeof trial !== "object" || Array.isArray(trial)) {
      throw invalidInput(`${where}: a Sweep needs 'trial', the job each trial runs, e.g. trial: { command: [python3, train.py], compute: { cpus: 1 } }`);
    }
    const resolved = resolveJobPaths(trial as Record<string, unknown>, folder, `${where}: trial`);
    return { kind: "Sweep", spec: { ...fields, trial: resolved } as unknown as SweepSpec, where };
  }
  return { kind: "Job", spec: resolveJobPaths(fields, folder, where), where };
}

/** A pipeline keeps its shape (metadata, spec); each `job:` step's workingDir and paths resolve against the file's folder. */
function toPipelineDocument(raw: Record<string, unknown>, folder: string, where: string): PipelineDocument {
  const spec = raw.spec as { steps?: unknown } | undefined;
  if (!spec || typeof spec !== "object" || !Array.isArray(spec.steps)) {
    throw invalidInput(`${where}: a Pipeline needs metadata.name and spec.steps, e.g. spec: { steps: [{ name: train, job: { command: [python3, train.py] } }] }`);
  }
  const steps = spec.steps.map((step: unknown, i: number) => {
    if (!step || typeof step !== "object" || Array.isArray(step)) return step;
    const job = (step as { job?: unknown }).job;
    if (!job || typeof job !== "object" || Array.isArray(job)) return step;
    const name = (step as { name?: unknown }).name;
    return { ...step, job: resolveJobPaths(job as Record<string, unknown>, folder, `${where}: step ${typeof name === "string" ? name : i}`) };
  });
  return { kind: "Pipeline", spec: { ...raw, spec: { ...spec, steps } } as unknown as PipelineSpecInput, where };
}

/** Checks the fields the CLI must touch and makes workingDir, checkpointDir and dataset paths absolute. */
export function resolveJobPaths(fields: Record<string, unknown>, folder: string, where: string): JobSpec {
  const { command, workingDir, datasets } = fields;
  if (!Array.isArray(command) || command.length === 0 || !command.every((a) => typeof a === "string" || typeof a === "number")) {
    throw invalidInput(`${where}: 'command' must be a non-empty list of arguments, e.g. command: [python3, train.py, --epochs, "5"]`);
  }
  if (workingDir !== undefined && typeof workingDir !== "string") throw invalidInput(`${where}: 'workingDir' must be a path`);
  const base = workingDir ? resolve(folder, workingDir) : folder;
  const spec = { ...fields, command: command.map(String), workingDir: base } as JobSpec;
  if (typeof fields.checkpointDir === "string") spec.checkpointDir = resolve(folder, fields.checkpointDir);
  if (Array.isArray(datasets)) {
    spec.datasets = datasets.map((d: unknown) => {
      const dataset = d as Record<string, unknown> | null;
      if (dataset && typeof dataset.path === "string" && !isAbsolute(dataset.path)) return { ...dataset, path: resolve(folder, dataset.path) };
      return dataset;
    }) as DatasetRef[];
  }
  return spec;
}
