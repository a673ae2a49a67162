// The jobs, compute and workspaces pages in Debian's Chromium, on a real Paved with two GPUs an
// nvidia-smi stand-in reports (utilisation that moves, memory used): the queue with why a job
// waits and the fix (a GPU another job holds; a team quota), live without reload; a job's live
// log streaming, its events and spec, cancel behind a confirmation; each GPU's utilisation and
// memory with timelines; workspaces listed, created, opened and deleted. Names, params, logs and
// experiment names carrying markup and javascript: URLs show as text; axe finds nothing serious.
import { chmodSync, mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PavedClient } from "../src/client/paved-client.ts";
import type { Job } from "../src/client/types.ts";
import { pollUntil } from "./support/poll.ts";
import { axeViolations, describeViolations, launchBrowser, openContext, screenshot, signIn, startUiServer, type UiServer } from "./support/ui.ts";

const SCRIPT = "<script>alert(1)</script>";
const IMG = '"><img src=x onerror=alert(1)>';
const JS_URL = "javascript:alert(1)";

/** What no page may ever contain: markup from user data turned into elements, or a javascript: link. */
async function expectNoInjection(page: Page): Promise<void> {
  expect(await page.locator('img[src="x"]').count()).toBe(0);
  expect(await page.locator('a[href^="javascript:"]').count()).toBe(0);
  expect(await page.locator("main script").count()).toBe(0);
}

/** Polls until the matcher holds; the pages refresh on their own, which on a busy machine takes a while. */
const eventually = <T>(read: () => T | Promise<T>, opts: { timeout?: number } = {}) => expect.poll(read, { timeout: 20_000, interval: 100, ...opts });

/** Another part of the UI may ask for feedback in a corner; screenshots show the page itself. */
async function shoot(page: Page, name: string): Promise<void> {
  const notNow = page.getByRole("button", { name: "Not now" });
  if (await notNow.isVisible()) await notNow.click();
  await screenshot(page, name);
}

async function expectAccessible(page: Page): Promise<void> {
  expect(describeViolations(await axeViolations(page))).toBe("");
}

