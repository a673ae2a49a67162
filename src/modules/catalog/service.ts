import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { parse as parseYaml } from "yaml";
import { PlatformError, describeProblems, invalidInput, validate } from "../../core/index.ts";
import { profilesFileSchema, type Profile } from "./schema.ts";

export const BUILT_IN_PROFILES_FILE = fileURLToPath(new URL("./profiles.yaml", import.meta.url));

/** The compute profiles users pick by name (`compute: {profile: gpu-1}`). */
export class ProfileCatalog {
  private readonly byName: Map<string, Profile>;

  constructor(profiles: Profile[]) {
    this.byName = new Map(profiles.map((p) => [p.name, p]));
  }

  /** Loads `file` (the configured profilesFile) or the built-in catalog; CONFIG error when unreadable. */
  static load(file?: string): ProfileCatalog {
    const path = file ?? BUILT_IN_PROFILES_FILE;
    let raw: unknown;
    try {
      raw = parseYaml(readFileSync(path, "utf8"));
    } catch (error) {
      throw new PlatformError("CONFIG", `cannot read compute profiles from '${path}' (${(error as Error).message}); fix compute.profilesFile`);
    }
    const parsed = validate(profilesFileSchema, raw);
    if (!parsed.success) {
      throw new PlatformError("CONFIG", `invalid compute profiles file '${path}': ${describeProblems(parsed.problems)}; fix compute.profilesFile`, {
        problems: parsed.problems,
      });
    }
    return new ProfileCatalog(
      Object.entries(parsed.data.profiles).map(([name, p]) => ({
        name,
        description: p.description,
        gpus: p.gpus,
        gpuType: p.gpuType ?? null,
        cpus: p.cpus,
        memoryMiB: p.memory,
        hourlyCost: p.hourlyCost,
        ...(Object.keys(p.env).length > 0 ? { env: p.env } : {}),
      })),
    );
  }

  list(): Profile[] {
    return [...this.byName.values()];
  }

  /** The named profile, or INVALID_INPUT naming the known ones. */
  get(name: string): Profile {
    const profile = this.byName.get(name);
    if (!profile) {
      const known = [...this.byName.keys()];
      throw invalidInput(`compute profile '${name}' does not exist; known profiles: ${known.join(", ")} (see \`paved profiles ls\`)`, {
        known,
      });
    }
    return profile;
  }
}
