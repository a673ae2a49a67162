import { createHash } from "node:crypto";
import { readFileSync, statSync } from "node:fs";
import { isAbsolute } from "node:path";
import { invalidInput } from "../../core/index.ts";

/** Largest CSV read into memory. */
const MAX_CSV_BYTES = 256 * 1024 * 1024;

/** A parsed evaluation table: numeric feature columns in file order, the label, and sensitive columns as text. */
export interface EvaluationTable {
  features: string[];
  /** Row-major feature values. */
  rows: number[][];
  labels: number[];
  sensitive: Map<string, string[]>;
  digest: string;
}

/** Checks a server-side data path: absolute, no `..`, an existing file. */
export function confineDataPath(path: string, what: string): string {
  if (!isAbsolute(path)) throw invalidInput(`${what} '${path}' is not absolute; give the CSV's absolute path on the server`);
  if (path.includes("\0") || path.split(/[\\/]/).includes("..")) throw invalidInput(`${what} '${path}' contains '..' or a NUL; give a plain absolute path`);
  let size: number;
  try {
    const stat = statSync(path);
    if (!stat.isFile()) throw new Error("not a file");
    size = stat.size;
  } catch {
    throw invalidInput(`${what} '${path}' does not exist or is not a file; copy the CSV to the server and give its absolute path`);
  }
  if (size > MAX_CSV_BYTES) throw invalidInput(`${what} '${path}' is larger than ${MAX_CSV_BYTES / 1024 ** 2} MiB; evaluate on a sample`);
  return path;
}

/**
 * Reads a CSV strictly: a header, comma-separated, no quoting, every row as wide as the header.
 * Columns in `sensitive` are kept as text; the label (when given) and every other column must be numbers.
 */
export function readTable(path: string, opts: { label?: string | undefined; sensitive: string[]; what: string }): EvaluationTable {
  const bytes = readFileSync(path);
  const lines = bytes.toString("utf8").split(/\r?\n/).filter((l) => l.trim() !== "");
  const header = (lines[0] ?? "").split(",").map((h) => h.trim());
  if (!lines.length || header.some((h) => h === "")) throw invalidInput(`${opts.what} '${path}' has no header or an empty column name; the first line names the columns`);
  if (new Set(header).size !== header.length) throw invalidInput(`${opts.what} '${path}' repeats a column name in its header`);
  if (opts.label !== undefined && !header.includes(opts.label)) {
    throw invalidInput(`${opts.what} '${path}' has no label column '${opts.label}'; its columns: ${header.join(", ")} (choose one with --label)`);
  }
  const sensitiveSet = new Set(opts.sensitive.filter((s) => header.includes(s)));
  const features = header.filter((h) => h !== opts.label && !sensitiveSet.has(h));
  if (!features.length) throw invalidInput(`${opts.what} '${path}' has no feature columns besides the label and sensitive columns`);
  const index = new Map(header.map((h, i) => [h, i]));
  const rows: number[][] = [];
  const labels: number[] = [];
  const sensitive = new Map([...sensitiveSet].map((s) => [s, [] as string[]]));
  for (let line = 1; line < lines.length; line++) {
    const cells = lines[line]!.split(",").map((c) => c.trim());
    if (cells.length !== header.length) throw invalidInput(`${opts.what} '${path}' line ${line + 1} has ${cells.length} values; the header has ${header.length}`);
    const number = (column: string) => {
      const text = cells[index.get(column)!]!;
      const value = Number(text);
      if (text === "" || !Number.isFinite(value)) throw invalidInput(`${opts.what} '${path}' line ${line + 1}, column '${column}': '${text}' is not a number; features and labels must be numeric (mark a text column such as a group with --sensitive)`);
      return value;
    };
    rows.push(features.map(number));
    if (opts.label !== undefined) labels.push(number(opts.label));
    for (const [column, values] of sensitive) values.push(cells[index.get(column)!]!);
  }
  if (!rows.length) throw invalidInput(`${opts.what} '${path}' has a header but no rows`);
  return { features, rows, labels, sensitive, digest: `sha256:${createHash("sha256").update(bytes).digest("hex")}` };
}
