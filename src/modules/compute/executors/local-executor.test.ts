import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { describe, expect, it } from "vitest";
import { executorContract } from "./executor.contract.ts";
import { LocalExecutor, type LocalHandle } from "./local-executor.ts";

const executor = () => new LocalExecutor({ baseEnv: process.env, killGraceMs: 2000, pollMs: 50 });

executorContract("local (through the spawner process)", () => ({ executor: executor(), gpus: [0, 1] }));
executorContract("local (forking the server itself)", () => ({
  executor: new LocalExecutor({ baseEnv: process.env, killGraceMs: 2000, pollMs: 50, spawn: "inline" }),
  gpus: [0, 1],
}));

describe("LocalExecutor", () => {
  const start = async (ex: LocalExecutor, argv: string[]) => {
    const dir = mkdtempSync(join(tmpdir(), "paved-local-"));
    const jobDir = join(dir, "job");
    const handle = await ex.submit(
      { jobId: "job-x", attempt: 1, argv, workingDir: dir, env: { PAVED_JOB_ID: "job-x", PAVED_ATTEMPT: "1" }, jobDir },
      { gpus: [], cpus: 1, memoryMiB: 10 },
    );
    return { handle, jobDir };
  };

  it("records pid and start time, and never trusts a pid whose start time differs", async () => {
    const ex = executor();
    const { handle } = await start(ex, ["sleep", "30"]);
    expect(handle.pidStart).toMatch(/^\d+$/);
    expect(await ex.observe(handle)).toEqual({ state: "running" });
    expect((await ex.observe({ ...handle, pidStart: "1" })).state).toBe("vanished");
    await ex.cancel(handle);
  });

  it("reports a process killed without an exit status as vanished", async () => {
    const ex = executor();
    const { handle } = await start(ex, ["sleep", "30"]);
    process.kill(-handle.pid, "SIGKILL");
    for (let i = 0; i < 100 && (await ex.observe(handle)).state === "running"; i++) await sleep(20);
    expect((await ex.observe(handle)).state).toBe("vanished");
  });

  it("keeps the exit status of a program that ends while Paved is away", async () => {
    const ex = executor();
    const { handle } = await start(ex, [process.execPath, "-e", "process.exit(7)"]);
    await ex.waitForExit(handle, AbortSignal.timeout(10_000));
    // A fresh executor (a restarted server) reads the status from the exit file.
    expect(await executor().observe(handle)).toEqual({ state: "exited", exitCode: 7 });
  });

  it("recovers an attempt whose handle was never saved, by its pid file and identity", async () => {
    const ex = executor();
    const { handle, jobDir } = await start(ex, ["sleep", "30"]);
    for (let i = 0; i < 100; i++) {
      try {
        if (readFileSync(join(jobDir, "attempt-1.pid"), "utf8").trim()) break;
      } catch {
        await sleep(10);
      }
    }
    const found = (await executor().recover({ jobId: "job-x", attempt: 1, jobDir })) as LocalHandle;
    expect(found.pid).toBe(handle.pid);
    expect(found.pidStart).toBe(handle.pidStart);
    expect(await executor().recover({ jobId: "job-other", attempt: 1, jobDir })).toBeUndefined();
    await ex.cancel(handle);
  });
});
