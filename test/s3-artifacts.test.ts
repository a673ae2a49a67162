import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createApp, type App } from "../src/app.ts";
import { loadConfig } from "../src/config/index.ts";
import { paddedOnnx } from "./support/onnx-protobuf.ts";
import { startS3rver, type S3Emulator } from "./support/s3-emulator.ts";
import { startServerProcess } from "./support/server-process.ts";

// Paved with artifacts.store: s3 against s3rver, an S3 EMULATOR (not AWS S3) that this test starts
// as a child process and kills with SIGKILL to play an object store that is down. Requests are
// shaped as the mlflow client sends them: raw PUTs through the artifact proxy, JSON registry calls.
describe("artifacts on S3 (s3rver emulator): the MLflow proxy, presigned downloads, an endpoint that goes down", () => {
  let s3: S3Emulator;
  let app: App;
  let auth: Record<string, string>;
  const api = "/api/2.0/mlflow";
  const proxy = "/api/2.0/mlflow-artifacts/artifacts";
  const onnx = paddedOnnx(4096);

  const call = (method: "GET" | "POST" | "PUT", url: string, payload?: unknown) =>
    app.server.inject({ method, url, headers: auth, ...(payload !== undefined ? { payload: payload as object } : {}) });
  const upload = (url: string, body: Buffer) => app.server.inject({ method: "PUT", url, headers: { ...auth, "content-type": "application/octet-stream" }, payload: body });
  const versions = async (name: string) =>
    ((await call("GET", `${api}/model-versions/search?filter=${encodeURIComponent(`name='${name}'`)}`)).json().model_versions ?? []).map((v: { version: string }) => v.version);

  beforeAll(async () => {
    s3 = await startS3rver();
    const dataDir = mkdtempSync(join(tmpdir(), "paved-s3-"));
    const config = loadConfig({
      env: {},
      overrides: {
        dataDir,
        logLevel: "silent",
        compute: { gpus: [] },
        artifacts: { store: "s3", s3: { bucket: s3.bucket, prefix: "paved/", endpoint: s3.endpoint, forcePathStyle: true, connectTimeoutSeconds: 2, requestTimeoutSeconds: 10 } },
      } as never,
    });
    app = await createApp(config, { env: { AWS_ACCESS_KEY_ID: s3.credentials.accessKeyId, AWS_SECRET_ACCESS_KEY: s3.credentials.secretAccessKey } });
    auth = { authorization: `Bearer ${app.generatedAdminToken}` };
    // The controllers run (a job's outputs are uploaded by the compute controller).
    await app.listen();
  });
  afterAll(async () => {
    await app?.close();
    await s3?.stop();
  });

  let runId = "";
  let artifactUri = "";

  it("keeps the MLflow artifact proxy working unchanged: upload, list, download", async () => {
    const run = (await call("POST", `${api}/runs/create`, { experiment_id: "0", start_time: 1700000000000 })).json().run.info;
    runId = run.run_id;
    artifactUri = run.artifact_uri;
    const base = `${proxy}/0/${runId}/artifacts/model`;
    expect((await upload(`${base}/model.onnx`, onnx)).statusCode).toBe(200);
    expect((await upload(`${base}/MLmodel`, Buffer.from("flavors: {onnx: {}}\n"))).statusCode).toBe(200);
    const listed = await call("GET", `${proxy}?path=0/${runId}/artifacts/model`);
    expect(listed.json().files).toEqual([
      { path: "MLmodel", is_dir: false, file_size: 20 },
      { path: "model.onnx", is_dir: false, file_size: onnx.length },
    ]);
    const fetched = await call("GET", `${base}/model.onnx`);
    expect(fetched.statusCode).toBe(200);
    expect(fetched.rawPayload.equals(onnx)).toBe(true);
  });

  it("redirects to a presigned URL of the bucket when asked (?redirect=presigned), on run, registry and logged-model downloads", async () => {
    const viaProxy = await call("GET", `${proxy}/0/${runId}/artifacts/model/model.onnx?redirect=presigned`);
    expect(viaProxy.statusCode).toBe(307);
    const location = viaProxy.headers.location as string;
    expect(location.startsWith(`${s3.endpoint}/${s3.bucket}/paved/sha256/`)).toBe(true);
    const direct = await fetch(location);
    expect(direct.status).toBe(200);
    expect(Buffer.from(await direct.arrayBuffer()).equals(onnx)).toBe(true);

    const viaApi = await call("GET", `/api/v1/runs/${runId}/artifacts/content?path=model/MLmodel&redirect=presigned`);
    expect(viaApi.statusCode).toBe(307);
    expect(await (await fetch(viaApi.headers.location as string)).text()).toBe("flavors: {onnx: {}}\n");

    expect((await call("POST", `${api}/registered-models/create`, { name: "iris-s3" })).statusCode).toBe(200);
    const created = await call("POST", `${api}/model-versions/create`, { name: "iris-s3", source: `${artifactUri}/model`, run_id: runId });
    expect(created.statusCode).toBe(200);
    const registryFile = await call("GET", `${proxy}/registry/iris-s3/1/model.onnx?redirect=presigned`);
    expect(registryFile.statusCode).toBe(307);
    expect(Buffer.from(await (await fetch(registryFile.headers.location as string)).arrayBuffer()).equals(onnx)).toBe(true);

    // MLflow 3's logged models: uploaded and read through the proxy as before, redirected when asked.
    const logged = (await call("POST", `${api}/logged-models`, { experiment_id: "0", name: "model", source_run_id: runId, model_type: "onnx", params: [], tags: [] })).json().model.info;
    const loggedFile = `${proxy}/0/models/${logged.model_id}/artifacts/model.onnx`;
    expect((await upload(loggedFile, onnx)).statusCode).toBe(200);
    expect((await call("GET", loggedFile)).rawPayload.equals(onnx)).toBe(true);
    const loggedRedirect = await call("GET", `${loggedFile}?redirect=presigned`);
    expect(loggedRedirect.statusCode).toBe(307);
    expect(Buffer.from(await (await fetch(loggedRedirect.headers.location as string)).arrayBuffer()).equals(onnx)).toBe(true);
  });

  it("with the endpoint down: uploads and registration fail with a clear UNAVAILABLE, and no version or file is recorded", async () => {
    await s3.kill();
    const base = `${proxy}/0/${runId}/artifacts`;
    const refused = await upload(`${base}/model-v2/model.onnx`, paddedOnnx(8192));
    expect(refused.statusCode).toBe(503);
    expect(refused.json().error_code).toBe("TEMPORARILY_UNAVAILABLE");
    expect(refused.json().message).toMatch(/S3 artifact store .*did not answer/);
    // The failed upload is not listed: nothing names a blob that is not stored.
    expect((await call("GET", `${proxy}?path=0/${runId}/artifacts`)).json().files.map((f: { path: string }) => f.path)).toEqual(["model"]);

    // Registering reads the ONNX model's signature from the store: refused whole, no version 2.
    const registering = await call("POST", `${api}/model-versions/create`, { name: "iris-s3", source: `${artifactUri}/model`, run_id: runId });
    expect(registering.statusCode).toBe(503);
    expect(registering.json().error_code).toBe("TEMPORARILY_UNAVAILABLE");
    // The folder whose upload failed has no files to register.
    const fromFailed = await call("POST", `${api}/model-versions/create`, { name: "iris-s3", source: `${artifactUri}/model-v2`, run_id: runId });
    expect(fromFailed.statusCode).toBeGreaterThanOrEqual(400);
    expect(fromFailed.statusCode).toBeLessThan(500);
    expect(await versions("iris-s3")).toEqual(["1"]);

    // Downloads through the proxy fail the same clear way.
    const download = await call("GET", `${base}/model/model.onnx`);
    expect(download.statusCode).toBe(503);
    expect(download.json().error_code).toBe("TEMPORARILY_UNAVAILABLE");
  });

  it("when the endpoint is back, the same upload and registration succeed (version 2, not 3)", async () => {
    await s3.restart();
    expect((await upload(`${proxy}/0/${runId}/artifacts/model-v2/model.onnx`, paddedOnnx(8192))).statusCode).toBe(200);
    const created = await call("POST", `${api}/model-versions/create`, { name: "iris-s3", source: `${artifactUri}/model-v2`, run_id: runId });
    expect(created.statusCode).toBe(200);
    expect(created.json().model_version.version).toBe("2");
    expect(await versions("iris-s3")).toEqual(expect.arrayContaining(["1", "2"]));
  });

  it("a job that ends while the endpoint is down waits, RUNNING with the reason, until all its outputs are stored; then it SUCCEEDS with every file", async () => {
    const work = mkdtempSync(join(tmpdir(), "paved-s3-job-"));
    const go = join(work, "go");
    const submitted = await call("POST", "/api/v1/jobs", {
      name: "outputs-while-down",
      workingDir: work,
      command: ["/bin/sh", "-c", 'while [ ! -e "$GO" ]; do sleep 0.1; done; for i in 1 2 3; do echo "part $i" > "$PAVED_OUTPUT_DIR/part-$i.txt"; done'],
      env: { GO: go },
      compute: { cpus: 0.1, memory: 64 },
    });
    expect(submitted.statusCode, submitted.body).toBe(200);
    const { id, runId: jobRun } = submitted.json() as { id: string; runId: string };
    const job = async () => (await call("GET", `/api/v1/jobs/${id}`)).json() as { phase: string; message: string | null };
    const until = async (what: string, done: (j: { phase: string; message: string | null }) => boolean) => {
      for (const end = Date.now() + 60_000; Date.now() < end; await new Promise((r) => setTimeout(r, 100))) {
        const j = await job();
        if (done(j)) return j;
      }
      throw new Error(`${what}: not within 60 s; last ${JSON.stringify(await job())}`);
    };
    await until("the job running", (j) => j.phase === "RUNNING");
    await s3.kill();
    writeFileSync(go, "");
    const waiting = await until("the job waiting for the store", (j) => /wait for the artifact store/.test(j.message ?? ""));
    expect(waiting.phase).toBe("RUNNING");
    await s3.restart();
    const done = await until("the job's end", (j) => ["SUCCEEDED", "FAILED", "CANCELLED"].includes(j.phase));
    expect(done.phase, JSON.stringify(done)).toBe("SUCCEEDED");
    const experiment = (await call("GET", `${api}/runs/get?run_id=${jobRun}`)).json().run.info.experiment_id as string;
    const outputs = await call("GET", `${proxy}?path=${experiment}/${jobRun}/artifacts/outputs`);
    expect(outputs.json().files?.map((f: { path: string }) => f.path)).toEqual(["part-1.txt", "part-2.txt", "part-3.txt"]);
    expect((await call("GET", `${proxy}/${experiment}/${jobRun}/artifacts/outputs/part-3.txt`)).body).toBe("part 3\n");
  }, 120_000);
});

