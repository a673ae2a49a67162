import type { ProfileCatalog } from "../catalog/index.ts";
import { invalidInput } from "../../core/index.ts";
import type { MachineResources } from "./resources.ts";
import { worldOf, type Allocation, type JobSpec, type Pending, type ResourceRequest } from "./schema.ts";

/** A job holding resources (STARTING or RUNNING), as read from the database. */
export interface ActiveJob {
  jobId: string;
  name: string;
  /** The team that owns it: a reader of another team sees only that "another team" holds what it holds. */
  team?: string;
  allocation: Allocation;
  /** Default 0. */
  priority?: number;
  /** Whether it may be preempted (its spec's `preemptible`, else below priority `high`); default no. */
  preemptible?: boolean;
  /** RUNNING with a handle: only such an attempt can be preempted. */
  running?: boolean;
  /** When its current attempt started: among equals, the newest is preempted first (least work lost). */
  attemptStartedAt?: number | null;
  /** Set while it is being preempted: the queued job its GPUs go to. */
  preemptedFor?: string;
}

/** A job waiting to start, already in queue order (priority, then age). */
export interface QueuedJob {
  jobId: string;
  name: string;
  team?: string;
  request: ResourceRequest;
  /** Default 0. */
  priority?: number;
}

/** The limits of a team the scheduler enforces (guardrails' EffectiveQuota has them); null is unlimited. */
export interface TeamLimits {
  gpus: number | null;
  gpusByType: Record<string, number>;
  gpuHoursPerMonth: number | null;
  cpus: number | null;
  memoryMiB: number | null;
}

export interface ScheduleOptions {
  /** Each team's limits; a team absent here is unlimited. */
  quotas?: ReadonlyMap<string, TeamLimits>;
  /** GPU-hours each team used this month, with each job's part. */
  gpuHours?: ReadonlyMap<string, { hours: number; byJob: { jobId: string; name: string; hours: number }[] }>;
  /** Plan preemptions (compute.preemption.enabled). */
  preemption?: boolean;
  /**
   * The other backends jobs may name (`slurm`), each with its capacity, or why it cannot be used
   * now. A job whose request names no executor (or `local`) runs on `machine`. GPU indices are
   * unique across backends.
   */
  pools?: ReadonlyMap<string, MachineResources | { unavailable: string }>;
}

/** The backend a request or allocation is on: its executor's name, `local` for this machine. */
export const backendOf = (r: { executor?: string | undefined }): string => (r.executor && r.executor !== "local" ? r.executor : "local");

/** All backends added up: what fair share weighs a team's use against. */
function combined(machine: MachineResources, pools: ScheduleOptions["pools"]): MachineResources {
  const all = [...(pools?.values() ?? [])].filter((p): p is MachineResources => !("unavailable" in p));
  return all.reduce((sum, p) => ({ ...sum, gpus: [...sum.gpus, ...p.gpus], cpus: sum.cpus + p.cpus, memoryMiB: sum.memoryMiB + p.memoryMiB }), machine);
}

/** A running job to stop so that a queued one can have its GPUs. */
export interface PreemptionPlan {
  victim: ActiveJob;
  /** The queued job its GPUs go to. */
  for: QueuedJob;
  /** priority: a higher-priority job of the same team; fair-share: a job of a team under its fair share. */
  reason: "priority" | "fair-share";
  /** The victim's event, "preempted by … (why)"; a job of another team is not named. */
  message: string;
}

export interface ScheduleDecision {
  starts: { jobId: string; allocation: Allocation }[];
  pending: Map<string, Pending>;
  preemptions: PreemptionPlan[];
}

type Kind = "gpu" | "cpu" | "memory";
/** GPUs, CPUs and memory: the resources dominant resource fairness weighs. */
interface Vector {
  gpus: number;
  cpus: number;
  memoryMiB: number;
}

// Fractional CPUs add up with float error; compare at micro-CPU precision.
const round = (n: number, digits = 6) => Math.round(n * 10 ** digits) / 10 ** digits;

const matchesType = (gpuName: string, gpuType: string | null) => gpuType === null || gpuName.toLowerCase().includes(gpuType.toLowerCase());

/** The team key of a job; jobs from before teams carry none. */
const teamOf = (job: { team?: string | undefined }) => job.team ?? "";

