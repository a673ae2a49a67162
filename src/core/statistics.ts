// Small, dependency-free statistics used by more than one module: distribution shift (PSI, KS)
// for evaluation drift and canary analysis, and the two-sample tests behind A/B deployments.

const PSI_BINS = 10;
const PSI_EPSILON = 1e-4;

/** Bin edges of ten equal-width bins over [0, 1], for probabilities and other scores in that range. */
export const UNIT_INTERVAL_EDGES = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9];

/**
 * Population stability index of `actual` against `reference`: over the given bin edges, or by
 * default over 10 quantile bins of the reference (right for features; for scores crowded near 0
 * or 1, quantile bins are razor-thin and equal-width edges such as UNIT_INTERVAL_EDGES are steadier).
 */
export function psi(reference: ArrayLike<number>, actual: ArrayLike<number>, edges?: number[]): number {
  const cuts = edges ?? quantileEdges(reference);
  return psiOfShares(binShares(reference, cuts), binShares(actual, cuts));
}

/**
 * Each bin's share of `values`, the bins cut at `cuts` (ascending; a value equal to a cut falls
 * above it), floored at PSI's epsilon: what psi() compares, kept by callers that judge many
 * samples against one reference.
 */
export function binShares(values: ArrayLike<number>, cuts: readonly number[]): number[] {
  const counts = new Array<number>(cuts.length + 1).fill(0);
  for (let k = 0; k < values.length; k++) {
    const v = values[k]!;
    let bin = 0;
    while (bin < cuts.length && v >= cuts[bin]!) bin++;
    counts[bin]!++;
  }
  return counts.map((c) => Math.max(c / values.length, PSI_EPSILON));
}

/** PSI of two samples' binShares over the same cuts. */
export function psiOfShares(expected: readonly number[], actual: readonly number[]): number {
  return actual.reduce((sum, a, i) => sum + (a - expected[i]!) * Math.log(a / expected[i]!), 0);
}

function quantileEdges(reference: ArrayLike<number>): number[] {
  const sorted = Float64Array.from(reference).sort();
  return [...new Set(Array.from({ length: PSI_BINS - 1 }, (_, i) => sorted[Math.floor(((i + 1) * sorted.length) / PSI_BINS)]!))];
}

/** Two-sample Kolmogorov–Smirnov statistic: the largest gap between the empirical CDFs. */
export function ksStatistic(a: ArrayLike<number>, b: ArrayLike<number>): number {
  return ksStatisticSorted(Float64Array.from(a).sort(), Float64Array.from(b).sort());
}

/** ksStatistic of two samples already sorted ascending (no copies, no sorts: for a reference judged many times). */
export function ksStatisticSorted(x: ArrayLike<number>, y: ArrayLike<number>): number {
  let i = 0;
  let j = 0;
  let d = 0;
  while (i < x.length && j < y.length) {
    const v = Math.min(x[i]!, y[j]!);
    while (i < x.length && x[i] === v) i++;
    while (j < y.length && y[j] === v) j++;
    d = Math.max(d, Math.abs(i / x.length - j / y.length));
  }
  return d;
}

/** Running count, sum and sum of squares of one sample: enough for both two-sample tests below. */
export interface Moments {
  n: number;
  sum: number;
  sumSq: number;
}

export const emptyMoments = (): Moments => ({ n: 0, sum: 0, sumSq: 0 });

export function addMoments(into: Moments, more: Moments): Moments {
  into.n += more.n;
  into.sum += more.sum;
  into.sumSq += more.sumSq;
  return into;
}

export interface TwoSampleTest {
  test: "two-proportion z-test" | "Welch t-test";
  /** Mean of each sample (the rate, for proportions). */
  meanA: number;
  meanB: number;
  /** meanB - meanA, with its two-sided confidence interval at level 1 - alpha. */
  difference: number;
  ciLow: number;
  ciHigh: number;
  /** Unpooled standard error of the difference. */
  standardError: number;
  /** Fixed-horizon p-value: valid when looked at once, at a sample size chosen in advance. */
  pValue: number;
  significant: boolean;
}

/**
 * Two-sided test that samples A and B (values 0 or 1) have the same success rate: the pooled
 * two-proportion z-test; the interval uses the unpooled standard error. Needs n ≥ 1 in each.
 */
