import { invalidInput } from "../../../core/index.ts";

/** Longest query a spec may hold, in characters. */
export const MAX_QUERY_CHARS = 100_000;

/**
 * Words refused anywhere outside strings, quoted names and comments: statements that write or
 * change the session, `SELECT … INTO` (which creates a table), row locks, and functions that
 * reach outside the query (the connection's timeout, files, other servers). The database still
 * runs the query read-only; this refuses it before anything runs, with the reason.
 */
const REFUSED_WORDS = new Set([
  "insert",
  "update",
  "delete",
  "merge",
  "truncate",
  "into",
  "create",
  "drop",
  "alter",
  "grant",
  "revoke",
  "lock",
  "copy",
  "call",
  "execute",
  "prepare",
  "listen",
  "notify",
  "vacuum",
  "refresh",
  "reindex",
  "cluster",
  "set_config",
  "dblink",
  "dblink_exec",
  "pg_read_file",
  "pg_read_binary_file",
  "pg_ls_dir",
  "lo_import",
  "lo_export",
  "pg_terminate_backend",
  "pg_cancel_backend",
  "pg_reload_conf",
  "pg_sleep",
]);

const isWordStart = (c: string) => /[A-Za-z_\u0080-\uffff]/.test(c);
const isWordPart = (c: string) => /[A-Za-z0-9_$\u0080-\uffff]/.test(c);

/**
 * Refuses (INVALID_INPUT, with the reason) SQL that is not one SELECT (or WITH … SELECT). A
 * single left-to-right scan, linear in the query's length: strings ('…', E'…'), quoted names
 * ("…"), dollar-quoted bodies ($tag$…$tag$) and comments (line and nested block comments) are skipped whole, so
 * a semicolon or a keyword inside them counts for nothing.
 */
export function assertSingleSelect(query: string): void {
  if (query.length > MAX_QUERY_CHARS) throw invalidInput(`the query has ${query.length} characters, more than ${MAX_QUERY_CHARS}; shorten it (a view in the database can hold a long one)`);
  let i = 0;
  const n = query.length;
  let first: string | undefined;
  let ended = false;
  const unterminated = (what: string) => invalidInput(`the query has an unterminated ${what}; close it`);
  while (i < n) {
    const c = query[i]!;
    const next = query[i + 1];
    if (c === "-" && next === "-") {
      const end = query.indexOf("\n", i);
      i = end === -1 ? n : end + 1;
      continue;
    }
    if (c === "/" && next === "*") {
      let depth = 1;
      i += 2;
      while (i < n && depth > 0) {
        if (query[i] === "/" && query[i + 1] === "*") {
          depth++;
          i += 2;
        } else if (query[i] === "*" && query[i + 1] === "/") {
          depth--;
          i += 2;
        } else i++;
      }
      if (depth > 0) throw unterminated("comment");
      continue;
    }
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    if (ended) throw invalidInput("the query holds more than one statement (something follows a ';'); give a single SELECT");
    if (c === ";") {
      ended = true;
      i++;
      continue;
    }
    if (c === "'") {
      // E'…' strings take backslash escapes; the E was read as a word just before.
      const escapes = i > 0 && /[eE]/.test(query[i - 1]!) && (i < 2 || !isWordPart(query[i - 2]!));
      i = skipQuoted(query, i, "'", escapes, () => unterminated("string"));
      continue;
    }
    if (c === '"') {
      i = skipQuoted(query, i, '"', false, () => unterminated("quoted name"));
      first ??= '"';
      continue;
    }
    if (c === "$") {
      const tag = /^\$([A-Za-z_][A-Za-z0-9_]*)?\$/.exec(query.slice(i, i + 66));
      if (tag) {
        const end = query.indexOf(tag[0], i + tag[0].length);
        if (end === -1) throw unterminated("dollar-quoted string");
        i = end + tag[0].length;
        continue;
      }
      i++;
      continue;
    }
    if (isWordStart(c)) {
      let j = i + 1;
      while (j < n && isWordPart(query[j]!)) j++;
      const word = query.slice(i, j).toLowerCase();
      i = j;
      // E'…' and U&'…' prefixes are part of the string that follows.
      if ((word === "e" || word === "u") && (query[i] === "'" || query[i] === "&")) {
        if (query[i] === "&") i++;
        continue;
      }
      if (first === undefined) {
        first = word;
        if (word !== "select" && word !== "with") {
          throw invalidInput(`the query starts with '${word.toUpperCase()}', not SELECT or WITH; a connector only reads, with one SELECT (or WITH … SELECT)`);
        }
      }
      if (REFUSED_WORDS.has(word)) {
        throw invalidInput(`the query uses '${word.toUpperCase()}', which a snapshot may not (it writes, locks, or reaches outside the query); give a plain SELECT (if it is a column's name, quote it: "${word}")`, { word });
      }
      continue;
    }
    if (first === undefined && c !== "(") throw invalidInput(`the query does not start with SELECT or WITH; a connector only reads, with one SELECT (or WITH … SELECT)`);
    i++;
  }
  if (first === undefined) throw invalidInput("the query is empty; give one SELECT");
}

/** The index just past the closing quote; a doubled quote is part of the text. */
function skipQuoted(text: string, start: number, quote: string, backslashEscapes: boolean, unterminated: () => Error): number {
  let i = start + 1;
  while (i < text.length) {
    const c = text[i]!;
    if (backslashEscapes && c === "\\") {
      i += 2;
      continue;
    }
    if (c === quote) {
      if (text[i + 1] === quote) {
        i += 2;
        continue;
      }
      return i + 1;
    }
    i++;
  }
  throw unterminated();
}
