import { sql, type Kysely, type Migration } from "kysely";

/**
 * PostgreSQL: the first step of a metric write as one call, `metric_write_begin`. It takes the
 * run's advisory lock (so two batches of one run never append to one open chunk at once), checks
 * the run is active and holds it so (FOR SHARE) when asked, and reads each key's open chunk.
 * Before, these were two statements, two round trips: one statement cannot do both, because its
 * snapshot is taken before the lock is granted and would miss a batch that committed while this
 * one waited. A VOLATILE function takes a new snapshot for each statement it runs, so its read
 * comes after the lock. A batch is now four round trips (begin, this, the upsert, commit).
 * SQLite has no server side: its writer thread does the same in process (metric-store.ts).
 *
 * Answers a first row with the run's stage (null: the run does not exist; 'active' when not
 * asked), then, only when the stage is 'active', one row per key that has chunks: its last
 * chunk's seq and count, with its points when it holds fewer than `chunk_points`.
 */
export function metricWriteBeginMigration(dialect: "sqlite" | "postgres"): Migration {
  return {
    async up(db: Kysely<unknown>) {
      if (dialect !== "postgres") return;
      await sql`create or replace function metric_write_begin(p_lock_space integer, p_run text, p_keys text[], p_active boolean, p_chunk_points integer)
        returns table (key text, seq integer, count integer, points bytea, stage text)
        language plpgsql volatile as $$
        declare
          run_stage text := 'active';
        begin
          perform pg_advisory_xact_lock(p_lock_space, hashtext(p_run));
          if p_active then
            select r.lifecycle_stage into run_stage from runs r where r.run_id = p_run for share;
          end if;
          return query select null::text, null::integer, null::integer, null::bytea, run_stage;
          if run_stage is distinct from 'active' then
            return;
          end if;
          return query
            select k.k, c.seq, c.count, c.points, null::text
            from unnest(p_keys) as k(k)
            cross join lateral (
              select m.seq, m.count, case when m.count < p_chunk_points then m.points end as points
              from metric_chunks m where m.run_id = p_run and m.key = k.k order by m.seq desc limit 1
            ) c;
        end $$`.execute(db);
    },
    async down(db: Kysely<unknown>) {
      if (dialect === "postgres") await sql`drop function if exists metric_write_begin(integer, text, text[], boolean, integer)`.execute(db);
    },
  };
}
