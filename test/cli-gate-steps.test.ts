// Issue 7, item 15: every step the production gate asks for can be done with `paved` (model-card
// tags, a run's artifacts, a metric's history), against a real server started in-process and
// the real CLI program (in-process too, with the real fetch).
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createApp, type App } from "../src/app.ts";
import { loadConfig } from "../src/config/index.ts";
import { exportLinearOnnx } from "./support/onnx.ts";
import { runPaved } from "./support/cli.ts";

let app: App;
let url: string;
let token: string;
let dir: string;
let runId: string;
const model = exportLinearOnnx();
// More than one page of the server (25,000 points a page), so the CLI must follow nextPageToken.
const POINTS = 25_500;

const paved = (...args: string[]) => runPaved(args, { url, token, dir });

async function api<T = any>(method: string, path: string, body?: unknown): Promise<T> {
  const res = await fetch(url + path, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "paved-cli-gate-"));
  const config = loadConfig({
    env: {},
    overrides: { dataDir: join(dir, "data"), port: 0, host: "127.0.0.1", logLevel: "silent", compute: { gpus: [], systemMetricsInterval: 1 } },
  });
  app = await createApp(config, { env: {} });
  url = await app.listen();
  token = app.generatedAdminToken!;
  const { run } = await api("POST", "/api/2.0/mlflow/runs/create", { experiment_id: "0", start_time: Date.now() });
  runId = run.info.run_id;
  for (let start = 0; start < POINTS; start += 1000) {
    const metrics = Array.from({ length: Math.min(1000, POINTS - start) }, (_, i) => ({ key: "loss", value: 1 / (start + i + 1), timestamp: 1_700_000_000_000 + start + i, step: start + i }));
    await api("POST", "/api/2.0/mlflow/runs/log-batch", { run_id: runId, metrics });
  }
  const put = await fetch(`${url}/api/2.0/mlflow-artifacts/artifacts/0/${runId}/artifacts/outputs/model.onnx`, {
    method: "PUT",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/octet-stream" },
    body: model,
  });
  expect(put.status).toBe(200);
  await api("POST", "/api/v1/models/churn/versions", { source: `runs:/${runId}/outputs` });
}, 60_000);

afterAll(async () => {
  await app?.close();
  await rm(dir, { recursive: true, force: true });
});

describe("the gate's steps with paved (issue 7, item 15)", () => {
  it("paved models tag sets the model card the compliance check reads, and deletes tags", async () => {
    const set = await paved("models", "tag", "churn", "model_card.owner=risk-team", "model_card.intendedUse=weekly churn triage", "draft=yes");
    expect(set.stderr).toBe("");
    expect(set.code).toBe(0);
    // What MLflow clients (and the compliance check) read back.
    const { registered_model } = await api("GET", "/api/2.0/mlflow/registered-models/get?name=churn");
    expect(registered_model.tags).toEqual(
      expect.arrayContaining([
        { key: "model_card.owner", value: "risk-team" },
        { key: "model_card.intendedUse", value: "weekly churn triage" },
      ]),
    );
    const deleted = await paved("models", "tag", "churn", "--delete", "draft", "--json");
    expect(deleted.code).toBe(0);
    expect(JSON.parse(deleted.stdout).tags).toEqual({ "model_card.owner": "risk-team", "model_card.intendedUse": "weekly churn triage" });
  });

  it("paved models tag name@version tags one version, by number or alias", async () => {
    await api("PUT", "/api/v1/models/churn/aliases/champion", { version: "1" });
    expect((await paved("models", "tag", "churn@champion", "model_card.limitations=tabular only")).code).toBe(0);
    const version = await api("GET", "/api/v1/models/churn/versions/1");
    expect(version.tags).toEqual({ "model_card.limitations": "tabular only" });
  });

  it("a tag that is not there cannot be deleted, and nothing else changes", async () => {
    const result = await paved("models", "tag", "churn", "other=1", "--delete", "nope");
    expect(result.code).toBe(3);
    expect(result.stderr).toContain("[NOT_FOUND]");
    const { tags } = await api("GET", "/api/v1/models/churn");
    expect(tags.other).toBeUndefined();
  });

  it("paved runs artifacts ls lists a run's folders and files", async () => {
    const root = await paved("runs", "artifacts", "ls", runId);
    expect(root.code).toBe(0);
    expect(root.stdout).toMatch(/^outputs\/\s/m);
    const outputs = await paved("runs", "artifacts", "ls", runId, "outputs", "--json");
    expect(JSON.parse(outputs.stdout).files).toEqual([{ path: "outputs/model.onnx", isDir: false, size: model.length }]);
  });

  it("paved runs artifacts get downloads a file's exact bytes, to stdout or to a file", async () => {
    const toStdout = await paved("runs", "artifacts", "get", runId, "outputs/model.onnx");
    expect(toStdout.code).toBe(0);
    expect(toStdout.bytes.equals(model)).toBe(true);
    const toFile = await paved("runs", "artifacts", "get", runId, "outputs/model.onnx", "-o", "model.onnx");
    expect(toFile.code).toBe(0);
    expect((await readFile(join(dir, "model.onnx"))).equals(model)).toBe(true);
    const missing = await paved("runs", "artifacts", "get", runId, "outputs/nope.onnx", "-o", "nope.onnx");
    expect(missing.code).toBe(3);
    await expect(readFile(join(dir, "nope.onnx"))).rejects.toThrow();
  });

  it("paved runs metrics prints every point of a metric's history", async () => {
    const result = await paved("runs", "metrics", runId, "loss", "--json");
    expect(result.code).toBe(0);
    const { history } = JSON.parse(result.stdout) as { history: { step: number; value: number }[] };
    expect(history).toHaveLength(POINTS);
    expect(history.map((p) => p.step)).toEqual(Array.from({ length: POINTS }, (_, i) => i));
    const table = await paved("runs", "metrics", runId, "loss");
    expect(table.stdout.trim().split("\n")).toHaveLength(POINTS + 1);
  });
});
