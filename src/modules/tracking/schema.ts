import { z } from "zod";
import { invalidInput } from "../../core/index.ts";

// ---- Paved's own API (/api/v1): views the CLI and the web UI read -------------------------------

export const RUN_STATUSES = ["RUNNING", "SCHEDULED", "FINISHED", "FAILED", "KILLED"] as const;
export type RunStatus = (typeof RUN_STATUSES)[number];
export const LIFECYCLE_STAGES = ["active", "deleted"] as const;
export const VIEW_TYPES = ["ACTIVE_ONLY", "DELETED_ONLY", "ALL"] as const;
export type ViewType = (typeof VIEW_TYPES)[number];

export const ExperimentView = z.object({
  id: z.string(),
  name: z.string(),
  artifactLocation: z.string(),
  lifecycleStage: z.enum(LIFECYCLE_STAGES),
  createdAt: z.number().describe("epoch milliseconds"),
  updatedAt: z.number().describe("epoch milliseconds"),
  team: z.string().describe("the team that owns it (and its runs)"),
});
export type ExperimentView = z.infer<typeof ExperimentView>;

export const MetricPoint = z.object({
  /** null when the logged value was NaN. */
  value: z.number().nullable(),
  step: z.number(),
  timestamp: z.number(),
});
export type MetricPoint = z.infer<typeof MetricPoint>;

export const DatasetInputView = z.object({ name: z.string(), digest: z.string(), sourceType: z.string(), source: z.string() });

export const RunView = z.object({
  id: z.string(),
  experimentId: z.string(),
  name: z.string(),
  status: z.enum(RUN_STATUSES),
  lifecycleStage: z.enum(LIFECYCLE_STAGES),
  user: z.string(),
  startTime: z.number(),
  endTime: z.number().nullable(),
  artifactUri: z.string(),
  jobId: z.string().nullable(),
  source: z.object({ commit: z.string().nullable(), dirty: z.boolean().nullable(), entrypoint: z.string().nullable() }),
  params: z.record(z.string(), z.string()),
  tags: z.record(z.string(), z.string()),
  metrics: z.record(z.string(), MetricPoint).describe("latest value of each metric (highest step, then latest timestamp)"),
  inputs: z.array(DatasetInputView),
});
export type RunView = z.infer<typeof RunView>;

export const ArtifactFileView = z.object({ path: z.string(), isDir: z.boolean(), size: z.number().nullable() });
export type ArtifactFileView = z.infer<typeof ArtifactFileView>;

