// Issue 11's "Done when": the golden path walked in the web UI, in Debian's Chromium, on real work.
// Two quickstart jobs train the real PyTorch model (examples/quickstart); in the browser a person
// signs in, finds the quickstart run, compares it with the second run, registers it, sees the
// gate's result, watches a canary and rolls it back. Evaluations and the first production rollout
// go through the API as the CLI would send them (scripts/golden-path.ts).
import { execFile, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import { api, evaluate, MODEL_CARD, register, type Client } from "../scripts/golden-path.ts";
import { pollUntil } from "./support/poll.ts";
import { axeViolations, describeViolations, launchBrowser, openContext, screenshot, signIn, startUiServer, type UiServer } from "./support/ui.ts";

const ROOT = new URL("..", import.meta.url).pathname;
const EXAMPLE = join(ROOT, "examples/quickstart");
const hasTorch = spawnSync("/usr/bin/python3", ["-c", "import torch, sklearn"], { stdio: "ignore" }).status === 0;
const MODEL = "breast-cancer";
const WAIT = { timeout: 60_000 };

describe.skipIf(!hasTorch)(`the golden path in the web UI (${hasTorch ? "Chromium" : "skipped: /usr/bin/python3 lacks torch or sklearn; run scripts/install-deps.sh"})`, () => {
  const dir = mkdtempSync(join(tmpdir(), "paved-ui-golden-"));
  let server: UiServer;
  let client: Client;
  let browser: Browser;
  const runs = { first: "", second: "" };

  /** Submits examples/quickstart/job.yaml with extra hyperparameters, as `paved apply -f` does, and waits for its run. */
  async function train(name: string, hyperparameters: Record<string, unknown>): Promise<string> {
    const spec = parse(readFileSync(join(EXAMPLE, "job.yaml"), "utf8")) as Record<string, unknown> & { hyperparameters: Record<string, unknown> };
    const file = join(dir, `${name}.yaml`);
    writeFileSync(file, stringify({ ...spec, name, workingDir: EXAMPLE, hyperparameters: { ...spec.hyperparameters, ...hyperparameters } }));
    const { stdout } = await promisify(execFile)(process.execPath, [join(ROOT, "bin/paved.js"), "apply", "-f", file, "--json"], { env: { ...process.env, PAVED_URL: client.url, PAVED_TOKEN: client.token } });
    const job = await pollUntil(`job ${name}`, () => api<{ id: string; phase: string; runId: string | null; message: string | null }>(client, "GET", `/api/v1/jobs/${(JSON.parse(stdout) as { id: string }).id}`), (j) => ["SUCCEEDED", "FAILED", "CANCELLED"].includes(j.phase), { timeoutMs: 400_000, intervalMs: 500 });
    if (job.phase !== "SUCCEEDED" || !job.runId) throw new Error(`job ${job.id} (${name}) ended ${job.phase}: ${job.message}`);
    return job.runId;
  }

  beforeAll(async () => {
    server = await startUiServer();
    client = { url: server.url, token: server.token };
    browser = await launchBrowser();
    [runs.first, runs.second] = await Promise.all([train("ui-golden-first", {}), train("ui-golden-second", { lr: 0.003 })]);
  }, 900_000);
  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  it("sign in, find the quickstart run, compare, register, see the gate, watch the canary, roll back", { timeout: 900_000 }, async () => {
    const { context, problems, page: newPage } = await openContext(browser);
    const page = await newPage();

    // Sign in, and find the quickstart run among the experiment's runs.
    await signIn(page, server.url, server.token, "/experiments");
    await page.getByRole("link", { name: "quickstart", exact: true }).click();
    await page.waitForURL(/\/experiments\/[^/?]+/);
    const firstBox = page.getByRole("checkbox", { name: "Select run ui-golden-first" });
    const secondBox = page.getByRole("checkbox", { name: "Select run ui-golden-second" });
    await expect.poll(() => firstBox.count(), WAIT).toBe(1);
    expect(describeViolations(await axeViolations(page))).toBe("");
    await screenshot(page, "golden-runs");

    // Compare it with the second run: the differing parameter shows.
    await firstBox.check();
    await secondBox.check();
    await page.getByRole("button", { name: /^Compare/ }).click();
    await page.waitForURL(/\/compare\?runs=/);
    expect(new URL(page.url()).searchParams.get("runs")!.split(",").sort()).toEqual([runs.first, runs.second].sort());
    await expect.poll(() => page.getByText("0.003").count(), WAIT).toBeGreaterThan(0);
    await screenshot(page, "golden-compare");

    // Register the first run's model from the UI.
    await page.goto(`${server.url}/models?register=1`);
    await page.getByLabel("Model name").fill(MODEL);
    await page.getByLabel("Run ID").fill(runs.first);
    await page.getByLabel("Artifact path").fill("outputs");
    await page.getByRole("button", { name: "Register version" }).click();
    await page.waitForURL(`**/models/${MODEL}/versions/1**`);

    // The gate's result: the evaluation (as `paved evaluate` starts it) and each of its checks.
    for (const [field, value] of Object.entries(MODEL_CARD)) await api(client, "POST", "/api/2.0/mlflow/registered-models/set-tag", { name: MODEL, key: `model_card.${field}`, value });
    const evaluation = await evaluate(client, MODEL, "1", runs.first, join(dir, "csv"));
    expect(evaluation.passed, JSON.stringify(evaluation.checks.filter((c) => !c.passed))).toBe(true);
    await page.reload();
    await expect.poll(() => page.getByText("quality:accuracy").count(), WAIT).toBeGreaterThan(0);
    await expect.poll(() => page.getByText(/pass/i).count(), WAIT).toBeGreaterThan(0);
    expect(describeViolations(await axeViolations(page))).toBe("");
    await screenshot(page, "golden-gate");

    // Version 1 in production; version 2 (the second run) as a canary that waits at its first step.
    const first = await api<{ id: string }>(client, "POST", "/api/v1/deployments", { model: MODEL, version: "1", strategy: "replace" });
    await pollUntil("version 1 in production", () => api<{ status: { phase: string } }>(client, "GET", `/api/v1/deployments/${first.id}`), (d) => d.status.phase === "Succeeded");
    const second = await register(client, MODEL, runs.second);
    expect((await evaluate(client, MODEL, second, runs.second, join(dir, "csv"))).passed).toBe(true);
    const canary = await api<{ id: string }>(client, "POST", "/api/v1/deployments", { model: MODEL, version: second, strategy: "canary", steps: [10, 100], stepIntervalSeconds: 3600 });
    await pollUntil("the canary at 10%", () => api<{ status: { currentStep: number | null } }>(client, "GET", `/api/v1/deployments/${canary.id}`), (d) => d.status.currentStep === 0);

    // Watch the canary in the UI, then roll it back from there: the page shows it without a reload.
    await page.goto(`${server.url}/deployments/${canary.id}`);
    await expect.poll(() => page.getByText(/10\s*%/).count(), WAIT).toBeGreaterThan(0);
    expect(describeViolations(await axeViolations(page))).toBe("");
    await screenshot(page, "golden-canary");
    const navigations: string[] = [];
    page.on("framenavigated", (frame) => frame === page.mainFrame() && navigations.push(frame.url()));
    await page.getByRole("button", { name: "Roll back" }).click();
    await page.getByRole("dialog").getByRole("button", { name: "Roll back" }).click();
    await expect.poll(() => page.getByText("RolledBack").count(), WAIT).toBeGreaterThan(0);
    expect(navigations).toEqual([]);
    const after = await api<{ status: { phase: string } }>(client, "GET", `/api/v1/deployments/${canary.id}`);
    expect(after.status.phase).toBe("RolledBack");
    expect((await api<{ aliases: Record<string, string> }>(client, "GET", `/api/v1/models/${MODEL}`)).aliases.production).toBe("1");
    await screenshot(page, "golden-rolled-back");
    expect(problems()).toEqual([]);
    await context.close();
  });
});
