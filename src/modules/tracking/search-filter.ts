import { invalidInput } from "../../core/index.ts";

/** What a clause or an order-by term refers to. */
export type Entity = "metric" | "param" | "tag" | "attribute" | "dataset";
export type ComparisonOp = "=" | "!=" | "<" | "<=" | ">" | ">=";
export type StringOp = "=" | "!=" | "LIKE" | "ILIKE" | "IN" | "NOT IN";
export type FilterOp = ComparisonOp | StringOp;

export type Clause =
  | { entity: "metric"; key: string; op: ComparisonOp; value: number }
  | { entity: "attribute"; key: string; op: ComparisonOp; value: number }
  | { entity: "param" | "tag" | "dataset"; key: string; op: StringOp; value: string | string[] }
  | { entity: "attribute"; key: string; op: StringOp; value: string | string[] };

/** The attributes a filter may name, split by type. */
export interface AttributeSet {
  numeric: readonly string[];
  string: readonly string[];
}

export interface OrderTerm {
  entity: "metric" | "param" | "tag" | "attribute";
  key: string;
  ascending: boolean;
}

export const NUMERIC_ATTRIBUTES = ["start_time", "end_time"] as const;
export const STRING_ATTRIBUTES = ["run_id", "run_name", "status", "user_id", "artifact_uri", "lifecycle_stage"] as const;
export const RUN_ATTRIBUTES: AttributeSet = { numeric: NUMERIC_ATTRIBUTES, string: STRING_ATTRIBUTES };
const DATASET_FIELDS = ["name", "digest", "context"];

const ENTITY_PREFIXES: Record<string, Entity> = {
  metric: "metric",
  metrics: "metric",
  param: "param",
  params: "param",
  parameter: "param",
  parameters: "param",
  tag: "tag",
  tags: "tag",
  attribute: "attribute",
  attributes: "attribute",
  attr: "attribute",
  run: "attribute",
  dataset: "dataset",
  datasets: "dataset",
};
const ATTRIBUTE_ALIASES: Record<string, string> = { created: "start_time", Created: "start_time", run_uuid: "run_id" };
const FIX = "e.g. \"metrics.acc > 0.9 and params.lr = '0.01' and attributes.status = 'FINISHED'\"";
/** Bounds of one filter: clauses joined by AND, and values in all its IN lists together (each a bound SQL parameter). */
export const FILTER_LIMITS = { clauses: 100, listValues: 10_000 } as const;

type Token =
  | { type: "ident"; entity: Entity; key: string; at: number }
  | { type: "string"; value: string; at: number }
  | { type: "number"; value: number; at: number }
  | { type: "op"; value: string; at: number }
  | { type: "word"; value: string; at: number }
  | { type: "punct"; value: "(" | ")" | ","; at: number };

