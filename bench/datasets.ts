// Datasets bench (issue 10): the statistics of one generated CSV (BENCH_SIZE bytes, default 100 MB;
// `--gb` or BENCH_SIZE=1G for the 1 GB) through Paved's analysis (DatasetAnalyzer: the
// ragged-row check of the sniffing sample, the schema, row count, per-column statistics with five
// quantiles and top values, the stored preview) beside DuckDB's own SUMMARIZE of the same file,
// run by bare DuckDB through @duckdb/node-api with no Paved code, in the same run, with the same
// threads and memory limit. The DuckDB CLI is not installable here, so the peer is DuckDB's engine
// through node-api. Rounds alternate (ours, peer) after one warm-up of each (the file in the page
// cache for both); medians are compared. Target: ≤ 1.2x DuckDB's time.
import { statSync } from "node:fs";
import { availableParallelism } from "node:os";
import { join } from "node:path";
import { DuckDBInstance } from "@duckdb/node-api";
import { DatasetAnalyzer } from "../src/modules/datasets/index.ts";
import { nowMs, printTable, round, tempDir, type BenchOptions, type BenchResult } from "./support.ts";

const TARGET_RATIO = 1.2;
const ROUNDS = 3;
const MEMORY_MIB = 4096;

function sizeFromEnv(): number {
  if (process.argv.includes("--gb")) return 1024 ** 3;
  const text = process.env.BENCH_SIZE;
  if (!text) return 100 * 1024 ** 2;
  const match = /^(\d+(?:\.\d+)?)\s*([KMG]?)i?B?$/i.exec(text.trim());
  if (!match) throw new Error(`BENCH_SIZE '${text}' is not a size like 100M or 1G`);
  return Math.round(Number(match[1]) * { "": 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3 }[match[2]!.toUpperCase() as "" | "K" | "M" | "G"]);
}

export async function run(options: BenchOptions): Promise<BenchResult> {
  const bytesWanted = Math.round(sizeFromEnv() * options.scale);
  const threads = availableParallelism();
  const dir = tempDir("datasets");
  try {
    const file = join(dir.path, "data.csv");
    // About 66 bytes a row: ids, numbers with nulls, a low- and a high-cardinality text column, a date.
    const rows = Math.max(1000, Math.round(bytesWanted / 66));
    const maker = await DuckDBInstance.create(":memory:", { threads: String(threads) });
    const make = await maker.connect();
    const generateStart = nowMs();
    await make.run(`COPY (
      SELECT i AS id,
             (hash(i) % 100000) / 100.0 AS amount,
             CASE WHEN i % 17 = 0 THEN NULL ELSE (hash(i * 7) % 1000) * 0.37 END AS score,
             (hash(i * 3) % 120)::INTEGER AS tenure,
             ['basic', 'pro', 'team', 'enterprise'][1 + (i % 4)::INTEGER] AS plan,
             'customer-' || (hash(i * 11) % 500000)::VARCHAR AS customer,
             CASE WHEN i % 3 = 0 THEN 'eu' WHEN i % 3 = 1 THEN 'us' ELSE 'apac' END AS region,
             DATE '2020-01-01' + (i % 1500)::INTEGER AS signup,
             (i % 5 = 0) AS churned
      FROM range(${rows}) t(i)) TO '${file}' (FORMAT csv, HEADER true)`);
    make.closeSync();
    maker.closeSync();
    const size = statSync(file).size;
    process.stdout.write(`  generated ${rows.toLocaleString("en-US")} rows, ${(size / 1024 ** 2).toFixed(1)} MiB of CSV in ${round((nowMs() - generateStart) / 1000, 1)} s; DuckDB threads ${threads}, memory limit ${MEMORY_MIB} MiB for both\n`);

    const analyzer = new DatasetAnalyzer({
      threads,
      memoryLimitMiB: MEMORY_MIB,
      maxConcurrent: 1,
      allowedDirectories: [dir.path],
      tempDirectory: join(dir.path, "duckdb-tmp"),
      previewRows: 20,
      maxStatisticsColumns: 500,
      maxCellChars: 256,
    });
    const peerInstance = await DuckDBInstance.create(":memory:", { threads: String(threads), memory_limit: `${MEMORY_MIB}MB` });
    const ours = async () => {
      const start = nowMs();
      const analysis = await analyzer.analyze({ file, path: "data.csv", format: "csv" });
      return { seconds: (nowMs() - start) / 1000, rowCount: analysis.rowCount };
    };
    const peer = async () => {
      const connection = await peerInstance.connect();
      const start = nowMs();
      const reader = await connection.runAndReadAll(`SUMMARIZE SELECT * FROM read_csv('${file}')`);
      const seconds = (nowMs() - start) / 1000;
      const rowCount = Number((reader.getRowObjectsJson()[0] as { count: string }).count);
      connection.closeSync();
      return { seconds, rowCount };
    };
    // Warm-up: the file in the page cache, both instances started.
    const warm = [await ours(), await peer()];
    if (warm[0]!.rowCount !== rows || warm[1]!.rowCount !== rows) throw new Error(`row counts differ: ours ${warm[0]!.rowCount}, DuckDB ${warm[1]!.rowCount}, generated ${rows}`);
    const oursTimes: number[] = [];
    const peerTimes: number[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      oursTimes.push((await ours()).seconds);
      peerTimes.push((await peer()).seconds);
    }
    await analyzer.close();
    peerInstance.closeSync();
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    const oursSeconds = median(oursTimes);
    const peerSeconds = median(peerTimes);
    const ratio = oursSeconds / peerSeconds;
    const met = ratio <= TARGET_RATIO;
    printTable(`statistics of a ${(size / 1024 ** 2).toFixed(0)} MiB CSV (${rows.toLocaleString("en-US")} rows, 9 columns), medians of ${ROUNDS} rounds`, ["computation", "seconds", "MiB/s", "x DuckDB", "target", "met"], [
      ["Paved: DatasetAnalyzer.analyze (check, schema, stats, quantiles, top values, preview)", round(oursSeconds, 3), round(size / 1024 ** 2 / oursSeconds, 1), round(ratio, 3), `<= ${TARGET_RATIO}`, met ? "yes" : "no"],
      ["DuckDB alone: SUMMARIZE read_csv(file) through @duckdb/node-api", round(peerSeconds, 3), round(size / 1024 ** 2 / peerSeconds, 1), 1, "", ""],
    ]);
    return {
      name: "datasets",
      figures: {
        csvBytes: size,
        rows,
        threads,
        memoryLimitMiB: MEMORY_MIB,
        oursSeconds: round(oursSeconds, 3),
        duckdbSummarizeSeconds: round(peerSeconds, 3),
        ratio: round(ratio, 3),
        oursRounds: oursTimes.map((t) => round(t, 3)),
        duckdbRounds: peerTimes.map((t) => round(t, 3)),
        targetRatio: TARGET_RATIO,
        met,
      },
      notes: [
        `Paved's statistics took ${round(ratio, 2)}x DuckDB's own SUMMARIZE of the same ${(size / 1024 ** 2).toFixed(0)} MiB file (target <= ${TARGET_RATIO}x): ${met ? "met" : "not met"}.`,
        "The peer is DuckDB's engine through @duckdb/node-api (the DuckDB CLI is not installable here), with the same threads and memory limit, in the same process and run.",
        "Paved computes more than SUMMARIZE: p05 and p95 besides the quartiles, the top values of text columns, the ragged-row check of the first 20,480 records and a stored preview.",
      ],
    };
  } finally {
    dir.remove();
  }
}
