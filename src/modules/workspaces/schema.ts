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
});
export type CreateWorkspaceBody = z.output<typeof CreateWorkspaceBody>;

/** What a workspace was asked for, as stored. */
export interface WorkspaceSpec {
  profile: string;
  environment: string | null;
  experiment: string;
  fromRun: string | null;
}

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
