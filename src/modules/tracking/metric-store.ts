import type BetterSqlite3 from "better-sqlite3";
import type { Kysely, Selectable, Transaction } from "kysely";
import { invalidInput } from "../../core/index.ts";
import type { Database, Tables } from "../../storage/index.ts";

export interface MetricInput {
  key: string;
  value: number;
  step: number;
  timestamp: number;
}

export interface Batch {
  metrics: MetricInput[];
  params: Record<string, string>;
  tags: Record<string, string>;
}

type MetricRow = Tables["metrics"];
type LatestRow = Tables["latest_metrics"];

const PG_CHUNK = 5000;

/**
 * Writes metrics, params and tags of one request in one transaction. This is the hot path of
 * `runs/log-batch`: on SQLite it runs cached prepared statements inside one better-sqlite3
 * transaction; on PostgreSQL it sends multi-row inserts. Params are write-once.
 */
export class MetricStore {
  private statements: SqliteStatements | undefined;
  private pending: PendingBatch[] = [];

  constructor(private readonly database: Database) {}

  /**
   * Group commit: every batch whose request finished arriving in the same event-loop turn is
   * written in one transaction (one fsync), each batch in its own savepoint so a rejected batch
   * (a param conflict) does not undo the others. Each caller is answered only after the commit.
   */
  private flush(s: SqliteStatements): void {
    // A Kysely transaction opened since these were queued: wait for it rather than join it.
    if (this.database.sqlite?.inTransaction) {
      setTimeout(() => this.flush(s), 1);
      return;
    }
    const group = this.pending;
    this.pending = [];
    try {
      s.group(group);
    } catch (error) {
      for (const item of group) item.reject(error);
      return;
    }
    for (const item of group) {
      if (item.error === undefined) item.resolve();
      else item.reject(item.error);
    }
  }

  async writeBatch(runId: string, batch: Batch): Promise<void> {
    const params = Object.entries(batch.params);
    const tags = Object.entries(batch.tags);
    const rows = batch.metrics.map((m) => toRow(runId, m));
    const latest = latestPerKey(rows);
    const sqlite = this.database.sqlite;
    // A Kysely transaction in flight holds the connection across awaits; joining it would make
    // these writes part of someone else's commit, so queue behind it through Kysely instead.
    if (sqlite && !sqlite.inTransaction) {
      const s = (this.statements ??= prepare(sqlite));
      return new Promise<void>((resolve, reject) => {
        this.pending.push({ args: [runId, params, tags, rows, latest], resolve, reject });
        if (this.pending.length === 1) setImmediate(() => this.flush(s));
      });
    }
    await this.database.db.transaction().execute(async (trx) => {
      await checkParams(trx, runId, params);
      if (params.length) {
        await trx
          .insertInto("params")
          .values(params.map(([key, value]) => ({ run_id: runId, key, value })))
          .onConflict((oc) => oc.doNothing())
          .execute();
      }
      if (tags.length) {
        await trx
          .insertInto("tags")
          .values(tags.map(([key, value]) => ({ run_id: runId, key, value })))
          .onConflict((oc) => oc.columns(["run_id", "key"]).doUpdateSet((eb) => ({ value: eb.ref("excluded.value") })))
          .execute();
      }
      for (let i = 0; i < rows.length; i += PG_CHUNK) {
        await trx.insertInto("metrics").values(rows.slice(i, i + PG_CHUNK)).execute();
      }
      if (latest.length) await upsertLatest(trx, latest);
    });
  }

  /** One page of a metric's points, oldest step first. */
  async history(runId: string, key: string, opts: { offset: number; limit: number }): Promise<Selectable<MetricRow>[]> {
    let query = this.database.db
      .selectFrom("metrics")
      .selectAll()
      .where("run_id", "=", runId)
      .where("key", "=", key)
      .orderBy("step")
      .orderBy("timestamp")
      .orderBy("id");
    query = query.limit(opts.limit);
    if (opts.offset > 0) query = query.offset(opts.offset);
    return query.execute();
  }
}

function toRow(runId: string, m: MetricInput): Omit<MetricRow, "id"> {
  const nan = Number.isNaN(m.value);
  return { run_id: runId, key: m.key, value: nan ? null : m.value, timestamp: m.timestamp, step: m.step, is_nan: nan ? 1 : 0 };
}

/** The point of each key that should become latest: highest step, then highest timestamp, then last sent. */
function latestPerKey(rows: Omit<MetricRow, "id">[]): LatestRow[] {
  const best = new Map<string, Omit<MetricRow, "id">>();
  for (const row of rows) {
    const current = best.get(row.key);
    if (!current || row.step > current.step || (row.step === current.step && row.timestamp >= current.timestamp)) best.set(row.key, row);
  }
  return [...best.values()];
}

