import { createHash } from "node:crypto";
import { sql, type CompiledQuery, type Expression, type ExpressionBuilder, type RawBuilder, type SelectQueryBuilder, type SqlBool } from "kysely";
import { invalidInput, likeToGlob, parseLike } from "../../core/index.ts";
import type { Database, Tables } from "../../storage/index.ts";
import type { Clause, OrderTerm } from "./search-filter.ts";
import type { RunRow } from "./store.ts";
import type { ViewType } from "./schema.ts";

/** One sort value of a run: a metric's or numeric attribute's number, a string, or null (missing: sorts last). */
export type SortValue = number | string | null;

/**
 * Where a page ended: the last run's value of each order term, then its start_time and run_id
 * (the tie-breakers), in the order the search sorts by.
 */
export type SearchPosition = SortValue[];

export interface RunSearch {
  experimentIds?: string[];
  /** Only runs of experiments these teams own (undefined: every team). */
  teams?: string[] | undefined;
  clauses: Clause[];
  order: OrderTerm[];
  viewType: ViewType;
  /** The position the previous page ended at (keyset paging); undefined for the first page. */
  after?: SearchPosition | undefined;
  limit: number;
}

type Where = Omit<RunSearch, "order" | "after" | "limit">;
type Eb = ExpressionBuilder<Tables, "runs">;
/** A page query: `runs`, or the latest values of one metric (`o`) joined to their runs. */
type PageQuery = SelectQueryBuilder<Tables & { o: Tables["latest_metrics"] }, "runs" | "o", object>;

const STAGES: Record<ViewType, string[]> = { ACTIVE_ONLY: ["active"], DELETED_ONLY: ["deleted"], ALL: ["active", "deleted"] };
const NULLABLE_ATTRIBUTES = new Set(["end_time"]);
const NUMERIC_ATTRIBUTES = new Set(["start_time", "end_time"]);
/**
 * Several experiment ids are walked one experiment at a time (each walk stops at a page) and the
 * walks merged; past this many, they are one IN list, which sorts every match.
 */
const MAX_WALKS = 50;

/** A sort key: an expression, its direction, and whether it can be null (nulls sort last). */
interface Key {
  expr: Expression<unknown>;
  ascending: boolean;
  nullable: boolean;
}

interface Hit {
  run: RunRow;
  position: SearchPosition;
}

/**
 * One page of a runs search, in MLflow's order: the order terms (nulls, NaN included, last), then
 * start_time DESC, then run_id; `next` is the last run's position when more runs follow.
 *
 * The cost follows the page, not the experiment: when the first term is a metric, the page walks
 * latest_metrics by its (experiment_id, key, value) index in order and stops after limit + 1
 * matches, then (only if the page is not full) the runs without that metric; otherwise it walks
 * runs by (experiment_id, start_time). Filters are correlated EXISTS lookups on each table's
 * (run_id, key) primary key, checked per walked run. User values are always bound.
 */
export async function searchRuns(database: Database, search: RunSearch): Promise<{ runs: RunRow[]; next?: SearchPosition }> {
  if (emptySearch(search)) return { runs: [] };
  const order = distinctTerms(search.order);
  const hits = await walk(database, search, order, [], search.after, search.limit + 1);
  const page = hits.slice(0, search.limit);
  return { runs: page.map((h) => h.run), ...(hits.length > search.limit ? { next: page.at(-1)!.position } : {}) };
}

/** Set by `pageQueries`: every page query a search runs is compiled into it. */
let compiledPages: CompiledQuery[] | undefined;

/**
 * The SQL of each query a search runs (in order), for EXPLAIN: tests assert the plan, and
 * docs/tracking.md shows it. Runs the search.
 */
export async function pageQueries(database: Database, search: RunSearch): Promise<CompiledQuery[]> {
  const list: CompiledQuery[] = [];
  compiledPages = list;
  try {
    await searchRuns(database, search);
  } finally {
    compiledPages = undefined;
  }
  return list;
}

