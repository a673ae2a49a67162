import type { CheckResult } from "../schema.ts";
import { predictedClasses, type Predictions } from "./predictions.ts";
import { THRESHOLD, figure } from "./quality.ts";

type BiasPolicy = { sensitiveColumn: string; maxDemographicParityDifference?: number | undefined; maxEqualizedOddsDifference?: number | undefined };

/**
 * Demographic parity difference (largest gap in positive-prediction rate between groups) and
 * equalized odds difference (largest gap in true- or false-positive rate between groups).
 */
export function fairness(scores: number[], labels: number[], groups: string[]): { demographicParityDifference: number; equalizedOddsDifference: number; groups: number } {
  const by = new Map<string, { n: number; predicted: number; pos: number; tp: number; neg: number; fp: number }>();
  scores.forEach((s, i) => {
    const g = by.get(groups[i]!) ?? { n: 0, predicted: 0, pos: 0, tp: 0, neg: 0, fp: 0 };
    const p = s > THRESHOLD ? 1 : 0;
    g.n++;
    g.predicted += p;
    if (labels[i] === 1) {
      g.pos++;
      g.tp += p;
    } else {
      g.neg++;
      g.fp += p;
    }
    by.set(groups[i]!, g);
  });
  const spread = (values: number[]) => (values.length > 1 ? Math.max(...values) - Math.min(...values) : 0);
  const stats = [...by.values()];
  const tpr = stats.filter((g) => g.pos > 0).map((g) => g.tp / g.pos);
  const fpr = stats.filter((g) => g.neg > 0).map((g) => g.fp / g.neg);
  return { demographicParityDifference: spread(stats.map((g) => g.predicted / g.n)), equalizedOddsDifference: Math.max(spread(tpr), spread(fpr)), groups: by.size };
}

/**
 * Fairness of a k-class model, one class against the rest as fairlearn users compute it (a
 * MetricFrame per binarized class): for each class c, "predicted c" is the positive prediction
 * and "labelled c" the positive label; each difference is the largest over the classes, reported
 * with the class it comes from.
 */
export function multiclassFairness(
  probabilities: number[][],
  labels: number[],
  groups: string[],
): { demographicParityDifference: number; equalizedOddsDifference: number; groups: number; demographicParityClass: number; equalizedOddsClass: number } {
  const predicted = predictedClasses(probabilities);
  const classes = probabilities[0]?.length ?? 0;
  const worst = { demographicParityDifference: 0, equalizedOddsDifference: 0, groups: new Set(groups).size, demographicParityClass: 0, equalizedOddsClass: 0 };
  for (let c = 0; c < classes; c++) {
    const f = fairness(predicted.map((p) => (p === c ? 1 : 0)), labels.map((y) => (y === c ? 1 : 0)), groups);
    if (f.demographicParityDifference > worst.demographicParityDifference) Object.assign(worst, { demographicParityDifference: f.demographicParityDifference, demographicParityClass: c });
    if (f.equalizedOddsDifference > worst.equalizedOddsDifference) Object.assign(worst, { equalizedOddsDifference: f.equalizedOddsDifference, equalizedOddsClass: c });
  }
  return worst;
}

export function biasCheck(check: BiasPolicy, groups: string[] | undefined, predictions: Predictions, labels: number[]): CheckResult {
  const thresholds = {
    sensitiveColumn: check.sensitiveColumn,
    maxDemographicParityDifference: check.maxDemographicParityDifference ?? null,
    maxEqualizedOddsDifference: check.maxEqualizedOddsDifference ?? null,
  };
  const name = `bias:${check.sensitiveColumn}`;
  if (!groups) {
    return { type: "bias", name, passed: false, figures: {}, thresholds, hint: `the evaluation data has no column '${check.sensitiveColumn}'; add it to the CSV (it is not fed to the model)` };
  }
  const f: ReturnType<typeof fairness> & { demographicParityClass?: number; equalizedOddsClass?: number } =
    predictions.kind === "scores" ? fairness(predictions.scores, labels, groups) : multiclassFairness(predictions.probabilities, labels, groups);
  const multiclass = predictions.kind === "classes";
  const problems: string[] = [];
  if (check.maxDemographicParityDifference !== undefined && !(f.demographicParityDifference <= check.maxDemographicParityDifference)) {
    problems.push(`demographic parity difference ${figure(f.demographicParityDifference)} exceeds ${check.maxDemographicParityDifference}`);
  }
  if (check.maxEqualizedOddsDifference !== undefined && !(f.equalizedOddsDifference <= check.maxEqualizedOddsDifference)) {
    problems.push(`equalized odds difference ${figure(f.equalizedOddsDifference)} exceeds ${check.maxEqualizedOddsDifference}`);
  }
  return {
    type: "bias",
    name,
    passed: problems.length === 0,
    figures: {
      demographicParityDifference: figure(f.demographicParityDifference),
      equalizedOddsDifference: figure(f.equalizedOddsDifference),
      groups: f.groups,
      ...(multiclass ? { demographicParityClass: f.demographicParityClass ?? null, equalizedOddsClass: f.equalizedOddsClass ?? null } : {}),
    },
    thresholds,
    hint: problems.length ? `${problems.join("; ")} across '${check.sensitiveColumn}'${multiclass ? " (the largest over classes, each class against the rest; the class is in the figures)" : ""}. Rebalance or reweight the training data, drop proxies of the sensitive attribute, or tune per-group thresholds.` : null,
  };
}
