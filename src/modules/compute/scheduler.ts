import type { ProfileCatalog } from "../catalog/index.ts";
import { invalidInput } from "../../core/index.ts";
import type { MachineResources } from "./resources.ts";
import type { Allocation, JobSpec, Pending, ResourceRequest } from "./schema.ts";

/** A job holding resources (STARTING or RUNNING), as read from the database. */
export interface ActiveJob {
  jobId: string;
  name: string;
  /** The team that owns it: a reader of another team sees only that "another team" holds what it holds. */
  team?: string;
  allocation: Allocation;
}

/** A job waiting to start, already in queue order. */
export interface QueuedJob {
  jobId: string;
  name: string;
  team?: string;
  request: ResourceRequest;
}

export interface ScheduleDecision {
  starts: { jobId: string; allocation: Allocation }[];
  pending: Map<string, Pending>;
}

// Fractional CPUs add up with float error; compare at micro-CPU precision.
const round = (n: number) => Math.round(n * 1e6) / 1e6;

const matchesType = (gpuName: string, gpuType: string | null) => gpuType === null || gpuName.toLowerCase().includes(gpuType.toLowerCase());

/**
 * Decides which queued jobs start now and why the others wait. Pure: the caller passes the
 * machine, the jobs holding resources (from the database) and the queue in priority order.
 * A job that cannot start claims the kinds of resource it is short of, so a stream of smaller
 * jobs behind it cannot starve it; jobs that need none of those kinds still start.
 */
export function schedule(machine: MachineResources, active: ActiveJob[], queue: QueuedJob[]): ScheduleDecision {
  const gpuHolder = new Map<number, ActiveJob>();
  let cpusUsed = 0;
  let memoryUsed = 0;
  const holders: ActiveJob[] = [...active];
  for (const job of active) {
    for (const g of job.allocation.gpus) gpuHolder.set(g, job);
    cpusUsed += job.allocation.cpus;
    memoryUsed += job.allocation.memoryMiB;
  }
  const blocked = new Map<"gpu" | "cpu" | "memory", string>();
  const decision: ScheduleDecision = { starts: [], pending: new Map() };

  for (const job of queue) {
    const { request } = job;
    const freeCpus = round(machine.cpus - cpusUsed);
    const freeMemory = machine.memoryMiB - memoryUsed;
    const eligible = machine.gpus.filter((g) => matchesType(g.name, request.gpuType));
    const freeGpus = eligible.filter((g) => !gpuHolder.has(g.index));
    const short: Pending["resources"] = [];
    if (request.gpus > freeGpus.length) {
      short.push({
        resource: "gpu",
        requested: request.gpus,
        free: freeGpus.length,
        total: eligible.length,
        heldBy: heldBy(holders, (a) => a.gpus.filter((g) => eligible.some((e) => e.index === g)).length),
      });
    }
    if (round(request.cpus) > freeCpus) {
      short.push({ resource: "cpu", requested: request.cpus, free: freeCpus, total: machine.cpus, heldBy: heldBy(holders, (a) => a.cpus) });
    }
    if (request.memoryMiB > freeMemory) {
      short.push({ resource: "memory", requested: request.memoryMiB, free: freeMemory, total: machine.memoryMiB, heldBy: heldBy(holders, (a) => a.memoryMiB) });
    }
    if (short.length > 0) {
      decision.pending.set(job.jobId, { reason: describeShortage(short), resources: short });
      for (const s of short) if (!blocked.has(s.resource)) blocked.set(s.resource, job.jobId);
      continue;
    }
    const needs: ["gpu" | "cpu" | "memory", number][] = [["gpu", request.gpus], ["cpu", request.cpus], ["memory", request.memoryMiB]];
    const waitingOn = needs.filter(([kind, amount]) => amount > 0 && blocked.has(kind));
    if (waitingOn.length > 0) {
      const [kind] = waitingOn[0]!;
      const ahead = blocked.get(kind)!;
      const ahead_ = queue.find((q) => q.jobId === ahead);
      const behind = { jobId: ahead, name: ahead_?.name ?? "?", ...(ahead_?.team !== undefined ? { team: ahead_.team } : {}), resource: kind };
      decision.pending.set(job.jobId, { reason: describeBehind(behind), resources: [], behind });
      continue;
    }
    const gpus = freeGpus.slice(0, request.gpus).map((g) => g.index);
    const allocation: Allocation = { gpus, cpus: request.cpus, memoryMiB: request.memoryMiB };
    const holder: ActiveJob = { jobId: job.jobId, name: job.name, ...(job.team !== undefined ? { team: job.team } : {}), allocation };
    for (const g of gpus) gpuHolder.set(g, holder);
    cpusUsed = round(cpusUsed + request.cpus);
    memoryUsed += request.memoryMiB;
    holders.push(holder);
    decision.starts.push({ jobId: job.jobId, allocation });
  }
  return decision;
}

