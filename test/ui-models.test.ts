// The web UI's models and deployments pages in Debian's Chromium, on real data: ONNX models trained
// by torch (src/modules/evaluation/test-data.py), registered from runs, evaluated under a gate
// policy by the real runner, served, and deployed as a canary and an A/B test by the real
// controller. The pages show every gate check, refuse an alias with the API's own GATE_FAILED
// message, follow a canary's split live and roll it back; user data with markup stays text.
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Browser, Page } from "playwright-core";
import { stickyVariant } from "../src/modules/deployments/router.ts";
import { pollUntil } from "./support/poll.ts";
import { axeViolations, describeViolations, launchBrowser, openContext, screenshot, signIn, startUiServer, type UiServer } from "./support/ui.ts";

/** expect.poll with room for a loaded machine: pages refresh every 1.5 s and two cores are shared. */
const poll = <T>(read: () => T | Promise<T>, opts: { timeout?: number } = {}) => expect.poll(read, { timeout: 30_000, interval: 100, ...opts });

const hasTorch = spawnSync("/usr/bin/python3", ["-c", "import torch, sklearn"], { stdio: "ignore" }).status === 0;

const SCRIPT = "<script>alert(1)</script>";
const IMG = '"><img src=x onerror=alert(1)>';
const JS_URL = "javascript:alert(1)";
const MODEL = "churn";
const POLICY = `
checks:
  - {type: quality, metric: accuracy, min: 0.8}
  - {type: quality, metric: auc, min: 0.8}
  - {type: performance, p99Ms: 60000}
  - {type: drift, maxPsi: 0.25, maxKsStatistic: 0.3}
  - type: compliance
    requiredModelCardFields: [owner, intendedUse]
    requireLineage: true
`;

interface Evaluation {
  id: string;
  phase: string;
  checks: { name: string; passed: boolean; figures: Record<string, unknown>; thresholds: Record<string, unknown> }[];
}
interface Deployment {
  id: string;
  status: { phase: string; canaryWeight: number; stableVersion: string | null; currentStep: number; abTest?: { result: { winner: string | null } | null } | null };
}

