// Story (c) of issue 10: batch inference over 1,000,000 rows writes an output dataset with lineage.
// A data scientist of team risk registers a model (a run's ONNX file), stores a 1M-row Parquet file
// (written by DuckDB) as a dataset with `paved datasets create`, and runs `paved predict` against a
// real listening server; the output dataset version holds every row, names the model version and
// the input version as its lineage, and its predictions (at the start, middle and end of the file)
// are what onnxruntime computes directly on the same features.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DuckDBInstance } from "@duckdb/node-api";
import * as ort from "onnxruntime-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LocalArtifactStore } from "../src/artifacts/index.ts";
import { createApp, type App } from "../src/app.ts";
import { loadConfig } from "../src/config/index.ts";
import { buildTestModels, type TestModels } from "../src/modules/serving/test-models.ts";
import { runPaved } from "./support/cli.ts";

const ROWS = 1_000_000;

let app: App;
let url: string;
let dir: string;
let token: string;
let models: TestModels;
let duck: DuckDBInstance;

const call = async (method: "GET" | "POST" | "PUT" | "PATCH", path: string, payload?: unknown) => {
  const raw = payload instanceof Uint8Array;
  const res = await app.server.inject({
    method,
    url: path,
    headers: { authorization: `Bearer ${token}`, ...(payload === undefined ? {} : { "content-type": raw ? "application/octet-stream" : "application/json" }) },
    ...(payload === undefined ? {} : { payload: raw ? Buffer.from(payload) : JSON.stringify(payload) }),
  });
  expect(res.statusCode, res.body).toBeLessThan(300);
  return res.json();
};

async function query(sql: string): Promise<Record<string, unknown>[]> {
  const connection = await duck.connect();
  try {
    return (await connection.runAndReadAll(sql)).getRowObjectsJS() as Record<string, unknown>[];
  } finally {
    connection.closeSync();
  }
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "paved-predictions-story-"));
  models = buildTestModels();
  duck = await DuckDBInstance.create(":memory:");
  app = await createApp(
    loadConfig({ env: {}, overrides: { dataDir: join(dir, "data"), port: 0, host: "127.0.0.1", logLevel: "silent", compute: { gpus: [] }, datasets: { duckdb: { threads: 2, memoryLimitMiB: 512, maxConcurrent: 1 } } } }),
    { env: {} },
  );
  url = await app.listen();
  const admin = app.generatedAdminToken!;
  token = admin;
  await call("POST", "/api/v1/teams", { name: "risk" });
  await call("POST", "/api/v1/users", { name: "ada", teams: [{ team: "risk", role: "developer" }] });
  token = (await call("POST", "/api/v1/users/ada/tokens", { name: "laptop" })).token as string;
  // The model, as a run's artifact registered by ada.
  const experiment = (await call("POST", "/api/2.0/mlflow/experiments/create", { name: "churn" })).experiment_id as string;
  const runId = (await call("POST", "/api/2.0/mlflow/runs/create", { experiment_id: experiment, start_time: 1 })).run.info.run_id as string;
  await call("PUT", `/api/2.0/mlflow-artifacts/artifacts/${experiment}/${runId}/artifacts/model/model.onnx`, models.bytes("tiny"));
  await call("POST", "/api/v1/models/churn/versions", { source: `runs:/${runId}/model` });
  await call("PATCH", "/api/v1/models/churn/tags", { set: { "model_card.features": "tenure,spend,visits,tickets" } });
  // 1,000,000 customers: an id, the four features in another order than the model's, and a segment.
  await query(
    `COPY (SELECT i AS customer_id, (i % 11) - 5.0 AS tickets, sin(i / 1000.0) AS tenure, cos(i / 777.0) AS spend, (i % 13) / 6.0 AS visits, CASE WHEN i % 3 = 0 THEN 'smb' ELSE 'enterprise' END AS segment FROM range(${ROWS}) t(i)) TO '${join(dir, "customers.parquet")}' (FORMAT parquet)`,
  );
}, 240_000);

afterAll(async () => {
  await app?.close();
  duck?.closeSync();
  await rm(dir, { recursive: true, force: true });
});

describe("story (c): batch inference over 1M rows", () => {
  it("writes an output dataset version with every row, lineage to the model and input versions, and the model's predictions", async () => {
    const paved = (args: string[]) => runPaved(args, { url, token, dir });
    const created = await paved(["datasets", "create", "customers", "customers.parquet", "--team", "risk"]);
    expect(created.code, created.stderr).toBe(0);

    const predicted = await paved(["predict", "churn@1", "--data", "datasets:/customers@1", "--output", "churn-scores"]);
    expect(predicted.code, predicted.stderr).toBe(0);
    expect(predicted.stdout).toMatch(/phase:\s+SUCCEEDED/);
    expect(predicted.stdout).toMatch(/output:\s+datasets:\/churn-scores@1/);
    expect(predicted.stdout).toMatch(/rows\/s:\s+[\d,]+ \(/);
    expect(predicted.stderr).toContain("running:");

    const version = await call("GET", "/api/v1/datasets/churn-scores/versions/1");
    expect(version).toMatchObject({ team: "risk", rowCount: ROWS, lineage: { kind: "prediction", model: "churn", modelVersion: 1, input: "datasets:/customers@1" } });
    const listed = (await call("GET", "/api/v1/predictions")).predictions as { id: string; rows: number; output: string; rowsPerSecond: number }[];
    expect(listed[0]).toMatchObject({ id: version.lineage.id, rows: ROWS, output: "datasets:/churn-scores@1" });
    expect(listed[0]!.rowsPerSecond).toBeGreaterThan(0);
    const shown = await paved(["predictions", "show", listed[0]!.id, "--json"]);
    expect(JSON.parse(shown.stdout)).toMatchObject({ phase: "SUCCEEDED", rows: ROWS, input: "datasets:/customers@1" });

    // Rows at the start, middle and end of the output file, against onnxruntime run directly.
    const file = await new LocalArtifactStore(join(dir, "data", "artifacts")).localPath(version.files[0].digest.replace(/^sha256:/, ""));
    expect(file).toBeDefined();
    const ids = [0, 1, 8191, 8192, 500_000, ROWS - 1];
    const written = await query(`SELECT * FROM read_parquet('${file}') WHERE customer_id IN (${ids.join(",")}) ORDER BY customer_id`);
    expect(written.map((r) => Number(r.customer_id))).toEqual(ids);
    expect(Object.keys(written[0]!)).toEqual(["customer_id", "segment", "probabilities_0", "probabilities_1"]);
    const positions = await query(`SELECT count(*)::INTEGER AS n, min(customer_id)::INTEGER AS first, max(customer_id)::INTEGER AS last FROM read_parquet('${file}')`);
    expect(positions[0]).toEqual({ n: ROWS, first: 0, last: ROWS - 1 });
    const features = ids.flatMap((i) => [Math.sin(i / 1000), Math.cos(i / 777), (i % 13) / 6, (i % 11) - 5]);
    const session = await ort.InferenceSession.create(models.bytes("tiny"));
    const expected = (await session.run({ input: new ort.Tensor("float32", Float32Array.from(features), [ids.length, 4]) })).probabilities!.data as Float32Array;
    written.forEach((row, i) => {
      expect(row.segment).toBe(ids[i]! % 3 === 0 ? "smb" : "enterprise");
      expect(row.probabilities_0).toBeCloseTo(expected[i * 2]!, 5);
      expect(row.probabilities_1).toBeCloseTo(expected[i * 2 + 1]!, 5);
    });
  }, 600_000);
});
