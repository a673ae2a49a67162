// Serving bench: latency and throughput of OIP v2 infer on a real `paved up` (over HTTP,
// keep-alive, concurrency 1 and 32), beside the ceiling (a bare node:http + onnxruntime-node
// server) and a bare session.run in this process, for the quickstart-like MLP (30 -> 16 -> 16 -> 1)
// and a tiny Linear(4 -> 2) + softmax. Paved is driven twice: JSON, and the same request framed as
// tritonclient.http sends it by default (binary tensor data in and out, no Content-Type).
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as ort from "onnxruntime-node";
import { createLogger, randomIds, systemClock } from "../src/core/index.ts";
import { buildServer } from "../src/http/index.ts";
import { ServingService, type ServingRuntime } from "../src/modules/serving/index.ts";
import { decodeInferRequest } from "../src/modules/serving/binary-tensor-data.ts";
import { oipRoutes } from "../src/modules/serving/routes.ts";
import { toInputTensors, type ModelSignature, type Tensor } from "../src/modules/serving/tensor.ts";
import { buildTestModels, type TestModelName } from "../src/modules/serving/test-models.ts";
import { HttpClient, drive, nowMs, printTable, processCpuMs, round, startHelperServer, startPaved, summarize, type BenchOptions, type BenchResult } from "./support.ts";

// Issue 14 item 2's targets, against the ceiling: c=1 p50 latency, c=32 throughput, and the data
// plane's main-thread CPU per request at c=32 (what Paved adds to the ceiling's work).
const TARGET_P50_RATIO = 1.2;
const TARGET_THROUGHPUT_SHARE = 0.85;
const TARGET_CPU_RATIO = 1.25;
const CONCURRENCIES = [1, 32];
/** Worker replicas per model version: 1, or BENCH_REPLICAS (scripts/device/bench-serving.sh runs 1 and 4). */
const REPLICAS = Number(process.env.BENCH_REPLICAS ?? "1");

interface Drive {
  requestsPerSecond: number;
  ms: ReturnType<typeof summarize>;
  /** Server CPU time per request, µs (Linux only). */
  serverCpu?: { mainUsPerRequest: number; allUsPerRequest: number };
}

/**
 * Requests each server answers one at a time before it is measured. Servers are compared warm:
 * V8 optimises Paved's longer request path (Fastify, auth, validation, worker hop) only after a
 * few thousand requests, and its first thousand run at about twice the steady latency, while
 * the ceiling's few lines are hot after a couple of hundred.
 */
const WARMUP = 3000;

/**
 * `drive` (after its warm-up) with the server's CPU time per request measured around it: its
 * main thread and all its threads (workers, GC, libuv) — where the time goes, beside the wall clock.
 */
async function driveMeasured(client: HttpClient, pid: number, path: string, body: string | Buffer, concurrency: number, requests: number, warmup: number, headers: Record<string, string | null> = {}): Promise<Drive> {
  await drive(client, path, body, 1, warmup, 0, headers);
  const before = processCpuMs(pid);
  const result = await drive(client, path, body, concurrency, requests, 0, headers);
  const after = processCpuMs(pid);
  const cpu = before && after ? { mainUsPerRequest: round(((after.main - before.main) * 1000) / requests, 0), allUsPerRequest: round(((after.all - before.all) * 1000) / requests, 0) } : undefined;
  return { ...result, ...(cpu ? { serverCpu: cpu } : {}) };
}

/** Bare session.run, batch 1, in this process: the floor under any server. */
async function bareRun(file: string, features: number, runs: number): Promise<Drive> {
  const session = await ort.InferenceSession.create(file, { intraOpNumThreads: 1, interOpNumThreads: 1, executionMode: "sequential" });
  const input = new ort.Tensor("float32", Float32Array.from({ length: features }, () => Math.random()), [1, features]);
  const feeds = { [session.inputNames[0]!]: input };
  for (let i = 0; i < 500; i++) await session.run(feeds);
  const latencies: number[] = [];
  const start = nowMs();
  for (let i = 0; i < runs; i++) {
    const t = nowMs();
    await session.run(feeds);
    latencies.push(nowMs() - t);
  }
  const seconds = (nowMs() - start) / 1000;
  await session.release();
  return { requestsPerSecond: runs / seconds, ms: summarize(latencies) };
}

