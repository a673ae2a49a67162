// Monitoring bench (issue 12): PSI and the exact KS statistic of 100 feature columns, 1,000,000
// reference rows against 1,000,000 actual rows, by columnDrift (worker threads, one per core),
// beside scipy.stats.ks_2samp on the same data in the same run (Debian's /usr/bin/python3, which
// has scipy; only its computation is timed, not reading the file). Target: ≤ 3 s and faster than scipy.
import { spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import { join } from "node:path";
import { columnDrift, columnDriftOne, type ColumnDrift } from "../src/core/index.ts";
import { nowMs, printTable, round, tempDir, type BenchOptions, type BenchResult } from "./support.ts";

const ROWS = 1_000_000;
const COLUMNS = 100;
const TARGET_SECONDS = 3;
const PYTHON = "/usr/bin/python3";

/** Five kinds of feature, each column's actual side drifted or not. */
const KINDS = ["normal, unchanged", "normal, mean +0.05", "log-normal, scale x1.1", "counts (ties), rate +5%", "uniform, unchanged"] as const;

/** mulberry32, two draws per 53-bit double, seeded per column: fast enough for 200 million values. */
function generator(seed: number): () => number {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  };
  return () => ((next() >>> 5) * 67108864 + (next() >>> 6)) / 9007199254740992;
}

/** Fills one column of kind `kind`; `drifted` applies the kind's change (the actual side). */
function fill(column: Float64Array, kind: number, drifted: boolean, seed: number): void {
  const u = generator(seed);
  const normal = () => Math.sqrt(-2 * Math.log(1 - u())) * Math.cos(2 * Math.PI * u());
  for (let k = 0; k < column.length; k++) {
    switch (kind) {
      case 0:
        column[k] = normal();
        break;
      case 1:
        column[k] = normal() + (drifted ? 0.05 : 0);
        break;
      case 2:
        column[k] = Math.exp(normal()) * (drifted ? 1.1 : 1);
        break;
      case 3:
        column[k] = Math.floor(-Math.log(1 - u()) * 4 * (drifted ? 1.05 : 1));
        break;
      default:
        column[k] = u();
    }
  }
}

const PYTHON_KS = `
import json, sys, time
import numpy as np
from scipy.stats import ks_2samp
path, columns, rows = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
data = np.fromfile(path, dtype="<f8").reshape(2, columns, rows)
start = time.perf_counter()
stats = [float(ks_2samp(data[0, c], data[1, c]).statistic) for c in range(columns)]
seconds = time.perf_counter() - start
start = time.perf_counter()
for c in range(columns):
    np.sort(data[0, c])
    np.sort(data[1, c])
sort_seconds = time.perf_counter() - start
print(json.dumps({"seconds": seconds, "sortSeconds": sort_seconds, "ks": stats}))
`;

