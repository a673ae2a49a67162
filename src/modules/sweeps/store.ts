import type { Kysely, Selectable } from "kysely";
import type { Tables } from "../../storage/index.ts";
import type { SweepPhase, TrialPhase } from "./schema.ts";

export type SweepRow = Selectable<Tables["sweeps"]>;
export type TrialRow = Selectable<Tables["sweep_trials"]>;
type Event = { type: string; message: string; time: number };

export const ACTIVE_TRIAL_PHASES: TrialPhase[] = ["PENDING", "QUEUED", "RUNNING"];
export const ENDED_TRIAL_PHASES: TrialPhase[] = ["SUCCEEDED", "FAILED", "CANCELLED", "STOPPED"];

/**
 * Sweeps, their trials and events. Phase changes are conditional updates ("only if still in one of
 * these phases") written with their event in one transaction; a trial is reserved (its index and its
 * job's id) only while its sweep is still RUNNING, in the same transaction, so a cancel that lands
 * between two trials stops the second from being reserved.
 */
export class SweepStore {
  constructor(private readonly db: Kysely<Tables>) {}

  async insert(row: Omit<SweepRow, "best_trial" | "best_value" | "message" | "finished_at" | "updated_at">, event: Omit<Event, "time">): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      await trx
        .insertInto("sweeps")
        .values({ ...row, best_trial: null, best_value: null, message: null, finished_at: null, updated_at: row.created_at })
        .execute();
      await trx.insertInto("sweep_events").values({ sweep_id: row.sweep_id, time: row.created_at, ...event }).execute();
    });
  }

  async get(id: string): Promise<SweepRow | undefined> {
    return this.db.selectFrom("sweeps").selectAll().where("sweep_id", "=", id).executeTakeFirst();
  }

  async team(id: string): Promise<string | undefined> {
    return (await this.db.selectFrom("sweeps").select("team_id").where("sweep_id", "=", id).executeTakeFirst())?.team_id;
  }

  /** Newest first; with `teams`, only sweeps of those teams (none for an empty list). */
  async list(opts: { limit: number; teams?: string[] | undefined; phases?: SweepPhase[] }): Promise<SweepRow[]> {
    if (opts.teams?.length === 0) return [];
    let q = this.db.selectFrom("sweeps").selectAll();
    if (opts.teams) q = q.where("team_id", "in", opts.teams);
    if (opts.phases) q = q.where("phase", "in", opts.phases);
    return q.orderBy("created_at", "desc").orderBy("sweep_id", "desc").limit(opts.limit).execute();
  }

  async transition(id: string, from: SweepPhase[], to: SweepPhase, patch: Partial<Omit<SweepRow, "sweep_id" | "phase">>, event: Event): Promise<boolean> {
    return this.db.transaction().execute(async (trx) => {
      const result = await trx
        .updateTable("sweeps")
        .set({ ...patch, phase: to, updated_at: event.time })
        .where("sweep_id", "=", id)
        .where("phase", "in", from)
        .executeTakeFirst();
      if (Number(result.numUpdatedRows) === 0) return false;
      await trx.insertInto("sweep_events").values({ sweep_id: id, ...event }).execute();
      return true;
    });
  }

  async patch(id: string, phases: SweepPhase[], patch: Partial<Omit<SweepRow, "sweep_id" | "phase">>): Promise<boolean> {
    const result = await this.db.updateTable("sweeps").set(patch).where("sweep_id", "=", id).where("phase", "in", phases).executeTakeFirst();
    return Number(result.numUpdatedRows) > 0;
  }

  async trials(sweepId: string): Promise<TrialRow[]> {
    return this.db.selectFrom("sweep_trials").selectAll().where("sweep_id", "=", sweepId).orderBy("trial_index").execute();
  }

  /** Trial counts by phase, for listings. */
  async counts(sweepIds: string[]): Promise<Map<string, Record<string, number>>> {
    const out = new Map<string, Record<string, number>>(sweepIds.map((id) => [id, {}]));
    if (sweepIds.length === 0) return out;
    const rows = await this.db
      .selectFrom("sweep_trials")
      .select(["sweep_id", "phase", (eb) => eb.fn.countAll<number | string>().as("n")])
      .where("sweep_id", "in", sweepIds)
      .groupBy(["sweep_id", "phase"])
      .execute();
    for (const r of rows) out.get(r.sweep_id)![r.phase] = Number(r.n);
    return out;
  }

  /**
   * Reserves trial `index` (its parameters and its job's id) if the sweep is still RUNNING and the
   * index is free; false otherwise. The job is submitted after, under the reserved id.
   */
  async reserveTrial(trial: { sweepId: string; index: number; params: string; jobId: string; time: number }): Promise<boolean> {
    return this.db.transaction().execute(async (trx) => {
      const sweep = await trx.updateTable("sweeps").set({ updated_at: trial.time }).where("sweep_id", "=", trial.sweepId).where("phase", "=", "RUNNING").executeTakeFirst();
      if (Number(sweep.numUpdatedRows) === 0) return false;
      const taken = await trx.selectFrom("sweep_trials").select("trial_index").where("sweep_id", "=", trial.sweepId).where("trial_index", "=", trial.index).executeTakeFirst();
      if (taken) return false;
      await trx
        .insertInto("sweep_trials")
        .values({ sweep_id: trial.sweepId, trial_index: trial.index, params: trial.params, job_id: trial.jobId, run_id: null, phase: "PENDING", objective: null, objective_step: null, message: null, created_at: trial.time, updated_at: trial.time })
        .execute();
      return true;
    });
  }

  /** Updates a trial if it is still in one of `phases`. */
  async patchTrial(sweepId: string, index: number, phases: TrialPhase[], patch: Partial<Omit<TrialRow, "sweep_id" | "trial_index">>): Promise<boolean> {
    const result = await this.db
      .updateTable("sweep_trials")
      .set(patch)
      .where("sweep_id", "=", sweepId)
      .where("trial_index", "=", index)
      .where("phase", "in", phases)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) > 0;
  }

  async appendEvent(sweepId: string, event: Event): Promise<void> {
    await this.db.insertInto("sweep_events").values({ sweep_id: sweepId, ...event }).execute();
  }

  async events(sweepId: string): Promise<Event[]> {
    const rows = await this.db.selectFrom("sweep_events").select(["time", "type", "message"]).where("sweep_id", "=", sweepId).orderBy("id").execute();
    return rows.map((r) => ({ time: Number(r.time), type: r.type, message: r.message }));
  }
}
