// The web UI's shell in Debian's Chromium: served by the API server itself with a strict CSP, token
// sign-in that keeps the page the user asked for, a session a job's token cannot open, and an
// ended session that sends the user back to sign-in and then to where they were.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Browser } from "playwright-core";
import { BOOTSTRAP_ADMIN_ID } from "../src/storage/index.ts";
import { axeViolations, describeViolations, launchBrowser, openContext, screenshot, signIn, startUiServer, type UiServer } from "./support/ui.ts";

describe("the web UI's shell", () => {
  let server: UiServer;
  let browser: Browser;

  beforeAll(async () => {
    server = await startUiServer();
    browser = await launchBrowser();
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  it("serves the app to browsers under a CSP without inline scripts, and keeps the API's 404s in JSON", async () => {
    const page = await fetch(`${server.url}/models/churn?tab=versions`, { headers: { accept: "text/html" } });
    expect(page.status).toBe(200);
    expect(page.headers.get("content-type")).toContain("text/html");
    const csp = page.headers.get("content-security-policy") ?? "";
    expect(csp).toContain("script-src 'self'");
    expect(csp).not.toContain("unsafe-inline");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(page.headers.get("x-frame-options")).toBe("DENY");
    const html = await page.text();
    expect(html).toMatch(/<script type="module" crossorigin src="\/assets\/index-[\w-]+\.js"><\/script>/);
    // No inline script at all: every <script> names a file.
    expect(html.match(/<script(?![^>]*\bsrc=)[^>]*>/g) ?? []).toEqual([]);

    const script = html.match(/src="(\/assets\/index-[\w-]+\.js)"/)![1]!;
    const asset = await fetch(`${server.url}${script}`);
    expect(asset.status).toBe(200);
    expect(asset.headers.get("content-type")).toContain("text/javascript");
    expect(asset.headers.get("cache-control")).toContain("immutable");

    const api = await fetch(`${server.url}/api/v1/no-such-thing`, { headers: { accept: "text/html" } });
    expect(api.status).toBe(404);
    expect(await api.json()).toMatchObject({ error: { code: "NOT_FOUND" } });
    // A script's request (no text/html) for an unknown path gets the API's 404 too.
    expect((await fetch(`${server.url}/models`)).status).toBe(404);
  });

  it("serves a run's artifact as a download that never runs: HTML and SVG stay bytes, not pages", async () => {
    const { run } = await server.api("POST", "/api/2.0/mlflow/runs/create", { experiment_id: "0", start_time: Date.now() });
    const runId = run.info.run_id as string;
    for (const [name, body] of [
      ["report.html", "<html><script>alert(1)</script></html>"],
      ["chart.svg", '<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"></svg>'],
    ] as const) {
      const put = await fetch(`${server.url}/api/2.0/mlflow-artifacts/artifacts/0/${runId}/artifacts/${name}`, { method: "PUT", headers: { ...server.admin, "content-type": "text/html" }, body });
      expect(put.status).toBe(200);
      const got = await fetch(`${server.url}/api/v1/runs/${runId}/artifacts/content?path=${name}`, { headers: server.admin });
      expect(got.status).toBe(200);
      expect(got.headers.get("content-type")).toBe("application/octet-stream");
      expect(got.headers.get("content-disposition")).toBe("attachment");
      expect(got.headers.get("x-content-type-options")).toBe("nosniff");
      expect(await got.text()).toBe(body);
    }
  });

  it("names no file outside the build: traversal, odd names and missing assets are 404s", async () => {
    for (const path of ["/assets/..%2f..%2fpackage.json", "/assets/../../package.json", "/..%2fpackage.json", "/assets/nope.js", "/package.json", "/index.html.map", "/assets/%2e%2e/index.html"]) {
      const response = await fetch(`${server.url}${path}`);
      expect(response.status, path).toBe(404);
      expect(await response.text(), path).not.toContain('"name": "paved"');
    }
  });

  it("opens a session with a personal token, never with a job's token, and never beyond the token's expiry", async () => {
    const expiresAt = Date.now() + 60 * 60 * 1000;
    // An hour: shorter than a session (12 h), so the session must end with the token.
    const created = await server.app.tokens.createPersonal({ userId: BOOTSTRAP_ADMIN_ID, name: "browser", expiresAt });
    const response = await fetch(`${server.url}/auth/session`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ token: created.token }) });
    expect(response.status).toBe(200);
    const cookie = response.headers.getSetCookie()[0]!;
    expect(cookie).toMatch(/^paved_session=[\w-]+; /);
    expect(cookie).toContain("HttpOnly");
    expect(cookie).toContain("SameSite=Lax");
    const session = (await response.json()) as { name: string; expiresAt: number; csrfToken: string };
    expect(session.name).toBe("admin");
    expect(session.expiresAt).toBeLessThanOrEqual(expiresAt);
    expect(session.csrfToken).toMatch(/^[\w-]{20,}$/);

    const jobToken = await server.app.tokens.mintForJob("job-not-real", 60_000);
    const refused = await fetch(`${server.url}/auth/session`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ token: jobToken }) });
    expect(refused.status).toBe(401);
    expect(refused.headers.getSetCookie()).toEqual([]);
    expect(((await refused.json()) as { error: { message: string } }).error.message).toContain("paved tokens create");

    const wrong = await fetch(`${server.url}/auth/session`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ token: "pvd_not-a-token" }) });
    expect(wrong.status).toBe(401);
    const empty = await fetch(`${server.url}/auth/session`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({}) });
    expect(empty.status).toBe(400);
  });

  it("sends a visitor to sign-in, then to the page they asked for; an ended session returns there again", { timeout: 180_000 }, async () => {
    const { context, problems, page: newPage } = await openContext(browser);
    const page = await newPage();
    await page.goto(`${server.url}/jobs?phase=RUNNING`);
    await page.waitForURL(/\/sign-in\?return_to=/);
    expect(new URL(page.url()).searchParams.get("return_to")).toBe("/jobs?phase=RUNNING");
    expect(describeViolations(await axeViolations(page))).toBe("");
    await screenshot(page, "sign-in");

    await page.getByLabel("Personal token").fill("pvd_wrong");
    await page.getByRole("button", { name: "Sign in" }).click();
    await expect.poll(() => page.getByRole("alert").textContent(), { timeout: 30_000 }).toContain("UNAUTHENTICATED");

    await page.getByLabel("Personal token").fill(server.token);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.waitForURL((u) => u.pathname === "/jobs");
    expect(new URL(page.url()).search).toBe("?phase=RUNNING");
    // The token is not kept anywhere a script could read it.
    expect(await page.evaluate("JSON.stringify({ ...localStorage }) + JSON.stringify({ ...sessionStorage }) + document.cookie")).not.toContain(server.token);

    // The session ends (signed out elsewhere): the next request sends the page to sign-in, keeping it.
    await context.clearCookies();
    await page.goto(`${server.url}/models?sort=name`);
    await page.waitForURL(/\/sign-in/);
    expect(new URL(page.url()).searchParams.get("return_to")).toBe("/models?sort=name");
    await signIn(page, server.url, server.token, "/models?sort=name").catch(async () => {
      // Already on the sign-in page: fill it in.
      await page.getByLabel("Personal token").fill(server.token);
      await page.getByRole("button", { name: "Sign in" }).click();
    });
    await page.waitForURL((u) => u.pathname === "/models");
    expect(problems()).toEqual([]);
    await context.close();
  });

  it("refuses a return_to that leaves the site", { timeout: 180_000 }, async () => {
    const { context, page: newPage } = await openContext(browser);
    const page = await newPage();
    for (const target of ["//evil.example/x", "https://evil.example/", "javascript:alert(1)", "/\\evil.example"]) {
      await page.goto(`${server.url}/sign-in?return_to=${encodeURIComponent(target)}`);
      await page.getByLabel("Personal token").fill(server.token);
      await page.getByRole("button", { name: "Sign in" }).click();
      await page.waitForURL((u) => !u.pathname.startsWith("/sign-in"));
      expect(new URL(page.url()).origin, target).toBe(server.url);
      expect(new URL(page.url()).pathname, target).toBe("/");
      await context.clearCookies();
    }
    await context.close();
  });
});
