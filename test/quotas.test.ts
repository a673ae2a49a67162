import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createApp, type App } from "../src/app.ts";
import { loadConfig } from "../src/config/index.ts";
import { buildTestModels } from "../src/modules/serving/test-models.ts";
import { testDialects, testPostgresUrl } from "./support/databases.ts";

type Who = { authorization: string };
type Method = "GET" | "POST" | "PUT";

/**
 * Issue 8, item 4, on one server with two teams and two GPUs: a platform admin sets quotas that
 * members read; a team at its 1-GPU quota has its developer's second GPU job queued with the
 * reason (the quota, the job using it, the fix) while the machine has room for another team's; a
 * raised quota starts it at once. Serving replicas and artifact storage draw from the same
 * ledger: a deployment past the team's replicas and an upload past its storage are QUOTA_EXCEEDED.
 */
describe.each(testDialects())("team quotas on one server (%s)", (dialect) => {
  let app: App;
  let admin: Who;
  let ada: Who;
  let vic: Who;
  let bob: Who;
  const workingDir = mkdtempSync(join(tmpdir(), "paved-quotas-work-"));
  const call = (who: Who, method: Method, url: string, payload?: unknown, headers: Record<string, string> = {}) =>
    app.server.inject({ method, url, headers: { ...who, ...headers }, ...(payload !== undefined ? { payload: payload as object } : {}) });
  async function poll<T>(what: string, read: () => Promise<T>, done: (value: T) => boolean): Promise<T> {
    for (let i = 0; i < 800; i++) {
      const value = await read();
      if (done(value)) return value;
      await sleep(25);
    }
    throw new Error(`${what} never happened`);
  }
  const job = async (id: string) => (await call(admin, "GET", `/api/v1/jobs/${id}`)).json();
  const gpuJob = (who: Who, name: string) => call(who, "POST", "/api/v1/jobs", { name, workingDir, command: ["sleep", "300"], compute: { gpus: 1, cpus: 0.5, memory: 64 } });
  type Line = { resource: string; gpuType?: string; limit: number | null; used: number; source: string; by: { id: string }[] };
  const line = (view: { lines: Line[] }, resource: string) => view.lines.find((l) => l.resource === resource && l.gpuType === undefined)!;

  async function member(name: string, team: string, role: string): Promise<Who> {
    const user = await call(admin, "POST", "/api/v1/users", { name, teams: [{ team, role }] });
    expect(user.statusCode, user.body).toBe(200);
    const { token } = await app.tokens.createPersonal({ userId: user.json().id, name: `${name}-laptop` });
    return { authorization: `Bearer ${token}` };
  }

  beforeAll(async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "paved-quotas-"));
    const databaseUrl = dialect === "postgres" ? await testPostgresUrl() : undefined;
    app = await createApp(
      loadConfig({
        env: {},
        overrides: {
          dataDir,
          ...(databaseUrl ? { databaseUrl } : {}),
          logLevel: "silent",
          compute: { gpus: [{ index: 0, name: "NVIDIA H100" }, { index: 1, name: "NVIDIA H100" }], cpus: 8, memoryMiB: 8192, python: "/nonexistent/python3" },
          host: "127.0.0.1",
          port: 0,
        },
      }),
    );
    await app.listen();
    admin = { authorization: `Bearer ${app.generatedAdminToken}` };
    for (const name of ["risk", "fraud"]) expect((await call(admin, "POST", "/api/v1/teams", { name })).statusCode).toBe(200);
    ada = await member("ada", "risk", "developer");
    vic = await member("vic", "risk", "viewer");
    bob = await member("bob", "fraud", "developer");
  }, 120_000);
  afterAll(async () => app?.close());

  it("only a platform admin sets a quota; members read it; another team's answers as a missing team", async () => {
    const set = await call(admin, "PUT", "/api/v1/teams/risk/quotas", { gpus: 1, storageBytes: "1Ki" });
    expect(set.statusCode, set.body).toBe(200);
    expect(set.json().settings).toEqual({ gpus: 1, storageBytes: 1024 });
    expect(line(set.json(), "gpus")).toMatchObject({ limit: 1, source: "team", used: 0 });
    expect(line(set.json(), "cpus")).toMatchObject({ limit: null, source: "none" });

    const refused = await call(ada, "PUT", "/api/v1/teams/risk/quotas", { gpus: 8 });
    expect(refused.statusCode).toBe(403);
    expect(refused.json().error.code).toBe("FORBIDDEN");
    expect((await call(vic, "GET", "/api/v1/teams/risk/quotas")).statusCode).toBe(200);
    const hidden = await call(bob, "GET", "/api/v1/teams/risk/quotas");
    const missing = await call(bob, "GET", "/api/v1/teams/no-such-team/quotas");
    expect(hidden.statusCode).toBe(404);
    expect(hidden.body.replaceAll("risk", "<t>")).toBe(missing.body.replaceAll("no-such-team", "<t>"));
    // The list shows each member their own teams only.
    expect((await call(bob, "GET", "/api/v1/quotas")).json().teams.map((t: { team: string }) => t.team)).toEqual(["fraud"]);
    expect((await call(admin, "GET", "/api/v1/quotas")).json().teams.map((t: { team: string }) => t.team)).toEqual(["default", "fraud", "risk"]);
    expect((await call(admin, "PUT", "/api/v1/teams/risk/quotas", { gpus: -1 })).statusCode).toBe(400);
  });

  it("queues a developer's second GPU job at the team's 1-GPU quota with the reason, and starts it when the quota is raised", async () => {
    const first = (await gpuJob(ada, "train-a")).json();
    await poll("the first job running", () => job(first.id), (j) => j.phase === "RUNNING");
    const second = (await gpuJob(ada, "train-b")).json();
    // The machine's other GPU is free: another team's job takes it, the quota alone holds train-b.
    const theirs = (await gpuJob(bob, "fraud-train")).json();
    await poll("fraud's job running", () => job(theirs.id), (j) => j.phase === "RUNNING");
    const waiting = await poll("the second job's reason", () => call(vic, "GET", `/api/v1/jobs/${second.id}`).then((r) => r.json()), (j) => j.pending?.quota !== undefined);
    expect(waiting.phase).toBe("QUEUED");
    expect(waiting.pending.quota).toEqual({
      team: "risk",
      resource: "gpus",
      limit: 1,
      used: 1,
      requested: 1,
      by: [{ jobId: first.id, name: "train-a", team: "risk", amount: 1 }],
      fix: "paved quotas set risk --gpus 2",
    });
    expect(waiting.pending.reason).toBe(
      `team risk uses 1 of its 1 GPU (job ${first.id} (train-a): 1), and this job needs 1 more; wait for that job to end, or ask a platform admin to raise the quota: paved quotas set risk --gpus 2`,
    );
    // The ledger says what uses the quota, by what.
    const usage = (await call(vic, "GET", "/api/v1/teams/risk/quotas")).json();
    expect(line(usage, "gpus")).toMatchObject({ limit: 1, used: 1, by: [{ id: first.id }] });

    expect((await call(admin, "PUT", "/api/v1/teams/risk/quotas", { gpus: 2, storageBytes: "1Ki" })).statusCode).toBe(200);
    // Both GPUs are held now (train-a, fraud-train): raised, the quota no longer holds it, the machine does.
    const machine = await poll("the second job's new reason", () => job(second.id), (j) => j.pending?.quota === undefined);
    expect(machine.pending.resources[0]).toMatchObject({ resource: "gpu", free: 0 });
    await call(bob, "POST", `/api/v1/jobs/${theirs.id}/cancel`, {});
    await poll("the second job running", () => job(second.id), (j) => j.phase === "RUNNING");
    for (const id of [first.id, second.id]) await call(ada, "POST", `/api/v1/jobs/${id}/cancel`, {});
  }, 60_000);

  it("refuses artifact uploads and evaluation data past the team's storage quota with QUOTA_EXCEEDED", async () => {
    // A team of its own, whose runs hold nothing but what this test uploads.
    expect((await call(admin, "POST", "/api/v1/teams", { name: "lab" })).statusCode).toBe(200);
    const lena = await member("lena", "lab", "developer");
    expect((await call(admin, "PUT", "/api/v1/teams/lab/quotas", { storageBytes: "1Ki" })).statusCode).toBe(200);
    const experiment = (await call(lena, "POST", "/api/2.0/mlflow/experiments/create", { name: "lab-storage" })).json();
    const run = (await call(lena, "POST", "/api/2.0/mlflow/runs/create", { experiment_id: experiment.experiment_id, start_time: 1 })).json().run.info;
    const put = (path: string, bytes: number) =>
      app.server.inject({
        method: "PUT",
        url: `/api/2.0/mlflow-artifacts/artifacts/${experiment.experiment_id}/${run.run_id}/artifacts/${path}`,
        headers: { ...lena, "content-type": "application/octet-stream" },
        payload: Buffer.alloc(bytes, 1),
      });
    const first = await put("a.bin", 1000);
    expect(first.statusCode, first.body).toBe(200);
    // 1000 of 1024 bytes used: 100 more would pass the quota.
    const over = await put("b.bin", 100);
    expect(over.statusCode, over.body).toBe(429);
    expect(over.json().error_code).toBe("RESOURCE_EXHAUSTED");
    expect(over.json().message).toMatch(/paved quotas set lab --storage/);
    const fits = await put("c.bin", 24);
    expect(fits.statusCode, fits.body).toBe(200);
    // At the quota: an evaluation upload of the team is refused too; another team's is not.
    const csv = (who: Who, team: string) => app.server.inject({ method: "POST", url: `/api/v1/evaluation-data?team=${team}`, headers: { ...who, "content-type": "text/csv" }, payload: "a,label\n1,0\n" });
    const upload = await csv(lena, "lab");
    expect(upload.statusCode, upload.body).toBe(429);
    expect(upload.json().error.code).toBe("QUOTA_EXCEEDED");
    expect((await csv(bob, "fraud")).statusCode).toBe(200);
    const usage = (await call(lena, "GET", "/api/v1/teams/lab/quotas")).json();
    expect(line(usage, "storageBytes")).toMatchObject({ limit: 1024, used: 1024, by: [{ id: "runArtifacts" }] });
  });

  it("draws serving replicas from the team's quota: a deployment past it is QUOTA_EXCEEDED", async () => {
    expect((await call(admin, "PUT", "/api/v1/teams/fraud/quotas", { servingReplicas: 1 })).statusCode).toBe(200);
    const experiment = (await call(bob, "POST", "/api/2.0/mlflow/experiments/create", { name: "fraud-models" })).json();
    const run = (await call(bob, "POST", "/api/2.0/mlflow/runs/create", { experiment_id: experiment.experiment_id, start_time: 1 })).json().run.info;
    const onnx = readFileSync(join(buildTestModels().dir, "tiny.onnx"));
    const put = await app.server.inject({
      method: "PUT",
      url: `/api/2.0/mlflow-artifacts/artifacts/${experiment.experiment_id}/${run.run_id}/artifacts/model/model.onnx`,
      headers: { ...bob, "content-type": "application/octet-stream" },
      payload: onnx,
    });
    expect(put.statusCode, put.body).toBe(200);
    expect((await call(bob, "POST", "/api/v1/models/fraud-scorer/versions", { source: `runs:/${run.run_id}/model` })).statusCode).toBe(200);
    const deployed = await call(bob, "POST", "/api/v1/deployments", { model: "fraud-scorer", version: "1", environment: "staging", strategy: "replace" });
    expect(deployed.statusCode, deployed.body).toBe(200);
    await poll("the rollout", async () => (await call(bob, "GET", `/api/v1/deployments/${deployed.json().id}`)).json(), (d) => d.status.phase === "Succeeded");
    const usage = (await call(bob, "GET", "/api/v1/teams/fraud/quotas")).json();
    expect(line(usage, "servingReplicas")).toMatchObject({ limit: 1, used: 1, by: [{ id: "fraud-scorer@1/staging" }] });
    const over = await call(bob, "POST", "/api/v1/deployments", { model: "fraud-scorer", version: "1", environment: "dev", strategy: "replace" });
    expect(over.statusCode, over.body).toBe(429);
    expect(over.json().error).toMatchObject({ code: "QUOTA_EXCEEDED", details: { team: "fraud", resource: "servingReplicas", limit: 1, used: 1, requested: 1 } });
    expect(over.json().error.message).toMatch(/paved quotas set fraud --serving-replicas 2/);
  }, 60_000);
});
