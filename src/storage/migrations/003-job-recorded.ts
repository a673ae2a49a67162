import { sql, type Kysely, type Migration } from "kysely";

/**
 * `jobs.recorded_attempt`: the last attempt whose bookkeeping (log and outputs uploaded to the
 * run, run finished) is done. A restart redoes what a crash interrupted. Existing jobs count as
 * recorded.
 */
export function jobRecordedMigration(): Migration {
  return {
    async up(db: Kysely<unknown>) {
      await db.schema
        .alterTable("jobs")
        .addColumn("recorded_attempt", "integer", (c) => c.notNull().defaultTo(0))
        .execute();
      await sql`update jobs set recorded_attempt = attempt`.execute(db);
    },
  };
}
