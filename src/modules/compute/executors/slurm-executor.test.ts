import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { slurmUnavailable, startTestSlurm, type TestSlurm } from "../../../../test/support/slurm.ts";
import { executorContract } from "./executor.contract.ts";
import { batchScript, parseGres, quote, RANK_WRAPPER, SlurmExecutor, type SlurmHandle } from "./slurm-executor.ts";

describe("slurm batch script", () => {
  it("quotes every word so that a POSIX shell reads back exactly the argv", () => {
    const words = ["a b", "it's", "$(id)", "`id`", 'x"y\\z', "two\nlines", "*", "", "-e"];
    const out = execFileSync("/bin/sh", ["-c", `printf '%s\\0' ${words.map(quote).join(" ")}`], { encoding: "utf8" });
    expect(out.split("\0").slice(0, -1)).toEqual(words);
  });

  it("holds no environment value: those are in the owner-only secrets file", () => {
    const script = batchScript(
      { jobId: "job-1", attempt: 2, argv: ["python", "train.py"], workingDir: "/w", env: { MLFLOW_TRACKING_TOKEN: "pvd_secret" }, jobDir: "/j" },
      { idFile: "/j/attempt-2.slurm-id", exitFile: "/j/attempt-2.exit", secretsFile: "/j/attempt-2.env" },
    );
    expect(script).not.toContain("pvd_secret");
    expect(script).toContain(". '/j/attempt-2.env'");
    // A job step, so Slurm's signals (preemption, --signal) reach the program.
    expect(script).toMatch(/srun --ntasks=1 --export=ALL \/bin\/sh -c '.*' paved-step 'python' 'train.py'\n/s);
  });

  it("gives each srun task of a distributed job torchrun's variables and its slice of the node's GPUs", () => {
    const rank = (env: Record<string, string>) =>
      execFileSync("/bin/sh", ["-c", RANK_WRAPPER, "paved-rank", "/bin/sh", "-c", 'echo "$RANK $LOCAL_RANK $NODE_RANK [$CUDA_VISIBLE_DEVICES]"'], { env: { PATH: process.env.PATH!, ...env }, encoding: "utf8" }).trim();
    // Task 3 of 2 nodes x 2: node 1, local rank 1, the second pair of its node's four GPUs.
    expect(rank({ SLURM_PROCID: "3", SLURM_LOCALID: "1", SLURM_NODEID: "1", CUDA_VISIBLE_DEVICES: "4,5,6,7", PAVED_GPUS_PER_RANK: "2" })).toBe("3 1 1 [6,7]");
    expect(rank({ SLURM_PROCID: "0", SLURM_LOCALID: "0", SLURM_NODEID: "0", CUDA_VISIBLE_DEVICES: "0,1", PAVED_GPUS_PER_RANK: "1" })).toBe("0 0 0 [0]");
    // No GPUs: empty, as on the local executor.
    expect(rank({ SLURM_PROCID: "1", SLURM_LOCALID: "1", SLURM_NODEID: "0", PAVED_GPUS_PER_RANK: "0" })).toBe("1 1 0 []");
    const script = batchScript(
      { jobId: "job-1", attempt: 1, argv: ["python", "train.py"], workingDir: "/w", env: {}, jobDir: "/j", processes: { nodes: 2, processesPerNode: 2 } },
      { idFile: "/j/id", exitFile: "/j/exit", secretsFile: "/j/env" },
    );
    expect(script).toContain("export WORLD_SIZE=4 LOCAL_WORLD_SIZE=2");
    expect(script).toMatch(/srun --kill-on-bad-exit=1 --export=ALL \/bin\/sh -c '.*' paved-rank 'python' 'train.py'\n/s);
  });

  it("reads GPUs from GRES strings, typed or count-only", () => {
    expect(parseGres("gpu:4")).toEqual([{ type: null, count: 4 }]);
    expect(parseGres("gpu:a100:2(S:0-1),gpu:v100:1,mps:100")).toEqual([
      { type: "a100", count: 2 },
      { type: "v100", count: 1 },
    ]);
    expect(parseGres("(null)")).toEqual([]);
  });
});

const skip = slurmUnavailable();
let slurm: TestSlurm | undefined;
const executor = () => new SlurmExecutor({ baseEnv: process.env, commandEnv: slurm!.env, pollMs: 200, killGraceMs: 2000 });

