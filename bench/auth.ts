// Auth bench: what authentication and authorization add per request. In process: a cached token
// lookup, the policy decision and a run's resource loader (the database read that tells whose run
// it is), each timed alone. Over HTTP: MLflow's runs/log-batch on a real `paved up` with a
// developer's token, beside the same calls on a `paved up` with authentication off (loopback),
// in interleaved rounds.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createApp } from "../src/app.ts";
import { loadConfig } from "../src/config/index.ts";
import type { RouteContext } from "../src/core/index.ts";
import { authorize, mayAttempt } from "../src/modules/identity/index.ts";
import { HttpClient, nowMs, printTable, round, startPaved, summarize, type BenchOptions, type BenchResult } from "./support.ts";

const TARGET_IN_PROCESS_US = 10;
const TARGET_SHARE_OF_LOG_BATCH = 0.05;
const ROUNDS = 7;

/** Runs `op` in batches and returns the p50 of the per-call time of each batch, in µs. */
async function perCallMicros(op: () => unknown | Promise<unknown>, calls: number, batch = 1000): Promise<{ p50: number; p90: number }> {
  for (let i = 0; i < Math.min(calls, 5000); i++) await op();
  const samples: number[] = [];
  for (let done = 0; done < calls; done += batch) {
    const start = nowMs();
    for (let i = 0; i < batch; i++) await op();
    samples.push(((nowMs() - start) * 1000) / batch);
  }
  const s = summarize(samples);
  return { p50: s.p50, p90: s.p90 };
}

