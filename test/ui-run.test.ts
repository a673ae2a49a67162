// The run page and the compare page in Debian's Chromium, on a real Paved with real runs logged
// through the MLflow API: overview, metric charts (raw and downsampled, zoom, smoothing, x by step
// or time), system metrics, a job's log, artifacts with previews (text, PNG, CSV, ONNX signature;
// HTML and SVG as text), lineage, and 2 runs compared. Names, params, tags and artifact contents hold
// XSS payloads: they must show as text, and nothing may run, break the CSP or open a dialog.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { crc32, deflateSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Browser, Page } from "playwright-core";
import { pollUntil } from "./support/poll.ts";
import { model, valueInfo, type Field } from "./support/onnx-protobuf.ts";
import { axeViolations, describeViolations, launchBrowser, openContext, screenshot, signIn, startUiServer, type UiServer } from "./support/ui.ts";

/** Polls with room for a loaded machine (vitest's default is one second). */
const poll = <T>(read: () => T | Promise<T>) => expect.poll(read, { timeout: 20_000, interval: 100 });

const SCRIPT = "<script>alert(1)</script>";
const IMG = '"><img src=x onerror=alert(1)>';
const JS_URL = "javascript:alert(1)";

/** A real PNG (RGB, a gradient), built with zlib: the image preview must decode it. */
function png(width: number, height: number): Buffer {
  const chunk = (type: string, data: Buffer) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const td = Buffer.concat([Buffer.from(type, "ascii"), data]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(td) >>> 0);
    return Buffer.concat([len, td, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // RGB
  const raw = Buffer.alloc((width * 3 + 1) * height);
  for (let y = 0; y < height; y++) {
    const row = y * (width * 3 + 1);
    for (let x = 0; x < width; x++) {
      raw[row + 1 + x * 3] = Math.round((x / width) * 255);
      raw[row + 2 + x * 3] = Math.round((y / height) * 255);
      raw[row + 3 + x * 3] = 160;
    }
  }
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk("IHDR", ihdr), chunk("IDAT", deflateSync(raw)), chunk("IEND", Buffer.alloc(0))]);
}

/** A tiny ONNX model (Identity, float32 [batch, 4] → [batch, 4]) the registry reads a signature from. */
function onnxModel(): Buffer {
  const FLOAT = 1;
  const graph: Field[] = [
    [1, [[1, "features"], [2, "scores"], [3, "id"], [4, "Identity"]]],
    [2, "ui-run"],
    [11, valueInfo("features", FLOAT, [1, 4])],
    [12, valueInfo("scores", FLOAT, [1, 4])],
  ];
  return model(graph);
}

