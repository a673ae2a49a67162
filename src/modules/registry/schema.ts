import { z } from "zod";

// ---- Paved's own API (/api/v1): views the CLI and the web UI read -------------------------------

export const LOGGED_MODEL_STATUSES = ["PENDING", "READY", "FAILED"] as const;
export type LoggedModelStatus = (typeof LOGGED_MODEL_STATUSES)[number];

export const TensorSpec = z.object({
  name: z.string(),
  type: z.string().describe("element type as numpy names it, e.g. float32, int64"),
  shape: z.array(z.union([z.number(), z.string(), z.null()])).nullable().describe("sizes; a string is a symbolic (dynamic) dimension, null unknown"),
});
export const ModelSignature = z.object({
  file: z.string().describe("the .onnx file it was read from, relative to the version root"),
  inputs: z.array(TensorSpec),
  outputs: z.array(TensorSpec),
});
export type ModelSignatureView = z.infer<typeof ModelSignature>;

export const Lineage = z.object({
  runId: z.string(),
  experimentId: z.string(),
  commit: z.string().nullable().describe("the run's code commit (tag mlflow.source.git.commit)"),
  datasets: z.array(z.object({ name: z.string(), digest: z.string(), source: z.string(), sourceType: z.string(), context: z.string().nullable() })),
  capturedAt: z.number().describe("epoch milliseconds"),
});
export type LineageView = z.infer<typeof Lineage>;

export const VersionFile = z.object({ path: z.string(), size: z.number(), digest: z.string() });

export const VersionSummary = z.object({
  name: z.string(),
  version: z.string(),
  status: z.literal("READY"),
  source: z.string(),
  runId: z.string().nullable(),
  description: z.string().nullable(),
  user: z.string(),
  aliases: z.array(z.string()),
  tags: z.record(z.string(), z.string()),
  createdAt: z.number(),
  updatedAt: z.number(),
});
export type VersionSummary = z.infer<typeof VersionSummary>;

export const VersionView = VersionSummary.extend({
  loggedModelId: z.string().nullable(),
  signature: ModelSignature.nullable(),
  lineage: Lineage.nullable(),
  files: z.array(VersionFile),
  downloadUri: z.string().describe("mlflow-artifacts:/registry/<name>/<version>, served by the artifact proxy"),
});
export type VersionView = z.infer<typeof VersionView>;

export const ModelView = z.object({
  name: z.string(),
  description: z.string().nullable(),
  user: z.string(),
  tags: z.record(z.string(), z.string()),
  aliases: z.record(z.string(), z.string()).describe("alias → version"),
  latestVersion: z.string().nullable(),
  createdAt: z.number(),
  updatedAt: z.number(),
  team: z.string().describe("the team that owns it (and its versions)"),
});
export type ModelView = z.infer<typeof ModelView>;

export const ModelDetailView = ModelView.extend({ versions: z.array(VersionSummary).describe("newest first") });
export type ModelDetailView = z.infer<typeof ModelDetailView>;

export const ListModelsQuery = z.object({
  filter: z.string().optional().describe("MLflow filter, e.g. \"name LIKE 'churn%'\""),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
  // A token holds the page's last model name (up to 256 characters): about 360 characters.
  pageToken: z.string().max(512).optional().describe("nextPageToken of the previous page"),
});
export const ListModelsResponse = z.object({
  models: z.array(ModelView),
  nextPageToken: z.string().optional().describe("set when more models match: pass it as pageToken for the next page"),
});
export const ModelNameParams = z.object({ name: z.string().min(1) });
export const VersionParams = z.object({ name: z.string().min(1), version: z.string().min(1).describe("a version number or an alias") });
export const AliasParams = z.object({ name: z.string().min(1), alias: z.string().min(1) });
export const RegisterVersionBody = z.object({
  source: z.string().describe("runs:/<run_id>/<path>, models:/<name>/<version> or mlflow-artifacts:/<experiment_id>/<run_id>/artifacts/<path>"),
  description: z.string().optional(),
  team: z
    .string()
    .min(1)
    .optional()
    .describe("for a new model: the team it goes to (default: the source's team when you are in it, else your token's team); an existing model keeps its own"),
});
export type RegisterVersionBody = z.infer<typeof RegisterVersionBody>;
export const SetAliasBody = z.object({
  version: z.union([z.string(), z.number()]).transform(String),
  force: z.boolean().optional().describe("admin override of alias guards (e.g. evaluation gates); needs reason"),
  reason: z.string().max(2000).optional().describe("why the override is needed; recorded"),
});
export const AliasView = z.object({ name: z.string(), alias: z.string(), version: z.string() });
export type AliasView = z.infer<typeof AliasView>;
/** Tag changes of a model or version in one request: deletions are checked before anything changes. */
export const UpdateTagsBody = z
  .strictObject({
    set: z.record(z.string().min(1), z.string()).default({}).describe("tags to set (an existing key gets the new value)"),
    delete: z.array(z.string().min(1)).default([]).describe("tag keys to delete; each must exist"),
  })
  .refine((b) => Object.keys(b.set).length + b.delete.length > 0, "give at least one tag to set or delete")
  .refine((b) => Object.keys(b.set).length + b.delete.length <= 100, "at most 100 tag changes per request")
  .refine((b) => !b.delete.some((k) => k in b.set), "a key cannot be both set and deleted");
