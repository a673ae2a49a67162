import { describe, expect, it } from "vitest";
import { ProfileCatalog } from "../catalog/index.ts";
import type { MachineResources } from "./resources.ts";
import { assertFeasible, fairShareOrder, pendingFor, resolveRequest, schedule, type ActiveJob, type QueuedJob, type TeamLimits } from "./scheduler.ts";
import { jobSpecSchema, type ResourceRequest } from "./schema.ts";

const machine: MachineResources = {
  gpus: [
    { index: 0, uuid: null, name: "NVIDIA H200", memoryMiB: 143771 },
    { index: 1, uuid: null, name: "NVIDIA H200", memoryMiB: 143771 },
  ],
  cpus: 8,
  memoryMiB: 16384,
  cpuModel: "test",
  gpusDiscovered: false,
};
const req = (gpus: number, cpus = 1, memoryMiB = 1024, gpuType: string | null = null): ResourceRequest => ({ profile: null, gpus, gpuType, cpus, memoryMiB });
const q = (jobId: string, request: ResourceRequest): QueuedJob => ({ jobId, name: jobId, request });
const catalog = ProfileCatalog.load();

describe("scheduler", () => {
  it("never over-allocates a burst: GPUs, CPUs and memory all stay within the machine", () => {
    const queue = Array.from({ length: 50 }, (_, i) => q(`j${i}`, req(i % 3 === 0 ? 1 : 0, 0.5 + (i % 4) * 0.5, 512 + (i % 5) * 700)));
    const { starts, pending } = schedule(machine, [], queue);
    const gpus = starts.flatMap((s) => s.allocation.gpus);
    expect(new Set(gpus).size).toBe(gpus.length);
    expect(gpus.length).toBeLessThanOrEqual(2);
    expect(starts.reduce((n, s) => n + s.allocation.cpus, 0)).toBeLessThanOrEqual(8);
    expect(starts.reduce((n, s) => n + s.allocation.memoryMiB, 0)).toBeLessThanOrEqual(16384);
    expect(starts.length + pending.size).toBe(50);
    // Feeding the started jobs back as active allows nothing more to start.
    const active: ActiveJob[] = starts.map((s) => ({ jobId: s.jobId, name: s.jobId, allocation: s.allocation }));
    const again = schedule(machine, active, queue.filter((j) => !starts.some((s) => s.jobId === j.jobId)));
    const cpus = [...active, ...again.starts].reduce((n, s) => n + s.allocation.cpus, 0);
    expect(cpus).toBeLessThanOrEqual(8);
  });

  it("allocates specific GPU indices and explains who holds the rest", () => {
    const active: ActiveJob[] = [{ jobId: "big", name: "train-big", allocation: { gpus: [0, 1], cpus: 2, memoryMiB: 1024 } }];
    const { starts, pending } = schedule(machine, active, [q("small", req(1))]);
    expect(starts).toEqual([]);
    expect(pending.get("small")?.resources).toEqual([
      { resource: "gpu", requested: 1, free: 0, total: 2, heldBy: [{ jobId: "big", name: "train-big", amount: 2 }] },
    ]);
    expect(pending.get("small")?.reason).toContain("big");
    const freed = schedule(machine, [{ ...active[0]!, allocation: { gpus: [1], cpus: 2, memoryMiB: 1024 } }], [q("small", req(1))]);
    expect(freed.starts[0]?.allocation.gpus).toEqual([0]);
  });

  it("keeps queue order: a blocked job is not starved by smaller ones behind it", () => {
    const active: ActiveJob[] = [{ jobId: "a", name: "a", allocation: { gpus: [0], cpus: 1, memoryMiB: 100 } }];
    const { starts, pending } = schedule(machine, active, [q("needs-2", req(2)), q("needs-1", req(1)), q("cpu-only", req(0))]);
    expect(starts.map((s) => s.jobId)).toEqual(["cpu-only"]);
    expect(pending.get("needs-1")?.reason).toContain("needs-2");
  });

  it("reports memory and CPU shortages with the holders", () => {
    const active: ActiveJob[] = [{ jobId: "hog", name: "hog", allocation: { gpus: [], cpus: 7.5, memoryMiB: 16000 } }];
    const { pending } = schedule(machine, active, [q("x", req(0, 1, 1024))]);
    expect(pending.get("x")?.resources.map((r) => [r.resource, r.free, r.heldBy[0]?.jobId])).toEqual([
      ["cpu", 0.5, "hog"],
      ["memory", 384, "hog"],
    ]);
  });

  it("shows a reader only that another team holds what it waits for, or is ahead of it in the queue", () => {
    const active: ActiveJob[] = [
      { jobId: "secret-job", name: "secret-name", team: "a", allocation: { gpus: [0], cpus: 1, memoryMiB: 100 } },
      // Team b holds more of the machine (6 of 8 CPUs) than team a (1 of 2 GPUs): a's job goes first.
      { jobId: "mine", name: "mine", team: "b", allocation: { gpus: [], cpus: 6, memoryMiB: 100 } },
    ];
    const queue: QueuedJob[] = [
      { ...q("needs-2", req(2)), team: "a" },
      { ...q("needs-1", req(1)), team: "b" },
    ];
    const { pending } = schedule(machine, active, queue);
    const teamB = (team: string) => team === "b";
    const short = pendingFor(pending.get("needs-2")!, teamB, "default");
    expect(short.resources[0]!.heldBy).toEqual([{ jobId: null, name: "another team", amount: 1 }]);
    expect(short.reason).not.toMatch(/secret/);
    const behind = pendingFor(pending.get("needs-1")!, teamB, "default");
    expect(behind.behind).toEqual({ jobId: null, name: "another team", resource: "gpu" });
    expect(behind.reason).toMatch(/another team/);
    expect(behind.reason).not.toMatch(/needs-2/);
    // Everyone visible: the reason names the holders, as the scheduler wrote it.
    expect(pendingFor(pending.get("needs-2")!, () => true, "default").reason).toBe(pending.get("needs-2")!.reason);
    // Reasons stored before teams belong to the default team.
    expect(pendingFor({ reason: "old", resources: [{ resource: "gpu", requested: 1, free: 0, total: 1, heldBy: [{ jobId: "j", name: "n", amount: 1 }] }] }, (t) => t === "default", "default").resources[0]!.heldBy[0]!.jobId).toBe("j");
  });

  it("rejects requests the machine can never satisfy, naming the fix", () => {
    const roomy = { ...machine, cpus: 16, memoryMiB: 65536 };
    expect(() => assertFeasible(req(4), roomy, catalog)).toThrow(/has 2; ask for at most 2 or use profile gpu-2/);
    expect(() => assertFeasible(req(4), machine, catalog)).toThrow(/use profile gpu-1/);
    expect(() => assertFeasible(req(1, 1, 1, "A100"), machine, catalog)).toThrow(expect.objectContaining({ code: "INVALID_INPUT" }));
    expect(() => assertFeasible(req(0, 64), machine, catalog)).toThrow(expect.objectContaining({ code: "INVALID_INPUT" }));
    expect(() => assertFeasible(req(0, 1, 1e9), machine, catalog)).toThrow(expect.objectContaining({ code: "INVALID_INPUT" }));
    expect(() => assertFeasible(req(1, 1, 1, "h200"), machine, catalog)).not.toThrow();
  });
});