const zero = (): Vector => ({ gpus: 0, cpus: 0, memoryMiB: 0 });
const allocated = (a: Allocation): Vector => ({ gpus: a.gpus.length, cpus: a.cpus, memoryMiB: a.memoryMiB });
const requested = (r: ResourceRequest): Vector => ({ gpus: r.gpus, cpus: r.cpus, memoryMiB: r.memoryMiB });
const plus = (a: Vector, b: Vector, sign = 1): Vector => ({ gpus: a.gpus + sign * b.gpus, cpus: round(a.cpus + sign * b.cpus), memoryMiB: a.memoryMiB + sign * b.memoryMiB });

/** What a team may hold of each resource: its quota, capped by the machine (the machine when unlimited). */
function capacity(machine: MachineResources, limits: TeamLimits | undefined): Vector {
  const cap = (limit: number | null | undefined, total: number) => (limit === null || limit === undefined ? total : Math.min(limit, total));
  return { gpus: cap(limits?.gpus, machine.gpus.length), cpus: cap(limits?.cpus, machine.cpus), memoryMiB: cap(limits?.memoryMiB, machine.memoryMiB) };
}

/**
 * Dominant resource fairness (Ghodsi et al., NSDI 2011): a team's share of each resource is what
 * it holds over what it may hold (its quota, or the machine when unlimited); its dominant share is
 * the largest of those. Holding something of a resource it may hold none of is an infinite share.
 */
export function dominantShare(use: Vector, cap: Vector): number {
  let share = 0;
  for (const k of ["gpus", "cpus", "memoryMiB"] as const) {
    if (use[k] <= 0) continue;
    share = Math.max(share, cap[k] > 0 ? use[k] / cap[k] : Number.POSITIVE_INFINITY);
  }
  return share;
}

/**
 * The order queued jobs are considered in: across teams by dominant resource fairness (DRF's
 * progressive filling: the next job comes from the team with the lowest dominant share, counting
 * what it holds and the jobs already placed before it in this order), within a team by priority,
 * then age. Teams of equal share go by their next job's place in the plain queue. One team alone
 * keeps the plain queue order.
 */
export function fairShareOrder(machine: MachineResources, active: ActiveJob[], queue: QueuedJob[], quotas?: ReadonlyMap<string, TeamLimits>): QueuedJob[] {
  const teams = new Map<string, { use: Vector; cap: Vector; jobs: QueuedJob[] }>();
  const entry = (team: string) => {
    let e = teams.get(team);
    if (!e) teams.set(team, (e = { use: zero(), cap: capacity(machine, quotas?.get(team)), jobs: [] }));
    return e;
  };
  for (const a of active) {
    const e = entry(teamOf(a));
    e.use = plus(e.use, allocated(a.allocation));
  }
  const position = new Map(queue.map((j, i) => [j.jobId, i]));
  for (const j of queue) entry(teamOf(j)).jobs.push(j);
  const order: QueuedJob[] = [];
  for (;;) {
    let best: { use: Vector; cap: Vector; jobs: QueuedJob[] } | undefined;
    let bestShare = 0;
    for (const e of teams.values()) {
      if (e.jobs.length === 0) continue;
      const share = dominantShare(e.use, e.cap);
      const earlier = best !== undefined && position.get(e.jobs[0]!.jobId)! < position.get(best.jobs[0]!.jobId)!;
      if (!best || share < bestShare || (share === bestShare && earlier)) {
        best = e;
        bestShare = share;
      }
    }
    if (!best) return order;
    const job = best.jobs.shift()!;
    order.push(job);
    best.use = plus(best.use, requested(job.request));
  }
}

/**
 * Decides which queued jobs start now, why the others wait, and which running jobs to preempt.
 * Pure: the caller passes the machine, the jobs holding resources (from the database), the queue
 * in priority order, and the teams' quotas. The queue is taken in fair-share order across teams
 * (see fairShareOrder). A job over its team's quota waits with the quota named, and holds back the
 * team's later jobs that need that resource. A job the machine has no room for claims the kinds of
 * resource it is short of, so a stream of smaller jobs behind it cannot starve it; jobs that need
 * none of those kinds still start. Then, with `preemption`, a waiting GPU job may reclaim GPUs
 * from preemptible running jobs: of its own team with a lower priority, or (when the machine is
 * short, not its quota) of a team that would still hold a larger dominant share than its own team
 * after the exchange — the condition that keeps two teams from preempting each other back and forth.
 */
