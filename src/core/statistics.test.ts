import { describe, expect, it } from "vitest";
import { chiSquareTest, ksStatistic, normalCdf, psi, sequentialPValue, studentTQuantile, studentTTwoSided, twoProportionTest, welchTest, type Moments } from "./statistics.ts";

const moments = (xs: number[]): Moments => ({ n: xs.length, sum: xs.reduce((a, b) => a + b, 0), sumSq: xs.reduce((a, b) => a + b * b, 0) });

// Reference values from scipy.stats 1.10 (norm.cdf, t.sf, t.ppf, ttest_ind(equal_var=False)).
describe("statistics", () => {
  it("the chi-square test matches scipy's chisquare", () => {
    const a = chiSquareTest([30, 50, 20], [0.25, 0.5, 0.25]);
    expect(a.statistic).toBeCloseTo(2.0, 10);
    expect(a.df).toBe(2);
    expect(a.pValue).toBeCloseTo(0.36787944117144245, 10);
    const b = chiSquareTest([120, 95, 60, 25], [0.4, 0.3, 0.2, 0.1]);
    expect(b.statistic).toBeCloseTo(1.1111111111111112, 10);
    expect(b.pValue).toBeCloseTo(0.7743925169714329, 8);
  });

  it("normal and Student t distributions match scipy", () => {
    expect(normalCdf(1.96)).toBeCloseTo(0.9750021048517795, 10);
    expect(normalCdf(-1)).toBeCloseTo(0.15865525393145707, 10);
    expect(studentTTwoSided(2, 10)).toBeCloseTo(0.07338803477074123, 10);
    expect(studentTTwoSided(1, 1)).toBeCloseTo(0.5, 10);
    expect(studentTQuantile(0.975, 10)).toBeCloseTo(2.2281388519649385, 6);
  });

  it("Welch's t-test matches scipy's ttest_ind(equal_var=False)", () => {
    const a = [27.5, 21.0, 19.0, 23.6, 17.0, 17.9, 16.9, 20.1, 21.9, 22.6, 23.1, 19.6, 19.0, 21.7, 21.4];
    const b = [27.1, 22.0, 20.8, 23.4, 23.4, 23.5, 25.8, 22.0, 24.8, 20.2, 21.9, 22.1, 22.9, 20.5, 24.4];
    const result = welchTest(moments(a), moments(b), 0.05);
    expect(result.pValue).toBeCloseTo(0.021378001462866985, 8);
    expect(result.significant).toBe(true);
    expect(result.ciLow).toBeGreaterThan(0);
    expect(welchTest(moments(a), moments(a), 0.05).significant).toBe(false);
  });

  it("the two-proportion test finds a 10% vs 13% difference at n=1000 and not at n=100", () => {
    const rate = (n: number, p: number): Moments => ({ n, sum: Math.round(n * p), sumSq: Math.round(n * p) });
    const big = twoProportionTest(rate(1000, 0.1), rate(1000, 0.13), 0.05);
    expect(big.pValue).toBeCloseTo(0.0354885, 5);
    expect(big.significant).toBe(true);
    expect(twoProportionTest(rate(100, 0.1), rate(100, 0.13), 0.05).significant).toBe(false);
    expect(twoProportionTest(rate(10, 0), rate(10, 0), 0.05).pValue).toBe(1);
  });

  it("PSI and KS are zero for the same sample and grow with a shift", () => {
    const base = Array.from({ length: 1000 }, (_, i) => i / 1000);
    const shifted = base.map((v) => v + 0.3);
    expect(psi(base, base)).toBeCloseTo(0, 10);
    expect(ksStatistic(base, base)).toBe(0);
    expect(psi(base, shifted)).toBeGreaterThan(0.25);
    expect(ksStatistic(base, shifted)).toBeCloseTo(0.3, 2);
  });

  it("the sequential p-value keeps false positives at alpha under repeated looks, where the fixed-horizon one does not, and still finds a real effect", () => {
    // A seeded generator: the test is deterministic.
    let seed = 42;
    const random = () => {
      seed = (seed + 0x6d2b79f5) | 0;
      let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
      t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
    const experiment = (rateA: number, rateB: number) => {
      const a: Moments = { n: 0, sum: 0, sumSq: 0 };
      const b: Moments = { n: 0, sum: 0, sumSq: 0 };
      let fixedHit = false;
      let sequential = 1;
      for (let look = 0; look < 40; look++) {
        for (let i = 0; i < 50; i++) {
          const x = random() < rateA ? 1 : 0;
          const y = random() < rateB ? 1 : 0;
          for (const [m, v] of [[a, x], [b, y]] as const) {
            m.n++;
            m.sum += v;
            m.sumSq += v;
          }
        }
        const test = twoProportionTest(a, b, 0.05);
        fixedHit ||= test.significant;
        sequential = Math.min(sequential, sequentialPValue(test.difference, test.standardError, (test.standardError ** 2 * a.n) / 1000));
      }
      return { fixedHit, sequentialHit: sequential < 0.05 };
    };
    const runs = 300;
    const aa = Array.from({ length: runs }, () => experiment(0.2, 0.2));
    const fixedRate = aa.filter((r) => r.fixedHit).length / runs;
    const sequentialRate = aa.filter((r) => r.sequentialHit).length / runs;
    expect(fixedRate).toBeGreaterThan(0.12); // peeking 40 times at a fixed-horizon test
    expect(sequentialRate).toBeLessThanOrEqual(0.06);
    // The price of looking freely is power: 20% vs 25% over 2,000 a side is found about 3 times
    // in 4 (a single fixed-horizon test at the end finds it about 19 times in 20).
    const ab = Array.from({ length: 100 }, () => experiment(0.2, 0.25));
    expect(ab.filter((r) => r.sequentialHit).length / 100).toBeGreaterThan(0.6);
  });
});
