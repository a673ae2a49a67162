// Issue 8's story on one server with two teams, walked as the people would walk it: a developer of
// team vision trains the quickstart model with a real PyTorch job (`paved apply`), registers it,
// evaluates it and deploys it behind the gate; a viewer of team ads finds none of it by any path
// (ids, searches, artifact paths, `models:/` and `runs:/` URIs, logs, inference), each answer the
// same as for something that does not exist; vision's 1-GPU quota queues the developer's second
// GPU job with the reason (also in `paved jobs describe`); a high-priority job preempts a running
// one, which checkpoints on SIGTERM, is queued again without spending a retry and resumes from its
// checkpoint; a budget past 100% blocks the team's new jobs and deployments, not the other
// team's; and the audit log holds each of those steps with its actor, team and outcome.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import type { LightMyRequestResponse } from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import { deployWithTraffic, evaluate, featureRows, register } from "../scripts/golden-path.ts";
import { createApp, type App } from "../src/app.ts";
import { loadConfig } from "../src/config/index.ts";
import { testDialects, testPostgresUrl } from "./support/databases.ts";
import { createMembers, type AuthHeaders } from "./support/teams.ts";
import { runPaved } from "./support/cli.ts";

const ROOT = new URL("..", import.meta.url).pathname;
const EXAMPLE = join(ROOT, "examples/quickstart");
const CHECKPOINTING_JOB = join(ROOT, "src/modules/compute/test-preemptible-job.py");
const PYTHON = "/usr/bin/python3";
const hasTorch = spawnSync(PYTHON, ["-c", "import torch, sklearn"], { stdio: "ignore" }).status === 0;
const MODEL = "tumour-classifier";

type Method = "GET" | "POST" | "PUT" | "DELETE";
type Event = { time: number; type: string; message: string };
type AuditRecord = { action: string; actor: { name: string | null; jobId: string | null }; team: string | null; target: { kind: string; id: string } | null; outcome: { status: number; errorCode: string | null } };

async function until<T>(what: string, read: () => Promise<T>, done: (value: T) => boolean, tries = 2400): Promise<T> {
  let last: T | undefined;
  for (let i = 0; i < tries; i++) {
    last = await read();
    if (done(last)) return last;
    await sleep(50);
  }
  throw new Error(`${what} never happened; last seen: ${JSON.stringify(last)?.slice(0, 2000)}`);
}