describe("the run and compare pages", () => {
  let server: UiServer;
  let browser: Browser;
  let runA: string;
  let runB: string;
  let jobRun: string;
  const T0 = Date.now() - 3_600_000;

  async function logMetrics(runId: string, key: string, count: number, f: (step: number) => number, opts: { every?: number } = {}) {
    for (let from = 0; from < count; from += 1000) {
      const metrics = [];
      for (let step = from; step < Math.min(count, from + 1000); step++) metrics.push({ key, value: f(step), step, timestamp: T0 + step * (opts.every ?? 100) });
      await server.api("POST", "/api/2.0/mlflow/runs/log-batch", { run_id: runId, metrics });
    }
  }

  async function putArtifact(runId: string, path: string, body: Buffer | string) {
    const response = await fetch(`${server.url}/api/2.0/mlflow-artifacts/artifacts/${experimentId}/${runId}/artifacts/${path}`, {
      method: "PUT",
      headers: { ...server.admin, "content-type": "application/octet-stream" },
      body: typeof body === "string" ? body : new Uint8Array(body),
    });
    expect(response.status, path).toBe(200);
  }

  let experimentId = "0";

  beforeAll(async () => {
    server = await startUiServer();
    browser = await launchBrowser();
    experimentId = (await server.api("POST", "/api/2.0/mlflow/experiments/create", { name: "churn-ui" })).experiment_id;
    const create = async (name: string, tags: { key: string; value: string }[]) =>
      (await server.api("POST", "/api/2.0/mlflow/runs/create", { experiment_id: experimentId, run_name: name, start_time: T0, tags })).run.info.run_id as string;

    runA = await create(`baseline ${SCRIPT}${IMG}`, [
      { key: "note", value: JS_URL },
      { key: "description", value: `${SCRIPT} tuned ${IMG}` },
      { key: "mlflow.source.git.commit", value: "4f1c2d9e8b7a" },
      { key: "mlflow.source.name", value: "train.py" },
    ]);
    await server.api("POST", "/api/2.0/mlflow/runs/log-batch", {
      run_id: runA,
      params: [
        { key: "lr", value: "0.01" },
        { key: "batch_size", value: "64" },
        { key: "optimizer", value: IMG },
        { key: "homepage", value: JS_URL },
        { key: "layers", value: "4" },
      ],
    });
    await logMetrics(runA, "train/loss", 3000, (s) => 2 * Math.exp(-s / 700) + 0.1 + 0.05 * Math.sin(s / 7));
    await logMetrics(runA, "val/accuracy", 30, (s) => 0.6 + 0.3 * (1 - Math.exp(-s / 8)), { every: 10_000 });
    await logMetrics(runA, "train/grad_norm", 20_000, (s) => 1 + Math.sin(s / 500) * 0.5 + ((s * 7919) % 13) / 40, { every: 15 });
    await logMetrics(runA, "system/gpu_0_utilization_percentage", 120, (s) => 70 + 25 * Math.sin(s / 9), { every: 30_000 });
    await logMetrics(runA, "system/gpu_0_memory_usage_megabytes", 120, (s) => 30_000 + 200 * s, { every: 30_000 });
    await logMetrics(runA, "system/cpu_utilization_percentage", 120, (s) => 40 + 10 * Math.cos(s / 5), { every: 30_000 });
    await server.api("POST", "/api/2.0/mlflow/runs/update", { run_id: runA, status: "FINISHED", end_time: T0 + 3_000_000 });

    await putArtifact(runA, "notes.txt", `epoch 1 ${SCRIPT}\nlink ${JS_URL}\n${IMG}\n`);
    await putArtifact(runA, "plots/curve.png", png(64, 40));
    await putArtifact(runA, "data/sample.csv", `id,label,comment\n1,yes,"${IMG.replace(/"/g, '""')}"\n2,no,${SCRIPT}\n3,yes,"multi, comma"\n`);
    await putArtifact(runA, "report.html", `<html><body>${SCRIPT}<a href="${JS_URL}">x</a></body></html>`);
    await putArtifact(runA, "plots/chart.svg", `<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><script>alert(1)</script></svg>`);
    await putArtifact(runA, "model/model.onnx", onnxModel());
    await server.api("POST", "/api/v1/models/churn-ui/versions", { source: `runs:/${runA}/model`, description: `${SCRIPT} first` });

    runB = await create("wider", [{ key: "note", value: "second try" }]);
    await server.api("POST", "/api/2.0/mlflow/runs/log-batch", {
      run_id: runB,
      params: [
        { key: "lr", value: "0.001" },
        { key: "batch_size", value: "64" },
        { key: "optimizer", value: "adam" },
        { key: "layers", value: "8" },
        { key: "dropout", value: "0.2" },
      ],
    });
    await logMetrics(runB, "train/loss", 2500, (s) => 1.8 * Math.exp(-s / 500) + 0.15 + 0.05 * Math.cos(s / 5));
    await logMetrics(runB, "val/accuracy", 25, (s) => 0.55 + 0.38 * (1 - Math.exp(-s / 6)), { every: 10_000 });
    await server.api("POST", "/api/2.0/mlflow/runs/update", { run_id: runB, status: "FINISHED", end_time: T0 + 2_400_000 });

    const job = await server.api("POST", "/api/v1/jobs", {
      name: "train-logs",
      experiment: "churn-ui",
      workingDir: mkdtempSync(join(tmpdir(), "paved-ui-run-")),
      command: ["sh", "-c", `echo 'epoch 1 loss 0.9 ${SCRIPT}'; echo 'done ${JS_URL}'`],
      compute: { profile: "cpu" },
    });
    const ended = await pollUntil("the job ends", () => server.api("GET", `/api/v1/jobs/${job.id}`), (j) => ["SUCCEEDED", "FAILED", "CANCELLED"].includes(j.phase), { timeoutMs: 60_000, intervalMs: 200 });
    expect(ended.phase).toBe("SUCCEEDED");
    jobRun = ended.runId;
  }, 180_000);

  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  async function open(path: string): Promise<{ page: Page; problems: () => string[]; close: () => Promise<void> }> {
    const { context, problems, page: newPage } = await openContext(browser);
    const page = await newPage();
    await signIn(page, server.url, server.token, path);
    return { page, problems, close: () => context.close() };
  }

  /** A screenshot of the page's top, without the feedback prompt another part of the UI may show over it. */
  async function shoot(page: Page, name: string) {
    const notNow = page.getByRole("button", { name: "Not now" });
    if (await notNow.isVisible()) await notNow.click();
    await page.evaluate("window.scrollTo(0, 0)");
    await screenshot(page, name);
  }

  async function noAxeViolations(page: Page) {
    expect(describeViolations(await axeViolations(page))).toBe("");
  }

  async function noScriptLinks(page: Page) {
    const hrefs = await page.$$eval("a[href]", (as) => as.map((a) => a.getAttribute("href") ?? ""));
    expect(hrefs.filter((h) => !/^(\/|#|https?:|blob:)/.test(h))).toEqual([]);
    // The payloads never became elements.
    expect(await page.locator("img[src=x], main script").count()).toBe(0);
  }

  it("shows a run's overview with its name, params and tags as text", async () => {
    const { page, problems, close } = await open(`/runs/${runA}`);
    await poll(() => page.getByRole("heading", { level: 1 }).textContent()).toBe(`baseline ${SCRIPT}${IMG}`);
    const params = page.getByRole("region", { name: "Parameters" });
    await poll(() => params.textContent()).toContain(IMG);
    const tags = page.getByRole("region", { name: "Tags" });
    expect(await tags.textContent()).toContain(JS_URL);
    expect(await tags.textContent()).toContain(`${SCRIPT} tuned ${IMG}`);
    expect(await page.locator("main").textContent()).toContain("4f1c2d9e8b7a");
    expect(await page.getByRole("cell", { name: "train/loss" }).count()).toBe(1);
    await noScriptLinks(page);
    await noAxeViolations(page);
    await shoot(page, "run");
    expect(problems()).toEqual([]);
    await close();
  });

  it("draws a chart per metric: raw points for short series, buckets for long ones; zoom, smoothing and x axis live in the URL", async () => {
    const { page, problems, close } = await open(`/runs/${runA}?tab=metrics`);
    const charts = page.locator(".chart-panel");
    await poll(() => page.locator(".chart-canvas[data-drawn]").count()).toBe(3);
    expect(await charts.locator(".chart-title").allTextContents()).toEqual(["train/grad_norm", "train/loss", "val/accuracy"]);
    const grad = charts.filter({ hasText: "train/grad_norm" });
    const loss = charts.filter({ hasText: "train/loss" });
    await poll(() => grad.locator(".chart-note").textContent()).toContain("20,000 points");
    expect(await grad.locator(".chart-note").textContent()).toContain("buckets");
    expect(await loss.locator(".chart-note").textContent()).toBe("3,000 points");
    // System metrics are on their own tab.
    expect(await page.locator(".chart-title", { hasText: "system/" }).count()).toBe(0);

    // Drag across the long series: the server answers finer buckets for the range.
    const over = grad.locator(".u-over");
    const box = (await over.boundingBox())!;
    await page.mouse.move(box.x + box.width * 0.3, box.y + box.height / 2);
    await page.mouse.down();
    await page.mouse.move(box.x + box.width * 0.4, box.y + box.height / 2, { steps: 5 });
    await page.mouse.up();
    await poll(() => grad.locator(".chart-note").textContent()).toContain("in the zoomed range");
    const zoomed = Number((await grad.locator(".chart-note").textContent())!.replace(/,/g, "").match(/(\d+) points/)![1]);
    expect(zoomed).toBeGreaterThan(0);
    expect(zoomed).toBeLessThan(20_000);
    await grad.getByRole("button", { name: "Reset zoom" }).click();
    await poll(() => grad.locator(".chart-note").textContent()).toContain("20,000 points");

    // Smoothing: the slider writes ?smooth=, and the chart gains a faded raw series beside the smoothed one.
    const slider = page.getByLabel(/Smoothing/);
    await slider.focus();
    await page.keyboard.press("ArrowRight");
    await poll(() => new URL(page.url()).searchParams.get("smooth")).toBe("0.01");
    await poll(() => loss.locator(".u-legend .u-series").count()).toBe(3); // x, raw, smoothed

    await page.getByRole("radio", { name: "Time" }).check();
    await poll(() => new URL(page.url()).searchParams.get("x")).toBe("time");
    await poll(() => page.locator(".chart-canvas[data-drawn]").count()).toBe(3);

    // The state is the URL: opening it again shows the same.
    await page.goto(`${server.url}/runs/${runA}?tab=metrics&x=time&smooth=0.6&metric=loss`);
    await poll(() => page.locator(".chart-canvas[data-drawn]").count()).toBe(1);
    expect(await page.getByLabel(/Smoothing/).inputValue()).toBe("0.6");
    expect(await page.getByRole("radio", { name: "Time" }).isChecked()).toBe(true);
    await page.goto(`${server.url}/runs/${runA}?tab=metrics&smooth=0.6`);
    await poll(() => page.locator(".chart-canvas[data-drawn]").count()).toBe(3);
    await noAxeViolations(page);
    await shoot(page, "run-metrics");
    expect(problems()).toEqual([]);
    await close();
  });

  it("shows GPU and CPU metrics on the system tab by time", async () => {
    const { page, problems, close } = await open(`/runs/${runA}?tab=system`);
    await poll(() => page.locator(".chart-canvas[data-drawn]").count()).toBe(3);
    expect(await page.locator(".chart-title").allTextContents()).toEqual(["GPU 0 utilisation (%)", "GPU 0 memory used (MB)", "CPU utilisation (%)"]);
    expect(await page.getByRole("radio", { name: "Time" }).isChecked()).toBe(true);
    await noAxeViolations(page);
    await shoot(page, "run-system");
    expect(problems()).toEqual([]);
    await close();
  });

  it("browses artifacts and previews text, PNG, CSV and an ONNX signature; HTML and SVG only as text", async () => {
    const { page, problems, close } = await open(`/runs/${runA}?tab=artifacts`);
    const list = page.locator(".artifact-list");
    await poll(() => list.getByRole("link").allTextContents()).toEqual(["artifacts", "data/", "model/", "plots/", "notes.txt", "report.html"]);

    await list.getByRole("link", { name: "notes.txt" }).click();
    await poll(() => new URL(page.url()).searchParams.get("file")).toBe("notes.txt");
    await poll(() => page.locator("pre.artifact-text").textContent()).toBe(`epoch 1 ${SCRIPT}\nlink ${JS_URL}\n${IMG}\n`);

    await list.getByRole("link", { name: "report.html" }).click();
    await poll(() => page.locator("pre.artifact-text").textContent()).toContain(`${SCRIPT}<a href="${JS_URL}">`);

    await list.getByRole("link", { name: "plots/" }).click();
    await poll(() => new URL(page.url()).searchParams.get("path")).toBe("plots");
    await list.getByRole("link", { name: "chart.svg" }).click();
    await poll(() => page.locator("pre.artifact-text").textContent()).toContain('onload="alert(1)"');
    expect(await page.locator(".artifact-preview svg, .artifact-preview img").count()).toBe(0);

    await list.getByRole("link", { name: "curve.png" }).click();
    const image = page.locator("img.artifact-image");
    await poll(() => image.getAttribute("src")).toMatch(/^blob:/);
    await poll(() => image.evaluate((img) => (img as unknown as { complete: boolean; naturalWidth: number }).complete && (img as unknown as { naturalWidth: number }).naturalWidth)).toBe(64);
    await noAxeViolations(page);
    await shoot(page, "run-artifacts");

    await page.goto(`${server.url}/runs/${runA}?tab=artifacts&path=data&file=data%2Fsample.csv`);
    const csv = page.locator(".csv-preview table");
    await poll(() => csv.locator("th").allTextContents()).toEqual(["id", "label", "comment"]);
    expect(await csv.locator("tbody tr").count()).toBe(3);
    expect(await csv.locator("tbody td").allTextContents()).toEqual(["1", "yes", IMG, "2", "no", SCRIPT, "3", "yes", "multi, comma"]);
    await noAxeViolations(page);

    await page.goto(`${server.url}/runs/${runA}?tab=artifacts&path=model&file=model%2Fmodel.onnx`);
    const signature = page.locator(".onnx-signature table");
    await poll(() => signature.locator("tbody tr").allTextContents()).toEqual(["inputfeaturesfloat32[1, 4]", "outputscoresfloat32[1, 4]"]);
    expect(await page.locator(".onnx-signature").textContent()).toContain("churn-ui");
    await noScriptLinks(page);
    await noAxeViolations(page);
    expect(problems()).toEqual([]);
    await close();
  });

  it("shows the log of the job a run came from, and says why a run logged from outside has none", async () => {
    const { page, problems, close } = await open(`/runs/${jobRun}?tab=logs`);
    await poll(() => page.locator("pre.run-log").textContent()).toContain(`epoch 1 loss 0.9 ${SCRIPT}`);
    expect(await page.locator("pre.run-log").textContent()).toContain(`done ${JS_URL}`);
    await noScriptLinks(page);
    await noAxeViolations(page);
    await shoot(page, "run-logs");
    await page.goto(`${server.url}/runs/${runB}?tab=logs`);
    await poll(() => page.locator("main").textContent()).toContain("not started by a Paved job");
    expect(problems()).toEqual([]);
    await close();
  });

  it("shows the run's lineage: the model version registered from it, linked", async () => {
    const { page, problems, close } = await open(`/runs/${runA}?tab=lineage`);
    const made = page.getByRole("region", { name: "What was made from it" });
    await poll(() => made.textContent()).toContain("churn-ui");
    const link = made.locator('a[href^="/models/"]');
    expect(await link.textContent()).toBe("model churn-ui@1");
    expect(await link.getAttribute("href")).toBe("/models/churn-ui/versions/1");
    await noScriptLinks(page);
    await noAxeViolations(page);
    expect(problems()).toEqual([]);
    await close();
  });

  it("follows a running run without a reload: new curves appear, and its end shows", async () => {
    const runC = (await server.api("POST", "/api/2.0/mlflow/runs/create", { experiment_id: experimentId, run_name: "live", start_time: Date.now() })).run.info.run_id as string;
    await logMetrics(runC, "train/loss", 10, (s) => 1 / (s + 1));
    const { page, problems, close } = await open(`/runs/${runC}?tab=metrics`);
    await poll(() => page.locator(".chart-canvas[data-drawn]").count()).toBe(1);
    expect(await page.locator("main").textContent()).toContain("Live:");
    await logMetrics(runC, "val/f1", 5, (s) => s / 5);
    await poll(() => page.locator(".chart-title").allTextContents()).toEqual(["train/loss", "val/f1"]);
    await server.api("POST", "/api/2.0/mlflow/runs/update", { run_id: runC, status: "FINISHED", end_time: Date.now() });
    await poll(() => page.locator(".page-header .badge").textContent()).toBe("FINISHED");
    expect(problems()).toEqual([]);
    await close();
  });

  it("compares two runs: overlaid curves, the parameter diff and parallel coordinates", async () => {
    const { page, problems, close } = await open(`/compare?runs=${runA},${runB}`);
    await poll(() => page.getByRole("heading", { level: 1 }).textContent()).toBe("Compare 2 runs");
    // The heading comes from the URL at once; the legend once both runs have loaded.
    await poll(() => page.getByRole("list", { name: "Runs compared" }).getByRole("link").allTextContents()).toEqual([`baseline ${SCRIPT}${IMG}`, "wider"]);
    await poll(() => page.locator(".chart-canvas[data-drawn]").count()).toBe(3);
    const loss = page.locator(".chart-panel").filter({ hasText: "train/loss" });
    // One series per run, named by the run.
    expect(await loss.locator(".u-legend .u-series .u-label").allTextContents()).toEqual(["step", `baseline ${SCRIPT}${IMG}`, "wider"]);

    const diff = page.locator(".param-diff table");
    expect(await diff.locator("tbody th").allTextContents()).toEqual(["batch_size", "≠ dropout (differs)", "≠ homepage (differs)", "≠ layers (differs)", "≠ lr (differs)", "≠ optimizer (differs)"]);
    expect(await diff.locator("tr.differs").count()).toBe(5);
    expect(await diff.locator("tr", { hasText: "optimizer" }).locator("td").allTextContents()).toEqual([IMG, "adam"]);
    await page.getByLabel("Only differences").check();
    await poll(() => new URL(page.url()).searchParams.get("diff")).toBe("1");
    await poll(() => diff.locator("tbody tr").count()).toBe(5);

    const parallel = page.locator(".parallel svg");
    expect(await parallel.locator("path.line").count()).toBe(2);
    // Axes: the 5 differing params, then the 3 final metrics either run logged.
    expect(await parallel.locator("g.axis").count()).toBe(8);
    expect(await parallel.getAttribute("aria-label")).toContain("wider: dropout 0.2");
    await noScriptLinks(page);
    await noAxeViolations(page);
    await shoot(page, "compare");

    await page.goto(`${server.url}/compare?runs=${runA}`);
    await poll(() => page.getByRole("alert").textContent()).toContain("2 to 20 runs");
    expect(problems()).toEqual([]);
    await close();
  });
});
