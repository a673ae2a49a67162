// Peer bench: the quickstart-like MLP served by Paved (a real `paved up`, ONNX) beside the same
// model served the way a team writes it by hand today: FastAPI + uvicorn + PyTorch from Debian's
// packages (bench/peer/fastapi_server.py). Same OIP v2 request bodies, same driver, concurrency 1
// and 32, in interleaved rounds. Installs python3-fastapi / python3-uvicorn with apt when missing.
import { spawn, spawnSync } from "node:child_process";
import { readFileSync, readdirSync } from "node:fs";
import { createServer } from "node:net";
import { loadavg } from "node:os";
import { join } from "node:path";
import { buildTestModels } from "../src/modules/serving/test-models.ts";
import { HttpClient, ROOT, driveSamples, printTable, processCpuMs, round, startPaved, summarize, type BenchOptions, type BenchResult } from "./support.ts";

const TARGET_THROUGHPUT_RATIO = 10;
const TARGET_CONCURRENCY = 32;
const PYTHON = "/usr/bin/python3";
/** Python modules the peer imports, and the Debian packages that hold them. */
const PACKAGES: Record<string, string> = { fastapi: "python3-fastapi", uvicorn: "python3-uvicorn", torch: "python3-torch" };

interface Target {
  key: string;
  label: string;
  url: string;
  token?: string;
  path: string;
  /** The server's process (its CPU time, children included, is read around each round). */
  pid: number;
  /** Requests sent before each series (Paved's JIT-compiled path needs a few thousand). */
  warmup: number;
  /** Requests per round at c=1 and c=32 (the peer is slower: fewer, so rounds take alike time). */
  requests: Record<number, number>;
}

function missingModules(): string[] {
  return Object.keys(PACKAGES).filter((m) => spawnSync(PYTHON, ["-c", `import ${m}`], { stdio: "ignore" }).status !== 0);
}

/** apt-get installs the Debian packages of the peer's missing modules (with sudo unless root). */
function ensurePeerPackages(): string[] {
  const missing = missingModules().map((m) => PACKAGES[m]!);
  if (missing.length === 0) return [];
  process.stdout.write(`peer: installing ${missing.join(" ")} with apt-get ...\n`);
  const sudo = process.getuid?.() === 0 ? [] : ["sudo"];
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  spawnSync([...sudo, "apt-get", "update", "-q"].join(" "), { shell: true, stdio: "ignore", env });
  const r = spawnSync([...sudo, "apt-get", "install", "-y", "-q", ...missing].join(" "), { shell: true, stdio: ["ignore", "ignore", "inherit"], env });
  const still = missingModules();
  if (r.status !== 0 || still.length) throw new Error(`apt-get install ${missing.join(" ")} failed; ${PYTHON} still lacks ${still.join(", ")}`);
  return missing;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => resolve(typeof address === "object" && address ? address.port : 0));
    });
  });
}

