import { z } from "zod";

/** Most steps one pipeline declares. */
export const MAX_STEPS = 2000;
/** Most items one step fans out over (forEach). */
export const MAX_FAN_OUT = 1000;
/** Most step instances one run holds, after fan-out. */
export const MAX_INSTANCES = 10_000;
/** Most parameters a pipeline declares. */
export const MAX_PARAMETERS = 200;
/** Longest text value a parameter or a step output holds. */
export const MAX_VALUE_CHARS = 4096;

const NAME = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
/** Step names: also what references name (`steps.<name>.outputs.x`), so '_' and '-' but no '.'. */
const STEP_NAME = /^[A-Za-z][A-Za-z0-9_-]{0,62}$/;
const PARAM_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;

const scalar = z.union([z.string().max(MAX_VALUE_CHARS), z.number(), z.boolean()]);
/** A parameter's value: a scalar, or a list of them (what forEach fans out over). */
export const parameterValueSchema = z.union([scalar, z.array(scalar).max(MAX_FAN_OUT, `a list parameter holds at most ${MAX_FAN_OUT} values`)]);
export type ParameterValue = z.output<typeof parameterValueSchema>;

/** The keys every step has; the one other key is its kind (job, evaluate, register, deploy, echo, …). */
export const STEP_COMMON_KEYS = ["name", "dependsOn", "retries", "timeoutSeconds", "forEach", "cache"] as const;

/**
 * One step: its name, what it waits for, how often it is retried and for how long it may run,
 * an optional fan-out, and exactly one kind key whose value is that kind's body (checked against
 * the kind's schema once the pipeline is applied; see dag.ts).
 */
export const stepSchema = z
  .object({
    name: z.string().regex(STEP_NAME, "step names start with a letter and use letters, digits, '_' and '-' (at most 63), e.g. train"),
    dependsOn: z.array(z.string().max(63)).max(MAX_STEPS).default([]),
    retries: z.number().int().min(0).max(20, "retries is at most 20").default(0),
    timeoutSeconds: z.number().positive().max(7 * 24 * 3600, "timeoutSeconds is at most a week (604800)").optional(),
    /** Fan-out: one instance per item of this list (or of a list parameter, `${{ params.lrs }}`); `${{ item }}` is the item. */
    forEach: z.union([z.array(scalar).min(1).max(MAX_FAN_OUT, `forEach has at most ${MAX_FAN_OUT} items`), z.string().max(200)]).optional(),
    /** false: the step always runs, even when an earlier run ran the same thing. */
    cache: z.boolean().default(true),
  })
  .catchall(z.unknown());
export type StepSpec = z.output<typeof stepSchema>;

/** A pipeline: the body of POST /api/v1/pipelines and of `paved pipelines apply -f p.yaml` (kind: Pipeline). */
export const pipelineSpecSchema = z.strictObject({
  apiVersion: z.literal("paved/v1").optional(),
  kind: z.literal("Pipeline").optional(),
  metadata: z.strictObject({
    name: z.string().regex(NAME, "pipeline names are lowercase letters, digits and '-' (at most 63, starting and ending alphanumeric), e.g. train-and-deploy"),
    team: z.string().min(1).max(63).optional(),
    description: z.string().max(2000).optional(),
  }),
  spec: z.strictObject({
    parameters: z
      .record(z.string().regex(PARAM_NAME, "parameter names use letters, digits and '_', not starting with a digit"), parameterValueSchema)
      .refine((p) => Object.keys(p).length <= MAX_PARAMETERS, `at most ${MAX_PARAMETERS} parameters`)
      .default({}),
    steps: z.array(stepSchema).min(1, "a pipeline needs at least one step").max(MAX_STEPS, `a pipeline has at most ${MAX_STEPS} steps; split it in two`),
  }),
});
export type PipelineSpec = z.output<typeof pipelineSpecSchema>;
export type PipelineSpecInput = z.input<typeof pipelineSpecSchema>;

