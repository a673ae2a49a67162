import { invalidInput } from "./errors.ts";

// SQL LIKE patterns from users, matched without backtracking: a pattern is split at `%` into
// segments; the first is anchored at the start, the last at the end, and each one between is
// placed at its leftmost fit after the previous one (leftmost is always safe, so nothing is ever
// retried). Segments are found with the bit-parallel Shift-And algorithm, so one match costs
// O(text length × ceil(segment length / 32)) whatever the pattern: no pattern can make it explode.

/** `_`: any one character. */
const ANY = -1;

/** A parsed LIKE pattern: the segments between `%`s, as code points (ANY for `_`). */
export interface LikeSegments {
  segments: Int32Array[];
}

/**
 * Parses a LIKE pattern: `%` matches any run of characters, `_` exactly one, and `\` makes the
 * character after it literal (PostgreSQL's default escape). INVALID_INPUT when the pattern ends
 * with a lone `\`.
 */
export function parseLike(pattern: string, caseInsensitive = false): LikeSegments {
  const segments: Int32Array[] = [];
  let current: number[] = [];
  const points = Array.from(pattern, (c) => c.codePointAt(0)!);
  for (let i = 0; i < points.length; i++) {
    const c = points[i]!;
    if (c === 0x5c /* \ */) {
      const next = points[++i];
      if (next === undefined) throw invalidInput(`LIKE pattern '${preview(pattern)}' ends with an escape character; write \\\\ for a literal backslash`);
      current.push(caseInsensitive ? fold(next) : next);
    } else if (c === 0x25 /* % */) {
      segments.push(Int32Array.from(current));
      current = [];
    } else if (c === 0x5f /* _ */) current.push(ANY);
    else current.push(caseInsensitive ? fold(c) : c);
  }
  segments.push(Int32Array.from(current));
  return { segments };
}

/**
 * Compiles a LIKE (or, with `caseInsensitive`, ILIKE) pattern into a predicate over whole strings.
 * @example compileLike("churn%", { caseInsensitive: true })("Churn-v2") // true
 */
export function compileLike(pattern: string, options: { caseInsensitive?: boolean } = {}): (text: string) => boolean {
  const caseInsensitive = options.caseInsensitive ?? false;
  const { segments } = parseLike(pattern, caseInsensitive);
  const first = segments[0]!;
  if (segments.length === 1) {
    return (text) => {
      const t = codePoints(text, caseInsensitive);
      return t.length === first.length && matchesAt(t, first, 0);
    };
  }
  const last = segments[segments.length - 1]!;
  const middle = segments.slice(1, -1).filter((s) => s.length > 0).map(shiftAnd);
  return (text) => {
    const t = codePoints(text, caseInsensitive);
    if (t.length < first.length + last.length) return false;
    if (!matchesAt(t, first, 0) || !matchesAt(t, last, t.length - last.length)) return false;
    let from = first.length;
    const end = t.length - last.length;
    for (const find of middle) {
      const at = find(t, from, end);
      if (at < 0) return false;
      from = at;
    }
    return true;
  };
}

/**
 * The SQLite GLOB pattern equivalent to a LIKE pattern (GLOB is case-sensitive, as LIKE is in
 * MLflow and PostgreSQL, where SQLite's own LIKE ignores ASCII case).
 */
export function likeToGlob(pattern: string): string {
  let out = "";
  const points = Array.from(pattern);
  for (let i = 0; i < points.length; i++) {
    let c = points[i]!;
    if (c === "\\") {
      c = points[++i] ?? "";
      if (c === "") throw invalidInput(`LIKE pattern '${preview(pattern)}' ends with an escape character; write \\\\ for a literal backslash`);
      out += c === "*" || c === "?" || c === "[" ? `[${c}]` : c;
    } else if (c === "%") out += "*";
    else if (c === "_") out += "?";
    else if (c === "*" || c === "?" || c === "[") out += `[${c}]`;
    else out += c;
  }
  return out;
}

function preview(pattern: string): string {
  return pattern.length > 40 ? `${pattern.slice(0, 40)}…` : pattern;
}

const folded = new Map<number, number>();

/** Lower case, one code point at a time (a code point whose lower case is longer stays as it is). */
function fold(c: number): number {
  if (c < 0x80) return c >= 0x41 && c <= 0x5a ? c + 32 : c;
  let f = folded.get(c);
  if (f === undefined) {
    const lower = String.fromCodePoint(c).toLowerCase();
    f = lower.length === 1 || (lower.length === 2 && lower.codePointAt(0)! > 0xffff) ? lower.codePointAt(0)! : c;
    if (folded.size < 4096) folded.set(c, f);
  }
  return f;
}

function codePoints(text: string, caseInsensitive: boolean): Int32Array {
  const out = new Int32Array(text.length);
  let n = 0;
  for (let i = 0; i < text.length; i++) {
    let c = text.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length) {
      const low = text.charCodeAt(i + 1);
      if (low >= 0xdc00 && low <= 0xdfff) {
        c = (c - 0xd800) * 0x400 + (low - 0xdc00) + 0x10000;
        i++;
      }
    }
    out[n++] = caseInsensitive ? fold(c) : c;
  }
  return out.subarray(0, n);
}

function matchesAt(text: Int32Array, segment: Int32Array, at: number): boolean {
  for (let j = 0; j < segment.length; j++) {
    const p = segment[j]!;
    if (p !== ANY && p !== text[at + j]) return false;
  }
  return true;
}

/**
 * Shift-And over `segment`: a function that returns the end of the leftmost occurrence of the
 * segment in text[from, end), or -1. State bit j is set when the last j+1 characters read match
 * the segment's first j+1.
 */
function shiftAnd(segment: Int32Array): (text: Int32Array, from: number, end: number) => number {
  const m = segment.length;
  const words = Math.ceil(m / 32);
  const any = new Uint32Array(words);
  const masks = new Map<number, Uint32Array>();
  for (let j = 0; j < m; j++) if (segment[j] === ANY) any[j >>> 5]! |= 1 << (j & 31);
  for (let j = 0; j < m; j++) {
    const c = segment[j]!;
    if (c === ANY) continue;
    let mask = masks.get(c);
    if (!mask) masks.set(c, (mask = Uint32Array.from(any)));
    mask[j >>> 5]! |= 1 << (j & 31);
  }
  const lastWord = words - 1;
  const lastBit = 1 << ((m - 1) & 31);
  const state = new Uint32Array(words);
  return (text, from, end) => {
    state.fill(0);
    for (let i = from; i < end; i++) {
      const mask = masks.get(text[i]!) ?? any;
      let carry = 1;
      for (let w = 0; w < words; w++) {
        const s = state[w]!;
        state[w] = ((s << 1) | carry) & mask[w]!;
        carry = s >>> 31;
      }
      if (state[lastWord]! & lastBit) return i + 1;
    }
    return -1;
  };
}