export function schedule(local: MachineResources, active: ActiveJob[], queue: QueuedJob[], options: ScheduleOptions = {}): ScheduleDecision {
  const total = combined(local, options.pools);
  const poolOf = (name: string): MachineResources | { unavailable: string } =>
    name === "local" ? local : (options.pools?.get(name) ?? { unavailable: `this server has no executor '${name}' (see compute.slurm in the server configuration)` });
  const gpuHolder = new Map<number, ActiveJob>();
  const gpuName = new Map(total.gpus.map((g) => [g.index, g.name]));
  const cpusUsed = new Map<string, number>();
  const memoryUsed = new Map<string, number>();
  const used = (m: Map<string, number>, pool: string) => m.get(pool) ?? 0;
  const holders: ActiveJob[] = [...active];
  const teamHolders = new Map<string, ActiveJob[]>();
  const held = (team: string) => teamHolders.get(team) ?? [];
  const hold = (job: ActiveJob) => teamHolders.set(teamOf(job), [...held(teamOf(job)), job]);
  for (const job of active) {
    const pool = backendOf(job.allocation);
    for (const g of job.allocation.gpus) gpuHolder.set(g, job);
    cpusUsed.set(pool, round(used(cpusUsed, pool) + job.allocation.cpus));
    memoryUsed.set(pool, used(memoryUsed, pool) + job.allocation.memoryMiB);
    hold(job);
  }
  // Per backend: a job short of CPUs on Slurm holds back no job of this machine.
  const blocked = new Map<string, QueuedJob>();
  const teamBlocked = new Map<string, Map<Kind, QueuedJob>>();
  const decision: ScheduleDecision = { starts: [], pending: new Map(), preemptions: [] };
  const ordered = fairShareOrder(total, active, queue, options.quotas);

  for (const job of ordered) {
    const { request } = job;
    const team = teamOf(job);
    const poolName = backendOf(request);
    const machine = poolOf(poolName);
    if ("unavailable" in machine) {
      setPending(decision, job.jobId, { reason: "", resources: [], backend: { name: poolName, unavailable: machine.unavailable } });
      continue;
    }
    const inPool = (a: ActiveJob) => backendOf(a.allocation) === poolName;
    const freeCpus = round(machine.cpus - used(cpusUsed, poolName));
    const freeMemory = machine.memoryMiB - used(memoryUsed, poolName);
    const eligible = machine.gpus.filter((g) => matchesType(g.name, request.gpuType));
    const freeGpus = eligible.filter((g) => !gpuHolder.has(g.index));
    const needs: [Kind, number][] = [
      ["gpu", request.gpus],
      ["cpu", request.cpus],
      ["memory", request.memoryMiB],
    ];

    const limits = options.quotas?.get(team);
    // Free GPUs first; among them, those of a type the team has room for under its per-type quotas.
    const picked = pickGpus(freeGpus, request.gpus, limits, held(team), gpuName);
    // Short of free GPUs, the quota check counts held ones it would wait for.
    const wouldGet = [...picked, ...eligible.filter((g) => gpuHolder.has(g.index))].slice(0, request.gpus);
    if (limits) {
      const quota = quotaShortfall(job, limits, held(team), options.gpuHours?.get(team), wouldGet, gpuName);
      if (quota) {
        setPending(decision, job.jobId, { reason: "", resources: [], quota });
        const kind = QUOTA_KIND[quota.resource];
        let claims = teamBlocked.get(team);
        if (!claims) teamBlocked.set(team, (claims = new Map()));
        // GPU-hours are gone for the month whatever the order: nothing to hold back for.
        if (kind && !claims.has(kind)) claims.set(kind, job);
        continue;
      }
      const ahead = needs.find(([kind, amount]) => amount > 0 && teamBlocked.get(team)?.has(kind));
      if (ahead) {
        const first = teamBlocked.get(team)!.get(ahead[0])!;
        setPending(decision, job.jobId, { reason: "", resources: [], behind: { ...holderOf(first), resource: ahead[0], quota: true } });
        continue;
      }
    }

    const short: Pending["resources"] = [];
    if (request.gpus > freeGpus.length) {
      short.push({
        resource: "gpu",
        requested: request.gpus,
        free: freeGpus.length,
        total: eligible.length,
        heldBy: heldBy(holders.filter(inPool), (a) => a.gpus.filter((g) => eligible.some((e) => e.index === g)).length),
      });
    }
    if (round(request.cpus) > freeCpus) {
      short.push({ resource: "cpu", requested: request.cpus, free: freeCpus, total: machine.cpus, heldBy: heldBy(holders.filter(inPool), (a) => a.cpus) });
    }
    if (request.memoryMiB > freeMemory) {
      short.push({ resource: "memory", requested: request.memoryMiB, free: freeMemory, total: machine.memoryMiB, heldBy: heldBy(holders.filter(inPool), (a) => a.memoryMiB) });
    }
    if (short.length > 0) {
      setPending(decision, job.jobId, { reason: "", resources: short });
      for (const s of short) if (!blocked.has(`${poolName}:${s.resource}`)) blocked.set(`${poolName}:${s.resource}`, job);
      continue;
    }
    const waitingOn = needs.find(([kind, amount]) => amount > 0 && blocked.has(`${poolName}:${kind}`));
    if (waitingOn) {
      setPending(decision, job.jobId, { reason: "", resources: [], behind: { ...holderOf(blocked.get(`${poolName}:${waitingOn[0]}`)!), resource: waitingOn[0] } });
      continue;
    }
    const gpus = picked.map((g) => g.index);
    const allocation: Allocation = { gpus, cpus: request.cpus, memoryMiB: request.memoryMiB, ...(poolName !== "local" ? { executor: poolName } : {}) };
    const holder: ActiveJob = { jobId: job.jobId, name: job.name, ...(job.team !== undefined ? { team: job.team } : {}), allocation, priority: job.priority ?? 0 };
    for (const g of gpus) gpuHolder.set(g, holder);
    cpusUsed.set(poolName, round(used(cpusUsed, poolName) + request.cpus));
    memoryUsed.set(poolName, used(memoryUsed, poolName) + request.memoryMiB);
    holders.push(holder);
    hold(holder);
    decision.starts.push({ jobId: job.jobId, allocation });
  }

  if (!options.preemption) return decision;

  // Preemption: the waiting GPU jobs, in the same order, may each reclaim GPUs once.
  const preemptedFor = new Map<string, ActiveJob[]>();
  for (const a of active) if (a.preemptedFor !== undefined) preemptedFor.set(a.preemptedFor, [...(preemptedFor.get(a.preemptedFor) ?? []), a]);
  const taken = new Set<string>();
  const teamUse = (team: string) => held(team).reduce((v, h) => plus(v, allocated(h.allocation)), zero());
  for (const job of ordered) {
    const pending = decision.pending.get(job.jobId);
    if (!pending || job.request.gpus === 0) continue;
    const already = preemptedFor.get(job.jobId);
    if (already?.length) {
      // Its victims are still stopping: wait for them rather than take more.
      pending.preempting = already.map(holderOf);
      pending.reason = describePending(pending);
      continue;
    }
    const gpuQuota = pending.quota?.resource === "gpus" ? pending.quota : undefined;
    const machineShort = pending.resources.some((r) => r.resource === "gpu");
    if (!gpuQuota && (!machineShort || pending.quota)) continue;
    const team = teamOf(job);
    const priority = job.priority ?? 0;
    const poolName = backendOf(job.request);
    const machine = poolOf(poolName);
    if ("unavailable" in machine) continue;
    const eligible = new Set(machine.gpus.filter((g) => matchesType(g.name, job.request.gpuType)).map((g) => g.index));
    const countsForQuota = (i: number) => gpuQuota?.gpuType === undefined || matchesType(gpuName.get(i) ?? "", gpuQuota.gpuType);
    const capOf = (t: string) => capacity(total, options.quotas?.get(t));
    const mine = plus(teamUse(team), requested(job.request));
    const chosen: { victim: ActiveJob; reason: PreemptionPlan["reason"]; message: string }[] = [];
    const fits = () => {
      const freed = chosen.flatMap((c) => c.victim.allocation.gpus);
      const gpusFree = [...eligible].filter((i) => !gpuHolder.has(i)).length + freed.filter((i) => eligible.has(i)).length;
      const cpusFree = round(machine.cpus - used(cpusUsed, poolName) + chosen.reduce((n, c) => n + c.victim.allocation.cpus, 0));
      const memoryFree = machine.memoryMiB - used(memoryUsed, poolName) + chosen.reduce((n, c) => n + c.victim.allocation.memoryMiB, 0);
      if (gpusFree < job.request.gpus || cpusFree < round(job.request.cpus) || memoryFree < job.request.memoryMiB) return false;
      if (!gpuQuota) return true;
      const released = chosen.filter((c) => teamOf(c.victim) === team).flatMap((c) => c.victim.allocation.gpus.filter(countsForQuota)).length;
      return gpuQuota.used - released + gpuQuota.requested <= gpuQuota.limit;
    };
    const candidates = active
      .filter((a) => a.running && a.preemptible && a.preemptedFor === undefined && !taken.has(a.jobId) && a.allocation.gpus.length > 0 && backendOf(a.allocation) === poolName)
      .sort((x, y) => (x.priority ?? 0) - (y.priority ?? 0) || (y.attemptStartedAt ?? 0) - (x.attemptStartedAt ?? 0) || x.jobId.localeCompare(y.jobId));
    for (const victim of candidates) {
      if (fits()) break;
      const theirs = teamOf(victim);
      if (theirs === team) {
        if ((victim.priority ?? 0) >= priority) continue;
        const helps = victim.allocation.gpus.some((i) => eligible.has(i) || (gpuQuota !== undefined && countsForQuota(i)));
        if (!helps) continue;
        chosen.push({
          victim,
          reason: "priority",
          message: `preempted by job ${job.jobId} (${job.name}): priority ${priority} over this job's ${victim.priority ?? 0} in team ${team || "default"}`,
        });
        continue;
      }
      // Another team: only for GPUs the machine lacks (a job over its own quota takes nothing from others).
      if (gpuQuota || !victim.allocation.gpus.some((i) => eligible.has(i))) continue;
      const released = chosen.filter((c) => teamOf(c.victim) === theirs).reduce((v, c) => plus(v, allocated(c.victim.allocation)), allocated(victim.allocation));
      const theirsBefore = dominantShare(teamUse(theirs), capOf(theirs));
      const theirsAfter = dominantShare(plus(teamUse(theirs), released, -1), capOf(theirs));
      const mineAfter = dominantShare(mine, capOf(team));
      if (mineAfter > theirsAfter) continue;
      chosen.push({
        victim,
        reason: "fair-share",
        message: `preempted by a job of another team: fair share (dominant resource fairness): team ${theirs || "default"} holds ${percent(theirsBefore)} of its share, and the other team would hold ${percent(mineAfter)} of its own with that job`,
      });
    }
    if (chosen.length === 0 || !fits()) continue;
    for (const c of chosen) {
      taken.add(c.victim.jobId);
      decision.preemptions.push({ victim: c.victim, for: job, reason: c.reason, message: c.message });
    }
    pending.preempting = chosen.map((c) => holderOf(c.victim));
    pending.reason = describePending(pending);
  }
  return decision;
}

