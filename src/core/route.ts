import type { Readable } from "node:stream";
import type { z } from "zod";

/** Who is calling: resolved from the bearer token by `http/`, handed to every route. */
export interface Principal {
  name: string;
  role: "admin" | "user" | "job";
  /** Set for the token Paved mints for a running job. */
  jobId?: string;
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
  /** Roles allowed; default: every authenticated role. */
  roles?: Principal["role"][];
  handler(ctx: RouteContext<any, any, any>): Promise<unknown>;
}

/** Declares a route with typed input. */
export function route<P extends z.ZodType = z.ZodType<Record<string, string>>, Q extends z.ZodType = z.ZodType<Record<string, unknown>>, B extends z.ZodType = z.ZodType<unknown>>(
  def: Omit<RouteDefinition, "handler" | "params" | "query" | "body"> & {
    params?: P;
    query?: Q;
    body?: B;
    handler(ctx: RouteContext<z.output<P>, z.output<Q>, z.output<B>>): Promise<unknown>;
  },
): RouteDefinition {
  return def as RouteDefinition;
}
