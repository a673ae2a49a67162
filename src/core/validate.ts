import type { z } from "zod";
import { invalidInput } from "./errors.ts";

/** One bad field of an input: where (dotted path, `(root)` for the whole) and what to do. */
export interface Problem {
  path: string;
  message: string;
}

/** At most this many unknown fields are named (a bound on the message, not on the check). */
const MAX_UNKNOWN_NAMED = 50;
/** At most this many other problems are described in the message (all are in `details`). */
const MAX_OTHERS_NAMED = 5;

/** Parses `input` with `schema` or throws INVALID_INPUT naming each bad field and how to fix it. */
export function parseInput<S extends z.ZodType>(schema: S, input: unknown, what: string): z.output<S> {
  const result = validate(schema, input);
  if (result.success) return result.data;
  return throwInvalid(`invalid ${what}: ${describeProblems(result.problems)}`, result.problems);
}

function throwInvalid(message: string, problems: Problem[]): never {
  throw invalidInput(message, { problems });
}

/**
 * Parses `input` with `schema`; on failure, one problem per bad field. Every unknown field of a
 * strict object is its own problem at its own path, with the closest known field ("did you
 * mean 'maxAttempts'?", as commander suggests flags) or the known fields when none is close.
 */
export function validate<S extends z.ZodType>(schema: S, input: unknown): { success: true; data: z.output<S> } | { success: false; problems: Problem[] } {
  // The issue zod reports keeps the `keys` array of the raw issue, whose schema knows its fields.
  const knownFields = new Map<unknown, string[]>();
  const result = schema.safeParse(input, {
    error: (issue) => {
      if (issue.code === "unrecognized_keys") {
        const shape = (issue.inst as { _zod?: { def?: { shape?: Record<string, unknown> } } } | undefined)?._zod?.def?.shape;
        if (shape) knownFields.set(issue.keys, Object.keys(shape));
      }
      return undefined;
    },
  });
  if (result.success) return { success: true, data: result.data };
  return { success: false, problems: problemsOf(result.error.issues, [], knownFields) };
}

function problemsOf(issues: readonly z.core.$ZodIssue[], prefix: readonly PropertyKey[], knownFields: Map<unknown, string[]>): Problem[] {
  const problems: Problem[] = [];
  for (const issue of issues) {
    const path = [...prefix, ...issue.path];
    if (issue.code === "unrecognized_keys") {
      const known = knownFields.get(issue.keys) ?? [];
      for (const key of issue.keys) problems.push({ path: dotted([...path, key]), message: unknownFieldMessage(key, known) });
      continue;
    }
    if (issue.code === "invalid_union") {
      const branch = closestBranch(issue.errors);
      if (branch) {
        problems.push(...problemsOf(branch, path, knownFields));
        continue;
      }
    }
    problems.push({ path: dotted(path), message: issue.message });
  }
  return problems;
}

/**
 * An object that failed every branch of a union of objects: the branch it nearly matched (fewest
 * problems), so its typos and missing fields are named instead of "Invalid input". None when a
 * branch failed on the value's type itself (a number given where a string or object goes).
 */
function closestBranch(branches: readonly (readonly z.core.$ZodIssue[])[]): readonly z.core.$ZodIssue[] | undefined {
  if (branches.length === 0 || branches.some((b) => b.length === 0 || b.some((i) => i.path.length === 0 && i.code !== "unrecognized_keys"))) return undefined;
  return [...branches].sort((a, b) => a.length - b.length)[0];
}

function dotted(path: readonly PropertyKey[]): string {
  return path.length ? path.map(String).join(".") : "(root)";
}

function unknownFieldMessage(key: string, known: readonly string[]): string {
  const similar = suggestSimilar(key, known);
  if (similar) return `unknown field; did you mean '${similar}'?`;
  return known.length ? `unknown field; known fields here: ${known.join(", ")}` : "unknown field";
}

/**
 * Joins problems into one line: every unknown field first (up to 50), then up to five others;
 * the rest are counted (all of them are in the error's `details.problems`).
 */
export function describeProblems(problems: readonly Problem[]): string {
  const unknown = problems.filter((p) => p.message.startsWith("unknown field"));
  const others = problems.filter((p) => !p.message.startsWith("unknown field"));
  const shown = [...unknown.slice(0, MAX_UNKNOWN_NAMED), ...others.slice(0, MAX_OTHERS_NAMED)];
  const rest = problems.length - shown.length;
  return shown.map((p) => `${p.path}: ${p.message}`).join("; ") + (rest > 0 ? `; and ${rest} more` : "");
}

/**
 * The known word closest to `word` by optimal string alignment distance (case-insensitive), as
 * commander suggests flags: at most two edits, and more than 40% of the longer word kept.
 * Undefined when none is that close.
 */
export function suggestSimilar(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = 3;
  for (const candidate of candidates) {
    if (candidate.length <= 1 || candidate === word) continue;
    const distance = editDistance(word.toLowerCase(), candidate.toLowerCase());
    const length = Math.max(word.length, candidate.length);
    if ((length - distance) / length > 0.4 && distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return best;
}

/** Optimal string alignment distance (Damerau–Levenshtein, no substring edited twice). */
function editDistance(a: string, b: string): number {
  if (Math.abs(a.length - b.length) > 3) return Math.max(a.length, b.length);
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 0; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let value = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) value = Math.min(value, d[i - 2]![j - 2]! + 1);
      d[i]![j] = value;
    }
  }
  return d[a.length]![b.length]!;
}

/**
 * Confines a relative path: rejects absolute paths, `..` segments, backslashes, NUL and empty
 * segments. Returns the normalised path with `/` separators.
 */
export function confinePath(path: string, what = "path"): string {
  if (typeof path !== "string" || path.length === 0 || path.length > 1024) {
    throw invalidInput(`${what} must be a non-empty relative path of at most 1024 characters`);
  }
  if (path.includes("\0") || path.includes("\\")) {
    throw invalidInput(`${what} '${path}' contains a NUL or backslash; use '/' separated relative paths`);
  }
  if (path.startsWith("/")) {
    throw invalidInput(`${what} '${path}' is absolute; give a path relative to the run's artifact root`);
  }
  const segments = path.split("/").filter((s) => s !== "" && s !== ".");
  if (segments.some((s) => s === "..")) {
    throw invalidInput(`${what} '${path}' contains '..'; paths must stay inside the run's artifact root`);
  }
  if (segments.length === 0) throw invalidInput(`${what} '${path}' names no file`);
  return segments.join("/");
}
