import { compileLike, decodePageToken, encodePageToken, invalidInput } from "../../core/index.ts";

// MLflow's registry and logged-model filter strings: clauses joined by AND, each
// `<key> <op> <value>` with key an attribute or `tags.<key>` (backquotes allowed), values quoted.

export interface Clause {
  key: string;
  /** `tag` for tags.<key>, `param` for params.<key>, else `attribute`. */
  entity: "attribute" | "tag" | "param";
  op: "=" | "!=" | "LIKE" | "ILIKE" | "IN" | "NOT IN";
  value: string | string[];
}

/** Bounds of one filter: clauses joined by AND, and values in all its IN lists together. */
export const FILTER_LIMITS = { clauses: 100, listValues: 10_000 } as const;

// A bare word may end in `.` followed by a backquoted or double-quoted part: ``tag.`mlflow.prompt.is_prompt` ``
// is one key (MLflow 3 sends it with every registered-model search). The word cannot hold a quote,
// so where it ends is fixed and nothing backtracks.
const TOKEN = /\s*(?:(`[^`]*`|"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')|(\()|(\))|(,)|(!=|=|<>)|([^\s=!<>(),'"`]+(?:(?<=\.)(?:`[^`]*`|"(?:[^"\\]|\\.)*"))?))/y;

function unquote(s: string): string {
  return s.slice(1, -1).replace(/\\(.)/g, "$1");
}

/** Parses a filter; `attributes` lists the attribute keys the caller can evaluate. */
export function parseFilter(filter: string | undefined, attributes: readonly string[], what: string): Clause[] {
  if (!filter || !filter.trim()) return [];
  const tokens: string[] = [];
  TOKEN.lastIndex = 0;
  while (TOKEN.lastIndex < filter.length) {
    const start = TOKEN.lastIndex;
    const m = TOKEN.exec(filter);
    if (!m) {
      if (!filter.slice(start).trim()) break;
      throw invalidInput(`cannot parse ${what} filter near '${filter.slice(start, start + 20)}'; write e.g. "name LIKE 'churn%'"`);
    }
    tokens.push(m[0].trim());
  }
  const clauses: Clause[] = [];
  let i = 0;
  const fix = `filter ${what} with ${attributes.join(", ")} or tags.<key>, using =, !=, LIKE, ILIKE or IN, joined by AND`;
  let listValues = 0;
  while (i < tokens.length) {
    const rawKey = tokens[i++];
    if (!rawKey) break;
    const key = rawKey.startsWith("`") || rawKey.startsWith('"') ? unquote(rawKey) : rawKey;
    let entity: Clause["entity"] = "attribute";
    let name = key;
    const dotted = /^(tags?|params?|attributes?)\.(.+)$/i.exec(key);
    if (dotted) {
      const prefix = dotted[1]!.toLowerCase();
      name = /^[`"]/.test(dotted[2]!) ? unquote(dotted[2]!) : dotted[2]!;
      entity = prefix.startsWith("tag") ? "tag" : prefix.startsWith("param") ? "param" : "attribute";
    }
    if (entity === "attribute" && !attributes.includes(name)) throw invalidInput(`invalid ${what} filter key '${key}'; ${fix}`);
    let op = (tokens[i++] ?? "").toUpperCase();
    if (op === "NOT" && (tokens[i] ?? "").toUpperCase() === "IN") {
      op = "NOT IN";
      i++;
    }
    if (op === "<>") op = "!=";
    if (!["=", "!=", "LIKE", "ILIKE", "IN", "NOT IN"].includes(op)) throw invalidInput(`invalid operator '${op}' in ${what} filter; ${fix}`);
    let value: string | string[];
    if (op === "IN" || op === "NOT IN") {
      if (tokens[i++] !== "(") throw invalidInput(`IN needs a parenthesised list, e.g. name IN ('a', 'b'); ${fix}`);
      const items: string[] = [];
      for (;;) {
        const item = tokens[i++];
        if (!item || !/^['"]/.test(item)) throw invalidInput(`IN lists hold quoted strings; ${fix}`);
        items.push(unquote(item));
        if (++listValues > FILTER_LIMITS.listValues) throw invalidInput(`IN lists hold at most ${FILTER_LIMITS.listValues} values in all; split the search`);
        const sep = tokens[i++];
        if (sep === ")") break;
        if (sep !== ",") throw invalidInput(`IN list items are separated by commas; ${fix}`);
      }
      value = items;
    } else {
      const raw = tokens[i++];
      if (!raw || !/^['"]/.test(raw)) throw invalidInput(`values in ${what} filters are quoted strings, e.g. name = 'churn'; ${fix}`);
      value = unquote(raw);
    }
    if (clauses.length >= FILTER_LIMITS.clauses) throw invalidInput(`a ${what} filter holds at most ${FILTER_LIMITS.clauses} clauses; narrow it or split the search`);
    const clause: Clause = { key: name, entity, op: op as Clause["op"], value };
    // Compiled once here, so a malformed pattern is refused even when nothing is there to match.
    if (op === "LIKE" || op === "ILIKE") likeMatchers.set(clause, compileLike(value as string, { caseInsensitive: op === "ILIKE" }));
    clauses.push(clause);
    const next = tokens[i];
    if (next === undefined) break;
    if (next.toUpperCase() !== "AND") throw invalidInput(`${what} filter clauses are joined by AND; got '${next}'`);
    i++;
  }
  return clauses;
}

const lists = new WeakMap<Clause, Set<string>>();

/** An IN list as a set, made once per clause (rows × values would otherwise be compared). */
function listOf(clause: Clause): Set<string> {
  let set = lists.get(clause);
  if (!set) lists.set(clause, (set = new Set(clause.value as string[])));
  return set;
}

/** The linear-time matcher of each LIKE/ILIKE clause (user patterns never become a RegExp). */
const likeMatchers = new WeakMap<Clause, (text: string) => boolean>();

/**
 * The tag MLflow marks prompts with. MLflow 3 clients add ``tag.`mlflow.prompt.is_prompt` != 'true'``
 * to every registered-model and model-version search; a model without the tag is not a prompt.
 */
export const PROMPT_TAG = "mlflow.prompt.is_prompt";

/**
 * Evaluates one clause against a value. An absent key never matches, whatever the operator, as in
 * MLflow's stores (SearchModelUtils and the SQL store alike); the one exception is MLflow's too:
 * without `mlflow.prompt.is_prompt`, `!= 'true'` and `= 'false'` match (the model is not a prompt).
 */
export function matches(actual: string | undefined, clause: Clause): boolean {
  if (actual === undefined) {
    if (clause.entity !== "tag" || clause.key !== PROMPT_TAG) return false;
    return (clause.op === "!=" && clause.value === "true") || (clause.op === "=" && clause.value === "false");
  }
  const { op, value } = clause;
  switch (op) {
    case "=":
      return actual === value;
    case "!=":
      return actual !== value;
    case "IN":
      return listOf(clause).has(actual);
    case "NOT IN":
      return !listOf(clause).has(actual);
    case "LIKE":
    case "ILIKE": {
      let matcher = likeMatchers.get(clause);
      if (!matcher) likeMatchers.set(clause, (matcher = compileLike(String(value), { caseInsensitive: op === "ILIKE" })));
      return matcher(actual);
    }
  }
}

export interface OrderTerm {
  key: string;
  asc: boolean;
}

/** Parses MLflow order_by clauses (`name ASC`, `last_updated_timestamp DESC`) against allowed keys (with aliases). */
export function parseOrderBy(orderBy: string[] | undefined, keys: Record<string, string>, what: string): OrderTerm[] {
  return (orderBy ?? [])
    .filter((t) => t.trim())
    .map((t) => {
      // Trimmed first: `\s*(ASC|DESC)?\s*$` on the untrimmed term backtracks quadratically on long runs of spaces.
      const m = /^(?:attributes?\.)?`?([\w.]+)`?(?:\s+(ASC|DESC))?$/i.exec(t.trim());
      const key = m ? keys[m[1]!.toLowerCase()] : undefined;
      if (!m || !key) throw invalidInput(`invalid ${what} order_by '${t}'; use ${Object.keys(keys).join(", ")}, then ASC or DESC`);
      return { key, asc: (m[2] ?? "ASC").toUpperCase() === "ASC" };
    });
}

/** A comparator over the terms, on values read by `get`. */
export function comparator<T>(terms: OrderTerm[], get: (item: T, key: string) => string | number | null): (a: T, b: T) => number {
  return (a, b) => {
    for (const { key, asc } of terms) {
      const x = get(a, key);
      const y = get(b, key);
      if (x === y) continue;
      if (x === null) return 1;
      if (y === null) return -1;
      return (x < y ? -1 : 1) * (asc ? 1 : -1);
    }
    return 0;
  };
}


/** One page of `items` from a page token. */
export function page<T>(items: T[], maxResults: number, pageToken: string | undefined): { items: T[]; nextPageToken?: string } {
  const offset = decodePageToken(pageToken);
  const slice = items.slice(offset, offset + maxResults);
  return { items: slice, ...(offset + maxResults < items.length ? { nextPageToken: encodePageToken(offset + maxResults) } : {}) };
}
