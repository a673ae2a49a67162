import { z } from "zod";
import { DURATION } from "../../core/index.ts";

/** `POST /api/v1/admin/gc`: collect (or, with dryRun, only count) runs deleted more than `olderThan` ago. */
export const GcRequest = z.strictObject({
  dryRun: z.boolean().default(false),
  /** A duration: `30d`, `12h`, `90m`, `1d12h`, `0s`; default `tracking.retentionDays`. */
  olderThan: z.string().max(32).regex(DURATION, "olderThan is a duration: a number and a unit, e.g. 30d, 12h, 90m, 1d12h or 0s").optional(),
});
export type GcRequest = z.infer<typeof GcRequest>;

const Totals = {
  runs: z.number(),
  metricChunks: z.number(),
  metricPoints: z.number(),
  metricBytes: z.number(),
  artifactFiles: z.number(),
  artifactBytes: z.number(),
  blobsRemoved: z.number(),
  blobBytesRemoved: z.number(),
};

export const GcReportView = z.object({
  dryRun: z.boolean(),
  olderThanMs: z.number(),
  cutoff: z.string(),
  at: z.string(),
  ...Totals,
  params: z.number(),
  tags: z.number(),
  datasetInputs: z.number(),
  bytesFreed: z.number(),
  blobsKept: z.number(),
  blobBytesKept: z.number(),
  kept: z.array(z.object({ digest: z.string(), size: z.number(), reason: z.string() })),
  skipped: z.array(z.object({ runId: z.string(), reason: z.string() })),
  teams: z.array(z.object({ team: z.string(), ...Totals })),
});
export type GcReportView = z.infer<typeof GcReportView>;

export const TeamStorageView = z.object({
  team: z.string(),
  runArtifacts: z.number(),
  metricData: z.number(),
  models: z.number(),
  datasets: z.number(),
  evaluationUploads: z.number(),
  workspaces: z.number(),
  pendingCollection: z.object({ runs: z.number(), artifactBytes: z.number(), metricBytes: z.number(), nextCollectionAt: z.string().nullable() }),
  collected: z.object({ runs: z.number(), bytes: z.number() }),
  quotaCounted: z.number(),
});
export type TeamStorageView = z.infer<typeof TeamStorageView>;
export const TeamStorageList = z.object({ teams: z.array(TeamStorageView) });