/** How many runs the search matches, every page together (the same WHERE as searchRuns). */
export async function countRuns(database: Database, search: Where): Promise<number> {
  if (emptySearch(search)) return 0;
  const query = matching(database.db.selectFrom("runs") as unknown as PageQuery, search, search.experimentIds, database.dialect);
  const row = await query.select((eb) => eb.fn.countAll<number | string>().as("n")).executeTakeFirst();
  return Number(row?.n ?? 0);
}

// ---- page tokens ----

/** A page token: the query it belongs to (a digest) and the position its page ended at. */
export function encodeSearchToken(search: Omit<RunSearch, "after" | "limit" | "teams">, position: SearchPosition): string {
  const after = position.map((v) => (typeof v === "number" && !Number.isFinite(v) ? String(v) : v));
  return Buffer.from(JSON.stringify({ q: queryDigest(search), after })).toString("base64url");
}

/** The position a token carries (undefined without one); INVALID_INPUT for a token of another query or an old offset token. */
export function decodeSearchToken(search: Omit<RunSearch, "after" | "limit" | "teams">, token: string | undefined): SearchPosition | undefined {
  if (!token) return undefined;
  let parsed: { q?: unknown; after?: unknown; offset?: unknown } | undefined;
  try {
    parsed = JSON.parse(Buffer.from(token, "base64url").toString("utf8")) as typeof parsed;
  } catch {
    // refused below
  }
  if (parsed && typeof parsed === "object" && "offset" in parsed) {
    throw invalidInput(
      "this page_token is an offset token (from experiments/search, or from runs/search before pages carried their position); search again without page_token and follow the next_page_token runs/search answers",
    );
  }
  if (parsed && typeof parsed === "object" && typeof parsed.q === "string" && parsed.q !== queryDigest(search)) {
    throw invalidInput(
      "this page_token belongs to another runs/search query (other experiment ids, filter, order_by or run_view_type); pass the next_page_token of this query's previous page unchanged, or none for its first page",
    );
  }
  const terms = distinctTerms(search.order);
  const after = parsed?.after;
  const kinds = [...terms.map((t) => (t.entity === "metric" || (t.entity === "attribute" && NUMERIC_ATTRIBUTES.has(t.key)) ? "number" : "string")), "number", "string"];
  if (typeof parsed?.q !== "string" || !Array.isArray(after) || after.length !== kinds.length) {
    throw invalidInput("invalid page_token; pass the next_page_token of the previous runs/search response unchanged, or none for the first page");
  }
  return after.map((v: unknown, i) => {
    const last = i >= terms.length;
    if (v === null && !last) return null;
    if (kinds[i] === "string" && typeof v === "string") return v;
    if (kinds[i] === "number" && typeof v === "number" && Number.isFinite(v)) return v;
    if (kinds[i] === "number" && (v === "Infinity" || v === "-Infinity") && !last) return Number(v);
    throw invalidInput("invalid page_token; pass the next_page_token of the previous runs/search response unchanged, or none for the first page");
  });
}

/** What a token is bound to: the experiments, filter, order and view (not the page size, not the caller's teams). */
function queryDigest(search: Omit<RunSearch, "after" | "limit" | "teams">): string {
  const experiments = search.experimentIds ? [...new Set(search.experimentIds)].sort() : null;
  const text = JSON.stringify([experiments, search.clauses, distinctTerms(search.order), search.viewType]);
  return createHash("sha256").update(text).digest("base64url").slice(0, 16);
}

// ---- the walk ----

function emptySearch(search: Where): boolean {
  return (search.experimentIds !== undefined && search.experimentIds.length === 0) || (search.teams !== undefined && search.teams.length === 0);
}

/** The order terms without repeats: a term already sorted by decides nothing the second time. */
function distinctTerms(order: OrderTerm[]): OrderTerm[] {
  const seen = new Set<string>();
  return order.filter((t) => {
    const id = `${t.entity}\0${t.key}`;
    if (seen.has(id)) return false;
    seen.add(id);
    return true;
  });
}

