// Issue 12, item 6, "Done when": a month of platform activity driven through the API with a
// controlled clock gives the expected funnel, time-to-value and DORA-style figures, computed by
// hand below. Everything goes through the real HTTP routes of a listening app (its controllers
// run: evaluations really pass, rollouts really promote or roll back); only the clock is ours, and
// it stands still while a controller works, so every recorded time is the one the story sets.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { Registry } from "prom-client";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { testDialects, testPostgresUrl } from "../../../test/support/databases.ts";
import { createApp, type App } from "../../app.ts";
import { loadConfig } from "../../config/index.ts";
import { randomIds } from "../../core/index.ts";
import { buildTestModels, type TestModels } from "../serving/test-models.ts";
import { createAdoptionModule, registerAdoptionGauges, type AdoptionReport } from "./index.ts";

vi.setConfig({ testTimeout: 300_000, hookTimeout: 300_000 });

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
/** Monday 2 March 2026, 00:00 UTC: day 0 of the story. */
const D0 = Date.UTC(2026, 2, 2);
/** A time of the story: day `d` (0 = D0), hour `h` (UTC). */
const at = (d: number, h = 0) => D0 + d * DAY + h * HOUR;
/** The report's window: the 28 days from D0. */
const SINCE = at(0);
const UNTIL = at(28);

type Who = { authorization: string };
type People = "ada" | "bo" | "cy" | "dee" | "eve";

