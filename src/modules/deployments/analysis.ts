import { UNIT_INTERVAL_EDGES, psi } from "../../core/index.ts";
import { DEFAULT_MAX_PREDICTION_PSI, DEFAULT_MIN_LATENCY_INCREASE_MS } from "./schema.ts";

/** Outcomes of the routed requests one version served during the current window. */
export interface VersionStats {
  requests: number;
  errors: number;
  errorRate: number;
  /** p99 latency in seconds; null without requests. */
  p99: number | null;
  /** Per-row prediction scores (the newest MAX_SAMPLES), for the distribution-shift check. */
  scores: Float64Array;
  /** Mean absolute difference from the primary's answer (shadow copies only); null without any. */
  meanDivergence: number | null;
}

export interface Thresholds {
  maxErrorRateIncrease: number;
  maxLatencyRatio: number;
  /** Milliseconds the canary's p99 must also exceed stable's by; undefined (older specs): the default. */
  minLatencyIncreaseMs?: number | undefined;
  /** null: no distribution check; undefined (older specs): the default. */
  maxPredictionPsi?: number | null | undefined;
}

/** Fewest requests per version before latencies are compared: a few cold requests say little. */
export const MIN_SAMPLES = 50;
/**
 * Fewest predictions per version before their distributions are compared. Two samples of one
 * distribution already differ by a PSI of about (bins - 1) * (1/n + 1/m) from noise alone: 0.13
 * at 136 each (a good canary was rolled back at PSI 0.33 there), 0.036 at 500.
 */
export const MIN_PREDICTIONS = 500;
/** Most latencies and scores kept per version and window (the newest win). */
const MAX_SAMPLES = 10_000;

/** A fixed-size ring of the newest numbers. */
class Ring {
  private readonly values = new Float64Array(MAX_SAMPLES);
  private count = 0;

  push(value: number): void {
    this.values[this.count++ % MAX_SAMPLES] = value;
  }

  snapshot(): Float64Array {
    return this.values.slice(0, Math.min(this.count, MAX_SAMPLES));
  }

  /** The kept numbers, oldest first. */
  ordered(): number[] {
    if (this.count <= MAX_SAMPLES) return Array.from(this.values.subarray(0, this.count));
    const start = this.count % MAX_SAMPLES;
    return [...this.values.subarray(start), ...this.values.subarray(0, start)];
  }
}

/**
 * One version's outcomes in a window as plain data: what a data-plane process hands the control
 * plane, which merges the windows of every process (TrafficWindow.merge).
 */
export interface WindowEntryData {
  requests: number;
  errors: number;
  latencies: number[];
  scores: number[];
  divergenceSum: number;
  divergenceCount: number;
}

interface Entry {
  requests: number;
  errors: number;
  latencies: Ring;
  scores: Ring;
  divergenceSum: number;
  divergenceCount: number;
}

/** In-memory outcome window of one deployment's current step; empty again after a restart. */
export class TrafficWindow {
  private readonly versions = new Map<string, Entry>();

  record(version: string, ok: boolean, seconds: number, scores?: ArrayLike<number>, divergence?: number): void {
    let entry = this.versions.get(version);
    if (!entry) this.versions.set(version, (entry = { requests: 0, errors: 0, latencies: new Ring(), scores: new Ring(), divergenceSum: 0, divergenceCount: 0 }));
    entry.requests++;
    if (!ok) entry.errors++;
    entry.latencies.push(seconds);
    if (scores) for (let i = 0; i < scores.length; i++) if (Number.isFinite(scores[i])) entry.scores.push(scores[i]!);
    if (divergence !== undefined && Number.isFinite(divergence)) {
      entry.divergenceSum += divergence;
      entry.divergenceCount++;
    }
  }

  /** The window's outcomes as plain data, per version (newest samples last). */
  export(): Record<string, WindowEntryData> {
    const out: Record<string, WindowEntryData> = {};
    for (const [version, e] of this.versions) {
      out[version] = { requests: e.requests, errors: e.errors, latencies: e.latencies.ordered(), scores: e.scores.ordered(), divergenceSum: e.divergenceSum, divergenceCount: e.divergenceCount };
    }
    return out;
  }

  /** Adds another process's outcomes (export()) to this window. */
  merge(data: Record<string, WindowEntryData>): void {
    for (const [version, d] of Object.entries(data)) {
      let entry = this.versions.get(version);
      if (!entry) this.versions.set(version, (entry = { requests: 0, errors: 0, latencies: new Ring(), scores: new Ring(), divergenceSum: 0, divergenceCount: 0 }));
      entry.requests += d.requests;
      entry.errors += d.errors;
      for (const x of d.latencies) entry.latencies.push(x);
      for (const x of d.scores) entry.scores.push(x);
      entry.divergenceSum += d.divergenceSum;
      entry.divergenceCount += d.divergenceCount;
    }
  }

