import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openTestDatabase, testDialects } from "../../../test/support/databases.ts";
import { createLogger, type Clock } from "../../core/index.ts";
import type { Database } from "../../storage/index.ts";
import { ProfileCatalog } from "../catalog/index.ts";
import { CostStore } from "./costs-store.ts";
import { CostService, ServingMeter, monthBounds, monthOf } from "./costs.ts";

const HOUR = 3_600_000;
const DEC = monthBounds("2026-12");
const NOV = monthBounds("2026-11");

/** A clock the test moves by hand. */
function manualClock(start: number): Clock & { set(t: number): void } {
  let now = start;
  return { now: () => now, set: (t) => void (now = t) };
}

// Prices: a GPU-hour 2 (an H100's 5), a CPU-hour 0.1, a GB of memory an hour 0.01, a GB stored a
// month 0.5, a serving replica-hour 0.2; profile "fixed" costs 9 an hour whatever it holds.
const catalog = new ProfileCatalog(
  [
    { name: "gpu-1", description: "", gpus: 1, gpuType: null, cpus: 2, memoryMiB: 10 * 1024, hourlyCost: 2.3 },
    { name: "fixed", description: "", gpus: 1, gpuType: "H100", cpus: 2, memoryMiB: 10 * 1024, hourlyCost: 9 },
  ],
  { currency: "EUR", gpuHour: 2, gpuHourByType: { H100: 5 }, cpuHour: 0.1, memoryGBHour: 0.01, storageGBMonth: 0.5, replicaHour: 0.2 },
  ["fixed"],
);

