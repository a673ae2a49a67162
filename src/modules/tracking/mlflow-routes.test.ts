import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createApp, type App } from "../../app.ts";
import { loadConfig } from "../../config/index.ts";

// Request bodies below are shaped as the mlflow Python client (2.x) sends them.
describe("MLflow REST API", () => {
  let app: App;
  let auth: Record<string, string>;
  const api = "/api/2.0/mlflow";

  const post = async (path: string, payload: unknown, prefix = api) =>
    app.server.inject({ method: "POST", url: prefix + path, headers: auth, payload: payload as object });
  const get = async (path: string, query: Record<string, string> = {}) =>
    app.server.inject({ method: "GET", url: `${api}${path}?${new URLSearchParams(query)}`, headers: auth });

  beforeAll(async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "paved-mlflow-"));
    app = await createApp(loadConfig({ env: {}, overrides: { dataDir, logLevel: "silent", artifacts: { maxUploadBytes: 64 } } }));
    auth = { authorization: `Bearer ${app.generatedAdminToken}` };
  });
  afterAll(async () => app.close());

  async function newRun(experiment = "Default"): Promise<{ runId: string; experimentId: string }> {
    const exp = (await get("/experiments/get-by-name", { experiment_name: experiment })).json();
    const experimentId = exp.experiment?.experiment_id ?? (await post("/experiments/create", { name: experiment })).json().experiment_id;
    const res = await post("/runs/create", {
      experiment_id: experimentId,
      start_time: 1700000000000,
      tags: [
        { key: "mlflow.user", value: "ada" },
        { key: "mlflow.source.name", value: "train.py" },
      ],
      run_name: "bright-fox-1",
    });
    expect(res.statusCode).toBe(200);
    return { runId: res.json().run.info.run_id, experimentId };
  }

  it("refuses an unauthenticated mutation with UNAUTHENTICATED", async () => {
    const res = await app.server.inject({ method: "POST", url: `${api}/experiments/create`, payload: { name: "x" } });
    expect(res.statusCode).toBe(401);
    expect(res.json().error_code).toBe("UNAUTHENTICATED");
  });

  it("does set_experiment: get-by-name misses, then create, then get", async () => {
    const miss = await get("/experiments/get-by-name", { experiment_name: "churn" });
    expect(miss.statusCode).toBe(404);
    expect(miss.json().error_code).toBe("RESOURCE_DOES_NOT_EXIST");
    const created = await post("/experiments/create", { name: "churn" });
    const id = created.json().experiment_id;
    expect(typeof id).toBe("string");
    const again = await post("/experiments/create", { name: "churn" });
    expect(again.json().error_code).toBe("RESOURCE_ALREADY_EXISTS");
    const exp = (await get("/experiments/get", { experiment_id: id })).json().experiment;
    expect(exp).toEqual({
      experiment_id: id,
      name: "churn",
      artifact_location: `mlflow-artifacts:/${id}`,
      lifecycle_stage: "active",
      last_update_time: expect.any(Number),
      creation_time: expect.any(Number),
    });
    const def = (await get("/experiments/get", { experiment_id: "0" })).json().experiment;
    expect(def.name).toBe("Default");
  });

  it("searches, renames, tags, deletes and restores experiments", async () => {
    const id = (await post("/experiments/create", { name: "exp-a", tags: [{ key: "team", value: "x" }] })).json().experiment_id;
    const found = (await post("/experiments/search", { max_results: 10, filter: "name LIKE 'exp-%'", order_by: ["name ASC"], view_type: "ACTIVE_ONLY" })).json();
    expect(found.experiments.map((e: { name: string }) => e.name)).toEqual(["exp-a"]);
    expect(found.experiments[0].tags).toEqual([{ key: "team", value: "x" }]);
    const viaGet = await app.server.inject({ url: `${api}/experiments/search?max_results=1&order_by=name%20ASC&order_by=creation_time`, headers: auth });
    expect(viaGet.json().experiments).toHaveLength(1);
    expect(viaGet.json().next_page_token).toBeTruthy();
    await post("/experiments/update", { experiment_id: id, new_name: "exp-b" });
    await post("/experiments/set-experiment-tag", { experiment_id: id, key: "stage", value: "dev" });
    await post("/experiments/delete", { experiment_id: id });
    expect((await get("/experiments/get", { experiment_id: id })).json().experiment).toMatchObject({ name: "exp-b", lifecycle_stage: "deleted" });
    await post("/experiments/restore", { experiment_id: id });
    expect((await get("/experiments/get", { experiment_id: id })).json().experiment.lifecycle_stage).toBe("active");
  });

  it("creates and gets a run in MLflow's JSON shape", async () => {
    const { runId, experimentId } = await newRun();
    const run = (await get("/runs/get", { run_id: runId })).json().run;
    expect(run).toEqual({
      info: {
        run_uuid: runId,
        run_id: runId,
        run_name: "bright-fox-1",
        experiment_id: experimentId,
        // The token decides who the author is, not the client's user_id or mlflow.user tag.
        user_id: "admin",
        status: "RUNNING",
        start_time: 1700000000000,
        artifact_uri: `mlflow-artifacts:/${experimentId}/${runId}/artifacts`,
        lifecycle_stage: "active",
      },
      data: {
        tags: [
          { key: "mlflow.runName", value: "bright-fox-1" },
          { key: "mlflow.source.name", value: "train.py" },
          { key: "mlflow.user", value: "admin" },
        ],
      },
      inputs: {},
    });
    const ended = (await post("/runs/update", { run_id: runId, run_uuid: runId, status: "FINISHED", end_time: 1700000001000 })).json();
    expect(ended.run_info).toMatchObject({ status: "FINISHED", end_time: 1700000001000 });
  });

  it("logs a batch, single metrics, params and tags, and reads them back", async () => {
    const { runId } = await newRun();
    const batch = await post("/runs/log-batch", {
      run_id: runId,
      metrics: [
        { key: "loss", value: 0.5, timestamp: 1700000000001, step: 0 },
        { key: "loss", value: 0.25, timestamp: "1700000000002", step: "1" },
        { key: "bad", value: "NaN", timestamp: 1700000000001, step: 0 },
      ],
      params: [{ key: "lr", value: "0.01" }],
      tags: [{ key: "team", value: "ml" }],
    });
    expect(batch.statusCode).toBe(200);
    expect(batch.json()).toEqual({});
    await post("/runs/log-metric", { run_id: runId, run_uuid: runId, key: "acc", value: 0.9, timestamp: 1700000000003, step: 3 });
    await post("/runs/log-parameter", { run_id: runId, run_uuid: runId, key: "epochs", value: "10" });
    await post("/runs/set-tag", { run_id: runId, run_uuid: runId, key: "stage", value: "dev" });
    await post("/runs/delete-tag", { run_id: runId, key: "stage" });
    const data = (await get("/runs/get", { run_id: runId })).json().run.data;
    expect(data.metrics).toEqual([
      { key: "acc", value: 0.9, timestamp: 1700000000003, step: 3 },
      { key: "bad", value: "NaN", timestamp: 1700000000001, step: 0 },
      { key: "loss", value: 0.25, timestamp: 1700000000002, step: 1 },
    ]);
    expect(data.params).toEqual([
      { key: "epochs", value: "10" },
      { key: "lr", value: "0.01" },
    ]);
    expect(data.tags.map((t: { key: string }) => t.key)).not.toContain("stage");
    const history = (await get("/metrics/get-history", { run_id: runId, run_uuid: runId, metric_key: "loss" })).json();
    expect(history.metrics.map((m: { value: number }) => m.value)).toEqual([0.5, 0.25]);
    const paged = (await get("/metrics/get-history", { run_id: runId, metric_key: "loss", max_results: "1" })).json();
    expect(paged.metrics).toHaveLength(1);
    const rest = (await get("/metrics/get-history", { run_id: runId, metric_key: "loss", max_results: "1", page_token: paged.next_page_token })).json();
    expect(rest.metrics[0].value).toBe(0.25);
  });

  it("answers MLflow error codes for bad input, changed params and limits", async () => {
    const { runId } = await newRun();
    await post("/runs/log-parameter", { run_id: runId, key: "lr", value: "0.01" });
    expect((await post("/runs/log-parameter", { run_id: runId, key: "lr", value: "0.01" })).statusCode).toBe(200);
    const changed = await post("/runs/log-parameter", { run_id: runId, key: "lr", value: "0.1" });
    expect(changed.statusCode).toBe(400);
    expect(changed.json().error_code).toBe("INVALID_PARAMETER_VALUE");
    const tooMany = await post("/runs/log-batch", {
      run_id: runId,
      metrics: Array.from({ length: 1001 }, (_, i) => ({ key: "m", value: i, timestamp: 1, step: i })),
    });
    expect(tooMany.json().error_code).toBe("INVALID_PARAMETER_VALUE");
    const longParam = await post("/runs/log-parameter", { run_id: runId, key: "long", value: "x".repeat(6001) });
    expect(longParam.json().error_code).toBe("INVALID_PARAMETER_VALUE");
    const badKey = await post("/runs/log-metric", { run_id: runId, key: "../escape", value: 1, timestamp: 1, step: 0 });
    expect(badKey.json().error_code).toBe("INVALID_PARAMETER_VALUE");
    const missing = await get("/runs/get", { run_id: "f".repeat(32) });
    expect(missing.statusCode).toBe(404);
    expect(missing.json().error_code).toBe("RESOURCE_DOES_NOT_EXIST");
    const badBody = await post("/runs/log-metric", { run_id: runId, key: "x", value: "lots" });
    expect(badBody.json().error_code).toBe("INVALID_PARAMETER_VALUE");
    const badFilter = await post("/runs/search", { experiment_ids: ["0"], filter: "metrics.acc >> 1" });
    expect(badFilter.json().error_code).toBe("INVALID_PARAMETER_VALUE");
  });

  it("searches runs with filter, order_by and page_token", async () => {
    const experimentId = (await post("/experiments/create", { name: "search-http" })).json().experiment_id;
    for (let i = 0; i < 3; i++) {
      const runId = (await post("/runs/create", { experiment_id: experimentId, start_time: 1000 + i, run_name: `r${i}`, tags: [] })).json().run.info.run_id;
      await post("/runs/log-batch", { run_id: runId, metrics: [{ key: "acc", value: i, timestamp: 1, step: 0 }], params: [{ key: "lr", value: String(i) }] });
    }
    const body = { experiment_ids: [experimentId], filter: "metrics.acc >= 1", run_view_type: "ACTIVE_ONLY", max_results: 1, order_by: ["metrics.acc DESC"] };
    const first = (await post("/runs/search", body)).json();
    expect(first.runs.map((r: { info: { run_name: string } }) => r.info.run_name)).toEqual(["r2"]);
    const second = (await post("/runs/search", { ...body, page_token: first.next_page_token })).json();
    expect(second.runs.map((r: { info: { run_name: string } }) => r.info.run_name)).toEqual(["r1"]);
    expect(second.next_page_token).toBeUndefined();
    const none = (await post("/runs/search", { experiment_ids: [experimentId], filter: "params.lr = '9'" })).json();
    expect(none).toEqual({});
    const ajax = (await post("/runs/search", { experiment_ids: [experimentId] }, "/ajax-api/2.0/mlflow")).json();
    expect(ajax.runs).toHaveLength(3);
  });

  it("records dataset inputs", async () => {
    const { runId } = await newRun();
    await post("/runs/log-inputs", {
      run_id: runId,
      datasets: [{ tags: [{ key: "mlflow.data.context", value: "training" }], dataset: { name: "iris", digest: "abc123", source_type: "local", source: '{"uri": "/data/iris.csv"}', schema: "{}" } }],
    });
    const inputs = (await get("/runs/get", { run_id: runId })).json().run.inputs;
    expect(inputs).toEqual({
      dataset_inputs: [
        {
          tags: [{ key: "mlflow.data.context", value: "training" }],
          dataset: { name: "iris", digest: "abc123", source_type: "local", source: '{"uri": "/data/iris.csv"}', schema: "{}" },
        },
      ],
    });
  });

  describe("artifact proxy", () => {
    const proxy = "/api/2.0/mlflow-artifacts/artifacts";

    it("uploads, lists and downloads through mlflow-artifacts URIs", async () => {
      const { runId, experimentId } = await newRun();
      const root = `${experimentId}/${runId}/artifacts`;
      const put = await app.server.inject({ method: "PUT", url: `${proxy}/${root}/model/config.json`, headers: { ...auth, "content-type": "application/json" }, payload: '{"a":1}' });
      expect(put.statusCode).toBe(200);
      await app.server.inject({ method: "PUT", url: `${proxy}/${root}/notes.txt`, headers: { ...auth, "content-type": "text/plain" }, payload: "hi" });
      const listing = await app.server.inject({ url: `${proxy}?path=${encodeURIComponent(root)}`, headers: auth });
      expect(listing.json()).toEqual({ files: [{ path: "model", is_dir: true }, { path: "notes.txt", is_dir: false, file_size: 2 }] });
      const sub = await app.server.inject({ url: `${proxy}?path=${encodeURIComponent(`${root}/model`)}`, headers: auth });
      expect(sub.json()).toEqual({ files: [{ path: "config.json", is_dir: false, file_size: 7 }] });
      const download = await app.server.inject({ url: `${proxy}/${root}/model/config.json`, headers: auth });
      expect(download.body).toBe('{"a":1}');
      const legacy = (await get("/artifacts/list", { run_id: runId, path: "model" })).json();
      expect(legacy).toEqual({ root_uri: `mlflow-artifacts:/${root}`, files: [{ path: "model/config.json", is_dir: false, file_size: 7 }] });
      const paved = await app.server.inject({ url: `/api/v1/runs/${runId}/artifacts/content?path=notes.txt`, headers: auth });
      expect(paved.body).toBe("hi");
    });

    it("confines paths to an existing run's artifact root and limits size", async () => {
      const { runId, experimentId } = await newRun();
      const root = `${experimentId}/${runId}/artifacts`;
      for (const url of [`${proxy}/${root}/../../x`, `${proxy}/${root}/a%5Cb`, `${proxy}/${experimentId}/${runId}/other/x`, `${proxy}/${experimentId}/x`]) {
        const res = await app.server.inject({ method: "PUT", url, headers: auth, payload: "x" });
        expect(res.statusCode, url).toBeGreaterThanOrEqual(400);
        expect(res.json().error_code).toBeTruthy();
      }
      const wrongExperiment = await app.server.inject({ method: "PUT", url: `${proxy}/999/${runId}/artifacts/x`, headers: auth, payload: "x" });
      expect(wrongExperiment.json().error_code).toBe("RESOURCE_DOES_NOT_EXIST");
      const big = await app.server.inject({ method: "PUT", url: `${proxy}/${root}/big.bin`, headers: { ...auth, "content-type": "application/octet-stream" }, payload: Buffer.alloc(100) });
      expect(big.statusCode).toBe(413);
      const unauth = await app.server.inject({ method: "PUT", url: `${proxy}/${root}/x`, payload: "x" });
      expect(unauth.json().error_code).toBe("UNAUTHENTICATED");
    });
  });
});

