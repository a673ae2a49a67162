import { describe, expect, it } from "vitest";
import { columnDrift, columnDriftOne } from "./column-drift.ts";
import { ksStatistic, psi } from "./statistics.ts";

/** mulberry32: seeded, so a failing case can be run again. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function column(n: number, seed: number, value: (u: () => number) => number): Float64Array {
  const u = random(seed);
  return Float64Array.from({ length: n }, () => value(u));
}

const normal = (shift = 0, spread = 1) => (u: () => number) => shift + spread * Math.sqrt(-2 * Math.log(1 - u())) * Math.cos(2 * Math.PI * u());

/** Each case: the reference and actual columns; sizes reach the histogram path (above 2,048 values) and its second level. */
const cases: [string, Float64Array, Float64Array][] = [
  ["same normal distribution", column(100_000, 1, normal()), column(100_000, 2, normal())],
  ["shifted by 0.05", column(200_000, 3, normal()), column(200_000, 4, normal(0.05))],
  ["shifted and wider, different lengths", column(150_000, 5, normal()), column(37_000, 6, normal(0.3, 1.5))],
  ["no overlap at all", column(20_000, 7, normal()), column(30_000, 8, normal(100))],
  ["five distinct values (heavy ties)", column(100_000, 9, (u) => Math.floor(u() * 5)), column(80_000, 10, (u) => Math.floor(u() * 5.5))],
  ["one value in 90% of the reference", column(100_000, 11, (u) => (u() < 0.9 ? 3 : u())), column(100_000, 12, (u) => (u() < 0.5 ? 3 : u() * 4))],
  ["rounded to two decimals (ties everywhere)", column(120_000, 13, (u) => Math.round(normal()(u) * 100) / 100), column(90_000, 14, (u) => Math.round(normal(0.1)(u) * 100) / 100)],
  ["heavy tails (Cauchy)", column(100_000, 15, (u) => Math.tan(Math.PI * (u() - 0.5))), column(100_000, 16, (u) => 0.1 + Math.tan(Math.PI * (u() - 0.5)))],
  ["both constant, equal", new Float64Array(50_000).fill(7), new Float64Array(40_000).fill(7)],
  ["both constant, different", new Float64Array(50_000).fill(7), new Float64Array(40_000).fill(8)],
  ["constant reference, varying actual", new Float64Array(50_000).fill(0), column(40_000, 17, normal())],
  ["zeros of both signs and infinities", column(30_000, 18, (u) => [-0, 0, Infinity, -Infinity, 1, -1][Math.floor(u() * 6)]!), column(30_000, 19, (u) => [0, -0, Infinity, 2, -1][Math.floor(u() * 5)]!)],
  ["a few outliers far out", column(100_000, 20, (u) => (u() < 0.001 ? 1e300 : u())), column(100_000, 21, (u) => (u() < 0.001 ? -1e300 : u()))],
  ["small windows", column(37, 22, normal()), column(11, 23, normal(0.5))],
  ["one value each", Float64Array.of(1), Float64Array.of(2)],
];

describe("columnDrift", () => {
  it.each(cases)("equals psi() and ksStatistic(): %s", (_, reference, actual) => {
    const got = columnDriftOne(reference, actual);
    expect(Math.abs(got.ks - ksStatistic(reference, actual))).toBeLessThanOrEqual(1e-12);
    expect(Math.abs(got.psi - psi(reference, actual))).toBeLessThanOrEqual(1e-12);
  });

  it("spreads columns over worker threads with the same answers, shared or not", async () => {
    const reference = cases.slice(0, 8).map(([, r]) => r);
    const actual = cases.slice(0, 8).map(([, , a], i) => {
      if (i % 2 === 0) return a;
      const shared = new Float64Array(new SharedArrayBuffer(a.byteLength));
      shared.set(a);
      return shared;
    });
    const got = await columnDrift(reference, actual, { inProcessBelow: 0 });
    expect(got).toEqual(reference.map((r, i) => columnDriftOne(r, actual[i]!)));
    // A second call reuses the pool.
    expect(await columnDrift(reference.slice(0, 2), actual.slice(0, 2), { inProcessBelow: 0 })).toEqual(got.slice(0, 2));
  });

  it("refuses NaN, in process and on a worker, and mismatched column counts", async () => {
    const withNaN = column(50_000, 24, normal());
    withNaN[1234] = Number.NaN;
    const clean = column(50_000, 25, normal());
    expect(() => columnDriftOne(clean, withNaN)).toThrow(expect.objectContaining({ code: "INVALID_INPUT" }));
    expect(() => columnDriftOne(Float64Array.of(Number.NaN, 1), Float64Array.of(1))).toThrow(expect.objectContaining({ code: "INVALID_INPUT" }));
    await expect(columnDrift([withNaN], [clean], { inProcessBelow: 0 })).rejects.toMatchObject({ code: "INVALID_INPUT" });
    await expect(columnDrift([clean, clean], [clean])).rejects.toMatchObject({ code: "INVALID_INPUT" });
  });
});
