// Passing a request on to another server as it is (method, path, headers, body stream) and its
// answer back: the control plane's /v2 relay to a data-plane process, and a follower replica's
// forwarding to the leader (issue 14, item 4).
import { request as httpRequest, type IncomingMessage, type ServerResponse } from "node:http";
import { connect } from "node:net";
import type { Duplex } from "node:stream";

/** Hop-by-hop headers, which one connection's ends own (RFC 9110 §7.6.1). */
export const HOP_BY_HOP = new Set(["connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer", "upgrade", "host"]);

/**
 * Sends `request` to `target` and pipes the answer into `response`. Rejects with the connection's
 * error when the other server does not answer (nothing has been written then), so the caller can
 * answer with its own error; never hangs on a server that dies mid-request.
 */
export function pipeRequest(request: IncomingMessage, response: ServerResponse, target: URL, extraHeaders: Record<string, string> = {}): Promise<void> {
  const headers: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(request.headers)) if (value !== undefined && !HOP_BY_HOP.has(name)) headers[name] = value;
  Object.assign(headers, extraHeaders);
  return new Promise<void>((resolve, reject) => {
    const upstream = httpRequest(target, { method: request.method, headers }, (answer) => {
      const out: Record<string, string | string[]> = {};
      for (const [name, value] of Object.entries(answer.headers)) if (value !== undefined && !HOP_BY_HOP.has(name)) out[name] = value;
      response.writeHead(answer.statusCode ?? 502, out);
      answer.pipe(response);
      answer.on("end", resolve);
      answer.on("error", (error) => {
        response.destroy(error);
        resolve();
      });
    });
    // A client that leaves lets go of the upstream request too: a stream (events, a log follow) would otherwise run on at the other server.
    response.once("close", () => {
      if (!response.writableFinished) upstream.destroy();
    });
    upstream.on("error", (error) => {
      if (response.headersSent) {
        response.destroy(error);
        resolve();
      } else reject(error);
    });
    // The body is read only once the connection is up: a refused one has consumed none of it, and
    // the request can still go elsewhere.
    upstream.once("socket", (socket) => {
      if (socket.connecting) socket.once("connect", () => request.pipe(upstream));
      else request.pipe(upstream);
    });
  });
}

/** The header a follower sets on what it forwards: the leader never forwards such a request again. */
export const FORWARDED_BY = "x-paved-forwarded-by";

export interface LeaderForwarding {
  /** Whether this replica leads now (it then answers everything itself). */
  leads(): boolean;
  /** The leader's URL as the database records it; null while none is elected. */
  leaderUrl(): Promise<string | null>;
  /** This replica's own URL, to recognise a record that names itself. */
  self(): string;
}

/** How long a follower holds a request while no leader answers (an election), before it answers 503. */
export const HOLD_MS = 5_000;

/**
 * A follower's front door: every request but the health check goes to the leader, where the
 * controllers and their in-memory state live (the way a Vault standby forwards to the active node).
 * Authentication, validation and the audit log happen there, once. While no leader answers (an
 * election, or a restarted replica waiting for its predecessor's lock to be freed) the request is
 * held, up to HOLD_MS: it goes to the new leader, or to this replica's own routes (`next`) if this
 * one is elected meanwhile; after that it is answered 503 UNAVAILABLE with Retry-After: 1. A
 * request is only sent again when nothing of it reached the old leader (connection refused).
 */
