import { createWriteStream } from "node:fs";
import { chmod, mkdir, readFile, readdir, rm, writeFile } from "node:fs/promises";
import type { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { dirname, join } from "node:path";
import { PlatformError, confinePath } from "../../core/index.ts";
import type { JobSpec } from "./schema.ts";

/**
 * Registered dataset versions a job reads (`datasets: [{name: train, dataset: datasets:/churn@3}]`),
 * as the datasets module (above compute) answers for them; app.ts connects it.
 */
export interface JobDatasets {
  /**
   * A reference among `team`'s datasets, pinned: the version's own ref (`datasets:/churn@3`, an
   * alias resolved once), its digest and its files. NOT_FOUND for a dataset, version or alias that
   * does not exist (or is another team's).
   */
  resolve(team: string, ref: string): Promise<{ ref: string; digest: string; files: { path: string; digest: string; size: number }[] }>;
  /** The bytes of a file (a blob of the artifact store). */
  open(digest: string): Promise<Readable>;
}

/** The dataset inputs of a spec that name registered versions. */
export const registeredInputs = (spec: Pick<JobSpec, "datasets">) => spec.datasets.filter((d): d is Extract<JobSpec["datasets"][number], { dataset: string }> => "dataset" in d);

/** Where a job's dataset inputs are written: `<jobDir>/inputs/<name>/`, each read-only. */
export const inputsDir = (jobDir: string) => join(jobDir, "inputs");

/** The environment variable naming one input's folder: PAVED_DATASET_<NAME> (upper case, other characters as '_'). */
export const inputVariable = (name: string) => `PAVED_DATASET_${name.toUpperCase().replace(/[^A-Z0-9]/g, "_")}`;

/**
 * Pins every registered dataset of a spec at submit (an alias names the version it named then, as a
 * deployment's does), so each attempt and retry reads the same bytes; a spec without any is
 * returned as it is. UNSUPPORTED without a datasets module, or on an executor whose machines do not
 * share this server's files (Kubernetes).
 */
export async function pinDatasets(spec: JobSpec, team: string, datasets: JobDatasets | undefined, executor: string): Promise<{ spec: JobSpec; inputs: PinnedInput[] }> {
  const inputs = registeredInputs(spec);
  if (inputs.length === 0) return { spec, inputs: [] };
  if (!datasets) throw new PlatformError("UNSUPPORTED", "this server has no datasets module; give the dataset as a path or a source with its digest");
  if (executor === "kubernetes") {
    throw new PlatformError("UNSUPPORTED", "registered datasets are written into the job's folder on this server's file system, which Kubernetes pods do not share; run the job on the local or Slurm executor, or read the files from the artifact store in the job");
  }
  const names = new Set<string>();
  const pinned: JobSpec["datasets"] = [];
  const records: PinnedInput[] = [];
  for (const d of spec.datasets) {
    if (names.has(d.name)) throw new PlatformError("INVALID_INPUT", `two datasets of the job are named '${d.name}'; give each its own name (it is the folder it is written to)`);
    names.add(d.name);
    if (!("dataset" in d)) {
      pinned.push(d);
      continue;
    }
    const version = await datasets.resolve(team, d.dataset);
    pinned.push({ name: d.name, dataset: version.ref });
    records.push({ name: d.name, digest: version.digest, sourceType: "paved", source: version.ref });
  }
  return { spec: { ...spec, datasets: pinned }, inputs: records };
}

/** A pinned registered dataset as the job's run records it (its inputs, as MLflow's log-inputs does). */
export interface PinnedInput {
  name: string;
  digest: string;
  sourceType: "paved";
  /** `datasets:/<name>@<version>`. */
  source: string;
}

/**
 * Writes each registered dataset version of a job into `<jobDir>/inputs/<name>/` (files 0444,
 * folders 0555: the job reads them, and under compute.runAs cannot change them) and answers the
 * variables that name them. Idempotent per attempt: a folder written whole before (its marker names
 * the same version) is kept; a half-written one (a crash) is written again.
 */
export async function materializeInputs(spec: JobSpec, team: string, jobDir: string, datasets: JobDatasets | undefined): Promise<Record<string, string>> {
  const inputs = registeredInputs(spec);
  if (inputs.length === 0) return {};
  if (!datasets) throw new PlatformError("UNSUPPORTED", "this server has no datasets module to read the job's registered datasets from");
  const root = inputsDir(jobDir);
  await mkdir(root, { recursive: true, mode: 0o755 });
  await chmod(root, 0o755);
  const env: Record<string, string> = { PAVED_INPUTS_DIR: root };
  for (const input of inputs) {
    const dir = join(root, input.name);
    const marker = join(root, `.${input.name}.done`);
    env[inputVariable(input.name)] = dir;
    if ((await readFile(marker, "utf8").catch(() => "")) === input.dataset) continue;
    await removeTree(dir);
    const version = await datasets.resolve(team, input.dataset);
    const folders = new Set<string>([dir]);
    for (const file of version.files) {
      const target = join(dir, confinePath(file.path, "a dataset file's path"));
      for (let d = dirname(target); d.startsWith(dir) && !folders.has(d); d = dirname(d)) folders.add(d);
      await mkdir(dirname(target), { recursive: true });
      await pipeline(await datasets.open(file.digest), createWriteStream(target, { mode: 0o444, flags: "wx" }));
      await chmod(target, 0o444);
    }
    // Deepest first, so a parent is closed after its children are.
    for (const d of [...folders].sort((a, b) => b.length - a.length)) await chmod(d, 0o555);
    await writeFile(marker, input.dataset, { mode: 0o644 });
  }
  return env;
}

/** Removes a job's written inputs (after its last attempt: the copies are the job's, the versions stay in the store). */
export async function removeInputs(jobDir: string): Promise<void> {
  await removeTree(inputsDir(jobDir));
}

/** Removes a folder whose subfolders were made read-only (they get their write bit back first). */
async function removeTree(dir: string): Promise<void> {
  const writable = async (d: string): Promise<void> => {
    const entries = await readdir(d, { withFileTypes: true }).catch(() => undefined);
    if (!entries) return;
    await chmod(d, 0o755);
    for (const e of entries) if (e.isDirectory() && !e.isSymbolicLink()) await writable(join(d, e.name));
  };
  await writable(dir);
  await rm(dir, { recursive: true, force: true });
}
