import { randomBytes } from "node:crypto";
import { request as httpRequest, type IncomingHttpHeaders, type IncomingMessage, type OutgoingHttpHeaders, type ServerResponse } from "node:http";
import type { Socket } from "node:net";
import type { Duplex } from "node:stream";
import { PlatformError, conflict, invalidInput, type PassthroughContext, type PassthroughDefinition, type Principal } from "../../core/index.ts";
import { authorize } from "../identity/index.ts";
import { COOKIE_MS, missingWorkspace, sha256, toResource } from "./service.ts";
import type { WorkspaceRow, WorkspaceStore } from "./store.ts";

export const PROXY_PREFIX = "/workspaces/";
/** The cookie a browser gets for one workspace (path-scoped to it) from `paved workspace open`. */
export const WORKSPACE_COOKIE = "paved_ws";
const OPEN_PARAM = "paved-open";
/** Request headers never sent on to Jupyter: Paved's credentials, and what Paved checked itself. */
const DROPPED_REQUEST_HEADERS = new Set(["accept-encoding", "authorization", "cookie", "x-paved-csrf", "origin", "referer", "host", "proxy-authorization", "forwarded", "x-forwarded-for", "x-forwarded-host", "x-forwarded-proto"]);
const HOP_BY_HOP = new Set(["connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade"]);
const PAVED_COOKIES = /^(paved_[A-Za-z0-9_-]*)$/;
/** Largest Jupyter page the proxy rewrites (its pages are tens of kilobytes). */
const MAX_PAGE_BYTES = 16 * 1024 ** 2;

export interface ProxyDeps {
  store: WorkspaceStore;
  /** The principal of a user (for the workspace cookie), or undefined when the user is gone or disabled. */
  principalOf: (userId: string) => Promise<Principal | undefined>;
  now: () => number;
  /** Tells the controller a user reached the workspace (it counts as activity). */
  touched: (workspaceId: string) => void;
  /** A notebook's session got a kernel (Jupyter's answer to POST/PATCH api/sessions): runs from that kernel name the notebook. */
  notebookOpened?: (workspaceId: string, kernelId: string, path: string) => void;
}

/**
 * The workspace proxy: `/workspaces/<id>/…` (HTTP and websockets) to that workspace's Jupyter server
 * on its Unix socket. The caller must be allowed `workspaces:use` on the workspace (its owner or
 * whom they share it with); Paved's credentials are stripped and Jupyter's token added, so neither
 * side ever sees the other's. Paths that would leave the workspace's prefix are refused.
 */
export function workspaceProxy(deps: ProxyDeps): PassthroughDefinition {
  const target = async (ctx: PassthroughContext): Promise<{ row: WorkspaceRow; path: string }> => {
    const { id, path } = parseTarget(ctx.url);
    const row = await deps.store.get(id);
    if (!row) throw missingWorkspace(id);
    authorize(ctx.principal, "workspaces:use", toResource(row));
    if (!row.socket_path || !row.jupyter_token || (row.phase !== "RUNNING" && row.phase !== "STARTING")) {
      throw conflict(`workspace ${row.name} is ${row.phase}; it answers once RUNNING (start it with: paved workspace start ${row.workspace_id})`, { phase: row.phase });
    }
    deps.touched(row.workspace_id);
    return { row, path };
  };
  return {
    prefix: PROXY_PREFIX,
    summary: "A workspace's Jupyter server (HTTP and websockets), for its owner and whom they share it with",
    action: "workspaces:use",
    authenticate: (request, response) => cookieLogin(deps, request, response),
    async request(ctx, response) {
      const { row, path } = await target(ctx);
      const session = (ctx.request.method === "POST" || ctx.request.method === "PATCH") && /^\/workspaces\/[^/]+\/api\/sessions(\/[^/?]*)?(\?|$)/.test(path);
      await forward(row, path, ctx.request, response, session && deps.notebookOpened ? (body) => noteSession(row.workspace_id, body, deps.notebookOpened!) : undefined);
    },
    async upgrade(ctx, socket, head) {
      const { row, path } = await target(ctx);
      // What the user sends on a kernel's websocket (a cell to run, an interrupt) is use too.
      await forwardUpgrade(row, path, ctx.request, socket, head, () => deps.touched(row.workspace_id));
    },
  };
}

/**
 * The workspace id and the path to send on, from a request's URL. The path must stay under
 * `/workspaces/<id>/`: dot segments (plain or percent-encoded), backslashes and encoded slashes in
 * the id are refused rather than normalised.
 */
