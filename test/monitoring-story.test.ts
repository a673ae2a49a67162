// Issue 12's story, end to end against a real `paved up` with its data-plane process: a canary
// version of a real ONNX model (evaluation's logistic regression on f0..f2) receives traffic whose
// inputs drift mid-way (f0 moves by +2.5, as in evaluation's shifted.csv). Its monitor, whose
// reference is the training CSV the evaluation used and whose drift bounds are the model's gate
// policy's, flags f0 (and only f0) within three windows; the alert rule fires to a webhook
// receiver this test runs (Alertmanager's webhook format), the rollout is paused, and after the
// rollback the alert resolves and the receiver hears so. Bad input on the way: a monitor on a
// version with no evaluated data, a webhook on a host not allow-listed, a rule naming no receiver.
import { execFile, execFileSync } from "node:child_process";
import { promisify } from "node:util";
import { createServer, type Server } from "node:http";
import { mkdirSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { pollUntil } from "./support/poll.ts";
import { startServerProcess, type ServerProcess } from "./support/server-process.ts";

const TOKEN = "pvd_monitoring_story_test_token";
const MODEL = "churn";
const WINDOW_SECONDS = 2;
// Drift and latency bounds the gate applies offline, and the monitor online.
const POLICY = "checks:\n  - {type: drift, maxPsi: 0.25, maxKsStatistic: 0.3}\n  - {type: performance, p99Ms: 60000}\n";

interface Window {
  start: number;
  end: number;
  status: string;
  requests: number;
  rowsKept: number;
  figures: { driftedFeatures: string[]; features: { feature: string; psi: number | null }[]; notes: string[] };
  breaches: { signal: string; subject: string }[];
}

describe("monitoring story: drift on a canary pages a webhook, pauses the rollout, resolves after rollback", () => {
  const dir = mkdtempSync(join(tmpdir(), "paved-monitoring-story-"));
  const data = join(dir, "eval-data");
  let server: ServerProcess;
  let hook: Server;
  let hookUrl = "";
  let stableMonitor = "";
  let stableDeployment = "";
  const received: { status: string; alerts: { status: string; labels: Record<string, string>; annotations: Record<string, string>; endsAt: string }[]; receiver: string; version: string }[] = [];
  const auth = { authorization: `Bearer ${TOKEN}` };

  async function call<T = any>(method: string, path: string, body?: unknown, raw?: Buffer): Promise<{ status: number; json: T }> {
    const res = await fetch(server.url + path, {
      method,
      headers: { ...auth, ...(raw ? { "content-type": "application/octet-stream" } : body !== undefined ? { "content-type": "application/json" } : {}) },
      ...(raw ? { body: raw } : body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    return { status: res.status, json: (await res.json()) as T };
  }
  async function ok<T = any>(method: string, path: string, body?: unknown, raw?: Buffer): Promise<T> {
    const { status, json } = await call<T>(method, path, body, raw);
    if (status !== 200) throw new Error(`${method} ${path}: ${status} ${JSON.stringify(json)}`);
    return json;
  }

  /** Registers good.onnx from a run whose dataset input is the training CSV (the monitor's reference). */
  async function register(): Promise<string> {
    const { run } = await ok("POST", "/api/2.0/mlflow/runs/create", { experiment_id: "0", start_time: Date.now() });
    const id = run.info.run_id as string;
    await ok("PUT", `/api/2.0/mlflow-artifacts/artifacts/0/${id}/artifacts/model/model.onnx`, undefined, readFileSync(join(data, "good.onnx")));
    await ok("PUT", `/api/2.0/mlflow-artifacts/artifacts/0/${id}/artifacts/data/train.csv`, undefined, readFileSync(join(data, "train.csv")));
    await ok("POST", "/api/2.0/mlflow/runs/log-inputs", { run_id: id, datasets: [{ dataset: { name: "train", digest: "d1", source_type: "local", source: `runs:/${id}/data/train.csv` } }] });
    return (await ok<{ version: string }>("POST", `/api/v1/models/${MODEL}/versions`, { source: `runs:/${id}/model` })).version;
  }

  async function evaluate(version: string): Promise<void> {
    const upload = await fetch(`${server.url}/api/v1/evaluation-data`, { method: "POST", headers: { ...auth, "content-type": "text/csv" }, body: readFileSync(join(data, "eval.csv")) });
    const { uri } = (await upload.json()) as { uri: string };
    const evaluation = await ok("POST", `/api/v1/models/${MODEL}/versions/${version}/evaluations`, { data: uri, sensitive: ["group"] });
    const done = await pollUntil(`evaluation of version ${version}`, () => ok(`GET`, `/api/v1/evaluations/${evaluation.id}`), (e) => !["Pending", "Running"].includes(e.phase));
    expect(done.phase, JSON.stringify(done)).toBe("Passed");
  }

  /** The f0..f2 rows of one of evaluation's CSVs. */
  const rows = (file: string) =>
    readFileSync(join(data, file), "utf8")
      .trim()
      .split("\n")
      .slice(1)
      .map((line) => line.split(",").slice(0, 3).map(Number));

  /** Sends batches of 20 rows to the model's production endpoint until `until` says stop; every answer must be 200. */
  async function traffic(source: number[][], until: () => boolean): Promise<number> {
    let sent = 0;
    let i = 0;
    while (!until()) {
      const batch = Array.from({ length: 20 }, () => source[i++ % source.length]!);
      const res = await fetch(`${server.url}/v2/models/${MODEL}/infer`, {
        method: "POST",
        headers: { ...auth, "content-type": "application/json" },
        body: JSON.stringify({ inputs: [{ name: "features", shape: [20, 3], datatype: "FP32", data: batch.flat() }] }),
      });
      expect(res.status, await res.clone().text()).toBe(200);
      await res.arrayBuffer();
      sent++;
      await new Promise((r) => setTimeout(r, 15));
    }
    return sent;
  }

  beforeAll(async () => {
    mkdirSync(data, { recursive: true });
    execFileSync("/usr/bin/python3", [new URL("../src/modules/evaluation/test-data.py", import.meta.url).pathname, data], { stdio: ["ignore", "ignore", "pipe"] });
    hook = createServer((req, res) => {
      let body = "";
      req.on("data", (d) => (body += d));
      req.on("end", () => {
        received.push(JSON.parse(body));
        res.writeHead(200).end("{}");
      });
    });
    await new Promise<void>((resolve) => hook.listen(0, "127.0.0.1", resolve));
    hookUrl = `http://127.0.0.1:${(hook.address() as { port: number }).port}/hooks/paved-secret-path`;
    server = await startServerProcess({
      dataDir: join(dir, "data"),
      token: TOKEN,
      config: { monitoring: { intervalSeconds: 0.25, alerts: { allowedHosts: ["127.0.0.1"] } } },
    });
  }, 120_000);

  afterAll(async () => {
    await server?.stop();
    hook?.closeAllConnections();
    await new Promise((resolve) => hook?.close(resolve));
  });

  it("flags f0 within three windows, fires, pauses the rollout, and resolves after rollback", async () => {
    const stable = await register();
    await ok("PUT", `/api/v1/models/${MODEL}/gate-policy`, { yaml: POLICY });
    await evaluate(stable);
    const first = await ok("POST", "/api/v1/deployments", { model: MODEL, version: stable, strategy: "replace" });
    // Deploying an evaluated version watches it: a monitor with the defaults (the second test replaces it with a short-windowed one).
    expect(first.monitor).toMatchObject({ created: true, note: expect.stringContaining(`watches version 1 of '${MODEL}' in production`) });
    stableMonitor = first.monitor.id;
    stableDeployment = first.id;
    expect((await ok("GET", `/api/v1/monitors/${stableMonitor}`)).version).toBe(1);
    await pollUntil("the stable version to serve", () => ok("GET", `/api/v1/deployments/${first.id}`), (d) => d.status.phase === "Succeeded");

    const canary = await register();
    // Bad input: a version no evaluation has read data for has no reference to monitor against.
    const unevaluated = await call("POST", "/api/v1/monitors", { model: MODEL, version: Number(canary) });
    expect(unevaluated.status).toBe(400);
    expect(unevaluated.json.error.code).toBe("INVALID_INPUT");
    expect(unevaluated.json.error.message).toMatch(/no reference data to monitor against.*paved evaluate churn@2 --data <evaluation CSV> --reference <training CSV>/);
    // Deploying it anyway (to staging, which no gate guards) deploys it, unwatched, and says how to attach reference data.
    const staging = await ok("POST", "/api/v1/deployments", { model: MODEL, version: canary, environment: "staging", strategy: "replace" });
    expect(staging.monitor).toMatchObject({ id: null, created: false, note: expect.stringMatching(/^not monitored: .*paved evaluate churn@2/) });
    expect((await ok("GET", `/api/v1/deployments/${staging.id}`)).monitor).toBeUndefined();
    await evaluate(canary);
    const monitor = await ok("POST", "/api/v1/monitors", { model: MODEL, version: Number(canary), windowSeconds: WINDOW_SECONDS, minRows: 100 });
    expect(monitor.reference.features).toEqual(["f0", "f1", "f2"]);
    expect(monitor.reference.kind).toBe("reference");
    expect(monitor.reference.uri).toMatch(/^runs:\/.*\/data\/train\.csv$/);
    // The gate policy's drift bounds are the monitor's.
    expect(monitor.thresholds).toMatchObject({ maxPsi: 0.25, maxKsStatistic: 0.3, p99Ms: 60000 });
    expect((await call("POST", "/api/v1/monitors", { model: MODEL, version: Number(canary), windowSeconds: WINDOW_SECONDS })).status).toBe(409);
    expect((await call("POST", "/api/v1/monitors", { model: MODEL, version: Number(canary), windowSeconds: 0 })).status).toBe(400);
    const unknownFeature = await call("POST", "/api/v1/monitors", { model: MODEL, version: Number(canary), features: ["f0", "income"] });
    expect(unknownFeature.status).toBe(400);
    expect(unknownFeature.json.error.message).toMatch(/no feature 'income'; its features .* are f0, f1, f2/);

    // Bad input: a webhook on a host the admin did not allow-list, or with credentials; a rule naming an unknown receiver.
    const ssrf = await call("POST", "/api/v1/alerts/receivers", { name: "internal", url: "http://169.254.169.254/latest/meta-data" });
    expect(ssrf.status).toBe(400);
    expect(ssrf.json.error.message).toMatch(/not allow-listed.*monitoring\.alerts\.allowedHosts/);
    expect((await call("POST", "/api/v1/alerts/receivers", { name: "creds", url: hookUrl.replace("http://", "http://u:p@") })).status).toBe(400);
    expect((await call("POST", "/api/v1/alerts/receivers", { name: "files", url: "file:///etc/passwd" })).status).toBe(400);
    const receiver = await ok("POST", "/api/v1/alerts/receivers", { name: "oncall", url: hookUrl, format: "alertmanager" });
    // The path may hold a secret; it is not shown back.
    expect(receiver.url).not.toContain("paved-secret-path");
    expect((await call("POST", "/api/v1/alerts/rules", { name: "drift", rule: { signal: "model.drift", severity: "critical", receivers: ["nobody"] } })).status).toBe(400);
    expect((await call("POST", "/api/v1/alerts/rules", { name: "hot", rule: { signal: "infra.gpu_temperature_celsius", severity: "warning" } })).json.error.message).toMatch(/needs a threshold/);
    await ok("POST", "/api/v1/alerts/rules", { name: "canary-drift", rule: { signal: "model.drift", severity: "critical", model: MODEL, environment: "production", pauseRollout: true, receivers: ["oncall"] } });

    // The canary takes half the traffic and stays there (an hour per step); canary analysis is left out of this story.
    const rollout = await ok("POST", "/api/v1/deployments", { model: MODEL, version: canary, steps: [50, 100], stepIntervalSeconds: 3600, analysis: { maxPredictionPsi: null } });
    // The monitor made above watches it already; none is added.
    expect(rollout.monitor).toMatchObject({ id: monitor.id, created: false });
    await pollUntil("the canary to take traffic", () => ok("GET", `/api/v1/deployments/${rollout.id}`), (d) => d.status.canaryWeight === 50);

    const windows = async () => (await ok<{ windows: Window[] }>("GET", `/api/v1/monitors/${monitor.id}/windows?limit=100`)).windows.slice().reverse();
    // Undrifted traffic (eval.csv) until two windows were judged ok.
    let stop = false;
    const calm = traffic(rows("eval.csv"), () => stop);
    await pollUntil("two calm windows", windows, (w) => w.filter((x) => x.status === "ok").length >= 2, { timeoutMs: 60_000 });
    stop = true;
    await calm;
    const calmWindows = await windows();
    for (const w of calmWindows.filter((x) => x.status === "ok")) expect(w.figures.driftedFeatures).toEqual([]);

    // Mid-way the inputs drift: f0 moves by +2.5.
    const driftStarted = Date.now();
    stop = false;
    const drifted = traffic(rows("shifted.csv"), () => stop);
    const flagged = await pollUntil("a window flagging f0", windows, (w) => w.some((x) => x.figures.driftedFeatures.length > 0), { timeoutMs: 60_000 });
    const firstFlagged = flagged.find((x) => x.figures.driftedFeatures.length > 0)!;
    expect(firstFlagged.figures.driftedFeatures).toEqual(["f0"]);
    // Within three windows of the drift: the window it started in, and the two after.
    const windowsSince = flagged.filter((x) => x.end > driftStarted);
    expect(windowsSince.indexOf(firstFlagged)).toBeLessThan(3);
    const f0 = firstFlagged.figures.features.find((f) => f.feature === "f0")!;
    expect(f0.psi).toBeGreaterThan(0.25);

    // The alert fires to the webhook (once), in Alertmanager's format, and the rollout pauses.
    const firing = await pollUntil("the webhook to hear the alert", async () => received.filter((r) => r.status === "firing"), (r) => r.length > 0, { timeoutMs: 30_000 });
    expect(firing[0]!.version).toBe("4");
    expect(firing[0]!.receiver).toBe("oncall");
    expect(firing[0]!.alerts[0]!.labels).toMatchObject({ alertname: "canary-drift", severity: "critical", model: MODEL, version: canary, environment: "production", signal: "model.drift" });
    expect(firing[0]!.alerts[0]!.annotations.features).toBe("f0");
    const paused = await pollUntil("the rollout to pause", () => ok("GET", `/api/v1/deployments/${rollout.id}`), (d) => d.status.phase === "Paused");
    expect(paused.status.canaryWeight).toBe(50);
    const [alert] = (await ok("GET", "/api/v1/alerts?state=firing")).alerts;
    expect(alert.pausedDeployment).toBe(rollout.id);
    // More drifted windows keep the one alert: de-duplicated, nothing new sent.
    await pollUntil("another drifted window", windows, (w) => w.filter((x) => x.figures.driftedFeatures.includes("f0")).length >= 2, { timeoutMs: 30_000 });
    expect(received.filter((r) => r.status === "firing")).toHaveLength(1);
    expect((await ok("GET", "/api/v1/alerts")).alerts).toHaveLength(1);
    // The latest window's figures are on /metrics, labelled by version (and feature).
    const metrics = await (await fetch(`${server.url}/metrics`, { headers: auth })).text();
    const series = (name: string, extra = "") => Number(new RegExp(`^${name}\\{model="${MODEL}",version="${canary}",environment="production"${extra}\\} (\\S+)$`, "m").exec(metrics)?.[1]);
    expect(series("paved_monitor_feature_psi", ',feature="f0"')).toBeGreaterThan(0.25);
    expect(series("paved_monitor_drifted_features")).toBe(1);
    expect(metrics).toMatch(/^paved_alerts_firing\{team="default",severity="critical"\} 1$/m);
    // The CLI shows the same: the monitor's latest window per feature, and the alert with the rollout it paused.
    const paved = async (...args: string[]) =>
      (await promisify(execFile)(process.execPath, [new URL("../bin/paved.js", import.meta.url).pathname, ...args], { env: { ...process.env, PAVED_URL: server.url, PAVED_TOKEN: TOKEN } })).stdout;
    const shown = await paved("monitors", "show", monitor.id);
    expect(shown).toMatch(/Reference:\s+runs:\/.*train\.csv/);
    expect(shown).toMatch(/^f0\s+numeric\s.*yes$/m);
    expect(await paved("alerts", "ls", "--state", "firing")).toContain(rollout.id);

    // Rolled back: the canary serves nothing, its next window is idle, the alert resolves and the receiver hears so.
    await ok("POST", `/api/v1/deployments/${rollout.id}/rollback`);
    await pollUntil("the rollback", () => ok("GET", `/api/v1/deployments/${rollout.id}`), (d) => d.status.phase === "RolledBack");
    const resolved = await pollUntil("the webhook to hear the alert resolved", async () => received.filter((r) => r.status === "resolved"), (r) => r.length > 0, { timeoutMs: 30_000 });
    stop = true;
    await drifted;
    expect(resolved[0]!.alerts[0]!.endsAt).not.toBe("0001-01-01T00:00:00Z");
    const after = (await ok("GET", "/api/v1/alerts")).alerts;
    expect(after.map((a: { state: string }) => a.state)).toEqual(["resolved"]);
    expect(after[0].deliveries.oncall).toMatchObject({ state: "resolved", attempts: 0, error: null });
  }, 240_000);

  it("keeps monitors, windows and alerts across kill -9, and judges the windows after the restart", async () => {
    // The stable version gets a short-windowed monitor in place of the one its deployment made, and a window of traffic.
    // The monitor its deployment made keeps no samples: it cannot make a dataset, and says how to get one that does.
    const keepsNone = await call("POST", `/api/v1/monitors/${stableMonitor}/dataset`, { name: "churn-live" });
    expect(keepsNone.status).toBe(400);
    expect(keepsNone.json.error.message).toContain("--keep-samples");
    await ok("DELETE", `/api/v1/monitors/${stableMonitor}`);
    const monitor = await ok("POST", "/api/v1/monitors", { model: MODEL, version: 1, windowSeconds: WINDOW_SECONDS, minRows: 100, keepSamples: true });
    const windows = async () => (await ok<{ windows: Window[] }>("GET", `/api/v1/monitors/${monitor.id}/windows?limit=100`)).windows;
    let stop = false;
    let sending = traffic(rows("eval.csv"), () => stop);
    const before = await pollUntil("a judged window", windows, (w) => w.some((x) => x.status === "ok"), { timeoutMs: 60_000 });
    stop = true;
    await sending;

    // Closing the loop: the sampled production traffic becomes a dataset version to retrain on, with lineage to the deployment.
    const live = await ok("POST", `/api/v1/monitors/${monitor.id}/dataset`, { name: "churn-live" });
    expect(live).toMatchObject({ dataset: "churn-live", version: 1, ref: "datasets:/churn-live@1", existing: false });
    expect(live.rows).toBeGreaterThan(0);
    const version = await ok("GET", "/api/v1/datasets/churn-live/versions/1");
    expect(version.files).toHaveLength(live.windows);
    expect(version.files[0].columns.map((c: { name: string }) => c.name)).toEqual(["f0", "f1", "f2", "prediction"]);
    expect(version).toMatchObject({ rowCount: live.rows, source: { kind: "monitor" }, lineage: { kind: "deployment", id: stableDeployment, monitor: monitor.id, modelVersion: 1, environment: "production" } });

    await server.kill9();
    server = await startServerProcess({ dataDir: join(dir, "data"), token: TOKEN, port: Number(new URL(server.url).port), config: { monitoring: { intervalSeconds: 0.25, alerts: { allowedHosts: ["127.0.0.1"] } } } });
    // Nothing acknowledged was lost: the monitors, their windows, the alert and what its receiver was sent.
    expect((await ok("GET", "/api/v1/monitors")).monitors.map((m: { id: string }) => m.id).sort()).toHaveLength(2);
    const kept = await windows();
    expect(kept.slice(kept.length - before.length).map((w) => w.start)).toEqual(before.map((w) => w.start));
    const alerts = (await ok("GET", "/api/v1/alerts")).alerts;
    expect(alerts.map((a: { state: string }) => a.state)).toEqual(["resolved"]);
    expect(alerts[0].deliveries.oncall.state).toBe("resolved");
    // Windows go on being judged from the traffic after the restart.
    const restartedAt = Date.now();
    stop = false;
    sending = traffic(rows("eval.csv"), () => stop);
    await pollUntil("a judged window after the restart", windows, (w) => w.some((x) => x.status === "ok" && x.start >= restartedAt - WINDOW_SECONDS * 1000), { timeoutMs: 60_000 });
    stop = true;
    await sending;
    // The resolved alert was not sent again.
    expect(received.filter((r) => r.status === "resolved")).toHaveLength(1);
  }, 180_000);
});
