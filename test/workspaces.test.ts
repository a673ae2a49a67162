import { mkdtempSync } from "node:fs";
import { request as httpRequest } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createApp, type App } from "../src/app.ts";
import { loadConfig } from "../src/config/index.ts";
import { KernelClient, WebSocketClient, type WorkspaceView } from "../src/modules/workspaces/index.ts";
import { createMembers } from "./support/teams.ts";
import { testDialects, testPostgresUrl } from "./support/databases.ts";

type Who = { authorization: string };

/** A cell that trains a small model and tracks it with mlflow (autologging off, log_metric calls). */
const TRAIN_CELL = `
import mlflow
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
X, y = load_breast_cancer(return_X_y=True)
Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.25, random_state=0)
with mlflow.start_run(run_name="notebook-cell") as run:
    mlflow.log_param("C", 0.5)
    for step, iters in enumerate([20, 60, 200]):
        model = LogisticRegression(C=0.5, max_iter=iters).fit(Xtr, ytr)
        mlflow.log_metric("accuracy", float(model.score(Xte, yte)), step=step)
print("RUN", run.info.run_id)
`;

/**
 * Issue 9's story: a developer of team A creates a workspace, runs a cell through Paved's proxy (a
 * real kernel, the Jupyter kernel protocol over the websocket) that trains a model and logs it with
 * mlflow; the run is in their experiment with the workspace and notebook recorded. A member of team
 * B, and a member of team A it is not shared with, find nothing there by id or URL. Paths that leave
 * the workspace's prefix are refused; neither token crosses the proxy; stop and start keep the home.
 */