/**
 * The free GPUs a job gets: the first `n` of `free`, passing over those of a type whose per-type
 * quota the team has no room left in while others remain.
 */
function pickGpus(free: MachineResources["gpus"], n: number, limits: TeamLimits | undefined, held: ActiveJob[], gpuName: ReadonlyMap<number, string>): MachineResources["gpus"] {
  const types = Object.entries(limits?.gpusByType ?? {});
  if (types.length === 0 || n === 0) return free.slice(0, n);
  const room = new Map(types.map(([type, limit]) => [type, limit - held.reduce((k, h) => k + h.allocation.gpus.filter((i) => matchesType(gpuName.get(i) ?? "", type)).length, 0)]));
  const fits = (g: { name: string }) => types.every(([type]) => !matchesType(g.name, type) || room.get(type)! > 0);
  const picked: MachineResources["gpus"] = [];
  const rest = [...free];
  while (picked.length < n && rest.length > 0) {
    const i = Math.max(0, rest.findIndex(fits));
    const [g] = rest.splice(i, 1);
    for (const [type] of types) if (matchesType(g!.name, type)) room.set(type, room.get(type)! - 1);
    picked.push(g!);
  }
  return picked;
}

/** Which machine kind a team quota holds back (GPU-hours: none, they are spent for the month). */
const QUOTA_KIND: Record<NonNullable<Pending["quota"]>["resource"], Kind | undefined> = { gpus: "gpu", gpuHoursPerMonth: undefined, cpus: "cpu", memoryMiB: "memory" };

