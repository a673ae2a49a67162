import { z } from "zod";
import { route, type RouteDefinition } from "../../core/index.ts";
import {
  EvaluateBody,
  EvaluationIdParams,
  EvaluationParams,
  EvaluationUploadView,
  EvaluationView,
  GateOverridesResponse,
  GatePolicyHistoryResponse,
  GatePolicyView,
  GateStatusView,
  ListEvaluationsQuery,
  ListEvaluationsResponse,
  PutGatePolicyBody,
} from "./schema.ts";
import type { EvaluationService } from "./service.ts";

const ModelNameParams = z.object({ name: z.string().min(1) });
const HistoryQuery = z.object({ limit: z.coerce.number().int().min(1).max(1000).default(100) });

/** Paved's evaluation API under /api/v1. */
export function evaluationRoutes(service: EvaluationService): RouteDefinition[] {
  const tags = ["evaluation"];
  return [
    route({
      method: "GET",
      url: "/api/v1/models/:name/gate-policy",
      summary: "The model's gate policy (its own, or the built-in default) with its version",
      action: "gate-policies:read",
      tags,
      params: ModelNameParams,
      response: GatePolicyView,
      handler: async ({ params }) => service.getPolicy(params.name),
    }),
    route({
      method: "PUT",
      url: "/api/v1/models/:name/gate-policy",
      summary: "Store the model's own gate policy, as YAML text ({yaml}) or JSON ({policy})",
      action: "gate-policies:write",
      tags,
      params: ModelNameParams,
      body: PutGatePolicyBody,
      response: GatePolicyView,
      handler: async ({ params, body, principal }) => service.putPolicy(params.name, "yaml" in body ? body.yaml : body.policy, principal.name),
    }),
    route({
      method: "GET",
      url: "/api/v1/models/:name/gate-policy/history",
      summary: "Every change of the model's gate policy: who, when, the policy before and after (newest first)",
      action: "gate-policies:read",
      tags,
      params: ModelNameParams,
      query: HistoryQuery,
      response: GatePolicyHistoryResponse,
      handler: async ({ params, query }) => ({ changes: await service.policyHistory(params.name, query.limit) }),
    }),
    route({
      method: "POST",
      url: "/api/v1/evaluation-data",
      summary: "Upload a CSV to evaluate on (the raw bytes as the body, at most evaluation.maxDataBytes); answers its uploads:/<sha256> URI for an evaluation's data or reference",
      action: "evaluations:create",
      tags,
      rawBody: true,
      response: EvaluationUploadView,
      handler: async ({ stream, principal }) => service.upload(stream, principal.name),
    }),
    route({
      method: "GET",
      url: "/api/v1/models/:name/gate-overrides",
      summary: "Admin overrides of the model's production gate: who, when, why (newest first)",
      action: "gate-policies:read",
      tags,
      params: ModelNameParams,
      response: GateOverridesResponse,
      handler: async ({ params }) => ({ overrides: await service.overrides(params.name) }),
    }),
    route({
      method: "GET",
      url: "/api/v1/models/:name/gate-status",
      summary: "Per version, what the production gate decides under the model's current policy (passed, failed, none) and any evaluation in progress",
      action: "evaluations:read",
      tags,
      params: ModelNameParams,
      response: GateStatusView,
      handler: async ({ params }) => service.gateStatus(params.name),
    }),
    route({
      method: "POST",
      url: "/api/v1/models/:name/versions/:version/evaluations",
      summary: "Ask for an evaluation of a version (number or alias) against the model's gate policy, on a CSV the platform stores (runs:/, mlflow-artifacts:/, models:/ or uploads:/ URI; never a server path); answers at once with it Pending (poll GET /api/v1/evaluations/:id)",
      action: "evaluations:create",
      tags,
      params: EvaluationParams,
      body: EvaluateBody,
      response: EvaluationView,
      handler: async ({ params, body, principal }) => service.evaluate(params.name, params.version, body, principal.name),
    }),
    route({
      method: "GET",
      url: "/api/v1/evaluations/:id",
      summary: "One evaluation with its per-check figures, thresholds and fix hints",
      action: "evaluations:read",
      tags,
      params: EvaluationIdParams,
      response: EvaluationView,
      handler: async ({ params }) => service.get(params.id),
    }),
    route({
      method: "GET",
      url: "/api/v1/evaluations",
      summary: "Evaluations, newest first, by model and version",
      action: "evaluations:read",
      tags,
      query: ListEvaluationsQuery,
      response: ListEvaluationsResponse,
      handler: async ({ query }) => ({ evaluations: await service.list(query) }),
    }),
  ];
}
