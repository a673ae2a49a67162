import { describe, expect, it } from "vitest";
import { MIN_PREDICTIONS, MIN_SAMPLES, TrafficWindow, analyze, predictionShift } from "./analysis.ts";

const thresholds = { maxErrorRateIncrease: 0.05, maxLatencyRatio: 2 };

describe("canary analysis", () => {
  it("passes a healthy canary and one without traffic", () => {
    const window = new TrafficWindow();
    for (let i = 0; i < 100; i++) {
      window.record("1", true, 0.01);
      window.record("2", true, 0.012);
    }
    expect(analyze(window.stats("2"), window.stats("1"), thresholds)).toBeUndefined();
    expect(analyze(window.stats("3"), window.stats("1"), thresholds)).toBeUndefined();
  });

  it("flags an error-rate increase and a p99 latency ratio beyond the thresholds", () => {
    const errors = new TrafficWindow();
    for (let i = 0; i < 20; i++) {
      errors.record("1", true, 0.01);
      errors.record("2", i % 2 === 0, 0.01);
    }
    expect(analyze(errors.stats("2"), errors.stats("1"), thresholds)).toMatch(/error rate 50.0%/);
    const slow = new TrafficWindow();
    for (let i = 0; i < MIN_SAMPLES; i++) {
      slow.record("1", true, 0.01);
      slow.record("2", true, 0.05);
    }
    expect(analyze(slow.stats("2"), slow.stats("1"), thresholds)).toMatch(/p99 latency .* 5.00x/);
    expect(slow.stats("2")).toMatchObject({ requests: MIN_SAMPLES, errors: 0, p99: 0.05 });
  });

  it("counts a canary as slower only when its p99 is past both the ratio and the margin in milliseconds", () => {
    // A good canary in CI: 2.94 ms against stable's 1.35 ms (2.18x) is scheduling noise, not a regression.
    const noisy = new TrafficWindow();
    for (let i = 0; i < MIN_SAMPLES; i++) {
      noisy.record("1", true, 0.00135);
      noisy.record("2", true, 0.00294);
    }
    expect(analyze(noisy.stats("2"), noisy.stats("1"), thresholds)).toBeUndefined();
    expect(analyze(noisy.stats("2"), noisy.stats("1"), { ...thresholds, minLatencyIncreaseMs: 1 })).toMatch(/2.18x stable's 1.35 ms \(limit 2x\) and 1.59 ms slower \(limit 1.00 ms\)/);
    // Past the margin but within the ratio: not slower either.
    const within = new TrafficWindow();
    for (let i = 0; i < MIN_SAMPLES; i++) {
      within.record("1", true, 0.1);
      within.record("2", true, 0.15);
    }
    expect(analyze(within.stats("2"), within.stats("1"), thresholds)).toBeUndefined();
    expect(analyze(within.stats("2"), within.stats("1"), { ...thresholds, maxLatencyRatio: 1.2 })).toMatch(/1.50x .* 50.00 ms slower \(limit 10.00 ms\)/);
  });

  it("flags a shifted prediction distribution once both versions have enough predictions, unless turned off", () => {
    const window = new TrafficWindow();
    for (let i = 0; i < MIN_PREDICTIONS; i++) {
      window.record("1", true, 0.01, [i / MIN_PREDICTIONS]);
      window.record("2", true, 0.01, [0.5 + i / MIN_PREDICTIONS]);
    }
    expect(analyze(window.stats("2"), window.stats("1"), thresholds)).toMatch(/PSI/);
    expect(analyze(window.stats("2"), window.stats("1"), { ...thresholds, maxPredictionPsi: null })).toBeUndefined();
    expect(analyze(window.stats("2"), window.stats("1"), { ...thresholds, maxPredictionPsi: 100 })).toBeUndefined();
    const same = new TrafficWindow();
    for (let i = 0; i < MIN_PREDICTIONS; i++) {
      same.record("1", true, 0.01, [i / MIN_PREDICTIONS]);
      same.record("2", true, 0.01, [(i + 0.5) / MIN_PREDICTIONS]);
    }
    expect(analyze(same.stats("2"), same.stats("1"), thresholds)).toBeUndefined();
    // Two good retrainings both crowd their probabilities near 0 and 1, slightly apart: not a shift.
    const crowded = new TrafficWindow();
    for (let i = 0; i < MIN_PREDICTIONS + 100; i++) {
      const high = i % 3 !== 0;
      crowded.record("1", true, 0.01, [high ? 0.999 - (i % 7) * 1e-4 : 0.002 + (i % 5) * 1e-4]);
      crowded.record("2", true, 0.01, [high ? 0.995 - (i % 7) * 1e-4 : 0.006 + (i % 5) * 1e-4]);
    }
    expect(predictionShift(crowded.stats("2"), crowded.stats("1"))).toBe(0);
    expect(analyze(crowded.stats("2"), crowded.stats("1"), thresholds)).toBeUndefined();
    // Too few predictions: not judged.
    const few = new TrafficWindow();
    few.record("1", true, 0.01, [0]);
    few.record("2", true, 0.01, [1]);
    expect(predictionShift(few.stats("2"), few.stats("1"))).toBeNull();
  });

  it("keeps the newest samples and the mean divergence of shadow copies", () => {
    const window = new TrafficWindow();
    for (let i = 0; i < 10_050; i++) window.record("1", true, i, [i], 0.5);
    const stats = window.stats("1");
    expect(stats.requests).toBe(10_050);
    expect(stats.scores.length).toBe(10_000);
    expect(Math.min(...stats.scores)).toBe(50);
    expect(stats.meanDivergence).toBe(0.5);
  });
});