function setPending(decision: ScheduleDecision, jobId: string, pending: Pending): void {
  pending.reason = describePending(pending);
  decision.pending.set(jobId, pending);
}

function holderOf(job: { jobId: string; name: string; team?: string | undefined }): { jobId: string; name: string; team?: string } {
  return { jobId: job.jobId, name: job.name, ...(job.team !== undefined ? { team: job.team } : {}) };
}

/** The first of the team's limits this job would pass, with what the team uses and by which jobs; undefined when it fits. */
function quotaShortfall(
  job: QueuedJob,
  limits: TeamLimits,
  held: ActiveJob[],
  hours: { hours: number; byJob: { jobId: string; name: string; hours: number }[] } | undefined,
  wouldGet: { index: number; name: string }[],
  gpuName: ReadonlyMap<number, string>,
): Pending["quota"] {
  const r = job.request;
  const team = job.team ?? "default";
  const by = (amount: (a: ActiveJob) => number) => held.map((h) => ({ ...holderOf(h), amount: round(amount(h)) })).filter((h) => h.amount > 0);
  const used = (amount: (a: ActiveJob) => number) => round(held.reduce((n, h) => n + amount(h), 0));
  if (r.gpus > 0 && limits.gpus !== null) {
    const count = (a: ActiveJob) => a.allocation.gpus.length;
    if (used(count) + r.gpus > limits.gpus) {
      return { team, resource: "gpus", limit: limits.gpus, used: used(count), requested: r.gpus, by: by(count), fix: `paved quotas set ${team} --gpus ${used(count) + r.gpus}` };
    }
  }
  for (const [type, limit] of Object.entries(limits.gpusByType).sort(([a], [b]) => a.localeCompare(b))) {
    const n = wouldGet.filter((g) => matchesType(g.name, type)).length;
    if (n === 0) continue;
    const count = (a: ActiveJob) => a.allocation.gpus.filter((i) => matchesType(gpuName.get(i) ?? "", type)).length;
    if (used(count) + n > limit) {
      return { team, resource: "gpus", gpuType: type, limit, used: used(count), requested: n, by: by(count), fix: `paved quotas set ${team} --gpu-type ${type}=${used(count) + n}` };
    }
  }
  if (r.gpus > 0 && limits.gpuHoursPerMonth !== null && (hours?.hours ?? 0) >= limits.gpuHoursPerMonth) {
    const top = (hours?.byJob ?? []).slice(0, 5).map((j) => ({ jobId: j.jobId, name: j.name, ...(job.team !== undefined ? { team: job.team } : {}), amount: round(j.hours, 2) }));
    return {
      team,
      resource: "gpuHoursPerMonth",
      limit: limits.gpuHoursPerMonth,
      used: round(hours?.hours ?? 0, 2),
      requested: r.gpus,
      by: top,
      fix: `paved quotas set ${team} --gpu-hours ${Math.max(1, Math.ceil(limits.gpuHoursPerMonth * 2))}`,
    };
  }
  if (r.cpus > 0 && limits.cpus !== null) {
    const count = (a: ActiveJob) => a.allocation.cpus;
    if (round(used(count) + r.cpus) > limits.cpus) {
      return { team, resource: "cpus", limit: limits.cpus, used: used(count), requested: r.cpus, by: by(count), fix: `paved quotas set ${team} --cpus ${Math.ceil(round(used(count) + r.cpus))}` };
    }
  }
  if (r.memoryMiB > 0 && limits.memoryMiB !== null) {
    const count = (a: ActiveJob) => a.allocation.memoryMiB;
    if (used(count) + r.memoryMiB > limits.memoryMiB) {
      return { team, resource: "memoryMiB", limit: limits.memoryMiB, used: used(count), requested: r.memoryMiB, by: by(count), fix: `paved quotas set ${team} --memory ${Math.ceil((used(count) + r.memoryMiB) / 1024)}Gi` };
    }
  }
  return undefined;
}

