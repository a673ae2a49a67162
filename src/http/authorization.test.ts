import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createApp, type App } from "../app.ts";
import { loadConfig } from "../config/index.ts";

// The security review of 037a407 (issue 7, finding 3): with its own token a job deleted a
// registered model, deleted another user's run, overwrote another run's model file, promoted a
// deployment and read another job's spec. Each is replayed here with a real job's real token.
describe("what a job's token may do", () => {
  let app: App;
  let admin: Record<string, string>;
  let jobA: { id: string; runId: string; experimentId: string };
  let jobB: { id: string; runId: string };
  let asJob: Record<string, string>;
  const mlflow = "/api/2.0/mlflow";

  const inject = (method: string, url: string, headers: Record<string, string>, payload?: unknown) =>
    app.server.inject({ method: method as "GET", url, headers, ...(payload !== undefined ? { payload: payload as object } : {}) });

  async function submit(name: string): Promise<{ id: string; runId: string; experimentId: string }> {
    const workingDir = mkdtempSync(join(tmpdir(), "paved-authz-job-"));
    const res = await inject("POST", "/api/v1/jobs", admin, {
      name,
      command: ["/bin/true"],
      workingDir,
      env: { DATABASE_PASSWORD: "hunter2" },
      compute: { cpus: 1, memory: 64 },
    });
    expect(res.statusCode).toBe(200);
    const job = res.json();
    const run = (await inject("GET", `/api/v1/runs/${job.runId}`, admin)).json();
    return { id: job.id, runId: job.runId, experimentId: run.experimentId };
  }

  beforeAll(async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "paved-authz-"));
    // Controllers are not started (no listen): the jobs stay queued, their tokens are minted here.
    app = await createApp(loadConfig({ env: {}, overrides: { dataDir, logLevel: "silent", compute: { gpus: [], cpus: 2, memoryMiB: 1024 } } }));
    admin = { authorization: `Bearer ${app.generatedAdminToken}` };
    jobA = await submit("job-a");
    jobB = await submit("job-b");
    asJob = { authorization: `Bearer ${await app.tokens.mintForJob(jobA.id, 60_000)}` };
  });
  afterAll(async () => app.close());

  it("tracks its own run: metrics, params, tags, inputs, status and artifacts", async () => {
    const runId = jobA.runId;
    expect((await inject("POST", `${mlflow}/runs/log-batch`, asJob, { run_id: runId, metrics: [{ key: "loss", value: 0.5, timestamp: 1, step: 0 }], params: [{ key: "lr", value: "0.1" }], tags: [{ key: "t", value: "v" }] })).statusCode).toBe(200);
    expect((await inject("POST", `${mlflow}/runs/log-metric`, asJob, { run_id: runId, key: "acc", value: 0.9, timestamp: 2 })).statusCode).toBe(200);
    expect((await inject("POST", `${mlflow}/runs/set-tag`, asJob, { run_id: runId, key: "k", value: "v" })).statusCode).toBe(200);
    expect((await inject("POST", `${mlflow}/runs/log-inputs`, asJob, { run_id: runId, datasets: [{ dataset: { name: "d", digest: "abc", source_type: "local", source: "runs:/x/d.csv" } }] })).statusCode).toBe(200);
    expect((await inject("POST", `${mlflow}/runs/update`, asJob, { run_id: runId, status: "RUNNING" })).statusCode).toBe(200);
    const put = await app.server.inject({
      method: "PUT",
      url: `/api/2.0/mlflow-artifacts/artifacts/${jobA.experimentId}/${runId}/artifacts/model/model.onnx`,
      headers: { ...asJob, "content-type": "application/octet-stream" },
      payload: Buffer.from("mine"),
    });
    expect(put.statusCode).toBe(200);
    // Reads what a training job reads.
    expect((await inject("GET", `${mlflow}/runs/get?run_id=${jobB.runId}`, asJob)).statusCode).toBe(200);
    expect((await inject("GET", `/api/v1/jobs/${jobA.id}`, asJob)).statusCode).toBe(200);
  });

  it("starts nested runs only in its job's experiment, authored by the job's submitter", async () => {
    const nested = await inject("POST", `${mlflow}/runs/create`, asJob, { experiment_id: jobA.experimentId, user_id: "mallory", tags: [{ key: "mlflow.user", value: "mallory" }] });
    expect(nested.statusCode).toBe(200);
    expect(nested.json().run.info.user_id).toBe("admin");
    const childId = nested.json().run.info.run_id;
    expect((await inject("POST", `${mlflow}/runs/log-metric`, asJob, { run_id: childId, key: "acc", value: 1, timestamp: 1 })).statusCode).toBe(200);
    const elsewhere = await inject("POST", `${mlflow}/runs/create`, asJob, { experiment_id: "0" });
    expect(elsewhere.statusCode).toBe(403);
    expect(elsewhere.json().error_code).toBe("PERMISSION_DENIED");
  });

  it("cannot delete a registered model", async () => {
    expect((await inject("POST", `${mlflow}/registered-models/create`, admin, { name: "keep-me" })).statusCode).toBe(200);
    const res = await inject("DELETE", `${mlflow}/registered-models/delete`, asJob, { name: "keep-me" });
    expect(res.statusCode).toBe(403);
    expect(res.json().error_code).toBe("PERMISSION_DENIED");
    expect((await inject("GET", `${mlflow}/registered-models/get?name=keep-me`, admin)).statusCode).toBe(200);
  });

  it("cannot delete, tag or log to another job's run or a user's run", async () => {
    const mine = await inject("POST", `${mlflow}/runs/create`, admin, { experiment_id: "0" });
    const userRun = mine.json().run.info.run_id;
    for (const runId of [jobB.runId, userRun]) {
      expect((await inject("POST", `${mlflow}/runs/delete`, asJob, { run_id: runId })).statusCode).toBe(403);
      expect((await inject("POST", `${mlflow}/runs/set-tag`, asJob, { run_id: runId, key: "owned", value: "yes" })).statusCode).toBe(403);
      expect((await inject("POST", `${mlflow}/runs/log-batch`, asJob, { run_id: runId, metrics: [{ key: "x", value: 1, timestamp: 1, step: 0 }] })).statusCode).toBe(403);
      expect((await inject("POST", `${mlflow}/runs/update`, asJob, { run_id: runId, status: "KILLED" })).statusCode).toBe(403);
      const run = (await inject("GET", `${mlflow}/runs/get?run_id=${runId}`, admin)).json().run;
      expect(run.info.lifecycle_stage).toBe("active");
      expect(run.data.tags?.find((t: { key: string }) => t.key === "owned")).toBeUndefined();
    }
  });

  it("cannot overwrite another run's model file", async () => {
    const path = `/api/2.0/mlflow-artifacts/artifacts/0/${jobB.runId}/artifacts/model/model.onnx`;
    const experiment = (await inject("GET", `/api/v1/runs/${jobB.runId}`, admin)).json().experimentId;
    const url = path.replace("/artifacts/0/", `/artifacts/${experiment}/`);
    const original = await app.server.inject({ method: "PUT", url, headers: { ...admin, "content-type": "application/octet-stream" }, payload: Buffer.from("original") });
    expect(original.statusCode).toBe(200);
    const overwrite = await app.server.inject({ method: "PUT", url, headers: { ...asJob, "content-type": "application/octet-stream" }, payload: Buffer.from("evil") });
    expect(overwrite.statusCode).toBe(403);
    expect((await app.server.inject({ method: "GET", url, headers: admin })).body).toBe("original");
    // Nor start a direct (multipart) upload into it: refused before the store is asked (this app's
    // local store refuses direct uploads, 400, only to a caller who may write there: its own run).
    for (const step of ["create", "complete", "abort"]) {
      const body = { path: "model.onnx", num_parts: 1, upload_id: "u", parts: [{ part_number: 1, etag: "e" }] };
      const foreign = await inject("POST", `/api/2.0/mlflow-artifacts/mpu/${step}/${experiment}/${jobB.runId}/artifacts/model`, asJob, body);
      expect(foreign.statusCode, step).toBe(403);
      const own = await inject("POST", `/api/2.0/mlflow-artifacts/mpu/${step}/${jobA.experimentId}/${jobA.runId}/artifacts/model`, asJob, body);
      expect(own.statusCode, step).toBe(400);
      expect(own.json().message, step).toContain("Multipart upload is not supported");
    }
  });

  it("cannot read another job's spec (its env holds secrets) nor list jobs", async () => {
    const other = await inject("GET", `/api/v1/jobs/${jobB.id}`, asJob);
    expect(other.statusCode).toBe(403);
    expect(other.body).not.toContain("hunter2");
    expect((await inject("GET", `/api/v1/jobs/${jobB.id}/logs`, asJob)).statusCode).toBe(403);
    expect((await inject("GET", "/api/v1/jobs", asJob)).statusCode).toBe(403);
  });

  it("cannot submit or cancel jobs, promote deployments, or change a gate policy", async () => {
    expect((await inject("POST", "/api/v1/jobs", asJob, { name: "x", command: ["/bin/true"], workingDir: tmpdir() })).statusCode).toBe(403);
    expect((await inject("POST", `/api/v1/jobs/${jobB.id}/cancel`, asJob)).statusCode).toBe(403);
    const promote = await inject("POST", "/api/v1/deployments/dep-1/promote", asJob);
    expect(promote.statusCode).toBe(403);
    expect(promote.json().error.code).toBe("FORBIDDEN");
    const policy = await inject("PUT", "/api/v1/models/keep-me/gate-policy", asJob, { yaml: "checks: []" });
    expect(policy.statusCode).toBe(403);
  });

  // Fail closed: every route that changes something, today's and tomorrow's, is refused to a job's
  // token unless it is one of the few a job needs to track its own run.
  it("is refused on every mutating route but the run-tracking ones", async () => {
    const allowed = new Set([
      "POST /api/2.0/mlflow/runs/create",
      "POST /api/2.0/mlflow/runs/update",
      "POST /api/2.0/mlflow/runs/log-metric",
      "POST /api/2.0/mlflow/runs/log-parameter",
      "POST /api/2.0/mlflow/runs/log-batch",
      "POST /api/2.0/mlflow/runs/set-tag",
      "POST /api/2.0/mlflow/runs/delete-tag",
      "POST /api/2.0/mlflow/runs/log-inputs",
      "POST /api/2.0/mlflow/runs/outputs",
      "POST /api/2.0/mlflow/logged-models",
      "PATCH /api/2.0/mlflow/logged-models/:model_id",
      "DELETE /api/2.0/mlflow/logged-models/:model_id",
      "PATCH /api/2.0/mlflow/logged-models/:model_id/tags",
      "DELETE /api/2.0/mlflow/logged-models/:model_id/tags/:tag_key",
      "POST /api/2.0/mlflow/logged-models/:model_id/params",
      "PUT /api/2.0/mlflow-artifacts/artifacts/*",
      "PUT /api/2.0/mlflow-artifacts/artifacts/:experimentId/models/*",
      // The same upload as the PUT above, straight to the object store in parts (its own run only: test/s3-direct-uploads.test.ts).
      "POST /api/2.0/mlflow-artifacts/mpu/create/*",
      "POST /api/2.0/mlflow-artifacts/mpu/complete/*",
      "POST /api/2.0/mlflow-artifacts/mpu/abort/*",
      // Reads that MLflow's API spells as POST.
      "POST /api/2.0/mlflow/experiments/search",
      "POST /api/2.0/mlflow/runs/search",
      "POST /api/2.0/mlflow/metrics/get-history",
      "POST /api/2.0/mlflow/registered-models/search",
      "POST /api/2.0/mlflow/registered-models/get-latest-versions",
      "POST /api/2.0/mlflow/model-versions/search",
      "POST /api/2.0/mlflow/logged-models/search",
      // Public sign-in routes: they take no token (a job's is ignored), and a device login needs a person at the provider.
      "POST /auth/sso/device",
      "POST /auth/sso/device/poll",
      // Token sign-in for a browser: the token in the body is the credential, and a job's token is
      // refused there (test/ui-shell.test.ts), so a job cannot turn its token into a session.
      "POST /auth/session",
      // A git push webhook takes no token either (a job's is ignored): the delivery's signature under the trigger's secret is its credential.
      "POST /api/v1/triggers/:id/webhook",
    ]);
    const refused: string[] = [];
    const let_through: string[] = [];
    for (const def of app.routes) {
      if (def.method === "GET") continue;
      const key = `${def.method} ${def.url.replace("/ajax-api/", "/api/")}`;
      // Calling a served model (any environment's endpoint) changes nothing but serving's metrics.
      if (allowed.has(key) || (def.action === "serving:infer" && def.url.endsWith("/infer"))) continue;
      const url = def.url.replace(/:(\w+)/g, "x").replace("*", "x/y");
      const res = await app.server.inject({ method: def.method, url, headers: { ...asJob, "content-type": "application/json" }, payload: "{}" });
      (res.statusCode === 403 ? refused : let_through).push(`${key} → ${res.statusCode}`);
    }
    expect(let_through).toEqual([]);
    expect(refused.length).toBeGreaterThan(30);
  });
});