describe("Paved tracking API", () => {
  let app: App;
  let auth: Record<string, string>;
  beforeAll(async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "paved-tracking-"));
    app = await createApp(loadConfig({ env: {}, overrides: { dataDir, logLevel: "silent" } }));
    auth = { authorization: `Bearer ${app.generatedAdminToken}` };
  });
  afterAll(async () => app.close());

  it("lists experiments and runs, shows a run and a metric history, and is in the OpenAPI document", async () => {
    const service = app.server; // routes only: everything goes over HTTP
    const exp = (await service.inject({ method: "POST", url: "/api/2.0/mlflow/experiments/create", headers: auth, payload: { name: "vision" } })).json().experiment_id;
    const runId = (await service.inject({ method: "POST", url: "/api/2.0/mlflow/runs/create", headers: auth, payload: { experiment_id: exp, run_name: "r" } })).json().run.info.run_id;
    await service.inject({
      method: "POST",
      url: "/api/2.0/mlflow/runs/log-batch",
      headers: auth,
      payload: { run_id: runId, metrics: [{ key: "acc", value: 0.5, timestamp: 5, step: 1 }, { key: "acc", value: 0.7, timestamp: 6, step: 2 }], params: [{ key: "lr", value: "0.1" }] },
    });
    const experiments = (await service.inject({ url: "/api/v1/experiments", headers: auth })).json().experiments;
    expect(experiments.map((e: { name: string }) => e.name)).toEqual(["Default", "vision"]);
    const runs = (await service.inject({ url: `/api/v1/runs?experiment=vision&status=RUNNING&filter=${encodeURIComponent("metrics.acc > 0.6")}`, headers: auth })).json().runs;
    expect(runs).toHaveLength(1);
    expect(runs[0]).toMatchObject({ id: runId, experimentId: exp, name: "r", status: "RUNNING", params: { lr: "0.1" }, metrics: { acc: { value: 0.7, step: 2, timestamp: 6 } } });
    const run = (await service.inject({ url: `/api/v1/runs/${runId}`, headers: auth })).json();
    expect(run.source).toEqual({ commit: null, dirty: null, entrypoint: null });
    const history = (await service.inject({ url: `/api/v1/runs/${runId}/metrics/acc`, headers: auth })).json();
    expect(history).toEqual({ history: [{ value: 0.5, step: 1, timestamp: 5 }, { value: 0.7, step: 2, timestamp: 6 }] });
    const missing = await service.inject({ url: "/api/v1/runs/nope", headers: auth });
    expect(missing.json().error.code).toBe("NOT_FOUND");
    const doc = (await service.inject({ url: "/api/v1/openapi.json" })).json();
    expect(doc.paths["/api/v1/runs/{id}"].get.tags).toEqual(["tracking"]);
  });
});