function paramConflict(runId: string, key: string, old: string, value: string) {
  return invalidInput(
    `param '${key}' of run ${runId} was already logged with value '${old}'; params are write-once, so log '${value}' under a new key or start a new run`,
    { key, loggedValue: old, attemptedValue: value },
  );
}

async function checkParams(trx: Transaction<Tables>, runId: string, params: [string, string][]): Promise<void> {
  if (!params.length) return;
  const existing = await trx
    .selectFrom("params")
    .select(["key", "value"])
    .where("run_id", "=", runId)
    .where(
      "key",
      "in",
      params.map(([k]) => k),
    )
    .execute();
  const given = new Map(params);
  for (const row of existing) {
    const value = given.get(row.key);
    if (value !== undefined && value !== row.value) throw paramConflict(runId, row.key, row.value, value);
  }
}

async function upsertLatest(db: Kysely<Tables>, rows: LatestRow[]): Promise<void> {
  for (let i = 0; i < rows.length; i += PG_CHUNK) {
    await db
      .insertInto("latest_metrics")
      .values(rows.slice(i, i + PG_CHUNK))
      .onConflict((oc) =>
        oc
          .columns(["run_id", "key"])
          .doUpdateSet((eb) => ({
            value: eb.ref("excluded.value"),
            timestamp: eb.ref("excluded.timestamp"),
            step: eb.ref("excluded.step"),
            is_nan: eb.ref("excluded.is_nan"),
          }))
          .where((eb) =>
            eb.or([
              eb("excluded.step", ">", eb.ref("latest_metrics.step")),
              eb.and([eb("excluded.step", "=", eb.ref("latest_metrics.step")), eb("excluded.timestamp", ">=", eb.ref("latest_metrics.timestamp"))]),
            ]),
          ),
      )
      .execute();
  }
}

type BatchArgs = [runId: string, params: [string, string][], tags: [string, string][], rows: Omit<MetricRow, "id">[], latest: LatestRow[]];

interface PendingBatch {
  args: BatchArgs;
  resolve(): void;
  reject(error: unknown): void;
  error?: unknown;
}

interface SqliteStatements {
  /** Writes the batches in one transaction, one savepoint each; sets `error` on those that failed. */
  group(items: PendingBatch[]): void;
}

function prepare(sqlite: BetterSqlite3.Database): SqliteStatements {
  const selectParam = sqlite.prepare<[string, string], { value: string }>("select value from params where run_id = ? and key = ?");
  const insertParam = sqlite.prepare("insert into params (run_id, key, value) values (?, ?, ?) on conflict do nothing");
  const upsertTag = sqlite.prepare(
    "insert into tags (run_id, key, value) values (?, ?, ?) on conflict (run_id, key) do update set value = excluded.value",
  );
  const insertMetric = sqlite.prepare("insert into metrics (run_id, key, value, timestamp, step, is_nan) values (?, ?, ?, ?, ?, ?)");
  const upsertLatestRow = sqlite.prepare(
    `insert into latest_metrics (run_id, key, value, timestamp, step, is_nan) values (?, ?, ?, ?, ?, ?)
     on conflict (run_id, key) do update set value = excluded.value, timestamp = excluded.timestamp, step = excluded.step, is_nan = excluded.is_nan
     where excluded.step > latest_metrics.step or (excluded.step = latest_metrics.step and excluded.timestamp >= latest_metrics.timestamp)`,
  );
  const batch = sqlite.transaction(
    (runId: string, params: [string, string][], tags: [string, string][], rows: Omit<MetricRow, "id">[], latest: LatestRow[]) => {
      for (const [key, value] of params) {
        const old = selectParam.get(runId, key);
        if (old && old.value !== value) throw paramConflict(runId, key, old.value, value);
        if (!old) insertParam.run(runId, key, value);
      }
      for (const [key, value] of tags) upsertTag.run(runId, key, value);
      for (const r of rows) insertMetric.run(r.run_id, r.key, r.value, r.timestamp, r.step, r.is_nan);
      for (const r of latest) upsertLatestRow.run(r.run_id, r.key, r.value, r.timestamp, r.step, r.is_nan);
    },
  );
  // A transaction function called inside another becomes a savepoint (better-sqlite3).
  const group = sqlite.transaction((items: PendingBatch[]) => {
    for (const item of items) {
      try {
        batch(...item.args);
      } catch (error) {
        item.error = error;
      }
    }
  });
  return { group: (items) => group.immediate(items) };
}
