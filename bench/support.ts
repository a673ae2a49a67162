// Shared pieces of the benchmarks: a keep-alive HTTP client (and a leaner one for load), a real `paved up` process, timing
// statistics, the machine description and the side-by-side table every bench prints.
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import http from "node:http";
import { connect, type Socket } from "node:net";
import { cpus, freemem, tmpdir, totalmem } from "node:os";
import { join } from "node:path";
import { stringify } from "yaml";
import { stopDataPlanes } from "../src/dataplane/index.ts";

export const ROOT = new URL("..", import.meta.url).pathname;

/**
 * Whether this code runs bundled: scripts/device/pack.sh puts the bench runner in .device/bench.mjs
 * beside paved.mjs and onnx-http-server.mjs, for machines without node_modules or tsx. The bundle
 * spawns those siblings with plain node instead of bin/paved.js and `--import tsx bench/<file>.ts`.
 */
export const BUNDLED = !import.meta.url.endsWith(".ts");

export interface BenchOptions {
  /** Install missing system packages (Slurm) with apt. */
  installSlurm: boolean;
  /** Scale factor for quick runs (BENCH_SCALE=0.1 divides the work by ten). */
  scale: number;
}

export interface BenchResult {
  name: string;
  /** Figures keyed by a stable name, written to bench/results/<name>.json. */
  figures: Record<string, unknown>;
  /** Lines printed after the figures (targets met or not, notes). */
  notes: string[];
}

export function machine(): Record<string, unknown> {
  const cpuList = cpus();
  return {
    cpus: cpuList.length,
    cpuModel: cpuList[0]?.model.trim(),
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    freeMemoryGiB: Math.round(freemem() / 2 ** 30),
    node: process.version,
    platform: `${process.platform} ${process.arch}`,
  };
}

export function tempDir(prefix: string): { path: string; remove(): void } {
  const path = mkdtempSync(join(tmpdir(), `paved-bench-${prefix}-`));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank] as number;
}

export function summarize(samples: number[]): { n: number; p50: number; p90: number; p99: number; max: number; mean: number } {
  const sorted = [...samples].sort((a, b) => a - b);
  const mean = sorted.reduce((a, b) => a + b, 0) / Math.max(1, sorted.length);
  return {
    n: sorted.length,
    p50: round(percentile(sorted, 50)),
    p90: round(percentile(sorted, 90)),
    p99: round(percentile(sorted, 99)),
    max: round(sorted[sorted.length - 1] ?? Number.NaN),
    mean: round(mean),
  };
}

export function round(value: number, digits = 2): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

/** Wall-clock time in milliseconds with sub-millisecond resolution (comparable to `date +%s%N`). */
export function nowMs(): number {
  return performance.timeOrigin + performance.now();
}

export function printTable(title: string, header: string[], rows: (string | number)[][]): void {
  const cells = [header, ...rows.map((r) => r.map((c) => (typeof c === "number" ? formatNumber(c) : c)))];
  const widths = header.map((_, i) => Math.max(...cells.map((r) => String(r[i] ?? "").length)));
  const line = (r: (string | number)[]) => r.map((c, i) => (i === 0 ? String(c).padEnd(widths[i]!) : String(c).padStart(widths[i]!))).join("  ");
  process.stdout.write(`\n${title}\n${line(header)}\n${widths.map((w) => "-".repeat(w)).join("  ")}\n`);
  for (const r of cells.slice(1)) process.stdout.write(`${line(r)}\n`);
}

export function formatNumber(n: number): string {
  if (!Number.isFinite(n)) return String(n);
  if (Math.abs(n) >= 1000) return Math.round(n).toLocaleString("en-US");
  return String(round(n));
}

/** A JSON-over-HTTP client on keep-alive connections (at most `connections` sockets). */
export class HttpClient {
  readonly agent: http.Agent;

  constructor(
    readonly baseUrl: string,
    readonly token: string | undefined,
    connections = 4,
  ) {
    this.agent = new http.Agent({ keepAlive: true, maxSockets: connections, maxFreeSockets: connections });
  }

  /** Sends a body (object, or pre-serialized string/Buffer) and returns the parsed JSON answer. */
  async request<T = unknown>(method: string, path: string, body?: unknown): Promise<T> {
    const { status, text } = await this.raw(method, path, body);
    if (status >= 300) throw new Error(`${method} ${path} answered ${status}: ${text.slice(0, 500)}`);
    return (text ? JSON.parse(text) : undefined) as T;
  }