describe("scheduler: quotas, fair share, preemption", () => {
  const unlimited: TeamLimits = { gpus: null, gpusByType: {}, gpuHoursPerMonth: null, cpus: null, memoryMiB: null };
  const limits = (over: Partial<TeamLimits>): TeamLimits => ({ ...unlimited, ...over });
  const job = (jobId: string, team: string, request: ResourceRequest, priority = 0): QueuedJob => ({ jobId, name: `train-${jobId}`, team, request, priority });
  const running = (jobId: string, team: string, allocation: ActiveJob["allocation"], over: Partial<ActiveJob> = {}): ActiveJob => ({
    jobId,
    name: `train-${jobId}`,
    team,
    allocation,
    priority: 0,
    preemptible: true,
    running: true,
    attemptStartedAt: 1,
    ...over,
  });
  const four: MachineResources = { ...machine, gpus: [0, 1, 2, 3].map((index) => ({ index, uuid: null, name: index < 2 ? "NVIDIA H100" : "NVIDIA A10G", memoryMiB: 1 })), cpus: 32, memoryMiB: 65536 };

  it("orders the queue across teams by dominant resource fairness: the team holding the smallest share of its quota goes next", () => {
    // Dominant shares: team a holds 2 of its 4 GPUs (50%), team b 1 of its 1-GPU quota (100%), team c nothing (0%).
    const active = [running("a0", "a", { gpus: [0, 1], cpus: 2, memoryMiB: 1024 }), running("b0", "b", { gpus: [2], cpus: 1, memoryMiB: 1024 })];
    const quotas = new Map([
      ["a", limits({ gpus: 4 })],
      ["b", limits({ gpus: 1 })],
    ]);
    const queue = [job("b1", "b", req(0, 4)), job("b2", "b", req(0, 4)), job("a1", "a", req(1, 1)), job("c1", "c", req(0, 8)), job("a2", "a", req(1, 1))];
    const order = fairShareOrder(four, active, queue, quotas).map((j) => j.jobId);
    // c goes first (then holds 8 of 32 CPUs, 25%, and has nothing more queued); then a (50%, 75% after a1, 100%
    // after a2); b, already at 100% of its GPU quota, comes last, though its jobs were submitted first.
    expect(order).toEqual(["c1", "a1", "a2", "b1", "b2"]);
    // One team alone keeps plain priority-then-age order.
    expect(fairShareOrder(four, [], [job("x", "a", req(1)), job("y", "a", req(0))]).map((j) => j.jobId)).toEqual(["x", "y"]);
  });

  it("queues a team's second GPU job at its 1-GPU quota, naming the quota, the job using it and the fix", () => {
    const active = [running("first", "risk", { gpus: [0], cpus: 1, memoryMiB: 1024 })];
    const quotas = new Map([["risk", limits({ gpus: 1 })]]);
    const { starts, pending } = schedule(four, active, [job("second", "risk", req(1)), job("cpu", "risk", req(0)), job("other", "fraud", req(1))], { quotas });
    // The machine has 3 GPUs free: only the quota holds "second" back; other teams and CPU jobs of the team go on.
    expect(starts.map((s) => s.jobId).sort()).toEqual(["cpu", "other"]);
    const p = pending.get("second")!;
    expect(p.resources).toEqual([]);
    expect(p.quota).toEqual({ team: "risk", resource: "gpus", limit: 1, used: 1, requested: 1, by: [{ jobId: "first", name: "train-first", team: "risk", amount: 1 }], fix: "paved quotas set risk --gpus 2" });
    expect(p.reason).toBe(
      "team risk uses 1 of its 1 GPU (job first (train-first): 1), and this job needs 1 more; wait for that job to end, or ask a platform admin to raise the quota: paved quotas set risk --gpus 2",
    );
  });

  it("holds the team's later GPU jobs behind one waiting for the quota, per GPU type too, and GPU-hours stop a team's GPU jobs for the month", () => {
    const active = [running("h", "risk", { gpus: [0], cpus: 1, memoryMiB: 1024 })];
    const perType = new Map([["risk", limits({ gpusByType: { H100: 1 } })]]);
    // "big" would get the free H100 (GPU 1): over the H100 quota. "small" asks for any GPU and would get an A10G, but waits behind "big".
    const typed = schedule(four, active, [job("big", "risk", req(1, 1, 1024, "H100")), job("small", "risk", req(1))], { quotas: perType });
    expect(typed.starts).toEqual([]);
    expect(typed.pending.get("big")!.quota).toMatchObject({ resource: "gpus", gpuType: "H100", used: 1, limit: 1, fix: "paved quotas set risk --gpu-type H100=2" });
    expect(typed.pending.get("small")!.behind).toEqual({ jobId: "big", name: "train-big", team: "risk", resource: "gpu", quota: true });
    expect(typed.pending.get("small")!.reason).toMatch(/waiting behind higher-priority job big .*team's GPUs quota/);

    const hours = new Map([["risk", { hours: 10.5, byJob: [{ jobId: "old", name: "train-old", hours: 10.5 }] }]]);
    const spent = schedule(four, [], [job("g", "risk", req(1)), job("c", "risk", req(0))], { quotas: new Map([["risk", limits({ gpuHoursPerMonth: 10 })]]), gpuHours: hours });
    expect(spent.starts.map((s) => s.jobId)).toEqual(["c"]);
    expect(spent.pending.get("g")!.quota).toMatchObject({ resource: "gpuHoursPerMonth", used: 10.5, limit: 10 });
    expect(spent.pending.get("g")!.reason).toMatch(/used 10.5 of its 10 GPU-hours this month .*next month/);
  });

  it("says a job larger than its team's quota cannot start until the quota is raised", () => {
    const { pending } = schedule(four, [], [job("huge", "risk", req(3))], { quotas: new Map([["risk", limits({ gpus: 2 })]]) });
    expect(pending.get("huge")!.reason).toMatch(/needs 3 GPUs, more than team risk's quota of 2 GPUs/);
  });

  it("preempts a lower-priority job of the same team for a higher-priority one, the newest first; never a non-preemptible one", () => {
    const one: MachineResources = { ...machine, gpus: [machine.gpus[0]!] };
    const low = running("low", "risk", { gpus: [0], cpus: 1, memoryMiB: 1024 }, { priority: -100 });
    const decision = schedule(one, [low], [job("high", "risk", req(1), 100)], { preemption: true });
    expect(decision.preemptions.map((p) => [p.victim.jobId, p.for.jobId, p.reason])).toEqual([["low", "high", "priority"]]);
    expect(decision.preemptions[0]!.message).toBe("preempted by job high (train-high): priority 100 over this job's -100 in team risk");
    expect(decision.pending.get("high")!.preempting).toEqual([{ jobId: "low", name: "train-low", team: "risk" }]);
    expect(decision.pending.get("high")!.reason).toMatch(/preempting job low \(train-low\)/);
    // Without preemption, or against equal priority, or a job that opted out: nothing is preempted.
    expect(schedule(one, [low], [job("high", "risk", req(1), 100)]).preemptions).toEqual([]);
    expect(schedule(one, [{ ...low, priority: 100 }], [job("high", "risk", req(1), 100)], { preemption: true }).preemptions).toEqual([]);
    expect(schedule(one, [{ ...low, preemptible: false }], [job("high", "risk", req(1), 100)], { preemption: true }).preemptions).toEqual([]);
    // A job already being preempted for it: it waits for that one, and nothing more is taken.
    const stopping = schedule(one, [{ ...low, preemptedFor: "high" }], [job("high", "risk", req(1), 100)], { preemption: true });
    expect(stopping.preemptions).toEqual([]);
    expect(stopping.pending.get("high")!.preempting).toEqual([{ jobId: "low", name: "train-low", team: "risk" }]);
    // Two candidates: the one that started last goes (least work lost).
    const two = schedule(
      one,
      [low, running("newer", "risk", { gpus: [], cpus: 1, memoryMiB: 1 }, { priority: -100, attemptStartedAt: 9 })],
      [job("high", "risk", req(1), 100)],
      { preemption: true },
    );
    // "newer" holds no GPU, so it would not help: "low" is taken.
    expect(two.preemptions.map((p) => p.victim.jobId)).toEqual(["low"]);
  });

  it("preempts within the team for a higher-priority job held back by the team's own GPU quota", () => {
    const low = running("low", "risk", { gpus: [0], cpus: 1, memoryMiB: 1024 }, { priority: -100 });
    const quotas = new Map([["risk", limits({ gpus: 1 })]]);
    const decision = schedule(four, [low, running("theirs", "fraud", { gpus: [1], cpus: 1, memoryMiB: 1024 }, { priority: -100 })], [job("high", "risk", req(1), 100)], { quotas, preemption: true });
    // Another team's job frees nothing of risk's quota: only risk's own is preempted.
    expect(decision.preemptions.map((p) => p.victim.jobId)).toEqual(["low"]);
  });

  it("lets a team under its fair share reclaim GPUs from a team over it, and never back and forth", () => {
    const two: MachineResources = { ...machine, cpus: 32, memoryMiB: 65536 };
    // Team b holds both GPUs (100% of the machine); team a holds none.
    const b1 = running("b1", "b", { gpus: [0], cpus: 1, memoryMiB: 1024 }, { attemptStartedAt: 1 });
    const b2 = running("b2", "b", { gpus: [1], cpus: 1, memoryMiB: 1024 }, { attemptStartedAt: 2 });
    const first = schedule(two, [b1, b2], [job("a1", "a", req(1))], { preemption: true });
    expect(first.preemptions.map((p) => [p.victim.jobId, p.reason])).toEqual([["b2", "fair-share"]]);
    // The victim's event does not name the other team's job.
    expect(first.preemptions[0]!.message).toMatch(/^preempted by a job of another team: fair share \(dominant resource fairness\): team b holds 100% of its share/);
    expect(first.preemptions[0]!.message).not.toMatch(/a1/);
    // After the exchange (a: 1 GPU, b: 1 GPU), b's requeued job cannot take it back.
    const a1 = running("a1", "a", { gpus: [1], cpus: 1, memoryMiB: 1024 });
    const back = schedule(two, [b1, a1], [job("b2", "b", req(1))], { preemption: true });
    expect(back.preemptions).toEqual([]);
    // On one GPU, taking it would leave a with more than b: no preemption.
    const one: MachineResources = { ...two, gpus: [two.gpus[0]!] };
    expect(schedule(one, [b1], [job("a1", "a", req(1))], { preemption: true }).preemptions).toEqual([]);
    // With quotas, shares are of each team's quota: a (quota 2) holding 1 is at 50%; b (quota 4) holding 3 of 4 GPUs is at 75%.
    const machine4: MachineResources = { ...four, gpus: four.gpus.map((g) => ({ ...g, name: "NVIDIA H100" })) };
    const quotas = new Map([
      ["a", limits({ gpus: 2 })],
      ["b", limits({ gpus: 4 })],
    ]);
    const weighted = schedule(
      machine4,
      [running("a0", "a", { gpus: [0], cpus: 1, memoryMiB: 1 }), ...[1, 2, 3].map((g) => running(`b${g}`, "b", { gpus: [g], cpus: 1, memoryMiB: 1 }, { attemptStartedAt: g }))],
      [job("a1", "a", req(1))],
      { quotas, preemption: true },
    );
    // a with a1: 2 of 2 (100%) > b without one: 2 of 4 (50%): not fair to take it.
    expect(weighted.preemptions).toEqual([]);
  });

  it("schedules each backend's jobs on its own capacity, holds teams to one quota across backends, and leaves an unreachable backend's jobs waiting with the reason", () => {
    const slurm: MachineResources = { gpus: [10000, 10001, 10002].map((index) => ({ index, uuid: null, name: "gpu", memoryMiB: 0 })), cpus: 4, memoryMiB: 8192, cpuModel: "", gpusDiscovered: false };
    const onSlurm = (gpus: number, cpus = 1): ResourceRequest => ({ ...req(gpus, cpus), executor: "slurm" });
    // This machine is full; Slurm is not: a Slurm job starts on Slurm's GPUs, a local one waits.
    const active: ActiveJob[] = [{ jobId: "local-big", name: "local-big", team: "a", allocation: { gpus: [0, 1], cpus: 8, memoryMiB: 1024 } }];
    const d = schedule(machine, active, [{ ...q("s1", onSlurm(2)), team: "b" }, { ...q("l1", req(1)), team: "b" }], { pools: new Map([["slurm", slurm]]) });
    expect(d.starts).toEqual([{ jobId: "s1", allocation: { gpus: [10000, 10001], cpus: 1, memoryMiB: 1024, executor: "slurm" } }]);
    expect(d.pending.get("l1")?.resources.map((r) => r.resource)).toEqual(["gpu", "cpu"]);
    // A short Slurm holds back no local job, and the team's GPU quota counts both backends.
    const quotas = new Map<string, TeamLimits>([["b", { gpus: 2, gpusByType: {}, gpuHoursPerMonth: null, cpus: null, memoryMiB: null }]]);
    const held: ActiveJob[] = [{ jobId: "s0", name: "s0", team: "b", allocation: { gpus: [10000], cpus: 1, memoryMiB: 1024, executor: "slurm" } }];
    const q2 = schedule(machine, held, [{ ...q("l2", req(2)), team: "b" }, { ...q("l3", req(1)), team: "b" }], { quotas, pools: new Map([["slurm", slurm]]) });
    expect(q2.pending.get("l2")?.quota).toMatchObject({ resource: "gpus", limit: 2, used: 1, requested: 2 });
    // Unreachable: queued with the backend's reason, the local queue unaffected.
    const down = schedule(machine, [], [q("s2", onSlurm(0)), q("l4", req(0))], { pools: new Map([["slurm", { unavailable: "Slurm is unavailable: sbatch failed" }]]) });
    expect(down.starts.map((s) => s.jobId)).toEqual(["l4"]);
    expect(down.pending.get("s2")).toMatchObject({ backend: { name: "slurm" }, reason: "Slurm is unavailable: sbatch failed; the job waits and Paved tries again" });
  });
});

describe("resolveRequest: distributed jobs (compute.nodes x compute.processesPerNode)", () => {
  const spec = (compute: object) => jobSpecSchema.parse({ name: "ddp", command: ["python", "train.py"], workingDir: "/tmp", compute });

  it("runs several processes on the local executor and on Slurm", () => {
    expect(resolveRequest(spec({ cpus: 1, nodes: 2, processesPerNode: 2 }), catalog)).toMatchObject({ cpus: 1 });
    expect(resolveRequest(spec({ cpus: 1, nodes: 2 }), catalog, "slurm")).toMatchObject({ executor: "slurm" });
    // One process is any backend's job.
    expect(resolveRequest(spec({ cpus: 1, nodes: 1, processesPerNode: 1 }), catalog, "slurm")).toMatchObject({ executor: "slurm" });
  });

  it("splits GPUs evenly between the processes, or refuses with the fix", () => {
    expect(resolveRequest(spec({ gpus: 4, processesPerNode: 2, nodes: 2 }), catalog)).toMatchObject({ gpus: 4 });
    expect(() => resolveRequest(spec({ gpus: 2, processesPerNode: 4 }), catalog)).toThrow(expect.objectContaining({ code: "INVALID_INPUT", details: { gpus: 2, processes: 4 } }));
    expect(() => resolveRequest(spec({ gpus: 2, processesPerNode: 4 }), catalog)).toThrow(/multiple of 4 GPUs \(e\.g\. 4\)/);
    expect(() => resolveRequest(spec({ profile: "gpu-1", processesPerNode: 2 }), catalog)).toThrow(expect.objectContaining({ code: "INVALID_INPUT" }));
  });
});
