import { createHash } from "node:crypto";
import { closeSync, openSync, readFileSync, readSync, statSync } from "node:fs";
import { isAbsolute } from "node:path";
import { PlatformError, invalidInput, startModuleWorker, type ErrorCode } from "../../core/index.ts";

/** Largest CSV read into memory. */
const MAX_CSV_BYTES = 256 * 1024 * 1024;
/** Largest header line `readHeader` reads before giving up. */
const MAX_HEADER_BYTES = 1024 * 1024;

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

/** One CSV record: its fields and the (1-based) line it starts on. */
export interface CsvRecord {
  fields: string[];
  line: number;
}

/**
 * Parses CSV text as RFC 4180 describes it: comma-separated fields, records ended by CRLF or LF,
 * fields in double quotes may hold commas, line breaks and doubled quotes (`""`). Leniencies kept
 * from the earlier reader: blank lines are skipped, whitespace around a field is dropped (inside
 * quotes it is kept), and a leading UTF-8 byte-order mark is ignored. `describe` prefixes errors.
 * Stops after `limit` records when given.
 */
export function parseCsv(text: string, describe: string, limit = Number.POSITIVE_INFINITY): CsvRecord[] {
  const records: CsvRecord[] = [];
  let i = text.charCodeAt(0) === 0xfeff ? 1 : 0;
  let line = 1;
  const n = text.length;
  while (i < n && records.length < limit) {
    const start = line;
    const fields: string[] = [];
    let blank = true;
    for (;;) {
      // One field, starting at i.
      let j = i;
      while (j < n && (text[j] === " " || text[j] === "\t")) j++;
      let value: string;
      if (text[j] === '"') {
        blank = false;
        const opened = line;
        let k = j + 1;
        let out = "";
        for (;;) {
          const q = text.indexOf('"', k);
          if (q < 0) throw invalidInput(`${describe} line ${opened}: a quoted field is never closed; end it with '"' (write a quote inside a field as "")`);
          out += text.slice(k, q);
          line += countNewlines(text, k, q);
          if (text[q + 1] === '"') {
            out += '"';
            k = q + 2;
            continue;
          }
          k = q + 1;
          break;
        }
        while (k < n && (text[k] === " " || text[k] === "\t")) k++;
        if (k < n && text[k] !== "," && text[k] !== "\n" && text[k] !== "\r") {
          throw invalidInput(`${describe} line ${line}: unexpected '${text[k]}' after a closing quote; quote the whole field and double any quote inside it ("")`);
        }
        value = out;
        i = k;
      } else {
        let k = j;
        while (k < n && text[k] !== "," && text[k] !== "\n" && text[k] !== "\r") k++;
        value = text.slice(j, k).trim();
        if (value !== "" || text[k] === ",") blank = false;
        i = k;
      }
      fields.push(value);
      if (text[i] === ",") {
        i++;
        continue;
      }
      break;
    }
    // End of record: CRLF, LF, a lone CR, or the end of the text.
    if (text[i] === "\r") i++;
    if (text[i] === "\n") i++;
    line++;
    if (!blank) records.push({ fields, line: start });
  }
  return records;
}

function countNewlines(text: string, from: number, to: number): number {
  let count = 0;
  for (let i = from; i < to; i++) {
    if (text[i] === "\n") count++;
    else if (text[i] === "\r" && text[i + 1] !== "\n") count++;
  }
  return count;
}

/** Column names and the checks every table must pass, from a parsed header record. */
function checkHeader(header: string[] | undefined, path: string, opts: { label?: string | undefined; sensitive: string[]; what: string }): { header: string[]; features: string[]; sensitive: string[] } {
  if (!header || header.some((h) => h === "")) throw invalidInput(`${opts.what} '${path}' has no header or an empty column name; the first line names the columns`);
  if (new Set(header).size !== header.length) throw invalidInput(`${opts.what} '${path}' repeats a column name in its header`);
  if (opts.label !== undefined && !header.includes(opts.label)) {
    throw invalidInput(`${opts.what} '${path}' has no label column '${opts.label}'; its columns: ${header.join(", ")} (choose one with --label)`);
  }
  const sensitive = opts.sensitive.filter((s) => header.includes(s));
  const features = header.filter((h) => h !== opts.label && !sensitive.includes(h));
  if (!features.length) throw invalidInput(`${opts.what} '${path}' has no feature columns besides the label and sensitive columns`);
  return { header, features, sensitive };
}

/**
 * Reads only the CSV's header and first record and checks them as `readTable` would (label
 * present, feature columns left, no repeated names, the first record as wide as the header and
 * numeric where it must be), so a request can be refused before the whole file is read.
 */
export function checkTableHeader(path: string, opts: { label?: string | undefined; sensitive: string[]; what: string }): string[] {
  const describe = `${opts.what} '${path}'`;
  const fd = openSync(path, "r");
  let text = "";
  try {
    const chunks: Buffer[] = [];
    let size = 0;
    for (;;) {
      const chunk = Buffer.alloc(64 * 1024);
      const read = readSync(fd, chunk, 0, chunk.length, null);
      chunks.push(chunk.subarray(0, read));
      size += read;
      text = Buffer.concat(chunks).toString("utf8");
      const ends = recordEnds(text, 2);
      if (ends.length === 2) {
        text = text.slice(0, ends[1]);
        break;
      }
      if (read === 0) break;
      if (size >= MAX_HEADER_BYTES) {
        // A first record this long is not worth checking ahead: check the header alone.
        text = ends.length ? text.slice(0, ends[0]) : text;
        break;
      }
    }
  } finally {
    closeSync(fd);
  }
  const [header, first] = parseCsv(text, describe, 2);
  const columns = checkHeader(header?.fields, path, opts);
  if (first) rowReader(columns, opts.label, describe)(first);
  return columns.header;
}

