// The web UI under test: a real Paved (createApp, listening on a free port, controllers running)
// serving the built UI (web/dist, `npm run build:web`), and Debian's Chromium driven by
// playwright-core. Helpers sign in with a token the way a person does (the sign-in form), check a
// page with axe-core, and save a screenshot of it into docs/ui/.
import { existsSync, mkdirSync, mkdtempSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";
import { createApp, type App } from "../../src/app.ts";
import { loadConfig, type ConfigInput } from "../../src/config/index.ts";
import type { Dialect } from "../../src/storage/index.ts";
import { testPostgresUrl } from "./databases.ts";

const ROOT = new URL("../..", import.meta.url).pathname;
export const CHROMIUM = "/usr/bin/chromium";
export const SCREENSHOTS = join(ROOT, "docs/ui");

export interface UiServer {
  app: App;
  url: string;
  /** The bootstrap admin's token. */
  token: string;
  admin: { authorization: string };
  /** Calls the API as the admin; throws on an error answer. */
  api<T = any>(method: string, path: string, body?: unknown): Promise<T>;
  close(): Promise<void>;
}

/** A Paved on a fresh database serving the built UI. */
export async function startUiServer(opts: { dialect?: Dialect; config?: ConfigInput } = {}): Promise<UiServer> {
  // PAVED_UI_DIR: a build of one's own (parallel work on the UI); web/dist otherwise.
  const uiDir = process.env.PAVED_UI_DIR ?? join(ROOT, "web/dist");
  if (!existsSync(join(uiDir, "index.html"))) throw new Error(`${uiDir} is missing: run \`npm run build:web\` (npm test does)`);
  const dataDir = mkdtempSync(join(tmpdir(), "paved-ui-"));
  const databaseUrl = opts.dialect === "postgres" ? await testPostgresUrl() : undefined;
  const app = await createApp(
    loadConfig({
      env: {},
      overrides: { dataDir, uiDir, logLevel: "silent", host: "127.0.0.1", port: 0, compute: { gpus: [] }, ...(databaseUrl ? { databaseUrl } : {}), ...opts.config },
    }),
    { env: process.env },
  );
  const url = await app.listen();
  const token = app.generatedAdminToken!;
  const admin = { authorization: `Bearer ${token}` };
  return {
    app,
    url,
    token,
    admin,
    async api(method, path, body) {
      const response = await fetch(`${url}${path}`, {
        method,
        headers: { ...admin, ...(body === undefined ? {} : { "content-type": "application/json" }) },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await response.text();
      if (!response.ok) throw new Error(`${method} ${path}: HTTP ${response.status} ${text}`);
      return text ? JSON.parse(text) : undefined;
    },
    close: () => app.close(),
  };
}

/** Debian's Chromium, headless, reaching nothing but this machine. */
export async function launchBrowser(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing; run scripts/install-deps.sh (it installs Debian's chromium)`);
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1"],
  });
}

/**
 * A browser context whose pages record what should never happen: script errors, Content-Security-
 * Policy violations and dialogs opened by page content (an XSS would `alert`). `problems()` lists them.
 */
export async function openContext(browser: Browser): Promise<{ context: BrowserContext; problems: () => string[]; page: () => Promise<Page> }> {
  const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
  const problems: string[] = [];
  await context.route("**/*", (route) => {
    const host = new URL(route.request().url()).hostname;
    return host === "127.0.0.1" || host === "localhost" ? route.continue() : route.abort();
  });
  const watch = (page: Page) => {
    page.on("pageerror", (error) => problems.push(`page error: ${error.message}`));
    page.on("dialog", (dialog) => {
      problems.push(`dialog opened by the page: ${dialog.type()} ${dialog.message()}`);
      void dialog.dismiss();
    });
    page.on("console", (message) => {
      if (message.type() === "error" && /Content Security Policy|Refused to/i.test(message.text())) problems.push(`CSP: ${message.text()}`);
    });
  };
  context.on("page", watch);
  return { context, problems: () => [...problems], page: () => context.newPage() };
}

/** Signs in through the sign-in page with a personal token, starting from `path` (where it lands after). */
export async function signIn(page: Page, url: string, token: string, path = "/"): Promise<void> {
  await page.goto(`${url}${path}`);
  await page.waitForURL(/\/sign-in/);
  await page.getByLabel("Personal token").fill(token);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.waitForURL((u) => !u.pathname.startsWith("/sign-in"));
}

const require = createRequire(import.meta.url);
const AXE_SOURCE = readFileSync(require.resolve("axe-core/axe.min.js"), "utf8");

export interface AxeViolation {
  id: string;
  impact: string | null;
  help: string;
  nodes: { target: string[] }[];
}

/**
 * axe-core's serious and critical violations on the page as it is now (WCAG 2.1 A and AA rules).
 * axe is injected by the test (playwright's addScriptTag with content), which the page's CSP would
 * refuse as inline script: it is evaluated in the page's main world through the DevTools protocol instead.
 */
export async function axeViolations(page: Page): Promise<AxeViolation[]> {
  await page.evaluate(AXE_SOURCE);
  const result = (await page.evaluate(`axe.run(document, { runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"] } })`)) as { violations: AxeViolation[] };
  return result.violations.filter((v) => v.impact === "serious" || v.impact === "critical");
}

/** Saves the page as docs/ui/<name>.png (the README and docs show them). */
export async function screenshot(page: Page, name: string): Promise<void> {
  mkdirSync(SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: false });
}

/** A readable list of axe violations for an assertion message. */
export function describeViolations(violations: AxeViolation[]): string {
  return violations.map((v) => `${v.id} (${v.impact}): ${v.help} at ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`).join("\n");
}