describe.skipIf(!hasTorch)(`the models and deployments pages (${hasTorch ? "real models, evaluations and rollouts" : "skipped: /usr/bin/python3 lacks torch or sklearn; run scripts/install-deps.sh"})`, () => {
  let server: UiServer;
  let browser: Browser;
  const data = mkdtempSync(join(tmpdir(), "paved-ui-models-"));
  const versions = { good: "", bad: "", next: "" };
  let evalUri = "";
  let canary: Deployment;
  let ab: Deployment;

  /** A run with the model's ONNX file and its training CSV (its lineage dataset), registered as a version. */
  async function register(name: string, file: "good.onnx" | "bad.onnx", description: string): Promise<string> {
    const { run } = await server.api("POST", "/api/2.0/mlflow/runs/create", { experiment_id: "0", start_time: Date.now(), run_name: `train ${name}`, tags: [{ key: "mlflow.source.git.commit", value: "c0ffee1" }] });
    const runId = run.info.run_id as string;
    for (const [path, bytes] of [
      ["model/model.onnx", readFileSync(join(data, file))],
      ["data/train.csv", readFileSync(join(data, "train.csv"))],
    ] as const) {
      const put = await fetch(`${server.url}/api/2.0/mlflow-artifacts/artifacts/0/${runId}/artifacts/${path}`, { method: "PUT", headers: { ...server.admin, "content-type": "application/octet-stream" }, body: bytes });
      expect(put.status).toBe(200);
    }
    await server.api("POST", "/api/2.0/mlflow/runs/log-inputs", { run_id: runId, datasets: [{ dataset: { name: "train", digest: "d1", source_type: "local", source: `runs:/${runId}/data/train.csv` } }] });
    const version = await server.api("POST", `/api/v1/models/${name}/versions`, { source: `runs:/${runId}/model`, description });
    return version.version as string;
  }

  async function evaluated(name: string, version: string): Promise<Evaluation> {
    const started = await server.api<Evaluation>("POST", `/api/v1/models/${name}/versions/${version}/evaluations`, { data: evalUri, sensitive: ["group"] });
    return pollUntil(`evaluation of ${name}@${version}`, () => server.api<Evaluation>("GET", `/api/v1/evaluations/${started.id}`), (e) => ["Passed", "Failed", "Error"].includes(e.phase), { timeoutMs: 90_000, intervalMs: 200 });
  }

  async function deployment(id: string): Promise<Deployment> {
    return server.api<Deployment>("GET", `/api/v1/deployments/${id}`);
  }

  async function infer(path: string, rows: number[][], headers: Record<string, string> = {}): Promise<void> {
    for (const row of rows) {
      const response = await fetch(`${server.url}${path}`, {
        method: "POST",
        headers: { ...server.admin, "content-type": "application/json", ...headers },
        body: JSON.stringify({ inputs: [{ name: "features", shape: [1, 3], datatype: "FP32", data: row }] }),
      });
      await response.body?.cancel();
    }
  }

  const rows = () =>
    readFileSync(join(data, "eval.csv"), "utf8")
      .trim()
      .split("\n")
      .slice(1, 41)
      .map((line) => line.split(",").slice(0, 3).map(Number));

  /** Saves the screenshot without another area's prompts over the page. */
  async function shoot(page: Page, name: string): Promise<void> {
    const later = page.getByRole("button", { name: "Not now" });
    if (await later.count()) await later.first().click();
    await screenshot(page, name);
  }

  async function expectClean(page: Page, problems: () => string[]): Promise<void> {
    expect(describeViolations(await axeViolations(page))).toBe("");
    expect(problems()).toEqual([]);
  }

  beforeAll(async () => {
    execFileSync("/usr/bin/python3", [new URL("../src/modules/evaluation/test-data.py", import.meta.url).pathname, data], { stdio: ["ignore", "ignore", "pipe"] });
    server = await startUiServer();
    browser = await launchBrowser();
    const upload = await fetch(`${server.url}/api/v1/evaluation-data`, { method: "POST", headers: { ...server.admin, "content-type": "text/csv" }, body: readFileSync(join(data, "eval.csv")) });
    evalUri = ((await upload.json()) as { uri: string }).uri;

    versions.good = await register(MODEL, "good.onnx", "logistic regression on f0..f2, trained weekly");
    await server.api("PATCH", `/api/v1/models/${MODEL}/tags`, {
      set: {
        "model_card.owner": `risk-team ${IMG}`,
        "model_card.intendedUse": `weekly churn triage ${SCRIPT}`,
        "model_card.documentation": JS_URL,
        "model_card.dashboard": "https://grafana.example/d/churn",
        notes: SCRIPT,
      },
    });
    await server.api("PUT", `/api/v1/models/${MODEL}/gate-policy`, { yaml: POLICY });
    await server.api("PATCH", `/api/2.0/mlflow/registered-models/update`, { name: MODEL, description: `Predicts churn. ${SCRIPT} ${IMG} ${JS_URL}` });
    versions.bad = await register(MODEL, "bad.onnx", `inverted weights ${IMG}`);
    versions.next = await register(MODEL, "good.onnx", `retrained ${JS_URL}`);
    await server.api("PATCH", `/api/v1/models/${MODEL}/versions/${versions.next}/tags`, { set: { [`team ${SCRIPT}`]: IMG } });
    for (const v of [versions.good, versions.bad, versions.next]) {
      const evaluation = await evaluated(MODEL, v);
      expect(evaluation.phase, JSON.stringify(evaluation)).toBe(v === versions.bad ? "Failed" : "Passed");
    }

    // Version 1 serves production; version 3 is a canary beside it that stays at its first step.
    const first = await server.api<Deployment>("POST", "/api/v1/deployments", { model: MODEL, version: versions.good });
    await pollUntil("the first deployment", () => deployment(first.id), (d) => d.status.phase === "Succeeded", { timeoutMs: 30_000 });
    canary = await server.api<Deployment>("POST", "/api/v1/deployments", { model: MODEL, version: versions.next, strategy: "canary", steps: [10, 50, 100], stepIntervalSeconds: 3600 });
    await pollUntil("the canary's first step", () => deployment(canary.id), (d) => d.status.canaryWeight === 10, { timeoutMs: 30_000 });
    await infer(`/v2/models/${MODEL}/infer`, rows());

    // Staging: version 1 first, then an A/B test of version 3 on a reported outcome.
    const staging = await server.api<Deployment>("POST", "/api/v1/deployments", { model: MODEL, version: versions.good, environment: "staging" });
    await pollUntil("the staging deployment", () => deployment(staging.id), (d) => d.status.phase === "Succeeded", { timeoutMs: 30_000 });
    ab = await server.api<Deployment>("POST", "/api/v1/deployments", {
      model: MODEL,
      version: versions.next,
      environment: "staging",
      strategy: "ab",
      stepIntervalSeconds: 0.2,
      ab: { split: 50, metric: "conversion", kind: "binary", minSamples: 20 },
    });
    await pollUntil("the A/B test's start", () => deployment(ab.id), (d) => Boolean(d.status.abTest), { timeoutMs: 30_000 });
    // Outcomes by routing key, each counted for the variant the router sends the key to: B converts 80% of the time, A 30%.
    const outcomes = Array.from({ length: 400 }, (_, i) => ({ key: `user-${i}`, id: `o-${i}`, value: i % 10 < (stickyVariant(ab.id, `user-${i}`, 50) === "B" ? 8 : 3) ? 1 : 0 }));
    const split = await server.api<{ a: number; b: number }>("POST", `/api/v1/deployments/${ab.id}/outcomes`, { outcomes });
    expect(split.a).toBeGreaterThan(20);
    expect(split.b).toBeGreaterThan(20);
    await infer(`/environments/staging/v2/models/${MODEL}/infer`, rows().slice(0, 10), { "x-paved-route-key": "user-1" });
  }, 240_000);

  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  it("lists registered models with their latest version and aliases, searchable from the URL", async () => {
    const { context, problems, page: newPage } = await openContext(browser);
    const page = await newPage();
    await signIn(page, server.url, server.token, "/models");
    const row = page.getByRole("row", { name: new RegExp(MODEL) });
    await poll(() => row.count()).toBe(1);
    await poll(() => row.textContent()).toContain(`v${versions.next}`);
    await poll(() => row.textContent()).toContain("@production");
    // The description's markup is text.
    expect(await row.textContent()).toContain(`Predicts churn. ${SCRIPT} ${IMG} ${JS_URL}`);
    await expectClean(page, problems);
    await shoot(page, "models");

    await page.getByLabel("Name contains").fill("no-such-model");
    await page.waitForURL(/q=no-such-model/);
    await poll(() => page.getByText("No model's name contains").count()).toBe(1);
    await page.goto(`${server.url}/models?q=chu`);
    await poll(() => page.getByRole("row", { name: new RegExp(MODEL) }).count()).toBe(1);
    expect(problems()).toEqual([]);
    await context.close();
  });

  it("shows a model's versions at the gate, its card and tags as text, and its gate policy's checks", async () => {
    const { context, problems, page: newPage } = await openContext(browser);
    const page = await newPage();
    await signIn(page, server.url, server.token, `/models/${MODEL}`);
    const versionRow = (v: string) => page.getByRole("row").filter({ has: page.getByRole("link", { name: `v${v}`, exact: true }) }).filter({ hasText: "gate" });
    await poll(() => versionRow(versions.good).textContent()).toContain("gate passed");
    await poll(() => versionRow(versions.bad).textContent()).toContain("gate failed");
    expect(await versionRow(versions.bad).textContent()).toContain(`inverted weights ${IMG}`);
    // The source run links to the run's page.
    const runLink = versionRow(versions.good).getByRole("link").nth(1);
    expect(await runLink.getAttribute("href")).toMatch(/^\/runs\/[\w-]+$/);
    await expectClean(page, problems);
    await shoot(page, "model");

    await page.getByRole("link", { name: "Model card" }).click();
    await page.waitForURL(/tab=card/);
    await poll(() => page.getByText(`risk-team ${IMG}`).count()).toBe(1);
    expect(await page.getByText(`weekly churn triage ${SCRIPT}`).count()).toBe(1);
    // javascript: stays text; an https URL becomes a link.
    expect(await page.getByText(JS_URL, { exact: true }).count()).toBe(1);
    expect(await page.getByRole("link", { name: JS_URL }).count()).toBe(0);
    expect(await page.getByRole("link", { name: "https://grafana.example/d/churn" }).getAttribute("href")).toBe("https://grafana.example/d/churn");
    expect(await page.locator('a[href^="javascript:"]').count()).toBe(0);
    await expectClean(page, problems);

    await page.getByRole("link", { name: "Gate policy" }).click();
    await page.waitForURL(/tab=gate/);
    const checks = page.getByRole("table").first();
    await poll(() => checks.textContent()).toContain("accuracy");
    expect(await checks.textContent()).toContain("PSI ≤0.25");
    expect(await checks.textContent()).toContain("owner, intendedUse");
    await expectClean(page, problems);
    await shoot(page, "model-gate-policy");
    await context.close();
  });

  it("shows a failed evaluation's every check with value, threshold and result, and the gate's verdict", async () => {
    const { context, problems, page: newPage } = await openContext(browser);
    const page = await newPage();
    await signIn(page, server.url, server.token, `/models/${MODEL}/versions/${versions.bad}`);
    const table = page.locator("table.checks");
    await poll(() => table.count(), { timeout: 15_000 }).toBe(1);
    const api = (await server.api<{ evaluations: Evaluation[] }>("GET", `/api/v1/evaluations?model=${MODEL}&version=${versions.bad}`)).evaluations[0]!;
    // One row group per check, named by the check.
    for (const check of api.checks) expect(await table.getByRole("rowheader", { name: check.name, exact: true }).count(), check.name).toBe(1);
    const accuracy = table.getByRole("row").filter({ has: page.getByRole("rowheader", { name: "quality:accuracy", exact: true }) });
    const text = (await accuracy.textContent())!;
    expect(await accuracy.getByRole("cell").first().textContent()).toBe("accuracy");
    expect(text).toContain("≥ 0.8");
    expect(text).toContain("fail");
    const value = api.checks.find((c) => c.name === "quality:accuracy")!.figures.value as number;
    expect(text).toContain(String(Number(value.toPrecision(4))));
    await poll(() => page.getByText("gate failed").count()).toBeGreaterThan(0);
    expect(await page.getByRole("link", { name: /^run-|^[0-9a-f]{8,}/ }).first().getAttribute("href")).toMatch(/^\/runs\//);
    await expectClean(page, problems);
    await shoot(page, "model-version");
    await context.close();
  });

  it("refuses moving production to a version that failed its gate, with the API's GATE_FAILED message as it is", async () => {
    const refused = await fetch(`${server.url}/api/v1/models/${MODEL}/aliases/production`, { method: "PUT", headers: { ...server.admin, "content-type": "application/json" }, body: JSON.stringify({ version: versions.bad }) });
    expect(refused.status).toBe(412);
    const { error } = (await refused.json()) as { error: { code: string; message: string } };
    expect(error.code).toBe("GATE_FAILED");

    const { context, problems, page: newPage } = await openContext(browser);
    const page = await newPage();
    await signIn(page, server.url, server.token, `/models/${MODEL}?tab=aliases`);
    await page.getByLabel("Alias", { exact: true }).fill("production");
    await page.getByLabel("Version", { exact: true }).selectOption(versions.bad);
    await page.getByRole("button", { name: "Set alias" }).click();
    const alert = page.getByRole("alert");
    await poll(() => alert.textContent()).toBe(`Alias not set: GATE_FAILED: ${error.message}`);
    const model = await server.api<{ aliases: Record<string, string> }>("GET", `/api/v1/models/${MODEL}`);
    expect(model.aliases.production).toBe(versions.good);
    await expectClean(page, problems);
    await shoot(page, "model-alias-refused");

    // Any other alias moves freely, and the table shows it.
    await page.getByLabel("Alias", { exact: true }).fill("challenger");
    await page.getByRole("button", { name: "Set alias" }).click();
    await poll(() => page.getByRole("status").filter({ hasText: "@challenger now points at version" }).count()).toBe(1);
    await poll(async () => (await server.api<{ aliases: Record<string, string> }>("GET", `/api/v1/models/${MODEL}`)).aliases.challenger).toBe(versions.bad);
    await poll(() => page.getByRole("row", { name: /@challenger/ }).count()).toBe(1);
    expect(problems()).toEqual([]);
    await context.close();
  });

  it("registers a version from a run in the UI and lands on its page", async () => {
    const { context, problems, page: newPage } = await openContext(browser);
    const page = await newPage();
    const { run } = await server.api("POST", "/api/2.0/mlflow/runs/create", { experiment_id: "0", start_time: Date.now() });
    const put = await fetch(`${server.url}/api/2.0/mlflow-artifacts/artifacts/0/${run.info.run_id}/artifacts/model/model.onnx`, { method: "PUT", headers: { ...server.admin, "content-type": "application/octet-stream" }, body: readFileSync(join(data, "good.onnx")) });
    expect(put.status).toBe(200);
    await signIn(page, server.url, server.token, "/models?register=1");
    await page.getByLabel("Model name").fill("fraud");
    await page.getByLabel("Run ID").fill(run.info.run_id);
    await page.getByLabel("Description").fill(SCRIPT);
    await page.getByRole("button", { name: "Register version" }).click();
    await page.waitForURL(/\/models\/fraud\/versions\/1$/);
    await poll(() => page.getByText(SCRIPT, { exact: true }).count()).toBe(1);
    await poll(() => page.getByText("No evaluations yet").count()).toBe(1);
    // A run that does not exist: the server's refusal, as it said it.
    await page.goto(`${server.url}/models/fraud`);
    await page.getByLabel("Run ID").fill("no-such-run");
    await page.getByRole("button", { name: "Register version" }).click();
    await poll(() => page.getByRole("alert").textContent()).toMatch(/^Not registered: [A-Z_]+: /);
    expect(problems()).toEqual([]);
    await context.close();
  });

  it("lists deployments with their versions, state and live split", async () => {
    const { context, problems, page: newPage } = await openContext(browser);
    const page = await newPage();
    await signIn(page, server.url, server.token, "/deployments");
    const row = page.getByRole("row").filter({ has: page.getByRole("link", { name: canary.id }) });
    await poll(() => row.textContent()).toContain("Progressing");
    expect(await row.getByRole("img").getAttribute("aria-label")).toBe(`Traffic split: version ${versions.good}: 90%, version ${versions.next}: 10%`);
    await expectClean(page, problems);
    await shoot(page, "deployments");
    await page.getByLabel("Environment").fill("staging");
    await page.waitForURL(/environment=staging/);
    await poll(() => page.getByRole("row").filter({ has: page.getByRole("link", { name: canary.id }) }).count()).toBe(0);
    await poll(() => page.getByRole("row").filter({ has: page.getByRole("link", { name: ab.id }) }).count()).toBe(1);
    await context.close();
  });

  it("shows an A/B test's outcomes and its verdict", async () => {
    const { context, problems, page: newPage } = await openContext(browser);
    const page = await newPage();
    await poll(async () => (await deployment(ab.id)).status.abTest?.result?.winner ?? null, { timeout: 30_000 }).toBe("B");
    await signIn(page, server.url, server.token, `/deployments/${ab.id}`);
    const panel = page.getByRole("region", { name: "A/B test" });
    await poll(() => panel.textContent()).toContain(`B (version ${versions.next}) is significantly better`);
    expect(await panel.textContent()).toContain("conversion");
    expect(await panel.locator("th.winner").textContent()).toBe("B (winner)");
    await expectClean(page, problems);
    await shoot(page, "deployment-ab");
    await context.close();
  });

  it("follows a canary's split and serving figures live, and rolls it back from the page without a reload", async () => {
    const { context, problems, page: newPage } = await openContext(browser);
    const page = await newPage();
    await signIn(page, server.url, server.token, `/deployments/${canary.id}`);
    const split = page.getByRole("img", { name: /^Traffic split/ });
    await poll(() => split.getAttribute("aria-label")).toBe(`Traffic split: version ${versions.good}: 90%, version ${versions.next}: 10%`);
    await poll(() => page.getByTestId("split-legend").textContent()).toContain(`new v${versions.next}: 10%`);
    const steps = page.getByRole("list", { name: "Canary steps" });
    expect(await steps.getByRole("listitem").allTextContents()).toEqual(["1. 10% (now)", "2. 50%", "3. 100%"]);
    // Per-version serving figures from the API's statistics: the stable version answered the traffic sent.
    const serving = page.getByRole("region", { name: "Serving, per version" });
    await poll(async () => Number(((await serving.getByRole("row").filter({ hasText: "stable" }).getByRole("cell").nth(2).textContent()) ?? "0").replace(/,/g, ""))).toBeGreaterThan(0);
    await expectClean(page, problems);
    await shoot(page, "deployment");

    // The page is the same document throughout: nothing reloads it.
    await page.evaluate("window.__sameDocument = true");
    await page.getByRole("button", { name: "Roll back" }).click();
    const dialog = page.getByRole("dialog", { name: "Roll back" });
    expect(await dialog.textContent()).toContain(`all traffic returns to version ${versions.good}`);
    await dialog.getByRole("button", { name: "Roll back" }).click();
    await poll(() => page.getByRole("heading", { name: /^State:/ }).textContent(), { timeout: 15_000 }).toBe("State: RolledBack");
    await poll(() => split.getAttribute("aria-label")).toBe(`Traffic split: version ${versions.good}: 100%`);
    expect(await page.evaluate("window.__sameDocument")).toBe(true);
    expect((await deployment(canary.id)).status.phase).toBe("RolledBack");
    expect(await page.getByRole("button", { name: "Roll back" }).count()).toBe(0);
    expect(await page.getByRole("list", { name: "History, newest first" }).textContent()).toMatch(/roll/i);
    expect(problems()).toEqual([]);
    await context.close();
  });
});
