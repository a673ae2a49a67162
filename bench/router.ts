// Router-overhead bench: what the deployments' traffic split adds to a versionless infer. Real
// ONNX models (the quickstart-like MLP) in a real ServingService + OnnxRuntime with a
// DeploymentRouter installed through `setRouter`, as the deployments module installs it: c=1
// latency of `service.infer(name, undefined, request)` for a single version without a split beside
// canary splits (10% and 50%), in interleaved rounds, plus the router's pick+observe alone in a
// tight loop. Then the same over HTTP on a real `paved up`, the split made through the public API
// (registry versions, a staging canary deployment held at its first step).
import { mkdtempSync, rmSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { createLogger, randomIds, systemClock } from "../src/core/index.ts";
// DeploymentRouter is not part of the deployments module's public surface (its index.ts); the bench
// reaches into router.ts here and only here, through the `routing` adapter below.
import { DeploymentRouter } from "../src/modules/deployments/index.ts";
import { OnnxRuntime, ServingService, type InferRequest, type Tensor } from "../src/modules/serving/index.ts";
import { buildTestModels, type TestModels } from "../src/modules/serving/test-models.ts";
import { HttpClient, driveSamples, percentile, printTable, round, startPaved, summarize, type BenchOptions, type BenchResult } from "./support.ts";

const TARGET_ADDED_P50_US = 50;
const MODEL = "mlp";

interface SplitSpec {
  stable: string;
  canary: string | null;
  /** Percent of traffic to the canary. */
  weight: number;
}

interface Variant {
  key: string;
  label: string;
  /** Serving's model name: each variant its own, but the explicit-version control reuses canary 50%'s versions. */
  model: string;
  versions: string[];
  split?: SplitSpec;
  /** Requests name one of these versions at random instead of none: the router is bypassed. */
  explicit?: string[];
  /** Not measured over HTTP (the public API cannot make this split). */
  inProcessOnly?: boolean;
}

/** The compared cases; the first is the baseline every difference is taken against. */
const VARIANTS: Variant[] = [
  { key: "single", label: "single version, no split", model: "single", versions: ["1"] },
  { key: "singleControl", label: "same again, another model (A/A control)", model: "single-b", versions: ["1"] },
  { key: "stableOnly", label: "deployed, split stable only (after a rollout)", model: "deployed", versions: ["1"], split: { stable: "1", canary: null, weight: 0 } },
  { key: "canary10", label: "canary split 10%", model: "canary-10", versions: ["1", "2"], split: { stable: "1", canary: "2", weight: 10 } },
  { key: "canary50", label: "canary split 50%", model: "canary-50", versions: ["1", "2"], split: { stable: "1", canary: "2", weight: 50 } },
  // The router's whole canary path (a random draw, both sides checked), but one version answers both: what is left of the canary's cost without a second worker.
  { key: "canarySame", label: "canary split 50%, both sides one version", model: "canary-same", versions: ["1"], split: { stable: "1", canary: "1", weight: 50 }, inProcessOnly: true },
  // Two versions answering half each, named by the request (no router at all): what two versions' workers cost by themselves.
  { key: "alternating", label: "two versions, 50/50 by explicit version (no router)", model: "canary-50", versions: [], explicit: ["1", "2"] },
];

/** A version of `v.explicit` at random, or undefined (versionless) for routed variants. */
function explicitVersion(v: Variant): string | undefined {
  return v.explicit ? v.explicit[Math.floor(Math.random() * v.explicit.length)] : undefined;
}

type Loaded = (name: string, version: string, environment: string) => boolean;
/** The bench serves production (the unprefixed /v2/models/{name}). */
const ENVIRONMENT = "production";

/**
 * Every call the bench makes on DeploymentRouter, in one place: when its signature moves, only this
 * object changes. Canary rollouts are the router's "weighted" mode; requests carry no routing key
 * (no X-Paved-Route-Key header), as in the HTTP part.
 */
const routing = {
  /** As createDeploymentsModule builds it (src/modules/deployments/index.ts): versions serving lists as loaded. */
  forServing: (serving: ServingService): DeploymentRouter => routing.create((name, version, environment) => serving.isLoaded(name, version, environment)),
  create: (loaded: Loaded): DeploymentRouter => new DeploymentRouter(loaded),
  split: (router: DeploymentRouter, model: string, split: SplitSpec): void =>
    router.set(model, { deploymentId: `bench-${model}`, environment: ENVIRONMENT, mode: "weighted", stable: split.stable, canary: split.canary, canaryWeight: split.weight }),
  /** The version answering a versionless request (undefined: serving's default). */
  pick: (router: DeploymentRouter, model: string, requestKey: string | undefined): string | undefined => router.pick(model, requestKey, ENVIRONMENT)?.version,
  /** What serving reports after a routed request answered: outcome, latency and the first output. */
  observe: (router: DeploymentRouter, model: string, version: string, ok: boolean, seconds: number, output: Tensor | undefined): void =>
    router.observe({ model, environment: ENVIRONMENT, version, role: "primary", ok, seconds, key: undefined, output }),
};

/** Latency samples per variant, and each round's p50 (for paired, per-round differences). */
interface Collected {
  samples: Map<string, number[]>;
  roundP50: Map<string, number[]>;
}

/**
 * Runs `rounds` rounds; each measures every variant once, in an order that rotates (and reverses
 * every other round) so that drift and neighbours hit all variants alike.
 */
async function interleaved(variants: Variant[], rounds: number, measure: (v: Variant) => Promise<number[]>): Promise<Collected> {
  const samples = new Map(variants.map((v) => [v.key, [] as number[]]));
  const roundP50 = new Map(variants.map((v) => [v.key, [] as number[]]));
  for (let r = 0; r < rounds; r++) {
    const order = variants.map((_, i) => variants[(i + r) % variants.length]!);
    if (r % 2 === 1) order.reverse();
    for (const variant of order) {
      const latencies = await measure(variant);
      samples.get(variant.key)!.push(...latencies);
      roundP50.get(variant.key)!.push(summarize(latencies).p50);
    }
  }
  return { samples, roundP50 };
}

interface VariantFigures {
  label: string;
  us: ReturnType<typeof summarize>;
  /** p50 minus the baseline's p50, all samples pooled (µs). */
  addedP50: number;
  /** Per-round p50 differences against the baseline measured in the same round (µs): median and quartiles. */
  addedP50Rounds: { median: number; p25: number; p75: number };
}

function compare(variants: Variant[], collected: Collected): Record<string, VariantFigures> {
  const base = variants[0]!.key;
  const baseSummary = summarize(collected.samples.get(base)!);
  const baseRounds = collected.roundP50.get(base)!;
  const out: Record<string, VariantFigures> = {};
  for (const v of variants) {
    const us = summarize(collected.samples.get(v.key)!);
    const diffs = collected.roundP50.get(v.key)!.map((p, i) => p - baseRounds[i]!).sort((a, b) => a - b);
    out[v.key] = {
      label: v.label,
      us,
      addedP50: round(us.p50 - baseSummary.p50),
      addedP50Rounds: { median: round(percentile(diffs, 50)), p25: round(percentile(diffs, 25)), p75: round(percentile(diffs, 75)) },
    };
  }
  return out;
}

function table(title: string, figures: Record<string, VariantFigures>): void {
  printTable(
    title,
    ["", "requests", "p50 µs", "p99 µs", "mean µs", "+p50 µs", "+p50 per round: median [p25, p75]"],
    Object.values(figures).map((f) => [f.label, f.us.n, f.us.p50, f.us.p99, f.us.mean, f.addedP50, `${f.addedP50Rounds.median} [${f.addedP50Rounds.p25}, ${f.addedP50Rounds.p75}]`]),
  );
}

/**
 * The verdict line: both estimates (pooled p50 difference, median of per-round differences) of both
 * canary splits beside the target and the A/A control. A split meets the target when both of its
 * estimates are under it, misses it when both are over, and is inconclusive otherwise; the worst
 * split decides.
 */
function verdict(where: string, figures: Record<string, VariantFigures>): string {
  const canaries = [figures.canary10!, figures.canary50!];
  const states = canaries.map((f) => (Math.max(f.addedP50, f.addedP50Rounds.median) < TARGET_ADDED_P50_US ? 0 : Math.min(f.addedP50, f.addedP50Rounds.median) >= TARGET_ADDED_P50_US ? 2 : 1));
  const state = ["met", "inconclusive (the estimates straddle it)", "NOT met"][Math.max(...states)];
  const control = figures.singleControl!;
  return (
    `${where}: a canary split adds ${figures.canary10!.addedP50} µs (10%) and ${figures.canary50!.addedP50} µs (50%) to p50 over a single version, all samples pooled; ` +
    `per-round medians ${figures.canary10!.addedP50Rounds.median} / ${figures.canary50!.addedP50Rounds.median} µs; target < ${TARGET_ADDED_P50_US} µs: ${state}. ` +
    `Noise: the A/A control (no split either) reads ${control.addedP50} µs pooled, ${control.addedP50Rounds.median} µs per-round median (quartiles ${control.addedP50Rounds.p25} to ${control.addedP50Rounds.p75} µs)`
  );
}

function inferRequest(features: number): InferRequest {
  return { inputs: [{ name: "features", shape: [1, features], datatype: "FP32", data: Array.from({ length: features }, (_, i) => round(Math.sin(i + 1), 4)) }] };
}

/** In-process: service.infer at c=1 per variant, interleaved. */
async function inProcess(options: BenchOptions, models: TestModels): Promise<{ figures: Record<string, unknown>; notes: string[] }> {
  const dataDir = mkdtempSync(join(tmpdir(), "paved-bench-router-"));
  // Shipped defaults (prediction log on, 100 lines/s per version), as in `paved up`.
  const service = new ServingService({ runtimes: [new OnnxRuntime()], dataDir, clock: systemClock, ids: randomIds, logger: createLogger("silent") });
  try {
    for (const v of VARIANTS) for (const version of v.versions) await service.load({ name: v.model, version, bytes: models.bytes(MODEL) });
    const router = routing.forServing(service);
    for (const v of VARIANTS) if (v.split) routing.split(router, v.model, v.split);
    service.setRouter(router);
    const request = inferRequest(30);
    const answered = new Map<string, Map<string, number>>(VARIANTS.map((v) => [v.key, new Map()]));
    const measure = async (v: Variant, n: number): Promise<number[]> => {
      const latencies: number[] = [];
      const counts = answered.get(v.key)!;
      for (let i = 0; i < n; i++) {
        const t = performance.now();
        const response = await service.infer(v.model, explicitVersion(v), request);
        latencies.push((performance.now() - t) * 1000);
        counts.set(response.model_version, (counts.get(response.model_version) ?? 0) + 1);
      }
      return latencies;
    };
    for (const v of VARIANTS) await measure(v, 500);
    for (const counts of answered.values()) counts.clear();
    const rounds = Math.max(10, Math.round(100 * options.scale));
    const perRound = 200;
    const figures = compare(VARIANTS, await interleaved(VARIANTS, rounds, (v) => measure(v, perRound)));
    table(`service.infer at c=1, in process (${rounds} interleaved rounds x ${perRound} requests per variant; µs)`, figures);
    const shares = Object.fromEntries(
      VARIANTS.filter((v) => v.split?.canary && v.split.canary !== v.split.stable).map((v) => {
        const counts = answered.get(v.key)!;
        const total = [...counts.values()].reduce((a, b) => a + b, 0);
        return [v.key, round((100 * (counts.get(v.split!.canary!) ?? 0)) / total, 1)];
      }),
    );
    const loop = routerLoop(options, service);
    const same = figures.canarySame!;
    return {
      figures: { rounds, perRound, variants: figures, canarySharePercent: shares, routerLoop: loop.figures },
      notes: [
        verdict("in process", figures),
        `in process: the canary's whole router path with one version on both sides adds ${same.addedP50} µs pooled (${same.addedP50Rounds.median} µs per-round median); ` +
          `two versions taking turns by explicit version, no router, add ${figures.alternating!.addedP50} µs (${figures.alternating!.addedP50Rounds.median} µs): the split's cost is mostly a second version's worker answering`,
        `in process: the canary answered ${shares.canary10}% (split 10%) and ${shares.canary50}% (split 50%) of the routed requests`,
        ...loop.notes,
      ],
    };
  } finally {
    await service.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

/**
 * The router alone: pick + observe per call, as serving makes them per versionless request, in a
 * tight loop, interleaved across the variants; with serving's real "is it loaded" predicate and with
 * a constant one (what is left is the router's own work).
 */
function routerLoop(options: BenchOptions, service: ServingService): { figures: Record<string, unknown>; notes: string[] } {
  const calls = Math.max(50_000, Math.round(300_000 * options.scale));
  const rounds = 5;
  const predicates: [string, DeploymentRouter][] = [
    ["serving.isLoaded predicate (as deployed)", routing.forServing(service)],
    ["constant predicate (router alone)", routing.create(() => true)],
  ];
  for (const [, router] of predicates) for (const v of VARIANTS) if (v.split) routing.split(router, v.model, v.split);
  let checksum = 0;
  // The MLP's answer to one row, as serving hands it to observe.
  const output: Tensor = { name: "probability", datatype: "FP32", shape: [1, 1], data: Float32Array.of(0.42) };
  const once = (router: DeploymentRouter, v: Variant, n: number): number => {
    const t = process.hrtime.bigint();
    for (let i = 0; i < n; i++) {
      const version = routing.pick(router, v.model, undefined) ?? v.versions[v.versions.length - 1]!;
      checksum += version.length;
      routing.observe(router, v.model, version, true, 0.0001, output);
    }
    return Number(process.hrtime.bigint() - t) / n;
  };
  // Warm-up also fills each deployment's window past its caps (steady state: the rings overwrite).
  for (const [, router] of predicates) for (const v of VARIANTS) once(router, v, 20_000);
  const cases = VARIANTS.filter((v) => v.key !== "singleControl" && v.key !== "canarySame" && !v.explicit);
  const ns = new Map<string, number[]>();
  for (let r = 0; r < rounds; r++) {
    for (const [p, router] of r % 2 ? [...predicates].reverse() : predicates) {
      for (const v of r % 2 ? [...cases].reverse() : cases) {
        const key = `${p}|${v.key}`;
        if (!ns.has(key)) ns.set(key, []);
        ns.get(key)!.push(once(router, v, calls));
      }
    }
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const figures: Record<string, Record<string, { nsPerCall: number; min: number; max: number }>> = {};
  const rows: (string | number)[][] = [];
  for (const [p] of predicates) {
    figures[p] = {};
    for (const v of cases) {
      const xs = ns.get(`${p}|${v.key}`)!;
      figures[p]![v.key] = { nsPerCall: round(median(xs), 1), min: round(Math.min(...xs), 1), max: round(Math.max(...xs), 1) };
      rows.push([`${v.label}, ${p}`, round(median(xs), 1), `${round(Math.min(...xs), 1)} - ${round(Math.max(...xs), 1)}`]);
    }
  }
  printTable(`DeploymentRouter pick + observe alone (${rounds} interleaved rounds x ${calls.toLocaleString("en-US")} calls; ns per call)`, ["", "median ns", "range ns"], rows);
  const deployed = figures[predicates[0]![0]]!;
  return {
    figures: { calls, rounds, checksum, ...figures },
    notes: [
      `router alone (pick + observe, as deployed): ${deployed.single!.nsPerCall} ns per call without a split, ${deployed.canary10!.nsPerCall} ns with a 10% canary split, ${deployed.canary50!.nsPerCall} ns at 50% — ` +
        `${round(deployed.canary10!.nsPerCall / 1000, 3)} µs of the ${TARGET_ADDED_P50_US} µs budget`,
    ],
  };
}

/** Registers `bytes` as a new version of `model` the way a run's model is: a run, its artifact, POST versions. */
async function register(paved: { url: string; token: string }, client: HttpClient, model: string, bytes: Uint8Array): Promise<string> {
  const { run } = await client.request<{ run: { info: { run_id: string } } }>("POST", "/api/2.0/mlflow/runs/create", { experiment_id: "0", start_time: Date.now() });
  const put = await fetch(`${paved.url}/api/2.0/mlflow-artifacts/artifacts/0/${run.info.run_id}/artifacts/model/model.onnx`, {
    method: "PUT",
    headers: { authorization: `Bearer ${paved.token}`, "content-type": "application/octet-stream" },
    body: Buffer.from(bytes),
  });
  if (!put.ok) throw new Error(`uploading model.onnx answered ${put.status}: ${(await put.text()).slice(0, 300)}`);
  const version = await client.request<{ version: string | number }>("POST", `/api/v1/models/${model}/versions`, { source: `runs:/${run.info.run_id}/model` });
  return String(version.version);
}

interface DeploymentView {
  id: string;
  status: { phase: string; canaryWeight: number; currentStep: number; history: { reason: string }[] };
}

/**
 * Over HTTP every variant lives in staging (deployments there need no evaluation) and is called at
 * staging's endpoint; the variants without a split are loaded there too, so all share one path shape.
 */
const HTTP_ENVIRONMENT = "staging";
const HTTP_PREFIX = `/environments/${HTTP_ENVIRONMENT}`;

async function deployAndWait(client: HttpClient, body: Record<string, unknown>, done: (d: DeploymentView) => boolean): Promise<DeploymentView> {
  let d = await client.request<DeploymentView>("POST", "/api/v1/deployments", { environment: HTTP_ENVIRONMENT, ...body });
  const deadline = Date.now() + 30_000;
  while (!done(d)) {
    if (Date.now() > deadline || ["RolledBack", "Failed"].includes(d.status.phase)) {
      throw new Error(`deployment of ${JSON.stringify(body)} did not reach the expected state: ${JSON.stringify(d.status)}`);
    }
    await new Promise((r) => setTimeout(r, 100));
    d = await client.request<DeploymentView>("GET", `/api/v1/deployments/${d.id}`);
  }
  return d;
}

/** Over HTTP: a real `paved up`, OIP POST /v2/models/{m}/infer without a version, c=1, interleaved. */
async function overHttp(options: BenchOptions, models: TestModels): Promise<{ figures: Record<string, unknown>; notes: string[] }> {
  const paved = await startPaved({ name: "router" });
  const admin = new HttpClient(paved.url, paved.token, 1);
  const variants = VARIANTS.filter((v) => !v.inProcessOnly);
  try {
    const bytes = models.bytes(MODEL);
    for (const v of variants) {
      if (v.explicit) continue; // it reuses another variant's versions
      if (!v.split) {
        await admin.request("PUT", `/api/v1/serving/models/${v.model}/versions/1?environment=${HTTP_ENVIRONMENT}`, Buffer.from(bytes));
        continue;
      }
      // Through the public API: register the versions, roll out the stable one (replace), then the canary held at its first step.
      for (const _ of v.versions) await register(paved, admin, v.model, bytes);
      await deployAndWait(admin, { model: v.model, version: v.split.stable, strategy: "replace" }, (d) => d.status.phase === "Succeeded");
      if (v.split.canary) {
        await deployAndWait(
          admin,
          { model: v.model, version: v.split.canary, strategy: "canary", steps: [v.split.weight, 100], stepIntervalSeconds: 86_400 },
          (d) => d.status.phase === "Progressing" && d.status.currentStep === 0 && d.status.canaryWeight === v.split!.weight,
        );
      }
    }
    const body = JSON.stringify(inferRequest(30));
    // Predictions go to the data-plane process, which routes them.
    const [dataPlane] = await paved.dataPlanes();
    const client = new HttpClient(dataPlane!.url, paved.token, 1);
    for (const v of variants) await driveSamples(client, `${HTTP_PREFIX}/v2/models/${v.model}/infer`, body, 1, 0, 300);
    const rounds = Math.max(10, Math.round(60 * options.scale));
    const perRound = 100;
    const figures = compare(
      variants,
      await interleaved(variants, rounds, async (v) => {
        // One request at a time, timed around the call as driveSamples times it.
        const latencies: number[] = [];
        for (let i = 0; i < perRound; i++) {
          const version = explicitVersion(v);
          const path = version === undefined ? `${HTTP_PREFIX}/v2/models/${v.model}/infer` : `${HTTP_PREFIX}/v2/models/${v.model}/versions/${version}/infer`;
          const t = performance.now();
          const { status, text } = await client.raw("POST", path, body);
          latencies.push((performance.now() - t) * 1000);
          if (status !== 200) throw new Error(`${path} answered ${status}: ${text.slice(0, 300)}`);
        }
        return latencies;
      }),
    );
    client.close();
    table(`POST /v2/models/{m}/infer (no version but in the control) at c=1 on paved up (${rounds} interleaved rounds x ${perRound} requests per variant; µs)`, figures);
    // Which versions answered, from the server's own counters (warm-up included).
    const metrics = (await admin.raw("GET", "/metrics")).text;
    const served = (model: string, version: string) => Number(metrics.match(new RegExp(`^paved_serving_requests_total\\{model="${model}",version="${version}"\\} (\\d+)`, "m"))?.[1] ?? 0);
    const shares = Object.fromEntries(
      variants.filter((v) => v.split?.canary).map((v) => {
        const canary = served(v.model, v.split!.canary!);
        return [v.key, round((100 * canary) / (canary + served(v.model, v.split!.stable)), 1)];
      }),
    );
    return {
      figures: { rounds, perRound, variants: figures, canarySharePercent: shares },
      notes: [
        verdict("over HTTP", figures),
        `over HTTP: two versions taking turns by explicit version (/versions/{v}/infer, no router) add ${figures.alternating!.addedP50} µs pooled (${figures.alternating!.addedP50Rounds.median} µs per-round median)`,
        `over HTTP: the canary answered ${shares.canary10}% (split 10%) and ${shares.canary50}% (split 50%) of the requests`],
    };
  } finally {
    admin.close();
    await paved.stop();
  }
}

export async function run(options: BenchOptions): Promise<BenchResult> {
  const models = buildTestModels();
  const loadBefore = round(loadavg()[0]!);
  const local = await inProcess(options, models);
  const http = await overHttp(options, models);
  const load = { start: loadBefore, end: round(loadavg()[0]!) };
  return {
    name: "router",
    figures: { targetAddedP50Us: TARGET_ADDED_P50_US, loadAverage: load, inProcess: local.figures, http: http.figures },
    notes: [...local.notes, ...http.notes, `load average (1 min): ${load.start} at start, ${load.end} at the end (shared machine; the A/A rows show what that noise does)`],
  };
}
