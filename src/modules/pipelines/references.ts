import { invalidInput } from "../../core/index.ts";

/** What a `${{ … }}` names: a parameter, the fan-out item, or an output of an earlier step. */
export type Reference = { kind: "param"; name: string } | { kind: "item" } | { kind: "step"; step: string; output: string };
type Part = { text: string } | { ref: Reference; source: string };

const OPEN = "${{";
const CLOSE = "}}";
/** Longest expression between the braces; longer is refused, not scanned. */
const MAX_EXPRESSION = 200;

function isWordChar(c: number): boolean {
  return (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95 || c === 45;
}

/**
 * Splits text into literal parts and references, left to right with indexOf: linear in the text,
 * with no regular expression over what the user wrote. `where` names the field in errors.
 */
export function parseTemplate(text: string, where: string): Part[] {
  const parts: Part[] = [];
  let at = 0;
  for (;;) {
    const open = text.indexOf(OPEN, at);
    if (open < 0) {
      if (at < text.length) parts.push({ text: text.slice(at) });
      return parts;
    }
    if (open > at) parts.push({ text: text.slice(at, open) });
    const close = text.indexOf(CLOSE, open + OPEN.length);
    if (close < 0) throw invalidInput(`${where}: '${OPEN}' is never closed; write references as \${{ steps.<step>.outputs.<name> }}, \${{ params.<name> }} or \${{ item }}`);
    const source = text.slice(open + OPEN.length, close);
    if (source.length > MAX_EXPRESSION) throw invalidInput(`${where}: a reference is at most ${MAX_EXPRESSION} characters`);
    parts.push({ ref: parseExpression(source.trim(), where), source: source.trim() });
    at = close + CLOSE.length;
  }
}

/** `params.lr`, `item`, `steps.train.outputs.run_id`: dot-separated words, checked one character at a time. */
export function parseExpression(expression: string, where: string): Reference {
  const words: string[] = [];
  let start = 0;
  for (let i = 0; i <= expression.length; i++) {
    if (i === expression.length || expression.charCodeAt(i) === 46) {
      words.push(expression.slice(start, i));
      start = i + 1;
    } else if (!isWordChar(expression.charCodeAt(i))) {
      throw badReference(expression, where);
    }
  }
  if (words.some((w) => w.length === 0)) throw badReference(expression, where);
  if (words.length === 1 && words[0] === "item") return { kind: "item" };
  if (words.length === 2 && words[0] === "params") return { kind: "param", name: words[1]! };
  if (words.length === 4 && words[0] === "steps" && words[2] === "outputs") return { kind: "step", step: words[1]!, output: words[3]! };
  throw badReference(expression, where);
}

function badReference(expression: string, where: string): Error {
  return invalidInput(`${where}: '\${{ ${expression.slice(0, 80)} }}' is not a reference Paved knows; use \${{ steps.<step>.outputs.<name> }}, \${{ params.<name> }} or \${{ item }}`);
}

/** Every reference in a step body (strings anywhere in it, object keys excluded), with the field it is in. */
export function referencesIn(value: unknown, where: string): { ref: Reference; where: string }[] {
  const out: { ref: Reference; where: string }[] = [];
  walk(value, where, (text, at) => {
    for (const part of parseTemplate(text, at)) if ("ref" in part) out.push({ ref: part.ref, where: at });
  });
  return out;
}

function walk(value: unknown, where: string, visit: (text: string, where: string) => void): void {
  if (typeof value === "string") visit(value, where);
  else if (Array.isArray(value)) value.forEach((v, i) => walk(v, `${where}[${i}]`, visit));
  else if (value !== null && typeof value === "object") for (const [k, v] of Object.entries(value)) walk(v, `${where}.${k}`, visit);
}

/** What references resolve against when a step starts. */
export interface ReferenceScope {
  params: Record<string, unknown>;
  item?: unknown;
  hasItem: boolean;
  /** Outputs of finished steps by name; a fanned-out step's are a list, one entry per instance. */
  steps: ReadonlyMap<string, Record<string, unknown> | Record<string, unknown>[]>;
}

function lookup(ref: Reference, scope: ReferenceScope, where: string): unknown {
  if (ref.kind === "item") {
    if (!scope.hasItem) throw invalidInput(`${where}: \${{ item }} is only set in a step with forEach`);
    return scope.item;
  }
  if (ref.kind === "param") {
    if (!(ref.name in scope.params)) throw invalidInput(`${where}: parameter '${ref.name}' is not set; known parameters: ${Object.keys(scope.params).join(", ") || "(none)"}`);
    return scope.params[ref.name];
  }
  const outputs = scope.steps.get(ref.step);
  if (outputs === undefined) throw invalidInput(`${where}: step '${ref.step}' has no outputs yet (it has not succeeded); a step may only use steps it depends on`);
  const pick = (o: Record<string, unknown>) => {
    if (!(ref.output in o)) throw invalidInput(`${where}: step '${ref.step}' has no output '${ref.output}'; its outputs: ${Object.keys(o).join(", ") || "(none)"}`);
    return o[ref.output];
  };
  return Array.isArray(outputs) ? outputs.map(pick) : pick(outputs);
}

/**
 * The body with every reference replaced. A string that is one reference and nothing else takes
 * the value as it is (a number stays a number, a fan-out's outputs are a list); a reference inside
 * other text is written into it (lists and objects as JSON).
 */
export function resolveReferences(value: unknown, scope: ReferenceScope, where: string): unknown {
  if (typeof value === "string") {
    const parts = parseTemplate(value, where);
    if (parts.length === 1 && "ref" in parts[0]!) return lookup(parts[0].ref, scope, where);
    if (!parts.some((p) => "ref" in p)) return value;
    return parts.map((p) => ("text" in p ? p.text : asText(lookup(p.ref, scope, where)))).join("");
  }
  if (Array.isArray(value)) return value.map((v, i) => resolveReferences(v, scope, `${where}[${i}]`));
  if (value !== null && typeof value === "object") return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, resolveReferences(v, scope, `${where}.${k}`)]));
  return value;
}

function asText(value: unknown): string {
  return typeof value === "string" ? value : typeof value === "number" || typeof value === "boolean" ? String(value) : JSON.stringify(value);
}
