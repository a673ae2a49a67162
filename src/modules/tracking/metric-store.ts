import type BetterSqlite3 from "better-sqlite3";
import { CompiledQuery, type Kysely, type Transaction } from "kysely";
import { invalidInput, notFound } from "../../core/index.ts";
import { seriesColumns, seriesOf, SqliteMetricWriter, type BatchArgs, type LatestRow, type Series } from "./metric-writer.ts";
import { appendColumns, CHUNK_POINTS, CHUNK_SUMMARY_COLUMNS, decodeChunk, encodeChunk, summarizeChunk, type ChunkPoints, type Database, type Tables } from "../../storage/index.ts";

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

type ChunkRow = Tables["metric_chunks"];

/** One logged point of a series and where it sits in the order points were logged. */
export interface StoredPoint {
  step: number;
  timestamp: number;
  value: number;
  /** The chunk's number in its series, then the point's position in the chunk: the order logged. */
  seq: number;
  index: number;
}

/** Where a page of history ended: its last point's (step, timestamp, seq, index). */
export type HistoryCursor = [step: number, timestamp: number, seq: number, index: number];

/** The open (last) chunk of a series; `points` only when it has room left. */
interface OpenChunk {
  seq: number;
  count: number;
  points: Uint8Array | null;
}

const PG_CHUNK_ROWS = 200;
const IN_LIST = 500;
const SUMMARY_PAGE = 1024;

/**
 * Writes metrics, params and tags of one request in one transaction. This is the hot path of
 * `runs/log-batch`: on SQLite a writer thread runs cached prepared statements, several requests'
 * batches per transaction (see SqliteMetricWriter); on PostgreSQL it sends multi-row statements.
 * Params are write-once.
 *
 * Points are appended to their series' open chunk until it holds CHUNK_POINTS, then to new ones,
 * so a write touches a bounded number of rows whatever the series or the table already holds.
 */
export class MetricStore {
  private writer: SqliteMetricWriter | undefined;

  /**
   * `summaryPage`: chunk summaries read per query by `history` (tests make it small).
   * `activeRunsOnly`: each write checks, in its own transaction, that the run exists and is active
   * (the tracking service's; a deletion or garbage collection racing it then never loses a batch).
   */
  constructor(
    private readonly database: Database,
    private readonly options: { summaryPage?: number; activeRunsOnly?: boolean } = {},
  ) {
    database.statements?.add(WRITE_BEGIN);
  }

  /**
   * `experimentId`: the run's, kept beside each latest value for runs/search (migration 031).
   * On SQLite the batch goes to the metric writer thread (its own connection, group commit),
   * which answers once it is committed; on PostgreSQL it is one transaction of multi-row statements.
   */
  async writeBatch(runId: string, batch: Batch, experimentId: string): Promise<void> {
    const params = Object.entries(batch.params);
    const tags = Object.entries(batch.tags);
    const series = seriesOf(batch.metrics);
    const latest = latestPerKey(runId, experimentId, series);
    const sqlite = this.database.sqlite;
    if (sqlite) {
      if (!this.writer) {
        const writer = (this.writer = new SqliteMetricWriter(sqlite.name, this.options.activeRunsOnly ?? false));
        this.database.atClose(() => writer.close());
      }
      return this.writer.write([runId, params, tags, series, latest]);
    }
    // PostgreSQL: four round trips for a batch of metrics (begin, lock and open chunks, upsert,
    // commit), the two with values as named statements (Database.statements).
    const statements = this.database.statements;
    await this.database.db.transaction().execute(async (trx) => {
      const open = await lockRunOpenChunks(trx, runId, series.keys, this.options.activeRunsOnly ?? false);
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
      if (!series.keys.length) return;
      const rows: ChunkRow[] = [];
      for (const [key, points] of seriesColumns(series)) rows.push(...chunkRows(runId, key, points, open.get(key)));
      // The latest values and the first chunk rows in one statement (a data-modifying WITH).
      for (let i = 0; i < rows.length; i += PG_CHUNK_ROWS) {
        const part = rows.slice(i, i + PG_CHUNK_ROWS);
        const withLatest = i === 0 ? latest : [];
        const values: unknown[] = [];
        for (const r of withLatest) for (const c of LATEST_COLUMNS) values.push(r[c]);
        for (const r of part) for (const c of CHUNK_ROW_COLUMNS) values.push(r[c]);
        const text = pgUpsertText(withLatest.length, part.length);
        await trx.executeQuery(CompiledQuery.raw(statements ? statements.add(text) : text, values));
      }
    });
  }

