import type { CheckResult, QualityMetric } from "../schema.ts";
import { LOWER_IS_BETTER } from "../schema.ts";
import { predictedClasses, type Predictions } from "./predictions.ts";

type QualityPolicy = { metric: QualityMetric; min?: number | undefined; max?: number | undefined; relativeToProduction?: number | undefined };

/** Scores above this are the positive class. */
export const THRESHOLD = 0.5;

/** Probabilities are clipped to [EPSILON, 1 - EPSILON] for log loss, as scikit-learn does. */
const EPSILON = 1e-15;

/** The metric of a model's predictions: per-row scores, or class probabilities of a k-class model. */
export function predictionMetric(metric: QualityMetric, predictions: Predictions, labels: number[]): number {
  return predictions.kind === "scores" ? qualityMetric(metric, predictions.scores, labels) : multiclassMetric(metric, predictions.probabilities, labels);
}

/** Why a metric has no value for these predictions, when the reason is not the labels. */
export function unavailableReason(metric: QualityMetric, predictions: Predictions): string | undefined {
  if (predictions.kind === "classes" && LOWER_IS_BETTER.has(metric) && metric !== "log_loss") {
    return `${metric} is a regression metric and the model outputs ${predictions.probabilities[0]?.length ?? 0} class scores; use accuracy, f1, precision, recall, auc or log_loss`;
  }
  return undefined;
}

/** The metric of predictions against labels: classification metrics threshold scores at 0.5. */
export function qualityMetric(metric: QualityMetric, scores: number[], labels: number[]): number {
  switch (metric) {
    case "log_loss":
      // Scores outside [0, 1] are not probabilities (logits, regression values): no log loss.
      if (scores.some((s) => !(s >= 0 && s <= 1)) || labels.some((y) => y !== 0 && y !== 1)) return Number.NaN;
      return mean(scores.map((s, i) => -Math.log(labels[i] === 1 ? clip(s) : 1 - clip(s))));
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

/**
 * Metrics of a k-class model, as scikit-learn computes them: accuracy of the most probable class;
 * precision, recall and F1 macro-averaged over the classes seen in labels or predictions; AUC as
 * the macro average of one-vs-rest AUCs (NaN unless every class appears in the labels and is not
 * all of them); log loss of the labelled class's probability.
 */
export function multiclassMetric(metric: QualityMetric, probabilities: number[][], labels: number[]): number {
  const predicted = predictedClasses(probabilities);
  const classes = probabilities[0]?.length ?? 0;
  switch (metric) {
    case "accuracy":
      return predicted.filter((p, i) => p === labels[i]).length / labels.length;
    case "auc": {
      const aucs = Array.from({ length: classes }, (_, c) => auc(probabilities.map((row) => row[c]!), labels.map((y) => (y === c ? 1 : 0))));
      return mean(aucs);
    }
    case "log_loss":
      return mean(labels.map((y, i) => -Math.log(clip(probabilities[i]![y]!))));
    case "precision":
    case "recall":
    case "f1": {
      const seen = [...new Set([...labels, ...predicted])];
      return mean(
        seen.map((c) => {
          const m = confusion(predicted.map((p) => (p === c ? 1 : 0)), labels.map((y) => (y === c ? 1 : 0)));
          const precision = m.tp + m.fp ? m.tp / (m.tp + m.fp) : 0;
          const recall = m.tp + m.fn ? m.tp / (m.tp + m.fn) : 0;
          if (metric === "precision") return precision;
          if (metric === "recall") return recall;
          return precision + recall ? (2 * precision * recall) / (precision + recall) : 0;
        }),
      );
    }
    default:
      return Number.NaN;
  }
}

function clip(p: number): number {
  return Math.min(Math.max(p, EPSILON), 1 - EPSILON);
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
export function qualityCheck(check: QualityPolicy, value: number, production: { version: number; value: number } | undefined, unavailable?: string): CheckResult {
  const lower = LOWER_IS_BETTER.has(check.metric);
  const problems: string[] = [];
  if (!Number.isFinite(value)) {
    problems.push(unavailable ?? (check.metric === "log_loss" ? "log_loss could not be computed (it needs probabilities in [0, 1] and 0/1 labels, or a k-class model)" : `${check.metric} could not be computed (is every class present in the labels?)`));
  }
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
