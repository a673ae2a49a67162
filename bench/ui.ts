// The web UI bench (issue 11): `npm run bench -- ui`.
// 1. The runs table: 30,000 runs (5 metrics, 4 params, a tag each) written into one experiment of
//    a real Paved (see seedRuns), then /experiments/<id> opened in Debian's Chromium five times, each
//    timed from navigation until the table is interactive: its first rows rendered, a scroll of
//    the table rendering rows further down, and the filter box taking typed text. Target ≤ 1.5 s.
// 2. The chart: bench/ui-chart.ts's figure (1,000,000 points drawn), target ≤ 500 ms.
// 3. The bundle: gzip sizes of the built UI's JS and CSS, all of it and the entry chunk alone.
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import type { Insertable } from "kysely";
import type { Browser } from "playwright-core";
import { LocalArtifactStore } from "../src/artifacts/index.ts";
import { createLogger, randomIds, systemClock } from "../src/core/index.ts";
import { createTrackingModule } from "../src/modules/tracking/index.ts";
import type { Tables } from "../src/storage/index.ts";
import { launchBrowser, startUiServer, type UiServer } from "../test/support/ui.ts";
import { ROOT, nowMs, printTable, round, summarize, type BenchOptions, type BenchResult } from "./support.ts";

const RUNS = 30_000;
const REPEATS = 5;
const TABLE_TARGET_MS = 1500;
const CHART_TARGET_MS = 500;

const METRICS = ["loss", "val_loss", "accuracy", "f1", "auc"];
const VIA_SERVICE = 100;

/** Run i's params, tags and latest metrics (the same for both ways of writing it). */
function runData(i: number, t0: number) {
  return {
    metrics: METRICS.map((key, k) => ({ key, value: Math.abs(Math.sin(i * (k + 1))), step: 100, timestamp: t0 + i * 1000 + 500 })),
    params: [
      { key: "lr", value: String([0.1, 0.03, 0.01, 0.003, 0.001][i % 5]) },
      { key: "batch_size", value: String(32 << i % 4) },
      { key: "optimizer", value: i % 2 ? "adam" : "sgd" },
      { key: "layers", value: String(2 + (i % 6)) },
    ],
    tags: [{ key: "sweep", value: `sweep-${Math.floor(i / 1000)}` }],
  };
}

/**
 * Writes `count` runs into a new experiment: the first VIA_SERVICE through the tracking service
 * (createRun, logBatch, finishRun: what the MLflow routes call), the rest as the same rows (runs,
 * tags, params, latest metrics; no metric history, which the table never reads) inserted in
 * batches, so that setting up 30,000 runs takes seconds rather than the minutes 90,000 calls would.
 */
async function seedRuns(server: UiServer, count: number): Promise<{ experimentId: string; seconds: number }> {
  const started = nowMs();
  const tracking = createTrackingModule({
    database: server.app.database,
    artifacts: new LocalArtifactStore(join(server.app.config.dataDir, "artifacts")),
    clock: systemClock,
    ids: randomIds,
    config: server.app.config,
    logger: createLogger("silent"),
  }).service;
  const experimentId = await tracking.createExperiment({ name: `ui-bench-${Date.now()}`, team: "default" });
  const t0 = Date.now() - count * 1000;
  const status = (i: number) => (i % 23 === 0 ? "FAILED" : "FINISHED");
  for (let i = 0; i < Math.min(VIA_SERVICE, count); i++) {
    const { runId } = await tracking.createRun({ experimentId, runName: `trial-${i}`, userId: "admin", startTime: t0 + i * 1000 });
    await tracking.logBatch(runId, runData(i, t0));
    await tracking.finishRun(runId, status(i), t0 + i * 1000 + 900);
  }
  const db = server.app.database.db;
  const BATCH = 100;
  for (let from = VIA_SERVICE; from < count; from += BATCH) {
    const runs: Insertable<Tables["runs"]>[] = [];
    const params: Insertable<Tables["params"]>[] = [];
    const tags: Insertable<Tables["tags"]>[] = [];
    const metrics: Insertable<Tables["latest_metrics"]>[] = [];
    for (let i = from; i < Math.min(count, from + BATCH); i++) {
      const runId = randomIds.hex32();
      const data = runData(i, t0);
      runs.push({
        run_id: runId,
        experiment_id: experimentId,
        run_name: `trial-${i}`,
        user_id: "admin",
        status: status(i),
        start_time: t0 + i * 1000,
        end_time: t0 + i * 1000 + 900,
        lifecycle_stage: "active",
        artifact_uri: `mlflow-artifacts:/${experimentId}/${runId}/artifacts`,
        source_commit: null,
        source_dirty: null,
        source_entrypoint: null,
        job_id: null,
        deleted_time: null,
      });
      params.push(...data.params.map((p) => ({ run_id: runId, ...p })));
      tags.push(...[...data.tags, { key: "mlflow.runName", value: `trial-${i}` }].map((t) => ({ run_id: runId, ...t })));
      metrics.push(...data.metrics.map((m) => ({ run_id: runId, experiment_id: experimentId, ...m, is_nan: 0 })));
    }
    await db.transaction().execute(async (trx) => {
      await trx.insertInto("runs").values(runs).execute();
      await trx.insertInto("params").values(params).execute();
      await trx.insertInto("tags").values(tags).execute();
      await trx.insertInto("latest_metrics").values(metrics).execute();
    });
  }
  return { experimentId, seconds: round((nowMs() - started) / 1000, 1) };
}