const percent = (share: number) => (Number.isFinite(share) ? `${Math.round(share * 100)}%` : "more than all");

function heldBy(holders: ActiveJob[], amount: (a: Allocation) => number): Pending["resources"][number]["heldBy"] {
  return holders.map((h) => ({ jobId: h.jobId, name: h.name, ...(h.team !== undefined ? { team: h.team } : {}), amount: amount(h.allocation) })).filter((h) => h.amount > 0);
}

/** What a reader sees of a job of a team it cannot read: that another team holds it, nothing else. */
export const ANOTHER_TEAM = "another team";

/**
 * A queued job's reason as one reader may see it: holders (and the job it waits behind, and the
 * jobs being preempted for it) of teams `canSee` refuses lose their id and name, and the reason is
 * written again from what is left. Pending reasons stored before teams carry no team: they belong
 * to the default team. A quota's holders are of the job's own team, which its reader sees.
 */
export function pendingFor(pending: Pending, canSee: (team: string) => boolean, defaultTeam: string): Pending {
  const visible = (team: string | undefined) => canSee(team ?? defaultTeam);
  const mask = <T extends { jobId: string | null; name: string; team?: string }>(h: T): T | { jobId: null; name: string } =>
    visible(h.team) ? h : { jobId: null, name: ANOTHER_TEAM };
  const resources = pending.resources.map((r) => ({
    ...r,
    heldBy: r.heldBy.map((h) => (visible(h.team) ? h : { jobId: null, name: ANOTHER_TEAM, amount: h.amount })),
  }));
  const masked: Pending = { reason: pending.reason, resources };
  if (pending.behind) masked.behind = visible(pending.behind.team) ? pending.behind : { jobId: null, name: ANOTHER_TEAM, resource: pending.behind.resource, ...(pending.behind.quota ? { quota: true } : {}) };
  if (pending.quota) masked.quota = pending.quota;
  if (pending.preempting) masked.preempting = pending.preempting.map(mask);
  if (pending.backend) masked.backend = pending.backend;
  // A reason stored with nothing structured beside it (from before) is kept as it is.
  const structured = resources.length > 0 || masked.behind !== undefined || masked.quota !== undefined || masked.backend !== undefined;
  masked.reason = structured ? describePending(masked) : pending.reason;
  return masked;
}

