import { createReadStream } from "node:fs";
import type { Readable } from "node:stream";
import { createGunzip } from "node:zlib";
import { invalidInput } from "../../core/index.ts";

/** The delimiters a CSV may use (DuckDB's sniffer tries these too). */
const DELIMITERS = [",", "\t", ";", "|"] as const;

/**
 * The first `maxRecords` records of a CSV (at most `maxBytes`), checked for ragged rows: each must
 * have as many fields as the header. DuckDB's sniffer reads the same sample and, meeting a ragged
 * row there, guesses a one-column dialect instead of saying which line is wrong; past the sample,
 * DuckDB's strict reader reports the line itself. Quoted fields may hold delimiters and newlines.
 * Read as a stream, chunk by chunk, so the event loop stays free. Returns the delimiter the header
 * uses (undefined for a one-column file).
 */
export async function checkCsvSample(file: string, displayPath: string, opts: { maxRecords: number; maxBytes: number; gzip?: boolean }): Promise<string | undefined> {
  const raw = createReadStream(file, { highWaterMark: 64 * 1024 });
  const stream: Readable = opts.gzip ? raw.pipe(createGunzip()) : raw;
  stream.setEncoding("utf8");
  let read = 0;
  let truncated = false;
  let delimiter: string | undefined;
  let header: string | undefined = "";
  let expected = 0;
  let fields = 1;
  let inQuotes = false;
  let recordStartLine = 1;
  let line = 1;
  let recordEmpty = true;
  let records = 0;
  const endRecord = () => {
    if (!recordEmpty) {
      records += 1;
      if (records > 1 && delimiter !== undefined && fields !== expected) {
        throw invalidInput(
          `${displayPath}: line ${recordStartLine} has ${fields} field${fields === 1 ? "" : "s"} where the header has ${expected} (a ragged row); fix or remove that row and upload the file again`,
          { path: displayPath, line: recordStartLine, fields, expected },
        );
      }
    }
    fields = 1;
    recordEmpty = true;
    recordStartLine = line;
  };
  try {
    for await (const whole of stream as AsyncIterable<string>) {
      // The sample stops at maxBytes (of text); a record cut there is not judged.
      const chunk = read + whole.length > opts.maxBytes ? whole.slice(0, opts.maxBytes - read) : whole;
      read += chunk.length;
      truncated = chunk.length < whole.length;
      for (let i = 0; i < chunk.length; i++) {
        const ch = chunk[i]!;
        if (header !== undefined) {
          // The header's first line decides the delimiter: the candidate it holds most of, outside quotes.
          if (ch !== "\n") {
            header += ch;
            if (header.length > 1024 * 1024) header = undefined;
          } else {
            delimiter = pickDelimiter(header);
            expected = delimiter === undefined ? 1 : countFields(header, delimiter);
            header = undefined;
          }
        }
        if (inQuotes) {
          if (ch === '"') inQuotes = false;
          else if (ch === "\n") line += 1;
          continue;
        }
        if (ch === '"') {
          // Opens a quoted field; a doubled quote inside one ("") closes and reopens it.
          inQuotes = true;
          recordEmpty = false;
          continue;
        }
        if (ch === "\n") {
          line += 1;
          endRecord();
          if (records >= opts.maxRecords) return delimiter;
        } else if (ch === "\r") {
          continue;
        } else {
          recordEmpty = false;
          if (ch === delimiter) fields += 1;
        }
      }
      if (truncated) break;
    }
    // The sample may end mid-record (maxBytes): only a file read to its end checks its last line.
    if (!truncated) endRecord();
  } catch (error) {
    if ((error as { code?: string }).code === "Z_DATA_ERROR" || (error as { code?: string }).code === "Z_BUF_ERROR") {
      throw invalidInput(`${displayPath} is not gzip-compressed text (${(error as Error).message}); upload it uncompressed, or name it without .gz`, { path: displayPath });
    }
    throw error;
  } finally {
    stream.destroy();
    raw.destroy();
  }
  return delimiter;
}

function pickDelimiter(header: string): string | undefined {
  let best: string | undefined;
  let bestCount = 1;
  for (const d of DELIMITERS) {
    const n = countFields(header, d);
    if (n > bestCount) {
      best = d;
      bestCount = n;
    }
  }
  return best;
}

function countFields(text: string, delimiter: string): number {
  let n = 1;
  let inQuotes = false;
  for (const ch of text) {
    if (ch === '"') inQuotes = !inQuotes;
    else if (ch === delimiter && !inQuotes) n += 1;
  }
  return n;
}