export function twoProportionTest(a: Moments, b: Moments, alpha: number): TwoSampleTest {
  const pa = a.sum / a.n;
  const pb = b.sum / b.n;
  const pooled = (a.sum + b.sum) / (a.n + b.n);
  const se0 = Math.sqrt(pooled * (1 - pooled) * (1 / a.n + 1 / b.n));
  const z = se0 === 0 ? 0 : (pb - pa) / se0;
  const pValue = se0 === 0 ? 1 : 2 * (1 - normalCdf(Math.abs(z)));
  const se = Math.sqrt((pa * (1 - pa)) / a.n + (pb * (1 - pb)) / b.n);
  const half = normalQuantile(1 - alpha / 2) * se;
  return { test: "two-proportion z-test", meanA: pa, meanB: pb, difference: pb - pa, ciLow: pb - pa - half, ciHigh: pb - pa + half, standardError: se, pValue, significant: pValue < alpha };
}

/** Two-sided Welch t-test that samples A and B have the same mean. Needs n ≥ 2 in each. */
export function welchTest(a: Moments, b: Moments, alpha: number): TwoSampleTest {
  const ma = a.sum / a.n;
  const mb = b.sum / b.n;
  const va = Math.max(0, (a.sumSq - a.n * ma * ma) / (a.n - 1));
  const vb = Math.max(0, (b.sumSq - b.n * mb * mb) / (b.n - 1));
  const sa = va / a.n;
  const sb = vb / b.n;
  const se = Math.sqrt(sa + sb);
  if (se === 0) {
    const same = ma === mb;
    return { test: "Welch t-test", meanA: ma, meanB: mb, difference: mb - ma, ciLow: mb - ma, ciHigh: mb - ma, standardError: 0, pValue: same ? 1 : 0, significant: !same };
  }
  const df = (sa + sb) ** 2 / ((sa * sa) / (a.n - 1) + (sb * sb) / (b.n - 1));
  const t = (mb - ma) / se;
  const pValue = studentTTwoSided(Math.abs(t), df);
  const half = studentTQuantile(1 - alpha / 2, df) * se;
  return { test: "Welch t-test", meanA: ma, meanB: mb, difference: mb - ma, ciLow: mb - ma - half, ciHigh: mb - ma + half, standardError: se, pValue, significant: pValue < alpha };
}

/**
 * One look of the mixture sequential probability ratio test (Johari, Pekelis & Walsh, "Always
 * valid inference", 2017) on a difference estimate with standard error `standardError`, mixing
 * over effects drawn from N(0, tau2): returns 1/Λ, capped at 1. The running minimum of these over
 * any number of looks is an always-valid p-value: stopping the first time it drops below alpha
 * keeps false positives at alpha however often one looks. tau2 tunes power, not validity; the
 * squared standard error expected at the planned sample size is the usual choice.
 */
export function sequentialPValue(difference: number, standardError: number, tau2: number): number {
  const v = standardError * standardError;
  if (v === 0) return difference === 0 ? 1 : 0;
  const logLambda = 0.5 * Math.log(v / (v + tau2)) + (tau2 * difference * difference) / (2 * v * (v + tau2));
  return Math.min(1, Math.exp(-logLambda));
}

/** Standard normal CDF (via the regularized incomplete gamma of erf; |error| < 1e-12). */
export function normalCdf(x: number): number {
  const erf = (v: number) => Math.sign(v) * regularizedGammaP(0.5, v * v);
  return 0.5 * (1 + erf(x / Math.SQRT2));
}

export function normalQuantile(p: number): number {
  return bisect((x) => normalCdf(x), p, -40, 40);
}

/** P(|T| ≥ t) for Student's t with `df` degrees of freedom. */
export function studentTTwoSided(t: number, df: number): number {
  return regularizedBeta(df / (df + t * t), df / 2, 0.5);
}

export function studentTQuantile(p: number, df: number): number {
  const cdf = (x: number) => (x >= 0 ? 1 - studentTTwoSided(x, df) / 2 : studentTTwoSided(-x, df) / 2);
  return bisect(cdf, p, -1e4, 1e4);
}

function bisect(f: (x: number) => number, target: number, low: number, high: number): number {
  for (let i = 0; i < 200 && high - low > 1e-12; i++) {
    const mid = (low + high) / 2;
    if (f(mid) < target) low = mid;
    else high = mid;
  }
  return (low + high) / 2;
}

