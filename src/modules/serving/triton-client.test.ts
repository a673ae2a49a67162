// NVIDIA Triton's Python HTTP client (tritonclient.http, and its aio variant) against a real
// Paved server on a socket. pip cannot reach the network here, so the client below frames every
// request byte for byte as tritonclient does (its http/_utils.py _get_inference_request,
// _infer_input.py, _requested_output.py, _client.py infer and aio/__init__.py infer, as read),
// following Triton's binary tensor data extension (server docs/protocol/extension_binary_data.md),
// and reads answers as its _infer_result.py does.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, readdirSync } from "node:fs";
import http from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { deflateSync, gunzipSync, gzipSync, inflateSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openTestDatabase, testDialects } from "../../../test/support/databases.ts";
import { createLogger, randomIds, systemClock } from "../../core/index.ts";
import { buildServer } from "../../http/index.ts";
import { TokenService } from "../identity/index.ts";
import { createServingModule } from "./index.ts";
import { buildTestModels, type TestModels } from "./test-models.ts";

type Values = Float32Array | BigInt64Array | Uint8Array | number[] | boolean[];

/** InferInput: set_data_from_numpy(array, binary_data=True) by default (_infer_input.py). */
interface InferInput {
  name: string;
  shape: number[];
  datatype: "FP32" | "INT64" | "BOOL";
  values: Values;
  /** set_data_from_numpy's binary_data (default true). */
  binary?: boolean;
}

/** InferRequestedOutput(name, binary_data=True, class_count=0) (_requested_output.py). */
interface InferRequestedOutput {
  name: string;
  binary?: boolean;
  classCount?: number;
}

interface InferCall {
  model: string;
  version?: string;
  inputs: InferInput[];
  outputs?: InferRequestedOutput[];
  requestId?: string;
  requestCompression?: "gzip" | "deflate";
  responseCompression?: "gzip" | "deflate";
  /** Extra request headers (the Authorization a Paved token needs). */
  headers?: Record<string, string>;
  /** Custom request parameters (the `parameters` argument of infer). */
  parameters?: Record<string, unknown>;
}

/** What numpy's tobytes() gives for the dtype: little-endian, row-major, bool one byte of 0 or 1. */
function toBytes(input: InferInput): Buffer {
  const v = input.values;
  if (v instanceof Float32Array || v instanceof BigInt64Array || v instanceof Uint8Array) return Buffer.from(v.buffer, v.byteOffset, v.byteLength);
  throw new Error("binary inputs take typed arrays");
}

/** InferInput._get_tensor: name, shape, datatype, then parameters (binary_data_size) or data. */
function tensorJson(input: InferInput, binarySize: number | undefined): Record<string, unknown> {
  const tensor: Record<string, unknown> = { name: input.name, shape: input.shape, datatype: input.datatype };
  if (binarySize !== undefined) {
    tensor.parameters = { binary_data_size: binarySize };
  } else {
    const v = input.values;
    tensor.data = v instanceof BigInt64Array ? Array.from(v, Number) : v instanceof Uint8Array && input.datatype === "BOOL" ? Array.from(v, (b) => b === 1) : Array.from(v as ArrayLike<number | boolean>);
  }
  return tensor;
}

/**
 * _get_inference_request: the JSON (rapidjson.dumps: compact, keys in insertion order) then each
 * binary input's bytes in input order; with no requested outputs it asks for every output as binary
 * data (`binary_data_output`). The JSON size is given only when binary data follows
 * (extension_binary_data.md, "Binary Tensor Request": Inference-Header-Content-Length).
 */
