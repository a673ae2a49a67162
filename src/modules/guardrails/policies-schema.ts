import { z } from "zod";
import { TEAM_ROLES, parseDurationSeconds } from "../../core/index.ts";

/** The rules a policy document may set; each is optional (absent: no limit). */
export const POLICY_RULES = ["allowedProfiles", "maxGpusPerJob", "maxRuntime", "productionMovers", "requiredGatePolicy", "allowGateOverrides", "allowExecutorArgs", "allowHostAccess"] as const;
export type PolicyRule = (typeof POLICY_RULES)[number];

/** A role of the model's team (that role or a stronger one may move production), or `user:<name>`. */
const mover = z.union([z.enum(TEAM_ROLES), z.string().regex(/^user:[a-z0-9][a-z0-9._@-]{0,127}$/, "name a role (viewer, developer, maintainer, admin) or a user as user:<name>")]);

/**
 * A policy document (`paved policy set -f policy.yaml`): the platform's, or a team's. A team's
 * policy narrows the platform's and never widens it: a request must satisfy both.
 */
export const PolicyDocument = z.strictObject({
  apiVersion: z.literal("paved/v1").optional(),
  kind: z.literal("Policy").optional(),
  description: z.string().max(2000).optional(),
  /** Profiles jobs may ask for; a job must name one of them (raw resources are refused). */
  allowedProfiles: z.array(z.string().min(1).max(63)).min(1).max(1000).optional(),
  /** Most GPUs one job may ask for. */
  maxGpusPerJob: z.number().int().min(0).optional(),
  /** Longest maxRuntime a job may set, and every job must set one: "12h", "30m", "2d" or seconds. */
  maxRuntime: z
    .union([z.number().positive(), z.string()])
    .transform((value, ctx) => {
      const seconds = typeof value === "number" ? value : parseDurationSeconds(value);
      if (seconds === undefined || seconds <= 0) {
        ctx.addIssue({ code: "custom", message: `'${String(value)}' is not a duration; write e.g. "12h", "30m", "1h30m", "2d" or a number of seconds` });
        return z.NEVER;
      }
      return seconds;
    })
    .optional(),
  /** Who may move a model's `production` alias (and deploy to production): roles in the model's team, or users. */
  productionMovers: z.array(mover).min(1).max(1000).optional(),
  /** The gate policy (as `paved evaluations policy set` takes it) every model must be judged by. */
  requiredGatePolicy: z.record(z.string(), z.unknown()).optional(),
  /** false: nobody may force the production gate or a production rollout's analysis, admins included. */
  allowGateOverrides: z.boolean().optional(),
  /** false: jobs may not use profiles that pass raw executor arguments (a profile's `slurm.extraArgs` or `kubernetes.podSpecPatch`). */
  allowExecutorArgs: z.boolean().optional(),
  /**
   * true (platform policy only): profiles' pod spec patches may reach the host (hostPath volumes,
   * privileged containers, host namespaces, added capabilities). Unset or false: refused; a team's
   * false narrows the platform's true.
   */
  allowHostAccess: z.boolean().optional(),
});
export type PolicyDocument = z.output<typeof PolicyDocument>;

/** The rules of one stored policy version, as the API shows them (maxRuntime in seconds). */
export const PolicyRules = z.object({
  allowedProfiles: z.array(z.string()).optional(),
  maxGpusPerJob: z.number().optional(),
  maxRuntimeSeconds: z.number().optional(),
  productionMovers: z.array(z.string()).optional(),
  requiredGatePolicy: z
    .object({ version: z.string().describe("the gate policy's content hash, as `paved evaluations policy show` prints it"), policy: z.unknown() })
    .optional(),
  allowGateOverrides: z.boolean().optional(),
  allowExecutorArgs: z.boolean().optional(),
  allowHostAccess: z.boolean().optional(),
});
export type PolicyRules = z.output<typeof PolicyRules>;

/** One version of the platform's or a team's policy. */
export const PolicyView = z.object({
  scope: z.string().describe("platform, or team:<name>"),
  version: z.number().describe("0 while none was ever set"),
  document: z.string().describe("the YAML as it was set"),
  rules: PolicyRules,
  createdBy: z.string().nullable(),
  createdAt: z.number().nullable(),
});
export type PolicyView = z.output<typeof PolicyView>;

export const PolicyHistory = z.object({ versions: z.array(PolicyView) });

/** What a team is held to: the platform's policy and its own, both in force. */
export const EffectivePolicyView = z.object({
  team: z.string().nullable(),
  platform: PolicyView,
  teamPolicy: PolicyView.nullable().describe("null when asked without a team"),
});
export type EffectivePolicyView = z.output<typeof EffectivePolicyView>;

export const PutPolicyBody = z.strictObject({
  yaml: z.string().max(256 * 1024).describe("the policy document as YAML (or JSON); an empty document clears every rule"),
});

export const PolicyTeamParams = z.object({ team: z.string().min(1).max(63) });
export const PolicyQuery = z.object({ team: z.string().min(1).max(63).optional().describe("also the team's own policy") });
export const PolicyHistoryQuery = z.object({ limit: z.coerce.number().int().min(1).max(1000).default(50) });

/** One broken rule, as a refusal names it in `details.violations`. */
export const PolicyViolation = z.object({
  rule: z.enum(POLICY_RULES),
  scope: z.string(),
  version: z.number(),
  message: z.string(),
});
export type PolicyViolation = z.output<typeof PolicyViolation>;
