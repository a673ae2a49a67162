import { describe, expect, it } from "vitest";
import { parseDurationSeconds, resolveTimeBound, timeBoundSchema } from "./time-bound.ts";

// One duration syntax for every place that takes one (a job's and a policy's maxRuntime, gc's
// olderThan, the CLI's flags, a query's `since`).
describe("durations", () => {
  it("reads parts with units, fractions and surrounding spaces", () => {
    expect(parseDurationSeconds("90s")).toBe(90);
    expect(parseDurationSeconds("30m")).toBe(1800);
    expect(parseDurationSeconds("1h30m")).toBe(5400);
    expect(parseDurationSeconds("1.5h")).toBe(5400);
    expect(parseDurationSeconds("2d")).toBe(172_800);
    expect(parseDurationSeconds(" 1d12h ")).toBe(129_600);
    expect(parseDurationSeconds("0s")).toBe(0);
  });

  it("refuses what is not a duration, and bounds its length", () => {
    for (const bad of ["", "5", "5x", "1h30", "1.h", ".5h", "-1h", "1h 30m", "1w", "1234567890s", "1s1s1s1s1s1s1s1s1s"]) {
      expect(parseDurationSeconds(bad), bad).toBeUndefined();
    }
    // An input built to make a nested pattern backtrack is refused like any other.
    expect(parseDurationSeconds(`${"1".repeat(5000)}x`)).toBeUndefined();
  });

  it("gives a query's `since` the same syntax, counted back from the reference time", () => {
    const schema = timeBoundSchema("30m, 7d or an ISO time");
    expect(resolveTimeBound(schema.parse("1.5h"), 10_000_000)).toBe(10_000_000 - 5_400_000);
    expect(resolveTimeBound(schema.parse("2026-12-01T00:00:00Z"), 0)).toBe(Date.parse("2026-12-01T00:00:00Z"));
    expect(schema.safeParse("soon").success).toBe(false);
  });
});