export function parseTarget(url: string): { id: string; path: string } {
  const [pathname = "", ...rest] = url.split("?");
  const query = rest.length ? `?${rest.join("?")}` : "";
  if (!pathname.startsWith(PROXY_PREFIX)) throw invalidInput("not a workspace path");
  const after = pathname.slice(PROXY_PREFIX.length);
  const slash = after.indexOf("/");
  const id = slash < 0 ? after : after.slice(0, slash);
  if (!/^[A-Za-z0-9_-]{1,128}$/.test(id)) throw invalidInput(`'${id.slice(0, 64)}' is not a workspace id; use the URL \`paved workspace show\` prints`);
  if (slash < 0) throw new PlatformError("INVALID_INPUT", `the workspace lives under /workspaces/${id}/ (with the trailing slash)`, { redirect: `/workspaces/${id}/` });
  const tail = after.slice(slash);
  let decoded: string;
  try {
    decoded = decodeURIComponent(tail);
  } catch {
    throw invalidInput("the path is not valid percent-encoding");
  }
  for (const candidate of [tail, decoded]) {
    if (candidate.includes("\\") || candidate.includes("\0") || candidate.split("/").some((s) => s === ".." || s === ".")) {
      throw invalidInput(`the path leaves workspace ${id}'s prefix /workspaces/${id}/; use paths inside it`);
    }
  }
  return { id, path: `${PROXY_PREFIX}${id}${tail}${query}` };
}

export function upstreamHeaders(row: WorkspaceRow, request: IncomingMessage, upgrade: boolean): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(request.headers)) {
    if (value === undefined || DROPPED_REQUEST_HEADERS.has(name) || (!upgrade && HOP_BY_HOP.has(name))) continue;
    out[name] = value;
  }
  // Jupyter's own cookies (its _xsrf) pass; Paved's never do.
  const cookies = (Array.isArray(request.headers.cookie) ? request.headers.cookie.join("; ") : (request.headers.cookie ?? ""))
    .split(";")
    .map((c) => c.trim())
    .filter((c) => c && !PAVED_COOKIES.test(c.split("=")[0]!.trim()));
  if (cookies.length) out.cookie = cookies.join("; ");
  out.host = "localhost";
  out.authorization = `token ${row.jupyter_token}`;
  return out;
}

/** Jupyter's answer headers as the browser gets them: no hop-by-hop ones, and not Jupyter's own login cookie. */
function downstreamHeaders(headers: IncomingHttpHeaders): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || HOP_BY_HOP.has(name)) continue;
    if (name === "set-cookie") {
      // username-*: Jupyter's login cookie, which only the proxy's token makes (and needs) anyway.
      const kept = (value as string[]).filter((c) => !c.startsWith("username-"));
      if (kept.length) out[name] = kept;
      continue;
    }
    out[name] = value;
  }
  return out;
}

/** Records which notebook a session's kernel runs, from Jupyter's answer to a session request. */
function noteSession(workspaceId: string, body: Buffer, opened: NonNullable<ProxyDeps["notebookOpened"]>): void {
  try {
    const session = JSON.parse(body.toString("utf8")) as { path?: unknown; kernel?: { id?: unknown } };
    if (typeof session.path === "string" && typeof session.kernel?.id === "string") opened(workspaceId, session.kernel.id, session.path);
  } catch {
    // Not a session (an error page): nothing to record.
  }
}

/** Largest session answer the proxy reads (one session's JSON is well under a kilobyte). */
const MAX_SESSION_BYTES = 64 * 1024;

function forward(row: WorkspaceRow, path: string, request: IncomingMessage, response: ServerResponse, onSession?: (body: Buffer) => void): Promise<void> {
  return new Promise((resolve) => {
    const upstream = httpRequest({ socketPath: row.socket_path!, method: request.method, path, headers: upstreamHeaders(row, request, false) });
    upstream.once("response", (answer) => {
      const headers = downstreamHeaders(answer.headers);
      const html = String(answer.headers["content-type"] ?? "").startsWith("text/html");
      answer.once("error", () => (response.destroy(), resolve()));
      // A whole answer read into memory (at most MAX_PAGE_BYTES, else both sides are dropped), then `done`.
      const readWhole = (done: (body: Buffer) => void) => {
        const chunks: Buffer[] = [];
        let size = 0;
        answer.on("data", (chunk: Buffer) => {
          size += chunk.length;
          if (size > MAX_PAGE_BYTES) {
            answer.destroy();
            response.destroy();
            resolve();
            return;
          }
          chunks.push(chunk);
        });
        answer.once("end", () => {
          done(Buffer.concat(chunks));
          resolve();
        });
      };
      if (onSession && !html && (answer.statusCode === 200 || answer.statusCode === 201)) {
        // Read before it is passed on, so the kernel knows its notebook before the page's first cell.
        readWhole((body) => {
          if (body.length <= MAX_SESSION_BYTES) onSession(body);
          response.writeHead(answer.statusCode ?? 502, headers);
          response.end(body);
        });
        return;
      }
      if (!html) {
        response.writeHead(answer.statusCode ?? 502, headers);
        answer.pipe(response);
        answer.once("end", () => resolve());
        return;
      }
      // Jupyter's pages embed its token (for their scripts, and in a link): cut it out. The pages
      // work without it, since every request they make passes this proxy, which adds the token.
      readWhole((body) => {
        const page = Buffer.from(body.toString("utf8").replaceAll(row.jupyter_token!, ""), "utf8");
        delete headers["content-length"];
        delete headers["etag"];
        response.writeHead(answer.statusCode ?? 502, { ...headers, "content-length": page.length });
        response.end(page);
      });
    });
    upstream.once("error", () => {
      if (!response.headersSent) {
        response.writeHead(502, { "content-type": "application/json" });
        response.end(JSON.stringify({ error: { code: "UNAVAILABLE", message: `workspace ${row.name}'s Jupyter server did not answer; see paved workspace show ${row.workspace_id}` } }));
      } else response.destroy();
      resolve();
    });
    response.once("close", () => upstream.destroy());
    request.pipe(upstream);
  });
}

