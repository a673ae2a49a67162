import type { IncomingMessage, ServerResponse } from "node:http";
import type { Duplex, Readable } from "node:stream";
import type { z } from "zod";

/** A member's role in a team, weakest first: each may do what the ones before it may. */
export const TEAM_ROLES = ["viewer", "developer", "maintainer", "admin"] as const;
export type TeamRole = (typeof TEAM_ROLES)[number];

/** Who is calling: resolved from the bearer token by `http/`, handed to every route. */
export interface Principal {
  /** The user's or service account's name; `job:<id>` for a job's token. */
  name: string;
  kind: "user" | "service" | "job" | "anonymous";
  /** The user or service account behind the token; for a job's token, whoever submitted the job. */
  userId?: string;
  /** May do everything, in every team. */
  platformAdmin: boolean;
  /** The teams the principal belongs to, with its role in each. A job's token has none (see `team`). */
  teams: Readonly<Record<string, TeamRole>>;
  /**
   * The team new resources go to when a request names none: a personal token's team, or a job's
   * team for a job's token.
   */
  team?: string;
  /** Set for the token Paved mints for a running job. */
  jobId?: string;
  /** For a job's token: the experiment of its job, the only one it may start runs in. */
  experimentId?: string;
  /** For a job's token: the name of whoever submitted the job (the author of its runs). */
  onBehalfOf?: string;
  /** For the token of a workspace's server (a job's token with more rights: it may submit jobs): the workspace. */
  workspaceId?: string;
}

/** What a route handler sees: already-validated input, never the HTTP framework. */
export interface RouteContext<P, Q, B> {
  params: P;
  query: Q;
  body: B;
  principal: Principal;
  headers: Record<string, string | string[] | undefined>;
  /** The request body as a stream, for routes declared with `rawBody: true` (uploads). */
  stream?: Readable;
  /** Aborted when the client goes away (for long polls and follows). */
  signal: AbortSignal;
}

/**
 * Every action a route can take, as `<resource kind>:<verb>`. identity's one policy decides
 * (principal, action, resource) before a handler runs; a route without an action does not compile.
 */
export const ACTIONS = [
  "platform:read",
  "catalog:read",
  "lineage:read",
  "webhooks:deliver",
  "experiments:read",
  "experiments:write",
  "runs:read",
  "runs:create",
  "runs:write",
  "runs:delete",
  "tracking:gc",
  "models:read",
  "models:write",
  "models:delete",
  "jobs:read",
  "jobs:list",
  "jobs:create",
  "jobs:write",
  "evaluations:read",
  "evaluations:create",
  "gate-policies:read",
  "gate-policies:write",
  "gates:override",
  "deployments:read",
  "deployments:write",
  "serving:read",
  "serving:infer",
  "serving:admin",
  "teams:read",
  "teams:create",
  "teams:write",
  "users:read",
  "users:write",
  "tokens:read",
  "tokens:write",
  "audit:read",
  "quotas:write",
  "costs:read",
  "budgets:read",
  "budgets:write",
  "policies:read",
  "policies:write",
  "policies:admin",
  "workspaces:read",
  "workspaces:create",
  "workspaces:write",
  "workspaces:use",
  "sweeps:read",
  "sweeps:create",
  "sweeps:write",
  "predictions:read",
  "predictions:write",
  "pipelines:read",
  "pipelines:write",
  "monitors:read",
  "monitors:write",
  "alerts:read",
  "alerts:write",
  "metrics:read",
  "adoption:read",
  "feedback:write",
  "datasets:read",
  "datasets:write",
  "features:read",
  "features:write",
  "secrets:read",
  "secrets:write",
] as const;
export type Action = (typeof ACTIONS)[number];

/**
 * What an action touches, as far as the policy needs to know: its kind, the team that owns it,
 * and the attributes ownership depends on (the job a run belongs to, the user a token belongs to).
 */
export interface ResourceRef {
  kind: "run" | "job" | "experiment" | "model" | "evaluation" | "deployment" | "endpoint" | "upload" | "team" | "user" | "token" | "workspace" | "sweep" | "prediction" | "monitor" | "alert" | "pipeline" | "dataset" | "secret" | "feature-set";
  id: string;
  /** The team that owns it (or, for one being created, the team it goes to). */
  team?: string;
  /** The job the resource belongs to (a run a job created, the job itself); null when none. */
  jobId?: string | null;
  /** The experiment a run belongs to or is being started in. */
  experimentId?: string;
  /** For a token (or a user's own resources): the user it belongs to. */
  userId?: string;
  /**
   * For a workspace: the users who may use it (its owner and whom they share it with). Others, even
   * of its team, find it missing; the team's admins may still read and stop it.
   */
  users?: readonly string[];
  /**
   * The error a caller gets for a resource that does not exist. A resource of another team answers
   * exactly this, so that nobody learns what another team has.
   */
  notFound?: () => Error;
}