describe.each(testDialects())("adoption: a month on the platform (%s)", (dialect) => {
  let app: App;
  let models: TestModels;
  let now = at(-5);
  const clock = { now: () => now };
  let admin: Who;
  const people = {} as Record<People, Who>;
  let report: AdoptionReport;

  const call = async (who: Who | undefined, method: "GET" | "POST" | "PUT", url: string, payload?: unknown, headers: Record<string, string> = {}) =>
    app.server.inject({ method, url, headers: { ...who, ...headers }, ...(payload !== undefined ? { payload: payload as object | string } : {}) });
  const ok = async (who: Who, method: "GET" | "POST" | "PUT", url: string, payload?: unknown, headers: Record<string, string> = {}) => {
    const res = await call(who, method, url, payload, headers);
    expect(res.statusCode, `${method} ${url}: ${res.body}`).toBe(200);
    return res.json();
  };
  const poll = async <T>(what: string, read: () => Promise<T>, done: (t: T) => boolean): Promise<T> => {
    for (let i = 0; i < 3000; i++) {
      const value = await read();
      if (done(value)) return value;
      await sleep(20);
    }
    throw new Error(`${what} never happened`);
  };

  /** A tracked run the MLflow way, started at the story's time. */
  async function run(who: Who, experimentId: string): Promise<string> {
    return (await ok(who, "POST", "/api/2.0/mlflow/runs/create", { experiment_id: experimentId, start_time: now })).run.info.run_id;
  }
  /** Logs the ONNX model as the run's artifact and registers it as the model's next version. */
  async function register(who: Who, model: string, runId: string, experimentId: string): Promise<string> {
    const put = await call(who, "PUT", `/api/2.0/mlflow-artifacts/artifacts/${experimentId}/${runId}/artifacts/model/model.onnx`, Buffer.from(models.bytes("tiny")) as unknown as string, {
      "content-type": "application/octet-stream",
    });
    expect(put.statusCode, put.body).toBe(200);
    return (await ok(who, "POST", `/api/v1/models/${model}/versions`, { source: `runs:/${runId}/model` })).version;
  }
  /** Evaluates the version under a performance-only gate policy and waits for it to pass. */
  async function gate(who: Who, model: string, version: string): Promise<void> {
    await ok(who, "PUT", `/api/v1/models/${model}/gate-policy`, { yaml: "checks:\n  - {type: performance, p99Ms: 60000}\n" });
    const csv = ["f0,f1,f2,f3,label", "0.1,0.2,0.3,0.4,1", "-0.5,0.1,0.9,-0.3,0", "0.7,-0.7,0.2,0.1,1"].join("\n");
    const { uri } = await ok(who, "POST", `/api/v1/evaluation-data?model=${model}`, csv, { "content-type": "text/csv" });
    const evaluation = await ok(who, "POST", `/api/v1/models/${model}/versions/${version}/evaluations`, { data: uri });
    const done = await poll(`evaluation of ${model} ${version}`, async () => ok(who, "GET", `/api/v1/evaluations/${evaluation.id}`), (e) => !["Pending", "Running"].includes(e.phase));
    expect(done.phase, JSON.stringify(done)).toBe("Passed");
  }
  const deployment = (who: Who, id: string) => ok(who, "GET", `/api/v1/deployments/${id}`);
  /** A production rollout that replaces what serves: promoted at once (no stable to compare, or strategy replace). */
  async function promote(who: Who, model: string, version: string): Promise<void> {
    const created = await ok(who, "POST", "/api/v1/deployments", { model, version, environment: "production", strategy: "replace" });
    const done = await poll(`promotion of ${model} ${version}`, () => deployment(who, created.id), (d) => ["Succeeded", "RolledBack", "Failed"].includes(d.status.phase));
    expect(done.status.phase, JSON.stringify(done.status.history)).toBe("Succeeded");
  }
  /** A production canary (a day per step, so it waits at 10%) rolled back by request at hour `rollbackHour` of the same day. */
  async function failedCanary(who: Who, model: string, version: string, rollbackHour: number): Promise<void> {
    const created = await ok(who, "POST", "/api/v1/deployments", { model, version, environment: "production", strategy: "canary", steps: [10, 100], stepIntervalSeconds: 86_400 });
    await poll(`canary of ${model} ${version} at its first step`, () => deployment(who, created.id), (d) => d.status.currentStep === 0);
    now = now - (now % DAY) + rollbackHour * HOUR;
    await ok(who, "POST", `/api/v1/deployments/${created.id}/rollback`);
    const done = await poll(`rollback of ${model} ${version}`, () => deployment(who, created.id), (d) => d.status.phase !== "Progressing");
    expect(done.status.phase).toBe("RolledBack");
  }

  beforeAll(async () => {
    models = buildTestModels();
    const dataDir = mkdtempSync(join(tmpdir(), "paved-adoption-"));
    const databaseUrl = dialect === "postgres" ? await testPostgresUrl() : undefined;
    app = await createApp(
      loadConfig({
        env: {},
        overrides: {
          dataDir,
          logLevel: "silent",
          host: "127.0.0.1",
          port: 0,
          compute: { gpus: [], cpus: 2, memoryMiB: 2048 },
          // Workspaces are counted when created; their Jupyter server need not start.
          workspaces: { jupyter: "/bin/false" },
          ...(databaseUrl ? { databaseUrl } : {}),
        },
      }),
      { clock },
    );
    await app.listen();
    admin = { authorization: `Bearer ${app.generatedAdminToken}` };

    // Day -5: the platform team sets up two teams and five people (the bootstrap admin is no person of the figures).
    for (const name of ["fraud", "risk"]) await ok(admin, "POST", "/api/v1/teams", { name });
    const roles: Record<People, { team: string; role: string }> = {
      ada: { team: "fraud", role: "maintainer" },
      bo: { team: "fraud", role: "developer" },
      cy: { team: "risk", role: "maintainer" },
      dee: { team: "risk", role: "developer" },
      eve: { team: "risk", role: "viewer" },
    };
    for (const [name, role] of Object.entries(roles)) await ok(admin, "POST", "/api/v1/users", { name, teams: [role] });
    /** A person's first token: their first sign-in. */
    const signIn = async (name: People, time: number) => {
      now = time;
      people[name] = { authorization: `Bearer ${(await ok(admin, "POST", `/api/v1/users/${name}/tokens`, { name: "laptop" })).token}` };
    };
    await signIn("eve", at(-3, 9));

    // Day 0: ada signs in, opens a workspace, starts her first run.
    await signIn("ada", at(0, 9));
    now = at(0, 10);
    await ok(people.ada, "POST", "/api/v1/workspaces", { name: "ada-eda" });
    now = at(0, 11);
    const fraudExp = (await ok(people.ada, "POST", "/api/2.0/mlflow/experiments/create", { name: "churn" })).experiment_id as string;
    const a1 = await run(people.ada, fraudExp);
    // Day 1: bo signs in, opens a workspace, runs.
    await signIn("bo", at(1, 9));
    now = at(1, 10);
    await ok(people.bo, "POST", "/api/v1/workspaces", { name: "bo-eda" });
    now = at(1, 12);
    await run(people.bo, fraudExp);
    // Day 2: cy signs in and runs (no workspace: from a laptop).
    await signIn("cy", at(2, 9));
    now = at(2, 12);
    const riskExp = (await ok(people.cy, "POST", "/api/2.0/mlflow/experiments/create", { name: "limits" })).experiment_id as string;
    const c1 = await run(people.cy, riskExp);
    // Days 3-4: churn v1 registered, gated, promoted to production.
    now = at(3, 10);
    await register(people.ada, "churn", a1, fraudExp);
    now = at(3, 11);
    await gate(people.ada, "churn", "1");
    now = at(4, 10);
    await promote(people.ada, "churn", "1");
    // Days 5-6: limits v1 likewise.
    now = at(5, 10);
    await register(people.cy, "limits", c1, riskExp);
    now = at(5, 11);
    await gate(people.cy, "limits", "1");
    now = at(6, 12);
    await promote(people.cy, "limits", "1");
    // Days 8-9: churn v2's canary is rolled back.
    now = at(8, 10);
    const a2 = await run(people.ada, fraudExp);
    now = at(8, 12);
    await register(people.ada, "churn", a2, fraudExp);
    now = at(8, 13);
    await gate(people.ada, "churn", "2");
    now = at(9, 10);
    await failedCanary(people.ada, "churn", "2", 14);
    // Day 10: feedback.
    now = at(10, 9);
    await ok(people.eve, "POST", "/api/v1/feedback", { score: 4 });
    now = at(10, 10);
    await ok(people.ada, "POST", "/api/v1/feedback", { score: 5, comment: "from notebook to production in four days", context: "first-production-deployment" });
    // Day 11: churn v3 restores production.
    now = at(11, 9);
    const a3 = await run(people.ada, fraudExp);
    now = at(11, 10);
    await register(people.ada, "churn", a3, fraudExp);
    now = at(11, 11);
    await gate(people.ada, "churn", "3");
    now = at(11, 16);
    await promote(people.ada, "churn", "3");
    // Days 14-17: two limits canaries rolled back.
    now = at(14, 9);
    const c2 = await run(people.cy, riskExp);
    now = at(14, 10);
    await register(people.cy, "limits", c2, riskExp);
    now = at(14, 11);
    await gate(people.cy, "limits", "2");
    now = at(15, 10);
    await failedCanary(people.cy, "limits", "2", 12);
    now = at(16, 9);
    const c3 = await run(people.cy, riskExp);
    now = at(16, 10);
    await register(people.cy, "limits", c3, riskExp);
    now = at(16, 11);
    await gate(people.cy, "limits", "3");
    now = at(17, 10);
    await failedCanary(people.cy, "limits", "3", 11);
    // Day 18: limits v4, from the same run as v3, restores production.
    now = at(18, 10);
    await register(people.cy, "limits", c3, riskExp);
    now = at(18, 11);
    await gate(people.cy, "limits", "4");
    now = at(18, 15);
    await promote(people.cy, "limits", "4");
    // Day 20: dee signs in; day 22: her first run, and bo's feedback.
    await signIn("dee", at(20, 9));
    now = at(22, 9);
    await run(people.dee, riskExp);
    now = at(22, 10);
    await ok(people.bo, "POST", "/api/v1/feedback", { score: 2, comment: "my jobs waited in the queue for hours" });
    // Days 24-25: churn v4's canary is rolled back, and nothing restores it within the window.
    now = at(24, 9);
    const a4 = await run(people.ada, fraudExp);
    now = at(24, 10);
    await register(people.ada, "churn", a4, fraudExp);
    now = at(24, 11);
    await gate(people.ada, "churn", "4");
    now = at(25, 10);
    await failedCanary(people.ada, "churn", "4", 12);
    // Day 26: bo submits a job (it records a run of its own).
    now = at(26, 10);
    await ok(people.bo, "POST", "/api/v1/jobs", { name: "nightly", experiment: "churn", command: ["/bin/true"], workingDir: tmpdir(), compute: { cpus: 1, memory: 64 } });
    // After the window: not counted.
    now = at(28, 5);
    await ok(people.cy, "POST", "/api/v1/feedback", { score: 1 });
    await run(people.dee, riskExp);

    now = at(29);
    report = await ok(admin, "GET", `/api/v1/adoption?since=${new Date(SINCE).toISOString()}&until=${new Date(UNTIL).toISOString()}`);
  });
  afterAll(async () => {
    await app?.close();
  });

  it("counts active people and teams per day and week", () => {
    // People active per day (a sign-in, a run, a registration, an evaluation, a deployment, feedback, a job):
    // d0 ada, d1 bo, d2 cy, d3 ada, d4 ada, d5 cy, d6 cy, d8 ada, d9 ada, d10 eve+ada, d11 ada,
    // d14-d18 cy, d20 dee (her token), d22 dee+bo, d24 ada, d25 ada, d26 bo: 23 person-days over 28 days.
    // Weeks (counted back from the end): d0-6 {ada,bo,cy}=3, d7-13 {ada,eve}=2, d14-20 {cy,dee}=2, d21-27 {dee,bo,ada}=3.
    expect(report.activeUsers).toEqual({ lastDay: 0, last7Days: 3, window: 5, dailyAverage: Math.round((23 / 28) * 10_000) / 10_000, weeklyAverage: 2.5 });
    // Teams per day: every active day has one team, but d10 (eve's feedback for risk, ada's for fraud) and
    // d22 (dee's run in risk, bo's feedback for fraud) have two, and d20 none (a token has no team): 22 team-days.
    // Weeks: 2, 2, {risk}=1, 2.
    expect(report.activeTeams).toEqual({ lastDay: 0, last7Days: 2, window: 2, dailyAverage: Math.round((22 / 28) * 10_000) / 10_000, weeklyAverage: 1.75 });
    expect(report.daily).toHaveLength(28);
    expect(report.daily[0]).toEqual({ from: at(0), to: at(1), users: 1, teams: 1 });
    expect(report.daily.map((d) => d.users)).toEqual([1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 2, 1, 0, 0, 1, 1, 1, 1, 1, 0, 1, 0, 2, 0, 1, 1, 1, 0]);
    expect(report.weekly.map((w) => [w.from, w.users, w.teams])).toEqual([
      [at(0), 3, 2],
      [at(7), 2, 2],
      [at(14), 2, 1],
      [at(21), 3, 2],
    ]);
  });

  it("gives each team its usage", () => {
    // fraud: runs a1 a2 a3 a4, bo's run and the run of bo's job = 6; churn v1-v4; 4 deployments, 2 promoted.
    // risk: runs c1 c2 c3 and dee's = 4; limits v1-v4; 4 deployments, 2 promoted; eve counts by her feedback.
    const fraud = report.teams.find((t) => t.team === "fraud");
    const risk = report.teams.find((t) => t.team === "risk");
    expect(fraud).toEqual({ team: "fraud", activeUsers: 2, runs: 6, jobs: 1, gpuHours: 0, workspaces: 2, modelVersions: 4, deployments: 4, productionDeployments: 2 });
    expect(risk).toEqual({ team: "risk", activeUsers: 3, runs: 4, jobs: 0, gpuHours: 0, workspaces: 0, modelVersions: 4, deployments: 4, productionDeployments: 2 });
  });

  it("measures the golden-path funnel", () => {
    // workspace {ada,bo}; run {ada,bo,cy,dee}; registered {ada,cy}; gated {ada,cy}; production {ada,cy}.
    // Through the path: 2 → {ada,bo} 2 → {ada} 1 → 1 → 1.
    expect(report.funnel).toEqual([
      { stage: "workspace", users: 2, throughPath: 2, conversion: null },
      { stage: "run", users: 4, throughPath: 2, conversion: 1 },
      { stage: "registered", users: 2, throughPath: 1, conversion: 0.5 },
      { stage: "gated", users: 2, throughPath: 1, conversion: 1 },
      { stage: "production", users: 2, throughPath: 1, conversion: 1 },
    ]);
  });

  it("measures time to value of the people new this month", () => {
    // New: ada (first token d0 09:00), bo (d1 09:00), cy (d2 09:00), dee (d20 09:00); eve signed in before.
    // First run: ada d0 11:00 (2 h), bo d1 12:00 (3 h), cy d2 12:00 (3 h), dee d22 09:00 (48 h): median 3 h.
    // First production: ada d4 10:00 (97 h), cy d6 12:00 (99 h): median (97 + 99) / 2 = 98 h.
    expect(report.timeToValue).toEqual({
      newUsers: 4,
      firstRun: { count: 4, p50Seconds: 3 * 3600 },
      firstProduction: { count: 2, p50Seconds: 98 * 3600 },
    });
  });

  it("gives DORA-style delivery figures", () => {
    // Promoted in production: churn v1 (d4 10:00, run a1 d0 11:00: 95 h), limits v1 (d6 12:00, run c1 d2 12:00: 96 h),
    // churn v3 (d11 16:00, run a3 d11 09:00: 7 h), limits v4 (d18 15:00, run c3 d16 09:00: 54 h).
    // Lead time median: (54 + 95) / 2 = 74.5 h. Frequency: 4 in 4 weeks = 1 a week.
    // Rolled back: churn v2 (d9 14:00), limits v2 (d15 12:00), limits v3 (d17 11:00), churn v4 (d25 12:00): 4 of 8 = 0.5.
    // Restored by: churn v3 d11 16:00 (50 h), limits v4 d18 15:00 (75 h and 28 h); churn v4 never: median 50 h.
    expect(report.delivery).toEqual({
      productionDeployments: 4,
      perWeek: 1,
      leadTime: { count: 4, p50Seconds: 74.5 * 3600 },
      withoutRun: 0,
      finishedRollouts: 8,
      failedRollouts: 4,
      changeFailureRate: 0.5,
      timeToRestore: { count: 3, p50Seconds: 50 * 3600 },
      unrestored: 1,
    });
  });

  it("sums up satisfaction, without comments unless asked", () => {
    // eve 4 (risk), ada 5 (fraud), bo 2 (fraud); cy's 1 came after the window. Mean 11 / 3; 4 or 5: 2 of 3.
    expect(report.satisfaction).toEqual({
      responses: 3,
      meanScore: Math.round((11 / 3) * 10_000) / 10_000,
      distribution: [0, 1, 0, 1, 1],
      satisfied: Math.round((2 / 3) * 10_000) / 10_000,
      byTeam: [
        { team: "fraud", responses: 2, meanScore: 3.5 },
        { team: "risk", responses: 1, meanScore: 4 },
      ],
    });
    expect(report.users).toBeUndefined();
    expect(report.feedback).toBeUndefined();
    expect(JSON.stringify(report)).not.toMatch(/ada|notebook/);
  });

  it("lists people one by one only when asked, and only to platform admins", async () => {
    const query = `since=${SINCE}&until=${UNTIL}`;
    const detail: AdoptionReport = await ok(admin, "GET", `/api/v1/adoption?${query}&perUser=true`);
    const ada = detail.users!.find((u) => u.user === "ada");
    expect(ada).toEqual({ user: "ada", teams: ["fraud"], firstSignIn: at(0, 9), firstRun: at(0, 11), firstProduction: at(4, 10), activeDays: 9, runs: 4, stages: ["workspace", "run", "registered", "gated", "production"] });
    expect(detail.users!.map((u) => u.user)).toEqual(["ada", "bo", "cy", "dee", "eve"]);
    expect(detail.feedback!.map((f) => [f.user, f.score, f.comment])).toEqual([
      ["bo", 2, "my jobs waited in the queue for hours"],
      ["ada", 5, "from notebook to production in four days"],
      ["eve", 4, null],
    ]);
    for (const who of [people.ada, people.eve]) {
      expect((await call(who, "GET", `/api/v1/adoption?${query}`)).json().error.code).toBe("FORBIDDEN");
      expect((await call(who, "GET", `/api/v1/adoption?${query}&perUser=true`)).json().error.code).toBe("FORBIDDEN");
    }
    expect((await call(undefined, "GET", "/api/v1/adoption")).statusCode).toBe(401);
  });

  it("refuses a bad window and bad feedback with clear codes", async () => {
    const code = async (who: Who | undefined, method: "GET" | "POST", url: string, payload?: unknown) => {
      const res = await call(who, method, url, payload);
      return [res.statusCode, res.json().error?.code];
    };
    expect(await code(admin, "GET", `/api/v1/adoption?since=${UNTIL}&until=${SINCE}`)).toEqual([400, "INVALID_INPUT"]);
    expect(await code(admin, "GET", "/api/v1/adoption?since=400d")).toEqual([400, "INVALID_INPUT"]);
    expect(await code(admin, "GET", "/api/v1/adoption?since=yesterday")).toEqual([400, "INVALID_INPUT"]);
    expect(await code(admin, "GET", "/api/v1/adoption?perUser=yes")).toEqual([400, "INVALID_INPUT"]);
    for (const body of [{}, { score: 0 }, { score: 6 }, { score: 3.5 }, { score: "5" }, { score: 5, comment: "x".repeat(2001) }, { score: 5, context: "Not A Slug" }, { score: 5, extra: 1 }]) {
      expect(await code(people.eve, "POST", "/api/v1/feedback", body), JSON.stringify(body).slice(0, 80)).toEqual([400, "INVALID_INPUT"]);
    }
    expect(await code(people.eve, "POST", "/api/v1/feedback", { score: 5, team: "fraud" })).toEqual([400, "INVALID_INPUT"]);
    expect(await code(undefined, "POST", "/api/v1/feedback", { score: 5 })).toEqual([401, "UNAUTHENTICATED"]);
    // A service account is no person.
    await ok(admin, "POST", "/api/v1/teams/risk/service-accounts", { name: "ci-risk", role: "developer" });
    const ci = (await ok(admin, "POST", "/api/v1/teams/risk/service-accounts/ci-risk/tokens", { name: "ci" })).token;
    expect(await code({ authorization: `Bearer ${ci}` }, "POST", "/api/v1/feedback", { score: 5 })).toEqual([403, "FORBIDDEN"]);
    // At most 20 a day per person.
    now = at(40);
    for (let i = 0; i < 20; i++) await ok(people.dee, "POST", "/api/v1/feedback", { score: 3 });
    expect(await code(people.dee, "POST", "/api/v1/feedback", { score: 3 })).toEqual([429, "QUOTA_EXCEEDED"]);
    now = at(41, 1);
    await ok(people.dee, "POST", "/api/v1/feedback", { score: 3 });
  });

  it("exports aggregates to Prometheus, labelled by team or stage at most", async () => {
    now = UNTIL;
    const registry = new Registry();
    registerAdoptionGauges(registry, createAdoptionModule({ database: app.database, clock, ids: randomIds }).service, { clock });
    const text = await registry.metrics();
    expect(text).toContain("paved_adoption_active_users_28d 5\n");
    expect(text).toContain('paved_adoption_team_runs_28d{team="fraud"} 6\n');
    expect(text).toContain('paved_adoption_funnel_users_28d{stage="production"} 1\n');
    expect(text).toContain("paved_adoption_change_failure_ratio 0.5\n");
    expect(text).toContain(`paved_adoption_lead_time_p50_seconds ${74.5 * 3600}\n`);
    expect(text).toContain(`paved_adoption_time_to_restore_p50_seconds ${50 * 3600}\n`);
    const labels = [...text.matchAll(/\{([^}]*)\}/g)].map((m) => m[1]!.replace(/="[^"]*"/g, ""));
    expect(new Set(labels)).toEqual(new Set(["team", "stage"]));
    for (const name of ["ada", "bo", "cy", "dee", "eve"]) expect(text).not.toContain(`"${name}"`);
  });
});
