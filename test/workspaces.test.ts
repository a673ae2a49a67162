import { mkdtempSync, writeFileSync } from "node:fs";
import { request as httpRequest } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { createApp, type App } from "../src/app.ts";
import { loadConfig } from "../src/config/index.ts";
import { KernelClient, WebSocketClient, type WorkspaceView } from "../src/modules/workspaces/index.ts";
import { pollUntil } from "./support/poll.ts";
import { createMembers } from "./support/teams.ts";
import { testDialects, testPostgresUrl } from "./support/databases.ts";

// Each test starts Jupyter servers and kernels: in the full suite on two cores that takes many times
// its figure alone, so the limit is above pollUntil's deadline (whose failure names what never happened).
vi.setConfig({ testTimeout: 200_000, hookTimeout: 200_000 });

type Who = { authorization: string };

/** The environment catalog of this test's server: one that builds from Debian's packages, one that cannot. */
const ENVIRONMENTS = `environments:
  - { name: sklearn, version: "1", python: /usr/bin/python3, packages: ["scikit-learn>=1.0", numpy] }
  - { name: broken, version: "1", python: /usr/bin/python3, packages: [numpy, no-such-package-paved] }
`;

/**
 * Issue 9, items 1–4 in detail (the story itself is test/workspaces-story.test.ts): the workspace is
 * a job of its profile; a member of team B, and a member of team A it is not shared with, find
 * nothing there by id or URL; paths that leave the workspace's prefix are refused; neither token
 * crosses the proxy; stop and start keep the home, which counts toward the storage quota;
 * environments are built once and reused.
 */
