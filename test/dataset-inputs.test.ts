import { chmodSync, existsSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createApp, type App } from "../src/app.ts";
import { loadConfig } from "../src/config/index.ts";
import { pollUntil } from "./support/poll.ts";
import { buildTestModels } from "../src/modules/serving/test-models.ts";

/** Four features and a label, as the tiny test model takes them. */
const table = (n: number, shift = 0) => ["f0,f1,f2,f3,label", ...Array.from({ length: n }, (_, i) => `${(i % 10) / 10 + shift},${(i % 7) / 7},${(i % 5) / 5},${(i % 3) / 3},${i % 2}`)].join("\n") + "\n";
const TRAIN = table(50);
const EXTRA = "id,note\n1,a\n";

/**
 * Issue 10, item 1 for jobs and evaluations: a job names a registered dataset version
 * (`datasets:/<name>@<version|alias>`); it is pinned at submit (an alias resolved once), written
 * read-only into the job's folder, named by PAVED_DATASET_<NAME>, recorded as the run's input with
 * the version's digest, and removed when the job ends. An evaluation reads a dataset's CSV by the
 * same reference. Real processes (node as the job's program), real SQLite, real DuckDB.
 */
const isRoot = process.getuid?.() === 0;
/** Jobs as the server's own user, and (where the tests run as root, as switching users needs) as user nobody. */
const MODES: { label: string; runAs?: string }[] = [{ label: "as the server's user" }, ...(isRoot ? [{ label: "as user nobody (compute.runAs)", runAs: "nobody" }] : [])];

