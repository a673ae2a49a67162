/** Outcomes of the routed requests one version served during the current step. */
export interface VersionStats {
  requests: number;
  errors: number;
  errorRate: number;
  /** p99 latency in seconds; null without requests. */
  p99: number | null;
}

export interface Thresholds {
  maxErrorRateIncrease: number;
  maxLatencyRatio: number;
}

/** Fewest requests per version before p99 latencies are compared (a few cold requests say little). */
export const MIN_LATENCY_SAMPLES = 50;
/** Most latencies kept per version and step (the newest win). */
const MAX_SAMPLES = 10_000;

/** In-memory outcome window of one deployment's current step; empty again after a restart. */
export class TrafficWindow {
  private readonly versions = new Map<string, { errors: number; latencies: number[]; requests: number }>();

  record(version: string, ok: boolean, seconds: number): void {
    let entry = this.versions.get(version);
    if (!entry) this.versions.set(version, (entry = { errors: 0, latencies: [], requests: 0 }));
    entry.requests++;
    if (!ok) entry.errors++;
    entry.latencies.push(seconds);
    if (entry.latencies.length > MAX_SAMPLES) entry.latencies.shift();
  }

  stats(version: string): VersionStats {
    const entry = this.versions.get(version);
    if (!entry || entry.requests === 0) return { requests: 0, errors: 0, errorRate: 0, p99: null };
    const sorted = [...entry.latencies].sort((a, b) => a - b);
    return { requests: entry.requests, errors: entry.errors, errorRate: entry.errors / entry.requests, p99: sorted[Math.min(sorted.length - 1, Math.ceil(sorted.length * 0.99) - 1)]! };
  }
}

/**
 * Compares the canary with the stable version over one step: returns why the canary breaches the
 * thresholds, or undefined when it passes. Without stable traffic (a 100% step) the canary is held
 * to a zero error rate baseline and no latency ratio; latencies are compared once both
 * versions served MIN_LATENCY_SAMPLES requests in the step; without canary traffic there is nothing to judge.
 */
export function analyze(canary: VersionStats, stable: VersionStats, thresholds: Thresholds): string | undefined {
  if (canary.requests === 0) return undefined;
  const increase = canary.errorRate - stable.errorRate;
  if (increase > thresholds.maxErrorRateIncrease) {
    return `canary error rate ${pct(canary.errorRate)} (${canary.errors}/${canary.requests}) exceeds stable ${pct(stable.errorRate)} by more than ${pct(thresholds.maxErrorRateIncrease)}`;
  }
  if (stable.requests >= MIN_LATENCY_SAMPLES && canary.requests >= MIN_LATENCY_SAMPLES && stable.p99 !== null && stable.p99 > 0 && canary.p99 !== null && canary.p99 / stable.p99 > thresholds.maxLatencyRatio) {
    return `canary p99 latency ${ms(canary.p99)} is ${(canary.p99 / stable.p99).toFixed(2)}x stable's ${ms(stable.p99)} (limit ${thresholds.maxLatencyRatio}x)`;
  }
  return undefined;
}

/** One line for the history: the step's figures. */
export function describeStats(canary: VersionStats, stable: VersionStats): string {
  const one = (s: VersionStats) => `${s.requests} requests, ${pct(s.errorRate)} errors${s.p99 !== null ? `, p99 ${ms(s.p99)}` : ""}`;
  return `canary ${one(canary)}; stable ${one(stable)}`;
}

const pct = (x: number) => `${(x * 100).toFixed(1)}%`;
const ms = (s: number) => `${(s * 1000).toFixed(2)} ms`;
