import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyReply, type FastifyRequest } from "fastify";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { Duplex, Readable } from "node:stream";
import { z } from "zod";
import { HttpResponse, StreamResponse, parseInput, type Logger, type PassthroughDefinition, type Principal, type ResourceRef, type RouteDefinition } from "../core/index.ts";
import type { AuditSink } from "../modules/guardrails/index.ts";
import { authorize, mayAttempt, type Authenticator, type TokenService } from "../modules/identity/index.ts";
import { toErrorBody } from "./errors.ts";
import { hotLane } from "./hot-lane.ts";
import { buildOpenApi } from "./openapi.ts";
import { mountPassthroughs } from "./passthrough.ts";
import { ANONYMOUS_ADMIN, authenticate, clientGone, errorJson, recordAudit, requestId, type ErrorStyle } from "./route-steps.ts";
import type { WebUi } from "./web-ui.ts";

export interface ServerOptions {
  routes: RouteDefinition[];
  /** Resolves tokens; `undefined` only when auth is disabled on a loopback bind. */
  tokens: TokenService | undefined;
  /** Resolves a bearer token or, failing that, a browser session's cookie (with its CSRF header); replaces `tokens` when given. */
  authenticator?: Authenticator;
  logger: Logger;
  /** Largest JSON body accepted (routes may set their own). */
  bodyLimit: number;
  /** Largest raw (upload) body accepted. */
  uploadLimit: number;
  /** Time a client has to send a whole request (headers and body), in ms; 0 turns it off. */
  requestTimeoutMs: number;
  /** The audit log: records each answer of the routes it covers, before the answer is sent. */
  audit?: AuditSink;
  /** Proxies (addresses or CIDRs) whose X-Forwarded-For gives the client's address; none by default. */
  trustedProxies?: string[];
  /** Prefixes handed over raw after authentication, websockets included (the workspace proxy). */
  passthroughs?: PassthroughDefinition[];
  /**
   * Answers a request before Fastify sees it, or returns false to leave it to the routes: the data
   * plane's inference hot path (src/dataplane/fast-infer.ts), which authenticates and authorizes
   * with the same functions and answers what the route would; a follower replica's forwarding to
   * its leader (src/http/forward.ts), which may hand a request it held to the routes (`next`).
   */
  fastPath?: (request: IncomingMessage, response: ServerResponse, next: () => void) => boolean;
  /** Hears every answer the routes give: method, route pattern ("unmatched" for a 404), status, seconds (monitoring's HTTP metrics). */
  observe?: (method: string, route: string, status: number, seconds: number) => void;
  /** Takes a websocket upgrade before the passthroughs, or returns false (a follower's forwarding to its leader). */
  upgradeFirst?: (request: IncomingMessage, socket: Duplex, head: Buffer) => boolean;
  /** The web UI's pages and assets, answered for GETs no route takes outside the API's paths. */
  webUi?: WebUi;
}

