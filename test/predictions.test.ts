// Batch predictions through the whole app (app.inject): a registered ONNX model version over a
// dataset version, the output a new dataset version with lineage to both; another team's model,
// dataset or prediction answers as missing, a viewer may read but not write; bad input (missing
// columns, a value that is not a number, a version without ONNX, a missing version); cancel; and
// a prediction left RUNNING by a stopped server starts again from the beginning at the next start.
// On SQLite, and on PostgreSQL when the suite provides it (PAVED_TEST_DATABASE_URL).
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as ort from "onnxruntime-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createApp, type App } from "../src/app.ts";
import { loadConfig, type Config } from "../src/config/index.ts";
import { buildTestModels, type TestModels } from "../src/modules/serving/test-models.ts";
import { testDialects, testPostgresUrl } from "./support/databases.ts";
import { pollUntil } from "./support/poll.ts";

type Who = "admin" | "dev" | "viewer" | "other";
type Prediction = { id: string; phase: string; rows: number; totalRows: number | null; output: string | null; outputVersion: number | null; rowsPerSecond: number | null; message: string | null; attempts: number };

describe.each(testDialects())("batch predictions API (%s)", (dialect) => {
  let app: App;
  let config: Config;
  let databaseUrl: string | undefined;
  let models: TestModels;
  const tokens: Record<Who, string> = { admin: "", dev: "", viewer: "", other: "" };

  const call = async (who: Who, method: "GET" | "POST" | "PUT" | "PATCH", url: string, payload?: unknown) => {
    const raw = Buffer.isBuffer(payload) || payload instanceof Uint8Array;
    const res = await app.server.inject({
      method,
      url,
      headers: { authorization: `Bearer ${tokens[who]}`, ...(payload === undefined ? {} : { "content-type": raw ? "application/octet-stream" : "application/json" }) },
      ...(payload === undefined ? {} : { payload: raw ? Buffer.from(payload as Uint8Array) : JSON.stringify(payload) }),
    });
    return { status: res.statusCode, body: res.body ? res.json() : undefined };
  };
  const ok = async (who: Who, method: "GET" | "POST" | "PUT" | "PATCH", url: string, payload?: unknown) => {
    const res = await call(who, method, url, payload);
    expect(res.status, JSON.stringify(res.body)).toBeLessThan(300);
    return res.body;
  };

  /** Registers `bytes` under `file` as version 1 (or next) of `name` in the caller's team, through a run as a data scientist would. */
  const registerModel = async (who: Who, name: string, bytes: Uint8Array, file = "model.onnx") => {
    const experiment = (await ok(who, "POST", "/api/2.0/mlflow/experiments/create", { name: `${name}-${Math.random().toString(36).slice(2)}` })).experiment_id as string;
    const runId = (await ok(who, "POST", "/api/2.0/mlflow/runs/create", { experiment_id: experiment, start_time: 1 })).run.info.run_id as string;
    await ok(who, "PUT", `/api/2.0/mlflow-artifacts/artifacts/${experiment}/${runId}/artifacts/model/${file}`, bytes);
    return ok(who, "POST", `/api/v1/models/${name}/versions`, { source: `runs:/${runId}/model` });
  };
  const dataset = async (who: Who, name: string, path: string, content: string) => {
    const blob = await ok(who, "POST", "/api/v1/dataset-uploads", Buffer.from(content));
    return ok(who, "POST", `/api/v1/datasets/${name}/versions`, { files: [{ path, digest: blob.digest }] });
  };
  const rowsCsv = (n: number, header = "id,f3,f0,f1,f2,group", cell?: (i: number, column: number) => string | undefined) =>
    [header, ...Array.from({ length: n }, (_, i) => [i, (i % 5) - 2, Math.sin(i), Math.cos(i), (i % 7) / 3, `g${i % 2}`].map((v, c) => cell?.(i, c) ?? String(v)).join(","))].join("\n") + "\n";
  const finished = (who: Who, id: string, timeoutMs = 120_000) =>
    pollUntil(`prediction ${id} ends`, async () => (await call(who, "GET", `/api/v1/predictions/${id}`)).body as Prediction, (p) => ["SUCCEEDED", "FAILED", "CANCELLED"].includes(p.phase), { timeoutMs, intervalMs: 50 });

  const start = async (dataDir: string) => {
    config = loadConfig({
      env: {},
      overrides: {
        dataDir,
        ...(databaseUrl ? { databaseUrl } : {}),
        port: 0,
        host: "127.0.0.1",
        logLevel: "silent",
        compute: { gpus: [], cpus: 1, memoryMiB: 512 },
        datasets: { duckdb: { threads: 1, memoryLimitMiB: 256, maxConcurrent: 1 } },
        predictions: { workers: 1, chunkRows: 100, intervalSeconds: 0.05, duckdbThreads: 1, memoryLimitMiB: 128 },
      },
    });
    app = await createApp(config);
    await app.listen();
  };

  beforeAll(async () => {
    models = buildTestModels();
    databaseUrl = dialect === "postgres" ? await testPostgresUrl() : undefined;
    await start(mkdtempSync(join(tmpdir(), "paved-predictions-api-")));
    tokens.admin = app.generatedAdminToken!;
    await ok("admin", "POST", "/api/v1/teams", { name: "alpha" });
    await ok("admin", "POST", "/api/v1/teams", { name: "beta" });
    const person = async (name: string, team: string, role: string) => {
      await ok("admin", "POST", "/api/v1/users", { name, teams: [{ team, role }] });
      return (await ok("admin", "POST", `/api/v1/users/${name}/tokens`, { name: "t" })).token as string;
    };
    tokens.dev = await person("dev", "alpha", "developer");
    tokens.viewer = await person("vera", "alpha", "viewer");
    tokens.other = await person("otto", "beta", "developer");
    await registerModel("dev", "scorer", models.bytes("tiny"));
    await ok("dev", "PATCH", "/api/v1/models/scorer/tags", { set: { "model_card.features": "f0,f1,f2,f3" } });
    await dataset("dev", "customers", "customers.csv", rowsCsv(1234));
  }, 120_000);
  afterAll(async () => app?.close());

  it("runs a model version over a dataset version and writes a new dataset version with lineage to both", async () => {
    const created = await call("dev", "POST", "/api/v1/predictions", { model: "scorer", version: "1", input: "datasets:/customers@1" });
    expect(created.status, JSON.stringify(created.body)).toBe(202);
    expect(created.body).toMatchObject({ model: "scorer", version: 1, input: "datasets:/customers@1", outputDataset: "customers-predictions", phase: "QUEUED", totalRows: 1234 });
    const done = await finished("dev", created.body.id);
    expect(done).toMatchObject({ phase: "SUCCEEDED", rows: 1234, totalRows: 1234, output: "datasets:/customers-predictions@1", outputVersion: 1, attempts: 1 });
    expect(done.rowsPerSecond).toBeGreaterThan(0);

    const version = await ok("viewer", "GET", "/api/v1/datasets/customers-predictions/versions/1");
    expect(version).toMatchObject({ team: "alpha", rowCount: 1234, lineage: { kind: "prediction", id: created.body.id, model: "scorer", modelVersion: 1, input: "datasets:/customers@1", inputDigest: expect.stringMatching(/^sha256:/) } });
    expect(version.files[0].columns.map((c: { name: string }) => c.name)).toEqual(["id", "group", "probabilities_0", "probabilities_1"]);
    // The first rows against onnxruntime run directly on the same features (f0..f3 in the model card's order).
    const preview = await ok("viewer", "GET", "/api/v1/datasets/customers-predictions/versions/1/preview?rows=5");
    const session = await ort.InferenceSession.create(models.bytes("tiny"));
    const features = [0, 1, 2, 3, 4].flatMap((i) => [Math.sin(i), Math.cos(i), (i % 7) / 3, (i % 5) - 2]);
    const expected = (await session.run({ input: new ort.Tensor("float32", Float32Array.from(features), [5, 4]) })).probabilities!.data as Float32Array;
    preview.rows.forEach((row: unknown[], i: number) => {
      expect(row[0]).toBe(i);
      expect(row[2]).toBeCloseTo(expected[i * 2]!, 5);
      expect(row[3]).toBeCloseTo(expected[i * 2 + 1]!, 5);
    });

    // Listed for the team; a viewer reads it; another team does not see it.
    expect(((await ok("viewer", "GET", "/api/v1/predictions")).predictions as Prediction[]).map((p) => p.id)).toContain(created.body.id);
    expect(((await ok("other", "GET", "/api/v1/predictions")).predictions as Prediction[]).map((p) => p.id)).not.toContain(created.body.id);
    expect((await call("other", "GET", `/api/v1/predictions/${created.body.id}`)).status).toBe(404);
    expect((await call("other", "POST", `/api/v1/predictions/${created.body.id}/cancel`)).status).toBe(404);
  }, 120_000);

  it("answers another team's model or dataset as missing, and refuses a viewer", async () => {
    const other = await call("other", "POST", "/api/v1/predictions", { model: "scorer", version: "1", input: "datasets:/customers@1" });
    expect(other.status).toBe(404);
    expect(other.body.error.code).toBe("NOT_FOUND");
    await registerModel("other", "beta-scorer", models.bytes("tiny"));
    const theirs = await call("other", "POST", "/api/v1/predictions", { model: "beta-scorer", version: "1", input: "datasets:/customers@1" });
    expect(theirs.status).toBe(404);
    expect(theirs.body.error.code).toBe("NOT_FOUND");
    const viewer = await call("viewer", "POST", "/api/v1/predictions", { model: "scorer", version: "1", input: "datasets:/customers@1" });
    expect(viewer.status).toBe(403);
    expect(viewer.body.error.code).toBe("FORBIDDEN");
  }, 60_000);

  it("refuses bad input with its code: missing columns, a missing version or dataset version, a version without ONNX", async () => {
    await dataset("dev", "partial", "partial.csv", rowsCsv(3, "id,f3,f0,x,y,group"));
    const missing = await call("dev", "POST", "/api/v1/predictions", { model: "scorer", version: "1", input: "datasets:/partial@1" });
    expect(missing.status).toBe(400);
    expect(missing.body.error).toMatchObject({ code: "INVALID_INPUT", details: { missing: ["f1", "f2"] } });
    expect((await call("dev", "POST", "/api/v1/predictions", { model: "scorer", version: "7", input: "datasets:/customers@1" })).body.error.code).toBe("NOT_FOUND");
    expect((await call("dev", "POST", "/api/v1/predictions", { model: "scorer", version: "1", input: "datasets:/customers@9" })).body.error.code).toBe("NOT_FOUND");
    await registerModel("dev", "pickled", new TextEncoder().encode("not a model"), "model.pkl");
    const pickled = await call("dev", "POST", "/api/v1/predictions", { model: "pickled", version: "1", input: "datasets:/customers@1" });
    expect(pickled.body.error.code).toBe("UNSUPPORTED");
    expect((await call("dev", "POST", "/api/v1/predictions", { model: "scorer", version: "1", input: "/etc/passwd" })).body.error.code).toBe("INVALID_INPUT");
  }, 60_000);

  it("fails a prediction over a value that is not a number, saying which row", async () => {
    // A text value in a feature column: the dataset takes it (the column is text), the run refuses it at its row.
    await dataset("dev", "dirty", "dirty.csv", rowsCsv(500, undefined, (i, c) => (i === 300 && c === 4 ? "n/a" : undefined)));
    const created = await ok("dev", "POST", "/api/v1/predictions", { model: "scorer", version: "1", input: "datasets:/dirty@1", output: "dirty-scores" });
    const done = await finished("dev", created.id);
    expect(done.phase).toBe("FAILED");
    expect(done.message).toMatch(/^INVALID_INPUT: .*row 301 .*column 'f2': not a number/);
    expect((await call("dev", "GET", "/api/v1/datasets/dirty-scores")).status).toBe(404);
  }, 120_000);

  it("cancels a prediction: it ends CANCELLED and writes nothing", async () => {
    await dataset("dev", "large", "large.csv", rowsCsv(50_000));
    const created = await ok("dev", "POST", "/api/v1/predictions", { model: "scorer", version: "1", input: "datasets:/large@1", output: "large-scores" });
    const cancelled = await ok("dev", "POST", `/api/v1/predictions/${created.id}/cancel`);
    expect(cancelled).toMatchObject({ phase: "CANCELLED", message: "cancelled by dev" });
    // The controller stops it (if it had started) and moves on: the next prediction runs.
    const next = await ok("dev", "POST", "/api/v1/predictions", { model: "scorer", version: "1", input: "datasets:/customers@1", output: "after-cancel" });
    expect((await finished("dev", next.id)).phase).toBe("SUCCEEDED");
    expect((await call("dev", "GET", "/api/v1/datasets/large-scores")).status).toBe(404);
  }, 120_000);

  it("runs as a pipeline's predict: step, whose outputs name the output dataset version", async () => {
    await ok("dev", "POST", "/api/v1/pipelines", {
      apiVersion: "paved/v1",
      kind: "Pipeline",
      metadata: { name: "nightly-scores", team: "alpha" },
      spec: { steps: [{ name: "score", predict: { model: "scorer", version: 1, input: "datasets:/customers@1", output: "nightly-scores" } }] },
    });
    const run = await ok("dev", "POST", "/api/v1/pipelines/nightly-scores/runs", { parameters: {} });
    const done = await pollUntil("the pipeline run ends", async () => (await call("dev", "GET", `/api/v1/pipeline-runs/${run.id}`)).body as { phase: string; steps: { outputs: Record<string, unknown> }[] }, (r) => ["SUCCEEDED", "FAILED", "CANCELLED"].includes(r.phase), { timeoutMs: 120_000, intervalMs: 50 });
    expect(done.phase, JSON.stringify(done)).toBe("SUCCEEDED");
    expect(done.steps[0]!.outputs).toMatchObject({ output: "datasets:/nightly-scores@1", dataset: "nightly-scores", version: 1, rows: 1234 });
    expect((await ok("viewer", "GET", "/api/v1/datasets/nightly-scores/versions/1")).lineage).toMatchObject({ kind: "prediction", id: done.steps[0]!.outputs.prediction_id });
  }, 120_000);

  it("starts a prediction left RUNNING by a stopped server again from the beginning, and says so", async () => {
    await dataset("dev", "restart", "restart.csv", rowsCsv(50_000));
    const created = await ok("dev", "POST", "/api/v1/predictions", { model: "scorer", version: "1", input: "datasets:/restart@1", output: "restart-scores" });
    await pollUntil("the prediction runs", async () => (await call("dev", "GET", `/api/v1/predictions/${created.id}`)).body as Prediction, (p) => p.phase === "RUNNING" && p.rows > 0, { timeoutMs: 60_000 });
    // Closing stops the controller mid-run and leaves the row RUNNING, as a kill -9 would (nothing is written until a run ends).
    await app.close();
    await start(config.dataDir);
    const done = await finished("dev", created.id);
    expect(done).toMatchObject({ phase: "SUCCEEDED", rows: 50_000, attempts: 2, output: "datasets:/restart-scores@1" });
    expect(done.message).toMatch(/attempt 2 .*started again from the beginning/);
  }, 180_000);
});
