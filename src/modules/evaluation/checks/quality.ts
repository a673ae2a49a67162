import type { CheckResult, QualityMetric } from "../schema.ts";
import { LOWER_IS_BETTER } from "../schema.ts";

type QualityPolicy = { metric: QualityMetric; min?: number | undefined; max?: number | undefined; relativeToProduction?: number | undefined };

/** Scores above this are the positive class. */
export const THRESHOLD = 0.5;

/** The metric of predictions against labels: classification metrics threshold scores at 0.5. */
export function qualityMetric(metric: QualityMetric, scores: number[], labels: number[]): number {
  switch (metric) {
    case "rmse":
      return Math.sqrt(mean(scores.map((s, i) => (s - labels[i]!) ** 2)));
    case "mae":
      return mean(scores.map((s, i) => Math.abs(s - labels[i]!)));
    case "auc":
      return auc(scores, labels);
    default: {
      const c = confusion(scores.map((s) => (s > THRESHOLD ? 1 : 0)), labels);
      const precision = c.tp + c.fp ? c.tp / (c.tp + c.fp) : 0;
      const recall = c.tp + c.fn ? c.tp / (c.tp + c.fn) : 0;
      if (metric === "accuracy") return (c.tp + c.tn) / labels.length;
      if (metric === "precision") return precision;
      if (metric === "recall") return recall;
      return precision + recall ? (2 * precision * recall) / (precision + recall) : 0;
    }
  }
}

export function confusion(predicted: number[], labels: number[]): { tp: number; fp: number; tn: number; fn: number } {
  const c = { tp: 0, fp: 0, tn: 0, fn: 0 };
  predicted.forEach((p, i) => {
    const y = labels[i] === 1;
    if (p === 1 && y) c.tp++;
    else if (p === 1) c.fp++;
    else if (y) c.fn++;
    else c.tn++;
  });
  return c;
}

/** ROC AUC as the Mann–Whitney statistic, ties given average ranks. */
export function auc(scores: number[], labels: number[]): number {
  const order = scores.map((s, i) => ({ s, y: labels[i]! })).sort((a, b) => a.s - b.s);
  let rankSum = 0;
  let positives = 0;
  for (let i = 0; i < order.length; ) {
    let j = i;
    while (j < order.length && order[j]!.s === order[i]!.s) j++;
    const rank = (i + 1 + j) / 2;
    for (let k = i; k < j; k++) {
      if (order[k]!.y !== 1) continue;
      rankSum += rank;
      positives++;
    }
    i = j;
  }
  const negatives = order.length - positives;
  if (!positives || !negatives) return Number.NaN;
  return (rankSum - (positives * (positives + 1)) / 2) / (positives * negatives);
}

/** Judges one quality metric against its bounds and, when given, the production version's value. */
export function qualityCheck(check: QualityPolicy, value: number, production: { version: number; value: number } | undefined): CheckResult {
  const lower = LOWER_IS_BETTER.has(check.metric);
  const problems: string[] = [];
  if (!Number.isFinite(value)) problems.push(`${check.metric} could not be computed (are both classes present in the labels?)`);
  if (check.min !== undefined && !(value >= check.min)) problems.push(`${check.metric} ${fmt(value)} is below the minimum ${check.min}`);
  if (check.max !== undefined && !(value <= check.max)) problems.push(`${check.metric} ${fmt(value)} is above the maximum ${check.max}`);
  if (check.relativeToProduction !== undefined && production) {
    const change = lower ? value - production.value : production.value - value;
    if (!(change <= check.relativeToProduction)) {
      problems.push(`${check.metric} is ${fmt(Math.abs(change))} ${lower ? "worse" : "lower"} than production (version ${production.version}: ${fmt(production.value)}); at most ${check.relativeToProduction} is allowed`);
    }
  }
  return {
    type: "quality",
    name: `quality:${check.metric}`,
    passed: problems.length === 0,
    figures: { value: figure(value), production: production ? figure(production.value) : null, productionVersion: production ? production.version : null },
    thresholds: { min: check.min ?? null, max: check.max ?? null, relativeToProduction: check.relativeToProduction ?? null },
    hint: problems.length ? `${problems.join("; ")}. Retrain or tune the model, check the evaluation data's labels, or adjust the policy if the bar is wrong.` : null,
  };
}

function mean(values: number[]): number {
  return values.reduce((a, b) => a + b, 0) / values.length;
}

export function round(value: number): number {
  return Number.isFinite(value) ? Math.round(value * 1e6) / 1e6 : value;
}

/** A figure for the stored result: rounded, null when it could not be computed. */
export function figure(value: number): number | null {
  return Number.isFinite(value) ? round(value) : null;
}

export function fmt(value: number): string {
  return Number.isFinite(value) ? String(round(value)) : "n/a";
}
