import type { Kysely, Selectable, Transaction } from "kysely";
import { olderThan, type Tables } from "../../storage/index.ts";
import type { NewestFirstPosition } from "../../core/index.ts";
import type { Allocation, JobEvent, JobPhase, Pending, ResourceRequest } from "./schema.ts";

export type JobRow = Selectable<Tables["jobs"]>;

/** An entry of a job's history, as the controller appends it. */
export type EventInput = { type: string; message: string; time: number };

export const ACTIVE_PHASES: JobPhase[] = ["STARTING", "RUNNING"];
export const TERMINAL_PHASES: JobPhase[] = ["SUCCEEDED", "FAILED", "CANCELLED"];

/** An ended attempt: what it held and when (GPU-hours per month are summed from these). */
export interface AttemptRecord {
  attempt: number;
  team: string;
  allocation: Allocation;
  startedAt: number;
  endedAt: number;
  /** The job's next phase, or Preempted. */
  outcome: string;
}

/** What a phase change writes besides the phase itself. */
export type JobPatch = Partial<Omit<JobRow, "job_id" | "phase" | "allocation" | "pending" | "handle">> & {
  allocation?: Allocation | null;
  pending?: Pending | null;
  handle?: unknown;
};

export interface NewJob {
  id: string;
  name: string;
  owner: string;
  /** The team that owns it. */
  team: string;
  spec: unknown;
  request: ResourceRequest;
  priority: number;
  experimentId: string;
  /** null for a job that records no run (a workspace's server). */
  runId: string | null;
  createdAt: number;
}

/**
 * Jobs and their event log. Every phase change is a conditional update ("only if the job is
 * still in one of these phases") written with its event in one transaction, so two actors
 * racing on a job (a cancel and an exit, two controllers) cannot both win.
 */
export class JobStore {
  constructor(private readonly db: Kysely<Tables>) {}

