import type { ExpressionBuilder } from "kysely";
import type { Database, Tables } from "../../storage/index.ts";
import type { AuditRow } from "./audit-record.ts";

/** Which records a query or an export returns. */
export interface AuditFilter {
  /** Answered at or after (epoch ms). */
  since?: number | undefined;
  /** Answered before (epoch ms). */
  until?: number | undefined;
  actor?: string | undefined;
  team?: string | undefined;
  /** An action (`models:write`) or every action on one kind (`models:*`). */
  action?: string | undefined;
  outcome?: AuditOutcome | undefined;
}

/** success: 2xx/3xx; failure: 4xx/5xx; or one status, or one error code. */
export type AuditOutcome = { kind: "success" } | { kind: "failure" } | { kind: "status"; status: number } | { kind: "code"; code: string };

/** Where a page starts: after this record, in the page's order. */
export interface AuditCursor {
  time: number;
  id: string;
}

/** Rows inserted by one statement at most (SQLite binds 21 values per row; its limit is 32,766). */
export const MAX_INSERT_ROWS = 500;

type Where = ExpressionBuilder<Tables, "audit_events">;

/** The audit table. It only inserts, reads and prunes by age: nothing here edits a record. */
export class AuditStore {
  constructor(private readonly database: Database) {}

  /** Inserts rows in one statement per 500 (one commit, one fsync, on SQLite). */
  async insert(rows: readonly AuditRow[]): Promise<void> {
    for (let i = 0; i < rows.length; i += MAX_INSERT_ROWS) {
      await this.database.db.insertInto("audit_events").values(rows.slice(i, i + MAX_INSERT_ROWS)).execute();
    }
  }

  /** Up to `limit` rows matching the filter, newest first (`desc`) or oldest first, after `cursor`. */
  async list(filter: AuditFilter, opts: { limit: number; order: "asc" | "desc"; after?: AuditCursor | undefined }): Promise<AuditRow[]> {
    const { order, after } = opts;
    let query = this.database.db.selectFrom("audit_events").selectAll().where((eb) => eb.and(conditions(eb, filter)));
    if (after) {
      const past = order === "desc" ? "<" : ">";
      query = query.where((eb) => eb.or([eb("time", past, after.time), eb.and([eb("time", "=", after.time), eb("id", past, after.id)])]));
    }
    return query.orderBy("time", order).orderBy("id", order).limit(opts.limit).execute();
  }

  /**
   * Deletes records answered before `time` (the retention job), `chunk` at a time, letting other
   * work run between chunks: a first prune of a large log must not hold SQLite for seconds.
   * Returns how many.
   */
  async pruneBefore(time: number, chunk = 5000): Promise<number> {
    let removed = 0;
    for (;;) {
      const oldest = this.database.db.selectFrom("audit_events").select("id").where("time", "<", time).orderBy("time").limit(chunk);
      const result = await this.database.db.deleteFrom("audit_events").where("id", "in", oldest).executeTakeFirst();
      const n = Number(result.numDeletedRows);
      removed += n;
      if (n < chunk) return removed;
      await new Promise((resolve) => setImmediate(resolve));
    }
  }
}

function conditions(eb: Where, filter: AuditFilter) {
  const all = [];
  if (filter.since !== undefined) all.push(eb("time", ">=", filter.since));
  if (filter.until !== undefined) all.push(eb("time", "<", filter.until));
  if (filter.actor !== undefined) all.push(eb("actor", "=", filter.actor));
  if (filter.team !== undefined) all.push(eb("team", "=", filter.team));
  if (filter.action !== undefined) {
    // The schema lets only `<kind>:<verb>` or `<kind>:*` through, letters and '-': no LIKE wildcard of the user's.
    all.push(filter.action.endsWith(":*") ? eb("action", "like", `${filter.action.slice(0, -1)}%`) : eb("action", "=", filter.action));
  }
  const outcome = filter.outcome;
  if (outcome?.kind === "success") all.push(eb("status", "<", 400));
  if (outcome?.kind === "failure") all.push(eb("status", ">=", 400));
  if (outcome?.kind === "status") all.push(eb("status", "=", outcome.status));
  if (outcome?.kind === "code") all.push(eb("error_code", "=", outcome.code));
  return all;
}
