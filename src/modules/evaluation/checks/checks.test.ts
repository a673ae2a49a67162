import { describe, expect, it } from "vitest";
import { biasCheck, fairness, multiclassFairness } from "./bias.ts";
import { ksStatistic, psi } from "../../../core/index.ts";
import { latencyFigures } from "./performance.ts";
import { checkClassLabels, predictionsFromOutput } from "./predictions.ts";
import { auc, multiclassMetric, predictionMetric, qualityCheck, qualityMetric, unavailableReason } from "./quality.ts";

describe("check figures", () => {
  it("computes classification and regression metrics", () => {
    const labels = [1, 0, 1, 0];
    const scores = [0.9, 0.2, 0.4, 0.6];
    expect(qualityMetric("accuracy", scores, labels)).toBe(0.5);
    expect(qualityMetric("precision", scores, labels)).toBe(0.5);
    expect(qualityMetric("recall", scores, labels)).toBe(0.5);
    expect(auc(scores, labels)).toBe(0.75);
    expect(auc([0.5, 0.5], [1, 0])).toBe(0.5);
    expect(qualityMetric("mae", [1, 2], [2, 4])).toBe(1.5);
    expect(qualityMetric("rmse", [0, 0], [3, 4])).toBeCloseTo(Math.sqrt(12.5));
  });

  it("computes k-class metrics as scikit-learn does (macro averages, one-vs-rest AUC)", () => {
    // Expected values from sklearn.metrics on the same arrays.
    const probabilities = [[0.7, 0.2, 0.1], [0.1, 0.8, 0.1], [0.2, 0.3, 0.5], [0.3, 0.4, 0.3], [0.6, 0.1, 0.3], [0.1, 0.2, 0.7]];
    const labels = [0, 1, 2, 2, 1, 2];
    expect(multiclassMetric("accuracy", probabilities, labels)).toBeCloseTo(0.666667, 5);
    expect(multiclassMetric("f1", probabilities, labels)).toBeCloseTo(0.655556, 5);
    expect(multiclassMetric("precision", probabilities, labels)).toBeCloseTo(0.666667, 5);
    expect(multiclassMetric("recall", probabilities, labels)).toBeCloseTo(0.722222, 5);
    expect(multiclassMetric("auc", probabilities, labels)).toBeCloseTo(0.814815, 5);
    expect(multiclassMetric("log_loss", probabilities, labels)).toBeCloseTo(0.856033, 5);
    expect(multiclassMetric("auc", probabilities, [0, 1, 1, 1, 1, 1])).toBeNaN();
    expect(qualityMetric("log_loss", [0.9, 0.2, 0.6], [1, 0, 1])).toBeCloseTo(0.279777, 5);
    expect(qualityMetric("log_loss", [2.5, -1], [1, 0])).toBeNaN();
    const rmse = predictionMetric("rmse", { kind: "classes", probabilities }, labels);
    const check = qualityCheck({ metric: "rmse", max: 1 }, rmse, undefined, unavailableReason("rmse", { kind: "classes", probabilities }));
    expect(check.passed).toBe(false);
    expect(check.hint).toContain("regression metric");
  });

  it("reads model outputs: binary scores stay as before, k > 2 columns are probabilities or logits", () => {
    expect(predictionsFromOutput([0.2, 0.8, 0.6, 0.4], 2, 2)).toEqual({ kind: "scores", scores: [0.8, 0.4] });
    expect(predictionsFromOutput([0.3, 0.9], 2, 1)).toEqual({ kind: "scores", scores: [0.3, 0.9] });
    expect(predictionsFromOutput([0.2, 0.5, 0.3], 1, 3)).toEqual({ kind: "classes", probabilities: [[0.2, 0.5, 0.3]] });
    const logits = predictionsFromOutput([0, 0, Math.log(2)], 1, 3);
    expect(logits.kind === "classes" && logits.probabilities[0]!.map((p) => Number(p.toFixed(6)))).toEqual([0.25, 0.25, 0.5]);
    expect(() => checkClassLabels([0, 2, 3], 3, "label")).toThrow(/class indices 0..2; data row 3 /);
    expect(() => checkClassLabels([0, 2, 987654], 3, "label")).not.toThrow(/987654/);
    expect(() => checkClassLabels([0, 1.5], 3, "label")).toThrow();
  });

  it("measures k-class group gaps one class against the rest", () => {
    // Group A is always predicted class 0, group B class 2; labels are balanced.
    const probabilities = [[0.8, 0.1, 0.1], [0.8, 0.1, 0.1], [0.1, 0.1, 0.8], [0.1, 0.1, 0.8]];
    const f = multiclassFairness(probabilities, [0, 2, 0, 2], ["A", "A", "B", "B"]);
    expect(f).toMatchObject({ demographicParityDifference: 1, demographicParityClass: 0, groups: 2 });
    const check = biasCheck({ sensitiveColumn: "g", maxDemographicParityDifference: 0.1 }, ["A", "A", "B", "B"], { kind: "classes", probabilities }, [0, 2, 0, 2]);
    expect(check.passed).toBe(false);
    expect(check.figures).toMatchObject({ demographicParityDifference: 1, demographicParityClass: 0 });
  });

  it("measures group gaps", () => {
    const f = fairness([0.9, 0.9, 0.1, 0.1], [1, 0, 1, 0], ["A", "A", "B", "B"]);
    expect(f).toEqual({ demographicParityDifference: 1, equalizedOddsDifference: 1, groups: 2 });
  });

  it("finds no drift between equal samples and drift after a shift", () => {
    const reference = Array.from({ length: 200 }, (_, i) => i / 10);
    expect(psi(reference, reference)).toBeCloseTo(0);
    expect(ksStatistic(reference, reference)).toBe(0);
    const shifted = reference.map((v) => v + 10);
    expect(psi(reference, shifted)).toBeGreaterThan(0.25);
    expect(ksStatistic(reference, shifted)).toBe(0.5);
  });

  it("takes nearest-rank latency percentiles", () => {
    const figures = latencyFigures(Array.from({ length: 100 }, (_, i) => i + 1), 1000);
    expect(figures).toEqual({ p50Ms: 50, p95Ms: 95, p99Ms: 99, throughput: 100 });
  });
});
