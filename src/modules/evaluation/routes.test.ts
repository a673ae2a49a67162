import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createApp, type App } from "../../app.ts";
import { loadConfig } from "../../config/index.ts";

// Generous performance budget: tests assert that figures are recorded, never timings.
const POLICY = `
checks:
  - {type: quality, metric: accuracy, min: 0.8, relativeToProduction: 0.02}
  - {type: quality, metric: auc, min: 0.8}
  - {type: performance, p99Ms: 60000}
  - {type: drift, maxPsi: 0.25, maxKsStatistic: 0.3}
  - type: compliance
    requiredModelCardFields: [owner, intendedUse, limitations, license]
    requireLineage: true
    forbidSensitiveFeatures: true
`;
type Evaluation = { id: string; phase: string; passed: boolean; message: string | null; finishedAt: number | null; checks: { name: string; passed: boolean; figures: Record<string, number | null>; hint: string | null }[] } & Record<string, unknown>;
const CARD = { owner: "ada", intendedUse: "churn triage", limitations: "synthetic data", license: "internal" };

const config = (dataDir: string) => loadConfig({ env: {}, overrides: { dataDir, logLevel: "silent", compute: { gpus: [] }, host: "127.0.0.1", port: 0 } });

describe("evaluation gates over HTTP", () => {
  let app: App;
  let auth: Record<string, string>;
  const data = mkdtempSync(join(tmpdir(), "paved-eval-data-"));
  const api = "/api/2.0/mlflow";

  const call = (method: "GET" | "POST" | "PUT", url: string, payload?: unknown) =>
    app.server.inject({ method, url, headers: auth, ...(payload !== undefined ? { payload: payload as object } : {}) });

  async function register(name: string, file: "good.onnx" | "bad.onnx" | "multiclass.onnx" | "multiclass-logits.onnx", opts: { card?: boolean; policy?: string } = {}): Promise<string> {
    const run = (await call("POST", `${api}/runs/create`, { experiment_id: "0", start_time: 1, tags: [{ key: "mlflow.source.git.commit", value: "c0ffee" }] })).json().run.info;
    const put = await app.server.inject({
      method: "PUT",
      url: `/api/2.0/mlflow-artifacts/artifacts/0/${run.run_id}/artifacts/model/model.onnx`,
      headers: { ...auth, "content-type": "application/octet-stream" },
      payload: readFileSync(join(data, file)),
    });
    expect(put.statusCode).toBe(200);
    // The training CSV is a run artifact, named by a runs:/ URI as the run's dataset input.
    const train = await app.server.inject({
      method: "PUT",
      url: `/api/2.0/mlflow-artifacts/artifacts/0/${run.run_id}/artifacts/data/train.csv`,
      headers: { ...auth, "content-type": "application/octet-stream" },
      payload: readFileSync(join(data, "train.csv")),
    });
    expect(train.statusCode).toBe(200);
    await call("POST", `${api}/runs/log-inputs`, { run_id: run.run_id, datasets: [{ dataset: { name: "train", digest: "d1", source_type: "local", source: `runs:/${run.run_id}/data/train.csv` } }] });
    const version = await call("POST", `/api/v1/models/${name}/versions`, { source: `runs:/${run.run_id}/model` });
    expect(version.statusCode).toBe(200);
    if (opts.card !== false) {
      for (const [key, value] of Object.entries(CARD)) await call("POST", `${api}/registered-models/set-tag`, { name, key: `model_card.${key}`, value });
    }
    if (opts.policy !== null) expect((await call("PUT", `/api/v1/models/${name}/gate-policy`, { yaml: opts.policy ?? POLICY })).statusCode).toBe(200);
    return version.json().version;
  }

  /** Uploads one of the test CSVs; answers its uploads:/ URI. */
  async function uploaded(file: string): Promise<string> {
    const response = await app.server.inject({ method: "POST", url: "/api/v1/evaluation-data", headers: { ...auth, "content-type": "text/csv" }, payload: readFileSync(join(data, file)) });
    expect(response.statusCode, response.body).toBe(200);
    return response.json().uri;
  }
  const evaluate = async (name: string, version: string, body: Record<string, unknown> = {}) =>
    call("POST", `/api/v1/models/${name}/versions/${version}/evaluations`, { data: await uploaded("eval.csv"), sensitive: ["group"], ...body });
  /** Polls an evaluation until the runner has finished it. */
  async function finished(id: string): Promise<Evaluation> {
    for (let i = 0; i < 600; i++) {
      const evaluation = (await call("GET", `/api/v1/evaluations/${id}`)).json();
      if (!["Pending", "Running"].includes(evaluation.phase)) return evaluation;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    throw new Error(`evaluation ${id} did not finish`);
  }
  /** Asks for an evaluation and waits for its result. */
  async function evaluated(name: string, version: string, body: Record<string, unknown> = {}): Promise<Evaluation> {
    const response = await evaluate(name, version, body);
    expect(response.statusCode, response.body).toBe(200);
    return finished(response.json().id);
  }
  const failed = (evaluation: { checks: { name: string; passed: boolean }[] }) => evaluation.checks.filter((c) => !c.passed).map((c) => c.name);

  beforeAll(async () => {
    execFileSync("/usr/bin/python3", [new URL("./test-data.py", import.meta.url).pathname, data], { stdio: ["ignore", "ignore", "pipe"] });
    const dataDir = mkdtempSync(join(tmpdir(), "paved-eval-"));
    app = await createApp(config(dataDir));
    await app.listen();
    auth = { authorization: `Bearer ${app.generatedAdminToken}` };
  }, 120_000);
  afterAll(async () => app?.close());

  it("passes a good model and records every check's figures", async () => {
    const version = await register("good", "good.onnx");
    const response = await evaluate("good", version);
    expect(response.statusCode).toBe(200);
    // Accepted at once; the runner evaluates it.
    expect(response.json()).toMatchObject({ phase: "Pending", passed: false, checks: [], finishedAt: null, dataDigest: null });
    const evaluation = await finished(response.json().id);
    expect(evaluation.phase).toBe("Passed");
    expect(failed(evaluation)).toEqual([]);
    expect(evaluation.passed).toBe(true);
    expect(evaluation.dataDigest).toMatch(/^sha256:/);
    expect(evaluation.referencePath).toMatch(/^runs:\/[^/]+\/data\/train\.csv$/);
    expect(evaluation.referenceOrigin).toMatch(/^lineage dataset 'train' of run /);
    expect(evaluation.features).toMatchObject({ matchedBy: "name", names: ["f0", "f1", "f2"] });
    const byName = Object.fromEntries(evaluation.checks.map((c) => [c.name, c]));
    expect(byName["quality:accuracy"]!.figures.value).toBeGreaterThan(0.8);
    expect(byName["performance:latency"]!.figures).toMatchObject({ p50Ms: expect.any(Number), p99Ms: expect.any(Number), throughput: expect.any(Number), requests: 200 });
    expect(Object.keys(byName)).toEqual(expect.arrayContaining(["drift:f0", "drift:f1", "drift:f2", "compliance:model-card", "compliance:lineage", "compliance:sensitive-features"]));
    expect((await call("GET", `/api/v1/evaluations/${evaluation.id}`)).json()).toEqual(evaluation);
    const listed = (await call("GET", `/api/v1/evaluations?model=good&version=${version}`)).json().evaluations;
    expect(listed.map((e: { id: string }) => e.id)).toEqual([evaluation.id]);
  }, 60_000);

  it("fails quality for a model with inverted weights, with a fix hint", async () => {
    const version = await register("bad", "bad.onnx");
    const evaluation = await evaluated("bad", version);
    expect(evaluation.phase).toBe("Failed");
    expect(evaluation.passed).toBe(false);
    expect(failed(evaluation)).toEqual(expect.arrayContaining(["quality:accuracy", "quality:auc"]));
    expect(evaluation.checks.find((c) => c.name === "quality:accuracy")!.hint).toBeTruthy();
  }, 60_000);

  it("detects bias on a skewed dataset and drift on shifted data", async () => {
    const policy = `${POLICY}  - {type: bias, sensitiveColumn: group, maxDemographicParityDifference: 0.1, maxEqualizedOddsDifference: 0.2}\n`;
    const version = await register("fair", "good.onnx", { policy });
    const fair = await evaluated("fair", version);
    expect(fair.checks.find((c) => c.name === "bias:group")!.passed).toBe(true);
    const skewed = await evaluated("fair", version, { data: await uploaded("skewed.csv") });
    const bias = skewed.checks.find((c: { name: string }) => c.name === "bias:group")!;
    expect(bias.passed).toBe(false);
    expect(bias.figures.demographicParityDifference).toBeGreaterThan(0.1);
    const shifted = await evaluated("fair", version, { data: await uploaded("shifted.csv") });
    expect(failed(shifted)).toContain("drift:f0");
    expect(failed(shifted)).not.toContain("drift:f1");
  }, 60_000);

  it("fails compliance without a model card", async () => {
    const version = await register("anonymous", "good.onnx", { card: false });
    const evaluation = await evaluated("anonymous", version);
    expect(failed(evaluation)).toEqual(["compliance:model-card"]);
  }, 60_000);

  it("refuses production without a passing evaluation, then allows it", async () => {
    const version = await register("gated", "good.onnx", { card: false });
    const refused = await call("PUT", "/api/v1/models/gated/aliases/production", { version });
    expect(refused.json().error.code).toBe("GATE_FAILED");
    expect((await call("PUT", "/api/v1/models/gated/aliases/staging", { version })).statusCode).toBe(200);
    await evaluated("gated", version);
    const stillRefused = await call("POST", `${api}/registered-models/alias`, { name: "gated", alias: "production", version });
    expect(stillRefused.statusCode).not.toBe(200);
    expect(stillRefused.json().error_code).toBeDefined();
    const failedCheck = await call("PUT", "/api/v1/models/gated/aliases/production", { version });
    expect(failedCheck.json().error.code).toBe("GATE_FAILED");
    expect(failedCheck.json().error.details.failedChecks.map((c: { name: string }) => c.name)).toEqual(["compliance:model-card"]);
    for (const [key, value] of Object.entries(CARD)) await call("POST", `${api}/registered-models/set-tag`, { name: "gated", key: `model_card.${key}`, value });
    expect((await evaluated("gated", version)).passed).toBe(true);
    expect((await call("GET", "/api/v1/models/gated/gate-status")).json().versions).toEqual([
      expect.objectContaining({ version, gate: "passed", inProgress: null, latest: expect.objectContaining({ phase: "Passed" }) }),
    ]);
    expect((await call("POST", `${api}/registered-models/alias`, { name: "gated", alias: "production", version })).statusCode).toBe(200);
    expect((await call("PUT", "/api/v1/models/gated/aliases/production", { version })).json()).toEqual({ name: "gated", alias: "production", version });
    // A new policy version needs a new evaluation.
    await call("PUT", "/api/v1/models/gated/gate-policy", { yaml: POLICY.replace("min: 0.8,", "min: 0.75,") });
    expect((await call("PUT", "/api/v1/models/gated/aliases/production", { version })).json().error.code).toBe("GATE_FAILED");
    expect((await call("GET", "/api/v1/models/gated/gate-status")).json().versions).toEqual([]);
  }, 60_000);

  it("compares quality with the production version", async () => {
    const good = await register("rival", "good.onnx");
    expect((await evaluated("rival", good)).passed).toBe(true);
    expect((await call("PUT", "/api/v1/models/rival/aliases/production", { version: good })).statusCode).toBe(200);
    const bad = await register("rival", "bad.onnx");
    const evaluation = await evaluated("rival", bad);
    const accuracy = evaluation.checks.find((c: { name: string }) => c.name === "quality:accuracy")!;
    expect(accuracy.figures.productionVersion).toBe(Number(good));
    expect(accuracy.figures.production).toBeGreaterThan(accuracy.figures.value!);
  }, 60_000);

  it("records an admin override with its reason", async () => {
    const version = await register("forced", "bad.onnx");
    expect((await call("PUT", "/api/v1/models/forced/aliases/production", { version, force: true })).json().error.code).toBe("INVALID_INPUT");
    const jobToken = await app.tokens.mintForJob("job-eval", 60_000);
    const byJob = await app.server.inject({ method: "PUT", url: "/api/v1/models/forced/aliases/production", headers: { authorization: `Bearer ${jobToken}` }, payload: { version, force: true, reason: "x" } });
    expect(byJob.json().error.code).toBe("FORBIDDEN");
    const forced = await call("PUT", "/api/v1/models/forced/aliases/production", { version, force: true, reason: "incident 42 hotfix" });
    expect(forced.statusCode).toBe(200);
    const { overrides } = (await call("GET", "/api/v1/models/forced/gate-overrides")).json();
    expect(overrides).toEqual([expect.objectContaining({ version: Number(version), alias: "production", user: "admin", reason: "incident 42 hotfix" })]);
  }, 60_000);

  it("rejects invalid policies and data paths with INVALID_INPUT naming the field", async () => {
    await register("strict", "good.onnx");
    const unknown = await call("PUT", "/api/v1/models/strict/gate-policy", { yaml: "checks:\n  - {type: drift, maxPsi: 0.2, maxKS: 0.1}\n" });
    expect(unknown.json().error.code).toBe("INVALID_INPUT");
    expect(unknown.json().error.details.problems[0].path).toBe("checks.0.maxKS");
    const metric = await call("PUT", "/api/v1/models/strict/gate-policy", { policy: { checks: [{ type: "quality", metric: "r2", min: 0.5 }] } });
    expect(metric.json().error.code).toBe("INVALID_INPUT");
    expect((await call("GET", "/api/v1/models/strict/gate-policy")).json().source).toBe("model");
    expect((await evaluate("strict", "1", { data: "relative.csv" })).json().error.code).toBe("INVALID_INPUT");
    expect((await evaluate("strict", "1", { data: `${data}/../x.csv` })).json().error.code).toBe("INVALID_INPUT");
    expect((await evaluate("strict", "1", { label: "missing" })).json().error.code).toBe("INVALID_INPUT");
    // The group column is text: without --sensitive the first record is refused before anything is stored.
    const text = await evaluate("strict", "1", { sensitive: [] });
    expect(text.json().error.code).toBe("INVALID_INPUT");
    expect(text.json().error.message).toContain("line 2, column 'group'");
    expect((await call("GET", "/api/v1/evaluations?model=strict")).json().evaluations).toEqual([]);
  }, 60_000);
  it("evaluates a three-class model as scikit-learn does, from probabilities or logits, on a quoted CRLF CSV", async () => {
    const policy = `checks:
  - {type: quality, metric: accuracy, min: 0.8}
  - {type: quality, metric: f1, min: 0.8}
  - {type: quality, metric: auc, min: 0.9}
  - {type: quality, metric: log_loss, max: 0.5}
  - {type: bias, sensitiveColumn: group, maxDemographicParityDifference: 0.2, maxEqualizedOddsDifference: 0.3}
`;
    const expected = JSON.parse(readFileSync(join(data, "multiclass-expected.json"), "utf8")) as Record<string, number>;
    for (const file of ["multiclass.onnx", "multiclass-logits.onnx"] as const) {
      const version = await register("triad", file, { policy });
      const evaluation = await evaluated("triad", version, { data: await uploaded("multiclass.csv") });
      expect(evaluation.phase, JSON.stringify(evaluation)).toBe("Passed");
      const value = (name: string) => evaluation.checks.find((c) => c.name === name)!.figures.value!;
      expect(value("quality:accuracy")).toBeCloseTo(expected.accuracy!, 3);
      expect(value("quality:f1")).toBeCloseTo(expected.f1!, 3);
      expect(value("quality:auc")).toBeCloseTo(expected.auc!, 3);
      expect(value("quality:log_loss")).toBeCloseTo(expected.log_loss!, 3);
      const bias = evaluation.checks.find((c) => c.name === "bias:group")!;
      expect(bias.figures).toMatchObject({ groups: 2, demographicParityClass: expect.any(Number) });
    }
    // Labels that are not class indices of the model's three outputs: the evaluation cannot run.
    writeFileSync(join(data, "four-classes.csv"), 'f0,f1,f2,label,group\n0.1,0.2,0.3,3,"A, north"\n0.3,0.2,0.1,0,"A, north"\n');
    const error = await evaluated("triad", "1", { data: await uploaded("four-classes.csv") });
    expect(error).toMatchObject({ phase: "Error", passed: false, checks: [] });
    expect(error.message).toContain("class indices 0..2");
  }, 120_000);

  it("puts an evaluation whose CSV is malformed past its header in Error, naming the line", async () => {
    const version = await register("broken", "good.onnx");
    writeFileSync(join(data, "unterminated.csv"), 'f0,f1,f2,label,group\n0.1,0.2,0.3,1,A\n0.1,0.2,0.3,0,"B\n');
    const evaluation = await evaluated("broken", version, { data: await uploaded("unterminated.csv") });
    expect(evaluation.phase).toBe("Error");
    expect(evaluation.message).toContain("line 3");
    expect(evaluation.finishedAt).toEqual(expect.any(Number));
    const gate = await call("PUT", "/api/v1/models/broken/aliases/production", { version });
    expect(gate.json().error.code).toBe("GATE_FAILED");
  }, 60_000);

  it("runs evaluations left Pending or Running by a crash after a restart", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "paved-eval-restart-"));
    const main = { app, auth };
    // The first server never starts its runner: what it accepted is only in the database.
    const first = await createApp(config(dataDir));
    app = first;
    auth = { authorization: `Bearer ${first.generatedAdminToken}` };
    try {
      const version = await register("resumed", "good.onnx");
      const pending = (await evaluate("resumed", version)).json();
      const interrupted = (await evaluate("resumed", version)).json();
      expect(pending.phase).toBe("Pending");
      await first.database.db.updateTable("evaluations").set({ phase: "Running" }).where("id", "=", interrupted.id).execute();
      const waiting = (await call("PUT", "/api/v1/models/resumed/aliases/production", { version })).json().error;
      expect(waiting).toMatchObject({ code: "GATE_FAILED", details: { phase: expect.stringMatching(/Pending|Running/) } });
      expect((await call("GET", "/api/v1/models/resumed/gate-status")).json().versions).toEqual([
        expect.objectContaining({ version, gate: "none", evaluation: null, inProgress: expect.objectContaining({ phase: expect.stringMatching(/Pending|Running/) }) }),
      ]);
      await first.close();
      app = await createApp(config(dataDir));
      await app.listen();
      try {
        expect((await finished(pending.id)).phase).toBe("Passed");
        expect((await finished(interrupted.id)).phase).toBe("Passed");
        expect((await call("PUT", "/api/v1/models/resumed/aliases/production", { version })).statusCode).toBe(200);
      } finally {
        await app.close();
      }
    } finally {
      ({ app, auth } = main);
    }
  }, 120_000);
});
