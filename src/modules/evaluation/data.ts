import { createHash } from "node:crypto";
import { PlatformError, invalidInput, startModuleWorker, type ErrorCode } from "../../core/index.ts";

// Messages about a table never quote what the file holds (a record, a cell, a header that is not a
// plain column name): the file may be any artifact, and an error is no way to read one.

/** A parsed evaluation table: numeric feature columns in the order fed to the model, the label, and sensitive columns as text. */
export interface EvaluationTable {
  features: string[];
  /** Row-major feature values. */
  rows: number[][];
  labels: number[];
  sensitive: Map<string, string[]>;
  digest: string;
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
          throw invalidInput(`${describe} line ${line}: text after a closing quote; quote the whole field and double any quote inside it ("")`);
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

/** How a table is read: which columns are the label, sensitive (text) and features. */
export interface TableOptions {
  /** The label column (numeric); none for reference data. */
  label?: string | undefined;
  /** Columns kept as text when present (never fed to the model unless they are also features). */
  sensitive: string[];
  /** What the table is, with its URI, for messages: "evaluation data 'runs:/…/eval.csv'". */
  what: string;
  /**
   * Feature columns by name, in the model's input order, and where those names come from. Absent:
   * every column but the label and sensitive ones is a feature, in file order (by position).
   */
  features?: { names: string[]; from: string } | undefined;
  /** Reference data: features it lacks are left out (drift says so) and other columns are ignored. */
  partial?: boolean | undefined;
}

/** A column name as a message may show it: plain names only, never arbitrary text from the file. */
export function shownName(name: string): string | undefined {
  return /^[A-Za-z0-9_.\- ]{1,64}$/.test(name) ? `'${name}'` : undefined;
}

function shownNames(names: string[]): string {
  const shown = names.map(shownName).filter((n): n is string => n !== undefined);
  const hidden = names.length - shown.length;
  const listed = shown.slice(0, 10);
  const more = shown.length - listed.length + hidden;
  return [...listed, ...(more ? [`${more} more`] : [])].join(", ");
}

/** Column names and the checks every table must pass, from a parsed header record. */
function checkHeader(header: string[] | undefined, opts: TableOptions): { header: string[]; features: string[]; sensitive: string[] } {
  if (!header || header.some((h) => h === "")) throw invalidInput(`${opts.what} has no header or an empty column name; the first line names the columns`);
  if (new Set(header).size !== header.length) throw invalidInput(`${opts.what} repeats a column name in its header; name each column once`);
  if (opts.label !== undefined && !header.includes(opts.label)) {
    throw invalidInput(`${opts.what} has no label column '${opts.label}'; name the label column with --label`);
  }
  const sensitive = opts.sensitive.filter((s) => header.includes(s));
  let features: string[];
  if (opts.features && opts.partial) {
    features = opts.features.names.filter((f) => header.includes(f));
  } else if (opts.features) {
    const expected = opts.features.names;
    const missing = expected.filter((f) => !header.includes(f));
    const extra = header.filter((h) => h !== opts.label && !expected.includes(h) && !sensitive.includes(h));
    if (missing.length || extra.length) {
      const problems = [...(missing.length ? [`missing ${shownNames(missing)}`] : []), ...(extra.length ? [`columns that are not features: ${shownNames(extra)}`] : [])];
      throw invalidInput(
        `${opts.what} does not match the model's ${expected.length} features (${opts.features.from}): ${problems.join("; ")}. Features are matched by name, in any column order; add the missing columns, and drop other columns or mark them --sensitive`,
        { missing, extra: extra.filter((e) => shownName(e) !== undefined) },
      );
    }
    features = expected;
  } else {
    features = header.filter((h) => h !== opts.label && !sensitive.includes(h));
  }
  if (!features.length) throw invalidInput(`${opts.what} has no feature columns besides the label and sensitive columns`);
  return { header, features, sensitive };
}

/**
 * Checks the text at the start of a CSV (its header and first record, see `DataResolver.head`)
 * as `readTable` would check the whole file: label present, features as expected, no repeated
 * names, the first record as wide as the header and numeric where it must be. Returns the header
 * and the feature columns in the order they are fed to the model.
 */
export function checkTableHead(head: { text: string; complete: boolean }, opts: TableOptions): { header: string[]; features: string[] } {
  const ends = recordEnds(head.text, 2);
  // Only whole records are checked: the file's start may end inside a long first record.
  const whole = head.complete ? head.text : ends.length === 2 ? head.text.slice(0, ends[1]) : ends.length === 1 ? head.text.slice(0, ends[0]) : head.text;
  const [header, first] = parseCsv(whole, opts.what, 2);
  const columns = checkHeader(header?.fields, opts);
  if (first && (head.complete || ends.length === 2)) rowReader(columns, opts)(first);
  return { header: columns.header, features: columns.features };
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

/** Checks one record against the header and returns its feature values (in feature order) and label. */
function rowReader(columns: { header: string[]; features: string[] }, opts: TableOptions): (record: CsvRecord) => { features: number[]; label: number | undefined } {
  const { header } = columns;
  const index = new Map(header.map((h, i) => [h, i]));
  const featureIndex = columns.features.map((f) => index.get(f)!);
  const labelIndex = opts.label !== undefined ? index.get(opts.label)! : -1;
  return ({ fields: cells, line }) => {
    if (cells.length !== header.length) throw invalidInput(`${opts.what} line ${line} has ${cells.length} values; the header has ${header.length} (quote a value that holds a comma: "a,b")`);
    const number = (column: number) => {
      const text = cells[column]!.trim();
      const value = Number(text);
      if (text === "" || !Number.isFinite(value)) {
        throw invalidInput(`${opts.what} line ${line}, column ${shownName(header[column]!) ?? String(column + 1)}: not a number; features and labels must be numeric (mark a text column such as a group with --sensitive)`);
      }
      return value;
    };
    return { features: featureIndex.map(number), label: labelIndex >= 0 ? number(labelIndex) : undefined };
  };
}

/**
 * Reads a CSV (RFC 4180, see `parseCsv`) with a header; every record as wide as the header.
 * Sensitive columns are kept as text; the label (when given) and the features must be numbers.
 * Features come out in `opts.features` order when given (matched by name), else in file order.
 */
export function readTable(bytes: Uint8Array, opts: TableOptions): EvaluationTable {
  const records = parseCsv(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("utf8"), opts.what);
  const columns = checkHeader(records[0]?.fields, opts);
  const read = rowReader(columns, opts);
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
  if (!rows.length) throw invalidInput(`${opts.what} has a header but no rows`);
  return { features: columns.features, rows, labels, sensitive, digest: `sha256:${createHash("sha256").update(bytes).digest("hex")}` };
}

export interface TableRequest {
  bytes: Uint8Array;
  opts: TableOptions;
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

/** `readTable` on a worker thread, so parsing a large CSV never stalls the server (inference included). The bytes move to the worker. */
export function readTableOffThread(bytes: Uint8Array, opts: TableOptions): Promise<EvaluationTable> {
  // A copy of its own, so the transfer never detaches a pooled buffer.
  const own = new Uint8Array(bytes);
  const worker = startModuleWorker(import.meta.url, "./table-worker", { workerData: { bytes: own, opts } satisfies TableRequest, transferList: [own.buffer], stdout: false, stderr: false });
  return new Promise((resolve, reject) => {
    worker.once("message", (reply: TableReply) => {
      void worker.terminate();
      if (reply.ok) resolve(tableFromWire(reply.table));
      else reject(new PlatformError(reply.code, reply.message));
    });
    worker.once("error", (error) => reject(new PlatformError("INTERNAL", `could not read ${opts.what}: ${error.message}`)));
    worker.once("exit", (code) => reject(new PlatformError("INTERNAL", `the thread reading ${opts.what} exited with code ${code}`)));
  });
}
