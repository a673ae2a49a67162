// Wire schemas of the serving routes: the KServe Open Inference Protocol v2 (REST) and Paved's
// admin routes that load and unload model versions.
import { z } from "zod";

/** Model names and versions become folder names (prediction logs), so they stay plain. */
const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
export const ModelName = z.string().regex(NAME, "use letters, digits, '.', '_' and '-' (at most 128, not starting with '.', '_' or '-')");
export const ModelVersion = ModelName;

/** The environment a deployment serves (production, staging, …); also a folder name of the prediction log. */
const ENVIRONMENT = /^[a-z][a-z0-9-]{0,62}$/;
export const EnvironmentName = z.string().regex(ENVIRONMENT, "use lower-case letters, digits and '-' (at most 63, starting with a letter), e.g. staging");

/** ModelName's check without zod, for the data plane's per-request path (the same rule). */
export function isModelName(value: string): boolean {
  return NAME.test(value);
}

/** EnvironmentName's check without zod, for the data plane's per-request path (the same rule). */
export function isEnvironmentName(value: string): boolean {
  return ENVIRONMENT.test(value);
}

export const ModelParams = z.object({ name: ModelName });
export const ModelVersionParams = z.object({ name: ModelName, version: ModelVersion });
/** The same OIP paths under `/environments/{environment}` (another environment's endpoint). */
export const EnvironmentModelParams = z.object({ environment: EnvironmentName, name: ModelName });
export const EnvironmentModelVersionParams = z.object({ environment: EnvironmentName, name: ModelName, version: ModelVersion });
export const EnvironmentParams = z.object({ environment: EnvironmentName });

const Parameters = z.record(z.string(), z.unknown());

export const InferInputTensor = z.object({
  name: z.string().min(1),
  shape: z.array(z.number().int().min(0)),
  datatype: z.string(),
  /** `binary_data_size`: the tensor's data follows the JSON header as binary tensor data (Triton's extension). */
  parameters: Parameters.optional(),
  /** Flat row-major or nested; checked against the datatype and shape by the service. Absent for a binary input. */
  data: z.unknown().optional(),
});

export const InferRequest = z.object({
  id: z.string().max(256).optional(),
  parameters: Parameters.optional(),
  inputs: z.array(InferInputTensor).min(1),
  /** Each may say `binary_data: true` (answered as binary tensor data); the request's `parameters.binary_data_output` sets the default. */
  outputs: z.array(z.object({ name: z.string(), parameters: Parameters.optional() })).optional(),
});
export type InferRequest = z.output<typeof InferRequest>;

const REQUEST_FIELDS = new Set(["id", "parameters", "inputs", "outputs"]);
const INPUT_FIELDS = new Set(["name", "shape", "datatype", "parameters", "data"]);
const OUTPUT_FIELDS = new Set(["name", "parameters"]);

/**
 * Whether parsed JSON is an InferRequest that InferRequest.parse would return unchanged: every
 * field known and valid, nothing to strip. A hand-written twin of the schema for the per-request
 * path, where zod's generic walk cost about as much as the JSON.parse before it; anything it does
 * not accept goes through zod, which gives the answer (and the errors) as before.
 */
export function isPlainInferRequest(value: unknown): value is InferRequest {
  if (!isFields(value, REQUEST_FIELDS)) return false;
  if (value.id !== undefined && (typeof value.id !== "string" || value.id.length > 256)) return false;
  if (value.parameters !== undefined && !isParameters(value.parameters)) return false;
  const { inputs, outputs } = value;
  if (!Array.isArray(inputs) || inputs.length === 0) return false;
  for (const input of inputs) {
    if (!isFields(input, INPUT_FIELDS)) return false;
    if (typeof input.name !== "string" || input.name.length === 0 || typeof input.datatype !== "string") return false;
    if (!Array.isArray(input.shape)) return false;
    for (const d of input.shape) if (!Number.isSafeInteger(d) || (d as number) < 0) return false;
    if (input.parameters !== undefined && !isParameters(input.parameters)) return false;
  }
  if (outputs === undefined) return true;
  if (!Array.isArray(outputs)) return false;
  for (const output of outputs) {
    if (!isFields(output, OUTPUT_FIELDS) || typeof output.name !== "string") return false;
    if (output.parameters !== undefined && !isParameters(output.parameters)) return false;
  }
  return true;
}

/** A JSON object with none but these fields. */
function isFields(value: unknown, fields: ReadonlySet<string>): value is Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return false;
  for (const key in value) if (!fields.has(key)) return false;
  return true;
}

/** A JSON object as the Parameters record returns it (zod drops a `__proto__` key). */
function isParameters(value: unknown): boolean {
  return typeof value === "object" && value !== null && !Array.isArray(value) && !Object.hasOwn(value, "__proto__");
}

export const InferOutputTensor = z.object({
  name: z.string(),
  shape: z.array(z.number().int()),
  datatype: z.string(),
  data: z.array(z.union([z.number(), z.boolean()])),
});

export const InferResponse = z.object({
  model_name: z.string(),
  model_version: z.string(),
  id: z.string(),
  outputs: z.array(InferOutputTensor),
});
export type InferResponse = z.output<typeof InferResponse>;

/**
 * The answer on the wire: an output asked for as binary tensor data carries
 * `parameters.binary_data_size` instead of `data`, and its bytes follow this JSON (whose length the
 * `Inference-Header-Content-Length` header gives).
 */
