import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Duplex } from "node:stream";
import { PlatformError, type PassthroughDefinition, type Principal } from "../core/index.ts";
import { mayAttempt, readCookie, SESSION_COOKIE, type Authenticator, type TokenService } from "../modules/identity/index.ts";
import { toErrorBody } from "./errors.ts";

export interface PassthroughAuth {
  tokens: TokenService | undefined;
  authenticator: Authenticator | undefined;
  /** Who everyone is with authentication off (loopback only). */
  anonymousAdmin: Principal;
}

const METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"] as const;
const SAFE = new Set(["GET", "HEAD", "OPTIONS"]);

/**
 * Mounts passthrough prefixes: every method under each prefix is authenticated, then handed to its
 * handler raw (the body is not read here: it streams to wherever the handler sends it), and the
 * server's websocket upgrades under a prefix go to its `upgrade`. Anything refused before the
 * handler takes over answers Paved's usual error body.
 */
export function mountPassthroughs(
  app: FastifyInstance,
  defs: readonly PassthroughDefinition[],
  auth: PassthroughAuth,
  /** Takes an upgrade before the prefixes do, or returns false (a follower replica's forwarding to its leader). */
  upgradeFirst?: (request: IncomingMessage, socket: Duplex, head: Buffer) => boolean,
): void {
  if (defs.length === 0 && !upgradeFirst) return;
  void app.register(async (scope) => {
    // The body stays in the request stream for the handler to forward.
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser("*", (_request, _payload, done) => done(null, undefined));
    for (const def of defs) {
      scope.route({
        method: [...METHODS],
        url: `${def.prefix}*`,
        handler: async (request: FastifyRequest, reply: FastifyReply) => {
          void reply.header("x-request-id", request.id);
          const who = await resolve(def, request.raw, reply.raw, auth);
          if (!who) return reply.hijack();
          reply.hijack();
          try {
            await def.request({ principal: who.principal, request: request.raw, url: request.raw.url ?? "/", viaCookie: who.viaCookie }, reply.raw);
          } catch (error) {
            writeError(reply.raw, error, request.id);
          }
        },
      });
    }
  });
  app.server.on("upgrade", (request: IncomingMessage, socket: Duplex, head: Buffer) => {
    if (upgradeFirst?.(request, socket, head)) return;
    const def = defs.find((d) => (request.url ?? "").startsWith(d.prefix));
    socket.on("error", () => socket.destroy());
    if (!def) {
      refuseUpgrade(socket, new PlatformError("NOT_FOUND", `no websocket at ${(request.url ?? "").split("?")[0]}`));
      return;
    }
    void (async () => {
      try {
        const who = await resolve(def, request, undefined, auth, true);
        if (!who) throw new PlatformError("UNAUTHENTICATED", "this needs a token or a browser login; run `paved workspace open <id>`");
        await def.upgrade({ principal: who.principal, request, url: request.url ?? "/", viaCookie: who.viaCookie }, socket, head);
      } catch (error) {
        refuseUpgrade(socket, error);
      }
    })();
  });
}

/**
 * Who sends the request: a bearer token, else a browser session, else the module's own cookie. A
 * browser request that changes something (or opens a websocket) on a cookie must come from a page
 * of this server: its Origin must be this server's, so another site cannot make a browser do it.
 */
async function resolve(
  def: PassthroughDefinition,
  request: IncomingMessage,
  response: ServerResponse | undefined,
  auth: PassthroughAuth,
  upgrade = false,
): Promise<{ principal: Principal; viaCookie: boolean } | undefined> {
  let principal: Principal;
  let viaCookie = false;
  const authorization = request.headers.authorization;
  if (!auth.tokens) {
    principal = auth.anonymousAdmin;
  } else if (authorization !== undefined) {
    principal = await auth.tokens.authenticate(authorization);
  } else if (auth.authenticator && readCookie(request.headers.cookie, SESSION_COOKIE) !== undefined) {
    // The origin check below stands in for the session's CSRF header, which Jupyter's pages do not send.
    principal = await auth.authenticator.authenticate({ cookie: request.headers.cookie, method: "GET" });
    viaCookie = true;
  } else {
    const own = await def.authenticate?.(request, response);
    if (own && "handled" in own) return undefined;
    if (!own) await auth.tokens.authenticate(undefined);
    principal = own!.principal;
    viaCookie = true;
  }
  if (viaCookie && (upgrade || !SAFE.has((request.method ?? "GET").toUpperCase())) && !sameOrigin(request)) {
    throw new PlatformError("FORBIDDEN", "a browser may change a workspace or open its websockets only from the workspace's own pages (the Origin header must be this server); API clients use a bearer token instead", {
      reason: "origin",
    });
  }
  if (!mayAttempt(principal, def.action)) throw new PlatformError("NOT_FOUND", `nothing at ${(request.url ?? "").split("?")[0]}`);
  return { principal, viaCookie };
}

function sameOrigin(request: IncomingMessage): boolean {
  const origin = request.headers.origin;
  const host = request.headers.host;
  if (typeof origin !== "string" || typeof host !== "string") return false;
  try {
    return new URL(origin).host === host;
  } catch {
    return false;
  }
}

function writeError(response: ServerResponse, error: unknown, requestId: string): void {
  const body = toErrorBody(error);
  if (response.headersSent) {
    response.destroy();
    return;
  }
  response.writeHead(body.status, { "content-type": "application/json; charset=utf-8", "x-request-id": requestId });
  response.end(JSON.stringify({ error: { code: body.code, message: body.message, ...(body.details ? { details: body.details } : {}) } }));
}

function refuseUpgrade(socket: Duplex, error: unknown): void {
  if (socket.destroyed) return;
  const body = toErrorBody(error);
  const text = JSON.stringify({ error: { code: body.code, message: body.message } });
  socket.end(`HTTP/1.1 ${body.status} ${STATUS_TEXT[body.status] ?? "Error"}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(text)}\r\nconnection: close\r\n\r\n${text}`);
}

const STATUS_TEXT: Record<number, string> = { 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 409: "Conflict", 429: "Too Many Requests", 500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable" };
