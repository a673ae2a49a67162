import { chmodSync, existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { request as httpRequest } from "node:http";
import { createHash, randomBytes } from "node:crypto";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { PlatformError } from "../../core/index.ts";
import { GIT_CEILING_FILE } from "../compute/index.ts";

/** The Debian package that brings `/usr/bin/jupyter` (Jupyter Notebook 6). */
export const JUPYTER_PACKAGE = "jupyter-notebook";
/** Python files the kernels load: the launcher and the fallback `mlflow` module. */
const PYTHON_DIR = fileURLToPath(new URL("./python/", import.meta.url));
/** The Python SDK of this checkout (sdk/python): `import paved` works in every workspace, with PAVED_URL and PAVED_TOKEN set. */
const SDK_DIR = fileURLToPath(new URL("../../../sdk/python/", import.meta.url)).replace(/\/$/, "");
/** Longest path a Unix socket may have on Linux (108 bytes with the terminating NUL). */
const MAX_SOCKET_PATH = 100;

/** Where a workspace's server lives on disk. */
export interface WorkspaceFolders {
  /** The notebook folder and HOME: kept across stop and start, removed on delete. */
  home: string;
  /** Owner-only: the token file, the socket, Jupyter's runtime and kernel specs. */
  run: string;
  socket: string;
  tokenFile: string;
  /** Variables kernels and terminals read when they start (and kernels before each cell once it changes). */
  envFile: string;
  /** The id of a warm pool server's spare kernel, which the first notebook at the root gets. */
  spareKernelFile: string;
  /** Kernel id to notebook path, which kernels read to name their notebook on runs. */
  notebooksFile: string;
}

export function workspaceFolders(dataDir: string, workspaceId: string): WorkspaceFolders {
  const root = join(dataDir, "workspaces", workspaceId);
  const run = join(root, "run");
  let socket = join(run, "jupyter.sock");
  // A long data dir would make the socket's path too long to bind: use a short owner-only folder.
  if (Buffer.byteLength(socket) > MAX_SOCKET_PATH) {
    const short = join(tmpdir(), `paved-ws-${createHash("sha256").update(root).digest("hex").slice(0, 16)}`);
    socket = join(short, "jupyter.sock");
  }
  return { home: join(root, "home"), run, socket, tokenFile: join(run, "jupyter-token"), envFile: join(run, "workspace-env.json"), spareKernelFile: join(run, "spare-kernel"), notebooksFile: join(run, "notebooks.json") };
}

/** Refuses (UNAVAILABLE, naming the package) when the Jupyter program is not installed. */
export function assertJupyterInstalled(jupyter: string): void {
  if (existsSync(jupyter)) return;
  throw new PlatformError(
    "UNAVAILABLE",
    `Jupyter is not installed on this server: '${jupyter}' does not exist; install Debian's ${JUPYTER_PACKAGE} package (apt-get install ${JUPYTER_PACKAGE}, as scripts/install-deps.sh does) or point workspaces.jupyter at a jupyter program`,
    { package: JUPYTER_PACKAGE, path: jupyter },
  );
}

export interface LaunchInput {
  workspaceId: string;
  folders: WorkspaceFolders;
  /** The Jupyter program, by full path (pyenv's shims come first on PATH). */
  jupyter: string;
  /** The Python interpreter of the kernels (the environment's virtualenv, or Debian's). */
  python: string;
  token: string;
  /** Prepended to PATH: where `paved` is. */
  binDir: string;
  /** The server's PATH (the allow-listed one), after binDir. */
  path: string;
  /** The environment's virtualenv: its bin/ comes first on PATH, and VIRTUAL_ENV names it. */
  virtualenv?: string | undefined;
  /** More variables for the server, its kernels and terminals (the environment, the reproduced run). */
  env?: Record<string, string>;
  /** Variables that may change while the server runs (its experiment): written to the workspace's variable file. */
  workspaceEnv: Record<string, string>;
}

/**
 * Prepares a session of a workspace's Jupyter server and returns its command and environment: the
 * token in an owner-only file (never on a command line, never in the job's spec), the server on a
 * Unix socket (mode 0600) under the workspace's base URL, and a kernel spec whose kernels run the
 * environment's Python through Paved's launcher.
 */
export function prepareLaunch(input: LaunchInput): { argv: string[]; env: Record<string, string> } {
  const { folders } = input;
  mkdirSync(folders.home, { recursive: true });
  // The home is in the data dir, which may sit in a repository: git is looked for no higher than here.
  if (!existsSync(join(folders.home, GIT_CEILING_FILE))) writeFileSync(join(folders.home, GIT_CEILING_FILE), "");
  mkdirSync(folders.run, { recursive: true, mode: 0o700 });
  chmodSync(folders.run, 0o700);
  const socketDir = join(folders.socket, "..");
  mkdirSync(socketDir, { recursive: true, mode: 0o700 });
  writeFileSync(folders.tokenFile, input.token, { mode: 0o600 });
  chmodSync(folders.tokenFile, 0o600);
  writeWorkspaceEnv(folders, input.workspaceEnv);
  rmSync(folders.spareKernelFile, { force: true });
  // A socket a killed server left: its readiness is watched by the socket appearing.
  rmSync(folders.socket, { force: true });
  writeJsonFile(folders.notebooksFile, {});
  const data = join(folders.run, "jupyter-data");
  const spec = join(data, "kernels", "python3");
  mkdirSync(spec, { recursive: true });
  writeFileSync(
    join(spec, "kernel.json"),
    JSON.stringify(
      {
        argv: [input.python, join(PYTHON_DIR, "paved_kernel.py"), join(PYTHON_DIR, "fallback"), "-f", "{connection_file}"],
        display_name: "Python 3 (Paved)",
        language: "python",
        metadata: { debugger: true },
      },
      null,
      1,
    ),
  );
  const argv = [
    ...notebookCommand(input.jupyter),
    "--no-browser",
    `--sock=${folders.socket}`,
    "--sock-mode=0600",
    `--NotebookApp.base_url=/workspaces/${input.workspaceId}/`,
    `--notebook-dir=${folders.home}`,
    // Paved's kernel manager (python/paved_jupyter.py): kernels are killed at once when the server stops.
    `--config=${join(PYTHON_DIR, "jupyter_paved_config.py")}`,
    ...(process.getuid?.() === 0 ? ["--allow-root"] : []),
  ];
  const env: Record<string, string> = {
    ...input.env,
    ...(input.virtualenv ? { VIRTUAL_ENV: input.virtualenv } : {}),
    HOME: folders.home,
    JUPYTER_TOKEN_FILE: folders.tokenFile,
    PAVED_WORKSPACE_ENV_FILE: folders.envFile,
    PAVED_SPARE_KERNEL_FILE: folders.spareKernelFile,
    PAVED_NOTEBOOKS_FILE: folders.notebooksFile,
    JUPYTER_RUNTIME_DIR: join(folders.run, "jupyter-runtime"),
    // Our kernel spec first: kernels run the environment's Python through Paved's launcher.
    JUPYTER_PATH: data,
    PATH: `${input.binDir}:${input.virtualenv ? `${join(input.virtualenv, "bin")}:` : ""}${input.path}`,
    // The SDK first; a PYTHONPATH the admin passes to jobs stays after it.
    PYTHONPATH: [SDK_DIR, input.env?.PYTHONPATH].filter(Boolean).join(":"),
  };
  return { argv, env };
}

/**
 * How to start Jupyter Notebook: its own program beside `jupyter` when it is there (Debian's
 * /usr/bin/jupyter-notebook), else `jupyter notebook`. The `jupyter` dispatcher is a Python process
 * of its own that searches every PATH folder for the subcommand before it execs it: a few hundred
 * milliseconds of each cold start where PATH holds pyenv's shims.
 */
export function notebookCommand(jupyter: string): string[] {
  const direct = join(dirname(jupyter), "jupyter-notebook");
  return existsSync(direct) ? [direct] : [jupyter, "notebook"];
}

/** Writes the workspace's variable file (owner-only), which its kernels and terminals read. */
export function writeWorkspaceEnv(folders: WorkspaceFolders, values: Record<string, string>): void {
  writeJsonFile(folders.envFile, values);
}

/** Replaces a small JSON file of the workspace's run folder in one step (readers never see half of it). */
export function writeJsonFile(path: string, value: unknown): void {
  // A name of its own per write: the proxy and the controller may write the same file at once.
  const tmp = `${path}.${randomBytes(6).toString("hex")}.tmp`;
  writeFileSync(tmp, JSON.stringify(value), { mode: 0o600 });
  renameSync(tmp, path);
}

/** An answer of the Jupyter server. */
export interface JupyterAnswer {
  status: number;
  body: string;
}

/** One request to a workspace's Jupyter server over its socket, with its token (never a Paved one). */
export function jupyterRequest(
  socketPath: string,
  token: string,
  method: string,
  path: string,
  body?: unknown,
  timeoutMs = 10_000,
): Promise<JupyterAnswer> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const req = httpRequest({
      socketPath,
      method,
      path,
      headers: { host: "localhost", authorization: `token ${token}`, ...(payload ? { "content-type": "application/json" } : {}) },
      timeout: timeoutMs,
    });
    req.once("timeout", () => req.destroy(new PlatformError("UNAVAILABLE", `Jupyter did not answer ${method} ${path} in time`)));
    req.once("error", reject);
    req.once("response", (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => {
        if (text.length < 4 * 1024 ** 2) text += c;
      });
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: text }));
      res.on("error", reject);
    });
    req.end(payload);
  });
}
