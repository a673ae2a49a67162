import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { parse as parseYaml } from "yaml";
import { PlatformError, describeProblems, invalidInput, validate } from "../../core/index.ts";
import { profilesFileSchema, type Prices, type Profile } from "./schema.ts";

export const BUILT_IN_PROFILES_FILE = fileURLToPath(new URL("./profiles.yaml", import.meta.url));

const MIB_PER_GB = 1024;

/** Resources something holds per hour, as far as prices go. */
export interface PricedResources {
  /** The profile it asked for, if any: a profile with its own hourlyCost is priced by that. */
  profile?: string | null;
  gpus: number;
  gpuType?: string | null;
  cpus: number;
  memoryMiB: number;
}

/** The compute profiles users pick by name (`compute: {profile: gpu-1}`), and the price list. */
export class ProfileCatalog {
  private readonly byName: Map<string, Profile>;
  /** Profiles whose file gave an hourlyCost of their own. */
  private readonly ownPrice: Set<string>;

  constructor(
    profiles: Profile[],
    /** Unit prices of compute, serving and storage (all 0 when the file sets none). */
    readonly prices: Prices = { currency: "USD", gpuHour: 0, gpuHourByType: {}, cpuHour: 0, memoryGBHour: 0, storageGBMonth: 0, replicaHour: 0 },
    ownPrice: Iterable<string> = profiles.map((p) => p.name),
  ) {
    this.byName = new Map(profiles.map((p) => [p.name, p]));
    this.ownPrice = new Set(ownPrice);
  }

  /**
   * What an hour of these resources costs: a profile's own hourlyCost when the request names a
   * profile that has one, else GPUs (by type where the price list names the type), CPUs and
   * memory at the unit prices.
   */
  hourlyCost(resources: PricedResources): number {
    const profile = resources.profile ? this.byName.get(resources.profile) : undefined;
    if (profile && this.ownPrice.has(profile.name)) return profile.hourlyCost;
    return unitCost(this.prices, resources);
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
    const { prices } = parsed.data;
    const profiles = Object.entries(parsed.data.profiles).map(([name, p]) => ({
      name,
      description: p.description,
      gpus: p.gpus,
      gpuType: p.gpuType ?? null,
      cpus: p.cpus,
      memoryMiB: p.memory,
      hourlyCost: p.hourlyCost ?? unitCost(prices, { gpus: p.gpus, gpuType: p.gpuType ?? null, cpus: p.cpus, memoryMiB: p.memory }),
      ...(Object.keys(p.env).length > 0 ? { env: p.env } : {}),
      ...(p.executor ? { executor: p.executor } : {}),
      ...(p.slurm ? { slurm: p.slurm } : {}),
      ...(p.kubernetes ? { kubernetes: p.kubernetes } : {}),
    }));
    const ownPrice = Object.entries(parsed.data.profiles).flatMap(([name, p]) => (p.hourlyCost === undefined ? [] : [name]));
    return new ProfileCatalog(profiles, prices, ownPrice);
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

/** Resources at the unit prices, rounded to a millionth. */
function unitCost(prices: Prices, r: PricedResources): number {
  const gpuHour = (r.gpuType ? prices.gpuHourByType[r.gpuType] : undefined) ?? prices.gpuHour;
  const cost = r.gpus * gpuHour + r.cpus * prices.cpuHour + (r.memoryMiB / MIB_PER_GB) * prices.memoryGBHour;
  return Math.round(cost * 1e6) / 1e6;
}