function inferenceRequest(call: InferCall): { body: Buffer; jsonSize: number | undefined } {
  const request: Record<string, unknown> = {};
  const parameters: Record<string, unknown> = {};
  if (call.requestId) request.id = call.requestId;
  const binaries = call.inputs.map((i) => ((i.binary ?? true) ? toBytes(i) : undefined));
  request.inputs = call.inputs.map((i, n) => tensorJson(i, binaries[n]?.length));
  if (call.outputs?.length) {
    request.outputs = call.outputs.map((o) => ({ name: o.name, parameters: { ...(o.classCount ? { classification: o.classCount } : {}), binary_data: o.binary ?? true } }));
  } else {
    parameters.binary_data_output = true;
  }
  Object.assign(parameters, call.parameters ?? {});
  if (Object.keys(parameters).length) request.parameters = parameters;
  const json = JSON.stringify(request);
  const parts = binaries.filter((b): b is Buffer => b !== undefined);
  if (parts.length === 0) return { body: Buffer.from(json), jsonSize: undefined };
  // len(request_json): characters, which are bytes for rapidjson's ASCII output.
  return { body: Buffer.concat([Buffer.from(json), ...parts]), jsonSize: json.length };
}

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  raw: Buffer;
}

/** InferResult: decompress as Content-Encoding says, then JSON of the whole body or of its first Inference-Header-Content-Length bytes. */
class InferResult {
  readonly result: { model_name: string; model_version: string; id: string; outputs: { name: string; datatype: string; shape: number[]; data?: unknown[]; parameters?: { binary_data_size?: number } }[] };
  private readonly buffer: Buffer;
  private readonly offsets = new Map<string, number>();

  constructor(answer: Answer) {
    const encoding = answer.headers["content-encoding"];
    const body = encoding === "gzip" ? gunzipSync(answer.raw) : encoding === "deflate" ? inflateSync(answer.raw) : answer.raw;
    const headerLength = answer.headers["inference-header-content-length"];
    if (headerLength === undefined) {
      this.result = JSON.parse(body.toString("utf8"));
      this.buffer = Buffer.alloc(0);
      return;
    }
    const length = Number(headerLength);
    this.result = JSON.parse(body.subarray(0, length).toString("utf8"));
    this.buffer = body.subarray(length);
    let index = 0;
    for (const output of this.result.outputs) {
      const size = output.parameters?.binary_data_size;
      if (size !== undefined) {
        this.offsets.set(output.name, index);
        index += size;
      }
    }
  }

  /** as_numpy, flattened: np.frombuffer for binary outputs, np.array(data) for JSON ones. */
  asArray(name: string): number[] | boolean[] | bigint[] {
    const output = this.result.outputs.find((o) => o.name === name)!;
    const size = output.parameters?.binary_data_size;
    if (size === undefined) return output.data as number[];
    const start = this.offsets.get(name)!;
    const bytes = Buffer.from(this.buffer.subarray(start, start + size)); // aligned copy
    if (output.datatype === "FP32") return Array.from(new Float32Array(bytes.buffer, bytes.byteOffset, size / 4));
    if (output.datatype === "INT64") return Array.from(new BigInt64Array(bytes.buffer, bytes.byteOffset, size / 8));
    if (output.datatype === "BOOL") return Array.from(bytes, (b) => b === 1);
    throw new Error(`datatype ${output.datatype} not read by this test`);
  }

  isBinary(name: string): boolean {
    return this.result.outputs.find((o) => o.name === name)?.parameters?.binary_data_size !== undefined;
  }
}

/** InferenceServerException: the status and the `error` of the answer's JSON. */
class InferenceServerError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/**
 * tritonclient.http.InferenceServerClient (geventhttpclient: no Content-Type on the POST) or, with
 * `aio`, tritonclient.http.aio.InferenceServerClient (aiohttp: Content-Type application/octet-stream
 * for a bytes body, and its default Accept and Accept-Encoding unless the call sets them).
 */
class TritonHttpClient {
  constructor(
    private readonly base: string,
    private readonly variant: "sync" | "aio",
  ) {}

  async infer(call: InferCall): Promise<InferResult> {
    const answer = await this.post(call);
    if (answer.status !== 200) throw new InferenceServerError(answer.status, JSON.parse(answer.raw.toString("utf8")).error);
    return new InferResult(answer);
  }

