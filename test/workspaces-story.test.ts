// Issue 9's story, end to end on one server: a developer of team A creates a workspace and runs a
// cell through Paved's proxy (a real kernel, the Jupyter kernel protocol over the websocket) that
// trains a model with mlflow's log_metric calls (autologging off); the run lands in their
// experiment. A member of team B gets 404 on the workspace by id and by URL. Left idle, the
// workspace is warned, then culled, and comes back with its files. `--from-run` reproduces the
// quickstart run's code and parameters. The details of each item are in workspaces.test.ts,
// workspaces-idle.test.ts (GPU use, budgets), workspaces-pool.test.ts and workspaces-restart.test.ts.
// The cpu profile's idle limit is seconds here so the test sees the cull; nothing is asserted about
// how long anything took.
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { parse as parseYaml } from "yaml";
import { createApp, type App } from "../src/app.ts";
import { loadConfig } from "../src/config/index.ts";
import { KernelClient, WebSocketClient, type WorkspaceView } from "../src/modules/workspaces/index.ts";
import { testDialects, testPostgresUrl } from "./support/databases.ts";
import { pollUntil } from "./support/poll.ts";
import { createMembers } from "./support/teams.ts";

// Jupyter servers, kernels and a PyTorch job: in the full suite on two cores that takes many times
// its figure alone, so the limit is above pollUntil's deadline (whose failure names what never happened).
vi.setConfig({ testTimeout: 200_000, hookTimeout: 200_000 });

type Who = { authorization: string };

const QUICKSTART = join(import.meta.dirname, "../examples/quickstart");
const hasTorch = spawnSync("/usr/bin/python3", ["-c", "import torch, sklearn"], { stdio: "ignore" }).status === 0;

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