/**
 * The request of `row` as tritonclient.http frames it by default (set_data_from_numpy: binary
 * input; no outputs named: every output as binary data): its JSON header, then the row's FP32
 * bytes; Inference-Header-Content-Length gives the header's length, and there is no Content-Type.
 */
function tritonBinaryRequest(input: string, rows: number[][]): { body: Buffer; headers: Record<string, string | null> } {
  const data = Buffer.from(Float32Array.from(rows.flat()).buffer);
  const header = JSON.stringify({ inputs: [{ name: input, shape: [rows.length, rows[0]!.length], datatype: "FP32", parameters: { binary_data_size: data.length } }], parameters: { binary_data_output: true } });
  return { body: Buffer.concat([Buffer.from(header), data]), headers: { "content-type": null, "inference-header-content-length": String(header.length) } };
}

/**
 * In this process, what turning one request body into the model's input tensors costs (what the
 * server does before the run): a [rows, 784] FP32 batch (MNIST-sized rows) as JSON, and as binary
 * tensor data. CPU time of this process (which does nothing else meanwhile) per decode, the best of
 * 7 rounds of at least `minRoundMs` of CPU each (the kernel counts CPU time in ticks of a few ms):
 * on a shared machine the wall clock would also count waiting for a core.
 */
function decodeCost(rows: number, minRoundMs: number): { rows: number; jsonUs: number; binaryUs: number; jsonBytes: number; binaryBytes: number } {
  const shape = [rows, 784];
  const signature: ModelSignature = { inputs: [{ name: "x", datatype: "FP32", shape: [-1, 784] }], outputs: [] };
  const values = Float32Array.from({ length: rows * 784 }, (_, i) => Math.fround(Math.sin(i) * 0.5 + 0.5));
  const json = Buffer.from(JSON.stringify({ inputs: [{ name: "x", shape, datatype: "FP32", data: Array.from(values) }] }));
  const header = Buffer.from(JSON.stringify({ inputs: [{ name: "x", shape, datatype: "FP32", parameters: { binary_data_size: values.byteLength } }] }));
  const binary = Buffer.concat([header, Buffer.from(values.buffer)]);
  const binaryHeaders = { "inference-header-content-length": String(header.length) };
  const time = (body: Buffer, headers: Record<string, string>) => {
    const rounds: number[] = [];
    for (let round = 0; round < 7; round++) {
      const start = process.cpuUsage();
      let runs = 0;
      let micros = 0;
      while (micros < minRoundMs * 1000) {
        for (let i = 0; i < 10; i++) toInputTensors(signature, decodeInferRequest(body, headers).inputs);
        runs += 10;
        const used = process.cpuUsage(start);
        micros = used.user + used.system;
      }
      rounds.push(micros / runs);
    }
    return Math.min(...rounds);
  };
  time(json, {});
  time(binary, binaryHeaders);
  return { rows, jsonUs: round(time(json, {}), 1), binaryUs: round(time(binary, binaryHeaders), 1), jsonBytes: json.length, binaryBytes: binary.length };
}

/**
 * In this process, the OIP infer route's own CPU per request (Fastify's inject: no socket; a runtime
 * that answers the MLP's signature at once: no worker, no model) for [rows, 30] FP32 requests as
 * JSON and as tritonclient frames them. Best of 9 rounds of `runs` requests, alternating the two.
 */