  /** _client.py infer: compress (gzip.compress / zlib.compress), Accept-Encoding, then Inference-Header-Content-Length. */
  post(call: InferCall, reframe?: (body: Buffer, headers: Record<string, string>) => void): Promise<Answer> {
    const { body: framed, jsonSize } = inferenceRequest(call);
    const headers: Record<string, string> = { ...(call.headers ?? {}) };
    let body = framed;
    if (call.requestCompression === "gzip") {
      headers["Content-Encoding"] = "gzip";
      body = gzipSync(body);
    } else if (call.requestCompression === "deflate") {
      headers["Content-Encoding"] = "deflate";
      body = deflateSync(body);
    }
    if (call.responseCompression) headers["Accept-Encoding"] = call.responseCompression;
    if (jsonSize !== undefined) headers["Inference-Header-Content-Length"] = String(jsonSize);
    reframe?.(body, headers);
    const path = call.version ? `v2/models/${encodeURIComponent(call.model)}/versions/${call.version}/infer` : `v2/models/${encodeURIComponent(call.model)}/infer`;
    return this.send("POST", path, body, headers);
  }

  async get(path: string, headers: Record<string, string>): Promise<{ status: number; json: any }> {
    const answer = await this.send("GET", path, undefined, headers);
    return { status: answer.status, json: JSON.parse(answer.raw.toString("utf8")) };
  }

  send(method: string, path: string, body: Buffer | undefined, headers: Record<string, string>): Promise<Answer> {
    const stack =
      this.variant === "aio"
        ? { Accept: "*/*", "Accept-Encoding": "gzip, deflate", "User-Agent": "Python/3.11 aiohttp/3.9.5", ...(body ? { "Content-Type": "application/octet-stream" } : {}) }
        : { "User-Agent": "python/gevent-http-client-2.0.11" };
    return new Promise((resolve, reject) => {
      const request = http.request(`${this.base}/${path}`, { method, headers: { ...stack, ...headers, ...(body ? { "Content-Length": String(body.length) } : {}) } }, (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, raw: Buffer.concat(chunks) }));
        res.on("error", reject);
      });
      request.on("error", reject);
      request.end(body);
    });
  }
}

/** Three inputs and outputs of three datatypes: y = (sum(x) + ids) where mask else 0, ids2 = 2·ids, flags = not mask. */
function exportMixedOnnx(): Buffer {
  const path = join(mkdtempSync(join(tmpdir(), "paved-onnx-")), "mixed.onnx");
  const script = [
    "import sys, torch",
    "class Mixed(torch.nn.Module):",
    "    def forward(self, x, ids, mask):",
    "        total = x.sum(dim=1) + ids.to(torch.float32)",
    "        return torch.where(mask, total, torch.zeros_like(total)), ids * 2, ~mask",
    "names = ['x', 'ids', 'mask', 'y', 'ids2', 'flags']",
    "example = (torch.zeros(2, 3), torch.zeros(2, dtype=torch.int64), torch.ones(2, dtype=torch.bool))",
    "torch.onnx.export(Mixed(), example, sys.argv[1], input_names=names[:3], output_names=names[3:], dynamic_axes={n: {0: 'batch'} for n in names}, opset_version=13)",
  ].join("\n");
  execFileSync("/usr/bin/python3", ["-c", script, path], { stdio: "pipe" });
  return readFileSync(path);
}

const MAX_REQUEST_BYTES = 256 * 1024;