function logGamma(x: number): number {
  // Lanczos approximation (g = 7, n = 9).
  const c = [0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059, 12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7];
  if (x < 0.5) return Math.log(Math.PI / Math.abs(Math.sin(Math.PI * x))) - logGamma(1 - x);
  const z = x - 1;
  let sum = c[0]!;
  for (let i = 1; i < 9; i++) sum += c[i]! / (z + i);
  const t = z + 7.5;
  return 0.5 * Math.log(2 * Math.PI) + (z + 0.5) * Math.log(t) - t + Math.log(sum);
}

/**
 * Pearson's chi-square goodness-of-fit test of observed counts against expected shares (which sum
 * to 1): the statistic, its degrees of freedom (categories - 1) and the p-value P(X² ≥ statistic).
 * Categories expected with a share of 0 count at a share of 1e-4, as in psi().
 */
export function chiSquareTest(observed: readonly number[], expectedShares: readonly number[]): { statistic: number; df: number; pValue: number } {
  const n = observed.reduce((a, b) => a + b, 0);
  const df = observed.length - 1;
  if (n === 0 || df < 1) return { statistic: 0, df: Math.max(df, 0), pValue: 1 };
  let statistic = 0;
  observed.forEach((o, i) => {
    const e = Math.max(expectedShares[i] ?? 0, PSI_EPSILON) * n;
    statistic += ((o - e) * (o - e)) / e;
  });
  return { statistic, df, pValue: Math.max(0, 1 - regularizedGammaP(df / 2, statistic / 2)) };
}

/** Regularized lower incomplete gamma P(s, x): series below s + 1, continued fraction above. */
function regularizedGammaP(s: number, x: number): number {
  if (x <= 0) return 0;
  const front = Math.exp(s * Math.log(x) - x - logGamma(s));
  if (x < s + 1) {
    let term = 1 / s;
    let sum = term;
    for (let n = 1; n < 500 && Math.abs(term) > Math.abs(sum) * 1e-15; n++) sum += term *= x / (s + n);
    return front * sum;
  }
  return 1 - front * continuedFraction((n) => (n % 2 === 1 ? (n + 1) / 2 - s : n / 2), (n) => (n % 2 === 1 ? 1 : x), x);
}

/** Regularized incomplete beta I_x(a, b), by its continued fraction (with the symmetry for speed). */
function regularizedBeta(x: number, a: number, b: number): number {
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  if (x > (a + 1) / (a + b + 2)) return 1 - regularizedBeta(1 - x, b, a);
  const front = Math.exp(logGamma(a + b) - logGamma(a) - logGamma(b) + a * Math.log(x) + b * Math.log(1 - x)) / a;
  const numerator = (n: number) => {
    const m = Math.floor(n / 2);
    return n % 2 === 0 ? (m * (b - m) * x) / ((a + 2 * m - 1) * (a + 2 * m)) : -((a + m) * (a + b + m) * x) / ((a + 2 * m) * (a + 2 * m + 1));
  };
  return front * continuedFraction(numerator, () => 1, 1, true);
}

/**
 * Evaluates 1/(b0 + a1/(b1 + a2/(b2 + ...))) by the modified Lentz method. With `betaForm`, it
 * evaluates 1/(1 + d1/(1 + d2/...)) as the incomplete beta needs, where a(n) gives d_n.
 */
function continuedFraction(a: (n: number) => number, b: (n: number) => number, b0: number, betaForm = false): number {
  const tiny = 1e-300;
  if (betaForm) {
    let c = 1;
    let d = 1 + a(1);
    d = 1 / (Math.abs(d) < tiny ? tiny : d);
    let f = d;
    for (let n = 2; n < 1000; n++) {
      const an = a(n);
      d = 1 + an * d;
      d = 1 / (Math.abs(d) < tiny ? tiny : d);
      c = 1 + an / c;
      if (Math.abs(c) < tiny) c = tiny;
      const delta = c * d;
      f *= delta;
      if (Math.abs(delta - 1) < 1e-15) break;
    }
    return f;
  }
  let f = b0 === 0 ? tiny : b0;
  let c = f;
  let d = 0;
  for (let n = 1; n < 1000; n++) {
    d = b(n) + a(n) * d;
    d = 1 / (Math.abs(d) < tiny ? tiny : d);
    c = b(n) + a(n) / c;
    if (Math.abs(c) < tiny) c = tiny;
    const delta = c * d;
    f *= delta;
    if (Math.abs(delta - 1) < 1e-15) break;
  }
  return 1 / f;
}
