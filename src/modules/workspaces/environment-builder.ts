import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { PlatformError, type Clock, type Logger } from "../../core/index.ts";
import { ALWAYS_REQUIRED, environmentDigest, refOf, type PackageSources } from "./environment-catalog.ts";
import type { EnvironmentEntry } from "./schema.ts";

const run = promisify(execFile);
/** Written last into a built virtualenv: a folder without it is a build that did not finish. */
const MARKER = "paved-environment.json";

/** A built environment's virtualenv, as recorded in its marker file. */
export interface BuiltEnvironment {
  ref: string;
  digest: string;
  /** The virtualenv's folder (its `bin/python` runs the kernels). */
  prefix: string;
  python: string;
  pythonVersion: string;
  builtAt: number;
  buildMs: number;
  /** What pip installed into it (beyond what the base interpreter had). */
  installed: string[];
}

export interface EnvironmentBuilderDeps {
  /** Where virtualenvs are kept, one folder per digest. */
  cacheDir: string;
  sources: PackageSources;
  /** The allow-listed PATH the build's processes get. */
  path: string;
  timeoutMs: number;
  clock: Clock;
  logger: Logger;
}

/** Tells, in the venv's interpreter, which requirements are satisfied (JSON on stdout). */
const CHECK = `import json, sys
import importlib.metadata as m
try:
    from packaging.requirements import Requirement
except ImportError:
    from pip._vendor.packaging.requirements import Requirement
out = {}
for text in json.loads(sys.argv[1]):
    req = Requirement(text)
    try:
        version = m.version(req.name)
    except m.PackageNotFoundError:
        out[text] = None
        continue
    out[text] = [version, (not req.specifier) or req.specifier.contains(version, prereleases=True)]
print(json.dumps({"python": "%d.%d.%d" % sys.version_info[:3], "packages": out}))`;

interface CheckResult {
  python: string;
  /** Per requirement: null when not installed, else [installed version, whether it satisfies]. */
  packages: Record<string, [string, boolean] | null>;
}

/**
 * Builds environments into virtualenvs (`python -m venv --system-site-packages`) keyed by their
 * digest, once: a later workspace of the same environment reuses the folder. Requirements the
 * base interpreter already satisfies (Debian's python3-* packages) are taken as they are; the rest
 * are installed with pip from the configured index or wheel folders only; what pip cannot find
 * fails the build, naming it. Nothing is faked: the check runs in the built interpreter.
 */
export class EnvironmentBuilder {
  private readonly building = new Map<string, Promise<BuiltEnvironment>>();

  constructor(private readonly deps: EnvironmentBuilderDeps) {}

  digestOf(entry: EnvironmentEntry): string {
    return environmentDigest(entry, this.deps.sources);
  }

  /** The built virtualenv of an entry, if it is built. */
  async built(entry: EnvironmentEntry): Promise<BuiltEnvironment | undefined> {
    const prefix = join(this.deps.cacheDir, this.digestOf(entry));
    try {
      const marker = JSON.parse(await readFile(join(prefix, MARKER), "utf8")) as BuiltEnvironment;
      return { ...marker, ref: refOf(entry) };
    } catch {
      return undefined;
    }
  }

  /** The entry's virtualenv: the cached one, or built now (once, however many ask at the same time). */
  async ensure(entry: EnvironmentEntry): Promise<BuiltEnvironment & { reused: boolean }> {
    const cached = await this.built(entry);
    if (cached) return { ...cached, reused: true };
    const digest = this.digestOf(entry);
    let build = this.building.get(digest);
    if (!build) {
      build = this.build(entry, digest).finally(() => this.building.delete(digest));
      this.building.set(digest, build);
    }
    return { ...(await build), ref: refOf(entry), reused: false };
  }

