// Audit bench: what recording run-tracking writes one by one costs on the hot path. MLflow's
// runs/log-batch on a real `paved up` as shipped (audit.dataEvents: false, so log-batch is
// summarised in memory and written once a minute) beside a `paved up` with audit.dataEvents: true
// (each log-batch's record is committed, fsynced, before the answer; answers that finish together
// share a commit). One client, and four in parallel, in interleaved rounds.
import { HttpClient, nowMs, printTable, round, startPaved, summarize, type BenchOptions, type BenchResult } from "./support.ts";

const ROUNDS = 5;
const POINTS = 100;

export async function run(options: BenchOptions): Promise<BenchResult> {
  const figures: Record<string, unknown> = {};
  const notes: string[] = [];
  const servers = {
    summarised: await startPaved({ name: "audit-summarised" }),
    each: await startPaved({ name: "audit-each", config: { audit: { dataEvents: true } } }),
  };
  try {
    const requests = Math.max(300, Math.round(2000 * options.scale));
    const rows: (string | number)[][] = [];
    for (const parallel of [1, 4]) {
      const clients = {
        summarised: new HttpClient(servers.summarised.url, servers.summarised.token, parallel),
        each: new HttpClient(servers.each.url, servers.each.token, parallel),
      };
      const runs: Record<"summarised" | "each", string[]> = { summarised: [], each: [] };
      for (const side of ["summarised", "each"] as const) {
        for (let c = 0; c < parallel; c++) {
          runs[side].push((await clients[side].request<{ run: { info: { run_id: string } } }>("POST", "/api/2.0/mlflow/runs/create", { experiment_id: "0" })).run.info.run_id);
        }
      }
      const p50s = { summarised: [] as number[], each: [] as number[] };
      const rates = { summarised: [] as number[], each: [] as number[] };
      let step = 0;
      for (let r = 0; r < ROUNDS; r++) {
        for (const side of r % 2 ? (["each", "summarised"] as const) : (["summarised", "each"] as const)) {
          const latencies: number[] = [];
          const start = nowMs();
          await Promise.all(
            runs[side].map(async (runId) => {
              for (let i = 0; i < requests / parallel; i++) {
                const payload = JSON.stringify({ run_id: runId, metrics: Array.from({ length: POINTS }, (_, k) => ({ key: `m${k % 10}`, value: Math.random(), timestamp: 1, step: step++ })) });
                const t = nowMs();
                const { status, text } = await clients[side].raw("POST", "/api/2.0/mlflow/runs/log-batch", payload);
                if (status !== 200) throw new Error(`log-batch answered ${status}: ${text.slice(0, 200)}`);
                if (i >= requests / parallel / 10) latencies.push(nowMs() - t);
              }
            }),
          );
          rates[side].push((requests / (nowMs() - start)) * 1000);
          p50s[side].push(summarize(latencies).p50);
        }
      }
      const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
      const base = median(p50s.summarised);
      const each = median(p50s.each);
      const added = each - base;
      rows.push([`c=${parallel}`, round(base, 3), round(each, 3), `${round(added, 3)} ms (${round((added / base) * 100, 1)}%)`, round(median(rates.summarised), 0), round(median(rates.each), 0)]);
      notes.push(`log-batch (${POINTS} points), ${parallel} client(s): dataEvents: true adds ${round(added, 3)} ms at p50 (${round((added / base) * 100, 1)}% of ${round(base, 3)} ms); requests/s ${round(median(rates.summarised), 0)} -> ${round(median(rates.each), 0)}`);
      figures[`c${parallel}`] = { summarisedP50Ms: base, eachP50Ms: each, summarisedRps: median(rates.summarised), eachRps: median(rates.each), rounds: { p50s, rates } };
      clients.summarised.close();
      clients.each.close();
    }
    printTable(`runs/log-batch (${POINTS} points) p50 (ms) and requests/s, median of ${ROUNDS} interleaved rounds`, ["", "summarised", "each recorded", "added", "req/s summarised", "req/s each"], rows);
  } finally {
    await servers.summarised.stop();
    await servers.each.stop();
  }
  return { name: "audit", figures, notes };
}
