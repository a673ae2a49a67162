import type { Kysely } from "kysely";
import { PlatformError, notFound, type Clock } from "../../core/index.ts";
import type { Tables } from "../../storage/index.ts";
import { QUOTA_RESOURCES, type QuotaHolder, type QuotaLine, type QuotaResource, type QuotaSettings, type TeamQuotaView } from "./quotas-schema.ts";
import { QuotaStore, type GpuHours, type HeldByJob, type StorageUse } from "./quotas-store.ts";

/** A team's limits in force: its own settings over the server default; null is unlimited. */
export interface EffectiveQuota {
  team: string;
  gpus: number | null;
  /** Per GPU type (matched as a substring of a GPU's name, case-insensitively). */
  gpusByType: Record<string, number>;
  gpuHoursPerMonth: number | null;
  cpus: number | null;
  memoryMiB: number | null;
  servingReplicas: number | null;
  storageBytes: number | null;
  /** Where each limit comes from; per-type GPU limits under `gpus:<type>`. */
  source: Record<string, "team" | "default" | "none">;
}

/** A loaded model version, as serving reports it to the ledger. */
export interface ServedVersion {
  team: string;
  name: string;
  version: string;
  environment: string;
  replicas: number;
}

/** A GPU of the machine: its index (what allocations hold) and its name (what types match). */
export interface MachineGpu {
  index: number;
  name: string;
}

export interface LedgerDeps {
  db: Kysely<Tables>;
  clock: Clock;
  /** `guardrails.defaultQuota`: the limits of a team that set none of its own. */
  defaults?: QuotaSettings;
}

const UNLIMITED: Omit<EffectiveQuota, "team" | "source"> = {
  gpus: null,
  gpusByType: {},
  gpuHoursPerMonth: null,
  cpus: null,
  memoryMiB: null,
  servingReplicas: null,
  storageBytes: null,
};

/** Whether a GPU of this name counts for a GPU type (as a job's gpuType matches). */
export const gpuMatchesType = (gpuName: string, type: string) => gpuName.toLowerCase().includes(type.toLowerCase());

/** The first millisecond of the calendar month (UTC) that holds `now`. */
export function monthStart(now: number): number {
  const d = new Date(now);
  return Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1);
}

/**
 * The one ledger every kind of work draws from: what each team may hold (its quota) and what it
 * holds now, by what — jobs (GPUs by type, CPUs, memory, GPU-hours this month; workspaces' servers
 * are jobs), serving replicas, stored bytes (artifacts, model files, uploads, workspaces' home folders). The scheduler, the deployment API, serving's
 * autoscaler, artifact uploads and `paved quotas ls` all ask it, so "why is this waiting" has one
 * answer. Usage is read from the database (and serving's loaded versions), never counted in memory.
 */
export class Ledger {
  readonly store: QuotaStore;
  private machineGpus: () => Promise<readonly MachineGpu[]> = async () => [];
  private served: () => readonly ServedVersion[] = () => [];
  /** Serving-replica limits by team, for the autoscaler's synchronous checks; refreshed on every read of limits. */
  private replicaLimits = new Map<string, number | null>();
  private replicaLimitsAt = Number.NEGATIVE_INFINITY;
  private refreshing: Promise<unknown> | undefined;
  private readonly changed: (() => void)[] = [];

  constructor(private readonly deps: LedgerDeps) {
    this.store = new QuotaStore(deps.db);
  }

  /** Compute tells the ledger the machine's GPUs (per-type quotas count GPUs by name). */
  useMachine(gpus: () => Promise<readonly MachineGpu[]>): void {
    this.machineGpus = gpus;
  }

  /** Serving tells the ledger what it has loaded (serving replicas are drawn from the team's quota). */
  useServing(list: () => readonly ServedVersion[]): void {
    this.served = list;
  }

  /** Calls `listener` after a team's quota changes (the scheduler looks at its queue again at once). */
  onChange(listener: () => void): void {
    this.changed.push(listener);
  }

