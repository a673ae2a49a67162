// The web UI's home page and administration in Debian's Chromium, against a real Paved with real
// data made through the API: a developer's runs, job, models on the golden path (one evaluated,
// in production and now at canary with its next version; one whose gate failed) and deployment;
// a platform admin managing teams, users, quotas, budgets, tokens and reading the audit log; the
// developer refused by the server where only admins may go, with the server's own words.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Browser, Page } from "playwright-core";
import { pollUntil } from "./support/poll.ts";
import { createMembers } from "./support/teams.ts";
import { axeViolations, describeViolations, launchBrowser, openContext, screenshot, signIn, startUiServer, type UiServer } from "./support/ui.ts";

const XSS = ["<script>alert(1)</script>", '"><img src=x onerror=alert(1)>', "javascript:alert(1)"] as const;
/** Waits for what the page shows: a page load on a busy machine takes seconds, more than expect.poll's default second. */
const poll = <T>(read: () => T | Promise<T>) => expect.poll(read, { timeout: 30_000, interval: 100 });
const POLICY = "checks:\n  - {type: quality, metric: accuracy, min: 0.8}\n";

describe("web UI: home and administration", () => {
  let server: UiServer;
  let browser: Browser;
  let dev: { authorization: string };
  let devToken = "";
  let leadToken = "";
  let canaryId = "";
  const data = mkdtempSync(join(tmpdir(), "paved-ui-admin-"));

  /** Calls the API as `who` (default: the platform admin); throws on an error answer. */
  const call = async <T = any>(method: string, path: string, body?: unknown, who: { authorization: string } | undefined = undefined, raw?: Uint8Array): Promise<T> => {
    if (!who) return server.api<T>(method, path, body);
    const response = await fetch(`${server.url}${path}`, {
      method,
      headers: { ...who, ...(raw ? { "content-type": "application/octet-stream" } : body === undefined ? {} : { "content-type": "application/json" }) },
      body: raw ?? (body === undefined ? undefined : JSON.stringify(body)),
    });
    const text = await response.text();
    if (!response.ok) throw new Error(`${method} ${path}: HTTP ${response.status} ${text}`);
    return (text ? JSON.parse(text) : undefined) as T;
  };

  /** A run of the developer's holding an ONNX model, registered as the model's next version. */
  const register = async (model: string, experimentId: string, onnx: string, description?: string) => {
    const { run } = await call("POST", "/api/2.0/mlflow/runs/create", { experiment_id: experimentId, start_time: Date.now(), run_name: `train-${model}` }, dev);
    const response = await fetch(`${server.url}/api/2.0/mlflow-artifacts/artifacts/${experimentId}/${run.info.run_id}/artifacts/model/model.onnx`, { method: "PUT", headers: dev, body: readFileSync(join(data, onnx)) });
    expect(response.status).toBe(200);
    await call("POST", "/api/2.0/mlflow/runs/update", { run_id: run.info.run_id, status: "FINISHED", end_time: Date.now() }, dev);
    return call<{ version: string }>("POST", `/api/v1/models/${model}/versions`, { source: `runs:/${run.info.run_id}/model`, ...(description ? { description } : {}) }, dev);
  };
  const evaluate = async (model: string, version: string, uri: string) => {
    const started = await call<{ id: string }>("POST", `/api/v1/models/${model}/versions/${version}/evaluations`, { data: uri, sensitive: ["group"] }, dev);
    return pollUntil(`evaluation of ${model} v${version}`, () => call<{ phase: string }>("GET", `/api/v1/evaluations/${started.id}`, undefined, dev), (e) => !["Pending", "Running"].includes(e.phase), { timeoutMs: 120_000, intervalMs: 200 });
  };

  beforeAll(async () => {
    server = await startUiServer();
    browser = await launchBrowser();
    execFileSync("/usr/bin/python3", [new URL("../src/modules/evaluation/test-data.py", import.meta.url).pathname, data], { stdio: ["ignore", "ignore", "pipe"] });
    const members = await createMembers(server.app, server.admin, ["vision"], { dev: [{ team: "vision", role: "developer" }], lead: [{ team: "vision", role: "admin" }] });
    dev = members.dev;
    devToken = dev.authorization.slice("Bearer ".length);
    leadToken = members.lead.authorization.slice("Bearer ".length);
    await call("POST", "/api/v1/users", { name: "eve", displayName: XSS[1], email: "eve@example.com" });
    await call("POST", "/api/v1/teams", { name: "research", description: XSS[0] });

    // The developer's runs, two named with markup.
    const { experiment_id: experimentId } = await call("POST", "/api/2.0/mlflow/experiments/create", { name: "churn" }, dev);
    for (const name of XSS.slice(0, 2)) {
      await call("POST", "/api/2.0/mlflow/runs/create", { experiment_id: experimentId, start_time: Date.now(), run_name: name, tags: [{ key: "note", value: XSS[2] }] }, dev);
    }
    // A job of the developer's.
    const job = await call<{ id: string }>("POST", "/api/v1/jobs", { name: "train-churn", team: "vision", command: [process.execPath, "-e", "console.log('trained')"], workingDir: data, hyperparameterArgs: false }, dev);
    await pollUntil("the job", () => call<{ phase: string }>("GET", `/api/v1/jobs/${job.id}`, undefined, dev), (j) => ["SUCCEEDED", "FAILED", "CANCELLED"].includes(j.phase), { timeoutMs: 120_000, intervalMs: 200 });

    // churn: v1 evaluated and in production; v2 evaluated and a canary at 20%. fraud: its gate failed.
    const uri = (await call<{ uri: string }>("POST", "/api/v1/evaluation-data?team=vision", undefined, dev, readFileSync(join(data, "eval.csv")))).uri;
    const v1 = await register("churn", experimentId, "good.onnx", XSS[1]);
    await call("PUT", "/api/v1/models/churn/gate-policy", { yaml: POLICY });
    expect((await evaluate("churn", v1.version, uri)).phase).toBe("Passed");
    const first = await call<{ id: string }>("POST", "/api/v1/deployments", { model: "churn", version: v1.version, environment: "production", strategy: "canary" }, dev);
    await pollUntil("churn v1 in production", () => call<{ status: { phase: string } }>("GET", `/api/v1/deployments/${first.id}`, undefined, dev), (d) => d.status.phase === "Succeeded", { timeoutMs: 120_000, intervalMs: 200, fail: (d) => (["Failed", "RolledBack"].includes(d.status.phase) ? JSON.stringify(d.status) : undefined) });
    const v2 = await register("churn", experimentId, "good.onnx");
    expect((await evaluate("churn", v2.version, uri)).phase).toBe("Passed");
    const canary = await call<{ id: string }>("POST", "/api/v1/deployments", { model: "churn", version: v2.version, environment: "production", strategy: "canary", steps: [20, 100], stepIntervalSeconds: 3600 }, dev);
    canaryId = canary.id;
    await pollUntil("churn v2 at canary", () => call<{ status: { phase: string; canaryWeight: number } }>("GET", `/api/v1/deployments/${canary.id}`, undefined, dev), (d) => d.status.canaryWeight === 20, { timeoutMs: 120_000, intervalMs: 200 });
    const fraud = await register("fraud", experimentId, "bad.onnx");
    await call("PUT", "/api/v1/models/fraud/gate-policy", { yaml: POLICY });
    expect((await evaluate("fraud", fraud.version, uri)).phase).toBe("Failed");
  }, 420_000);

  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  const noViolations = async (page: Page, what: string) => {
    const violations = await axeViolations(page);
    expect(violations, `${what}: ${describeViolations(violations)}`).toEqual([]);
  };

  it("home: the developer's runs, job and deployments link to their pages, and each model's place on the golden path", async () => {
    const { context, problems, page: open } = await openContext(browser);
    const page = await open();
    await signIn(page, server.url, devToken, "/");
    const runs = page.getByRole("region", { name: "My recent runs" });
    // Names written with markup are text, never elements.
    for (const name of XSS.slice(0, 2)) await poll(() => runs.getByRole("link", { name, exact: true }).count()).toBe(1);
    const runHref = await runs.getByRole("link", { name: XSS[0], exact: true }).getAttribute("href");
    expect(runHref).toMatch(/^\/runs\/[\w-]+$/);
    expect(await page.locator("main img").count()).toBe(0);
    expect(await page.locator("main script").count()).toBe(0);

    const jobs = page.getByRole("region", { name: "My recent jobs" });
    await poll(() => jobs.getByRole("link", { name: "train-churn" }).getAttribute("href")).toMatch(/^\/jobs\/[\w-]+$/);
    const deployments = page.getByRole("region", { name: "My deployments" });
    await poll(() => deployments.getByRole("link").filter({ hasText: "churn v2" }).count()).toBe(1);
    expect(await deployments.getByRole("link").filter({ hasText: "churn v2" }).getAttribute("href")).toMatch(/^\/deployments\/[\w-]+$/);
    await poll(() => page.getByRole("region", { name: "My workspaces" }).innerText()).toContain("No workspaces");

    // The golden path, as text: churn v2 passed its gate and is at canary (20%), while production serves v1; fraud failed its gate.
    const churn = page.getByRole("list", { name: "churn: golden path" });
    await poll(() => churn.innerText()).toContain("canary");
    const steps = async (list: typeof churn) => (await list.locator("li").allInnerTexts()).map((t) => t.replace(/\s+/g, " ").trim());
    expect(await steps(churn)).toEqual(["✓ trained done: run", "✓ registered done: version 2", "✓ gated done: gate passed", "● canary in progress: 20% of traffic", "○ production not yet: serves v1"]);
    expect(await page.getByText("production serves v1").count()).toBe(1);
    const fraud = page.getByRole("list", { name: "fraud: golden path" });
    expect((await steps(fraud))[2]).toBe("✗ gated failed: gate failed");
    expect(await churn.getByRole("link", { name: "20% of traffic" }).getAttribute("href")).toMatch(/^\/deployments\/[\w-]+$/);

    await noViolations(page, "home");
    await screenshot(page, "home");
    // Live: the canary rolled back elsewhere shows here without a reload.
    await call("POST", `/api/v1/deployments/${canaryId}/rollback`, undefined, dev);
    await poll(async () => (await steps(churn))[3]).toBe("✗ canary failed: rolled back");
    // The scope is in the URL: the teams' models.
    await page.getByRole("link", { name: "My teams'" }).click();
    await page.waitForURL(/\?models=teams$/);
    await poll(() => page.getByRole("heading", { name: "My teams' models on the golden path" }).count()).toBe(1);
    expect(problems()).toEqual([]);
    await context.close();
  }, 240_000);

  it("admin as a developer: the server's refusals are shown in its words, and what is theirs still works", async () => {
    const { context, problems, page: open } = await openContext(browser);
    const page = await open();
    await signIn(page, server.url, devToken, "/admin?tab=users");
    await poll(() => page.getByRole("alert").innerText()).toMatch(/^FORBIDDEN: 'users:read' needs a platform admin/);
    await noViolations(page, "admin users, refused");

    await page.goto(`${server.url}/admin?tab=audit&actor=dev`);
    await poll(() => page.getByRole("alert").innerText()).toMatch(/^FORBIDDEN: 'audit:read' needs a platform admin/);
    expect(await page.getByLabel("Actor").inputValue()).toBe("dev");

    await page.goto(`${server.url}/admin?tab=tokens&all=1`);
    await poll(() => page.getByRole("alert").innerText()).toMatch(/^FORBIDDEN:/);

    // Their team, where a developer may look but not change roles.
    await page.goto(`${server.url}/admin?team=vision`);
    await poll(() => page.getByRole("heading", { name: "Team vision" }).count()).toBe(1);
    await page.getByLabel("Role of lead").selectOption("viewer");
    await poll(() => page.getByRole("alert").innerText()).toMatch(/^FORBIDDEN:/);
    expect((await call<{ members: { user: string; role: string }[] }>("GET", "/api/v1/teams/vision")).members.find((m) => m.user === "lead")?.role).toBe("admin");

    // Their own tokens: create one, see it, revoke it (with confirmation).
    await page.goto(`${server.url}/admin?tab=tokens`);
    await page.getByLabel("What it is for").fill(XSS[2]);
    await page.getByRole("button", { name: "Create token" }).click();
    await poll(() => page.getByRole("status").filter({ hasText: "Copy it now" }).count()).toBe(1);
    const row = page.getByRole("row").filter({ hasText: XSS[2] });
    await poll(() => row.count()).toBe(1);
    expect(await page.locator(`a[href^="javascript"]`).count()).toBe(0);
    await row.getByRole("button", { name: `Revoke ${XSS[2]}` }).click();
    await page.getByRole("dialog").getByRole("button", { name: `Revoke ${XSS[2]}` }).click();
    await poll(() => row.count()).toBe(0);
    expect((await call<{ tokens: { name: string }[] }>("GET", "/api/v1/tokens", undefined, dev)).tokens.map((t) => t.name)).not.toContain(XSS[2]);
    expect(problems()).toEqual([]);
    await context.close();
  }, 240_000);

  it("admin as a team admin: their team only, members changed, users refused", async () => {
    const { context, problems, page: open } = await openContext(browser);
    const page = await open();
    await signIn(page, server.url, leadToken, "/admin");
    await poll(() => page.getByRole("heading", { name: "Team vision" }).count()).toBe(1);
    expect(await page.getByRole("navigation", { name: "Administration" }).isVisible()).toBe(true);
    expect(await page.locator(".team-list li").allInnerTexts()).toEqual(["vision"]);
    await page.getByLabel("User", { exact: true }).fill("eve");
    await page.getByLabel("Role", { exact: true }).selectOption("viewer");
    await page.getByRole("button", { name: "Add member" }).click();
    await poll(() => page.getByLabel("Role of eve").count()).toBe(1);
    await page.getByRole("button", { name: "Remove eve" }).click();
    await page.getByRole("dialog").getByRole("button", { name: "Remove eve" }).click();
    await poll(() => page.getByLabel("Role of eve").count()).toBe(0);
    // Creating teams is a platform admin's: the form is not offered.
    expect(await page.getByRole("form", { name: "Create a team" }).count()).toBe(0);
    await page.getByRole("link", { name: "Users", exact: true }).click();
    await poll(() => page.getByRole("alert").innerText()).toMatch(/^FORBIDDEN:/);
    expect(problems()).toEqual([]);
    await context.close();
  }, 240_000);

  it("admin as a platform admin: members and roles, users, quotas, budgets and costs, everyone's tokens, the audit log paged", async () => {
    await call("POST", "/api/v1/tokens", { name: XSS[0], expiresInDays: 30 }, dev);
    // Refused creations are audited: more than a page of them.
    await Promise.all(Array.from({ length: 55 }, (_, i) => fetch(`${server.url}/api/v1/teams`, { method: "POST", headers: { ...server.admin, "content-type": "application/json" }, body: JSON.stringify({ name: `Bad_${i}` }) })));

    const { context, problems, page: open } = await openContext(browser);
    const page = await open();
    await signIn(page, server.url, server.token, "/admin?team=research");
    await poll(() => page.getByText(XSS[0], { exact: true }).count()).toBe(1);
    await page.getByRole("link", { name: "vision", exact: true }).click();
    await page.waitForURL(/team=vision/);

    // Add eve as a viewer, make dev a maintainer, take eve out again.
    await page.getByLabel("User", { exact: true }).fill("eve");
    await page.getByLabel("Role", { exact: true }).selectOption("viewer");
    await page.getByRole("button", { name: "Add member" }).click();
    await poll(() => page.getByLabel("Role of eve").count()).toBe(1);
    await page.getByLabel("Role of dev").selectOption("maintainer");
    await poll(async () => (await call<{ members: { user: string; role: string }[] }>("GET", "/api/v1/teams/vision")).members.find((m) => m.user === "dev")?.role).toBe("maintainer");
    await noViolations(page, "admin teams");
    await screenshot(page, "admin-teams");
    await page.getByRole("button", { name: "Remove eve" }).click();
    await page.getByRole("dialog").getByRole("button", { name: "Remove eve" }).click();
    await poll(() => page.getByLabel("Role of eve").count()).toBe(0);
    expect((await call<{ members: { user: string }[] }>("GET", "/api/v1/teams/vision")).members.map((m) => m.user).sort()).toEqual(["dev", "lead"]);

    // Users: a display name written with markup is text.
    await page.getByRole("link", { name: "Users", exact: true }).click();
    await page.waitForURL(/tab=users/);
    await poll(() => page.getByRole("cell", { name: XSS[1], exact: true }).count()).toBe(1);
    expect(await page.locator("main img").count()).toBe(0);
    await noViolations(page, "admin users");
    await screenshot(page, "admin-users");

    // Quotas: set vision's GPUs.
    await page.goto(`${server.url}/admin?tab=quotas`);
    const form = page.getByRole("form", { name: "Set the quota of vision" });
    await form.getByLabel("GPUs", { exact: true }).fill("4");
    await form.getByLabel("Memory (MiB or 64Gi)").fill("64Gi");
    await form.getByRole("button", { name: "Save quota" }).click();
    await poll(async () => (await call<{ settings: { gpus?: number; memoryMiB?: number } }>("GET", "/api/v1/teams/vision/quotas")).settings).toMatchObject({ gpus: 4, memoryMiB: 65536 });
    await noViolations(page, "admin quotas");
    await screenshot(page, "admin-quotas");

    // Budgets and costs, grouped by user in the URL.
    await page.goto(`${server.url}/admin?tab=costs&by=user`);
    await poll(() => page.getByLabel("Itemised by").inputValue()).toBe("user");
    await page.getByRole("form", { name: "Set a budget" }).getByLabel("Team").selectOption("vision");
    await page.getByLabel("Amount per month").fill("500");
    await page.getByRole("button", { name: "Set budget" }).click();
    await poll(() => page.getByRole("row").filter({ hasText: "vision" }).filter({ has: page.getByRole("button", { name: "Remove budget of vision" }) }).count()).toBe(1);
    expect((await call<{ amount: number }>("GET", "/api/v1/budgets/vision")).amount).toBe(500);
    await page.getByLabel("Team", { exact: true }).first().selectOption("vision");
    await page.waitForURL(/team=vision/);
    await noViolations(page, "admin costs");
    await screenshot(page, "admin-costs");

    // Everyone's tokens: the developer's, named with markup, revoked after confirming.
    await page.goto(`${server.url}/admin?tab=tokens&all=1`);
    const row = page.getByRole("row").filter({ hasText: XSS[0] });
    await poll(() => row.count()).toBe(1);
    expect(await row.innerText()).toContain("dev");
    await noViolations(page, "admin tokens");
    await screenshot(page, "admin-tokens");
    await row.getByRole("button", { name: `Revoke ${XSS[0]}` }).click();
    await page.getByRole("dialog").getByRole("button", { name: "Cancel" }).click();
    expect(await row.count()).toBe(1);
    await row.getByRole("button", { name: `Revoke ${XSS[0]}` }).click();
    await page.getByRole("dialog").getByRole("button", { name: `Revoke ${XSS[0]}` }).click();
    await poll(() => row.count()).toBe(0);
    expect((await call<{ tokens: { name: string }[] }>("GET", "/api/v1/tokens", undefined, dev)).tokens.map((t) => t.name)).not.toContain(XSS[0]);

    // The audit log: filters in the URL, a page of 50 and the next.
    await page.goto(`${server.url}/admin?tab=audit`);
    await page.getByLabel("Action").fill("teams:create");
    await page.getByLabel("Outcome").fill("failure");
    await page.getByRole("button", { name: "Filter" }).click();
    await page.waitForURL(/action=teams%3Acreate/);
    expect(new URL(page.url()).searchParams.get("outcome")).toBe("failure");
    const records = page.locator("tbody tr");
    // The unfiltered page stays on screen until the filtered one arrives: wait for 50 refused creations.
    await poll(async () => (await records.allInnerTexts()).filter((t) => /teams:create[\s\S]*400 INVALID_INPUT/.test(t)).length).toBe(50);
    expect(await records.count()).toBe(50);
    await noViolations(page, "admin audit");
    await screenshot(page, "admin-audit");
    await page.getByRole("link", { name: "Older records" }).click();
    await page.waitForURL(/page=/);
    await poll(() => records.count()).toBe(5);
    // The page is its URL: opened afresh, it shows the same records.
    await page.reload();
    await poll(() => records.count()).toBe(5);
    await page.goBack();
    await poll(() => records.count()).toBe(50);
    expect(problems()).toEqual([]);
    await context.close();
  }, 240_000);
});
