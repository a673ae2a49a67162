// `paved workspace open` in a real browser (Debian's Chromium driven by playwright-core): the one-time
// link becomes a cookie of that workspace's path only, Jupyter's own pages load through Paved's proxy
// without its token, and a notebook opened in the page runs a cell on a kernel over the proxied
// websocket; the run it starts names that notebook. The link works once.
import { existsSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium, type BrowserContext } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createApp, type App } from "../src/app.ts";
import { loadConfig } from "../src/config/index.ts";
import type { WorkspaceView } from "../src/modules/workspaces/index.ts";
import { testDialects, testPostgresUrl } from "./support/databases.ts";
import { pollUntil } from "./support/poll.ts";
import { createMembers } from "./support/teams.ts";

const CHROMIUM = "/usr/bin/chromium";

describe.each(testDialects())("a workspace opened in Chromium (%s)", (dialect) => {
  let app: App;
  let url: string;
  let context: BrowserContext;
  let ada: { authorization: string };
  let workspace: WorkspaceView;

  const call = (method: "GET" | "POST" | "DELETE", path: string) => app.server.inject({ method, url: path, headers: ada });

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing; run scripts/install-deps.sh (it installs Debian's chromium)`);
    const databaseUrl = dialect === "postgres" ? await testPostgresUrl() : undefined;
    app = await createApp(
      loadConfig({
        env: {},
        overrides: { dataDir: mkdtempSync(join(tmpdir(), "paved-ws-browser-")), host: "127.0.0.1", port: 0, logLevel: "silent", compute: { gpus: [], cpus: 2, memoryMiB: 8192, python: "/nonexistent/python3" }, ...(databaseUrl ? { databaseUrl } : {}) },
      }),
      { env: { PATH: process.env.PATH } },
    );
    url = await app.listen();
    const admin = { authorization: `Bearer ${app.generatedAdminToken}` };
    ({ ada } = await createMembers(app, admin, ["team-a"], { ada: [{ team: "team-a", role: "developer" }] }));
    const created = await call("POST", "/api/v1/workspaces");
    expect(created.statusCode, created.body).toBe(200);
    workspace = await pollUntil(`workspace ${created.json().id} running`, async () => (await call("GET", `/api/v1/workspaces/${created.json().id}`)).json() as WorkspaceView, (w) => w.phase === "RUNNING", {
      intervalMs: 50,
      fail: (w) => (w.phase === "FAILED" ? `it failed: ${w.message}` : undefined),
    });
    context = await chromium.launchPersistentContext(mkdtempSync(join(tmpdir(), "paved-chromium-")), {
      executablePath: CHROMIUM,
      headless: true,
      args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1"],
    });
    await context.route("**/*", (route) => {
      const host = new URL(route.request().url()).hostname;
      return host === "127.0.0.1" || host === "localhost" ? route.continue() : route.abort();
    });
  }, 180_000);
  afterAll(async () => {
    await context?.close();
    if (workspace) await call("DELETE", `/api/v1/workspaces/${workspace.id}`);
    await app?.close();
  });

  it("trades the link for a cookie of this workspace only, and a notebook in the page runs a cell on its kernel", async () => {
    const link = (await call("POST", `/api/v1/workspaces/${workspace.id}/open`)).json().url as string;
    const base = `${url}/workspaces/${workspace.id}/`;
    const page = await context.newPage();
    await page.goto(link);
    // Jupyter's file list, on Paved's URL, without the one-time code.
    expect(page.url()).toMatch(new RegExp(`^${base}tree`));
    const token = (await app.database.db.selectFrom("workspaces").select("jupyter_token").where("workspace_id", "=", workspace.id).executeTakeFirstOrThrow()).jupyter_token!;
    expect(await page.content()).not.toContain(token);
    // Paved's cookie, for this workspace's path only (Jupyter sets its own _xsrf, which holds no credential).
    const cookies = (await context.cookies()).filter((c) => c.name.startsWith("paved"));
    expect(cookies).toEqual([expect.objectContaining({ name: "paved_ws", path: `/workspaces/${workspace.id}/`, httpOnly: true, sameSite: "Strict" })]);
    expect(await context.cookies(url)).not.toContainEqual(expect.objectContaining({ name: "paved_ws" }));
    expect(await page.evaluate<string>("document.cookie")).not.toContain("paved_ws");

    // A notebook made and opened in the page: its kernel answers over the proxied websocket.
    const made = await page.evaluate(async (contents) => {
      const res = await fetch(contents, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ type: "notebook" }) });
      return { status: res.status, path: ((await res.json()) as { path: string }).path };
    }, `/workspaces/${workspace.id}/api/contents`);
    expect(made.status).toBe(201);
    await page.goto(`${base}notebooks/${made.path}`);
    await page.waitForFunction("window.Jupyter && Jupyter.notebook && Jupyter.notebook.kernel && Jupyter.notebook.kernel.is_connected()", undefined, { timeout: 120_000 });
    await page.evaluate(`(() => {
      const cell = Jupyter.notebook.get_cell(0);
      cell.set_text("import mlflow\\nwith mlflow.start_run() as run:\\n    pass\\nprint('RUN', run.info.run_id, 6 * 7)");
      cell.execute();
    })()`);
    const output = page.locator(".output_subarea").first();
    await output.waitFor({ timeout: 120_000 });
    const text = await output.innerText();
    const [, runId, answer] = /RUN (\w+) (\d+)/.exec(text) ?? [];
    expect(answer, text).toBe("42");
    const run = (await call("GET", `/api/2.0/mlflow/runs/get?run_id=${runId}`)).json().run;
    const tags = Object.fromEntries((run.data.tags as { key: string; value: string }[]).map((t) => [t.key, t.value]));
    expect(tags).toMatchObject({ "paved.workspace_id": workspace.id, "paved.workspace.notebook": made.path });
    expect(run.info.user_id).toBe("ada");

    // The link worked once.
    const again = await context.newPage();
    const res = await again.goto(link);
    expect(res?.status()).toBe(401);
  }, 300_000);
});
