import { describe, expect, it } from "vitest";
import { MIN_LATENCY_SAMPLES, TrafficWindow, analyze } from "./analysis.ts";

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
    for (let i = 0; i < MIN_LATENCY_SAMPLES; i++) {
      slow.record("1", true, 0.01);
      slow.record("2", true, 0.05);
    }
    expect(analyze(slow.stats("2"), slow.stats("1"), thresholds)).toMatch(/p99 latency .* 5.00x/);
    expect(slow.stats("2")).toMatchObject({ requests: MIN_LATENCY_SAMPLES, errors: 0, p99: 0.05 });
  });
});
