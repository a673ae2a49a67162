import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { createApp, type App } from "../src/app.ts";
import { loadConfig } from "../src/config/index.ts";
import { testDialects, testPostgresUrl } from "./support/databases.ts";
import { pollUntil } from "./support/poll.ts";

type Who = { authorization: string };

/**
 * Issue 10, item 3: pipelines on one server, their job steps real Python processes run by the
 * local executor. A DAG with a fan-out runs its branches and passes outputs on by reference; a
 * second run reuses every step from the first and says from where, until the code changes; a
 * flaky step is retried, a failing one fails the run and skips what depends on it; a step past
 * its timeout is stopped; a cancel cancels the running job; bad pipelines and other teams'
 * pipelines are refused.
 */
describe.each(testDialects())("pipelines (%s)", (dialect) => {
  let app: App;
  let admin: Who;
  let ada: Who;
  let bob: Who;
  let vic: Who;
  const work = mkdtempSync(join(tmpdir(), "paved-pipelines-work-"));
  const call = (who: Who, method: "GET" | "POST", url: string, payload?: unknown) => app.server.inject({ method, url, headers: who, ...(payload !== undefined ? { payload: payload as object } : {}) });
  const apply = async (who: Who, spec: unknown) => call(who, "POST", "/api/v1/pipelines", spec);
  const start = async (who: Who, name: string, parameters: Record<string, unknown> = {}) => {
    const res = await call(who, "POST", `/api/v1/pipelines/${name}/runs`, { parameters });
    expect(res.statusCode, res.body).toBe(200);
    return res.json();
  };
  const runOf = async (id: string): Promise<any> => (await call(ada, "GET", `/api/v1/pipeline-runs/${id}`)).json();
  const ended = (r: { phase: string }) => ["SUCCEEDED", "FAILED", "CANCELLED"].includes(r.phase);
  const finished = (id: string): Promise<any> => pollUntil<any>(`run ${id} to end`, () => runOf(id), ended, { timeoutMs: 120_000 });
  const step = (run: any, key: string) => run.steps.find((s: { key: string }) => s.key === key);
  const job = (mode: string, extra: Record<string, unknown> = {}) => ({ command: ["/usr/bin/python3", "step.py"], workingDir: work, compute: { cpus: 0.25, memory: 64 }, hyperparameters: { mode }, ...extra });

  async function member(name: string, team: string, role: string): Promise<Who> {
    const user = await call(admin, "POST", "/api/v1/users", { name, teams: [{ team, role }] });
    expect(user.statusCode, user.body).toBe(200);
    const { token } = await app.tokens.createPersonal({ userId: user.json().id, name: `${name}-laptop` });
    return { authorization: `Bearer ${token}` };
  }

  beforeAll(async () => {
    writeFileSync(
      join(work, "step.py"),
      `import argparse, os, sys, time
p = argparse.ArgumentParser()
p.add_argument("--mode", default="ok")
p.add_argument("--lr", default="0")
p.add_argument("--marker", default="")
a = p.parse_args()
print(f"step {a.mode} lr={a.lr} job={os.environ['PAVED_JOB_ID']}", flush=True)
if a.mode == "ok":
    with open(os.path.join(os.environ["PAVED_OUTPUT_DIR"], "model.txt"), "w") as f:
        f.write(f"lr={a.lr}")
elif a.mode == "flaky":
    # Fails on its first attempt only: the marker file remembers it across attempts.
    if not os.path.exists(a.marker):
        open(a.marker, "w").close()
        sys.exit(3)
elif a.mode == "fail":
    sys.exit(4)
elif a.mode == "sleep":
    time.sleep(600)
`,
    );
    const dataDir = mkdtempSync(join(tmpdir(), "paved-pipelines-"));
    const databaseUrl = dialect === "postgres" ? await testPostgresUrl() : undefined;
    app = await createApp(
      loadConfig({
        env: {},
        overrides: {
          dataDir,
          ...(databaseUrl ? { databaseUrl } : {}),
          logLevel: "silent",
          compute: { gpus: [], cpus: 8, memoryMiB: 8192, systemMetricsInterval: 3600 },
          pipelines: { intervalSeconds: 0.1 },
          host: "127.0.0.1",
          port: 0,
        },
      }),
    );
    await app.listen();
    admin = { authorization: `Bearer ${app.generatedAdminToken}` };
    for (const name of ["risk", "fraud"]) expect((await call(admin, "POST", "/api/v1/teams", { name })).statusCode).toBe(200);
    ada = await member("ada", "risk", "developer");
    bob = await member("bob", "fraud", "developer");
    vic = await member("vic", "risk", "viewer");
  }, 120_000);
  afterAll(async () => app?.close());

  const trainPipeline = {
    apiVersion: "paved/v1",
    kind: "Pipeline",
    metadata: { name: "train-fan" },
    spec: {
      parameters: { lrs: [0.1, 0.01], tag: "v1" },
      steps: [
        { name: "prepare", echo: { tag: "${{ params.tag }}" } },
        { name: "train", forEach: "${{ params.lrs }}", job: job("ok", { hyperparameters: { mode: "ok", lr: "${{ item }}" }, env: { TAG: "${{ steps.prepare.outputs.tag }}" } }) },
        { name: "collect", echo: { runs: "${{ steps.train.outputs.run_id }}", first: "runs:/${{ steps.train.outputs.run_id }}" } },
        { name: "always", cache: false, dependsOn: ["collect"], echo: { n: 1 } },
      ],
    },
  };

  it("runs a DAG with a fan-out, passes outputs by reference, and a second run reuses every cached step, saying from where", async () => {
    const applied = await apply(ada, trainPipeline);
    expect(applied.statusCode, applied.body).toBe(200);
    expect(applied.json()).toMatchObject({ name: "train-fan", team: "risk", version: 1 });
    const first = await finished((await start(ada, "train-fan")).id);
    expect(first.phase, JSON.stringify(first.steps)).toBe("SUCCEEDED");
    expect(first.steps.map((s: { key: string }) => s.key)).toEqual(["prepare", "train[0]", "train[1]", "collect", "always"]);
    const t0 = step(first, "train[0]");
    const t1 = step(first, "train[1]");
    expect([t0.item, t1.item]).toEqual([0.1, 0.01]);
    expect(t0.phase).toBe("succeeded");
    // The fan-out's outputs reach the next step as a list, in item order.
    expect(step(first, "collect").outputs.runs).toEqual([t0.outputs.run_id, t1.outputs.run_id]);
    // Each train instance is a job of the team, its run tagged with the pipeline run.
    const trainJob = (await call(ada, "GET", `/api/v1/jobs/${t1.outputs.job_id}`)).json();
    expect(trainJob).toMatchObject({ team: "risk", phase: "SUCCEEDED", runId: t1.outputs.run_id });
    const logs = (await call(ada, "GET", `/api/v1/pipeline-runs/${first.id}/logs?step=train[1]`)).json();
    expect(logs.logs[0].text).toContain("step ok lr=0.01");

    const second = await finished((await start(ada, "train-fan")).id);
    expect(second.phase).toBe("SUCCEEDED");
    for (const key of ["train[0]", "train[1]"]) {
      expect(step(second, key).phase, key).toBe("cached");
      expect(step(second, key).cachedFrom).toEqual({ run: first.id, step: key });
      expect(step(second, key).outputs).toEqual(step(first, key).outputs);
    }
    // Echo steps cost less than a cache lookup: they run again, with the same outputs.
    for (const key of ["prepare", "collect", "always"]) expect(step(second, key)).toMatchObject({ phase: "succeeded", cachedFrom: null, outputs: step(first, key).outputs });
    expect(second.events.some((e: { type: string }) => e.type === "Cached")).toBe(true);

    // A new parameter value and a code change each make the steps they reach run again.
    const third = await finished((await start(ada, "train-fan", { lrs: [0.1, 0.5] })).id);
    expect(third.steps.map((s: { key: string; phase: string }) => `${s.key}:${s.phase}`)).toEqual(["prepare:succeeded", "train[0]:cached", "train[1]:succeeded", "collect:succeeded", "always:succeeded"]);
    writeFileSync(join(work, "helper.py"), "VALUE = 2\n");
    const fourth = await finished((await start(ada, "train-fan")).id);
    expect(step(fourth, "train[0]").phase).toBe("succeeded");
    expect(step(fourth, "train[0]").cachedFrom).toBeNull();
  }, 150_000);

  it("registers a job step's outputs as a model version, and passes the version on", async () => {
    const model = `pipeline-model-${dialect}`;
    const res = await apply(ada, {
      metadata: { name: "train-register" },
      spec: {
        steps: [
          { name: "train", job: job("ok", { hyperparameters: { mode: "ok", lr: "0.3" } }) },
          { name: "register", register: { name: model, source: "${{ steps.train.outputs.artifacts }}" } },
          { name: "report", echo: { version: "${{ steps.register.outputs.version }}", uri: "${{ steps.register.outputs.uri }}" } },
        ],
      },
    });
    expect(res.statusCode, res.body).toBe(200);
    const run = await finished((await start(ada, "train-register")).id);
    expect(run.phase, JSON.stringify(run.steps)).toBe("SUCCEEDED");
    expect(step(run, "register").outputs).toEqual({ model, version: "1", uri: `models:/${model}/1` });
    expect(step(run, "report").outputs).toEqual({ version: "1", uri: `models:/${model}/1` });
    const version = (await call(ada, "GET", `/api/2.0/mlflow/model-versions/get?name=${model}&version=1`)).json().model_version;
    expect(version.run_id).toBe(step(run, "train").outputs.run_id);
  }, 120_000);

  it("retries a flaky step, and fails the run on a step out of retries, skipping what depends on it", async () => {
    const marker = join(work, `flaky-${dialect}`);
    const res = await apply(ada, {
      metadata: { name: "retries" },
      spec: {
        steps: [
          { name: "flaky", retries: 1, cache: false, job: job("flaky", { hyperparameters: { mode: "flaky", marker } }) },
          { name: "broken", retries: 1, cache: false, dependsOn: ["flaky"], job: job("fail") },
          { name: "after", dependsOn: ["broken"], echo: { x: 1 } },
        ],
      },
    });
    expect(res.statusCode, res.body).toBe(200);
    const run = await finished((await start(ada, "retries")).id);
    expect(run.phase).toBe("FAILED");
    expect(step(run, "flaky")).toMatchObject({ phase: "succeeded", attempt: 2 });
    expect(step(run, "broken")).toMatchObject({ phase: "failed", attempt: 2 });
    expect(step(run, "after").phase).toBe("skipped");
    expect(run.message).toContain("broken");
    expect(run.events.filter((e: { type: string }) => e.type === "Retrying")).toHaveLength(2);
  }, 150_000);

  it("stops a step past its timeout, and cancels a whole run with its running job", async () => {
    expect((await apply(ada, { metadata: { name: "slow" }, spec: { steps: [{ name: "sleep", timeoutSeconds: 1, cache: false, job: job("sleep") }] } })).statusCode).toBe(200);
    const timed = await finished((await start(ada, "slow")).id);
    expect(timed.phase).toBe("FAILED");
    expect(step(timed, "sleep").message).toContain("timed out after 1s");
    await pollUntil("the timed-out job to end", async () => (await call(ada, "GET", `/api/v1/jobs/${step(timed, "sleep").handle}`)).json(), (j) => j.phase === "CANCELLED");

    expect((await apply(ada, { metadata: { name: "long" }, spec: { steps: [{ name: "sleep", cache: false, job: job("sleep") }, { name: "next", dependsOn: ["sleep"], echo: { x: 1 } }] } })).statusCode).toBe(200);
    const started = await start(ada, "long");
    const running = await pollUntil("the job step to run", () => runOf(started.id), (r) => step(r, "sleep").handle !== null);
    const jobId = step(running, "sleep").handle;
    await pollUntil("its job to start", async () => (await call(ada, "GET", `/api/v1/jobs/${jobId}`)).json(), (j) => j.phase === "RUNNING");
    expect((await call(vic, "POST", `/api/v1/pipeline-runs/${started.id}/cancel`)).statusCode).toBe(403);
    expect((await call(ada, "POST", `/api/v1/pipeline-runs/${started.id}/cancel`)).statusCode).toBe(200);
    const cancelled = await finished(started.id);
    expect(cancelled.phase).toBe("CANCELLED");
    expect(step(cancelled, "sleep").phase).toBe("cancelled");
    expect(step(cancelled, "next").phase).toBe("cancelled");
    await pollUntil("the cancelled job to end", async () => (await call(ada, "GET", `/api/v1/jobs/${jobId}`)).json(), (j) => j.phase === "CANCELLED");
  }, 150_000);

  it("applies the example of docs/pipelines.md, every step kind known and its references checked", async () => {
    const doc = readFileSync(new URL("../docs/pipelines.md", import.meta.url), "utf8");
    const yaml = doc.slice(doc.indexOf("```yaml\n") + 8, doc.indexOf("```", doc.indexOf("```yaml\n") + 8));
    const spec = parseYaml(yaml) as { metadata: Record<string, unknown>; spec: { steps: { job?: Record<string, unknown> }[] } };
    spec.metadata = { name: `docs-example-${dialect}` };
    spec.spec.steps[0]!.job = { ...spec.spec.steps[0]!.job, workingDir: work };
    const res = await apply(ada, spec);
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json().steps.map((s: { kind: string }) => s.kind)).toEqual(["job", "register", "evaluate", "deploy"]);
  });

  it("refuses bad pipelines at the edge, and keeps teams apart", async () => {
    const cycle = await apply(ada, { metadata: { name: "cyclic" }, spec: { steps: [{ name: "a", dependsOn: ["b"], echo: { x: 1 } }, { name: "b", dependsOn: ["a"], echo: { x: 1 } }] } });
    expect(cycle.statusCode).toBe(400);
    expect(cycle.json().error.code).toBe("INVALID_INPUT");
    expect(cycle.json().error.message).toContain("a → b → a");
    const unknown = await apply(ada, { metadata: { name: "unknown" }, spec: { steps: [{ name: "a", echo: { x: "${{ steps.zz.outputs.y }}" } }] } });
    expect(unknown.json().error.code).toBe("INVALID_INPUT");
    const badJob = await apply(ada, { metadata: { name: "badjob" }, spec: { steps: [{ name: "a", job: { command: [] } }] } });
    expect(badJob.json().error.code).toBe("INVALID_INPUT");
    const badParam = await call(ada, "POST", "/api/v1/pipelines/train-fan/runs", { parameters: { nope: 1 } });
    expect(badParam.json().error.code).toBe("INVALID_INPUT");
    // Another team's pipeline and runs answer as missing; the viewer reads but may not run.
    expect((await call(bob, "GET", "/api/v1/pipelines/train-fan")).statusCode).toBe(404);
    expect((await call(bob, "POST", "/api/v1/pipelines/train-fan/runs", {})).statusCode).toBe(404);
    const runs = (await call(ada, "GET", "/api/v1/pipelines/train-fan/runs")).json().runs;
    expect(runs.length).toBeGreaterThan(0);
    expect((await call(bob, "GET", `/api/v1/pipeline-runs/${runs[0].id}`)).statusCode).toBe(404);
    expect((await call(bob, "GET", "/api/v1/pipelines")).json().pipelines).toEqual([]);
    expect((await call(vic, "GET", "/api/v1/pipelines/train-fan")).statusCode).toBe(200);
    expect((await call(vic, "POST", "/api/v1/pipelines/train-fan/runs", {})).statusCode).toBe(403);
    // Bob cannot take the name over either.
    expect((await apply(bob, { ...trainPipeline, metadata: { name: "train-fan" } })).statusCode).toBe(409);
  }, 60_000);
});
