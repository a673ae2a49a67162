import type { Selectable, Updateable } from "kysely";
import type { Database, Tables } from "../../storage/index.ts";
import { push } from "./store.ts";

export type LoggedModelRow = Selectable<Tables["logged_models"]>;
export type LoggedModelArtifactRow = Selectable<Tables["logged_model_artifacts"]>;
type KeyValue = { key: string; value: string };

/** MLflow 3 logged models: rows, tags, params, artifacts (path → blob) and run outputs. */
export class LoggedModelStore {
  constructor(private readonly database: Database) {}

  private get db() {
    return this.database.db;
  }

  async insert(row: LoggedModelRow, tags: KeyValue[], params: KeyValue[]): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      await trx.insertInto("logged_models").values(row).execute();
      if (tags.length) await trx.insertInto("logged_model_tags").values(tags.map((t) => ({ model_id: row.model_id, ...t }))).execute();
      if (params.length) await trx.insertInto("logged_model_params").values(params.map((p) => ({ model_id: row.model_id, ...p }))).execute();
    });
  }

  get(modelId: string): Promise<LoggedModelRow | undefined> {
    return this.db.selectFrom("logged_models").selectAll().where("model_id", "=", modelId).executeTakeFirst();
  }

  /** Logged models of the experiments; with `teams`, only of experiments the teams own (an empty list: none). */
  async list(experimentIds: string[], teams?: string[]): Promise<LoggedModelRow[]> {
    if (teams && !teams.length) return [];
    let query = this.db.selectFrom("logged_models").selectAll().where("experiment_id", "in", experimentIds);
    if (teams) query = query.where("experiment_id", "in", (eb) => eb.selectFrom("experiments").select("experiments.experiment_id").where("experiments.team_id", "in", teams));
    return query.orderBy("creation_time", "desc").orderBy("model_id").execute();
  }

  /** The logged models a run produced, by name. */
  byRun(runId: string, name: string): Promise<LoggedModelRow[]> {
    return this.db.selectFrom("logged_models").selectAll().where("source_run_id", "=", runId).where("name", "=", name).orderBy("creation_time", "desc").execute();
  }

  async update(modelId: string, patch: Updateable<Tables["logged_models"]>): Promise<void> {
    await this.db.updateTable("logged_models").set(patch).where("model_id", "=", modelId).execute();
  }

  async delete(modelId: string): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      for (const table of ["logged_model_tags", "logged_model_params", "logged_model_artifacts", "run_outputs", "logged_models"] as const) {
        await trx.deleteFrom(table).where("model_id", "=", modelId).execute();
      }
    });
  }

  async setTags(modelId: string, tags: KeyValue[]): Promise<void> {
    for (const t of tags) {
      await this.db
        .insertInto("logged_model_tags")
        .values({ model_id: modelId, ...t })
        .onConflict((oc) => oc.columns(["model_id", "key"]).doUpdateSet({ value: t.value }))
        .execute();
    }
  }

  async deleteTag(modelId: string, key: string): Promise<boolean> {
    const result = await this.db.deleteFrom("logged_model_tags").where("model_id", "=", modelId).where("key", "=", key).executeTakeFirst();
    return Number(result.numDeletedRows) > 0;
  }

  /** Params are write-once, as a run's: an existing key keeps its value. */
  async addParams(modelId: string, params: KeyValue[]): Promise<void> {
    if (!params.length) return;
    await this.db
      .insertInto("logged_model_params")
      .values(params.map((p) => ({ model_id: modelId, ...p })))
      .onConflict((oc) => oc.doNothing())
      .execute();
  }

  async tagsAndParams(modelIds: string[]): Promise<{ tags: Map<string, KeyValue[]>; params: Map<string, KeyValue[]> }> {
    const tags = new Map<string, KeyValue[]>();
    const params = new Map<string, KeyValue[]>();
    for (let i = 0; i < modelIds.length; i += 500) {
      const ids = modelIds.slice(i, i + 500);
      for (const r of await this.db.selectFrom("logged_model_tags").selectAll().where("model_id", "in", ids).orderBy("key").execute()) push(tags, r.model_id, { key: r.key, value: r.value });
      for (const r of await this.db.selectFrom("logged_model_params").selectAll().where("model_id", "in", ids).orderBy("key").execute()) push(params, r.model_id, { key: r.key, value: r.value });
    }
    return { tags, params };
  }

  async putArtifact(row: LoggedModelArtifactRow): Promise<void> {
    await this.db
      .insertInto("logged_model_artifacts")
      .values(row)
      .onConflict((oc) => oc.columns(["model_id", "path"]).doUpdateSet({ digest: row.digest, size: row.size, created_at: row.created_at }))
      .execute();
  }

  getArtifact(modelId: string, path: string): Promise<LoggedModelArtifactRow | undefined> {
    return this.db.selectFrom("logged_model_artifacts").selectAll().where("model_id", "=", modelId).where("path", "=", path).executeTakeFirst();
  }

  artifactsUnder(modelId: string, prefix: string): Promise<LoggedModelArtifactRow[]> {
    let query = this.db.selectFrom("logged_model_artifacts").selectAll().where("model_id", "=", modelId);
    if (prefix) query = query.where((eb) => eb(eb.fn("substr", ["path", eb.val(1), eb.val(prefix.length)]), "=", prefix));
    return query.orderBy("path").execute();
  }

  async addOutputs(runId: string, outputs: { modelId: string; step: number }[]): Promise<void> {
    for (const o of outputs) {
      await this.db
        .insertInto("run_outputs")
        .values({ run_id: runId, model_id: o.modelId, step: o.step })
        .onConflict((oc) => oc.columns(["run_id", "model_id"]).doUpdateSet({ step: o.step }))
        .execute();
    }
  }

  outputsOf(runId: string): Promise<{ model_id: string; step: number }[]> {
    return this.db.selectFrom("run_outputs").select(["model_id", "step"]).where("run_id", "=", runId).orderBy("model_id").execute();
  }
}