/** Navigation → table interactive, in ms since the navigation began (the page's own clock). */
async function timeTable(browser: Browser, server: UiServer, experimentId: string): Promise<{ samples: number[]; apiDone: number[] }> {
  const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
  try {
    const session = await context.request.post(`${server.url}/auth/session`, { data: { token: server.token } });
    if (!session.ok()) throw new Error(`sign-in for the UI bench failed: HTTP ${session.status()} ${await session.text()}`);
    const page = await context.newPage();
    const samples: number[] = [];
    const apiDone: number[] = [];
    for (let i = 0; i < REPEATS; i++) {
      await page.goto(`${server.url}/experiments/${encodeURIComponent(experimentId)}`, { waitUntil: "commit" });
      await page.waitForSelector("table.vt tr.vt-row:not(.vt-placeholder)", { timeout: 60_000 });
      // A scroll renders rows that were not in the document: the first page's row 150 (of 200).
      await page.locator(".vt-scroll").evaluate((el) => el.scrollBy(0, 150 * 34));
      await page.waitForSelector('table.vt tr.vt-row[aria-rowindex="152"]:not(.vt-placeholder)', { timeout: 60_000 });
      const box = page.getByLabel("Filter", { exact: true });
      await box.pressSequentially("m");
      if ((await box.inputValue()) !== "m") throw new Error("the filter box did not take typed text");
      samples.push(Math.round((await page.evaluate("performance.now()")) as number));
      // Where the time went: when the first page of runs had arrived (ms since navigation).
      const runsAt = (await page.evaluate(`performance.getEntriesByType("resource").find((e) => e.name.includes("/api/v1/runs?"))?.responseEnd ?? null`)) as number | null;
      if (runsAt !== null) apiDone.push(Math.round(runsAt));
    }
    return { samples, apiDone };
  } finally {
    await context.close();
  }
}

/** gzip sizes of the built UI (PAVED_UI_DIR or web/dist): all JS and CSS, and the entry chunk that index.html loads. */
function bundleSizes(): { dir: string; jsCssGzipBytes: number; jsCssBytes: number; entryGzipBytes: number; entryBytes: number; files: number } {
  const dir = process.env.PAVED_UI_DIR ?? join(ROOT, "web/dist");
  const html = readFileSync(join(dir, "index.html"), "utf8");
  const entry = html.match(/src="\/(assets\/[^"]+\.js)"/)?.[1];
  if (!entry) throw new Error(`${dir}/index.html names no entry script`);
  let jsCssGzipBytes = 0;
  let jsCssBytes = 0;
  let files = 0;
  for (const name of readdirSync(join(dir, "assets"))) {
    if (!/\.(js|css)$/.test(name)) continue;
    const bytes = readFileSync(join(dir, "assets", name));
    jsCssBytes += bytes.length;
    jsCssGzipBytes += gzipSync(bytes).length;
    files++;
  }
  const entryBytes = readFileSync(join(dir, entry));
  return { dir, jsCssGzipBytes, jsCssBytes, entryGzipBytes: gzipSync(entryBytes).length, entryBytes: entryBytes.length, files };
}

