import type { Insertable, Kysely, Selectable } from "kysely";
import type { NewestFirstPosition } from "../../core/index.ts";
import { olderThan, type Tables } from "../../storage/index.ts";
import type { RunPhase, StepPhase } from "./schema.ts";

export type PipelineRow = Selectable<Tables["pipelines"]>;
export type RunRow = Selectable<Tables["pipeline_runs"]>;
export type StepRow = Selectable<Tables["pipeline_steps"]>;
type Event = { type: string; message: string; time: number };

export const ACTIVE_STEP_PHASES: StepPhase[] = ["pending", "running"];
export const DONE_STEP_PHASES: StepPhase[] = ["succeeded", "cached"];

/**
 * Pipelines, their runs, the runs' step instances and events. A run and all its step rows are
 * written in one transaction; step and run changes are conditional ("only if still in one of these
 * phases"), so a cancel and a step's end that race leave one answer.
 */
export class PipelineStore {
  constructor(private readonly db: Kysely<Tables>) {}

  async pipeline(name: string): Promise<PipelineRow | undefined> {
    return this.db.selectFrom("pipelines").selectAll().where("name", "=", name).executeTakeFirst();
  }

  async insertPipeline(row: PipelineRow): Promise<void> {
    await this.db.insertInto("pipelines").values(row).execute();
  }

  /** Replaces a pipeline's spec if it is still at `version`; false when another apply came first. */
  async updatePipeline(id: string, version: number, patch: Pick<PipelineRow, "spec" | "description" | "version" | "updated_at">): Promise<boolean> {
    const result = await this.db.updateTable("pipelines").set(patch).where("pipeline_id", "=", id).where("version", "=", version).executeTakeFirst();
    return Number(result.numUpdatedRows) > 0;
  }

  /** By name, after `after` (a page's last name) when given; with `teams`, only pipelines of those teams (none for an empty list). */
  async pipelines(opts: { limit: number; teams?: string[] | undefined; after?: string | undefined }): Promise<PipelineRow[]> {
    if (opts.teams?.length === 0) return [];
    let q = this.db.selectFrom("pipelines").selectAll();
    if (opts.teams) q = q.where("team_id", "in", opts.teams);
    if (opts.after !== undefined) q = q.where("name", ">", opts.after);
    return q.orderBy("name").limit(opts.limit).execute();
  }