/** Starts uvicorn on the FastAPI peer as a team runs it (defaults, but no access log), and waits until it answers. */
async function startUvicorn(opts: { workers: number; asyncEndpoint: boolean; forceNoDelay?: boolean }): Promise<{ url: string; pid: number; stop(): Promise<void> }> {
  const port = await freePort();
  const args = ["-m", "uvicorn", "fastapi_server:app", "--app-dir", join(ROOT, "bench/peer"), "--host", "127.0.0.1", "--port", String(port), "--workers", String(opts.workers), "--no-access-log", "--log-level", "warning"];
  const child = spawn(PYTHON, args, { env: { ...process.env, PEER_ASYNC: opts.asyncEndpoint ? "1" : "0", PEER_FORCE_NODELAY: opts.forceNoDelay ? "1" : "0" }, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  child.stdout?.on("data", (d) => (out += d));
  child.stderr?.on("data", (d) => (out += d));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 60_000;
  const probe = new HttpClient(url, undefined, 1);
  try {
    for (;;) {
      if (child.exitCode !== null) throw new Error(`uvicorn exited with ${child.exitCode}:\n${out}`);
      if (Date.now() > deadline) throw new Error(`uvicorn did not answer within 60 s:\n${out}`);
      const ok = await probe.raw("GET", "/v2/health/ready").then((r) => r.status === 200, () => false);
      if (ok) break;
      await new Promise((r) => setTimeout(r, 200));
    }
  } catch (error) {
    child.kill("SIGKILL");
    throw error;
  } finally {
    probe.close();
  }
  return {
    url,
    pid: child.pid!,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((r) => child.once("exit", r));
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** Child processes of `pid` (uvicorn --workers N runs the app in children of its supervisor). */
function childPids(pid: number): number[] {
  try {
    return readdirSync(`/proc/${pid}/task`).flatMap((tid) =>
      readFileSync(`/proc/${pid}/task/${tid}/children`, "utf8").trim().split(/\s+/).filter(Boolean).map(Number),
    );
  } catch {
    return [];
  }
}

/** CPU time (ms) a process and its descendants have used so far; undefined off Linux. */
function treeCpuMs(pid: number): number | undefined {
  const own = processCpuMs(pid);
  if (!own) return undefined;
  return own.all + childPids(pid).reduce((sum, child) => sum + (treeCpuMs(child) ?? 0), 0);
}

interface Measured {
  requestsPerSecond: number;
  ms: ReturnType<typeof summarize>;
  /** Throughput of each round (req/s). */
  rounds: number[];
  /** Server CPU time (all threads and worker processes) per request, µs: less sensitive than req/s to what else runs on the machine. */
  serverCpuUsPerRequest: number | undefined;
}

/** Every target at `concurrency`, `rounds` times, the order rotating each round; all samples pooled per target. */
async function interleaved(targets: Target[], concurrency: number, rounds: number, body: string): Promise<Record<string, Measured>> {
  const clients = new Map(targets.map((t) => [t.key, new HttpClient(t.url, t.token, concurrency)]));
  const acc = new Map(targets.map((t) => [t.key, { seconds: 0, requests: 0, cpuMs: 0 as number | undefined, latencies: [] as number[], rounds: [] as number[] }]));
  try {
    for (const t of targets) await driveSamples(clients.get(t.key)!, t.path, body, concurrency, t.warmup, 0);
    for (let r = 0; r < rounds; r++) {
      const order = targets.map((_, i) => targets[(i + r) % targets.length]!);
      for (const t of order) {
        const requests = t.requests[concurrency]!;
        const cpuBefore = treeCpuMs(t.pid);
        const s = await driveSamples(clients.get(t.key)!, t.path, body, concurrency, requests, 0);
        const cpuAfter = treeCpuMs(t.pid);
        const a = acc.get(t.key)!;
        a.cpuMs = a.cpuMs !== undefined && cpuBefore !== undefined && cpuAfter !== undefined ? a.cpuMs + cpuAfter - cpuBefore : undefined;
        a.seconds += s.seconds;
        a.requests += requests;
        a.latencies.push(...s.latencies);
        a.rounds.push(round(requests / s.seconds));
      }
    }
  } finally {
    for (const c of clients.values()) c.close();
  }
  return Object.fromEntries(targets.map((t) => {
    const a = acc.get(t.key)!;
    return [t.key, { requestsPerSecond: round(a.requests / a.seconds), ms: summarize(a.latencies), rounds: a.rounds, serverCpuUsPerRequest: a.cpuMs === undefined ? undefined : round((a.cpuMs * 1000) / a.requests, 0) }];
  }));
}

export async function run(options: BenchOptions): Promise<BenchResult> {
  const installed = ensurePeerPackages();
  const loadBefore = round(loadavg()[0]!);
  const versions = spawnSync(PYTHON, ["-c", "import fastapi, uvicorn, torch, pydantic; print(fastapi.__version__, uvicorn.__version__, torch.__version__, pydantic.VERSION, torch.get_num_threads())"], { encoding: "utf8" }).stdout.trim().split(" ");
  const [fastapiVersion, uvicornVersion, torchVersion, pydanticVersion, torchThreads] = versions;
  const models = buildTestModels();
  const scaled = (n: number, min: number) => Math.max(min, Math.round(n * options.scale));
  const rounds = Math.max(2, Math.round(6 * Math.min(1, options.scale * 2)));
  const row = Array.from({ length: 30 }, (_, i) => round(Math.sin(i + 1), 4));
  const body = JSON.stringify({ inputs: [{ name: "features", shape: [1, 30], datatype: "FP32", data: row }] });

  const paved = await startPaved({ name: "peer" });
  const requests = { 1: scaled(500, 100), 32: scaled(1500, 300) };
  const warmup = scaled(3000, 500);
  const peers: { key: string; label: string; workers: number; asyncEndpoint: boolean; forceNoDelay?: boolean; warmup?: number; requests: Record<number, number> }[] = [
    { key: "fastapiAsync", label: "FastAPI async def, uvicorn 1 worker", workers: 1, asyncEndpoint: true, requests },
    { key: "fastapiSync", label: "FastAPI def (thread pool), uvicorn 1 worker", workers: 1, asyncEndpoint: false, requests },
    // As shipped, --workers 2 leaves Nagle on (uvicorn #3149): ~40 ms per keep-alive answer, so fewer requests.
    { key: "fastapiAsync2Stock", label: "FastAPI async def, uvicorn --workers 2 (Nagle on, uvicorn #3149)", workers: 2, asyncEndpoint: true, warmup: 20, requests: { 1: scaled(50, 20), 32: scaled(750, 200) } },
    { key: "fastapiAsync2", label: "FastAPI async def, uvicorn --workers 2, TCP_NODELAY forced", workers: 2, asyncEndpoint: true, forceNoDelay: true, requests },
  ];
  const servers: { stop(): Promise<void> }[] = [];
  try {
    const admin = new HttpClient(paved.url, paved.token, 1);
    await admin.request("PUT", "/api/v1/serving/models/mlp/versions/1", Buffer.from(models.bytes("mlp")));
    admin.close();
    const [dataPlane] = await paved.dataPlanes();
    const targets: Target[] = [
      { key: "paved", label: "paved data plane (ONNX, 1 replica)", url: dataPlane!.url, token: paved.token, pid: dataPlane!.pid, path: "/v2/models/mlp/infer", warmup, requests: { 1: scaled(1000, 200), 32: scaled(6000, 1000) } },
    ];
    for (const p of peers) {
      const server = await startUvicorn(p);
      servers.push(server);
      targets.push({ key: p.key, label: p.label, url: server.url, pid: server.pid, path: "/v2/models/mlp/infer", warmup: p.warmup ?? warmup, requests: p.requests });
    }
    // The peer answers the same body with an OIP response of the same shape.
    const check = new HttpClient(targets[1]!.url, undefined, 1);
    const answer = await check.request<{ outputs: { shape: number[] }[] }>("POST", targets[1]!.path, body);
    check.close();
    if (JSON.stringify(answer.outputs[0]?.shape) !== "[1,1]") throw new Error(`the FastAPI peer answered ${JSON.stringify(answer)}`);

    const c1 = await interleaved(targets, 1, rounds, body);
    const c32 = await interleaved(targets, TARGET_CONCURRENCY, rounds, body);
    const cells = (m: Measured) => [m.ms.p50, m.ms.p99, m.requestsPerSecond, m.serverCpuUsPerRequest ?? "-", `${Math.round(Math.min(...m.rounds))} - ${Math.round(Math.max(...m.rounds))}`];
    const rows = targets.flatMap((t) => [
      [`${t.label}, c=1`, ...cells(c1[t.key]!)],
      [`${t.label}, c=${TARGET_CONCURRENCY}`, ...cells(c32[t.key]!)],
    ]);
    printTable(
      `mlp (30 -> 16 -> 16 -> 1), batch-1 OIP infer over keep-alive HTTP, ${rounds} interleaved rounds after ${warmup} warm-up requests per series (FastAPI ${fastapiVersion}, uvicorn ${uvicornVersion}, torch ${torchVersion} with ${torchThreads} thread(s), pydantic ${pydanticVersion})`,
      ["", "p50 ms", "p99 ms", "req/s", "server CPU µs/req", "req/s range over rounds"],
      rows,
    );
    const pavedRps = c32.paved!.requestsPerSecond;
    // The headline peer: the faster of the two single-worker apps (uvicorn's default is one worker).
    const oneWorker = [c32.fastapiAsync!, c32.fastapiSync!].sort((a, b) => b.requestsPerSecond - a.requestsPerSecond)[0]!;
    const oneWorkerKey = oneWorker === c32.fastapiAsync ? "fastapiAsync" : "fastapiSync";
    const ratio = pavedRps / oneWorker.requestsPerSecond;
    const ratio2 = pavedRps / c32.fastapiAsync2!.requestsPerSecond;
    const roundRatios = c32.paved!.rounds.map((p, i) => round(p / c32[oneWorkerKey]!.rounds[i]!, 1));
    const notes = [
      `throughput at c=${TARGET_CONCURRENCY}: paved ${Math.round(pavedRps)} req/s vs FastAPI+uvicorn+PyTorch (1 worker, ${peers.find((p) => p.key === oneWorkerKey)!.label.split(",")[0]}) ${Math.round(oneWorker.requestsPerSecond)} req/s = ${round(ratio, 1)}x ` +
        `(per round ${roundRatios.join(" / ")}); target >= ${TARGET_THROUGHPUT_RATIO}x: ${ratio >= TARGET_THROUGHPUT_RATIO ? "met" : "NOT met"}`,
      `against 2 uvicorn workers (= cores here): ${Math.round(c32.fastapiAsync2!.requestsPerSecond)} req/s with TCP_NODELAY forced, paved ${round(ratio2, 1)}x; ` +
        `as shipped (Nagle on) ${Math.round(c32.fastapiAsync2Stock!.requestsPerSecond)} req/s at c=${TARGET_CONCURRENCY}, p50 ${c1.fastapiAsync2Stock!.ms.p50} ms at c=1`,
      `server CPU per request at c=${TARGET_CONCURRENCY} (all threads and processes; what throughput would be bound by on a machine of its own): ` +
        `paved ${c32.paved!.serverCpuUsPerRequest} µs vs FastAPI (1 worker, ${oneWorkerKey === "fastapiAsync" ? "async def" : "def"}) ${oneWorker.serverCpuUsPerRequest} µs = ${
          c32.paved!.serverCpuUsPerRequest && oneWorker.serverCpuUsPerRequest ? round(oneWorker.serverCpuUsPerRequest / c32.paved!.serverCpuUsPerRequest, 1) : "-"
        }x less CPU per request`,
      `p50 at c=1: paved ${c1.paved!.ms.p50} ms, FastAPI (1 worker) ${c1.fastapiAsync!.ms.p50} ms async def / ${c1.fastapiSync!.ms.p50} ms def`,
      `load average (1 min): ${loadBefore} at start, ${round(loadavg()[0]!)} at the end (shared machine: compare rows of one run only)`,
      ...(installed.length ? [`installed with apt-get for this run: ${installed.join(", ")}`] : []),
    ];
    return {
      name: "peer",
      figures: {
        targetThroughputRatio: TARGET_THROUGHPUT_RATIO,
        loadAverage: { start: loadBefore, end: round(loadavg()[0]!) },
        concurrency: TARGET_CONCURRENCY,
        rounds,
        peer: { fastapi: fastapiVersion, uvicorn: uvicornVersion, torch: torchVersion, pydantic: pydanticVersion, torchThreads: Number(torchThreads) },
        c1,
        [`c${TARGET_CONCURRENCY}`]: c32,
        throughputRatio: round(ratio, 2),
        throughputRatioTwoWorkers: round(ratio2, 2),
        meetsTarget: ratio >= TARGET_THROUGHPUT_RATIO,
      },
      notes,
    };
  } finally {
    for (const s of servers) await s.stop();
    await paved.stop();
  }
}
