import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { describe, expect, it } from "vitest";
import type { Allocation } from "../schema.ts";
import { attemptLogPath, type ExecutionHandle, type ExecutionRequest, type Executor } from "./executor.ts";

const NODE = process.execPath;
const NO_RESOURCES: Allocation = { gpus: [], cpus: 1, memoryMiB: 64 };

export interface ContractTarget {
  executor: Executor;
  /** GPU indices this backend can pin in tests (fake GPUs are fine); fewer than 2 skips the GPU case. */
  gpus: number[];
  /**
   * Whether the backend pins the very GPU indices of the allocation (the local machine), or its
   * own scheduler picks devices and only their number is Paved's (a cluster).
   */
  pinsIndices?: boolean;
  /** A second instance of the same backend, as a restarted `paved up` builds it (adoption). */
  restarted?: () => Executor;
  /** What the backend itself shows anyone about a submitted attempt (e.g. `scontrol show job`). */
  inspect?: (handle: ExecutionHandle) => Promise<string>;
  /**
   * Whether the attempt's processes show in this machine's /proc (default true). False for a pod in
   * its own PID namespace, perhaps on another machine: cancel is then checked by the attempt's state.
   */
  processesVisible?: boolean;
}

/**
 * The behaviour every executor must show. Each backend's test file calls this with a factory;
 * a case a backend cannot run is skipped with its reason, never silently.
 */
