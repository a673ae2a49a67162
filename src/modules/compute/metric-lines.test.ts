import { describe, expect, it } from "vitest";
import { parseMetricLine } from "./metric-lines.ts";

describe("metric lines", () => {
  it("parses keys, values and the step", () => {
    expect(parseMetricLine("paved.metric loss=0.31 acc=0.9 step=3")).toEqual({
      metrics: [
        { key: "loss", value: 0.31 },
        { key: "acc", value: 0.9 },
      ],
      step: 3,
      system: false,
    });
  });

  it("reads Paved's own paved.system lines the same way, marked as such", () => {
    expect(parseMetricLine("paved.system system/rank_1/cpu_seconds=2.5 step=4")).toEqual({ metrics: [{ key: "system/rank_1/cpu_seconds", value: 2.5 }], step: 4, system: true });
    expect(parseMetricLine("paved.systemic x=1")).toBeUndefined();
  });

  it("accepts exponents, nan and inf, and skips malformed pairs", () => {
    const parsed = parseMetricLine("  paved.metric lr=1e-4 bad=abc val/loss=nan x=-inf noequals");
    expect(parsed?.step).toBeUndefined();
    expect(parsed?.metrics.map((m) => m.key)).toEqual(["lr", "val/loss", "x"]);
    expect(parsed?.metrics[0]?.value).toBe(1e-4);
    expect(parsed?.metrics[1]?.value).toBeNaN();
  });

  it("ignores other lines", () => {
    expect(parseMetricLine("epoch 3 loss=0.3")).toBeUndefined();
    expect(parseMetricLine("paved.metrics loss=1")).toBeUndefined();
    expect(parseMetricLine("paved.metric")).toBeUndefined();
  });

  it("refuses a huge malformed number without backtracking (job output reaches the server's main thread)", () => {
    // 40,000 digits and an 'x' took /^[-+]?(\d+\.?\d*|\.\d+)…/ about 2-3 s on the main thread.
    const parsed = parseMetricLine(`paved.metric loss=${"1".repeat(40_000)}x acc=0.5`);
    expect(parsed?.metrics).toEqual([{ key: "acc", value: 0.5 }]);
  });
});

