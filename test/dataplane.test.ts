// The data plane as its own processes (issue 14 item 1), with real `paved up` and data-plane
// processes, real ONNX models and kill -9: predictions keep being answered while the control plane
// is down and after it comes back; a data-plane process that dies is started again on its saved
// state, and requests to it fail fast meanwhile; a model it cannot load leaves the previous copy
// serving and says why.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildTestModels } from "../src/modules/serving/test-models.ts";
import { pollUntil } from "./support/poll.ts";
import { freePort, startServerProcess, type ServerProcess } from "./support/server-process.ts";

const ROOT = new URL("..", import.meta.url).pathname;
const TOKEN = "pvd_dataplane_test_token_0123456789";
const auth = { authorization: `Bearer ${TOKEN}` };
const models = buildTestModels();
const body = JSON.stringify({ inputs: [{ name: "input", shape: [1, 4], datatype: "FP32", data: [0.1, 0.2, 0.3, 0.4] }] });

describe("data plane: separate processes that outlive the control plane", () => {
  let dir: string;
  let dataDir: string;
  let port: number;
  let dataPlanePort: number;
  let server: ServerProcess | undefined;
  const start = () => startServerProcess({ dataDir, token: TOKEN, port, config: { serving: { dataPlane: { processes: 1, port: dataPlanePort } } } });

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "paved-dataplane-"));
    dataDir = join(dir, "data");
    port = await freePort();
    dataPlanePort = await freePort();
    server = await start();
  });

  afterAll(async () => {
    // Stops the data plane too (paved up's SIGTERM leaves it serving).
    await server?.stop();
  });

  const dataPlaneUrl = () => `http://127.0.0.1:${dataPlanePort}`;
  const infer = (base: string, name = "tiny") => fetch(`${base}/v2/models/${name}/infer`, { method: "POST", headers: { ...auth, "content-type": "application/json" }, body, signal: AbortSignal.timeout(30_000) });
  const load = (name: string, version: string, bytes: Uint8Array) =>
    fetch(`${server!.url}/api/v1/serving/models/${name}/versions/${version}`, { method: "PUT", headers: { ...auth, "content-type": "application/octet-stream" }, body: bytes });

  it("paved up starts a data-plane process; a model loaded through the control plane is served by it, and relayed at the API's /v2", async () => {
    await pollUntil("paved up to name its data plane", async () => server!.output(), (out) => out.includes(`data-plane process(es): ${dataPlaneUrl()}`));
    const loaded = await load("tiny", "1", models.bytes("tiny"));
    expect(loaded.status, await loaded.clone().text()).toBe(200);
    const direct = await infer(dataPlaneUrl());
    expect(direct.status).toBe(200);
    const relayed = await infer(server!.url);
    expect(relayed.status).toBe(200);
    expect(((await relayed.json()) as { outputs: unknown }).outputs).toEqual(((await direct.json()) as { outputs: unknown }).outputs);
    // The data plane checks tokens itself: none, or a wrong one, is refused there too.
    expect((await fetch(`${dataPlaneUrl()}/v2/models/tiny/infer`, { method: "POST", body })).status).toBe(401);
    // Its own API answers only its secret.
    expect((await fetch(`${dataPlaneUrl()}/dataplane/v1/state`, { headers: auth })).status).toBe(401);
    const listed = (await (await fetch(`${server!.url}/api/v1/serving/models`, { headers: auth })).json()) as { models: { name: string; version: string }[] };
    expect(listed.models.map((m) => `${m.name}@${m.version}`)).toEqual(["tiny@1"]);
  });

  it("the data plane's fast path answers inference exactly as its Fastify route does (same status, headers that matter, body)", async () => {
    const binaryHeader = JSON.stringify({ id: "b", inputs: [{ name: "input", shape: [1, 4], datatype: "FP32", parameters: { binary_data_size: 16 } }], parameters: { binary_data_output: true } });
    const binaryBody = Buffer.concat([Buffer.from(binaryHeader), Buffer.from(Float32Array.from([0.1, 0.2, 0.3, 0.4]).buffer)]);
    const json = JSON.stringify({ id: "j", inputs: [{ name: "input", shape: [1, 4], datatype: "FP32", data: [0.1, 0.2, 0.3, 0.4] }] });
    const cases: { path: string; headers: Record<string, string>; body: string | Buffer }[] = [
      // fetch asks for gzip by default (a small answer is then sent as it is, with its headers); identity: the plain JSON answer.
      { path: "/v2/models/tiny/infer", headers: { ...auth, "content-type": "application/json", "accept-encoding": "identity" }, body: json },
      { path: "/v2/models/tiny/infer", headers: { ...auth, "content-type": "application/json" }, body: json },
      { path: "/v2/models/tiny/versions/1/infer", headers: { ...auth, "accept-encoding": "identity" }, body: json },
      { path: "/v2/models/tiny/infer", headers: { ...auth, "inference-header-content-length": String(binaryHeader.length) }, body: binaryBody },
      { path: "/v2/models/tiny/infer", headers: { ...auth, "accept-encoding": "gzip" }, body: json },
      { path: "/v2/models/tiny/infer", headers: { authorization: "Bearer pvd_not_a_token_0123456789" }, body: json },
      { path: "/v2/models/nothing-here/infer", headers: auth, body: json },
      { path: "/v2/models/tiny/versions/9/infer", headers: auth, body: json },
      { path: "/environments/staging/v2/models/tiny/infer", headers: auth, body: json },
      { path: "/v2/models/tiny/infer", headers: auth, body: "{not json" },
      { path: "/v2/models/tiny/infer", headers: auth, body: JSON.stringify({ inputs: [{ name: "input", shape: [1, 3], datatype: "FP32", data: [1, 2, 3] }] }) },
    ];
    for (const c of cases) {
      const send = async (suffix: string) => {
        const res = await fetch(`${dataPlaneUrl()}${c.path}${suffix}`, { method: "POST", headers: c.headers, body: c.body });
        return { status: res.status, type: res.headers.get("content-type"), inference: res.headers.get("inference-header-content-length"), body: Buffer.from(await res.arrayBuffer()).toString("base64") };
      };
      // A query string leaves the request to Fastify's route; without it, the fast path answers.
      expect(await send(""), c.path).toEqual(await send("?via=route"));
    }
  });

  it("attacker: another team's member gets the answer of a model that does not exist, on the fast path and the route alike; the data plane holds no secret of paved up's", async () => {
    const admin = (method: string, path: string, payload: unknown) =>
      fetch(`${server!.url}${path}`, { method, headers: { ...auth, "content-type": "application/json" }, body: JSON.stringify(payload) });
    expect((await admin("POST", "/api/v1/teams", { name: "rivals" })).status).toBe(200);
    expect((await admin("POST", "/api/v1/users", { name: "mallory", teams: [{ team: "rivals", role: "developer" }] })).status).toBe(200);
    const minted = await admin("POST", "/api/v1/users/mallory/tokens", { name: "attack" });
    expect(minted.status).toBe(200);
    const rival = { authorization: `Bearer ${((await minted.json()) as { token: string }).token}`, "accept-encoding": "identity" };
    const send = async (path: string) => {
      const res = await fetch(`${dataPlaneUrl()}${path}`, { method: "POST", headers: rival, body });
      return { status: res.status, body: await res.text() };
    };
    const theirs = await send("/v2/models/tiny/infer");
    expect(theirs.status).toBe(404);
    // Byte-identical to a model nobody serves, apart from the name; and the route answers the same.
    expect(theirs.body.replace("'tiny'", "'<m>'")).toBe((await send("/v2/models/nothing-here/infer")).body.replace("'nothing-here'", "'<m>'"));
    expect(await send("/v2/models/tiny/infer?via=route")).toEqual(theirs);
    // The process's environment: what it runs with and its own secret, nothing of paved up's (which was started with PAVED_ADMIN_TOKEN).
    const environ = readFileSync(`/proc/${dataPlanePid(dataDir)}/environ`, "utf8").split("\0").filter(Boolean).map((e) => e.slice(0, e.indexOf("=")));
    expect(environ.sort()).toEqual(["HOME", "PATH", "PAVED_DATAPLANE_SECRET"]);
    // The secret and the process's settings (the database URL) are the server user's alone.
    const mode = (path: string) => statSync(join(dataDir, "dataplane", path)).mode & 0o777;
    expect(mode(".")).toBe(0o700);
    expect(mode("secret")).toBe(0o600);
    expect(mode("0")).toBe(0o700);
    expect(mode("0/config.json")).toBe(0o600);
    expect(readFileSync(join(dataDir, "dataplane", "0", "config.json"), "utf8")).not.toContain(TOKEN);
  });

  it("kill -9 of paved up while a client sends predictions: none fails while it is down, nor after it comes back", async () => {
    const pidBefore = dataPlanePid(dataDir);
    const outcomes = { ok: 0, failed: [] as string[] };
    let sending = true;
    const client = (async () => {
      while (sending) {
        try {
          const res = await infer(dataPlaneUrl());
          if (res.ok) outcomes.ok++;
          else outcomes.failed.push(`${res.status} ${await res.text()}`);
        } catch (error) {
          outcomes.failed.push(String(error));
        }
      }
    })();
    await pollUntil("20 predictions", async () => outcomes.ok, (n) => n >= 20);
    await server!.kill9();
    const whileDown = outcomes.ok;
    await pollUntil("200 predictions with paved up down", async () => outcomes.ok, (n) => n >= whileDown + 200);
    server = await start();
    // Adopted, not started again: the same process serves, and the control plane knows what it serves.
    expect(server.output()).not.toContain("data-plane process started");
    expect(dataPlanePid(dataDir)).toBe(pidBefore);
    const afterRestart = outcomes.ok;
    await pollUntil("200 predictions after the restart", async () => outcomes.ok, (n) => n >= afterRestart + 200);
    const listed = (await (await fetch(`${server.url}/api/v1/serving/models`, { headers: auth })).json()) as { models: { name: string }[] };
    expect(listed.models.map((m) => m.name)).toEqual(["tiny"]);
    // A model loaded after the restart reaches the adopted process.
    expect((await load("tiny-v2", "1", models.bytes("tiny-v2"))).status).toBe(200);
    sending = false;
    await client;
    expect(outcomes.failed).toEqual([]);
    expect(outcomes.ok).toBeGreaterThan(afterRestart + 200);
  });

  it("a data-plane process that dies is started again on its saved state; requests to it meanwhile fail at once (refused), never hang", async () => {
    const pid = dataPlanePid(dataDir);
    process.kill(pid, "SIGKILL");
    const errors: string[] = [];
    await pollUntil(
      "the data-plane process to answer again",
      async () => {
        try {
          const res = await infer(dataPlaneUrl());
          return res.ok;
        } catch (error) {
          // fetch's cause: the connection was refused or reset, not a timeout.
          errors.push(((error as Error).cause as NodeJS.ErrnoException | undefined)?.code ?? String(error));
          return false;
        }
      },
      (ok) => ok,
      { timeoutMs: 60_000 },
    );
    expect(dataPlanePid(dataDir)).not.toBe(pid);
    expect(errors.every((e) => e === "ECONNREFUSED" || e === "ECONNRESET" || e === "UND_ERR_SOCKET"), errors.join(", ")).toBe(true);
    // Both versions came back from its own disk (the control plane had nothing to push).
    expect((await infer(dataPlaneUrl(), "tiny-v2")).status).toBe(200);
  });

  it("a model the data plane cannot load is refused with its reason, and the version loaded before keeps serving", async () => {
    const bad = await load("tiny", "1", new TextEncoder().encode("not an onnx model"));
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: { message: string } }).error.message).toMatch(/the data plane could not load version 1 of 'tiny': /);
    const res = await infer(dataPlaneUrl());
    expect(res.status).toBe(200);
    expect(((await res.json()) as { model_version: string }).model_version).toBe("1");
    // What a process would refuse is refused by paved up first, with the in-process answer: one team per endpoint, replica bounds.
    const otherTeam = await fetch(`${server!.url}/api/v1/serving/models/tiny/versions/2?team=another-team`, { method: "PUT", headers: { ...auth, "content-type": "application/octet-stream" }, body: models.bytes("tiny-v2") });
    expect(otherTeam.status).toBe(409);
    expect(((await otherTeam.json()) as { error: { message: string } }).error.message).toContain("is served for another team");
    const replicas = await fetch(`${server!.url}/api/v1/serving/models/tiny/versions/2?replicas=3&maxReplicas=2`, { method: "PUT", headers: { ...auth, "content-type": "application/octet-stream" }, body: models.bytes("tiny-v2") });
    expect(replicas.status).toBe(400);
    expect(((await replicas.json()) as { error: { message: string } }).error.message).toContain("maxReplicas (2) is below replicas (3)");
  });
});

