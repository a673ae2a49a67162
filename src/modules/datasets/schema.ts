import { z } from "zod";

/** Dataset names: lower-case letters, digits, '.', '_' and '-', starting and ending alphanumeric, at most 128. */
export const DATASET_NAME = /^[a-z0-9](?:[a-z0-9._-]{0,126}[a-z0-9])?$/;
/** Aliases: a lower-case letter, then letters, digits, '_' and '-', at most 63 (never a number, never `latest`). */
export const ALIAS_NAME = /^[a-z][a-z0-9_-]{0,62}$/;
/** A blob's SHA-256, as 64 hex digits (a leading `sha256:` is accepted and dropped). */
export const DIGEST = /^[0-9a-f]{64}$/;
/** Most files one version holds. */
export const MAX_FILES = 10_000;
/** Longest file path inside a version. */
export const MAX_PATH_LENGTH = 1024;
/** Most preview rows one request reads. */
export const MAX_PREVIEW_ROWS = 1000;
/** The version a ref without one, or with `@latest`, names: the highest. */
export const LATEST = "latest";

export const datasetNameSchema = z
  .string()
  .regex(DATASET_NAME, "dataset names are lower-case letters, digits, '.', '_' and '-', starting and ending with a letter or digit, at most 128 (e.g. churn-2024)");
export const aliasSchema = z
  .string()
  .regex(ALIAS_NAME, "aliases start with a lower-case letter, then letters, digits, '_' and '-', at most 63 (e.g. prod)")
  .refine((a) => a !== LATEST, "'latest' always names the highest version; choose another alias");
const digestSchema = z
  .string()
  .transform((d) => (d.startsWith("sha256:") ? d.slice(7) : d))
  .pipe(z.string().regex(DIGEST, "a digest is the 64 hex digits of a blob's SHA-256 (as the upload answered it)"));

export const FORMATS = ["csv", "parquet", "other"] as const;
export type FileFormat = (typeof FORMATS)[number];

/** Where a version's data came from: a connector's description (never its credentials). */
export const sourceSchema = z.strictObject({
  kind: z.string().regex(/^[a-z][a-z0-9-]{0,31}$/, "a source kind is a short lower-case word, e.g. upload, postgres, s3, local"),
  description: z.string().max(2000),
});
export type DatasetSource = z.output<typeof sourceSchema>;

/** What produced a version: a run, a prediction (batch inference), a pipeline run, a deployment, or an upload. */
export const lineageSchema = z
  .object({
    kind: z.enum(["run", "prediction", "pipeline", "deployment", "upload", "features"]),
    id: z.string().min(1).max(256),
  })
  .catchall(z.union([z.string().max(1024), z.number(), z.boolean(), z.null()]))
  .refine((l) => Object.keys(l).length <= 32, "lineage holds at most 32 fields");
export type DatasetLineage = z.output<typeof lineageSchema>;

export const createDatasetBodySchema = z.strictObject({
  name: datasetNameSchema,
  team: z.string().min(1).max(63).optional(),
  description: z.string().max(2000).optional(),
});
export type CreateDatasetBody = z.output<typeof createDatasetBodySchema>;

export const versionFileInputSchema = z.strictObject({
  path: z.string().min(1).max(MAX_PATH_LENGTH),
  digest: digestSchema,
});

/** POST /api/v1/datasets/:name/versions: files already uploaded to the team (POST /api/v1/dataset-uploads). */
export const createVersionBodySchema = z.strictObject({
  /** The team of a dataset created by this call (one that exists keeps its team). */
  team: z.string().min(1).max(63).optional(),
  files: z.array(versionFileInputSchema).min(1, "a version needs at least one file").max(MAX_FILES, `a version holds at most ${MAX_FILES} files`),
  description: z.string().max(2000).optional(),
  /** Points this alias at the version (created or found). */
  alias: aliasSchema.optional(),
});
export type CreateVersionBody = z.output<typeof createVersionBodySchema>;

export const datasetParamsSchema = z.object({ name: datasetNameSchema });
export const versionParamsSchema = z.object({ name: datasetNameSchema, version: z.string().min(1).max(64).describe("a version number, an alias, or latest") });
export const aliasParamsSchema = z.object({ name: datasetNameSchema, alias: aliasSchema });
export const setAliasBodySchema = z.strictObject({ version: z.union([z.number().int().min(1), z.string().min(1).max(64)]) });
export const uploadQuerySchema = z.object({ team: z.string().min(1).max(63).optional() });
/** Rows per page of GET /api/v1/datasets and GET /api/v1/datasets/:name/versions, unless `limit` says fewer. */
export const DEFAULT_DATASETS_PAGE = 100;
export const MAX_DATASETS_PAGE = 1000;
export const listQuerySchema = z.object({
  limit: z.coerce.number().int().min(1).max(MAX_DATASETS_PAGE).default(DEFAULT_DATASETS_PAGE).describe(`rows per page (at most ${MAX_DATASETS_PAGE})`),
  pageToken: z.string().max(200).optional().describe("nextPageToken of the previous page"),
});
export const previewQuerySchema = z.object({
  rows: z.coerce.number().int().min(1).max(MAX_PREVIEW_ROWS).default(20),
  /** Which CSV or Parquet file; default: the version's first one (by path). */
  path: z.string().min(1).max(MAX_PATH_LENGTH).optional(),
});
export const diffQuerySchema = z.object({
  from: z.string().min(1).max(64).describe("a version number, an alias, or latest"),
  to: z.string().min(1).max(64).describe("a version number, an alias, or latest"),
});

