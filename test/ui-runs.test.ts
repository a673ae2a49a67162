// The experiments list and the runs table in Debian's Chromium, on a real Paved with runs logged
// through the MLflow REST API: virtualized rows paged in as the table scrolls, server-side filter
// (and its INVALID_INPUT next to the box) and sort, the column chooser, the selection for /compare,
// all in the URL; names, params and tags holding markup or javascript: URLs stay text.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Browser, Page } from "playwright-core";
import { axeViolations, describeViolations, launchBrowser, openContext, screenshot, signIn, startUiServer, type UiServer } from "./support/ui.ts";

const SCRIPT = "<script>alert(1)</script>";
const IMG = '"><img src=x onerror=alert(1)>';
const JS_URL = "javascript:alert(1)";
const RUNS = 320;
/** Waits for what the page shows (two cores shared with other suites: loads can take seconds). */
const until = <T>(read: () => Promise<T> | T) => expect.poll(read, { timeout: 20_000 });

describe("the web UI's experiments and runs table", () => {
  let server: UiServer;
  let browser: Browser;
  let experimentId: string;
  let otherExperiment: string;
  let fraudRun: string;
  const runIds: string[] = [];
  const mlflow = (path: string, body: unknown) => server.api("POST", `/api/2.0/mlflow${path}`, body);

  beforeAll(async () => {
    server = await startUiServer();
    browser = await launchBrowser();
    experimentId = (await mlflow("/experiments/create", { name: `churn ${SCRIPT}` })).experiment_id;
    otherExperiment = (await mlflow("/experiments/create", { name: "fraud-detection" })).experiment_id;
    const base = Date.now() - RUNS * 60_000;
    const create = async (i: number) => {
      const name = i === 0 ? `xss ${SCRIPT}` : i === 1 ? `img ${IMG}` : `run-${String(i).padStart(3, "0")}`;
      const { run } = await mlflow("/runs/create", { experiment_id: experimentId, run_name: name, start_time: base + i * 60_000 });
      const id = run.info.run_id as string;
      runIds[i] = id;
      await mlflow("/runs/log-batch", {
        run_id: id,
        metrics: [
          { key: "loss", value: ((i * 37) % RUNS) / RUNS, timestamp: base, step: 10 },
          { key: "accuracy", value: 0.5 + ((i * 11) % 50) / 100, timestamp: base, step: 10 },
          { key: "f1", value: 0.4 + ((i * 7) % 50) / 100, timestamp: base, step: 10 },
        ],
        params: [
          { key: "lr", value: ["0.1", "0.01", "0.001"][i % 3]! },
          { key: "batch_size", value: String(32 << i % 3) },
          { key: "notes", value: i === 2 ? IMG : "baseline" },
        ],
        tags: [{ key: "link", value: i === 3 ? JS_URL : "https://example.com/report" }],
      });
      if (i % 5 !== 4) await mlflow("/runs/update", { run_id: id, status: i % 17 === 0 ? "FAILED" : "FINISHED", end_time: base + i * 60_000 + 30_000 });
    };
    for (let i = 0; i < RUNS; i += 16) await Promise.all(Array.from({ length: Math.min(16, RUNS - i) }, (_, k) => create(i + k)));
    fraudRun = (await mlflow("/runs/create", { experiment_id: otherExperiment, run_name: "fraud-baseline", start_time: Date.now() })).run.info.run_id;
  }, 180_000);
  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  async function expectAccessible(page: Page, what: string) {
    const violations = await axeViolations(page);
    expect(violations, `${what}:\n${describeViolations(violations)}`).toEqual([]);
  }
  const renderedRows = (page: Page) => page.locator("table.vt tbody tr.vt-row:not(.vt-placeholder)");

  it("lists experiments with their run counts and last activity, names as text, and opens one's runs", async () => {
    const { page: newPage, problems, context } = await openContext(browser);
    const page = await newPage();
    await signIn(page, server.url, server.token, "/experiments");
    await until(() => page.getByRole("link", { name: `churn ${SCRIPT}` }).count()).toBe(1);
    const row = page.locator("table.experiments tbody tr", { has: page.getByRole("link", { name: `churn ${SCRIPT}` }) });
    await until(() => row.locator("td.num").textContent()).toBe(String(RUNS));
    await until(() => page.locator("table.experiments tbody tr").count()).toBe(3);

    // The name search and the order are in the URL.
    await page.getByLabel("Find").fill("fraud");
    await page.waitForURL(/q=fraud/);
    await until(() => page.locator("table.experiments tbody tr").count()).toBe(1);
    await page.getByLabel("Find").fill("");
    await page.getByRole("button", { name: "Sort by Runs" }).click();
    await page.waitForURL(/sort=runs/);
    await until(() => page.locator("table.experiments tbody tr").first().textContent()).toContain("churn");
    await expectAccessible(page, "experiments");
    if (await page.getByRole("button", { name: "Not now" }).count()) await page.getByRole("button", { name: "Not now" }).click();
    await screenshot(page, "experiments");
    expect(await page.locator("img[src=x]").count()).toBe(0);

    await page.getByRole("link", { name: `churn ${SCRIPT}` }).click();
    await page.waitForURL(new RegExp(`/experiments/${experimentId}$`));
    await until(() => page.getByRole("heading", { level: 1 }).textContent()).toBe(`churn ${SCRIPT}`);
    expect(problems()).toEqual([]);
    await context.close();
  });

  it("renders only the rows in view and pages in more from the server as the table scrolls", async () => {
    const { page: newPage, problems, context } = await openContext(browser);
    const page = await newPage();
    await signIn(page, server.url, server.token, `/experiments/${experimentId}`);
    await until(() => page.locator(".runs-count").textContent()).toContain(`${RUNS} runs`);
    // The first page (200 runs) is loaded; far fewer are in the document.
    await until(() => renderedRows(page).count()).toBeGreaterThan(10);
    expect(await renderedRows(page).count()).toBeLessThan(80);
    expect(await page.locator("table.vt").getAttribute("aria-rowcount")).toBe(String(RUNS + 1));
    // Newest first: the last run created is on top.
    await until(() => renderedRows(page).first().locator("td").nth(1).textContent()).toBe(`run-${RUNS - 1}`);

    // Scrolling to the end loads the rest (a page token) and shows the oldest runs, and still few rows.
    await page.locator(".vt-scroll").evaluate((el) => el.scrollTo(0, el.scrollHeight));
    await until(() => page.getByRole("link", { name: `xss ${SCRIPT}` }).count()).toBe(1);
    expect(await renderedRows(page).count()).toBeLessThan(80);
    expect(await page.locator(".runs-count").textContent()).not.toContain("loaded");
    // Markup in names and params is text: no element was made of it.
    await until(() => page.getByRole("link", { name: `img ${IMG}` }).count()).toBe(1);
    expect(await page.locator("img[src=x], table.vt script").count()).toBe(0);
    expect(problems()).toEqual([]);
    await context.close();
  });

  it("sorts by a clicked column on the server, filters with MLflow syntax, and shows a bad filter's INVALID_INPUT beside the box", async () => {
    const { page: newPage, problems, context } = await openContext(browser);
    const page = await newPage();
    await signIn(page, server.url, server.token, `/experiments/${experimentId}`);
    await until(() => page.locator(".runs-count").textContent()).toContain(`${RUNS} runs`);

    await page.getByRole("button", { name: "Sort by loss" }).click();
    await page.waitForURL(/order=metrics\.loss\+ASC/);
    // loss = (i * 37 mod 320) / 320 is 0 only for run 0.
    await until(() => renderedRows(page).first().locator("td").nth(1).textContent()).toBe(`xss ${SCRIPT}`);
    expect(await page.locator("th", { has: page.getByRole("button", { name: "Sort by loss" }) }).getAttribute("aria-sort")).toBe("ascending");
    await page.getByRole("button", { name: "Sort by loss" }).click();
    await page.waitForURL(/order=metrics\.loss\+DESC/);
    const worst = Array.from({ length: RUNS }, (_, i) => i).find((i) => (i * 37) % RUNS === RUNS - 1)!;
    await until(() => renderedRows(page).first().locator("td").nth(1).textContent()).toBe(`run-${String(worst).padStart(3, "0")}`);

    const box = page.getByLabel("Filter", { exact: true });
    await box.fill("metrics.loss < 0.1 and params.lr = '0.01'");
    await box.press("Enter");
    await page.waitForURL(/filter=metrics\.loss/);
    const matching = Array.from({ length: RUNS }, (_, i) => i).filter((i) => ((i * 37) % RUNS) / RUNS < 0.1 && i % 3 === 1).length;
    await until(() => page.locator(".runs-count").textContent()).toContain(`${matching} runs match`);
    expect(await renderedRows(page).count()).toBe(matching);

    await box.fill("metrics.loss <<< 1");
    await box.press("Enter");
    const help = page.locator("#runs-filter-help");
    await until(() => help.getAttribute("class")).toBe("filter-error");
    expect(await help.textContent()).toContain("invalid filter");
    expect(await box.getAttribute("aria-invalid")).toBe("true");
    await expectAccessible(page, "runs with a bad filter");
    expect(problems()).toEqual([]);
    await context.close();
  });

  it("chooses columns, selects runs for /compare, and keeps all of it in a URL that reopens the same table", async () => {
    const { page: newPage, problems, context } = await openContext(browser);
    const page = await newPage();
    await signIn(page, server.url, server.token, `/experiments/${experimentId}`);
    await until(() => page.locator(".runs-count").textContent()).toContain(`${RUNS} runs`);
    // Default columns: the experiment's first metrics and params.
    for (const name of ["Sort by accuracy", "Sort by f1", "Sort by loss", "Sort by param batch_size"]) expect(await page.getByRole("button", { name }).count(), name).toBe(1);

    await page.getByText("Columns (", { exact: false }).click();
    await page.getByRole("checkbox", { name: "link", exact: true }).check();
    await page.getByRole("checkbox", { name: "f1", exact: true }).uncheck();
    await page.waitForURL(/cols=/);
    expect(new URL(page.url()).searchParams.get("cols")?.split(",")).toEqual(["metrics.accuracy", "metrics.loss", "params.batch_size", "params.lr", "params.notes", "tags.link"]);
    await page.getByText("Columns (", { exact: false }).click();

    // Run 3's tag is a javascript: URL and run 2's param is markup: text in cells, never a link or an element.
    await page.getByLabel("Filter", { exact: true }).fill("attributes.run_name IN ('run-002', 'run-003')");
    await page.getByLabel("Filter", { exact: true }).press("Enter");
    await until(() => renderedRows(page).count()).toBe(2);
    await until(() => page.locator("table.vt td.tags", { hasText: JS_URL }).count()).toBe(1);
    expect(await page.locator("table.vt td.params", { hasText: IMG }).count()).toBe(1);
    expect(await page.locator('a[href^="javascript"], img[src=x]').count()).toBe(0);

    const compare = page.getByRole("button", { name: /^Compare/ });
    expect(await compare.isDisabled()).toBe(true);
    await page.getByRole("checkbox", { name: "Select run run-002" }).check();
    expect(await compare.isDisabled()).toBe(true);
    await page.getByRole("checkbox", { name: "Select run run-003" }).check();
    await page.waitForURL((u) => (u.searchParams.get("selected") ?? "").split(",").length === 2);
    expect(await compare.isDisabled()).toBe(false);
    await expectAccessible(page, "runs table");

    // The same URL in a new tab opens the same table: filter, columns, selection.
    const shared = page.url();
    const again = await context.newPage();
    await again.goto(shared);
    await until(() => renderedRows(again).count()).toBe(2);
    expect(await again.getByRole("checkbox", { name: "Select run run-003" }).isChecked()).toBe(true);
    expect(await again.getByLabel("Filter", { exact: true }).inputValue()).toBe("attributes.run_name IN ('run-002', 'run-003')");
    expect(await again.getByRole("button", { name: "Sort by tag link" }).count()).toBe(1);
    await again.close();

    expect(problems()).toEqual([]);
    await compare.click();
    await page.waitForURL(/\/compare\?runs=/);
    expect(new URL(page.url()).searchParams.get("runs")).toBe(`${runIds[2]},${runIds[3]}`);
    await context.close();
  });

  it("shows every experiment's runs at /runs with their experiment, follows a run's end live, and a realistic table for the docs", async () => {
    const { page: newPage, problems, context } = await openContext(browser);
    const page = await newPage();
    await signIn(page, server.url, server.token, `/runs?order=metrics.accuracy+DESC`);
    await until(() => page.locator(".runs-count").textContent()).toContain(`${RUNS + 1} runs`);
    await page.getByLabel("Filter", { exact: true }).fill("attributes.run_name = 'fraud-baseline'");
    await page.getByLabel("Filter", { exact: true }).press("Enter");
    await until(() => renderedRows(page).count()).toBe(1);
    expect(await renderedRows(page).first().getByRole("link", { name: "fraud-detection" }).count()).toBe(1);
    await expectAccessible(page, "all runs");

    // Live: the run ends elsewhere (an MLflow client), and its row says so without a reload.
    expect(await renderedRows(page).first().locator(".badge").textContent()).toBe("RUNNING");
    await mlflow("/runs/update", { run_id: fraudRun, status: "FINISHED", end_time: Date.now() });
    await until(() => renderedRows(page).first().locator(".badge").textContent()).toBe("FINISHED");

    await page.goto(`${server.url}/experiments/${experimentId}?order=metrics.accuracy+DESC`);
    await until(() => renderedRows(page).count()).toBeGreaterThan(10);
    for (const n of [0, 2]) await renderedRows(page).nth(n).getByRole("checkbox").check();
    // The satisfaction prompt (first tracked run) would cover the table.
    if (await page.getByRole("button", { name: "Not now" }).count()) await page.getByRole("button", { name: "Not now" }).click();
    await screenshot(page, "runs");
    expect(problems()).toEqual([]);
    await context.close();
  });
});
