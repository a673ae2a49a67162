// The steps every route's request goes through, shared by Fastify's routes (server.ts) and the hot
// lane (hot-lane.ts), so that both answer alike: who is asking, the request's id, the error body in
// the route's style, the signal that says the client left, and the audit record.
import { randomUUID } from "node:crypto";
import type { IncomingHttpHeaders, ServerResponse } from "node:http";
import type { Socket } from "node:net";
import type { Logger, Principal, RouteDefinition } from "../core/index.ts";
import type { AuditEvent, AuditSink } from "../modules/guardrails/index.ts";
import { TOKEN_PREFIX, type Authenticator, type TokenService } from "../modules/identity/index.ts";
import { BOOTSTRAP_ADMIN_ID, DEFAULT_TEAM_ID } from "../storage/index.ts";
import { MLFLOW_ERROR_CODE, type toErrorBody } from "./errors.ts";

/** With authentication off (loopback only): everyone is the bootstrap admin, in the default team. */
export const ANONYMOUS_ADMIN: Principal = { name: "admin", kind: "user", userId: BOOTSTRAP_ADMIN_ID, platformAdmin: true, teams: { [DEFAULT_TEAM_ID]: "admin" }, team: DEFAULT_TEAM_ID };
const ANONYMOUS: Principal = { name: "anonymous", kind: "anonymous", platformAdmin: false, teams: {} };

export type ErrorStyle = "paved" | "mlflow" | "oip";

/**
 * A client's `x-request-id` when it is a short token of safe characters (and not a Paved token sent
 * by mistake: the id is logged and audited); otherwise a new one.
 */
export function requestId(request: { headers: IncomingHttpHeaders }): string {
  const given = request.headers["x-request-id"];
  return typeof given === "string" && /^[A-Za-z0-9._:-]{1,128}$/.test(given) && !given.startsWith(TOKEN_PREFIX) ? given : randomUUID();
}

/** Who sends the request: its bearer token, or a browser session's cookie with its CSRF header. */
export async function authenticate(
  request: { headers: IncomingHttpHeaders; method?: string | undefined },
  def: RouteDefinition,
  tokens: TokenService | undefined,
  authenticator: Authenticator | undefined,
): Promise<Principal> {
  if (def.public) return ANONYMOUS;
  if (!tokens) return ANONYMOUS_ADMIN;
  if (authenticator) {
    const csrf = request.headers["x-paved-csrf"];
    return authenticator.authenticate({ authorization: request.headers.authorization, cookie: request.headers.cookie, method: request.method ?? "GET", csrfHeader: typeof csrf === "string" ? csrf : undefined });
  }
  return tokens.authenticate(request.headers.authorization);
}

/** An error's JSON body in the route's style: MLflow's `{error_code, message}`, OIP's `{error}`, or Paved's `{error: {code, message, details}}`. */
export function errorJson(style: ErrorStyle | undefined, body: ReturnType<typeof toErrorBody>): unknown {
  if (style === "mlflow") return { error_code: MLFLOW_ERROR_CODE[body.code], message: body.message };
  if (style === "oip") return { error: body.message };
  return { error: { code: body.code, message: body.message, ...(body.details ? { details: body.details } : {}) } };
}

/**
 * The signal that aborts when the client goes away, made on first use: most handlers never read
 * it, and an AbortController per request (aborted, with its DOMException, when every response
 * closes) cost about a tenth of the main thread on the inference path.
 */
export function clientGone(socket: Socket, response: ServerResponse): AbortSignal {
  const controller = new AbortController();
  // The request stream closes once its body has been read (a POST's, before the handler runs), so
  // only the connection's end and the answer's stream say that the client left.
  if (response.destroyed || response.writableFinished || socket.destroyed) {
    controller.abort();
  } else {
    const abort = () => controller.abort();
    socket.once("close", abort);
    // A kept-alive connection serves the next requests: its listener goes with this answer.
    response.once("close", () => {
      socket.removeListener("close", abort);
      abort();
    });
  }
  return controller.signal;
}

/** Records an answer before it is sent; a record that cannot be written is logged, and the answer goes out. */
export async function recordAudit(audit: AuditSink, entry: AuditEvent, log: Pick<Logger, "error">): Promise<void> {
  try {
    await audit.record(entry);
  } catch (error) {
    // The change is made: refusing the answer now would invite a retry that makes it twice.
    log.error({ err: error, requestId: entry.requestId, action: entry.action }, "audit record lost; the answer is sent without it");
  }
}
