import { z } from "zod";
import { jobSpecSchema } from "../compute/schema.ts";

/** Most trials one sweep runs (and most combinations a grid may expand to). */
export const MAX_TRIALS = 10_000;
/** Parameter names: the characters of a job's hyperparameter names. */
const PARAMETER_NAME = /^[A-Za-z0-9_.\-/]{1,250}$/;
const METRIC_KEY = /^[A-Za-z0-9_.\-/ ]{1,250}$/;

export const SWEEP_METHODS = ["grid", "random", "asha"] as const;
export const DISTRIBUTIONS = ["uniform", "log-uniform", "int"] as const;
export const OBJECTIVE_GOALS = ["minimize", "maximize"] as const;

/**
 * One parameter's space: a list of `values` (a grid axis, or a choice for random and ASHA), or a
 * `distribution` between `min` and `max` (uniform, log-uniform, int: both ends included).
 */
export const parameterSpaceSchema = z
  .strictObject({
    values: z.array(z.union([z.string(), z.number(), z.boolean()])).min(1, "values needs at least one value").max(MAX_TRIALS).optional(),
    distribution: z.enum(DISTRIBUTIONS).optional(),
    min: z.number().optional(),
    max: z.number().optional(),
  })
  .superRefine((p, ctx) => {
    if (p.values !== undefined) {
      if (p.distribution !== undefined || p.min !== undefined || p.max !== undefined) {
        ctx.addIssue({ code: "custom", message: "give either values: [...] or distribution with min and max, not both" });
      }
      return;
    }
    if (p.distribution === undefined) {
      ctx.addIssue({ code: "custom", message: `give values: [a, b, ...] or distribution (${DISTRIBUTIONS.join(", ")}) with min and max` });
      return;
    }
    if (p.min === undefined || p.max === undefined) {
      ctx.addIssue({ code: "custom", message: `distribution ${p.distribution} needs min and max` });
      return;
    }
    if (!(p.min < p.max)) ctx.addIssue({ code: "custom", path: ["max"], message: `max (${p.max}) must be above min (${p.min})` });
    if (p.distribution === "log-uniform" && p.min <= 0) ctx.addIssue({ code: "custom", path: ["min"], message: `log-uniform needs min above 0 (got ${p.min}); use uniform for ranges that reach 0` });
    if (p.distribution === "int" && (!Number.isInteger(p.min) || !Number.isInteger(p.max))) ctx.addIssue({ code: "custom", message: "int needs whole numbers for min and max" });
  });
export type ParameterSpace = z.output<typeof parameterSpaceSchema>;
/** A trial's parameters: one value per parameter of the space. */
export type TrialParams = Record<string, string | number | boolean>;

/**
 * The job each trial runs: a job spec, without the name, team and experiment (the sweep's). A
 * trial's parameters are added to its `hyperparameters` (so `--name=value` arguments, and its run's
 * params), and `${params.NAME}` in `command` and `env` values is replaced by the value, as text:
 * nothing goes through a shell.
 */
export const trialTemplateSchema = jobSpecSchema.omit({ apiVersion: true, kind: true, name: true, team: true, experiment: true });
export type TrialTemplate = z.output<typeof trialTemplateSchema>;

export const ashaSchema = z
  .strictObject({
    /** The step (the objective metric's `step`: epochs, iterations) at which the first rung judges a trial. */
    minResource: z.number().int().min(1).default(1),
    /** The step a trial that is never stopped reaches; rungs are at minResource x reductionFactor^k below it. */
    maxResource: z.number().int().min(2),
    /** At each rung, only the best 1/reductionFactor of the trials that reached it go on. */
    reductionFactor: z.number().int().min(2).max(100).default(3),
  })
  .refine((a) => a.minResource < a.maxResource, { message: "asha.minResource must be below asha.maxResource", path: ["minResource"] });
export type AshaSettings = z.output<typeof ashaSchema>;

