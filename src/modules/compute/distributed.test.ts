import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TEST_ADMIN_TOKEN, createComputeTestServer } from "../../../test/support/compute-server.ts";
import { testDialects } from "../../../test/support/databases.ts";
import { findAttemptGroup } from "./executors/process-identity.ts";

type Server = Awaited<ReturnType<typeof createComputeTestServer>>;
type Event = { time: number; type: string; message: string };

const SCRIPT = new URL("./test-ddp-job.py", import.meta.url).pathname;
const PYTHON = "/usr/bin/python3";

/**
 * Issue 13, item 4, on the local executor: a real PyTorch DDP job (gloo on CPU) as 2 ranks, with
 * the rendezvous variables Paved sets, tracked as one run; a rank that fails stops the attempt,
 * which is retried with every rank resuming from the checkpoint.
 */
describe.each(testDialects())("distributed training on the local executor (%s)", (dialect) => {
  let env: Server;
  const workingDir = mkdtempSync(join(tmpdir(), "paved-ddp-"));
  const admin = { authorization: `Bearer ${TEST_ADMIN_TOKEN}` };
  const call = (method: "GET" | "POST", url: string, payload?: object) => env.server.inject({ method, url, headers: admin, ...(payload ? { payload } : {}) });
  const job = async (id: string) => (await call("GET", `/api/v1/jobs/${id}`)).json();
  async function ended(id: string) {
    for (let i = 0; i < 4800; i++) {
      const j = await job(id);
      if (["SUCCEEDED", "FAILED", "CANCELLED"].includes(j.phase as string)) return j;
      await sleep(50);
    }
    throw new Error(`job ${id} never ended`);
  }
  async function epochs(runId: string): Promise<{ step: number; attempt: number }[]> {
    const res = await call("GET", `/api/2.0/mlflow/metrics/get-history?run_id=${runId}&metric_key=attempt`);
    expect(res.statusCode, res.body).toBe(200);
    return ((res.json().metrics ?? []) as { step: number; value: number }[]).map((m) => ({ step: Number(m.step), attempt: m.value })).sort((a, b) => a.step - b.step);
  }
  const rankLog = (jobId: string, rank: number, attempt: number) => readFileSync(join(env.database.dataDir, "jobs", jobId, "logs", `rank-${rank}`, `attempt-${attempt}.log`), "utf8");
  const log = async (jobId: string, attempt: number) => (await call("GET", `/api/v1/jobs/${jobId}/logs?attempt=${attempt}`)).body;
  const artifacts = async (runId: string, path: string) =>
    ((await call("GET", `/api/2.0/mlflow/artifacts/list?run_id=${runId}&path=${path}`)).json().files ?? []) as { path: string }[];

  beforeAll(async () => {
    env = await createComputeTestServer({ gpus: [], cpus: 4, memoryMiB: 8192, systemMetricsInterval: 0.2 }, dialect);
  }, 60_000);
  afterAll(async () => env?.close());

  it("2 processes train with DDP: each rank gets the rendezvous env, rank 0's metrics reach the one run, each rank's log is kept", async () => {
    const res = await call("POST", "/api/v1/jobs", {
      name: "ddp-train",
      workingDir,
      command: [PYTHON, SCRIPT, "--epochs", "5"],
      compute: { cpus: 2, memory: 2048, processesPerNode: 2 },
    });
    expect(res.statusCode, res.body).toBe(200);
    const id = res.json().id as string;
    const runId = res.json().runId as string;
    const done = await ended(id);
    expect(done.phase, JSON.stringify(done.events)).toBe("SUCCEEDED");

    const rank0 = await log(id, 1);
    const rank1 = rankLog(id, 1, 1);
    const port = /master 127\.0\.0\.1:(\d+)/.exec(rank0)?.[1];
    expect(Number(port)).toBeGreaterThan(0);
    expect(rank0).toContain(`rank 0/2 local_rank 0/2 node_rank 0 master 127.0.0.1:${port} cuda [] token yes run ${runId}`);
    expect(rank1).toContain(`rank 1/2 local_rank 1/2 node_rank 0 master 127.0.0.1:${port} cuda [] token yes run ${runId}`);
    // A real collective ran across both processes (0 + 1), and DDP kept the two models identical.
    expect(rank0).toContain("rank 0: all_reduce of ranks = 1");
    expect(rank1).toContain("rank 1: all_reduce of ranks = 1");
    const checksum = (text: string) => /parameter checksum (\S+)/.exec(text)?.[1];
    expect(checksum(rank0)).toBeDefined();
    expect(checksum(rank1)).toBe(checksum(rank0));
    // Rank 0 tracks: its metric lines are the run's metrics; rank 1's log holds none.
    expect((await epochs(runId)).map((e) => e.step)).toEqual([0, 1, 2, 3, 4]);
    expect(rank1).not.toContain("paved.metric");
    // The run keeps each rank's log: rank 0's as the job's log, rank 1's under logs/rank-1.
    expect((await artifacts(runId, "logs")).map((f) => f.path)).toContain("logs/attempt-1.log");
    expect((await artifacts(runId, "logs/rank-1")).map((f) => f.path)).toEqual(["logs/rank-1/attempt-1.log"]);
  }, 180_000);

  it("a rank that fails stops every rank; the retry restarts all ranks from the last checkpoint and the job succeeds", async () => {
    const res = await call("POST", "/api/v1/jobs", {
      name: "ddp-retry",
      workingDir,
      // Two nodes of one process each: rank 1 is node 1's only process.
      command: [PYTHON, SCRIPT, "--epochs", "6", "--fail-rank", "1", "--fail-epoch", "3", "--fail-attempt", "1", "--fail-code", "3"],
      compute: { cpus: 2, memory: 2048, nodes: 2 },
      retry: { maxAttempts: 2, retryOnExitCodes: [3] },
    });
    expect(res.statusCode, res.body).toBe(200);
    const id = res.json().id as string;
    const runId = res.json().runId as string;
    const done = await ended(id);
    expect(done.phase, JSON.stringify(done.events)).toBe("SUCCEEDED");
    expect(done.attempt).toBe(2);
    // The attempt's status is rank 1's failure (not rank 0's end after it was stopped).
    const retrying = (done.events as Event[]).find((e) => e.type === "Retrying")!;
    expect(retrying.message).toContain("attempt 1 exited with code 3");

    expect(rankLog(id, 1, 1)).toContain("rank 1/2 local_rank 0/1 node_rank 1");
    expect(rankLog(id, 1, 1)).toContain("rank 1 attempt 1: failing at epoch 3 with code 3");
    expect(await log(id, 1)).not.toContain("finished 6 epochs");
    // Both ranks of attempt 2 resumed from the checkpoint of epoch 2 and finished.
    expect(await log(id, 2)).toContain("rank 0 attempt 2: resumed from the checkpoint of epoch 2");
    expect(rankLog(id, 1, 2)).toContain("rank 1 attempt 2: resumed from the checkpoint of epoch 2");
    expect(rankLog(id, 1, 2)).toContain("rank 1 attempt 2: finished 6 epochs");
    // Every epoch logged once: 0-2 by attempt 1, 3-5 by attempt 2.
    expect(await epochs(runId)).toEqual([0, 1, 2, 3, 4, 5].map((step) => ({ step, attempt: step < 3 ? 1 : 2 })));
    expect((await artifacts(runId, "logs/rank-1")).map((f) => f.path).sort()).toEqual(["logs/rank-1/attempt-1.log", "logs/rank-1/attempt-2.log"]);
  }, 180_000);

  it("a restarted controller adopts every rank of a running attempt, which trains on to the end as attempt 1", async () => {
    const res = await call("POST", "/api/v1/jobs", {
      name: "ddp-adopt",
      workingDir,
      command: [PYTHON, SCRIPT, "--epochs", "8", "--epoch-seconds", "0.3"],
      compute: { cpus: 2, memory: 2048, processesPerNode: 2 },
    });
    expect(res.statusCode, res.body).toBe(200);
    const id = res.json().id as string;
    const runId = res.json().runId as string;
    for (let i = 0; i < 2400 && (await epochs(runId)).length < 2; i++) await sleep(50);
    await env.compute.controller.stop();
    // Both ranks outlive the controller.
    expect(findAttemptGroup(id, 1)).toBeDefined();
    await env.compute.controller.start();
    const done = await ended(id);
    expect(done.phase, JSON.stringify(done.events)).toBe("SUCCEEDED");
    expect(done.attempt).toBe(1);
    expect((done.events as Event[]).map((e) => e.type)).toContain("Adopted");
    expect((await epochs(runId)).map((e) => e.step)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(rankLog(id, 1, 1)).toContain("rank 1 attempt 1: finished 8 epochs");
  }, 180_000);

  it("cancel stops every rank; while they ran, each rank's CPU time and memory were sampled into the run", async () => {
    const res = await call("POST", "/api/v1/jobs", {
      name: "ddp-cancel",
      workingDir,
      command: [PYTHON, SCRIPT, "--epochs", "1000", "--epoch-seconds", "0.2"],
      compute: { cpus: 2, memory: 2048, nodes: 2 },
    });
    const id = res.json().id as string;
    const runId = res.json().runId as string;
    for (let i = 0; i < 2400 && (await epochs(runId)).length < 1; i++) await sleep(50);
    const history = async (key: string) =>
      ((await call("GET", `/api/2.0/mlflow/metrics/get-history?run_id=${runId}&metric_key=${encodeURIComponent(key)}`)).json().metrics ?? []) as { value: number }[];
    for (let i = 0; i < 2400 && (await history("system/rank_1/memory_rss_megabytes")).length === 0; i++) await sleep(50);
    // Both ranks run torch: each holds memory of its own.
    for (const rank of [0, 1]) expect((await history(`system/rank_${rank}/memory_rss_megabytes`)).at(-1)?.value).toBeGreaterThan(10);
    const cancelled = await call("POST", `/api/v1/jobs/${id}/cancel`);
    expect(cancelled.statusCode, cancelled.body).toBe(200);
    const done = await ended(id);
    expect(done.phase).toBe("CANCELLED");
    // No process of the attempt is left, on any rank.
    expect(findAttemptGroup(id, 1)).toBeUndefined();
  }, 180_000);

  it("refuses at submit what cannot be split or placed, with the fix", async () => {
    const submit = (compute: object) => call("POST", "/api/v1/jobs", { name: "ddp-bad", workingDir, command: [PYTHON, SCRIPT], compute });
    const uneven = await submit({ gpus: 3, cpus: 1, memory: 1024, processesPerNode: 2 });
    expect(uneven.statusCode, uneven.body).toBe(400);
    expect(uneven.json().error.code).toBe("INVALID_INPUT");
    expect(uneven.json().error.details).toMatchObject({ gpus: 3, processes: 2 });
    for (const bad of [{ nodes: 0 }, { processesPerNode: 1.5 }, { nodes: 64, processesPerNode: 64 }]) {
      const res = await submit({ cpus: 1, ...bad });
      expect(res.statusCode, res.body).toBe(400);
      expect(res.json().error.code).toBe("INVALID_INPUT");
    }
  });
});