  /** `headers` replace the defaults (a JSON Content-Type when there is a body); null drops one. */
  raw(method: string, path: string, body?: unknown, headers: Record<string, string | null> = {}): Promise<{ status: number; text: string }> {
    const payload = body === undefined ? undefined : typeof body === "string" || Buffer.isBuffer(body) ? body : JSON.stringify(body);
    const url = new URL(path, this.baseUrl);
    return new Promise((resolve, reject) => {
      const req = http.request(
        url,
        {
          method,
          agent: this.agent,
          headers: withoutNulls({
            ...(this.token ? { authorization: `Bearer ${this.token}` } : {}),
            ...(payload !== undefined ? { "content-type": "application/json", "content-length": String(Buffer.byteLength(payload)) } : {}),
            ...headers,
          }),
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("end", () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString("utf8") }));
          res.on("error", reject);
        },
      );
      req.on("error", reject);
      req.end(payload);
    });
  }

  close(): void {
    this.agent.destroy();
  }
}

/**
 * A load generator's connection: requests encoded once (`encodeRequest`), each sent with one write
 * on one keep-alive socket, its answer read by its Content-Length. No node:http client objects per
 * request, and no body re-encoded per send: on a machine whose server and client share the cores,
 * node:http's client took 0.27-0.57 ms of CPU to send an 80 KiB body, this one 0.10-0.14
 * (docs/benchmarks.md#tracking), so more of the cores go to the server measured. One request at a
 * time; an answer without a Content-Length, or a socket closed before the answer, is an error.
 */
export class RawConnection {
  private socket: Socket | undefined;
  private busy = false;
  private waiter: { resolve(answer: { status: number; text: string }): void; reject(error: Error): void } | undefined;
  private chunks: Buffer[] = [];
  private failed: Error | undefined;

  private constructor(private readonly url: URL) {}

  static async open(baseUrl: string): Promise<RawConnection> {
    const connection = new RawConnection(new URL(baseUrl));
    await connection.connect();
    return connection;
  }

  /**
   * Sends one request and reads its answer. A socket the server closed while idle (its keep-alive
   * timeout, while another row of the bench had its turn) is opened again first, as node's Agent does.
   */
  async send(request: Buffer): Promise<{ status: number; text: string }> {
    if (this.failed) throw this.failed;
    if (this.busy) throw new Error("RawConnection: one request at a time");
    this.busy = true;
    try {
      if (!this.socket) await this.connect();
      const socket = this.socket!;
      return await new Promise((resolve, reject) => {
        this.waiter = { resolve, reject };
        socket.write(request);
      });
    } finally {
      this.busy = false;
    }
  }

  close(): void {
    this.failed ??= new Error("RawConnection: closed");
    this.socket?.destroy();
  }

  private connect(): Promise<void> {
    return new Promise((resolve, reject) => {
      const socket = connect(Number(this.url.port), this.url.hostname);
      socket.once("error", reject);
      socket.once("connect", () => {
        socket.off("error", reject);
        this.attach(socket);
        resolve();
      });
    });
  }

  private attach(socket: Socket): void {
    socket.setNoDelay(true);
    this.socket = socket;
    this.chunks = [];
    socket.on("data", (chunk: Buffer) => this.received(chunk));
    const lost = (error?: Error) => {
      if (this.socket !== socket) return;
      this.socket = undefined;
      // An error (a reset, an answer it could not read) ends the connection; a plain close while idle does not.
      if (error) this.failed ??= error;
      const waiter = this.waiter;
      this.waiter = undefined;
      waiter?.reject(error ?? new Error("the server closed the connection before its answer"));
    };
    socket.on("error", lost);
    socket.on("close", () => lost());
  }

  private received(chunk: Buffer): void {
    this.chunks.push(chunk);
    const data = this.chunks.length === 1 ? chunk : Buffer.concat(this.chunks);
    const end = data.indexOf("\r\n\r\n");
    if (end < 0) return;
    const head = data.toString("latin1", 0, end);
    const length = /\r\ncontent-length: *(\d+)/i.exec(head);
    if (!length) return void this.socket?.destroy(new Error(`an answer without Content-Length: ${head.slice(0, 200)}`));
    const bodyEnd = end + 4 + Number(length[1]);
    if (data.length < bodyEnd) return void (this.chunks = [data]);
    this.chunks = data.length > bodyEnd ? [data.subarray(bodyEnd)] : [];
    const waiter = this.waiter;
    this.waiter = undefined;
    waiter?.resolve({ status: Number(head.slice(9, 12)), text: data.toString("utf8", end + 4, bodyEnd) });
  }
}