export async function run(options: BenchOptions): Promise<BenchResult> {
  const scale = options.scale;
  const figures: Record<string, unknown> = {};
  const notes: string[] = [];

  // ---- in process ----
  const dataDir = mkdtempSync(join(tmpdir(), "paved-bench-auth-"));
  const app = await createApp(loadConfig({ env: {}, overrides: { dataDir, logLevel: "silent", compute: { gpus: [], cpus: 1, memoryMiB: 512 } } }));
  const admin = { authorization: `Bearer ${app.generatedAdminToken}` };
  await app.server.inject({ method: "POST", url: "/api/v1/users", headers: admin, payload: { name: "ada", teams: [{ team: "default", role: "developer" }] } });
  const token = (await app.server.inject({ method: "POST", url: "/api/v1/users/ada/tokens", headers: admin, payload: { name: "bench" } })).json().token as string;
  const header = `Bearer ${token}`;
  const runId = (await app.server.inject({ method: "POST", url: "/api/2.0/mlflow/runs/create", headers: { authorization: header }, payload: { experiment_id: "0" } })).json().run.info.run_id as string;
  const logBatch = app.routes.find((r) => r.method === "POST" && r.url === "/api/2.0/mlflow/runs/log-batch")!;
  const principal = await app.tokens.authenticate(header);
  const ctx = { params: {}, query: {}, body: { run_id: runId }, principal, headers: {}, signal: new AbortController().signal } as RouteContext<unknown, unknown, { run_id: string }>;
  const resource = await logBatch.resource!(ctx);
  const calls = Math.max(20_000, Math.round(200_000 * scale));
  const authenticate = await perCallMicros(() => app.tokens.authenticate(header), calls);
  const decide = await perCallMicros(() => {
    mayAttempt(principal, "runs:write");
    authorize(principal, "runs:write", resource);
  }, calls);
  const load = await perCallMicros(() => logBatch.resource!(ctx), Math.max(5_000, Math.round(50_000 * scale)), 500);
  await app.close();
  const total = authenticate.p50 + decide.p50 + load.p50;
  printTable(
    "in process, per request (µs, p50 of 1,000-call batches)",
    ["", "p50 µs", "p90 µs"],
    [
      ["authenticate (cached token)", round(authenticate.p50, 3), round(authenticate.p90, 3)],
      ["mayAttempt + authorize", round(decide.p50, 3), round(decide.p90, 3)],
      ["run resource loader (kept after the first read)", round(load.p50, 3), round(load.p90, 3)],
      ["all three", round(total, 3), "-"],
    ],
  );
  notes.push(`in process: ${round(total, 2)} µs per request (authentication ${round(authenticate.p50, 2)}, policy ${round(decide.p50, 3)}, run loader ${round(load.p50, 2)}); target <= ${TARGET_IN_PROCESS_US} µs: ${total <= TARGET_IN_PROCESS_US ? "met" : "NOT met"}`);
  figures.inProcess = { authenticateUs: authenticate, decideUs: decide, loaderUs: load, totalUs: total };

  // ---- over HTTP: log-batch with a token vs authentication off, and an A/A control ----
  // Two servers with authentication off measure what two processes differ by with nothing else
  // different (placement, caches): an "added" figure inside that spread is noise.
  const on = await startPaved({ name: "paved-bench-auth-on" });
  const off = await startPaved({ name: "paved-bench-auth-off", config: { auth: { disabled: true } } });
  const control = await startPaved({ name: "paved-bench-auth-off2", config: { auth: { disabled: true } } });
  try {
    const onAdmin = new HttpClient(on.url, on.token, 1);
    await onAdmin.request("POST", "/api/v1/users", { name: "ada", teams: [{ team: "default", role: "developer" }] });
    const ada = (await onAdmin.request<{ token: string }>("POST", "/api/v1/users/ada/tokens", { name: "bench" })).token;
    const sides = ["on", "off", "control"] as const;
    type Side = (typeof sides)[number];
    const clients: Record<Side, HttpClient> = { on: new HttpClient(on.url, ada, 1), off: new HttpClient(off.url, undefined, 1), control: new HttpClient(control.url, undefined, 1) };
    const runs = {} as Record<Side, string>;
    for (const side of sides) runs[side] = (await clients[side].request<{ run: { info: { run_id: string } } }>("POST", "/api/2.0/mlflow/runs/create", { experiment_id: "0" })).run.info.run_id;
    const requests = Math.max(500, Math.round(3000 * scale));
    const rows: (string | number)[][] = [];
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    const micros = (ms: number) => round(ms * 1000, 0);
    for (const points of [1, 100]) {
      const p50s: Record<Side, number[]> = { on: [], off: [], control: [] };
      let step = 0;
      const body = (side: Side) =>
        JSON.stringify({ run_id: runs[side], metrics: Array.from({ length: points }, (_, i) => ({ key: `m${i % 10}`, value: Math.random(), timestamp: 1, step: step++ })) });
      for (let r = 0; r < ROUNDS; r++) {
        // Each round starts with another server, so none is always first or last.
        for (const side of [...sides.slice(r % 3), ...sides.slice(0, r % 3)]) {
          const latencies: number[] = [];
          for (let i = 0; i < requests; i++) {
            const payload = body(side);
            const t = nowMs();
            const { status, text } = await clients[side].raw("POST", "/api/2.0/mlflow/runs/log-batch", payload);
            if (status !== 200) throw new Error(`log-batch answered ${status}: ${text.slice(0, 200)}`);
            if (i >= requests / 10) latencies.push(nowMs() - t);
          }
          p50s[side].push(summarize(latencies).p50);
        }
      }
      // Paired by round (the servers ran back to back), so drift of the machine cancels out.
      const diffs = (side: Side) => p50s[side].map((v, i) => v - p50s.off[i]!);
      const added = median(diffs("on"));
      const aa = diffs("control");
      const without = median(p50s.off);
      const share = added / without;
      const range = (xs: number[]) => `${micros(Math.min(...xs))} to ${micros(Math.max(...xs))} µs`;
      rows.push([`log-batch, ${points} point${points === 1 ? "" : "s"}`, round(without, 3), round(median(p50s.on), 3), `${micros(added)} µs (${round(share * 100, 1)}%)`, range(diffs("on")), range(aa)]);
      notes.push(
        `log-batch with ${points} point(s): ${micros(added)} µs added at p50 (${round(share * 100, 1)}% of ${round(without, 3)} ms; rounds ${range(diffs("on"))}; A/A control ${range(aa)}); target <= ${TARGET_SHARE_OF_LOG_BATCH * 100}%: ${share <= TARGET_SHARE_OF_LOG_BATCH ? "met" : "NOT met"}`,
      );
      figures[`logBatch${points}`] = { withoutAuthMs: without, withAuthMs: median(p50s.on), addedMs: added, rounds: p50s };
    }
    printTable(`over HTTP: runs/log-batch p50 (ms), ${ROUNDS} interleaved rounds`, ["", "auth off", "developer token", "added (median of rounds)", "per round", "A/A control"], rows);
    for (const client of Object.values(clients)) client.close();
    onAdmin.close();
  } finally {
    await on.stop();
    await off.stop();
    await control.stop();
  }
  return { name: "auth", figures, notes };
}
