import { z } from "zod";

export const DeploymentPhase = z.enum(["Progressing", "Paused", "Succeeded", "RolledBack", "Failed"]);
export type DeploymentPhase = z.infer<typeof DeploymentPhase>;
export const Strategy = z.enum(["canary", "replace"]);

export const AnalysisThresholds = z.strictObject({
  maxErrorRateIncrease: z.number().min(0).max(1).default(0.05).describe("largest allowed canary error rate minus stable error rate (0..1)"),
  maxLatencyRatio: z.number().positive().default(2).describe("largest allowed canary p99 / stable p99"),
});

export const CreateDeploymentBody = z
  .strictObject({
    model: z.string().min(1),
    version: z.string().min(1).optional().describe("version number"),
    alias: z.string().min(1).optional().describe("an alias naming the version (resolved once, at creation)"),
    environment: z.string().regex(/^[a-z][a-z0-9-]{0,62}$/).default("production"),
    strategy: Strategy.default("canary"),
    steps: z.array(z.number().int().min(1).max(100)).min(1).max(20).default([10, 50, 100]).describe("canary traffic percentages, increasing, ending at 100"),
    stepIntervalSeconds: z.number().min(0.05).max(86_400).default(30),
    analysis: AnalysisThresholds.default({ maxErrorRateIncrease: 0.05, maxLatencyRatio: 2 }),
  })
  .refine((b) => (b.version === undefined) !== (b.alias === undefined), { message: "give exactly one of version and alias" })
  .refine((b) => b.steps.every((s, i) => i === 0 || s > b.steps[i - 1]!) && b.steps[b.steps.length - 1] === 100, {
    message: "steps must increase and end at 100, e.g. [10, 50, 100]",
  });
export type CreateDeploymentBody = z.infer<typeof CreateDeploymentBody>;

export const DeploymentSpec = z.object({
  model: z.string(),
  version: z.string(),
  environment: z.string(),
  strategy: Strategy,
  steps: z.array(z.number()),
  stepIntervalSeconds: z.number(),
  analysis: z.object({ maxErrorRateIncrease: z.number(), maxLatencyRatio: z.number() }),
});
export type DeploymentSpec = z.infer<typeof DeploymentSpec>;

export const DeploymentEvent = z.object({ time: z.number(), reason: z.string() });

export const DeploymentStatus = z.object({
  phase: DeploymentPhase,
  stableVersion: z.string().nullable(),
  canaryVersion: z.string().nullable(),
  canaryWeight: z.number(),
  currentStep: z.number().describe("index into steps; -1 before the first"),
  stepStartedAt: z.number().nullable(),
  testsDone: z.boolean(),
  history: z.array(DeploymentEvent),
});
export type DeploymentStatus = z.infer<typeof DeploymentStatus>;

export const DeploymentView = z.object({
  id: z.string(),
  spec: DeploymentSpec,
  status: DeploymentStatus,
  paused: z.boolean(),
  requested: z.string().nullable(),
  createdBy: z.string(),
  createdAt: z.number(),
  updatedAt: z.number(),
});
export type DeploymentView = z.infer<typeof DeploymentView>;

export const DeploymentList = z.object({ deployments: z.array(DeploymentView) });
export const DeploymentIdParams = z.object({ id: z.string().min(1) });
export const ListDeploymentsQuery = z.object({ model: z.string().min(1).optional() });