describe.each(testDialects())("tritonclient.http against Paved (%s)", async (dialect) => {
  const database = await openTestDatabase(dialect);
  const logger = createLogger("silent");
  const tokens = new TokenService(database.db, systemClock, randomIds);
  const adminToken = "admin-token-for-tests-0123456789";
  await tokens.ensureAdmin(adminToken);
  const addJob = (id: string, team: string) =>
    database.db
      .insertInto("jobs")
      .values({ job_id: id, name: id, spec: "{}", phase: "RUNNING", priority: 0, owner: "admin", request: "{}", experiment_id: "0", run_id: null, attempt: 1, allocation: null, handle: null, pending: null, pid: null, pid_start: null, exit_code: null, message: null, cancel_requested_at: null, created_at: 1, started_at: null, attempt_started_at: null, finished_at: null, updated_at: 1, team_id: team })
      .execute();
  await addJob("job-other-team", "vision");
  const otherTeam = { Authorization: `Bearer ${await tokens.mintForJob("job-other-team", 3600_000)}` };
  const serving = createServingModule({ dataDir: database.dataDir, clock: systemClock, ids: randomIds, logger, maxRequestBytes: MAX_REQUEST_BYTES });
  const server = buildServer({ routes: serving.routes, tokens, logger, bodyLimit: 1 << 20, uploadLimit: 1 << 24, requestTimeoutMs: 60_000 });
  const auth = { Authorization: `Bearer ${adminToken}` };
  let models: TestModels;
  let sync: TritonHttpClient;
  let aio: TritonHttpClient;

  // torch's 40 rows, repeated for longer requests.
  const cycle = <T>(all: T[], n: number) => Array.from({ length: n }, (_, i) => all[i % all.length]!);
  const rows = (n: number) => cycle(models.expected.tiny.input as number[][], n);
  const probabilities = (n: number) => cycle(models.expected.tiny.probabilities as number[][], n).flat();
  const tinyInput = (n: number, binary?: boolean): InferInput => ({ name: "input", shape: [n, 4], datatype: "FP32", values: Float32Array.from(rows(n).flat()), ...(binary === undefined ? {} : { binary }) });
  const close = (got: unknown[], want: number[]) => {
    expect(got).toHaveLength(want.length);
    got.forEach((v, i) => expect(v as number).toBeCloseTo(want[i]!, 5));
  };
  const load = async (name: string, bytes: Uint8Array, query = "") => {
    const res = await server.inject({ method: "PUT", url: `/api/v1/serving/models/${name}/versions/1${query}`, headers: { ...auth, "content-type": "application/octet-stream" }, payload: Buffer.from(bytes) });
    expect(res.statusCode, res.body).toBe(200);
  };

  beforeAll(async () => {
    models = buildTestModels();
    await load("tiny", models.bytes("tiny"));
    await load("mixed", new Uint8Array(exportMixedOnnx()));
    await load("tiny", models.bytes("tiny"), "?environment=staging");
    const url = await server.listen({ port: 0, host: "127.0.0.1" });
    sync = new TritonHttpClient(url, "sync");
    aio = new TritonHttpClient(url, "aio");
  }, 60_000);
  afterAll(async () => {
    await serving.service.close();
    await server.close();
    await database.close();
  });

  it("infers with the client's defaults: binary input, every output as binary data, no Content-Type (sync) or application/octet-stream (aio)", async () => {
    for (const client of [sync, aio]) {
      const result = await client.infer({ model: "tiny", inputs: [tinyInput(3)], headers: auth });
      expect(result.result).toMatchObject({ model_name: "tiny", model_version: "1", outputs: [{ name: "probabilities", datatype: "FP32", shape: [3, 2], parameters: { binary_data_size: 24 } }] });
      close(result.asArray("probabilities"), probabilities(3));
    }
  });

  it("takes JSON inputs without a Content-Type, and answers JSON for outputs asked for with binary_data=False", async () => {
    const json = await sync.infer({ model: "tiny", version: "1", requestId: "r-7", inputs: [tinyInput(2, false)], outputs: [{ name: "probabilities", binary: false }], headers: auth });
    expect(json.result.id).toBe("r-7");
    expect(json.isBinary("probabilities")).toBe(false);
    close(json.asArray("probabilities"), probabilities(2));
    // JSON inputs and no outputs named: the client still asks for binary outputs (binary_data_output).
    const mixed = await sync.infer({ model: "tiny", inputs: [tinyInput(2, false)], headers: auth });
    expect(mixed.isBinary("probabilities")).toBe(true);
    close(mixed.asArray("probabilities"), probabilities(2));
  });

  it("carries INT64 and BOOL as binary data both ways, beside a JSON output, exactly", async () => {
    const x = Float32Array.from([1, 2, 3, 4, 5, 6, 0.5, 0.25, 0.125]);
    const ids = BigInt64Array.from([10n, -3n, 2n ** 60n]);
    const mask = Uint8Array.from([1, 0, 1]);
    const result = await aio.infer({
      model: "mixed",
      inputs: [
        { name: "x", shape: [3, 3], datatype: "FP32", values: x },
        { name: "ids", shape: [3], datatype: "INT64", values: ids },
        { name: "mask", shape: [3], datatype: "BOOL", values: mask },
      ],
      outputs: [{ name: "ids2" }, { name: "flags" }, { name: "y", binary: false }],
      headers: auth,
    });
    // 2^61 survives as binary data; as a JSON number it would not.
    expect(result.asArray("ids2")).toEqual([20n, -6n, 2n ** 61n]);
    expect(result.asArray("flags")).toEqual([false, true, false]);
    expect(result.isBinary("y")).toBe(false);
    close(result.asArray("y"), [6 + 10, 0, 0.875 + 2 ** 60]);
    expect(result.result.outputs.map((o) => o.name)).toEqual(["y", "ids2", "flags"]);
  });

  it("takes gzip and deflate request bodies, and compresses answers when asked", async () => {
    for (const requestCompression of ["gzip", "deflate"] as const) {
      const result = await sync.infer({ model: "tiny", inputs: [tinyInput(2)], requestCompression, headers: auth });
      close(result.asArray("probabilities"), probabilities(2));
    }
    // Large enough to be worth compressing (answers under 1 KiB go as they are).
    const answer = await sync.post({ model: "tiny", inputs: [tinyInput(40)], outputs: [{ name: "probabilities", binary: false }], responseCompression: "gzip", headers: auth });
    expect(answer.headers["content-encoding"]).toBe("gzip");
    close(new InferResult(answer).asArray("probabilities"), probabilities(40));
    const binary = await aio.post({ model: "tiny", inputs: [tinyInput(200)], responseCompression: "deflate", headers: auth });
    expect(binary.headers["content-encoding"]).toBe("deflate");
    expect(binary.headers["content-type"]).toBe("application/octet-stream");
    close(new InferResult(binary).asArray("probabilities"), probabilities(200));
    // Small answers are not compressed, whatever the client accepts (aiohttp always sends gzip, deflate).
    expect((await aio.post({ model: "tiny", inputs: [tinyInput(1)], headers: auth })).headers["content-encoding"]).toBeUndefined();
  });

  it("refuses a gzip bomb once its inflated size passes serving.maxRequestBytes (413)", async () => {
    const bomb = gzipSync(Buffer.alloc(64 * 1024 ** 2, 0x20));
    expect(bomb.length).toBeLessThan(MAX_REQUEST_BYTES);
    const res = await sync.send("POST", "v2/models/tiny/infer", bomb, { ...auth, "Content-Encoding": "gzip" });
    expect(res.status).toBe(413);
    expect(JSON.parse(res.raw.toString())).toEqual({ error: expect.stringContaining("serving.maxRequestBytes") });
    // The connection and the server carry on.
    close((await sync.infer({ model: "tiny", inputs: [tinyInput(1)], headers: auth })).asArray("probabilities"), probabilities(1));
  });

  type Framed = { body: Buffer; headers: Record<string, string> };
  it.each<[string, (framed: Framed) => Framed]>([
    ["a binary_data_size other than shape × datatype size", (f) => rewriteJson(f, (j) => ((j.inputs[0].shape = [2, 4]), j))],
    ["binary data shorter than the sizes add up to", (f) => ({ ...f, body: f.body.subarray(0, f.body.length - 4) })],
    ["binary data longer than the sizes add up to", (f) => ({ ...f, body: Buffer.concat([f.body, Buffer.alloc(4)]) })],
    ["a header length past the body", (f) => ({ ...f, headers: { ...f.headers, "Inference-Header-Content-Length": String(f.body.length + 1) } })],
    ["a header length that cuts the JSON", (f) => ({ ...f, headers: { ...f.headers, "Inference-Header-Content-Length": "10" } })],
    ["a header length that is not a number", (f) => ({ ...f, headers: { ...f.headers, "Inference-Header-Content-Length": "12abc" } })],
    ["binary data without the header", (f) => ({ ...f, headers: withoutHeader(f.headers) })],
    ["a raw binary request (header length 0)", (f) => ({ body: f.body.subarray(Number(f.headers["Inference-Header-Content-Length"])), headers: { ...f.headers, "Inference-Header-Content-Length": "0" } })],
    ["a shared-memory input", (f) => rewriteJson(f, (j) => ((j.inputs[0].parameters = { shared_memory_region: "in0", shared_memory_byte_size: 16 }), j), { dropBinary: true })],
    ["an input with both data and binary_data_size", (f) => rewriteJson(f, (j) => ((j.inputs[0].data = [1, 2, 3, 4]), j))],
    ["an unsupported Content-Encoding", (f) => ({ ...f, headers: { ...f.headers, "Content-Encoding": "br" } })],
    ["a body that is not the gzip it says", (f) => ({ ...f, headers: { ...f.headers, "Content-Encoding": "gzip" } })],
  ])("refuses %s with 400 and the fix", async (_what, reframe) => {
    const { body, jsonSize } = inferenceRequest({ model: "tiny", inputs: [tinyInput(1)] });
    const framed = reframe({ body, headers: { ...auth, "Inference-Header-Content-Length": String(jsonSize) } });
    const res = await sync.send("POST", "v2/models/tiny/infer", framed.body, framed.headers);
    expect(res.status, res.raw.toString()).toBe(400);
    expect(JSON.parse(res.raw.toString())).toEqual({ error: expect.any(String) });
  });

  it("refuses the classification extension naming it, and the server metadata lists what it implements", async () => {
    await expect(sync.infer({ model: "tiny", inputs: [tinyInput(1)], outputs: [{ name: "probabilities", classCount: 1 }], headers: auth })).rejects.toMatchObject({ status: 400, message: expect.stringContaining("classification extension") });
    const metadata = await sync.get("v2", {});
    expect(metadata.json).toEqual({ name: "paved", version: expect.any(String), extensions: ["binary_tensor_data", "model_configuration", "statistics"] });
  });

  it("answers get_model_config as Triton's ModelConfig of the loaded version", async () => {
    const config = await sync.get("v2/models/mixed/config", auth);
    expect(config.status).toBe(200);
    expect(config.json).toMatchObject({
      name: "mixed",
      platform: "onnxruntime_onnx",
      backend: "onnxruntime",
      max_batch_size: 64,
      input: [
        { name: "x", data_type: "TYPE_FP32", dims: [3] },
        { name: "ids", data_type: "TYPE_INT64", dims: [] },
        { name: "mask", data_type: "TYPE_BOOL", dims: [] },
      ],
      output: [
        { name: "y", data_type: "TYPE_FP32", dims: [] },
        { name: "ids2", data_type: "TYPE_INT64", dims: [] },
        { name: "flags", data_type: "TYPE_BOOL", dims: [] },
      ],
      instance_group: [{ kind: "KIND_CPU", count: 1 }],
    });
    expect((await sync.get("v2/models/tiny/versions/1/config", auth)).json).toMatchObject({ name: "tiny", max_batch_size: 64, input: [{ name: "input", dims: [4] }] });
    expect((await sync.get("environments/staging/v2/models/tiny/config", auth)).json.parameters["paved.environment"]).toEqual({ string_value: "staging" });
    expect((await sync.get("v2/models/nope/config", auth)).status).toBe(404);
    // Another team's model answers as one that is not loaded.
    const hidden = await sync.get("v2/models/tiny/config", otherTeam);
    expect(hidden.status).toBe(404);
  });

  it("answers get_inference_statistics from what the versions served, for your teams' models only", async () => {
    const before = (await sync.get("v2/models/mixed/stats", auth)).json.model_stats[0];
    await sync.infer({ model: "mixed", inputs: [{ name: "x", shape: [2, 3], datatype: "FP32", values: new Float32Array(6) }, { name: "ids", shape: [2], datatype: "INT64", values: new BigInt64Array(2) }, { name: "mask", shape: [2], datatype: "BOOL", values: new Uint8Array(2) }], headers: auth });
    await expect(sync.infer({ model: "mixed", inputs: [{ name: "x", shape: [1, 3], datatype: "FP32", values: new Float32Array(3) }], headers: auth })).rejects.toMatchObject({ status: 400 });
    const after = (await sync.get("v2/models/mixed/versions/1/stats", auth)).json.model_stats;
    expect(after).toHaveLength(1);
    expect(after[0]).toMatchObject({ name: "mixed", version: "1" });
    expect(after[0].inference_count - before.inference_count).toBe(2);
    expect(after[0].execution_count - before.execution_count).toBe(1);
    expect(after[0].inference_stats.success.count - before.inference_stats.success.count).toBe(1);
    expect(after[0].inference_stats.success.ns).toBeGreaterThan(before.inference_stats.success.ns);
    expect(after[0].inference_stats.fail.count - before.inference_stats.fail.count).toBe(1);
    expect(after[0].last_inference).toBeGreaterThan(0);
    const all = (await sync.get("v2/models/stats", auth)).json.model_stats.map((s: { name: string }) => s.name);
    expect(all).toEqual(["mixed", "tiny"]);
    expect((await sync.get("environments/staging/v2/models/stats", auth)).json.model_stats.map((s: { name: string; version: string }) => `${s.name}@${s.version}`)).toEqual(["tiny@1"]);
    expect((await sync.get("v2/models/stats", otherTeam)).json).toEqual({ model_stats: [] });
    expect((await sync.get("v2/models/mixed/stats", otherTeam)).status).toBe(404);
  });

  it("logs a binary request's inputs as the values they hold", async () => {
    await load("logged", models.bytes("tiny"));
    await sync.infer({ model: "logged", requestId: "binary-logged", inputs: [tinyInput(2)], headers: auth });
    await serving.service.unload("logged", "1");
    const dir = join(database.dataDir, "serving", "logged", "1");
    const lines = readdirSync(dir).flatMap((f) => readFileSync(join(dir, f), "utf8").trim().split("\n").map((l) => JSON.parse(l)));
    const line = lines.find((l) => l.id === "binary-logged");
    expect(line.inputs[0]).toMatchObject({ name: "input", shape: [2, 4], datatype: "FP32" });
    close(line.inputs[0].data, rows(2).flat());
    close(line.outputs[0].data, probabilities(2));
  });
});

function withoutHeader(headers: Record<string, string>): Record<string, string> {
  const { "Inference-Header-Content-Length": _dropped, ...rest } = headers;
  return rest;
}

/** Rewrites the JSON header of a framed body (keeping its binary data unless told), with the header length updated. */
function rewriteJson(framed: { body: Buffer; headers: Record<string, string> }, change: (json: Record<string, any>) => unknown, options: { dropBinary?: boolean } = {}): { body: Buffer; headers: Record<string, string> } {
  const length = Number(framed.headers["Inference-Header-Content-Length"]);
  const json = Buffer.from(JSON.stringify(change(JSON.parse(framed.body.subarray(0, length).toString()))));
  const binary = options.dropBinary ? Buffer.alloc(0) : framed.body.subarray(length);
  return { body: Buffer.concat([json, binary]), headers: { ...framed.headers, "Inference-Header-Content-Length": String(json.length) } };
}
