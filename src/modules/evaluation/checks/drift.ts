import type { CheckResult } from "../schema.ts";
import { figure } from "./quality.ts";

type DriftPolicy = { maxPsi?: number | undefined; maxKsStatistic?: number | undefined };

const BINS = 10;
const EPSILON = 1e-4;

/** Population stability index of `actual` against `reference`, over 10 quantile bins of the reference. */
export function psi(reference: number[], actual: number[]): number {
  const sorted = [...reference].sort((a, b) => a - b);
  const edges = [...new Set(Array.from({ length: BINS - 1 }, (_, i) => sorted[Math.floor(((i + 1) * sorted.length) / BINS)]!))];
  const shares = (values: number[]) => {
    const counts = new Array<number>(edges.length + 1).fill(0);
    for (const v of values) {
      let bin = 0;
      while (bin < edges.length && v >= edges[bin]!) bin++;
      counts[bin]!++;
    }
    return counts.map((c) => Math.max(c / values.length, EPSILON));
  };
  const expected = shares(reference);
  return shares(actual).reduce((sum, a, i) => sum + (a - expected[i]!) * Math.log(a / expected[i]!), 0);
}

/** Two-sample Kolmogorov–Smirnov statistic: the largest gap between the empirical CDFs. */
export function ksStatistic(a: number[], b: number[]): number {
  const x = [...a].sort((p, q) => p - q);
  const y = [...b].sort((p, q) => p - q);
  let i = 0;
  let j = 0;
  let d = 0;
  while (i < x.length && j < y.length) {
    const v = Math.min(x[i]!, y[j]!);
    while (i < x.length && x[i] === v) i++;
    while (j < y.length && y[j] === v) j++;
    d = Math.max(d, Math.abs(i / x.length - j / y.length));
  }
  return d;
}

export function driftChecks(check: DriftPolicy, reference: { path: string; columns: Map<string, number[]> } | undefined, features: string[], columns: Map<string, number[]>): CheckResult[] {
  const thresholds = { maxPsi: check.maxPsi ?? null, maxKsStatistic: check.maxKsStatistic ?? null };
  if (!reference) {
    return [{
      type: "drift",
      name: "drift",
      passed: false,
      figures: {},
      thresholds,
      hint: "no reference data: the version's lineage names no local CSV that exists; give the training CSV with --reference (or log it as the run's dataset input)",
    }];
  }
  return features.map((feature): CheckResult => {
    const ref = reference.columns.get(feature);
    if (!ref) {
      return { type: "drift", name: `drift:${feature}`, passed: false, figures: {}, thresholds, hint: `the reference data '${reference.path}' has no column '${feature}'; use the CSV the model was trained on` };
    }
    const values = columns.get(feature)!;
    const p = psi(ref, values);
    const ks = ksStatistic(ref, values);
    const problems: string[] = [];
    if (check.maxPsi !== undefined && !(p <= check.maxPsi)) problems.push(`PSI ${figure(p)} exceeds ${check.maxPsi}`);
    if (check.maxKsStatistic !== undefined && !(ks <= check.maxKsStatistic)) problems.push(`KS statistic ${figure(ks)} exceeds ${check.maxKsStatistic}`);
    return {
      type: "drift",
      name: `drift:${feature}`,
      passed: problems.length === 0,
      figures: { psi: figure(p), ksStatistic: figure(ks) },
      thresholds,
      hint: problems.length ? `feature '${feature}' shifted from the training data: ${problems.join("; ")}. Retrain on recent data, or check the evaluation data's pipeline for a unit or encoding change.` : null,
    };
  });
}