function heldBy(holders: ActiveJob[], amount: (a: Allocation) => number): Pending["resources"][number]["heldBy"] {
  return holders.map((h) => ({ jobId: h.jobId, name: h.name, ...(h.team !== undefined ? { team: h.team } : {}), amount: amount(h.allocation) })).filter((h) => h.amount > 0);
}

/** What a reader sees of a job of a team it cannot read: that another team holds it, nothing else. */
export const ANOTHER_TEAM = "another team";

/**
 * A queued job's reason as one reader may see it: holders (and the job it waits behind) of teams
 * `canSee` refuses lose their id and name, and the reason is written again from what is left.
 * Pending reasons stored before teams carry no team: they belong to the default team.
 */
export function pendingFor(pending: Pending, canSee: (team: string) => boolean, defaultTeam: string): Pending {
  const visible = (team: string | undefined) => canSee(team ?? defaultTeam);
  const resources = pending.resources.map((r) => ({
    ...r,
    heldBy: r.heldBy.map((h) => (visible(h.team) ? h : { jobId: null, name: ANOTHER_TEAM, amount: h.amount })),
  }));
  if (pending.behind) {
    const b = pending.behind;
    const behind = visible(b.team) ? b : { jobId: null, name: ANOTHER_TEAM, resource: b.resource };
    return { reason: describeBehind(behind), resources, behind };
  }
  return { reason: resources.length ? describeShortage(resources) : pending.reason, resources };
}

function describeBehind(behind: NonNullable<Pending["behind"]>): string {
  const what = behind.resource === "gpu" ? "GPUs" : behind.resource === "cpu" ? "CPUs" : "memory";
  const who = behind.jobId === null ? `a higher-priority job of ${ANOTHER_TEAM}` : `higher-priority job ${behind.jobId} (${behind.name})`;
  return `waiting behind ${who}, which is waiting for ${what}`;
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
export function resolveRequest(spec: JobSpec, catalog: ProfileCatalog): ResourceRequest {
  const compute = spec.compute;
  if (!compute || compute.profile !== undefined) {
    const profile = catalog.get(compute?.profile ?? "cpu");
    return { profile: profile.name, gpus: profile.gpus, gpuType: profile.gpuType, cpus: profile.cpus, memoryMiB: profile.memoryMiB };
  }
  return { profile: null, gpus: compute.gpus ?? 0, gpuType: compute.gpuType ?? null, cpus: compute.cpus ?? 1, memoryMiB: compute.memory ?? 1024 };
}

/** Rejects a request no amount of waiting could satisfy on this machine, naming the fix. */
export function assertFeasible(request: ResourceRequest, machine: MachineResources, catalog: ProfileCatalog): void {
  if (request.gpuType !== null && request.gpus > 0 && !machine.gpus.some((g) => matchesType(g.name, request.gpuType))) {
    const names = [...new Set(machine.gpus.map((g) => g.name))];
    throw invalidInput(
      names.length
        ? `requests gpuType '${request.gpuType}' but this machine's GPUs are ${names.join(", ")}; drop gpuType or ask for one of those`
        : `requests gpuType '${request.gpuType}' but this machine has no GPUs; drop the GPU request or run on a machine with GPUs`,
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
    throw invalidInput(`requests ${request.gpus} ${what} but this machine has ${eligible}; ${fix}`, { requested: request.gpus, total: eligible });
  }
  if (round(request.cpus) > machine.cpus) {
    throw invalidInput(`requests ${request.cpus} CPUs but this machine has ${machine.cpus}; ask for at most ${machine.cpus} (compute.cpus) or pick a smaller profile`, {
      requested: request.cpus,
      total: machine.cpus,
    });
  }
  if (request.memoryMiB > machine.memoryMiB) {
    throw invalidInput(
      `requests ${request.memoryMiB} MiB of memory but this machine has ${machine.memoryMiB} MiB; ask for at most ${machine.memoryMiB}Mi (compute.memory) or pick a smaller profile`,
      { requested: request.memoryMiB, total: machine.memoryMiB },
    );
  }
}