describe.each(testDialects())("workspaces: ask, reach through Paved only, track without setup (%s)", (dialect) => {
  let app: App;
  let url: string;
  let admin: Who;
  let people: Record<"ada" | "cy" | "bo", Who>;
  let workspace: WorkspaceView;

  const call = (who: Who, method: "GET" | "POST" | "PUT" | "DELETE", path: string, payload?: unknown) =>
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

  beforeAll(async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "paved-ws-"));
    const environmentsFile = join(dataDir, "environments.yaml");
    writeFileSync(environmentsFile, ENVIRONMENTS);
    const databaseUrl = dialect === "postgres" ? await testPostgresUrl() : undefined;
    app = await createApp(
      loadConfig({
        env: {},
        overrides: {
          dataDir,
          port: 0,
          logLevel: "silent",
          compute: { gpus: [], cpus: 4, memoryMiB: 8192, python: "/nonexistent/python3" },
          workspaces: { intervalSeconds: 1, homeSizeMinutes: 0.01, environments: { file: environmentsFile } },
          ...(databaseUrl ? { databaseUrl } : {}),
        },
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
  });
  afterAll(async () => {
    // Every workspace left (a failed test's too): their servers are jobs, which outlive the app.
    const left = app ? ((await call(admin, "GET", "/api/v1/workspaces?all=true")).json().workspaces ?? []) as WorkspaceView[] : [];
    for (const w of left) await call(admin, "DELETE", `/api/v1/workspaces/${w.id}`);
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

  it("counts its home folder toward the team's storage quota, listing the workspace", async () => {
    const bytes = Buffer.alloc(3 * 1024 * 1024, 7);
    const put = await http(people.ada, "PUT", `${base()}api/contents/weights.bin`, JSON.stringify({ type: "file", format: "base64", content: bytes.toString("base64") }));
    expect(put.status, put.body).toBe(201);
    let holder: { kind: string; id: string; amount: number } | undefined;
    for (let i = 0; i < 400 && !(holder && holder.amount >= bytes.length); i++) {
      await sleep(100);
      const quotas = await call(people.ada, "GET", "/api/v1/teams/team-a/quotas");
      expect(quotas.statusCode, quotas.body).toBe(200);
      const line = (quotas.json().lines as { resource: string; used: number; by: { kind: string; id: string; amount: number }[] }[]).find((l) => l.resource === "storageBytes")!;
      holder = line.by.find((h) => h.kind === "workspace" && h.id === workspace.id);
      if (holder) expect(line.used).toBeGreaterThanOrEqual(holder.amount);
    }
    expect(holder?.amount).toBeGreaterThanOrEqual(bytes.length);
    // With a quota its home already fills, the team's next upload is refused, the home counted.
    expect((await call(admin, "PUT", "/api/v1/teams/team-a/quotas", { storageBytes: 2 * 1024 * 1024 })).statusCode).toBe(200);
    const experiment = (await call(people.ada, "POST", "/api/2.0/mlflow/experiments/create", { name: "ada-storage" })).json();
    const run = (await call(people.ada, "POST", "/api/2.0/mlflow/runs/create", { experiment_id: experiment.experiment_id, start_time: 1 })).json().run.info;
    const upload = await app.server.inject({
      method: "PUT",
      url: `/api/2.0/mlflow-artifacts/artifacts/${experiment.experiment_id}/${run.run_id}/artifacts/small.txt`,
      headers: { ...people.ada, "content-type": "application/octet-stream" },
      payload: Buffer.from("a few bytes"),
    });
    expect(upload.statusCode, upload.body).toBe(429);
    expect(upload.json().message).toMatch(/workspace home folders/);
    expect((await call(admin, "PUT", "/api/v1/teams/team-a/quotas", { storageBytes: null })).statusCode).toBe(200);
    expect((await http(people.ada, "DELETE", `${base()}api/contents/weights.bin`)).status).toBe(204);
  });

  it("builds an environment once into a virtualenv its kernels run in, and reuses it", async () => {
    const first = await call(people.ada, "POST", "/api/v1/workspaces", { name: "env-a", profile: "cpu", environment: "sklearn" });
    expect(first.statusCode, first.body).toBe(200);
    const a = first.json() as WorkspaceView;
    expect(a.environment).toBe("sklearn@1");
    expect(a.events.map((e) => e.type)).toContain("EnvironmentBuilt");
    const second = await call(people.ada, "POST", "/api/v1/workspaces", { name: "env-b", profile: "cpu", environment: "sklearn@1" });
    expect(second.statusCode, second.body).toBe(200);
    const b = second.json() as WorkspaceView;
    expect(b.events.map((e) => e.type)).not.toContain("EnvironmentBuilt");
    expect(b.events.find((e) => e.type === "Environment")?.message).toMatch(/reused/);
    const listed = (await call(people.ada, "GET", "/api/v1/environments")).json().environments as { ref: string; built: boolean; digest: string }[];
    const sklearn = listed.find((e) => e.ref === "sklearn@1")!;
    expect(sklearn.built).toBe(true);
    expect(listed.find((e) => e.ref === "broken@1")?.built).toBe(false);
    // Its kernels run the virtualenv's interpreter (keyed by the digest), which sees Debian's scikit-learn.
    const ready = await until(a.id, ["RUNNING"]);
    const started = await http(people.ada, "POST", `/workspaces/${ready.id}/api/kernels`, "{}");
    const k = await KernelClient.open({ url }, `/workspaces/${ready.id}/`, (JSON.parse(started.body) as { id: string }).id, people.ada);
    try {
      const out = await k.execute("import sys, os, sklearn; print(sys.prefix.endswith(os.environ['PAVED_ENVIRONMENT'] and '" + sklearn.digest + "'), os.environ['VIRTUAL_ENV'] == sys.prefix, sklearn.__version__ >= '1.0')");
      expect(out.stdout.trim(), JSON.stringify(out)).toBe("True True True");
    } finally {
      k.close();
    }
    for (const w of [a, b]) expect((await call(people.ada, "DELETE", `/api/v1/workspaces/${w.id}`)).statusCode).toBe(200);
  });

  it("refuses an environment whose packages cannot be installed, naming them, and keeps nothing of it", async () => {
    const res = await call(people.ada, "POST", "/api/v1/workspaces", { name: "env-broken", profile: "cpu", environment: "broken" });
    expect(res.statusCode, res.body).toBe(503);
    expect(res.json().error).toMatchObject({ code: "UNAVAILABLE", details: { reason: "ENVIRONMENT_BUILD_FAILED", environment: "broken@1", missing: ["no-such-package-paved"] } });
    expect((await call(people.ada, "GET", "/api/v1/workspaces")).json().workspaces.map((w: WorkspaceView) => w.name)).toEqual(["eda"]);
  });

  it("refuses an unknown profile, environment or run, naming the valid ones", async () => {
    const profile = await call(people.ada, "POST", "/api/v1/workspaces", { profile: "gpu-huge" });
    expect(profile.statusCode).toBe(400);
    expect(profile.json().error.details.known).toContain("cpu");
    const env = await call(people.ada, "POST", "/api/v1/workspaces", { profile: "cpu", environment: "nope" });
    expect(env.statusCode).toBe(400);
    expect(env.json().error.details.known).toEqual(["broken@1", "sklearn@1"]);
    const fromRun = await call(people.ada, "POST", "/api/v1/workspaces", { profile: "cpu", fromRun: "abc" });
    expect(fromRun.json().error.code).toBe("NOT_FOUND");
    const fromModel = await call(people.ada, "POST", "/api/v1/workspaces", { profile: "cpu", fromModel: "no-such-model@1" });
    expect(fromModel.json().error.code).toBe("NOT_FOUND");
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

const isRoot = process.getuid?.() === 0;
describe.skipIf(!isRoot)(`a server with compute.runAs (${isRoot ? "jobs as user nobody" : "skipped: switching users needs root"})`, () => {
  it("refuses to create a workspace with UNSUPPORTED and the reason, keeping nothing", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "paved-ws-runas-"));
    const app = await createApp(loadConfig({ env: {}, overrides: { dataDir, logLevel: "silent", compute: { gpus: [], runAs: "nobody" } } }));
    try {
      const headers = { authorization: `Bearer ${app.generatedAdminToken}` };
      const res = await app.server.inject({ method: "POST", url: "/api/v1/workspaces", headers, payload: { profile: "cpu" } });
      expect(res.statusCode, res.body).toBe(400);
      expect(res.json().error).toMatchObject({ code: "UNSUPPORTED", details: { runAs: "nobody" } });
      expect(res.json().error.message).toContain("compute.runAs");
      expect((await app.server.inject({ method: "GET", url: "/api/v1/workspaces?all=true", headers })).json().workspaces).toEqual([]);
    } finally {
      await app.close();
    }
  });
});