describe.skipIf(skip !== undefined)(`Slurm executor against a real Slurm${skip ? ` (skipped: ${skip})` : ""}`, () => {
  beforeAll(async () => {
    slurm = await startTestSlurm({ gpus: 4, cpus: 8 });
  }, 120_000);
  afterAll(async () => slurm?.stop());

  executorContract("slurm", () => ({
    executor: executor(),
    gpus: [0, 1],
    pinsIndices: false,
    restarted: executor,
    inspect: async (handle) => execFileSync("scontrol", ["show", "job", "-dd", (handle as SlurmHandle).slurmJobId], { env: slurm!.env, encoding: "utf8" }),
  }));

  it("keeps the job's environment in an owner-only file, gone once the attempt is cleaned up", async () => {
    const ex = executor();
    const dir = mkdtempSync(join(tmpdir(), "paved-slurm-secret-"));
    const handle = await ex.submit(
      { jobId: `job-secret-${Date.now()}`, attempt: 1, argv: ["true"], workingDir: dir, env: { MLFLOW_TRACKING_TOKEN: "pvd_x" }, jobDir: join(dir, "job") },
      { gpus: [], cpus: 1, memoryMiB: 64 },
    );
    expect(statSync(handle.secretsFile).mode & 0o777).toBe(0o600);
    expect(readFileSync(handle.secretsFile, "utf8")).toContain("export MLFLOW_TRACKING_TOKEN='pvd_x'");
    while (["pending", "running"].includes((await ex.observe(handle)).state)) await new Promise((r) => setTimeout(r, 100));
    await ex.cleanup(handle);
    expect(() => statSync(handle.secretsFile)).toThrow();
  });

  it("submits attempts of one array group that arrive together as one job array, each task its own log, token and exit status, found again by a new instance", async () => {
    const ex = executor();
    const dir = mkdtempSync(join(tmpdir(), "paved-slurm-array-"));
    const stamp = Date.now();
    const requests = [0, 1, 2].map((i) => ({
      jobId: `job-array-${stamp}-${i}`,
      attempt: 1,
      argv: ["/bin/sh", "-c", `echo "task ${i} token=$MLFLOW_TRACKING_TOKEN in $PWD"; exit ${i}`],
      workingDir: dir,
      env: { MLFLOW_TRACKING_TOKEN: `pvd_token_${i}` },
      jobDir: join(dir, `job-${i}`),
      arrayGroup: `swp-${stamp}`,
    }));
    const handles = await Promise.all(requests.map((r) => ex.submit(r, { gpus: [], cpus: 1, memoryMiB: 64 })));
    const arrayId = handles[0]!.slurmJobId.split("_")[0]!;
    expect(handles.map((h) => h.slurmJobId)).toEqual([`${arrayId}_0`, `${arrayId}_1`, `${arrayId}_2`]);
    // A restarted server, before it saved any handle, finds each attempt's task again.
    const again = executor();
    for (const [i, r] of requests.entries()) expect((await again.recover(r))?.slurmJobId).toBe(handles[i]!.slurmJobId);
    for (const [i, h] of handles.entries()) {
      let state = await again.observe(h);
      while (state.state === "pending" || state.state === "running") {
        await new Promise((r) => setTimeout(r, 100));
        state = await again.observe(h);
      }
      expect(state).toEqual({ state: "exited", exitCode: i });
      // srun adds a line of its own for a task that exits non-zero, before or after the task's
      // output (the two reach the log by different routes: CI saw it first).
      const lines = readFileSync(h.logPath, "utf8").split("\n").filter((l) => l !== "");
      expect(lines.filter((l) => !l.startsWith("srun: "))).toEqual([`task ${i} token=pvd_token_${i} in ${dir}`]);
    }
    // Submitting an attempt again (a retried submit whose answer was lost) finds its task, not a new job.
    expect((await executor().submit(requests[1]!, { gpus: [], cpus: 1, memoryMiB: 64 })).slurmJobId).toBe(`${arrayId}_1`);
  });

  it("says what the cluster has: CPUs, memory, GPUs, partitions", async () => {
    const r = await executor().resources();
    expect(r.cpus).toBe(8);
    expect(r.gpus).toHaveLength(4);
    expect(r.partitions).toEqual(["debug", "urgent"]);
    expect(r.gpuTypes).toEqual([]);
  });
});
