import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { describe, expect, it } from "vitest";
import { createLogger, randomIds, systemClock } from "../../core/index.ts";
import { ReplicaAutoscaler, type ScalePolicy } from "./autoscaler.ts";
import { OnnxRuntime } from "./onnx-runtime.ts";
import { ServingService } from "./service.ts";
import { buildTestModels } from "./test-models.ts";

const policy: ScalePolicy = { minReplicas: 1, maxReplicas: 4, targetLoadPerReplica: 1.5, targetP95Ms: null };
const windows = { stableWindowMs: 10_000, panicWindowMs: 2_000, scaleDownDelayMs: 10_000 };

/** Feeds one sample every 500 ms from `from` to `to` and returns the last decision. */
function feed(scaler: ReplicaAutoscaler, from: number, to: number, stats: { busy: number; queued: number }, current: number, p95: number | null = null, p = policy): { now: number; desired: number } {
  let desired = current;
  for (let now = from; now <= to; now += 500) {
    scaler.observe("m/1", now, { replicas: current, ...stats });
    desired = scaler.desired("m/1", now, current, p, p95);
  }
  return { now: to, desired };
}

describe("replica autoscaler", () => {
  it("scales up at once when load jumps, within the maximum", () => {
    const scaler = new ReplicaAutoscaler(windows);
    expect(feed(scaler, 0, 1_000, { busy: 1, queued: 0 }, 1).desired).toBe(1);
    expect(feed(scaler, 1_500, 4_000, { busy: 1, queued: 3 }, 1).desired).toBe(3);
    expect(feed(scaler, 4_500, 6_000, { busy: 3, queued: 30 }, 3).desired).toBe(4);
  });

  it("scales down only after the load stayed low for the stable window and the delay", () => {
    const scaler = new ReplicaAutoscaler(windows);
    feed(scaler, 0, 2_000, { busy: 4, queued: 4 }, 4);
    // Load drops: not yet (the window still remembers the burst and the scale-up is recent).
    expect(feed(scaler, 2_500, 6_000, { busy: 0, queued: 0 }, 4).desired).toBe(4);
    // A whole quiet window later: down to the minimum.
    expect(feed(scaler, 6_500, 13_000, { busy: 0, queued: 0 }, 4).desired).toBe(1);
  });

  it("adds a replica while latency is above target and requests queue", () => {
    const scaler = new ReplicaAutoscaler(windows);
    const slow = { ...policy, targetP95Ms: 50 };
    expect(feed(scaler, 0, 1_000, { busy: 1, queued: 0.2 }, 1, 200, slow).desired).toBe(2);
    // Slow but nothing waits: more replicas would not help.
    const idle = new ReplicaAutoscaler(windows);
    expect(feed(idle, 0, 1_000, { busy: 1, queued: 0 }, 1, 200, slow).desired).toBe(1);
  });

  it("keeps the bounds even without samples", () => {
    const scaler = new ReplicaAutoscaler(windows);
    expect(scaler.desired("none", 0, 9, policy, null)).toBe(4);
    expect(scaler.desired("none", 0, 0, { ...policy, minReplicas: 2 }, null)).toBe(2);
  });
});

describe("autoscaling in the serving service (real ONNX runtime)", () => {
  it("adds replicas under concurrent load and returns to the minimum when idle", async () => {
    const service = new ServingService({
      runtimes: [new OnnxRuntime()],
      dataDir: mkdtempSync(join(tmpdir(), "paved-autoscale-")),
      clock: systemClock,
      ids: randomIds,
      logger: createLogger("silent"),
      sampleRate: 0,
      autoscaleIntervalMs: 50,
      autoscaleWindows: { stableWindowMs: 1_000, panicWindowMs: 300, scaleDownDelayMs: 1_000 },
    });
    try {
      const models = buildTestModels();
      const view = await service.load({ name: "mlp", version: "1", bytes: models.bytes("mlp"), replicas: 1, maxReplicas: 3 });
      expect(view).toMatchObject({ replicas: 1, minReplicas: 1, maxReplicas: 3 });
      await expect(service.load({ name: "bad", version: "1", bytes: models.bytes("mlp"), replicas: 3, maxReplicas: 2 })).rejects.toMatchObject({ code: "INVALID_INPUT" });
      const request = { inputs: [{ name: "features", shape: [1, 30], datatype: "FP32" as const, data: Array.from({ length: 30 }, (_, i) => i / 30) }] };
      const replicas = () => service.list().find((m) => m.name === "mlp")!.replicas;
      let peak = 1;
      const deadline = Date.now() + 20_000;
      while (peak < 2 && Date.now() < deadline) {
        await Promise.all(Array.from({ length: 64 }, () => service.infer("mlp", "1", request)));
        peak = Math.max(peak, replicas());
      }
      expect(peak).toBeGreaterThanOrEqual(2);
      expect(peak).toBeLessThanOrEqual(3);
      while (replicas() > 1 && Date.now() < deadline + 10_000) await sleep(100);
      expect(replicas()).toBe(1);
      expect(await service.metricsText()).toMatch(/paved_serving_replicas\{model="mlp",version="1",environment="production"\} 1\n/);
      // Still answering after scaling down.
      expect((await service.infer("mlp", "1", request)).outputs.length).toBeGreaterThan(0);
    } finally {
      await service.close();
    }
  }, 60_000);
});

describe("autoscaling within a team's serving-replica quota", () => {
  it("stops at the quota the registered room allows, and says so on the loaded version", async () => {
    const service = new ServingService({
      runtimes: [new OnnxRuntime()],
      dataDir: mkdtempSync(join(tmpdir(), "paved-autoscale-quota-")),
      clock: systemClock,
      ids: randomIds,
      logger: createLogger("silent"),
      sampleRate: 0,
      autoscaleIntervalMs: 50,
      autoscaleWindows: { stableWindowMs: 1_000, panicWindowMs: 300, scaleDownDelayMs: 1_000 },
    });
    try {
      // Team risk's quota: 2 replicas, whatever the version's maxReplicas says (4).
      const QUOTA = 2;
      const running = (team: string) => service.list().filter((m) => m.team === team).reduce((n, m) => n + m.replicas, 0);
      service.setReplicaRoom((team) => (team === "risk" ? QUOTA - running(team) : undefined));
      const models = buildTestModels();
      await service.load({ name: "mlp", version: "1", team: "risk", bytes: models.bytes("mlp"), replicas: 1, maxReplicas: 4 });
      const request = { inputs: [{ name: "features", shape: [1, 30], datatype: "FP32" as const, data: Array.from({ length: 30 }, (_, i) => i / 30) }] };
      const view = () => service.list().find((m) => m.name === "mlp")!;
      let peak = 1;
      const deadline = Date.now() + 30_000;
      // Load until the version runs what the quota allows and the autoscaler says it holds it there.
      while ((view().scaleLimit === undefined || view().replicas < QUOTA) && Date.now() < deadline) {
        await Promise.all(Array.from({ length: 64 }, () => service.infer("mlp", "1", request)));
        peak = Math.max(peak, view().replicas);
      }
      expect(view().scaleLimit).toMatch(/serving-replica quota.*paved quotas set risk --serving-replicas/);
      for (let i = 0; i < 20; i++) {
        await Promise.all(Array.from({ length: 64 }, () => service.infer("mlp", "1", request)));
        peak = Math.max(peak, view().replicas);
      }
      expect(peak).toBe(QUOTA);
    } finally {
      await service.close();
    }
  }, 60_000);
});
