import type { Readable } from "node:stream";
import type { z } from "zod";

/** Who is calling: resolved from the bearer token by `http/`, handed to every route. */
export interface Principal {
  name: string;
  role: "admin" | "user" | "job";
  /** Set for the token Paved mints for a running job. */
  jobId?: string;
  /** For a job's token: the experiment of its job, the only one it may start runs in. */
  experimentId?: string;
  /** For a job's token: the name of whoever submitted the job (the author of its runs). */
  onBehalfOf?: string;
}

/**
 * Every action a route can take, as `<resource kind>:<verb>`. identity's one policy decides
 * (principal, action, resource) before a handler runs; a route without an action does not compile.
 */
export const ACTIONS = [
  "platform:read",
  "catalog:read",
  "experiments:read",
  "experiments:write",
  "runs:read",
  "runs:create",
  "runs:write",
  "runs:delete",
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
] as const;
export type Action = (typeof ACTIONS)[number];

/**
 * What an action touches, as far as the policy needs to know: its kind and the attributes
 * ownership depends on (the job a run or job belongs to, the experiment a run is started in).
 */
export interface ResourceRef {
  kind: "run" | "job" | "experiment";
  id: string;
  /** The job the resource belongs to (a run a job created, the job itself); null when none. */
  jobId?: string | null;
  /** The experiment a run belongs to or is being started in. */
  experimentId?: string;
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

/** A streamed response (downloads, log follows). */
export class StreamResponse {
  constructor(
    readonly stream: Readable,
    readonly contentType = "application/octet-stream",
    readonly headers: Record<string, string> = {},
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