/** An HTTP/1.1 request as RawConnection sends it: a JSON body, with a bearer token when given. */
export function encodeRequest(method: string, baseUrl: string, path: string, body: string, token?: string): Buffer {
  const payload = Buffer.from(body);
  const head = `${method} ${path} HTTP/1.1\r\nhost: ${new URL(baseUrl).host}\r\ncontent-type: application/json\r\ncontent-length: ${payload.length}\r\n${token ? `authorization: Bearer ${token}\r\n` : ""}\r\n`;
  return Buffer.concat([Buffer.from(head, "latin1"), payload]);
}

function withoutNulls(headers: Record<string, string | null>): Record<string, string> {
  return Object.fromEntries(Object.entries(headers).filter((e): e is [string, string] => e[1] !== null));
}

export interface PavedProcess {
  url: string;
  token: string;
  dataDir: string;
  child: ChildProcess;
  output(): string;
  /** Its data-plane processes (serving.dataPlane.processes), once `paved up` started them. */
  dataPlanes(): Promise<{ url: string; pid: number }[]>;
  /** SIGKILL: no chance to clean up. */
  kill9(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Starts a real `paved up` (its own process, as shipped: SQLite in WAL with synchronous=FULL) on
 * a fresh data folder, with a known admin token, and waits until /api/v1/health answers.
 */
export async function startPaved(opts: { name: string; config?: Record<string, unknown>; dataDir?: string; token?: string; nodeArgs?: string[] }): Promise<PavedProcess> {
  const dir = tempDir(opts.name);
  // A given data dir (replicas sharing one) outlives this process; a fresh one goes with it.
  const dataDir = opts.dataDir ?? join(dir.path, "data");
  const token = opts.token ?? randomBytes(24).toString("base64url");
  const configFile = join(dir.path, "paved.yaml");
  writeFileSync(configFile, stringify({ logLevel: "warn", compute: { gpus: [] }, ...opts.config }));
  const cli = BUNDLED ? new URL("./paved.mjs", import.meta.url).pathname : join(ROOT, "bin/paved.js");
  // `nodeArgs`: flags for the server's node (e.g. --cpu-prof to profile it).
  const child = spawn(process.execPath, [...(opts.nodeArgs ?? []), cli, "up", "--port", "0", "--data-dir", dataDir, "--config", configFile], {
    env: { ...process.env, PAVED_ADMIN_TOKEN: token },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  child.stdout?.on("data", (d) => (out += d));
  child.stderr?.on("data", (d) => (out += d));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`paved up did not start within 30 s:\n${out}`)), 30_000);
    const check = () => {
      const m = out.match(/listening on (http:\/\/\S+)/);
      if (m?.[1]) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    };
    child.stdout?.on("data", check);
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`paved up exited with ${code}:\n${out}`));
    });
  });
  return {
    url,
    token,
    dataDir,
    child,
    output: () => out,
    async dataPlanes() {
      const deadline = Date.now() + 60_000;
      while (!/data-plane process\(es\)/.test(out)) {
        if (Date.now() > deadline || child.exitCode !== null) throw new Error(`paved up started no data plane:\n${out}`);
        await new Promise((r) => setTimeout(r, 50));
      }
      const root = join(dataDir, "dataplane");
      return readdirSync(root)
        .filter((d) => /^\d+$/.test(d))
        .sort((a, b) => Number(a) - Number(b))
        .map((d) => JSON.parse(readFileSync(join(root, d, "process.json"), "utf8")) as { url: string; pid: number });
    },
    async kill9() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((r) => child.once("exit", r));
      child.kill("SIGKILL");
      await exited;
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((r) => child.once("exit", r));
        child.kill("SIGTERM");
        const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
        await exited;
        clearTimeout(timer);
      }
      // paved up's SIGTERM leaves its data plane serving.
      if (!opts.dataDir) await stopDataPlanes(dataDir);
      dir.remove();
    },
  };
}

/**
 * Starts a TypeScript file of bench/ as its own Node process (bundled: its .mjs sibling, which
 * pack.sh builds for onnx-http-server.ts only); it prints `port=N` once listening.
 */
