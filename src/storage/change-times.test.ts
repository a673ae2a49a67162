// The live change feed polls each topic's change time once a second (src/modules/events/sources.ts):
// on SQLite's planner, each such poll reads its index (030-change-times), never the whole table.
import { sql } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openTestDatabase } from "../../test/support/databases.ts";
import type { Database } from "./index.ts";

describe("the change times the live feed polls", () => {
  let database: Database;
  beforeAll(async () => {
    database = await openTestDatabase("sqlite");
  });
  afterAll(async () => database?.close());

  const plan = async (query: string) => (await sql.raw<{ detail: string }>(`explain query plan ${query}`).execute(database.db)).rows.map((r) => r.detail).join("; ");

  it.each([
    ["jobs", "select job_id from jobs where updated_at > 0 order by updated_at limit 500", "jobs_updated_at"],
    ["deployments", "select id from deployments where updated_at > 0 order by updated_at limit 500", "deployments_updated_at"],
    ["workspaces", "select workspace_id from workspaces where updated_at > 0 order by updated_at limit 500", "workspaces_updated_at"],
    ["pipeline steps", "select run_id from pipeline_steps where updated_at > 0 order by updated_at limit 500", "pipeline_steps_updated_at"],
    ["model versions", "select version from model_versions where last_update_time > 0 order by last_update_time limit 500", "model_versions_last_update"],
    ["evaluations finished", "select id from evaluations where finished_at > 0 order by finished_at limit 500", "evaluations_finished_at"],
  ])("%s: by its index", async (_what, query, index) => {
    const detail = await plan(query);
    expect(detail).toContain(index);
    expect(detail).not.toMatch(/^SCAN \w+$/);
  });

  it.each([
    ["start_time", /runs_start_time|runs_experiment|runs_user/],
    ["end_time", /runs_end_time/],
    ["deleted_time", /runs_deleted_time/],
  ])("runs by %s: by an index", async (column, index) => {
    const detail = await plan(`select runs.run_id from runs join experiments on experiments.experiment_id = runs.experiment_id where runs.${column} > 0 order by runs.${column} limit 500`);
    expect(detail).toMatch(index);
  });
});