function forwardUpgrade(row: WorkspaceRow, path: string, request: IncomingMessage, socket: Duplex, head: Buffer, used: () => void): Promise<void> {
  return new Promise((resolve, reject) => {
    const upstream = httpRequest({ socketPath: row.socket_path!, method: "GET", path, headers: upstreamHeaders(row, request, true) });
    upstream.once("upgrade", (answer, upstreamSocket, upstreamHead) => {
      // Kernel messages are small frames, answered at once: Nagle's algorithm would hold them back.
      (socket as Partial<Socket>).setNoDelay?.(true);
      const lines = [`HTTP/1.1 101 Switching Protocols`];
      for (let i = 0; i < answer.rawHeaders.length; i += 2) lines.push(`${answer.rawHeaders[i]}: ${answer.rawHeaders[i + 1]}`);
      socket.write(`${lines.join("\r\n")}\r\n\r\n`);
      if (upstreamHead.length) socket.write(upstreamHead);
      if (head.length) upstreamSocket.write(head);
      upstreamSocket.pipe(socket);
      socket.pipe(upstreamSocket);
      socket.on("data", used);
      const end = () => {
        upstreamSocket.destroy();
        socket.destroy();
      };
      upstreamSocket.once("close", end);
      socket.once("close", end);
      upstreamSocket.on("error", end);
      resolve();
    });
    upstream.once("response", (answer) => {
      // Jupyter refused the upgrade: pass its status on (as Paved's error shape) and close.
      answer.resume();
      reject(new PlatformError(answer.statusCode === 404 ? "NOT_FOUND" : "UNAVAILABLE", `workspace ${row.name}'s Jupyter server refused the websocket (HTTP ${answer.statusCode})`));
    });
    upstream.once("error", () => reject(new PlatformError("UNAVAILABLE", `workspace ${row.name}'s Jupyter server did not answer; see paved workspace show ${row.workspace_id}`)));
    upstream.end();
  });
}

/**
 * A browser's way in without a bearer token: `?paved-open=<code>` (from `paved workspace open`,
 * once, 2 minutes) is traded for a cookie scoped to this workspace's path, and the browser is sent
 * on to the same URL without the code; later requests carry the cookie.
 */
async function cookieLogin(deps: ProxyDeps, request: IncomingMessage, response: ServerResponse | undefined): Promise<{ principal: Principal } | { handled: true } | undefined> {
  const url = new URL(request.url ?? "/", "http://paved.invalid");
  let id: string;
  try {
    id = parseTarget(request.url ?? "/").id;
  } catch {
    return undefined;
  }
  const now = deps.now();
  const code = url.searchParams.get(OPEN_PARAM);
  if (code && response && /^[A-Za-z0-9_-]{16,128}$/.test(code)) {
    const login = await deps.store.login(sha256(code));
    if (!login || login.kind !== "code" || login.workspace_id !== id || login.expires_at < now || !(await deps.store.takeLogin(login.key_hash))) {
      throw new PlatformError("UNAUTHENTICATED", "this workspace link has expired or was used already; get a new one with `paved workspace open`");
    }
    const secret = randomSecret();
    await deps.store.insertLogin({ key_hash: sha256(secret), workspace_id: id, user_id: login.user_id, kind: "cookie", created_at: now, expires_at: now + COOKIE_MS });
    url.searchParams.delete(OPEN_PARAM);
    response.writeHead(303, {
      location: `${url.pathname}${url.search}`,
      "set-cookie": `${WORKSPACE_COOKIE}=${secret}; Path=/workspaces/${id}/; HttpOnly; SameSite=Strict; Max-Age=${COOKIE_MS / 1000}`,
      "cache-control": "no-store",
    });
    response.end();
    return { handled: true };
  }
  const cookie = readOne(request.headers.cookie, WORKSPACE_COOKIE);
  if (!cookie) return undefined;
  const login = await deps.store.login(sha256(cookie));
  if (!login || login.kind !== "cookie" || login.workspace_id !== id || login.expires_at < now) return undefined;
  const principal = await deps.principalOf(login.user_id);
  return principal ? { principal } : undefined;
}

function readOne(header: string | string[] | undefined, name: string): string | undefined {
  const text = Array.isArray(header) ? header.join("; ") : header;
  for (const part of (text ?? "").slice(0, 8192).split(";")) {
    const eq = part.indexOf("=");
    if (eq > 0 && part.slice(0, eq).trim() === name) {
      const value = part.slice(eq + 1).trim();
      return /^[A-Za-z0-9_-]{16,128}$/.test(value) ? value : undefined;
    }
  }
  return undefined;
}

function randomSecret(): string {
  return randomBytes(32).toString("base64url");
}
