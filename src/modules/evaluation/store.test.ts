import { afterEach, describe, expect, it } from "vitest";
import { openTestDatabase, testDialects } from "../../../test/support/databases.ts";
import type { Database } from "../../storage/index.ts";
import { EvaluationStore, type EvaluationRow } from "./store.ts";

describe.each(testDialects())("EvaluationStore on %s", (dialect) => {
  let database: Database | undefined;
  afterEach(async () => database?.close());

  const row = (id: string, version: number, passed: number, finishedAt: number): EvaluationRow => ({
    id,
    model_id: "model-1",
    model_name: "churn",
    version,
    policy_version: "p1",
    data_path: "/data/eval.csv",
    data_digest: "sha256:00",
    reference_path: null,
    passed,
    checks: "[]",
    user_id: "ada",
    started_at: finishedAt - 10,
    finished_at: finishedAt,
    phase: passed ? "Passed" : "Failed",
    request: null,
    message: null,
    created_at: finishedAt - 20,
    team_id: "default",
  });

  it("stores evaluations, lists them newest first and gives the gate the one that finished last, failing or not", async () => {
    database = await openTestDatabase(dialect);
    const store = new EvaluationStore(database);
    await store.insertEvaluation(row("e1", 1, 0, 1_000));
    await store.insertEvaluation(row("e2", 1, 1, 2_000));
    await store.insertEvaluation(row("e3", 1, 0, 3_000));
    await store.insertEvaluation(row("e4", 2, 0, 4_000));
    expect((await store.listEvaluations({ modelId: "model-1", limit: 10 })).map((e) => e.id)).toEqual(["e4", "e3", "e2", "e1"]);
    expect((await store.listEvaluations({ modelId: "model-1", version: 1, limit: 2 })).map((e) => e.id)).toEqual(["e3", "e2"]);
    // A page after a position (e3's creation time and id) holds only the older ones.
    expect((await store.listEvaluations({ modelId: "model-1", before: { createdAt: 2_980, id: "e3" }, limit: 10 })).map((e) => e.id)).toEqual(["e2", "e1"]);
    await store.insertEvaluation({ ...row("e5", 1, 1, 5_000), model_id: "model-2", team_id: "risk" });
    // A page holds only the teams asked for, cut after the filter: the newest 2 of "default" are e4, e3.
    expect((await store.listEvaluations({ teams: ["default"], limit: 2 })).map((e) => e.id)).toEqual(["e4", "e3"]);
    expect((await store.listEvaluations({ teams: ["risk"], limit: 10 })).map((e) => e.id)).toEqual(["e5"]);
    expect(await store.listEvaluations({ teams: [], limit: 10 })).toEqual([]);
    expect((await store.listEvaluations({ limit: 1 })).map((e) => e.id)).toEqual(["e5"]);
    // e2 passed, but e3 failed after it: the latest verdict decides.
    expect((await store.latestEvaluation("model-1", 1, "p1"))?.id).toBe("e3");
    expect((await store.latestEvaluation("model-1", 2, "p1"))?.passed).toBe(0);
    expect(await store.latestEvaluation("model-1", 1, "p2")).toBeUndefined();
    expect((await store.getEvaluation("e1"))?.finished_at).toBe(1_000);
  });

  it("hands the runner the oldest unfinished evaluation and lets only finished ones count for the gate", async () => {
    database = await openTestDatabase(dialect);
    const store = new EvaluationStore(database);
    const pending = (id: string, createdAt: number): EvaluationRow => ({ ...row(id, 1, 0, 0), phase: "Pending", data_digest: "", request: "{}", created_at: createdAt, started_at: createdAt });
    await store.insertEvaluation(pending("p2", 200));
    await store.insertEvaluation(pending("p1", 100));
    expect((await store.nextToRun())?.id).toBe("p1");
    await store.markRunning("p1", 150);
    // A Running evaluation is still to run: after a crash it is taken up again.
    expect(await store.nextToRun()).toMatchObject({ id: "p1", phase: "Running", started_at: 150 });
    expect(await store.latestEvaluation("model-1", 1, "p1")).toBeUndefined();
    expect((await store.unfinishedEvaluation("model-1", 1, "p1"))?.id).toBe("p2");
    await store.finish("p1", { phase: "Passed", passed: 1, checks: "[]", data_digest: "sha256:11", message: null, finished_at: 300 });
    await store.finish("p2", { phase: "Error", passed: 0, checks: "[]", data_digest: "", message: "broken CSV", finished_at: 400 });
    expect(await store.nextToRun()).toBeUndefined();
    expect((await store.latestEvaluation("model-1", 1, "p1"))?.id).toBe("p1");
    expect(await store.getEvaluation("p2")).toMatchObject({ phase: "Error", message: "broken CSV", finished_at: 400 });
    expect((await store.listEvaluations({ modelId: "model-1", policyVersion: "p1", limit: 10 })).map((e) => e.id)).toEqual(["p2", "p1"]);
  });

  it("replaces a model's policy, keeps every change, and records overrides and uploads", async () => {
    database = await openTestDatabase(dialect);
    const store = new EvaluationStore(database);
    const change = (id: string, version: string, previous: string | null, user: string, at: number) => ({
      id,
      model_id: "model-1",
      model_name: "churn",
      policy: "{}",
      policy_version: version,
      previous_policy: previous ? "{}" : null,
      previous_version: previous,
      previous_source: previous ? "model" : null,
      user_id: user,
      created_at: at,
    });
    await store.putPolicy({ model_id: "model-1", policy: "{}", policy_version: "p1", updated_by: "ada", updated_at: 1 }, change("c1", "p1", null, "ada", 1));
    await store.putPolicy({ model_id: "model-1", policy: "{\"checks\":[]}", policy_version: "p2", updated_by: "bob", updated_at: 2 }, change("c2", "p2", "p1", "bob", 2));
    expect(await store.getPolicy("model-1")).toMatchObject({ policy_version: "p2", updated_by: "bob", updated_at: 2 });
    expect((await store.listPolicyChanges("model-1", 10)).map((c) => [c.id, c.previous_version, c.user_id])).toEqual([["c2", "p1", "bob"], ["c1", null, "ada"]]);
    // A change that cannot be recorded is not made either.
    await expect(store.putPolicy({ model_id: "model-1", policy: "{}", policy_version: "p3", updated_by: "eve", updated_at: 3 }, change("c2", "p3", "p2", "eve", 3))).rejects.toThrow();
    expect((await store.getPolicy("model-1"))?.policy_version).toBe("p2");
    await store.putUpload({ team_id: "risk", digest: "ab", size: 3, user_id: "ada", created_at: 1 });
    await store.putUpload({ team_id: "risk", digest: "ab", size: 3, user_id: "bob", created_at: 2 });
    expect(await store.getUpload("risk", "ab")).toMatchObject({ size: 3, user_id: "ada" });
    // An upload belongs to its team: the same bytes are not another team's upload until it sends them.
    expect(await store.getUpload("growth", "ab")).toBeUndefined();
    await store.putUpload({ team_id: "growth", digest: "ab", size: 3, user_id: "cy", created_at: 3 });
    expect(await store.getUpload("growth", "ab")).toMatchObject({ user_id: "cy" });
    await store.insertOverride({ id: "o1", model_id: "model-1", model_name: "churn", version: 3, alias: "production", policy_version: "p2", user_id: "admin", reason: "hotfix", created_at: 5 });
    expect(await store.listOverrides("model-1")).toEqual([expect.objectContaining({ id: "o1", reason: "hotfix", created_at: 5 })]);
  });
});