export function leaderForwarder(forwarding: LeaderForwarding, holdMs = HOLD_MS): (request: IncomingMessage, response: ServerResponse, next: () => void) => boolean {
  let cached: { url: string | null; at: number } | undefined;
  const lookup = async (): Promise<string | null> => {
    if (cached && Date.now() - cached.at < 1_000) return cached.url;
    const url = await forwarding.leaderUrl();
    // No leader yet: asked again on the next request, so the new one is found at once.
    cached = url ? { url, at: Date.now() } : undefined;
    return url;
  };
  const unavailable = (request: IncomingMessage, response: ServerResponse, message: string) => {
    if (response.headersSent) return response.destroy();
    request.resume();
    const body = JSON.stringify({ error: { code: "UNAVAILABLE", message } });
    response.writeHead(503, { "content-type": "application/json; charset=utf-8", "retry-after": "1", "content-length": Buffer.byteLength(body) });
    response.end(body);
  };
  return (request, response, next) => {
    if (forwarding.leads()) return false;
    const path = (request.url ?? "/").split("?")[0];
    // Only origin-form targets ("/…") are passed on: appended to the leader's URL, nothing else could name another host.
    if (path === "/api/v1/health" || !request.url?.startsWith("/")) return false;
    // Forwarded once already: it is never passed on again (no loops), only answered here if this replica comes to lead.
    const forwardedOnce = request.headers[FORWARDED_BY] !== undefined;
    void (async () => {
      const deadline = Date.now() + holdMs;
      let why = "no replica leads the control plane right now (an election is in progress)";
      for (;;) {
        if (forwarding.leads()) return next();
        const leader = forwardedOnce ? null : await lookup().catch(() => null);
        if (forwardedOnce) why = "the replica this request was forwarded to does not lead the control plane (an election is in progress)";
        if (leader && leader !== forwarding.self()) {
          try {
            // The path is appended to the leader's URL, never resolved against it: no request names another host.
            await pipeRequest(request, response, new URL(`${leader}${request.url ?? "/"}`), forwardedHeaders(request, forwarding));
            return;
          } catch (error) {
            cached = undefined;
            const code = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
            // Refused: nothing was sent, so it may go to the next leader. Anything else may have been done.
            if (code !== "ECONNREFUSED" || response.headersSent) return unavailable(request, response, `the leader at ${leader} did not answer (${code}); the request may or may not have been carried out: look before you retry it`);
            why = `the leader at ${leader} did not answer (${code}) and no other replica leads yet`;
          }
        }
        if (Date.now() >= deadline) return unavailable(request, response, `${why}; retry in a second`);
        await new Promise((r) => setTimeout(r, 100));
      }
    })().catch((error: unknown) => unavailable(request, response, `forwarding to the leader failed: ${(error as Error).message}; retry`));
    return true;
  };
}

/**
 * What a forwarded request adds: who forwarded it, the client's address, and the Host the client
 * named (the leader's same-origin check for browser sessions compares Origin with it).
 */
function forwardedHeaders(request: IncomingMessage, forwarding: LeaderForwarding): Record<string, string> {
  const forwardedFor = [request.headers["x-forwarded-for"], request.socket.remoteAddress].filter(Boolean).join(", ");
  return { [FORWARDED_BY]: forwarding.self(), "x-forwarded-for": forwardedFor, ...(request.headers.host ? { host: request.headers.host } : {}) };
}

/**
 * A follower's websocket upgrades (a workspace's kernels) go to the leader too: the request head
 * is written to it as it came (with the headers above), then both sockets are joined. Returns
 * false when this replica leads (the server's own upgrade handling takes it).
 */
export function leaderUpgradeForwarder(forwarding: LeaderForwarding): (request: IncomingMessage, socket: Duplex, head: Buffer) => boolean {
  const refuse = (socket: Duplex, message: string) => {
    const body = JSON.stringify({ error: { code: "UNAVAILABLE", message } });
    socket.end(`HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nretry-after: 1\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`);
  };
  return (request, socket, head) => {
    if (forwarding.leads() || !request.url?.startsWith("/")) return false;
    socket.on("error", () => socket.destroy());
    void (async () => {
      if (request.headers[FORWARDED_BY] !== undefined) return refuse(socket, "the replica this request was forwarded to does not lead the control plane; retry in a second");
      const leader = await forwarding.leaderUrl().catch(() => null);
      if (!leader || leader === forwarding.self()) return refuse(socket, "no replica leads the control plane right now; retry in a second");
      const target = new URL(leader);
      const upstream = connect(Number(target.port || 80), target.hostname);
      const failed = (error: NodeJS.ErrnoException) => refuse(socket, `the leader at ${leader} did not answer (${error.code ?? error.message}); retry`);
      upstream.once("error", failed);
      upstream.once("connect", () => {
        upstream.off("error", failed);
        const extra = forwardedHeaders(request, forwarding);
        const lines = [`${request.method ?? "GET"} ${request.url ?? "/"} HTTP/1.1`];
        for (let i = 0; i < request.rawHeaders.length; i += 2) {
          const name = request.rawHeaders[i]!;
          if (!(name.toLowerCase() in extra)) lines.push(`${name}: ${request.rawHeaders[i + 1]}`);
        }
        for (const [name, value] of Object.entries(extra)) lines.push(`${name}: ${value}`);
        upstream.write(`${lines.join("\r\n")}\r\n\r\n`);
        if (head.length > 0) upstream.write(head);
        upstream.on("error", () => socket.destroy());
        socket.on("close", () => upstream.destroy());
        upstream.on("close", () => socket.destroy());
        socket.pipe(upstream).pipe(socket);
      });
    })();
    return true;
  };
}
