import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openTestDatabase } from "../../../test/support/databases.ts";
import { createLogger, randomIds, systemClock } from "../../core/index.ts";
import { buildServer } from "../../http/index.ts";
import { TokenService } from "../identity/index.ts";
import { createServingModule, metricsRoute } from "./index.ts";
import { buildTestModels, type TestModels } from "./test-models.ts";

describe("serving routes (OIP v2 and admin)", async () => {
  const database = await openTestDatabase("sqlite");
  const logger = createLogger("silent");
  const tokens = new TokenService(database.db, systemClock, randomIds);
  const adminToken = "admin-token-for-tests-0123456789";
  await tokens.ensureAdmin(adminToken);
  /** A job's token acts in its job's team: job-1 is in the default team (where the test's models are loaded), job-2 in another. */
  const addJob = (id: string, team: string) =>
    database.db
      .insertInto("jobs")
      .values({ job_id: id, name: id, spec: "{}", phase: "RUNNING", priority: 0, owner: "admin", request: "{}", experiment_id: "0", run_id: null, attempt: 1, allocation: null, handle: null, pending: null, pid: null, pid_start: null, exit_code: null, message: null, cancel_requested_at: null, created_at: 1, started_at: null, attempt_started_at: null, finished_at: null, updated_at: 1, team_id: team })
      .execute();
  await addJob("job-1", "default");
  await addJob("job-2", "vision");
  const jobToken = await tokens.mintForJob("job-1", 3600_000);
  const otherTeamJobToken = await tokens.mintForJob("job-2", 3600_000);
  const serving = createServingModule({ dataDir: database.dataDir, clock: systemClock, ids: randomIds, logger, maxRequestBytes: 64 * 1024 });
  // /metrics is mounted by whoever serves: paved up (monitoring) or a data-plane process.
  const server = buildServer({ routes: [...serving.routes, metricsRoute(serving.service)], tokens, logger, bodyLimit: 1 << 20, uploadLimit: 1 << 24, requestTimeoutMs: 60_000 });
  const auth = { authorization: `Bearer ${adminToken}` };
  let models: TestModels;

  beforeAll(async () => {
    models = buildTestModels();
    for (const [name, version, file] of [["tiny", "1", "tiny"], ["tiny", "2", "tiny-v2"], ["fixed", "1", "fixed"]] as const) {
      const res = await server.inject({ method: "PUT", url: `/api/v1/serving/models/${name}/versions/${version}?replicas=2`, headers: { ...auth, "content-type": "application/octet-stream" }, payload: Buffer.from(models.bytes(file)) });
      expect(res.statusCode, res.body).toBe(200);
    }
  });
  afterAll(async () => {
    await serving.service.close();
    await server.close();
    await database.close();
  });

  const infer = (url: string, payload: unknown, headers: Record<string, string> = auth) => server.inject({ method: "POST", url, headers, payload: payload as object });
  const tinyRequest = (rows: number[][], extra: Record<string, unknown> = {}) => ({ inputs: [{ name: "input", shape: [rows.length, 4], datatype: "FP32", data: rows }], ...extra });
  const rows = (n: number, from = 0) => (models.expected.tiny.input as number[][]).slice(from, from + n);
  const close = (got: number[], want: number[]) => {
    expect(got).toHaveLength(want.length);
    got.forEach((v, i) => expect(v).toBeCloseTo(want[i]!, 5));
  };

  it("answers health publicly and everything else only with a token", async () => {
    expect((await server.inject({ url: "/v2/health/live" })).json()).toEqual({ live: true });
    expect((await server.inject({ url: "/v2/health/ready" })).json()).toEqual({ ready: true });
    const denied = await infer("/v2/models/tiny/infer", tinyRequest(rows(1)), {});
    expect(denied.statusCode).toBe(401);
    expect(denied.json()).toEqual({ error: expect.any(String) });
    expect((await server.inject({ url: "/v2/models/tiny" })).statusCode).toBe(401);
    expect((await server.inject({ url: "/metrics" })).statusCode).toBe(401);
  });

  it("lets only admins load and unload", async () => {
    const job = { authorization: `Bearer ${jobToken}` };
    const put = await server.inject({ method: "PUT", url: "/api/v1/serving/models/x/versions/1", headers: { ...job, "content-type": "application/octet-stream" }, payload: Buffer.from(models.bytes("tiny")) });
    expect(put.statusCode).toBe(403);
    expect((await server.inject({ method: "DELETE", url: "/api/v1/serving/models/tiny/versions/1", headers: job })).statusCode).toBe(403);
    // A job may call the data plane.
    expect((await infer("/v2/models/tiny/infer", tinyRequest(rows(1)), job)).statusCode).toBe(200);
  });

  it("serves a model only to its team: another team's caller gets what a model that is not loaded gets, and lists none", async () => {
    const other = { authorization: `Bearer ${otherTeamJobToken}` };
    const missing = await infer("/v2/models/nope/infer", tinyRequest(rows(1)), other);
    expect(missing.statusCode).toBe(404);
    for (const [method, url] of [
      ["POST", "/v2/models/tiny/infer"],
      ["POST", "/v2/models/tiny/versions/1/infer"],
      ["GET", "/v2/models/tiny"],
      ["GET", "/v2/models/tiny/versions/2"],
      ["GET", "/v2/models/tiny/ready"],
    ] as const) {
      const hidden = await server.inject({ method, url, headers: other, ...(method === "POST" ? { payload: tinyRequest(rows(1)) } : {}) });
      expect(hidden.statusCode, url).toBe(404);
      expect(hidden.body.replaceAll("tiny", "nope"), url).toBe(missing.body);
    }
    expect((await server.inject({ url: "/api/v1/serving/models", headers: other })).json().models).toEqual([]);
    // One endpoint serves one team: loading the name for another team next to the default team's is refused.
    const clash = await server.inject({ method: "PUT", url: "/api/v1/serving/models/tiny/versions/9?team=vision", headers: { ...auth, "content-type": "application/octet-stream" }, payload: Buffer.from(models.bytes("tiny")) });
    expect(clash.statusCode).toBe(409);
    // Loaded for that team, it answers that team and hides from the default team's job.
    const theirs = await server.inject({ method: "PUT", url: "/api/v1/serving/models/vision-only/versions/1?team=vision", headers: { ...auth, "content-type": "application/octet-stream" }, payload: Buffer.from(models.bytes("tiny")) });
    expect(theirs.json()).toMatchObject({ name: "vision-only", team: "vision" });
    expect((await infer("/v2/models/vision-only/infer", tinyRequest(rows(1)), other)).statusCode).toBe(200);
    expect((await infer("/v2/models/vision-only/infer", tinyRequest(rows(1)), { authorization: `Bearer ${jobToken}` })).statusCode).toBe(404);
    expect((await server.inject({ url: "/api/v1/serving/models", headers: other })).json().models.map((m: { name: string }) => m.name)).toEqual(["vision-only"]);
    expect((await server.inject({ method: "DELETE", url: "/api/v1/serving/models/vision-only/versions/1", headers: auth })).statusCode).toBe(200);
  });

  it("describes models and versions", async () => {
    const meta = await server.inject({ url: "/v2/models/tiny", headers: auth });
    expect(meta.json()).toEqual({
      name: "tiny",
      versions: ["1", "2"],
      platform: "onnxruntime",
      inputs: [{ name: "input", datatype: "FP32", shape: [-1, 4] }],
      outputs: [{ name: "probabilities", datatype: "FP32", shape: [-1, 2] }],
    });
    expect((await server.inject({ url: "/v2/models/fixed/versions/1", headers: auth })).json().inputs).toEqual([{ name: "x", datatype: "FP32", shape: [2, 3] }]);
    expect((await server.inject({ url: "/v2/models/tiny/versions/2/ready", headers: auth })).json()).toEqual({ name: "tiny", version: "2", ready: true });
    const list = await server.inject({ url: "/api/v1/serving/models", headers: auth });
    expect(list.json().models.map((m: { name: string; version: string }) => `${m.name}@${m.version}`).sort()).toEqual(["fixed@1", "tiny@1", "tiny@2"]);
    const missing = await server.inject({ url: "/v2/models/nope", headers: auth });
    expect(missing.statusCode).toBe(404);
    expect(missing.json()).toEqual({ error: expect.stringContaining("nope") });
  });

  it("infers like torch, per version, with nested or flat data", async () => {
    const v1 = await infer("/v2/models/tiny/versions/1/infer", tinyRequest(rows(3), { id: "req-1" }));
    expect(v1.statusCode, v1.body).toBe(200);
    const body = v1.json();
    expect(body).toMatchObject({ model_name: "tiny", model_version: "1", id: "req-1", outputs: [{ name: "probabilities", shape: [3, 2], datatype: "FP32" }] });
    close(body.outputs[0].data, (models.expected.tiny.probabilities as number[][]).slice(0, 3).flat());
    // Unversioned: the most recently loaded version (2).
    const v2Rows = (models.expected["tiny-v2"].input as number[][]).slice(0, 2);
    const latest = (await infer("/v2/models/tiny/infer", { inputs: [{ name: "input", shape: [2, 4], datatype: "FP32", data: v2Rows.flat() }] })).json();
    expect(latest.model_version).toBe("2");
    close(latest.outputs[0].data, (models.expected["tiny-v2"].probabilities as number[][]).slice(0, 2).flat());
    const fixed = (await infer("/v2/models/fixed/infer", { inputs: [{ name: "x", shape: [2, 3], datatype: "FP32", data: models.expected.fixed.x }], outputs: [{ name: "y" }] })).json();
    close(fixed.outputs[0].data, models.expected.fixed.y as number[]);
  });

  it.each([
    ["an unknown input", { inputs: [{ name: "nope", shape: [1, 4], datatype: "FP32", data: [1, 2, 3, 4] }] }],
    ["a missing input", { inputs: [] }],
    ["a datatype mismatch", { inputs: [{ name: "input", shape: [1, 4], datatype: "FP64", data: [1, 2, 3, 4] }] }],
    ["a wrong rank", { inputs: [{ name: "input", shape: [4], datatype: "FP32", data: [1, 2, 3, 4] }] }],
    ["a wrong fixed dimension", { inputs: [{ name: "input", shape: [1, 3], datatype: "FP32", data: [1, 2, 3] }] }],
    ["data of the wrong length", { inputs: [{ name: "input", shape: [2, 4], datatype: "FP32", data: [1, 2, 3, 4] }] }],
    ["an unknown requested output", { inputs: [{ name: "input", shape: [1, 4], datatype: "FP32", data: [1, 2, 3, 4] }], outputs: [{ name: "nope" }] }],
    ["no inputs field", { id: "x" }],
  ])("answers 400 {error} for %s", async (_what, payload) => {
    const res = await infer("/v2/models/tiny/versions/1/infer", payload);
    expect(res.statusCode).toBe(400);
    expect(res.json()).toEqual({ error: expect.any(String) });
  });

  it("answers 413 past the size limit, and reads the body by its framing whatever its Content-Type (as Triton does)", async () => {
    const big = tinyRequest(Array.from({ length: 4000 }, () => [0.123456, 0.123456, 0.123456, 0.123456]));
    const tooLarge = await infer("/v2/models/tiny/infer", big);
    expect(tooLarge.statusCode).toBe(413);
    expect(tooLarge.json()).toEqual({ error: expect.any(String) });
    // None (tritonclient.http), octet-stream (its aio variant), text/plain (a bare fetch), a form's (curl -d).
    for (const type of [undefined, "application/octet-stream", "text/plain;charset=UTF-8", "application/x-www-form-urlencoded"]) {
      const res = await server.inject({ method: "POST", url: "/v2/models/tiny/versions/1/infer", headers: { ...auth, ...(type ? { "content-type": type } : {}) }, payload: JSON.stringify(tinyRequest(rows(1))) });
      expect(res.statusCode, type).toBe(200);
      close(res.json().outputs[0].data, (models.expected.tiny.probabilities as number[][])[0]!);
    }
    // Only JSON and binary tensor data are ever parsed: a form is not JSON.
    const form = await server.inject({ method: "POST", url: "/v2/models/tiny/infer", headers: { ...auth, "content-type": "application/x-www-form-urlencoded" }, payload: "inputs=1" });
    expect(form.statusCode).toBe(400);
    expect(form.json()).toEqual({ error: expect.any(String) });
    const empty = await server.inject({ method: "POST", url: "/v2/models/tiny/infer", headers: auth });
    expect(empty.statusCode).toBe(400);
  });

  it("batches 32 concurrent requests into fewer runs with the same answers as sequential ones", async () => {
    const put = await server.inject({ method: "PUT", url: "/api/v1/serving/models/batched/versions/1?replicas=1", headers: { ...auth, "content-type": "application/octet-stream" }, payload: Buffer.from(models.bytes("tiny")) });
    expect(put.statusCode).toBe(200);
    const url = "/v2/models/batched/infer";
    const sequential: number[][] = [];
    for (let i = 0; i < 32; i++) sequential.push((await infer(url, tinyRequest(rows(1, i)))).json().outputs[0].data);
    const concurrent = await Promise.all(Array.from({ length: 32 }, (_, i) => infer(url, tinyRequest(rows(1, i)))));
    concurrent.forEach((res, i) => close(res.json().outputs[0].data, sequential[i]!));
    const metrics = (await server.inject({ url: "/metrics", headers: auth })).body;
    const value = (name: string) => Number(metrics.match(new RegExp(`^${name}\\{model="batched",version="1",environment="production"\\} (\\d+)`, "m"))?.[1]);
    expect(value("paved_serving_requests_total")).toBe(64);
    expect(value("paved_serving_batches_total")).toBeLessThan(64);
  });

  it("exports metrics in Prometheus text format", async () => {
    await infer("/v2/models/tiny/versions/1/infer", { inputs: [{ name: "input", shape: [1, 3], datatype: "FP32", data: [1, 2, 3] }] });
    const res = await server.inject({ url: "/metrics", headers: auth });
    expect(res.statusCode).toBe(200);
    expect(res.headers["content-type"]).toContain("text/plain");
    expect(res.body).toMatch(/^paved_serving_requests_total\{model="tiny",version="1",environment="production"\} \d+/m);
    expect(res.body).toMatch(/^paved_serving_request_errors_total\{model="tiny",version="1",environment="production",code="INVALID_INPUT"\} \d+/m);
    expect(res.body).toMatch(/^paved_serving_request_duration_seconds_bucket\{le="0.005",model="tiny",version="1",environment="production"\} \d+/m);
    expect(res.body).toMatch(/^paved_serving_predicted_class_total\{model="tiny",version="1",environment="production",output="probabilities",class="[01]"\} \d+/m);
  });

  it("logs sampled requests and predictions as JSON lines", async () => {
    await infer("/v2/models/fixed/infer", { id: "logged", inputs: [{ name: "x", shape: [2, 3], datatype: "FP32", data: models.expected.fixed.x }] });
    const dir = join(database.dataDir, "serving", "fixed", "1");
    await serving.service.unload("fixed", "1");
    const files = readdirSync(dir);
    expect(files).toEqual([expect.stringMatching(/^predictions-\d{4}-\d{2}-\d{2}\.jsonl$/)]);
    const lines = readFileSync(join(dir, files[0]!), "utf8").trim().split("\n").map((l) => JSON.parse(l));
    expect(lines.find((l) => l.id === "logged")).toMatchObject({ model: "fixed", version: "1", inputs: [{ name: "x", shape: [2, 3] }], outputs: [{ name: "y", shape: [2] }] });
  });

  it("unloads a version: its routes answer 404 and its series leave /metrics", async () => {
    const del = await server.inject({ method: "DELETE", url: "/api/v1/serving/models/tiny/versions/1", headers: auth });
    expect(del.json()).toEqual({ name: "tiny", version: "1", environment: "production", unloaded: true });
    expect((await infer("/v2/models/tiny/versions/1/infer", tinyRequest(rows(1)))).statusCode).toBe(404);
    expect((await infer("/v2/models/tiny/versions/2/infer", tinyRequest(rows(1)))).statusCode).toBe(200);
    expect((await server.inject({ url: "/v2/models/tiny", headers: auth })).json().versions).toEqual(["2"]);
    expect((await server.inject({ url: "/metrics", headers: auth })).body).not.toContain('version="1",model="tiny"');
    expect((await server.inject({ url: "/metrics", headers: auth })).body).not.toMatch(/model="tiny",version="1"/);
    expect((await server.inject({ method: "DELETE", url: "/api/v1/serving/models/tiny/versions/1", headers: auth })).statusCode).toBe(404);
  });

  it("serves each environment at its own endpoint, from its own copy of a version", async () => {
    const load = (file: "tiny" | "tiny-v2", query: string) =>
      server.inject({ method: "PUT", url: `/api/v1/serving/models/iso/versions/1${query}`, headers: { ...auth, "content-type": "application/octet-stream" }, payload: Buffer.from(models.bytes(file)) });
    // The same version number, other bytes: production's iso@1 is tiny, staging's is tiny-v2.
    expect((await load("tiny", "")).json()).toMatchObject({ name: "iso", version: "1", environment: "production" });
    expect((await load("tiny-v2", "?environment=staging")).json()).toMatchObject({ name: "iso", version: "1", environment: "staging" });
    expect((await load("tiny", "?environment=Staging")).statusCode).toBe(400);
    const row = rows(1);
    const want = (file: "tiny" | "tiny-v2") => (models.expected[file].probabilities as number[][])[0]!;
    const v2Input = (models.expected["tiny-v2"].input as number[][])[0]!;
    close((await infer("/v2/models/iso/infer", tinyRequest(row))).json().outputs[0].data, want("tiny"));
    const staged = await infer("/environments/staging/v2/models/iso/versions/1/infer", tinyRequest([v2Input]));
    expect(staged.statusCode, staged.body).toBe(200);
    close(staged.json().outputs[0].data, want("tiny-v2"));
    expect((await infer("/environments/production/v2/models/iso/infer", tinyRequest(row))).statusCode).toBe(200);
    // The whole protocol under the prefix: a client whose base URL ends in /environments/staging works.
    expect((await server.inject({ url: "/environments/staging/v2/health/ready" })).json()).toEqual({ ready: true });
    expect((await server.inject({ url: "/environments/staging/v2/models/iso", headers: auth })).json()).toMatchObject({ name: "iso", versions: ["1"] });
    expect((await server.inject({ url: "/environments/staging/v2/models/iso/ready", headers: auth })).json()).toEqual({ name: "iso", version: "1", ready: true });
    // Nothing of production is reachable from another environment's endpoint.
    expect((await infer("/environments/staging/v2/models/tiny/infer", tinyRequest(row))).statusCode).toBe(404);
    expect((await infer("/environments/dev/v2/models/iso/infer", tinyRequest(row))).statusCode).toBe(404);
    const listed = (await server.inject({ url: "/api/v1/serving/models?environment=staging", headers: auth })).json().models;
    expect(listed.map((m: { name: string; environment: string }) => `${m.environment}/${m.name}`)).toEqual(["staging/iso"]);
    // Unloading staging's copy leaves production's serving.
    const del = await server.inject({ method: "DELETE", url: "/api/v1/serving/models/iso/versions/1?environment=staging", headers: auth });
    expect(del.json()).toEqual({ name: "iso", version: "1", environment: "staging", unloaded: true });
    expect((await infer("/environments/staging/v2/models/iso/infer", tinyRequest(row))).statusCode).toBe(404);
    close((await infer("/v2/models/iso/infer", tinyRequest(row))).json().outputs[0].data, want("tiny"));
    expect(readdirSync(join(database.dataDir, "serving", "iso", "1", "environments"))).toEqual(["staging"]);
  });

  it("rejects uploads that are not models", async () => {
    const res = await server.inject({ method: "PUT", url: "/api/v1/serving/models/bad/versions/1", headers: { ...auth, "content-type": "application/octet-stream" }, payload: Buffer.from("not onnx") });
    expect(res.statusCode).toBe(400);
    expect(res.json().error.code).toBe("INVALID_INPUT");
  });
});
