import type { Selectable } from "kysely";
import { olderThan, type Database, type Tables } from "../../storage/index.ts";
import type { EVALUATION_PHASES } from "./schema.ts";

export type EvaluationRow = Selectable<Tables["evaluations"]>;
export type GatePolicyRow = Selectable<Tables["gate_policies"]>;
export type OverrideRow = Selectable<Tables["evaluation_overrides"]>;
export type PolicyChangeRow = Selectable<Tables["gate_policy_changes"]>;
export type UploadRow = Selectable<Tables["evaluation_uploads"]>;

/** An evaluation's phases: the runner moves Pending → Running → Passed, Failed or Error. */
export type EvaluationPhase = (typeof EVALUATION_PHASES)[number];
/** Phases the runner still has to work on (Running ones left by a crash are run again). */
export const UNFINISHED_PHASES: EvaluationPhase[] = ["Pending", "Running"];
/** Phases with a gate verdict. */
export const JUDGED_PHASES: EvaluationPhase[] = ["Passed", "Failed"];

/** What a finished (or failed-to-run) evaluation records. */
export type EvaluationOutcome = Pick<EvaluationRow, "phase" | "passed" | "checks" | "data_digest" | "message" | "finished_at">;

/** Gate policies, evaluations and gate overrides. */
export class EvaluationStore {
  constructor(private readonly database: Database) {}

  private get db() {
    return this.database.db;
  }

  getPolicy(modelId: string): Promise<GatePolicyRow | undefined> {
    return this.db.selectFrom("gate_policies").selectAll().where("model_id", "=", modelId).executeTakeFirst();
  }

  /** Stores a model's policy and records the change, in one transaction. */
  async putPolicy(row: GatePolicyRow, change: PolicyChangeRow): Promise<void> {
    const { model_id: _, ...patch } = row;
    await this.db.transaction().execute(async (trx) => {
      await trx
        .insertInto("gate_policies")
        .values(row)
        .onConflict((oc) => oc.column("model_id").doUpdateSet(patch))
        .execute();
      await trx.insertInto("gate_policy_changes").values(change).execute();
    });
  }

  /** A model's policy changes, newest first. */
  listPolicyChanges(modelId: string, limit: number): Promise<PolicyChangeRow[]> {
    return this.db.selectFrom("gate_policy_changes").selectAll().where("model_id", "=", modelId).orderBy("created_at", "desc").orderBy("id", "desc").limit(limit).execute();
  }

  /** Records an uploaded CSV in its team; the same bytes uploaded again in that team keep the first record. */
  async putUpload(row: UploadRow): Promise<void> {
    await this.db.insertInto("evaluation_uploads").values(row).onConflict((oc) => oc.columns(["team_id", "digest"]).doNothing()).execute();
  }

  /** An upload of `team`: another team's upload of the same bytes is not one. */
  getUpload(team: string, digest: string): Promise<UploadRow | undefined> {
    return this.db.selectFrom("evaluation_uploads").selectAll().where("team_id", "=", team).where("digest", "=", digest).executeTakeFirst();
  }

  async insertEvaluation(row: EvaluationRow): Promise<void> {
    await this.db.insertInto("evaluations").values(row).execute();
  }

  getEvaluation(id: string): Promise<EvaluationRow | undefined> {
    return this.db.selectFrom("evaluations").selectAll().where("id", "=", id).executeTakeFirst();
  }

  /**
   * Newest first (by when they were asked for, then id); with `teams`, only evaluations of those
   * teams (none for an empty list); with `before`, only those after that position in the order.
   */
  async listEvaluations(filter: {
    modelId?: string | undefined;
    version?: number | undefined;
    policyVersion?: string | undefined;
    teams?: string[] | undefined;
    before?: { createdAt: number; id: string } | undefined;
    limit: number;
  }): Promise<EvaluationRow[]> {
    if (filter.teams?.length === 0) return [];
    let query = this.db.selectFrom("evaluations").selectAll();
    if (filter.teams !== undefined) query = query.where("team_id", "in", filter.teams);
    if (filter.modelId !== undefined) query = query.where("model_id", "=", filter.modelId);
    if (filter.version !== undefined) query = query.where("version", "=", filter.version);
    if (filter.policyVersion !== undefined) query = query.where("policy_version", "=", filter.policyVersion);
    const before = filter.before;
    if (before) query = query.where(olderThan(before, { id: "id" }));
    return query.orderBy("created_at", "desc").orderBy("id", "desc").limit(filter.limit).execute();
  }

  /**
   * What the gate reads: the evaluation of a version under a policy version that finished last
   * with a verdict (Passed or Failed), whatever its verdict; an Error says nothing about the model.
   */
  latestEvaluation(modelId: string, version: number, policyVersion: string): Promise<EvaluationRow | undefined> {
    return this.underPolicy(modelId, version, policyVersion).where("phase", "in", JUDGED_PHASES).orderBy("finished_at", "desc").orderBy("created_at", "desc").orderBy("id", "desc").executeTakeFirst();
  }

  /** The newest Pending or Running evaluation of a version under a policy version. */
  unfinishedEvaluation(modelId: string, version: number, policyVersion: string): Promise<EvaluationRow | undefined> {
    return this.underPolicy(modelId, version, policyVersion).where("phase", "in", UNFINISHED_PHASES).orderBy("created_at", "desc").executeTakeFirst();
  }

  private underPolicy(modelId: string, version: number, policyVersion: string) {
    return this.db.selectFrom("evaluations").selectAll().where("model_id", "=", modelId).where("version", "=", version).where("policy_version", "=", policyVersion);
  }

  /** The oldest evaluation still to run: Pending, or Running when a crash interrupted it. */
  nextToRun(): Promise<EvaluationRow | undefined> {
    return this.db.selectFrom("evaluations").selectAll().where("phase", "in", UNFINISHED_PHASES).orderBy("created_at", "asc").orderBy("id", "asc").executeTakeFirst();
  }

  async markRunning(id: string, startedAt: number): Promise<void> {
    await this.db.updateTable("evaluations").set({ phase: "Running", started_at: startedAt }).where("id", "=", id).execute();
  }

  async finish(id: string, outcome: EvaluationOutcome): Promise<void> {
    await this.db.updateTable("evaluations").set(outcome).where("id", "=", id).execute();
  }

  async insertOverride(row: OverrideRow): Promise<void> {
    await this.db.insertInto("evaluation_overrides").values(row).execute();
  }

  listOverrides(modelId: string): Promise<OverrideRow[]> {
    return this.db.selectFrom("evaluation_overrides").selectAll().where("model_id", "=", modelId).orderBy("created_at", "desc").execute();
  }
}