/** A streamed response (downloads, log follows). */
export class StreamResponse {
  constructor(
    readonly stream: Readable,
    readonly contentType = "application/octet-stream",
    readonly headers: Record<string, string> = {},
  ) {}
}

/**
 * An answer with its own status and headers, for the few routes a browser navigates to: the
 * single sign-on redirects, and answers that set or clear the session cookie.
 */
export class HttpResponse {
  constructor(
    readonly status: number,
    readonly headers: Record<string, string | string[]>,
    readonly body?: unknown,
  ) {}
}

/**
 * A route as data: modules declare these, `http/` mounts them on the server, validates input
 * with the zod schemas, and generates the OpenAPI document from the same schemas.
 */
export interface RouteDefinition {
  method: "GET" | "POST" | "PUT" | "PATCH" | "DELETE";
  url: string;
  summary: string;
  tags?: string[];
  params?: z.ZodType;
  query?: z.ZodType;
  body?: z.ZodType;
  response?: z.ZodType;
  /** Stream the request body to the handler instead of parsing JSON. */
  rawBody?: boolean;
  /** Reachable without a token (health probes, the OpenAPI document). */
  public?: boolean;
  /** MLflow routes answer errors in MLflow's `{error_code, message}` shape, OIP (KServe v2) routes in `{error}`. */
  errorStyle?: "paved" | "mlflow" | "oip";
  /** Largest JSON body for this route, in bytes (default: the server's). */
  bodyLimit?: number;
  /**
   * A hot path (MLflow's log-batch): a plain JSON request to it is answered from node:http by the
   * server's hot lane, with the same steps and none of Fastify's per-request machinery
   * (src/http/hot-lane.ts). Only for a static URL whose handler answers JSON.
   */
  hot?: boolean;
  /** What the route does; identity's policy allows or refuses it (FORBIDDEN, with the reason). */
  action: Action;
  /**
   * Loads the resource the action touches, for decisions that depend on it (a job token may write
   * only to its own run). Runs after input validation, before the handler.
   */
  resource?(ctx: RouteContext<any, any, any>): Promise<ResourceRef>;
  handler(ctx: RouteContext<any, any, any>): Promise<unknown>;
}

/** Declares a route with typed input. */
export function route<P extends z.ZodType = z.ZodType<Record<string, string>>, Q extends z.ZodType = z.ZodType<Record<string, unknown>>, B extends z.ZodType = z.ZodType<unknown>>(
  def: Omit<RouteDefinition, "handler" | "params" | "query" | "body" | "resource"> & {
    params?: P;
    query?: Q;
    body?: B;
    resource?(ctx: RouteContext<z.output<P>, z.output<Q>, z.output<B>>): Promise<ResourceRef>;
    handler(ctx: RouteContext<z.output<P>, z.output<Q>, z.output<B>>): Promise<unknown>;
  },
): RouteDefinition {
  return def as RouteDefinition;
}

/** What a passthrough's handler gets: the authenticated principal and the raw request. */
export interface PassthroughContext {
  principal: Principal;
  request: IncomingMessage;
  /** The path and query as the client sent them (not yet normalised). */
  url: string;
  /** Whether the caller proved itself with a browser's cookie (not a bearer token): its origin was checked. */
  viaCookie: boolean;
}

/**
 * A path prefix whose requests and websocket upgrades are handed over raw, for what Paved proxies
 * (a workspace's Jupyter server). `http/` authenticates (a bearer token, a browser session, or the
 * module's own cookie), refuses cross-site cookie requests, checks that the principal may attempt
 * `action`, and hands the request over; the handler loads its resource, calls identity's
 * `authorize`, and answers.
 */
export interface PassthroughDefinition {
  /** e.g. `/workspaces/`: every path under it, every method. */
  prefix: string;
  summary: string;
  action: Action;
  /**
   * Credentials of the module's own (a cookie scoped to the prefix), asked when the request carries
   * no bearer token and no session; may answer a redirect itself (`handled`).
   */
  authenticate?(request: IncomingMessage, response: ServerResponse | undefined): Promise<{ principal: Principal } | { handled: true } | undefined>;
  /** Answers an HTTP request (throws a PlatformError to answer Paved's error instead, before writing). */
  request(ctx: PassthroughContext, response: ServerResponse): Promise<void>;
  /** Takes a websocket upgrade over (throws a PlatformError before taking the socket to refuse it). */
  upgrade(ctx: PassthroughContext, socket: Duplex, head: Buffer): Promise<void>;
}