  /**
   * Up to `limit` points of a series in history order (step, timestamp, then the order logged),
   * those after `after` when given. Reads chunk summaries first and decodes only the chunks that
   * can hold the page's points.
   */
  async history(runId: string, key: string, opts: { after?: HistoryCursor | undefined; limit: number }): Promise<StoredPoint[]> {
    const { db } = this.database;
    const after = opts.after;
    const pageSize = this.options.summaryPage ?? SUMMARY_PAGE;
    // Summaries in first-step order, fetched a page at a time: a history page stops reading them
    // at the first chunk that starts after its last point.
    const chunks: { seq: number; min_step: number; count: number }[] = [];
    let from: [number, number] | undefined;
    let exhausted = false;
    const have = async (i: number): Promise<boolean> => {
      while (i >= chunks.length && !exhausted) {
        let query = db.selectFrom("metric_chunks").select(["seq", "min_step", "count"]).where("run_id", "=", runId).where("key", "=", key);
        if (after) query = query.where("max_step", ">=", after[0]);
        if (from) query = query.where((eb) => eb(eb.refTuple("min_step", "seq"), ">", eb.tuple(from![0], from![1])));
        const rows = await query.orderBy("min_step").orderBy("seq").limit(pageSize).execute();
        chunks.push(...rows);
        const last = rows.at(-1);
        if (rows.length < pageSize || !last) exhausted = true;
        else from = [last.min_step, last.seq];
      }
      return i < chunks.length;
    };
    let points: StoredPoint[] = [];
    let next = 0;
    const load = async (to: number) => {
      const seqs = chunks.slice(next, to).map((c) => c.seq);
      next = to;
      for (const [seq, chunk] of await readChunks(this.database, runId, key, seqs)) {
        for (let i = 0; i < chunk.steps.length; i++) {
          const p = { step: chunk.steps[i]!, timestamp: chunk.timestamps[i]!, value: chunk.values[i]!, seq, index: i };
          if (!after || compareCursor(p, after) > 0) points.push(p);
        }
      }
    };
    // Enough chunks to fill the page, then every chunk that could still hold a point before its end.
    while (points.length < opts.limit && (await have(next))) {
      let to = next;
      for (let room = opts.limit - points.length; room > 0 && (await have(to)); to++) room -= chunks[to]!.count;
      await load(to);
    }
    for (;;) {
      points.sort(compareHistory);
      if (points.length > opts.limit) points = points.slice(0, opts.limit);
      const bound = points.length >= opts.limit ? points[opts.limit - 1]!.step : Infinity;
      let to = next;
      while ((await have(to)) && chunks[to]!.min_step <= bound) to++;
      if (to === next) return points;
      await load(to);
    }
  }
}

/** History order: step, timestamp, then the order logged. */
export function compareHistory(a: StoredPoint, b: StoredPoint): number {
  return a.step - b.step || a.timestamp - b.timestamp || a.seq - b.seq || a.index - b.index;
}

function compareCursor(p: StoredPoint, c: HistoryCursor): number {
  return p.step - c[0] || p.timestamp - c[1] || p.seq - c[2] || p.index - c[3];
}

/** The given chunks of a series, decoded, read in bounded `in` lists. */
export async function readChunks(database: Database, runId: string, key: string, seqs: number[]): Promise<Map<number, ChunkPoints>> {
  const out = new Map<number, ChunkPoints>();
  for (let i = 0; i < seqs.length; i += IN_LIST) {
    const rows = await database.db
      .selectFrom("metric_chunks")
      .select(["seq", "points"])
      .where("run_id", "=", runId)
      .where("key", "=", key)
      .where("seq", "in", seqs.slice(i, i + IN_LIST))
      .execute();
    for (const r of rows) out.set(r.seq, decodeChunk(r.points));
  }
  return out;
}

/** The chunk rows a series' new points become: the open chunk filled up, then new ones. */
function chunkRows(runId: string, key: string, points: ChunkPoints, open: OpenChunk | undefined): ChunkRow[] {
  const rows: ChunkRow[] = [];
  const n = points.steps.length;
  let from = 0;
  if (open && open.points && open.count < CHUNK_POINTS) {
    from = Math.min(n, CHUNK_POINTS - open.count);
    rows.push(chunkRow(runId, key, open.seq, appendColumns(decodeChunk(open.points), points, 0, from)));
  }
  for (let seq = open ? open.seq + 1 : 0; from < n; seq++) {
    const to = Math.min(n, from + CHUNK_POINTS);
    rows.push(chunkRow(runId, key, seq, appendColumns(undefined, points, from, to)));
    from = to;
  }
  return rows;
}

function chunkRow(runId: string, key: string, seq: number, points: ChunkPoints): ChunkRow {
  return { run_id: runId, key, seq, ...summarizeChunk(points), points: encodeChunk(points) };
}

