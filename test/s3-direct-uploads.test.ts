import { randomBytes } from "node:crypto";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ListMultipartUploadsCommand, ListObjectsV2Command } from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createApp, type App } from "../src/app.ts";
import { loadConfig } from "../src/config/index.ts";
import { motoInstalled, startMoto, type S3Emulator } from "./support/s3-emulator.ts";
import { createMembers } from "./support/teams.ts";

const MiB = 1024 ** 2;
const MLFLOW_NO_MULTIPART = "Multipart upload is not supported for the current artifact repository";

// Paved on the S3 store against moto's server, an S3 EMULATOR (not AWS S3) this test starts as a
// child process. Requests are shaped as MLflow's client sends them with
// MLFLOW_ENABLE_PROXY_MULTIPART_UPLOAD=true: mpu/create on the folder with the file's path and
// num_parts, a plain PUT of each part to its presigned URL, mpu/complete with the ETags. s3rver, the
// other emulator, resets the connection of a PUT to a presigned part URL, so it cannot run this.
describe.skipIf(!motoInstalled())("direct (presigned multipart) uploads on the S3 store (moto emulator; skipped where moto_server is not installed)", () => {
  let s3: S3Emulator;
  let app: App;
  let auth: Record<string, string>;
  let runId = "";
  const mpu = "/api/2.0/mlflow-artifacts/mpu";
  const proxy = "/api/2.0/mlflow-artifacts/artifacts";
  const folder = () => `0/${runId}/artifacts/model`;

  const post = (url: string, payload: unknown, headers = auth) => app.server.inject({ method: "POST", url, headers, payload: payload as object });
  const put = async (credentials: { url: string; part_number: number; headers: Record<string, string> }[], pieces: Buffer[]) => {
    const parts = [];
    for (const [i, piece] of pieces.entries()) {
      const answer = await fetch(credentials[i]!.url, { method: "PUT", headers: credentials[i]!.headers, body: piece });
      expect(answer.status).toBe(200);
      parts.push({ part_number: credentials[i]!.part_number, etag: answer.headers.get("etag")! });
    }
    return parts;
  };
  const listed = async () => ((await app.server.inject({ method: "GET", url: `${proxy}?path=${folder()}`, headers: auth })).json().files ?? []).map((f: { path: string }) => f.path);
  const leftovers = async () => {
    const objects = await s3.client().send(new ListObjectsV2Command({ Bucket: s3.bucket, Prefix: "paved/tmp/" }));
    const uploads = await s3.client().send(new ListMultipartUploadsCommand({ Bucket: s3.bucket, Prefix: "paved/" }));
    return [...(objects.Contents ?? []).map((o) => o.Key), ...(uploads.Uploads ?? []).map((u) => `upload ${u.Key}`)];
  };
  const setStorageQuota = async (storageBytes: number | null) => {
    const answer = await app.server.inject({ method: "PUT", url: "/api/v1/teams/default/quotas", headers: auth, payload: { storageBytes } });
    expect(answer.statusCode, answer.body).toBe(200);
  };

  beforeAll(async () => {
    s3 = await startMoto();
    const config = loadConfig({
      env: {},
      overrides: {
        dataDir: mkdtempSync(join(tmpdir(), "paved-mpu-")),
        logLevel: "silent",
        compute: { gpus: [] },
        artifacts: { store: "s3", s3: { bucket: s3.bucket, prefix: "paved/", endpoint: s3.endpoint, forcePathStyle: true, connectTimeoutSeconds: 2, requestTimeoutSeconds: 10 } },
      } as never,
    });
    app = await createApp(config, { env: { AWS_ACCESS_KEY_ID: s3.credentials.accessKeyId, AWS_SECRET_ACCESS_KEY: s3.credentials.secretAccessKey } });
    auth = { authorization: `Bearer ${app.generatedAdminToken}` };
    runId = (await post("/api/2.0/mlflow/runs/create", { experiment_id: "0" })).json().run.info.run_id;
  });
  afterAll(async () => {
    await app?.close();
    await s3?.stop();
  });

  it("create, PUT the parts straight to the store, complete: the proxy and a presigned download give the same bytes", async () => {
    const pieces = [randomBytes(5 * MiB), randomBytes(5 * MiB), randomBytes(4321)];
    const data = Buffer.concat(pieces);
    const created = await post(`${mpu}/create/${folder()}`, { path: "/home/ada/outputs/weights.bin", num_parts: 3 });
    expect(created.statusCode, created.body).toBe(200);
    const { upload_id, credentials } = created.json() as { upload_id: string; credentials: { url: string; part_number: number; headers: Record<string, string> }[] };
    expect(credentials.map((c) => c.part_number)).toEqual([1, 2, 3]);
    expect(credentials[0]!.url.startsWith(`${s3.endpoint}/${s3.bucket}/paved/tmp/`)).toBe(true);
    const parts = await put(credentials, pieces);
    // Not listed until completed.
    expect(await listed()).toEqual([]);
    const completed = await post(`${mpu}/complete/${folder()}`, { path: "/home/ada/outputs/weights.bin", upload_id, parts });
    expect(completed.statusCode, completed.body).toBe(200);

    const files = (await app.server.inject({ method: "GET", url: `${proxy}?path=${folder()}`, headers: auth })).json().files;
    expect(files).toEqual([{ path: "weights.bin", is_dir: false, file_size: data.length }]);
    const viaProxy = await app.server.inject({ method: "GET", url: `${proxy}/${folder()}/weights.bin`, headers: auth });
    expect(viaProxy.rawPayload.equals(data)).toBe(true);
    const redirect = await app.server.inject({ method: "GET", url: `${proxy}/${folder()}/weights.bin?redirect=presigned`, headers: auth });
    expect(redirect.statusCode).toBe(307);
    expect(Buffer.from(await (await fetch(redirect.headers.location as string)).arrayBuffer()).equals(data)).toBe(true);
    expect(await leftovers()).toEqual([]);
  });

  it("abort drops the parts and records nothing; the upload is gone after", async () => {
    const created = (await post(`${mpu}/create/${folder()}`, { path: "dropped.bin", num_parts: 2 })).json();
    const parts = await put(created.credentials, [randomBytes(5 * MiB)]);
    expect((await post(`${mpu}/abort/${folder()}`, { path: "dropped.bin", upload_id: created.upload_id })).statusCode).toBe(200);
    const late = await post(`${mpu}/complete/${folder()}`, { path: "dropped.bin", upload_id: created.upload_id, parts });
    expect(late.statusCode).toBe(404);
    expect(late.json().error_code).toBe("RESOURCE_DOES_NOT_EXIST");
    expect(await listed()).toEqual(["weights.bin"]);
    expect(await leftovers()).toEqual([]);
  });

  it("refuses bad part counts, part numbers and sizes with INVALID_PARAMETER_VALUE", async () => {
    for (const num_parts of [0, 10_001, "many"]) {
      const refused = await post(`${mpu}/create/${folder()}`, { path: "x.bin", num_parts });
      expect(refused.statusCode, `num_parts ${num_parts}`).toBe(400);
      expect(refused.json().error_code).toBe("INVALID_PARAMETER_VALUE");
    }
    const created = (await post(`${mpu}/create/${folder()}`, { path: "x.bin", num_parts: 2 })).json();
    const parts = await put(created.credentials, [randomBytes(1000), randomBytes(10)]);
    const complete = (body: unknown) => post(`${mpu}/complete/${folder()}`, { path: "x.bin", upload_id: created.upload_id, ...(body as object) });
    for (const bad of [
      { parts: [{ part_number: 0, etag: parts[0]!.etag }] },
      { parts: [{ part_number: 10_001, etag: parts[0]!.etag }] },
      { parts: [] },
      // The first of two parts is under 5 MiB.
      { parts },
      { parts: [parts[0], { part_number: 3, etag: parts[1]!.etag }] },
      { parts: [{ part_number: 1, etag: '"not-its-etag"' }] },
    ]) {
      const refused = await complete(bad);
      expect(refused.statusCode, JSON.stringify(bad)).toBe(400);
      expect(refused.json().error_code).toBe("INVALID_PARAMETER_VALUE");
    }
    expect((await post(`${mpu}/abort/${folder()}`, { path: "x.bin", upload_id: created.upload_id })).statusCode).toBe(200);
    expect(await listed()).toEqual(["weights.bin"]);
  });

  it("confines paths as the proxy does: '..' and folders outside a run are refused, another team's run answers as missing", async () => {
    for (const url of [`${mpu}/create/0/${runId}/artifacts/../../etc`, `${mpu}/create/0/${runId}/elsewhere`, `${mpu}/create/0/no-such-run/artifacts`]) {
      const refused = await post(url, { path: "x.bin", num_parts: 1 });
      expect(refused.statusCode, url).toBeGreaterThanOrEqual(400);
      expect(refused.statusCode, url).toBeLessThan(500);
    }
    const dotted = await post(`${mpu}/create/0/${runId}/artifacts/../../etc`, { path: "x.bin", num_parts: 1 });
    expect(dotted.json().error_code).toBe("INVALID_PARAMETER_VALUE");
    expect((await post(`${mpu}/create/${folder()}`, { path: "outputs/..", num_parts: 1 })).json().error_code).toBe("INVALID_PARAMETER_VALUE");
    const { ada } = await createMembers(app, auth as { authorization: string }, ["risk"], { ada: [{ team: "risk", role: "developer" }] });
    const foreign = await post(`${mpu}/create/${folder()}`, { path: "x.bin", num_parts: 1 }, ada);
    expect(foreign.statusCode).toBe(404);
  });

  it("charges the team's storage quota on complete: over it, the object is deleted and the upload refused with the fix", async () => {
    const used = 5 * MiB + 5 * MiB + 4321;
    await setStorageQuota(used + MiB);
    try {
      const created = (await post(`${mpu}/create/${folder()}`, { path: "big.bin", num_parts: 2 })).json();
      const parts = await put(created.credentials, [randomBytes(5 * MiB), randomBytes(100)]);
      const refused = await post(`${mpu}/complete/${folder()}`, { path: "big.bin", upload_id: created.upload_id, parts });
      expect(refused.statusCode).toBe(429);
      expect(refused.json().error_code).toBe("RESOURCE_EXHAUSTED");
      expect(refused.json().message).toMatch(/paved quotas set default --storage/);
      expect(await listed()).toEqual(["weights.bin"]);
      expect(await leftovers()).toEqual([]);
      // A team already at its quota is refused at create, before any byte is sent.
      await setStorageQuota(used);
      const early = await post(`${mpu}/create/${folder()}`, { path: "big.bin", num_parts: 2 });
      expect(early.json().error_code).toBe("RESOURCE_EXHAUSTED");
    } finally {
      await setStorageQuota(null);
    }
  });

  it("answers logged-model folders with MLflow's 'not supported' message, so the mlflow client falls back to a plain upload", async () => {
    const logged = (await post("/api/2.0/mlflow/logged-models", { experiment_id: "0", name: "m", source_run_id: runId, model_type: "onnx", params: [], tags: [] })).json().model.info;
    const refused = await post(`${mpu}/create/0/models/${logged.model_id}/artifacts`, { path: "model.onnx", num_parts: 1 });
    expect(refused.json().error_code).toBe("FEATURE_DISABLED");
    expect(refused.json().message.startsWith(MLFLOW_NO_MULTIPART)).toBe(true);
  });

  it("with the endpoint down, create and complete fail with a clear TEMPORARILY_UNAVAILABLE and nothing is recorded", async () => {
    const created = (await post(`${mpu}/create/${folder()}`, { path: "late.bin", num_parts: 1 })).json();
    const parts = await put(created.credentials, [randomBytes(100)]);
    await s3.kill();
    try {
      for (const answer of [
        await post(`${mpu}/create/${folder()}`, { path: "down.bin", num_parts: 1 }),
        await post(`${mpu}/complete/${folder()}`, { path: "late.bin", upload_id: created.upload_id, parts }),
      ]) {
        expect(answer.statusCode).toBe(503);
        expect(answer.json().error_code).toBe("TEMPORARILY_UNAVAILABLE");
        expect(answer.json().message).toMatch(/S3 artifact store .*did not answer/);
      }
      expect(await listed()).toEqual(["weights.bin"]);
    } finally {
      await s3.restart();
    }
  });
});

