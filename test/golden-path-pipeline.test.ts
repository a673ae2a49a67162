import { execFile, execFileSync } from "node:child_process";
import { promisify } from "node:util";
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { createApp, type App } from "../src/app.ts";
import { loadConfig } from "../src/config/index.ts";
import { pollUntil } from "./support/poll.ts";

const QUICKSTART = new URL("../examples/quickstart/", import.meta.url).pathname;
const TEMPLATE = new URL("../src/modules/catalog/templates/golden-path.yaml", import.meta.url).pathname;
const SECRET = "the-webhook-secret-of-acme-churn";
const MODEL_CARD = { owner: "acme-ml", intendedUse: "tests", limitations: "none known", license: "MIT" };
/** Features that move by this many standard deviations make a drifted dataset. */
const DRIFT = 3;

type Run = { id: string; phase: string; message: string | null; steps: { key: string; phase: string; message: string | null; outputs: Record<string, unknown> | null; cachedFrom?: unknown }[] };

/**
 * Issue 10's story tests (a) and (b), against a real app (SQLite), real git, real Python training
 * (examples/quickstart/train.py with Debian's PyTorch), real evaluations and a real canary:
 * (a) a push to a local git repository (its post-receive hook sends a signed GitHub push webhook)
 *     runs the golden-path template, which trains, registers, passes the gate and deploys; a second
 *     push of the same files reuses every step from the cache and says from which run;
 * (b) a new version of the training dataset triggers retraining, whose evaluation flags drift
 *     against the version production was trained on, and nothing is deployed.
 */
