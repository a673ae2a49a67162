import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TEST_ADMIN_TOKEN, createComputeTestServer } from "../../../test/support/compute-server.ts";
import { testDialects } from "../../../test/support/databases.ts";

type Server = Awaited<ReturnType<typeof createComputeTestServer>>;
type Event = { time: number; type: string; message: string };

const SCRIPT = new URL("./test-preemptible-job.py", import.meta.url).pathname;
const PYTHON = "/usr/bin/python3";

/**
 * Issue 8, item 7, for real: a PyTorch job that checkpoints every epoch runs on the machine's only
 * GPU at low priority; a high-priority job of the same team arrives and preempts it (SIGTERM, a
 * grace period in which it checkpoints); the high job runs; the low one is queued again without
 * spending its retry budget and resumes from its checkpoint. Checked by the epochs each attempt
 * logged (no timing thresholds).
 */
describe.each(testDialects())("preemption with a real PyTorch job (%s)", (dialect) => {
  let env: Server;
  const workingDir = mkdtempSync(join(tmpdir(), "paved-preempt-"));
  const admin = { authorization: `Bearer ${TEST_ADMIN_TOKEN}` };
  const call = (method: "GET" | "POST", url: string, payload?: object) => env.server.inject({ method, url, headers: admin, ...(payload ? { payload } : {}) });
  const job = async (id: string) => (await call("GET", `/api/v1/jobs/${id}`)).json();
  async function until<T>(what: string, read: () => Promise<T>, done: (v: T) => boolean): Promise<T> {
    for (let i = 0; i < 2400; i++) {
      const value = await read();
      if (done(value)) return value;
      await sleep(50);
    }
    throw new Error(`${what} never happened`);
  }
  /** The epochs (steps) of the `attempt` metric line, with the attempt that ran each. */
  async function epochs(runId: string): Promise<{ step: number; attempt: number }[]> {
    const res = await call("GET", `/api/2.0/mlflow/metrics/get-history?run_id=${runId}&metric_key=attempt`);
    expect(res.statusCode, res.body).toBe(200);
    return ((res.json().metrics ?? []) as { step: number; value: number }[]).map((m) => ({ step: Number(m.step), attempt: m.value })).sort((a, b) => a.step - b.step);
  }

  beforeAll(async () => {
    env = await createComputeTestServer({ gpus: [{ index: 0, name: "Test GPU" }], cpus: 4, memoryMiB: 8192, preemption: { enabled: true, graceSeconds: 60 } }, dialect);
  }, 60_000);
  afterAll(async () => env?.close());

  it("a high-priority job preempts a low one, which checkpoints, is requeued without spending a retry, and resumes from its checkpoint", async () => {
    const spec = (name: string, priority: string, epochs: number) => ({
      name,
      workingDir,
      command: [PYTHON, SCRIPT, "--epochs", String(epochs), "--epoch-seconds", "0.15"],
      compute: { gpus: 1, cpus: 1, memory: 1024 },
      priority,
      // One attempt: a preemption must not use it up.
      retry: { maxAttempts: 1 },
    });
    const low = await call("POST", "/api/v1/jobs", spec("train-low", "low", 40));
    expect(low.statusCode, low.body).toBe(200);
    const lowId = low.json().id as string;
    expect(low.json().priority).toBe(-100);
    const runId = low.json().runId as string;
    // Mid-training: some epochs logged, most to come.
    await until("the low job's third epoch", () => epochs(runId), (e) => e.length >= 3);

    const high = await call("POST", "/api/v1/jobs", spec("train-high", "high", 3));
    expect(high.statusCode, high.body).toBe(200);
    const highId = high.json().id as string;

    const done = await until("the high job's end", () => job(highId), (j) => j.phase === "SUCCEEDED" || j.phase === "FAILED");
    expect(done.phase).toBe("SUCCEEDED");
    const lowDone = await until("the low job's end", () => job(lowId), (j) => j.phase === "SUCCEEDED" || j.phase === "FAILED");
    expect(lowDone.phase, JSON.stringify(lowDone.events)).toBe("SUCCEEDED");
    // Two attempts although retry.maxAttempts is 1: the preemption spent none of it.
    expect(lowDone.attempt).toBe(2);

    const events = lowDone.events as Event[];
    const preempting = events.find((e) => e.type === "Preempting")!;
    const preempted = events.find((e) => e.type === "Preempted")!;
    expect(preempting.message).toContain(`Preempted by job ${highId} (train-high): priority 100 over this job's -100`);
    expect(preempting.message).toContain("SIGTERM");
    expect(preempted.message).toContain(`job ${highId}`);
    expect(preempted.message).toContain("queued again as attempt 2");

    // Every epoch ran exactly once: attempt 1 up to its checkpoint, attempt 2 from there on.
    const ran = await epochs(runId);
    expect(ran.map((e) => e.step)).toEqual(Array.from({ length: 40 }, (_, i) => i));
    const last1 = Math.max(...ran.filter((e) => e.attempt === 1).map((e) => e.step));
    expect(last1).toBeGreaterThanOrEqual(2);
    expect(last1).toBeLessThan(39);
    expect(ran.filter((e) => e.step <= last1).every((e) => e.attempt === 1)).toBe(true);
    expect(ran.filter((e) => e.step > last1).every((e) => e.attempt === 2)).toBe(true);
    // What each attempt said: the first checkpointed on SIGTERM, the second resumed from it.
    const log = async (attempt: number) => (await call("GET", `/api/v1/jobs/${lowId}/logs?attempt=${attempt}`)).body;
    expect(await log(1)).toContain(`SIGTERM received; checkpointed epoch ${last1}`);
    expect(await log(2)).toContain(`resumed from the checkpoint of epoch ${last1}`);

    // One GPU: the high job ran after the low one let go of it and before it came back.
    const highEvents = done.events as Event[];
    const highStarted = highEvents.find((e) => e.type === "Started")!;
    const lowBack = events.filter((e) => e.type === "Started")[1]!;
    expect(highStarted.time).toBeGreaterThanOrEqual(preempted.time);
    expect(lowBack.time).toBeGreaterThanOrEqual(highEvents.find((e) => e.type === "Succeeded")!.time);
    // While it waited, the high job said what it was waiting for.
    expect(highEvents[0]!.type).toBe("Submitted");
  }, 120_000);
});