/** Assembles the HTTP server from route definitions: auth, validation, errors, OpenAPI. */
export function buildServer(opts: ServerOptions): FastifyInstance {
  // Made once the app is (it parses with the app's JSON parser); the server's listener reads it per request.
  const made: { lane?: ReturnType<typeof hotLane> } = {};
  // How often node:http looks for requests past the timeout (it checks every 30 s by default).
  const checkEvery = Math.min(30_000, Math.max(250, Math.round(opts.requestTimeoutMs / 4)));
  const app = Fastify({
    loggerInstance: opts.logger.child({ component: "http" }) as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: opts.bodyLimit,
    keepAliveTimeout: 65_000,
    // A body trickled a byte at a time must not hold a connection forever (Fastify's default is 0).
    // Node 20 honours the bound only when given to the server's constructor, hence `http`; it checks
    // every 30 s by default, so look often enough for the bound to mean something.
    requestTimeout: opts.requestTimeoutMs,
    http: {
      requestTimeout: opts.requestTimeoutMs,
      connectionsCheckingInterval: checkEvery,
    },
    // A fast path (a follower's forwarding), then the hot lane, run first: the server is made
    // here, with the bounds above given to it.
    ...(opts.fastPath || opts.routes.some((r) => r.hot)
      ? {
          serverFactory: (handler: (request: IncomingMessage, response: ServerResponse) => void) => {
            const fast = opts.fastPath;
            const server = createServer({ requestTimeout: opts.requestTimeoutMs, connectionsCheckingInterval: checkEvery }, (request, response) => {
              if (fast?.(request, response, () => handler(request, response))) return;
              if (made.lane?.(request, response)) return;
              handler(request, response);
            });
            server.keepAliveTimeout = 65_000;
            return server;
          },
        }
      : {}),
    // MLflow's Python client and curl send paths with trailing slashes now and then.
    routerOptions: { ignoreTrailingSlash: true },
    // request.ip (the audit log's client address) believes X-Forwarded-For only from these.
    trustProxy: opts.trustedProxies?.length ? opts.trustedProxies : false,
    requestIdHeader: false,
    genReqId: requestId,
  });

  // Hot routes' plain JSON requests skip Fastify, parsed by Fastify's own JSON parser.
  const fastifyJson = app.getDefaultJsonParser("error", "error");
  made.lane = hotLane(opts.routes, opts, (text) => {
    let parsed: { error: Error | null; value?: unknown } = { error: null };
    void fastifyJson(undefined as never, text, (error, value) => void (parsed = { error, value }));
    if (parsed.error) throw parsed.error;
    return parsed.value;
  });

  app.setErrorHandler((error, request, reply) => {
    const body = toErrorBody(error);
    errorCodes.set(request, body.code);
    if (body.status >= 500) request.log.error({ err: error, url: request.url }, "request failed");
    sendError(reply, request.routeOptions.config as RouteConfig | undefined, body);
  });
  app.setNotFoundHandler(async (request, reply) => {
    void reply.header("x-request-id", request.id);
    if (opts.webUi && (await opts.webUi.serve(request, reply))) return;
    const mlflow = request.url.includes("/mlflow");
    const oip = request.url.startsWith("/v2/");
    sendError(reply, { errorStyle: mlflow ? "mlflow" : oip ? "oip" : "paved" }, {
      status: 404,
      code: mlflow ? "NOT_FOUND" : "NOT_FOUND",
      message: `no route ${request.method} ${request.url.split("?")[0]}; see /api/v1/openapi.json for the API`,
    });
  });

  if (opts.observe) {
    const observe = opts.observe;
    // The route's pattern, never the path: the label's values are the routes the server mounts.
    app.addHook("onResponse", async (request, reply) => observe(request.method, request.routeOptions.url ?? "unmatched", reply.statusCode, reply.elapsedTime / 1000));
  }

  // JSON only: Fastify would hand text/plain bodies over as strings; answer 415 instead.
  app.removeContentTypeParser("text/plain");

  const all: RouteDefinition[] = [...opts.routes, openApiRoute(() => all)];
  const json = all.filter((r) => !r.rawBody);
  const raw = all.filter((r) => r.rawBody);
  for (const def of json) mount(app, def, opts);
  // Raw routes live in their own scope, where any content type is handed over as a stream.
  void app.register(async (scope) => {
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser("*", { bodyLimit: opts.uploadLimit }, (_req, payload, done) => done(null, payload));
    for (const def of raw) mount(scope, def, opts);
  });
  mountPassthroughs(app, opts.passthroughs ?? [], { tokens: opts.tokens, authenticator: opts.authenticator, anonymousAdmin: ANONYMOUS_ADMIN }, opts.upgradeFirst);
  return app;
}

interface RouteConfig {
  errorStyle?: ErrorStyle;
}

