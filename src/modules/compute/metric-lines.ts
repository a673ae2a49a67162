/**
 * Metric lines: a job logs metrics without any client library by printing, on stdout or stderr,
 *
 *     paved.metric <key>=<value> [<key>=<value> …] [step=<int>]
 *
 * - the line starts with `paved.metric` (leading spaces allowed) followed by whitespace;
 * - keys use letters, digits, `_`, `-`, `.`, `/` (MLflow's metric-name characters);
 * - values are decimal numbers (`0.31`, `-2`, `1e-4`), or `nan`, `inf`, `-inf`;
 * - `step=<int>` sets the step of every metric on the line; without it the step is the number of
 *   metric lines the attempt printed before this one (0, 1, 2, …);
 * - malformed pairs are ignored, the rest of the line still counts.
 *
 * Example: `print(f"paved.metric loss={loss:.4f} acc={acc:.3f} step={epoch}", flush=True)`
 *
 * `paved.system` lines have the same form and are Paved's own (the per-rank use a distributed
 * Slurm job's ranks sample on their nodes): they never count toward the default step of the
 * program's metric lines.
 */
export const METRIC_LINE_PREFIX = "paved.metric";
export const SYSTEM_LINE_PREFIX = "paved.system";

const KEY = /^[A-Za-z0-9_.\-/]{1,250}$/;
const NUMBER = /^[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?$/;

export interface ParsedMetricLine {
  metrics: { key: string; value: number }[];
  step: number | undefined;
  /** A `paved.system` line: Paved's own sample, outside the program's default step count. */
  system: boolean;
}

/** Parses one output line; undefined when it is not a metric line. */
export function parseMetricLine(line: string): ParsedMetricLine | undefined {
  const text = line.trim();
  const system = text.startsWith(SYSTEM_LINE_PREFIX);
  if (!system && !text.startsWith(METRIC_LINE_PREFIX)) return undefined;
  const rest = text.slice((system ? SYSTEM_LINE_PREFIX : METRIC_LINE_PREFIX).length);
  if (rest !== "" && !/^\s/.test(rest)) return undefined;
  const metrics: { key: string; value: number }[] = [];
  let step: number | undefined;
  for (const pair of rest.trim().split(/\s+/)) {
    const eq = pair.indexOf("=");
    if (eq <= 0) continue;
    const key = pair.slice(0, eq);
    const raw = pair.slice(eq + 1);
    if (key === "step") {
      if (/^\d+$/.test(raw)) step = Number(raw);
      continue;
    }
    const value = toNumber(raw);
    if (KEY.test(key) && value !== undefined) metrics.push({ key, value });
  }
  return metrics.length > 0 ? { metrics, step, system } : undefined;
}

function toNumber(raw: string): number | undefined {
  const lower = raw.toLowerCase();
  if (lower === "nan") return Number.NaN;
  if (lower === "inf" || lower === "+inf" || lower === "infinity") return Number.POSITIVE_INFINITY;
  if (lower === "-inf" || lower === "-infinity") return Number.NEGATIVE_INFINITY;
  return NUMBER.test(raw) ? Number(raw) : undefined;
}
