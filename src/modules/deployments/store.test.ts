import { afterEach, describe, expect, it } from "vitest";
import { openTestDatabase, testDialects } from "../../../test/support/databases.ts";
import type { Database } from "../../storage/index.ts";
import { DeploymentStore, type DeploymentRow } from "./store.ts";

describe.each(testDialects())("DeploymentStore on %s", (dialect) => {
  let database: Database | undefined;
  afterEach(async () => database?.close());

  const row = (id: string, model: string, createdAt: number, environment = "production", team = "default"): DeploymentRow => ({
    id,
    model_name: model,
    environment,
    spec: "{}",
    status: "{}",
    phase: "Progressing",
    paused: 0,
    requested: null,
    created_by: "ada",
    created_at: createdAt,
    updated_at: createdAt,
    team_id: team,
  });

  it("lists newest first, keeps user intents apart from the controller's status", async () => {
    database = await openTestDatabase(dialect);
    const store = new DeploymentStore(database);
    await store.insert(row("d1", "churn", 1_000));
    await store.insert(row("d2", "churn", 2_000));
    await store.insert(row("d3", "fraud", 3_000));
    expect((await store.list()).map((d) => d.id)).toEqual(["d3", "d2", "d1"]);
    expect((await store.list({ model: "churn" })).map((d) => d.id)).toEqual(["d2", "d1"]);
    await store.insert(row("d4", "vision", 4_000, "production", "vision"));
    // Only the teams asked for, and the page is cut after the filter.
    expect((await store.list({ teams: ["default"] }, { limit: 2 })).map((d) => d.id)).toEqual(["d3", "d2"]);
    expect((await store.list({ teams: ["vision"] })).map((d) => d.id)).toEqual(["d4"]);
    expect(await store.list({ teams: [] })).toEqual([]);

    await store.setPaused("d2", true, 2_100);
    await store.request("d2", "rollback", 2_200);
    await store.saveStatus("d2", "{\"phase\":\"Paused\"}", "Paused", 2_300);
    expect(await store.get("d2")).toMatchObject({ paused: 1, requested: "rollback", phase: "Paused", status: "{\"phase\":\"Paused\"}", updated_at: 2_300 });
    await store.clearRequest("d2", "promote");
    expect((await store.get("d2"))?.requested).toBe("rollback");
    await store.clearRequest("d2", "rollback");
    expect((await store.get("d2"))?.requested).toBeNull();
    expect(await store.get("nope")).toBeUndefined();
  });

  it("finds the newest deployment of each (model, environment), ties broken by id as list() orders them", async () => {
    database = await openTestDatabase(dialect);
    const store = new DeploymentStore(database);
    await store.insert(row("d1", "churn", 1_000));
    await store.insert(row("d2", "churn", 2_000, "staging"));
    await store.insert(row("d3", "churn", 1_500));
    await store.insert(row("d4", "fraud", 1_000, "staging"));
    await store.insert(row("d5", "fraud", 1_000, "staging"));
    expect((await store.current()).map((d) => d.id)).toEqual(["d2", "d3", "d5"]);
    expect((await store.list({ model: "churn", environment: "production" })).map((d) => d.id)).toEqual(["d3", "d1"]);
    expect((await store.list({ environment: "staging" })).map((d) => d.id)).toEqual(["d2", "d5", "d4"]);
    // Pages: newest first, the next one after the previous page's last row (ties on created_at by id).
    expect((await store.list({}, { limit: 2 })).map((d) => d.id)).toEqual(["d2", "d3"]);
    expect((await store.list({}, { limit: 2, before: { createdAt: 1_500, id: "d3" } })).map((d) => d.id)).toEqual(["d5", "d4"]);
    expect((await store.list({}, { limit: 2, before: { createdAt: 1_000, id: "d4" } })).map((d) => d.id)).toEqual(["d1"]);
    expect((await store.active("churn", "production"))?.id).toBe("d3");
    await store.saveStatus("d3", "{}", "Succeeded", 3_000);
    expect((await store.active("churn", "production"))?.id).toBe("d1");
    expect(await store.active("churn", "dev")).toBeUndefined();
  });

  it("records a forced promotion together with the request the controller carries out", async () => {
    database = await openTestDatabase(dialect);
    const store = new DeploymentStore(database);
    await store.insert(row("d1", "churn", 1_000));
    const override = { id: "o1", deployment_id: "d1", model_name: "churn", environment: "production", version: "3", action: "promote", verdict: "failing", verdict_reason: "canary error rate 100.0%", user_id: "ada", reason: "hotfix", created_at: 1_100 };
    await store.requestOverride(override, 1_100);
    await store.requestOverride({ ...override, id: "o2", created_at: 1_200 }, 1_200);
    expect((await store.get("d1"))?.requested).toBe("force-promote");
    expect((await store.overrides(["d1", "other"])).map((o) => o.id)).toEqual(["o2", "o1"]);
    expect(await store.overrides([])).toEqual([]);
  });

  it("stores outcomes once per id and sums them per version", async () => {
    database = await openTestDatabase(dialect);
    const store = new DeploymentStore(database);
    const outcome = (version: string, value: number, id: string | null) => ({ deployment_id: "d1", version, route_key: `k-${id}`, value, outcome_id: id, created_at: 1 });
    expect(await store.addOutcomes([outcome("1", 1, "a"), outcome("1", 0, "b"), outcome("2", 3, null), outcome("2", 5, null)])).toBe(4);
    // A retry: "a" again is skipped, outcomes without an id always count.
    expect(await store.addOutcomes([outcome("1", 1, "a"), outcome("2", 3, null)])).toBe(1);
    const moments = await store.outcomeMoments("d1");
    expect(moments.get("1")).toEqual({ n: 2, sum: 1, sumSq: 1 });
    expect(moments.get("2")).toEqual({ n: 3, sum: 11, sumSq: 43 });
    expect((await store.outcomeMoments("other")).size).toBe(0);
  });
});
