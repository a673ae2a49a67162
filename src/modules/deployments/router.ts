import { addMoments, emptyMoments, type Moments } from "../../core/index.ts";
import { rowScores, type InferRouter, type RouteDecision, type RoutedOutcome } from "../serving/index.ts";
import { TrafficWindow, type WindowEntryData } from "./analysis.ts";

/**
 * How one model's versionless traffic in one environment is split right now:
 * - weighted: each request goes to the canary with probability canaryWeight% (canary rollouts);
 * - sticky: a routing key always lands on the same side, canaryWeight% of keys on the canary (A/B);
 * - shadow: stable answers everything and the canary gets a copy.
 */
export interface Split {
  deploymentId: string;
  /** The environment whose endpoint this split routes (production: `/v2/models/{name}`). */
  environment: string;
  mode: "weighted" | "sticky" | "shadow";
  stable: string | null;
  canary: string | null;
  /** Percent of requests (weighted) or routing keys (sticky) that go to the canary (0..100). */
  canaryWeight: number;
  /** A/B only: the built-in outcome the router tallies per variant (reported metrics are stored by the API instead). */
  abMetric?: "error_rate" | "latency_ms" | undefined;
  /**
   * The deployment's window generation: the router that analyses (the control plane's) counts its
   * window resets; a router that only serves (a data-plane process's) starts a new window when the
   * number it is given changes, so outcomes of an old step never land in a new one. Set by `set`.
   */
  window?: number | undefined;
}

/** What one serving process observed for one deployment since its last report (DeploymentRouter.drain). */
export interface WindowReport {
  deploymentId: string;
  /** The window generation the outcomes belong to (Split.window). */
  window: number;
  outcomes: Record<string, WindowEntryData>;
  /** The A/B tally per version (built-in metrics), since the last report. */
  tally: Record<string, Moments>;
}

/** Buckets per 100%: the sticky split's resolution is 0.01%. */
const BUCKETS = 10_000;

/**
 * The side of a sticky split a routing key lands on: a stable hash of deployment and key, so the
 * same key keeps its variant for the deployment's whole life (and across restarts), while
 * another deployment reshuffles keys.
 */
export function stickyVariant(deploymentId: string, key: string, canaryWeight: number): "A" | "B" {
  // FNV-1a, 32 bits: fast and well spread over short ids; not a security boundary.
  let hash = 0x811c9dc5;
  const text = `${deploymentId}\u0000${key}`;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return (hash >>> 0) % BUCKETS < canaryWeight * (BUCKETS / 100) ? "B" : "A";
}

/** The router's key of one model in one environment ('/' is in neither name). */
const target = (model: string, environment: string) => `${environment}/${model}`;

/**
 * Serving's router for deployed models: splits versionless requests to one environment's
 * endpoint between that environment's stable and canary, only ever naming versions serving has
 * loaded there, and records each routed request's outcome in the deployment's window (and, for
 * A/B tests on a built-in metric, in its per-variant tally). Splits are kept per (model,
 * environment): a staging rollout never sees production's requests, nor production staging's.
 */
export class DeploymentRouter implements InferRouter {
  private readonly splits = new Map<string, Split>();
  private readonly windows = new Map<string, TrafficWindow>();
  private readonly tallies = new Map<string, Map<string, Moments>>();
  private readonly generations = new Map<string, number>();
  /** Told when a split changes (the data-plane fleet pushes splits to its processes). */
  onChange: (() => void) | undefined;

  constructor(
    private readonly loaded: (name: string, version: string, environment: string) => boolean,
    private readonly random: () => number = Math.random,
  ) {}

  /**
   * Sets the split of `model` in the split's environment. A split without `window` gets this
   * router's generation of the deployment's window; one with it (pushed by the control plane)
   * starts a new window here when the generation changed.
   */
  set(model: string, split: Split): void {
    const id = split.deploymentId;
    const current = this.generations.get(id) ?? 0;
    if (split.window !== undefined && split.window !== current) {
      this.generations.set(id, split.window);
      this.windows.delete(id);
    }
    const stamped = { ...split, window: split.window ?? current };
    const key = target(model, split.environment);
    const before = this.splits.get(key);
    this.splits.set(key, stamped);
    if (this.onChange && !sameSplit(before, stamped)) this.onChange();
  }

  delete(model: string, environment: string): void {
    if (this.splits.delete(target(model, environment))) this.onChange?.();
  }

  /** Every split with its model. */
  list(): { model: string; split: Split }[] {
    return [...this.splits.entries()].map(([key, split]) => ({ model: key.slice(key.indexOf("/") + 1), split }));
  }