export async function run(options: BenchOptions): Promise<BenchResult> {
  const rows = Math.max(10_000, Math.round(ROWS * options.scale));
  const workers = availableParallelism();
  process.stdout.write(`\ngenerating ${COLUMNS} columns x ${rows.toLocaleString("en-US")} rows on each side (kinds: ${KINDS.join("; ")}) ...\n`);
  // Both sides in one SharedArrayBuffer, reference then actual, column after column: the
  // workers read the columns in place, and the file for scipy is the same bytes.
  const buffer = new SharedArrayBuffer(2 * COLUMNS * rows * 8);
  const column = (side: number, c: number) => new Float64Array(buffer, (side * COLUMNS + c) * rows * 8, rows);
  const reference = Array.from({ length: COLUMNS }, (_, c) => column(0, c));
  const actual = Array.from({ length: COLUMNS }, (_, c) => column(1, c));
  for (let c = 0; c < COLUMNS; c++) {
    fill(reference[c]!, c % KINDS.length, false, 2 * c + 1);
    fill(actual[c]!, c % KINDS.length, true, 2 * c + 2);
  }

  const timed = async <T>(fn: () => Promise<T> | T): Promise<{ seconds: number; value: T }> => {
    const start = nowMs();
    const value = await fn();
    return { seconds: (nowMs() - start) / 1000, value };
  };
  process.stdout.write(`columnDrift over ${COLUMNS} columns on ${workers} worker threads, twice ...\n`);
  const first = await timed(() => columnDrift(reference, actual));
  const warm = await timed(() => columnDrift(reference, actual));
  process.stdout.write("columnDriftOne over the same columns one after another on this thread ...\n");
  const oneThread = await timed(() => reference.map((r, c) => columnDriftOne(r, actual[c]!)));

  process.stdout.write(`scipy.stats.ks_2samp over the same ${COLUMNS} columns (${PYTHON}) ...\n`);
  const dir = tempDir("monitoring");
  let scipy: { seconds: number; sortSeconds: number; ks: number[] };
  try {
    const file = join(dir.path, "columns.f64");
    writeFileSync(file, new Uint8Array(buffer));
    const python = spawnSync(PYTHON, ["-c", PYTHON_KS, file, String(COLUMNS), String(rows)], { encoding: "utf8", maxBuffer: 16 * 2 ** 20, env: { PATH: "/usr/bin:/bin" } });
    if (python.status !== 0) throw new Error(`${PYTHON} failed (it needs numpy and scipy: apt-get install python3-scipy): ${python.stderr || python.error?.message}`);
    scipy = JSON.parse(python.stdout) as { seconds: number; sortSeconds: number; ks: number[] };
  } finally {
    dir.remove();
  }

  const results: ColumnDrift[] = warm.value;
  const maxDifference = Math.max(...results.map((r, c) => Math.abs(r.ks - scipy.ks[c]!)));
  const sameAsOneThread = results.every((r, c) => r.ks === oneThread.value[c]!.ks && r.psi === oneThread.value[c]!.psi);
  const byKind = KINDS.map((kind, k) => {
    const mine = results.filter((_, c) => c % KINDS.length === k);
    return [kind, Math.max(...mine.map((r) => r.psi)).toFixed(4), Math.max(...mine.map((r) => r.ks)).toFixed(4)];
  });
  const met = warm.seconds <= TARGET_SECONDS;
  const faster = warm.seconds < scipy.seconds;
  const cell = (s: number) => round(s, 2);
  printTable(`PSI + KS, ${COLUMNS} columns x ${rows.toLocaleString("en-US")} reference rows x ${rows.toLocaleString("en-US")} actual rows`, ["computation", "seconds", "target", "met"], [
    [`Paved columnDrift, PSI + KS, ${workers} worker threads, warm (2nd call)`, cell(warm.seconds), `≤ ${TARGET_SECONDS} s, < scipy`, met && faster ? "yes" : "no"],
    ["Paved columnDrift, first call (starts the worker threads)", cell(first.seconds), "", ""],
    ["Paved columnDriftOne, PSI + KS, one thread, one column after another", cell(oneThread.seconds), "", ""],
    ["scipy 1.10 stats.ks_2samp, KS (and its p-value), one thread", cell(scipy.seconds), "", ""],
    ["numpy.sort of both sides of every column alone, one thread (what ks_2samp starts with)", cell(scipy.sortSeconds), "", ""],
  ]);
  printTable("largest PSI and KS per kind of column (20 columns each)", ["kind (actual vs reference)", "max PSI", "max KS"], byKind);
  const notes = [
    `target ≤ ${TARGET_SECONDS} s: ${met ? "met" : "NOT met"} (${cell(warm.seconds)} s warm, ${cell(first.seconds)} s first call)`,
    `faster than scipy: ${faster ? "met" : "NOT met"} (${round(scipy.seconds / warm.seconds, 1)}x; on one thread ${round(scipy.seconds / oneThread.seconds, 1)}x, and that includes PSI)`,
    `KS agrees with scipy's ks_2samp: max |difference| over ${COLUMNS} columns = ${maxDifference.toExponential(2)}`,
    `worker threads and one thread give identical PSI and KS: ${sameAsOneThread ? "yes" : "NO"}`,
  ];
  return {
    name: "monitoring",
    figures: {
      rows,
      columns: COLUMNS,
      workers,
      columnDriftWarmSeconds: round(warm.seconds, 3),
      columnDriftFirstSeconds: round(first.seconds, 3),
      columnDriftOneThreadSeconds: round(oneThread.seconds, 3),
      scipyKsSeconds: round(scipy.seconds, 3),
      numpySortSeconds: round(scipy.sortSeconds, 3),
      maxKsDifference: maxDifference,
      targetSeconds: TARGET_SECONDS,
      targetMet: met,
      fasterThanScipy: faster,
    },
    notes,
  };
}
