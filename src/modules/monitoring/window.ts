// One monitor window judged: the live rows serving sampled against the reference data, with the
// same statistics the evaluation gate uses offline (PSI and KS per numeric feature, from
// src/core) and chi-square for categorical ones, plus missing and out-of-range values, schema
// violations, errors, latency and the shift of the prediction scores. Pure: the controller hands
// it the window's samples and saves what it returns.
import { UNIT_INTERVAL_EDGES, binShares, chiSquareTest, ksStatisticSorted, psi, psiOfShares } from "../../core/statistics.ts";
import { sampleRows, type SampleSet } from "../serving/live-samples.ts";
import type { Breach, FeatureFigures, MonitorSpec, WindowFigures } from "./schema.ts";

/** A categorical feature: integer values only, and at most this many distinct ones in the reference. */
const MAX_CATEGORIES = 20;
/** Most prediction scores kept as the baseline. */
export const BASELINE_SCORES = 4_000;

interface PreparedFeature {
  name: string;
  /** Its position in a live row. */
  index: number;
  /** The reference's values, sorted ascending. */
  reference: Float64Array;
  min: number;
  max: number;
  /** Categories and their reference shares, for a categorical feature. */
  categories: Map<number, number> | undefined;
  /** PSI bin edges of a numeric feature (quantiles of the reference), and the reference's share of each bin. */
  edges: number[] | undefined;
  expected: number[] | undefined;
}

/** The reference data made ready for many windows (categories found, PSI edges cut once). */
export interface PreparedReference {
  features: PreparedFeature[];
  /** Features of the model the reference does not hold (never judged; each window says so). */
  missing: string[];
}

/** `only`: judge just these of the model's features (the rest are left out, not reported missing). */
export function prepareReference(features: readonly string[], columns: ReadonlyMap<string, Float64Array>, only?: readonly string[]): PreparedReference {
  const prepared: PreparedFeature[] = [];
  const missing: string[] = [];
  const wanted = only ? new Set(only) : undefined;
  features.forEach((name, index) => {
    if (wanted && !wanted.has(name)) return;
    const column = columns.get(name);
    if (!column || column.length === 0) {
      missing.push(name);
      return;
    }
    let min = Infinity;
    let max = -Infinity;
    const counts = new Map<number, number>();
    let integral = true;
    for (const v of column) {
      if (v < min) min = v;
      if (v > max) max = v;
      if (integral && Number.isInteger(v)) {
        counts.set(v, (counts.get(v) ?? 0) + 1);
        if (counts.size > MAX_CATEGORIES) integral = false;
      } else integral = false;
    }
    const categories = integral ? new Map([...counts].map(([k, n]) => [k, n / column.length])) : undefined;
    const sorted = Float64Array.from(column).sort();
    const edges = categories ? undefined : [...new Set(Array.from({ length: 9 }, (_, i) => sorted[Math.floor(((i + 1) * sorted.length) / 10)]!))];
    prepared.push({ name, index, reference: sorted, min, max, categories, edges, expected: edges ? binShares(sorted, edges) : undefined });
  });
  return { features: prepared, missing };
}

/** The thresholds in force: the monitor's own, with the gate policy's drift and performance bounds. */
export interface EffectiveThresholds {
  maxErrorRate: number;
  maxSchemaViolationRate: number;
  maxMissingRate: number;
  maxOutOfRangeRate: number;
  maxPredictionPsi: number | null;
  chiSquareAlpha: number;
  maxPsi: number | null;
  maxKsStatistic: number | null;
  p99Ms: number | null;
}

export interface JudgedWindow {
  status: "ok" | "breach" | "insufficient" | "idle";
  figures: WindowFigures;
  breaches: Breach[];
  /** The window's scores when it is the first full one (it becomes the prediction baseline). */
  baseline: number[] | undefined;
}

const round = (x: number) => Math.round(x * 1e6) / 1e6;