/** The point of each key that should become latest: highest step, then highest timestamp, then last sent. */
function latestPerKey(runId: string, experimentId: string, series: Series): LatestRow[] {
  const rows: LatestRow[] = [];
  for (const [key, { steps, timestamps, values }] of seriesColumns(series).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    let best = 0;
    for (let i = 1; i < steps.length; i++) {
      if (steps[i]! > steps[best]! || (steps[i] === steps[best] && timestamps[i]! >= timestamps[best]!)) best = i;
    }
    const value = values[best]!;
    const nan = Number.isNaN(value);
    rows.push({ run_id: runId, experiment_id: experimentId, key, value: nan ? null : value, timestamp: timestamps[best]!, step: steps[best]!, is_nan: nan ? 1 : 0 });
  }
  return rows;
}

/** The two-int advisory lock space of a run's metric writes (the leader's is 'pavd', src/storage/leader.ts). */
const RUN_WRITES_LOCK = 0x6d657472; // 'metr'
/** lockRunOpenChunks's one statement, a named statement on each session (Database.statements). */
const WRITE_BEGIN = "select key, seq, count, points, stage from metric_write_begin($1, $2, $3::text[], $4, $5)";

/**
 * PostgreSQL, first in a metric write's transaction, one round trip: migration 034's
 * `metric_write_begin` takes the run's advisory lock (its writes take turns), with `active` holds
 * the run active until the commit (as lockActiveRun), and then reads each series' open chunk.
 * (SQLite's writer thread does the same in process: prepareSqliteWrites.)
 */
async function lockRunOpenChunks(trx: Kysely<Tables>, runId: string, keys: string[], active: boolean): Promise<Map<string, OpenChunk>> {
  type Row = { key: string | null; seq: number | null; count: number | null; points: Uint8Array | null; stage: string | null };
  const { rows } = await trx.executeQuery<Row>(CompiledQuery.raw(WRITE_BEGIN, [RUN_WRITES_LOCK, runId, keys, active, CHUNK_POINTS]));
  // The stage's row is the one without a key.
  const stage = rows.find((r) => r.key === null)?.stage ?? undefined;
  if (stage !== "active") throw runNotWritable(runId, stage);
  return new Map(rows.filter((r) => r.key !== null).map((r) => [r.key!, { seq: Number(r.seq), count: Number(r.count), points: r.points }]));
}

/**
 * Inside the write's transaction: the run is still active, and (PostgreSQL) stays so until the
 * commit, since deleting it and collecting it wait for this share lock. A batch racing a deletion
 * or garbage collection either lands before it or is refused; it is never acknowledged and then lost.
 * On SQLite the write's transaction excludes every other writer already.
 */
export async function lockActiveRun(trx: Kysely<Tables>, runId: string, dialect: "sqlite" | "postgres"): Promise<void> {
  const query = trx.selectFrom("runs").select("lifecycle_stage").where("run_id", "=", runId);
  const row = await (dialect === "postgres" ? query.forShare() : query).executeTakeFirst();
  if (row?.lifecycle_stage !== "active") throw runNotWritable(runId, row?.lifecycle_stage);
}

