import type { ExpressionBuilder, Selectable, Updateable } from "kysely";
import type { Database, Tables } from "../../storage/index.ts";
import { lockActiveRun } from "./metric-store.ts";

export type ExperimentRow = Selectable<Tables["experiments"]>;
export type RunRow = Selectable<Tables["runs"]>;
export type LatestMetricRow = Selectable<Tables["latest_metrics"]>;
export type DatasetInputRow = Selectable<Tables["dataset_inputs"]>;
export type ArtifactRow = Selectable<Tables["artifacts"]>;
export type TombstoneRow = Selectable<Tables["run_tombstones"]>;

/** Everything attached to a set of runs, keyed by run id. */
export interface RunData {
  params: Map<string, { key: string; value: string }[]>;
  tags: Map<string, { key: string; value: string }[]>;
  metrics: Map<string, LatestMetricRow[]>;
  inputs: Map<string, DatasetInputRow[]>;
}

// Below both dialects' bound-parameter limits.
const IN_CHUNK = 500;

/** Experiments, runs and what hangs off them (except metric points: see metric-store.ts). */
export class TrackingStore {
  constructor(private readonly database: Database) {}

  private get db() {
    return this.database.db;
  }

  // ---- experiments ----

  async insertExperiment(row: ExperimentRow, tags: Record<string, string> = {}, ifAbsent = false): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      let insert = trx.insertInto("experiments").values(row);
      if (ifAbsent) insert = insert.onConflict((oc) => oc.doNothing());
      await insert.execute();
      const entries = Object.entries(tags);
      if (entries.length) {
        await trx
          .insertInto("experiment_tags")
          .values(entries.map(([key, value]) => ({ experiment_id: row.experiment_id, key, value })))
          .execute();
      }
    });
  }

  getExperiment(id: string): Promise<ExperimentRow | undefined> {
    return this.db.selectFrom("experiments").selectAll().where("experiment_id", "=", id).executeTakeFirst();
  }

  getExperimentByName(name: string): Promise<ExperimentRow | undefined> {
    return this.db.selectFrom("experiments").selectAll().where("name", "=", name).executeTakeFirst();
  }

  /** Experiments in the given stages; only those of `teams` when given (an empty list: none). */
  async listExperiments(opts: { stages: string[]; teams?: string[] | undefined }): Promise<ExperimentRow[]> {
    if (opts.teams && !opts.teams.length) return [];
    let query = this.db.selectFrom("experiments").selectAll().where("lifecycle_stage", "in", opts.stages);
    if (opts.teams) query = query.where("team_id", "in", opts.teams);
    return query.orderBy("creation_time").orderBy("experiment_id").execute();
  }

  async updateExperiment(id: string, patch: Updateable<Tables["experiments"]>): Promise<void> {
    await this.db.updateTable("experiments").set(patch).where("experiment_id", "=", id).execute();
  }

  /** Marks an experiment and its runs deleted (or restores both). */
  async setExperimentStage(id: string, stage: "active" | "deleted", now: number): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      await trx.updateTable("experiments").set({ lifecycle_stage: stage, last_update_time: now }).where("experiment_id", "=", id).execute();
      await trx
        .updateTable("runs")
        .set({ lifecycle_stage: stage, deleted_time: stage === "deleted" ? now : null })
        .where("experiment_id", "=", id)
        .where("lifecycle_stage", "=", stage === "deleted" ? "active" : "deleted")
        .execute();
    });
  }

  async setExperimentTag(id: string, key: string, value: string): Promise<void> {
    await this.db
      .insertInto("experiment_tags")
      .values({ experiment_id: id, key, value })
      .onConflict((oc) => oc.columns(["experiment_id", "key"]).doUpdateSet({ value }))
      .execute();
  }

  async experimentTags(ids: string[]): Promise<Map<string, { key: string; value: string }[]>> {
    const out = new Map<string, { key: string; value: string }[]>();
    for (let i = 0; i < ids.length; i += IN_CHUNK) {
      const rows = await this.db
        .selectFrom("experiment_tags")
        .selectAll()
        .where("experiment_id", "in", ids.slice(i, i + IN_CHUNK))
        .orderBy("key")
        .execute();
      for (const r of rows) push(out, r.experiment_id, { key: r.key, value: r.value });
    }
    return out;
  }

  /** Active runs per experiment: how many, and the latest start or end among them. */
  async experimentActivity(ids: string[]): Promise<Map<string, { runs: number; lastActivity: number | null }>> {
    const out = new Map<string, { runs: number; lastActivity: number | null }>();
    for (let i = 0; i < ids.length; i += IN_CHUNK) {
      const rows = await this.db
        .selectFrom("runs")
        .select((eb) => ["experiment_id", eb.fn.countAll<number | string>().as("runs"), eb.fn.max("start_time").as("lastStart"), eb.fn.max("end_time").as("lastEnd")])
        .where("experiment_id", "in", ids.slice(i, i + IN_CHUNK))
        .where("lifecycle_stage", "=", "active")
        .groupBy("experiment_id")
        .execute();
      for (const r of rows) {
        const times = [r.lastStart, r.lastEnd].filter((t): t is number => t !== null && t !== undefined).map(Number);
        out.set(r.experiment_id, { runs: Number(r.runs), lastActivity: times.length ? Math.max(...times) : null });
      }
    }
    return out;
  }

  /** The distinct metric, param and tag keys of an experiment's active runs, sorted, at most `limit` of each. */
  async experimentKeys(experimentId: string, limit: number): Promise<{ metrics: string[]; params: string[]; tags: string[] }> {
    const runIds = (eb: ExpressionBuilder<Tables, "latest_metrics" | "params" | "tags">) =>
      eb.selectFrom("runs").select("runs.run_id").where("runs.experiment_id", "=", experimentId).where("runs.lifecycle_stage", "=", "active");
    const keys = (table: "latest_metrics" | "params" | "tags") =>
      this.db
        .selectFrom(table)
        .select("key")
        .distinct()
        .where("run_id", "in", runIds)
        .orderBy("key")
        .limit(limit)
        .execute()
        .then((rows) => rows.map((r) => r.key));
    const [metrics, params, tags] = await Promise.all([keys("latest_metrics"), keys("params"), keys("tags")]);
    return { metrics, params, tags };
  }

  // ---- runs ----

  async insertRun(row: RunRow, tags: Record<string, string>): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      await trx.insertInto("runs").values(row).execute();
      const entries = Object.entries(tags);
      if (entries.length) {
        await trx
          .insertInto("tags")
          .values(entries.map(([key, value]) => ({ run_id: row.run_id, key, value })))
          .execute();
      }
    });
  }

  getRun(id: string): Promise<RunRow | undefined> {
    return this.db.selectFrom("runs").selectAll().where("run_id", "=", id).executeTakeFirst();
  }

  /** What the policy needs of a run, in one query: its job, experiment and the experiment's team. */
  getRunOwnership(id: string): Promise<{ run_id: string; job_id: string | null; experiment_id: string; team_id: string } | undefined> {
    return this.db
      .selectFrom("runs")
      .innerJoin("experiments", "experiments.experiment_id", "runs.experiment_id")
      .select(["runs.run_id", "runs.job_id", "runs.experiment_id", "experiments.team_id"])
      .where("runs.run_id", "=", id)
      .executeTakeFirst();
  }

  async updateRun(id: string, patch: Updateable<Tables["runs"]>): Promise<void> {
    await this.db.updateTable("runs").set(patch).where("run_id", "=", id).execute();
  }

  /** Restores a deleted (or active) run; false when it is gone (garbage-collected meanwhile). */
  async restoreRun(id: string): Promise<boolean> {
    const result = await this.db.updateTable("runs").set({ lifecycle_stage: "active", deleted_time: null }).where("run_id", "=", id).executeTakeFirst();
    return Number(result.numUpdatedRows) > 0;
  }

  /** What is left of a garbage-collected run. */
  getTombstone(id: string): Promise<TombstoneRow | undefined> {
    return this.db.selectFrom("run_tombstones").selectAll().where("run_id", "=", id).executeTakeFirst();
  }

  async deleteTag(runId: string, key: string): Promise<boolean> {
    const result = await this.db.deleteFrom("tags").where("run_id", "=", runId).where("key", "=", key).executeTakeFirst();
    return Number(result.numDeletedRows) > 0;
  }

  /** Whether the run has logged the metric (its latest value is kept per key). */
  async hasMetric(runId: string, key: string): Promise<boolean> {
    return (await this.db.selectFrom("latest_metrics").select("key").where("run_id", "=", runId).where("key", "=", key).executeTakeFirst()) !== undefined;
  }

  /** The keys of the metrics a run has logged, sorted. */
  async metricKeys(runId: string): Promise<string[]> {
    return (await this.db.selectFrom("latest_metrics").select("key").where("run_id", "=", runId).orderBy("key").execute()).map((r) => r.key);
  }

  async insertInputs(rows: DatasetInputRow[]): Promise<void> {
    if (!rows.length) return;
    await this.db.transaction().execute(async (trx) => {
      for (const runId of new Set(rows.map((r) => r.run_id))) await lockActiveRun(trx, runId, this.database.dialect);
      await trx
        .insertInto("dataset_inputs")
        .values(rows)
        .onConflict((oc) => oc.doNothing())
        .execute();
    });
  }

  /** Params, tags, latest metrics and dataset inputs of the given runs. */
  async runData(runIds: string[]): Promise<RunData> {
    const data: RunData = { params: new Map(), tags: new Map(), metrics: new Map(), inputs: new Map() };
    for (let i = 0; i < runIds.length; i += IN_CHUNK) {
      const ids = runIds.slice(i, i + IN_CHUNK);
      const [params, tags, metrics, inputs] = await Promise.all([
        this.db.selectFrom("params").selectAll().where("run_id", "in", ids).orderBy("key").execute(),
        this.db.selectFrom("tags").selectAll().where("run_id", "in", ids).orderBy("key").execute(),
        this.db.selectFrom("latest_metrics").selectAll().where("run_id", "in", ids).orderBy("key").execute(),
        this.db.selectFrom("dataset_inputs").selectAll().where("run_id", "in", ids).orderBy("name").execute(),
      ]);
      for (const r of params) push(data.params, r.run_id, { key: r.key, value: r.value });
      for (const r of tags) push(data.tags, r.run_id, { key: r.key, value: r.value });
      for (const r of metrics) push(data.metrics, r.run_id, r);
      for (const r of inputs) push(data.inputs, r.run_id, r);
    }
    return data;
  }

  // ---- artifacts (path → blob digest) ----

  /** Names a blob at a path of an active run (refused, in the same transaction, once the run is deleted or collected). */
  async putArtifact(row: ArtifactRow): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      await lockActiveRun(trx, row.run_id, this.database.dialect);
      await trx
        .insertInto("artifacts")
        .values(row)
        .onConflict((oc) => oc.columns(["run_id", "path"]).doUpdateSet({ digest: row.digest, size: row.size, created_at: row.created_at }))
        .execute();
    });
  }

  getArtifact(runId: string, path: string): Promise<ArtifactRow | undefined> {
    return this.db.selectFrom("artifacts").selectAll().where("run_id", "=", runId).where("path", "=", path).executeTakeFirst();
  }

  /** Every artifact of a run whose path starts with `prefix` (compared exactly, no LIKE wildcards). */
  async artifactsUnder(runId: string, prefix: string): Promise<ArtifactRow[]> {
    let query = this.db.selectFrom("artifacts").selectAll().where("run_id", "=", runId);
    if (prefix) query = query.where((eb) => eb(eb.fn("substr", ["path", eb.val(1), eb.val(prefix.length)]), "=", prefix));
    return query.orderBy("path").execute();
  }
}

function push<T>(map: Map<string, T[]>, key: string, value: T): void {
  const list = map.get(key);
  if (list) list.push(value);
  else map.set(key, [value]);
}