function dataPlanePid(dataDir: string): number {
  return (JSON.parse(readFileSync(join(dataDir, "dataplane", "0", "process.json"), "utf8")) as { pid: number }).pid;
}


describe("data plane: two processes, one rollout", () => {
  let server: ServerProcess | undefined;
  let dataDir: string;

  afterAll(async () => {
    await server?.stop();
  });

  it("a shadow rollout is judged on the copies both processes made, and /metrics adds both processes up", async () => {
    dataDir = join(mkdtempSync(join(tmpdir(), "paved-dataplane-2-")), "data");
    server = await startServerProcess({ dataDir, token: TOKEN, config: { serving: { dataPlane: { processes: 2 } } } });
    const named = await pollUntil("paved up to name its data plane", async () => /data-plane process\(es\): (.*) \(also relayed/.exec(server!.output()), (m) => m !== null);
    const urls = named![1]!.split(" ");
    expect(urls).toHaveLength(2);
    const api = async (method: string, path: string, payload?: unknown) => {
      const res = await fetch(server!.url + path, { method, headers: { ...auth, ...(payload ? { "content-type": "application/json" } : {}) }, ...(payload ? { body: JSON.stringify(payload) } : {}) });
      const json = (await res.json()) as any;
      if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(json)}`);
      return json;
    };
    for (const file of ["tiny", "tiny-v2"] as const) {
      const { run } = await api("POST", "/api/2.0/mlflow/runs/create", { experiment_id: "0", start_time: Date.now() });
      const put = await fetch(`${server.url}/api/2.0/mlflow-artifacts/artifacts/0/${run.info.run_id}/artifacts/model/model.onnx`, { method: "PUT", headers: { ...auth, "content-type": "application/octet-stream" }, body: models.bytes(file) });
      expect(put.status).toBe(200);
      await api("POST", "/api/v1/models/shadowed/versions", { source: `runs:/${run.info.run_id}/model` });
    }
    const first = await api("POST", "/api/v1/deployments", { model: "shadowed", version: "1", environment: "staging", strategy: "replace" });
    await pollUntil("version 1 to serve", () => api("GET", `/api/v1/deployments/${first.id}`), (d) => d.status.phase === "Succeeded");
    const shadow = await api("POST", "/api/v1/deployments", { model: "shadowed", version: "2", environment: "staging", strategy: "shadow", stepIntervalSeconds: 0.2 });
    await pollUntil("the shadow to start", () => api("GET", `/api/v1/deployments/${shadow.id}`), (d) => d.status.shadow !== undefined && d.status.shadow !== null);
    // Both processes serve both versions, each with the split the control plane pushed.
    for (const url of urls) {
      for (let i = 0; i < 30; i++) {
        const res = await fetch(`${url}/environments/staging/v2/models/shadowed/infer`, { method: "POST", headers: { ...auth, "content-type": "application/json" }, body });
        expect(res.status).toBe(200);
        expect(((await res.json()) as { model_version: string }).model_version).toBe("1");
      }
    }
    const judged = await pollUntil("60 shadow copies counted", () => api("GET", `/api/v1/deployments/${shadow.id}`), (d) => d.status.shadow.requests >= 60);
    expect(judged.status.shadow.requests).toBe(60);
    const metrics = await (await fetch(`${server.url}/metrics`, { headers: auth })).text();
    const answered = (version: string) => Number(new RegExp(`^paved_serving_requests_total\\{model="shadowed",version="${version}",environment="staging"\\} (\\d+)$`, "m").exec(metrics)?.[1]);
    expect(answered("1")).toBe(60);
    expect(answered("2")).toBe(60);
  });
});

describe("data plane: a process started by hand elsewhere (paved dataplane run), driven by paved up", () => {
  let server: ServerProcess | undefined;
  let dataPlane: ChildProcess | undefined;

  afterAll(async () => {
    await server?.stop();
    dataPlane?.kill("SIGKILL");
  });

  it("serves what paved up assigns it, and keeps serving when paved up is killed", async () => {
    const root = mkdtempSync(join(tmpdir(), "paved-dataplane-remote-"));
    const dataDir = join(root, "data");
    // The secret paved up keeps for its data plane, given to the process by hand (as on another machine).
    const secret = "remote-data-plane-secret-0123456789";
    mkdirSync(join(dataDir, "dataplane"), { recursive: true });
    writeFileSync(join(dataDir, "dataplane", "secret"), secret, { mode: 0o600 });
    const port = await freePort();
    const configFile = join(root, "dataplane.yaml");
    writeFileSync(configFile, `dataDir: ${dataDir}\nlogLevel: warn\n`);
    dataPlane = spawn(process.execPath, [join(ROOT, "bin/paved.js"), "dataplane", "run", "--dir", join(root, "elsewhere"), "--port", String(port), "--config", configFile], {
      env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: root, PAVED_DATAPLANE_SECRET: secret },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    dataPlane.stdout!.on("data", (d) => (out += d));
    dataPlane.stderr!.on("data", (d) => (out += d));
    const url = `http://127.0.0.1:${port}`;
    await pollUntil("the data-plane process to listen", async () => out, (o) => o.includes(`serving on ${url}`), { timeoutMs: 60_000 });
    server = await startServerProcess({ dataDir, token: TOKEN, config: { serving: { dataPlane: { processes: 0, remote: [url] } } } });
    const loaded = await fetch(`${server.url}/api/v1/serving/models/tiny/versions/1`, { method: "PUT", headers: { ...auth, "content-type": "application/octet-stream" }, body: models.bytes("tiny") });
    expect(loaded.status, await loaded.clone().text()).toBe(200);
    const infer = () => fetch(`${url}/v2/models/tiny/infer`, { method: "POST", headers: { ...auth, "content-type": "application/json" }, body });
    expect((await infer()).status).toBe(200);
    await server.kill9();
    expect((await infer()).status).toBe(200);
  });
});