/**
 * Up to `limit` runs in the order `terms` (then the tie-breakers), after `after`, among runs that
 * lack every metric in `missing`. A first term on a metric splits the order in two: runs with a
 * value (walked along the metric's index), then runs without one (the rest of the terms, recursively).
 */
async function walk(database: Database, search: Where, terms: OrderTerm[], missing: string[], after: SearchPosition | undefined, limit: number): Promise<Hit[]> {
  const first = terms[0];
  if (first?.entity !== "metric") return page(database, search, terms, undefined, missing, after, limit);
  const inPresent = after === undefined || after[0] !== null;
  const present = inPresent ? await page(database, search, terms, first.key, missing, after, limit) : [];
  if (present.length >= limit) return present;
  const rest = await walk(database, search, terms.slice(1), [...missing, first.key], inPresent ? undefined : after!.slice(1), limit - present.length);
  return [...present, ...rest.map((h) => ({ run: h.run, position: [null, ...h.position] }))];
}

/** One query: a walk per experiment (merged), or one walk over the IN list or every experiment. */
async function page(
  database: Database,
  search: Where,
  terms: OrderTerm[],
  driver: string | undefined,
  missing: string[],
  after: SearchPosition | undefined,
  limit: number,
): Promise<Hit[]> {
  const { db, dialect } = database;
  const keys = [...terms.map((t, i) => termKey(t, i === 0 && driver !== undefined)), ...TIE_BREAKERS];
  const ids = search.experimentIds;
  const walks = ids && ids.length > 1 && ids.length <= MAX_WALKS ? [...new Set(ids)].map((id) => [id]) : [ids];
  const queries = walks.map((experimentIds) => {
    let query: PageQuery = driver
      ? db
          .selectFrom("latest_metrics as o")
          .innerJoin("runs", "runs.run_id", "o.run_id")
          .where("o.key", "=", driver)
          .where("o.value", "is not", null)
      : (db.selectFrom("runs") as unknown as PageQuery);
    // The driving index's leading column (latest_metrics_search); `runs.experiment_id` is checked too, below.
    if (driver && experimentIds?.length === 1) query = query.where("o.experiment_id", "=", experimentIds[0]!);
    query = matching(query, search, experimentIds, dialect);
    for (const key of missing) query = query.where((eb) => eb.not(eb.exists(metricValue(eb as unknown as Eb, key))));
    if (after) query = query.where(afterPosition(keys, after));
    let selected = query.selectAll("runs");
    terms.forEach((_, i) => (selected = selected.select(sql`${keys[i]!.expr}`.as(`k${i}`)) as typeof selected));
    return selected;
  });
  const sorted = <T extends { orderBy: (e: Expression<unknown>, d: "asc" | "desc") => T }>(q: T, ks: Key[]) =>
    ks.reduce((acc, k) => (k.nullable ? acc.orderBy(sql`case when ${k.expr} is null then 1 else 0 end`, "asc") : acc).orderBy(k.expr, k.ascending ? "asc" : "desc"), q);
  let compiled: CompiledQuery;
  if (queries.length === 1) {
    compiled = sorted(queries[0]!, keys).limit(limit).compile();
  } else {
    // Each experiment's walk stops at `limit`; the merged page is cut again.
    const branches = queries.map((q, i) => sql`select * from ${sorted(q, keys).limit(limit)} as ${sql.raw(`w${i}`)}`);
    const outer = keys.map((k, i) => ({ ...k, expr: sql.ref(i < terms.length ? `u.k${i}` : i === terms.length ? "u.start_time" : "u.run_id") }));
    const orderBy = outer.flatMap((k) => [
      ...(k.nullable ? [sql`case when ${k.expr} is null then 1 else 0 end`] : []),
      sql`${k.expr} ${sql.raw(k.ascending ? "asc" : "desc")}`,
    ]);
    compiled = sql`select * from (${sql.join(branches, sql` union all `)}) as u order by ${sql.join(orderBy)} limit ${limit}`.compile(db);
  }
  compiledPages?.push(compiled);
  const rows = (await db.executeQuery<Record<string, unknown>>(compiled)).rows;
  return rows.map((row) => {
    const run = { ...row } as Record<string, unknown>;
    const position: SearchPosition = terms.map((_, i) => sortValue(row[`k${i}`]));
    terms.forEach((_, i) => delete run[`k${i}`]);
    position.push(Number(row.start_time), String(row.run_id));
    return { run: run as unknown as RunRow, position };
  });
}

