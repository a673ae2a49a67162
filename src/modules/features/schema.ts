import { z } from "zod";

/** Feature set names: like dataset names (the default output dataset is named after the set). */
export const FEATURE_SET_NAME = /^[a-z0-9](?:[a-z0-9._-]{0,126}[a-z0-9])?$/;
const featureSetNameSchema = z.string().regex(FEATURE_SET_NAME, "feature set names are lower-case letters, digits, '.', '_' and '-', starting and ending with a letter or digit, at most 128 (e.g. customer-spend)");
const columnSchema = z.string().min(1).max(128);
const datasetRefSchema = z.string().min(1).max(512).startsWith("datasets:/", "a dataset ref is datasets:/<name>@<version|alias>");
/** View names the SQL reads: plain identifiers. */
const viewNameSchema = z.string().regex(/^[a-z_][a-z0-9_]{0,62}$/, "input names are lower-case identifiers (letters, digits, '_'), e.g. orders");

/** At most this many inputs to a feature set, and feature datasets to a training set. */
export const MAX_INPUTS = 16;

export const featureSetSpecSchema = z.strictObject({
  name: featureSetNameSchema,
  team: z.string().min(1).max(63).optional(),
  description: z.string().max(2000).optional(),
  entityKey: columnSchema,
  timestamp: columnSchema,
  /** One SELECT, run by DuckDB over the views named by `inputs`. */
  sql: z.string().min(1).max(100_000),
  inputs: z.record(viewNameSchema, datasetRefSchema).refine((r) => Object.keys(r).length >= 1 && Object.keys(r).length <= MAX_INPUTS, `a feature set reads 1 to ${MAX_INPUTS} inputs`),
});
export type FeatureSetSpec = z.output<typeof featureSetSpecSchema>;

export const featureSetViewSchema = z.object({
  name: z.string(),
  team: z.string(),
  version: z.number(),
  description: z.string().nullable(),
  entityKey: z.string(),
  timestamp: z.string(),
  sql: z.string(),
  /** Each input as asked (`datasets:/orders@prod`) … */
  inputs: z.record(z.string(), z.string()),
  /** … and pinned to the version it resolved to when this version was created. */
  pinned: z.record(z.string(), z.object({ ref: z.string(), digest: z.string() })),
  createdBy: z.string(),
  createdAt: z.number(),
});
export type FeatureSetView = z.output<typeof featureSetViewSchema>;
export const featureSetListSchema = z.object({ featureSets: z.array(featureSetViewSchema) });

export const featureSetParamsSchema = z.object({ name: featureSetNameSchema });
export const featureSetVersionParamsSchema = z.object({ name: featureSetNameSchema, version: z.coerce.number().int().min(1).max(1_000_000_000) });
export const listFeatureSetsQuerySchema = z.object({ limit: z.coerce.number().int().min(1).max(500).default(100) });

export const materializeBodySchema = z.strictObject({
  /** The dataset written (default: the feature set's name). */
  output: z.string().min(1).max(128).optional(),
  alias: z.string().min(1).max(64).optional(),
});
export const materializationSchema = z.object({ featureSet: z.string(), version: z.number(), dataset: z.string(), datasetVersion: z.number(), ref: z.string(), rows: z.number() });
export type MaterializationView = z.output<typeof materializationSchema>;

export const trainingSetBodySchema = z.strictObject({
  team: z.string().min(1).max(63).optional(),
  /** Entity key, timestamp and label columns. */
  labels: datasetRefSchema,
  /** Materialized feature datasets, each with the entity key and timestamp columns. */
  features: z.array(datasetRefSchema).min(1).max(MAX_INPUTS),
  entityKey: columnSchema,
  timestamp: columnSchema,
  output: z.string().min(1).max(128),
  alias: z.string().min(1).max(64).optional(),
});
export type TrainingSetBody = z.output<typeof trainingSetBodySchema>;
export const trainingSetSchema = z.object({ dataset: z.string(), datasetVersion: z.number(), ref: z.string(), rows: z.number(), columns: z.array(z.string()) });
export type TrainingSetView = z.output<typeof trainingSetSchema>;
