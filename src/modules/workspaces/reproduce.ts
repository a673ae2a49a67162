import { createWriteStream } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import { dirname, isAbsolute, join, resolve, sep } from "node:path";
import { pipeline } from "node:stream/promises";
import type { Readable } from "node:stream";
import { parse as parseYaml, stringify as toYaml } from "yaml";
import { invalidInput, type Principal, type ResourceRef } from "../../core/index.ts";
import { authorize } from "../identity/index.ts";
import type { RunDetails } from "../tracking/index.ts";

/** What reproduction reads of tracking: a run, its experiment and its files. */
export interface RunSource {
  runResource(runId: string): Promise<ResourceRef>;
  getRun(runId: string): Promise<RunDetails>;
  getExperiment(id: string): Promise<{ name: string; team_id: string }>;
  artifactBlobs(runId: string, path?: string): Promise<{ path: string; size: number }[]>;
  openArtifact(runId: string, path: string): Promise<{ stream: Readable; size: number }>;
}

/** What reproduction reads of the registry: the run behind a model version. */
export interface ModelSource {
  modelResource(name: string): Promise<ResourceRef>;
  resolveVersion(name: string, versionOrAlias: string): Promise<{ version: number; run_id: string | null }>;
}

/** The run a workspace reproduces, read and authorized. */
export interface SourceRun {
  runId: string;
  /** NAME@VERSION when it was named through a model version. */
  model: string | null;
  run: RunDetails;
  experiment: { name: string; team: string };
  params: Record<string, string>;
  tags: Record<string, string>;
}

/** Where a reproduction writes what it knows of the run (besides the code, at the home's root). */
export const RUN_FOLDER = "paved-run";
/** Bounds of what is copied into a home: a training project's code, never a data folder. */
const LIMITS = { maxFiles: 5000, maxBytes: 200 * 1024 * 1024 };

/**
 * The run `--from-run` (or the version `--from-model` NAME@VERSION) names, if the principal may
 * read it: another team's run, or a missing one, is NOT_FOUND alike.
 */
export async function sourceRun(ref: { fromRun?: string | undefined; fromModel?: string | undefined }, principal: Principal, runs: RunSource, models: ModelSource): Promise<SourceRun> {
  if (ref.fromRun !== undefined && ref.fromModel !== undefined) throw invalidInput("give --from-run or --from-model, not both");
  let runId = ref.fromRun;
  let model: string | null = null;
  if (ref.fromModel !== undefined) {
    const at = ref.fromModel.lastIndexOf("@");
    const name = ref.fromModel.slice(0, at);
    authorize(principal, "models:read", await models.modelResource(name));
    const version = await models.resolveVersion(name, ref.fromModel.slice(at + 1));
    if (!version.run_id) {
      throw invalidInput(`version ${version.version} of model '${name}' was not registered from a run (it records no code or parameters to reproduce); open a workspace with --from-run on the run that trained it`, { model: name, version: version.version });
    }
    runId = version.run_id;
    model = `${name}@${version.version}`;
  }
  authorize(principal, "runs:read", await runs.runResource(runId!));
  const run = await runs.getRun(runId!);
  const experiment = await runs.getExperiment(run.info.experiment_id);
  return {
    runId: runId!,
    model,
    run,
    experiment: { name: experiment.name, team: experiment.team_id },
    params: Object.fromEntries(run.params.map((p) => [p.key, p.value])),
    tags: Object.fromEntries(run.tags.map((t) => [t.key, t.value])),
  };
}

/** What was written into the home, for the workspace's events. */
export interface Materialized {
  codeFiles: number;
  codeBytes: number;
  /** Code files left out (over the bounds). */
  skipped: number;
  /** `paved apply -f paved-run/job.yaml` when the run was a job's (its spec is known). */
  rerun: string | null;
}

/**
 * Writes a run into a (new) home folder: its code snapshot (the run's `code/` files) at the root,
 * and under paved-run/ its parameters (params.json), what it was (run.json: source commit,
 * command, datasets with their digests, interpreter and environment), its packages
 * (requirements.txt) and, for a job's run, job.yaml to run it again from this folder.
 */
