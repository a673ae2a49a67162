import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Readable } from "node:stream";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, describe, expect, it } from "vitest";
import { openTestDatabase, testDialects } from "../../../test/support/databases.ts";
import { LocalArtifactStore } from "../../artifacts/index.ts";
import { configSchema } from "../../config/index.ts";
import { alreadyExists, createLogger, parseInput, randomIds, systemClock, type Principal } from "../../core/index.ts";
import type { Database } from "../../storage/index.ts";
import { LocalExecutor } from "./executors/local-executor.ts";
import { createComputeModule, jobSpecSchema, type ComputeModule, type Job, type JobSpecInput, type RunRecorder } from "./index.ts";

/** An in-memory RunRecorder: the test double of the port tracking implements. */
class MemoryRuns implements RunRecorder {
  experiments = new Map<string, { id: string; team: string }>();
  runs = new Map<
    string,
    {
      experimentId: string;
      runName: string;
      userId: string;
      jobId?: string;
      status: string;
      params: Record<string, string>;
      tags: Record<string, string>;
      metrics: { key: string; value: number; step: number; timestamp: number }[];
      inputs: { name: string; digest: string; sourceType: string; source: string }[];
      artifacts: Map<string, Buffer>;
    }
  >();
  async ensureExperiment(name: string, team: string) {
    if (!this.experiments.has(name)) this.experiments.set(name, { id: String(this.experiments.size + 1), team });
    const experiment = this.experiments.get(name)!;
    if (experiment.team !== team) throw alreadyExists(`experiment '${name}' is taken`);
    return experiment.id;
  }
  async createRun(input: { experimentId: string; runName: string; userId: string; jobId?: string; tags?: Record<string, string>; status?: string }) {
    const runId = randomIds.hex32();
    this.runs.set(runId, { ...input, status: input.status ?? "RUNNING", params: {}, tags: { ...input.tags }, metrics: [], inputs: [], artifacts: new Map() });
    return { runId, artifactUri: `mlflow-artifacts:/${runId}` };
  }
  private run(id: string) {
    const run = this.runs.get(id);
    if (!run) throw new Error(`no run ${id}`);
    return run;
  }
  async logParams(runId: string, params: Record<string, string>) {
    Object.assign(this.run(runId).params, params);
  }
  async logMetrics(runId: string, metrics: { key: string; value: number; step: number; timestamp: number }[]) {
    this.run(runId).metrics.push(...metrics);
  }
  async setTags(runId: string, tags: Record<string, string>) {
    Object.assign(this.run(runId).tags, tags);
  }
  async logInputs(runId: string, inputs: { name: string; digest: string; sourceType: string; source: string }[]) {
    this.run(runId).inputs.push(...inputs);
  }
  async putArtifact(runId: string, path: string, body: Readable | Buffer) {
    const chunks: Buffer[] = [];
    if (Buffer.isBuffer(body)) chunks.push(body);
    else for await (const c of body) chunks.push(c as Buffer);
    const data = Buffer.concat(chunks);
    this.run(runId).artifacts.set(path, data);
    return { digest: "x", size: data.length };
  }
  async updateRun(runId: string, patch: { status: "RUNNING" }) {
    this.run(runId).status = patch.status;
  }
  async finishRun(runId: string, status: "FINISHED" | "FAILED" | "KILLED") {
    this.run(runId).status = status;
  }
}

const NODE = process.execPath;
const USER: Principal = { name: "alice", kind: "user", platformAdmin: false, teams: { default: "developer" } };
const TERMINAL = ["SUCCEEDED", "FAILED", "CANCELLED"];