  /** Whether nothing was recorded. */
  get empty(): boolean {
    return this.versions.size === 0;
  }

  stats(version: string): VersionStats {
    const entry = this.versions.get(version);
    if (!entry || entry.requests === 0) return { requests: 0, errors: 0, errorRate: 0, p99: null, scores: new Float64Array(0), meanDivergence: null };
    const sorted = entry.latencies.snapshot().sort();
    return {
      requests: entry.requests,
      errors: entry.errors,
      errorRate: entry.errors / entry.requests,
      p99: sorted[Math.min(sorted.length - 1, Math.ceil(sorted.length * 0.99) - 1)]!,
      scores: entry.scores.snapshot(),
      meanDivergence: entry.divergenceCount ? entry.divergenceSum / entry.divergenceCount : null,
    };
  }
}

/**
 * PSI of the candidate's predictions against stable's, once both have MIN_PREDICTIONS rows (null
 * before): over ten equal-width bins when every score lies in [0, 1] (probabilities: two good
 * retrainings both crowd near 0 and 1, where quantile bins would flag a harmless shift), over
 * stable's quantile bins otherwise.
 */
export function predictionShift(candidate: VersionStats, stable: VersionStats): number | null {
  if (candidate.scores.length < MIN_PREDICTIONS || stable.scores.length < MIN_PREDICTIONS) return null;
  const unit = (xs: Float64Array) => xs.every((x) => x >= 0 && x <= 1);
  return psi(stable.scores, candidate.scores, unit(stable.scores) && unit(candidate.scores) ? UNIT_INTERVAL_EDGES : undefined);
}

/**
 * Compares the canary with the stable version over one step: returns why the canary breaches the
 * thresholds, or undefined when it passes. Without stable traffic (a 100% step) the canary is held
 * to a zero error rate baseline and no latency ratio or distribution shift; latencies and
 * prediction distributions are compared once both versions have MIN_SAMPLES requests and
 * MIN_PREDICTIONS predictions in the step (a canary counts as slower only past both the ratio and
 * the margin in milliseconds: a 1 ms p99 doubles from scheduling noise alone); without canary
 * traffic there is nothing to judge.
 */
export function analyze(canary: VersionStats, stable: VersionStats, thresholds: Thresholds): string | undefined {
  if (canary.requests === 0) return undefined;
  const increase = canary.errorRate - stable.errorRate;
  if (increase > thresholds.maxErrorRateIncrease) {
    return `canary error rate ${pct(canary.errorRate)} (${canary.errors}/${canary.requests}) exceeds stable ${pct(stable.errorRate)} by more than ${pct(thresholds.maxErrorRateIncrease)}`;
  }
  const margin = (thresholds.minLatencyIncreaseMs ?? DEFAULT_MIN_LATENCY_INCREASE_MS) / 1000;
  if (stable.requests >= MIN_SAMPLES && canary.requests >= MIN_SAMPLES && stable.p99 !== null && stable.p99 > 0 && canary.p99 !== null && canary.p99 / stable.p99 > thresholds.maxLatencyRatio && canary.p99 - stable.p99 > margin) {
    return `canary p99 latency ${ms(canary.p99)} is ${(canary.p99 / stable.p99).toFixed(2)}x stable's ${ms(stable.p99)} (limit ${thresholds.maxLatencyRatio}x) and ${ms(canary.p99 - stable.p99)} slower (limit ${ms(margin)})`;
  }
  const limit = thresholds.maxPredictionPsi === undefined ? DEFAULT_MAX_PREDICTION_PSI : thresholds.maxPredictionPsi;
  const shift = limit === null ? null : predictionShift(canary, stable);
  if (limit !== null && shift !== null && shift > limit) {
    return `canary predictions shifted from stable's: PSI ${shift.toFixed(3)} over ${canary.scores.length} vs ${stable.scores.length} predictions (limit ${limit}); if the change is intended, raise analysis.maxPredictionPsi or set it to null`;
  }
  return undefined;
}

/** One line for the history: the step's figures. */
export function describeStats(canary: VersionStats, stable: VersionStats): string {
  const one = (s: VersionStats) => `${s.requests} requests, ${pct(s.errorRate)} errors${s.p99 !== null ? `, p99 ${ms(s.p99)}` : ""}`;
  const shift = predictionShift(canary, stable);
  return `canary ${one(canary)}; stable ${one(stable)}${shift !== null ? `; prediction PSI ${shift.toFixed(3)}` : ""}`;
}

const pct = (x: number) => `${(x * 100).toFixed(1)}%`;
const ms = (s: number) => `${(s * 1000).toFixed(2)} ms`;