async function routeCost(rows: number, runs: number): Promise<{ rows: number; jsonUs: number; binaryUs: number }> {
  const instant: ServingRuntime = {
    kind: "onnx",
    platform: "onnxruntime",
    capabilities: new Set(["cpu"]),
    load: async () => ({ runtime: "onnx", id: "instant" }),
    metadata: () => ({ inputs: [{ name: "features", datatype: "FP32", shape: [-1, 30] }], outputs: [{ name: "probability", datatype: "FP32", shape: [-1, 1] }] }),
    infer: async (_handle, inputs): Promise<Tensor[]> => [{ name: "probability", datatype: "FP32", shape: [inputs[0]!.shape[0]!, 1], data: new Float32Array(inputs[0]!.shape[0]!).fill(0.5) }],
    resize: async () => undefined,
    stats: () => ({ replicas: 1, busy: 0, queued: 0 }),
    unload: async () => undefined,
    close: async () => undefined,
  };
  const dataDir = mkdtempSync(join(tmpdir(), "paved-bench-route-"));
  const logger = createLogger("silent");
  const service = new ServingService({ runtimes: [instant], dataDir, clock: systemClock, ids: randomIds, logger, sampleRate: 0 });
  const server = buildServer({ routes: oipRoutes(service, { maxRequestBytes: 16 * 1024 ** 2, maxModelBytes: 1024 }), tokens: undefined, logger, bodyLimit: 1 << 20, uploadLimit: 1 << 20, requestTimeoutMs: 60_000 });
  try {
    await service.load({ name: "mlp", version: "1", bytes: new Uint8Array(1) });
    const batch = Array.from({ length: rows }, (_, r) => Array.from({ length: 30 }, (_, i) => round(Math.sin(r * 30 + i + 1), 4)));
    const json = JSON.stringify({ inputs: [{ name: "features", shape: [rows, 30], datatype: "FP32", data: batch }] });
    const binary = tritonBinaryRequest("features", batch);
    const binaryHeaders = Object.fromEntries(Object.entries(binary.headers).filter((e): e is [string, string] => e[1] !== null));
    const send = {
      json: () => server.inject({ method: "POST", url: "/v2/models/mlp/infer", headers: { "content-type": "application/json" }, payload: json }),
      binary: () => server.inject({ method: "POST", url: "/v2/models/mlp/infer", headers: binaryHeaders, payload: binary.body }),
    };
    const time = async (kind: "json" | "binary", n: number) => {
      const start = process.cpuUsage();
      for (let i = 0; i < n; i++) {
        const res = await send[kind]();
        if (res.statusCode !== 200) throw new Error(`route answered ${res.statusCode}: ${res.body.slice(0, 300)}`);
      }
      const used = process.cpuUsage(start);
      return (used.user + used.system) / n;
    };
    await time("json", runs);
    await time("binary", runs);
    const best = { json: Infinity, binary: Infinity };
    for (let round = 0; round < 9; round++) {
      for (const kind of round % 2 ? (["json", "binary"] as const) : (["binary", "json"] as const)) best[kind] = Math.min(best[kind], await time(kind, runs));
    }
    return { rows, jsonUs: round(best.json, 0), binaryUs: round(best.binary, 0) };
  } finally {
    await service.close();
    await server.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

function cpuCell(d: Drive): string {
  return d.serverCpu ? `${d.serverCpu.mainUsPerRequest} / ${d.serverCpu.allUsPerRequest}` : "-";
}

export async function run(options: BenchOptions): Promise<BenchResult> {
  if (!Number.isInteger(REPLICAS) || REPLICAS < 1) throw new Error(`BENCH_REPLICAS must be a positive integer, not '${process.env.BENCH_REPLICAS}'`);
  const models = buildTestModels();
  const specs: { model: TestModelName; input: string; features: number }[] = [
    { model: "mlp", input: "features", features: 30 },
    { model: "tiny", input: "input", features: 4 },
  ];
  const requests = { 1: Math.max(200, Math.round(3000 * options.scale)), 32: Math.max(500, Math.round(20000 * options.scale)) } as Record<number, number>;
  const paved = await startPaved({ name: "serving" });
  const figures: Record<string, unknown> = { replicas: REPLICAS };
  const notes: string[] = [];
  try {
    const admin = new HttpClient(paved.url, paved.token, 1);
    for (const spec of specs) {
      await admin.request("PUT", `/api/v1/serving/models/${spec.model}/versions/1?replicas=${REPLICAS}`, Buffer.from(models.bytes(spec.model)));
    }
    await admin.request("PUT", "/api/v1/serving/models/slow/versions/1?replicas=1", Buffer.from(models.bytes("slow")));
    const loaded = JSON.parse((await admin.raw("GET", "/api/v1/serving/models")).text) as { models: { name: string; execution?: string }[] };
    notes.push(`execution chosen at load: ${loaded.models.map((m) => `${m.name} ${m.execution ?? "-"}`).join(", ")}`);
    admin.close();
    // Predictions go to the data-plane process itself (what serves them), as a client should.
    const [dataPlane] = await paved.dataPlanes();
    for (const spec of specs) {
      const row = Array.from({ length: spec.features }, (_, i) => round(Math.sin(i + 1), 4));
      const body = JSON.stringify({ inputs: [{ name: spec.input, shape: [1, spec.features], datatype: "FP32", data: row }] });
      const binary = tritonBinaryRequest(spec.input, [row]);
      const ceiling = await startHelperServer("onnx-http-server.ts", [join(models.dir, `${spec.model}.onnx`)]);
      const rows: (string | number)[][] = [];
      const perModel: Record<string, unknown> = {};
      try {
        const bare = await bareRun(join(models.dir, `${spec.model}.onnx`), spec.features, requests[1]! * 5);
        rows.push(["bare session.run (c=1)", bare.ms.p50, bare.ms.p99, bare.requestsPerSecond, "-"]);
        perModel.bareSessionRun = bare;
        for (const concurrency of CONCURRENCIES) {
          const pavedClient = new HttpClient(dataPlane!.url, paved.token, concurrency);
          const ceilingClient = new HttpClient(ceiling.url, undefined, concurrency);
          const warmup = Math.max(200, Math.round(WARMUP * options.scale));
          const p = await driveMeasured(pavedClient, dataPlane!.pid, `/v2/models/${spec.model}/infer`, body, concurrency, requests[concurrency]!, warmup);
          const b = await driveMeasured(pavedClient, dataPlane!.pid, `/v2/models/${spec.model}/infer`, binary.body, concurrency, requests[concurrency]!, warmup, binary.headers);
          const c = await driveMeasured(ceilingClient, ceiling.pid, "/v2/models/m/infer", body, concurrency, requests[concurrency]!, warmup);
          pavedClient.close();
          ceilingClient.close();
          rows.push([`ceiling node:http+ort (c=${concurrency})`, c.ms.p50, c.ms.p99, c.requestsPerSecond, cpuCell(c)]);
          rows.push([`paved data plane /v2 infer (c=${concurrency})`, p.ms.p50, p.ms.p99, p.requestsPerSecond, cpuCell(p)]);
          rows.push([`paved data plane, binary data (c=${concurrency})`, b.ms.p50, b.ms.p99, b.requestsPerSecond, cpuCell(b)]);
          perModel[`c${concurrency}`] = { paved: p, pavedBinary: b, ceiling: c };
          notes.push(
            `${spec.model}: binary tensor data vs JSON at c=${concurrency}: p50 ${b.ms.p50} vs ${p.ms.p50} ms, ${Math.round(b.requestsPerSecond)} vs ${Math.round(p.requestsPerSecond)} req/s, server main-thread CPU ${b.serverCpu?.mainUsPerRequest ?? "-"} vs ${p.serverCpu?.mainUsPerRequest ?? "-"} us/req`,
          );
          if (concurrency === 1) {
            const ratio = p.ms.p50 / c.ms.p50;
            perModel.p50RatioC1 = round(ratio);
            notes.push(`${spec.model}: p50 at c=1 ${p.ms.p50} ms vs ceiling ${c.ms.p50} ms = ${round(ratio)}x; target <= ${TARGET_P50_RATIO}x: ${ratio <= TARGET_P50_RATIO ? "met" : "NOT met"}`);
          } else {
            const share = p.requestsPerSecond / c.requestsPerSecond;
            perModel[`throughputShareC${concurrency}`] = round(share);
            notes.push(`${spec.model}: throughput at c=${concurrency} ${Math.round(p.requestsPerSecond)} req/s vs ceiling ${Math.round(c.requestsPerSecond)} req/s = ${Math.round(share * 100)}%; target >= ${TARGET_THROUGHPUT_SHARE * 100}%: ${share >= TARGET_THROUGHPUT_SHARE ? "met" : "NOT met"}`);
            if (p.serverCpu && c.serverCpu) {
              const cpuRatio = p.serverCpu.mainUsPerRequest / c.serverCpu.mainUsPerRequest;
              perModel[`cpuRatioC${concurrency}`] = round(cpuRatio);
              notes.push(
                `${spec.model}: server main-thread CPU at c=${concurrency} ${p.serverCpu.mainUsPerRequest} us/req vs ceiling ${c.serverCpu.mainUsPerRequest} us/req = ${round(cpuRatio)}x; target <= ${TARGET_CPU_RATIO}x: ${cpuRatio <= TARGET_CPU_RATIO ? "met" : "NOT met"}`,
              );
            } else {
              notes.push(`${spec.model}: server CPU per request not measured (it is read from /proc, Linux only); target <= ${TARGET_CPU_RATIO}x the ceiling's: unknown`);
            }
          }
        }
      } finally {
        await ceiling.stop();
      }
      printTable(`${spec.model} (batch-1 requests, ${REPLICAS} replica${REPLICAS === 1 ? "" : "s"})`, ["", "p50 ms", "p99 ms", "req/s", "server CPU us/req main/all"], rows);
      figures[spec.model] = perModel;
    }
    // The MLP with 64-row requests, one at a time: where the body's framing is a real share of the work.
    {
      const batch = Array.from({ length: 64 }, (_, r) => Array.from({ length: 30 }, (_, i) => round(Math.sin(r * 30 + i + 1), 4)));
      const body = JSON.stringify({ inputs: [{ name: "features", shape: [64, 30], datatype: "FP32", data: batch }] });
      const binary = tritonBinaryRequest("features", batch);
      const client = new HttpClient(dataPlane!.url, paved.token, 1);
      const n = Math.max(200, Math.round(2000 * options.scale));
      const warmup = Math.max(100, Math.round(500 * options.scale));
      const p = await driveMeasured(client, dataPlane!.pid, "/v2/models/mlp/infer", body, 1, n, warmup);
      const b = await driveMeasured(client, dataPlane!.pid, "/v2/models/mlp/infer", binary.body, 1, n, warmup, binary.headers);
      client.close();
      printTable("mlp, 64-row requests (c=1)", ["", "p50 ms", "p99 ms", "req/s", "server CPU us/req main/all", "request bytes"], [
        ["paved /v2 infer, JSON", p.ms.p50, p.ms.p99, p.requestsPerSecond, cpuCell(p), Buffer.byteLength(body)],
        ["paved /v2 infer, binary data", b.ms.p50, b.ms.p99, b.requestsPerSecond, cpuCell(b), binary.body.length],
      ]);
      figures.mlpRows64 = { paved: p, pavedBinary: b, jsonBytes: Buffer.byteLength(body), binaryBytes: binary.body.length };
      notes.push(`mlp, 64-row requests at c=1: binary tensor data vs JSON: p50 ${b.ms.p50} vs ${p.ms.p50} ms, server main-thread CPU ${b.serverCpu?.mainUsPerRequest ?? "-"} vs ${p.serverCpu?.mainUsPerRequest ?? "-"} us/req`);
    }
    // A slow model (tens of ms per call) beside the tiny one: it runs on its worker, so the tiny
    // model's requests (inline, on the HTTP thread) do not wait behind it.
    {
      const slowBody = JSON.stringify({ inputs: [{ name: "x", shape: [1, 1], datatype: "FP32", data: [[0.5]] }] });
      const tinyBody = JSON.stringify({ inputs: [{ name: "input", shape: [1, 4], datatype: "FP32", data: [[0.1, 0.2, 0.3, 0.4]] }] });
      const slowClient = new HttpClient(dataPlane!.url, paved.token, 2);
      const tinyClient = new HttpClient(dataPlane!.url, paved.token, 1);
      const n = Math.max(200, Math.round(2000 * options.scale));
      const slowAlone = await drive(slowClient, "/v2/models/slow/infer", slowBody, 1, 20, 3);
      const tinyAlone = await drive(tinyClient, "/v2/models/tiny/infer", tinyBody, 1, n, 200);
      let busy = true;
      let slowServed = 0;
      const background = (async () => {
        while (busy) {
          await drive(slowClient, "/v2/models/slow/infer", slowBody, 2, 2, 0);
          slowServed += 2;
        }
      })();
      const tinyBusy = await drive(tinyClient, "/v2/models/tiny/infer", tinyBody, 1, n, 0);
      busy = false;
      await background;
      slowClient.close();
      tinyClient.close();
      printTable("a slow model beside a tiny one (c=1; the slow one kept busy by 2 clients in the second row)", ["", "p50 ms", "p99 ms", "req/s"], [
        ["slow model alone", slowAlone.ms.p50, slowAlone.ms.p99, slowAlone.requestsPerSecond],
        ["tiny model alone", tinyAlone.ms.p50, tinyAlone.ms.p99, tinyAlone.requestsPerSecond],
        [`tiny model, slow one busy (${slowServed} slow answered meanwhile)`, tinyBusy.ms.p50, tinyBusy.ms.p99, tinyBusy.requestsPerSecond],
      ]);
      figures.slowBeside = { slowAlone, tinyAlone, tinyBusy, slowServed };
      notes.push(`a slow model (p50 ${slowAlone.ms.p50} ms per call) kept busy: the tiny model's p50 ${tinyBusy.ms.p50} ms against ${tinyAlone.ms.p50} ms alone (p99 ${tinyBusy.ms.p99} vs ${tinyAlone.ms.p99})`);
    }
    const route: Awaited<ReturnType<typeof routeCost>>[] = [];
    for (const rows of [1, 64]) route.push(await routeCost(rows, Math.max(200, Math.round(1000 * options.scale))));
    printTable(
      "the infer route alone, in process (inject, a runtime that answers at once; [rows, 30] FP32; CPU us per request, best of 9 rounds)",
      ["rows", "JSON us", "binary us"],
      route.map((r) => [r.rows, r.jsonUs, r.binaryUs]),
    );
    for (const r of route) notes.push(`the infer route alone, [${r.rows}, 30] FP32: JSON ${r.jsonUs} us, binary tensor data ${r.binaryUs} us of CPU per request`);
    figures.routeCost = route;
    const decoding = [1, 64].map((rows) => decodeCost(rows, Math.max(20, Math.round(200 * options.scale))));
    printTable(
      "decoding one request into input tensors, in process ([rows, 784] FP32; CPU us, best of 7 rounds)",
      ["rows", "JSON us", "binary us", "JSON bytes", "binary bytes"],
      decoding.map((d) => [d.rows, d.jsonUs, d.binaryUs, d.jsonBytes, d.binaryBytes]),
    );
    for (const d of decoding) notes.push(`decoding a [${d.rows}, 784] FP32 request: JSON ${d.jsonUs} us (${d.jsonBytes} bytes), binary tensor data ${d.binaryUs} us (${d.binaryBytes} bytes), ${round(d.jsonUs / d.binaryUs, 0)}x`);
    figures.decoding = decoding;
    const metrics = await new HttpClient(paved.url, paved.token, 1).raw("GET", "/metrics");
    // Series carry more labels than model and version (environment, …), in any order.
    const counter = (name: string) => metrics.text.match(new RegExp(`^${name}\\{(?=[^}]*model="mlp")(?=[^}]*version="1")[^}]*\\} (\\d+)`, "m"))?.[1];
    const batches = counter("paved_serving_batches_total");
    const served = counter("paved_serving_requests_total");
    notes.push(`mlp: ${served} requests ran in ${batches} model runs (micro-batching)`);
    figures.mlpBatches = { requests: Number(served), runs: Number(batches) };
  } finally {
    await paved.stop();
  }
  return { name: "serving", figures, notes };
}
