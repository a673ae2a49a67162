import type { CheckResult } from "../schema.ts";

type CompliancePolicy = { requiredModelCardFields: string[]; requireLineage: boolean; forbidSensitiveFeatures: boolean };

/** Model-card fields are tags `model_card.<field>` on the registered model or (overriding) the version. */
export const MODEL_CARD_TAG = "model_card.";

/** The model card: `model_card.*` tags of the model, overridden by the version's. */
export function cardTags(model: { tags: { key: string; value: string }[] }, version: { tags: { key: string; value: string }[] }): Map<string, string> {
  return new Map([...model.tags, ...version.tags].filter((t) => t.key.startsWith(MODEL_CARD_TAG)).map((t) => [t.key, t.value]));
}

/** The model's feature names in input order, from the comma-separated `model_card.features` tag; empty when not set. */
export function cardFeatures(tags: Map<string, string>): string[] {
  return (tags.get(`${MODEL_CARD_TAG}features`) ?? "").split(",").map((s) => s.trim()).filter(Boolean);
}

export interface ComplianceFacts {
  /** Tags of the model, then of the version (the version's win). */
  tags: Map<string, string>;
  lineage: { runId: string; commit: string | null; datasets: { digest: string }[] } | null;
  /** What the model declares it reads: its ONNX input names and the `model_card.features` tag. */
  inputs: string[];
  sensitive: string[];
}

export function complianceChecks(check: CompliancePolicy, facts: ComplianceFacts): CheckResult[] {
  const results: CheckResult[] = [];
  if (check.requiredModelCardFields.length) {
    const missing = check.requiredModelCardFields.filter((f) => !(facts.tags.get(`${MODEL_CARD_TAG}${f}`) ?? "").trim());
    results.push({
      type: "compliance",
      name: "compliance:model-card",
      passed: missing.length === 0,
      figures: { missing: missing.join(", ") || null },
      thresholds: { requiredModelCardFields: check.requiredModelCardFields },
      hint: missing.length
        ? `the model card lacks ${missing.join(", ")}; set them as tags of the model, e.g. \`paved models tag <name> ${missing.map((f) => `${MODEL_CARD_TAG}${f}="..."`).join(" ")}\``
        : null,
    });
  }
  if (check.requireLineage) {
    const l = facts.lineage;
    const missing = [!l?.runId && "run", !l?.commit && "commit", !l?.datasets.some((d) => d.digest) && "dataset digest"].filter((m): m is string => Boolean(m));
    results.push({
      type: "compliance",
      name: "compliance:lineage",
      passed: missing.length === 0,
      figures: { missing: missing.join(", ") || null },
      thresholds: { requireLineage: true },
      hint: missing.length
        ? `the version's lineage lacks ${missing.join(", ")}; register it from a run started in a git checkout that logs its dataset, e.g. \`paved train --name <name> --dataset <name>=<path> -- <command>\` (or mlflow.log_input in the script)`
        : null,
    });
  }
  if (check.forbidSensitiveFeatures) {
    const leaked = facts.sensitive.filter((s) => facts.inputs.includes(s));
    results.push({
      type: "compliance",
      name: "compliance:sensitive-features",
      passed: leaked.length === 0,
      figures: { sensitiveInputs: leaked.join(", ") || null },
      thresholds: { forbidSensitiveFeatures: true },
      hint: leaked.length ? `the model reads sensitive column(s) ${leaked.join(", ")}; retrain without them` : null,
    });
  }
  return results;
}