export function judgeWindow(reference: PreparedReference, batch: SampleSet | undefined, spec: MonitorSpec, t: EffectiveThresholds, baseline: readonly number[] | undefined): JudgedWindow {
  const notes = reference.missing.length ? [`the reference holds no column for ${reference.missing.join(", ")}; not judged`] : [];
  const empty: WindowFigures = { errorRate: null, schemaViolationRate: null, latencyP50Ms: null, latencyP99Ms: null, predictionPsi: null, driftedFeatures: [], features: [], notes };
  if (!batch || batch.requests === 0) return { status: "idle", figures: { ...empty, notes: [...notes, "no traffic in this window"] }, breaches: [], baseline: undefined };
  const breaches: Breach[] = [];
  const breach = (signal: Breach["signal"], subject: string, value: number, threshold: number, message: string) => breaches.push({ signal, subject, value: round(value), threshold, message });

  const errorRate = batch.errors / batch.requests;
  if (errorRate > t.maxErrorRate) breach("error_rate", "", errorRate, t.maxErrorRate, `error rate ${pct(errorRate)} (${batch.errors}/${batch.requests}) exceeds ${pct(t.maxErrorRate)}`);
  const violations = batch.errorCodes.INVALID_INPUT ?? 0;
  const schemaViolationRate = violations / batch.requests;
  if (schemaViolationRate > t.maxSchemaViolationRate) {
    breach("schema_violations", "", schemaViolationRate, t.maxSchemaViolationRate, `${pct(schemaViolationRate)} of requests (${violations}) broke the model's input signature; limit ${pct(t.maxSchemaViolationRate)}`);
  }
  const latencies = Float64Array.from(batch.latencies).sort();
  const quantile = (q: number) => (latencies.length ? latencies[Math.min(latencies.length - 1, Math.ceil(latencies.length * q) - 1)]! * 1000 : null);
  const p50 = quantile(0.5);
  const p99 = quantile(0.99);
  if (t.p99Ms !== null && p99 !== null && p99 > t.p99Ms) breach("latency", "", p99, t.p99Ms, `p99 latency ${p99.toFixed(2)} ms exceeds the gate policy's ${t.p99Ms} ms`);

  const sampled = sampleRows(batch);
  const rowCount = sampled.count;
  const features: FeatureFigures[] = [];
  const drifted: string[] = [];
  const judged = rowCount >= spec.minRows;
  if (!judged) notes.push(`${rowCount} sampled rows, fewer than minRows ${spec.minRows}: drift not judged`);
  // One column at a time, reused: a window judges every feature, and each window many of them.
  const column = new Float64Array(rowCount);
  for (const f of reference.features) {
    const { kept, missing, outOfRange } = f.index < sampled.width ? takeColumn(sampled, f, column) : { kept: 0, missing: rowCount, outOfRange: 0 };
    const values = column.subarray(0, kept);
    const n = rowCount || 1;
    const missingRate = missing / n;
    const outOfRangeRate = outOfRange / n;
    const figure: FeatureFigures = { feature: f.name, kind: f.categories ? "categorical" : "numeric", rows: values.length, psi: null, ksStatistic: null, chiSquare: null, chiSquarePValue: null, missingRate: round(missingRate), outOfRangeRate: round(outOfRangeRate), drifted: false };
    if (rowCount > 0 && missingRate > t.maxMissingRate) breach("missing_inputs", f.name, missingRate, t.maxMissingRate, `feature '${f.name}': ${pct(missingRate)} of rows miss it (limit ${pct(t.maxMissingRate)})`);
    if (rowCount > 0 && outOfRangeRate > t.maxOutOfRangeRate) {
      breach("out_of_range", f.name, outOfRangeRate, t.maxOutOfRangeRate, `feature '${f.name}': ${pct(outOfRangeRate)} of rows outside the reference's [${f.min}, ${f.max}] (limit ${pct(t.maxOutOfRangeRate)})`);
    }
    if (judged && values.length >= spec.minRows) {
      const problems: string[] = [];
      if (f.categories) {
        const categories = [...f.categories.keys()];
        const observed = new Array<number>(categories.length + 1).fill(0);
        const position = new Map(categories.map((c, i) => [c, i]));
        for (const v of values) observed[position.get(v) ?? categories.length]!++;
        const expected = [...f.categories.values(), 0];
        const chi = chiSquareTest(observed, expected);
        const shares = observed.map((o) => o / values.length);
        const p = categoricalPsi(expected, shares);
        Object.assign(figure, { psi: round(p), chiSquare: round(chi.statistic), chiSquarePValue: chi.pValue });
        if (t.maxPsi !== null && p > t.maxPsi) problems.push(`PSI ${p.toFixed(3)} exceeds ${t.maxPsi}`);
        if (chi.pValue < t.chiSquareAlpha) problems.push(`chi-square ${chi.statistic.toFixed(1)} (df ${chi.df}), p ${chi.pValue.toExponential(2)} < ${t.chiSquareAlpha}`);
      } else {
        // The reference was sorted and binned once (prepareReference); only the window's values are sorted here.
        values.sort();
        const p = psiOfShares(f.expected!, binShares(values, f.edges!));
        const ks = ksStatisticSorted(f.reference, values);
        Object.assign(figure, { psi: round(p), ksStatistic: round(ks) });
        if (t.maxPsi !== null && p > t.maxPsi) problems.push(`PSI ${p.toFixed(3)} exceeds ${t.maxPsi}`);
        if (t.maxKsStatistic !== null && ks > t.maxKsStatistic) problems.push(`KS statistic ${ks.toFixed(3)} exceeds ${t.maxKsStatistic}`);
      }
      if (problems.length) {
        figure.drifted = true;
        drifted.push(f.name);
        breach("drift", f.name, figure.psi ?? 0, t.maxPsi ?? 0, `feature '${f.name}' drifted from the reference: ${problems.join("; ")}`);
      }
    }
    features.push(figure);
  }

  const scores = Array.from(sampled.scores.subarray(0, rowCount)).filter((s) => Number.isFinite(s));
  let predictionPsi: number | null = null;
  let nextBaseline: number[] | undefined;
  if (scores.length >= spec.minRows) {
    if (!baseline || baseline.length < spec.minRows) nextBaseline = scores.slice(0, BASELINE_SCORES);
    else {
      const unit = (xs: readonly number[]) => xs.every((x) => x >= 0 && x <= 1);
      predictionPsi = psi(baseline, scores, unit(baseline) && unit(scores) ? UNIT_INTERVAL_EDGES : undefined);
      if (t.maxPredictionPsi !== null && predictionPsi > t.maxPredictionPsi) {
        breach("prediction_shift", "", predictionPsi, t.maxPredictionPsi, `predictions shifted from the first full window's: PSI ${predictionPsi.toFixed(3)} over ${scores.length} scores (limit ${t.maxPredictionPsi})`);
      }
    }
  }
  const figures: WindowFigures = {
    errorRate: round(errorRate),
    schemaViolationRate: round(schemaViolationRate),
    latencyP50Ms: p50 === null ? null : round(p50),
    latencyP99Ms: p99 === null ? null : round(p99),
    predictionPsi: predictionPsi === null ? null : round(predictionPsi),
    driftedFeatures: drifted,
    features,
    notes,
  };
  if (batch.rowsDropped > 0) notes.push(`${batch.rowsDropped} of ${batch.rowsSeen} rows were not kept (the window's sample is bounded; kept rows are an even sample)`);
  if (batch.truncated) notes.push("rows were wider than the monitor keeps; only the first features were judged");
  return { status: breaches.length ? "breach" : judged ? "ok" : "insufficient", figures, breaches, baseline: nextBaseline };
}

