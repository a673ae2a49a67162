import { describe, expect, it } from "vitest";
import { ProfileCatalog } from "../catalog/index.ts";
import type { MachineResources } from "./resources.ts";
import { assertFeasible, pendingFor, schedule, type ActiveJob, type QueuedJob } from "./scheduler.ts";
import type { ResourceRequest } from "./schema.ts";

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
      { jobId: "mine", name: "mine", team: "b", allocation: { gpus: [], cpus: 1, memoryMiB: 100 } },
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
