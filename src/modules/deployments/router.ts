import type { InferRouter } from "../serving/index.ts";
import { TrafficWindow } from "./analysis.ts";

/** How one model's versionless traffic is split right now. */
export interface Split {
  deploymentId: string;
  stable: string | null;
  canary: string | null;
  /** Percent of requests that go to the canary (0..100). */
  canaryWeight: number;
}

/**
 * Serving's router for deployed models: splits versionless requests between stable and canary by
 * weight (random per request), only ever naming versions serving has loaded, and records each
 * routed request's outcome in the deployment's window for analysis.
 */
export class DeploymentRouter implements InferRouter {
  private readonly splits = new Map<string, Split>();
  private readonly windows = new Map<string, TrafficWindow>();

  constructor(
    private readonly loaded: (name: string, version: string) => boolean,
    private readonly random: () => number = Math.random,
  ) {}

  set(model: string, split: Split): void {
    this.splits.set(model, split);
  }

  delete(model: string): void {
    this.splits.delete(model);
  }

  split(model: string): Split | undefined {
    return this.splits.get(model);
  }

  /** The deployment's window of the current step (created empty). */
  window(deploymentId: string): TrafficWindow {
    let window = this.windows.get(deploymentId);
    if (!window) this.windows.set(deploymentId, (window = new TrafficWindow()));
    return window;
  }

  /** Starts a new, empty window (at each step). */
  resetWindow(deploymentId: string): void {
    this.windows.set(deploymentId, new TrafficWindow());
  }

  forgetWindow(deploymentId: string): void {
    this.windows.delete(deploymentId);
  }

  pick(name: string): string | undefined {
    const split = this.splits.get(name);
    if (!split) return undefined;
    const canaryOk = split.canary !== null && split.canaryWeight > 0 && this.loaded(name, split.canary);
    const stableOk = split.stable !== null && this.loaded(name, split.stable);
    if (canaryOk && (!stableOk || this.random() * 100 < split.canaryWeight)) return split.canary!;
    return stableOk ? split.stable! : undefined;
  }

  observe(name: string, version: string, ok: boolean, seconds: number): void {
    const split = this.splits.get(name);
    if (split) this.window(split.deploymentId).record(version, ok, seconds);
  }
}