export async function run(options: BenchOptions): Promise<BenchResult> {
  const runs = Math.max(300, Math.round(RUNS * options.scale));
  const bundle = bundleSizes();
  const server = await startUiServer();
  const browser = await launchBrowser();
  try {
    process.stdout.write(`seeding ${runs.toLocaleString("en-US")} runs…\n`);
    const { experimentId, seconds } = await seedRuns(server, runs);
    const firstPage = [];
    for (let i = 0; i < REPEATS; i++) {
      const start = nowMs();
      await server.api("GET", `/api/v1/runs?experiment=${experimentId}&limit=200&total=true`);
      firstPage.push(nowMs() - start);
    }
    const { samples: table, apiDone } = await timeTable(browser, server, experimentId);
    const tableStats = summarize(table);
    const apiStats = summarize(firstPage);

    let chart: { points: number; drawMs: number[] } | undefined;
    let chartNote: string;
    try {
      const { measureChart } = (await import("./ui-chart.ts")) as typeof import("./ui-chart.ts");
      chart = await measureChart({ url: server.url, token: server.token, api: (m, p, b) => server.api(m, p, b), browser, points: Math.round(1_000_000 * Math.min(1, options.scale)) });
      chartNote = `chart of ${chart.points.toLocaleString("en-US")} points drawn: median ${summarize(chart.drawMs).p50} ms (${chart.drawMs.join(", ")}) vs target ≤ ${CHART_TARGET_MS} ms: ${summarize(chart.drawMs).p50 <= CHART_TARGET_MS ? "met" : "NOT met"}`;
    } catch (error) {
      chartNote = `chart figure not measured: ${(error as Error).message}`;
    }

    printTable(
      `runs page with ${runs.toLocaleString("en-US")} runs, navigation → interactive (rows, a scroll's new rows, the filter box typed into), ms`,
      ["what", "median", "samples", "target"],
      [
        ["runs page interactive", tableStats.p50, table.join(", "), `≤ ${TABLE_TARGET_MS}`],
        ["  of which: first page of runs arrived in the page", summarize(apiDone).p50, apiDone.join(", "), "—"],
        ["GET /api/v1/runs first page (200, with total) from node", round(apiStats.p50, 1), firstPage.map((x) => round(x, 1)).join(", "), "—"],
        ...(chart ? [["1,000,000-point chart drawn", summarize(chart.drawMs).p50, chart.drawMs.join(", "), `≤ ${CHART_TARGET_MS}`] as (string | number)[]] : []),
      ],
    );
    printTable("bundle (gzip, node's default level)", ["what", "gzip KiB", "raw KiB"], [
      [`all JS + CSS (${bundle.files} files)`, round(bundle.jsCssGzipBytes / 1024, 1), round(bundle.jsCssBytes / 1024, 1)],
      ["entry chunk (first paint)", round(bundle.entryGzipBytes / 1024, 1), round(bundle.entryBytes / 1024, 1)],
    ]);
    return {
      name: "ui",
      figures: {
        runs,
        seedSeconds: seconds,
        tableInteractiveMs: tableStats.p50,
        tableInteractiveSamplesMs: table,
        tableTargetMs: TABLE_TARGET_MS,
        firstPageArrivedMs: summarize(apiDone).p50,
        firstPageApiMs: round(apiStats.p50, 1),
        ...(chart ? { chartPoints: chart.points, chartDrawMs: summarize(chart.drawMs).p50, chartDrawSamplesMs: chart.drawMs, chartTargetMs: CHART_TARGET_MS } : {}),
        bundleGzipBytes: bundle.jsCssGzipBytes,
        bundleBytes: bundle.jsCssBytes,
        entryGzipBytes: bundle.entryGzipBytes,
        entryBytes: bundle.entryBytes,
      },
      notes: [
        `runs page with ${runs.toLocaleString("en-US")} runs interactive: median ${tableStats.p50} ms of ${REPEATS} (${table.join(", ")}; the first with a cold cache) vs target ≤ ${TABLE_TARGET_MS} ms: ${tableStats.p50 <= TABLE_TARGET_MS ? "met" : "NOT met"}`,
        chartNote,
        `bundle: ${round(bundle.jsCssGzipBytes / 1024, 1)} KiB gzip of JS + CSS in all (pages load on first visit), entry chunk ${round(bundle.entryGzipBytes / 1024, 1)} KiB gzip; built UI read from ${bundle.dir}`,
        `setup: ${runs.toLocaleString("en-US")} runs written in ${seconds} s`,
      ],
    };
  } finally {
    await browser.close();
    await server.close();
  }
}