function sendError(reply: FastifyReply, config: RouteConfig | undefined, body: ReturnType<typeof toErrorBody>): void {
  void reply.status(body.status).send(errorJson(config?.errorStyle, body));
}

/** Principals of requests in flight, resolved before their bodies are read. */
const principals = new WeakMap<FastifyRequest, Principal>();
/** What the audit log hears of a request in flight besides its principal: the resource its route loaded, the error code it got. */
const resources = new WeakMap<FastifyRequest, ResourceRef>();
const errorCodes = new WeakMap<FastifyRequest, string>();

function mount(app: FastifyInstance, def: RouteDefinition, opts: ServerOptions): void {
  const audit = opts.audit?.covers(def) ? opts.audit : undefined;
  app.route({
    method: def.method,
    url: def.url,
    config: { errorStyle: def.errorStyle ?? "paved" },
    ...(def.bodyLimit ? { bodyLimit: def.bodyLimit } : {}),
    // Before the body is read: an unauthenticated or plainly forbidden request costs no parsing.
    onRequest: async (request: FastifyRequest, reply: FastifyReply) => {
      void reply.header("x-request-id", request.id);
      const principal = await authenticate(request, def, opts.tokens, opts.authenticator);
      // Kept before the policy runs, so that a refusal is audited with who was refused.
      principals.set(request, principal);
      if (!mayAttempt(principal, def.action) || !def.resource) authorize(principal, def.action);
    },
    // Every answer of an audited route, refusals included, is recorded before it is sent.
    ...(audit ? { onSend: async (request: FastifyRequest, reply: FastifyReply, payload: unknown) => (await recordRouteAudit(audit, def, request, reply), payload) } : {}),
    handler: async (request: FastifyRequest, reply: FastifyReply) => {
      const principal = principals.get(request)!;
      const params = def.params ? parseInput(def.params, request.params, "path parameters") : request.params;
      const query = def.query ? parseInput(def.query, request.query, "query parameters") : request.query;
      const body = def.rawBody ? undefined : def.body ? parseInput(def.body, request.body ?? {}, "request body") : request.body;
      let signal: AbortSignal | undefined;
      const context = {
        params,
        query,
        body,
        principal,
        headers: request.headers,
        get signal() {
          return (signal ??= clientGone(request.raw.socket, reply.raw));
        },
        ...(def.rawBody ? { stream: request.body as Readable } : {}),
      };
      if (def.resource) {
        const resource = await def.resource(context);
        resources.set(request, resource);
        authorize(principal, def.action, resource);
      }
      const result = await def.handler(context);
      if (result instanceof StreamResponse) {
        // Streams carry users' bytes (artifacts, logs): a browser never guesses another type for them.
        void reply.headers({ "x-content-type-options": "nosniff", ...result.headers }).type(result.contentType);
        return reply.send(result.stream);
      }
      if (result instanceof HttpResponse) {
        void reply.status(result.status).headers(result.headers);
        return reply.send(result.body ?? "");
      }
      return reply.send(result ?? {});
    },
  });
}

function recordRouteAudit(audit: AuditSink, def: RouteDefinition, request: FastifyRequest, reply: FastifyReply): Promise<void> {
  return recordAudit(
    audit,
    {
      requestId: request.id,
      principal: principals.get(request),
      action: def.action,
      method: def.method,
      route: def.url,
      params: request.params,
      resource: resources.get(request),
      status: reply.statusCode,
      errorCode: errorCodes.get(request),
      clientIp: request.ip,
      durationMs: reply.elapsedTime,
    },
    request.log,
  );
}

function openApiRoute(all: () => RouteDefinition[]): RouteDefinition {
  return {
    method: "GET",
    url: "/api/v1/openapi.json",
    summary: "This API's OpenAPI 3.1 document, generated from the zod schemas",
    public: true,
    action: "platform:read",
    response: z.unknown(),
    handler: async () => buildOpenApi(all()),
  };
}