export async function materializeRun(source: SourceRun, home: string, runs: RunSource, environment: string | null): Promise<Materialized> {
  const { runId, run, tags } = source;
  const root = resolve(home);
  const inside = (rel: string) => {
    const path = resolve(root, rel);
    if (isAbsolute(rel) || !path.startsWith(root + sep)) throw invalidInput(`run ${runId} has a file '${rel}' outside its folder; it cannot be reproduced`);
    return path;
  };
  const write = async (rel: string, stream: Readable) => {
    const path = inside(rel);
    await mkdir(dirname(path), { recursive: true });
    await pipeline(stream, createWriteStream(path, { mode: 0o644 }));
  };
  const code = (await runs.artifactBlobs(runId, "code")).filter((b) => b.path.startsWith("code/")).sort((a, b) => a.path.localeCompare(b.path));
  let codeBytes = 0;
  let codeFiles = 0;
  for (const blob of code) {
    if (codeFiles >= LIMITS.maxFiles || codeBytes + blob.size > LIMITS.maxBytes) continue;
    await write(blob.path.slice("code/".length), (await runs.openArtifact(runId, blob.path)).stream);
    codeFiles++;
    codeBytes += blob.size;
  }
  const folder = inside(RUN_FOLDER);
  await mkdir(folder, { recursive: true });
  const has = async (path: string) => (await runs.artifactBlobs(runId, path).catch(() => [])).some((b) => b.path === path);
  const requirements = (await has("requirements.txt")) ? `${RUN_FOLDER}/requirements.txt` : null;
  if (requirements) await write(requirements, (await runs.openArtifact(runId, "requirements.txt")).stream);
  let rerun: string | null = null;
  let command: string[] | null = null;
  if (await has("spec.yaml")) {
    const spec = parseYaml(await streamText((await runs.openArtifact(runId, "spec.yaml")).stream)) as Record<string, unknown>;
    command = Array.isArray(spec.command) ? spec.command.map(String) : null;
    const envNames = Object.keys((spec.env as Record<string, string> | undefined) ?? {});
    // Values of a job's env are secrets the run never kept; a reproduction starts from a fresh
    // checkpoint folder, in this workspace's team, from this folder's code.
    const { env: _env, team: _team, checkpointDir: _checkpoint, workspaceId: _workspace, apiVersion: _api, kind: _kind, workingDir: _wd, ...rest } = spec;
    const header = [
      `# Run ${runId} of experiment '${source.experiment.name}' again, from this workspace's copy of its code:`,
      `#   paved apply -f ${RUN_FOLDER}/job.yaml`,
      ...(envNames.length ? [`# Its env had ${envNames.join(", ")} (values are never recorded): add them under env: before applying.`] : []),
    ];
    await writeFile(join(folder, "job.yaml"), `${header.join("\n")}\n${toYaml({ apiVersion: "paved/v1", kind: "Job", ...rest, workingDir: ".." })}`);
    rerun = `paved apply -f ${RUN_FOLDER}/job.yaml`;
  }
  await writeFile(join(folder, "params.json"), `${JSON.stringify(source.params, null, 2)}\n`);
  const description = {
    run: runId,
    runName: run.info.run_name,
    experiment: source.experiment.name,
    model: source.model,
    status: run.info.status,
    source: {
      commit: tags["mlflow.source.git.commit"] ?? run.info.source_commit ?? null,
      dirty: tags["paved.source.dirty"] === undefined ? null : tags["paved.source.dirty"] === "true",
      entrypoint: tags["mlflow.source.name"] ?? run.info.source_entrypoint ?? null,
      command,
      job: run.info.job_id,
    },
    code: { files: codeFiles, bytes: codeBytes, skipped: code.length - codeFiles, note: codeFiles ? "the run's code snapshot, at this folder's root" : "the run recorded no code snapshot (it was not a job's run)" },
    params: source.params,
    datasets: run.inputs.map((d) => ({ name: d.name, digest: d.digest, source: d.source, sourceType: d.source_type })),
    environment: {
      workspace: environment,
      recorded: tags["paved.environment"] ?? null,
      interpreter: tags["paved.python.interpreter"] ?? null,
      pythonVersion: tags["paved.python.version"] ?? null,
      requirements,
    },
    rerun,
  };
  await writeFile(join(folder, "run.json"), `${JSON.stringify(description, null, 2)}\n`);
  return { codeFiles, codeBytes, skipped: code.length - codeFiles, rerun };
}

async function streamText(stream: Readable): Promise<string> {
  let text = "";
  for await (const chunk of stream) {
    text += String(chunk);
    if (text.length > 1024 * 1024) break;
  }
  return text;
}
