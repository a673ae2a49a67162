import type { Selectable } from "kysely";
import type { Database, Tables } from "../../storage/index.ts";

export type EvaluationRow = Selectable<Tables["evaluations"]>;
export type GatePolicyRow = Selectable<Tables["gate_policies"]>;
export type OverrideRow = Selectable<Tables["evaluation_overrides"]>;

/** Gate policies, evaluations and gate overrides. */
export class EvaluationStore {
  constructor(private readonly database: Database) {}

  private get db() {
    return this.database.db;
  }

  getPolicy(modelId: string): Promise<GatePolicyRow | undefined> {
    return this.db.selectFrom("gate_policies").selectAll().where("model_id", "=", modelId).executeTakeFirst();
  }

  async putPolicy(row: GatePolicyRow): Promise<void> {
    const { model_id: _, ...patch } = row;
    await this.db
      .insertInto("gate_policies")
      .values(row)
      .onConflict((oc) => oc.column("model_id").doUpdateSet(patch))
      .execute();
  }

  async insertEvaluation(row: EvaluationRow): Promise<void> {
    await this.db.insertInto("evaluations").values(row).execute();
  }

  getEvaluation(id: string): Promise<EvaluationRow | undefined> {
    return this.db.selectFrom("evaluations").selectAll().where("id", "=", id).executeTakeFirst();
  }

  /** Newest first. */
  listEvaluations(filter: { modelId?: string | undefined; version?: number | undefined; limit: number }): Promise<EvaluationRow[]> {
    let query = this.db.selectFrom("evaluations").selectAll();
    if (filter.modelId !== undefined) query = query.where("model_id", "=", filter.modelId);
    if (filter.version !== undefined) query = query.where("version", "=", filter.version);
    return query.orderBy("finished_at", "desc").orderBy("id", "desc").limit(filter.limit).execute();
  }

  /** The newest evaluation of a version under a policy version, passing ones first. */
  async latestEvaluation(modelId: string, version: number, policyVersion: string): Promise<EvaluationRow | undefined> {
    return this.db
      .selectFrom("evaluations")
      .selectAll()
      .where("model_id", "=", modelId)
      .where("version", "=", version)
      .where("policy_version", "=", policyVersion)
      .orderBy("passed", "desc")
      .orderBy("finished_at", "desc")
      .executeTakeFirst();
  }

  async insertOverride(row: OverrideRow): Promise<void> {
    await this.db.insertInto("evaluation_overrides").values(row).execute();
  }

  listOverrides(modelId: string): Promise<OverrideRow[]> {
    return this.db.selectFrom("evaluation_overrides").selectAll().where("model_id", "=", modelId).orderBy("created_at", "desc").execute();
  }
}
