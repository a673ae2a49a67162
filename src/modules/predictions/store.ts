import type { Kysely, Selectable } from "kysely";
import type { Tables } from "../../storage/index.ts";
import type { PredictionPhase } from "./schema.ts";

export type PredictionRow = Selectable<Tables["batch_predictions"]>;

/** Batch predictions. Phase changes are conditional ("only if still in one of these phases"), so a cancel and the controller never overwrite each other. */
export class PredictionStore {
  constructor(private readonly db: Kysely<Tables>) {}

  async insert(row: PredictionRow): Promise<void> {
    await this.db.insertInto("batch_predictions").values(row).execute();
  }

  async get(id: string): Promise<PredictionRow | undefined> {
    return this.db.selectFrom("batch_predictions").selectAll().where("prediction_id", "=", id).executeTakeFirst();
  }

  async team(id: string): Promise<string | undefined> {
    return (await this.db.selectFrom("batch_predictions").select("team_id").where("prediction_id", "=", id).executeTakeFirst())?.team_id;
  }

  /** Newest first; with `teams`, only those teams' (none for an empty list); with `phases`, oldest first (the queue). */
  async list(opts: { limit: number; teams?: string[] | undefined; phases?: PredictionPhase[] }): Promise<PredictionRow[]> {
    if (opts.teams?.length === 0) return [];
    let q = this.db.selectFrom("batch_predictions").selectAll();
    if (opts.teams) q = q.where("team_id", "in", opts.teams);
    if (opts.phases) q = q.where("phase", "in", opts.phases).orderBy("created_at", "asc").orderBy("prediction_id", "asc");
    else q = q.orderBy("created_at", "desc").orderBy("prediction_id", "desc");
    return q.limit(opts.limit).execute();
  }

  /** Moves a prediction to `to` if it is still in one of `from`; false when it was not. */
  async transition(id: string, from: PredictionPhase[], to: PredictionPhase, patch: Partial<Omit<PredictionRow, "prediction_id" | "phase">>, time: number): Promise<boolean> {
    const result = await this.db
      .updateTable("batch_predictions")
      .set({ ...patch, phase: to, updated_at: time })
      .where("prediction_id", "=", id)
      .where("phase", "in", from)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) > 0;
  }

  /** Records progress if the prediction is still RUNNING; false when it no longer is (cancelled). */
  async progress(id: string, rows: number, total: number | null, time: number): Promise<boolean> {
    const result = await this.db
      .updateTable("batch_predictions")
      .set({ rows_done: rows, rows_total: total, updated_at: time })
      .where("prediction_id", "=", id)
      .where("phase", "=", "RUNNING")
      .executeTakeFirst();
    return Number(result.numUpdatedRows) > 0;
  }
}