/** Offsets just past the first `count` record ends (line breaks outside quotes, after content). */
function recordEnds(text: string, count: number): number[] {
  const ends: number[] = [];
  let quoted = false;
  let content = false;
  for (let i = 0; i < text.length && ends.length < count; i++) {
    const ch = text[i]!;
    if (ch === '"') quoted = !quoted;
    if ((ch === "\n" || ch === "\r") && !quoted) {
      if (content) ends.push(i + 1);
      content = false;
    } else if (ch.trim() !== "") content = true;
  }
  return ends;
}

/** Checks one record against the header and returns its feature values and label. */
function rowReader(columns: { header: string[]; features: string[] }, label: string | undefined, describe: string): (record: CsvRecord) => { features: number[]; label: number | undefined } {
  const { header } = columns;
  const index = new Map(header.map((h, i) => [h, i]));
  const featureIndex = columns.features.map((f) => index.get(f)!);
  const labelIndex = label !== undefined ? index.get(label)! : -1;
  return ({ fields: cells, line }) => {
    if (cells.length !== header.length) throw invalidInput(`${describe} line ${line} has ${cells.length} values; the header has ${header.length} (quote a value that holds a comma: "a,b")`);
    const number = (column: number) => {
      const text = cells[column]!.trim();
      const value = Number(text);
      if (text === "" || !Number.isFinite(value)) throw invalidInput(`${describe} line ${line}, column '${header[column]}': '${text}' is not a number; features and labels must be numeric (mark a text column such as a group with --sensitive)`);
      return value;
    };
    return { features: featureIndex.map(number), label: labelIndex >= 0 ? number(labelIndex) : undefined };
  };
}

/**
 * Reads a CSV (RFC 4180, see `parseCsv`) with a header; every record as wide as the header.
 * Columns in `sensitive` are kept as text; the label (when given) and every other column must be numbers.
 */
export function readTable(path: string, opts: { label?: string | undefined; sensitive: string[]; what: string }): EvaluationTable {
  const bytes = readFileSync(path);
  const describe = `${opts.what} '${path}'`;
  const records = parseCsv(bytes.toString("utf8"), describe);
  const columns = checkHeader(records[0]?.fields, path, opts);
  const read = rowReader(columns, opts.label, describe);
  const index = new Map(columns.header.map((h, i) => [h, i]));
  const rows: number[][] = [];
  const labels: number[] = [];
  const sensitive = new Map(columns.sensitive.map((s) => [s, [] as string[]]));
  for (let r = 1; r < records.length; r++) {
    const record = records[r]!;
    const row = read(record);
    rows.push(row.features);
    if (row.label !== undefined) labels.push(row.label);
    for (const [column, values] of sensitive) values.push(record.fields[index.get(column)!]!);
  }
  if (!rows.length) throw invalidInput(`${describe} has a header but no rows`);
  return { features: columns.features, rows, labels, sensitive, digest: `sha256:${createHash("sha256").update(bytes).digest("hex")}` };
}

export interface TableRequest {
  path: string;
  opts: { label?: string | undefined; sensitive: string[]; what: string };
}

/** A table as it crosses threads: the numbers in two transferable arrays. */
export interface WireTable {
  features: string[];
  values: Float64Array;
  labels: Float64Array;
  sensitive: [string, string[]][];
  digest: string;
}

export type TableReply = { ok: true; table: WireTable } | { ok: false; code: ErrorCode; message: string };

export function tableToWire(table: EvaluationTable): WireTable {
  const width = table.features.length;
  const values = new Float64Array(table.rows.length * width);
  table.rows.forEach((row, r) => values.set(row, r * width));
  return { features: table.features, values, labels: Float64Array.from(table.labels), sensitive: [...table.sensitive], digest: table.digest };
}

function tableFromWire(wire: WireTable): EvaluationTable {
  const width = wire.features.length;
  const rows = Array.from({ length: wire.values.length / width }, (_, r) => Array.from(wire.values.subarray(r * width, (r + 1) * width)));
  return { features: wire.features, rows, labels: Array.from(wire.labels), sensitive: new Map(wire.sensitive), digest: wire.digest };
}

/** `readTable` on a worker thread, so parsing a large CSV never stalls the server (inference included). */
export function readTableOffThread(path: string, opts: TableRequest["opts"]): Promise<EvaluationTable> {
  const worker = startModuleWorker(import.meta.url, "./table-worker", { workerData: { path, opts } satisfies TableRequest, stdout: false, stderr: false });
  return new Promise((resolve, reject) => {
    worker.once("message", (reply: TableReply) => {
      void worker.terminate();
      if (reply.ok) resolve(tableFromWire(reply.table));
      else reject(new PlatformError(reply.code, reply.message));
    });
    worker.once("error", (error) => reject(new PlatformError("INTERNAL", `could not read ${opts.what} '${path}': ${error.message}`)));
    worker.once("exit", (code) => reject(new PlatformError("INTERNAL", `the thread reading ${opts.what} '${path}' exited with code ${code}`)));
  });
}
