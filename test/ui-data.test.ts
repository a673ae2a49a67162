// The web UI's data pages in Debian's Chromium against a real Paved: datasets (versions, schema and
// statistics, preview, a diff chosen in the URL), pipelines (spec, runs, a run's step graph live,
// its logs, cancel with confirmation), the catalog (profiles, environments, a template scaffolded
// into a spec) and the documentation (the same markdown as docs/, searchable, "?" on every page).
// Names, descriptions, parameters, columns, cells and logs hold XSS payloads: they must show as text.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Browser, Page } from "playwright-core";
import { axeViolations, describeViolations, launchBrowser, openContext, screenshot, signIn, startUiServer, type UiServer } from "./support/ui.ts";

const SCRIPT = "<script>alert(1)</script>";
const IMG = '"><img src=x onerror=alert(1)>';
const JS_URL = "javascript:alert(1)";

describe("the web UI's data pages", () => {
  let server: UiServer;
  let browser: Browser;
  let page: Page;
  let problems: () => string[];
  let finishedRun: string;
  const workingDir = mkdtempSync(join(tmpdir(), "paved-ui-data-"));

  const upload = async (text: string) => {
    const response = await fetch(`${server.url}/api/v1/dataset-uploads`, { method: "POST", headers: { ...server.admin, "content-type": "application/octet-stream" }, body: text });
    expect(response.status).toBe(200);
    return ((await response.json()) as { digest: string }).digest;
  };

  const expectClean = async (what: string) => {
    expect(describeViolations(await axeViolations(page)), what).toBe("");
    // No payload ever became markup: no injected element, no javascript: link.
    expect(await page.locator("img[src='x'], a[href^='javascript' i], script:not([src])").count(), what).toBe(0);
    expect(problems(), what).toEqual([]);
  };

  beforeAll(async () => {
    server = await startUiServer();
    browser = await launchBrowser();

    // Two versions of a dataset whose description, columns and cells carry the payloads.
    await server.api("POST", "/api/v1/datasets", { name: "churn", description: `Customers who left. ${SCRIPT} [click me](${JS_URL}) and **the** [docs](datasets.md#versions) ${IMG}` });
    const rows = (n: number, extra: boolean) =>
      [`id,age,plan,${SCRIPT}${extra ? ",tenure" : ""}`, ...Array.from({ length: n }, (_, i) => `${i + 1},${20 + (i % 50)},${i % 3 ? "basic" : "pro"},${i === 0 ? `"${IMG.replace(/"/g, '""')}"` : i === 1 ? JS_URL : `note ${i}`}${extra ? `,${i % 24}` : ""}`)].join("\n") + "\n";
    await server.api("POST", "/api/v1/datasets/churn/versions", { files: [{ path: "customers.csv", digest: await upload(rows(120, false)) }], description: `first cut ${SCRIPT}` });
    await server.api("POST", "/api/v1/datasets/churn/versions", { files: [{ path: "customers.csv", digest: await upload(rows(150, true)) }, { path: "README.txt", digest: await upload("about the data\n") }], description: "adds tenure", alias: "prod" });

    // A pipeline that ends (echo steps, a fan-out and a job whose log holds a payload) and one that runs until cancelled.
    const job = (code: string) => ({ command: [process.execPath, "-e", code], workingDir, compute: { profile: "cpu" }, hyperparameterArgs: false });
    await server.api("POST", "/api/v1/pipelines", {
      kind: "Pipeline",
      metadata: { name: "prepare-and-train", description: `Prepares and trains. ${SCRIPT} [bad](${JS_URL}) ${IMG}` },
      spec: {
        parameters: { note: `${SCRIPT} ${IMG}`, link: JS_URL, sizes: [1, 2, 3] },
        steps: [
          { name: "prepare", echo: { rows: 150, note: "${{ params.note }}" } },
          { name: "shard", forEach: "${{ params.sizes }}", echo: { size: "${{ item }}" }, dependsOn: ["prepare"] },
          { name: "train", dependsOn: ["shard"], job: job(`console.log(${JSON.stringify(`training ${SCRIPT} ${IMG}`)})`) },
          { name: "report", echo: { trained: "${{ steps.train.outputs.run_id }}" } },
        ],
      },
    });
    finishedRun = (await server.api("POST", "/api/v1/pipelines/prepare-and-train/runs", { parameters: {} })).id;
    await server.api("POST", "/api/v1/pipelines", {
      kind: "Pipeline",
      metadata: { name: "long-train", description: "waits a long time" },
      spec: { steps: [{ name: "start", echo: { ok: true } }, { name: "wait", dependsOn: ["start"], job: job("console.log('waiting'); setTimeout(() => {}, 600000)") }, { name: "after", dependsOn: ["wait"], echo: { done: true } }] },
    });

    const opened = await openContext(browser);
    problems = opened.problems;
    page = await opened.page();
    await signIn(page, server.url, server.token, "/datasets");
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  it("lists datasets and shows a dataset's versions, schema with statistics, preview and a diff chosen in the URL", async () => {
    await page.goto(`${server.url}/datasets`);
    await page.getByRole("link", { name: "churn" }).waitFor();
    await expect.poll(() => page.locator("main").textContent(), { timeout: 20_000 }).toContain(SCRIPT);
    await expectClean("datasets");
    await screenshot(page, "datasets");

    await page.getByRole("link", { name: "churn" }).click();
    await page.waitForURL(/\/datasets\/churn$/);
    await page.getByRole("cell", { name: "adds tenure" }).waitFor();
    const main = page.locator("main");
    // The description is markdown shown as text: the payload is text, a javascript: link is not a link, a docs link is.
    expect(await main.textContent()).toContain(SCRIPT);
    expect(await main.textContent()).toContain(IMG);
    expect(await page.getByText("click me").evaluate((e) => e.tagName)).toBe("SPAN");
    expect(await main.textContent()).toContain(`Customers who left. ${SCRIPT} click me and the docs ${IMG}`);
    expect(await page.getByRole("link", { name: "docs", exact: true }).getAttribute("href")).toBe("/docs/datasets#versions");
    expect(await main.textContent()).toContain("prod");
    expect(await main.textContent()).toMatch(/[0-9a-f]{12}/);
    await expectClean("dataset versions");
    await screenshot(page, "dataset");

    await page.getByRole("link", { name: "v1", exact: true }).click();
    await page.waitForURL(/tab=schema&version=1/);
    await page.getByRole("rowheader", { name: SCRIPT }).waitFor();
    await expect.poll(() => main.textContent(), { timeout: 20_000 }).toContain("120 rows");
    await page.goto(`${server.url}/datasets/churn?tab=schema&version=prod`);
    await page.getByRole("rowheader", { name: "tenure" }).waitFor();
    expect(await main.textContent()).toContain("150 rows");
    await expectClean("dataset schema");
    await screenshot(page, "dataset-schema");

    await page.goto(`${server.url}/datasets/churn?tab=preview&version=2&file=customers.csv`);
    await page.getByRole("cell", { name: IMG }).waitFor();
    await page.getByRole("cell", { name: JS_URL }).waitFor();
    await expectClean("dataset preview");

    await page.goto(`${server.url}/datasets/churn?tab=diff&from=1&to=prod`);
    await expect.poll(() => main.textContent(), { timeout: 20_000 }).toContain("+ tenure BIGINT");
    expect(await main.textContent()).toContain("+ README.txt");
    expect(await main.textContent()).toContain("(+30)");
    await expectClean("dataset diff");
    await screenshot(page, "dataset-diff");
  });

  it("shows pipelines, a finished run's step graph with states, a step's logs as text, and its spec", async () => {
    await expect.poll(async () => (await server.api("GET", `/api/v1/pipeline-runs/${finishedRun}`)).phase, { timeout: 60_000 }).toBe("SUCCEEDED");
    await page.goto(`${server.url}/pipelines`);
    await page.getByRole("link", { name: "prepare-and-train" }).click();
    await page.waitForURL(/\/pipelines\/prepare-and-train$/);
    await page.getByRole("link", { name: finishedRun }).waitFor();
    const main = page.locator("main");
    expect(await main.textContent()).toContain(SCRIPT);
    expect(await page.getByText("bad", { exact: true }).evaluate((e) => e.tagName)).toBe("SPAN");
    await expectClean("pipeline");
    await screenshot(page, "pipeline");
    await page.getByRole("link", { name: "Spec" }).click();
    await expect.poll(() => main.textContent(), { timeout: 20_000 }).toContain(JSON.stringify(`${SCRIPT} ${IMG}`));
    // "report" waits for "train" through a reference, which the graph and the table show.
    expect(await page.getByRole("row", { name: /report echo train/ }).count()).toBe(1);
    await expectClean("pipeline spec");

    await page.goto(`${server.url}/pipeline-runs/${finishedRun}`);
    const node = (key: string) => page.locator(`svg.dag g[data-step="${key}"]`);
    await node("train").waitFor();
    for (const key of ["prepare", "shard[0]", "shard[1]", "shard[2]", "train", "report"]) expect(await node(key).textContent(), key).toContain("succeeded");
    expect(await page.locator("svg.dag path.dag-edge").count()).toBe(3 + 3 + 1);
    await node("train").click();
    await page.waitForURL(/step=train/);
    await expect.poll(() => page.getByRole("region", { name: "Log of train" }).textContent(), { timeout: 15_000 }).toContain(`training ${SCRIPT} ${IMG}`);
    expect(await page.getByRole("button", { name: "Cancel run" }).count()).toBe(0);
    await expectClean("pipeline run");
    await screenshot(page, "pipeline-run");
  });

  it("follows a running pipeline live and cancels it after asking", async () => {
    await page.goto(`${server.url}/pipelines/long-train`);
    await page.getByRole("button", { name: "Start a run" }).click();
    await page.getByRole("dialog").getByRole("button", { name: "Start a run" }).click();
    await page.waitForURL(/\/pipeline-runs\/[\w-]+$/);
    const wait = page.locator('svg.dag g[data-step="wait"]');
    // Live: the graph moves from pending to running without a reload.
    await expect.poll(() => wait.textContent(), { timeout: 30_000 }).toContain("running");
    expect(await page.locator('svg.dag g[data-step="after"]').textContent()).toContain("pending");
    await expectClean("running pipeline run");
    await screenshot(page, "pipeline-run-running");

    await page.getByRole("button", { name: "Cancel run" }).click();
    const dialog = page.getByRole("dialog");
    expect(await dialog.textContent()).toContain("its running steps (their jobs) are cancelled");
    await dialog.getByRole("button", { name: "Cancel run" }).click();
    await expect.poll(() => page.locator("main .kv").textContent(), { timeout: 30_000 }).toContain("CANCELLED");
    expect(await wait.textContent()).toContain("cancelled");
    expect(problems()).toEqual([]);
  });

  it("shows the catalog and scaffolds a spec from a template with the commands to run it", async () => {
    await page.goto(`${server.url}/catalog`);
    await page.getByRole("rowheader", { name: "gpu-1" }).waitFor();
    await expectClean("catalog profiles");
    await screenshot(page, "catalog");
    await page.getByRole("link", { name: "Environments" }).click();
    await page.waitForURL(/tab=environments/);
    await expect.poll(() => page.locator("main").textContent(), { timeout: 20_000 }).toMatch(/Environment|No environments/);
    await expectClean("catalog environments");

    await page.getByRole("link", { name: "Templates" }).click();
    await page.getByRole("link", { name: "Use this" }).click();
    await page.waitForURL(/tab=templates&template=golden-path/);
    await page.getByLabel("Pipeline name").fill("churn-path");
    await page.getByLabel("epochs", { exact: true }).fill("25");
    await page.getByLabel("checkout", { exact: true }).fill(`/src/${SCRIPT}`);
    const spec = page.getByRole("region", { name: "Spec churn-path.yaml" });
    await expect.poll(() => spec.textContent(), { timeout: 20_000 }).toContain("name: churn-path");
    expect(await spec.textContent()).toContain("epochs: 25");
    expect(await spec.textContent()).toContain(`checkout: ${JSON.stringify(`/src/${SCRIPT}`)}`);
    expect(await spec.textContent()).toContain("# The golden path as a pipeline");
    expect(await page.getByRole("region", { name: "Commands" }).textContent()).toBe("paved pipelines apply -f churn-path.yaml\npaved pipelines run churn-path --wait");
    const download = page.waitForEvent("download");
    await page.getByRole("link", { name: "Download churn-path.yaml" }).click();
    expect((await download).suggestedFilename()).toBe("churn-path.yaml");
    await expectClean("catalog templates");
    await screenshot(page, "catalog-template");
  });

  it("shows the documentation as the CLI does, searchable, and every page's ? opens its topic", async () => {
    await page.goto(`${server.url}/pipelines/prepare-and-train`);
    await page.getByRole("link", { name: "Help: pipelines" }).click();
    await page.waitForURL(/\/docs\/pipelines$/);
    const article = page.locator("article");
    await article.locator("h2").first().waitFor();
    // Markdown as elements: headings with anchors, code blocks, tables; nothing from innerHTML.
    expect(await article.locator("pre code").count()).toBeGreaterThan(0);
    expect(await article.locator("a.md-anchor").count()).toBeGreaterThan(0);
    expect(await page.getByRole("heading", { level: 1 }).textContent()).toBe("Pipelines");
    await expectClean("docs topic");
    await screenshot(page, "docs");

    await page.getByLabel("Search the documentation").fill("canary rollback");
    await page.getByRole("button", { name: "Search" }).click();
    await page.waitForURL(/\/docs\/pipelines\?q=canary\+rollback/);
    await page.getByRole("heading", { name: /topics? mention/ }).waitFor();
    await page.locator(".search-results a[href='/docs/deployments']").waitFor();
    await expectClean("docs search");
    await screenshot(page, "docs-search");

    // A search is text, never a pattern; a topic outside the listing is NOT_FOUND.
    await page.goto(`${server.url}/docs?q=${encodeURIComponent(`nothing-like-this ${SCRIPT}`)}`);
    await page.getByRole("heading", { name: `0 topics mention “nothing-like-this ${SCRIPT}”` }).waitFor();
    await page.goto(`${server.url}/docs/no-such-topic`);
    await expect.poll(() => page.getByRole("alert").textContent(), { timeout: 20_000 }).toContain("NOT_FOUND");
    expect(problems()).toEqual([]);

    // A link to another topic's section opens it in the UI, at that section.
    await page.goto(`${server.url}/docs/cli`);
    await article.locator("a[href='/docs/pipelines#triggers']").first().click();
    await page.waitForURL(/\/docs\/pipelines#triggers$/);
    await page.locator("article h2#triggers, article h3#triggers").waitFor();
  });
});
