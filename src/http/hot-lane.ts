// The hot lane: a plain JSON request to a route marked `hot` (MLflow's log-batch, the stream of a
// training loop's metrics) is answered straight from node:http, without Fastify's per-request
// objects, hook chain and reply pipeline. Those cost as much of the main thread as parsing a
// 1,000-point body does (docs/benchmarks.md#tracking). The lane takes the same steps as `mount` in
// server.ts, with the same functions (route-steps.ts): the request id, authentication and the
// policy's early refusal before the body is read, the body limit, Fastify's own JSON parser, the
// route's schemas, resource, policy and handler, http's one error map in the route's style, the
// audit record before the answer, the HTTP metrics after it. A request it would answer otherwise
// than Fastify goes to Fastify: another spelling of the path (a trailing slash, a query string),
// another content type or a charset other than UTF-8, a body without a Content-Length or with a
// Content-Encoding, and every request of a server behind trusted proxies (whose client address
// Fastify works out from X-Forwarded-For).
import { errorCodes } from "fastify";
import type { IncomingMessage, ServerResponse } from "node:http";
import { HttpResponse, StreamResponse, parseInput, type Logger, type Principal, type ResourceRef, type RouteDefinition } from "../core/index.ts";
import type { AuditSink } from "../modules/guardrails/index.ts";
import { authorize, mayAttempt, type Authenticator, type TokenService } from "../modules/identity/index.ts";
import { toErrorBody } from "./errors.ts";
import { authenticate, clientGone, errorJson, recordAudit, requestId } from "./route-steps.ts";

const JSON_TYPE = /^application\/json\s*(?:;\s*charset="?utf-8"?\s*)?$/i;

/** What the lane takes of the server's options (server.ts's ServerOptions, which it is given). */
export interface LaneOptions {
  tokens: TokenService | undefined;
  authenticator?: Authenticator;
  logger: Logger;
  bodyLimit: number;
  audit?: AuditSink;
  observe?: (method: string, route: string, status: number, seconds: number) => void;
  trustedProxies?: string[];
}

/** Fastify's default JSON parser, called synchronously: the parsed body, or Fastify's error for it. */
export type JsonParser = (text: string) => unknown;

/**
 * The lane for `routes`' hot ones, or undefined when there are none (or the server trusts proxies).
 * It answers `true` when it has taken the request.
 */
export function hotLane(routes: RouteDefinition[], opts: LaneOptions, parseJson: JsonParser): ((request: IncomingMessage, response: ServerResponse) => boolean) | undefined {
  const hot = new Map<string, RouteDefinition>();
  for (const def of routes) {
    if (!def.hot) continue;
    if (def.rawBody || /[:*?]/.test(def.url)) throw new Error(`route ${def.method} ${def.url} cannot be hot: the lane takes static URLs with JSON bodies`);
    hot.set(`${def.method} ${def.url}`, def);
  }
  if (hot.size === 0 || opts.trustedProxies?.length) return undefined;
  return (request, response) => {
    const def = hot.get(`${request.method} ${request.url}`);
    if (def === undefined) return false;
    const headers = request.headers;
    const type = headers["content-type"];
    if (type === undefined || !JSON_TYPE.test(type) || headers["content-length"] === undefined || headers["content-encoding"] !== undefined || headers["transfer-encoding"] !== undefined) return false;
    answer(def, request, response, opts, parseJson).catch((error: unknown) => {
      // Only a fault of the lane itself lands here (every route's error is answered inside).
      opts.logger.error({ err: error, url: request.url }, "hot lane failed");
      response.destroy();
    });
    return true;
  };
}