export async function startHelperServer(file: string, args: string[] = []): Promise<{ url: string; pid: number; stop(): Promise<void> }> {
  const entry = BUNDLED ? [new URL(`./${file.replace(/\.ts$/, ".mjs")}`, import.meta.url).pathname] : ["--import", "tsx", join(ROOT, "bench", file)];
  const child = spawn(process.execPath, [...entry, ...args], { stdio: ["ignore", "pipe", "inherit"] });
  const port = await new Promise<number>((resolve, reject) => {
    let out = "";
    child.stdout?.on("data", (d) => {
      out += d;
      const m = out.match(/port=(\d+)/);
      if (m) resolve(Number(m[1]));
    });
    child.once("exit", (code) => reject(new Error(`${file} exited with ${code}`)));
  });
  return {
    url: `http://127.0.0.1:${port}`,
    pid: child.pid!,
    async stop() {
      const exited = new Promise((r) => child.once("exit", r));
      child.kill("SIGTERM");
      await exited;
    },
  };
}

/**
 * CPU time (user + system, ms) that a process has used so far: its main thread (the thread whose
 * id is the pid), all its threads together, and each thread by id, from /proc (Linux; undefined elsewhere).
 */
export function processCpuMs(pid: number): { main: number; all: number; threads: Map<number, number> } | undefined {
  const tick = 10; // USER_HZ is 100 on Linux
  try {
    let all = 0;
    const threads = new Map<number, number>();
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      let stat: string;
      try {
        stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, "utf8");
      } catch {
        continue; // the thread ended meanwhile
      }
      // Fields after the command name, which is in parentheses: utime and stime are the 12th and 13th.
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      const ms = (Number(fields[11]) + Number(fields[12])) * tick;
      all += ms;
      threads.set(Number(tid), ms);
    }
    return { main: threads.get(pid) ?? 0, all, threads };
  } catch {
    return undefined;
  }
}

/** The most CPU (ms) one thread other than the main one used between two readings of processCpuMs. */
export function busiestOtherThreadMs(pid: number, before: { threads: Map<number, number> }, after: { threads: Map<number, number> }): number {
  let most = 0;
  for (const [tid, ms] of after.threads) if (tid !== pid) most = Math.max(most, ms - (before.threads.get(tid) ?? 0));
  return most;
}

/** Raw samples of one `driveSamples` call: wall time and per-request latencies (ms). */
export interface DriveSamples {
  seconds: number;
  latencies: number[];
}

/**
 * The serving benches' load driver: sends the pre-serialized `body` `requests` times (or for
 * `{ seconds }`) over `concurrency` keep-alive connections of `client`, after `warmup` requests
 * one at a time (default min(200, requests)), and fails on any answer but 200.
 */
export async function driveSamples(
  client: HttpClient,
  path: string,
  body: string | Buffer,
  concurrency: number,
  requests: number | { seconds: number },
  warmup = Math.min(200, typeof requests === "number" ? requests : 200),
  headers: Record<string, string | null> = {},
): Promise<DriveSamples> {
  const send = async () => {
    const { status, text } = await client.raw("POST", path, body, headers);
    if (status !== 200) throw new Error(`${path} answered ${status}: ${text.slice(0, 300)}`);
  };
  for (let i = 0; i < warmup; i++) await send();
  let next = 0;
  const latencies: number[] = [];
  const start = performance.now();
  const more = typeof requests === "number" ? () => next < requests : () => performance.now() - start < requests.seconds * 1000;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (more()) {
        next++;
        const t = performance.now();
        await send();
        latencies.push(performance.now() - t);
      }
    }),
  );
  return { seconds: (performance.now() - start) / 1000, latencies };
}

/** `driveSamples` summarized: requests sent, requests per second and latency percentiles (ms). */
export async function drive(
  client: HttpClient,
  path: string,
  body: string | Buffer,
  concurrency: number,
  requests: number | { seconds: number },
  warmup?: number,
  headers: Record<string, string | null> = {},
): Promise<{ requests: number; requestsPerSecond: number; ms: ReturnType<typeof summarize> }> {
  const { seconds, latencies } = await driveSamples(client, path, body, concurrency, requests, warmup, headers);
  return { requests: latencies.length, requestsPerSecond: latencies.length / seconds, ms: summarize(latencies) };
}