describe.skipIf(!hasTorch).each(testDialects())("two teams on one server, issue 8's story (%s)", (dialect) => {
  let app: App;
  let url: string;
  let admin: AuthHeaders;
  let people: Record<"dana" | "vera" | "bob", AuthHeaders>;
  const dir = mkdtempSync(join(tmpdir(), "paved-teams-story-"));
  /** What the story made, for the steps after. */
  const made = { runId: "", experimentId: "", trainJobId: "", version: "", deploymentId: "", checkpointJobId: "", checkpointRunId: "", urgentJobId: "", secondJobId: "" };

  const call = (who: AuthHeaders, method: Method, path: string, payload?: unknown) =>
    app.server.inject({ method, url: path, headers: who, ...(payload !== undefined ? { payload: payload as object } : {}) });
  const ok = async (res: Promise<LightMyRequestResponse>) => {
    const done = await res;
    expect(done.statusCode, done.body).toBe(200);
    return done.json();
  };
  const job = (id: string) => ok(call(people.dana, "GET", `/api/v1/jobs/${id}`));
  const token = (who: AuthHeaders) => who.authorization.slice("Bearer ".length);

  const paved = (args: string[], who: AuthHeaders) => runPaved(args, { url, token: token(who), dir });

  /** A GPU job of dana's running the checkpointing PyTorch program for `epochs` epochs. */
  const gpuJob = (name: string, priority: string, epochs: number) => ({
    name,
    workingDir: dir,
    command: [PYTHON, CHECKPOINTING_JOB, "--epochs", String(epochs), "--epoch-seconds", "0.15"],
    compute: { gpus: 1, cpus: 0.5, memory: 256 },
    priority,
    retry: { maxAttempts: 1 },
  });
  /** The epochs of a run's `attempt` metric, with the attempt that ran each. */
  async function epochs(runId: string): Promise<{ step: number; attempt: number }[]> {
    const history = await ok(call(people.dana, "GET", `/api/2.0/mlflow/metrics/get-history?run_id=${runId}&metric_key=attempt`));
    return ((history.metrics ?? []) as { step: number; value: number }[]).map((m) => ({ step: Number(m.step), attempt: m.value })).sort((a, b) => a.step - b.step);
  }

  beforeAll(async () => {
    const databaseUrl = dialect === "postgres" ? await testPostgresUrl() : undefined;
    app = await createApp(
      loadConfig({
        env: {},
        overrides: {
          dataDir: join(dir, "data"),
          logLevel: "silent",
          host: "127.0.0.1",
          port: 0,
          ...(databaseUrl ? { databaseUrl } : {}),
          compute: { gpus: [{ index: 0, name: "NVIDIA H100" }, { index: 1, name: "NVIDIA H100" }], cpus: 4, memoryMiB: 8192, preemption: { enabled: true, graceSeconds: 60 } },
          guardrails: { budgets: { intervalSeconds: 0.1 } },
          // Run-tracking writes are summarised; written each second here, so the last step finds them.
          audit: { summarySeconds: 1 },
        },
      }),
      { env: { PATH: process.env.PATH } },
    );
    url = await app.listen();
    admin = { authorization: `Bearer ${app.generatedAdminToken}` };
    people = await createMembers(app, admin, ["vision", "ads"], {
      dana: [{ team: "vision", role: "developer" }],
      vera: [{ team: "ads", role: "viewer" }],
      bob: [{ team: "ads", role: "developer" }],
    });
  }, 120_000);
  afterAll(async () => app?.close());

  it("a developer of team vision trains the quickstart model, registers, evaluates and deploys it", async () => {
    const spec = parse(readFileSync(join(EXAMPLE, "job.yaml"), "utf8")) as Record<string, unknown>;
    writeFileSync(join(dir, "train.yaml"), stringify({ ...spec, workingDir: EXAMPLE }));
    const applied = await paved(["apply", "-f", "train.yaml", "--json"], people.dana);
    expect(applied.code, applied.stderr).toBe(0);
    const submitted = JSON.parse(applied.stdout) as { id: string; team: string; runId: string };
    expect(submitted.team).toBe("vision");
    const trained = await until("the training job's end", () => job(submitted.id), (j) => ["SUCCEEDED", "FAILED", "CANCELLED"].includes(j.phase));
    expect(trained.phase, trained.message).toBe("SUCCEEDED");
    made.trainJobId = submitted.id;
    made.runId = trained.runId;
    const run = (await ok(call(people.dana, "GET", `/api/2.0/mlflow/runs/get?run_id=${made.runId}`))).run;
    made.experimentId = run.info.experiment_id;
    expect(run.info.user_id).toBe("dana");

    const client = { url, token: token(people.dana) };
    made.version = await register(client, MODEL, made.runId);
    const evaluation = await evaluate(client, MODEL, made.version, made.runId, join(dir, "csv"));
    expect(evaluation.passed, JSON.stringify(evaluation.checks.filter((c) => !c.passed))).toBe(true);
    const rows = featureRows(readFileSync(join(dir, "csv", made.runId, "eval.csv"), "utf8"));
    const { deployment, traffic } = await deployWithTraffic(client, MODEL, made.version, rows);
    expect(deployment.status.phase, JSON.stringify(deployment.status.history)).toBe("Succeeded");
    expect(traffic.failed).toBe(0);
    expect(traffic.byVersion[made.version]).toBeGreaterThan(0);
    made.deploymentId = deployment.id;
    expect((await ok(call(people.dana, "GET", `/api/v1/models/${MODEL}`))).aliases.production).toBe(made.version);
  }, 300_000);

  it("a viewer of team ads finds none of vision's runs by any path, each answer the same as for nothing", async () => {
    const { runId, experimentId } = made;
    const missingRun = "0123456789abcdef0123456789abcdef";
    const missingExperiment = "987654321";
    // Each path twice: to vision's run, and to one that does not exist. The answers must match.
    const probes: [string, Method, (run: string, experiment: string) => string, unknown?][] = [
      ["run by id", "GET", (r) => `/api/2.0/mlflow/runs/get?run_id=${r}`],
      ["metric history", "GET", (r) => `/api/2.0/mlflow/metrics/get-history?run_id=${r}&metric_key=val_accuracy`],
      ["artifact list", "GET", (r) => `/api/2.0/mlflow/artifacts/list?run_id=${r}`],
      ["artifact by path (MLflow proxy)", "GET", (r, e) => `/api/2.0/mlflow-artifacts/artifacts/${e}/${r}/artifacts/outputs/eval.csv`],
      ["artifact content", "GET", (r) => `/api/v1/runs/${r}/artifacts/content?path=outputs/eval.csv`],
      ["experiment by id", "GET", (_r, e) => `/api/2.0/mlflow/experiments/get?experiment_id=${e}`],
      ["run search in the experiment", "POST", () => "/api/2.0/mlflow/runs/search", (_r: string, e: string) => ({ experiment_ids: [e] })],
    ];
    for (const [what, method, path, body] of probes) {
      const payload = (r: string, e: string) => (typeof body === "function" ? (body as (r: string, e: string) => unknown)(r, e) : body);
      const theirs = await call(people.vera, method, path(runId, experimentId), payload(runId, experimentId));
      const nothing = await call(people.vera, method, path(missingRun, missingExperiment), payload(missingRun, missingExperiment));
      const scrub = (text: string) => text.replaceAll(runId, "<run>").replaceAll(missingRun, "<run>").replaceAll(experimentId, "<exp>").replaceAll(missingExperiment, "<exp>");
      expect({ what, status: theirs.statusCode }).toEqual({ what, status: nothing.statusCode });
      if (theirs.statusCode === 200) expect({ what, body: theirs.json() }).toEqual({ what, body: {} });
      expect({ what, body: scrub(theirs.body) }).toEqual({ what, body: scrub(nothing.body) });
    }
    // Searches and lists leave it out.
    const experiments = await ok(call(people.vera, "POST", "/api/2.0/mlflow/experiments/search", { max_results: 1000 }));
    expect((experiments.experiments ?? []).map((e: { experiment_id: string }) => e.experiment_id)).not.toContain(experimentId);
    const models = await ok(call(people.vera, "GET", "/api/2.0/mlflow/registered-models/search"));
    expect(JSON.stringify(models)).not.toContain(MODEL);
    expect(JSON.stringify(await ok(call(people.vera, "GET", "/api/v1/jobs")))).not.toContain(made.trainJobId);
    expect(JSON.stringify(await ok(call(people.vera, "GET", "/api/v1/deployments")))).not.toContain(made.deploymentId);
    expect(JSON.stringify(await ok(call(people.vera, "GET", "/api/v1/experiments")))).not.toContain(made.experimentId);
    expect(JSON.stringify(await ok(call(people.vera, "GET", "/api/v1/runs")))).not.toContain(made.runId);
    // Through the model: by name, its version's download URI, its job and logs, its deployment, inference.
    for (const path of [
      `/api/v1/models/${MODEL}`,
      `/api/2.0/mlflow/registered-models/get?name=${MODEL}`,
      `/api/2.0/mlflow/model-versions/get-download-uri?name=${MODEL}&version=${made.version}`,
      `/api/v1/jobs/${made.trainJobId}`,
      `/api/v1/jobs/${made.trainJobId}/logs`,
      `/api/v1/deployments/${made.deploymentId}`,
      // The web UI's routes: a deployment's serving figures, an experiment's column keys.
      `/api/v1/deployments/${made.deploymentId}/serving`,
      `/api/v1/experiments/${made.experimentId}/keys`,
    ]) {
      const res = await call(people.vera, "GET", path);
      expect({ path, status: res.statusCode }).toEqual({ path, status: 404 });
      expect(res.body).not.toContain(made.runId);
    }
    const infer = await call(people.vera, "POST", `/v2/models/${MODEL}/infer`, { inputs: [{ name: "input", shape: [1, 30], datatype: "FP32", data: Array(30).fill(0) }] });
    expect(infer.statusCode).toBe(404);
    // A developer of ads cannot reach it by URI either: registering vision's run or model as a version of their own.
    for (const source of [`runs:/${made.runId}/outputs`, `models:/${MODEL}/${made.version}`]) {
      const res = await call(people.bob, "POST", "/api/v1/models/ads-copy/versions", { source });
      expect({ source, status: res.statusCode }).toEqual({ source, status: 404 });
      expect(res.body).not.toContain("vision");
    }
  }, 60_000);

  it("vision's 1-GPU quota queues the developer's second GPU job with the reason, and a high-priority job preempts a running one, which resumes from its checkpoint", async () => {
    await ok(call(admin, "PUT", "/api/v1/teams/vision/quotas", { gpus: 1 }));
    const first = await ok(call(people.dana, "POST", "/api/v1/jobs", gpuJob("train-checkpointed", "normal", 40)));
    made.checkpointJobId = first.id;
    made.checkpointRunId = first.runId;
    await until("the checkpointed job's third epoch", () => epochs(first.runId), (e) => e.length >= 3);

    // The machine has a second GPU; the team's quota holds the second job back, and says so.
    const second = await ok(call(people.dana, "POST", "/api/v1/jobs", { ...gpuJob("train-second", "normal", 3), command: ["sleep", "300"] }));
    made.secondJobId = second.id;
    const waiting = await until("the second job's reason", () => job(second.id), (j) => j.pending?.quota !== undefined, 400);
    expect(waiting.phase).toBe("QUEUED");
    expect(waiting.pending.quota).toMatchObject({ team: "vision", resource: "gpus", limit: 1, used: 1, requested: 1, by: [{ jobId: first.id }], fix: "paved quotas set vision --gpus 2" });
    const described = await paved(["jobs", "describe", second.id], people.dana);
    expect(described.code, described.stderr).toBe(0);
    expect(described.stdout).toContain("paved quotas set vision --gpus 2");
    expect(described.stdout).toContain(first.id);
    expect((await ok(call(people.dana, "POST", `/api/v1/jobs/${second.id}/cancel`, {}))).phase).toMatch(/CANCELL/);

    // A high-priority job of the team: within the quota, it takes the GPU from the running one.
    const urgent = await ok(call(people.dana, "POST", "/api/v1/jobs", gpuJob("train-urgent", "high", 3)));
    made.urgentJobId = urgent.id;
    const urgentDone = await until("the urgent job's end", () => job(urgent.id), (j) => ["SUCCEEDED", "FAILED"].includes(j.phase));
    expect(urgentDone.phase).toBe("SUCCEEDED");
    const resumed = await until("the checkpointed job's end", () => job(first.id), (j) => ["SUCCEEDED", "FAILED", "CANCELLED"].includes(j.phase));
    expect(resumed.phase, JSON.stringify(resumed.events)).toBe("SUCCEEDED");
    // Two attempts with retry.maxAttempts 1: the preemption spent none of its retries.
    expect(resumed.attempt).toBe(2);
    const preempted = (resumed.events as Event[]).find((e) => e.type === "Preempted")!;
    expect(preempted.message).toContain(`job ${urgent.id}`);
    expect(preempted.message).toContain("queued again as attempt 2");
    // Every epoch ran once: the first attempt up to its checkpoint, the second from there.
    const ran = await epochs(first.runId);
    expect(ran.map((e) => e.step)).toEqual(Array.from({ length: 40 }, (_, i) => i));
    const last = Math.max(...ran.filter((e) => e.attempt === 1).map((e) => e.step));
    expect(ran.filter((e) => e.step > last).every((e) => e.attempt === 2)).toBe(true);
    const log = async (attempt: number) => (await call(people.dana, "GET", `/api/v1/jobs/${first.id}/logs?attempt=${attempt}`)).body;
    expect(await log(1)).toContain(`SIGTERM received; checkpointed epoch ${last}`);
    expect(await log(2)).toContain(`resumed from the checkpoint of epoch ${last}`);
  }, 180_000);

  it("a budget past 100% blocks vision's new jobs and deployments with the budget named, and not ads' work", async () => {
    // What vision spent so far (GPU-seconds at the built-in prices) is far past this amount.
    await ok(call(admin, "PUT", "/api/v1/budgets/vision", { amount: 0.0001, thresholds: [{ at: 100, action: "block" }] }));
    await until("the budget blocking", () => ok(call(people.dana, "GET", "/api/v1/budgets/vision")), (b) => b.blocked, 400);
    const refused = await call(people.dana, "POST", "/api/v1/jobs", { name: "one-more", workingDir: dir, command: ["true"], compute: { profile: "cpu" } });
    expect(refused.statusCode).toBe(429);
    expect(refused.json().error).toMatchObject({ code: "QUOTA_EXCEEDED", details: { budget: "vision", threshold: { at: 100, action: "block" } } });
    expect(refused.json().error.message).toMatch(/budget/);
    const deploy = await call(people.dana, "POST", "/api/v1/deployments", { model: MODEL, version: made.version, environment: "staging", strategy: "replace" });
    expect(deploy.statusCode).toBe(429);
    expect(deploy.json().error.details.budget).toBe("vision");
    expect((await call(people.bob, "POST", "/api/v1/jobs", { name: "ads-job", workingDir: dir, command: ["true"], compute: { profile: "cpu" } })).statusCode).toBe(200);
  }, 60_000);

  it("the audit log holds each step, with its actor, team and outcome, and no token", async () => {
    const jobWrote = (r: AuditRecord) => r.team === "vision" && r.actor.jobId === made.trainJobId && r.action === "runs:write";
    // The exported log, once the summaries of run-tracking writes (written each second here) are in.
    const { body, records } = await until(
      "the run-tracking summaries written",
      async () => {
        const exported = await call(admin, "GET", "/api/v1/audit/export");
        expect(exported.statusCode).toBe(200);
        return { body: exported.body, records: exported.body.trimEnd().split("\n").map((l) => JSON.parse(l) as AuditRecord) };
      },
      (e) => e.records.some(jobWrote),
      100,
    );
    for (const who of [admin, people.dana, people.vera, people.bob]) expect(body).not.toContain(token(who));
    const has = (what: string, match: (r: AuditRecord) => boolean) => expect(records.some(match), `${what} is in the audit log`).toBe(true);
    const by = (actor: string, action: string, status: number, team: string | null = "vision") => (r: AuditRecord) =>
      r.actor.name === actor && r.action === action && r.outcome.status === status && r.team === team;
    has("the teams and members made", (r) => r.actor.name === "admin" && r.action === "teams:create" && r.outcome.status === 200);
    has("the training job submitted", (r) => by("dana", "jobs:create", 200)(r) && r.target?.id !== undefined);
    has("the model version registered", by("dana", "models:write", 200));
    has("the evaluation", by("dana", "evaluations:create", 200));
    has("the deployment of the model", (r) => by("dana", "deployments:write", 200)(r) && r.target?.kind === "model" && r.target.id === MODEL);
    has("the quota set", by("admin", "quotas:write", 200));
    has("the second job cancelled", (r) => by("dana", "jobs:write", 200)(r) && r.target?.id === made.secondJobId);
    has("the budget set", by("admin", "budgets:write", 200));
    has("the job the budget refused", (r) => by("dana", "jobs:create", 429)(r) && r.outcome.errorCode === "QUOTA_EXCEEDED");
    has("the deployment the budget refused", (r) => by("dana", "deployments:write", 429)(r) && r.outcome.errorCode === "QUOTA_EXCEEDED");
    has("ads' developer reaching for vision's run by URI", (r) => r.actor.name === "bob" && r.action === "models:write" && r.outcome.status === 404);
    // The job wrote its run through its own token: recorded as the job, for dana's team.
    has("the training job's own tracking writes, summarised", jobWrote);
    // Filtered as `paved audit --actor dana` would.
    const danas = await ok(call(admin, "GET", "/api/v1/audit?actor=dana&limit=1000"));
    expect(danas.records.length).toBeGreaterThan(0);
    expect(danas.records.every((r: AuditRecord) => r.actor.name === "dana")).toBe(true);
    // Only a platform admin reads it.
    expect((await call(people.dana, "GET", "/api/v1/audit")).statusCode).toBe(403);
  });
});
