import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { createReadStream, existsSync } from "node:fs";
import { lstat, readdir, readFile } from "node:fs/promises";
import { cpus as osCpus } from "node:os";
import { dirname, isAbsolute, join, relative, resolve, sep } from "node:path";
import { promisify } from "node:util";
import { stringify as toYaml } from "yaml";
import type { Logger } from "../../core/index.ts";
import type { MachineResources } from "./resources.ts";
import type { RunRecorder } from "./run-recorder.ts";
import type { Allocation, JobSpec } from "./schema.ts";

const run = promisify(execFile);

/** Bounds of the code snapshot: enough for a training project, never a data folder. */
export const SNAPSHOT_LIMITS = { maxFiles: 2000, maxFileBytes: 10 * 1024 * 1024, maxTotalBytes: 50 * 1024 * 1024 };
const SKIP_DIRS = new Set([".git", "node_modules", "__pycache__", ".venv", "venv", ".mypy_cache", ".pytest_cache", ".paved", ".ipynb_checkpoints"]);

export interface GitInfo {
  commit: string;
  dirty: boolean;
}

/**
 * Whether `dir` is inside a git work tree, by looking for `.git` upwards: a stat per level
 * instead of forking git (a fork of the server process costs milliseconds that the next job's
 * start would wait for).
 */
export function insideGitRepository(dir: string): boolean {
  for (let current = resolve(dir); ; current = dirname(current)) {
    if (existsSync(join(current, ".git"))) return true;
    if (dirname(current) === current) return false;
  }
}

/** The commit and dirty flag of the repository holding `dir`; undefined outside a git repository. */
export async function gitInfo(dir: string): Promise<GitInfo | undefined> {
  if (!insideGitRepository(dir)) return undefined;
  try {
    const { stdout: commit } = await run("git", ["-C", dir, "rev-parse", "HEAD"], { timeout: 10_000 });
    const { stdout: status } = await run("git", ["-C", dir, "status", "--porcelain"], { timeout: 10_000, maxBuffer: 16 * 1024 * 1024 });
    return { commit: commit.trim(), dirty: status.trim().length > 0 };
  } catch {
    return undefined;
  }
}

/**
 * The files of the code snapshot, relative to `dir`: what git tracks (plus untracked, not
 * ignored files) inside a repository, else a bounded walk. Files over 10 MB are skipped.
 */
export async function codeFiles(dir: string, limits = SNAPSHOT_LIMITS): Promise<string[]> {
  let candidates: string[];
  try {
    if (!insideGitRepository(dir)) throw new Error("not a git repository");
    const { stdout } = await run("git", ["-C", dir, "ls-files", "-z", "--cached", "--others", "--exclude-standard"], {
      timeout: 10_000,
      maxBuffer: 64 * 1024 * 1024,
    });
    candidates = stdout.split("\0").filter(Boolean);
  } catch {
    candidates = await walk(dir, limits.maxFiles * 5);
  }
  const picked: string[] = [];
  let total = 0;
  for (const rel of candidates.sort()) {
    if (picked.length >= limits.maxFiles) break;
    if (rel.split("/").some((part) => SKIP_DIRS.has(part))) continue;
    const stat = await lstat(join(dir, rel)).catch(() => undefined);
    if (!stat?.isFile() || stat.size > limits.maxFileBytes || total + stat.size > limits.maxTotalBytes) continue;
    total += stat.size;
    picked.push(rel);
  }
  return picked;
}

async function walk(root: string, max: number): Promise<string[]> {
  const out: string[] = [];
  const queue = [""];
  while (queue.length > 0 && out.length < max) {
    const rel = queue.shift()!;
    const entries = await readdir(join(root, rel), { withFileTypes: true }).catch(() => []);
    for (const entry of entries) {
      const path = rel ? `${rel}/${entry.name}` : entry.name;
      if (entry.isDirectory() && !SKIP_DIRS.has(entry.name)) queue.push(path);
      else if (entry.isFile()) out.push(path);
    }
  }
  return out;
}

/** SHA-256 of a file's bytes, or of a folder's sorted (relative path, file digest) list. */
export async function datasetDigest(path: string): Promise<string> {
  const stat = await lstat(path);
  if (stat.isFile()) return hashFile(path);
  const files = (await walk(path, 1_000_000)).sort();
  const hash = createHash("sha256");
  for (const rel of files) hash.update(`${rel}\0${await hashFile(join(path, rel))}\n`);
  return hash.digest("hex");
}

async function hashFile(path: string): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest("hex");
}

/** Resolves a dataset path against the working directory. */
export function resolveDatasetPath(workingDir: string, path: string): string {
  return isAbsolute(path) ? path : resolve(workingDir, path);
}

export interface PythonEnvironment {
  version: string;
  requirements: string;
}