export function executorContract(name: string, target: () => ContractTarget): void {
  describe(`executor contract: ${name}`, () => {
    let counter = 0;
    const request = (argv: string[], extra: Partial<ExecutionRequest> = {}): ExecutionRequest => {
      const dir = mkdtempSync(join(tmpdir(), "paved-exec-"));
      // Each attempt its own job id, as in the platform: backends find attempts again by it.
      const jobId = `job-contract-${process.pid}-${Date.now().toString(36)}-${counter++}`;
      const env = { PAVED_JOB_ID: jobId, PAVED_ATTEMPT: "1", ...extra.env };
      return { jobId, attempt: 1, argv, workingDir: dir, jobDir: join(dir, ".job"), ...extra, env };
    };
    const waitEnd = async (executor: Executor, handle: ExecutionHandle) => {
      for (;;) {
        const state = await executor.observe(handle);
        if (state.state !== "running" && state.state !== "pending") return state;
        if (executor.waitForExit) await executor.waitForExit(handle, AbortSignal.timeout(1000));
        else await sleep(100);
      }
    };
    /** Waits until `file` holds something (the program wrote it, so it runs); a shell's `>` creates it empty first. */
    const waitFile = async (file: string) => {
      while (!existsSync(file) || readFileSync(file, "utf8").trim() === "") await sleep(20);
    };
    /** A program that says it runs (writes `started`) and then waits for the test to create `go`. */
    const gated = (script = "") =>
      [NODE, "-e", `const fs = require('fs'); ${script}; fs.writeFileSync('started', String(process.pid)); const t = setInterval(() => { if (fs.existsSync('go')) { clearInterval(t); } }, 20);`];
    const log = (req: ExecutionRequest) => readFileSync(attemptLogPath(req.jobDir, req.attempt), "utf8");

    it("runs argv as given (no shell) and reports exit code 0", async () => {
      const { executor } = target();
      const args = ["a b", "$(echo no)", "'q'", "`id`", 'x"y\\z', "two\nlines", "*", "-- --x"];
      const req = request([NODE, "-e", "console.log(JSON.stringify(process.argv.slice(1)))", ...args]);
      const handle = await executor.submit(req, NO_RESOURCES);
      expect(await waitEnd(executor, handle)).toEqual({ state: "exited", exitCode: 0 });
      expect(JSON.parse(log(req).trim().split("\n").pop()!)).toEqual(args);
    });

    it("reports the attempt pending or running while it runs, then its exit", async () => {
      const { executor } = target();
      const req = request(gated());
      const handle = await executor.submit(req, NO_RESOURCES);
      const first = await executor.observe(handle);
      expect(["pending", "running"]).toContain(first.state);
      if (first.state === "pending") expect(first.reason).not.toBe("");
      await waitFile(join(req.workingDir, "started"));
      expect(await executor.observe(handle)).toEqual({ state: "running" });
      writeFileSync(join(req.workingDir, "go"), "");
      expect(await waitEnd(executor, handle)).toEqual({ state: "exited", exitCode: 0 });
    });

    it("gives the job its token as a secret: in its environment, never on a command line or in the backend's job record", async () => {
      const { executor, inspect } = target();
      const token = `pvd_secret-${Date.now()}-${Math.random().toString(36).slice(2)}`;
      const req = request(gated("fs.writeFileSync('token', process.env.MLFLOW_TRACKING_TOKEN)"), { env: { MLFLOW_TRACKING_TOKEN: token, MY_SECRET: token } });
      const handle = await executor.submit(req, NO_RESOURCES);
      await waitFile(join(req.workingDir, "started"));
      expect(readFileSync(join(req.workingDir, "token"), "utf8")).toBe(token);
      // Every process's command line (what `ps` shows any user) while the job runs.
      const lines = readdirSync("/proc")
        .filter((d) => /^\d+$/.test(d))
        .map((d) => {
          try {
            return readFileSync(`/proc/${d}/cmdline`, "utf8");
          } catch {
            return "";
          }
        });
      expect(lines.filter((l) => l.includes(token))).toEqual([]);
      if (inspect) expect(await inspect(handle)).not.toContain(token);
      expect(JSON.stringify(handle)).not.toContain(token);
      writeFileSync(join(req.workingDir, "go"), "");
      await waitEnd(executor, handle);
    });

    it("is adopted after a restart: a new instance finds the attempt, watches it and reads its exit status", async (ctx) => {
      const { executor, restarted } = target();
      if (!restarted || !executor.recover) {
        ctx.skip(`${name} has no recover(): attempts cannot be found again after a restart`);
        return;
      }
      const req = request(gated("process.exitCode = 5"));
      const handle = await executor.submit(req, NO_RESOURCES);
      await waitFile(join(req.workingDir, "started"));
      const again = restarted();
      // From the job's identity alone (a crash before its handle was saved) …
      const found = await again.recover!({ jobId: req.jobId, attempt: req.attempt, jobDir: req.jobDir });
      expect(found).toBeDefined();
      expect(await again.observe(found!)).toEqual({ state: "running" });
      // … and from the saved handle (JSON, as in the database).
      const saved = JSON.parse(JSON.stringify(handle)) as ExecutionHandle;
      expect(await again.observe(saved)).toEqual({ state: "running" });
      // A different attempt of the job is not this one.
      expect(await again.recover!({ jobId: req.jobId, attempt: req.attempt + 1, jobDir: req.jobDir })).toBeUndefined();
      writeFileSync(join(req.workingDir, "go"), "");
      expect(await waitEnd(again, found!)).toEqual({ state: "exited", exitCode: 5 });
    });


    it("reports a non-zero exit code and captures stderr", async () => {
      const { executor } = target();
      const req = request([NODE, "-e", "console.error('boom'); process.exit(3)"]);
      const handle = await executor.submit(req, NO_RESOURCES);
      expect(await waitEnd(executor, handle)).toEqual({ state: "exited", exitCode: 3 });
      expect(log(req)).toContain("boom");
    });

    it("runs in workingDir with the job's environment", async () => {
      const { executor } = target();
      const req = request([NODE, "-e", "console.log(process.cwd() + '|' + process.env.MY_VAR)"], { env: { MY_VAR: "hello" } });
      const handle = await executor.submit(req, NO_RESOURCES);
      await waitEnd(executor, handle);
      expect(log(req).trim()).toBe(`${req.workingDir}|hello`);
    });

    it("gives the job exactly the allocated GPUs in CUDA_VISIBLE_DEVICES (empty when none)", async (ctx) => {
      const { executor, gpus, pinsIndices } = target();
      if (!executor.capabilities.has("gpu") || gpus.length < 2) {
        ctx.skip(`${name} declares no GPU capability or has fewer than 2 test GPUs`);
        return;
      }
      const script = "console.log('[' + process.env.CUDA_VISIBLE_DEVICES + ']')";
      const pinned = request([NODE, "-e", script]);
      await waitEnd(executor, await executor.submit(pinned, { ...NO_RESOURCES, gpus: [gpus[1]!] }));
      // A cluster's scheduler picks the device; the number of devices is Paved's.
      if (pinsIndices ?? true) expect(log(pinned).trim()).toBe(`[${gpus[1]}]`);
      else expect(log(pinned).trim()).toMatch(/^\[\d+\]$/);
      const two = request([NODE, "-e", script]);
      await waitEnd(executor, await executor.submit(two, { ...NO_RESOURCES, gpus: gpus.slice(0, 2) }));
      expect(log(two).trim()).toMatch(/^\[\d+,\d+\]$/);
      const none = request([NODE, "-e", script]);
      await waitEnd(executor, await executor.submit(none, NO_RESOURCES));
      expect(log(none).trim()).toBe("[]");
    });

    it("cancel stops the attempt and everything it started, grandchildren included", async () => {
      const { executor, processesVisible = true } = target();
      const req = request(["/bin/sh", "-c", 'sleep 300 & echo $! > grandchild.pid; sleep 300']);
      const handle = await executor.submit(req, NO_RESOURCES);
      const pidFile = join(req.workingDir, "grandchild.pid");
      await waitFile(pidFile);
      const grandchild = Number(readFileSync(pidFile, "utf8"));
      if (processesVisible) expect(isAlive(grandchild)).toBe(true);
      await executor.cancel(handle);
      expect((await executor.observe(handle)).state).not.toBe("running");
      if (processesVisible) expect(isAlive(grandchild)).toBe(false);
    });

    it("follows the logs until the attempt ends", async (ctx) => {
      const { executor } = target();
      if (!executor.logs) {
        ctx.skip(`${name} has no log streaming`);
        return;
      }
      const req = request([NODE, "-e", "let i = 0; const t = setInterval(() => { console.log('line ' + i); if (++i === 3) clearInterval(t); }, 50)"]);
      const handle = await executor.submit(req, NO_RESOURCES);
      let text = "";
      for await (const chunk of executor.logs(handle, { follow: true })) text += chunk;
      expect(text).toBe("line 0\nline 1\nline 2\n");
    });
  });
}

function isAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return !/^\d+ \(.*\) [ZX]/.test(stat);
  } catch {
    return false;
  }
}
