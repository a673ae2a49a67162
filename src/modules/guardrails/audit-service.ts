import { invalidInput, type Action, type Clock, type IdGenerator, type Logger } from "../../core/index.ts";
import { isMutation, toRecord, toRow, type AuditEvent, type AuditRow, type AuditSink } from "./audit-record.ts";
import { MAX_INSERT_ROWS, type AuditCursor, type AuditFilter, type AuditStore } from "./audit-store.ts";
import type { AuditRecord } from "./schema.ts";

export interface AuditOptions {
  /** Record every run-tracking write (metrics, params, tags, artifacts) one by one; false: summarised. */
  dataEvents: boolean;
  /** Days a record is kept; 0 keeps records forever. */
  retentionDays: number;
  /** Seconds between writes of the run-tracking summaries. */
  summarySeconds: number;
}

export interface AuditServiceDeps extends AuditOptions {
  store: AuditStore;
  clock: Clock;
  ids: IdGenerator;
  logger: Logger;
}

/**
 * Data events, as CloudTrail calls them: the high-volume writes of run tracking (`runs:write`:
 * log-batch, log-metric, params, tags, artifact uploads). Everything else that changes something
 * is a management event, always recorded one by one.
 */
const DATA_ACTIONS: ReadonlySet<Action> = new Set<Action>(["runs:write"]);
/** A refused data event is recorded one by one even when data events are summarised. */
const REFUSED: ReadonlySet<number> = new Set([401, 403, 404]);
/** Distinct summaries held in memory before they are written early. */
const MAX_SUMMARIES = 10_000;
const PRUNE_EVERY_MS = 3_600_000;
const DAY_MS = 86_400_000;

const EXPORT_PAGE = 1000;

interface Pending {
  row: AuditRow;
  resolve(): void;
  reject(error: unknown): void;
}

interface Summary {
  row: AuditRow;
  totalMs: number;
}

/**
 * The audit log. A record of a management event is committed before its request is answered:
 * requests that finish together share one commit (group commit, as log-batch does), so an
 * acknowledged mutation's record survives kill -9. Run-tracking writes are summarised per actor,
 * run, route and outcome and written every `summarySeconds` (unless `dataEvents` is on).
 */
export class AuditService implements AuditSink {
  private pending: Pending[] = [];
  /** The writes of queued records, one after another (a drain never rejects: failures go to their requests). */
  private flushing: Promise<void> = Promise.resolve();
  /** Set while a flush is scheduled for the records queued since. */
  private scheduled = false;
  private readonly summaries = new Map<string, Summary>();
  private timers: NodeJS.Timeout[] = [];
  private summaryWrite: Promise<void> = Promise.resolve();

  constructor(private readonly deps: AuditServiceDeps) {}

  covers(route: { method: string; action: Action }): boolean {
    return isMutation(route);
  }

  async record(event: AuditEvent): Promise<void> {
    const row = toRow(event, this.deps.ids.hex32(), this.deps.clock.now());
    if (!this.deps.dataEvents && DATA_ACTIONS.has(event.action) && !REFUSED.has(event.status)) {
      this.summarise(row, event.durationMs);
      return;
    }
    return new Promise<void>((resolve, reject) => {
      this.pending.push({ row, resolve, reject });
      if (this.scheduled) return;
      this.scheduled = true;
      // After this turn's other answers have queued theirs: they share the commit.
      setImmediate(() => {
        this.scheduled = false;
        void this.flush();
      });
    });
  }

  /**
   * Writes what is queued, after any write in progress: one statement per group of up to 500, and
   * what arrives meanwhile forms the next group.
   */
  private flush(): Promise<void> {
    const run = this.flushing.then(() => this.drain());
    this.flushing = run;
    return run;
  }

  private async drain(): Promise<void> {
    while (this.pending.length) {
      const group = this.pending.splice(0, MAX_INSERT_ROWS);
      try {
        await this.deps.store.insert(group.map((p) => p.row));
        for (const p of group) p.resolve();
      } catch (error) {
        for (const p of group) p.reject(error);
      }
    }
  }

