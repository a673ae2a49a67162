import { z } from "zod";
import { datasetNameSchema } from "../datasets/schema.ts";

const COLUMN = z.string().min(1).max(256);

/**
 * A batch prediction: the body of POST /api/v1/predictions (and of `paved predict`). The model
 * version runs over every row of the input dataset version; the output is a new version of the
 * output dataset (in the model's team) with lineage to both.
 */
export const predictionSpecSchema = z.strictObject({
  /** The registered model. */
  model: z.string().min(1).max(256),
  /** Its version number or alias. */
  version: z.string().min(1).max(64).regex(/^[A-Za-z0-9_.-]+$/, "a version number (1, 2, …) or an alias (e.g. production)"),
  /** `datasets:/<name>@<version|alias>`, or `…/<path>` for one file of it. */
  input: z.string().min(1).max(1100).startsWith("datasets:/", "the input is a dataset version: datasets:/<name>@<version|alias>"),
  /** The dataset the predictions go to (created when it does not exist); default `<input name>-predictions`. */
  output: datasetNameSchema.optional(),
  /**
   * The model's feature columns in its input order (matched by name); default: the model card's
   * `model_card.features` tag, else every column in file order.
   */
  features: z.array(COLUMN).min(1).max(10_000).optional(),
  /** Input columns copied beside the predictions: `other` (every column the model does not read: ids, labels), `all`, or a list. */
  keep: z.union([z.enum(["other", "all"]), z.array(COLUMN).max(10_000)]).default("other"),
});
export type PredictionSpec = z.output<typeof predictionSpecSchema>;
export type PredictionSpecInput = z.input<typeof predictionSpecSchema>;

export const PREDICTION_PHASES = ["QUEUED", "RUNNING", "SUCCEEDED", "FAILED", "CANCELLED"] as const;
export type PredictionPhase = (typeof PREDICTION_PHASES)[number];
export const ENDED_PHASES: readonly PredictionPhase[] = ["SUCCEEDED", "FAILED", "CANCELLED"];

export const predictionSchema = z.object({
  id: z.string(),
  team: z.string(),
  model: z.string(),
  version: z.number().int(),
  /** The input dataset version (its number, even when asked for by alias). */
  input: z.string(),
  outputDataset: z.string(),
  phase: z.enum(PREDICTION_PHASES),
  rows: z.number().int().describe("rows predicted so far (all of them once succeeded)"),
  totalRows: z.number().int().nullable().describe("rows of the input, once known"),
  /** The output dataset version, once succeeded: `datasets:/<output>@<n>`. */
  output: z.string().nullable(),
  outputVersion: z.number().int().nullable(),
  seconds: z.number().nullable(),
  rowsPerSecond: z.number().nullable(),
  /** Why it failed or was cancelled, or that it was started again after a restart. */
  message: z.string().nullable(),
  attempts: z.number().int(),
  createdBy: z.string(),
  createdAt: z.number(),
  startedAt: z.number().nullable(),
  finishedAt: z.number().nullable(),
  spec: z.unknown().optional(),
});
export type Prediction = z.output<typeof predictionSchema>;

export const predictionIdParamsSchema = z.object({ id: z.string().min(1).max(128) });
export const predictionListQuerySchema = z.object({ limit: z.coerce.number().int().min(1).max(1000).default(100) });
export const predictionListSchema = z.object({ predictions: z.array(predictionSchema) });
