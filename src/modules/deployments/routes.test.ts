import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { exportLinearOnnx } from "../../../test/support/onnx.ts";
import { createApp, type App } from "../../app.ts";
import { loadConfig } from "../../config/index.ts";
import { openDatabase } from "../../storage/index.ts";
import { buildTestModels, type TestModels } from "../serving/test-models.ts";
import { stickyVariant } from "./router.ts";

interface Deployment {
  id: string;
  status: {
    phase: string;
    stableVersion: string | null;
    canaryVersion: string | null;
    canaryWeight: number;
    currentStep: number;
    history: { reason: string; override?: { user: string; reason: string; verdict: string } }[];
    analysis?: { verdict: "passing" | "failing" | "missing"; reason: string } | null;
    abTest?: { a: { n: number }; b: { n: number }; result: { pValue: number; winner: string | null; meanA: number; meanB: number } | null } | null;
    shadow?: { requests: number; errors: number; predictionPsi: number | null; meanAbsoluteDifference: number | null; verdict: string } | null;
  };
  endpoint: string;
  overrides: { user: string; reason: string; verdict: string; verdictReason: string; action: string; version: string }[];
}

const TERMINAL = ["Succeeded", "RolledBack", "Failed"];
/** deploy() defaults to staging, whose endpoint is under this prefix (production keeps /v2/models/…). */
const STAGING = "/environments/staging";
const ROW = [0.1, -0.2, 0.3, 0.4];
const infer = { inputs: [{ name: "input", shape: [1, 4], datatype: "FP32", data: ROW }] };

async function start(dataDir: string): Promise<App> {
  const app = await createApp(loadConfig({ env: {}, overrides: { dataDir, logLevel: "silent", compute: { gpus: [] }, host: "127.0.0.1", port: 0 } }));
  await app.listen();
  return app;
}

