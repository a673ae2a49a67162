// The tracking bench's per-thread CPU reading (bench/support.ts): a worker thread that spins while
// the main thread waits is the busiest other thread, and the main thread's share stays below it.
import { Worker } from "node:worker_threads";
import { describe, expect, it } from "vitest";
import { busiestOtherThreadMs, processCpuMs } from "../bench/support.ts";

describe.runIf(process.platform === "linux")("processCpuMs and busiestOtherThreadMs", () => {
  it("finds the thread that did the work, apart from the main one", async () => {
    const before = processCpuMs(process.pid)!;
    // It stays alive until read: an ended thread leaves /proc/<pid>/task.
    const worker = new Worker("const { parentPort } = require('node:worker_threads'); const end = Date.now() + 400; let n = 0; while (Date.now() < end) n++; parentPort.once('message', () => {}); parentPort.postMessage(n);", { eval: true });
    await new Promise((resolve) => worker.once("message", resolve));
    const after = processCpuMs(process.pid)!;
    await worker.terminate();
    const busiest = busiestOtherThreadMs(process.pid, before, after);
    expect(after.threads.get(process.pid)).toBe(after.main);
    expect(busiest).toBeGreaterThan(0);
    expect(busiest).toBeGreaterThan(after.main - before.main);
    expect(after.all - before.all).toBeGreaterThanOrEqual(busiest);
  });
});