  /** Loads every team's serving-replica limit, so the autoscaler's first checks see them. */
  async refresh(): Promise<void> {
    await this.limits();
  }

  /** The limits in force for these teams (every team without a list). */
  async limits(teams?: readonly string[]): Promise<Map<string, EffectiveQuota>> {
    const read = this.deps.clock.now();
    const names = teams ?? (await this.store.teams());
    const stored = new Map((await this.store.list(teams)).map((q) => [q.team, q.settings]));
    if (teams === undefined) this.replicaLimitsAt = read;
    const out = new Map<string, EffectiveQuota>();
    for (const team of names) {
      const quota = this.effective(team, stored.get(team) ?? {});
      out.set(team, quota);
      this.replicaLimits.set(team, quota.servingReplicas);
    }
    return out;
  }

  /** One team's limits in force. */
  async limitsOf(team: string): Promise<EffectiveQuota> {
    return (await this.limits([team])).get(team)!;
  }

  /** GPU-hours used this month (UTC) per team, with each job's part. */
  async gpuHoursThisMonth(teams?: readonly string[]): Promise<Map<string, GpuHours>> {
    const now = this.deps.clock.now();
    return this.store.gpuHours(monthStart(now), now, teams);
  }

  /** What the teams' loaded model versions run, from serving. */
  servingOf(team: string): ServedVersion[] {
    return this.served().filter((s) => s.team === team);
  }

  /**
   * How many more serving replicas the team may start now; undefined when unlimited. Synchronous
   * (the autoscaler asks between requests): it uses the limits read last (every 5 s, and at once
   * after a change through this ledger).
   */
  replicaRoom(team: string): number | undefined {
    if (this.deps.clock.now() - this.replicaLimitsAt > 5000 && !this.refreshing) {
      this.refreshing = this.limits()
        .catch(() => undefined)
        .finally(() => (this.refreshing = undefined));
    }
    const limit = this.replicaLimits.has(team) ? this.replicaLimits.get(team)! : this.effective(team, {}).servingReplicas;
    if (limit === null) return undefined;
    const used = this.servingOf(team).reduce((n, s) => n + s.replicas, 0);
    return Math.max(0, limit - used);
  }

  /**
   * Refuses (QUOTA_EXCEEDED) starting `replicas` more serving replicas for the team when that goes
   * over its quota; `what` names what asks for them in the message.
   */
  async assertReplicas(team: string, replicas: number, what: string): Promise<void> {
    const limit = (await this.limitsOf(team)).servingReplicas;
    if (limit === null) return;
    const served = this.servingOf(team);
    const used = served.reduce((n, s) => n + s.replicas, 0);
    if (used + replicas <= limit) return;
    const by = served.map((s) => `${s.name}@${s.version} (${s.environment}): ${s.replicas}`).join(", ");
    throw new PlatformError(
      "QUOTA_EXCEEDED",
      `team ${team} runs ${used} of its ${limit} serving replica${limit === 1 ? "" : "s"}${by ? ` (${by})` : ""}, and ${what} needs ${replicas} more; ask for fewer replicas, roll back or finish a deployment of the team, or ask a platform admin to raise the quota: paved quotas set ${team} --serving-replicas ${used + replicas}`,
      { team, resource: "servingReplicas", limit, used, requested: replicas },
    );
  }

  /**
   * Refuses (QUOTA_EXCEEDED) storing `bytes` more for the team when its stored files already
   * reach its storage quota or these bytes would pass it; `what` names the upload.
   */
  async assertStorage(team: string, bytes: number, what: string): Promise<void> {
    const limit = (await this.limitsOf(team)).storageBytes;
    if (limit === null) return;
    const use = (await this.store.storage([team])).get(team);
    const used = use ? storageTotal(use) : 0;
    if (used + bytes <= limit && used < limit) return;
    throw new PlatformError(
      "QUOTA_EXCEEDED",
      `team ${team} stores ${formatBytes(used)} of its ${formatBytes(limit)} storage quota${use ? ` (${describeStorage(use)})` : ""}, and ${what}${bytes > 0 ? ` of ${formatBytes(bytes)}` : ""} would pass it; ask a platform admin to raise the quota: paved quotas set ${team} --storage ${formatQuantity(Math.max(limit * 2, used + bytes))}`,
      { team, resource: "storageBytes", limit, used, requested: bytes },
    );
  }

