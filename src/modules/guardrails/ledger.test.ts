import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isPlatformError } from "../../core/index.ts";
import type { Database } from "../../storage/index.ts";
import { openTestDatabase, testDialects } from "../../../test/support/databases.ts";
import { Ledger, monthStart } from "./ledger.ts";
import type { QuotaLine } from "./quotas-schema.ts";

const HOUR = 3_600_000;
/** 2026-03-10T12:00:00Z: GPU-hours count from 2026-03-01T00:00:00Z. */
const NOW = Date.UTC(2026, 2, 10, 12);
const MONTH = Date.UTC(2026, 2, 1);

async function code(promise: Promise<unknown>): Promise<string | undefined> {
  try {
    await promise;
    return undefined;
  } catch (error) {
    if (isPlatformError(error)) return error.code;
    throw error;
  }
}

const line = (lines: QuotaLine[], resource: QuotaLine["resource"], gpuType?: string) => lines.find((l) => l.resource === resource && l.gpuType === gpuType)!;

describe.each(testDialects())("the quota ledger on %s", (dialect) => {
  let database: Database;
  let ledger: Ledger;
  const served = [
    { team: "risk", name: "scorer", version: "3", environment: "production", replicas: 2 },
    { team: "risk", name: "scorer", version: "4", environment: "staging", replicas: 1 },
    { team: "fraud", name: "detector", version: "1", environment: "production", replicas: 4 },
  ];

  beforeAll(async () => {
    database = await openTestDatabase(dialect);
    const db = database.db;
    for (const team of ["risk", "fraud", "idle"]) await db.insertInto("teams").values({ team_id: team, description: null, created_at: 0 }).execute();
    ledger = new Ledger({ db, clock: { now: () => NOW }, defaults: { cpus: 16, storageBytes: null } });
    ledger.useMachine(async () => [
      { index: 0, name: "NVIDIA H100 80GB HBM3" },
      { index: 1, name: "NVIDIA H100 80GB HBM3" },
      { index: 2, name: "NVIDIA A10G" },
    ]);
    ledger.useServing(() => served);
    // Jobs holding resources now, one queued (holds nothing) and one ended.
    const job = (id: string, team: string, phase: string, allocation: object | null, attemptStartedAt: number | null) =>
      db
        .insertInto("jobs")
        .values({
          job_id: id,
          name: `train-${id}`,
          spec: "{}",
          phase,
          priority: 0,
          owner: "ada",
          request: "{}",
          experiment_id: "0",
          run_id: null,
          attempt: 1,
          allocation: allocation ? JSON.stringify(allocation) : null,
          handle: null,
          pending: null,
          pid: null,
          pid_start: null,
          exit_code: null,
          message: null,
          cancel_requested_at: null,
          created_at: 1,
          started_at: attemptStartedAt,
          attempt_started_at: attemptStartedAt,
          finished_at: null,
          updated_at: 1,
          team_id: team,
          preempt_requested_at: null,
          preemption: null,
        })
        .execute();
    await job("a", "risk", "RUNNING", { gpus: [0, 2], cpus: 4, memoryMiB: 8192 }, NOW - 2 * HOUR);
    await job("b", "risk", "STARTING", { gpus: [], cpus: 1.5, memoryMiB: 1024 }, NOW);
    await job("c", "risk", "QUEUED", null, null);
    await job("d", "fraud", "RUNNING", { gpus: [1], cpus: 2, memoryMiB: 2048 }, NOW - HOUR);
    await job("e", "risk", "SUCCEEDED", null, null);
    // Ended attempts: one inside the month, one across its start (only the part after counts), one before it.
    await db
      .insertInto("job_attempts")
      .values([
        { job_id: "e", attempt: 1, team_id: "risk", gpus: 2, cpus: 4, memory_mib: 1024, started_at: MONTH + HOUR, ended_at: MONTH + 4 * HOUR, outcome: "SUCCEEDED" },
        { job_id: "a", attempt: 1, team_id: "risk", gpus: 1, cpus: 4, memory_mib: 1024, started_at: MONTH - 3 * HOUR, ended_at: MONTH + HOUR, outcome: "QUEUED" },
        { job_id: "d", attempt: 1, team_id: "fraud", gpus: 8, cpus: 4, memory_mib: 1024, started_at: MONTH - 10 * HOUR, ended_at: MONTH - HOUR, outcome: "QUEUED" },
      ])
      .execute();
    // Stored files: a run's artifact and a model version of risk, an upload of fraud.
    await db.insertInto("experiments").values({ experiment_id: "7", name: "risk-exp", artifact_location: "x", lifecycle_stage: "active", creation_time: 0, last_update_time: 0, team_id: "risk" }).execute();
    await db
      .insertInto("runs")
      .values({ run_id: "r1", experiment_id: "7", run_name: "r", user_id: "ada", status: "FINISHED", start_time: 0, end_time: 0, lifecycle_stage: "active", artifact_uri: "x", source_commit: null, source_dirty: null, source_entrypoint: null, job_id: null, deleted_time: null })
      .execute();
    await db.insertInto("artifacts").values([
      { run_id: "r1", path: "model.onnx", digest: "d1", size: 3000, created_at: 0 },
      { run_id: "r1", path: "log.txt", digest: "d2", size: 1000, created_at: 0 },
    ]).execute();
    await db.insertInto("registered_models").values({ model_id: "m1", name: "scorer", description: null, user_id: "ada", max_version: 1, creation_time: 0, last_update_time: 0, team_id: "risk" }).execute();
    await db.insertInto("model_version_files").values({ model_id: "m1", version: 1, path: "model.onnx", digest: "d1", size: 3000 }).execute();
    await db.insertInto("evaluation_uploads").values({ team_id: "fraud", digest: "u1", size: 500, user_id: "bob", created_at: 0 }).execute();
  });
  afterAll(async () => database.close());

  it("answers what each team uses, by what: jobs' GPUs (by type), CPUs and memory, GPU-hours this month, serving replicas, stored bytes", async () => {
    await ledger.store.put({ team: "risk", settings: { gpus: 2, gpusByType: { H100: 1 }, gpuHoursPerMonth: 100, servingReplicas: 4, storageBytes: 10_000 }, updatedBy: "admin", updatedAt: NOW });
    const [risk] = await ledger.views(["risk"]);
    expect(risk!.monthStart).toBe(MONTH);
    expect(monthStart(NOW)).toBe(MONTH);
    expect(line(risk!.lines, "gpus")).toMatchObject({ limit: 2, source: "team", used: 2, by: [{ kind: "job", id: "a", name: "train-a", amount: 2 }] });
    // Job a holds GPU 0 (an H100) and GPU 2 (an A10G): one H100.
    expect(line(risk!.lines, "gpus", "H100")).toMatchObject({ limit: 1, source: "team", used: 1, by: [{ id: "a", amount: 1 }] });
    // a: 2 GPUs × 2 h running now + 1 GPU × 1 h of its first attempt after the month began; e: 2 GPUs × 3 h.
    const hours = line(risk!.lines, "gpuHoursPerMonth");
    expect(hours).toMatchObject({ limit: 100, used: 11 });
    expect(hours.by).toEqual([
      { kind: "job", id: "e", name: "train-e", amount: 6 },
      { kind: "job", id: "a", name: "train-a", amount: 5 },
    ]);
    // Not set by the team: the server default (16 CPUs); memory: unlimited.
    expect(line(risk!.lines, "cpus")).toMatchObject({ limit: 16, source: "default", used: 5.5 });
    expect(line(risk!.lines, "memoryMiB")).toMatchObject({ limit: null, source: "none", used: 9216 });
    expect(line(risk!.lines, "servingReplicas")).toMatchObject({ limit: 4, used: 3 });
    expect(line(risk!.lines, "storageBytes")).toMatchObject({
      limit: 10_000,
      used: 7000,
      by: [
        { kind: "storage", id: "runArtifacts", amount: 4000 },
        { kind: "storage", id: "modelVersions", amount: 3000 },
      ],
    });
  });

  it("keeps each team's usage apart, and a team without settings or use has zeros and the defaults", async () => {
    const [fraud, idle] = await ledger.views(["fraud", "idle"]);
    expect(line(fraud!.lines, "gpus")).toMatchObject({ limit: null, used: 1, by: [{ id: "d" }] });
    // The attempt that ended before the month does not count; the running one does (1 GPU × 1 h).
    expect(line(fraud!.lines, "gpuHoursPerMonth").used).toBe(1);
    expect(line(fraud!.lines, "storageBytes")).toMatchObject({ used: 500, by: [{ id: "evaluationUploads", amount: 500 }] });
    expect(line(fraud!.lines, "servingReplicas").used).toBe(4);
    expect(idle!.lines.every((l) => l.used === 0 && l.by.length === 0)).toBe(true);
    expect(line(idle!.lines, "cpus")).toMatchObject({ limit: 16, source: "default" });
    expect(idle!.settings).toEqual({});
  });

  it("refuses serving replicas and stored bytes past the quota with QUOTA_EXCEEDED, and allows up to it", async () => {
    expect(await code(ledger.assertReplicas("risk", 1, "deployment of scorer"))).toBeUndefined();
    expect(await code(ledger.assertReplicas("risk", 2, "deployment of scorer"))).toBe("QUOTA_EXCEEDED");
    expect(ledger.replicaRoom("risk")).toBe(1);
    expect(ledger.replicaRoom("fraud")).toBeUndefined();
    expect(await code(ledger.assertStorage("risk", 3000, "an upload"))).toBeUndefined();
    expect(await code(ledger.assertStorage("risk", 3001, "an upload"))).toBe("QUOTA_EXCEEDED");
    expect(await code(ledger.assertStorage("fraud", 10 ** 12, "an upload"))).toBeUndefined();
  });

  it("replaces a team's settings: null is unlimited over the default, an absent field takes the default again", async () => {
    const set = await ledger.set("idle", { cpus: null, gpus: 1 }, "admin");
    expect(line(set.lines, "cpus")).toMatchObject({ limit: null, source: "none" });
    expect(line(set.lines, "gpus")).toMatchObject({ limit: 1, source: "team" });
    expect(set).toMatchObject({ updatedBy: "admin", updatedAt: NOW, settings: { cpus: null, gpus: 1 } });
    const again = await ledger.set("idle", { gpus: 2 }, "root");
    expect(line(again.lines, "cpus")).toMatchObject({ limit: 16, source: "default" });
    expect(again.updatedBy).toBe("root");
    expect(await code(ledger.set("nope", {}, "admin"))).toBe("NOT_FOUND");
    expect(await code(ledger.view("nope"))).toBe("NOT_FOUND");
  });
});