export const ExperimentSummaryView = ExperimentView.extend({
  runCount: z.number().describe("its active runs"),
  lastActivityAt: z.number().describe("epoch milliseconds: the latest of its update and its runs' starts and ends"),
});
export type ExperimentSummaryView = z.infer<typeof ExperimentSummaryView>;
export const ListExperimentsResponse = z.object({ experiments: z.array(ExperimentSummaryView) });
export const ExperimentIdParams = z.object({ id: z.string().min(1) });
export const ExperimentKeysResponse = z.object({
  metrics: z.array(z.string()).describe("sorted; at most 1000"),
  params: z.array(z.string()),
  tags: z.array(z.string()),
});
export type ExperimentKeys = z.infer<typeof ExperimentKeysResponse>;
export const ListRunsQuery = z.object({
  experiment: z.string().optional().describe("experiment name or id; default: all experiments"),
  status: z.enum(RUN_STATUSES).optional(),
  filter: z.string().optional().describe("MLflow filter string, e.g. \"metrics.acc > 0.9 and params.lr = '0.01'\""),
  orderBy: z.string().optional().describe("e.g. 'metrics.acc DESC'; several separated by commas"),
  limit: z.coerce.number().int().min(1).max(50000).default(100),
  pageToken: z.string().optional().describe("the nextPageToken of the previous page (same filter and order)"),
  total: z.enum(["true", "false"]).optional().describe("true: also count every matching run (`total`)"),
});
export const ListRunsResponse = z.object({
  runs: z.array(RunView),
  nextPageToken: z.string().optional().describe("present while more runs match: pass it as pageToken"),
  total: z.number().optional().describe("with total=true: how many runs match, every page together"),
});
export const RunIdParams = z.object({ id: z.string().min(1) });
export const MetricHistoryParams = z.object({ id: z.string().min(1), key: z.string().min(1) });
export const MetricHistoryQuery = z.object({
  limit: z.coerce.number().int().min(1).max(25000).optional().describe("points per page; default and maximum 25000"),
  pageToken: z.string().optional().describe("the nextPageToken of the previous page"),
});
export const MetricHistoryResponse = z.object({
  history: z.array(MetricPoint),
  nextPageToken: z.string().optional().describe("present while more points remain: pass it as pageToken"),
});
const stepOrTime = z.coerce.number().int().min(Number.MIN_SAFE_INTEGER).max(Number.MAX_SAFE_INTEGER).optional();
export const DownsampledHistoryQuery = z.object({
  points: z.coerce.number().int().min(1).max(10000).optional().describe("at most this many buckets; default 1000, at most 10000"),
  axis: z.enum(["step", "time"]).default("step").describe("bucket by step (default) or by timestamp"),
  startStep: stepOrTime.describe("only points at this step or later (zoom)"),
  endStep: stepOrTime.describe("only points at this step or earlier (zoom)"),
  startTime: stepOrTime.describe("only points logged at this epoch millisecond or later"),
  endTime: stepOrTime.describe("only points logged at this epoch millisecond or earlier"),
});
export const MetricBucketView = z.object({
  start: z.number().describe("the bucket's first axis value; it spans `width` axis units"),
  count: z.number(),
  min: z.number().nullable().describe("null when every point in it is NaN"),
  max: z.number().nullable(),
  last: z.number().nullable().describe("the value of its last point in history order; null when NaN"),
  firstStep: z.number(),
  lastStep: z.number(),
  firstTime: z.number(),
  lastTime: z.number(),
});
export type MetricBucketView = z.infer<typeof MetricBucketView>;
export const DownsampledHistoryResponse = z.object({
  key: z.string(),
  axis: z.enum(["step", "time"]),
  start: z.number().nullable().describe("the range bucketed: the query's bounds or the points' extent (null: no points)"),
  end: z.number().nullable(),
  width: z.number().describe("axis units per bucket"),
  buckets: z.array(MetricBucketView).describe("non-empty buckets in axis order"),
});
export type DownsampledHistory = z.infer<typeof DownsampledHistoryResponse>;
export const ArtifactPathQuery = z.object({ path: z.string().optional() });
/** `?redirect=presigned` on a download: a 307 to a presigned URL of the object store instead of the bytes (S3 store only). */
export const DownloadQuery = z.object({
  redirect: z.literal("presigned").optional().describe("answer 307 with a time-limited URL of the object store (artifacts.store: s3) instead of streaming the file"),
});
export const ArtifactContentQuery = z.object({ path: z.string().min(1), ...DownloadQuery.shape });
export const ListArtifactsResponse = z.object({ files: z.array(ArtifactFileView) });

// ---- MLflow REST requests ----------------------------------------------------------------------

/** int64 fields: MLflow's client sends numbers, protobuf JSON sends strings; accept both. */
const int64 = z.union([z.number(), z.string().regex(/^-?\d+$/)]).transform((v) => Number(v));
/**
 * doubles: numbers, or the strings protobuf JSON uses for non-finite values. The pattern has one
 * way to match each string (`\d+\.?\d*` had many: 20,000 digits and an 'x' took 1.4 s to refuse).
 */