describe.each(MODES)("jobs and evaluations read registered dataset versions, jobs $label", ({ runAs }) => {
  let app: App;
  let auth: { authorization: string };
  const workingDir = mkdtempSync(join(tmpdir(), "paved-inputs-work-"));
  // Jobs under runAs must be able to enter it.
  chmodSync(workingDir, 0o755);
  const dataDir = mkdtempSync(join(tmpdir(), "paved-inputs-"));

  const call = async (method: "GET" | "POST" | "PUT", url: string, payload?: unknown) => {
    const res = await app.server.inject({ method, url, headers: auth, ...(payload !== undefined ? { payload: payload as object } : {}) });
    return { status: res.statusCode, json: res.json() as any, body: res.body };
  };
  const ok = async (method: "GET" | "POST" | "PUT", url: string, payload?: unknown) => {
    const res = await call(method, url, payload);
    if (res.status !== 200) throw new Error(`${method} ${url}: ${res.status} ${res.body}`);
    return res.json;
  };
  const upload = async (text: string) => {
    const res = await app.server.inject({ method: "POST", url: "/api/v1/dataset-uploads", headers: { ...auth, "content-type": "application/octet-stream" }, payload: Buffer.from(text) });
    expect(res.statusCode, res.body).toBe(200);
    return res.json().digest as string;
  };

  beforeAll(async () => {
    app = await createApp(loadConfig({ env: {}, overrides: { dataDir, logLevel: "silent", compute: { gpus: [], python: "/nonexistent/python3", ...(runAs ? { runAs } : {}) }, host: "127.0.0.1", port: 0 } }));
    await app.listen();
    auth = { authorization: `Bearer ${app.generatedAdminToken}` };
    await ok("POST", "/api/v1/datasets/churn/versions", { files: [{ path: "train.csv", digest: await upload(TRAIN) }], alias: "prod" });
    await ok("POST", "/api/v1/datasets/wide/versions", { files: [{ path: "a.csv", digest: await upload(TRAIN) }, { path: "b.csv", digest: await upload(EXTRA) }] });
  }, 60_000);
  afterAll(async () => {
    await app?.close();
  });

  it("writes the pinned version read-only into the job's folder and records it as the run's input", async () => {
    // The job counts the rows it was given and tries to change the file (it must not be able to).
    const script = [
      "const fs = require('fs'), path = require('path');",
      "const dir = process.env.PAVED_DATASET_TRAIN;",
      "const rows = fs.readFileSync(path.join(dir, 'train.csv'), 'utf8').trim().split('\\n').length - 1;",
      "let writable = true; try { fs.appendFileSync(path.join(dir, 'train.csv'), 'x'); } catch { writable = false; }",
      "let addable = true; try { fs.writeFileSync(path.join(dir, 'new.csv'), 'x'); } catch { addable = false; }",
      "const mode = (p) => (fs.statSync(p).mode & 0o777).toString(8);",
      "console.log(JSON.stringify({ rows, writable, addable, file: mode(path.join(dir, 'train.csv')), folder: mode(dir), inputs: process.env.PAVED_INPUTS_DIR, dir }));",
    ].join("\n");
    const job = await ok("POST", "/api/v1/jobs", { name: "reads-churn", workingDir, command: [process.execPath, "-e", script], hyperparameterArgs: false, datasets: [{ name: "train", dataset: "datasets:/churn@prod" }] });
    // Pinned at submit: the alias became the version it named.
    expect(job.spec.datasets).toEqual([{ name: "train", dataset: "datasets:/churn@1" }]);
    const done = await pollUntil("the job to end", () => ok("GET", `/api/v1/jobs/${job.id}`), (j) => ["SUCCEEDED", "FAILED"].includes(j.phase), { timeoutMs: 60_000 });
    const logs = (await call("GET", `/api/v1/jobs/${job.id}/logs`)).body;
    expect(done.phase, logs).toBe("SUCCEEDED");
    const seen = JSON.parse(logs.trim().split("\n").at(-1)!);
    expect(seen).toMatchObject({ rows: 50, file: "444", folder: "555" });
    // Root ignores modes: only a job that is not root (runAs, or a server not run as root) is held to them.
    if (runAs || !isRoot) expect(seen).toMatchObject({ writable: false, addable: false });
    expect(seen.dir).toBe(join(seen.inputs, "train"));
    // The run names the version and its digest, as MLflow's log-inputs would.
    const version = await ok("GET", "/api/v1/datasets/churn/versions/1");
    const run = await ok("GET", `/api/2.0/mlflow/runs/get?run_id=${job.runId}`);
    expect(run.run.inputs.dataset_inputs).toEqual([expect.objectContaining({ dataset: expect.objectContaining({ name: "train", digest: version.digest, source_type: "paved", source: "datasets:/churn@1" }) })]);
    // The job's copy goes when it ends; the version stays.
    await pollUntil("the copy to be removed", async () => existsSync(seen.inputs), (present) => !present, { timeoutMs: 10_000 });
    expect((await ok("GET", "/api/v1/datasets/churn/versions/1")).digest).toBe(version.digest);
  }, 90_000);

  it("refuses a reference to a dataset or version that does not exist, or a malformed one, before anything is stored", async () => {
    const submit = (dataset: string) => call("POST", "/api/v1/jobs", { name: "x", workingDir, command: ["true"], datasets: [{ name: "train", dataset }] });
    const missing = await submit("datasets:/nope@1");
    expect(missing.status).toBe(404);
    expect(missing.json.error.code).toBe("NOT_FOUND");
    expect((await submit("datasets:/churn@7")).json.error.code).toBe("NOT_FOUND");
    expect((await submit("datasets:/churn@no such alias")).json.error.code).toBe("INVALID_INPUT");
    expect((await submit("file:///etc/passwd")).json.error.code).toBe("INVALID_INPUT");
    const twice = await call("POST", "/api/v1/jobs", { name: "x", workingDir, command: ["true"], datasets: [{ name: "train", dataset: "datasets:/churn@1" }, { name: "train", dataset: "datasets:/wide@1" }] });
    expect(twice.json.error.code).toBe("INVALID_INPUT");
    expect((await ok("GET", "/api/v1/jobs?limit=100")).jobs.map((j: { name: string }) => j.name)).not.toContain("x");
  });

  // Once is enough: the evaluation does not depend on the job's user (and nobody cannot read the prebuilt test model).
  it.skipIf(runAs !== undefined)("trains from a dataset, and evaluates on another's CSV by reference with the training version as the drift reference (run once, as the server's user)", async () => {
    // The job reads its dataset and writes the (prebuilt) model as its output.
    const model = join(buildTestModels().dir, "tiny.onnx");
    const script = `const fs = require("fs"), path = require("path"); fs.statSync(path.join(process.env.PAVED_DATASET_TRAIN, "train.csv")); fs.copyFileSync(${JSON.stringify(model)}, path.join(process.env.PAVED_OUTPUT_DIR, "model.onnx"));`;
    const job = await ok("POST", "/api/v1/jobs", { name: "train-churn", workingDir, command: [process.execPath, "-e", script], hyperparameterArgs: false, datasets: [{ name: "train", dataset: "datasets:/churn@prod" }] });
    expect((await pollUntil("the training job", () => ok("GET", `/api/v1/jobs/${job.id}`), (j) => ["SUCCEEDED", "FAILED"].includes(j.phase), { timeoutMs: 60_000 })).phase).toBe("SUCCEEDED");
    await pollUntil("the job's outputs on its run", () => ok("GET", `/api/2.0/mlflow/artifacts/list?run_id=${job.runId}&path=outputs`), (list) => (list.files ?? []).some((f: { path: string }) => f.path === "outputs/model.onnx"), { timeoutMs: 60_000 });
    await ok("POST", "/api/v1/models/churn/versions", { source: `runs:/${job.runId}/outputs` });
    await ok("PUT", "/api/v1/models/churn/gate-policy", { yaml: "checks:\n  - {type: performance, p99Ms: 60000}\n" });
    await ok("POST", "/api/v1/datasets/holdout/versions", { files: [{ path: "eval.csv", digest: await upload(table(40, 0.05)) }] });

    const accepted = await ok("POST", "/api/v1/models/churn/versions/1/evaluations", { data: "datasets:/holdout@1" });
    const evaluation = await pollUntil("the evaluation", () => ok("GET", `/api/v1/evaluations/${accepted.id}`), (e) => e.phase !== "Pending" && e.phase !== "Running", { timeoutMs: 60_000 });
    expect(evaluation.phase, JSON.stringify(evaluation)).toBe("Passed");
    // The reference defaulted to the training dataset version the run read (its lineage).
    expect(evaluation).toMatchObject({ referencePath: "datasets:/churn@1", referenceOrigin: expect.stringContaining("lineage dataset 'train'") });

    // A version of several CSV files: name one; a file that is not CSV: say evaluations read CSV; another team's or a missing one: NOT_FOUND.
    const several = await call("POST", "/api/v1/models/churn/versions/1/evaluations", { data: "datasets:/wide@1" });
    expect(several.json.error.code).toBe("INVALID_INPUT");
    expect(several.json.error.message).toContain("datasets:/wide@1/a.csv");
    expect((await call("POST", "/api/v1/models/churn/versions/1/evaluations", { data: "datasets:/wide@1/a.csv" })).status).toBe(200);
    expect((await call("POST", "/api/v1/models/churn/versions/1/evaluations", { data: "datasets:/wide@1/c.csv" })).json.error.code).toBe("NOT_FOUND");
    expect((await call("POST", "/api/v1/models/churn/versions/1/evaluations", { data: "datasets:/nope@1" })).json.error.code).toBe("NOT_FOUND");
    expect((await call("POST", "/api/v1/models/churn/versions/1/evaluations", { data: "datasets:/" })).json.error.code).toBe("INVALID_INPUT");
  }, 120_000);
});