describe.each(testDialects())("workspaces: ask, reach through Paved only, track without setup (%s)", (dialect) => {
  let app: App;
  let url: string;
  let admin: Who;
  let people: Record<"ada" | "cy" | "bo", Who>;
  let workspace: WorkspaceView;

  const call = (who: Who, method: "GET" | "POST" | "DELETE", path: string, payload?: unknown) =>
    app.server.inject({ method, url: path, headers: who, ...(payload !== undefined ? { payload: payload as object } : {}) });
  /** A request over the network (the proxy is not an inject route). */
  const http = (who: Partial<Who>, method: string, path: string, body?: string, headers: Record<string, string> = {}) =>
    new Promise<{ status: number; body: string; headers: Record<string, unknown> }>((resolve, reject) => {
      const server = new URL(url);
      // The path goes as written: a URL object would resolve its dot segments before sending.
      const req = httpRequest({ host: server.hostname, port: server.port, path, method, headers: { ...who, ...headers, ...(body ? { "content-type": "application/json" } : {}) } });
      req.once("error", reject);
      req.once("response", (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (c: string) => (text += c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body: text, headers: res.headers }));
      });
      req.end(body);
    });
  async function until(id: string, phases: string[]): Promise<WorkspaceView> {
    for (let i = 0; i < 2400; i++) {
      const res = await call(people.ada, "GET", `/api/v1/workspaces/${id}`);
      expect(res.statusCode, res.body).toBe(200);
      const ws = res.json() as WorkspaceView;
      if (phases.includes(ws.phase)) return ws;
      if (ws.phase === "FAILED") throw new Error(`workspace failed: ${ws.message}`);
      await sleep(25);
    }
    throw new Error(`workspace ${id} never reached ${phases.join("/")}`);
  }
  const base = () => `/workspaces/${workspace.id}/`;
  async function kernel(who: Who): Promise<KernelClient> {
    const started = await http(who, "POST", `${base()}api/kernels`, "{}");
    expect(started.status, started.body).toBe(201);
    return KernelClient.open({ url }, base(), (JSON.parse(started.body) as { id: string }).id, who);
  }

  beforeAll(async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "paved-ws-"));
    const databaseUrl = dialect === "postgres" ? await testPostgresUrl() : undefined;
    app = await createApp(
      loadConfig({
        env: {},
        overrides: { dataDir, port: 0, logLevel: "silent", compute: { gpus: [], cpus: 4, memoryMiB: 8192, python: "/nonexistent/python3" }, ...(databaseUrl ? { databaseUrl } : {}) },
      }),
      { env: { PATH: process.env.PATH } },
    );
    url = await app.listen();
    admin = { authorization: `Bearer ${app.generatedAdminToken}` };
    people = await createMembers(app, admin, ["team-a", "team-b"], {
      ada: [{ team: "team-a", role: "developer" }],
      cy: [{ team: "team-a", role: "developer" }],
      bo: [{ team: "team-b", role: "developer" }],
    });
  }, 60_000);
  afterAll(async () => {
    if (workspace) await call(people.ada, "DELETE", `/api/v1/workspaces/${workspace.id}`);
    await app?.close();
  });

  it("a developer asks for a workspace and gets a Jupyter server, scheduled as a job of the profile", async () => {
    const res = await call(people.ada, "POST", "/api/v1/workspaces", { name: "eda", profile: "cpu", experiment: "ada-eda" });
    expect(res.statusCode, res.body).toBe(200);
    workspace = res.json() as WorkspaceView;
    expect(workspace).toMatchObject({ name: "eda", team: "team-a", owner: "ada", profile: "cpu", url: `${url}/workspaces/${workspace.id}/` });
    workspace = await until(workspace.id, ["RUNNING"]);
    expect(workspace.readyMs).toBeGreaterThan(0);
    expect(workspace.events.map((e) => e.type)).toEqual(expect.arrayContaining(["Created", "Starting", "Scheduled", "Ready"]));
    // Its server is a job of the team, holding the profile's resources (the one ledger).
    const job = await call(people.ada, "GET", `/api/v1/jobs/${workspace.jobId}`);
    expect(job.statusCode, job.body).toBe(200);
    expect(job.json()).toMatchObject({ name: "workspace-eda", team: "team-a", phase: "RUNNING", runId: null, request: { profile: "cpu", cpus: 1 } });
    const resources = await call(people.ada, "GET", "/api/v1/compute/resources");
    expect(resources.json().free.cpus).toBe(3);
  });

  it("a cell run through the proxy trains a model and its mlflow run lands in the developer's experiment", async () => {
    const k = await kernel(people.ada);
    try {
      const env = await k.execute("import os, shutil; print(sorted(k for k in os.environ if k.startswith(('PAVED_', 'MLFLOW_')))); print(shutil.which('paved')); print(os.environ['PAVED_TEAM'])");
      expect(env.status, JSON.stringify(env)).toBe("ok");
      expect(env.stdout).toContain("'MLFLOW_EXPERIMENT_ID', 'MLFLOW_RUN_CONTEXT', 'MLFLOW_TRACKING_TOKEN', 'MLFLOW_TRACKING_URI'");
      expect(env.stdout).toContain("'PAVED_TOKEN', 'PAVED_URL', 'PAVED_WORKSPACE_ID'");
      expect(env.stdout).toMatch(/\/workspaces\/bin\/paved\nteam-a\n$/);
      const cell = await k.execute(TRAIN_CELL);
      expect(cell.status, JSON.stringify(cell)).toBe("ok");
      const runId = /RUN (\w+)/.exec(cell.stdout)![1]!;
      const run = await call(people.ada, "GET", `/api/2.0/mlflow/runs/get?run_id=${runId}`);
      expect(run.statusCode, run.body).toBe(200);
      const { info, data } = run.json().run;
      expect(info).toMatchObject({ experiment_id: workspace.experimentId, status: "FINISHED", run_name: "notebook-cell" });
      const tags = Object.fromEntries((data.tags as { key: string; value: string }[]).map((t) => [t.key, t.value]));
      expect(tags).toMatchObject({ "mlflow.user": "ada", "paved.workspace_id": workspace.id });
      expect(tags["paved.workspace.kernel_id"]).toMatch(/^[0-9a-f-]{36}$/);
      expect((data.metrics as { key: string; value: number }[]).find((m) => m.key === "accuracy")!.value).toBeGreaterThan(0.8);
      // The run is the developer's, in the experiment the workspace records into.
      const search = await call(people.ada, "POST", "/api/2.0/mlflow/runs/search", { experiment_ids: [workspace.experimentId] });
      expect(search.json().runs.map((r: { info: { run_id: string } }) => r.info.run_id)).toEqual([runId]);
    } finally {
      k.close();
    }
  });

  it("another team's member, and a teammate it is not shared with, find nothing there by id or URL", async () => {
    for (const who of [people.bo, people.cy]) {
      expect((await call(who, "GET", `/api/v1/workspaces/${workspace.id}`)).statusCode).toBe(404);
      expect((await call(who, "POST", `/api/v1/workspaces/${workspace.id}/stop`)).statusCode).toBe(404);
      const page = await http(who, "GET", `${base()}api/status`);
      expect(page.status, page.body).toBe(404);
      expect(JSON.parse(page.body).error.code).toBe("NOT_FOUND");
      await expect(WebSocketClient.connect({ url: `${url.replace("http", "ws")}${base()}api/kernels/x/channels` }, who)).rejects.toMatchObject({ status: 404 });
      expect((await call(who, "GET", "/api/v1/workspaces")).json().workspaces).toEqual([]);
    }
    // Without any credential: refused before anything reaches Jupyter.
    expect((await http({}, "GET", `${base()}api/status`)).status).toBe(401);
    // Shared with cy, it opens for cy (and still not for bo, of another team).
    expect((await call(people.ada, "POST", `/api/v1/workspaces/${workspace.id}/share`, { add: ["cy"] })).statusCode).toBe(200);
    expect((await http(people.cy, "GET", `${base()}api/status`)).status).toBe(200);
    expect((await call(people.ada, "POST", `/api/v1/workspaces/${workspace.id}/share`, { add: ["bo"] })).statusCode).toBe(400);
    expect((await call(people.ada, "POST", `/api/v1/workspaces/${workspace.id}/share`, { remove: ["cy"] })).statusCode).toBe(200);
    expect((await http(people.cy, "GET", `${base()}api/status`)).status).toBe(404);
  });

  it("refuses paths and websocket URLs that leave the workspace's prefix", async () => {
    for (const path of [`${base()}../../api/v1/health`, `${base()}%2e%2e/other/api/status`, `${base()}api/..%2F..%2Fx`, `/workspaces/${workspace.id}%2F..%2Fws_x/api/status`, `${base()}a\\..\\b`]) {
      const res = await http(people.ada, "GET", path);
      expect(res.status, `${path}: ${res.body}`).toBe(400);
    }
    await expect(WebSocketClient.connect({ url: `${url.replace("http", "ws")}${base()}api/kernels/..%2F..%2F..%2Fx/channels` }, people.ada)).rejects.toMatchObject({ status: 400 });
  });

  it("carries no Paved token to Jupyter and no Jupyter token to the browser", async () => {
    const token = (await app.database.db.selectFrom("workspaces").select("jupyter_token").where("workspace_id", "=", workspace.id).executeTakeFirstOrThrow()).jupyter_token!;
    expect(token.length).toBeGreaterThan(20);
    for (const path of ["tree", "api/status", "api/kernels", "api/contents", "notebooks/x.ipynb"]) {
      const res = await http(people.ada, "GET", `${base()}${path}`);
      expect(`${res.body}${JSON.stringify(res.headers)}`).not.toContain(token);
    }
    // What the Jupyter server saw of the request: a kernel asks its own server who called, through a log line.
    const k = await kernel(people.ada);
    try {
      const out = await k.execute("import os; print('JUPYTER_TOKEN_FILE' in os.environ, 'JUPYTER_TOKEN' in os.environ)");
      expect(out.stdout.trim()).toBe("False False");
    } finally {
      k.close();
    }
  });

  it("stops (giving its resources back) and starts again with its files, same URL", async () => {
    const saved = await http(people.ada, "PUT", `${base()}api/contents/notes.txt`, JSON.stringify({ type: "file", format: "text", content: "kept across stop and start" }));
    expect(saved.status, saved.body).toBe(201);
    const stopped = await call(people.ada, "POST", `/api/v1/workspaces/${workspace.id}/stop`);
    expect(stopped.statusCode, stopped.body).toBe(200);
    const ws = await until(workspace.id, ["STOPPED"]);
    expect(ws.message).toBe("stopped by ada");
    expect((await call(people.ada, "GET", "/api/v1/compute/resources")).json().free.cpus).toBe(4);
    expect((await http(people.ada, "GET", `${base()}api/status`)).status).toBe(409);
    expect((await call(people.ada, "POST", `/api/v1/workspaces/${workspace.id}/start`)).statusCode).toBe(200);
    const again = await until(workspace.id, ["RUNNING"]);
    expect(again).toMatchObject({ url: workspace.url, session: 2 });
    const file = await http(people.ada, "GET", `${base()}api/contents/notes.txt?content=1`);
    expect(JSON.parse(file.body).content).toBe("kept across stop and start");
  });

  it("refuses an unknown profile or environment, naming the valid ones", async () => {
    const profile = await call(people.ada, "POST", "/api/v1/workspaces", { profile: "gpu-huge" });
    expect(profile.statusCode).toBe(400);
    expect(profile.json().error.details.known).toContain("cpu");
    const env = await call(people.ada, "POST", "/api/v1/workspaces", { profile: "cpu", environment: "nope" });
    expect(env.statusCode).toBe(400);
    const fromRun = await call(people.ada, "POST", "/api/v1/workspaces", { profile: "cpu", fromRun: "abc" });
    expect(fromRun.json().error.code).toBe("UNSUPPORTED");
    // Nothing was left behind by the refusals.
    expect((await call(people.ada, "GET", "/api/v1/workspaces")).json().workspaces.map((w: WorkspaceView) => w.name)).toEqual(["eda"]);
  });
});

describe("a server without Jupyter", () => {
  it("refuses to create a workspace, naming the package to install", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "paved-ws-nojupyter-"));
    const app = await createApp(loadConfig({ env: {}, overrides: { dataDir, logLevel: "silent", compute: { gpus: [] }, workspaces: { jupyter: "/nonexistent/bin/jupyter" } } }));
    try {
      const res = await app.server.inject({ method: "POST", url: "/api/v1/workspaces", headers: { authorization: `Bearer ${app.generatedAdminToken}` }, payload: { profile: "cpu" } });
      expect(res.statusCode).toBe(503);
      expect(res.json().error).toMatchObject({ code: "UNAVAILABLE", details: { package: "jupyter-notebook" } });
    } finally {
      await app.close();
    }
  });
});
