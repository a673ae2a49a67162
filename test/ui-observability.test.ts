// Issue 12's pages in Debian's Chromium: a monitor of a served model with real traffic (its windows
// and per-feature drift), the adoption figures for platform admins, and the satisfaction prompt
// after a milestone (sent, recorded, not asked again).
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { pollUntil } from "./support/poll.ts";
import { axeViolations, describeViolations, launchBrowser, openContext, screenshot, signIn, startUiServer, type UiServer } from "./support/ui.ts";

const XSS = `<script>alert(1)</script>"><img src=x onerror=alert(1)>`;

describe("monitoring, adoption and the feedback prompt in the UI", () => {
  let server: UiServer;
  let browser: Browser;
  let monitorId = "";
  const data = join(mkdtempSync(join(tmpdir(), "paved-ui-obs-")), "data");

  beforeAll(async () => {
    mkdirSync(data, { recursive: true });
    // The evaluation's test data: a trained model, its training CSV (the monitor's reference) and an evaluation CSV.
    execFileSync("/usr/bin/python3", [new URL("../src/modules/evaluation/test-data.py", import.meta.url).pathname, data], { stdio: ["ignore", "ignore", "pipe"] });
    server = await startUiServer({ config: { monitoring: { intervalSeconds: 0.25 } } });
    browser = await launchBrowser();
    const put = async (path: string, bytes: Buffer) => {
      const res = await fetch(`${server.url}${path}`, { method: "PUT", headers: { ...server.admin, "content-type": "application/octet-stream" }, body: bytes });
      expect(res.status, await res.text()).toBe(200);
    };
    const { run } = await server.api("POST", "/api/2.0/mlflow/runs/create", { experiment_id: "0", start_time: Date.now() });
    const runId = run.info.run_id as string;
    await put(`/api/2.0/mlflow-artifacts/artifacts/0/${runId}/artifacts/model/model.onnx`, readFileSync(join(data, "good.onnx")));
    await put(`/api/2.0/mlflow-artifacts/artifacts/0/${runId}/artifacts/data/train.csv`, readFileSync(join(data, "train.csv")));
    await server.api("POST", "/api/2.0/mlflow/runs/log-inputs", { run_id: runId, datasets: [{ dataset: { name: "train", digest: "d1", source_type: "local", source: `runs:/${runId}/data/train.csv` } }] });
    const { version } = await server.api("POST", "/api/v1/models/churn/versions", { source: `runs:/${runId}/model` });
    const upload = await fetch(`${server.url}/api/v1/evaluation-data`, { method: "POST", headers: { ...server.admin, "content-type": "text/csv" }, body: readFileSync(join(data, "eval.csv")) });
    const { uri } = (await upload.json()) as { uri: string };
    const evaluation = await server.api("POST", `/api/v1/models/churn/versions/${version}/evaluations`, { data: uri, sensitive: ["group"] });
    await pollUntil("the evaluation", () => server.api("GET", `/api/v1/evaluations/${evaluation.id}`), (e) => !["Pending", "Running"].includes(e.phase));
    const deployment = await server.api("POST", "/api/v1/deployments", { model: "churn", version, environment: "staging", strategy: "replace" });
    await pollUntil("the staging rollout", () => server.api("GET", `/api/v1/deployments/${deployment.id}`), (d) => d.status.phase === "Succeeded");
    // Deploying made a monitor with the default 5-minute windows: replace it with a 5-second one.
    await server.api("DELETE", `/api/v1/monitors/${deployment.monitor.id}`);
    const monitor = await server.api("POST", "/api/v1/monitors", { model: "churn", version: Number(version), environment: "staging", windowSeconds: 5, minRows: 20 });
    monitorId = monitor.id;
    // Traffic until a window with judged features has closed.
    const rows = readFileSync(join(data, "eval.csv"), "utf8").trim().split("\n").slice(1).map((l) => l.split(",").slice(0, 3).map(Number));
    await pollUntil(
      "a judged window",
      async () => {
        const batch = Array.from({ length: 20 }, (_, i) => rows[i % rows.length]!);
        const res = await fetch(`${server.url}/environments/staging/v2/models/churn/infer`, {
          method: "POST",
          headers: { ...server.admin, "content-type": "application/json" },
          body: JSON.stringify({ inputs: [{ name: "features", shape: [20, 3], datatype: "FP32", data: batch.flat() }] }),
        });
        expect(res.status, await res.clone().text()).toBe(200);
        await res.arrayBuffer();
        return server.api("GET", `/api/v1/monitors/${monitorId}/windows`);
      },
      (w: { windows: { figures: { features: unknown[] } }[] }) => w.windows.some((x) => x.figures.features.length > 0),
      { timeoutMs: 90_000 },
    );
  }, 180_000);
  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  it("shows the monitors and one monitor's windows and per-feature drift", { timeout: 180_000 }, async () => {
    const { context, problems, page: newPage } = await openContext(browser);
    const page = await newPage();
    await signIn(page, server.url, server.token, "/monitors");
    await expect.poll(() => page.getByRole("link", { name: "churn v1" }).count(), { timeout: 30_000 }).toBe(1);
    expect(describeViolations(await axeViolations(page))).toBe("");
    await screenshot(page, "monitors");
    await page.getByRole("link", { name: "churn v1" }).click();
    await page.waitForURL(`**/monitors/${monitorId}`);
    await expect.poll(() => page.getByRole("cell", { name: "f0", exact: true }).count(), { timeout: 30_000 }).toBeGreaterThan(0);
    await expect.poll(() => page.getByRole("heading", { name: "Windows" }).count(), { timeout: 30_000 }).toBe(1);
    expect(await page.locator("section", { has: page.getByRole("heading", { name: "Windows" }) }).locator("tbody tr").count()).toBeGreaterThan(0);
    expect(describeViolations(await axeViolations(page))).toBe("");
    await screenshot(page, "monitor");
    expect(problems()).toEqual([]);
    await context.close();
  });

  it("asks how it went after a milestone, records the answer as text, and does not ask again", { timeout: 180_000 }, async () => {
    const { context, problems, page: newPage } = await openContext(browser);
    const page = await newPage();
    // The admin registered a model (beforeAll): the prompt names that milestone.
    await signIn(page, server.url, server.token, "/");
    const prompt = page.getByRole("complementary", { name: "Feedback" });
    await expect.poll(() => prompt.textContent(), { timeout: 30_000 }).toContain("your first registered model");
    expect(describeViolations(await axeViolations(page))).toBe("");
    await prompt.getByLabel("4").check();
    await prompt.getByLabel("What went well or badly? (optional)").fill(XSS);
    await prompt.getByRole("button", { name: "Send feedback" }).click();
    await expect.poll(() => prompt.textContent(), { timeout: 30_000 }).toContain("Thank you");
    const report = await server.api("GET", "/api/v1/adoption?perUser=true");
    expect(report.feedback).toEqual([expect.objectContaining({ score: 4, comment: XSS, context: "first-registered-model" })]);
    const asked = page.waitForResponse((r) => r.url().endsWith("/api/v1/feedback/prompt"));
    await page.reload();
    expect(await (await asked).json()).toEqual({ milestone: null, reachedAt: null });
    await expect.poll(() => page.getByRole("navigation", { name: "Main" }).count(), { timeout: 30_000 }).toBe(1);
    expect(await page.getByRole("complementary", { name: "Feedback" }).count()).toBe(0);
    expect(problems()).toEqual([]);
    await context.close();
  });

  it("shows the adoption figures to a platform admin", { timeout: 180_000 }, async () => {
    const { context, problems, page: newPage } = await openContext(browser);
    const page = await newPage();
    await signIn(page, server.url, server.token, "/adoption?since=7d");
    await expect.poll(() => page.getByRole("heading", { name: "The golden path" }).count(), { timeout: 30_000 }).toBe(1);
    await expect.poll(() => page.getByRole("cell", { name: "Registered a model" }).count(), { timeout: 30_000 }).toBe(1);
    expect(await page.getByLabel("Window").inputValue()).toBe("7d");
    expect(describeViolations(await axeViolations(page))).toBe("");
    await screenshot(page, "adoption");
    expect(problems()).toEqual([]);
    await context.close();
  });
});
