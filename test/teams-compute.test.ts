import { mkdtempSync } from "node:fs";
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

const CSV = ["f0,f1,f2,f3,label", "0.1,0.2,0.3,0.4,1", "-0.5,0.1,0.9,-0.3,0", "0.7,-0.7,0.2,0.1,1"].join("\n");
const INFER = { inputs: [{ name: "input", shape: [1, 4], datatype: "FP32", data: [0.1, -0.2, 0.3, 0.4] }] };
const STAGING = "/environments/staging";

/**
 * Issue 8, item 3 for compute, evaluation, deployments and serving: two teams on one server. A
 * developer of team A trains, evaluates and deploys; team B finds none of it by any path (each
 * answer the same as for something that does not exist); a viewer of A reads it all and changes
 * nothing.
 */
describe.each(testDialects())("two teams on one server: jobs, evaluations, deployments, serving (%s)", (dialect) => {
  let app: App;
  let admin: Who;
  /** Developer of team-a. */
  let alice: Who;
  /** Viewer of team-a. */
  let vic: Who;
  /** Viewer of team-b. */
  let bob: Who;
  /** Developer of team-b. */
  let carol: Who;
  const workingDir = mkdtempSync(join(tmpdir(), "paved-teams-work-"));

  const call = (who: Who, method: Method, url: string, payload?: unknown, headers: Record<string, string> = {}) =>
    app.server.inject({ method, url, headers: { ...who, ...headers }, ...(payload !== undefined ? { payload: payload as object } : {}) });
  const upload = (who: Who, query: string, body: string) => app.server.inject({ method: "POST", url: `/api/v1/evaluation-data${query}`, headers: { ...who, "content-type": "text/csv" }, payload: body });
  /** Two answers are the same 404 but for the names in them. */
  const same = (a: { statusCode: number; body: string }, aName: string, b: { statusCode: number; body: string }, bName: string) => {
    expect(a.statusCode, a.body).toBe(404);
    expect(b.statusCode, b.body).toBe(404);
    expect(a.body.replaceAll(aName, "<name>")).toBe(b.body.replaceAll(bName, "<name>"));
  };
  async function poll<T>(what: string, read: () => Promise<T>, done: (value: T) => boolean): Promise<T> {
    for (let i = 0; i < 600; i++) {
      const value = await read();
      if (done(value)) return value;
      await sleep(25);
    }
    throw new Error(`${what} never happened`);
  }

  async function member(name: string, teams: { team: string; role: string }[]): Promise<Who> {
    const user = await call(admin, "POST", "/api/v1/users", { name, teams });
    expect(user.statusCode, user.body).toBe(200);
    const { token } = await app.tokens.createPersonal({ userId: user.json().id, name: `${name}-laptop` });
    return { authorization: `Bearer ${token}` };
  }

  beforeAll(async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "paved-teams-"));
    const databaseUrl = dialect === "postgres" ? await testPostgresUrl() : undefined;
    app = await createApp(
      loadConfig({ env: {}, overrides: { dataDir, ...(databaseUrl ? { databaseUrl } : {}), logLevel: "silent", compute: { gpus: [], python: "/nonexistent/python3" }, host: "127.0.0.1", port: 0 } }),
    );
    await app.listen();
    admin = { authorization: `Bearer ${app.generatedAdminToken}` };
    for (const name of ["team-a", "team-b"]) expect((await call(admin, "POST", "/api/v1/teams", { name })).statusCode).toBe(200);
    alice = await member("alice", [{ team: "team-a", role: "developer" }]);
    vic = await member("vic", [{ team: "team-a", role: "viewer" }]);
    bob = await member("bob", [{ team: "team-b", role: "viewer" }]);
    carol = await member("carol", [{ team: "team-b", role: "developer" }]);
  }, 120_000);
  afterAll(async () => app?.close());

  it("keeps team A's job, evaluation, deployment and endpoint from team B, and lets A's viewer read but not change them", async () => {
    // ---- team A's developer trains, registers, evaluates and deploys ----
    const model = join(buildTestModels().dir, "tiny.onnx");
    const copy = `require("fs").copyFileSync(${JSON.stringify(model)}, require("path").join(process.env.PAVED_OUTPUT_DIR, "model.onnx"))`;
    const submitted = await call(alice, "POST", "/api/v1/jobs", { name: "train-churn", workingDir, command: [process.execPath, "-e", copy], compute: { cpus: 0.5, memory: 64 } });
    expect(submitted.statusCode, submitted.body).toBe(200);
    const job = submitted.json();
    expect(job.team).toBe("team-a");
    expect((await poll("the job's end", async () => (await call(alice, "GET", `/api/v1/jobs/${job.id}`)).json(), (j) => j.phase === "SUCCEEDED" || j.phase === "FAILED")).phase).toBe("SUCCEEDED");
    await poll(
      "the job's outputs on its run",
      async () => (await call(alice, "GET", `/api/2.0/mlflow/artifacts/list?run_id=${job.runId}&path=outputs`)).json(),
      (list) => (list.files ?? []).some((f: { path: string }) => f.path === "outputs/model.onnx"),
    );
    const registered = await call(alice, "POST", "/api/v1/models/churn-a/versions", { source: `runs:/${job.runId}/outputs` });
    expect(registered.statusCode, registered.body).toBe(200);
    // A platform admin sets a gate policy the tiny model can be judged by (setting it needs a maintainer).
    expect((await call(admin, "PUT", "/api/v1/models/churn-a/gate-policy", { yaml: "checks:\n  - {type: performance, p99Ms: 60000}\n" })).statusCode).toBe(200);
    const data = await upload(alice, "?model=churn-a", CSV);
    expect(data.statusCode, data.body).toBe(200);
    expect(data.json().team).toBe("team-a");
    const accepted = await call(alice, "POST", "/api/v1/models/churn-a/versions/1/evaluations", { data: data.json().uri });
    expect(accepted.statusCode, accepted.body).toBe(200);
    const evaluation = await poll("the evaluation's end", async () => (await call(alice, "GET", `/api/v1/evaluations/${accepted.json().id}`)).json(), (e) => e.phase !== "Pending" && e.phase !== "Running");
    expect(evaluation).toMatchObject({ team: "team-a", phase: "Passed" });
    const deployed = await call(alice, "POST", "/api/v1/deployments", { model: "churn-a", version: "1", environment: "staging", strategy: "replace" });
    expect(deployed.statusCode, deployed.body).toBe(200);
    const deployment = deployed.json();
    expect(deployment.team).toBe("team-a");
    await poll("the rollout", async () => (await call(alice, "GET", `/api/v1/deployments/${deployment.id}`)).json(), (d) => d.status.phase === "Succeeded");
    expect((await call(alice, "POST", `${STAGING}/v2/models/churn-a/infer`, INFER)).statusCode).toBe(200);
    expect((await call(alice, "GET", "/api/v1/serving/models")).json().models).toEqual([expect.objectContaining({ name: "churn-a", environment: "staging", team: "team-a" })]);

    // ---- team B: each of them answers as what does not exist ----
    same(await call(bob, "GET", `/api/v1/jobs/${job.id}`), job.id, await call(bob, "GET", "/api/v1/jobs/job-0000000000"), "job-0000000000");
    same(await call(bob, "GET", `/api/v1/jobs/${job.id}/logs`), job.id, await call(bob, "GET", "/api/v1/jobs/job-0000000000/logs"), "job-0000000000");
    same(await call(bob, "GET", `/api/v1/evaluations/${evaluation.id}`), evaluation.id, await call(bob, "GET", "/api/v1/evaluations/eval-0000000000"), "eval-0000000000");
    same(await call(bob, "GET", `/api/v1/deployments/${deployment.id}`), deployment.id, await call(bob, "GET", "/api/v1/deployments/deploy-0000000000"), "deploy-0000000000");
    for (const [method, path] of [
      ["POST", `${STAGING}/v2/models/<m>/infer`],
      ["POST", `${STAGING}/v2/models/<m>/versions/1/infer`],
      ["GET", `${STAGING}/v2/models/<m>`],
      ["GET", `${STAGING}/v2/models/<m>/ready`],
    ] as const) {
      const url = (m: string) => path.replace("<m>", m);
      same(await call(bob, method, url("churn-a"), method === "POST" ? INFER : undefined), "churn-a", await call(bob, method, url("not-deployed"), method === "POST" ? INFER : undefined), "not-deployed");
    }
    for (const path of ["gate-policy", "gate-policy/history", "gate-status", "gate-overrides"]) {
      const hidden = await call(bob, "GET", `/api/v1/models/churn-a/${path}`);
      expect(hidden.statusCode, path).toBe(404);
      same(hidden, "churn-a", await call(bob, "GET", `/api/v1/models/no-such-model/${path}`), "no-such-model");
    }
    same(await call(bob, "GET", "/api/v1/evaluations?model=churn-a"), "churn-a", await call(bob, "GET", "/api/v1/evaluations?model=no-such-model"), "no-such-model");
    expect((await call(bob, "GET", "/api/v1/jobs")).json().jobs).toEqual([]);
    expect((await call(bob, "GET", "/api/v1/evaluations")).json().evaluations).toEqual([]);
    expect((await call(bob, "GET", "/api/v1/deployments")).json().deployments).toEqual([]);
    expect((await call(bob, "GET", "/api/v1/serving/models")).json().models).toEqual([]);
    // Team B's developer cannot act on them either: hidden, not forbidden.
    same(await call(carol, "POST", `/api/v1/deployments/${deployment.id}/rollback`, {}), deployment.id, await call(carol, "POST", "/api/v1/deployments/deploy-0000000000/rollback", {}), "deploy-0000000000");
    same(
      await call(carol, "POST", "/api/v1/deployments", { model: "churn-a", version: "1", environment: "dev" }),
      "churn-a",
      await call(carol, "POST", "/api/v1/deployments", { model: "no-such-model", version: "1", environment: "dev" }),
      "no-such-model",
    );
    same(await call(carol, "POST", "/api/v1/models/churn-a/versions/1/evaluations", { data: data.json().uri }), "churn-a", await call(carol, "POST", "/api/v1/models/no-such-model/versions/1/evaluations", { data: data.json().uri }), "no-such-model");
    same(await upload(carol, "?model=churn-a", CSV), "churn-a", await upload(carol, "?model=no-such-model", CSV), "no-such-model");

    // ---- team A's evaluations read only team A's data ----
    const theirs = await upload(carol, "", `${CSV}\n0.2,0.2,0.2,0.2,0`);
    expect(theirs.json().team).toBe("team-b");
    const unknownDigest = `uploads:/${"0".repeat(64)}`;
    same(
      await call(alice, "POST", "/api/v1/models/churn-a/versions/1/evaluations", { data: theirs.json().uri }),
      theirs.json().uri,
      await call(alice, "POST", "/api/v1/models/churn-a/versions/1/evaluations", { data: unknownDigest }),
      unknownDigest,
    );
    const experiment = await call(carol, "POST", "/api/2.0/mlflow/experiments/create", { name: "team-b-data" });
    expect(experiment.statusCode, experiment.body).toBe(200);
    const run = (await call(carol, "POST", "/api/2.0/mlflow/runs/create", { experiment_id: experiment.json().experiment_id, start_time: 1 })).json().run.info;
    const put = await call(carol, "PUT", `/api/2.0/mlflow-artifacts/artifacts/${experiment.json().experiment_id}/${run.run_id}/artifacts/eval.csv`, CSV, { "content-type": "application/octet-stream" });
    expect(put.statusCode, put.body).toBe(200);
    same(
      await call(alice, "POST", "/api/v1/models/churn-a/versions/1/evaluations", { data: `runs:/${run.run_id}/eval.csv` }),
      run.run_id,
      await call(alice, "POST", "/api/v1/models/churn-a/versions/1/evaluations", { data: "runs:/00000000000000000000000000000000/eval.csv" }),
      "00000000000000000000000000000000",
    );
    // The same bytes uploaded by team A are team A's upload.
    const mine = await upload(alice, "", `${CSV}\n0.2,0.2,0.2,0.2,0`);
    expect(mine.json()).toMatchObject({ uri: theirs.json().uri, team: "team-a" });
    expect((await call(alice, "POST", "/api/v1/models/churn-a/versions/1/evaluations", { data: mine.json().uri })).statusCode).toBe(200);

    // ---- team A's viewer reads everything and changes nothing ----
    for (const url of [`/api/v1/jobs/${job.id}`, `/api/v1/jobs/${job.id}/logs`, `/api/v1/evaluations/${evaluation.id}`, `/api/v1/deployments/${deployment.id}`, "/api/v1/models/churn-a/gate-status", `${STAGING}/v2/models/churn-a`]) {
      expect((await call(vic, "GET", url)).statusCode, url).toBe(200);
    }
    expect((await call(vic, "POST", `${STAGING}/v2/models/churn-a/infer`, INFER)).statusCode).toBe(200);
    expect((await call(vic, "GET", "/api/v1/jobs")).json().jobs.map((j: { id: string }) => j.id)).toContain(job.id);
    expect((await call(vic, "GET", "/api/v1/evaluations")).json().evaluations.map((e: { id: string }) => e.id)).toContain(evaluation.id);
    expect((await call(vic, "GET", "/api/v1/deployments")).json().deployments.map((d: { id: string }) => d.id)).toEqual([deployment.id]);
    expect((await call(vic, "GET", "/api/v1/serving/models")).json().models.map((m: { name: string }) => m.name)).toEqual(["churn-a"]);
    for (const [method, url, body] of [
      ["POST", "/api/v1/jobs", { name: "nope", workingDir, command: ["true"], team: "team-a" }],
      ["POST", `/api/v1/jobs/${job.id}/cancel`, {}],
      ["POST", "/api/v1/models/churn-a/versions/1/evaluations", { data: data.json().uri }],
      ["POST", "/api/v1/deployments", { model: "churn-a", version: "1", environment: "dev" }],
      ["POST", `/api/v1/deployments/${deployment.id}/rollback`, {}],
      ["PUT", "/api/v1/models/churn-a/gate-policy", { yaml: "checks:\n  - {type: performance, p99Ms: 1}\n" }],
    ] as const) {
      const refused = await call(vic, method, url, body);
      expect(refused.statusCode, `${method} ${url}`).toBe(403);
      expect(refused.json().error.code).toBe("FORBIDDEN");
    }
    expect((await upload(vic, "?model=churn-a", CSV)).statusCode).toBe(403);

    // ---- overriding the production gate takes an admin of the model's team ----
    const force = { version: "1", force: true, reason: "incident 42" };
    const developer = await call(alice, "PUT", "/api/v1/models/churn-a/aliases/production", force);
    expect(developer.statusCode, developer.body).toBe(403);
    expect(developer.json().error.code).toBe("FORBIDDEN");
    const otherAdmin = await member("bea", [{ team: "team-b", role: "admin" }]);
    expect((await call(otherAdmin, "PUT", "/api/v1/models/churn-a/aliases/production", force)).statusCode).toBe(404);
    const teamAdmin = await member("ada", [{ team: "team-a", role: "admin" }]);
    expect((await call(teamAdmin, "PUT", "/api/v1/models/churn-a/aliases/production", force)).statusCode).toBe(200);
    const overrides = await call(vic, "GET", "/api/v1/models/churn-a/gate-overrides");
    expect(overrides.json().overrides).toEqual([expect.objectContaining({ user: "ada", reason: "incident 42" })]);
  }, 180_000);
});
