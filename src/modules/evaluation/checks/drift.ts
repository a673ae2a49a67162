import type { CheckResult } from "../schema.ts";
import { ksStatistic, psi } from "../../../core/index.ts";
import { figure } from "./quality.ts";

type DriftPolicy = { maxPsi?: number | undefined; maxKsStatistic?: number | undefined };

export function driftChecks(check: DriftPolicy, reference: { path: string; columns: Map<string, number[]> } | undefined, features: string[], columns: Map<string, number[]>, noReference?: string): CheckResult[] {
  const thresholds = { maxPsi: check.maxPsi ?? null, maxKsStatistic: check.maxKsStatistic ?? null };
  if (!reference) {
    return [{
      type: "drift",
      name: "drift",
      passed: false,
      figures: {},
      thresholds,
      hint: noReference ?? "no reference data; pass --reference <training CSV> (a local file is uploaded) or --reference runs:/<run_id>/<path>, or log the training CSV as a run artifact and name it (runs:/…) as the run's dataset input",
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