/** A sweep: the body of POST /api/v1/sweeps and of `paved sweeps create -f sweep.yaml` (kind: Sweep). */
export const sweepSpecSchema = z
  .strictObject({
    apiVersion: z.literal("paved/v1").optional(),
    kind: z.literal("Sweep").optional(),
    name: z
      .string()
      .regex(/^[a-z0-9]([a-z0-9-]{0,48}[a-z0-9])?$/, "sweep names are lowercase letters, digits and '-' (at most 50, starting and ending alphanumeric: trials are named <sweep>-<n>), e.g. lr-search"),
    /** The experiment of the sweep's runs (a parent run, and a child run per trial); default: the sweep's name. */
    experiment: z.string().min(1).max(256).optional(),
    team: z.string().min(1).max(63).optional(),
    method: z.enum(SWEEP_METHODS),
    objective: z.strictObject({
      metric: z.string().regex(METRIC_KEY, "metric names use letters, digits, '_', '-', '.', '/', ' '"),
      goal: z.enum(OBJECTIVE_GOALS),
    }),
    parameters: z.record(z.string().regex(PARAMETER_NAME, "parameter names use letters, digits, '_', '-', '.', '/'"), parameterSpaceSchema).refine((p) => Object.keys(p).length > 0, "parameters needs at least one parameter"),
    /** How many trials to run; grid: default and at most the grid's size; random and asha: required. */
    maxTrials: z.number().int().min(1).max(MAX_TRIALS, `a sweep runs at most ${MAX_TRIALS} trials`).optional(),
    /** How many trials run at once (each one a job of the team: its quota and fair share apply). */
    parallelism: z.number().int().min(1).max(1000).default(1),
    /** Seeds random and ASHA sampling (trial n's parameters depend on the seed and n only); default: chosen at creation and shown. */
    seed: z.number().int().min(0).max(2 ** 31 - 1).optional(),
    asha: ashaSchema.optional(),
    trial: trialTemplateSchema,
  })
  .superRefine((s, ctx) => {
    if (s.method === "asha" && s.asha === undefined) {
      ctx.addIssue({ code: "custom", path: ["asha"], message: "method asha needs asha: { maxResource: <the last step>, minResource: 1, reductionFactor: 3 }" });
    }
    if (s.method !== "asha" && s.asha !== undefined) {
      ctx.addIssue({ code: "custom", path: ["asha"], message: `asha settings apply to method asha only (this sweep's method is ${s.method}); drop them or set method: asha` });
    }
    if (s.method !== "grid" && s.maxTrials === undefined) {
      ctx.addIssue({ code: "custom", path: ["maxTrials"], message: `method ${s.method} needs maxTrials (how many trials to sample)` });
    }
  });
export type SweepSpec = z.output<typeof sweepSpecSchema>;
export type SweepSpecInput = z.input<typeof sweepSpecSchema>;

/** CANCELLING and FAILING: no trial starts any more, and the running ones are being cancelled. */
export const SWEEP_PHASES = ["RUNNING", "CANCELLING", "FAILING", "SUCCEEDED", "FAILED", "CANCELLED"] as const;
export type SweepPhase = (typeof SWEEP_PHASES)[number];
export const TRIAL_PHASES = ["PENDING", "QUEUED", "RUNNING", "SUCCEEDED", "FAILED", "CANCELLED", "STOPPED"] as const;
export type TrialPhase = (typeof TRIAL_PHASES)[number];

const rungSchema = z.object({ rung: z.number().int(), resource: z.number().int(), value: z.number(), stopped: z.boolean().optional().describe("this rung stopped the trial") });
export type RungRecord = z.output<typeof rungSchema>;

export const trialSchema = z.object({
  index: z.number().int().describe("1, 2, 3, … in the order trials were started"),
  params: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])),
  jobId: z.string(),
  runId: z.string().nullable(),
  phase: z.enum(TRIAL_PHASES),
  /** The objective metric's last value (at its highest step), once the trial logged it. */
  objective: z.number().nullable(),
  objectiveStep: z.number().int().nullable(),
  /** ASHA: the trial's metric at each rung it reached. */
  rungs: z.array(rungSchema),
  message: z.string().nullable(),
});
export type TrialView = z.output<typeof trialSchema>;

export const sweepSchema = z.object({
  id: z.string(),
  name: z.string(),
  team: z.string(),
  owner: z.string(),
  phase: z.enum(SWEEP_PHASES),
  method: z.enum(SWEEP_METHODS),
  objective: z.object({ metric: z.string(), goal: z.enum(OBJECTIVE_GOALS) }),
  experimentId: z.string(),
  /** The sweep's parent run; each trial's run is its child (tag mlflow.parentRunId). */
  parentRunId: z.string().nullable(),
  seed: z.number().int(),
  parallelism: z.number().int(),
  /** How many trials the sweep runs in all. */
  trialsTarget: z.number().int(),
  counts: z.record(z.string(), z.number().int()),
  best: z
    .object({ index: z.number().int(), value: z.number(), params: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])), jobId: z.string(), runId: z.string().nullable(), link: z.string().nullable() })
    .nullable(),
  message: z.string().nullable(),
  createdAt: z.number(),
  finishedAt: z.number().nullable(),
  trials: z.array(trialSchema).optional(),
  events: z.array(z.object({ time: z.number(), type: z.string(), message: z.string() })).optional(),
  spec: z.unknown().optional(),
});
export type Sweep = z.output<typeof sweepSchema>;

export const sweepIdParamsSchema = z.object({ id: z.string().min(1).max(128) });
export const sweepListQuerySchema = z.object({ limit: z.coerce.number().int().min(1).max(1000).default(100) });
export const sweepListSchema = z.object({ sweeps: z.array(sweepSchema) });