describe.each(testDialects())("fair-share preemption across teams (%s)", (dialect) => {
  let env: Server;
  const workingDir = mkdtempSync(join(tmpdir(), "paved-fair-"));
  const admin = { authorization: `Bearer ${TEST_ADMIN_TOKEN}` };
  const call = (method: "GET" | "POST", url: string, payload?: object) => env.server.inject({ method, url, headers: admin, ...(payload ? { payload } : {}) });
  const job = async (id: string) => (await call("GET", `/api/v1/jobs/${id}`)).json();
  async function until<T>(what: string, read: () => Promise<T>, done: (v: T) => boolean): Promise<T> {
    for (let i = 0; i < 800; i++) {
      const value = await read();
      if (done(value)) return value;
      await sleep(25);
    }
    throw new Error(`${what} never happened`);
  }
  const submit = async (name: string, team: string) => {
    const res = await call("POST", "/api/v1/jobs", { name, team, workingDir, command: ["sleep", "300"], compute: { gpus: 1, cpus: 0.5, memory: 64 } });
    expect(res.statusCode, res.body).toBe(200);
    return res.json().id as string;
  };

  beforeAll(async () => {
    env = await createComputeTestServer({ gpus: [{ index: 0 }, { index: 1 }], cpus: 4, memoryMiB: 4096, preemption: { enabled: true, graceSeconds: 5 } }, dialect);
    for (const name of ["team-a", "team-b"]) await env.identity.createTeam({ name });
  }, 60_000);
  afterAll(async () => env?.close());

  it("a team holding nothing reclaims one of the two GPUs a team holds, and the victim's team cannot take it back", async () => {
    const b = [await submit("b-one", "team-b"), await submit("b-two", "team-b")];
    for (const id of b) await until(`${id} running`, () => job(id), (j) => j.phase === "RUNNING");
    const a = await submit("a-one", "team-a");
    await until("team a's job running", () => job(a), (j) => j.phase === "RUNNING");
    const jobs = await Promise.all(b.map(job));
    const victims = jobs.filter((j) => j.events.some((e: Event) => e.type === "Preempted"));
    expect(victims).toHaveLength(1);
    const victim = victims[0]!;
    const preempted = victim.events.find((e: Event) => e.type === "Preempted") as Event;
    expect(preempted.message).toMatch(/^Preempted by a job of another team: fair share \(dominant resource fairness\): team team-b holds 100% of its share/);
    // The other team's job is not named to team b.
    expect(preempted.message).not.toContain(a);
    expect(preempted.message).not.toContain("a-one");
    // Back in the queue (as attempt 2) and waiting for a GPU; nothing is preempted for it.
    const waiting = await until("the victim's reason", () => job(victim.id), (j) => j.phase === "QUEUED" && j.pending !== undefined);
    expect(waiting.attempt).toBe(2);
    expect(waiting.pending.resources[0]).toMatchObject({ resource: "gpu", free: 0 });
    expect(waiting.pending.preempting).toBeUndefined();
    const other = jobs.find((j) => j.id !== victim.id)!;
    expect((await job(other.id)).phase).toBe("RUNNING");
    for (const id of [...b, a]) await call("POST", `/api/v1/jobs/${id}/cancel`, {});
  }, 60_000);
});