function sortValue(value: unknown): SortValue {
  if (value === null || value === undefined) return null;
  return typeof value === "number" || typeof value === "string" ? value : Number(value);
}

const TIE_BREAKERS: Key[] = [
  { expr: sql.ref("runs.start_time"), ascending: false, nullable: false },
  { expr: sql.ref("runs.run_id"), ascending: true, nullable: false },
];

function termKey(term: OrderTerm, driven: boolean): Key {
  if (driven) return { expr: sql.ref("o.value"), ascending: term.ascending, nullable: false };
  if (term.entity === "attribute") return { expr: sql.ref(`runs.${term.key}`), ascending: term.ascending, nullable: NULLABLE_ATTRIBUTES.has(term.key) };
  return { expr: orderValue(term), ascending: term.ascending, nullable: true };
}

/**
 * Runs after `position` in the order of `keys` (nulls last): the first key that differs decides.
 * The first key's bound is repeated on its own so that the planner can start the walk there.
 */
function afterPosition(keys: Key[], position: SearchPosition): Expression<SqlBool> {
  const same = (k: Key, v: SortValue) => (v === null ? sql<SqlBool>`${k.expr} is null` : sql<SqlBool>`${k.expr} = ${v}`);
  const beyond = (k: Key, v: SortValue): RawBuilder<SqlBool> | undefined => {
    if (v === null) return undefined; // nothing sorts after null (nulls are last), and nulls tie
    const op = sql.raw(k.ascending ? ">" : "<");
    return k.nullable ? sql<SqlBool>`(${k.expr} ${op} ${v} or ${k.expr} is null)` : sql<SqlBool>`${k.expr} ${op} ${v}`;
  };
  const alternatives: RawBuilder<SqlBool>[] = [];
  keys.forEach((k, i) => {
    const past = beyond(k, position[i] ?? null);
    if (past) alternatives.push(sql<SqlBool>`(${sql.join([...keys.slice(0, i).map((p, j) => same(p, position[j] ?? null)), past], sql` and `)})`);
  });
  if (!alternatives.length) return sql<SqlBool>`1 = 0`;
  const any = sql<SqlBool>`(${sql.join(alternatives, sql` or `)})`;
  const first = keys[0]!;
  const start = position[0];
  if (first.nullable || start === null || start === undefined) return any;
  return sql<SqlBool>`${first.expr} ${sql.raw(first.ascending ? ">=" : "<=")} ${start} and ${any}`;
}

/** The WHERE every page and the count share: view type, experiments, teams, filter clauses. */
function matching(query: PageQuery, search: Where, experimentIds: string[] | undefined, dialect: Database["dialect"]): PageQuery {
  query = query.where("runs.lifecycle_stage", "in", STAGES[search.viewType]);
  if (experimentIds) query = experimentIds.length === 1 ? query.where("runs.experiment_id", "=", experimentIds[0]!) : query.where("runs.experiment_id", "in", experimentIds);
  if (search.teams) {
    const teams = search.teams;
    // In the query, before the page is cut, so that paging over several teams' runs stays exact.
    query = query.where("runs.experiment_id", "in", (eb) => eb.selectFrom("experiments").select("experiments.experiment_id").where("experiments.team_id", "in", teams));
  }
  // PostgreSQL turns each EXISTS into a semi-join and plans them together: past its join collapse
  // limit (8) planning grows steeply (100 clauses took over a minute). OFFSET 0 keeps each one a
  // correlated index lookup, as SQLite runs them.
  const fence = dialect === "postgres" && search.clauses.filter((c) => c.entity !== "attribute").length > 8;
  for (const clause of search.clauses) query = query.where((eb) => clauseExpression(eb as unknown as Eb, clause, dialect, fence));
  return query;
}

