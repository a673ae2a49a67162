import { sql, type Expression, type ExpressionBuilder, type SqlBool } from "kysely";
import { likeToGlob, parseLike } from "../../core/index.ts";
import type { Database, Tables } from "../../storage/index.ts";
import type { Clause, OrderTerm } from "./search-filter.ts";
import type { RunRow } from "./store.ts";
import type { ViewType } from "./schema.ts";

export interface RunSearch {
  experimentIds?: string[];
  /** Only runs of experiments these teams own (undefined: every team). */
  teams?: string[] | undefined;
  clauses: Clause[];
  order: OrderTerm[];
  viewType: ViewType;
  offset: number;
  limit: number;
}

type Eb = ExpressionBuilder<Tables, "runs">;

const STAGES: Record<ViewType, string[]> = { ACTIVE_ONLY: ["active"], DELETED_ONLY: ["deleted"], ALL: ["active", "deleted"] };

/**
 * Compiles parsed MLflow filters and order-by terms into one SQL query over `runs`, with
 * correlated EXISTS / scalar subqueries on latest_metrics, params, tags and dataset_inputs (each
 * an index lookup on the table's (run_id, key) primary key). User values are always bound.
 */
export async function searchRuns(database: Database, search: RunSearch): Promise<{ runs: RunRow[]; more: boolean }> {
  const matching = matchingRuns(database, search);
  if (!matching) return { runs: [], more: false };
  let query = matching.selectAll("runs");
  for (const term of search.order) {
    const direction = term.ascending ? "asc" : "desc";
    if (term.entity === "attribute") {
      const column = `runs.${term.key}` as "runs.start_time";
      query = query.orderBy(sql`case when ${sql.ref(column)} is null then 1 else 0 end`).orderBy(column, direction);
      continue;
    }
    const value = orderValue(term);
    query = query.orderBy(sql`case when ${value} is null then 1 else 0 end`).orderBy(sql`${value}`, direction);
  }
  query = query.orderBy("runs.start_time", "desc").orderBy("runs.run_id", "asc");
  const rows = await query
    .offset(search.offset)
    .limit(search.limit + 1)
    .execute();
  return { runs: rows.slice(0, search.limit), more: rows.length > search.limit };
}

/** How many runs the search matches, every page together (the same WHERE as searchRuns). */
export async function countRuns(database: Database, search: Omit<RunSearch, "order" | "offset" | "limit">): Promise<number> {
  const matching = matchingRuns(database, search);
  if (!matching) return 0;
  const row = await matching.select((eb) => eb.fn.countAll<number | string>().as("n")).executeTakeFirst();
  return Number(row?.n ?? 0);
}

/** The runs a search matches, before order and paging; undefined when it can match none. */
function matchingRuns(database: Database, search: Omit<RunSearch, "order" | "offset" | "limit">) {
  const { db, dialect } = database;
  let query = db.selectFrom("runs").where("runs.lifecycle_stage", "in", STAGES[search.viewType]);
  if (search.experimentIds) {
    if (search.experimentIds.length === 0) return undefined;
    query = query.where("runs.experiment_id", "in", search.experimentIds);
  }
  if (search.teams) {
    if (search.teams.length === 0) return undefined;
    const teams = search.teams;
    // In the query, before the page is cut, so that paging over several teams' runs stays exact.
    query = query.where("runs.experiment_id", "in", (eb) => eb.selectFrom("experiments").select("experiments.experiment_id").where("experiments.team_id", "in", teams));
  }
  // PostgreSQL turns each EXISTS into a semi-join and plans them together: past its join collapse
  // limit (8) planning grows steeply (100 clauses took over a minute). OFFSET 0 keeps each one a
  // correlated index lookup, as SQLite runs them.
  const fence = dialect === "postgres" && search.clauses.filter((c) => c.entity !== "attribute").length > 8;
  for (const clause of search.clauses) query = query.where((eb) => clauseExpression(eb, clause, dialect, fence));
  return query;
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
        eb
          .selectFrom("latest_metrics as m")
          .select(sql.lit(1).as("one"))
          .whereRef("m.run_id", "=", "runs.run_id")
          .where("m.key", "=", clause.key)
          .where("m.is_nan", "=", 0)
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
