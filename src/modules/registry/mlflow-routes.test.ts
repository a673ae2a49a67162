import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createApp, type App } from "../../app.ts";
import { loadConfig } from "../../config/index.ts";
import { exportLinearOnnx } from "../../../test/support/onnx.ts";

// Request shapes below are the ones the mlflow Python client (2.x/3.x) sends: GET with query
// strings, DELETE with a JSON body, PATCH for updates, raw PUT uploads through the artifact proxy.
describe("MLflow model registry REST API", () => {
  let app: App;
  let auth: Record<string, string>;
  const api = "/api/2.0/mlflow";
  const proxy = "/api/2.0/mlflow-artifacts/artifacts";
  const onnx = exportLinearOnnx();

  const call = (method: "GET" | "POST" | "PATCH" | "DELETE" | "PUT", url: string, payload?: unknown) =>
    app.server.inject({ method, url, headers: auth, ...(payload !== undefined ? { payload: payload as object } : {}) });
  const get = (path: string, query: Record<string, string | string[]> = {}) => {
    const params = new URLSearchParams();
    for (const [k, v] of Object.entries(query)) for (const item of [v].flat()) params.append(k, item);
    return call("GET", `${api}${path}?${params}`);
  };

  beforeAll(async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "paved-registry-"));
    app = await createApp(loadConfig({ env: {}, overrides: { dataDir, logLevel: "silent", compute: { gpus: [] } } }));
    auth = { authorization: `Bearer ${app.generatedAdminToken}` };
  });
  afterAll(async () => app.close());

  async function runWithModel(): Promise<{ runId: string; experimentId: string; artifactUri: string }> {
    const run = (await call("POST", `${api}/runs/create`, { experiment_id: "0", start_time: 1700000000000, tags: [{ key: "mlflow.source.git.commit", value: "c0ffee" }] })).json().run.info;
    const base = `${proxy}/0/${run.run_id}/artifacts/model`;
    const put = async (file: string, body: Buffer) =>
      app.server.inject({ method: "PUT", url: `${base}/${file}`, headers: { ...auth, "content-type": "application/octet-stream" }, payload: body });
    expect((await put("model.onnx", onnx)).statusCode).toBe(200);
    expect((await put("MLmodel", Buffer.from("flavors: {onnx: {}}\n"))).statusCode).toBe(200);
    await call("POST", `${api}/runs/log-inputs`, {
      run_id: run.run_id,
      datasets: [{ dataset: { name: "iris", digest: "abc", source_type: "local", source: "iris.csv" } }],
    });
    return { runId: run.run_id, experimentId: run.experiment_id, artifactUri: run.artifact_uri };
  }

  it("registers like mlflow.register_model: create model, create version, get it back", async () => {
    const { runId, artifactUri } = await runWithModel();
    const created = await call("POST", `${api}/registered-models/create`, { name: "iris", tags: [{ key: "team", value: "ml" }], description: "Iris" });
    expect(created.statusCode).toBe(200);
    expect(created.json().registered_model).toMatchObject({ name: "iris", description: "Iris", tags: [{ key: "team", value: "ml" }], aliases: [] });
    expect((await call("POST", `${api}/registered-models/create`, { name: "iris" })).json().error_code).toBe("RESOURCE_ALREADY_EXISTS");
    const version = await call("POST", `${api}/model-versions/create`, { name: "iris", source: `${artifactUri}/model`, run_id: runId, tags: [] });
    expect(version.statusCode).toBe(200);
    expect(version.json().model_version).toEqual({
      name: "iris",
      version: "1",
      creation_timestamp: expect.any(Number),
      last_updated_timestamp: expect.any(Number),
      user_id: "admin",
      current_stage: "None",
      source: `${artifactUri}/model`,
      run_id: runId,
      status: "READY",
      aliases: [],
    });
    const fetched = (await get("/model-versions/get", { name: "iris", version: "1" })).json().model_version;
    expect(fetched.version).toBe("1");
    const model = (await get("/registered-models/get", { name: "iris" })).json().registered_model;
    expect(model.latest_versions.map((v: { version: string }) => v.version)).toEqual(["1"]);
    const latest = (await call("POST", `${api}/registered-models/get-latest-versions`, { name: "iris", stages: ["None"] })).json();
    expect(latest.model_versions[0].version).toBe("1");
  });

  it("serves the copied files at the download URI, even after the run is gone", async () => {
    const uri = (await get("/model-versions/get-download-uri", { name: "iris", version: "1" })).json().artifact_uri;
    expect(uri).toBe("mlflow-artifacts:/registry/iris/1");
    const listing = await call("GET", `${proxy}?path=registry/iris/1`);
    expect(listing.json().files).toEqual([
      { path: "MLmodel", is_dir: false, file_size: 20 },
      { path: "model.onnx", is_dir: false, file_size: onnx.length },
    ]);
    const version = (await get("/model-versions/get", { name: "iris", version: "1" })).json().model_version;
    await call("POST", `${api}/runs/delete`, { run_id: version.run_id });
    await app.database.db.deleteFrom("artifacts").where("run_id", "=", version.run_id).execute();
    const file = await call("GET", `${proxy}/registry/iris/1/model.onnx`);
    expect(file.statusCode).toBe(200);
    expect(file.rawPayload.equals(onnx)).toBe(true);
    expect((await call("GET", `${proxy}/registry/iris/1/../../etc/passwd`)).statusCode).toBeGreaterThanOrEqual(400);
    expect((await call("GET", `${proxy}/registry/iris/1/missing`)).json().error_code).toBe("RESOURCE_DOES_NOT_EXIST");
  });

  it("shows the signature, lineage and files on Paved's API", async () => {
    const res = await call("GET", "/api/v1/models/iris/versions/1");
    expect(res.statusCode).toBe(200);
    const v = res.json();
    expect(v.signature.inputs).toEqual([{ name: "features", type: "float32", shape: ["batch", 4] }]);
    expect(v.lineage).toMatchObject({ commit: "c0ffee", datasets: [{ name: "iris", digest: "abc", source: "iris.csv" }] });
    expect(v.files.map((f: { path: string }) => f.path)).toEqual(["MLmodel", "model.onnx"]);
  });

  it("rejects unsafe sources and unknown runs with MLflow error codes", async () => {
    const { runId } = await runWithModel();
    for (const source of ["file:///etc/passwd", "http://169.254.169.254/latest", `runs:/${runId}/../../x`, `runs:/${runId}/model#frag`, `runs:/${runId}/model?x=1`]) {
      const res = await call("POST", `${api}/model-versions/create`, { name: "iris", source, run_id: runId });
      expect(res.statusCode).toBe(400);
      expect(res.json().error_code).toBe("INVALID_PARAMETER_VALUE");
    }
    const unknown = await call("POST", `${api}/model-versions/create`, { name: "iris", source: `runs:/${"f".repeat(32)}/model` });
    expect(unknown.json().error_code).toBe("RESOURCE_DOES_NOT_EXIST");
  });

  it("sets, reads, moves and deletes aliases (DELETE with a JSON body, as the client sends it)", async () => {
    const { runId } = await runWithModel();
    await call("POST", `${api}/model-versions/create`, { name: "iris", source: `runs:/${runId}/model`, run_id: runId });
    expect((await call("POST", `${api}/registered-models/alias`, { name: "iris", alias: "champion", version: "1" })).statusCode).toBe(200);
    expect((await get("/registered-models/alias", { name: "iris", alias: "champion" })).json().model_version).toMatchObject({ version: "1", aliases: ["champion"] });
    await call("POST", `${api}/registered-models/alias`, { name: "iris", alias: "champion", version: "2" });
    expect((await get("/registered-models/get", { name: "iris" })).json().registered_model.aliases).toEqual([{ alias: "champion", version: "2" }]);
    expect((await call("DELETE", `${api}/registered-models/alias`, { name: "iris", alias: "champion" })).statusCode).toBe(200);
    expect((await get("/registered-models/alias", { name: "iris", alias: "champion" })).json().error_code).toBe("RESOURCE_DOES_NOT_EXIST");
    expect((await call("POST", `${api}/registered-models/alias`, { name: "iris", alias: "latest", version: "1" })).json().error_code).toBe("INVALID_PARAMETER_VALUE");
    // Paved's API does the same.
    expect((await call("PUT", "/api/v1/models/iris/aliases/staging", { version: "2" })).json()).toEqual({ name: "iris", alias: "staging", version: "2" });
    expect((await call("GET", "/api/v1/models/iris/versions/staging")).json().version).toBe("2");
    expect((await call("DELETE", "/api/v1/models/iris/aliases/staging")).statusCode).toBe(200);
  });

  it("searches models and versions with filters, repeated order_by and paging; tags; update; rename; delete", async () => {
    for (const name of ["search-a", "search-b", "search-c"]) await call("POST", `${api}/registered-models/create`, { name });
    const first = (await get("/registered-models/search", { filter: "name LIKE 'search-%'", max_results: "2", order_by: ["name DESC", "last_updated_timestamp"] })).json();
    expect(first.registered_models.map((m: { name: string }) => m.name)).toEqual(["search-c", "search-b"]);
    const next = (await get("/registered-models/search", { filter: "name LIKE 'search-%'", max_results: "2", order_by: ["name DESC"], page_token: first.next_page_token })).json();
    expect(next.registered_models.map((m: { name: string }) => m.name)).toEqual(["search-a"]);
    expect(next.next_page_token).toBeUndefined();
    expect((await get("/registered-models/search", { filter: "name = 'search-b'" })).json().registered_models).toHaveLength(1);
    const versions = (await get("/model-versions/search", { filter: "name = 'iris'", max_results: "10", order_by: ["version_number ASC"] })).json().model_versions;
    expect(versions.map((v: { version: string }) => v.version)).toEqual(["1", "2"]);
    const runId = versions[1].run_id;
    expect((await get("/model-versions/search", { filter: `run_id = '${runId}'` })).json().model_versions.map((v: { version: string }) => v.version)).toEqual(["2"]);

    await call("POST", `${api}/model-versions/set-tag`, { name: "iris", version: "2", key: "validated", value: "yes" });
    expect((await get("/model-versions/get", { name: "iris", version: "2" })).json().model_version.tags).toEqual([{ key: "validated", value: "yes" }]);
    await call("DELETE", `${api}/model-versions/delete-tag`, { name: "iris", version: "2", key: "validated" });
    await call("POST", `${api}/registered-models/set-tag`, { name: "search-a", key: "k", value: "v" });
    await call("DELETE", `${api}/registered-models/delete-tag`, { name: "search-a", key: "k" });
    expect((await call("PATCH", `${api}/model-versions/update`, { name: "iris", version: "2", description: "good" })).json().model_version.description).toBe("good");
    expect((await call("PATCH", `${api}/registered-models/update`, { name: "search-a", description: "d" })).json().registered_model.description).toBe("d");
    expect((await call("POST", `${api}/registered-models/rename`, { name: "search-a", new_name: "search-z" })).json().registered_model.name).toBe("search-z");
    expect((await call("DELETE", `${api}/model-versions/delete`, { name: "iris", version: "2" })).statusCode).toBe(200);
    expect((await call("DELETE", `${api}/registered-models/delete`, { name: "search-z" })).statusCode).toBe(200);
    expect((await get("/registered-models/get", { name: "search-z" })).json().error_code).toBe("RESOURCE_DOES_NOT_EXIST");
  });

  it("does MLflow 3's log_model: create a logged model, upload, finalize, log outputs, search, register", async () => {
    const run = (await call("POST", `${api}/runs/create`, { experiment_id: "0" })).json().run.info;
    const created = await call("POST", `${api}/logged-models`, { experiment_id: "0", name: "model", source_run_id: run.run_id, model_type: "onnx", params: [], tags: [{ key: "mlflow.user", value: "ada" }] });
    expect(created.statusCode).toBe(200);
    const info = created.json().model.info;
    expect(info).toMatchObject({ experiment_id: "0", name: "model", status: "LOGGED_MODEL_PENDING", source_run_id: run.run_id, model_type: "onnx" });
    expect(info.model_id).toMatch(/^m-[0-9a-f]{32}$/);
    expect(info.artifact_uri).toBe(`mlflow-artifacts:/0/models/${info.model_id}/artifacts`);
    const upload = await app.server.inject({
      method: "PUT",
      url: `${proxy}/0/models/${info.model_id}/artifacts/model.onnx`,
      headers: { ...auth, "content-type": "application/octet-stream" },
      payload: onnx,
    });
    expect(upload.statusCode).toBe(200);
    expect((await call("GET", `${proxy}?path=0/models/${info.model_id}/artifacts`)).json().files).toEqual([{ path: "model.onnx", is_dir: false, file_size: onnx.length }]);
    expect((await call("GET", `${proxy}/0/models/${info.model_id}/artifacts/model.onnx`)).rawPayload.equals(onnx)).toBe(true);
    const finalized = await call("PATCH", `${api}/logged-models/${info.model_id}`, { model_id: info.model_id, status: "LOGGED_MODEL_READY" });
    expect(finalized.json().model.info.status).toBe("LOGGED_MODEL_READY");
    expect((await call("POST", `${api}/runs/outputs`, { run_id: run.run_id, models: [{ model_id: info.model_id, step: 0 }] })).statusCode).toBe(200);
    const search = await call("POST", `${api}/logged-models/search`, { experiment_ids: ["0"], filter: `source_run_id = '${run.run_id}' AND name = 'model'`, max_results: 10 });
    expect(search.json().models.map((m: { info: { model_id: string } }) => m.info.model_id)).toEqual([info.model_id]);
    expect((await call("GET", `${api}/logged-models/${info.model_id}`)).json().model.info.status).toBe("LOGGED_MODEL_READY");
    await call("POST", `${api}/registered-models/create`, { name: "v3-model" });
    const version = await call("POST", `${api}/model-versions/create`, { name: "v3-model", source: info.artifact_uri, run_id: run.run_id, model_id: info.model_id });
    expect(version.json().model_version).toMatchObject({ version: "1", model_id: info.model_id, run_id: run.run_id, status: "READY" });
    expect((await call("GET", `${api}/logged-models/m-${"0".repeat(32)}`)).json().error_code).toBe("RESOURCE_DOES_NOT_EXIST");
  });

  it("lists models and registers through Paved's API", async () => {
    const { runId } = await runWithModel();
    const registered = await call("POST", "/api/v1/models/paved-made/versions", { source: `runs:/${runId}/model`, description: "via paved" });
    expect(registered.statusCode).toBe(200);
    expect(registered.json()).toMatchObject({ name: "paved-made", version: "1", status: "READY", description: "via paved", downloadUri: "mlflow-artifacts:/registry/paved-made/1" });
    const list = (await call("GET", "/api/v1/models")).json().models.map((m: { name: string }) => m.name);
    expect(list).toContain("paved-made");
    const detail = (await call("GET", "/api/v1/models/paved-made")).json();
    expect(detail.versions.map((v: { version: string }) => v.version)).toEqual(["1"]);
    expect((await call("POST", "/api/v1/models/paved-made/versions", { source: "file:///etc/passwd" })).json().error.code).toBe("INVALID_INPUT");
  });
});