function tokenize(input: string, what: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  const fail = (message: string): never => {
    throw invalidInput(`invalid ${what} at character ${i}: ${message}; ${FIX}`);
  };
  const readQuoted = (): string => {
    const quote = input[i];
    let out = "";
    i++;
    while (i < input.length) {
      const c = input[i]!;
      if (c === "\\" && i + 1 < input.length) {
        out += input[i + 1];
        i += 2;
        continue;
      }
      if (c === quote) {
        if (input[i + 1] === quote && quote !== "`") {
          out += quote;
          i += 2;
          continue;
        }
        i++;
        return out;
      }
      out += c;
      i++;
    }
    return fail(`unterminated quote ${quote}`);
  };
  while (i < input.length) {
    const c = input[i]!;
    const at = i;
    if (/\s/.test(c)) {
      i++;
    } else if (c === "(" || c === ")" || c === ",") {
      tokens.push({ type: "punct", value: c, at });
      i++;
    } else if (c === "'" || c === '"') {
      tokens.push({ type: "string", value: readQuoted(), at });
    } else if (/[<>=!]/.test(c)) {
      const m = /^(<=|>=|!=|<>|==|=|<|>)/.exec(input.slice(i));
      if (!m) fail(`unknown operator '${c}'`);
      const op = m![1] === "<>" ? "!=" : m![1] === "==" ? "=" : m![1]!;
      tokens.push({ type: "op", value: op, at });
      i += m![1]!.length;
    } else if (/[-+0-9.]/.test(c)) {
      const m = /^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?/.exec(input.slice(i));
      if (!m) fail(`expected a number`);
      tokens.push({ type: "number", value: Number(m![0]), at });
      i += m![0].length;
    } else if (/[A-Za-z_]/.test(c)) {
      const word = /^[A-Za-z_][A-Za-z0-9_]*/.exec(input.slice(i))![0];
      i += word.length;
      if (input[i] === ".") {
        const entity = ENTITY_PREFIXES[word.toLowerCase()];
        if (!entity) fail(`unknown prefix '${word}'; use metrics., params., tags., attributes. or datasets.`);
        i++;
        let key: string;
        if (input[i] === "`" || input[i] === '"') key = readQuoted();
        else {
          const m = /^[A-Za-z0-9_.\-/:]+/.exec(input.slice(i));
          if (!m) fail(`expected a key after '${word}.'`);
          key = m![0];
          i += key.length;
        }
        tokens.push({ type: "ident", entity: entity!, key, at });
      } else {
        tokens.push({ type: "word", value: word, at });
      }
    } else if (c === "`") {
      fail("a quoted key needs a prefix such as metrics.`my key`");
    } else {
      fail(`unexpected character '${c}'`);
    }
  }
  return tokens;
}

function normalizeAttribute(key: string, what: string, attrs: AttributeSet): string {
  const name = attrs === RUN_ATTRIBUTES ? (ATTRIBUTE_ALIASES[key] ?? key) : key;
  if (attrs.numeric.includes(name) || attrs.string.includes(name)) return name;
  throw invalidInput(`invalid ${what}: unknown attribute '${key}'; valid attributes: ${[...attrs.numeric, ...attrs.string].join(", ")}`);
}

/** Parses an MLflow search filter (`clause AND clause ...`) into clauses; empty input means no filter. */
export function parseFilter(filter: string | undefined, attrs: AttributeSet = RUN_ATTRIBUTES): Clause[] {
  if (!filter || !filter.trim()) return [];
  const tokens = tokenize(filter, "filter");
  const clauses: Clause[] = [];
  let pos = 0;
  let listValues = 0;
  const fail = (message: string): never => {
    throw invalidInput(`invalid filter '${filter}': ${message}; ${FIX}`);
  };
  const next = () => tokens[pos++];
  while (pos < tokens.length) {
    let ident = next();
    if (ident?.type === "word" && !ENTITY_PREFIXES[ident.value.toLowerCase()]) {
      // A bare attribute name (`status = 'FINISHED'`), as MLflow also accepts for a few.
      ident = { type: "ident", entity: "attribute", key: ident.value, at: ident.at };
    }
    if (ident?.type !== "ident") return fail("expected an identifier such as metrics.acc");
    let opToken = next();
    let op: string;
    if (opToken?.type === "op") op = opToken.value;
    else if (opToken?.type === "word") {
      op = opToken.value.toUpperCase();
      if (op === "NOT") {
        opToken = next();
        if (opToken?.type !== "word" || opToken.value.toUpperCase() !== "IN") return fail("expected IN after NOT");
        op = "NOT IN";
      }
      if (!["LIKE", "ILIKE", "IN", "NOT IN"].includes(op)) return fail(`unknown operator '${opToken.value}'`);
    } else return fail(`expected an operator after '${ident.key}'`);
    let value: string | number | string[];
    const v = next();
    if (op === "IN" || op === "NOT IN") {
      if (v?.type !== "punct" || v.value !== "(") return fail(`${op} needs a parenthesised list of quoted strings`);
      const list: string[] = [];
      for (;;) {
        const item = next();
        if (item?.type !== "string") return fail(`${op} lists must hold quoted strings`);
        list.push(item.value);
        if (++listValues > FILTER_LIMITS.listValues) return fail(`IN lists hold at most ${FILTER_LIMITS.listValues} values in all; split the search`);
        const sep = next();
        if (sep?.type === "punct" && sep.value === ")") break;
        if (sep?.type !== "punct" || sep.value !== ",") return fail(`expected ',' or ')' in the ${op} list`);
      }
      value = list;
    } else if (v?.type === "string" || v?.type === "number") value = v.value;
    else return fail(`expected a value after '${ident.key} ${op}'`);
    if (clauses.length >= FILTER_LIMITS.clauses) return fail(`a filter holds at most ${FILTER_LIMITS.clauses} clauses; narrow it or split the search`);
    clauses.push(makeClause(ident.entity, ident.key, op, value, attrs, fail));
    const conj = tokens[pos];
    if (conj === undefined) break;
    if (conj.type !== "word" || conj.value.toUpperCase() !== "AND") return fail("clauses must be joined with AND (OR is not supported)");
    pos++;
    if (pos >= tokens.length) fail("filter ends with AND");
  }
  return clauses;
}

