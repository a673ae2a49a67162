// The UI bench's chart figure (issue 11: "a chart of 1,000,000 points drawn ≤ 500 ms"): one metric
// of 1,000,000 points logged into a run through the MLflow API (log-batch, 1,000 points a call, its
// maximum), then the run's metrics tab opened in Chromium five times, each timed from navigation to
// the chart's first draw (the performance mark "paved-chart-drawn" that web/src/components/chart.tsx
// sets in uPlot's draw hook; its startTime is milliseconds since the navigation began). The page
// draws the server's downsampled history (1,000 buckets with min/max/last), never the raw points.
// Called by bench/ui.ts; standalone: `node --import tsx bench/ui-chart.ts` (starts its own Paved).
import type { Browser } from "playwright-core";

export const CHART_POINTS = 1_000_000;
const BATCH = 1000;
const CONCURRENCY = 8;
const REPEATS = 5;
const KEY = "train/loss";

export interface ChartBenchOptions {
  url: string;
  token: string;
  api: (method: string, path: string, body?: unknown) => Promise<any>;
  browser: Browser;
  /** Points to log (default 1,000,000). */
  points?: number;
}

/** Logs the series, then times navigation → chart drawn five times; `points` is what the run holds. */
export async function measureChart(opts: ChartBenchOptions): Promise<{ points: number; drawMs: number[] }> {
  const points = opts.points ?? CHART_POINTS;
  const experiment = (await opts.api("POST", "/api/2.0/mlflow/experiments/create", { name: `ui-chart-bench-${Date.now()}` })).experiment_id as string;
  const runId = (await opts.api("POST", "/api/2.0/mlflow/runs/create", { experiment_id: experiment, run_name: "chart-1m", start_time: Date.now() })).run.info.run_id as string;

  // A random walk, 10 ms apart; batches in flight CONCURRENCY at a time (each batch its own steps).
  const t0 = Date.now() - points * 10;
  let value = 1;
  const values = new Float64Array(points);
  for (let i = 0; i < points; i++) values[i] = value = Math.max(0, value + (Math.random() - 0.505) * 0.01);
  let next = 0;
  const worker = async () => {
    for (;;) {
      const from = next;
      next += BATCH;
      if (from >= points) return;
      const metrics = [];
      for (let step = from; step < Math.min(points, from + BATCH); step++) metrics.push({ key: KEY, value: values[step], step, timestamp: t0 + step * 10 });
      await opts.api("POST", "/api/2.0/mlflow/runs/log-batch", { run_id: runId, metrics });
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  await opts.api("POST", "/api/2.0/mlflow/runs/update", { run_id: runId, status: "FINISHED", end_time: Date.now() });
  const logged = (await opts.api("GET", `/api/v1/runs/${runId}/metrics/${encodeURIComponent(KEY)}/history?points=1`)).buckets.reduce((n: number, b: { count: number }) => n + b.count, 0) as number;

  const context = await opts.browser.newContext({ viewport: { width: 1400, height: 900 } });
  try {
    // A session cookie, as the sign-in page would get it.
    const session = await context.request.post(`${opts.url}/auth/session`, { data: { token: opts.token } });
    if (!session.ok()) throw new Error(`sign-in for the chart bench failed: HTTP ${session.status()} ${await session.text()}`);
    const page = await context.newPage();
    const drawMs: number[] = [];
    for (let i = 0; i < REPEATS; i++) {
      await page.goto(`${opts.url}/runs/${encodeURIComponent(runId)}?tab=metrics`);
      await page.waitForSelector(".chart-canvas[data-drawn]", { timeout: 60_000 });
      const ms = (await page.evaluate(`performance.getEntriesByName("paved-chart-drawn")[0]?.startTime ?? null`)) as number | null;
      if (ms === null) throw new Error("the chart drew without its performance mark");
      drawMs.push(Math.round(ms));
      if (process.env.BENCH_CHART_TRACE) console.log(await page.evaluate(`JSON.stringify(performance.getEntriesByType("resource").map((e) => [e.name.replace(location.origin, "").slice(30, 160), Math.round(e.startTime), Math.round(e.responseEnd)]))`));
    }
    return { points: logged, drawMs };
  } finally {
    await context.close();
  }
}

// Standalone: a Paved of its own (the test helper's), Debian's Chromium, then the figures.
if (import.meta.url === `file://${process.argv[1]}`) {
  const { startUiServer, launchBrowser } = await import("../test/support/ui.ts");
  const server = await startUiServer();
  const browser = await launchBrowser();
  try {
    const started = Date.now();
    const points = Number(process.env.BENCH_POINTS ?? CHART_POINTS);
    const result = await measureChart({ url: server.url, token: server.token, api: (m, p, b) => server.api(m, p, b), browser, points });
    console.log(JSON.stringify({ ...result, target: "≤ 500 ms", totalSeconds: Math.round((Date.now() - started) / 1000) }));
  } finally {
    await browser.close();
    await server.close();
  }
}