const scalar = z.union([z.number(), z.string(), z.boolean(), z.null()]);

export const COLUMN_KINDS = ["numeric", "string", "temporal", "boolean", "other"] as const;
export const columnSchema = z.object({
  name: z.string(),
  type: z.string().describe("DuckDB's type, e.g. BIGINT, DOUBLE, VARCHAR, DATE"),
  kind: z.enum(COLUMN_KINDS),
  /** Absent for columns past datasets.maxStatisticsColumns (their type is still listed). */
  stats: z
    .object({
      nullCount: z.number(),
      nullFraction: z.number(),
      distinctApprox: z.number().nullable(),
      min: scalar.optional(),
      max: scalar.optional(),
      mean: z.number().nullable().optional(),
      std: z.number().nullable().optional(),
      quantiles: z.object({ p05: z.number().nullable(), p25: z.number().nullable(), p50: z.number().nullable(), p75: z.number().nullable(), p95: z.number().nullable() }).optional(),
      topValues: z.array(scalar).optional().describe("the most frequent values, most frequent first (approximate)"),
    })
    .optional(),
});
export type ColumnView = z.output<typeof columnSchema>;

export const previewSchema = z.object({ columns: z.array(z.string()), rows: z.array(z.array(z.unknown())) });
export type Preview = z.output<typeof previewSchema>;

/** What DuckDB computed for a CSV or Parquet file. */
export interface FileAnalysis {
  rowCount: number;
  columns: ColumnView[];
  preview: Preview;
}

export const fileSchema = z.object({
  path: z.string(),
  digest: z.string().describe("sha256:<hex> of the file's bytes"),
  size: z.number(),
  format: z.enum(FORMATS),
  rowCount: z.number().nullable(),
  columns: z.array(columnSchema).optional(),
});
export type DatasetFileView = z.output<typeof fileSchema>;

export const versionSchema = z.object({
  dataset: z.string(),
  team: z.string(),
  version: z.number().int(),
  ref: z.string().describe("datasets:/<name>@<version>"),
  digest: z.string().describe("sha256:<hex> over the sorted (path, file digest) list"),
  fileCount: z.number().int(),
  totalBytes: z.number(),
  rowCount: z.number().nullable(),
  description: z.string().nullable(),
  source: sourceSchema.nullable(),
  lineage: z.record(z.string(), z.unknown()).nullable(),
  aliases: z.array(z.string()),
  createdBy: z.string(),
  createdAt: z.number(),
  files: z.array(fileSchema).optional(),
  /** On creation: true when a version with the same digest already existed and was returned instead. */
  existing: z.boolean().optional(),
});
export type DatasetVersionView = z.output<typeof versionSchema>;

export const datasetSchema = z.object({
  name: z.string(),
  team: z.string(),
  description: z.string().nullable(),
  createdBy: z.string(),
  createdAt: z.number(),
  updatedAt: z.number(),
  latestVersion: z.number().int().nullable(),
  versionCount: z.number().int(),
  aliases: z.record(z.string(), z.number().int()).describe("alias → version"),
});
export type DatasetView = z.output<typeof datasetSchema>;

export const datasetListSchema = z.object({
  datasets: z.array(datasetSchema),
  nextPageToken: z.string().optional().describe("set when more datasets remain: pass it as pageToken for the next page"),
});
export const versionListSchema = z.object({
  versions: z.array(versionSchema),
  nextPageToken: z.string().optional().describe("set when older versions remain: pass it as pageToken for the next page"),
});
export const uploadSchema = z.object({ digest: z.string(), size: z.number(), team: z.string() });
export const previewViewSchema = z.object({ dataset: z.string(), version: z.number().int(), path: z.string(), columns: z.array(z.string()), rows: z.array(z.array(z.unknown())) });
export type PreviewView = z.output<typeof previewViewSchema>;
export const aliasViewSchema = z.object({ dataset: z.string(), alias: z.string(), version: z.number().int().nullable() });

const statChange = z.object({ path: z.string(), column: z.string(), stat: z.string(), from: z.unknown(), to: z.unknown() });
export const diffSchema = z.object({
  dataset: z.string(),
  from: z.object({ version: z.number().int(), digest: z.string() }),
  to: z.object({ version: z.number().int(), digest: z.string() }),
  identical: z.boolean(),
  rowCount: z.object({ from: z.number().nullable(), to: z.number().nullable(), change: z.number().nullable() }),
  files: z.object({
    added: z.array(z.object({ path: z.string(), size: z.number() })),
    removed: z.array(z.object({ path: z.string(), size: z.number() })),
    changed: z.array(z.object({ path: z.string(), from: z.string(), to: z.string(), sizeFrom: z.number(), sizeTo: z.number() })),
  }),
  schema: z.array(
    z.object({
      path: z.string(),
      added: z.array(z.object({ name: z.string(), type: z.string() })),
      removed: z.array(z.object({ name: z.string(), type: z.string() })),
      typeChanged: z.array(z.object({ name: z.string(), from: z.string(), to: z.string() })),
      rowCount: z.object({ from: z.number().nullable(), to: z.number().nullable() }),
    }),
  ),
  statistics: z.array(statChange),
});
export type DatasetDiff = z.output<typeof diffSchema>;