  private summarise(row: AuditRow, durationMs: number): void {
    const key = JSON.stringify([row.actor, row.actor_kind, row.actor_user_id, row.actor_job_id, row.team, row.action, row.method, row.route, row.target_kind, row.target_id, row.params, row.status, row.error_code, row.client_ip]);
    const summary = this.summaries.get(key);
    if (summary) {
      summary.row.count += 1;
      summary.row.time = Math.max(summary.row.time, row.time);
      summary.totalMs += durationMs;
      return;
    }
    this.summaries.set(key, { row: { ...row, request_id: null, first_time: row.time }, totalMs: durationMs });
    if (this.summaries.size >= MAX_SUMMARIES) void this.writeSummaries();
  }

  /** Writes the summaries held so far (one statement per 500) and starts new ones. */
  writeSummaries(): Promise<void> {
    if (this.summaries.size === 0) return this.summaryWrite;
    const rows = [...this.summaries.values()].map(({ row, totalMs }) => ({ ...row, duration_ms: Math.round((totalMs / row.count) * 1000) / 1000 }));
    this.summaries.clear();
    this.summaryWrite = this.summaryWrite
      .then(() => this.deps.store.insert(rows))
      .catch((error: unknown) => this.deps.logger.error({ err: error, records: rows.length }, "audit summaries could not be written"));
    return this.summaryWrite;
  }

  /** Newest first, a page at a time. */
  async query(filter: AuditFilter, page: { limit: number; pageToken?: string | undefined }): Promise<{ records: AuditRecord[]; nextPageToken?: string }> {
    const rows = await this.deps.store.list(filter, { limit: page.limit + 1, order: "desc", after: page.pageToken === undefined ? undefined : decodeCursor(page.pageToken) });
    const records = rows.slice(0, page.limit).map(toRecord);
    const last = rows.length > page.limit ? rows[page.limit - 1] : undefined;
    return { records, ...(last ? { nextPageToken: encodeCursor({ time: Number(last.time), id: last.id }) } : {}) };
  }

  /**
   * Every matching record, oldest first, read a page at a time. Records answered after the export
   * started are left to the next one (pass its last `time` as `since`).
   */
  async *export(filter: AuditFilter, signal?: AbortSignal): AsyncGenerator<AuditRecord> {
    const now = this.deps.clock.now();
    const bounded = { ...filter, until: Math.min(filter.until ?? Infinity, now + 1) };
    let after: AuditCursor | undefined;
    for (;;) {
      if (signal?.aborted) return;
      const rows = await this.deps.store.list(bounded, { limit: EXPORT_PAGE, order: "asc", after });
      for (const row of rows) yield toRecord(row);
      const last = rows.at(-1);
      if (!last || rows.length < EXPORT_PAGE) return;
      after = { time: Number(last.time), id: last.id };
    }
  }

  /** Deletes records older than the retention; returns how many. */
  async prune(): Promise<number> {
    if (this.deps.retentionDays <= 0) return 0;
    const removed = await this.deps.store.pruneBefore(this.deps.clock.now() - this.deps.retentionDays * DAY_MS);
    if (removed > 0) this.deps.logger.info({ removed, retentionDays: this.deps.retentionDays }, "pruned audit records past their retention");
    return removed;
  }

  /** Starts the summary writer and the retention job (once now, then hourly). */
  start(): void {
    const prune = () => void this.prune().catch((error: unknown) => this.deps.logger.error({ err: error }, "pruning the audit log failed"));
    prune();
    this.timers.push(setInterval(prune, PRUNE_EVERY_MS).unref(), setInterval(() => void this.writeSummaries(), this.deps.summarySeconds * 1000).unref());
  }

  /** Stops the timers and writes what is held: queued records and the summaries so far. */
  async stop(): Promise<void> {
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    await this.flush();
    await this.writeSummaries();
  }
}

function encodeCursor(cursor: AuditCursor): string {
  return Buffer.from(JSON.stringify({ t: cursor.time, i: cursor.id })).toString("base64url");
}

function decodeCursor(token: string): AuditCursor {
  try {
    const { t, i } = JSON.parse(Buffer.from(token, "base64url").toString("utf8")) as { t?: unknown; i?: unknown };
    if (typeof t === "number" && Number.isSafeInteger(t) && typeof i === "string" && i.length <= 64) return { time: t, id: i };
  } catch {
    // fall through to the error below
  }
  throw invalidInput("pageToken is not one this server handed out; pass the nextPageToken of the previous page, or leave it out for the first page");
}