export const TagsView = z.object({ name: z.string(), version: z.string().nullable(), tags: z.record(z.string(), z.string()) });
export type TagsView = z.infer<typeof TagsView>;

// ---- MLflow REST requests ----------------------------------------------------------------------

const int64 = z.union([z.number(), z.string().regex(/^-?\d+$/)]).transform((v) => Number(v));
const repeated = z.preprocess((v) => (v === undefined ? undefined : Array.isArray(v) ? v : [v]), z.array(z.string()).optional());
const keyValue = z.object({ key: z.string(), value: z.string().nullish().transform((v) => v ?? "") });
const version = z.union([z.string(), z.number()]).transform(String);

export const mlflow = {
  createModel: z.object({ name: z.string(), tags: z.array(keyValue).optional(), description: z.string().nullish() }),
  modelName: z.object({ name: z.string() }),
  renameModel: z.object({ name: z.string(), new_name: z.string() }),
  updateModel: z.object({ name: z.string(), description: z.string().nullish() }),
  searchModels: z.object({ filter: z.string().optional(), max_results: int64.optional(), order_by: repeated, page_token: z.string().optional() }),
  modelTag: z.object({ name: z.string(), key: z.string(), value: z.string().nullish().transform((v) => v ?? "") }),
  modelTagKey: z.object({ name: z.string(), key: z.string() }),
  setAlias: z.object({ name: z.string(), alias: z.string(), version }),
  alias: z.object({ name: z.string(), alias: z.string() }),
  latestVersions: z.object({ name: z.string(), stages: repeated }),
  createVersion: z.object({
    name: z.string(),
    source: z.string(),
    run_id: z.string().nullish(),
    tags: z.array(keyValue).optional(),
    run_link: z.string().nullish(),
    description: z.string().nullish(),
    model_id: z.string().nullish(),
  }),
  versionRef: z.object({ name: z.string(), version }),
  updateVersion: z.object({ name: z.string(), version, description: z.string().nullish() }),
  searchVersions: z.object({ filter: z.string().optional(), max_results: int64.optional(), order_by: repeated, page_token: z.string().optional() }),
  versionTag: z.object({ name: z.string(), version, key: z.string(), value: z.string().nullish().transform((v) => v ?? "") }),
  versionTagKey: z.object({ name: z.string(), version, key: z.string() }),
  createLoggedModel: z.object({
    experiment_id: z.string(),
    name: z.string().nullish(),
    model_type: z.string().nullish(),
    source_run_id: z.string().nullish(),
    params: z.array(keyValue).optional(),
    tags: z.array(keyValue).optional(),
  }),
  loggedModelId: z.object({ model_id: z.string() }),
  loggedModelTagParams: z.object({ model_id: z.string(), tag_key: z.string() }),
  finalizeLoggedModel: z.object({
    model_id: z.string().optional(),
    status: z.enum(["LOGGED_MODEL_READY", "LOGGED_MODEL_UPLOAD_FAILED", "LOGGED_MODEL_PENDING", "READY", "FAILED", "PENDING"]),
  }),
  loggedModelTags: z.object({ model_id: z.string().optional(), tags: z.array(keyValue).optional().default([]) }),
  loggedModelParams: z.object({ model_id: z.string().optional(), params: z.array(keyValue).optional().default([]) }),
  searchLoggedModels: z.object({
    experiment_ids: repeated,
    filter: z.string().nullish(),
    datasets: z.array(z.unknown()).optional(),
    max_results: int64.optional(),
    order_by: z.array(z.object({ field_name: z.string(), ascending: z.boolean().optional() }).passthrough()).optional(),
    page_token: z.string().nullish(),
  }),
  logOutputs: z.object({ run_id: z.string(), models: z.array(z.object({ model_id: z.string(), step: int64.optional() })).optional().default([]) }),
  proxyPath: z.object({ "*": z.string() }),
  loggedModelProxyPath: z.object({ experimentId: z.string(), "*": z.string() }),
};