describe("deployments over HTTP", () => {
  let models: TestModels;
  let linear: Uint8Array;
  let app: App;
  let token: string;
  const apps: App[] = [];

  const call = (method: "GET" | "POST" | "PUT", url: string, payload?: unknown, on = app, headers: Record<string, string> = {}) =>
    on.server.inject({ method, url, headers: { authorization: `Bearer ${token}`, ...headers }, ...(payload !== undefined ? { payload: payload as object } : {}) });
  const on = (method: "POST", url: string, payload: unknown, headers: Record<string, string>) => call(method, url, payload, app, headers);

  async function register(name: string, bytes: Uint8Array, on = app): Promise<string> {
    const run = (await call("POST", "/api/2.0/mlflow/runs/create", { experiment_id: "0", start_time: 1 }, on)).json().run.info;
    const put = await on.server.inject({
      method: "PUT",
      url: `/api/2.0/mlflow-artifacts/artifacts/0/${run.run_id}/artifacts/model/model.onnx`,
      headers: { authorization: `Bearer ${token}`, "content-type": "application/octet-stream" },
      payload: Buffer.from(bytes),
    });
    expect(put.statusCode).toBe(200);
    const version = await call("POST", `/api/v1/models/${name}/versions`, { source: `runs:/${run.run_id}/model` }, on);
    expect(version.statusCode).toBe(200);
    return version.json().version;
  }

  async function deploy(body: Record<string, unknown>, on = app): Promise<Deployment> {
    const response = await call("POST", "/api/v1/deployments", { environment: "staging", ...body }, on);
    expect(response.statusCode, response.body).toBe(200);
    return response.json();
  }

  const get = async (id: string, on = app): Promise<Deployment> => (await call("GET", `/api/v1/deployments/${id}`, undefined, on)).json();

  /** Polls the deployment until `done`, sending one versionless request to staging's endpoint per poll when `traffic` collects outcomes. */
  async function until(id: string, done: (d: Deployment) => boolean, traffic?: { model: string; outcomes: { status: number; version?: string }[] }, on = app): Promise<Deployment> {
    for (let i = 0; i < 600; i++) {
      const d = await get(id, on);
      if (done(d)) return d;
      if (traffic) {
        const r = await call("POST", `${STAGING}/v2/models/${traffic.model}/infer`, infer, on);
        traffic.outcomes.push({ status: r.statusCode, version: r.statusCode === 200 ? r.json().model_version : undefined });
      }
      await sleep(20);
    }
    throw new Error(`deployment ${id} never reached the expected state: ${JSON.stringify(await get(id, on))}`);
  }

  const loaded = async (name: string, on = app): Promise<string[]> =>
    (await call("GET", "/api/v1/serving/models", undefined, on)).json().models.filter((m: { name: string }) => m.name === name).map((m: { version: string }) => m.version).sort();
  const alias = async (name: string, which: string): Promise<number | undefined> =>
    (await call("GET", `/api/2.0/mlflow/registered-models/get?name=${name}`)).json().registered_model.aliases?.find((a: { alias: string }) => a.alias === which)?.version;

  /** Versionless requests to an environment's endpoint: the version that answered each (or the status code). */
  async function answers(model: string, n: number, environment = "production"): Promise<string[]> {
    const prefix = environment === "production" ? "" : `/environments/${environment}`;
    const out: string[] = [];
    for (let i = 0; i < n; i++) {
      const r = await call("POST", `${prefix}/v2/models/${model}/infer`, infer);
      out.push(r.statusCode === 200 ? r.json().model_version : `HTTP ${r.statusCode}`);
    }
    return out;
  }

  const loadedIn = async (name: string, environment: string): Promise<string[]> =>
    (await call("GET", `/api/v1/serving/models?environment=${environment}`)).json().models.filter((m: { name: string }) => m.name === name).map((m: { version: string }) => m.version).sort();

  /** Gives the version a passing evaluation under a performance-only gate policy, so it may go to production. */
  async function passGate(name: string, version: string): Promise<void> {
    expect((await call("PUT", `/api/v1/models/${name}/gate-policy`, { yaml: "checks:\n  - {type: performance, p99Ms: 60000}\n" })).statusCode).toBe(200);
    const csv = ["f0,f1,f2,f3,label", "0.1,0.2,0.3,0.4,1", "-0.5,0.1,0.9,-0.3,0", "0.7,-0.7,0.2,0.1,1"].join("\n");
    const { uri } = (await app.server.inject({ method: "POST", url: "/api/v1/evaluation-data", headers: { authorization: `Bearer ${token}`, "content-type": "text/csv" }, payload: csv })).json();
    let evaluation = (await call("POST", `/api/v1/models/${name}/versions/${version}/evaluations`, { data: uri })).json();
    for (let i = 0; i < 500 && (evaluation.phase === "Pending" || evaluation.phase === "Running"); i++) {
      await sleep(20);
      evaluation = (await call("GET", `/api/v1/evaluations/${evaluation.id}`)).json();
    }
    expect(evaluation).toMatchObject({ phase: "Passed" });
  }

  /** Deploys v1 with `replace` so the model has a stable version. */
  async function withStable(name: string): Promise<void> {
    await register(name, models.bytes("tiny"));
    const first = await deploy({ model: name, version: "1", strategy: "replace" });
    expect((await until(first.id, (d) => TERMINAL.includes(d.status.phase))).status.phase).toBe("Succeeded");
  }

  beforeAll(async () => {
    models = buildTestModels();
    linear = new Uint8Array(exportLinearOnnx());
    app = await start(mkdtempSync(join(tmpdir(), "paved-deploy-")));
    token = app.generatedAdminToken!;
  }, 120_000);
  afterAll(async () => {
    await app?.close();
    for (const a of apps) await a.close();
  });

  it("progresses a good canary through its steps and promotes it while stable keeps serving", async () => {
    await withStable("good");
    expect(String(await alias("good", "staging"))).toBe("1");
    await register("good", models.bytes("tiny-v2"));
    const expected = { request: { inputs: [{ name: "input", shape: [1, 4], datatype: "FP32", data: models.expected["tiny-v2"].input![0] }] }, expected: { probabilities: models.expected["tiny-v2"].probabilities![0] }, tolerance: 1e-4 };
    await call("POST", "/api/2.0/mlflow/model-versions/set-tag", { name: "good", version: "2", key: "paved.integration_tests", value: JSON.stringify([expected]) });
    const created = await deploy({ model: "good", version: "2", steps: [20, 50, 100], stepIntervalSeconds: 0.2 });
    expect(created.status).toMatchObject({ phase: "Progressing", stableVersion: "1", canaryVersion: "2" });
    const traffic = { model: "good", outcomes: [] as { status: number; version?: string }[] };
    const done = await until(created.id, (d) => TERMINAL.includes(d.status.phase), traffic);
    expect(done.status).toMatchObject({ phase: "Succeeded", stableVersion: "2", canaryVersion: null });
    expect(traffic.outcomes.filter((o) => o.status !== 200)).toEqual([]);
    expect(new Set(traffic.outcomes.map((o) => o.version))).toEqual(new Set(["1", "2"]));
    const reasons = done.status.history.map((h) => h.reason).join("\n");
    expect(reasons).toContain("1 integration test(s) passed");
    expect(reasons).toContain("step 3/3: 100%");
    expect(String(await alias("good", "staging"))).toBe("2");
    expect(await loaded("good")).toEqual(["2"]);
    const after = await call("POST", `${STAGING}/v2/models/good/infer`, infer);
    expect(after.json().model_version).toBe("2");
  }, 60_000);

  it("rolls a broken canary back automatically and stable keeps serving", async () => {
    await withStable("broken");
    // Its input is named 'features': every request routed to it fails validation.
    await register("broken", linear);
    const created = await deploy({ model: "broken", version: "2", steps: [50, 100], stepIntervalSeconds: 0.3 });
    const traffic = { model: "broken", outcomes: [] as { status: number; version?: string }[] };
    const done = await until(created.id, (d) => TERMINAL.includes(d.status.phase), traffic);
    expect(done.status.phase).toBe("RolledBack");
    expect(done.status.history.at(-1)!.reason).toMatch(/analysis failed .*canary error rate/);
    expect(traffic.outcomes.filter((o) => o.status === 200).every((o) => o.version === "1")).toBe(true);
    expect(await loaded("broken")).toEqual(["1"]);
    expect(String(await alias("broken", "staging"))).toBe("1");
    // What each version answered, for anyone who may read the deployment (GET /metrics is for platform admins).
    const serving = (await call("GET", `/api/v1/deployments/${created.id}/serving`)).json();
    expect(serving).toMatchObject({ model: "broken", environment: "staging" });
    type Figures = { version: string; requests: number; errors: number; errorRate: number | null; p99Ms: number | null };
    const byVersion: Record<string, Figures> = Object.fromEntries((serving.versions as Figures[]).map((v) => [v.version, v]));
    expect(byVersion["1"]!.requests).toBeGreaterThan(0);
    expect(byVersion["1"]!.errors).toBe(0);
    expect(byVersion["1"]!.p99Ms).toBeGreaterThan(0);
    // The rolled-back version is unloaded, and its series with it: figures count since a version was loaded.
    expect(byVersion["2"]).toBeUndefined();
    for (let i = 0; i < 10; i++) {
      const r = await call("POST", `${STAGING}/v2/models/broken/infer`, infer);
      expect(r.statusCode).toBe(200);
      expect(r.json().model_version).toBe("1");
    }
  }, 60_000);

  it("rolls back a canary whose integration tests fail before it gets traffic", async () => {
    await withStable("tested");
    await register("tested", models.bytes("tiny-v2"));
    const wrong = [{ request: infer, expected: { probabilities: [1, 0] }, tolerance: 1e-6 }];
    await call("POST", "/api/2.0/mlflow/model-versions/set-tag", { name: "tested", version: "2", key: "paved.integration_tests", value: JSON.stringify(wrong) });
    const created = await deploy({ model: "tested", version: "2", stepIntervalSeconds: 0.2 });
    const done = await until(created.id, (d) => TERMINAL.includes(d.status.phase));
    expect(done.status).toMatchObject({ phase: "RolledBack", currentStep: -1 });
    expect(done.status.history.at(-1)!.reason).toContain("integration test 1 failed: output 'probabilities'");
    expect(await loaded("tested")).toEqual(["1"]);
  }, 60_000);

  it("rolls back a canary whose integration-test tag has a typo, naming the field it probably meant", async () => {
    await withStable("typo");
    await register("typo", models.bytes("tiny-v2"));
    const mistyped = [{ request: infer, expceted: { probabilities: [1, 0] } }];
    await call("POST", "/api/2.0/mlflow/model-versions/set-tag", { name: "typo", version: "2", key: "paved.integration_tests", value: JSON.stringify(mistyped) });
    const created = await deploy({ model: "typo", version: "2", stepIntervalSeconds: 0.2 });
    const done = await until(created.id, (d) => TERMINAL.includes(d.status.phase));
    expect(done.status.phase).toBe("RolledBack");
    expect(done.status.history.at(-1)!.reason).toMatch(/0\.expceted: unknown field; did you mean 'expected'/);
  }, 60_000);

  it("enforces the evaluation gate for production, and deploys once a passing evaluation exists", async () => {
    await register("gated", models.bytes("tiny"));
    const refused = await call("POST", "/api/v1/deployments", { model: "gated", version: "1" });
    expect(refused.json().error.code).toBe("GATE_FAILED");
    expect((await call("GET", "/api/v1/deployments?model=gated")).json().deployments).toEqual([]);

    // Evaluation data is uploaded (the server never reads a path of its own disk).
    const csv = ["f0,f1,f2,f3,label", "0.1,0.2,0.3,0.4,1", "-0.5,0.1,0.9,-0.3,0", "0.7,-0.7,0.2,0.1,1"].join("\n");
    const { uri: data } = (await app.server.inject({ method: "POST", url: "/api/v1/evaluation-data", headers: { authorization: `Bearer ${token}`, "content-type": "text/csv" }, payload: csv })).json();
    expect((await call("PUT", "/api/v1/models/gated/gate-policy", { yaml: "checks:\n  - {type: performance, p99Ms: 60000}\n" })).statusCode).toBe(200);
    const evaluation = await call("POST", "/api/v1/models/gated/versions/1/evaluations", { data });
    expect(evaluation.statusCode, evaluation.body).toBeLessThan(300);
    // Evaluations run in the background: the gate opens once this one has passed.
    let finished = evaluation.json();
    for (let i = 0; i < 500 && (finished.phase === "Pending" || finished.phase === "Running"); i++) {
      await sleep(20);
      finished = (await call("GET", `/api/v1/evaluations/${finished.id}`)).json();
    }
    expect(finished).toMatchObject({ phase: "Passed", passed: true });
    const created = await deploy({ model: "gated", version: "1", environment: "production" });
    const done = await until(created.id, (d) => TERMINAL.includes(d.status.phase));
    expect(done.status.phase).toBe("Succeeded");
    expect(String(await alias("gated", "production"))).toBe("1");
  }, 60_000);

  it("pauses, resumes, rolls back and promotes by request", async () => {
    await withStable("manual");
    await register("manual", models.bytes("tiny-v2"));
    const created = await deploy({ model: "manual", version: "2", steps: [10, 50, 100], stepIntervalSeconds: 0.3 });
    await until(created.id, (d) => d.status.currentStep >= 0);
    expect((await call("POST", `/api/v1/deployments/${created.id}/pause`)).statusCode).toBe(200);
    const paused = await until(created.id, (d) => d.status.phase === "Paused");
    await sleep(800);
    expect((await get(created.id)).status).toMatchObject({ phase: "Paused", currentStep: paused.status.currentStep, canaryWeight: paused.status.canaryWeight });
    expect((await call("POST", `/api/v1/deployments/${created.id}/resume`)).statusCode).toBe(200);
    await until(created.id, (d) => d.status.phase === "Progressing");
    expect((await call("POST", `/api/v1/deployments/${created.id}/rollback`)).statusCode).toBe(200);
    const rolled = await until(created.id, (d) => TERMINAL.includes(d.status.phase));
    expect(rolled.status.phase).toBe("RolledBack");
    expect(rolled.status.history.at(-1)!.reason).toBe("rolled back by request");
    expect(await loaded("manual")).toEqual(["1"]);
    expect((await call("POST", `/api/v1/deployments/${created.id}/resume`)).json().error.code).toBe("CONFLICT");

    const again = await deploy({ model: "manual", version: "2", stepIntervalSeconds: 3600 });
    await until(again.id, (d) => d.status.currentStep >= 0);
    // Nothing analysed yet: promoting needs an override.
    const early = await call("POST", `/api/v1/deployments/${again.id}/promote`);
    expect(early.json().error).toMatchObject({ code: "GATE_FAILED", details: { verdict: "missing" } });
    expect((await call("POST", `/api/v1/deployments/${again.id}/promote`, { force: true, reason: "skip the wait" })).statusCode).toBe(200);
    const promoted = await until(again.id, (d) => TERMINAL.includes(d.status.phase));
    expect(promoted.status).toMatchObject({ phase: "Succeeded", stableVersion: "2" });
    expect(await loaded("manual")).toEqual(["2"]);
    const listed = (await call("GET", "/api/v1/deployments?model=manual")).json().deployments.map((d: Deployment) => d.id);
    expect(listed.slice(0, 2)).toEqual([again.id, created.id]);
  }, 60_000);

  it("continues a rollout from its saved step after a restart", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "paved-deploy-restart-"));
    let first = await start(dataDir);
    const previous = token;
    token = first.generatedAdminToken!;
    try {
      await register("restart", models.bytes("tiny"), first);
      const v1 = await deploy({ model: "restart", version: "1", strategy: "replace" }, first);
      await until(v1.id, (d) => d.status.phase === "Succeeded", undefined, first);
      await register("restart", models.bytes("tiny-v2"), first);
      const created = await deploy({ model: "restart", version: "2", steps: [20, 50, 100], stepIntervalSeconds: 1 }, first);
      const before = await until(created.id, (d) => d.status.currentStep >= 0, undefined, first);
      await first.close();

      const second = await start(dataDir);
      apps.push(second);
      first = second;
      const picked = await until(created.id, (d) => d.status.history.some((h) => h.reason.startsWith("picked up after a restart")), undefined, second);
      expect(picked.status.currentStep).toBeGreaterThanOrEqual(before.status.currentStep);
      expect(picked.status.history.find((h) => h.reason.startsWith("picked up after a restart"))!.reason).toContain(`step ${before.status.currentStep + 1}/3`);
      const traffic = { model: "restart", outcomes: [] as { status: number; version?: string }[] };
      const done = await until(created.id, (d) => TERMINAL.includes(d.status.phase), traffic, second);
      expect(done.status).toMatchObject({ phase: "Succeeded", stableVersion: "2" });
      expect(traffic.outcomes.filter((o) => o.status !== 200)).toEqual([]);
      expect(await loaded("restart", second)).toEqual(["2"]);
    } finally {
      token = previous;
    }
  }, 60_000);

  it("runs an A/B test: sticky assignment by routing key, reported outcomes, a significance test, and promotion of the better version", async () => {
    await withStable("ab");
    await register("ab", models.bytes("tiny-v2"));
    // Preconditions and validation, before any traffic moves.
    await register("lonely", models.bytes("tiny"));
    expect((await call("POST", "/api/v1/deployments", { model: "lonely", version: "1", environment: "staging", strategy: "ab" })).json().error.code).toBe("CONFLICT");
    expect((await call("POST", "/api/v1/deployments", { model: "ab", version: "2", environment: "staging", strategy: "canary", ab: { split: 50 } })).statusCode).toBe(400);
    expect((await call("POST", "/api/v1/deployments", { model: "ab", version: "2", environment: "staging", strategy: "ab", ab: { metric: "error_rate", kind: "continuous" } })).statusCode).toBe(400);

    const created = await deploy({ model: "ab", version: "2", strategy: "ab", stepIntervalSeconds: 0.1, ab: { split: 50, metric: "converted", kind: "binary", minSamples: 300, autoConclude: true } });
    await until(created.id, (d) => d.status.abTest != null);
    // The split reaches the data-plane process with the fleet's next push, a moment after the
    // status says the test started: wait until a key the hash sends to B is answered by B.
    const keyOnB = Array.from({ length: 40 }, (_, i) => `user-${i}`).find((key) => stickyVariant(created.id, key, 50) === "B")!;
    for (let i = 0; i < 250; i++) {
      const r = await on("POST", `${STAGING}/v2/models/ab/infer`, infer, { "x-paved-route-key": keyOnB });
      if (r.statusCode === 200 && r.json().model_version === "2") break;
      await sleep(20);
    }
    const seen = new Map<string, string>();
    for (let round = 0; round < 2; round++) {
      for (let i = 0; i < 40; i++) {
        const r = await on("POST", `${STAGING}/v2/models/ab/infer`, infer, { "x-paved-route-key": `user-${i}` });
        expect(r.statusCode).toBe(200);
        const version = r.json().model_version as string;
        // The same key always lands on the same version, the one the published hash names.
        expect(seen.get(`user-${i}`) ?? version).toBe(version);
        expect(version).toBe(stickyVariant(created.id, `user-${i}`, 50) === "B" ? "2" : "1");
        seen.set(`user-${i}`, version);
      }
    }
    const onB = [...seen.values()].filter((v) => v === "2").length;
    expect(onB).toBeGreaterThan(8);
    expect(onB).toBeLessThan(32);

    const outcome = (i: number) => {
      const b = stickyVariant(created.id, `user-${i}`, 50) === "B";
      return { key: `user-${i}`, value: (b ? i % 10 < 3 : i % 10 < 1) ? 1 : 0, id: `outcome-${i}` };
    };
    const bad = await call("POST", `/api/v1/deployments/${created.id}/outcomes`, { outcomes: [{ key: "user-1", value: 2 }] });
    expect(bad.json().error.code).toBe("INVALID_INPUT");
    // 30% conversion on B against 10% on A, over 1,000 keys: significant, B wins, promoted.
    // The first 250 leave each variant under minSamples (300), so the test cannot conclude
    // before the rest arrive; the other 750 come in one call, so the controller (ticking every
    // 0.1 s) judges either before them or after all of them.
    const first = await call("POST", `/api/v1/deployments/${created.id}/outcomes`, { outcomes: Array.from({ length: 250 }, (_, k) => outcome(k)) });
    expect(first.statusCode, first.body).toBe(200);
    expect(first.json()).toMatchObject({ accepted: 250, duplicates: 0 });
    // A retried call with the same outcome ids is acknowledged and not counted again.
    const retried = await call("POST", `/api/v1/deployments/${created.id}/outcomes`, { outcomes: Array.from({ length: 250 }, (_, k) => outcome(k)) });
    expect(retried.json()).toMatchObject({ accepted: 250, duplicates: 250 });
    const rest = await call("POST", `/api/v1/deployments/${created.id}/outcomes`, { outcomes: Array.from({ length: 750 }, (_, k) => outcome(250 + k)) });
    expect(rest.statusCode, rest.body).toBe(200);
    expect(rest.json()).toMatchObject({ accepted: 750, duplicates: 0 });
    const done = await until(created.id, (d) => TERMINAL.includes(d.status.phase));
    expect(done.status.phase).toBe("Succeeded");
    expect(done.status.abTest!.a.n + done.status.abTest!.b.n).toBe(1000);
    expect(done.status.abTest!.result).toMatchObject({ winner: "B" });
    expect(done.status.abTest!.result!.pValue).toBeLessThan(0.05);
    expect(done.status.abTest!.result!.meanB).toBeGreaterThan(done.status.abTest!.result!.meanA);
    expect(done.status.history.at(-1)!.reason).toMatch(/A\/B test: version 2 \(B\) is better .*promoted/);
    expect(String(await alias("ab", "staging"))).toBe("2");
    // Outcomes only go to an A/B deployment in progress.
    expect((await call("POST", `/api/v1/deployments/${created.id}/outcomes`, { outcomes: [{ key: "u", value: 1 }] })).json().error.code).toBe("CONFLICT");
  }, 60_000);

  it("counts the router's own outcomes for an A/B test on latency_ms, and rolls back on request", async () => {
    await withStable("abl");
    await register("abl", models.bytes("tiny-v2"));
    expect((await call("POST", "/api/v1/deployments", { model: "abl", version: "2", environment: "staging", replicas: 3, maxReplicas: 2 })).statusCode).toBe(400);
    const created = await deploy({ model: "abl", version: "2", strategy: "ab", stepIntervalSeconds: 0.1, ab: { metric: "latency_ms", minSamples: 10 }, replicas: 1, maxReplicas: 2 });
    await until(created.id, (d) => d.status.abTest != null);
    // The new version is loaded with the deployment's autoscaling bounds.
    const views = (await call("GET", "/api/v1/serving/models")).json().models.filter((m: { name: string }) => m.name === "abl");
    expect(views.find((m: { version: string }) => m.version === "2")).toMatchObject({ minReplicas: 1, maxReplicas: 2 });
    for (let i = 0; i < 60; i++) expect((await on("POST", `${STAGING}/v2/models/abl/infer`, infer, { "x-paved-route-key": `k${i}` })).statusCode).toBe(200);
    const counted = await until(created.id, (d) => (d.status.abTest?.a.n ?? 0) + (d.status.abTest?.b.n ?? 0) >= 60);
    expect(counted.status.abTest!.a.n).toBeGreaterThan(0);
    expect(counted.status.abTest!.b.n).toBeGreaterThan(0);
    expect(counted.status.abTest!.result!.meanA).toBeGreaterThan(0);
    // Paved measures latency itself: reported outcomes are refused.
    expect((await call("POST", `/api/v1/deployments/${created.id}/outcomes`, { outcomes: [{ key: "k1", value: 3 }] })).json().error.code).toBe("CONFLICT");
    expect((await call("POST", `/api/v1/deployments/${created.id}/rollback`)).statusCode).toBe(200);
    const done = await until(created.id, (d) => TERMINAL.includes(d.status.phase));
    expect(done.status.phase).toBe("RolledBack");
    expect(await loaded("abl")).toEqual(["1"]);
    expect((await on("POST", `${STAGING}/v2/models/abl/infer`, infer, { "x-paved-route-key": "k1" })).json().model_version).toBe("1");
  }, 60_000);

  it("shadows a version: stable answers every request, the shadow's copies are compared and never returned, then it is promoted", async () => {
    await withStable("shadowed");
    await register("shadowed", models.bytes("tiny-v2"));
    // No PSI or latency limit (tiny-v2's predictions differ from tiny's by design; copies queue behind
    // bursts): promote needs a passing analysis, and this test is about the shadow's mechanics.
    const created = await deploy({ model: "shadowed", version: "2", strategy: "shadow", stepIntervalSeconds: 0.1, analysis: { maxPredictionPsi: null, maxLatencyRatio: 100 } });
    await until(created.id, (d) => d.status.shadow != null);
    expect(await loaded("shadowed")).toEqual(["1", "2"]);
    // Enough requests for the distribution comparison (500 predictions per version), 10 at a
    // time so the copies stay under the 32 in flight beyond which they are dropped.
    for (let batch = 0; batch < 60; batch++) {
      const answers = await Promise.all(
        Array.from({ length: 10 }, (_, k) => {
          const i = batch * 10 + k;
          const row = [Math.sin(i), Math.cos(i), (i % 7) / 7, -((i % 5) / 5)];
          return call("POST", `${STAGING}/v2/models/shadowed/infer`, { inputs: [{ name: "input", shape: [1, 4], datatype: "FP32", data: row }] });
        }),
      );
      for (const r of answers) {
        expect(r.statusCode).toBe(200);
        expect(r.json().model_version).toBe("1");
      }
    }
    const compared = await until(created.id, (d) => (d.status.shadow?.requests ?? 0) >= 500 && d.status.shadow?.predictionPsi != null);
    expect(compared.status.phase).toBe("Progressing");
    expect(compared.status.shadow).toMatchObject({ errors: 0 });
    // tiny-v2 has other weights: the copies' answers differ from stable's, request by request.
    expect(compared.status.shadow!.meanAbsoluteDifference).toBeGreaterThan(0);
    expect(compared.status.shadow!.verdict).toBe("would pass canary analysis");
    expect(compared.status.analysis).toMatchObject({ verdict: "passing" });
    expect((await call("POST", `/api/v1/deployments/${created.id}/promote`)).statusCode).toBe(200);
    const done = await until(created.id, (d) => TERMINAL.includes(d.status.phase));
    expect(done.status).toMatchObject({ phase: "Succeeded", stableVersion: "2" });
    expect((await call("POST", `${STAGING}/v2/models/shadowed/infer`, infer)).json().model_version).toBe("2");
    expect(await loaded("shadowed")).toEqual(["2"]);
  }, 60_000);

  it("lets only those who may override gates force production past its analysis", async () => {
    await register("forcedprod", models.bytes("tiny"));
    await passGate("forcedprod", "1");
    const first = await deploy({ model: "forcedprod", version: "1", environment: "production" });
    await until(first.id, (d) => TERMINAL.includes(d.status.phase));
    await register("forcedprod", models.bytes("tiny-v2"));
    await passGate("forcedprod", "2");
    const canary = await deploy({ model: "forcedprod", version: "2", environment: "production", steps: [10, 100], stepIntervalSeconds: 3600 });
    await until(canary.id, (d) => d.status.currentStep >= 0);
    // A maintainer may deploy, but forcing production past its analysis is a gate override (team admins).
    expect((await call("POST", "/api/v1/users", { name: "forcer", teams: [{ team: "default", role: "maintainer" }] })).statusCode).toBe(200);
    const user = (await call("POST", "/api/v1/users/forcer/tokens", { name: "t" })).json().token as string;
    const byUser = await call("POST", `/api/v1/deployments/${canary.id}/promote`, { force: true, reason: "skip the wait" }, app, { authorization: `Bearer ${user}` });
    expect(byUser.json().error.code).toBe("FORBIDDEN");
    expect((await get(canary.id)).overrides).toEqual([]);
    expect((await call("POST", `/api/v1/deployments/${canary.id}/promote`, { force: true, reason: "skip the wait" })).statusCode).toBe(200);
    expect((await until(canary.id, (d) => TERMINAL.includes(d.status.phase))).status).toMatchObject({ phase: "Succeeded", stableVersion: "2" });
  }, 60_000);

  it("keeps environments apart: a staging replace of a gate-failing version answers none of production's versionless requests", async () => {
    await register("iso", models.bytes("tiny"));
    await passGate("iso", "1");
    const prod = await deploy({ model: "iso", version: "1", environment: "production" });
    expect((await until(prod.id, (d) => TERMINAL.includes(d.status.phase))).status.phase).toBe("Succeeded");
    await register("iso", linear);
    // Version 2 fails the production gate (no passing evaluation)...
    expect((await call("POST", "/api/v1/deployments", { model: "iso", version: "2", environment: "production" })).json().error.code).toBe("GATE_FAILED");
    // ...and staging, which is not gated, takes it with `replace`.
    const staged = await deploy({ model: "iso", version: "2", strategy: "replace" });
    expect((await until(staged.id, (d) => TERMINAL.includes(d.status.phase))).status.phase).toBe("Succeeded");
    const production = await answers("iso", 40);
    expect(production.filter((v) => v !== "1")).toEqual([]);
    expect(prod.endpoint).toBe("/v2/models/iso");
    expect(staged.endpoint).toBe("/environments/staging/v2/models/iso");
    // Staging answers at its own endpoint (version 2 takes 'features', so this request is a 400 there).
    const stagingFeatures = await call("POST", "/environments/staging/v2/models/iso/infer", { inputs: [{ name: "features", shape: [1, 4], datatype: "FP32", data: ROW }] });
    expect(stagingFeatures.json().model_version).toBe("2");
    expect((await call("GET", "/environments/staging/v2/models/iso")).json().versions).toEqual(["2"]);
    expect((await call("GET", "/v2/models/iso")).json().versions).toEqual(["1"]);
    expect(await loadedIn("iso", "production")).toEqual(["1"]);
    expect(await loadedIn("iso", "staging")).toEqual(["2"]);
    expect(String(await alias("iso", "production"))).toBe("1");
    expect(String(await alias("iso", "staging"))).toBe("2");
  }, 60_000);

  it("keeps production's version loaded and serving while a staging canary of the same model rolls back and promotes", async () => {
    await register("both", models.bytes("tiny"));
    await passGate("both", "1");
    const prod = await deploy({ model: "both", version: "1", environment: "production" });
    await until(prod.id, (d) => TERMINAL.includes(d.status.phase));
    const stagingStable = await deploy({ model: "both", version: "1", strategy: "replace" });
    await until(stagingStable.id, (d) => TERMINAL.includes(d.status.phase));
    await register("both", models.bytes("tiny-v2"));
    // A rollout in staging does not block one in production, and the other way round.
    const rolled = await deploy({ model: "both", version: "2", steps: [50, 100], stepIntervalSeconds: 3600 });
    await until(rolled.id, (d) => d.status.currentStep >= 0);
    expect((await answers("both", 20)).filter((v) => v !== "1")).toEqual([]);
    expect((await call("POST", `/api/v1/deployments/${rolled.id}/rollback`)).statusCode).toBe(200);
    await until(rolled.id, (d) => TERMINAL.includes(d.status.phase));
    expect(await loadedIn("both", "production")).toEqual(["1"]);
    expect(await loadedIn("both", "staging")).toEqual(["1"]);

    const canary = await deploy({ model: "both", version: "2", steps: [50, 100], stepIntervalSeconds: 0.2 });
    const traffic: string[] = [];
    for (let i = 0; i < 600; i++) {
      const d = await get(canary.id);
      if (TERMINAL.includes(d.status.phase)) break;
      traffic.push(...(await answers("both", 1, "staging")), ...(await answers("both", 1)).map((v) => `production:${v}`));
      await sleep(10);
    }
    const done = await get(canary.id);
    expect(done.status).toMatchObject({ phase: "Succeeded", stableVersion: "2" });
    expect(done.status.history.at(-1)!.reason).toContain("version 1 unloaded from staging");
    expect(traffic.filter((t) => t.startsWith("production:") && t !== "production:1")).toEqual([]);
    expect(new Set(traffic.filter((t) => !t.startsWith("production:")))).toEqual(new Set(["1", "2"]));
    // Promoting staging's canary unloaded staging's copy of version 1, never production's.
    expect(await loadedIn("both", "production")).toEqual(["1"]);
    expect(await loadedIn("both", "staging")).toEqual(["2"]);
    expect((await answers("both", 20)).filter((v) => v !== "1")).toEqual([]);
    expect((await answers("both", 5, "staging")).filter((v) => v !== "2")).toEqual([]);
    expect(String(await alias("both", "production"))).toBe("1");
  }, 60_000);

  it("refuses to promote a shadow whose analysis fails; --force with a reason promotes it and records the override", async () => {
    await withStable("forced");
    // Its input is named 'features': every copy of a request fails.
    await register("forced", linear);
    const created = await deploy({ model: "forced", version: "2", strategy: "shadow", stepIntervalSeconds: 0.1 });
    await until(created.id, (d) => d.status.shadow != null);
    // Before any copy, the analysis is missing: promote needs an override too.
    const missing = await call("POST", `/api/v1/deployments/${created.id}/promote`);
    expect(missing.statusCode).toBe(412);
    expect(missing.json().error).toMatchObject({ code: "GATE_FAILED", details: { verdict: "missing" } });
    // The analysis and the shadow's summary are written by separate steps of the controller: wait for both.
    const failing = await until(created.id, (d) => d.status.analysis?.verdict === "failing" && /would fail/.test(d.status.shadow?.verdict ?? ""), { model: "forced", outcomes: [] });
    expect(failing.status.shadow!.verdict).toMatch(/would fail canary analysis: canary error rate 100.0%/);
    const refused = await call("POST", `/api/v1/deployments/${created.id}/promote`);
    expect(refused.json().error).toMatchObject({ code: "GATE_FAILED", details: { verdict: "failing" } });
    expect((await call("POST", `/api/v1/deployments/${created.id}/promote`, { force: true })).json().error.code).toBe("INVALID_INPUT");
    expect((await call("POST", `/api/v1/deployments/${created.id}/promote`, { force: true, reason: "  " })).json().error.code).toBe("INVALID_INPUT");
    await sleep(300);
    expect((await get(created.id)).status).toMatchObject({ phase: "Progressing", stableVersion: "1" });
    expect((await answers("forced", 5, "staging")).filter((v) => v !== "1")).toEqual([]);

    const user = (await call("GET", "/api/v1/whoami")).json().name as string;
    const forced = await call("POST", `/api/v1/deployments/${created.id}/promote`, { force: true, reason: "the errors are a request-format change clients ship today" });
    expect(forced.statusCode, forced.body).toBe(200);
    const done = await until(created.id, (d) => TERMINAL.includes(d.status.phase));
    expect(done.status).toMatchObject({ phase: "Succeeded", stableVersion: "2" });
    const event = done.status.history.at(-1)!;
    expect(event.override).toMatchObject({ user, reason: "the errors are a request-format change clients ship today" });
    expect(event.override!.verdict).toMatch(/^failing: would fail canary analysis/);
    expect(done.overrides).toEqual([
      expect.objectContaining({ action: "promote", version: "2", user, verdict: "failing", reason: "the errors are a request-format change clients ship today" }),
    ]);
    expect(done.overrides[0]!.verdictReason).toMatch(/canary error rate 100.0%/);
    expect(String(await alias("forced", "staging"))).toBe("2");
  }, 60_000);

  it("refuses replicas above serving.maxReplicasPerVersion, naming the limit and its setting", async () => {
    await register("wide", models.bytes("tiny"));
    for (const body of [{ replicas: 9 }, { replicas: 1, maxReplicas: 64 }]) {
      const refused = await call("POST", "/api/v1/deployments", { model: "wide", version: "1", environment: "staging", ...body });
      expect(refused.statusCode).toBe(400);
      expect(refused.json().error).toMatchObject({ code: "INVALID_INPUT", details: { limit: 8, setting: "serving.maxReplicasPerVersion" } });
    }
    expect((await call("GET", "/api/v1/deployments?model=wide")).json().deployments).toEqual([]);
  });

  it("lists deployments a page at a time", async () => {
    const all: string[] = [];
    let token: string | undefined;
    do {
      const page = (await call("GET", `/api/v1/deployments?limit=3${token ? `&pageToken=${token}` : ""}`)).json();
      expect(page.deployments.length).toBeLessThanOrEqual(3);
      all.push(...page.deployments.map((d: Deployment) => d.id));
      token = page.nextPageToken;
    } while (token);
    const everything = (await call("GET", "/api/v1/deployments?limit=1000")).json();
    expect(everything.nextPageToken).toBeUndefined();
    expect(all).toEqual(everything.deployments.map((d: Deployment) => d.id));
    expect(all.length).toBeGreaterThan(3);
    // By creator: this test's admin made them all; "me" is the caller.
    const ids = async (query: string) => (await call("GET", `/api/v1/deployments?limit=1000&${query}`)).json().deployments.map((d: Deployment) => d.id);
    expect(await ids("createdBy=me")).toEqual(all);
    expect(await ids(`createdBy=${encodeURIComponent(everything.deployments[0].createdBy)}`)).toEqual(all);
    expect(await ids("createdBy=somebody-else")).toEqual([]);
    expect((await call("GET", "/api/v1/deployments?pageToken=nonsense")).json().error.code).toBe("INVALID_INPUT");
    expect((await call("GET", "/api/v1/deployments?limit=5000")).statusCode).toBe(400);
  });

  it("serves deployments stored before environments were kept apart, each at its own endpoint", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "paved-deploy-legacy-"));
    const first = await start(dataDir);
    const previous = token;
    token = first.generatedAdminToken!;
    try {
      await register("legacy", models.bytes("tiny"), first);
      await register("legacy", models.bytes("tiny-v2"), first);
      await first.close();
      // Rows as 037a407 wrote them: no analysis in the status; the newest (staging) used to take all of the model's traffic.
      const database = await openDatabase({ dataDir });
      const old = (id: string, environment: string, version: string, at: number) => ({
        id,
        model_name: "legacy",
        environment,
        spec: JSON.stringify({ model: "legacy", version, environment, strategy: "replace", steps: [100], stepIntervalSeconds: 30, analysis: { maxErrorRateIncrease: 0.05, maxLatencyRatio: 2 } }),
        status: JSON.stringify({ phase: "Succeeded", stableVersion: version, canaryVersion: null, canaryWeight: 0, currentStep: -1, stepStartedAt: null, testsDone: true, history: [{ time: at, reason: "switched all traffic" }] }),
        phase: "Succeeded",
        paused: 0,
        requested: null,
        created_by: "ada",
        created_at: at,
        updated_at: at,
        team_id: "default",
      });
      await database.db.insertInto("deployments").values([old("deploy-old-prod", "production", "1", 1_000), old("deploy-old-stage", "staging", "2", 2_000)]).execute();
      await database.close();

      const second = await start(dataDir);
      apps.push(second);
      const on = (url: string) => call("POST", url, infer, second);
      let production: string | undefined;
      // Bounded by a deadline, not a count of tries: on a loaded machine the restart's load of both versions took over 6 s.
      for (const deadline = Date.now() + 40_000; production === undefined && Date.now() < deadline; ) {
        const r = await on("/v2/models/legacy/infer");
        if (r.statusCode === 200) production = r.json().model_version;
        else await sleep(20);
      }
      expect(production).toBe("1");
      for (let i = 0; i < 20; i++) expect((await on("/v2/models/legacy/infer")).json().model_version).toBe("1");
      expect((await on("/environments/staging/v2/models/legacy/infer")).json().model_version).toBe("2");
      const listed = (await call("GET", "/api/v1/deployments?model=legacy", undefined, second)).json().deployments;
      expect(listed.map((d: Deployment) => d.endpoint)).toEqual(["/environments/staging/v2/models/legacy", "/v2/models/legacy"]);
    } finally {
      token = previous;
    }
  }, 120_000);
});

