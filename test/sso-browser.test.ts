// Single sign-on in a real browser: Debian's Chromium driven by playwright-core signs in at the
// real test OpenID provider (another site: localhost, while Paved is 127.0.0.1) and lands on Paved
// with a session cookie that scripts cannot read and that changes need a CSRF token beside.
import { existsSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium, type BrowserContext } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startSsoServer, type SsoServer } from "./support/sso-server.ts";

const CHROMIUM = "/usr/bin/chromium";

describe("single sign-on in Chromium", () => {
  let server: SsoServer;
  let context: BrowserContext;

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing; run scripts/install-deps.sh (it installs Debian's chromium)`);
    server = await startSsoServer();
    context = await chromium.launchPersistentContext(mkdtempSync(join(tmpdir(), "paved-chromium-")), {
      executablePath: CHROMIUM,
      headless: true,
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        // Nothing but this machine: names other than localhost do not resolve.
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1",
      ],
    });
    // And no request leaves the loopback addresses, whatever a page asks for.
    await context.route("**/*", (route) => {
      const host = new URL(route.request().url()).hostname;
      return host === "127.0.0.1" || host === "localhost" ? route.continue() : route.abort();
    });
  }, 60_000);
  afterAll(async () => {
    await context?.close();
    await server?.close();
  });

  it("signs in at the provider, lands on Paved with an HttpOnly session, and needs the CSRF token for changes", async () => {
    const page = await context.newPage();
    await page.goto(`${server.url}/auth/sso/login`);
    // The provider's sign-in page, on the provider's own origin.
    expect(new URL(page.url()).origin).toBe(server.idp.issuer);
    await page.fill("input[name=username]", "ada");
    await page.fill("input[name=password]", "ada-pw");
    await Promise.all([page.waitForURL(`${server.url}/`), page.click("#sign-in")]);

    const cookies = await context.cookies(server.url);
    const session = cookies.find((c) => c.name === "paved_session");
    expect(session).toMatchObject({ httpOnly: true, sameSite: "Lax", path: "/", secure: false });
    expect(cookies.find((c) => c.name === "paved_sso")).toBeUndefined();
    // Scripts on the page cannot read it.
    expect(await page.evaluate<string>("document.cookie")).not.toContain("paved_session");

    const me = (await page.evaluate(async () => (await fetch("/api/v1/whoami")).json())) as { teams: unknown };
    expect(me).toMatchObject({ name: "ada", kind: "user", platformAdmin: false });
    expect(me.teams).toEqual([
      { team: "fraud", role: "viewer" },
      { team: "risk", role: "developer" },
    ]);

    const tokenRequest = { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ name: "from-chromium", expiresInDays: 1 }) };
    const refused = await page.evaluate(async (init) => (await fetch("/api/v1/tokens", init)).status, tokenRequest);
    expect(refused).toBe(403);
    const csrf = await page.evaluate(async () => ((await (await fetch("/auth/session")).json()) as { csrfToken: string }).csrfToken);
    const made = await page.evaluate(
      async ({ init, csrf }) => (await fetch("/api/v1/tokens", { ...init, headers: { ...init.headers, "x-paved-csrf": csrf } })).status,
      { init: tokenRequest, csrf },
    );
    expect(made).toBe(200);

    const signedOut = await page.evaluate(async (csrf) => (await fetch("/auth/logout", { method: "POST", headers: { "x-paved-csrf": csrf } })).json(), csrf);
    expect(signedOut).toEqual({ signedOut: true });
    expect(await page.evaluate(async () => (await fetch("/api/v1/whoami")).status)).toBe(401);
    expect((await context.cookies(server.url)).find((c) => c.name === "paved_session")).toBeUndefined();
  }, 60_000);

  it("from the web UI's sign-in page: single sign-on, then back on the page the user asked for", async () => {
    const page = await context.newPage();
    await page.goto(`${server.url}/models?sort=name`);
    await page.waitForURL(/\/sign-in\?return_to=/);
    await page.getByRole("link", { name: "Sign in with single sign-on" }).click();
    // The provider remembers ada from the test before (its own session): it may send her straight back.
    await page.waitForURL((u) => u.origin === server.idp.issuer || u.href === `${server.url}/models?sort=name`);
    if (new URL(page.url()).origin === server.idp.issuer) {
      await page.fill("input[name=username]", "ada");
      await page.fill("input[name=password]", "ada-pw");
      await Promise.all([page.waitForURL(`${server.url}/models?sort=name`), page.click("#sign-in")]);
    }
    // The UI is signed in as the provider's user.
    await expect.poll(() => page.getByRole("banner").textContent(), { timeout: 30_000 }).toContain("ada");
    await page.close();
  }, 90_000);
});
