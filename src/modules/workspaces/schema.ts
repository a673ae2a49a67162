import { z } from "zod";

const NAME = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

export const WORKSPACE_PHASES = ["PENDING", "STARTING", "RUNNING", "STOPPING", "STOPPED", "FAILED"] as const;
export const WorkspacePhase = z.enum(WORKSPACE_PHASES);
export type WorkspacePhase = z.output<typeof WorkspacePhase>;
/** Phases in which a workspace holds (or waits for) its job. */
export const ACTIVE_WORKSPACE_PHASES: readonly WorkspacePhase[] = ["PENDING", "STARTING", "RUNNING", "STOPPING"];

/** POST /api/v1/workspaces: what `paved workspace create` sends. */
export const CreateWorkspaceBody = z.strictObject({
  name: z.string().regex(NAME, "workspace names are lowercase letters, digits and '-' (at most 63), e.g. churn-eda").optional().describe("default: <your name>-<a few letters>"),
  profile: z.string().min(1).max(63).optional().describe("the compute profile (paved profiles ls); default: workspaces.defaultProfile"),
  environment: z.string().min(1).max(128).optional().describe("an environment of the catalog, NAME or NAME@VERSION (paved workspace envs); default: the server's Python"),
  experiment: z.string().min(1).max(256).optional().describe("where `mlflow.start_run()` records runs; default: the workspace's name"),
  team: z.string().min(1).max(63).optional(),
  fromRun: z.string().min(1).max(128).optional().describe("open the workspace on this run's code, parameters, environment and datasets"),
  fromModel: z
    .string()
    .regex(/^[^@\s]{1,256}@[A-Za-z0-9_.-]{1,64}$/, "give a registered model's version as NAME@VERSION or NAME@ALIAS, e.g. churn@3")
    .optional()
    .describe("open the workspace on the run that produced this model version (NAME@VERSION or NAME@ALIAS)"),
});
export type CreateWorkspaceBody = z.output<typeof CreateWorkspaceBody>;

/** What a workspace was asked for, as stored. */
export interface WorkspaceSpec {
  profile: string;
  /** The environment as asked for and resolved: NAME@VERSION; null: the server's Python. */
  environment: string | null;
  experiment: string;
  fromRun: string | null;
  fromModel?: string | null;
  /** The warm pool (profile/team) a waiting server belongs to; absent once it is handed out. */
  pool?: string;
}

/** A requirement of an environment: a distribution name and optional version specifiers (no URLs, markers or options). */
const REQUIREMENT = /^[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?(\[[A-Za-z0-9._,-]+\])?\s*((~=|==|!=|<=|>=|<|>|===)\s*[A-Za-z0-9.*+!_-]+)?(\s*,\s*(~=|==|!=|<=|>=|<|>|===)\s*[A-Za-z0-9.*+!_-]+)*$/;

/** One environment of the catalog file. */
export const EnvironmentEntry = z.strictObject({
  name: z.string().regex(/^[a-z0-9][a-z0-9_-]{0,62}$/, "environment names are lowercase letters, digits, '-' and '_'"),
  version: z.union([z.string(), z.number()]).transform(String).pipe(z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$/, "versions are letters, digits, '.', '-' and '_', e.g. 2 or 2024.1")),
  description: z.string().default(""),
  /** The base interpreter, by full path: the virtualenv is made from it (with its site packages). */
  python: z.string().startsWith("/", "give the interpreter's full path, e.g. /usr/bin/python3").default("/usr/bin/python3"),
  /** pip requirements (name and version specifiers), e.g. "torch", "scikit-learn>=1.2". */
  packages: z.array(z.string().regex(REQUIREMENT, "a package is a name with optional version specifiers, e.g. scikit-learn>=1.2")).max(200).default([]),
});
export type EnvironmentEntry = z.output<typeof EnvironmentEntry>;
export const EnvironmentsFile = z.strictObject({ environments: z.array(EnvironmentEntry).max(500) });

/** An environment as `paved workspace envs` shows it: what it holds and whether its virtualenv is built. */
export const EnvironmentView = z.object({
  name: z.string(),
  version: z.string(),
  ref: z.string().describe("NAME@VERSION, what --env takes"),
  description: z.string(),
  python: z.string(),
  packages: z.array(z.string()),
  digest: z.string().describe("what its virtualenv is keyed by: the interpreter, the packages and where they may come from"),
  built: z.boolean(),
  builtAt: z.number().nullable(),
  buildMs: z.number().nullable(),
  pythonVersion: z.string().nullable(),
});
export type EnvironmentView = z.output<typeof EnvironmentView>;
export const EnvironmentList = z.object({ environments: z.array(EnvironmentView) });

export const WorkspaceEvent = z.object({ time: z.number(), type: z.string(), message: z.string() });
export type WorkspaceEvent = z.output<typeof WorkspaceEvent>;

export const WorkspaceView = z.object({
  id: z.string(),
  name: z.string(),
  team: z.string(),
  owner: z.string(),
  sharedWith: z.array(z.string()),
  phase: WorkspacePhase,
  profile: z.string(),
  environment: z.string().nullable(),
  experiment: z.string(),
  experimentId: z.string(),
  fromRun: z.string().nullable(),
  fromModel: z.string().nullable(),
  /** Where it is reached: Paved's own URL, never the Jupyter server's. */
  url: z.string(),
  jobId: z.string().nullable(),
  session: z.number().int(),
  message: z.string().nullable(),
  /** Why it waits to start (the job's pending reason: which resource or quota, and the fix). */
  pending: z.unknown().optional(),
  gpus: z.array(z.number().int()),
  createdAt: z.number(),
  /** When the current session was asked for. */
  requestedAt: z.number().nullable(),
  /** When its kernel first answered in the current session, and how long that took. */
  readyAt: z.number().nullable(),
  readyMs: z.number().nullable(),
  lastActivityAt: z.number().nullable(),
  /** When it will be stopped for want of use, if nothing happens before (running workspaces). */
  idleStopAt: z.number().nullable(),
  homeBytes: z.number(),
  events: z.array(WorkspaceEvent),
});
export type WorkspaceView = z.output<typeof WorkspaceView>;
export const WorkspaceList = z.object({ workspaces: z.array(WorkspaceView) });

export const WorkspaceIdParams = z.object({ id: z.string().min(1).max(128) });
export const WorkspaceListQuery = z.object({
  all: z
    .enum(["true", "false", "1", "0"])
    .optional()
    .transform((v) => v === "true" || v === "1")
    .describe("team admins: every workspace of their teams, not only their own and shared ones"),
});
export const ShareWorkspaceBody = z.strictObject({
  add: z.array(z.string().min(1).max(128)).max(100).default([]),
  remove: z.array(z.string().min(1).max(128)).max(100).default([]),
});
export const OpenWorkspaceAnswer = z.object({
  url: z.string().describe("opens the workspace in a browser once: the code in it works for 2 minutes and only once"),
  expiresAt: z.number(),
});

/** Ready times per profile (ms from the request to a kernel answering), for `paved workspace stats`. */
export const ReadyStats = z.object({
  profiles: z.array(
    z.object({
      profile: z.string(),
      sessions: z.number().int(),
      p50Ms: z.number().nullable(),
      p95Ms: z.number().nullable(),
      fromPool: z.number().int(),
    }),
  ),
});
