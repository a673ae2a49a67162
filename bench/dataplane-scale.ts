// Data-plane scale-out bench: does throughput grow with the number of data-plane processes? A real
// `paved up` with N processes (BENCH_PROCESSES, default: half the cores, 2 to 8) serves the
// quickstart-like MLP; load comes from separate client processes (bench/load-client.ts, 2 per
// data-plane process, c=16 each) so the client is not the limit. First process 0 alone, then all N
// at once; the figure is N processes' throughput against N times one's (target >= 80%). On a
// machine with fewer free cores than processes plus clients, the figure says so rather than scale.
import { spawn } from "node:child_process";
import { join } from "node:path";
import { cpus } from "node:os";
import { buildTestModels } from "../src/modules/serving/test-models.ts";
import { BUNDLED, HttpClient, ROOT, printTable, round, startPaved, type BenchOptions, type BenchResult } from "./support.ts";

const TARGET_SHARE = 0.8;
const CLIENTS_PER_PROCESS = 2;
const CONCURRENCY = 16;

/** Runs CLIENTS_PER_PROCESS load-client processes per data-plane URL, started together once all are warm; answers the total requests per second. */
async function load(urls: string[], token: string, body: string, seconds: number): Promise<{ requestsPerSecond: number; failed: number }> {
  const entry = BUNDLED ? [new URL("./load-client.mjs", import.meta.url).pathname] : ["--import", "tsx", join(ROOT, "bench", "load-client.ts")];
  const clients = urls.flatMap((url) =>
    Array.from({ length: CLIENTS_PER_PROCESS }, () => {
      const child = spawn(process.execPath, [...entry, url, token, "/v2/models/mlp/infer", body, String(CONCURRENCY), String(seconds)], { stdio: ["pipe", "pipe", "inherit"] });
      let out = "";
      const ready = new Promise<void>((resolve, reject) => {
        child.stdout.on("data", (d) => {
          out += d;
          if (out.includes("ready")) resolve();
        });
        child.once("exit", (code) => reject(new Error(`load client exited with ${code} before it was ready: ${out}`)));
      });
      const result = new Promise<{ requests: number; seconds: number; failed: number }>((resolve, reject) => {
        child.once("exit", (code) => {
          const m = /result=(\{.*\})/.exec(out);
          if (m) resolve(JSON.parse(m[1]!));
          else reject(new Error(`load client exited with ${code}: ${out}`));
        });
      });
      return { child, ready, result };
    }),
  );
  await Promise.all(clients.map((c) => c.ready));
  const startAt = Date.now() + 300;
  for (const c of clients) c.child.stdin.end(`go ${startAt}\n`);
  const results = await Promise.all(clients.map((c) => c.result));
  const elapsed = Math.max(...results.map((r) => r.seconds));
  return { requestsPerSecond: results.reduce((n, r) => n + r.requests, 0) / elapsed, failed: results.reduce((n, r) => n + r.failed, 0) };
}

export async function run(options: BenchOptions): Promise<BenchResult> {
  const cores = cpus().length;
  const processes = Number(process.env.BENCH_PROCESSES ?? Math.min(8, Math.max(2, Math.floor(cores / 2))));
  const seconds = Math.max(3, Math.round(10 * options.scale));
  const models = buildTestModels();
  const paved = await startPaved({ name: "dataplane-scale", config: { serving: { dataPlane: { processes } } } });
  const notes: string[] = [];
  try {
    const admin = new HttpClient(paved.url, paved.token, 1);
    await admin.request("PUT", "/api/v1/serving/models/mlp/versions/1", Buffer.from(models.bytes("mlp")));
    admin.close();
    const planes = await paved.dataPlanes();
    const row = Array.from({ length: 30 }, (_, i) => round(Math.sin(i + 1), 4));
    const body = JSON.stringify({ inputs: [{ name: "features", shape: [1, 30], datatype: "FP32", data: [row] }] });
    const one = await load([planes[0]!.url], paved.token, body, seconds);
    const all = await load(planes.map((p) => p.url), paved.token, body, seconds);
    const share = all.requestsPerSecond / (processes * one.requestsPerSecond);
    const busy = processes * (1 + CLIENTS_PER_PROCESS);
    printTable(`mlp, batch-1 requests, ${CLIENTS_PER_PROCESS} client processes x c=${CONCURRENCY} per data-plane process, ${seconds} s`, ["", "req/s", "failed"], [
      ["1 data-plane process", one.requestsPerSecond, one.failed],
      [`${processes} data-plane processes`, all.requestsPerSecond, all.failed],
      [`${processes} x one process`, processes * one.requestsPerSecond, "-"],
    ]);
    notes.push(`${processes} data-plane processes: ${Math.round(all.requestsPerSecond)} req/s against ${processes} x ${Math.round(one.requestsPerSecond)} = ${Math.round(share * 100)}% of linear; target >= ${TARGET_SHARE * 100}%: ${share >= TARGET_SHARE ? "met" : "NOT met"}`);
    if (busy > cores) notes.push(`this machine has ${cores} cores for ${processes} servers and ${processes * CLIENTS_PER_PROCESS} client processes: the figure measures sharing cores, not scale-out (run it where cores >= ${busy})`);
    return { name: "dataplane-scale", figures: { processes, cores, seconds, one, all, share: round(share) }, notes };
  } finally {
    await paved.stop();
  }
}
