import { PlatformError, TEAM_ROLES, notFound, type Action, type Principal, type ResourceRef, type TeamRole } from "../../core/index.ts";

/**
 * Who may take each action: the least team role (in the team that owns the resource), `platform`
 * for platform admins only, `anyone` for every authenticated caller, `self` for what belongs to the
 * caller (its tokens). docs/teams.md prints this table; a test checks the two agree.
 */
export const ACTION_RULES: Readonly<Record<Action, TeamRole | "platform" | "anyone" | "self">> = {
  "platform:read": "anyone",
  "catalog:read": "anyone",
  "lineage:read": "viewer",
  "webhooks:deliver": "anyone",
  "experiments:read": "viewer",
  "experiments:write": "developer",
  "runs:read": "viewer",
  "runs:create": "developer",
  "runs:write": "developer",
  "runs:delete": "developer",
  "tracking:gc": "platform",
  "models:read": "viewer",
  "models:write": "developer",
  "models:delete": "maintainer",
  "jobs:read": "viewer",
  "jobs:list": "viewer",
  "jobs:create": "developer",
  "jobs:write": "developer",
  "evaluations:read": "viewer",
  "evaluations:create": "developer",
  "gate-policies:read": "viewer",
  "gate-policies:write": "maintainer",
  "gates:override": "admin",
  "deployments:read": "viewer",
  "deployments:write": "developer",
  "serving:read": "viewer",
  "serving:infer": "viewer",
  "serving:admin": "platform",
  "teams:read": "viewer",
  "teams:create": "platform",
  "teams:write": "admin",
  "users:read": "platform",
  "users:write": "platform",
  "tokens:read": "self",
  "tokens:write": "self",
  "audit:read": "platform",
  "quotas:write": "platform",
  "costs:read": "viewer",
  "budgets:read": "viewer",
  "budgets:write": "admin",
  "policies:read": "viewer",
  "policies:write": "admin",
  "policies:admin": "platform",
  "workspaces:read": "developer",
  "workspaces:create": "developer",
  "workspaces:write": "developer",
  "workspaces:use": "developer",
  "sweeps:read": "viewer",
  "sweeps:create": "developer",
  "sweeps:write": "developer",
  "predictions:read": "viewer",
  "predictions:write": "developer",
  "pipelines:read": "viewer",
  "pipelines:write": "developer",
  "monitors:read": "viewer",
  "monitors:write": "developer",
  "alerts:read": "viewer",
  "alerts:write": "maintainer",
  "metrics:read": "platform",
  "adoption:read": "platform",
  "feedback:write": "self",
  "datasets:read": "viewer",
  "datasets:write": "developer",
  "features:read": "viewer",
  "features:write": "developer",
  "secrets:read": "developer",
  "secrets:write": "maintainer",
};

/** What a job's token may do in its job's team, whatever the resource: read what a training job reads, call served models. */
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

/** What a workspace's token may do besides a job's: submit jobs (`paved train` from a terminal) and read its team's jobs. */
const WORKSPACE_EXTRA: ReadonlySet<Action> = new Set<Action>(["jobs:create", "jobs:read", "jobs:list"]);

const JOB_SCOPE =
  "a job's token may only track its own job's runs (metrics, params, tags, artifacts, inputs), read experiments, runs and models of its team, and call its team's served models";
const WORKSPACE_SCOPE = "a workspace's token may do what a job's may, and submit and read jobs of its team";

const rank = (role: TeamRole | undefined): number => (role === undefined ? -1 : TEAM_ROLES.indexOf(role));

/** The strongest role the principal holds in any team. */
function bestRole(principal: Principal): TeamRole | undefined {
  let best: TeamRole | undefined;
  for (const role of Object.values(principal.teams)) if (rank(role) > rank(best)) best = role;
  return best;
}

/**
 * Whether the principal may take the action at all, before the resource is known. Routes are
 * checked with this before their body is read, so a refusal costs nothing.
 */
export function mayAttempt(principal: Principal, action: Action): boolean {
  if (principal.platformAdmin) return true;
  const rule = ACTION_RULES[action];
  if (principal.kind === "job") return JOB_READS.has(action) || JOB_OWNS.has(action) || (principal.workspaceId !== undefined && WORKSPACE_EXTRA.has(action));
  if (rule === "anyone") return true;
  if (principal.kind === "anonymous") return false;
  if (rule === "self") return true;
  if (rule === "platform") return false;
  return rank(bestRole(principal)) >= rank(rule);
}