/** The run's latest value of a metric, NaN excluded (a NaN sorts and filters as a missing value). */
function metricValue(eb: Eb, key: string) {
  return eb
    .selectFrom("latest_metrics as m")
    .select(sql.lit(1).as("one"))
    .whereRef("m.run_id", "=", "runs.run_id")
    .where("m.key", "=", key)
    .where("m.is_nan", "=", 0);
}

function orderValue(term: OrderTerm) {
  if (term.entity === "metric") {
    return sql`(select m.value from latest_metrics m where m.run_id = runs.run_id and m.key = ${term.key} and m.is_nan = 0)`;
  }
  const table = term.entity === "param" ? sql.table("params") : sql.table("tags");
  return sql`(select x.value from ${table} x where x.run_id = runs.run_id and x.key = ${term.key})`;
}

function clauseExpression(eb: Eb, clause: Clause, dialect: Database["dialect"], fence: boolean): Expression<SqlBool> {
  switch (clause.entity) {
    case "metric":
      return eb.exists(
        metricValue(eb, clause.key)
          .where("m.value", clause.op === "!=" ? "<>" : clause.op, clause.value)
          .$if(fence, (q) => q.offset(0)),
      );
    case "param":
    case "tag": {
      const table = clause.entity === "param" ? "params" : "tags";
      return eb.exists(
        eb
          .selectFrom(`${table} as x` as "params as x")
          .select(sql.lit(1).as("one"))
          .whereRef("x.run_id", "=", "runs.run_id")
          .where("x.key", "=", clause.key)
          .where(() => stringMatch(sql.ref("x.value"), clause.op, clause.value, dialect))
          .$if(fence, (q) => q.offset(0)),
      );
    }
    case "dataset": {
      const column = clause.key === "context" ? "d.context" : clause.key === "digest" ? "d.digest" : "d.name";
      return eb.exists(
        eb
          .selectFrom("dataset_inputs as d")
          .select(sql.lit(1).as("one"))
          .whereRef("d.run_id", "=", "runs.run_id")
          .where(() => stringMatch(sql.ref(column), clause.op, clause.value, dialect))
          .$if(fence, (q) => q.offset(0)),
      );
    }
    case "attribute": {
      const column = sql.ref(`runs.${clause.key}`);
      if (typeof clause.value === "number") {
        const op = clause.op === "!=" ? "<>" : clause.op;
        return sql<SqlBool>`${column} ${sql.raw(op)} ${clause.value}`;
      }
      return stringMatch(column, clause.op, clause.value, dialect);
    }
  }
}

function stringMatch(
  column: Expression<unknown>,
  op: Clause["op"],
  value: string | number | string[],
  dialect: Database["dialect"],
): Expression<SqlBool> {
  if (op === "IN" || op === "NOT IN") {
    const list = Array.isArray(value) ? value : [String(value)];
    if (list.length === 0) return sql<SqlBool>`${sql.lit(op === "NOT IN" ? 1 : 0)} = 1`;
    return sql<SqlBool>`${column} ${sql.raw(op === "IN" ? "in" : "not in")} (${sql.join(list)})`;
  }
  const text = String(value);
  // Both databases match patterns without backtracking; `\` escapes on both, as in PostgreSQL
  // (core/like-pattern.ts is the reference, and its test compares the three).
  if (op === "LIKE") {
    // SQLite's LIKE ignores case; MLflow's LIKE does not, so SQLite gets the equivalent GLOB.
    if (dialect === "sqlite") return sql<SqlBool>`${column} glob ${likeToGlob(text)}`;
    parseLike(text);
    return sql<SqlBool>`${column} like ${text}`;
  }
  if (op === "ILIKE") {
    parseLike(text);
    return dialect === "sqlite" ? sql<SqlBool>`lower(${column}) like lower(${text}) escape '\\'` : sql<SqlBool>`${column} ilike ${text}`;
  }
  return sql<SqlBool>`${column} ${sql.raw(op === "=" ? "=" : "<>")} ${text}`;
}
