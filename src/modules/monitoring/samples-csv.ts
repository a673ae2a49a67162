import { setImmediate as yieldTurn } from "node:timers/promises";
import type { SampleRows } from "../serving/index.ts";

/** Cells written between two turns of the event loop: a window holds up to 4,000 rows of 1,024 features. */
const CELLS_PER_TURN = 100_000;

/**
 * A window's sampled rows as CSV: the features in the model's order (named from `features`, else
 * `input_<i>`), then `prediction`; a missing value is an empty cell. Built a slice at a time with
 * the event loop let go between slices, so a wide window never holds the server's other requests.
 */
export async function samplesCsv(samples: SampleRows, features: readonly string[]): Promise<Buffer> {
  const names = Array.from({ length: samples.width }, (_, i) => features[i] ?? `input_${i}`);
  const cell = (v: number) => (Number.isNaN(v) ? "" : String(v));
  const lines = [[...names.map(csvName), "prediction"].join(",")];
  const rowsPerTurn = Math.max(1, Math.floor(CELLS_PER_TURN / Math.max(1, samples.width)));
  for (let r = 0; r < samples.count; r++) {
    if (r > 0 && r % rowsPerTurn === 0) await yieldTurn();
    const values = Array.from(samples.values.subarray(r * samples.width, (r + 1) * samples.width), cell);
    lines.push([...values, cell(samples.scores[r]!)].join(","));
  }
  return Buffer.from(`${lines.join("\n")}\n`);
}

/** A feature name as a CSV header cell: quoted when it holds a comma, a quote or a line break. */
function csvName(name: string): string {
  return /[",\r\n]/.test(name) ? `"${name.replace(/"/g, '""')}"` : name;
}
