import { z } from "zod";
import type { Principal } from "../../core/index.ts";
import type { StepKind } from "./steps.ts";

/** What an `evaluate:` step needs of evaluation (app.ts passes its service). */
export interface EvaluateDeps {
  evaluate(model: string, version: string, body: Record<string, unknown>, principal: Principal): Promise<{ id: string }>;
  get(id: string): Promise<{ id: string; phase: string; message: string | null }>;
}

/**
 * `evaluate: { model, version, data, label, … }`: a gate evaluation of a model version. Succeeds when
 * it Passed; Failed (a check missed) or Error fails the step. Outputs: `evaluation_id`, `phase`.
 */
export function evaluateStep(deps: EvaluateDeps): StepKind {
  // Evaluation's own request (POST /api/v1/models/<m>/versions/<v>/evaluations), with the model and version in it.
  const schema = z.strictObject({
    model: z.string().min(1).max(256),
    version: z.union([z.string().min(1).max(64), z.number().int().min(1)]).transform(String),
    data: z.string().min(1).max(2048),
    label: z.string().min(1).max(256).default("label"),
    sensitive: z.array(z.string().min(1).max(256)).max(50).default([]),
    reference: z.string().min(1).max(2048).optional(),
  });
  return {
    kind: "evaluate",
    summary: "evaluates a model version against its gate policy (paved evaluate)",
    schema,
    outputs: () => ["evaluation_id", "phase"],
    async start(body, ctx) {
      const { model, version, ...rest } = body as { model: string; version: string } & Record<string, unknown>;
      const evaluation = await deps.evaluate(model, version, rest, ctx.principal);
      return { handle: evaluation.id };
    },
    async observe(handle) {
      const e = await deps.get(handle);
      if (e.phase === "Passed") return { state: "succeeded", outputs: { evaluation_id: e.id, phase: e.phase } };
      if (e.phase === "Failed" || e.phase === "Error") return { state: "failed", message: `evaluation ${e.id} ${e.phase}${e.message ? `: ${e.message}` : ""} (see \`paved evaluations show ${e.id}\`)` };
      return { state: "running" };
    },
  };
}

/** What a `register:` step needs of the registry. */
export interface RegisterDeps {
  register(input: { name: string; source: string; description?: string | undefined; team: string }, principal: Principal): Promise<{ name: string; version: string | number }>;
}

/**
 * `register: { name, source }`: registers a model version from a run's files, e.g.
 * `source: ${{ steps.train.outputs.artifacts }}`. Outputs: `model`, `version`, `uri` (models:/name/version).
 */
export function registerStep(deps: RegisterDeps): StepKind {
  return {
    kind: "register",
    summary: "registers a run's model files as a new model version (paved models register)",
    schema: z.strictObject({ name: z.string().min(1).max(256), source: z.string().min(1).max(2048), description: z.string().max(5000).optional() }),
    outputs: () => ["model", "version", "uri"],
    async start(body, ctx) {
      const b = body as { name: string; source: string; description?: string };
      const v = await deps.register({ ...b, team: ctx.team }, ctx.principal);
      return { handle: `${v.name}/${v.version}`, observation: { state: "succeeded", outputs: { model: v.name, version: String(v.version), uri: `models:/${v.name}/${v.version}` } } };
    },
    async observe(handle) {
      // Registration finishes inside start; a restart between the two left its version registered.
      const [model, version] = handle.split("/");
      return { state: "succeeded", outputs: { model, version, uri: `models:/${handle}` } };
    },
  };
}

/** What a `deploy:` step needs of deployments. */
export interface DeployDeps {
  /** Deployments' own body schema (model, version, strategy, steps, …). */
  schema: z.ZodType;
  create(body: unknown, principal: Principal): Promise<{ id: string }>;
  get(id: string): Promise<{ id: string; phase: string; message: string | null }>;
  rollback?(id: string): Promise<void>;
}

/**
 * `deploy: { model, version, strategy: canary, … }`: a rollout. Succeeds when it Succeeded (promoted);
 * RolledBack or Failed fails the step; cancelling the run rolls it back. Outputs: `deployment_id`.
 */
export function deployStep(deps: DeployDeps): StepKind {
  return {
    kind: "deploy",
    summary: "rolls a model version out (paved deploy: canary, A/B, shadow, replace)",
    schema: deps.schema,
    outputs: () => ["deployment_id"],
    async start(body, ctx) {
      return { handle: (await deps.create(body, ctx.principal)).id };
    },
    async observe(handle) {
      const d = await deps.get(handle);
      if (d.phase === "Succeeded") return { state: "succeeded", outputs: { deployment_id: d.id } };
      if (d.phase === "RolledBack" || d.phase === "Failed") return { state: "failed", message: `deployment ${d.id} ${d.phase}${d.message ? `: ${d.message}` : ""}` };
      return { state: "running" };
    },
    ...(deps.rollback ? { cancel: async (handle: string) => deps.rollback!(handle) } : {}),
  };
}
