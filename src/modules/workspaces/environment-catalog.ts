import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { parse as parseYaml } from "yaml";
import { PlatformError, describeProblems, invalidInput, validate } from "../../core/index.ts";
import { EnvironmentsFile, type EnvironmentEntry } from "./schema.ts";

export const BUILT_IN_ENVIRONMENTS_FILE = fileURLToPath(new URL("./environments.yaml", import.meta.url));

/** What every environment gets besides its own packages: kernels run on ipykernel. */
export const ALWAYS_REQUIRED = ["ipykernel"];

/** Where an environment's packages may come from (workspaces.environments). */
export interface PackageSources {
  indexUrl?: string | undefined;
  findLinks: readonly string[];
}

/**
 * The environments workspaces may ask for by `NAME` or `NAME@VERSION`: configuration (a YAML file,
 * the built-in one unless workspaces.environments.file names another), as compute profiles are.
 */
export class EnvironmentCatalog {
  private constructor(private readonly entries: EnvironmentEntry[]) {}

  static load(file?: string): EnvironmentCatalog {
    const path = file ?? BUILT_IN_ENVIRONMENTS_FILE;
    let raw: unknown;
    try {
      raw = parseYaml(readFileSync(path, "utf8"));
    } catch (error) {
      throw new PlatformError("CONFIG", `cannot read workspace environments from '${path}' (${(error as Error).message}); fix workspaces.environments.file`);
    }
    const parsed = validate(EnvironmentsFile, raw);
    if (!parsed.success) {
      throw new PlatformError("CONFIG", `invalid workspace environments file '${path}': ${describeProblems(parsed.problems)}; fix workspaces.environments.file`, { problems: parsed.problems });
    }
    const seen = new Set<string>();
    for (const e of parsed.data.environments) {
      const ref = `${e.name}@${e.version}`;
      if (seen.has(ref)) throw new PlatformError("CONFIG", `workspace environments file '${path}' lists ${ref} twice; give each version once`);
      seen.add(ref);
    }
    return new EnvironmentCatalog(parsed.data.environments);
  }

  list(): EnvironmentEntry[] {
    return [...this.entries].sort((a, b) => a.name.localeCompare(b.name) || compareVersions(b.version, a.version));
  }

  /** `NAME@VERSION`, or `NAME` for its latest version; INVALID_INPUT naming the known ones. */
  get(ref: string): EnvironmentEntry {
    const at = ref.lastIndexOf("@");
    const name = at > 0 ? ref.slice(0, at) : ref;
    const version = at > 0 ? ref.slice(at + 1) : undefined;
    const versions = this.entries.filter((e) => e.name === name).sort((a, b) => compareVersions(b.version, a.version));
    const found = version === undefined ? versions[0] : versions.find((e) => e.version === version);
    if (!found) {
      const known = this.list().map((e) => `${e.name}@${e.version}`);
      throw invalidInput(
        version !== undefined && versions.length > 0
          ? `environment '${name}' has no version '${version}'; its versions: ${versions.map((e) => e.version).join(", ")} (see \`paved workspace envs\`)`
          : `environment '${ref}' does not exist; known environments: ${known.join(", ") || "none"} (see \`paved workspace envs\`)`,
        { known },
      );
    }
    return found;
  }
}

/** `name@version` of an entry. */
export const refOf = (e: Pick<EnvironmentEntry, "name" | "version">) => `${e.name}@${e.version}`;

/**
 * What an environment's virtualenv is keyed by: its interpreter, its packages (sorted) and where
 * they may come from. Two entries alike share one virtualenv; changing any of it builds a new one.
 */
export function environmentDigest(e: Pick<EnvironmentEntry, "python" | "packages">, sources: PackageSources): string {
  const packages = [...new Set([...ALWAYS_REQUIRED, ...e.packages].map((p) => p.trim()))].sort();
  const key = JSON.stringify({ python: e.python, packages, indexUrl: sources.indexUrl ?? null, findLinks: [...sources.findLinks] });
  return createHash("sha256").update(key).digest("hex");
}

/** Versions compared number by number ("10" after "9"), text where a part is not a number. */
function compareVersions(a: string, b: string): number {
  const pa = a.split(/[.-]/);
  const pb = b.split(/[.-]/);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const x = pa[i] ?? "";
    const y = pb[i] ?? "";
    const nx = /^\d+$/.test(x) ? Number(x) : NaN;
    const ny = /^\d+$/.test(y) ? Number(y) : NaN;
    const c = Number.isNaN(nx) || Number.isNaN(ny) ? x.localeCompare(y) : nx - ny;
    if (c !== 0) return c;
  }
  return 0;
}
