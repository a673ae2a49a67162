import { execFileSync, spawn } from "node:child_process";
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { describe, expect, it } from "vitest";
import { executorContract } from "./executor.contract.ts";
import { LocalExecutor, type LocalHandle } from "./local-executor.ts";
import { processGroupMembers } from "./process-identity.ts";
import { Spawner } from "./spawner.ts";

const executor = () => new LocalExecutor({ baseEnv: process.env, killGraceMs: 2000, pollMs: 50 });

executorContract("local (through the spawner process)", () => ({ executor: executor(), gpus: [0, 1], restarted: executor }));
executorContract("local (forking the server itself)", () => ({
  executor: new LocalExecutor({ baseEnv: process.env, killGraceMs: 2000, pollMs: 50, spawn: "inline" }),
  gpus: [0, 1],
  restarted: executor,
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

  it("gives a stopped program its grace period: SIGTERM, time to save a checkpoint, and its own exit status recorded", async () => {
    const ex = executor();
    // A program that, on SIGTERM, takes a moment to write its checkpoint and exits 143.
    const program = "process.on('SIGTERM', () => setTimeout(() => { require('fs').writeFileSync('checkpoint', 'saved'); process.exit(143); }, 300)); setInterval(() => {}, 1000); console.log('ready');";
    const { handle, jobDir } = await start(ex, [process.execPath, "-e", program]);
    for (let i = 0; i < 200 && !readFileSync(join(jobDir, "attempt-1.log"), "utf8").includes("ready"); i++) await sleep(10);
    await ex.cancel(handle, { graceMs: 10_000 });
    // The wrapper outlived the program (it traps SIGTERM) and wrote the program's exit status.
    expect(await ex.observe(handle)).toEqual({ state: "exited", exitCode: 143 });
    expect(readFileSync(join(jobDir, "..", "checkpoint"), "utf8")).toBe("saved");
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

  it("waits out a start request recorded before a crash, and finds the process it started late", async () => {
    // The server died with its start request at the spawner; the start lands after the next server
    // began to look. Without the wait it would queue the attempt again: two processes of one attempt.
    const jobDir = mkdtempSync(join(tmpdir(), "paved-local-late-"));
    writeFileSync(join(jobDir, "attempt-1.start"), String(Date.now() + 300));
    const late = sleep(200).then(() => {
      const child = spawn("sleep", ["30"], { detached: true, stdio: "ignore", env: { ...process.env, PAVED_JOB_ID: "job-late", PAVED_ATTEMPT: "1" } });
      child.unref();
      return child.pid!;
    });
    const found = (await executor().recover({ jobId: "job-late", attempt: 1, jobDir })) as LocalHandle;
    const pid = await late;
    expect(found?.pid).toBe(pid);
    process.kill(-pid, "SIGKILL");
    // Past the window, nothing is waited for.
    expect(await executor().recover({ jobId: "job-never", attempt: 1, jobDir: mkdtempSync(join(tmpdir(), "paved-local-none-")) })).toBeUndefined();
  });

  it("waits at most one start window, whatever attempt-N.start says", async () => {
    const jobDir = mkdtempSync(join(tmpdir(), "paved-local-far-"));
    writeFileSync(join(jobDir, "attempt-1.start"), String(Date.now() + 3_600_000));
    // The window is 10 s: recover answers within this test's time limit, not an hour later.
    expect(await executor().recover({ jobId: "job-far", attempt: 1, jobDir })).toBeUndefined();
  }, 90_000);

  it("refuses a start request that expired before the spawner got to it", async () => {
    const dir = mkdtempSync(join(tmpdir(), "paved-local-expired-"));
    const spawner = new Spawner();
    await expect(spawner.spawn({ file: "/bin/sh", args: ["-c", "touch started"], cwd: dir, env: {}, log: join(dir, "log"), notAfter: Date.now() - 1 })).rejects.toThrow(/expired/);
    await spawner.close();
    expect(existsSync(join(dir, "started"))).toBe(false);
  });

  it("never reads a status file through a link or from a FIFO (the job's user may write them)", async () => {
    const ex = executor();
    const { handle, jobDir } = await start(ex, [process.execPath, "-e", "process.exit(3)"]);
    await ex.waitForExit(handle, AbortSignal.timeout(10_000));
    rmSync(handle.exitFile);
    execFileSync("mkfifo", [handle.exitFile]);
    // A blocking read of the FIFO would freeze the server; the attempt reads as vanished instead.
    expect((await ex.observe(handle)).state).toBe("vanished");
    rmSync(handle.exitFile);
    writeFileSync(join(jobDir, "target"), "5");
    symlinkSync(join(jobDir, "target"), handle.exitFile);
    expect((await ex.observe(handle)).state).toBe("vanished");
  });
});

const nobody = { name: "nobody", uid: 65534, gid: 65534 };
describe.skipIf(process.getuid?.() !== 0)(`LocalExecutor with runAs (${process.getuid?.() === 0 ? "user nobody" : "skipped: needs root"})`, () => {
  const runAs = (opts: { spawn?: "inline" } = {}) => new LocalExecutor({ baseEnv: { PATH: process.env.PATH ?? "/usr/bin:/bin" }, runAs: nobody, killGraceMs: 2000, pollMs: 50, ...opts });

  it.each(["spawner", "inline"] as const)("runs the job as the user with its own HOME, and recovers it from its status folder (%s)", async (spawn) => {
    const ex = spawn === "inline" ? runAs({ spawn }) : runAs();
    const dir = mkdtempSync(join(tmpdir(), "paved-local-"));
    chmodSync(dir, 0o755);
    const jobDir = join(dir, "job");
    const outputs = join(jobDir, "outputs");
    const handle = await ex.submit(
      {
        jobId: "job-r",
        attempt: 1,
        argv: ["/bin/sh", "-c", 'id -u; id -G; echo "$HOME"; touch "$0/out"; exec sleep 30', outputs],
        workingDir: dir,
        env: { PAVED_JOB_ID: "job-r", PAVED_ATTEMPT: "1" },
        jobDir,
        writableDirs: [outputs],
      },
      { gpus: [], cpus: 1, memoryMiB: 10 },
    );
    for (let i = 0; i < 200 && !existsSync(join(outputs, "out")); i++) await sleep(20);
    expect(readFileSync(handle.logPath, "utf8").split("\n").slice(0, 3)).toEqual(["65534", "65534", join(jobDir, "home")]);
    expect(statSync(jobDir).mode & 0o777).toBe(0o711);
    expect(statSync(handle.logPath).mode & 0o777).toBe(0o600);
    expect(statSync(outputs)).toMatchObject({ uid: 65534, gid: 65534 });
    const found = (await runAs().recover({ jobId: "job-r", attempt: 1, jobDir })) as LocalHandle;
    expect(found.pid).toBe(handle.pid);
    expect(found.exitFile).toBe(handle.exitFile);
    await ex.cancel(handle);
  });

  it("refuses a writable folder outside the job's own that does not exist, rather than creating it as root", async () => {
    const dir = mkdtempSync(join(tmpdir(), "paved-local-"));
    const elsewhere = join(dir, "not-there", "checkpoints");
    const attempt = runAs().submit(
      { jobId: "job-s", attempt: 1, argv: ["true"], workingDir: dir, env: {}, jobDir: join(dir, "job"), writableDirs: [elsewhere] },
      { gpus: [], cpus: 1, memoryMiB: 10 },
    );
    await expect(attempt).rejects.toMatchObject({ code: "INVALID_INPUT" });
    expect(existsSync(elsewhere)).toBe(false);
  });
});

describe("LocalExecutor: a distributed attempt (compute.nodes x compute.processesPerNode)", () => {
  const TOKEN = "job-token-for-every-rank";
  // Each rank prints its rendezvous variables, starts a child of its own and waits: a tree per rank.
  const program = 'echo "rank=$RANK local=$LOCAL_RANK/$LOCAL_WORLD_SIZE node=$NODE_RANK world=$WORLD_SIZE master=$MASTER_ADDR:$MASTER_PORT gpus=[$CUDA_VISIBLE_DEVICES] token=$MLFLOW_TRACKING_TOKEN"; if [ "$RANK" = "$0" ]; then exit 7; fi; sleep 30 & wait';
  const start = async (ex: LocalExecutor, opts: { failRank?: number; gpus?: number[]; jobId?: string } = {}) => {
    const dir = mkdtempSync(join(tmpdir(), "paved-ranks-"));
    const jobDir = join(dir, "job");
    const jobId = opts.jobId ?? "job-d";
    const handle = (await ex.submit(
      {
        jobId,
        attempt: 1,
        argv: ["/bin/sh", "-c", program, String(opts.failRank ?? -1)],
        workingDir: dir,
        env: { PAVED_JOB_ID: jobId, PAVED_ATTEMPT: "1", MLFLOW_TRACKING_TOKEN: TOKEN },
        jobDir,
        processes: { nodes: 2, processesPerNode: 2 },
      },
      { gpus: opts.gpus ?? [], cpus: 4, memoryMiB: 10 },
    )) as LocalHandle;
    return { handle, jobDir };
  };
  const logOf = (path: string) => (existsSync(path) ? readFileSync(path, "utf8") : "");
  const waitForLines = async (handle: LocalHandle) => {
    for (let i = 0; i < 400 && !handle.ranks!.every((r) => logOf(r.logPath).includes("rank=")); i++) await sleep(20);
  };
  // Zombies (not yet reaped by their parent) no longer run: they do not count.
  const groupGone = (pid: number) => processGroupMembers(pid).length === 0;

  it("starts every rank with torchrun's variables and its share of the GPUs, the token in its environment only", async () => {
    const ex = executor();
    const { handle, jobDir } = await start(ex, { gpus: [0, 1, 2, 3] });
    expect(handle.ranks!.map((r) => r.rank)).toEqual([0, 1, 2, 3]);
    expect(handle.ranks![0]!.pid).toBe(handle.pid);
    expect(handle.ranks![0]!.logPath).toBe(join(jobDir, "attempt-1.log"));
    expect(handle.ranks![3]!.logPath).toBe(join(jobDir, "logs", "rank-3", "attempt-1.log"));
    await waitForLines(handle);
    const port = /master=127\.0\.0\.1:(\d+)/.exec(logOf(handle.logPath))?.[1];
    expect(Number(port)).toBeGreaterThan(0);
    expect(handle.ranks!.map((r) => logOf(r.logPath).trim())).toEqual([
      `rank=0 local=0/2 node=0 world=4 master=127.0.0.1:${port} gpus=[0] token=${TOKEN}`,
      `rank=1 local=1/2 node=0 world=4 master=127.0.0.1:${port} gpus=[1] token=${TOKEN}`,
      `rank=2 local=0/2 node=1 world=4 master=127.0.0.1:${port} gpus=[2] token=${TOKEN}`,
      `rank=3 local=1/2 node=1 world=4 master=127.0.0.1:${port} gpus=[3] token=${TOKEN}`,
    ]);
    expect(JSON.stringify(handle)).not.toContain(TOKEN);
    for (const r of handle.ranks!) {
      for (const pid of processGroupMembers(r.pid)) {
        expect(existsSync(`/proc/${pid}/cmdline`) ? readFileSync(`/proc/${pid}/cmdline`, "utf8") : "").not.toContain(TOKEN);
      }
    }
    expect(await ex.observe(handle)).toEqual({ state: "running" });
    // Cancel stops every rank's whole tree (the wrapper, the shell, its sleep).
    await ex.cancel(handle);
    expect(handle.ranks!.every((r) => groupGone(r.pid))).toBe(true);
    expect((await ex.observe(handle)).state).toBe("exited");
  });

  it("a failed rank ends the attempt with its exit status, and the other ranks are stopped", async () => {
    const ex = executor();
    const { handle } = await start(ex, { failRank: 2 });
    const controller = new AbortController();
    await ex.waitForExit(handle, controller.signal);
    expect(await ex.observe(handle)).toEqual({ state: "exited", exitCode: 7 });
    expect(handle.ranks!.every((r) => groupGone(r.pid))).toBe(true);
  });

  it("a new executor adopts every rank, from the saved handle or from the attempt's identity alone", async () => {
    const { handle, jobDir } = await start(executor(), { jobId: "job-adopt" });
    await waitForLines(handle);
    const restarted = executor();
    const saved = JSON.parse(JSON.stringify(handle)) as LocalHandle;
    expect(await restarted.observe(saved)).toEqual({ state: "running" });
    const found = (await restarted.recover({ jobId: "job-adopt", attempt: 1, jobDir })) as LocalHandle;
    expect(found.ranks!.map((r) => [r.rank, r.pid, r.pidStart, r.exitFile, r.logPath])).toEqual(handle.ranks!.map((r) => [r.rank, r.pid, r.pidStart, r.exitFile, r.logPath]));
    // Another attempt of the job is not found.
    expect(await restarted.recover({ jobId: "job-adopt", attempt: 2, jobDir })).toBeUndefined();
    await restarted.cancel(found);
    expect(handle.ranks!.every((r) => groupGone(r.pid))).toBe(true);
    expect(await restarted.observe(saved)).toEqual({ state: "exited", exitCode: 143 });
  });
});