describe("presigned downloads on the local store", () => {
  let app: App;
  beforeAll(async () => {
    app = await createApp(loadConfig({ env: {}, overrides: { dataDir: mkdtempSync(join(tmpdir(), "paved-local-")), logLevel: "silent", compute: { gpus: [] } } }));
  });
  afterAll(async () => app?.close());

  it("are refused as UNSUPPORTED, naming the store that has them; a plain download works", async () => {
    const auth = { authorization: `Bearer ${app.generatedAdminToken}` };
    const run = (await app.server.inject({ method: "POST", url: "/api/2.0/mlflow/runs/create", headers: auth, payload: { experiment_id: "0" } })).json().run.info;
    const url = `/api/2.0/mlflow-artifacts/artifacts/0/${run.run_id}/artifacts/a.txt`;
    expect((await app.server.inject({ method: "PUT", url, headers: { ...auth, "content-type": "application/octet-stream" }, payload: Buffer.from("a") })).statusCode).toBe(200);
    const refused = await app.server.inject({ method: "GET", url: `${url}?redirect=presigned`, headers: auth });
    expect(refused.json().error_code).toBe("FEATURE_DISABLED");
    expect(refused.json().message).toMatch(/artifacts\.store: s3/);
    expect((await app.server.inject({ method: "GET", url, headers: auth })).body).toBe("a");
  });
});

