// Serving bench: latency and throughput of OIP v2 infer on a real `paved up` (over HTTP,
// keep-alive, concurrency 1 and 32), beside the ceiling (a bare node:http + onnxruntime-node
// server) and a bare session.run in this process, for the quickstart-like MLP (30 -> 16 -> 16 -> 1)
// and a tiny Linear(4 -> 2) + softmax.
import { join } from "node:path";
import * as ort from "onnxruntime-node";
import { buildTestModels, type TestModelName } from "../src/modules/serving/test-models.ts";
import { HttpClient, drive, nowMs, printTable, processCpuMs, round, startHelperServer, startPaved, summarize, type BenchOptions, type BenchResult } from "./support.ts";

const TARGET_P50_RATIO = 1.5;
const TARGET_THROUGHPUT_SHARE = 0.8;
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
async function driveMeasured(client: HttpClient, pid: number, path: string, body: string, concurrency: number, requests: number, warmup: number): Promise<Drive> {
  await drive(client, path, body, 1, warmup, 0);
  const before = processCpuMs(pid);
  const result = await drive(client, path, body, concurrency, requests, 0);
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
    admin.close();
    for (const spec of specs) {
      const row = Array.from({ length: spec.features }, (_, i) => round(Math.sin(i + 1), 4));
      const body = JSON.stringify({ inputs: [{ name: spec.input, shape: [1, spec.features], datatype: "FP32", data: row }] });
      const ceiling = await startHelperServer("onnx-http-server.ts", [join(models.dir, `${spec.model}.onnx`)]);
      const rows: (string | number)[][] = [];
      const perModel: Record<string, unknown> = {};
      try {
        const bare = await bareRun(join(models.dir, `${spec.model}.onnx`), spec.features, requests[1]! * 5);
        rows.push(["bare session.run (c=1)", bare.ms.p50, bare.ms.p99, bare.requestsPerSecond, "-"]);
        perModel.bareSessionRun = bare;
        for (const concurrency of CONCURRENCIES) {
          const pavedClient = new HttpClient(paved.url, paved.token, concurrency);
          const ceilingClient = new HttpClient(ceiling.url, undefined, concurrency);
          const warmup = Math.max(200, Math.round(WARMUP * options.scale));
          const p = await driveMeasured(pavedClient, paved.child.pid!, `/v2/models/${spec.model}/infer`, body, concurrency, requests[concurrency]!, warmup);
          const c = await driveMeasured(ceilingClient, ceiling.pid, "/v2/models/m/infer", body, concurrency, requests[concurrency]!, warmup);
          pavedClient.close();
          ceilingClient.close();
          rows.push([`ceiling node:http+ort (c=${concurrency})`, c.ms.p50, c.ms.p99, c.requestsPerSecond, cpuCell(c)]);
          rows.push([`paved /v2 infer (c=${concurrency})`, p.ms.p50, p.ms.p99, p.requestsPerSecond, cpuCell(p)]);
          perModel[`c${concurrency}`] = { paved: p, ceiling: c };
          if (concurrency === 1) {
            const ratio = p.ms.p50 / c.ms.p50;
            perModel.p50RatioC1 = round(ratio);
            notes.push(`${spec.model}: p50 at c=1 ${p.ms.p50} ms vs ceiling ${c.ms.p50} ms = ${round(ratio)}x; target <= ${TARGET_P50_RATIO}x: ${ratio <= TARGET_P50_RATIO ? "met" : "NOT met"}`);
          } else {
            const share = p.requestsPerSecond / c.requestsPerSecond;
            perModel[`throughputShareC${concurrency}`] = round(share);
            notes.push(`${spec.model}: throughput at c=${concurrency} ${Math.round(p.requestsPerSecond)} req/s vs ceiling ${Math.round(c.requestsPerSecond)} req/s = ${Math.round(share * 100)}%; target >= ${TARGET_THROUGHPUT_SHARE * 100}%: ${share >= TARGET_THROUGHPUT_SHARE ? "met" : "NOT met"}`);
          }
        }
      } finally {
        await ceiling.stop();
      }
      printTable(`${spec.model} (batch-1 requests, ${REPLICAS} replica${REPLICAS === 1 ? "" : "s"})`, ["", "p50 ms", "p99 ms", "req/s", "server CPU us/req main/all"], rows);
      figures[spec.model] = perModel;
    }
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