describe("the golden path as a pipeline, started by a git push and by a new dataset version", () => {
  let app: App;
  let url = "";
  let auth: { authorization: string };
  const root = mkdtempSync(join(tmpdir(), "paved-gp-"));
  const remotes = join(root, "remotes");
  const bare = join(remotes, "churn.git");
  const work = join(root, "work");

  const call = async (method: "GET" | "POST" | "PUT", path: string, payload?: unknown) => {
    const res = await app.server.inject({ method, url: path, headers: auth, ...(payload !== undefined ? { payload: payload as object } : {}) });
    return { status: res.statusCode, json: res.json() as any, body: res.body };
  };
  const ok = async (method: "GET" | "POST" | "PUT", path: string, payload?: unknown) => {
    const res = await call(method, path, payload);
    if (res.status !== 200) throw new Error(`${method} ${path}: ${res.status} ${res.body}`);
    return res.json;
  };
  const git = (dir: string, ...args: string[]) => execFileSync("git", ["-C", dir, "-c", "user.name=ada", "-c", "user.email=ada@example.com", ...args], { encoding: "utf8" }).trim();
  /** The bundled breast-cancer table as CSV, its features moved by `shift` standard deviations. */
  const csv = (shift: number) => {
    const file = join(root, `cancer-${shift}.csv`);
    execFileSync("/usr/bin/python3", [
      "-c",
      `import sys, numpy as np; sys.path.insert(0, ${JSON.stringify(QUICKSTART)}); import train
from sklearn.datasets import load_breast_cancer
d = load_breast_cancer(); x = d.data.astype(np.float32); x = x + ${shift} * x.std(axis=0)
train.write_csv(${JSON.stringify(file)}, d.feature_names, x, d.target.astype(np.float32))`,
    ]);
    return readFileSync(file, "utf8");
  };
  /** Uploads a dataset file; its digest. */
  const upload = async (text: string) => (await app.server.inject({ method: "POST", url: "/api/v1/dataset-uploads", headers: { ...auth, "content-type": "application/octet-stream" }, payload: Buffer.from(text) })).json().digest as string;
  /** `git push`, without blocking this process (the server answering the hook's webhook runs in it); git's stderr. */
  const push = async () => (await promisify(execFile)("git", ["-C", work, "push", "-q", "origin", "main"], { encoding: "utf8" })).stderr;
  /** A pipeline run; one a trigger has recorded but not yet started (fetching the commit) answers as pending. */
  const runOf = async (id: string): Promise<Run> => {
    const res = await call("GET", `/api/v1/pipeline-runs/${id}`);
    return res.status === 404 ? { id, phase: "PENDING", message: null, steps: [] } : (res.json as Run);
  };
  const ended = (r: Run) => ["SUCCEEDED", "FAILED", "CANCELLED"].includes(r.phase);

  beforeAll(async () => {
    app = await createApp(
      loadConfig({
        env: { PATH: process.env.PATH },
        overrides: { dataDir: join(root, "data"), logLevel: "silent", compute: { gpus: [] }, host: "127.0.0.1", port: 0, pipelines: { intervalSeconds: 0.2 }, triggers: { intervalSeconds: 0.2, allowedRemotes: [remotes] } },
      }),
      { env: { PATH: process.env.PATH } },
    );
    url = await app.listen();
    auth = { authorization: `Bearer ${app.generatedAdminToken}` };

    // The repository: a bare remote whose post-receive hook sends GitHub's push event, signed.
    mkdirSync(remotes, { recursive: true });
    execFileSync("git", ["init", "-q", "--bare", "-b", "main", bare]);
    const hook = join(bare, "hooks", "post-receive");
    writeFileSync(
      join(bare, "hooks", "send-push.mjs"),
      `import { createHmac, randomUUID } from "node:crypto";
let input = "";
for await (const chunk of process.stdin) input += chunk;
for (const line of input.trim().split("\\n")) {
  const [before, after, ref] = line.split(" ");
  const body = JSON.stringify({ ref, before, after, repository: { full_name: "acme/churn", clone_url: ${JSON.stringify(bare)} } });
  const res = await fetch(process.env.PAVED_WEBHOOK, { method: "POST", body, headers: { "content-type": "application/json", "x-github-event": "push", "x-github-delivery": randomUUID(), "x-hub-signature-256": "sha256=" + createHmac("sha256", ${JSON.stringify(SECRET)}).update(body).digest("hex") } });
  console.log("paved answered", res.status, await res.text());
}
`,
    );
    // The working copy: the quickstart project.
    mkdirSync(work);
    git(work, "init", "-q", "-b", "main");
    for (const file of ["train.py", "paved_log.py"]) copyFileSync(join(QUICKSTART, file), join(work, file));
    git(work, "add", ".");
    git(work, "commit", "-q", "-m", "the quickstart model");
    git(work, "remote", "add", "origin", bare);

    // Once, by a person: the webhook's secret, the model and its card, the pipeline and its trigger.
    await ok("PUT", "/api/v1/secrets/churn-webhook", { value: SECRET });
    await ok("POST", "/api/v1/datasets/cancer/versions", { files: [{ path: "train.csv", digest: await upload(csv(0)) }], alias: "prod" });
    await ok("POST", "/api/2.0/mlflow/registered-models/create", { name: "churn" });
    for (const [field, value] of Object.entries(MODEL_CARD)) await ok("POST", "/api/2.0/mlflow/registered-models/set-tag", { name: "churn", key: `model_card.${field}`, value });
    const template = (await ok("GET", "/api/v1/templates/golden-path")) as { yaml: string };
    expect(template.yaml).toBe(readFileSync(TEMPLATE, "utf8"));
    const spec = parse(template.yaml);
    Object.assign(spec.spec.parameters, { model: "churn", dataset: "datasets:/cancer@prod", epochs: 3, canarySteps: [50, 100], canaryStepSeconds: 0.5 });
    await ok("POST", "/api/v1/pipelines", spec);
    const trigger = await ok("POST", "/api/v1/pipelines/golden-path/triggers", { git: { repository: "acme/churn", url: bare, secret: "churn-webhook" } });
    writeFileSync(hook, `#!/bin/sh\nPAVED_WEBHOOK=${JSON.stringify(url + trigger.webhook)} exec ${process.execPath} ${JSON.stringify(join(bare, "hooks", "send-push.mjs"))}\n`);
    chmodSync(hook, 0o755);
  }, 120_000);

  afterAll(async () => {
    await app?.close();
  }, 120_000);

  it("(a) a push trains, gates, registers and deploys; a second push of the same files reuses every step", async () => {
    // The hook's answer from Paved shows on git's stderr ("remote: paved answered 200 …").
    expect(await push()).toMatch(/paved answered 200 .*"outcome":"accepted"/);
    const commit = git(work, "rev-parse", "HEAD");
    const trigger = (await ok("GET", "/api/v1/pipelines/golden-path/triggers")).triggers[0];
    expect(trigger.firings[0]).toMatchObject({ key: `git:${commit}`, message: expect.stringMatching(/^github delivery /), params: expect.objectContaining({ commit }) });
    const first = await pollUntil("the first run", () => runOf(trigger.firings[0].runId), ended, { timeoutMs: 240_000 });
    const failedEvaluation = first.steps.find((s) => s.key === "evaluate" && s.phase === "failed");
    const why = failedEvaluation ? JSON.stringify((await ok("GET", `/api/v1/evaluations/${String(failedEvaluation.message).match(/evaluation (\S+)/)?.[1]}`)).checks) : JSON.stringify(first);
    expect(first.phase, why).toBe("SUCCEEDED");
    expect(first.steps.map((s) => [s.key, s.phase])).toEqual([["train", "succeeded"], ["register", "succeeded"], ["evaluate", "succeeded"], ["deploy", "succeeded"]]);
    const version = String(first.steps.find((s) => s.key === "register")!.outputs!.version);
    // Production serves the version, which records the pushed commit as its source.
    const model = await ok("GET", "/api/v1/models/churn");
    expect(model.aliases).toMatchObject({ production: version });
    const lineage = await ok("GET", `/api/v1/lineage?ref=${encodeURIComponent(`models:/churn/${version}`)}&direction=upstream`);
    expect(lineage.nodes.map((n: { id: string }) => n.id)).toContain(`commit:${commit}`);

    // The same files again (a commit that changes nothing): every step comes from the cache.
    git(work, "commit", "-q", "--allow-empty", "-m", "nothing changes");
    expect(await push()).toMatch(/paved answered 200 .*"outcome":"accepted"/);
    const again: { runId: string }[] = await pollUntil("the second push's firing", async () => (await ok("GET", `/api/v1/triggers/${trigger.id}`)).firings, (f: { runId: string }[]) => f.length === 2, { timeoutMs: 240_000 });
    const second = await pollUntil("the second run", () => runOf(again[0]!.runId), ended, { timeoutMs: 240_000 });
    expect(second.phase, JSON.stringify(second)).toBe("SUCCEEDED");
    expect(second.steps.map((s) => s.phase)).toEqual(["cached", "cached", "cached", "cached"]);
    for (const step of second.steps) expect(step.message ?? JSON.stringify(step)).toContain(first.id);
    expect((await ok("GET", "/api/v1/deployments?model=churn")).deployments).toHaveLength(1);

    // The same files, but the dataset alias now names other data: that is new input, and training runs again.
    const moved = await ok("POST", "/api/v1/datasets/cancer/versions", { files: [{ path: "train.csv", digest: await upload(csv(0.05)) }], alias: "prod" });
    git(work, "commit", "-q", "--allow-empty", "-m", "retrain on the new data");
    expect(await push()).toMatch(/"outcome":"accepted"/);
    const third: { runId: string }[] = await pollUntil("the third push's firing", async () => (await ok("GET", `/api/v1/triggers/${trigger.id}`)).firings, (f: { runId: string }[]) => f.length === 3, { timeoutMs: 240_000 });
    const retraining = await pollUntil("the third run to train", () => runOf(third[0]!.runId), (r) => ended(r) || ["succeeded", "failed"].includes(r.steps[0]?.phase ?? ""), { timeoutMs: 240_000 });
    expect(retraining.steps[0]).toMatchObject({ key: "train", phase: "succeeded" });
    expect(await ok("POST", `/api/v1/pipeline-runs/${retraining.id}/cancel`, {})).toMatchObject({ id: retraining.id });
    const job = await ok("GET", `/api/v1/jobs/${String(retraining.steps[0]!.outputs!.job_id)}`);
    expect(job.spec.datasets).toEqual([{ name: "train", dataset: `datasets:/cancer@${moved.version}` }]);
  }, 600_000);

  it("(b) a new version of the training data retrains; the evaluation flags drift against the data production was trained on", async () => {
    // A pipeline that retrains on the registered dataset (the bundled breast-cancer table, made in beforeAll).
    await ok("POST", "/api/2.0/mlflow/registered-models/create", { name: "cancer" });
    for (const [field, value] of Object.entries(MODEL_CARD)) await ok("POST", "/api/2.0/mlflow/registered-models/set-tag", { name: "cancer", key: `model_card.${field}`, value });
    await ok("POST", "/api/v1/pipelines", {
      kind: "Pipeline",
      metadata: { name: "retrain" },
      spec: {
        parameters: { dataset: "datasets:/cancer@prod" },
        steps: [
          { name: "train", job: { command: ["/usr/bin/python3", "train.py", "--epochs=3"], workingDir: QUICKSTART, hyperparameterArgs: false, datasets: [{ name: "train", dataset: "${{ params.dataset }}" }] } },
          { name: "register", register: { name: "cancer", source: "${{ steps.train.outputs.artifacts }}" } },
          // The new data, judged against the version production was trained on (the dataset's prod alias).
          { name: "evaluate", evaluate: { model: "cancer", version: "${{ steps.register.outputs.version }}", data: "${{ steps.train.outputs.artifacts }}/eval.csv", reference: "datasets:/cancer@prod" } },
          { name: "deploy", dependsOn: ["evaluate"], deploy: { model: "cancer", version: "${{ steps.register.outputs.version }}", strategy: "replace" } },
        ],
      },
    });
    const trigger = await ok("POST", "/api/v1/pipelines/retrain/triggers", { dataset: { name: "cancer" } });

    // A new version, whose features moved: the trigger starts a run on it.
    const v2 = await ok("POST", "/api/v1/datasets/cancer/versions", { files: [{ path: "train.csv", digest: await upload(csv(DRIFT)) }] });
    const firings: { runId: string }[] = await pollUntil("the dataset trigger to fire", async () => (await ok("GET", `/api/v1/triggers/${trigger.id}`)).firings, (f: { runId: string }[]) => f.length === 1, { timeoutMs: 30_000 });
    expect(firings[0]).toMatchObject({ key: `dataset:cancer@${v2.version}`, params: { dataset: `datasets:/cancer@${v2.version}` } });
    const run = await pollUntil("the retraining run", () => runOf(firings[0]!.runId), ended, { timeoutMs: 240_000 });
    expect(run.phase, JSON.stringify(run)).toBe("FAILED");
    expect(run.steps.map((s) => [s.key, s.phase])).toEqual([["train", "succeeded"], ["register", "succeeded"], ["evaluate", "failed"], ["deploy", "skipped"]]);
    const evaluationId = String(run.steps.find((s) => s.key === "evaluate")!.message).match(/evaluation (\S+)/)![1]!;
    const evaluation = await ok("GET", `/api/v1/evaluations/${evaluationId}`);
    expect(evaluation).toMatchObject({ phase: "Failed", referencePath: "datasets:/cancer@prod" });
    const drift = evaluation.checks.find((c: { type: string }) => c.type === "drift");
    expect(drift, JSON.stringify(evaluation.checks)).toMatchObject({ passed: false });
    // Nothing reached production.
    expect((await ok("GET", "/api/v1/deployments?model=cancer")).deployments).toEqual([]);
  }, 600_000);
});