  /** The team's quota lines (limit, source, use and by what), as `paved quotas ls` shows them. */
  async view(team: string): Promise<TeamQuotaView> {
    if (!(await this.store.teamExists(team))) throw missingTeam(team);
    return (await this.views([team]))[0]!;
  }

  /** Quota views of these teams (every team without a list), by name. */
  async views(teams?: readonly string[]): Promise<TeamQuotaView[]> {
    const names = teams ?? (await this.store.teams());
    if (names.length === 0) return [];
    const now = this.deps.clock.now();
    const [limits, stored, held, hours, storage, gpus] = await Promise.all([
      this.limits(names),
      this.store.list(names),
      this.store.heldByJobs(names),
      this.store.gpuHours(monthStart(now), now, names),
      this.store.storage(names),
      this.machineGpus(),
    ]);
    const storedBy = new Map(stored.map((q) => [q.team, q]));
    const gpuName = new Map(gpus.map((g) => [g.index, g.name]));
    return [...names].sort().map((team) => {
      const quota = limits.get(team)!;
      const jobs = held.filter((j) => j.team === team);
      const s = storedBy.get(team);
      return {
        team,
        settings: s?.settings ?? {},
        lines: quotaLines(quota, jobs, hours.get(team), this.servingOf(team), storage.get(team), gpuName),
        monthStart: monthStart(now),
        updatedBy: s?.updatedBy ?? null,
        updatedAt: s?.updatedAt ?? null,
      };
    });
  }

  /** Replaces a team's quota settings (platform admins; the route checks) and answers the new view. */
  async set(team: string, settings: QuotaSettings, by: string): Promise<TeamQuotaView> {
    if (!(await this.store.teamExists(team))) throw missingTeam(team);
    await this.store.put({ team, settings, updatedBy: by, updatedAt: this.deps.clock.now() });
    const view = await this.view(team);
    for (const listener of this.changed) listener();
    return view;
  }

  private effective(team: string, settings: QuotaSettings): EffectiveQuota {
    const defaults = this.deps.defaults ?? {};
    const quota: EffectiveQuota = { team, ...UNLIMITED, gpusByType: {}, source: {} };
    for (const resource of QUOTA_RESOURCES) {
      const own = settings[resource];
      const fallback = defaults[resource];
      const [value, source] = own !== undefined ? [own, "team" as const] : fallback !== undefined && fallback !== null ? [fallback, "default" as const] : [null, "none" as const];
      quota[resource] = value;
      quota.source[resource] = value === null ? "none" : source;
    }
    const [types, typeSource] = settings.gpusByType !== undefined ? [settings.gpusByType ?? {}, "team" as const] : [defaults.gpusByType ?? {}, "default" as const];
    for (const [type, limit] of Object.entries(types)) {
      quota.gpusByType[type] = limit;
      quota.source[`gpus:${type}`] = typeSource;
    }
    return quota;
  }
}

