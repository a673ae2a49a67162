// A recorded Kubernetes API exchange, NOT a real API server: a small local HTTP server that answers
// the requests of a recording (test/fixtures/kubernetes/*.json) with the responses recorded for
// them, and keeps every request it received so a test can assert what the client sent. It has no
// state, runs no controller, schedules no pod: a request the recording does not hold is answered
// 501 and listed in `unmatched`, so a test fails when the client asks for something unrecorded.
import { readFileSync } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { KubeConfig } from "@kubernetes/client-node";

/** One recorded request and its response. */
export interface RecordedExchange {
  /** What the request must be: method, path (a `{name}` segment matches any one segment), and these query values. */
  request: { method: string; path: string; query?: Record<string, string> };
  response: {
    status: number;
    /** A JSON body (`{name}` in its strings becomes the matched segment). */
    body?: unknown;
    /** A plain-text body (a pod log). */
    text?: string;
    /** A streamed body, chunk by chunk (a watch, a followed log). */
    stream?: { data: string; delayMs?: number }[];
  };
}

export interface Recording {
  description: string;
  /** Where the shapes come from. */
  source: string;
  exchanges: RecordedExchange[];
}

export interface ReceivedRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  body: unknown;
}

export const FIXTURES = new URL("../fixtures/kubernetes/", import.meta.url);

export function loadRecording(name: string): Recording {
  return JSON.parse(readFileSync(new URL(`${name}.json`, FIXTURES), "utf8")) as Recording;
}

/**
 * Replays recordings: each exchange answers once, in the order recorded among those matching the
 * same request; once all of a request's exchanges were used, the last one answers again (a state
 * read many times).
 */
export class RecordedApiServer {
  readonly received: ReceivedRequest[] = [];
  readonly unmatched: string[] = [];
  private readonly used = new Set<RecordedExchange>();
  private readonly exchanges: RecordedExchange[] = [];
  private constructor(private readonly server: Server) {}

  /** Starts it on `port` (0: any free one) with the recordings' exchanges, in order. */
  static async start(recordings: Recording[], port = 0): Promise<RecordedApiServer> {
    const holder: { self?: RecordedApiServer } = {};
    const server = createServer((req, res) => void holder.self!.answer(req, res));
    const self = new RecordedApiServer(server);
    holder.self = self;
    for (const r of recordings) self.exchanges.push(...r.exchanges);
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, "127.0.0.1", () => resolve());
    });
    return self;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** A kubeconfig of this server (plain HTTP on loopback, a bearer token as a real one would carry). */
  kubeConfig(namespace = "ml-jobs"): KubeConfig {
    return kubeConfigFor(this.url, namespace);
  }

  /** The requests received with this method and path prefix. */
  requests(method: string, pathPrefix: string): ReceivedRequest[] {
    return this.received.filter((r) => r.method === method && r.path.startsWith(pathPrefix));
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private async answer(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://recording");
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const raw = Buffer.concat(chunks).toString("utf8");
    let body: unknown = raw;
    try {
      body = raw ? JSON.parse(raw) : undefined;
    } catch {
      // Not JSON: kept as text.
    }
    const query = Object.fromEntries(url.searchParams);
    this.received.push({ method: req.method ?? "GET", path: url.pathname, query, body });
    const candidates = this.exchanges
      .map((e) => ({ e, name: matchPath(e.request.path, url.pathname) }))
      .filter(({ e, name }) => e.request.method === req.method && name !== undefined && Object.entries(e.request.query ?? {}).every(([k, v]) => query[k] === v));
    const next = candidates.find(({ e }) => !this.used.has(e)) ?? candidates[candidates.length - 1];
    if (!next) {
      this.unmatched.push(`${req.method} ${url.pathname}${url.search}`);
      res.writeHead(501, { "content-type": "application/json" });
      res.end(JSON.stringify({ kind: "Status", apiVersion: "v1", metadata: {}, status: "Failure", message: "not in the recording", reason: "NotImplemented", code: 501 }));
      return;
    }
    this.used.add(next.e);
    const { response } = next.e;
    const name = next.name ?? "";
    if (response.stream) {
      res.writeHead(response.status, { "content-type": url.pathname.endsWith("/log") ? "text/plain" : "application/json", "transfer-encoding": "chunked" });
      for (const chunk of response.stream) {
        if (chunk.delayMs) await new Promise((r) => setTimeout(r, chunk.delayMs));
        if (res.destroyed) return;
        res.write(chunk.data.replaceAll("{name}", name));
      }
      res.end();
    } else if (response.text !== undefined) {
      res.writeHead(response.status, { "content-type": "text/plain" });
      res.end(response.text);
    } else {
      res.writeHead(response.status, { "content-type": "application/json" });
      res.end(JSON.stringify(response.body ?? {}).replaceAll("{name}", name));
    }
  }
}

export function kubeConfigFor(server: string, namespace = "ml-jobs"): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: "recorded", server, skipTLSVerify: true }],
    users: [{ name: "paved", token: "recorded-exchange-token" }],
    contexts: [{ name: "recorded", cluster: "recorded", user: "paved", namespace }],
    currentContext: "recorded",
  });
  return kc;
}

/** The `{name}` segment's value when `pattern` matches `path`; "" when it matches without one; undefined when not. */
function matchPath(pattern: string, path: string): string | undefined {
  const p = pattern.split("/");
  const a = path.split("/");
  if (p.length !== a.length) return undefined;
  let name = "";
  for (let i = 0; i < p.length; i++) {
    if (p[i] === "{name}") name = a[i]!;
    else if (p[i] !== a[i]) return undefined;
  }
  return name;
}

/** A port nothing listens on: an API server that is down (see freePort's note on the range it picks from). */
export { freePort } from "./ports.ts";
