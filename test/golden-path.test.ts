// The golden path end to end against a real `paved up`: the quickstart model trained by real jobs
// (examples/quickstart/train.py), then registered, evaluated against the default gate policy and
// deployed as a canary under traffic (scripts/golden-path.ts, what `npm run quickstart` runs).
// Three stories: a good model is promoted; a degraded one fails its evaluation and the production
// gate; one that passes the gate but breaks clients in production is rolled back automatically.
import { execFile, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import { api, ApiError, deployWithTraffic, evaluate, featureRows, register, type Client } from "../scripts/golden-path.ts";
import { startServerProcess, type ServerProcess } from "./support/server-process.ts";

const ROOT = new URL("..", import.meta.url).pathname;
const EXAMPLE = join(ROOT, "examples/quickstart");
const hasTorch = spawnSync("/usr/bin/python3", ["-c", "import torch, sklearn"], { stdio: "ignore" }).status === 0;
const MODEL = "breast-cancer";

interface Job {
  id: string;
  phase: string;
  runId: string | null;
  message: string | null;
}

describe.skipIf(!hasTorch)(`golden path (${hasTorch ? "train → register → evaluate → deploy" : "skipped: /usr/bin/python3 lacks torch or sklearn; run scripts/install-deps.sh"})`, () => {
  const dir = mkdtempSync(join(tmpdir(), "paved-golden-"));
  let server: ServerProcess;
  let client: Client;
  const runs: Record<"good" | "degraded" | "renamed", string> = { good: "", degraded: "", renamed: "" };

  /** Submits examples/quickstart/job.yaml with extra hyperparameters, as `paved apply -f` does. */
  async function train(name: string, hyperparameters: Record<string, unknown>): Promise<string> {
    const spec = parse(readFileSync(join(EXAMPLE, "job.yaml"), "utf8")) as Record<string, unknown> & { hyperparameters: Record<string, unknown> };
    const file = join(dir, `${name}.yaml`);
    writeFileSync(file, stringify({ ...spec, name: `golden-${name}`, workingDir: EXAMPLE, hyperparameters: { ...spec.hyperparameters, ...hyperparameters } }));
    const { stdout } = await promisify(execFile)(process.execPath, [join(ROOT, "bin/paved.js"), "apply", "-f", file, "--json"], {
      env: { ...process.env, PAVED_URL: client.url, PAVED_TOKEN: client.token },
    });
    let job = JSON.parse(stdout) as Job;
    while (!["SUCCEEDED", "FAILED", "CANCELLED"].includes(job.phase)) {
      await new Promise((r) => setTimeout(r, 500));
      job = await api<Job>(client, "GET", `/api/v1/jobs/${job.id}`);
    }
    if (job.phase !== "SUCCEEDED" || !job.runId) throw new Error(`job ${job.id} (${name}) ended ${job.phase}: ${job.message}\n${server.output()}`);
    return job.runId;
  }

  const rows = () => featureRows(readFileSync(join(dir, "csv", runs.good, "eval.csv"), "utf8"));
  const production = async () => (await api<{ aliases: Record<string, string> }>(client, "GET", `/api/v1/models/${MODEL}`)).aliases.production;

  beforeAll(async () => {
    server = await startServerProcess({ dataDir: join(dir, "data"), token: "pvd_golden_path_test_token" });
    client = { url: server.url, token: server.token };
    [runs.good, runs.degraded, runs.renamed] = await Promise.all([train("good", {}), train("degraded", { degrade: true }), train("renamed", { "input-name": "features" })]);
  }, 300_000);

  afterAll(async () => {
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("a good model: evaluated, registered and promoted by a canary under traffic", async () => {
    // The first version has nothing to compare with: it goes straight to production.
    const first = await register(client, MODEL, runs.good);
    const firstEvaluation = await evaluate(client, MODEL, first, runs.good, join(dir, "csv"));
    expect(firstEvaluation.passed, JSON.stringify(firstEvaluation.checks.filter((c) => !c.passed))).toBe(true);
    const initial = await deployWithTraffic(client, MODEL, first, rows());
    expect(initial.deployment.status.phase).toBe("Succeeded");
    expect(await production()).toBe(first);

    // The next good version is a canary next to it: 10%, 50%, 100% of traffic, then promoted.
    const version = await register(client, MODEL, runs.good);
    const evaluation = await evaluate(client, MODEL, version, runs.good, join(dir, "csv"));
    expect(evaluation.passed).toBe(true);
    expect(evaluation.checks.map((c) => c.type)).toEqual(expect.arrayContaining(["quality", "performance", "drift", "compliance"]));
    const { deployment, traffic } = await deployWithTraffic(client, MODEL, version, rows());
    expect(deployment.status.phase, JSON.stringify(deployment.status.history)).toBe("Succeeded");
    expect(deployment.status.history.map((e) => e.reason).join("\n")).toMatch(/analysis passed at 100%.*promoted/);
    expect(await production()).toBe(version);
    expect(traffic.failed).toBe(0);
    expect(traffic.retriedToStable).toBe(0);
    expect(traffic.byVersion[version]).toBeGreaterThan(0);
  }, 120_000);

  it("a degraded model: its evaluation fails and production answers GATE_FAILED", async () => {
    const before = await production();
    const version = await register(client, MODEL, runs.degraded);
    const evaluation = await evaluate(client, MODEL, version, runs.degraded, join(dir, "csv"));
    expect(evaluation.passed).toBe(false);
    expect(evaluation.checks.find((c) => c.name === "quality:accuracy")).toMatchObject({ passed: false });

    const deploy = await api(client, "POST", "/api/v1/deployments", { model: MODEL, version, strategy: "canary" }).catch((e: unknown) => e);
    expect(deploy).toBeInstanceOf(ApiError);
    expect((deploy as ApiError).code).toBe("GATE_FAILED");
    const alias = await api(client, "PUT", `/api/v1/models/${MODEL}/aliases/production`, { version }).catch((e: unknown) => e);
    expect((alias as ApiError).code).toBe("GATE_FAILED");
    expect(await production()).toBe(before);
  }, 60_000);

  it("a model that passes the gate but breaks clients: the canary is rolled back and stable keeps serving", async () => {
    const stable = await production();
    const version = await register(client, MODEL, runs.renamed);
    const evaluation = await evaluate(client, MODEL, version, runs.renamed, join(dir, "csv"));
    // Evaluation feeds the model's own input name, so the gate cannot see the renamed input.
    expect(evaluation.passed, JSON.stringify(evaluation.checks.filter((c) => !c.passed))).toBe(true);

    const { deployment, traffic } = await deployWithTraffic(client, MODEL, version, rows());
    expect(deployment.status.phase, JSON.stringify(deployment.status.history)).toBe("RolledBack");
    expect(deployment.status.history.map((e) => e.reason).join("\n")).toMatch(/canary error rate/);
    expect(await production()).toBe(stable);
    // Every request to the unversioned endpoint was answered, by the canary's failures being retried to stable.
    expect(traffic.failed).toBe(0);
    expect(traffic.retriedToStable).toBeGreaterThan(0);
    expect(Object.keys(traffic.byVersion)).toEqual([stable]);
  }, 120_000);
});