const pythonCache = new Map<string, Promise<PythonEnvironment | undefined>>();

// Installed distributions as `name==version` lines, from importlib.metadata: works where pip is
// not installed (Debian's python3 without python3-pip).
const LIST_PACKAGES = `import importlib.metadata as m, platform
print(platform.python_version())
print("\\n".join(sorted({"%s==%s" % (d.metadata["Name"], d.version) for d in m.distributions() if d.metadata["Name"]}, key=str.lower)))`;

/** Version and installed packages of an interpreter, asked once per interpreter per server. */
export function pythonEnvironment(python: string): Promise<PythonEnvironment | undefined> {
  let cached = pythonCache.get(python);
  if (!cached) {
    cached = (async () => {
      try {
        const { stdout } = await run(python, ["-c", LIST_PACKAGES], { timeout: 60_000, maxBuffer: 16 * 1024 * 1024 });
        const [version = "", ...packages] = stdout.split("\n");
        return { version: version.trim(), requirements: packages.filter(Boolean).join("\n") + "\n" };
      } catch {
        return undefined;
      }
    })();
    pythonCache.set(python, cached);
  }
  return cached;
}

export interface CaptureInput {
  runId: string;
  jobId: string;
  spec: JobSpec;
  allocation: Allocation;
  machine: MachineResources;
  python: string;
}

/**
 * Records what a job ran with, after its process started (so none of it delays the start):
 * source commit and snapshot, resolved spec, hyperparameters, dataset digests, Python
 * environment and hardware. Each part is best effort: a failure is logged, never fails the job.
 */
export async function captureEnvironment(runs: RunRecorder, input: CaptureInput, logger: Logger): Promise<void> {
  const { runId, spec } = input;
  const step = async (what: string, fn: () => Promise<void>) => {
    try {
      await fn();
    } catch (error) {
      logger.warn({ err: error, jobId: input.jobId, runId }, `capture of ${what} failed`);
    }
  };
  await step("spec", async () => {
    await runs.putArtifact(runId, "spec.yaml", Buffer.from(toYaml({ kind: "Job", ...spec, apiVersion: undefined })));
  });
  await step("hyperparameters", async () => {
    const params = Object.fromEntries(Object.entries(spec.hyperparameters).map(([k, v]) => [k, String(v)]));
    if (Object.keys(params).length > 0) await runs.logParams(runId, params);
  });
  await step("hardware", async () => {
    const gpus = input.machine.gpus.filter((g) => input.allocation.gpus.includes(g.index));
    await runs.setTags(runId, {
      "paved.hardware.cpu_model": input.machine.cpuModel || osCpus()[0]?.model || "unknown",
      "paved.hardware.cpu_count": String(input.machine.cpus),
      "paved.hardware.memory_mib": String(input.machine.memoryMiB),
      "paved.hardware.gpus": gpus.map((g) => g.name).join(", "),
      "paved.allocation.gpus": input.allocation.gpus.join(","),
      "paved.allocation.cpus": String(input.allocation.cpus),
      "paved.allocation.memory_mib": String(input.allocation.memoryMiB),
    });
  });
  await step("datasets", async () => {
    const inputs = [];
    for (const d of spec.datasets) {
      if ("path" in d) {
        const path = resolveDatasetPath(spec.workingDir, d.path);
        inputs.push({ name: d.name, digest: await datasetDigest(path), sourceType: "local", source: path });
      } else {
        inputs.push({ name: d.name, digest: d.digest, sourceType: sourceTypeOf(d.source), source: d.source });
      }
    }
    if (inputs.length > 0) await runs.logInputs(runId, inputs);
  });
  await step("source", async () => {
    const git = await gitInfo(spec.workingDir);
    const tags: Record<string, string> = { "mlflow.source.name": spec.command.join(" ").slice(0, 500), "mlflow.source.type": "JOB" };
    if (git) {
      tags["mlflow.source.git.commit"] = git.commit;
      tags["paved.source.dirty"] = String(git.dirty);
    }
    await runs.setTags(runId, tags);
    for (const rel of await codeFiles(spec.workingDir)) {
      const full = join(spec.workingDir, rel);
      if (relative(spec.workingDir, full).startsWith(`..${sep}`)) continue;
      await runs.putArtifact(runId, `code/${rel}`, await readFile(full));
    }
  });
  await step("python environment", async () => {
    const env = await pythonEnvironment(input.python);
    if (!env) return;
    await runs.setTags(runId, { "paved.python.version": env.version, "paved.python.interpreter": input.python });
    if (env.requirements) await runs.putArtifact(runId, "requirements.txt", Buffer.from(env.requirements));
  });
}

function sourceTypeOf(source: string): string {
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(source)?.[1]?.toLowerCase();
  if (!scheme) return "external";
  if (scheme === "https") return "http";
  return scheme;
}
