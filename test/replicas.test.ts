// Three `paved up` replicas on one real PostgreSQL under a kill loop (issue 14, item 4): the leader
// is killed with kill -9 again and again (and started again, as a follower) while a client submits
// jobs, evaluations and deployments through whichever replica answers, and another client sends
// predictions to the data-plane process. Afterwards: every acknowledged job, evaluation and
// deployment exists once and finished; no job was started twice; no prediction failed.
// The replicas share one data dir, as replicas on several machines share a network file system.
import { execFileSync } from "node:child_process";
import { appendFileSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { buildTestModels } from "../src/modules/serving/test-models.ts";
import { testDialects, testPostgresUrl } from "./support/databases.ts";
import { freePort, startServerProcess, type ServerProcess } from "./support/server-process.ts";

const TOKEN = "pvd_replicas-test-token-0123456789";
const POLICY = "checks:\n  - {type: quality, metric: accuracy, min: 0.8}\n";
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

class Uncertain extends Error {}

describe.skipIf(!testDialects().includes("postgres"))("three replicas on one PostgreSQL under a kill loop", () => {
  const replicas: (ServerProcess | undefined)[] = [];
  // All at once: stopped one by one, each stop hands the lead to the next replica, which starts its
  // controllers only to stop them again (under a loaded CI machine that took over 60 s).
  afterAll(async () => {
    await Promise.all(replicas.map((r) => r?.stop().catch(() => undefined)));
  }, 180_000);

  it("loses and duplicates no job, evaluation or deployment, hands over, and fails no prediction", async () => {
    const root = mkdtempSync(join(tmpdir(), "paved-replicas-"));
    const dataDir = join(root, "data");
    const evalData = join(root, "eval");
    mkdirSync(evalData);
    execFileSync("/usr/bin/python3", [new URL("../src/modules/evaluation/test-data.py", import.meta.url).pathname, evalData], { stdio: ["ignore", "ignore", "pipe"] });
    const models = buildTestModels();
    const mark = join(root, "starts.log");
    writeFileSync(mark, "");
    const program = join(root, "job.mjs");
    writeFileSync(
      program,
      `import { appendFileSync } from "node:fs";
appendFileSync(process.env.MARK, "start " + process.env.PAVED_JOB_ID + " " + process.env.PAVED_ATTEMPT + "\\n");
setTimeout(() => {}, 1000 + Math.floor(Math.random() * 2000));
`,
    );
    const config = { databaseUrl: await testPostgresUrl(), serving: { dataPlane: { processes: 1, port: await freePort() } } };
    const ports = [await freePort(), await freePort(), await freePort()];
    const start = async (i: number) => (replicas[i] = await startServerProcess({ dataDir, token: TOKEN, port: ports[i]!, config }));
    // The first one migrates the database and leads; the others follow.
    await start(0);
    await start(1);
    await start(2);
    const log = (line: string) => appendFileSync(join(root, "test.log"), `${new Date().toISOString()} ${line}\n`);

    const roles = async () =>
      Promise.all(
        ports.map(async (port) => {
          try {
            return ((await (await fetch(`http://127.0.0.1:${port}/api/v1/health`)).json()) as { role: string }).role;
          } catch {
            return "down";
          }
        }),
      );
    const leaderIndex = async () => {
      for (let i = 0; i < 400; i++) {
        const at = (await roles()).indexOf("leader");
        if (at >= 0) return at;
        await sleep(25);
      }
      throw new Error("no replica leads");
    };

    // A client that knows every replica's URL: a refused connection or a 503 (an election in
    // progress) is tried again on the next replica. A request whose connection broke may or may
    // not have been done: the caller looks before trying again.
    let turn = 0;
    const call = async (method: string, path: string, body?: unknown, raw?: Uint8Array): Promise<any> => {
      for (let i = 0; i < 400; i++) {
        const port = ports[turn++ % ports.length];
        let res: Response;
        try {
          res = await fetch(`http://127.0.0.1:${port}${path}`, {
            method,
            headers: { authorization: `Bearer ${TOKEN}`, "content-type": raw ? "application/octet-stream" : "application/json" },
            ...(raw ? { body: raw } : body ? { body: JSON.stringify(body) } : {}),
          });
        } catch (error) {
          const code = (error as { cause?: { code?: string } }).cause?.code;
          if (code === "ECONNREFUSED") continue;
          if (method === "GET") continue;
          throw new Uncertain(`${method} ${path}: ${code ?? (error as Error).message}`);
        }
        const text = await res.text();
        if (res.status === 503) {
          // Never forwarded (no leader), or the leader died mid-request: unknown for a write.
          if (method !== "GET" && text.includes("did not answer")) throw new Uncertain(`${method} ${path}: ${text}`);
          await sleep(50);
          continue;
        }
        if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text}`);
        return text ? JSON.parse(text) : {};
      }
      throw new Error(`${method} ${path}: no replica answered`);
    };
    /** A create that may have happened when its answer was lost: `find` looks for it first. */
    const create = async (what: string, find: () => Promise<any>, make: () => Promise<any>): Promise<any> => {
      for (let i = 0; i < 20; i++) {
        try {
          return await make();
        } catch (error) {
          if (!(error instanceof Uncertain)) throw error;
          log(`uncertain ${what}: ${error.message}`);
          const found = await find();
          if (found) return found;
        }
      }
      throw new Error(`could not create ${what}`);
    };

    // What every evaluation and deployment uses: two registered versions and a gate policy.
    for (const file of ["tiny", "tiny-v2"] as const) {
      const { run } = await call("POST", "/api/2.0/mlflow/runs/create", { experiment_id: "0", start_time: Date.now() });
      await call("PUT", `/api/2.0/mlflow-artifacts/artifacts/0/${run.info.run_id}/artifacts/model/model.onnx`, undefined, models.bytes(file));
      await call("POST", "/api/v1/models/ha/versions", { source: `runs:/${run.info.run_id}/model` });
    }
    const { run: evalRun } = await call("POST", "/api/2.0/mlflow/runs/create", { experiment_id: "0", start_time: Date.now() });
    await call("PUT", `/api/2.0/mlflow-artifacts/artifacts/0/${evalRun.info.run_id}/artifacts/model/model.onnx`, undefined, readFileSync(join(evalData, "good.onnx")));
    await call("POST", "/api/v1/models/ha-eval/versions", { source: `runs:/${evalRun.info.run_id}/model` });
    await call("PUT", "/api/v1/models/ha-eval/gate-policy", { yaml: POLICY });
    const evalUri = (await call("POST", "/api/v1/evaluation-data", undefined, readFileSync(join(evalData, "eval.csv")))).uri;
    const first = await call("POST", "/api/v1/deployments", { model: "ha", version: "1", environment: "staging", strategy: "replace" });
    const dataPlaneUrl = `http://127.0.0.1:${config.serving.dataPlane.port}`;
    for (;;) {
      if ((await call("GET", `/api/v1/deployments/${first.id}`)).status.phase === "Succeeded") break;
      await sleep(100);
    }

    // Predictions straight to the data-plane process, all through the loop.
    let predicting = true;
    const predictions = { ok: 0, failed: [] as string[] };
    const predictor = (async () => {
      while (predicting) {
        try {
          const res = await fetch(`${dataPlaneUrl}/environments/staging/v2/models/ha/infer`, {
            method: "POST",
            headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" },
            body: JSON.stringify({ inputs: [{ name: "input", shape: [1, 4], datatype: "FP32", data: [0.1, 0.2, 0.3, 0.4] }] }),
          });
          if (res.status === 200) predictions.ok++;
          else predictions.failed.push(`${res.status} ${await res.text()}`);
        } catch (error) {
          predictions.failed.push(String(error));
        }
        await sleep(20);
      }
    })();

    const jobs = new Map<string, string>();
    const evaluations = new Set<string>();
    const deployments = new Set<string>();
    const handovers: number[] = [];
    const KILLS = 5;
    for (let round = 0; round < KILLS; round++) {
      // Work submitted through any replica...
      const submitted = [0, 1, 2].map(async (k) => {
        const name = `ha-job-${round}-${k}`;
        const job = await create(
          name,
          async () => (await call("GET", "/api/v1/jobs?limit=1000")).jobs.find((j: { name: string }) => j.name === name),
          () => call("POST", "/api/v1/jobs", { name, command: [process.execPath, program], workingDir: root, env: { MARK: mark }, compute: { cpus: 0.1, memory: 64 } }),
        );
        jobs.set(name, job.id);
      });
      const evaluated = (async () => {
        const before = new Set(((await call("GET", "/api/v1/evaluations?model=ha-eval&limit=1000")).evaluations as { id: string }[]).map((e) => e.id));
        const evaluation = await create(
          `evaluation ${round}`,
          async () => ((await call("GET", "/api/v1/evaluations?model=ha-eval&limit=1000")).evaluations as { id: string }[]).find((e) => !before.has(e.id) && !evaluations.has(e.id)),
          () => call("POST", "/api/v1/models/ha-eval/versions/1/evaluations", { data: evalUri, sensitive: ["group"] }),
        );
        evaluations.add(evaluation.id);
      })();
      const deployed = (async () => {
        const environment = `env-${round}`;
        const deployment = await create(
          `deployment ${round}`,
          async () => ((await call("GET", "/api/v1/deployments?limit=1000")).deployments as { id: string; spec: { environment: string } }[]).find((d) => d.spec.environment === environment),
          () => call("POST", "/api/v1/deployments", { model: "ha", version: String(1 + (round % 2)), environment, strategy: "replace" }),
        );
        deployments.add(deployment.id);
      })();
      const work = [...submitted, evaluated, deployed];
      // Awaited below; a failure is not an unhandled rejection meanwhile.
      for (const w of work) w.catch(() => undefined);
      // ...while the leader is killed.
      await sleep(200 + round * 250);
      const leader = await leaderIndex();
      await replicas[leader]!.kill9();
      const killedAt = Date.now();
      log(`round ${round}: killed replica ${leader}`);
      const next = await leaderIndex();
      handovers.push(Date.now() - killedAt);
      log(`round ${round}: replica ${next} leads after ${handovers.at(-1)} ms`);
      await Promise.all(work);
      await start(leader);
      await sleep(1500);
    }

    // Everything acknowledged finishes, once.
    const ended = async (path: string, done: (x: any) => boolean) => {
      for (let i = 0; i < 1200; i++) {
        const x = await call("GET", path);
        if (done(x)) return x;
        await sleep(100);
      }
      throw new Error(`${path} never finished: ${JSON.stringify(await call("GET", path))}`);
    };
    for (const [name, id] of jobs) {
      const job = await ended(`/api/v1/jobs/${id}`, (j) => ["SUCCEEDED", "FAILED", "CANCELLED"].includes(j.phase));
      expect(job.phase, `${name}: ${JSON.stringify(job.events)}`).toBe("SUCCEEDED");
    }
    for (const id of evaluations) {
      const evaluation = await ended(`/api/v1/evaluations/${id}`, (e) => !["Pending", "Running"].includes(e.phase));
      expect(evaluation.phase, JSON.stringify(evaluation)).toBe("Passed");
    }
    for (const id of deployments) {
      const deployment = await ended(`/api/v1/deployments/${id}`, (d) => !["Pending", "Progressing"].includes(d.status.phase));
      expect(deployment.status.phase, JSON.stringify(deployment.status)).toBe("Succeeded");
    }
    predicting = false;
    await predictor;

    const allJobs = (await call("GET", "/api/v1/jobs?limit=1000")).jobs as { id: string; name: string }[];
    expect(allJobs.filter((j) => j.name.startsWith("ha-job-")).map((j) => j.id).sort()).toEqual([...jobs.values()].sort());
    // Each job's process started once: a leader that died after claiming one never starts it beside its successor.
    const starts = readFileSync(mark, "utf8").trim().split("\n").map((l) => l.split(" ")[1]!);
    expect(starts.sort()).toEqual([...jobs.values()].sort());
    const allEvaluations = (await call("GET", "/api/v1/evaluations?model=ha-eval&limit=1000")).evaluations as { id: string }[];
    expect(allEvaluations.map((e) => e.id).sort()).toEqual([...evaluations].sort());
    const allDeployments = (await call("GET", "/api/v1/deployments?limit=1000")).deployments as { id: string; spec: { environment: string } }[];
    expect(allDeployments.filter((d) => d.spec.environment.startsWith("env-")).map((d) => d.id).sort()).toEqual([...deployments].sort());
    // Each environment answers with the version deployed there, through the API's relay.
    for (let round = 0; round < KILLS; round++) {
      const answer = await call("POST", `/environments/env-${round}/v2/models/ha/infer`, { inputs: [{ name: "input", shape: [1, 4], datatype: "FP32", data: [0.1, 0.2, 0.3, 0.4] }] });
      expect(answer.model_version).toBe(String(1 + (round % 2)));
    }
    expect(predictions.failed).toEqual([]);
    expect(predictions.ok).toBeGreaterThan(50);
    // Every kill handed over (printed, not asserted: timing belongs in bench/).
    log(`handovers (ms): ${handovers.join(", ")}; predictions: ${predictions.ok} ok`);
    process.stdout.write(`replicas: handover after kill -9 of the leader took ${handovers.join(", ")} ms; ${predictions.ok} predictions, none failed\n`);
    expect(handovers).toHaveLength(KILLS);
  }, 300_000);
});