describe.each(testDialects())("issue 9's story: ask, train through the proxy, 404 for another team, culled and back, reproduce (%s)", (dialect) => {
  let app: App;
  let url: string;
  let admin: Who;
  let people: Record<"ada" | "bo", Who>;
  let workspace: WorkspaceView;

  const call = (who: Who, method: "GET" | "POST" | "PUT" | "DELETE", path: string, payload?: unknown) =>
    app.server.inject({ method, url: path, headers: who, ...(payload !== undefined ? { payload: payload as object } : {}) });
  /** A request over the network (the proxy is not an inject route). */
  const http = async (who: Who, method: string, path: string, body?: string) => {
    const res = await fetch(`${url}${path}`, { method, headers: { ...who, ...(body ? { "content-type": "application/json" } : {}) }, ...(body ? { body } : {}) });
    return { status: res.status, body: await res.text() };
  };
  const until = (id: string, phases: string[]) =>
    pollUntil(
      `workspace ${id} reaching ${phases.join("/")}`,
      async () => {
        const res = await call(people.ada, "GET", `/api/v1/workspaces/${id}`);
        expect(res.statusCode, res.body).toBe(200);
        return res.json() as WorkspaceView;
      },
      (ws) => phases.includes(ws.phase),
      { fail: (ws) => (ws.phase === "FAILED" ? `it failed: ${ws.message}` : undefined) },
    );
  const base = () => `/workspaces/${workspace.id}/`;
  async function kernel(who: Who): Promise<KernelClient> {
    const started = await http(who, "POST", `${base()}api/kernels`, "{}");
    expect(started.status, started.body).toBe(201);
    return KernelClient.open({ url }, base(), (JSON.parse(started.body) as { id: string }).id, who);
  }
  async function job(id: string): Promise<{ phase: string; runId: string; message: string | null; events: { message: string }[]; spec: { workingDir: string } }> {
    return pollUntil(
      `job ${id} ending`,
      async () => {
        const res = await call(people.ada, "GET", `/api/v1/jobs/${id}`);
        expect(res.statusCode, res.body).toBe(200);
        return res.json();
      },
      (j) => ["SUCCEEDED", "FAILED", "CANCELLED"].includes(j.phase),
      { intervalMs: 250, timeoutMs: 300_000 },
    );
  }
  /** A run's code snapshot as stored: path → content digest. */
  const codeOf = async (runId: string) =>
    Object.fromEntries(
      (await app.database.db.selectFrom("artifacts").select(["path", "digest"]).where("run_id", "=", runId).where("path", "like", "code/%").execute()).map((a) => [a.path, a.digest]),
    );
  const paramsOf = async (runId: string) =>
    Object.fromEntries(((await call(people.ada, "GET", `/api/2.0/mlflow/runs/get?run_id=${runId}`)).json().run.data.params as { key: string; value: string }[]).map((p) => [p.key, p.value]));
  const tagsOf = async (runId: string) =>
    Object.fromEntries(((await call(people.ada, "GET", `/api/2.0/mlflow/runs/get?run_id=${runId}`)).json().run.data.tags as { key: string; value: string }[]).map((p) => [p.key, p.value]));


  beforeAll(async () => {
    const databaseUrl = dialect === "postgres" ? await testPostgresUrl() : undefined;
    app = await createApp(
      loadConfig({
        env: {},
        overrides: {
          dataDir: mkdtempSync(join(tmpdir(), "paved-ws-story-")),
          port: 0,
          logLevel: "silent",
          compute: { gpus: [], cpus: 8, memoryMiB: 32768, python: "/nonexistent/python3" },
          // cpu: culled after 12 s without use, warned 1.2 s before (the reproductions may be culled too once
          // their cells ran: nothing after that needs them running).
          workspaces: { intervalSeconds: 0.2, idle: { warnMinutes: 0.02 }, profiles: { cpu: { idleMinutes: 0.2 } } },
          ...(databaseUrl ? { databaseUrl } : {}),
        },
      }),
      { env: { PATH: process.env.PATH } },
    );
    url = await app.listen();
    admin = { authorization: `Bearer ${app.generatedAdminToken}` };
    people = await createMembers(app, admin, ["team-a", "team-b"], {
      ada: [{ team: "team-a", role: "developer" }],
      bo: [{ team: "team-b", role: "developer" }],
    });
  });
  afterAll(async () => {
    // Every workspace left (a failed test's too): their servers are jobs, which outlive the app.
    const left = app ? ((await call(admin, "GET", "/api/v1/workspaces?all=true")).json().workspaces ?? []) as WorkspaceView[] : [];
    for (const w of left) await call(admin, "DELETE", `/api/v1/workspaces/${w.id}`);
    await app?.close();
  });

  it("a developer of team A creates a workspace; a cell run through the proxy trains a model and its mlflow run lands in their experiment", async () => {
    const res = await call(people.ada, "POST", "/api/v1/workspaces", { name: "eda", profile: "cpu", experiment: "ada-eda" });
    expect(res.statusCode, res.body).toBe(200);
    workspace = await until(res.json().id, ["RUNNING"]);
    expect(workspace).toMatchObject({ name: "eda", team: "team-a", owner: "ada", profile: "cpu", url: `${url}/workspaces/${workspace.id}/` });
    const k = await kernel(people.ada);
    try {
      const env = await k.execute("import os, shutil; print(sorted(k for k in os.environ if k.startswith(('PAVED_', 'MLFLOW_')))); print(shutil.which('paved')); print(os.environ['PAVED_TEAM'])");
      expect(env.status, JSON.stringify(env)).toBe("ok");
      expect(env.stdout).toContain("'MLFLOW_EXPERIMENT_ID', 'MLFLOW_RUN_CONTEXT', 'MLFLOW_TRACKING_TOKEN', 'MLFLOW_TRACKING_URI'");
      expect(env.stdout).toContain("'PAVED_TOKEN', 'PAVED_URL', 'PAVED_WORKSPACE_ID'");
      expect(env.stdout).toMatch(/\/workspaces\/bin\/paved\nteam-a\n$/);
      // The Python SDK is there, signed in as the workspace.
      const sdk = await k.execute("import paved; print(paved.Client().whoami()['name'])");
      expect(sdk.status, JSON.stringify(sdk)).toBe("ok");
      expect(sdk.stdout.trim()).toMatch(/^job:/);
      const cell = await k.execute(`${TRAIN_CELL}\nopen("notes.txt", "w").write("written by a cell")`);
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

  it("a member of team B gets 404 on it, by id and by URL, as for a workspace that does not exist", async () => {
    const missing = await call(people.bo, "GET", "/api/v1/workspaces/ws-0000000000");
    const theirs = await call(people.bo, "GET", `/api/v1/workspaces/${workspace.id}`);
    expect(theirs.statusCode).toBe(404);
    expect(theirs.body.replace(workspace.id, "ws-0000000000")).toBe(missing.body);
    const page = await http(people.bo, "GET", `${base()}api/status`);
    expect(page.status, page.body).toBe(404);
    expect(JSON.parse(page.body).error.code).toBe("NOT_FOUND");
    await expect(WebSocketClient.connect({ url: `${url.replace("http", "ws")}${base()}api/kernels/x/channels` }, people.bo)).rejects.toMatchObject({ status: 404 });
  });

  it("left idle, it is warned, then culled (its CPU given back), and comes back with its files at the same URL", async () => {
    const culled = await until(workspace.id, ["STOPPED"]);
    expect(culled.message).toMatch(/^culled: no kernel activity for 0.2 minutes/);
    const types = culled.events.map((e) => e.type);
    expect(types.indexOf("IdleWarning")).toBeGreaterThan(types.indexOf("Ready"));
    expect((await call(people.ada, "GET", "/api/v1/compute/resources")).json().free.cpus).toBe(8);
    expect((await call(people.ada, "POST", `/api/v1/workspaces/${workspace.id}/start`)).statusCode).toBe(200);
    const back = await until(workspace.id, ["RUNNING"]);
    expect(back).toMatchObject({ url: workspace.url, session: 2 });
    const file = await http(people.ada, "GET", `${base()}api/contents/notes.txt?content=1`);
    expect(file.status, file.body).toBe(200);
    expect(JSON.parse(file.body).content).toBe("written by a cell");
  });

  it.skipIf(!hasTorch)("--from-run reproduces the quickstart run's code and parameters, and paved apply in it runs that code again", async () => {
    // The quickstart, run as a real job of ada's.
    const spec = parseYaml(readFileSync(join(QUICKSTART, "job.yaml"), "utf8")) as Record<string, unknown>;
    const submitted = await call(people.ada, "POST", "/api/v1/jobs", { ...spec, team: "team-a", workingDir: QUICKSTART });
    expect(submitted.statusCode, submitted.body).toBe(200);
    const original = await job(submitted.json().id);
    expect(original.phase, original.message ?? "").toBe("SUCCEEDED");
    const originalCode = await codeOf(original.runId);
    expect(Object.keys(originalCode)).toEqual(expect.arrayContaining(["code/train.py", "code/paved_log.py"]));
    // Another team's member cannot reproduce it: the run is missing to them.
    expect((await call(people.bo, "POST", "/api/v1/workspaces", { fromRun: original.runId })).statusCode).toBe(404);

    const created = await call(people.ada, "POST", "/api/v1/workspaces", { name: "repro", profile: "cpu", fromRun: original.runId });
    expect(created.statusCode, created.body).toBe(200);
    const repro = created.json() as WorkspaceView;
    expect(repro).toMatchObject({ fromRun: original.runId, experiment: "quickstart" });
    expect(repro.events.find((e) => e.type === "Reproducing")?.message).toContain("paved apply -f paved-run/job.yaml");
    await until(repro.id, ["RUNNING"]);
    const started = await http(people.ada, "POST", `/workspaces/${repro.id}/api/kernels`, "{}");
    const k = await KernelClient.open({ url }, `/workspaces/${repro.id}/`, (JSON.parse(started.body) as { id: string }).id, people.ada);
    const sha = (file: string) => createHash("sha256").update(readFileSync(join(QUICKSTART, file))).digest("hex");
    try {
      const seen = await k.execute(`
import hashlib, json, os
print(json.dumps({
  "code": {f: hashlib.sha256(open(f, "rb").read()).hexdigest() for f in ["train.py", "paved_log.py"]},
  "params": json.load(open(os.environ["PAVED_PARAMS_FILE"])),
  "env": json.loads(os.environ["PAVED_HYPERPARAMETERS"]),
  "run": json.load(open("paved-run/run.json")),
}))`);
      expect(seen.status, JSON.stringify(seen)).toBe("ok");
      const got = JSON.parse(seen.stdout) as { code: Record<string, string>; params: Record<string, string>; env: Record<string, string>; run: { datasets: { name: string; digest: string }[]; source: { command: string[] } } };
      expect(got.code).toEqual({ "train.py": sha("train.py"), "paved_log.py": sha("paved_log.py") });
      const params = await paramsOf(original.runId);
      expect(params).toMatchObject({ epochs: "10", lr: "0.005", hidden: "16" });
      expect(got.params).toEqual(params);
      expect(got.env).toEqual(params);
      expect(got.run.datasets.map((d) => d.name)).toEqual(["breast-cancer"]);
      expect(got.run.source.command).toEqual(["/usr/bin/python3", "train.py"]);

      // From the workspace's terminal (here: its kernel), run it again; the live train.py is then
      // edited, and the job still runs (and records) the code as it was when submitted.
      const applied = await k.execute(`
import subprocess
out = subprocess.run(["paved", "apply", "-f", "paved-run/job.yaml", "--json"], capture_output=True, text=True)
print(out.stdout if out.returncode == 0 else "FAILED " + out.stderr)
with open("train.py", "a") as f:
    f.write("\\nraise SystemExit('edited after the job was submitted')\\n")`);
      expect(applied.status, JSON.stringify(applied)).toBe("ok");
      expect(applied.stdout, JSON.stringify(applied)).not.toMatch(/^FAILED/);
      const againId = (JSON.parse(applied.stdout) as { id: string }).id;
      const again = await job(againId);
      expect(again.phase, `${again.message}\n${(await call(people.ada, "GET", `/api/v1/jobs/${againId}/logs`)).body.slice(-2000)}`).toBe("SUCCEEDED");
      expect(again.spec.workingDir).toMatch(/\/snapshots\//);
      expect(again.events.map((e) => e.message).join("\n")).toContain(`from workspace repro: runs a snapshot`);
      expect(await codeOf(again.runId)).toEqual(originalCode);
      expect(await paramsOf(again.runId)).toEqual(params);
      expect(await tagsOf(again.runId)).toMatchObject({ "paved.workspace_id": repro.id, "paved.workspace.from_run": original.runId, "paved.workspace.source_dir": "." });
      expect((await call(people.ada, "GET", `/api/2.0/mlflow/runs/get?run_id=${again.runId}`)).json().run.info.user_id).toBe("ada");
    } finally {
      k.close();
    }
    // The same through the model version registered from the run.
    expect((await call(people.ada, "POST", "/api/v1/models/ws-repro-model/versions", { source: `runs:/${original.runId}/outputs` })).statusCode).toBe(200);
    const byModel = await call(people.ada, "POST", "/api/v1/workspaces", { name: "repro-model", profile: "cpu", fromModel: "ws-repro-model@1" });
    expect(byModel.statusCode, byModel.body).toBe(200);
    expect(byModel.json()).toMatchObject({ fromRun: original.runId, fromModel: "ws-repro-model@1" });
    for (const id of [repro.id, byModel.json().id]) expect((await call(people.ada, "DELETE", `/api/v1/workspaces/${id}`)).statusCode).toBe(200);
  }, 600_000);

});