/**
 * One feature's finite values of the window into `column`, counting the missing (not finite) and
 * those outside the reference's range. A small function of its own, so that the optimizing
 * compiler takes its loop early and keeps it: windows close seldom, and code that is not yet
 * optimized allocates a number object for every value it reads from a Float32Array.
 */
function takeColumn(sampled: { width: number; count: number; values: Float32Array }, f: { index: number; min: number; max: number }, column: Float64Array): { kept: number; missing: number; outOfRange: number } {
  let kept = 0;
  let missing = 0;
  let outOfRange = 0;
  const { width, count, values } = sampled;
  for (let at = f.index, r = 0; r < count; r++, at += width) {
    const v = values[at]!;
    if (!Number.isFinite(v)) {
      missing++;
      continue;
    }
    column[kept++] = v;
    if (v < f.min || v > f.max) outOfRange++;
  }
  return { kept, missing, outOfRange };
}

/** PSI over categories (shares given); zero shares count as 1e-4, as in psi(). */
function categoricalPsi(expected: readonly number[], actual: readonly number[]): number {
  let sum = 0;
  expected.forEach((e0, i) => {
    const e = Math.max(e0, 1e-4);
    const a = Math.max(actual[i] ?? 0, 1e-4);
    sum += (a - e) * Math.log(a / e);
  });
  return sum;
}

const pct = (x: number) => `${(x * 100).toFixed(1)}%`;