const COMPARISONS = ["=", "!=", "<", "<=", ">", ">="];
const STRING_OPS = ["=", "!=", "LIKE", "ILIKE", "IN", "NOT IN"];

function makeClause(
  entity: Entity,
  rawKey: string,
  op: string,
  value: string | number | string[],
  attrs: AttributeSet,
  fail: (m: string) => never,
): Clause {
  const attribute = entity === "attribute" ? normalizeAttribute(rawKey, "filter", attrs) : rawKey;
  if (entity === "metric" || (entity === "attribute" && attrs.numeric.includes(attribute))) {
    const key = attribute;
    if (!COMPARISONS.includes(op)) fail(`'${rawKey}' is numeric; use one of ${COMPARISONS.join(" ")}`);
    const number = typeof value === "string" && value.trim() !== "" && !Number.isNaN(Number(value)) ? Number(value) : value;
    if (typeof number !== "number") return fail(`'${rawKey}' is numeric; compare it with a number`);
    return { entity, key, op: op as ComparisonOp, value: number } as Clause;
  }
  if (!STRING_OPS.includes(op)) fail(`'${rawKey}' is a string; use one of ${STRING_OPS.join(", ")}`);
  if (typeof value === "number") fail(`compare '${rawKey}' with a quoted string, e.g. '${value}'`);
  if (entity === "attribute") return { entity, key: attribute, op: op as StringOp, value: value as string | string[] };
  if (entity === "dataset" && !DATASET_FIELDS.includes(rawKey)) fail(`unknown dataset field '${rawKey}'; use ${DATASET_FIELDS.join(", ")}`);
  return { entity, key: rawKey, op: op as StringOp, value: value as string | string[] };
}

/** Parses MLflow order_by terms such as `metrics.acc DESC` or `attributes.start_time`. */
export function parseOrderBy(terms: string[] | undefined): OrderTerm[] {
  return (terms ?? []).filter((t) => t.trim() !== "").map((term) => {
    const tokens = tokenize(term, "order_by");
    let first = tokens[0];
    if (first?.type === "word") first = { type: "ident", entity: "attribute", key: first.value, at: 0 };
    const direction = tokens[1];
    const fail = (): never => {
      throw invalidInput(`invalid order_by '${term}'; use '<metrics|params|tags|attributes>.<key> [ASC|DESC]', e.g. 'metrics.acc DESC'`);
    };
    if (first?.type !== "ident" || first.entity === "dataset" || tokens.length > 2) return fail();
    if (direction && (direction.type !== "word" || !["ASC", "DESC"].includes(direction.value.toUpperCase()))) return fail();
    const key = first.entity === "attribute" ? normalizeAttribute(first.key, "order_by", RUN_ATTRIBUTES) : first.key;
    return { entity: first.entity, key, ascending: direction?.type === "word" ? direction.value.toUpperCase() === "ASC" : true };
  });
}