  split(model: string, environment: string): Split | undefined {
    return this.splits.get(target(model, environment));
  }

  /** The deployment's window of the current step (created empty). */
  window(deploymentId: string): TrafficWindow {
    let window = this.windows.get(deploymentId);
    if (!window) this.windows.set(deploymentId, (window = new TrafficWindow()));
    return window;
  }

  /** Starts a new, empty window (at each step), of the next generation. */
  resetWindow(deploymentId: string): void {
    this.windows.set(deploymentId, new TrafficWindow());
    this.generations.set(deploymentId, (this.generations.get(deploymentId) ?? 0) + 1);
  }

  forgetWindow(deploymentId: string): void {
    this.windows.delete(deploymentId);
    this.tallies.delete(deploymentId);
  }

  /** What this router observed since the last call, per deployment, which empties its windows and tallies (a data-plane process's report). */
  drain(): WindowReport[] {
    const reports: WindowReport[] = [];
    for (const id of new Set([...this.windows.keys(), ...this.tallies.keys()])) {
      const window = this.windows.get(id);
      const tally = this.tallies.get(id);
      if ((!window || window.empty) && !tally) continue;
      reports.push({ deploymentId: id, window: this.generations.get(id) ?? 0, outcomes: window?.export() ?? {}, tally: Object.fromEntries(tally ?? []) });
      this.windows.delete(id);
      this.tallies.delete(id);
    }
    return reports;
  }

  /**
   * Adds other processes' reports: outcomes into the deployment's window when they belong to its
   * current generation (older ones are of a step already judged), tallies always.
   */
  absorb(reports: readonly WindowReport[]): void {
    for (const r of reports) {
      if (r.window === (this.generations.get(r.deploymentId) ?? 0)) this.window(r.deploymentId).merge(r.outcomes);
      const entries = Object.entries(r.tally);
      if (entries.length === 0) continue;
      let tally = this.tallies.get(r.deploymentId);
      if (!tally) this.tallies.set(r.deploymentId, (tally = new Map()));
      for (const [version, m] of entries) {
        let moments = tally.get(version);
        if (!moments) tally.set(version, (moments = emptyMoments()));
        addMoments(moments, m);
      }
    }
  }

  /** The A/B tally per version gathered since the last call, which empties it. */
  drainTally(deploymentId: string): Map<string, Moments> {
    const tally = this.tallies.get(deploymentId) ?? new Map<string, Moments>();
    this.tallies.delete(deploymentId);
    return tally;
  }

  pick(name: string, key: string | undefined, environment: string): RouteDecision | undefined {
    const split = this.splits.get(target(name, environment));
    if (!split) return undefined;
    const canaryOk = split.canary !== null && this.loaded(name, split.canary, environment);
    const stableOk = split.stable !== null && this.loaded(name, split.stable, environment);
    if (split.mode === "shadow") {
      if (!stableOk) return undefined;
      return { version: split.stable!, shadow: canaryOk ? split.canary! : undefined };
    }
    if (canaryOk && split.canaryWeight > 0) {
      const toCanary =
        !stableOk ||
        (split.mode === "sticky" && key !== undefined ? stickyVariant(split.deploymentId, key, split.canaryWeight) === "B" : this.random() * 100 < split.canaryWeight);
      if (toCanary) return { version: split.canary! };
    }
    return stableOk ? { version: split.stable! } : undefined;
  }

  observe(outcome: RoutedOutcome): void {
    const split = this.splits.get(target(outcome.model, outcome.environment));
    // Only a rollout in progress is analysed: a finished deployment's traffic costs nothing here.
    if (!split || split.canary === null || (split.mode !== "shadow" && outcome.role === "shadow")) return;
    this.window(split.deploymentId).record(outcome.version, outcome.ok, outcome.seconds, rowScores(outcome.output), outcome.divergence);
    if (split.abMetric !== undefined && outcome.role === "primary") {
      const value = split.abMetric === "error_rate" ? (outcome.ok ? 0 : 1) : outcome.seconds * 1000;
      let tally = this.tallies.get(split.deploymentId);
      if (!tally) this.tallies.set(split.deploymentId, (tally = new Map()));
      let moments = tally.get(outcome.version);
      if (!moments) tally.set(outcome.version, (moments = emptyMoments()));
      addMoments(moments, { n: 1, sum: value, sumSq: value * value });
    }
  }
}

function sameSplit(a: Split | undefined, b: Split): boolean {
  return a !== undefined && a.deploymentId === b.deploymentId && a.mode === b.mode && a.stable === b.stable && a.canary === b.canary && a.canaryWeight === b.canaryWeight && a.abMetric === b.abMetric && a.window === b.window;
}
