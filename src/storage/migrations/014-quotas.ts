import type { Kysely, Migration } from "kysely";

/**
 * Quotas and preemption (issue 8, items 4 and 7). `team_quotas` holds each team's limits (JSON:
 * a field that is absent takes `guardrails.defaultQuota`, null means unlimited). `job_attempts`
 * keeps every ended attempt's GPUs and times, so GPU-hours per month are summed from the
 * database rather than from memory. Jobs learn to be preempted: the request (when, by which job,
 * why) is saved before the signal is sent, so a restarted server still requeues the victim, and
 * `preemptions` counts the attempts that do not spend the retry budget.
 */
export function quotasMigration(): Migration {
  return {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable("team_quotas")
        .addColumn("team_id", "text", (c) => c.primaryKey())
        .addColumn("limits", "text", (c) => c.notNull())
        .addColumn("updated_by", "text", (c) => c.notNull())
        .addColumn("updated_at", "bigint", (c) => c.notNull())
        .execute();
      await db.schema
        .createTable("job_attempts")
        .addColumn("job_id", "text", (c) => c.notNull())
        .addColumn("attempt", "integer", (c) => c.notNull())
        .addColumn("team_id", "text", (c) => c.notNull())
        .addColumn("gpus", "integer", (c) => c.notNull())
        .addColumn("cpus", "real", (c) => c.notNull())
        .addColumn("memory_mib", "integer", (c) => c.notNull())
        .addColumn("started_at", "bigint", (c) => c.notNull())
        .addColumn("ended_at", "bigint", (c) => c.notNull())
        // How the attempt ended: the job's next phase (QUEUED for a retry or a preemption), or Preempted.
        .addColumn("outcome", "text", (c) => c.notNull())
        .addPrimaryKeyConstraint("job_attempts_pk", ["job_id", "attempt"])
        .execute();
      await db.schema.createIndex("job_attempts_team_ended").on("job_attempts").columns(["team_id", "ended_at"]).execute();
      await db.schema.alterTable("jobs").addColumn("preemptions", "integer", (c) => c.notNull().defaultTo(0)).execute();
      await db.schema.alterTable("jobs").addColumn("preempt_requested_at", "bigint").execute();
      await db.schema.alterTable("jobs").addColumn("preemption", "text").execute();
    },
  };
}