/** The reason of a queued job, written from what holds it back. */
export function describePending(p: Pending): string {
  if (p.backend) return `${p.backend.unavailable}; the job waits and Paved tries again`;
  const base = p.quota ? describeQuota(p.quota) : p.behind ? describeBehind(p.behind) : describeShortage(p.resources);
  if (!p.preempting?.length) return base;
  const who = p.preempting.map((h) => (h.jobId === null ? `a job of ${ANOTHER_TEAM}` : `job ${h.jobId} (${h.name})`)).join(", ");
  return `${base}; preempting ${who} to make room (it gets SIGTERM and a grace period to checkpoint, then goes back to the queue)`;
}

function describeBehind(behind: NonNullable<Pending["behind"]>): string {
  const what = behind.resource === "gpu" ? "GPUs" : behind.resource === "cpu" ? "CPUs" : "memory";
  const who = behind.jobId === null ? `a higher-priority job of ${ANOTHER_TEAM}` : `higher-priority job ${behind.jobId} (${behind.name})`;
  if (behind.quota) return `waiting behind ${who} of the same team, which is waiting for the team's ${what} quota`;
  return `waiting behind ${who}, which is waiting for ${what}`;
}

const QUOTA_UNIT: Record<NonNullable<Pending["quota"]>["resource"], (n: number, type?: string) => string> = {
  gpus: (n, type) => `${n}${type ? ` ${type}` : ""} GPU${n === 1 ? "" : "s"}`,
  gpuHoursPerMonth: (n) => `${n} GPU-hour${n === 1 ? "" : "s"} this month`,
  cpus: (n) => `${n} CPU${n === 1 ? "" : "s"}`,
  memoryMiB: (n) => `${n} MiB of memory`,
};

/** "team risk uses 1 of its 1 GPU (job j1 (train-a): 1); …; ask a platform admin to raise the quota: paved quotas set risk --gpus 2". */
function describeQuota(q: NonNullable<Pending["quota"]>): string {
  const unit = (n: number) => QUOTA_UNIT[q.resource](n, q.gpuType);
  const holders = q.by.map((h) => (h.jobId === null ? `${h.name}: ${h.amount}` : `job ${h.jobId} (${h.name}): ${h.amount}`)).join(", ");
  const byWhom = holders ? ` (${holders})` : "";
  const raise = `ask a platform admin to raise the quota: ${q.fix}`;
  if (q.resource === "gpuHoursPerMonth") {
    return `team ${q.team} used ${q.used} of its ${unit(q.limit)}${byWhom}; its GPU jobs wait for next month (UTC), or ${raise}`;
  }
  const quota = unit(q.limit).replace(/^\d+(\.\d+)? /, "");
  if (q.requested > q.limit) {
    return `this job needs ${unit(q.requested)}, more than team ${q.team}'s quota of ${unit(q.limit)}: it cannot start until a platform admin raises the quota (${q.fix}); or cancel it and ask for at most ${q.limit}`;
  }
  return `team ${q.team} uses ${q.used} of its ${q.limit} ${quota}${byWhom}, and this job needs ${q.requested} more; wait for ${q.by.length === 1 ? "that job" : "those jobs"} to end, or ${raise}`;
}

const UNIT: Record<"gpu" | "cpu" | "memory", (n: number) => string> = {
  gpu: (n) => `${n} GPU${n === 1 ? "" : "s"}`,
  cpu: (n) => `${n} CPU${n === 1 ? "" : "s"}`,
  memory: (n) => `${n} MiB of memory`,
};

function describeShortage(short: Pending["resources"]): string {
  return short
    .map((s) => {
      const holders = s.heldBy.length ? `; held by ${s.heldBy.map((h) => `${h.jobId === null ? h.name : `${h.jobId} (${h.name})`}: ${h.amount}`).join(", ")}` : "";
      return `needs ${UNIT[s.resource](s.requested)}, ${s.free} of ${s.total} free${holders}`;
    })
    .join("; ");
}