describe.each(testDialects())("compute jobs (%s)", (dialect) => {
  const cleanups: (() => Promise<void>)[] = [];
  afterAll(async () => {
    for (const c of cleanups.reverse()) await c();
  });

  interface Env {
    database: Database & { dataDir: string };
    runs: MemoryRuns;
    tokens: { minted: string[]; revoked: string[] };
    module: ComputeModule;
    workDir: string;
    submit(spec: Partial<JobSpecInput>): Promise<Job>;
    waitFor(id: string, until: (job: Job) => boolean): Promise<Job>;
    restart(): Promise<ComputeModule>;
  }

  async function setup(opts: { cpus?: number; gpus?: number; maxAttempts?: number; database?: Env["database"]; runs?: MemoryRuns } = {}): Promise<Env> {
    const database = opts.database ?? (await openTestDatabase(dialect));
    if (!opts.database) cleanups.push(() => database.close());
    const workDir = mkdtempSync(join(tmpdir(), "paved-work-"));
    const config = configSchema.parse({
      dataDir: database.dataDir,
      compute: {
        gpus: Array.from({ length: opts.gpus ?? 2 }, (_, index) => ({ index, name: "Fake GPU" })),
        cpus: opts.cpus ?? 4,
        memoryMiB: 8192,
        python: "/nonexistent/python3",
        systemMetricsInterval: 0.2,
      },
    });
    const runs = opts.runs ?? new MemoryRuns();
    const tokens = { minted: [] as string[], revoked: [] as string[] };
    const build = () =>
      createComputeModule({
        database,
        artifacts: new LocalArtifactStore(join(database.dataDir, "artifacts")),
        clock: systemClock,
        ids: randomIds,
        config,
        logger: createLogger("silent"),
        runs,
        tokens: {
          mintToken: async (id) => {
            tokens.minted.push(id);
            return `pvd_token_${id}`;
          },
          revokeToken: async (id) => {
            tokens.revoked.push(id);
          },
        },
        serverUrl: () => "http://127.0.0.1:9",
        executor: new LocalExecutor({ baseEnv: process.env, killGraceMs: 1000, pollMs: 50 }),
        sweepMs: 50,
      });
    const env: Env = {
      database,
      runs,
      tokens,
      module: await build(),
      workDir,
      submit: async (spec) =>
        env.module.service.submit(parseInput(jobSpecSchema, { name: "test-job", workingDir: workDir, compute: { cpus: 1, memory: 64 }, ...spec }, "job spec"), USER),
      async waitFor(id, until) {
        for (let i = 0; i < 1500; i++) {
          const job = await env.module.service.get(id);
          if (until(job)) return job;
          await sleep(20);
        }
        throw new Error(`job ${id} never reached the expected state: ${JSON.stringify(await env.module.service.get(id))}`);
      },
      async restart() {
        env.module = await build();
        await env.module.controller.start();
        return env.module;
      },
    };
    await env.module.controller.start();
    cleanups.push(() => env.module.controller.stop());
    return env;
  }
  const done = (job: Job) => TERMINAL.includes(job.phase);
  const script = (env: Env, name: string, body: string) => {
    const path = join(env.workDir, name);
    writeFileSync(path, body);
    return path;
  };

  it("runs a job to SUCCEEDED with the run recorded and Paved's environment", async () => {
    const env = await setup();
    const path = script(
      env,
      "show.js",
      `const keys = ["PAVED_JOB_ID","PAVED_ATTEMPT","PAVED_CHECKPOINT_DIR","PAVED_OUTPUT_DIR","PAVED_HYPERPARAMETERS","MLFLOW_TRACKING_URI","MLFLOW_RUN_ID","MLFLOW_EXPERIMENT_ID","MLFLOW_TRACKING_TOKEN","CUDA_VISIBLE_DEVICES","MY_VAR"];
       console.log(JSON.stringify({ argv: process.argv.slice(2), env: Object.fromEntries(keys.map(k => [k, process.env[k]])) }));
       require("fs").writeFileSync(require("path").join(process.env.PAVED_OUTPUT_DIR, "model.txt"), "weights");`,
    );
    writeFileSync(join(env.workDir, "data.csv"), "a,b\n1,2\n");
    const submitted = await env.submit({
      name: "show-env",
      experiment: "exp-a",
      command: [NODE, path],
      env: { MY_VAR: "x" },
      hyperparameters: { lr: 0.1, layers: 3, fast: true },
      datasets: [{ name: "train", path: "data.csv" }, { name: "ext", source: "s3://bucket/data", digest: "abc" }],
    });
    expect(submitted.runId).toBeTruthy();
    const job = await env.waitFor(submitted.id, done);
    expect(job.phase).toBe("SUCCEEDED");
    expect(job.exitCode).toBe(0);
    expect(job.events.map((e) => e.type)).toEqual(["Submitted", "Scheduled", "Started", "Succeeded"]);
    const run = env.runs.runs.get(job.runId!)!;
    await env.waitFor(job.id, () => run.status === "FINISHED" && run.artifacts.has("logs/attempt-1.log"));
    const out = JSON.parse(run.artifacts.get("logs/attempt-1.log")!.toString().trim());
    expect(out.argv).toEqual(["--lr=0.1", "--layers=3", "--fast=true"]);
    expect(out.env).toMatchObject({
      PAVED_JOB_ID: job.id,
      PAVED_ATTEMPT: "1",
      MLFLOW_TRACKING_URI: "http://127.0.0.1:9",
      MLFLOW_RUN_ID: job.runId,
      MLFLOW_EXPERIMENT_ID: job.experimentId,
      MLFLOW_TRACKING_TOKEN: `pvd_token_${job.id}`,
      CUDA_VISIBLE_DEVICES: "",
      MY_VAR: "x",
    });
    expect(JSON.parse(out.env.PAVED_HYPERPARAMETERS)).toEqual({ lr: 0.1, layers: 3, fast: true });
    expect(env.runs.experiments.get("exp-a")?.id).toBe(job.experimentId);
    expect(run.userId).toBe("alice");
    expect(run.artifacts.get("outputs/model.txt")?.toString()).toBe("weights");
    expect(env.tokens.revoked).toContain(job.id);
    expect(run.tags["paved.job.exit_code"]).toBe("0");
    await env.waitFor(job.id, () => run.artifacts.has("spec.yaml") && run.inputs.length === 2);
    expect(run.params).toEqual({ lr: "0.1", layers: "3", fast: "true" });
    expect(run.artifacts.get("spec.yaml")?.toString()).toContain("name: show-env");
    expect(run.artifacts.has("code/show.js")).toBe(true);
    expect(run.inputs.find((i) => i.name === "train")?.digest).toMatch(/^[0-9a-f]{64}$/);
    expect(run.inputs.find((i) => i.name === "ext")).toMatchObject({ sourceType: "s3", digest: "abc" });
    expect(run.tags["paved.hardware.cpu_count"]).toBe("4");
  });

  it("logs metric lines the program prints, and system metrics while it runs", async () => {
    const env = await setup();
    const path = script(
      env,
      "metrics.js",
      `console.log("paved.metric loss=0.5 acc=0.8 step=1");
       console.log("regular output");
       setTimeout(() => { process.stdout.write("paved.metric loss=0.25 acc=0.9 step=2\\n"); process.stdout.write("paved.metric tail=1"); }, 600);`,
    );
    const job = await env.waitFor((await env.submit({ command: [NODE, path] })).id, done);
    const run = env.runs.runs.get(job.runId!)!;
    await env.waitFor(job.id, () => run.status === "FINISHED");
    const user = run.metrics.filter((m) => !m.key.startsWith("system/")).map((m) => [m.key, m.value, m.step]);
    expect(user).toEqual([
      ["loss", 0.5, 1],
      ["acc", 0.8, 1],
      ["loss", 0.25, 2],
      ["acc", 0.9, 2],
      ["tail", 1, 2],
    ]);
    expect(run.metrics.some((m) => m.key === "system/cpu_utilization_percentage")).toBe(true);
    expect(run.metrics.some((m) => m.key === "system/system_memory_usage_megabytes")).toBe(true);
  });

  it("fails a job with its exit code and does not retry codes the policy does not list", async () => {
    const env = await setup();
    const job = await env.waitFor((await env.submit({ command: [NODE, "-e", "process.exit(4)"], retry: { maxAttempts: 3, retryOnExitCodes: [5] } })).id, done);
    expect(job).toMatchObject({ phase: "FAILED", exitCode: 4, attempt: 1, allocation: null });
    await env.waitFor(job.id, () => env.runs.runs.get(job.runId!)!.status === "FAILED");
  });

  it("retries a retryable failure with the same checkpoint directory", async () => {
    const env = await setup();
    const path = script(
      env,
      "resume.js",
      `const fs = require("fs"), p = require("path");
       const f = p.join(process.env.PAVED_CHECKPOINT_DIR, "progress");
       const before = fs.existsSync(f) ? fs.readFileSync(f, "utf8") : "";
       fs.writeFileSync(f, before + process.env.PAVED_ATTEMPT);
       console.log("resumed from [" + before + "]");
       process.exit(process.env.PAVED_ATTEMPT === "1" ? 75 : 0);`,
    );
    const job = await env.waitFor((await env.submit({ command: [NODE, path], retry: { maxAttempts: 2, retryOnExitCodes: [75] } })).id, done);
    expect(job).toMatchObject({ phase: "SUCCEEDED", attempt: 2, maxAttempts: 2 });
    expect(job.events.map((e) => e.type)).toContain("Retrying");
    expect(readFileSync(join(env.database.dataDir, "jobs", job.id, "checkpoints", "progress"), "utf8")).toBe("12");
    let text = "";
    for await (const chunk of env.module.service.logs(job.id, { follow: false, attempt: 2, signal: AbortSignal.timeout(5000) })) text += chunk;
    expect(text).toContain("resumed from [1]");
    const run = env.runs.runs.get(job.runId!)!;
    await env.waitFor(job.id, () => run.status === "FINISHED" && run.artifacts.has("logs/attempt-2.log"));
    expect(run.artifacts.has("logs/attempt-1.log")).toBe(true);
    expect(env.tokens.minted.filter((id) => id === job.id)).toHaveLength(2);
  });

  it("stops a job that runs past maxRuntime and fails it", async () => {
    const env = await setup();
    const job = await env.waitFor((await env.submit({ command: ["sleep", "300"], maxRuntime: "1s" })).id, done);
    expect(job.phase).toBe("FAILED");
    expect(job.message).toContain("maxRuntime");
    expect(job.events.map((e) => e.type)).toContain("MaxRuntimeExceeded");
  });

  it("cancels a running job and every process it started", async () => {
    const env = await setup();
    const submitted = await env.submit({ command: ["/bin/sh", "-c", "sleep 300 & echo $! > child.pid; wait"] });
    await env.waitFor(submitted.id, (j) => j.phase === "RUNNING" && existsSync(join(env.workDir, "child.pid")) && readFileSync(join(env.workDir, "child.pid"), "utf8").trim() !== "");
    const child = Number(readFileSync(join(env.workDir, "child.pid"), "utf8"));
    const cancelled = await env.module.service.cancel(submitted.id);
    expect(cancelled.phase).toBe("CANCELLED");
    expect(alive(child)).toBe(false);
    await env.waitFor(submitted.id, () => env.runs.runs.get(submitted.runId!)!.status === "KILLED");
    expect((await env.module.service.cancel(submitted.id)).phase).toBe("CANCELLED");
  });

  it("pins allocated GPUs, keeps the third job queued with who holds them, and cancels it while queued", async () => {
    const env = await setup({ gpus: 2 });
    const gate = join(env.workDir, "gate");
    const hold = [NODE, "-e", `console.log("[" + process.env.CUDA_VISIBLE_DEVICES + "]"); const t = setInterval(() => { if (require("fs").existsSync(${JSON.stringify(gate)})) clearInterval(t); }, 20)`];
    const a = await env.submit({ name: "gpu-a", command: hold, compute: { gpus: 1, cpus: 1, memory: "64Mi" } });
    const b = await env.submit({ name: "gpu-b", command: hold, compute: { gpus: 1, cpus: 1, memory: "64Mi" } });
    const c = await env.submit({ name: "gpu-c", command: hold, compute: { gpus: 1, cpus: 1, memory: "64Mi" } });
    const [ra, rb] = [await env.waitFor(a.id, (j) => j.phase === "RUNNING"), await env.waitFor(b.id, (j) => j.phase === "RUNNING")];
    expect(new Set([...ra.allocation!.gpus, ...rb.allocation!.gpus])).toEqual(new Set([0, 1]));
    const queued = await env.waitFor(c.id, (j) => j.pending !== undefined);
    expect(queued.phase).toBe("QUEUED");
    expect(env.runs.runs.get(queued.runId!)?.status).toBe("SCHEDULED");
    expect(env.runs.runs.get(ra.runId!)?.status).toBe("RUNNING");
    expect(queued.pending!.resources[0]).toMatchObject({ resource: "gpu", requested: 1, free: 0, total: 2 });
    expect(queued.pending!.resources[0]!.heldBy.map((h) => h.jobId).sort()).toEqual([a.id, b.id].sort());
    const resources = await env.module.service.resources();
    expect(resources.free.gpus).toBe(0);
    expect(resources.gpus.map((g) => g.heldBy?.jobId).sort()).toEqual([a.id, b.id].sort());
    expect((await env.module.service.cancel(c.id)).phase).toBe("CANCELLED");
    writeFileSync(gate, "");
    const [da, db] = [await env.waitFor(a.id, done), await env.waitFor(b.id, done)];
    const logs = [da, db].map((j) => readFileSync(join(env.database.dataDir, "jobs", j.id, "attempt-1.log"), "utf8").trim());
    expect(logs.sort()).toEqual(["[0]", "[1]"]);
  });

  it("never over-allocates under a burst, and starts higher priority first", async () => {
    const env = await setup({ cpus: 2 });
    const dir = join(env.workDir, "running");
    mkdirSync(dir);
    const path = script(
      env,
      "burst.js",
      `const fs = require("fs"), p = require("path"), me = p.join(${JSON.stringify(dir)}, process.env.PAVED_JOB_ID);
       fs.writeFileSync(me, ""); console.log("concurrent=" + fs.readdirSync(${JSON.stringify(dir)}).length);
       setTimeout(() => fs.unlinkSync(me), 100);`,
    );
    const jobs = await Promise.all(Array.from({ length: 12 }, (_, i) => env.submit({ name: `burst-${i}`, command: [NODE, path], priority: i === 11 ? 5 : 0 })));
    const ended = await Promise.all(jobs.map((j) => env.waitFor(j.id, done)));
    expect(ended.every((j) => j.phase === "SUCCEEDED")).toBe(true);
    for (const j of ended) {
      const n = Number(/concurrent=(\d+)/.exec(readFileSync(join(env.database.dataDir, "jobs", j.id, "attempt-1.log"), "utf8"))?.[1]);
      expect(n).toBeLessThanOrEqual(2);
    }
    expect(readdirSync(dir)).toEqual([]);

    // One CPU held by a gate job: the high-priority job submitted last starts before the low one.
    const gate = join(env.workDir, "gate2");
    const blocker = await env.submit({ name: "blocker", command: [NODE, "-e", `const t = setInterval(() => { if (require("fs").existsSync(${JSON.stringify(gate)})) clearInterval(t); }, 20)`], compute: { cpus: 2, memory: 64 } });
    await env.waitFor(blocker.id, (j) => j.phase === "RUNNING");
    const low = await env.submit({ name: "low", command: [NODE, "-e", "setTimeout(() => {}, 200)"], compute: { cpus: 2, memory: 64 } });
    const high = await env.submit({ name: "high", command: [NODE, "-e", "setTimeout(() => {}, 200)"], compute: { cpus: 2, memory: 64 }, priority: 10 });
    const waiting = await env.waitFor(low.id, (j) => j.pending !== undefined);
    expect(waiting.pending!.resources[0]?.heldBy[0]?.jobId).toBe(blocker.id);
    writeFileSync(gate, "");
    const [h, l] = [await env.waitFor(high.id, done), await env.waitFor(low.id, done)];
    expect(l.startedAt!).toBeGreaterThanOrEqual(h.finishedAt!);
  });

  it("rejects impossible requests and bad specs at submit", async () => {
    const env = await setup({ gpus: 2 });
    const code = async (p: Promise<unknown>) => p.then(() => "ok", (e: { code?: string }) => e.code);
    expect(await code(env.submit({ command: ["true"], compute: { gpus: 4 } }))).toBe("INVALID_INPUT");
    await expect(env.submit({ command: ["true"], compute: { gpus: 4 } })).rejects.toThrow(/ask for at most 2/);
    expect(await code(env.submit({ command: ["true"], compute: { gpus: 1, gpuType: "A100" } }))).toBe("INVALID_INPUT");
    expect(await code(env.submit({ command: ["true"], compute: { profile: "gpu-xl" } }))).toBe("INVALID_INPUT");
    expect(await code(env.submit({ command: ["true"], compute: { profile: "cpu", gpus: 1 } }))).toBe("INVALID_INPUT");
    expect(await code(env.submit({ command: ["true"], workingDir: "/nonexistent/dir" }))).toBe("INVALID_INPUT");
    expect(await code(env.submit({ command: ["true"], datasets: [{ name: "d", path: "missing.csv" }] }))).toBe("INVALID_INPUT");
    expect(await code(env.submit({ command: ["true"], env: { MLFLOW_RUN_ID: "x" } }))).toBe("INVALID_INPUT");
    expect(await code(env.submit({ command: [] }))).toBe("INVALID_INPUT");
    expect(await code(env.submit({ command: ["true"], bogus: 1 } as never))).toBe("INVALID_INPUT");
    // A job's token submitting a job is refused by the authorization policy before submit runs
    // (http/authorization.test.ts).
  });

  it("adopts a job still running after a restart, and finishes it", async () => {
    const env = await setup();
    const gate = join(env.workDir, "gate");
    const submitted = await env.submit({ command: [NODE, "-e", `console.log("paved.metric x=1 step=0"); const t = setInterval(() => { if (require("fs").existsSync(${JSON.stringify(gate)})) { clearInterval(t); console.log("paved.metric x=2 step=1"); } }, 20)`] });
    const running = await env.waitFor(submitted.id, (j) => j.phase === "RUNNING");
    await sleep(200);
    await env.module.controller.stop();
    const second = await env.restart();
    writeFileSync(gate, "");
    const job = await env.waitFor(running.id, done);
    expect(job.phase).toBe("SUCCEEDED");
    expect(job.attempt).toBe(1);
    expect(job.events.map((e) => e.type)).toContain("Adopted");
    expect(second).toBe(env.module);
    const run = env.runs.runs.get(job.runId!)!;
    await env.waitFor(job.id, () => run.status === "FINISHED");
    expect(run.metrics.filter((m) => m.key === "x").map((m) => m.value)).toEqual([1, 2]);
  });

  it("retries a job whose process vanished while the server was down, and fails it when no attempts are left", async () => {
    const env = await setup();
    const path = script(env, "flaky.js", `if (process.env.PAVED_ATTEMPT === "1") setInterval(() => {}, 1000); else console.log("second attempt");`);
    const retried = await env.submit({ name: "flaky", command: [NODE, path], retry: { maxAttempts: 2, retryOnExitCodes: [] } });
    const single = await env.submit({ name: "single", command: [NODE, "-e", "setInterval(() => {}, 1000)"] });
    const pids = [];
    for (const s of [retried, single]) {
      await env.waitFor(s.id, (j) => j.phase === "RUNNING");
      const row = await env.database.db.selectFrom("jobs").select("pid").where("job_id", "=", s.id).executeTakeFirstOrThrow();
      pids.push(row.pid!);
    }
    await env.module.controller.stop();
    for (const pid of pids) process.kill(-pid, "SIGKILL");
    await sleep(100);
    await env.restart();
    const [r, s] = [await env.waitFor(retried.id, done), await env.waitFor(single.id, done)];
    expect(r).toMatchObject({ phase: "SUCCEEDED", attempt: 2 });
    expect(s.phase).toBe("FAILED");
    expect(s.message).toContain("vanished");
  });

  it("redoes the upload and the run's end when a crash came right after an attempt ended", async () => {
    const env = await setup();
    const job = await env.waitFor((await env.submit({ command: [NODE, "-e", "console.log('hello from the job')"] })).id, done);
    const run = env.runs.runs.get(job.runId!)!;
    await env.waitFor(job.id, () => run.status === "FINISHED" && run.artifacts.has("logs/attempt-1.log"));
    await env.module.controller.stop();
    // What a crash between the SUCCEEDED transition and the bookkeeping leaves behind (and an
    // artifact store that lost the upload made before the transition).
    run.artifacts.delete("logs/attempt-1.log");
    run.status = "RUNNING";
    await env.database.db.updateTable("jobs").set({ recorded_attempt: 0 }).where("job_id", "=", job.id).execute();
    await env.restart();
    await env.waitFor(job.id, () => run.status === "FINISHED" && run.artifacts.has("logs/attempt-1.log"));
    expect(run.artifacts.get("logs/attempt-1.log")?.toString()).toContain("hello from the job");
    const row = await env.database.db.selectFrom("jobs").select("recorded_attempt").where("job_id", "=", job.id).executeTakeFirstOrThrow();
    expect(row.recorded_attempt).toBe(1);
  });

  it("follows logs until the job ends", async () => {
    const env = await setup();
    const submitted = await env.submit({ command: [NODE, "-e", "let i = 0; const t = setInterval(() => { console.log('tick ' + i); if (++i === 3) clearInterval(t); }, 100)"] });
    let text = "";
    for await (const chunk of env.module.service.logs(submitted.id, { follow: true, signal: AbortSignal.timeout(20_000) })) text += chunk;
    expect(text).toBe("tick 0\ntick 1\ntick 2\n");
    expect((await env.module.service.get(submitted.id)).phase).toBe("SUCCEEDED");
  });
});

function alive(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) [ZX]/.test(readFileSync(`/proc/${pid}/stat`, "utf8"));
  } catch {
    return false;
  }
}
