// Crash safety of a real `paved up` process: acknowledged writes survive kill -9, the job
// controller reconciles running jobs after a restart (adopts live ones, retries vanished ones),
// and the deployment controller continues an A/B test with the outcomes it had acknowledged.
import { mkdtempSync, readFileSync, writeFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { buildTestModels } from "../src/modules/serving/test-models.ts";
import { startServerProcess, type ServerProcess } from "./support/server-process.ts";

const TOKEN = "pvd_restart-test-token-0123456789";

async function api(server: ServerProcess, method: string, path: string, body?: unknown): Promise<any> {
  const res = await fetch(server.url + path, {
    method,
    headers: { authorization: `Bearer ${server.token}`, ...(body ? { "content-type": "application/json" } : {}) },
    ...(body ? { body: JSON.stringify(body) } : {}),
  });
  const json = await res.json();
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(json)}`);
  return json;
}

async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function jobEnd(server: ServerProcess, id: string): Promise<any> {
  return waitFor(`job ${id} to end`, async () => {
    const job = await api(server, "GET", `/api/v1/jobs/${id}`);
    return ["SUCCEEDED", "FAILED", "CANCELLED"].includes(job.phase) ? job : undefined;
  });
}

function jobProgram(dir: string): string {
  const file = join(dir, "job.mjs");
  writeFileSync(
    file,
    `import { appendFileSync } from "node:fs";
appendFileSync(process.env.MARK, "start " + process.env.PAVED_ATTEMPT + " " + process.pid + "\\n");
setTimeout(() => appendFileSync(process.env.MARK, "end\\n"), Number(process.env.RUN_MS));
`,
  );
  return file;
}

function processGroupOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[2]);
}

describe("kill -9 of paved up", () => {
  let server: ServerProcess | undefined;
  afterEach(async () => server?.stop());

  it("keeps every acknowledged metric", async () => {
    const root = mkdtempSync(join(tmpdir(), "paved-restart-"));
    const dataDir = join(root, "data");
    server = await startServerProcess({ dataDir, token: TOKEN });
    const { experiment_id } = await api(server, "POST", "/api/2.0/mlflow/experiments/create", { name: "crash" });
    const { run } = await api(server, "POST", "/api/2.0/mlflow/runs/create", { experiment_id, start_time: Date.now() });
    const runId = run.info.run_id as string;
    for (let batch = 0; batch < 5; batch++) {
      const metrics = Array.from({ length: 200 }, (_, i) => ({ key: "loss", value: 1 / (batch * 200 + i + 1), timestamp: Date.now(), step: batch * 200 + i }));
      await api(server, "POST", "/api/2.0/mlflow/runs/log-batch", { run_id: runId, metrics });
    }
    await server.kill9();
    server = await startServerProcess({ dataDir, token: TOKEN });
    const history = await api(server, "GET", `/api/2.0/mlflow/metrics/get-history?run_id=${runId}&metric_key=loss&max_results=25000`);
    expect(history.metrics).toHaveLength(1000);
  });

  it("adopts a job that kept running and does not start it twice", async () => {
    const root = mkdtempSync(join(tmpdir(), "paved-restart-"));
    const dataDir = join(root, "data");
    const mark = join(root, "mark.txt");
    const program = jobProgram(root);
    server = await startServerProcess({ dataDir, token: TOKEN });
    const job = await api(server, "POST", "/api/v1/jobs", {
      name: "survivor",
      command: [process.execPath, program],
      workingDir: root,
      env: { MARK: mark, RUN_MS: "4000" },
    });
    await waitFor("the job's process", async () => (existsSync(mark) ? true : undefined));
    await server.kill9();
    server = await startServerProcess({ dataDir, token: TOKEN });
    const done = await jobEnd(server, job.id);
    expect(done.phase).toBe("SUCCEEDED");
    expect(done.exitCode).toBe(0);
    expect(done.attempt).toBe(1);
    const lines = readFileSync(mark, "utf8").trim().split("\n");
    expect(lines.filter((l) => l.startsWith("start"))).toHaveLength(1);
    expect(lines).toContain("end");
  });

  it("logs the metric lines a job printed while no server watched it", async () => {
    const root = mkdtempSync(join(tmpdir(), "paved-restart-"));
    const dataDir = join(root, "data");
    const mark = join(root, "mark.txt");
    const go = join(root, "go");
    const program = join(root, "late-metric.mjs");
    writeFileSync(
      program,
      `import { appendFileSync, existsSync } from "node:fs";
appendFileSync(process.env.MARK, "start\\n");
const wait = setInterval(() => {
  if (!existsSync(process.env.GO)) return;
  clearInterval(wait);
  console.log("paved.metric loss=0.25 step=7");
  appendFileSync(process.env.MARK, "end\\n");
}, 20);
`,
    );
    server = await startServerProcess({ dataDir, token: TOKEN });
    const job = await api(server, "POST", "/api/v1/jobs", { name: "late-metric", command: [process.execPath, program], workingDir: root, env: { MARK: mark, GO: go } });
    await waitFor("the job's process", async () => (existsSync(mark) ? true : undefined));
    await server.kill9();
    // The job prints its metric and ends while no server runs.
    writeFileSync(go, "");
    await waitFor("the job's end", async () => (readFileSync(mark, "utf8").includes("end") ? true : undefined));
    await new Promise((r) => setTimeout(r, 300));
    server = await startServerProcess({ dataDir, token: TOKEN });
    const done = await jobEnd(server, job.id);
    expect(done.phase).toBe("SUCCEEDED");
    const history = await api(server, "GET", `/api/2.0/mlflow/metrics/get-history?run_id=${done.runId}&metric_key=loss`);
    expect(history.metrics.map((m: { value: number; step: number }) => [m.value, m.step])).toEqual([[0.25, 7]]);
  });

  it("retries a job whose process vanished while the server was down", async () => {
    const root = mkdtempSync(join(tmpdir(), "paved-restart-"));
    const dataDir = join(root, "data");
    const mark = join(root, "mark.txt");
    const program = jobProgram(root);
    server = await startServerProcess({ dataDir, token: TOKEN });
    const job = await api(server, "POST", "/api/v1/jobs", {
      name: "vanishing",
      command: [process.execPath, program],
      workingDir: root,
      env: { MARK: mark, RUN_MS: "1500" },
      retry: { maxAttempts: 2 },
    });
    const pid = await waitFor("the job's process", async () => {
      if (!existsSync(mark)) return undefined;
      return Number(readFileSync(mark, "utf8").split("\n")[0]?.split(" ")[2]);
    });
    await server.kill9();
    process.kill(-processGroupOf(pid), "SIGKILL");
    server = await startServerProcess({ dataDir, token: TOKEN });
    const done = await jobEnd(server, job.id);
    expect(done.phase).toBe("SUCCEEDED");
    expect(done.attempt).toBe(2);
    const starts = readFileSync(mark, "utf8").split("\n").filter((l) => l.startsWith("start"));
    expect(starts.map((l) => l.split(" ")[1])).toEqual(["1", "2"]);
  });

  it("continues an A/B test: keys keep their version and acknowledged outcomes still count", async () => {
    const root = mkdtempSync(join(tmpdir(), "paved-restart-"));
    const dataDir = join(root, "data");
    const models = buildTestModels();
    server = await startServerProcess({ dataDir, token: TOKEN });
    for (const file of ["tiny", "tiny-v2"] as const) {
      const { run } = await api(server, "POST", "/api/2.0/mlflow/runs/create", { experiment_id: "0", start_time: Date.now() });
      const put = await fetch(`${server.url}/api/2.0/mlflow-artifacts/artifacts/0/${run.info.run_id}/artifacts/model/model.onnx`, {
        method: "PUT",
        headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/octet-stream" },
        body: models.bytes(file),
      });
      expect(put.status).toBe(200);
      await api(server, "POST", "/api/v1/models/abk/versions", { source: `runs:/${run.info.run_id}/model` });
    }
    const first = await api(server, "POST", "/api/v1/deployments", { model: "abk", version: "1", environment: "staging", strategy: "replace" });
    const current = server;
    await waitFor("version 1 to serve", async () => ((await api(current, "GET", `/api/v1/deployments/${first.id}`)).status.phase === "Succeeded" ? true : undefined));
    const ab = await api(server, "POST", "/api/v1/deployments", {
      model: "abk",
      version: "2",
      environment: "staging",
      strategy: "ab",
      stepIntervalSeconds: 0.2,
      ab: { metric: "converted", kind: "binary", minSamples: 100_000 },
    });
    const route = async (s: ServerProcess, key: string): Promise<string> => {
      // A staging deployment answers at staging's endpoint (production keeps /v2/models/abk).
      const res = await fetch(`${s.url}/environments/staging/v2/models/abk/infer`, {
        method: "POST",
        headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json", "x-paved-route-key": key },
        body: JSON.stringify({ inputs: [{ name: "input", shape: [1, 4], datatype: "FP32", data: [0.1, 0.2, 0.3, 0.4] }] }),
      });
      expect(res.status).toBe(200);
      return ((await res.json()) as { model_version: string }).model_version;
    };
    await waitFor("the A/B test to start", async () => ((await api(current, "GET", `/api/v1/deployments/${ab.id}`)).status.abTest ? true : undefined));
    const keys = Array.from({ length: 20 }, (_, i) => `user-${i}`);
    const before = await Promise.all(keys.map((k) => route(current, k)));
    expect(new Set(before)).toEqual(new Set(["1", "2"]));
    await api(server, "POST", `/api/v1/deployments/${ab.id}/outcomes`, { outcomes: Array.from({ length: 200 }, (_, i) => ({ key: `user-${i}`, value: i % 3 === 0 ? 1 : 0 })) });
    await server.kill9();

    server = await startServerProcess({ dataDir, token: TOKEN });
    const restarted = server;
    const picked = await waitFor("the A/B test to be picked up", async () => {
      const d = await api(restarted, "GET", `/api/v1/deployments/${ab.id}`);
      return d.status.history.some((h: { reason: string }) => h.reason.startsWith("picked up after a restart")) ? d : undefined;
    });
    expect(picked.status.phase).toBe("Progressing");
    expect(await Promise.all(keys.map((k) => route(restarted, k)))).toEqual(before);
    const counted = await waitFor("the outcomes to be counted", async () => {
      const d = await api(restarted, "GET", `/api/v1/deployments/${ab.id}`);
      return d.status.abTest.a.n + d.status.abTest.b.n === 200 ? d : undefined;
    });
    expect(counted.status.abTest.result).not.toBeNull();
  }, 90_000);
});
