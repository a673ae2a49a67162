import { createReadStream } from "node:fs";
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
export async function checkCsvSample(file: string, displayPath: string, opts: { maxRecords: number; maxBytes: number }): Promise<string | undefined> {
  const stream = createReadStream(file, { encoding: "utf8", highWaterMark: 64 * 1024, end: opts.maxBytes - 1 });
  let delimiter: string | undefined;
  let header: string | undefined = "";
  let expected = 0;
  let fields = 1;
  let inQuotes = false;
  let quotePending = false;
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
    for await (const chunk of stream as AsyncIterable<string>) {
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
          if (ch === '"') {
            inQuotes = false;
            quotePending = true;
          } else if (ch === "\n") line += 1;
          continue;
        }
        if (ch === '"') {
          // A doubled quote inside a quoted field ("") reopens it.
          inQuotes = true;
          recordEmpty = false;
          if (quotePending) quotePending = false;
          continue;
        }
        quotePending = false;
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
    }
    // The sample may end mid-record (maxBytes): only a file read to its end checks its last line.
    if (stream.bytesRead < opts.maxBytes) endRecord();
  } finally {
    stream.destroy();
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
