import { describe, expect, it } from "vitest";
import { z } from "zod";
import { parseInput, PlatformError } from "../../core/index.ts";
import { mlflow, parseMetrics } from "./schema.ts";

describe("parseMetrics: a log-batch body's metrics, checked and normalized in place", () => {
  it("turns MLflow's string numbers into numbers, fills a missing step and timestamp, and keeps the body's objects", () => {
    const body = JSON.parse(
      JSON.stringify([
        { key: "loss", value: 0.5, step: 3, timestamp: 1_700_000_000_000 },
        { key: "loss", value: "NaN", step: "4", timestamp: "1700000000001" },
        { key: "acc", value: "-Infinity" },
        { key: "acc", value: "1.5e-3", step: null, timestamp: null },
      ]),
    ) as object[];
    const parsed = parseMetrics(body, 42);
    expect(parsed).toEqual([
      { key: "loss", value: 0.5, step: 3, timestamp: 1_700_000_000_000 },
      { key: "loss", value: NaN, step: 4, timestamp: 1_700_000_000_001 },
      { key: "acc", value: -Infinity, step: 0, timestamp: 42 },
      { key: "acc", value: 0.0015, step: 0, timestamp: 42 },
    ]);
    // Not copies: a 1000-point body no longer makes 1000 more objects for the collector.
    parsed.forEach((m, i) => expect(m).toBe(body[i]));
  });

  it.each([
    [[null], "metrics.0: expected an object"],
    [[["loss", 1]], "metrics.0: expected an object"],
    [[{ key: "a", value: 1 }, { value: 1 }], "metrics.1.key: expected a string"],
    [[{ key: "a", value: "one" }], "metrics.0.value: expected a number"],
    [[{ key: "a", value: true }], "metrics.0.value: expected a number"],
    [[{ key: "a", value: 1, step: 1.5 }], "metrics.0.step: expected an integer"],
    [[{ key: "a", value: 1, step: "1e3" }], "metrics.0.step: expected an integer"],
    [[{ key: "a", value: 1, timestamp: 2 ** 60 }], "metrics.0.timestamp: expected an integer"],
    [[{ key: "a", value: 1, timestamp: NaN }], "metrics.0.timestamp: expected an integer"],
  ])("refuses %j with INVALID_INPUT naming the field (%s)", (items, message) => {
    let caught: unknown;
    try {
      parseMetrics(items as unknown[], 0);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(PlatformError);
    expect((caught as PlatformError).code).toBe("INVALID_INPUT");
    expect((caught as PlatformError).message).toContain(message);
  });
});

describe("log-batch's body: metrics checked once as a list, then point by point by parseMetrics", () => {
  it("takes a list (or none), refuses anything else naming the field, and documents the points' shape", () => {
    expect(parseInput(mlflow.logBatch, { run_id: "r" }, "log-batch").metrics).toEqual([]);
    const metrics = [{ key: "loss", value: 1 }];
    expect(parseInput(mlflow.logBatch, { run_id: "r", metrics }, "log-batch").metrics).toBe(metrics);
    for (const bad of [3, "loss", { key: "loss", value: 1 }, null]) {
      expect(() => parseInput(mlflow.logBatch, { run_id: "r", metrics: bad }, "log-batch")).toThrow(/metrics.*expected a list of \{key, value, timestamp, step\} objects/);
    }
    const documented = z.toJSONSchema(mlflow.logBatch, { io: "input", unrepresentable: "any" }) as unknown as { properties: { metrics: { type: string; items: { properties: Record<string, unknown> } } } };
    expect(documented.properties.metrics.type).toBe("array");
    expect(Object.keys(documented.properties.metrics.items.properties)).toEqual(["key", "value", "timestamp", "step"]);
  });
});