function quotaLines(
  quota: EffectiveQuota,
  jobs: HeldByJob[],
  hours: GpuHours | undefined,
  served: ServedVersion[],
  storage: StorageUse | undefined,
  gpuName: ReadonlyMap<number, string>,
): QuotaLine[] {
  const jobHolders = (amount: (j: HeldByJob) => number): QuotaHolder[] =>
    jobs.map((j) => ({ kind: "job" as const, id: j.jobId, name: j.name, amount: amount(j) })).filter((h) => h.amount > 0);
  const line = (resource: QuotaResource, by: QuotaHolder[], gpuType?: string): QuotaLine => {
    const key = gpuType === undefined ? resource : `gpus:${gpuType}`;
    const limit = gpuType === undefined ? quota[resource] : (quota.gpusByType[gpuType] ?? null);
    return {
      resource,
      ...(gpuType !== undefined ? { gpuType } : {}),
      limit: limit as number | null,
      source: quota.source[key] ?? "none",
      used: round(by.reduce((n, h) => n + h.amount, 0)),
      by,
    };
  };
  const storageBy: QuotaHolder[] = storage
    ? (
        [
          ["runArtifacts", "run artifacts"],
          ["loggedModels", "logged models"],
          ["modelVersions", "model versions"],
          ["evaluationUploads", "evaluation uploads"],
          ["datasets", "dataset files"],
        ] as const
      )
        .map(([key, name]): QuotaHolder => ({ kind: "storage", id: key, name, amount: storage[key] }))
        .filter((h) => h.amount > 0)
        .concat(storage.workspaces.map((w): QuotaHolder => ({ kind: "workspace", id: w.id, name: `workspace ${w.name} (home folder)`, amount: w.bytes })))
    : [];
  return [
    line("gpus", jobHolders((j) => j.gpus.length)),
    ...Object.keys(quota.gpusByType)
      .sort()
      .map((type) => line("gpus", jobHolders((j) => j.gpus.filter((g) => gpuMatchesType(gpuName.get(g) ?? "", type)).length), type)),
    line("gpuHoursPerMonth", (hours?.byJob ?? []).map((j) => ({ kind: "job" as const, id: j.jobId, name: j.name, amount: round(j.hours, 3) }))),
    line("cpus", jobHolders((j) => j.cpus)),
    line("memoryMiB", jobHolders((j) => j.memoryMiB)),
    line(
      "servingReplicas",
      served.map((s) => ({ kind: "serving" as const, id: `${s.name}@${s.version}/${s.environment}`, name: `${s.name} version ${s.version} (${s.environment})`, amount: s.replicas })),
    ),
    line("storageBytes", storageBy),
  ];
}

const round = (n: number, digits = 6) => Math.round(n * 10 ** digits) / 10 ** digits;

function storageTotal(use: StorageUse): number {
  return use.runArtifacts + use.loggedModels + use.modelVersions + use.evaluationUploads + use.datasets + homesTotal(use);
}

function homesTotal(use: StorageUse): number {
  return use.workspaces.reduce((n, w) => n + w.bytes, 0);
}

function describeStorage(use: StorageUse): string {
  const parts: [string, number][] = [
    ["run artifacts", use.runArtifacts],
    ["logged models", use.loggedModels],
    ["model versions", use.modelVersions],
    ["evaluation uploads", use.evaluationUploads],
    ["dataset files", use.datasets],
    ["workspace home folders", homesTotal(use)],
  ];
  return parts
    .filter(([, n]) => n > 0)
    .map(([name, n]) => `${name} ${formatBytes(n)}`)
    .join(", ");
}

/** 1536 → "1.5 KiB" (binary units, as quotas are written). */
export function formatBytes(bytes: number): string {
  const units = ["bytes", "KiB", "MiB", "GiB", "TiB", "PiB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${bytes} bytes` : `${Math.round(value * 10) / 10} ${units[unit]}`;
}

/** A size as `paved quotas set --storage` takes it: "20Gi", "512Mi", or bytes. */
function formatQuantity(bytes: number): string {
  for (const [unit, factor] of [
    ["Ti", 1024 ** 4],
    ["Gi", 1024 ** 3],
    ["Mi", 1024 ** 2],
    ["Ki", 1024],
  ] as const) {
    if (bytes >= factor) return `${Math.ceil(bytes / factor)}${unit}`;
  }
  return String(bytes);
}

function missingTeam(team: string): Error {
  return notFound(`team '${team}' does not exist; list yours with \`paved teams ls\``);
}
