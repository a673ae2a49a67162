import { execFileSync } from "node:child_process";
import { chmodSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createApp, type App } from "../src/app.ts";
import { loadConfig } from "../src/config/index.ts";
import { pollUntil } from "./support/poll.ts";
import { buildTestModels } from "../src/modules/serving/test-models.ts";

const TRAIN = ["f0,f1,f2,f3,label", ...Array.from({ length: 30 }, (_, i) => `${(i % 10) / 10},${(i % 7) / 7},${(i % 5) / 5},${(i % 3) / 3},${i % 2}`)].join("\n") + "\n";

type Who = { authorization: string };

/**
 * Issue 10, item 7: from a deployment back through its model version, run, commit and dataset
 * version, and forward from the dataset version to every run, model version and deployment made
 * from it; an MLflow run that logged the version's digest is linked to it; another team sees none
 * of it. A real app (SQLite), a real job (node) in a real git repository, a real ONNX model.
 */
describe("lineage", () => {
  let app: App;
  let admin: Who;
  const workingDir = mkdtempSync(join(tmpdir(), "paved-lineage-work-"));
  let commit = "";

  const call = async (who: Who, method: "GET" | "POST" | "PUT", url: string, payload?: unknown) => {
    const res = await app.server.inject({ method, url, headers: who, ...(payload !== undefined ? { payload: payload as object } : {}) });
    return { status: res.statusCode, json: res.json() as any, body: res.body };
  };
  const ok = async (method: "GET" | "POST" | "PUT", url: string, payload?: unknown) => {
    const res = await call(admin, method, url, payload);
    if (res.status !== 200) throw new Error(`${method} ${url}: ${res.status} ${res.body}`);
    return res.json;
  };
  const lineage = (who: Who, ref: string, direction = "both") => call(who, "GET", `/api/v1/lineage?ref=${encodeURIComponent(ref)}&direction=${direction}`);

  beforeAll(async () => {
    const git = (...args: string[]) => execFileSync("git", ["-C", workingDir, "-c", "user.name=t", "-c", "user.email=t@example.com", ...args], { encoding: "utf8" }).trim();
    git("init", "-q");
    writeFileSync(join(workingDir, "train.js"), `const fs = require("fs"), path = require("path");\nfs.statSync(path.join(process.env.PAVED_DATASET_TRAIN, "train.csv"));\nfs.copyFileSync(process.argv[2], path.join(process.env.PAVED_OUTPUT_DIR, "model.onnx"));\n`);
    git("add", ".");
    git("commit", "-q", "-m", "train");
    commit = git("rev-parse", "HEAD");
    chmodSync(workingDir, 0o755);
    const dataDir = mkdtempSync(join(tmpdir(), "paved-lineage-"));
    app = await createApp(loadConfig({ env: {}, overrides: { dataDir, logLevel: "silent", compute: { gpus: [], python: "/nonexistent/python3" }, host: "127.0.0.1", port: 0 } }));
    await app.listen();
    admin = { authorization: `Bearer ${app.generatedAdminToken}` };
  }, 60_000);
  afterAll(async () => {
    await app?.close();
  });

  it("walks a deployment back to its commit and data, and a dataset version forward to the deployment", async () => {
    const upload = await app.server.inject({ method: "POST", url: "/api/v1/dataset-uploads", headers: { ...admin, "content-type": "application/octet-stream" }, payload: Buffer.from(TRAIN) });
    const version = await ok("POST", "/api/v1/datasets/churn/versions", { files: [{ path: "train.csv", digest: upload.json().digest }] });
    const job = await ok("POST", "/api/v1/jobs", {
      name: "train",
      workingDir,
      command: [process.execPath, "train.js", join(buildTestModels().dir, "tiny.onnx")],
      hyperparameterArgs: false,
      datasets: [{ name: "train", dataset: "datasets:/churn@1" }],
    });
    expect((await pollUntil("the job", () => ok("GET", `/api/v1/jobs/${job.id}`), (j) => ["SUCCEEDED", "FAILED"].includes(j.phase), { timeoutMs: 60_000 })).phase).toBe("SUCCEEDED");
    await pollUntil("the commit on the run", () => ok("GET", `/api/2.0/mlflow/runs/get?run_id=${job.runId}`), (r) => r.run.data.tags?.some((t: { key: string }) => t.key === "mlflow.source.git.commit"), { timeoutMs: 60_000 });
    await pollUntil("the model on the run", () => ok("GET", `/api/2.0/mlflow/artifacts/list?run_id=${job.runId}&path=outputs`), (l) => (l.files ?? []).some((f: { path: string }) => f.path === "outputs/model.onnx"), { timeoutMs: 60_000 });
    await ok("POST", "/api/v1/models/churn/versions", { source: `runs:/${job.runId}/outputs` });
    const deployment = await ok("POST", "/api/v1/deployments", { model: "churn", version: "1", environment: "staging", strategy: "replace" });

    const up = await lineage(admin, deployment.id, "upstream");
    expect(up.status, up.body).toBe(200);
    const ids = up.json.nodes.map((n: { id: string }) => n.id);
    expect(ids).toEqual(expect.arrayContaining([`deployment:${deployment.id}`, "model:churn@1", `run:${job.runId}`, `commit:${commit}`, "dataset:churn@1"]));
    expect(up.json.edges).toEqual(
      expect.arrayContaining([
        { from: "model:churn@1", to: `deployment:${deployment.id}`, relation: "deployed as" },
        { from: `run:${job.runId}`, to: "model:churn@1", relation: "registered from" },
        { from: `commit:${commit}`, to: `run:${job.runId}`, relation: "code of" },
        { from: "dataset:churn@1", to: `run:${job.runId}`, relation: "read by" },
      ]),
    );
    expect(up.json.nodes.find((n: { id: string }) => n.id === "dataset:churn@1")).toMatchObject({ ref: "datasets:/churn@1", attributes: { digest: version.digest, rows: 30 } });

    // An MLflow run elsewhere that logged the same digest is linked to the version (digest match).
    const other = (await ok("POST", "/api/2.0/mlflow/runs/create", { experiment_id: "0", start_time: Date.now() })).run.info.run_id;
    await ok("POST", "/api/2.0/mlflow/runs/log-inputs", { run_id: other, datasets: [{ dataset: { name: "churn-df", digest: version.digest.replace("sha256:", ""), source_type: "local", source: "/home/ada/churn.csv" } }] });
    const down = await lineage(admin, "datasets:/churn@1", "downstream");
    expect(down.status, down.body).toBe(200);
    expect(down.json.edges).toEqual(
      expect.arrayContaining([
        { from: "dataset:churn@1", to: `run:${job.runId}`, relation: "read by" },
        { from: "dataset:churn@1", to: `run:${other}`, relation: "read by" },
        { from: `run:${job.runId}`, to: "model:churn@1", relation: "registered from" },
        { from: "model:churn@1", to: `deployment:${deployment.id}`, relation: "deployed as" },
      ]),
    );
    const back = await lineage(admin, `runs:/${other}`, "upstream");
    expect(back.json.edges).toEqual([{ from: "dataset:churn@1", to: `run:${other}`, relation: "read by (digest match)" }]);

    // A batch prediction with the version over the dataset: its output version leads back to both, and forward from them.
    const started = await call(admin, "POST", "/api/v1/predictions", { model: "churn", version: "1", input: "datasets:/churn@1", output: "scored", features: ["f0", "f1", "f2", "f3"] });
    expect(started.status, started.body).toBe(202);
    const prediction = started.json;
    const scored = await pollUntil("the batch prediction", () => ok("GET", `/api/v1/predictions/${prediction.id}`), (p) => ["SUCCEEDED", "FAILED", "CANCELLED"].includes(p.phase), { timeoutMs: 60_000 });
    expect(scored.phase, JSON.stringify(scored)).toBe("SUCCEEDED");
    const outputUp = await lineage(admin, scored.output, "upstream");
    expect(outputUp.json.edges).toEqual(
      expect.arrayContaining([
        { from: `prediction:${prediction.id}`, to: "dataset:scored@1", relation: "produced" },
        { from: "model:churn@1", to: `prediction:${prediction.id}`, relation: "predicted with" },
        { from: "dataset:churn@1", to: `prediction:${prediction.id}`, relation: "predicted on" },
      ]),
    );
    const fromData = await lineage(admin, "datasets:/churn@1", "downstream");
    expect(fromData.json.edges).toEqual(expect.arrayContaining([{ from: `prediction:${prediction.id}`, to: "dataset:scored@1", relation: "produced" }]));

    // The CLI's tree and a depth bound.
    const shallow = await lineage(admin, deployment.id, "upstream");
    expect(shallow.json.truncated).toBe(false);
    const cut = await call(admin, "GET", `/api/v1/lineage?ref=${deployment.id}&direction=upstream&depth=1`);
    expect(cut.json.nodes.map((n: { id: string }) => n.id)).toEqual([`deployment:${deployment.id}`, "model:churn@1"]);
    expect(cut.json.truncated).toBe(true);

    // Another team: the same answer as for something that does not exist.
    expect((await ok("POST", "/api/v1/teams", { name: "team-b" })).name).toBe("team-b");
    const user = await ok("POST", "/api/v1/users", { name: "bob", teams: [{ team: "team-b", role: "developer" }] });
    const bob = { authorization: `Bearer ${(await app.tokens.createPersonal({ userId: user.id, name: "laptop" })).token}` };
    for (const ref of [deployment.id, "models:/churn/1", `runs:/${job.runId}`, "datasets:/churn@1"]) {
      const hidden = await lineage(bob, ref);
      expect(hidden.status, ref).toBe(404);
    }
    expect((await lineage(bob, "datasets:/churn@1")).body.replaceAll("churn@1", "x")).toBe((await lineage(bob, "datasets:/nope@1")).body.replaceAll("nope@1", "x"));
  }, 180_000);

  it("refuses what is not a reference, and answers NOT_FOUND for what does not exist", async () => {
    for (const ref of ["churn", "file:///etc/passwd", "models:/churn", "runs:/../../x", "datasets:/Bad Name@1"]) {
      const res = await lineage(admin, ref);
      expect(res.status, ref).toBe(400);
      expect(res.json.error.code).toBe("INVALID_INPUT");
    }
    for (const ref of ["deploy-nope", "models:/churn/9", "models:/nope/1", "runs:/0000", "datasets:/churn@9", "datasets:/churn@no-alias"]) {
      expect((await lineage(admin, ref)).status, ref).toBe(404);
    }
    expect((await call(admin, "GET", "/api/v1/lineage?ref=deploy-x&depth=99")).status).toBe(400);
  });
});