async function answer(def: RouteDefinition, request: IncomingMessage, response: ServerResponse, opts: LaneOptions, parseJson: JsonParser): Promise<void> {
  const started = performance.now();
  const id = requestId(request);
  let principal: Principal | undefined;
  let resource: ResourceRef | undefined;
  let status = 200;
  let errorCode: string | undefined;
  let payload: string;
  let closeAfter = false;
  try {
    principal = await authenticate(request, def, opts.tokens, opts.authenticator);
    // Before the body is read: an unauthenticated or plainly forbidden request costs no parsing.
    if (!mayAttempt(principal, def.action) || !def.resource) authorize(principal, def.action);
    let parsed: unknown;
    try {
      parsed = parseJson(await readBody(request, def.bodyLimit ?? opts.bodyLimit));
    } catch (error) {
      // As Fastify does on a body it could not take: the client may still be sending it.
      closeAfter = true;
      throw error;
    }
    let signal: AbortSignal | undefined;
    const context = {
      params: def.params ? parseInput(def.params, {}, "path parameters") : {},
      query: def.query ? parseInput(def.query, {}, "query parameters") : {},
      body: def.body ? parseInput(def.body, parsed ?? {}, "request body") : parsed,
      principal,
      headers: request.headers,
      get signal() {
        return (signal ??= clientGone(request.socket, response));
      },
    };
    if (def.resource) {
      resource = await def.resource(context);
      authorize(principal, def.action, resource);
    }
    const result = await def.handler(context);
    if (result instanceof StreamResponse || result instanceof HttpResponse) throw new Error(`the hot route ${def.method} ${def.url} answered a ${result.constructor.name}; hot routes answer JSON`);
    payload = JSON.stringify(result ?? {});
  } catch (error) {
    const body = toErrorBody(error);
    status = body.status;
    errorCode = body.code;
    if (status >= 500) opts.logger.error({ err: error, url: request.url }, "request failed");
    payload = JSON.stringify(errorJson(def.errorStyle, body));
  }
  // Every answer of an audited route, refusals included, is recorded before it is sent.
  if (opts.audit?.covers(def)) {
    const entry = { requestId: id, principal, action: def.action, method: def.method, route: def.url, params: {}, resource, status, errorCode, clientIp: request.socket.remoteAddress, durationMs: performance.now() - started };
    await recordAudit(opts.audit, entry, opts.logger);
  }
  if (response.destroyed) return;
  // A body left unread (refused before it was read) is drained by node:http after the answer, as under Fastify.
  response.writeHead(status, { "x-request-id": id, "content-type": "application/json; charset=utf-8", "content-length": Buffer.byteLength(payload), ...(closeAfter ? { connection: "close" } : {}) });
  response.end(payload);
  if (opts.observe) {
    const observe = opts.observe;
    response.once("finish", () => observe(def.method, def.url, status, (performance.now() - started) / 1000));
  }
}

/**
 * The body as UTF-8 text, read as Fastify reads it: refused with its 413 past `limit` bytes (by the
 * Content-Length before a byte is read). Every listener comes off once the promise settles, as
 * Fastify's own reader does: node:http keeps a request object reachable past the young-generation
 * collections that follow its answer, so a listener left on it kept the 80 KiB body text (the
 * promise's result) alive into the old generation, for every body (docs/benchmarks.md#tracking).
 */
function readBody(request: IncomingMessage, limit: number): Promise<string> {
  return new Promise((resolve, reject) => {
    if (Number(request.headers["content-length"]) > limit) return reject(new errorCodes.FST_ERR_CTP_BODY_TOO_LARGE());
    // A client gone midway gets the answer Fastify gives it (400), to a closed connection: written nowhere, audited.
    const gone = (error: Error & { statusCode?: number }) => reject(Object.assign(error, { statusCode: error.statusCode && error.statusCode >= 400 ? error.statusCode : 400 }));
    // Gone already, while the request was being authenticated: no event will come.
    if (request.destroyed) return gone(new Error("aborted"));
    let chunks: Buffer[] = [];
    let size = 0;
    const settle = (then: () => void) => {
      request.off("data", onData).off("end", onEnd).off("error", onError).off("close", onClose);
      then();
      chunks = [];
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size <= limit) return void chunks.push(chunk);
      // The rest flows on unread; node:http drains it once the answer is sent.
      settle(() => reject(new errorCodes.FST_ERR_CTP_BODY_TOO_LARGE()));
    };
    const onEnd = () => settle(() => resolve(chunks.length === 1 ? chunks[0]!.toString("utf8") : Buffer.concat(chunks, size).toString("utf8")));
    const onError = (error: Error) => settle(() => gone(error));
    const onClose = () => request.complete || settle(() => gone(new Error("aborted")));
    request.on("data", onData).on("end", onEnd).on("error", onError).on("close", onClose);
  });
}
