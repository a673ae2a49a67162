// Decides how many replicas a loaded model version should run, from its load (requests running or
// queued) and latency, the way Knative's autoscaler does: a short "panic" window scales up at once
// when load jumps, a long "stable" window scales down only after load stayed low for a while.
import type { ReplicaStats } from "./serving-runtime.ts";

export interface ScalePolicy {
  minReplicas: number;
  maxReplicas: number;
  /** Work items (busy replicas + queued requests) one replica should carry on average. */
  targetLoadPerReplica: number;
  /** Scale up while the p95 latency of recent requests is above this and requests queue; null: load only. */
  targetP95Ms: number | null;
}

export const SCALE_DEFAULTS = {
  targetLoadPerReplica: 1.5,
  /** Load is averaged over this long to scale down... */
  stableWindowMs: 30_000,
  /** ...and over this long to scale up. */
  panicWindowMs: 3_000,
  /** No scale-down sooner than this after the last scale-up. */
  scaleDownDelayMs: 30_000,
} as const;

interface Sample {
  time: number;
  load: number;
  queued: number;
}

interface Track {
  samples: Sample[];
  lastScaleUp: number;
  firstSample: number;
}

/** Remembers each version's recent load and answers the replica count it should have. */
export class ReplicaAutoscaler {
  private readonly tracks = new Map<string, Track>();

  constructor(private readonly windows: { stableWindowMs: number; panicWindowMs: number; scaleDownDelayMs: number } = SCALE_DEFAULTS) {}

  /** Records one sample of a version's replicas (call at a steady interval). */
  observe(key: string, now: number, stats: ReplicaStats): void {
    let track = this.tracks.get(key);
    if (!track) this.tracks.set(key, (track = { samples: [], lastScaleUp: -Infinity, firstSample: now }));
    track.samples.push({ time: now, load: stats.busy + stats.queued, queued: stats.queued });
    const oldest = now - this.windows.stableWindowMs;
    while (track.samples.length && track.samples[0]!.time < oldest) track.samples.shift();
  }

  /**
   * The replica count the version should run now: more at once when the panic window's load (or
   * latency with queueing) asks for it; fewer only when the whole stable window asks for fewer and
   * the last scale-up is old enough; otherwise unchanged. Always within the policy's bounds.
   */
  desired(key: string, now: number, current: number, policy: ScalePolicy, p95Ms: number | null): number {
    const track = this.tracks.get(key);
    const clamp = (n: number) => Math.min(policy.maxReplicas, Math.max(policy.minReplicas, n));
    if (!track || track.samples.length === 0) return clamp(current);
    const panic = track.samples.filter((s) => s.time >= now - this.windows.panicWindowMs);
    const mean = (samples: Sample[], f: (s: Sample) => number) => samples.reduce((sum, s) => sum + f(s), 0) / Math.max(1, samples.length);
    let up = Math.ceil(mean(panic, (s) => s.load) / policy.targetLoadPerReplica);
    if (policy.targetP95Ms !== null && p95Ms !== null && p95Ms > policy.targetP95Ms && mean(panic, (s) => s.queued) > 0) up = Math.max(up, current + 1);
    if (up > current) {
      track.lastScaleUp = now;
      return clamp(up);
    }
    const settled = now - track.firstSample >= this.windows.stableWindowMs && now - track.lastScaleUp >= this.windows.scaleDownDelayMs;
    const stable = Math.ceil(mean(track.samples, (s) => s.load) / policy.targetLoadPerReplica);
    if (settled && stable < current) return clamp(stable);
    return clamp(current);
  }

  forget(key: string): void {
    this.tracks.delete(key);
  }
}