function runNotWritable(runId: string, stage: string | undefined) {
  return stage === undefined
    ? notFound(`run '${runId}' no longer exists: it was garbage-collected while this request was in flight; it cannot be restored (start a new run)`)
    : invalidInput(`run '${runId}' is deleted; restore it (runs/restore) before logging to it`);
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

/**
 * The two upserts of the write path, as SQL text for both dialects (`tuples`: the placeholders of
 * the rows, `(?, …)` or `($1, …), ($16, …)`). Latest values: a point replaces the stored one unless
 * it is older (step, then timestamp). Chunks: a chunk row written again replaces the stored one (an
 * append to the open chunk).
 */
const LATEST_COLUMNS = ["run_id", "experiment_id", "key", "value", "timestamp", "step", "is_nan"] as const;
const latestUpsert = (tuples: string) => `insert into latest_metrics (${LATEST_COLUMNS.join(", ")}) values ${tuples}
  on conflict (run_id, key) do update set value = excluded.value, timestamp = excluded.timestamp, step = excluded.step, is_nan = excluded.is_nan
  where excluded.step > latest_metrics.step or (excluded.step = latest_metrics.step and excluded.timestamp >= latest_metrics.timestamp)`;
const chunkUpsert = (tuples: string) => `insert into metric_chunks (${CHUNK_ROW_COLUMNS.join(", ")}) values ${tuples}
  on conflict (run_id, key, seq) do update set ${CHUNK_COLUMNS.map((c) => `${c} = excluded.${c}`).join(", ")}`;
const placeholders = (width: number) => `(${Array(width).fill("?").join(", ")})`;

/**
 * PostgreSQL's upsert of a batch by its shape (latest rows, chunk rows): the latest values in a
 * data-modifying WITH, then the chunk rows, in one statement. Made once per shape and cached, not
 * built by Kysely per batch: a 1,000-point batch binds about 220 values. A client picks the shape
 * (up to 1,000 keys a batch: some 20,000 shapes, texts of up to tens of KiB), so at most
 * PG_UPSERT_SHAPES texts are kept; another shape's text is made for its batch (and runs unnamed:
 * NamedStatements keeps fewer still).
 */
const PG_UPSERT_SHAPES = 256;
const pgUpserts = new Map<string, string>();
export function pgUpsertText(latest: number, chunks: number): string {
  const shape = `${latest}:${chunks}`;
  let text = pgUpserts.get(shape);
  if (text === undefined) {
    let n = 0;
    const tuples = (count: number, width: number) => Array.from({ length: count }, () => `(${Array.from({ length: width }, () => `$${++n}`).join(", ")})`).join(", ");
    const latestPart = latest ? `with latest as (${latestUpsert(tuples(latest, LATEST_COLUMNS.length))}) ` : "";
    text = latestPart + chunkUpsert(tuples(chunks, CHUNK_ROW_COLUMNS.length));
    if (pgUpserts.size < PG_UPSERT_SHAPES) pgUpserts.set(shape, text);
  }
  return text;
}

/** How many upsert texts are kept (at most PG_UPSERT_SHAPES), for the tests. */
export const pgUpsertShapesKept = (): number => pgUpserts.size;

/** The columns an append rewrites in a chunk (all but its key), and all of a chunk row's. */
const CHUNK_COLUMNS = [...CHUNK_SUMMARY_COLUMNS, "points"] as const;
const CHUNK_ROW_COLUMNS = ["run_id", "key", "seq", ...CHUNK_COLUMNS] as const;

/** One batch of a group commit; `error` is set when its savepoint was rolled back. */
export interface GroupItem {
  args: BatchArgs;
  error?: unknown;
}

export interface SqliteWrites {
  /** Writes the batches in one transaction, one savepoint each; sets `error` on those that failed. */
  group(items: GroupItem[]): void;
}

/** The SQLite write path's prepared statements, on the metric writer thread's connection. */
export function prepareSqliteWrites(sqlite: BetterSqlite3.Database, activeRunsOnly: boolean): SqliteWrites {
  // Each batch's savepoint keeps the pages it changes in a statement journal, which SQLite moves
  // from memory to a temporary file past 64 KiB: a file created, written and deleted for nearly
  // every 1,000-point batch, a third of this thread's time. In memory it holds the batch's changed
  // pages (about 100 KiB) until the batch's savepoint is released; durability is the WAL's, unchanged.
  sqlite.pragma("temp_store = MEMORY");
  const selectParam = sqlite.prepare<[string, string], { value: string }>("select value from params where run_id = ? and key = ?");
  const insertParam = sqlite.prepare("insert into params (run_id, key, value) values (?, ?, ?) on conflict do nothing");
  const upsertTag = sqlite.prepare(
    "insert into tags (run_id, key, value) values (?, ?, ?) on conflict (run_id, key) do update set value = excluded.value",
  );
  const selectOpen = sqlite.prepare<[number, string, string], OpenChunk>(
    "select seq, count, case when count < ? then points end as points from metric_chunks where run_id = ? and key = ? order by seq desc limit 1",
  );
  const upsertChunk = sqlite.prepare(chunkUpsert(placeholders(CHUNK_ROW_COLUMNS.length)));
  const upsertLatestRow = sqlite.prepare(latestUpsert(placeholders(LATEST_COLUMNS.length)));
  const selectStage = sqlite.prepare<[string], { lifecycle_stage: string }>("select lifecycle_stage from runs where run_id = ?");
  const batch = sqlite.transaction(
    (runId: string, params: [string, string][], tags: [string, string][], series: Series, latest: LatestRow[]) => {
      // In the write's own transaction: a run deleted or collected since the caller checked is refused.
      const stage = activeRunsOnly ? selectStage.get(runId)?.lifecycle_stage : "active";
      if (stage !== "active") throw runNotWritable(runId, stage);
      for (const [key, value] of params) {
        const old = selectParam.get(runId, key);
        if (old && old.value !== value) throw paramConflict(runId, key, old.value, value);
        if (!old) insertParam.run(runId, key, value);
      }
      for (const [key, value] of tags) upsertTag.run(runId, key, value);
      for (const [key, points] of seriesColumns(series)) {
        for (const r of chunkRows(runId, key, points, selectOpen.get(CHUNK_POINTS, runId, key))) {
          upsertChunk.run(...CHUNK_ROW_COLUMNS.map((c) => r[c]));
        }
      }
      for (const r of latest) upsertLatestRow.run(r.run_id, r.experiment_id, r.key, r.value, r.timestamp, r.step, r.is_nan);
    },
  );
  // A transaction function called inside another becomes a savepoint (better-sqlite3).
  const group = sqlite.transaction((items: GroupItem[]) => {
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
