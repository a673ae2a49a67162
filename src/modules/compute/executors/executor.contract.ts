import { mkdtempSync, readFileSync, existsSync } from "node:fs";
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
  /** GPU indices this backend can pin in tests (fake GPUs are fine); empty skips the pinning case. */
  gpus: number[];
}

/**
 * The behaviour every executor must show. Each backend's test file calls this with a factory;
 * a case a backend cannot run is skipped with its reason, never silently.
 */
export function executorContract(name: string, target: () => ContractTarget): void {
  describe(`executor contract: ${name}`, () => {
    const request = (argv: string[], extra: Partial<ExecutionRequest> = {}): ExecutionRequest => {
      const dir = mkdtempSync(join(tmpdir(), "paved-exec-"));
      return { jobId: "job-contract", attempt: 1, argv, workingDir: dir, env: {}, jobDir: join(dir, ".job"), ...extra };
    };
    const waitEnd = async (executor: Executor, handle: ExecutionHandle) => {
      for (;;) {
        const state = await executor.observe(handle);
        if (state.state !== "running") return state;
        if (executor.waitForExit) await executor.waitForExit(handle, AbortSignal.timeout(1000));
        else await sleep(100);
      }
    };
    const log = (req: ExecutionRequest) => readFileSync(attemptLogPath(req.jobDir, req.attempt), "utf8");

    it("runs argv as given (no shell) and reports exit code 0", async () => {
      const { executor } = target();
      const req = request([NODE, "-e", "console.log(process.argv.slice(1).join('|'))", "a b", "$(echo no)", "'q'"]);
      const handle = await executor.submit(req, NO_RESOURCES);
      expect(await waitEnd(executor, handle)).toEqual({ state: "exited", exitCode: 0 });
      expect(log(req)).toContain("a b|$(echo no)|'q'");
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

    it("pins exactly the allocated GPUs in CUDA_VISIBLE_DEVICES (empty when none)", async (ctx) => {
      const { executor, gpus } = target();
      if (!executor.capabilities.has("gpu") || gpus.length < 2) {
        ctx.skip(`${name} declares no GPU capability or has fewer than 2 test GPUs`);
        return;
      }
      const script = "console.log('[' + process.env.CUDA_VISIBLE_DEVICES + ']')";
      const pinned = request([NODE, "-e", script]);
      await waitEnd(executor, await executor.submit(pinned, { ...NO_RESOURCES, gpus: [gpus[1]!] }));
      expect(log(pinned).trim()).toBe(`[${gpus[1]}]`);
      const none = request([NODE, "-e", script]);
      await waitEnd(executor, await executor.submit(none, NO_RESOURCES));
      expect(log(none).trim()).toBe("[]");
    });

    it("cancel stops the attempt and everything it started, grandchildren included", async () => {
      const { executor } = target();
      const req = request(["/bin/sh", "-c", 'sleep 300 & echo $! > grandchild.pid; sleep 300']);
      const handle = await executor.submit(req, NO_RESOURCES);
      const pidFile = join(req.workingDir, "grandchild.pid");
      for (let i = 0; i < 200 && !existsSync(pidFile); i++) await sleep(20);
      const grandchild = Number(readFileSync(pidFile, "utf8"));
      expect(isAlive(grandchild)).toBe(true);
      await executor.cancel(handle);
      expect((await executor.observe(handle)).state).not.toBe("running");
      expect(isAlive(grandchild)).toBe(false);
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