describe.each(testDialects())("costs (%s)", (dialect) => {
  let database: Database;
  let store: CostStore;
  const clock = manualClock(DEC.from + 10 * 24 * HOUR);
  let costs: CostService;

  async function job(id: string, o: { team: string; owner?: string; phase: string; request: object; allocation?: object; attemptStartedAt?: number; startedAt?: number; finishedAt?: number }) {
    await database.db
      .insertInto("jobs")
      .values({
        job_id: id,
        name: `name-${id}`,
        spec: "{}",
        phase: o.phase,
        priority: 0,
        owner: o.owner ?? "ada",
        request: JSON.stringify({ profile: null, gpuType: null, gpus: 0, cpus: 0, memoryMiB: 0, ...o.request }),
        experiment_id: "0",
        run_id: null,
        attempt: 1,
        allocation: o.allocation ? JSON.stringify(o.allocation) : null,
        created_at: NOV.from,
        started_at: o.startedAt ?? null,
        attempt_started_at: o.attemptStartedAt ?? null,
        finished_at: o.finishedAt ?? null,
        updated_at: NOV.from,
        team_id: o.team,
      })
      .execute();
  }
  async function attempt(jobId: string, n: number, team: string, held: { gpus: number; cpus: number; memoryMiB: number }, start: number, end: number) {
    await database.db
      .insertInto("job_attempts")
      .values({ job_id: jobId, attempt: n, team_id: team, gpus: held.gpus, cpus: held.cpus, memory_mib: held.memoryMiB, started_at: start, ended_at: end, outcome: "SUCCEEDED" })
      .execute();
  }

  beforeAll(async () => {
    database = await openTestDatabase(dialect);
    store = new CostStore(database.db);
    costs = new CostService({ store, pricing: catalog, clock });
    // risk: a job of two attempts, the first starting in November (only its December part counts).
    await job("job-two", { team: "risk", phase: "SUCCEEDED", request: { gpus: 1, cpus: 2, memoryMiB: 10 * 1024 }, startedAt: DEC.from - HOUR, finishedAt: DEC.from + 5 * HOUR });
    await attempt("job-two", 1, "risk", { gpus: 1, cpus: 2, memoryMiB: 10 * 1024 }, DEC.from - HOUR, DEC.from + HOUR);
    await attempt("job-two", 2, "risk", { gpus: 1, cpus: 2, memoryMiB: 10 * 1024 }, DEC.from + 3 * HOUR, DEC.from + 5 * HOUR);
    // risk: a job on the fixed-price profile, running for 2 hours now.
    await job("job-fixed", { team: "risk", owner: "bob", phase: "RUNNING", request: { profile: "fixed", gpus: 1, gpuType: "H100", cpus: 2, memoryMiB: 10240 }, allocation: { gpus: [0], cpus: 2, memoryMiB: 10240 }, attemptStartedAt: clock.now() - 2 * HOUR, startedAt: clock.now() - 2 * HOUR });
    // risk: raw H100s for an hour.
    await job("job-h100", { team: "risk", phase: "FAILED", request: { gpus: 2, gpuType: "H100" }, startedAt: DEC.from + 6 * HOUR, finishedAt: DEC.from + 7 * HOUR });
    await attempt("job-h100", 1, "risk", { gpus: 2, cpus: 0, memoryMiB: 0 }, DEC.from + 6 * HOUR, DEC.from + 7 * HOUR);
    // fraud: a job from before attempts were kept: first start to end, at what it asked for.
    await job("job-legacy", { team: "fraud", owner: "cy", phase: "SUCCEEDED", request: { cpus: 4 }, startedAt: DEC.from + HOUR, finishedAt: DEC.from + 11 * HOUR });
    // fraud: a queued job that never ran, and a November job: nothing this month.
    await job("job-queued", { team: "fraud", phase: "QUEUED", request: { gpus: 8 } });
    await job("job-old", { team: "fraud", phase: "SUCCEEDED", request: { cpus: 1 }, startedAt: NOV.from, finishedAt: NOV.from + HOUR });
    await attempt("job-old", 1, "fraud", { gpus: 0, cpus: 1, memoryMiB: 0 }, NOV.from, NOV.from + HOUR);
    // Serving: risk's churn in production, 10 replica-hours and 4,000 requests.
    await database.db
      .insertInto("deployments")
      .values({ id: "deploy-1", model_name: "churn", environment: "production", spec: "{}", status: "{}", phase: "Succeeded", paused: 0, requested: null, created_by: "dana", created_at: DEC.from, updated_at: DEC.from, team_id: "risk" })
      .execute();
    await store.addServingUsage({ month: "2026-12", team: "risk", model: "churn", environment: "production", deploymentId: "deploy-1", replicaMs: 6 * HOUR, requests: 1000, now: clock.now() });
    await store.addServingUsage({ month: "2026-12", team: "risk", model: "churn", environment: "production", deploymentId: "deploy-1", replicaMs: 4 * HOUR, requests: 3000, now: clock.now() });
    await store.addServingUsage({ month: "2026-11", team: "risk", model: "churn", environment: "production", deploymentId: "deploy-1", replicaMs: 99 * HOUR, requests: 1, now: NOV.from });
    // Storage: 2 GB of run artifacts stored for fraud on the 1st, held the first 10 days of December.
    await database.db.insertInto("experiments").values({ experiment_id: "e1", name: "fraud-exp", artifact_location: "x", lifecycle_stage: "active", creation_time: 0, last_update_time: 0, team_id: "fraud" }).execute();
    await database.db
      .insertInto("runs")
      .values({ run_id: "r1", experiment_id: "e1", run_name: "r", user_id: "cy", status: "FINISHED", start_time: 0, end_time: null, lifecycle_stage: "active", artifact_uri: "x", source_commit: null, source_dirty: null, source_entrypoint: null, job_id: null, deleted_time: null })
      .execute();
    await database.db.insertInto("artifacts").values({ run_id: "r1", path: "model.bin", digest: "d1", size: 2 * 1024 ** 3, created_at: NOV.from }).execute();
    // …and 1 GB uploaded for evaluation by risk half-way through the ten days.
    await database.db.insertInto("evaluation_uploads").values({ digest: "d2", size: 1024 ** 3, user_id: "dana", created_at: DEC.from + 5 * 24 * HOUR, team_id: "risk" }).execute();
  });
  afterAll(async () => database?.close());

  it("prices each attempt's time in the month at its resources, running ones until now, and ended ones from before attempts were kept", async () => {
    const report = await costs.report({ month: "2026-12", by: "job", limit: 100 }, undefined, new Map());
    const items = Object.fromEntries(report.items!.map((i) => [i.id, i]));
    // job-two: 1 h (Dec part of attempt 1) + 2 h (attempt 2) at 2 + 0.2 + 0.1 = 2.3 an hour.
    expect(items["job-two"]).toMatchObject({ team: "risk", user: "ada", cost: 6.9, gpuHours: 3, cpuHours: 6, memoryGBHours: 30, hourlyCost: 2.3 });
    // job-fixed: its profile's own price, 9 an hour, for the 2 hours it has run.
    expect(items["job-fixed"]).toMatchObject({ user: "bob", cost: 18, hourlyCost: 9, gpuHours: 2 });
    // job-h100: 2 H100s an hour at 5.
    expect(items["job-h100"]).toMatchObject({ cost: 10, gpuHours: 2 });
    // job-legacy: 10 h of the 4 CPUs it asked for.
    expect(items["job-legacy"]).toMatchObject({ team: "fraud", cost: 4, cpuHours: 40 });
    expect(items["job-queued"]).toBeUndefined();
    expect(items["job-old"]).toBeUndefined();
    expect(report.items!.map((i) => i.id)).toEqual(["job-fixed", "job-h100", "job-two", "job-legacy"]);
    expect(report).toMatchObject({ month: "2026-12", currency: "EUR", from: DEC.from, to: clock.now() });
  });

  it("prices deployments by replica-hours, with the cost of 1,000 predictions, and storage by GB-months", async () => {
    const byDeployment = await costs.report({ month: "2026-12", by: "deployment", limit: 100 }, undefined, new Map());
    expect(byDeployment.items).toEqual([
      { kind: "deployment", id: "deploy-1", name: "churn/production", team: "risk", user: "dana", cost: 2, replicaHours: 10, requests: 4000, costPer1000Predictions: 0.5 },
    ]);
    const report = await costs.report({ month: "2026-12", by: "team", limit: 100 }, undefined, new Map([["fraud", 10]]));
    const monthDays = 31;
    // fraud: 2 GB for 10 days; risk: 1 GB for 5 days; at 0.5 a GB-month.
    const fraudStorage = (2 * 10 * 0.5) / monthDays;
    const riskStorage = (1 * 5 * 0.5) / monthDays;
    expect(report.items).toBeUndefined();
    const [risk, fraud] = report.teams;
    expect(risk).toMatchObject({ team: "risk", jobs: 34.9, deployments: 2, budget: null });
    expect(risk!.storage).toBeCloseTo(riskStorage, 6);
    expect(fraud).toMatchObject({ team: "fraud", jobs: 4 });
    expect(fraud!.storage).toBeCloseTo(fraudStorage, 6);
    expect(fraud!.budget!.amount).toBe(10);
    expect(fraud!.budget!.percent).toBeCloseTo(((4 + fraudStorage) / 10) * 100, 1);
    expect(report.total).toBeCloseTo(34.9 + 2 + 4 + fraudStorage + riskStorage, 5);

    const byUser = await costs.report({ month: "2026-12", by: "user", limit: 100 }, ["risk"], new Map());
    expect(byUser.teams.map((t) => t.team)).toEqual(["risk"]);
    const users = Object.fromEntries(byUser.items!.map((i) => [i.id, i]));
    expect(users.ada).toMatchObject({ jobs: 16.9, deployments: 0 });
    expect(users.bob).toMatchObject({ jobs: 18 });
    expect(users.dana).toMatchObject({ jobs: 0, deployments: 2 });
    expect(users.dana!.storage).toBeCloseTo(riskStorage, 6);
  });

  it("figures a team's spend for its budget, a past month to its end, and refuses a month to come", async () => {
    const risk = await costs.teamSpend("risk", "2026-12");
    expect(risk.jobs).toBe(34.9);
    expect(risk.deployments).toBe(2);
    const november = await costs.report({ month: "2026-11", by: "job", limit: 1 }, undefined, new Map());
    expect(november.to).toBe(NOV.to);
    // job-two's November hour (2.3) and job-old's (0.1); one item listed, the other counted in more.
    expect(november.items).toHaveLength(1);
    expect(november.items![0]).toMatchObject({ id: "job-two", cost: 2.3 });
    expect(november.more).toBe(1);
    expect(november.teams.find((t) => t.team === "risk")!.deployments).toBeCloseTo(99 * 0.2, 6);
    await expect(costs.report({ month: "2027-01", by: "team", limit: 10 }, undefined, new Map())).rejects.toMatchObject({ code: "INVALID_INPUT" });
    expect((await costs.report({ month: "2026-12", by: "team", limit: 10 }, [], new Map())).teams).toEqual([]);
  });

  it("meters serving: replica time since the last tick (or the load), and requests by their counter, restarted counters included", async () => {
    const meterClock = manualClock(DEC.from + 20 * 24 * HOUR);
    const meter = new ServingMeter({ store, clock: meterClock, logger: createLogger("silent") });
    const loadedAt = meterClock.now() - HOUR;
    const sample = (replicas: number, requests: number, version = "1") => ({ team: "fraud", model: "score", version, environment: "staging", replicas, loadedAt, requests });
    // Loaded an hour before the meter started: the meter counts from its own start.
    meterClock.set(meterClock.now() + HOUR);
    await meter.record([sample(2, 100)]);
    meterClock.set(meterClock.now() + HOUR);
    await meter.record([sample(3, 150), { ...sample(1, 10, "2"), loadedAt: meterClock.now() - HOUR / 2 }]);
    // Version 1's counter restarted (unloaded and loaded again): its 20 are new requests.
    meterClock.set(meterClock.now() + HOUR);
    await meter.record([sample(1, 20)]);
    const usage = (await store.servingUsage("2026-12", ["fraud"]))[0]!;
    expect(usage).toMatchObject({ team: "fraud", model: "score", environment: "staging", deploymentId: "", createdBy: "" });
    // 2 replicas × 1 h + (3 × 1 h + 1 × 0.5 h) + 1 × 1 h.
    expect(usage.replicaMs).toBe(6.5 * HOUR);
    expect(usage.requests).toBe(100 + 50 + 10 + 20);
    expect(monthOf(meterClock.now())).toBe("2026-12");
  });
});
