import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openTestDatabase } from "../../../test/support/databases.ts";
import { exportExpandOnnx } from "../../../test/support/onnx.ts";
import { createLogger, randomIds, systemClock } from "../../core/index.ts";
import { buildServer } from "../../http/index.ts";
import { TokenService } from "../identity/index.ts";
import { MAX_LOGGED_VALUES, createServingModule } from "./index.ts";

/** An Expand model: one float in, COLUMNS floats out per row (400 KB per row). */
const COLUMNS = 100_000;
const MAX_OUTPUT_BYTES = 1024 ** 2;

describe("serving bounds: output size, replicas, prediction-log lines", async () => {
  const database = await openTestDatabase("sqlite");
  const logger = createLogger("silent");
  const tokens = new TokenService(database.db, systemClock, randomIds);
  const adminToken = "admin-token-for-tests-0123456789";
  await tokens.ensureAdmin(adminToken);
  const serving = createServingModule({ dataDir: database.dataDir, clock: systemClock, ids: randomIds, logger, maxOutputBytes: MAX_OUTPUT_BYTES, maxReplicasPerVersion: 2 });
  const server = buildServer({ routes: serving.routes, tokens, logger, bodyLimit: 1 << 20, uploadLimit: 1 << 24, requestTimeoutMs: 60_000 });
  const auth = { authorization: `Bearer ${adminToken}` };
  const load = (name: string, bytes: Uint8Array, query = "") =>
    server.inject({ method: "PUT", url: `/api/v1/serving/models/${name}/versions/1${query}`, headers: { ...auth, "content-type": "application/octet-stream" }, payload: Buffer.from(bytes) });
  const expand = (rows: number, id: string) =>
    server.inject({ method: "POST", url: "/v2/models/expand/infer", headers: auth, payload: { id, inputs: [{ name: "x", shape: [rows, 1], datatype: "FP32", data: Array.from({ length: rows }, (_, i) => i + 0.5) }] } });

  beforeAll(async () => {
    const loaded = await load("expand", new Uint8Array(exportExpandOnnx(COLUMNS)));
    expect(loaded.statusCode, loaded.body).toBe(200);
  }, 60_000);
  afterAll(async () => {
    await serving.service.close();
    await server.close();
    await database.close();
  });

  it("refuses a request whose outputs exceed serving.maxOutputBytes with 413, and answers one below it", async () => {
    const small = await expand(1, "small");
    expect(small.statusCode, small.body.slice(0, 200)).toBe(200);
    expect(small.json().outputs[0]).toMatchObject({ name: "y", shape: [1, COLUMNS] });
    expect(small.json().outputs[0].data).toHaveLength(COLUMNS);
    // Three rows: 1.2 MB of outputs from 12 bytes of input.
    const large = await expand(3, "large");
    expect(large.statusCode).toBe(413);
    expect(large.json()).toEqual({ error: expect.stringContaining("serving.maxOutputBytes") });
    // The same bound holds in code (the deployment controller's integration tests, evaluation).
    await expect(serving.service.infer("expand", "1", { inputs: [{ name: "x", shape: [3, 1], datatype: "FP32", data: [1, 2, 3] }] })).rejects.toMatchObject({ code: "PAYLOAD_TOO_LARGE", details: { limit: MAX_OUTPUT_BYTES } });
  });

  it("logs a bounded prefix of a large output, marked truncated, and nothing of a refused one", async () => {
    await expand(1, "logged");
    await expand(3, "refused");
    await serving.service.unload("expand", "1");
    const dir = join(database.dataDir, "serving", "expand", "1");
    const lines = readdirSync(dir).flatMap((f) => readFileSync(join(dir, f), "utf8").trim().split("\n"));
    const records = lines.map((l) => JSON.parse(l) as { id: string; inputs: { data: unknown[] }[]; outputs: { shape: number[]; data: unknown[]; truncated?: boolean }[] });
    const logged = records.find((r) => r.id === "logged")!;
    expect(logged.outputs[0]).toMatchObject({ shape: [1, COLUMNS], truncated: true });
    expect(logged.inputs[0]!.data).toEqual([0.5]);
    expect(logged.inputs[0]!.data.length + logged.outputs[0]!.data.length).toBe(MAX_LOGGED_VALUES);
    expect(Math.max(...lines.map((l) => l.length))).toBeLessThan(MAX_LOGGED_VALUES * 32);
    expect(records.some((r) => r.id === "refused")).toBe(false);
    expect((await load("expand", new Uint8Array(exportExpandOnnx(COLUMNS)))).statusCode).toBe(200);
  }, 60_000);

  it("refuses replicas above serving.maxReplicasPerVersion with INVALID_INPUT naming the limit", async () => {
    const bytes = new Uint8Array(exportExpandOnnx(4));
    for (const query of ["?replicas=3", "?replicas=1&maxReplicas=3"]) {
      const refused = await load("replicas", bytes, query);
      expect(refused.statusCode).toBe(400);
      expect(refused.json().error).toMatchObject({ code: "INVALID_INPUT", details: { limit: 2, setting: "serving.maxReplicasPerVersion" } });
    }
    expect((await load("replicas", bytes, "?replicas=1&maxReplicas=2")).statusCode).toBe(200);
    await expect(serving.service.load({ name: "replicas", version: "2", bytes, replicas: 64 })).rejects.toMatchObject({ code: "INVALID_INPUT" });
  }, 60_000);
});
