import { PlatformError, type Action, type Principal, type ResourceRef } from "../../core/index.ts";

/**
 * What a user may not do until the teams issue brings maintainer roles: changing what the
 * production gate checks or forcing past it, and loading models on serving by hand.
 */
const ADMIN_ONLY: ReadonlySet<Action> = new Set<Action>(["gate-policies:write", "gates:override", "serving:admin"]);

/**
 * What a job's token may do whatever the resource: read what a training job reads, and call a
 * served model (batch scoring, distillation), which changes nothing but metrics.
 */
const JOB_READS: ReadonlySet<Action> = new Set<Action>([
  "platform:read",
  "catalog:read",
  "experiments:read",
  "runs:read",
  "models:read",
  "serving:read",
  "serving:infer",
]);

/** What a job's token may do to resources of its own job only. */
const JOB_OWNS: ReadonlySet<Action> = new Set<Action>(["runs:write", "runs:create", "jobs:read"]);

const JOB_SCOPE =
  "a job's token may only track its own job's runs (metrics, params, tags, artifacts, inputs), read experiments, runs and models, and call served models";

/**
 * Whether the principal may take the action at all, before the resource is known. Routes are
 * checked with this before their body is read, so a refusal costs nothing.
 */
export function mayAttempt(principal: Principal, action: Action): boolean {
  switch (principal.role) {
    case "admin":
      return true;
    case "user":
      return !ADMIN_ONLY.has(action);
    case "job":
      return JOB_READS.has(action) || JOB_OWNS.has(action);
    default:
      return false;
  }
}

/**
 * The one authorization policy: allows the action or throws FORBIDDEN with the reason and the
 * fix. Called for every route (by `http/`) with the resource the route loaded, if any.
 */
export function authorize(principal: Principal, action: Action, resource?: ResourceRef): void {
  if (!mayAttempt(principal, action)) {
    if (principal.role === "job") {
      throw new PlatformError("FORBIDDEN", `${JOB_SCOPE}; '${action}' needs a user's token (run it outside the job, after \`paved login\`)`, {
        action,
      });
    }
    throw new PlatformError("FORBIDDEN", `'${action}' needs the admin role (you are '${principal.role}'); ask an admin of this Paved server`, {
      action,
    });
  }
  if (principal.role !== "job" || !JOB_OWNS.has(action)) return;
  if (!resource) {
    // An ownership action on a route that did not say what it touches: refuse rather than guess.
    throw new PlatformError("FORBIDDEN", `${JOB_SCOPE}; '${action}' here is not tied to one of its runs`, { action });
  }
  if (action === "runs:create") {
    if (resource.experimentId !== undefined && resource.experimentId === principal.experimentId) return;
    throw new PlatformError(
      "FORBIDDEN",
      `${JOB_SCOPE}; it may start runs only in its job's experiment ${principal.experimentId ?? "(unknown)"}, not ${resource.experimentId ?? "(none)"} (use MLFLOW_EXPERIMENT_ID as Paved sets it)`,
      { action, experimentId: resource.experimentId },
    );
  }
  if (resource.jobId !== undefined && resource.jobId !== null && resource.jobId === principal.jobId) return;
  throw new PlatformError(
    "FORBIDDEN",
    `${JOB_SCOPE}; ${resource.kind} ${resource.id} is not part of job ${principal.jobId}`,
    { action, resource: `${resource.kind}/${resource.id}` },
  );
}
