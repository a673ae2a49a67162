import { describe, expect, it } from "vitest";
import { fairness } from "./bias.ts";
import { ksStatistic, psi } from "./drift.ts";
import { latencyFigures } from "./performance.ts";
import { auc, qualityMetric } from "./quality.ts";

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
