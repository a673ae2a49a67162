import { sql, type Kysely, type Migration } from "kysely";

/**
 * Evaluations become resources a runner reconciles: `phase` (Pending, Running, Passed, Failed,
 * Error), `request` (what to run, as JSON: label, sensitive columns and the policy it was asked
 * under, so a restart re-runs it exactly), `message` (why an Error), `created_at` (when asked).
 * Existing rows are finished evaluations: Passed or Failed by their `passed`, created when started.
 * Until an evaluation finishes its `finished_at` holds 0 and `passed` 0.
 */
export function evaluationPhasesMigration(): Migration {
  return {
    async up(db: Kysely<unknown>) {
      // One column per statement: SQLite adds a single column per ALTER TABLE.
      await db.schema.alterTable("evaluations").addColumn("phase", "text", (c) => c.notNull().defaultTo("Passed")).execute();
      await db.schema.alterTable("evaluations").addColumn("request", "text").execute();
      await db.schema.alterTable("evaluations").addColumn("message", "text").execute();
      await db.schema.alterTable("evaluations").addColumn("created_at", "bigint", (c) => c.notNull().defaultTo(0)).execute();
      await sql`update evaluations set phase = 'Failed' where passed = 0`.execute(db);
      await sql`update evaluations set created_at = started_at`.execute(db);
      await db.schema.createIndex("evaluations_phase").on("evaluations").columns(["phase", "created_at"]).execute();
    },
  };
}