  private async build(entry: EnvironmentEntry, digest: string): Promise<BuiltEnvironment> {
    const { cacheDir, clock, logger } = this.deps;
    const ref = refOf(entry);
    if (!existsSync(entry.python)) {
      throw new PlatformError(
        "UNAVAILABLE",
        `environment ${ref} cannot be built: its interpreter '${entry.python}' does not exist on this server; install it (Debian: apt-get install python3 python3-venv) or fix the environment's python in workspaces.environments.file`,
        { environment: ref, reason: "ENVIRONMENT_BUILD_FAILED", python: entry.python },
      );
    }
    const started = clock.now();
    const prefix = join(cacheDir, digest);
    // A folder without the marker is a build that stopped half way (a crash): start it again.
    await rm(prefix, { recursive: true, force: true });
    await mkdir(cacheDir, { recursive: true });
    const env = { PATH: this.deps.path, HOME: cacheDir, LANG: "C.UTF-8", PIP_CONFIG_FILE: "/dev/null", PIP_NO_INPUT: "1", PIP_CACHE_DIR: join(cacheDir, ".pip-cache") };
    const options = { env, cwd: cacheDir, timeout: this.deps.timeoutMs, maxBuffer: 16 * 1024 * 1024 };
    const fail = async (message: string, details: Record<string, unknown>): Promise<never> => {
      await rm(prefix, { recursive: true, force: true });
      throw new PlatformError("UNAVAILABLE", message, { environment: ref, reason: "ENVIRONMENT_BUILD_FAILED", ...details });
    };
    try {
      await run(entry.python, ["-m", "venv", "--system-site-packages", "--without-pip", prefix], options);
    } catch (error) {
      return fail(`environment ${ref} cannot be built: '${entry.python} -m venv' failed (${lastLine(error)}); install Debian's python3-venv on the server`, {});
    }
    const python = join(prefix, "bin", "python");
    const requirements = [...new Set([...ALWAYS_REQUIRED, ...entry.packages])];
    const check = async (): Promise<CheckResult> => JSON.parse((await run(python, ["-c", CHECK, JSON.stringify(requirements)], options)).stdout) as CheckResult;
    let state: CheckResult;
    try {
      state = await check();
    } catch (error) {
      return fail(`environment ${ref} cannot be built: its interpreter could not check its packages (${lastLine(error)}); the base interpreter needs python3-packaging or pip`, {});
    }
    const unsatisfied = () => requirements.filter((r) => !state.packages[r]?.[1]);
    const installed: string[] = [];
    const pending = unsatisfied();
    if (pending.length > 0) {
      const pip = (reqs: string[]) => run(entry.python, [...this.pipArgs(python), "--", ...reqs], options);
      try {
        await pip(pending);
        installed.push(...pending);
      } catch (error) {
        if (/No module named pip/.test(String((error as { stderr?: string }).stderr ?? ""))) {
          return fail(
            `environment ${ref} cannot be built: ${pending.join(", ")} ${pending.length === 1 ? "is" : "are"} not installed for ${entry.python}, and it has no pip to install them; install Debian's python3-pip, or the packages themselves (e.g. apt-get install python3-<name>)`,
            { missing: pending },
          );
        }
        // pip stops at the first requirement it cannot find: try each, to name every one.
        if (pending.length > 1) {
          for (const r of pending) {
            await pip([r]).then(
              () => installed.push(r),
              () => undefined,
            );
          }
        }
      }
      state = await check().catch(() => state);
      const missing = unsatisfied();
      if (missing.length > 0) {
        const described = missing.map((r) => (state.packages[r] ? `${r} (it has ${state.packages[r]![0]})` : r));
        const where = this.deps.sources.indexUrl ? `the index ${this.deps.sources.indexUrl}` : this.deps.sources.findLinks.length ? `the wheel folders ${this.deps.sources.findLinks.join(", ")}` : "no package index (none is configured)";
        return fail(
          `environment ${ref} cannot be built: not installable on this server: ${described.join(", ")} — ${entry.python} does not have ${missing.length === 1 ? "it" : "them"} and pip found no distribution in ${where}; install ${missing.length === 1 ? "it" : "them"} on the server (Debian: apt-get install python3-<name>), set workspaces.environments.indexUrl or findLinks, or pick another environment (paved workspace envs)`,
          { missing },
        );
      }
    }
    const built: BuiltEnvironment = { ref, digest, prefix, python, pythonVersion: state.python, builtAt: clock.now(), buildMs: clock.now() - started, installed };
    await writeFile(join(prefix, MARKER), JSON.stringify(built, null, 1));
    logger.info({ environment: ref, digest, ms: built.buildMs, installed }, "built a workspace environment");
    return built;
  }

  private pipArgs(python: string): string[] {
    const { indexUrl, findLinks } = this.deps.sources;
    return [
      "-m",
      "pip",
      "--python",
      python,
      "install",
      "--no-input",
      "--disable-pip-version-check",
      "--no-warn-script-location",
      ...(indexUrl ? ["--index-url", indexUrl] : ["--no-index"]),
      ...findLinks.flatMap((f) => ["--find-links", f]),
    ];
  }
}

function lastLine(error: unknown): string {
  const text = String((error as { stderr?: string }).stderr || (error as Error).message || error).trim();
  return text.split("\n").at(-1)!.slice(0, 300);
}