/**
 * The teams whose resources the principal may read with `action` (lists and searches filter by
 * them); undefined means every team (platform admins).
 */
export function visibleTeams(principal: Principal, action: Action): string[] | undefined {
  if (principal.platformAdmin) return undefined;
  if (principal.kind === "job") return principal.team && (JOB_READS.has(action) || (principal.workspaceId !== undefined && WORKSPACE_EXTRA.has(action))) ? [principal.team] : [];
  const rule = ACTION_RULES[action];
  if (rule === "anyone") return undefined;
  if (rule === "platform" || rule === "self") return [];
  return Object.entries(principal.teams)
    .filter(([, role]) => rank(role) >= rank(rule))
    .map(([team]) => team);
}

/**
 * The one authorization policy: allows the action or throws with the reason and the fix. A
 * resource of a team the principal is not in answers exactly as a missing one would (NOT_FOUND);
 * a role too weak for the action is FORBIDDEN. Called for every route (by `http/`) with the
 * resource the route loaded, and by domain code that decides on its own path.
 */
export function authorize(principal: Principal, action: Action, resource?: ResourceRef): void {
  if (principal.platformAdmin) return;
  if (principal.kind === "job") return authorizeJob(principal, action, resource);
  const rule = ACTION_RULES[action];
  if (rule === "anyone") return;
  if (principal.kind === "anonymous") throw new PlatformError("UNAUTHENTICATED", "this needs a token; set PAVED_TOKEN or run `paved login`");
  if (rule === "platform") {
    throw new PlatformError("FORBIDDEN", `'${action}' needs a platform admin (you are '${principal.name}'); ask one of this Paved server's admins`, { action });
  }
  if (rule === "self") {
    if (resource?.userId !== undefined && resource.userId !== principal.userId) throw hidden(resource);
    return;
  }
  if (resource?.team === undefined) {
    // Not tied to one team yet (a list, or a route whose team comes later): some team must allow it.
    if (rank(bestRole(principal)) >= rank(rule)) return;
    throw tooWeak(principal, action, rule, bestRole(principal));
  }
  const role = principal.teams[resource.team];
  if (role === undefined) throw hidden(resource);
  if (resource.users !== undefined && !resource.users.includes(principal.name)) {
    // A workspace is its owner's and whom they share it with: to the rest of its team it is missing,
    // except that the team's admins may see and stop it (never use it).
    if (action === "workspaces:use" || role !== "admin") throw hidden(resource);
  }
  if (rank(role) < rank(rule)) throw tooWeak(principal, action, rule, role, resource.team);
}

function authorizeJob(principal: Principal, action: Action, resource: ResourceRef | undefined): void {
  if (principal.workspaceId !== undefined && WORKSPACE_EXTRA.has(action)) {
    // Its own team only, as the workspace's owner would submit from it.
    if (resource?.team !== undefined && resource.team !== principal.team) throw hidden(resource);
    return;
  }
  if (!JOB_READS.has(action) && !JOB_OWNS.has(action)) {
    if (principal.workspaceId !== undefined) {
      throw new PlatformError("FORBIDDEN", `${WORKSPACE_SCOPE}; '${action}' needs a person's token (run \`paved login\` in the workspace's terminal)`, { action });
    }
    throw new PlatformError("FORBIDDEN", `${JOB_SCOPE}; '${action}' needs a person's token (run it outside the job, after \`paved login\`)`, { action });
  }
  if (resource?.team !== undefined && resource.team !== principal.team) throw hidden(resource);
  if (!JOB_OWNS.has(action)) return;
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
  throw new PlatformError("FORBIDDEN", `${JOB_SCOPE}; ${resource.kind} ${resource.id} is not part of job ${principal.jobId}`, {
    action,
    resource: `${resource.kind}/${resource.id}`,
  });
}

/** What a resource of another team answers: the same as a missing one. */
function hidden(resource: ResourceRef): Error {
  return resource.notFound?.() ?? notFound(`${resource.kind} '${resource.id}' does not exist`);
}

function tooWeak(principal: Principal, action: Action, needed: TeamRole, held: TeamRole | undefined, team?: string): PlatformError {
  const where = team ? `in team '${team}'` : "in any of your teams";
  const you = held ? `you are ${held}` : "you belong to no team";
  return new PlatformError("FORBIDDEN", `'${action}' needs the ${needed} role ${where} (${you}); ask an admin of the team to change your role`, {
    action,
    needed,
    ...(team ? { team } : {}),
    principal: principal.name,
  });
}