  async insert(job: NewJob, event: { type: string; message: string }): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      await trx
        .insertInto("jobs")
        .values({
          job_id: job.id,
          name: job.name,
          owner: job.owner,
          team_id: job.team,
          spec: JSON.stringify(job.spec),
          request: JSON.stringify(job.request),
          phase: "QUEUED",
          priority: job.priority,
          experiment_id: job.experimentId,
          run_id: job.runId,
          attempt: 1,
          created_at: job.createdAt,
          updated_at: job.createdAt,
        })
        .execute();
      await trx.insertInto("job_events").values({ job_id: job.id, time: job.createdAt, ...event }).execute();
    });
  }

  async get(id: string): Promise<JobRow | undefined> {
    return this.db.selectFrom("jobs").selectAll().where("job_id", "=", id).executeTakeFirst();
  }

  /** The team that owns a job; undefined when there is no such job. */
  async team(id: string): Promise<string | undefined> {
    return (await this.db.selectFrom("jobs").select("team_id").where("job_id", "=", id).executeTakeFirst())?.team_id;
  }

  /** Newest first; with `teams`, only jobs of those teams (none for an empty list); older than `before` (a page's last row) when given. */
  async list(opts: { phase?: JobPhase | undefined; limit: number; teams?: string[] | undefined; owner?: string | undefined; before?: NewestFirstPosition | undefined }): Promise<JobRow[]> {
    if (opts.teams?.length === 0) return [];
    let q = this.db.selectFrom("jobs").selectAll();
    if (opts.phase) q = q.where("phase", "=", opts.phase);
    if (opts.teams) q = q.where("team_id", "in", opts.teams);
    if (opts.owner !== undefined) q = q.where("owner", "=", opts.owner);
    const before = opts.before;
    if (before) q = q.where(olderThan(before, { id: "job_id" }));
    return q.orderBy("created_at", "desc").orderBy("job_id", "desc").limit(opts.limit).execute();
  }

  /** Jobs holding resources. */
  async active(): Promise<JobRow[]> {
    return this.db.selectFrom("jobs").selectAll().where("phase", "in", ACTIVE_PHASES).execute();
  }

  /** The queue, in scheduling order: priority first, then age. */
  async queued(): Promise<JobRow[]> {
    return this.db
      .selectFrom("jobs")
      .selectAll()
      .where("phase", "=", "QUEUED")
      .orderBy("priority", "desc")
      .orderBy("created_at", "asc")
      .orderBy("job_id", "asc")
      .execute();
  }

  async events(ids: string[]): Promise<Map<string, JobEvent[]>> {
    const out = new Map<string, JobEvent[]>(ids.map((id) => [id, []]));
    if (ids.length === 0) return out;
    const rows = await this.db.selectFrom("job_events").selectAll().where("job_id", "in", ids).orderBy("id", "asc").execute();
    for (const r of rows) out.get(r.job_id)?.push({ time: Number(r.time), type: r.type, message: r.message });
    return out;
  }

  /**
   * Moves a job to `to` if it is still in one of `from` (and, when given, still on `attempt`),
   * appending the event. Returns false when another actor moved it first.
   */
  async transition(
    id: string,
    from: JobPhase[],
    to: JobPhase,
    patch: JobPatch,
    event: EventInput,
    attempt?: number,
    ended?: AttemptRecord,
  ): Promise<boolean> {
    return this.db.transaction().execute(async (trx) => {
      if (!(await this.transitionIn(trx, id, from, to, patch, event, attempt))) return false;
      // In the same transaction: an attempt's GPU time is recorded exactly once, with its end.
      if (ended) {
        await trx
          .insertInto("job_attempts")
          .values({
            job_id: id,
            attempt: ended.attempt,
            team_id: ended.team,
            gpus: ended.allocation.gpus.length,
            cpus: ended.allocation.cpus,
            memory_mib: ended.allocation.memoryMiB,
            started_at: ended.startedAt,
            ended_at: ended.endedAt,
            outcome: ended.outcome,
          })
          .onConflict((oc) => oc.columns(["job_id", "attempt"]).doNothing())
          .execute();
      }
      return true;
    });
  }

  /** The attempts of a job that ended, oldest first. */
  async attempts(id: string): Promise<Selectable<Tables["job_attempts"]>[]> {
    return this.db.selectFrom("job_attempts").selectAll().where("job_id", "=", id).orderBy("attempt").execute();
  }

  /** Several transitions in one transaction (a scheduling pass); returns which ones applied. */
  async transitionMany(
    items: { id: string; from: JobPhase[]; to: JobPhase; patch: JobPatch; event: EventInput }[],
  ): Promise<boolean[]> {
    if (items.length === 0) return [];
    return this.db.transaction().execute(async (trx) => {
      const applied: boolean[] = [];
      for (const item of items) applied.push(await this.transitionIn(trx, item.id, item.from, item.to, item.patch, item.event));
      return applied;
    });
  }

  /** Updates fields without changing the phase (e.g. recording the handle), guarded the same way. */
  async patch(id: string, phases: JobPhase[], patch: JobPatch, attempt?: number): Promise<boolean> {
    let q = this.db.updateTable("jobs").set(toColumns(patch)).where("job_id", "=", id).where("phase", "in", phases);
    if (attempt !== undefined) q = q.where("attempt", "=", attempt);
    const result = await q.executeTakeFirst();
    return Number(result.numUpdatedRows) > 0;
  }

  /** Rewrites the pending reasons of queued jobs (no event: they change on every pass). */
  async setPending(pending: Map<string, Pending | null>): Promise<void> {
    if (pending.size === 0) return;
    await this.db.transaction().execute(async (trx) => {
      for (const [id, p] of pending) {
        await trx
          .updateTable("jobs")
          .set({ pending: p ? JSON.stringify(p) : null })
          .where("job_id", "=", id)
          .where("phase", "=", "QUEUED")
          .execute();
      }
    });
  }

  /**
   * Jobs with an ended attempt whose bookkeeping is not recorded (a crash came between the end
   * and the upload): ended jobs behind on their last attempt, others behind on an earlier one.
   */
  async unrecorded(terminal: JobPhase[]): Promise<JobRow[]> {
    return this.db
      .selectFrom("jobs")
      .selectAll()
      .where((eb) =>
        eb.or([
          eb.and([eb("phase", "in", terminal), eb("recorded_attempt", "<", eb.ref("attempt"))]),
          eb("recorded_attempt", "<", eb(eb.ref("attempt"), "-", 1)),
        ]),
      )
      .execute();
  }

  /** Marks an attempt's bookkeeping done (never moves backwards). */
  async markRecorded(id: string, attempt: number): Promise<void> {
    await this.db.updateTable("jobs").set({ recorded_attempt: attempt }).where("job_id", "=", id).where("recorded_attempt", "<", attempt).execute();
  }

  async appendEvent(id: string, event: EventInput): Promise<void> {
    await this.db.insertInto("job_events").values({ job_id: id, ...event }).execute();
  }

  private async transitionIn(
    trx: Transaction<Tables>,
    id: string,
    from: JobPhase[],
    to: JobPhase,
    patch: JobPatch,
    event: EventInput,
    attempt?: number,
  ): Promise<boolean> {
    let q = trx
      .updateTable("jobs")
      .set({ ...toColumns(patch), phase: to, updated_at: event.time })
      .where("job_id", "=", id)
      .where("phase", "in", from);
    if (attempt !== undefined) q = q.where("attempt", "=", attempt);
    const result = await q.executeTakeFirst();
    if (Number(result.numUpdatedRows) === 0) return false;
    await trx.insertInto("job_events").values({ job_id: id, ...event }).execute();
    return true;
  }
}

function toColumns(patch: JobPatch): Partial<JobRow> {
  const { allocation, pending, handle, ...rest } = patch;
  const columns: Partial<JobRow> = { ...rest };
  if (allocation !== undefined) columns.allocation = allocation === null ? null : JSON.stringify(allocation);
  if (pending !== undefined) columns.pending = pending === null ? null : JSON.stringify(pending);
  if (handle !== undefined) columns.handle = handle === null ? null : JSON.stringify(handle);
  return columns;
}
