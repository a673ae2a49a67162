import { sql, type Kysely, type Migration } from "kysely";

/**
 * Evaluation hardening (issue 7): evaluation data comes only from files the platform stores, so
 * CSVs sent by a client are kept as `evaluation_uploads` (a blob digest in the artifact store, who
 * sent it, when); and every change of a model's gate policy is kept in `gate_policy_changes`
 * (who, when, the policy before and after). Policies stored before this migration get one change
 * row each, with no previous policy (it was not recorded).
 */
export function evaluationHardeningMigration(): Migration {
  return {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable("evaluation_uploads")
        .addColumn("digest", "text", (c) => c.primaryKey())
        .addColumn("size", "bigint", (c) => c.notNull())
        .addColumn("user_id", "text", (c) => c.notNull())
        .addColumn("created_at", "bigint", (c) => c.notNull())
        .execute();
      await db.schema
        .createTable("gate_policy_changes")
        .addColumn("id", "text", (c) => c.primaryKey())
        .addColumn("model_id", "text", (c) => c.notNull())
        .addColumn("model_name", "text", (c) => c.notNull())
        .addColumn("policy", "text", (c) => c.notNull())
        .addColumn("policy_version", "text", (c) => c.notNull())
        .addColumn("previous_policy", "text")
        .addColumn("previous_version", "text")
        .addColumn("previous_source", "text")
        .addColumn("user_id", "text", (c) => c.notNull())
        .addColumn("created_at", "bigint", (c) => c.notNull())
        .execute();
      await db.schema.createIndex("gate_policy_changes_model").on("gate_policy_changes").columns(["model_id", "created_at"]).execute();
      await sql`insert into gate_policy_changes (id, model_id, model_name, policy, policy_version, previous_policy, previous_version, previous_source, user_id, created_at)
        select 'policy-change-' || p.model_id, p.model_id, coalesce(m.name, p.model_id), p.policy, p.policy_version, null, null, null, p.updated_by, p.updated_at
        from gate_policies p left join registered_models m on m.model_id = p.model_id`.execute(db);
    },
  };
}