const double = z
  .union([z.number(), z.enum(["NaN", "Infinity", "-Infinity"]), z.string().regex(/^[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?$/)])
  .transform((v) => (v === "NaN" ? NaN : v === "Infinity" ? Infinity : v === "-Infinity" ? -Infinity : Number(v)));
const bool = z.union([z.boolean(), z.enum(["true", "false", "True", "False"])]).transform((v) => v === true || v === "true" || v === "True");
/** A GET parameter that may repeat (`?order_by=a&order_by=b`). */
const repeated = z.preprocess((v) => (v === undefined ? undefined : Array.isArray(v) ? v : [v]), z.array(z.string()).optional());

const keyValue = z.object({ key: z.string(), value: z.string().nullish().transform((v) => v ?? "") });
export const MlflowMetric = z.object({
  key: z.string(),
  value: double,
  timestamp: int64.optional(),
  step: int64.optional().default(0),
});

/**
 * Validates MLflow metric objects ({key, value, timestamp, step}) with a hand-written loop; the
 * same rules as {@link MlflowMetric}, about ten times faster for a 1000-point batch. The objects of
 * the parsed body are normalized in place (a string number becomes a number, a missing step 0, a
 * missing timestamp `now`) and returned, not copied: a 1000-point body made 1000 more objects for
 * the collector, whose threads took as much CPU as the metric writer (docs/benchmarks.md#tracking).
 */
export function parseMetrics(items: unknown[], now: number): { key: string; value: number; step: number; timestamp: number }[] {
  for (let i = 0; i < items.length; i++) {
    const m = items[i] as Record<string, unknown> | null;
    if (typeof m !== "object" || m === null || Array.isArray(m)) throw invalidInput(`metrics.${i}: expected an object {key, value, timestamp, step}`);
    if (typeof m.key !== "string") throw invalidInput(`metrics.${i}.key: expected a string`);
    if (typeof m.value !== "number") m.value = toDouble(m.value, i);
    if (typeof m.step !== "number" || !Number.isSafeInteger(m.step)) m.step = toInt64(m.step, `metrics.${i}.step`, 0);
    if (typeof m.timestamp !== "number" || !Number.isSafeInteger(m.timestamp)) m.timestamp = toInt64(m.timestamp, `metrics.${i}.timestamp`, now);
  }
  return items as { key: string; value: number; step: number; timestamp: number }[];
}

function toDouble(v: unknown, i: number): number {
  if (typeof v === "number") return v;
  if (typeof v === "string") {
    if (v === "NaN") return NaN;
    if (v === "Infinity") return Infinity;
    if (v === "-Infinity") return -Infinity;
    if (v.trim() !== "" && Number.isFinite(Number(v))) return Number(v);
  }
  throw invalidInput(`metrics.${i}.value: expected a number (or "NaN", "Infinity", "-Infinity")`);
}

function toInt64(v: unknown, path: string, fallback: number): number {
  if (v === undefined || v === null) return fallback;
  const n = typeof v === "number" ? v : typeof v === "string" && /^-?\d+$/.test(v) ? Number(v) : NaN;
  if (!Number.isSafeInteger(n)) throw invalidInput(`${path}: expected an integer`);
  return n;
}

const runRef = {
  run_id: z.string().optional(),
  run_uuid: z.string().optional(),
};

export const mlflow = {
  createExperiment: z.object({ name: z.string(), artifact_location: z.string().optional(), tags: z.array(keyValue).optional() }),
  experimentId: z.object({ experiment_id: z.string().min(1) }),
  getByName: z.object({ experiment_name: z.string().min(1) }),
  searchExperiments: z.object({
    max_results: int64.optional(),
    page_token: z.string().optional(),
    filter: z.string().optional(),
    order_by: repeated,
    view_type: z.enum(VIEW_TYPES).optional(),
  }),
  updateExperiment: z.object({ experiment_id: z.string().min(1), new_name: z.string().min(1) }),
  setExperimentTag: z.object({ experiment_id: z.string().min(1), key: z.string(), value: z.string() }),
  createRun: z.object({
    experiment_id: z.string().optional(),
    user_id: z.string().optional(),
    run_name: z.string().optional(),
    start_time: int64.optional(),
    tags: z.array(keyValue).optional(),
  }),
  runRef: z.object(runRef),
  updateRun: z.object({ ...runRef, status: z.enum(RUN_STATUSES).optional(), end_time: int64.optional(), run_name: z.string().optional() }),
  searchRuns: z.object({
    experiment_ids: repeated,
    filter: z.string().optional(),
    run_view_type: z.enum(VIEW_TYPES).optional(),
    max_results: int64.optional(),
    order_by: repeated,
    page_token: z.string().optional(),
  }),
  logMetric: z.object({ ...runRef, key: z.string(), value: double, timestamp: int64.optional(), step: int64.optional() }),
  logParam: z.object({ ...runRef, key: z.string(), value: z.string().nullish().transform((v) => v ?? "") }),
  setTag: z.object({ ...runRef, key: z.string(), value: z.string().nullish().transform((v) => v ?? "") }),
  deleteTag: z.object({ ...runRef, key: z.string() }),
  logBatch: z.object({
    ...runRef,
    // Checked by parseMetrics above: zod per point costs more than the database write on this hot
    // path, and even z.array(z.unknown()) visits every point; here one Array.isArray, with the
    // documented shape given to OpenAPI by hand.
    metrics: z
      .custom<unknown[]>((v) => Array.isArray(v), { message: "expected a list of {key, value, timestamp, step} objects" })
      .meta({ type: "array", items: { type: "object", properties: { key: { type: "string" }, value: { type: "number" }, timestamp: { type: "integer" }, step: { type: "integer" } }, required: ["key", "value"] } })
      .optional()
      .default([]),
    params: z.array(keyValue).optional().default([]),
    tags: z.array(keyValue).optional().default([]),
  }),
  logInputs: z.object({
    ...runRef,
    datasets: z
      .array(
        z.object({
          tags: z.array(keyValue).optional(),
          dataset: z.object({
            name: z.string(),
            digest: z.string(),
            source_type: z.string(),
            source: z.string(),
            schema: z.string().optional(),
            profile: z.string().optional(),
          }),
        }),
      )
      .optional()
      .default([]),
  }),
  getHistory: z.object({ ...runRef, metric_key: z.string().min(1), page_token: z.string().optional(), max_results: int64.optional() }),
  listArtifacts: z.object({ ...runRef, path: z.string().optional(), page_token: z.string().optional() }),
  proxyList: z.object({ path: z.string().optional() }),
  proxyPath: z.object({ "*": z.string() }),
  proxyDownload: DownloadQuery,
  bool,
};