describe("paved up with artifacts on S3 (s3rver emulator), configured by a YAML file and its environment", () => {
  let s3: S3Emulator;
  beforeAll(async () => {
    s3 = await startS3rver();
  });
  afterAll(async () => s3?.stop());
  const config = () => ({ artifacts: { store: "s3", s3: { bucket: s3.bucket, prefix: "up/", endpoint: s3.endpoint, forcePathStyle: true } } });

  it("takes the keys from AWS_* variables, stores uploads in the bucket and redirects downloads when asked", async () => {
    const server = await startServerProcess({
      dataDir: mkdtempSync(join(tmpdir(), "paved-up-s3-")),
      token: "s3-test-token-0123456789",
      config: config(),
      env: { AWS_ACCESS_KEY_ID: s3.credentials.accessKeyId, AWS_SECRET_ACCESS_KEY: s3.credentials.secretAccessKey },
    });
    try {
      expect(server.output()).toContain(`artifacts in s3://${s3.bucket}/up/ at ${s3.endpoint}`);
      const auth = { authorization: `Bearer ${server.token}` };
      const run = (await (await fetch(`${server.url}/api/2.0/mlflow/runs/create`, { method: "POST", headers: { ...auth, "content-type": "application/json" }, body: JSON.stringify({ experiment_id: "0" }) })).json()) as {
        run: { info: { run_id: string } };
      };
      const url = `${server.url}/api/2.0/mlflow-artifacts/artifacts/0/${run.run.info.run_id}/artifacts/notes.txt`;
      expect((await fetch(url, { method: "PUT", headers: auth, body: "stored in the bucket" })).status).toBe(200);
      const redirect = await fetch(`${url}?redirect=presigned`, { headers: auth, redirect: "manual" });
      expect(redirect.status).toBe(307);
      expect(redirect.headers.get("location")!.startsWith(`${s3.endpoint}/${s3.bucket}/up/sha256/`)).toBe(true);
      expect(await (await fetch(redirect.headers.get("location")!)).text()).toBe("stored in the bucket");
    } finally {
      await server.stop();
    }
  });

  it("refuses to start without the keys, naming the variables to set", async () => {
    const start = startServerProcess({ dataDir: mkdtempSync(join(tmpdir(), "paved-up-s3-")), token: "s3-test-token-0123456789", config: config(), env: { AWS_ACCESS_KEY_ID: "", AWS_SECRET_ACCESS_KEY: "" } });
    await expect(start).rejects.toThrow(/AWS_ACCESS_KEY_ID or AWS_SECRET_ACCESS_KEY is not set/);
  });
});