export const OipInferResponse = InferResponse.extend({
  outputs: z.array(InferOutputTensor.extend({ parameters: z.object({ binary_data_size: z.number().int() }).optional(), data: InferOutputTensor.shape.data.optional() })),
});

const TensorMetadata = z.object({ name: z.string(), datatype: z.string(), shape: z.array(z.number().int()) });
export const ModelMetadata = z.object({
  name: z.string(),
  versions: z.array(z.string()),
  platform: z.string(),
  inputs: z.array(TensorMetadata),
  outputs: z.array(TensorMetadata),
});
export type ModelMetadata = z.output<typeof ModelMetadata>;

/** Server metadata: `extensions` lists the protocol extensions this server implements (Triton's names). */
export const ServerMetadata = z.object({ name: z.string(), version: z.string(), extensions: z.array(z.string()) });

const TritonTensorConfig = z.object({ name: z.string(), data_type: z.string(), dims: z.array(z.number().int()) });
/**
 * The model configuration extension's answer: the subset of Triton's ModelConfig (model_config.proto,
 * as JSON) that Paved knows of a loaded version.
 */
export const ModelConfig = z.object({
  name: z.string(),
  platform: z.string(),
  backend: z.string(),
  version_policy: z.object({ specific: z.object({ versions: z.array(z.string()) }) }),
  max_batch_size: z.number().int().describe("rows one run may hold when the first dimension of every input and output is dynamic (dims then leave it out); 0 otherwise"),
  input: z.array(TritonTensorConfig),
  output: z.array(TritonTensorConfig),
  instance_group: z.array(z.object({ name: z.string(), kind: z.string(), count: z.number().int() })),
  dynamic_batching: z.object({}).optional(),
  parameters: z.record(z.string(), z.object({ string_value: z.string() })),
});
export type ModelConfig = z.output<typeof ModelConfig>;

const DurationStat = z.object({ count: z.number().int(), ns: z.number() });
/** One loaded version's statistics (Triton's statistics extension, `$model_stat`). */
export const ModelStatistics = z.object({
  name: z.string(),
  version: z.string(),
  last_inference: z.number().int().describe("ms since the epoch; 0 before the first"),
  inference_count: z.number().int().describe("successful inferences: rows of batchable models, requests of others"),
  execution_count: z.number().int().describe("model runs (one run may hold several batched requests)"),
  inference_stats: z.object({
    success: DurationStat,
    fail: DurationStat,
    queue: DurationStat,
    compute_input: DurationStat,
    compute_infer: DurationStat,
    compute_output: DurationStat,
    cache_hit: DurationStat,
  }),
  batch_stats: z.array(z.object({ batch_size: z.number().int(), compute_input: DurationStat, compute_infer: DurationStat, compute_output: DurationStat })),
});
export type ModelStatistics = z.output<typeof ModelStatistics>;
export const ModelStatisticsList = z.object({ model_stats: z.array(ModelStatistics) });

export const ServerLive = z.object({ live: z.boolean() });
export const ServerReady = z.object({ ready: z.boolean() });
export const ModelReady = z.object({ name: z.string(), version: z.string(), ready: z.boolean() });

/** A team's name, as identity names teams (the team a loaded version serves). */
export const TeamName = z.string().regex(/^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$/, "team names use lower-case letters, digits and '-' (at most 63, starting with a letter)");

export const LoadQuery = z.object({
  environment: EnvironmentName.optional().describe("the environment whose endpoint serves the version (default production: /v2/models/{name}/…)"),
  team: TeamName.optional().describe("the team whose members may call the endpoint (default: default)"),
  replicas: z.coerce.number().int().min(1).optional().describe("replicas to start with, and the fewest the autoscaler keeps (at most serving.maxReplicasPerVersion)"),
  maxReplicas: z.coerce.number().int().min(1).optional().describe("the most replicas the autoscaler may run (default: replicas, no autoscaling; at most serving.maxReplicasPerVersion)"),
  targetP95Ms: z.coerce.number().positive().optional().describe("also scale up while p95 latency is above this and requests queue"),
  maxBatch: z.coerce.number().int().min(1).max(65536).optional(),
});

export const LoadedModelView = z.object({
  name: z.string(),
  version: z.string(),
  environment: z.string().describe("the environment whose endpoint serves it (production: /v2/models/{name}, others: /environments/{environment}/v2/models/{name})"),
  team: z.string().describe("the team that owns it (its model's): only its members reach the endpoint"),
  runtime: z.string(),
  platform: z.string(),
  replicas: z.number().int().describe("replicas running now"),
  minReplicas: z.number().int(),
  maxReplicas: z.number().int().describe("equal to minReplicas when the version is not autoscaled"),
  maxBatch: z.number().int(),
  sha256: z.string(),
  sizeBytes: z.number().int(),
  loadedAt: z.number().int(),
  execution: z.enum(["inline", "workers"]).optional().describe("inline: small requests run on the HTTP thread (the model's run measured tiny at load, serving.inlineBelowMs); workers: every request runs on the version's worker threads"),
  scaleLimit: z.string().optional().describe("set while the autoscaler holds the version below what its load asks for, and why (the team's serving-replica quota)"),
});
export type LoadedModelView = z.output<typeof LoadedModelView>;
export const LoadedModelList = z.object({ models: z.array(LoadedModelView) });
export const LoadedModelsQuery = z.object({ environment: EnvironmentName.optional().describe("only this environment's versions") });
export const EnvironmentQuery = z.object({ environment: EnvironmentName.optional().describe("default production") });
