import { execFile, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { createReadStream, existsSync } from "node:fs";
import { lstat, readdir, readFile } from "node:fs/promises";
import { cpus as osCpus } from "node:os";
import { dirname, isAbsolute, join, relative, resolve, sep } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { stringify as toYaml } from "yaml";
import type { Logger } from "../../core/index.ts";
import type { MachineResources } from "./resources.ts";
import type { RunRecorder } from "./run-recorder.ts";
import { maskEnv, type Allocation, type JobSpec } from "./schema.ts";

const run = promisify(execFile);
const READER = fileURLToPath(new URL("./capture-reader-process.js", import.meta.url));

/**
 * Who the helper processes of a capture (git, python, the file reader) run as: the allow-listed
 * environment, and under compute.runAs the job's user, so a capture reads only what the job could.
 */
export interface HelperIdentity {
  env: Record<string, string>;
  uid?: number;
  gid?: number;
}

/** Bounds of the code snapshot: enough for a training project, never a data folder. */
export const SNAPSHOT_LIMITS = { maxFiles: 2000, maxFileBytes: 10 * 1024 * 1024, maxTotalBytes: 50 * 1024 * 1024 };
const SKIP_DIRS = new Set([".git", "node_modules", "__pycache__", ".venv", "venv", ".mypy_cache", ".pytest_cache", ".paved", ".ipynb_checkpoints"]);
/** Folders of credentials, skipped even when git tracks them. */
const SECRET_DIRS = new Set([".ssh", ".aws", ".gnupg", ".kube", ".docker", ".azure", ".password-store"]);
/**
 * File names that hold credentials, skipped even when git tracks them: env files, keys and
 * certificates, SSH identities, cloud and registry credentials, kubeconfigs, Terraform state.
 */
const SECRET_FILES = [
  /^\.env(\..*)?$/i,
  /^\.envrc$/i,
  /\.(pem|key|p12|pfx|jks|keystore|kdbx|ppk|asc|gpg)$/i,
  /^id_(rsa|dsa|ecdsa|ed25519)/i,
  /credential/i,
  /^client_secret.*\.json$/i,
  /^secrets?\.(ya?ml|json|toml|env|txt)$/i,
  /^(\.|_)netrc$/i,
  /^\.(pgpass|npmrc|pypirc|git-credentials|dockercfg|htpasswd|boto|s3cfg)$/i,
  /kubeconfig/i,
  /\.(tfstate|tfvars)(\.backup)?$/i,
];

/** Whether a snapshot leaves `rel` out: credentials always; with `dotfiles`, every dotfile and dot-folder. */
export function skippedFromSnapshot(rel: string, dotfiles: boolean): boolean {
  const parts = rel.split("/");
  const name = parts.at(-1) ?? "";
  if (parts.some((part) => SKIP_DIRS.has(part) || SECRET_DIRS.has(part))) return true;
  if (SECRET_FILES.some((pattern) => pattern.test(name))) return true;
  return dotfiles && parts.some((part) => part.startsWith("."));
}

export interface GitInfo {
  commit: string;
  dirty: boolean;
}

/**
 * A folder holding a file of this name is the top of any git repository a job's code may be in:
 * the search stops there (a workspace's home and a job's snapshot live in the data dir, which may
 * itself sit in a repository that is not theirs), as GIT_CEILING_DIRECTORIES does for git.
 */
export const GIT_CEILING_FILE = ".paved-git-ceiling";

/**
 * Whether `dir` is inside a git work tree, by looking for `.git` upwards: a stat per level
 * instead of forking git (a fork of the server process costs milliseconds that the next job's
 * start would wait for).
 */
export function insideGitRepository(dir: string): boolean {
  for (let current = resolve(dir); ; current = dirname(current)) {
    if (existsSync(join(current, ".git"))) return true;
    if (dirname(current) === current || existsSync(join(current, GIT_CEILING_FILE))) return false;
  }
}

/** Runs git as the helper identity; as the job's user, any owner's repository is fine (it is the job's own power). */
function git(dir: string, args: string[], as: HelperIdentity | undefined, maxBuffer = 16 * 1024 * 1024) {
  const safe = as?.uid !== undefined ? ["-c", "safe.directory=*"] : [];
  return run("git", [...safe, "-C", dir, ...args], { timeout: 10_000, maxBuffer, cwd: "/", ...helperOptions(as) });
}

function helperOptions(as: HelperIdentity | undefined): { env?: Record<string, string>; uid?: number; gid?: number } {
  if (!as) return {};
  return { env: as.env, ...(as.uid !== undefined ? { uid: as.uid, gid: as.gid } : {}) };
}

/** The commit and dirty flag of the repository holding `dir`; undefined outside a git repository. */
export async function gitInfo(dir: string, as?: HelperIdentity): Promise<GitInfo | undefined> {
  if (!insideGitRepository(dir)) return undefined;
  try {
    const { stdout: commit } = await git(dir, ["rev-parse", "HEAD"], as);
    const { stdout: status } = await git(dir, ["status", "--porcelain"], as);
    return { commit: commit.trim(), dirty: status.trim().length > 0 };
  } catch {
    return undefined;
  }
}

/**
 * The files of the code snapshot, relative to `dir`: inside a repository the files git tracks,
 * plus untracked, not ignored ones that are not dotfiles; outside one a bounded walk that skips
 * dotfiles and dot-folders. Credentials (`.env`, keys, `id_rsa`, `credentials*.json`, `.netrc`,
 * kubeconfigs, …) are never taken, tracked or not. Files over 10 MB are skipped.
 */
export async function codeFiles(dir: string, limits = SNAPSHOT_LIMITS, as?: HelperIdentity): Promise<string[]> {
  let candidates: string[];
  try {
    if (!insideGitRepository(dir)) throw new Error("not a git repository");
    const list = async (which: string[]) => (await git(dir, ["ls-files", "-z", ...which], as, 64 * 1024 * 1024)).stdout.split("\0").filter(Boolean);
    const tracked = (await list(["--cached"])).filter((rel) => !skippedFromSnapshot(rel, false));
    const untracked = (await list(["--others", "--exclude-standard"])).filter((rel) => !skippedFromSnapshot(rel, true));
    candidates = [...new Set([...tracked, ...untracked])];
  } catch {
    candidates = (await walk(dir, limits.maxFiles * 5, (name) => name.startsWith("."))).filter((rel) => !skippedFromSnapshot(rel, true));
  }
  const picked: string[] = [];
  let total = 0;
  for (const rel of candidates.sort()) {
    if (picked.length >= limits.maxFiles) break;
    const stat = await lstat(join(dir, rel)).catch(() => undefined);
    if (!stat?.isFile() || stat.size > limits.maxFileBytes || total + stat.size > limits.maxTotalBytes) continue;
    total += stat.size;
    picked.push(rel);
  }
  return picked;
}

/** Breadth-first file list under `root`: at most `max` files, and at most 10 folders per file asked for. */
async function walk(root: string, max: number, skipDir: (name: string) => boolean = () => false): Promise<string[]> {
  const out: string[] = [];
  const queue = [""];
  let folders = 0;
  while (queue.length > 0 && out.length < max && folders++ < max * 10) {
    const rel = queue.shift()!;
    const entries = await readdir(join(root, rel), { withFileTypes: true }).catch(() => []);
    for (const entry of entries) {
      const path = rel ? `${rel}/${entry.name}` : entry.name;
      if (entry.isDirectory() && !SKIP_DIRS.has(entry.name) && !skipDir(entry.name)) queue.push(path);
      else if (entry.isFile()) out.push(path);
    }
  }
  return out;
}

/**
 * Runs the capture reader (capture-reader-process.js) as `as`: one line out per path. Used under
 * compute.runAs, where the server must not read on a job's behalf what the job could not.
 */
async function readAs(as: HelperIdentity, request: { op: "read" | "digest"; paths: string[]; maxFileBytes?: number; skipDirs?: string[] }): Promise<(string | undefined)[]> {
  const child = spawn(process.execPath, [READER], { cwd: "/", stdio: ["pipe", "pipe", "ignore"], ...helperOptions(as) });
  const lines: (string | undefined)[] = [];
  const done = new Promise<void>((resolveDone, reject) => {
    child.once("error", reject);
    child.once("close", (code) => (code === 0 ? resolveDone() : reject(new Error(`the capture reader exited with code ${code}`))));
  });
  createInterface({ input: child.stdout!, crlfDelay: Infinity }).on("line", (line) => lines.push(line === "-" ? undefined : line));
  child.stdin!.end(JSON.stringify(request));
  await done;
  return lines;
}

/**
 * SHA-256 of a file's bytes, or of a folder's sorted (relative path, file digest) list; with
 * `as` under compute.runAs, computed by the capture reader as the job's user.
 */
export async function datasetDigest(path: string, as?: HelperIdentity): Promise<string> {
  if (as?.uid !== undefined) {
    const [digest] = await readAs(as, { op: "digest", paths: [path], skipDirs: [...SKIP_DIRS] });
    if (!digest) throw new Error(`user ${as.uid} cannot read dataset '${path}'`);
    return digest;
  }
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

/**
 * Version and installed packages of an interpreter, asked once per interpreter (and user) per
 * server. The interpreter is the job's own program: it runs with the allow-listed environment
 * and, under compute.runAs, as the job's user.
 */
export function pythonEnvironment(python: string, as?: HelperIdentity): Promise<PythonEnvironment | undefined> {
  const key = `${as?.uid ?? ""}:${python}`;
  let cached = pythonCache.get(key);
  if (!cached) {
    cached = (async () => {
      try {
        const { stdout } = await run(python, ["-c", LIST_PACKAGES], { timeout: 60_000, maxBuffer: 16 * 1024 * 1024, cwd: "/", ...helperOptions(as) });
        const [version = "", ...packages] = stdout.split("\n");
        return { version: version.trim(), requirements: packages.filter(Boolean).join("\n") + "\n" };
      } catch {
        return undefined;
      }
    })();
    pythonCache.set(key, cached);
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
  /** Who git, python and the file reader run as (see HelperIdentity). */
  as?: HelperIdentity;
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
    // env values are secrets: the artifact shows their names only.
    await runs.putArtifact(runId, "spec.yaml", Buffer.from(toYaml({ kind: "Job", ...spec, env: maskEnv(spec.env), apiVersion: undefined })));
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
      if ("dataset" in d) {
        // A registered version: recorded (with its digest) when the job was submitted.
        continue;
      } else if ("path" in d) {
        const path = resolveDatasetPath(spec.workingDir, d.path);
        inputs.push({ name: d.name, digest: await datasetDigest(path, input.as), sourceType: "local", source: path });
      } else {
        inputs.push({ name: d.name, digest: d.digest, sourceType: sourceTypeOf(d.source), source: d.source });
      }
    }
    if (inputs.length > 0) await runs.logInputs(runId, inputs);
  });
  await step("source", async () => {
    const git = await gitInfo(spec.workingDir, input.as);
    const tags: Record<string, string> = { "mlflow.source.name": spec.command.join(" ").slice(0, 500), "mlflow.source.type": "JOB" };
    if (git) {
      tags["mlflow.source.git.commit"] = git.commit;
      tags["paved.source.dirty"] = String(git.dirty);
    }
    await runs.setTags(runId, tags);
    const files = (await codeFiles(spec.workingDir, SNAPSHOT_LIMITS, input.as)).filter(
      (rel) => !relative(spec.workingDir, join(spec.workingDir, rel)).startsWith(`..${sep}`),
    );
    if (input.as?.uid !== undefined) {
      // Read as the job's user: what it cannot read stays out of the run.
      const contents = await readAs(input.as, { op: "read", paths: files.map((rel) => join(spec.workingDir, rel)), maxFileBytes: SNAPSHOT_LIMITS.maxFileBytes });
      for (const [i, rel] of files.entries()) {
        const base64 = contents[i];
        if (base64 !== undefined) await runs.putArtifact(runId, `code/${rel}`, Buffer.from(base64, "base64"));
      }
    } else {
      for (const rel of files) await runs.putArtifact(runId, `code/${rel}`, await readFile(join(spec.workingDir, rel)));
    }
  });
  await step("python environment", async () => {
    const env = await pythonEnvironment(input.python, input.as);
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