describe("direct uploads on the local store", () => {
  let app: App;
  beforeAll(async () => {
    app = await createApp(loadConfig({ env: {}, overrides: { dataDir: mkdtempSync(join(tmpdir(), "paved-mpu-local-")), logLevel: "silent", compute: { gpus: [] } } }));
  });
  afterAll(async () => app?.close());

  it("are refused as UNSUPPORTED with MLflow's message (its client then uploads through the proxy), naming the s3 store", async () => {
    const auth = { authorization: `Bearer ${app.generatedAdminToken}` };
    const run = (await app.server.inject({ method: "POST", url: "/api/2.0/mlflow/runs/create", headers: auth, payload: { experiment_id: "0" } })).json().run.info;
    for (const step of ["create", "complete", "abort"]) {
      const refused = await app.server.inject({
        method: "POST",
        url: `/api/2.0/mlflow-artifacts/mpu/${step}/0/${run.run_id}/artifacts`,
        headers: auth,
        payload: { path: "a.bin", num_parts: 1, upload_id: "x", parts: [{ part_number: 1, etag: "e" }] },
      });
      expect(refused.json().error_code, `${step}: ${refused.body}`).toBe("FEATURE_DISABLED");
      expect(refused.json().message.startsWith(MLFLOW_NO_MULTIPART)).toBe(true);
      expect(refused.json().message).toMatch(/artifacts\.store: s3/);
    }
  });
});
