import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { LocalArtifactStore } from "../src/artifacts/index.ts";
import { createApp, type App } from "../src/app.ts";
import { loadConfig } from "../src/config/index.ts";
import { externalDataOnnx, paddedOnnx } from "./support/onnx-protobuf.ts";

// Issue 7, findings 10 and 12 (ONNX), against a real server with onnxruntime:
// - a model whose tensor names `location=package.json` made onnxruntime read that file from the
//   server's working directory and answer its bytes (037a407); it is now refused at
//   registration and before serving creates a session;
// - the signature reader parsed crafted files synchronously (20 MB froze the server for 4.3 s);
//   it now runs on a worker thread, and the server keeps answering meanwhile.
describe("ONNX models from users", () => {
  let app: App;
  let auth: Record<string, string>;
  const packageJson = readFileSync(join(process.cwd(), "package.json"), "utf8");

  const post = (url: string, payload: object) => app.server.inject({ method: "POST", url, headers: auth, payload });

  async function runWithModel(bytes: Buffer): Promise<string> {
    const run = await post("/api/2.0/mlflow/runs/create", { experiment_id: "0", start_time: 1 });
    const runId: string = run.json().run.info.run_id;
    const upload = await app.server.inject({
      method: "PUT",
      url: `/api/2.0/mlflow-artifacts/artifacts/0/${runId}/artifacts/model/model.onnx`,
      headers: { ...auth, "content-type": "application/octet-stream" },
      payload: bytes,
    });
    expect(upload.statusCode).toBe(200);
    return runId;
  }

  const register = (name: string, runId: string) => post("/api/2.0/mlflow/model-versions/create", { name, source: `runs:/${runId}/model`, run_id: runId });

  beforeAll(async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "paved-onnx-checks-"));
    app = await createApp(loadConfig({ env: {}, overrides: { dataDir, logLevel: "silent" } }));
    auth = { authorization: `Bearer ${app.generatedAdminToken}` };
  });
  afterAll(async () => {
    vi.restoreAllMocks();
    await app.close();
  });

  it.each(["initializer", "constant", "subgraph"] as const)("refuses at registration a model whose %s keeps its data in another file", async (where) => {
    const name = `leak-${where}`;
    expect((await post("/api/2.0/mlflow/registered-models/create", { name })).statusCode).toBe(200);
    const res = await register(name, await runWithModel(externalDataOnnx("package.json", 64, where)));
    expect(res.statusCode).toBe(400);
    expect(res.json().error_code).toBe("INVALID_PARAMETER_VALUE");
    expect(res.body).not.toContain('"private"');
    const versions = await app.server.inject({ method: "GET", url: `/api/2.0/mlflow/model-versions/search?filter=${encodeURIComponent(`name = '${name}'`)}`, headers: auth });
    expect(versions.json().model_versions ?? []).toEqual([]);
  });

  it("refuses to load such a model for serving: no byte of the file it names comes back", async () => {
    for (const where of ["initializer", "constant", "subgraph"] as const) {
      const load = await app.server.inject({
        method: "PUT",
        url: "/api/v1/serving/models/leak/versions/1",
        headers: { ...auth, "content-type": "application/octet-stream" },
        payload: externalDataOnnx("package.json", 64, where),
      });
      expect(load.statusCode).toBe(400);
      expect(load.json().error.code).toBe("INVALID_INPUT");
      const infer = await post("/v2/models/leak/infer", { inputs: [] });
      expect(infer.statusCode).not.toBe(200);
      expect(infer.body).not.toContain(packageJson.slice(0, 20));
    }
  });

  it("reads a crafted 20 MB model on a worker thread: /api/v1/health answers while the version registers", async () => {
    const crafted = paddedOnnx(20 * 1024 ** 2);
    const digest = createHash("sha256").update(crafted).digest("hex");
    const events: string[] = [];
    let chain: Promise<void> | undefined;
    const get = LocalArtifactStore.prototype.get;
    vi.spyOn(LocalArtifactStore.prototype, "get").mockImplementation(async function (this: LocalArtifactStore, blob: string) {
      if (blob !== digest) return get.call(this, blob);
      // The model file is opened for its signature: from now on, 50 health requests one after
      // another. The file comes back in one chunk, so reading it is not what takes the time.
      chain ??= (async () => {
        for (let i = 0; i < 50; i++) {
          const health = await app.server.inject({ url: "/api/v1/health" });
          expect(health.statusCode).toBe(200);
          events.push("health");
        }
      })();
      return Readable.from([crafted]);
    });
    expect((await post("/api/2.0/mlflow/registered-models/create", { name: "crafted" })).statusCode).toBe(200);
    const registration = register("crafted", await runWithModel(crafted)).then((res) => {
      events.push("registered");
      return res;
    });
    const res = await registration;
    await chain;
    expect(res.statusCode).toBe(200);
    // On 037a407 the parse held the thread: the health requests waited behind the registration.
    expect(events.indexOf("registered")).toBe(50);
  });
});
