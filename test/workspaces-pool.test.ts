// Issue 9, item 6: a warm pool per profile and team. Its servers are jobs of the configured team
// (counted in that team's quota, listed in the ledger), started before anyone asks; a member's new
// workspace of that profile takes one and is ready once its spare kernel answers, and that kernel is
// what their first notebook gets. The handed-out server records into the person's experiment, as
// them, naming the notebook. Terminals get `paved` and the workspace's variables. Nothing is asserted about how long
// anything took (that is bench/workspaces.ts's job).
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createApp, type App } from "../src/app.ts";
import { loadConfig } from "../src/config/index.ts";
import { KernelClient, WebSocketClient, type WorkspaceView } from "../src/modules/workspaces/index.ts";
import { testDialects, testPostgresUrl } from "./support/databases.ts";
import { pollUntil } from "./support/poll.ts";
import { createMembers } from "./support/teams.ts";

type Who = { authorization: string };

describe.each(testDialects())("a warm pool of workspace servers (%s)", (dialect) => {
  let app: App;
  let url: string;
  let admin: Who;
  let people: Record<"ada" | "bo", Who>;

  const call = (who: Who, method: "GET" | "POST" | "DELETE", path: string, payload?: unknown) =>
    app.server.inject({ method, url: path, headers: who, ...(payload !== undefined ? { payload: payload as object } : {}) });
  const pool = async () => ((await call(admin, "GET", "/api/v1/workspaces?all=true")).json().workspaces as WorkspaceView[]).filter((w) => w.owner === "(warm pool)");
  const poolReady = async () =>
    (await pollUntil("the warm pool having a server ready", pool, (servers) => servers.some((w) => w.phase === "RUNNING"), { intervalMs: 50 })).find((w) => w.phase === "RUNNING")!;
  const until = (who: Who, id: string, phase: string) =>
    pollUntil(`workspace ${id} reaching ${phase}`, async () => (await call(who, "GET", `/api/v1/workspaces/${id}`)).json() as WorkspaceView, (w) => w.phase === phase, {
      intervalMs: 50,
      fail: (w) => (w.phase === "FAILED" ? `it failed: ${w.message}` : undefined),
    });

  beforeAll(async () => {
    const databaseUrl = dialect === "postgres" ? await testPostgresUrl() : undefined;
    app = await createApp(
      loadConfig({
        env: {},
        overrides: {
          dataDir: mkdtempSync(join(tmpdir(), "paved-ws-pool-")),
          port: 0,
          logLevel: "silent",
          compute: { gpus: [], cpus: 4, memoryMiB: 8192, python: "/nonexistent/python3" },
          workspaces: { intervalSeconds: 0.5, warmPool: [{ profile: "cpu", team: "team-a", size: 1 }] },
          ...(databaseUrl ? { databaseUrl } : {}),
        },
      }),
      { env: { PATH: process.env.PATH } },
    );
    url = await app.listen();
    admin = { authorization: `Bearer ${app.generatedAdminToken}` };
    people = await createMembers(app, admin, ["team-a", "team-b"], { ada: [{ team: "team-a", role: "developer" }], bo: [{ team: "team-b", role: "developer" }] });
  }, 60_000);
  afterAll(async () => {
    if (!app) return;
    // No refill while the pool is emptied (its job would wait for the quota), then every workspace goes.
    await app.server.inject({ method: "PUT", url: "/api/v1/teams/team-a/quotas", headers: admin, payload: { cpus: 0 } });
    for (const w of ((await call(admin, "GET", "/api/v1/workspaces?all=true")).json().workspaces ?? []) as WorkspaceView[]) await call(admin, "DELETE", `/api/v1/workspaces/${w.id}`);
    await app.close();
  }, 180_000);

  it("keeps a started server of the team, counted in its quota, that nobody can use before it is handed out", async () => {
    const waiting = await poolReady();
    expect(waiting).toMatchObject({ team: "team-a", profile: "cpu", sharedWith: [] });
    const quotas = (await call(admin, "GET", "/api/v1/teams/team-a/quotas")).json();
    const cpus = quotas.lines.find((l: { resource: string }) => l.resource === "cpus");
    expect(cpus.by).toEqual([expect.objectContaining({ kind: "job", id: waiting.jobId, amount: 1 })]);
    expect((await call(people.ada, "GET", `/api/v1/workspaces/${waiting.id}`)).statusCode).toBe(404);
    expect((await fetch(`${url}/workspaces/${waiting.id}/api/status`, { headers: people.ada })).status).toBe(404);
    expect((await call(people.ada, "GET", "/api/v1/workspaces")).json().workspaces).toEqual([]);
  }, 180_000);

  it("hands it to a member's new workspace: running at once, its spare kernel the first notebook's, recording as them", async () => {
    const waiting = await poolReady();
    const res = await call(people.ada, "POST", "/api/v1/workspaces", { name: "fast", profile: "cpu", experiment: "ada-fast" });
    expect(res.statusCode, res.body).toBe(200);
    const ws = res.json() as WorkspaceView;
    expect(ws).toMatchObject({ id: waiting.id, name: "fast", owner: "ada", phase: "RUNNING", experiment: "ada-fast" });
    expect(ws.readyMs).toBeGreaterThan(0);
    expect(ws.events.at(-1)?.type).toBe("Ready");
    expect(ws.events.map((e) => e.message).join("\n")).toContain("from the warm pool");
    const job = (await call(people.ada, "GET", `/api/v1/jobs/${ws.jobId}`)).json();
    expect(job).toMatchObject({ name: "workspace-fast", owner: "ada", phase: "RUNNING" });
    // The first notebook at the root gets the spare kernel: no second kernel starts.
    const before = (await (await fetch(`${url}/workspaces/${ws.id}/api/kernels`, { headers: people.ada })).json()) as { id: string }[];
    expect(before).toHaveLength(1);
    const session = await fetch(`${url}/workspaces/${ws.id}/api/sessions`, {
      method: "POST",
      headers: { ...people.ada, "content-type": "application/json" },
      body: JSON.stringify({ path: "Untitled.ipynb", type: "notebook", name: "", kernel: { name: "python3" } }),
    });
    expect(session.status).toBe(201);
    const kernelId = ((await session.json()) as { kernel: { id: string } }).kernel.id;
    expect(kernelId).toBe(before[0]!.id);
    const k = await KernelClient.open({ url }, `/workspaces/${ws.id}/`, kernelId, people.ada);
    try {
      const cell = await k.execute("import mlflow\nwith mlflow.start_run(run_name='warm') as run:\n    mlflow.log_metric('x', 1.0)\nprint('RUN', run.info.run_id)");
      expect(cell.status, JSON.stringify(cell)).toBe("ok");
      const runId = /RUN (\w+)/.exec(cell.stdout)![1]!;
      const run = (await call(people.ada, "GET", `/api/2.0/mlflow/runs/get?run_id=${runId}`)).json().run;
      expect(run.info).toMatchObject({ experiment_id: ws.experimentId, user_id: "ada" });
      // The run names the notebook whose kernel started it (Jupyter's session, seen through the proxy).
      const tags = Object.fromEntries((run.data.tags as { key: string; value: string }[]).map((t) => [t.key, t.value]));
      expect(tags).toMatchObject({ "paved.workspace.notebook": "Untitled.ipynb", "mlflow.source.name": "Untitled.ipynb", "paved.workspace.kernel_id": kernelId });
    } finally {
      k.close();
    }
    // A terminal has `paved` on PATH and the workspace's experiment.
    const terminal = await fetch(`${url}/workspaces/${ws.id}/api/terminals`, { method: "POST", headers: people.ada });
    expect(terminal.status).toBe(200);
    const name = ((await terminal.json()) as { name: string }).name;
    const socket = await WebSocketClient.connect({ url: `${url.replace("http", "ws")}/workspaces/${ws.id}/terminals/websocket/${name}` }, { ...people.ada, origin: url });
    try {
      let seen = "";
      const done = new Promise<void>((resolve) => socket.onMessage((text) => ((seen += (JSON.parse(text) as unknown[])[1]), /MARK=\d+=\S*paved/.test(seen) && resolve())));
      socket.send(JSON.stringify(["stdin", "echo MARK=$MLFLOW_EXPERIMENT_ID=$(command -v paved)\r"]));
      await Promise.race([done, sleep(30_000)]);
      expect(seen).toMatch(new RegExp(`MARK=${ws.experimentId}=\\S*/workspaces/bin/paved`));
    } finally {
      socket.close();
    }
    // Paved says it came from the pool, and the pool starts another.
    const stats = (await call(people.ada, "GET", "/api/v1/workspace-stats")).json();
    expect(stats.profiles.find((p: { profile: string }) => p.profile === "cpu").fromPool).toBe(1);
    const next = await poolReady();
    expect(next.id).not.toBe(ws.id);
  }, 180_000);

  it("gives another team's member a cold start (the pool is team-a's), and stops and starts a handed-out workspace like any", async () => {
    const res = await call(people.bo, "POST", "/api/v1/workspaces", { name: "cold", profile: "cpu" });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json().phase).toBe("PENDING");
    expect((res.json() as WorkspaceView).events.map((e) => e.message).join("\n")).not.toContain("warm pool");
    const fast = ((await call(people.ada, "GET", "/api/v1/workspaces")).json().workspaces as WorkspaceView[]).find((w) => w.name === "fast")!;
    expect((await call(people.ada, "POST", `/api/v1/workspaces/${fast.id}/stop`)).statusCode).toBe(200);
    await until(people.ada, fast.id, "STOPPED");
    expect((await call(people.ada, "POST", `/api/v1/workspaces/${fast.id}/start`)).statusCode).toBe(200);
    const again = await until(people.ada, fast.id, "RUNNING");
    expect(again).toMatchObject({ owner: "ada", experiment: "ada-fast", session: 3 });
    await until(people.bo, res.json().id, "RUNNING");
  }, 180_000);
});
