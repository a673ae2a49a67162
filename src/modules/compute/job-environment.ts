/**
 * What every job gets of the server's environment, whatever the configuration adds: enough to
 * find programs and interpreters (PATH, virtualenv, conda), read and write text (locale, time
 * zone), put temporary files and caches where the machine wants them, and find CUDA. Nothing
 * here names a credential; an admin adds more with `compute.jobEnvironment.passthrough`.
 */
export const JOB_ENV_ALLOW_LIST: readonly string[] = [
  // Programs, the user the process runs as, its shell and home (HOME is replaced under runAs).
  "PATH",
  "HOME",
  "USER",
  "LOGNAME",
  "SHELL",
  // Text and time: Python's stdout encoding follows the locale.
  "LANG",
  "LANGUAGE",
  "LC_*",
  "TZ",
  "TMPDIR",
  // Python environments: the active virtualenv or conda env, and interpreter switches.
  "VIRTUAL_ENV",
  "CONDA_*",
  "PYTHONPATH",
  "PYTHONHOME",
  "PYTHONUNBUFFERED",
  "PYTHONDONTWRITEBYTECODE",
  "PYTHONIOENCODING",
  "PYTHONUTF8",
  // GPUs and native libraries (CUDA_VISIBLE_DEVICES is Paved's, per job).
  "LD_LIBRARY_PATH",
  "CUDA_*",
  "NVIDIA_*",
  "NCCL_*",
  // Shared caches (paths, not credentials: HF_TOKEN is not passed).
  "XDG_CACHE_HOME",
  "HF_HOME",
  "TORCH_HOME",
  // Certificate bundles for TLS behind a corporate proxy (paths only; proxy URLs may carry passwords).
  "SSL_CERT_FILE",
  "SSL_CERT_DIR",
  "REQUESTS_CA_BUNDLE",
  "CURL_CA_BUNDLE",
];

/** Names Paved sets for each job; the server's own values of these never reach a job. */
export const RESERVED_JOB_ENV = /^(PAVED_|MLFLOW_)|^CUDA_VISIBLE_DEVICES$/;

/** Whether `name` matches `pattern`: an exact name, or a prefix ending in `*`. */
function matches(pattern: string, name: string): boolean {
  return pattern.endsWith("*") ? name.startsWith(pattern.slice(0, -1)) : pattern === name;
}

/**
 * The part of the server's environment a job may see: the built-in allow-list plus the
 * configured `passthrough` names, never a reserved name (PAVED_*, MLFLOW_*, CUDA_VISIBLE_DEVICES).
 * Slurm's `--export=NONE` plus named variables, not `--export=ALL`.
 */
export function allowListedEnvironment(
  serverEnv: Record<string, string | undefined>,
  passthrough: readonly string[] = [],
): Record<string, string> {
  const patterns = [...JOB_ENV_ALLOW_LIST, ...passthrough];
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(serverEnv)) {
    if (value === undefined || RESERVED_JOB_ENV.test(name)) continue;
    if (patterns.some((p) => matches(p, name))) env[name] = value;
  }
  return env;
}

