import { spawn } from "node:child_process";
import { setTimeout as sleep } from "node:timers/promises";
import { describe, expect, it } from "vitest";
import { rankMetricsFor } from "./system-metrics.ts";

describe("rankMetricsFor", () => {
  it("sums each rank's process group: resident memory and CPU seconds, zero for a group that is gone", async () => {
    // Rank 1 holds 64 MB it has written to (resident), in its own process group.
    const child = spawn(process.execPath, ["-e", "globalThis.b = Buffer.alloc(64e6, 1); console.log('ready'); setInterval(() => {}, 1000)"], { detached: true, stdio: ["ignore", "pipe", "ignore"] });
    await new Promise<void>((resolve) => child.stdout.once("data", () => resolve()));
    try {
      const metrics = new Map(rankMetricsFor([{ rank: 0, pid: 999_999_999 }, { rank: 1, pid: child.pid! }]).map((m) => [m.key, m.value]));
      expect(metrics.get("system/rank_1/memory_rss_megabytes")).toBeGreaterThan(64);
      expect(metrics.get("system/rank_1/cpu_seconds")).toBeGreaterThan(0);
      expect(metrics.get("system/rank_0/memory_rss_megabytes")).toBe(0);
      expect(metrics.get("system/rank_0/cpu_seconds")).toBe(0);
    } finally {
      process.kill(-child.pid!, "SIGKILL");
      await sleep(0);
    }
  });
});
