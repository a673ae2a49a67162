// Single sign-on against a real OpenID provider (oidc-provider) and a real Paved server, with a
// fetch-made browser playing the user: the browser login and its session, the device login the
// CLI uses, and every refusal the issue lists (replayed code, wrong state, cancelled sign-in,
// missing CSRF header, a user removed from a team or disabled, a session after logout).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { App } from "../src/app.ts";
import { testDialects } from "./support/databases.ts";
import { FormBrowser, type Page } from "./support/form-browser.ts";
import type { TestProvider } from "./support/oidc-provider.ts";
import { startSsoServer, type SsoServer } from "./support/sso-server.ts";

describe.each(testDialects())("single sign-on through a real OpenID provider (%s)", (dialect) => {
  let idp: TestProvider;
  let app: App;
  let url: string;
  const isCallback = (u: URL) => u.pathname === "/auth/sso/callback";

  /** Signs `username` in with a fresh browser (or the one given) and returns it, at the page it landed on. */
  async function browserLogin(username: string, browser = new FormBrowser()): Promise<{ browser: FormBrowser; page: Page }> {
    const form = await browser.open(`${url}/auth/sso/login`);
    expect(form.body, form.body).toContain('id=login');
    const page = await browser.submit(form, "login", { username, password: `${username}-pw` });
    return { browser, page };
  }

  /** Starts a login and stops where the provider sends the browser back: the callback URL with code and state. */
  async function callbackUrl(username: string, browser = new FormBrowser()): Promise<URL> {
    const form = await browser.open(`${url}/auth/sso/login`, {}, isCallback);
    // Signed in at the provider already (its own session): it sends the browser straight back.
    if (form.stoppedAt) return form.stoppedAt;
    const stopped = await browser.submit(form, "login", { username, password: `${username}-pw` }, isCallback);
    expect(stopped.stoppedAt, stopped.body).toBeDefined();
    return stopped.stoppedAt!;
  }

  async function json(browser: FormBrowser, path: string, init: { method?: string; body?: unknown; headers?: Record<string, string> } = {}) {
    const response = await browser.request(new URL(path, url), {
      method: init.method ?? "GET",
      ...(init.body !== undefined ? { body: JSON.stringify(init.body), headers: { "content-type": "application/json", ...init.headers } } : { headers: init.headers ?? {} }),
    });
    return { status: response.status, body: (await response.json()) as Record<string, any> };
  }

  const sessionCount = async () => Number((await app.database.db.selectFrom("sessions").select((eb) => eb.fn.countAll<number>().as("n")).executeTakeFirstOrThrow()).n);
  let server: SsoServer;
  let api: SsoServer["api"];

  beforeAll(async () => {
    server = await startSsoServer({ dialect });
    ({ idp, app, url, api } = server);
  });
  afterAll(async () => server?.close());

  it("signs a browser in: session cookie, the mapped teams, CSRF on changes, logout", async () => {
    const { browser, page } = await browserLogin("ada");
    expect(page.url.href).toBe(`${url}/`);
    expect(browser.cookie("127.0.0.1", "paved_session")).toBeDefined();
    // The login's own cookie is cleared once used.
    expect(browser.cookie("127.0.0.1", "paved_sso")).toBeUndefined();
    const me = await json(browser, "/api/v1/whoami");
    expect(me.status).toBe(200);
    expect(me.body).toMatchObject({ name: "ada", kind: "user", platformAdmin: false });
    expect(me.body.teams).toEqual([
      { team: "fraud", role: "viewer" },
      { team: "risk", role: "developer" },
    ]);
    const user = await api("GET", "/api/v1/users/ada");
    expect(user.body).toMatchObject({ email: "ada@example.com", displayName: "Ada Lovelace", sso: { issuer: idp.issuer, subject: "sub-ada" } });

    const session = await json(browser, "/auth/session");
    expect(session.body).toMatchObject({ name: "ada", teams: [{ team: "fraud" }, { team: "risk" }] });
    const csrf = session.body.csrfToken as string;
    // A change with the cookie alone is refused; with the session's CSRF token it is made.
    const without = await json(browser, "/api/v1/tokens", { method: "POST", body: { name: "from-browser", expiresInDays: 1 } });
    expect(without.status).toBe(403);
    expect(without.body.error).toMatchObject({ code: "FORBIDDEN", details: { reason: "csrf" } });
    const wrong = await json(browser, "/api/v1/tokens", { method: "POST", body: { name: "from-browser", expiresInDays: 1 }, headers: { "x-paved-csrf": csrf.slice(1) + "x" } });
    expect(wrong.status).toBe(403);
    expect((await api("GET", "/api/v1/tokens?all=true")).body.tokens.some((t: { name: string }) => t.name === "from-browser")).toBe(false);
    const made = await json(browser, "/api/v1/tokens", { method: "POST", body: { name: "from-browser", expiresInDays: 1 }, headers: { "x-paved-csrf": csrf } });
    expect(made.status).toBe(200);
    expect(made.body.user).toBe("ada");

    // Logout needs the CSRF header too, then the cookie opens nothing.
    expect((await json(browser, "/auth/logout", { method: "POST", body: {} })).status).toBe(403);
    const cookie = browser.cookie("127.0.0.1", "paved_session")!;
    const out = await json(browser, "/auth/logout", { method: "POST", body: {}, headers: { "x-paved-csrf": csrf } });
    expect(out).toMatchObject({ status: 200, body: { signedOut: true } });
    expect(browser.cookie("127.0.0.1", "paved_session")).toBeUndefined();
    browser.setCookie("127.0.0.1", "paved_session", cookie);
    const after = await json(browser, "/api/v1/whoami");
    expect(after.status).toBe(401);
    expect(after.body.error).toMatchObject({ code: "UNAUTHENTICATED", details: { reason: "session" } });
  });

  it("refuses a replayed authorization code: no second session", async () => {
    const browser = new FormBrowser();
    const callback = await callbackUrl("bob", browser);
    const before = await sessionCount();
    const first = await browser.request(callback);
    expect(first.status).toBe(303);
    expect(await sessionCount()).toBe(before + 1);
    // The same callback again: the login it names was used.
    const again = await browser.request(callback);
    expect(again.status).toBe(401);
    expect(await again.json()).toMatchObject({ error: { code: "UNAUTHENTICATED", details: { reason: "sso_state" } } });
    // The same code under a new login's state: the provider refuses it (used, and not this login's PKCE).
    const fresh = await callbackUrl("bob", browser);
    const replayed = new URL(fresh);
    replayed.searchParams.set("code", callback.searchParams.get("code")!);
    const refused = await browser.request(replayed);
    expect(refused.status).toBe(401);
    const body = (await refused.json()) as { error: { code: string; details: { reason: string }; message: string } };
    expect(body.error.code).toBe("UNAUTHENTICATED");
    expect(body.error.details.reason).toBe("sso_code");
    // Nothing of the code, the state or the provider's own words in the answer.
    expect(body.error.message).not.toContain(callback.searchParams.get("code")!);
    expect(body.error.message).not.toContain(fresh.searchParams.get("state")!);
    expect(await sessionCount()).toBe(before + 1);
  });

  it("refuses a state it did not issue, and a callback in another browser; the real one still works", async () => {
    const browser = new FormBrowser();
    const callback = await callbackUrl("bob", browser);
    const before = await sessionCount();
    const forged = new URL(callback);
    forged.searchParams.set("state", "a".repeat(43));
    const wrongState = await browser.request(forged);
    expect(wrongState.status).toBe(401);
    expect(await wrongState.json()).toMatchObject({ error: { code: "UNAUTHENTICATED", details: { reason: "sso_state" } } });
    // Another browser (no cookie of this login) cannot finish it: login CSRF.
    const elsewhere = await new FormBrowser().request(callback);
    expect(elsewhere.status).toBe(401);
    expect(await elsewhere.json()).toMatchObject({ error: { details: { reason: "sso_state" } } });
    expect(await sessionCount()).toBe(before);
    const real = await browser.request(callback);
    expect(real.status).toBe(303);
    expect(await sessionCount()).toBe(before + 1);
  });

  it("refuses a sign-in the user cancelled at the provider", async () => {
    const browser = new FormBrowser();
    const form = await browser.open(`${url}/auth/sso/login`);
    const page = await browser.submit(form, "abort", {}, isCallback);
    expect(page.stoppedAt?.searchParams.get("error")).toBe("access_denied");
    const answer = await browser.request(page.stoppedAt!);
    expect(answer.status).toBe(401);
    expect(await answer.json()).toMatchObject({ error: { code: "UNAUTHENTICATED", details: { reason: "sso_denied" } } });
  });

  it("maps groups again at each login: a group dropped at the provider drops the team at once, in every session and token", async () => {
    const account = idp.accounts.get("ada")!;
    account.groups = ["risk-devs", "fraud-viewers"];
    const { browser: first } = await browserLogin("ada");
    const laptop = await api("POST", "/api/v1/users/ada/tokens", { name: "laptop", expiresInDays: 1 });
    expect(laptop.status).toBe(200);
    expect((await json(first, "/api/v1/whoami")).body.teams).toHaveLength(2);
    account.groups = ["fraud-viewers", "risk-leads-elsewhere"];
    await browserLogin("ada");
    const teams = [{ team: "fraud", role: "viewer" }];
    expect((await json(first, "/api/v1/whoami")).body.teams).toEqual(teams);
    const byToken = await fetch(`${url}/api/v1/whoami`, { headers: { authorization: `Bearer ${laptop.body.token}` } });
    expect(((await byToken.json()) as { teams: unknown }).teams).toEqual(teams);
    // The strongest role wins where two groups name one team.
    account.groups = ["risk-devs", "risk-leads"];
    const { browser: third } = await browserLogin("ada");
    expect((await json(third, "/api/v1/whoami")).body.teams).toEqual([{ team: "risk", role: "maintainer" }]);
  });

  it("takes a user removed from a team out of it mid-session, and a disabled user out entirely", async () => {
    const { browser } = await browserLogin("bob");
    expect((await json(browser, "/api/v1/whoami")).body.teams).toEqual([{ team: "risk", role: "developer" }]);
    expect((await api("DELETE", "/api/v1/teams/risk/members/bob")).status).toBe(200);
    expect((await json(browser, "/api/v1/whoami")).body.teams).toEqual([]);
    expect((await api("POST", "/api/v1/users/bob/disable", {})).status).toBe(200);
    const refused = await json(browser, "/api/v1/whoami");
    expect(refused.status).toBe(401);
    // Signing in again does not bring them back, and opens no session.
    const before = await sessionCount();
    const callback = await callbackUrl("bob");
    const again = await fetch(callback, { redirect: "manual" });
    expect(again.status).toBe(401);
    const form = new FormBrowser();
    const attempt = await form.open(`${url}/auth/sso/login`);
    const landed = await form.submit(attempt, "login", { username: "bob", password: "bob-pw" });
    expect(landed.status).toBe(401);
    expect(JSON.parse(landed.body)).toMatchObject({ error: { code: "UNAUTHENTICATED", details: { reason: "user_disabled" } } });
    expect(await sessionCount()).toBe(before);
    expect((await api("GET", "/api/v1/users/bob")).body.teams).toEqual([]);
  });

  it("follows the provider's key rotation: a token under a new key id fetches the keys again", async () => {
    expect((await browserLogin("cyd")).page.url.href).toBe(`${url}/`);
    await idp.rotateKey();
    // Paved fetches the keys again at most once a second.
    await new Promise((r) => setTimeout(r, 1100));
    const { browser, page } = await browserLogin("cyd");
    expect(page.url.href, page.body).toBe(`${url}/`);
    expect((await json(browser, "/api/v1/whoami")).body.name).toBe("cyd");
  });

  it("makes members of an admin group platform admins", async () => {
    const { browser } = await browserLogin("cyd");
    expect((await json(browser, "/api/v1/whoami")).body).toMatchObject({ name: "cyd", platformAdmin: true, teams: [] });
  });

  it("returns only to this server's paths or allowed hosts", async () => {
    const browser = new FormBrowser();
    for (const target of ["https://evil.example/", "//evil.example/x", "/\\evil.example", "javascript:alert(1)"]) {
      const answer = await browser.request(new URL(`/auth/sso/login?return_to=${encodeURIComponent(target)}`, url));
      expect(answer.status, target).toBe(400);
    }
    const form = await browser.open(`${url}/auth/sso/login?return_to=${encodeURIComponent("/api/v1/whoami")}`);
    const landed = await browser.submit(form, "login", { username: "cyd", password: "cyd-pw" });
    expect(landed.url.pathname).toBe("/api/v1/whoami");
    expect(JSON.parse(landed.body)).toMatchObject({ name: "cyd" });
  });

  it("runs the device login for the CLI: pending until the user signs in, then a token named sso-<host>, once", async () => {
    const start = await api("POST", "/auth/sso/device", { client: "ada-laptop" });
    expect(start.status).toBe(200);
    const { handle, userCode, verificationUriComplete, interval } = start.body as { handle: string; userCode: string; verificationUriComplete: string; interval: number };
    expect(interval).toBeGreaterThan(0);
    const poll = () => fetch(`${url}/auth/sso/device/poll`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ handle }) });
    expect(await (await poll()).json()).toMatchObject({ status: "pending" });
    // The user opens the link, checks the code and signs in at the provider.
    const browser = new FormBrowser();
    // The link's page submits itself (a script); then the provider asks to confirm the code.
    const confirm = await browser.submit(await browser.open(verificationUriComplete), "");
    expect(confirm.body).toContain(userCode);
    const login = await browser.submit(confirm, "op.deviceConfirmForm");
    const done = await browser.submit(login, "login", { username: "ada", password: "ada-pw" });
    expect(done.body).toContain("id=done");
    // The server asks the provider at most once per interval.
    await new Promise((r) => setTimeout(r, interval * 1000));
    const complete = (await (await poll()).json()) as { status: string; token: string; name: string; teams: unknown[] };
    expect(complete).toMatchObject({ status: "complete", name: "ada" });
    const me = await fetch(`${url}/api/v1/whoami`, { headers: { authorization: `Bearer ${complete.token}` } });
    expect(((await me.json()) as { name: string }).name).toBe("ada");
    const tokens = (await api("GET", "/api/v1/tokens?all=true")).body.tokens as { name: string; user: string; expiresAt: number }[];
    expect(tokens.find((t) => t.name === "sso-ada-laptop")).toMatchObject({ user: "ada" });
    // Shown once: the handle is used up.
    const reuse = await poll();
    expect(reuse.status).toBe(401);
    expect(await reuse.json()).toMatchObject({ error: { code: "UNAUTHENTICATED", details: { reason: "sso_state" } } });
  });

  it("refuses a device login the user cancelled", async () => {
    const start = await api("POST", "/auth/sso/device", { client: "x" });
    const browser = new FormBrowser();
    const confirm = await browser.submit(await browser.open(start.body.verificationUriComplete), "");
    const login = await browser.submit(confirm, "op.deviceConfirmForm");
    await browser.submit(login, "abort");
    await new Promise((r) => setTimeout(r, start.body.interval * 1000));
    const answer = await fetch(`${url}/auth/sso/device/poll`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ handle: start.body.handle }) });
    expect(answer.status).toBe(401);
    expect(await answer.json()).toMatchObject({ error: { code: "UNAUTHENTICATED", details: { reason: "sso_denied" } } });
  });

  it("answers an unknown or malformed session cookie as unauthenticated, and bearer tokens need no CSRF header", async () => {
    const browser = new FormBrowser();
    browser.setCookie("127.0.0.1", "paved_session", "x".repeat(43));
    expect((await json(browser, "/api/v1/whoami")).status).toBe(401);
    const created = await api("POST", "/api/v1/tokens", { name: "bearer-change", expiresInDays: 1 });
    expect(created.status).toBe(200);
  });
});