describe("who may change a gate policy", () => {
  let app: App;
  afterAll(async () => app?.close());

  it("a maintainer may; a developer and a job may not", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "paved-authz-policy-"));
    app = await createApp(loadConfig({ env: {}, overrides: { dataDir, logLevel: "silent", compute: { gpus: [], cpus: 1, memoryMiB: 512 } } }));
    const admin = { authorization: `Bearer ${app.generatedAdminToken}` };
    const person = async (name: string, role: string) => {
      await app.server.inject({ method: "POST", url: "/api/v1/users", headers: admin, payload: { name, teams: [{ team: "default", role }] } });
      return { authorization: `Bearer ${(await app.server.inject({ method: "POST", url: `/api/v1/users/${name}/tokens`, headers: admin, payload: { name: "t" } })).json().token}` };
    };
    const developer = await person("ada", "developer");
    const maintainer = await person("max", "maintainer");
    await app.server.inject({ method: "POST", url: "/api/2.0/mlflow/registered-models/create", headers: admin, payload: { name: "churn" } });
    const yaml = "checks:\n  - type: quality\n    metric: accuracy\n    min: 0.8\n";
    const byDeveloper = await app.server.inject({ method: "PUT", url: "/api/v1/models/churn/gate-policy", headers: developer, payload: { yaml } });
    expect(byDeveloper.statusCode).toBe(403);
    expect(byDeveloper.json().error.code).toBe("FORBIDDEN");
    // The developer still reads it, and does everything else a data scientist does.
    expect((await app.server.inject({ method: "GET", url: "/api/v1/models/churn/gate-policy", headers: developer })).statusCode).toBe(200);
    const byMaintainer = await app.server.inject({ method: "PUT", url: "/api/v1/models/churn/gate-policy", headers: maintainer, payload: { yaml } });
    expect(byMaintainer.statusCode).toBe(200);
  });
});
