// What the control plane and a data-plane process say to each other, as zod schemas: the desired
// state the control plane pushes (which versions to serve, by model digest, and how to split
// traffic), what a data-plane process answers (what it serves, what it could not load and why),
// and the rollout windows it reports back. Every path here is under INTERNAL_PREFIX and needs the
// data plane's own secret, never a user's token.
import { z } from "zod";
import { EnvironmentName, LoadedModelView, ModelName } from "../modules/serving/index.ts";

export const INTERNAL_PREFIX = "/dataplane/v1";
/** A model file's name on both sides: its SHA-256, so no path can be named. */
export const SHA256 = z.string().regex(/^[0-9a-f]{64}$/, "a sha256 digest: 64 lower-case hex digits");

/** One version a data-plane process must serve, in one environment for one team. */
export const Assignment = z.strictObject({
  environment: EnvironmentName,
  name: ModelName,
  version: ModelName,
  team: z.string().min(1).max(128),
  /** The model file's digest; its bytes are fetched once (PUT blobs/:sha256) and kept on the process's disk. */
  sha256: SHA256,
  replicas: z.number().int().min(1),
  maxReplicas: z.number().int().min(1),
  targetP95Ms: z.number().positive().nullable(),
  maxBatch: z.number().int().min(1).optional(),
  runtime: z.string().optional(),
});
export type Assignment = z.output<typeof Assignment>;

export const SplitData = z.strictObject({
  deploymentId: z.string().min(1),
  environment: EnvironmentName,
  mode: z.enum(["weighted", "sticky", "shadow"]),
  stable: z.string().nullable(),
  canary: z.string().nullable(),
  canaryWeight: z.number().min(0).max(100),
  abMetric: z.enum(["error_rate", "latency_ms"]).optional(),
  window: z.number().int().min(0).optional(),
});

/**
 * Everything a data-plane process serves: pushed whole, applied as a difference, kept on its disk.
 * Fields it does not know are dropped, not refused: a process started by an older Paved keeps
 * serving what it knows when a newer control plane adopts it (fields are only ever added).
 */
export const DesiredState = z.object({
  /** Counts the control plane's changes; a process answers the one it applied. */
  revision: z.number().int().min(0),
  models: z.array(Assignment).max(10_000),
  splits: z.array(z.strictObject({ model: ModelName, split: SplitData })).max(10_000),
  /** Replicas each team may still add by autoscaling (its serving-replica quota); absent: no limit. */
  replicaRoom: z.record(z.string(), z.number().int().min(0)).default({}),
  /** The versions model monitors watch (`environment/model/version`): only their traffic is sampled. Absent when none. */
  monitored: z.array(z.string().max(400)).max(10_000).default([]),
});
export type DesiredState = z.output<typeof DesiredState>;

export const LoadFailure = z.object({ environment: z.string(), name: z.string(), version: z.string(), sha256: z.string(), reason: z.string() });
export type LoadFailure = z.output<typeof LoadFailure>;

/** A data-plane process's answer to a state push and to GET state. */
export const ObservedState = z.object({
  index: z.number().int(),
  /** The revision last applied (0: none since the process first started). */
  revision: z.number().int(),
  /** Digests the push named whose bytes this process lacks: nothing was applied; upload them and push again. */
  missing: z.array(z.string()),
  /** What it serves now. */
  views: z.array(LoadedModelView),
  /** Assignments of the applied revision it could not load: it kept serving what it served before. */
  failures: z.array(LoadFailure),
  /** The state it applied (a control plane that restarts adopts it). */
  state: DesiredState,
});
export type ObservedState = z.output<typeof ObservedState>;

const MomentsData = z.object({ n: z.number(), sum: z.number(), sumSq: z.number() });
export const WindowReportData = z.object({
  deploymentId: z.string(),
  window: z.number().int(),
  outcomes: z.record(
    z.string(),
    z.object({ requests: z.number(), errors: z.number(), latencies: z.array(z.number()), scores: z.array(z.number()), divergenceSum: z.number(), divergenceCount: z.number() }),
  ),
  tally: z.record(z.string(), MomentsData),
});
/** Every 200 ms: the outcomes since the last drain, the revision applied, and what serves now (an autoscaled version's replicas, its scaleLimit). */
export const DrainAnswer = z.object({
  revision: z.number().int(),
  views: z.array(LoadedModelView),
  reports: z.array(WindowReportData),
});
export type DrainAnswer = z.output<typeof DrainAnswer>;

/** Where a data-plane process started by `paved up` tells it how to reach it (written once listening). */
export const ProcessRecord = z.object({ pid: z.number().int(), url: z.string(), index: z.number().int(), startedAt: z.number() });
export type ProcessRecord = z.output<typeof ProcessRecord>;

/** The key of one assignment (environment, model, version: '/' is in none of them). */
export function assignmentKey(a: { environment: string; name: string; version: string }): string {
  return `${a.environment}/${a.name}/${a.version}`;
}