export const RUN_PHASES = ["RUNNING", "CANCELLING", "SUCCEEDED", "FAILED", "CANCELLED"] as const;
export type RunPhase = (typeof RUN_PHASES)[number];
export const STEP_PHASES = ["pending", "running", "succeeded", "failed", "skipped", "cached", "cancelled"] as const;
export type StepPhase = (typeof STEP_PHASES)[number];

export const pipelineSchema = z.object({
  name: z.string(),
  team: z.string(),
  description: z.string().nullable(),
  /** Applied again with a different spec: the version goes up (runs keep the spec they started with). */
  version: z.number().int(),
  createdBy: z.string(),
  createdAt: z.number(),
  updatedAt: z.number(),
  steps: z.array(z.object({ name: z.string(), kind: z.string(), dependsOn: z.array(z.string()) })),
  spec: z.unknown().optional(),
});
export type Pipeline = z.output<typeof pipelineSchema>;

export const stepViewSchema = z.object({
  /** The step's name, with `[i]` for the i-th instance of a fan-out (train[0], train[1], …). */
  key: z.string(),
  step: z.string(),
  kind: z.string(),
  item: z.unknown().optional(),
  phase: z.enum(STEP_PHASES),
  attempt: z.number().int(),
  /** What the step's kind follows: a job id, an evaluation id, a deployment id; null before it starts. */
  handle: z.string().nullable(),
  outputs: z.record(z.string(), z.unknown()),
  cacheKey: z.string().nullable(),
  /** A cached step: the earlier run and step whose outputs it reused. */
  cachedFrom: z.object({ run: z.string(), step: z.string() }).nullable(),
  message: z.string().nullable(),
  startedAt: z.number().nullable(),
  finishedAt: z.number().nullable(),
});
export type StepView = z.output<typeof stepViewSchema>;

export const pipelineRunSchema = z.object({
  id: z.string(),
  pipeline: z.string(),
  pipelineVersion: z.number().int(),
  team: z.string(),
  owner: z.string(),
  phase: z.enum(RUN_PHASES),
  parameters: z.record(z.string(), z.unknown()),
  counts: z.record(z.string(), z.number().int()),
  message: z.string().nullable(),
  createdAt: z.number(),
  finishedAt: z.number().nullable(),
  steps: z.array(stepViewSchema).optional(),
  events: z.array(z.object({ time: z.number(), type: z.string(), message: z.string() })).optional(),
});
export type PipelineRun = z.output<typeof pipelineRunSchema>;

export const pipelineNameParamsSchema = z.object({ name: z.string().min(1).max(63) });
export const runIdParamsSchema = z.object({ id: z.string().min(1).max(128) });
/** The query of a pipelines or runs listing: a page at a time, keyset-paged (a page stays put while rows are added). */
export const listQuerySchema = z.object({
  limit: z.coerce.number().int().min(1).max(1000).default(100).describe("rows per page (at most 1000)"),
  pageToken: z.string().max(200).optional().describe("nextPageToken of the previous page"),
});
export const startRunBodySchema = z.strictObject({ parameters: z.record(z.string().max(63), parameterValueSchema).default({}) });
export const runLogsQuerySchema = z.object({ step: z.string().min(1).max(80).optional(), limitBytes: z.coerce.number().int().min(1).max(4 * 1024 * 1024).optional() });
export const runLogsSchema = z.object({ logs: z.array(z.object({ step: z.string(), handle: z.string().nullable(), text: z.string() })) });
export const pipelineListSchema = z.object({
  pipelines: z.array(pipelineSchema),
  nextPageToken: z.string().optional().describe("set when more pipelines remain: pass it as pageToken for the next page"),
});
export const runListSchema = z.object({
  runs: z.array(pipelineRunSchema),
  nextPageToken: z.string().optional().describe("set when older runs remain: pass it as pageToken for the next page"),
});
