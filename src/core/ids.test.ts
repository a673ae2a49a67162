import { describe, expect, it } from "vitest";
import { randomIds } from "./ids.ts";

describe("randomIds", () => {
  it("makes numeric ids that never repeat within a process, even many in one millisecond", () => {
    // 20 jobs submitted at once created experiments in the same millisecond, and a random part
    // of 1,000 values collided (a 500 in CI): each id is now above the last.
    const made = Array.from({ length: 5_000 }, () => Number(randomIds.numeric()));
    expect(new Set(made).size).toBe(made.length);
    for (let i = 1; i < made.length; i++) expect(made[i]).toBeGreaterThan(made[i - 1]!);
    expect(made.every((id) => Number.isSafeInteger(id) && id >= Date.now() * 1000 - 60_000_000)).toBe(true);
  });
});