  /** A run and its step instances, in one transaction. */
  async insertRun(run: RunRow, steps: Insertable<Tables["pipeline_steps"]>[], event: Omit<Event, "time">): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      await trx.insertInto("pipeline_runs").values(run).execute();
      // 200 rows of 24 columns a statement: under SQLite's and PostgreSQL's bound-parameter limits.
      for (let i = 0; i < steps.length; i += 200) await trx.insertInto("pipeline_steps").values(steps.slice(i, i + 200)).execute();
      await trx.insertInto("pipeline_events").values({ run_id: run.run_id, time: run.created_at, ...event }).execute();
    });
  }

  async run(id: string): Promise<RunRow | undefined> {
    return this.db.selectFrom("pipeline_runs").selectAll().where("run_id", "=", id).executeTakeFirst();
  }

  async runTeam(id: string): Promise<string | undefined> {
    return (await this.db.selectFrom("pipeline_runs").select("team_id").where("run_id", "=", id).executeTakeFirst())?.team_id;
  }

  /** Newest first (run id breaking ties), older than `before` (a page's last run) when given. */
  async runs(opts: { limit: number; pipelineId?: string; teams?: string[] | undefined; phases?: RunPhase[]; before?: NewestFirstPosition | undefined }): Promise<RunRow[]> {
    if (opts.teams?.length === 0) return [];
    let q = this.db.selectFrom("pipeline_runs").selectAll();
    if (opts.pipelineId) q = q.where("pipeline_id", "=", opts.pipelineId);
    if (opts.teams) q = q.where("team_id", "in", opts.teams);
    if (opts.phases) q = q.where("phase", "in", opts.phases);
    const before = opts.before;
    if (before) q = q.where(olderThan(before, { id: "run_id" }));
    return q.orderBy("created_at", "desc").orderBy("run_id", "desc").limit(opts.limit).execute();
  }

  async transitionRun(id: string, from: RunPhase[], to: RunPhase, patch: Partial<Pick<RunRow, "message" | "finished_at">>, event: Event): Promise<boolean> {
    return this.db.transaction().execute(async (trx) => {
      const result = await trx.updateTable("pipeline_runs").set({ ...patch, phase: to, updated_at: event.time }).where("run_id", "=", id).where("phase", "in", from).executeTakeFirst();
      if (Number(result.numUpdatedRows) === 0) return false;
      await trx.insertInto("pipeline_events").values({ run_id: id, ...event }).execute();
      return true;
    });
  }

  async steps(runId: string): Promise<StepRow[]> {
    return this.db.selectFrom("pipeline_steps").selectAll().where("run_id", "=", runId).orderBy("position").execute();
  }

  /** Updates a step instance if it is still in `phase` at `attempt`; false when something else changed it first. */
  async patchStep(runId: string, key: string, from: { phase: StepPhase; attempt: number }, patch: Partial<Omit<StepRow, "run_id" | "step_key">>): Promise<boolean> {
    const result = await this.db
      .updateTable("pipeline_steps")
      .set(patch)
      .where("run_id", "=", runId)
      .where("step_key", "=", key)
      .where("phase", "=", from.phase)
      .where("attempt", "=", from.attempt)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) > 0;
  }

  /** Several conditional step changes in one transaction (instant steps of one pass); the keys whose change applied. */
  async patchSteps(runId: string, changes: { key: string; from: { phase: StepPhase; attempt: number }; patch: Partial<Omit<StepRow, "run_id" | "step_key">> }[]): Promise<Set<string>> {
    const applied = new Set<string>();
    if (changes.length === 0) return applied;
    await this.db.transaction().execute(async (trx) => {
      for (const c of changes) {
        const result = await trx
          .updateTable("pipeline_steps")
          .set(c.patch)
          .where("run_id", "=", runId)
          .where("step_key", "=", c.key)
          .where("phase", "=", c.from.phase)
          .where("attempt", "=", c.from.attempt)
          .executeTakeFirst();
        if (Number(result.numUpdatedRows) > 0) applied.add(c.key);
      }
    });
    return applied;
  }

  /**
   * The newest finished instance, in an earlier run of the same pipeline, with this cache key (a
   * step that ran, or one that was itself cached: its outputs are the same).
   */
  async cached(pipelineId: string, cacheKey: string, notRun: string): Promise<StepRow | undefined> {
    return this.db
      .selectFrom("pipeline_steps")
      .selectAll()
      .where("pipeline_id", "=", pipelineId)
      .where("cache_key", "=", cacheKey)
      .where("phase", "in", DONE_STEP_PHASES)
      .where("run_id", "!=", notRun)
      .orderBy("finished_at", "desc")
      .limit(1)
      .executeTakeFirst();
  }

  /** Step counts by phase, for listings. */
  async counts(runIds: string[]): Promise<Map<string, Record<string, number>>> {
    const out = new Map<string, Record<string, number>>(runIds.map((id) => [id, {}]));
    if (runIds.length === 0) return out;
    const rows = await this.db
      .selectFrom("pipeline_steps")
      .select(["run_id", "phase", (eb) => eb.fn.countAll<number | string>().as("n")])
      .where("run_id", "in", runIds)
      .groupBy(["run_id", "phase"])
      .execute();
    for (const r of rows) out.get(r.run_id)![r.phase] = Number(r.n);
    return out;
  }

  async appendEvent(runId: string, event: Event): Promise<void> {
    await this.db.insertInto("pipeline_events").values({ run_id: runId, ...event }).execute();
  }

  async events(runId: string, limit = 1000): Promise<Event[]> {
    const rows = await this.db.selectFrom("pipeline_events").select(["time", "type", "message"]).where("run_id", "=", runId).orderBy("id").limit(limit).execute();
    return rows.map((r) => ({ time: Number(r.time), type: r.type, message: r.message }));
  }
}