/** Resolves a spec's compute section (profile or raw resources) to a request; default profile `cpu`. */
export function resolveRequest(spec: JobSpec, catalog: ProfileCatalog, defaultExecutor = "local"): ResourceRequest {
  const request = resolveResources(spec, catalog, defaultExecutor);
  assertDistributable(spec, request);
  return request;
}

function resolveResources(spec: JobSpec, catalog: ProfileCatalog, defaultExecutor: string): ResourceRequest {
  const compute = spec.compute;
  const on = (executor: string) => (executor !== "local" ? { executor } : {});
  if (!compute || compute.profile !== undefined) {
    const profile = catalog.get(compute?.profile ?? "cpu");
    const fields = { ...profile.slurm, ...profile.kubernetes };
    const placement = Object.keys(fields).length > 0 ? { placement: fields } : {};
    return { profile: profile.name, gpus: profile.gpus, gpuType: profile.gpuType, cpus: profile.cpus, memoryMiB: profile.memoryMiB, ...on(profile.executor ?? defaultExecutor), ...placement };
  }
  return { profile: null, gpus: compute.gpus ?? 0, gpuType: compute.gpuType ?? null, cpus: compute.cpus ?? 1, memoryMiB: compute.memory ?? 1024, ...on(defaultExecutor) };
}

/**
 * A job of several processes (compute.nodes x compute.processesPerNode) — process groups on the
 * local executor, srun tasks on Slurm — must split its GPUs evenly between its ranks.
 */
function assertDistributable(spec: JobSpec, request: ResourceRequest): void {
  const { nodes, processesPerNode, worldSize } = worldOf(spec.compute);
  if (worldSize === 1) return;
  if (request.gpus % worldSize !== 0) {
    const fits = [worldSize * Math.max(1, Math.floor(request.gpus / worldSize)), worldSize * Math.ceil(request.gpus / worldSize)];
    throw invalidInput(
      `${request.gpus} GPUs cannot be split evenly between ${worldSize} processes (${nodes} node${nodes === 1 ? "" : "s"} x ${processesPerNode}); ask for a multiple of ${worldSize} GPUs (e.g. ${[...new Set(fits)].join(" or ")}), or change processesPerNode so it divides ${request.gpus}`,
      { gpus: request.gpus, processes: worldSize },
    );
  }
}

/** Rejects a request no amount of waiting could satisfy on this machine, naming the fix. */
export function assertFeasible(request: ResourceRequest, machine: MachineResources, catalog: ProfileCatalog, where = "this machine"): void {
  const local = where === "this machine";
  if (request.gpuType !== null && request.gpus > 0 && !machine.gpus.some((g) => matchesType(g.name, request.gpuType))) {
    const names = [...new Set(machine.gpus.map((g) => g.name))];
    throw invalidInput(
      names.length
        ? `requests gpuType '${request.gpuType}' but ${where}'s GPUs are ${names.join(", ")}; drop gpuType or ask for one of those`
        : `requests gpuType '${request.gpuType}' but ${where} has no GPUs; drop the GPU request or pick a profile of a backend with GPUs`,
      { gpuTypes: names },
    );
  }
  const eligible = machine.gpus.filter((g) => matchesType(g.name, request.gpuType)).length;
  if (request.gpus > eligible) {
    const fits = catalog
      .list()
      .filter((p) => p.gpus > 0 && p.gpus <= eligible && p.cpus <= machine.cpus && p.memoryMiB <= machine.memoryMiB)
      .sort((a, b) => b.gpus - a.gpus)[0];
    const what = request.gpuType ? `${request.gpuType} GPUs` : "GPUs";
    const fix = eligible === 0 ? "drop the GPU request (e.g. use profile cpu)" : `ask for at most ${eligible}${fits ? ` or use profile ${fits.name}` : ""}`;
    throw invalidInput(`requests ${request.gpus} ${what} but ${where} has ${eligible}; ${fix}`, { requested: request.gpus, total: eligible });
  }
  if (round(request.cpus) > machine.cpus) {
    throw invalidInput(`requests ${request.cpus} CPUs but ${where} has ${machine.cpus}; ask for at most ${machine.cpus}${local ? " (compute.cpus)" : ""} or pick a smaller profile`, {
      requested: request.cpus,
      total: machine.cpus,
    });
  }
  if (request.memoryMiB > machine.memoryMiB) {
    throw invalidInput(
      `requests ${request.memoryMiB} MiB of memory but ${where} has ${machine.memoryMiB} MiB; ask for at most ${machine.memoryMiB}Mi${local ? " (compute.memory)" : ""} or pick a smaller profile`,
      { requested: request.memoryMiB, total: machine.memoryMiB },
    );
  }
}
