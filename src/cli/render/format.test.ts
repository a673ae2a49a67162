import { describe, expect, it } from "vitest";
import { formatAgo, formatBytes, formatDuration, formatElapsed, formatMiB, formatNumber } from "./format.ts";

describe("formatDuration", () => {
  it.each([
    [250, "250ms"],
    [3_000, "3s"],
    [72_000, "1m12s"],
    [3_600_000 + 5 * 60_000, "1h05m"],
    [2 * 86_400_000 + 4 * 3_600_000, "2d4h"],
    [-5, "0ms"],
  ])("%d ms → %s", (ms, text) => expect(formatDuration(ms)).toBe(text));
});

describe("formatAgo", () => {
  const now = 1_700_000_000_000;
  it.each([
    [now - 200, "just now"],
    [now - 3_000, "3s ago"],
    [now - 5 * 60_000, "5m ago"],
    [now - 3 * 3_600_000, "3h ago"],
    [now - 2 * 86_400_000, "2d ago"],
    [null, "-"],
  ])("%s → %s", (time, text) => expect(formatAgo(time, now)).toBe(text));
});

describe("other formats", () => {
  it("measures elapsed time until now while running", () => {
    expect(formatElapsed(1000, null, 61_000)).toBe("1m00s");
    expect(formatElapsed(1000, 4000, 61_000)).toBe("3s");
    expect(formatElapsed(null, null, 61_000)).toBe("-");
  });
  it("prints memory and sizes in binary units", () => {
    expect(formatMiB(512)).toBe("512Mi");
    expect(formatMiB(4096)).toBe("4Gi");
    expect(formatMiB(1536)).toBe("1.5Gi");
    expect(formatBytes(12)).toBe("12 B");
    expect(formatBytes(3 * 1024 * 1024)).toBe("3 MiB");
  });
  it("keeps metric values short", () => {
    expect(formatNumber(3)).toBe("3");
    expect(formatNumber(0.123456789)).toBe("0.123457");
    expect(formatNumber(null)).toBe("-");
  });
});
