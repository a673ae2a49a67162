import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createApp, type App } from "../src/app.ts";
import { loadConfig } from "../src/config/index.ts";
import { ashaJudge, samplePoint } from "../src/modules/sweeps/index.ts";
import { runPaved } from "./support/cli.ts";
import { testDialects, testPostgresUrl } from "./support/databases.ts";

type Who = { authorization: string };

/**
 * Issue 13, item 5: sweeps on one server, trials as real Python processes that log their metric
 * with `paved.metric` lines. A grid sweep finds its best trial and links its run (a child of the
 * sweep's run); a random sweep samples within bounds, reproducibly by seed; ASHA stops trials whose
 * metric at a rung is outside the best 1/eta, and the best survives; a cancel cancels running
 * trials; bad specs are refused at the edge; another team's sweep answers as a missing one.
 */
describe.each(testDialects())("sweeps (%s)", (dialect) => {
  let app: App;
  let admin: Who;
  let ada: Who;
  let bob: Who;
  let url: string;
  const work = mkdtempSync(join(tmpdir(), "paved-sweeps-work-"));
  const go = join(work, "go");
  mkdirSync(go);
  const call = (who: Who, method: "GET" | "POST" | "PUT", url: string, payload?: unknown) =>
    app.server.inject({ method, url, headers: who, ...(payload !== undefined ? { payload: payload as object } : {}) });
  const create = async (who: Who, spec: Record<string, unknown>) => {
    const res = await call(who, "POST", "/api/v1/sweeps", spec);
    expect(res.statusCode, res.body).toBe(200);
    return res.json();
  };
  const sweep = async (id: string): Promise<any> => (await call(ada, "GET", `/api/v1/sweeps/${id}`)).json();
  async function poll<T>(what: string, read: () => Promise<T>, done: (value: NoInfer<T>) => boolean, step?: (value: NoInfer<T>) => void): Promise<T> {
    for (let i = 0; i < 3000; i++) {
      const value = await read();
      step?.(value);
      if (done(value)) return value;
      await sleep(50);
    }
    throw new Error(`${what} never happened`);
  }
  const ended = (s: { phase: string }) => ["SUCCEEDED", "FAILED", "CANCELLED"].includes(s.phase);
  const trial = (extra: Record<string, unknown> = {}) => ({ command: ["/usr/bin/python3", "trial.py"], workingDir: work, compute: { cpus: 0.5, memory: 64 }, ...extra });

  async function member(name: string, team: string, role: string): Promise<Who> {
    const user = await call(admin, "POST", "/api/v1/users", { name, teams: [{ team, role }] });
    expect(user.statusCode, user.body).toBe(200);
    const { token } = await app.tokens.createPersonal({ userId: user.json().id, name: `${name}-laptop` });
    return { authorization: `Bearer ${token}` };
  }

  beforeAll(async () => {
    // A trial: its parameters arrive as --name=value (and ${params.x} in its env); it prints its metric per step.
    writeFileSync(
      join(work, "trial.py"),
      `import argparse, os, sys, time
p = argparse.ArgumentParser()
p.add_argument("--x", type=float, default=0)
p.add_argument("--lr", type=float, default=0)
p.add_argument("--layers", type=int, default=0)
p.add_argument("--q", type=float, default=0)
p.add_argument("--mode", default="grid")
a = p.parse_args()
if a.mode == "grid":
    assert os.environ["X_FROM_ENV"] == str(a.x if a.x != int(a.x) else int(a.x)), os.environ["X_FROM_ENV"]
    for step in range(3):
        print(f"paved.metric loss={(a.x - 3) ** 2 + 1 / (step + 1)} step={step}", flush=True)
elif a.mode == "random":
    print(f"paved.metric score={a.lr * a.layers} step=1", flush=True)
elif a.mode == "asha":
    # Rung 1 at step 1; then it waits for the test's go-ahead, so ASHA judges it while it runs.
    print(f"paved.metric loss={a.q + 1} step=1", flush=True)
    go = os.path.join(os.environ["GO_DIR"], os.environ["PAVED_JOB_ID"])
    while not os.path.exists(go):
        time.sleep(0.05)
    print(f"paved.metric loss={a.q} step=2", flush=True)
elif a.mode == "sleep":
    print("paved.metric loss=1 step=0", flush=True)
    time.sleep(600)
`,
    );
    const dataDir = mkdtempSync(join(tmpdir(), "paved-sweeps-"));
    const databaseUrl = dialect === "postgres" ? await testPostgresUrl() : undefined;
    app = await createApp(
      loadConfig({
        env: {},
        overrides: {
          dataDir,
          ...(databaseUrl ? { databaseUrl } : {}),
          logLevel: "silent",
          compute: { gpus: [], cpus: 8, memoryMiB: 8192, systemMetricsInterval: 3600 },
          sweeps: { intervalSeconds: 0.1 },
          host: "127.0.0.1",
          port: 0,
        },
      }),
    );
    url = await app.listen();
    admin = { authorization: `Bearer ${app.generatedAdminToken}` };
    for (const name of ["risk", "fraud"]) expect((await call(admin, "POST", "/api/v1/teams", { name })).statusCode).toBe(200);
    ada = await member("ada", "risk", "developer");
    bob = await member("bob", "fraud", "developer");
  }, 120_000);
  afterAll(async () => app?.close());

  it("runs a grid, reports the best trial and links its run as a child of the sweep's run", async () => {
    const created = await create(ada, {
      name: "grid-x",
      method: "grid",
      objective: { metric: "loss", goal: "minimize" },
      parameters: { x: { values: [1, 2, 3, 4] } },
      parallelism: 2,
      trial: trial({ env: { X_FROM_ENV: "${params.x}" }, hyperparameters: { mode: "grid" } }),
    });
    expect(created).toMatchObject({ phase: "RUNNING", team: "risk", trialsTarget: 4, method: "grid" });
    const done = await poll("the grid sweep to end", () => sweep(created.id), ended);
    expect(done.phase, JSON.stringify(done.trials)).toBe("SUCCEEDED");
    expect(done.trials.map((t: { params: unknown }) => t.params)).toEqual([{ x: 1 }, { x: 2 }, { x: 3 }, { x: 4 }]);
    expect(done.trials.every((t: { phase: string }) => t.phase === "SUCCEEDED")).toBe(true);
    // The objective is the metric's last value: (x-3)^2 + 1/3.
    expect(done.trials.map((t: { objective: number }) => t.objective)).toEqual([4, 1, 0, 1].map((v) => v + 1 / 3));
    expect(done.best).toMatchObject({ index: 3, params: { x: 3 }, value: 1 / 3 });
    expect(done.best.link).toBe(`runs:/${done.best.runId}`);
    // Each trial is a job of the team and a child run of the sweep's run, with its parameters as params.
    const job = (await call(ada, "GET", `/api/v1/jobs/${done.best.jobId}`)).json();
    expect(job).toMatchObject({ team: "risk", name: "grid-x-3", runId: done.best.runId, phase: "SUCCEEDED" });
    const run = (await call(ada, "GET", `/api/2.0/mlflow/runs/get?run_id=${done.best.runId}`)).json().run;
    const tags = Object.fromEntries(run.data.tags.map((t: { key: string; value: string }) => [t.key, t.value]));
    expect(tags["mlflow.parentRunId"]).toBe(done.parentRunId);
    expect(tags["paved.sweep_id"]).toBe(created.id);
    expect(run.data.params).toContainEqual({ key: "x", value: "3" });
    const parent = (await call(ada, "GET", `/api/2.0/mlflow/runs/get?run_id=${done.parentRunId}`)).json().run;
    expect(parent.info.status).toBe("FINISHED");
    expect(parent.data.tags).toContainEqual({ key: "paved.sweep.best_run_id", value: done.best.runId });
    expect(parent.data.metrics.find((m: { key: string }) => m.key === "loss").value).toBeCloseTo(1 / 3);
    // Listed with its best.
    const list = (await call(ada, "GET", "/api/v1/sweeps")).json().sweeps;
    expect(list.find((s: { id: string }) => s.id === created.id).best.index).toBe(3);
  });

  it("samples a random sweep within bounds, the same parameters for the same seed", async () => {
    const parameters = { lr: { distribution: "log-uniform", min: 0.0001, max: 0.1 }, layers: { distribution: "int", min: 1, max: 3 } };
    const created = await create(ada, {
      name: "random-lr",
      method: "random",
      objective: { metric: "score", goal: "maximize" },
      parameters,
      maxTrials: 3,
      parallelism: 3,
      seed: 7,
      trial: trial({ hyperparameters: { mode: "random" } }),
    });
    expect(created.seed).toBe(7);
    const done = await poll("the random sweep to end", () => sweep(created.id), ended);
    expect(done.phase).toBe("SUCCEEDED");
    for (const [n, t] of done.trials.entries()) {
      expect(t.params).toEqual(samplePoint(parameters as never, 7, n));
      expect(t.params.lr).toBeGreaterThanOrEqual(0.0001);
      expect(t.params.lr).toBeLessThanOrEqual(0.1);
      expect([1, 2, 3]).toContain(t.params.layers);
      expect(t.objective).toBeCloseTo(t.params.lr * t.params.layers);
    }
    const best = done.trials.reduce((a: { objective: number }, b: { objective: number }) => (b.objective > a.objective ? b : a));
    expect(done.best.index).toBe(best.index);
  });

  it("stops trials early with ASHA at a rung and keeps the best", async () => {
    const parameters = { q: { distribution: "uniform", min: 0, max: 1 } };
    // A seed whose trials, in order, have at least one stopped at the rung and one that goes on after the first.
    const expectedStops = (seed: number) => {
      const earlier: number[] = [];
      return Array.from({ length: 4 }, (_, n) => {
        const value = (samplePoint(parameters as never, seed, n).q as number) + 1;
        const stop = ashaJudge(earlier, value, "minimize", 2).stop;
        earlier.push(value);
        return stop;
      });
    };
    const seed = [...Array(100).keys()].find((s) => expectedStops(s).filter(Boolean).length >= 1 && expectedStops(s).slice(1).some((stop) => !stop))!;
    const created = await create(ada, {
      name: "asha-q",
      method: "asha",
      objective: { metric: "loss", goal: "minimize" },
      parameters,
      maxTrials: 4,
      parallelism: 1,
      seed,
      asha: { minResource: 1, maxResource: 2, reductionFactor: 2 },
      trial: trial({ hyperparameters: { mode: "asha" }, env: { GO_DIR: go } }),
    });
    // A trial that ASHA let go on at rung 1 is told to finish; a stopped one is left to be cancelled.
    const done = await poll(
      "the ASHA sweep to end",
      () => sweep(created.id),
      ended,
      (s) => {
        for (const t of s.trials) {
          if (t.phase === "RUNNING" && t.rungs.length === 1 && !t.rungs[0].stopped && !existsSync(join(go, t.jobId))) writeFileSync(join(go, t.jobId), "");
        }
      },
    );
    expect(done.phase).toBe("SUCCEEDED");
    const stops = expectedStops(seed);
    expect(done.trials.map((t: { phase: string }) => t.phase)).toEqual(stops.map((stop) => (stop ? "STOPPED" : "SUCCEEDED")));
    for (const t of done.trials) {
      expect(t.rungs).toHaveLength(1);
      expect(t.rungs[0]).toMatchObject({ rung: 0, resource: 1, value: t.params.q + 1 });
      if (t.phase === "STOPPED") {
        // Stopped at the rung: it never logged step 2, and its job was cancelled by the sweep.
        expect(t.objectiveStep).toBe(1);
        const job = (await call(ada, "GET", `/api/v1/jobs/${t.jobId}`)).json();
        expect(job.phase).toBe("CANCELLED");
        expect(job.events.map((e: { type: string }) => e.type)).toContain("SweepStopped");
      }
    }
    const survivors = done.trials.filter((t: { phase: string }) => t.phase === "SUCCEEDED");
    const best = survivors.reduce((a: { params: { q: number } }, b: { params: { q: number } }) => (b.params.q < a.params.q ? b : a));
    expect(done.best.index).toBe(best.index);
    expect(done.best.value).toBeCloseTo(best.params.q);
    expect(done.events.map((e: { type: string }) => e.type)).toContain("TrialStopped");
  });

  it("cancels its running trials when cancelled, and starts no more", async () => {
    const created = await create(ada, {
      name: "cancel-me",
      method: "grid",
      objective: { metric: "loss", goal: "minimize" },
      parameters: { x: { values: [1, 2, 3] } },
      parallelism: 2,
      trial: trial({ hyperparameters: { mode: "sleep" } }),
    });
    await poll("two trials running", () => sweep(created.id), (s) => s.trials.filter((t: { phase: string }) => t.phase === "RUNNING").length === 2);
    const cancelled = await call(ada, "POST", `/api/v1/sweeps/${created.id}/cancel`, {});
    expect(cancelled.statusCode, cancelled.body).toBe(200);
    const done = await poll("the sweep to be cancelled", () => sweep(created.id), ended);
    expect(done.phase).toBe("CANCELLED");
    expect(done.trials).toHaveLength(2);
    for (const t of done.trials) {
      expect(t.phase).toBe("CANCELLED");
      const job = (await call(ada, "GET", `/api/v1/jobs/${t.jobId}`)).json();
      expect(job.phase).toBe("CANCELLED");
      expect(job.events.map((e: { type: string }) => e.type)).toContain("SweepCancelled");
    }
    const parent = (await call(ada, "GET", `/api/2.0/mlflow/runs/get?run_id=${done.parentRunId}`)).json().run;
    expect(parent.info.status).toBe("KILLED");
  });

  it("works from the CLI: create -f sweep.yaml, ls, show with the best trial, cancel", async () => {
    const token = ada.authorization.replace("Bearer ", "");
    const paved = (args: string[]) => runPaved(args, { url, token, dir: work });
    writeFileSync(
      join(work, "sweep.yaml"),
      `kind: Sweep
name: cli-grid
method: grid
objective: { metric: loss, goal: minimize }
parameters:
  x: { values: [2, 3] }
trial:
  command: [/usr/bin/python3, trial.py]
  env: { X_FROM_ENV: "\${params.x}" }
  hyperparameters: { mode: grid }
  compute: { cpus: 0.5, memory: 64 }
`,
    );
    const created = await paved(["sweeps", "create", "-f", "sweep.yaml", "--json"]);
    expect(created.code, created.stderr).toBe(0);
    const id = JSON.parse(created.stdout).id as string;
    const done = await poll("the CLI's sweep to end", () => sweep(id), ended);
    expect(done.phase).toBe("SUCCEEDED");
    const shown = await paved(["sweeps", "show", id]);
    expect(shown.code, shown.stderr).toBe(0);
    expect(shown.stdout).toContain(`trial 2: loss 0.333333 with x=3`);
    expect(shown.stdout).toContain(`paved runs show ${done.best.runId}`);
    expect(shown.stdout).toMatch(/2\*\s+SUCCEEDED/);
    const listed = await paved(["sweeps", "ls"]);
    expect(listed.stdout).toContain(id);
    expect((await paved(["sweep", "cancel", id])).stdout).toContain(`sweep ${id} (cli-grid) is SUCCEEDED`);
    // A bad spec: the file and the field, and exit code 2 (invalid input).
    writeFileSync(join(work, "bad.yaml"), "kind: Sweep\nname: bad\nmethod: grid\nobjective: { metric: loss, goal: lowest }\nparameters: { x: { values: [1] } }\ntrial: { command: [/usr/bin/python3, trial.py] }\n");
    const bad = await paved(["sweeps", "create", "-f", "bad.yaml"]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("bad.yaml");
    // paved apply takes a Sweep too.
    const applied = await paved(["apply", "-f", "sweep.yaml"]);
    expect(applied.code, applied.stderr).toBe(0);
    expect(applied.stdout).toMatch(/^sweep sweep-\S+ created/);
    const again = applied.stdout.split(" ")[1]!;
    await poll("the applied sweep to end", () => sweep(again), ended);
  });

  it("answers another team's sweep as a missing one", async () => {
    const [mine] = (await call(ada, "GET", "/api/v1/sweeps")).json().sweeps;
    const hidden = await call(bob, "GET", `/api/v1/sweeps/${mine.id}`);
    const missing = await call(bob, "GET", "/api/v1/sweeps/sweep-nosuch");
    expect(hidden.statusCode).toBe(404);
    expect(hidden.body.replaceAll(mine.id, "<id>")).toBe(missing.body.replaceAll("sweep-nosuch", "<id>"));
    expect((await call(bob, "POST", `/api/v1/sweeps/${mine.id}/cancel`, {})).statusCode).toBe(404);
    expect((await call(bob, "GET", "/api/v1/sweeps")).json().sweeps).toEqual([]);
  });

  it("refuses bad specs at the edge with a stable code and the fix", async () => {
    const base = { name: "bad", method: "grid", objective: { metric: "loss", goal: "minimize" }, parameters: { x: { values: [1, 2] } }, trial: trial() };
    const refused = async (spec: Record<string, unknown>, code: string, who: Who = ada) => {
      const res = await call(who, "POST", "/api/v1/sweeps", spec);
      expect(res.json().error?.code, res.body).toBe(code);
      return res.json().error;
    };
    await refused({ ...base, objective: { metric: "loss", goal: "lowest" } }, "INVALID_INPUT");
    await refused({ ...base, method: "bayes" }, "INVALID_INPUT");
    await refused({ ...base, parameters: { x: { distribution: "log-uniform", min: 0, max: 1 } } }, "INVALID_INPUT");
    await refused({ ...base, parameters: { x: { distribution: "beta", min: 0, max: 1 } } }, "INVALID_INPUT");
    const grid = await refused({ ...base, parameters: { x: { distribution: "uniform", min: 0, max: 1 } } }, "INVALID_INPUT");
    expect(grid.message).toContain("method: random");
    const big = await refused({ ...base, parameters: { a: { distribution: "int", min: 1, max: 200 }, b: { distribution: "int", min: 1, max: 200 } } }, "INVALID_INPUT");
    expect(big.details).toMatchObject({ gridSize: 40_000 });
    await refused({ ...base, method: "random" }, "INVALID_INPUT");
    await refused({ ...base, method: "asha", maxTrials: 3 }, "INVALID_INPUT");
    await refused({ ...base, trial: trial({ command: ["/usr/bin/python3", "trial.py", "--y=${params.y}"] }) }, "INVALID_INPUT");
    await refused({ ...base, trial: trial({ workingDir: join(work, "no-such-dir") }) }, "INVALID_INPUT");
    // Parallelism beyond the team's quota: refused with the parallelism that fits.
    expect((await call(admin, "PUT", "/api/v1/teams/fraud/quotas", { cpus: 1 })).statusCode).toBe(200);
    const quota = await refused({ ...base, parallelism: 4, parameters: { x: { values: [1, 2, 3, 4] } } }, "QUOTA_EXCEEDED", bob);
    expect(quota.details).toMatchObject({ team: "fraud", fits: 2 });
    expect(quota.message).toContain("parallelism: 2");
  });
});