describe("the jobs, compute and workspaces pages", () => {
  let server: UiServer;
  let browser: Browser;
  let client: PavedClient;
  let workingDir: string;
  let trainer: Job;
  let waiting: Job;
  let overQuota: Job;
  let page: Page;
  let ctx: Awaited<ReturnType<typeof openContext>>;

  const submit = (spec: Record<string, unknown>) => client.submitJob({ workingDir, hyperparameterArgs: false, team: "default", ...spec } as Parameters<PavedClient["submitJob"]>[0]);
  const phaseOf = async (id: string) => (await client.getJob(id)).phase;

  beforeAll(async () => {
    const root = mkdtempSync(join(tmpdir(), "paved-ui-jobs-"));
    workingDir = join(root, "work");
    mkdirSync(workingDir);
    // Two H100s; GPU 0's utilisation and memory move with the clock, GPU 1 idles. The 8 columns of
    // GPU_TELEMETRY_FIELDS; discovery and the samplers read the first 6.
    const smi = join(root, "nvidia-smi");
    writeFileSync(
      smi,
      `#!/bin/sh
awk -v s="$(date +%s)" 'BEGIN {
  u = int(62 + 30 * sin(s / 5)); m = int(41000 + 9000 * sin(s / 9));
  printf "0, GPU-7f3c2a10-1b2c-4d5e-8f90-a1b2c3d4e5f6, NVIDIA H100 80GB HBM3, 81559, %d, %d, 61, 402.5\\n", m, u;
  printf "1, GPU-0a9b8c7d-6e5f-4a3b-2c1d-0e9f8a7b6c5d, NVIDIA H100 80GB HBM3, 81559, 4, %d, 33, 71.0\\n", int(2 + 2 * sin(s));
}'
`,
    );
    chmodSync(smi, 0o755);
    server = await startUiServer({ config: { compute: { gpus: "auto", nvidiaSmi: smi, systemMetricsInterval: 1, cpus: 8, memoryMiB: 32768, python: "/nonexistent/python3" } } });
    client = new PavedClient({ url: server.url, token: server.token });

    // A second team the admin works in, with no GPU quota: its GPU job waits for the quota.
    await client.createTeam({ name: "vision" });
    await client.setTeamMember("vision", "admin", "developer");
    await client.setQuota("vision", { gpus: 0 });

    // The trainer holds GPU 0 and writes a line a third of a second, markup first.
    trainer = await submit({
      name: "train-resnet",
      experiment: `resnet ${IMG}`,
      command: ["/bin/sh", "-c", `printf 'fetching data 10%%\\rfetching data 100%%\\n'; printf '%s\\n' '${SCRIPT}' '${IMG.replace(/'/g, "'\\''")}' '${JS_URL}'; i=0; while [ $i -lt 900 ]; do echo "epoch $((i / 50)) step $i loss 0.$((999 - i))"; i=$((i + 1)); sleep 0.3; done`],
      hyperparameters: { lr: 0.001, note: SCRIPT, link: JS_URL, img: IMG },
      compute: { gpus: 1, cpus: 2, memory: 4096 },
    });
    await pollUntil("the trainer running", () => client.getJob(trainer.id), (j) => j.phase === "RUNNING", { timeoutMs: 60_000, fail: (j) => (j.phase === "FAILED" ? String(j.message) : undefined) });
    // Needs both GPUs: waits for the trainer's.
    waiting = await submit({ name: "train-vit-large", command: ["/bin/sh", "-c", "echo never"], compute: { gpus: 2, cpus: 2, memory: 8192 } });
    overQuota = await submit({ name: "detect-boxes", team: "vision", command: ["/bin/sh", "-c", "echo never"], compute: { gpus: 1 } });
    const done = await submit({ name: "prep-features", command: ["/bin/sh", "-c", "echo features ready"] });
    const failed = await submit({ name: "eval-baseline", command: ["/bin/sh", "-c", "echo 'no data' >&2; exit 3"] });
    for (const j of [done, failed]) await pollUntil(`${j.name} ended`, () => client.getJob(j.id), (x) => x.phase === "SUCCEEDED" || x.phase === "FAILED", { timeoutMs: 60_000 });
    await pollUntil("the waiting job's reason", () => client.getJob(waiting.id), (j) => (j.pending?.resources.length ?? 0) > 0, { timeoutMs: 30_000 });
    await pollUntil("the quota job's reason", () => client.getJob(overQuota.id), (j) => j.pending?.quota !== undefined, { timeoutMs: 30_000 });

    browser = await launchBrowser();
    ctx = await openContext(browser);
    page = await ctx.page();
    await signIn(page, server.url, server.token, "/jobs");
  }, 180_000);

  afterAll(async () => {
    await ctx?.context.close();
    await browser?.close();
    await server?.close();
  });

  it("shows the queue with why each job waits and the fix, filters by phase and team in the URL, and updates without reload", async () => {
    await page.goto(`${server.url}/jobs`);
    const waitingRow = page.locator(`tr[data-job="${waiting.id}"]`);
    await waitingRow.waitFor();
    const why = waitingRow.locator("xpath=following-sibling::tr[1]");
    await eventually(() => why.textContent()).toContain("needs 2 GPUs, 1 of 2 free");
    // The job holding the GPU is a link to it, and the fix says what to do.
    expect(await why.getByRole("link", { name: /train-resnet/ }).getAttribute("href")).toBe(`/jobs/${trainer.id}`);
    expect(await why.textContent()).toContain("resubmit asking for at most 1");
    const quotaWhy = page.locator(`tr[data-job="${overQuota.id}"]`).locator("xpath=following-sibling::tr[1]");
    expect(await quotaWhy.locator("code").textContent()).toContain("paved quotas set vision");
    expect(await page.locator(`tr[data-job="${trainer.id}"]`).getByText("RUNNING", { exact: true }).count()).toBe(1);
    await expectAccessible(page);
    await shoot(page, "jobs");

    await page.getByLabel("Phase").selectOption("QUEUED");
    await page.waitForURL((u) => u.searchParams.get("phase") === "QUEUED");
    await eventually(() => page.locator("tr[data-job]").count()).toBe(2);
    await page.getByLabel("Team").selectOption("vision");
    await page.waitForURL((u) => u.searchParams.get("team") === "vision");
    await eventually(() => page.locator("tr[data-job]").count()).toBe(1);
    expect(await page.locator(`tr[data-job="${overQuota.id}"]`).count()).toBe(1);
    // The address holds the filters: opened again, it shows the same.
    await page.goto(`${server.url}/jobs?phase=QUEUED&team=vision`);
    await eventually(() => page.locator("tr[data-job]").count()).toBe(1);
    expect(await page.getByLabel("Team").inputValue()).toBe("vision");

    // A job submitted elsewhere appears without a reload.
    await page.goto(`${server.url}/jobs?phase=QUEUED`);
    await eventually(() => page.locator("tr[data-job]").count()).toBe(2);
    const late = await submit({ name: "late-arrival", team: "vision", command: ["/bin/sh", "-c", "echo never"], compute: { gpus: 1 } });
    await page.locator(`tr[data-job="${late.id}"]`).waitFor({ timeout: 20_000 });
    await client.cancelJob(late.id);
    await eventually(() => page.locator(`tr[data-job="${late.id}"]`).count(), { timeout: 20_000 }).toBe(0);
    expect(ctx.problems()).toEqual([]);
  }, 120_000);

  it("shows each GPU's utilisation and memory with timelines, the profiles and the queue's depth", async () => {
    await page.goto(`${server.url}/compute`);
    const gpu0 = page.locator('[data-gpu="0"]');
    await gpu0.waitFor();
    expect(await gpu0.getByRole("link", { name: /train-resnet/ }).getAttribute("href")).toBe(`/jobs/${trainer.id}`);
    expect(await page.locator('[data-gpu="1"]').textContent()).toContain("free");
    // Current readings (a percentage; memory of the card's 80 GiB) and the timelines drawn.
    await eventually(() => gpu0.getByRole("meter", { name: "GPU 0 utilisation" }).getAttribute("aria-valuetext"), { timeout: 30_000 }).toMatch(/^\d+ %$/);
    expect(await gpu0.getByRole("meter", { name: "GPU 0 memory used" }).getAttribute("aria-valuetext")).toMatch(/GiB of 79\.6 GiB$/);
    await eventually(() => gpu0.locator("canvas").count(), { timeout: 30_000 }).toBeGreaterThan(0);
    // Its job's run's system metrics: the timeline goes back to before the page opened.
    await eventually(() => gpu0.textContent(), { timeout: 30_000 }).toContain("run of train-resnet");
    await eventually(() => page.getByTestId("queue-depth").textContent()).toBe("2");
    expect(await page.getByRole("cell", { name: "cpu", exact: true }).count()).toBe(1);
    // A few more readings, so the screenshot shows a line.
    await eventually(() => page.locator('[data-gpu="1"] canvas').count(), { timeout: 30_000 }).toBeGreaterThan(0);
    await page.waitForTimeout(6_000);
    await expectAccessible(page);
    await shoot(page, "compute");
    expect(ctx.problems()).toEqual([]);
  }, 120_000);

  it("streams a running job's log live, shows its events, spec and run, stops following when left, and cancels after confirming", async () => {
    const aborted: string[] = [];
    page.on("requestfailed", (r) => {
      if (r.url().includes(`/api/v1/jobs/${trainer.id}/logs`) && r.url().includes("follow=true")) aborted.push(r.url());
    });
    await page.goto(`${server.url}/jobs/${trainer.id}?tab=logs`);
    const log = page.getByTestId("job-log");
    await eventually(() => log.textContent(), { timeout: 20_000 }).toContain(SCRIPT);
    expect(await log.textContent()).toContain(IMG);
    expect(await log.textContent()).toContain(JS_URL);
    // A progress bar redrawn with \r shows as last drawn.
    expect(await log.textContent()).toContain("fetching data 100%");
    expect(await log.textContent()).not.toContain("fetching data 10%");
    await eventually(() => page.locator("[data-log-status]").getAttribute("data-log-status")).toBe("following");
    // New lines arrive on the open page.
    const stepOf = async () => Math.max(-1, ...[...((await log.textContent()) ?? "").matchAll(/step (\d+)/g)].map((m) => Number(m[1])));
    const before = await stepOf();
    await eventually(stepOf, { timeout: 20_000 }).toBeGreaterThan(before + 3);
    await expectNoInjection(page);
    await expectAccessible(page);
    await shoot(page, "job");

    // Leaving the log ends its follow.
    await page.getByRole("link", { name: "Overview" }).click();
    await page.waitForURL((u) => !u.searchParams.has("tab"));
    await eventually(() => aborted.length).toBeGreaterThan(0);
    const run = (await client.getJob(trainer.id)).runId!;
    expect(await page.getByRole("link", { name: "Open its run" }).getAttribute("href")).toBe(`/runs/${run}`);
    expect(await page.locator(".events-table").textContent()).toContain("attempt 1 started");
    expect(await page.getByText(`resnet ${IMG}`).count()).toBeGreaterThan(0);
    await expectNoInjection(page);
    await expectAccessible(page);

    await page.getByRole("link", { name: "Spec" }).click();
    await page.waitForURL((u) => u.searchParams.get("tab") === "spec");
    for (const text of [SCRIPT, IMG, JS_URL]) expect(await page.getByRole("cell", { name: text, exact: true }).count()).toBe(1);
    await expectNoInjection(page);
    await expectAccessible(page);

    // Cancel asks first; saying no leaves the job running.
    await page.getByRole("button", { name: "Cancel job" }).click();
    const dialog = page.getByRole("dialog", { name: "Cancel job" });
    await dialog.waitFor();
    expect(await dialog.textContent()).toContain("train-resnet");
    await dialog.getByRole("button", { name: "Cancel", exact: true }).click();
    expect(await phaseOf(trainer.id)).toBe("RUNNING");
    await page.getByRole("button", { name: "Cancel job" }).click();
    await dialog.getByRole("button", { name: "Cancel job" }).click();
    await eventually(() => phaseOf(trainer.id), { timeout: 30_000 }).toBe("CANCELLED");
    await eventually(() => page.locator(".job-header-meta .badge").textContent(), { timeout: 20_000 }).toBe("CANCELLED");
    expect(await page.getByRole("button", { name: "Cancel job" }).isDisabled()).toBe(true);
    // Its GPU freed, the waiting job's reason moves on.
    await pollUntil("the waiting job starting", () => client.getJob(waiting.id), (j) => j.phase !== "QUEUED" || !j.pending?.resources.some((r) => r.heldBy.some((h) => h.jobId === trainer.id)), { timeoutMs: 30_000 });
    expect(ctx.problems()).toEqual([]);
  }, 120_000);

  it("lists workspaces with state, owner, environment and idle time, creates one, shows its page, and deletes after confirming", async () => {
    let jupyterProblems = 0;
    const made = await client.createWorkspace({ team: "default", experiment: `notebooks ${SCRIPT}` });
    await page.goto(`${server.url}/workspaces`);
    const row = page.locator(`tr[data-workspace="${made.id}"]`);
    await row.waitFor();
    expect(await row.textContent()).toContain("admin");
    expect(await row.textContent()).toContain(`experiment notebooks ${SCRIPT}`);
    expect(await row.locator(".badge").textContent()).toMatch(/^(PENDING|STARTING|RUNNING|FAILED)$/);
    await expectNoInjection(page);

    // Created from the page: the form lists the catalog's environments and profiles.
    await page.getByRole("button", { name: "New workspace" }).click();
    await page.waitForURL((u) => u.searchParams.get("new") === "1");
    const envs = await client.listEnvironments();
    // The catalog's environments arrive after the form shows (with its placeholder option alone).
    await eventually(() => page.getByLabel("Environment").locator("option").count()).toBe(envs.length + 1);
    await expectAccessible(page);
    await page.getByLabel("Name").fill("churn-eda");
    await page.getByRole("button", { name: "Create workspace" }).click();
    await page.waitForURL((u) => u.pathname.startsWith("/workspace/"));
    const createdId = decodeURIComponent(new URL(page.url()).pathname.split("/")[2]!);
    await page.getByRole("heading", { name: "churn-eda", level: 1 }).waitFor();
    expect(await page.getByText(`/workspaces/${createdId}/`).count()).toBeGreaterThan(0);
    await expectAccessible(page);

    // The first one, once running (or failed: either is a state the pages show).
    const settled = await pollUntil("the workspace settling", () => client.getWorkspace(made.id), (w) => w.phase === "RUNNING" || w.phase === "FAILED", { timeoutMs: 120_000, intervalMs: 500 });
    await page.goto(`${server.url}/workspace/${made.id}`);
    await page.getByRole("heading", { name: made.name, level: 1 }).waitFor();
    await eventually(() => page.locator(".job-header-meta .badge").textContent()).toBe(settled.phase);
    expect(await page.getByRole("link", { name: `notebooks ${SCRIPT}` }).getAttribute("href")).toBe(`/experiments/${settled.experimentId}`);
    if (settled.phase === "RUNNING") {
      expect(await page.getByRole("link", { name: `/workspaces/${made.id}/` }).getAttribute("href")).toBe(`/workspaces/${made.id}/`);
      // Open makes a one-time link and opens Jupyter through Paved's proxy in a new tab (Jupyter's
      // own pages are not Paved's: what they log is not counted).
      expect(ctx.problems()).toEqual([]);
      const [tab] = await Promise.all([ctx.context.waitForEvent("page"), page.getByRole("button", { name: `Open ${made.name} in Jupyter` }).click()]);
      await tab.waitForURL((u) => u.pathname.startsWith(`/workspaces/${made.id}/`), { timeout: 30_000 });
      await tab.close();
      jupyterProblems = ctx.problems().length;
    }
    await expectNoInjection(page);
    await expectAccessible(page);
    await shoot(page, "workspace");

    await page.goto(`${server.url}/workspaces`);
    await page.locator(`tr[data-workspace="${createdId}"]`).waitFor();
    await expectAccessible(page);
    await shoot(page, "workspaces");
    // Delete asks first, then the row goes.
    await page.locator(`tr[data-workspace="${createdId}"]`).getByRole("button", { name: "Delete" }).click();
    const dialog = page.getByRole("dialog", { name: "Delete" });
    expect(await dialog.textContent()).toContain("Delete workspace churn-eda");
    await dialog.getByRole("button", { name: "Delete" }).click();
    await eventually(() => page.locator(`tr[data-workspace="${createdId}"]`).count(), { timeout: 30_000 }).toBe(0);
    await eventually(async () => (await client.listWorkspaces()).some((w) => w.id === createdId), { timeout: 30_000 }).toBe(false);
    await client.deleteWorkspace(made.id);
    expect(ctx.problems().slice(jupyterProblems)).toEqual([]);
  }, 240_000);
});
