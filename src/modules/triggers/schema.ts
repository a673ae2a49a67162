import { z } from "zod";
import { parameterValueSchema } from "../pipelines/schema.ts";

/** Most triggers one pipeline has. */
export const MAX_TRIGGERS_PER_PIPELINE = 20;
/** Most firings a trigger shows (the newest). */
export const SHOWN_FIRINGS = 20;

const PARAM = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]{0,62}$/, "parameter names use letters, digits and '_', not starting with a digit");

export const CronTrigger = z.strictObject({
  schedule: z.string().min(1).max(200).describe("crontab's five fields in the time zone, e.g. '0 3 * * 1-5', or @hourly, @daily, @weekly, @monthly, @yearly"),
  timeZone: z.string().min(1).max(64).default("UTC").describe("an IANA time zone, e.g. Europe/Berlin"),
  missed: z
    .enum(["run-once", "skip"])
    .default("run-once")
    .describe("firings missed while Paved was down: run-once starts one run for the latest of them when Paved is back; skip starts none"),
});

export const DatasetTrigger = z.strictObject({
  name: z.string().min(1).max(128).describe("the dataset whose new versions start a run"),
  param: PARAM.default("dataset").describe("the parameter that gets the new version's reference (datasets:/<name>@<version>)"),
});

export const GitTrigger = z.strictObject({
  repository: z.string().min(1).max(256).describe("the repository as the push names it: owner/name (GitHub's full_name, GitLab's path_with_namespace)"),
  branch: z.string().min(1).max(256).default("main").describe("pushes to this branch start a run; others are answered and ignored"),
  url: z.string().min(2).max(1024).describe("where Paved fetches the pushed commit: an https URL or a folder on this machine, under triggers.allowedRemotes"),
  secret: z.string().min(1).max(128).describe("the name of the team secret holding the webhook's secret (paved secrets set)"),
  commitParam: PARAM.default("commit").describe("the parameter that gets the pushed commit"),
  checkoutParam: PARAM.default("checkout").describe("the parameter that gets the folder holding the commit's files (a job step's workingDir)"),
});

/** POST /api/v1/pipelines/:name/triggers: exactly one of cron, dataset, git. */
export const CreateTriggerBody = z
  .strictObject({
    name: z
      .string()
      .regex(/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/, "trigger names are lowercase letters, digits and '-', e.g. nightly")
      .optional()
      .describe("unique within the pipeline (default: its kind)"),
    params: z.record(PARAM, parameterValueSchema).default({}).describe("parameters every run it starts gets (over the pipeline's defaults)"),
    cron: CronTrigger.optional(),
    dataset: DatasetTrigger.optional(),
    git: GitTrigger.optional(),
  })
  .refine((b) => [b.cron, b.dataset, b.git].filter((k) => k !== undefined).length === 1, { message: "give exactly one of cron, dataset and git" });
export type CreateTriggerBody = z.output<typeof CreateTriggerBody>;

export const TRIGGER_KINDS = ["cron", "dataset", "git"] as const;
export type TriggerKind = (typeof TRIGGER_KINDS)[number];

export const FiringView = z.object({
  key: z.string().describe("what fired: cron:<time>, dataset:<name>@<version>, git:<commit>"),
  runId: z.string().describe("the pipeline run it started (or would have)"),
  outcome: z.enum(["pending", "started", "refused"]).describe("pending: recorded, starting; refused: see message"),
  message: z.string().nullable(),
  params: z.record(z.string(), z.unknown()),
  createdAt: z.number(),
});
export type FiringView = z.output<typeof FiringView>;

export const TriggerView = z.object({
  id: z.string(),
  name: z.string(),
  pipeline: z.string(),
  team: z.string(),
  kind: z.enum(TRIGGER_KINDS),
  params: z.record(z.string(), z.unknown()),
  cron: CronTrigger.optional(),
  dataset: DatasetTrigger.optional(),
  git: GitTrigger.optional(),
  webhook: z.string().nullable().describe("git: the path to point the repository's push webhook at (POST, application/json)"),
  next: z.number().nullable().describe("cron: when it fires next (ms since the epoch)"),
  state: z.record(z.string(), z.unknown()),
  firings: z.array(FiringView).describe(`the newest ${SHOWN_FIRINGS}`),
  createdBy: z.string(),
  createdAt: z.number(),
});
export type TriggerView = z.output<typeof TriggerView>;

export const PipelineNameParams = z.object({ name: z.string().min(1).max(63) });
export const TriggerIdParams = z.object({ id: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/) });

/** What a webhook delivery is answered: what it started, or why it starts nothing. */
export const DeliveryAnswer = z.object({
  outcome: z.enum(["accepted", "replayed", "ignored"]),
  runId: z.string().nullable(),
  message: z.string(),
});
