// A data-plane process: serves the OIP v2 endpoints of the versions the control plane assigned it,
// splits versionless traffic as the control plane's rollouts say, and keeps serving on its own.
// What it serves is kept on its own disk (state.json and the model files by digest), so a restart
// of this process, or of `paved up`, never waits for the other to come back. It checks users'
// tokens in the shared database (read only; the control plane owns the schema); its own API (under
// INTERNAL_PREFIX) answers only the data plane's secret.
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { createReadStream, createWriteStream, existsSync, mkdirSync, readFileSync, renameSync, rmSync } from "node:fs";
import { join } from "node:path";
import { pipeline } from "node:stream/promises";
import { Readable } from "node:stream";
import { z } from "zod";
import type { Config } from "../config/index.ts";
import { PlatformError, StreamResponse, notFound, randomIds, route, systemClock, type Logger, type RouteDefinition } from "../core/index.ts";
import { buildServer } from "../http/index.ts";
import { DeploymentRouter } from "../modules/deployments/index.ts";
import { createIdentityModule } from "../modules/identity/index.ts";
import { InferRequest, InferResponse, createServingModule, encodeSampleSets, metricsRoute, oipRoutes, type ServingService } from "../modules/serving/index.ts";
import { openDatabase } from "../storage/index.ts";
import { fastInfer } from "./fast-infer.ts";
import { writeDurably } from "./files.ts";
import { Assignment, DesiredState, DrainAnswer, INTERNAL_PREFIX, ObservedState, SHA256, assignmentKey, type LoadFailure, type ProcessRecord } from "./protocol.ts";

export interface DataPlaneOptions {
  config: Config;
  /** This process's folder: state.json, models/ (by digest), the prediction log, process.json. */
  dir: string;
  index: number;
  /** The data plane's secret: its own API answers only a bearer of it. */
  secret: string;
  logger: Logger;
  /** Where to listen (default: config.host, port 0). */
  host?: string;
  port?: number;
}

export interface DataPlane {
  url: string;
  serving: ServingService;
  close(): Promise<void>;
}

const EMPTY: DesiredState = { revision: 0, models: [], splits: [], replicaRoom: {}, monitored: [] };

/** Starts a data-plane process's server: loads what its disk says it served, then listens. */
export async function startDataPlane(opts: DataPlaneOptions): Promise<DataPlane> {
  const { config, dir, logger } = opts;
  mkdirSync(join(dir, "models"), { recursive: true, mode: 0o700 });
  const database = await openDatabase({ url: config.databaseUrl, dataDir: config.dataDir, migrate: false });
  const tokens = createIdentityModule({ database, clock: systemClock, ids: randomIds }).tokens;
  const serving = createServingModule({ dataDir: dir, clock: systemClock, ids: randomIds, logger, ...config.serving, onnx: { inspection: config.registry.onnx } }).service;
  const router = new DeploymentRouter((name, version, environment) => serving.isLoaded(name, version, environment));
  serving.setRouter(router);
  const state = new AppliedState(dir, serving, router, opts.index, logger);
  serving.setReplicaRoom((team) => state.replicaRoom(team));
  await state.restore();

  const routes: RouteDefinition[] = [
    ...oipRoutes(serving, { maxRequestBytes: config.serving.maxRequestBytes, maxModelBytes: config.serving.maxModelBytes }),
    metricsRoute(serving),
    ...internalRoutes(state, serving, router, opts.secret, config.serving.maxModelBytes, config.serving.maxRequestBytes),
  ];
  const server = buildServer({
    routes,
    tokens: config.auth.disabled ? undefined : tokens,
    authenticator: undefined,
    logger,
    bodyLimit: config.http.maxBodyBytes,
    uploadLimit: config.serving.maxModelBytes,
    requestTimeoutMs: config.http.requestTimeoutSeconds * 1000,
    // Inference with a token skips Fastify; everything else (and every refusal it cannot answer the same way) goes through the routes.
    ...(config.auth.disabled ? {} : { fastPath: fastInfer(serving, tokens, config.serving.maxRequestBytes, logger) }),
  });
  await server.listen({ host: opts.host ?? config.host, port: opts.port ?? 0 });
  const address = server.server.address();
  if (!address || typeof address === "string") throw new PlatformError("INTERNAL", "the data plane is not listening");
  const host = address.family === "IPv6" ? `[${address.address}]` : address.address;
  const url = `http://${host === "0.0.0.0" ? "127.0.0.1" : host}:${address.port}`;
  const record: ProcessRecord = { pid: process.pid, url, index: opts.index, startedAt: Date.now() };
  writeDurably(join(dir, "process.json"), JSON.stringify(record));
  logger.info({ url, index: opts.index, serving: serving.list().length }, "data plane listening");
  return {
    url,
    serving,
    async close() {
      await server.close();
      await serving.close();
      await database.close();
    },
  };
}

/**
 * What this process applied last, mirrored on its disk: a push is applied as a difference (new or
 * changed versions loaded, a version that fails to load keeps its previous copy, the rest
 * unloaded; splits set), and what serves afterwards is written down before the answer.
 */
class AppliedState {
  private applied: DesiredState = EMPTY;
  private failures: LoadFailure[] = [];
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly dir: string,
    private readonly serving: ServingService,
    private readonly router: DeploymentRouter,
    private readonly index: number,
    private readonly logger: Logger,
  ) {}

  blobPath(sha256: string): string {
    return join(this.dir, "models", `${sha256}.onnx`);
  }

  replicaRoom(team: string): number | undefined {
    return this.applied.replicaRoom[team];
  }

  get revision(): number {
    return this.applied.revision;
  }

  /** Serves again what this process served before it stopped (no control plane needed). */
  async restore(): Promise<void> {
    const file = join(this.dir, "state.json");
    if (!existsSync(file)) return;
    let saved: DesiredState;
    try {
      saved = DesiredState.parse(JSON.parse(readFileSync(file, "utf8")));
    } catch (error) {
      this.logger.error({ file, reason: (error as Error).message }, "the data plane's saved state is unreadable; starting empty until the control plane pushes its state");
      return;
    }
    await this.apply(saved);
  }

  observed(missing: string[] = []): ObservedState {
    return { index: this.index, revision: this.applied.revision, missing, views: this.serving.list(), failures: this.failures, state: this.applied };
  }

  /** Applies a pushed state (one at a time); answers the digests it lacks instead when any is missing. */
  apply(desired: DesiredState): Promise<ObservedState> {
    const run = this.queue.then(() => this.applyNow(desired));
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async applyNow(desired: DesiredState): Promise<ObservedState> {
    const missing = [...new Set(desired.models.map((m) => m.sha256))].filter((sha) => !existsSync(this.blobPath(sha)));
    if (missing.length > 0) return this.observed(missing);
    const before = new Map(this.applied.models.map((m) => [assignmentKey(m), m]));
    const wanted = new Set(desired.models.map(assignmentKey));
    const kept: Assignment[] = [];
    const failures: LoadFailure[] = [];
    for (const m of desired.models) {
      const previous = before.get(assignmentKey(m));
      if (previous && sameAssignment(previous, m) && this.serving.isLoaded(m.name, m.version, m.environment)) {
        kept.push(m);
        continue;
      }
      try {
        await this.serving.load({
          name: m.name,
          version: m.version,
          environment: m.environment,
          team: m.team,
          bytes: new Uint8Array(readFileSync(this.blobPath(m.sha256))),
          replicas: m.replicas,
          maxReplicas: m.maxReplicas,
          ...(m.targetP95Ms !== null ? { targetP95Ms: m.targetP95Ms } : {}),
          ...(m.maxBatch !== undefined ? { maxBatch: m.maxBatch } : {}),
          ...(m.runtime !== undefined ? { runtime: m.runtime } : {}),
        });
        kept.push(m);
      } catch (error) {
        // The previous copy (if any) keeps serving; the control plane hears why.
        const reason = (error as Error).message;
        failures.push({ environment: m.environment, name: m.name, version: m.version, sha256: m.sha256, reason });
        if (previous && this.serving.isLoaded(m.name, m.version, m.environment)) kept.push(previous);
        this.logger.warn({ model: m.name, version: m.version, environment: m.environment, reason }, "could not load an assigned version; serving what was served before");
      }
    }
    for (const v of this.serving.list()) {
      if (!wanted.has(assignmentKey(v))) await this.serving.unload(v.name, v.version, v.environment).catch(() => undefined);
    }
    const splits = new Set(desired.splits.map((s) => `${s.split.environment}/${s.model}`));
    for (const { model, split } of this.router.list()) if (!splits.has(`${split.environment}/${model}`)) this.router.delete(model, split.environment);
    for (const { model, split } of desired.splits) this.router.set(model, split);
    this.serving.setMonitored(desired.monitored);
    this.applied = { ...desired, models: kept };
    this.failures = failures;
    writeDurably(join(this.dir, "state.json"), JSON.stringify(this.applied));
    // Model files no assignment names any more go.
    const used = new Set(kept.map((m) => m.sha256));
    for (const m of before.values()) if (!used.has(m.sha256)) rmSync(this.blobPath(m.sha256), { force: true });
    return this.observed();
  }
}

function sameAssignment(a: Assignment, b: Assignment): boolean {
  return a.sha256 === b.sha256 && a.team === b.team && a.replicas === b.replicas && a.maxReplicas === b.maxReplicas && a.targetP95Ms === b.targetP95Ms && a.maxBatch === b.maxBatch && a.runtime === b.runtime;
}

const VersionPath = z.object({ environment: z.string(), name: z.string(), version: z.string() });

/** The data plane's own API: public as far as user tokens go, answered only to the bearer of its secret. */
function internalRoutes(state: AppliedState, serving: ServingService, router: DeploymentRouter, secret: string, maxModelBytes: number, maxRequestBytes: number): RouteDefinition[] {
  const expected = createHash("sha256").update(secret).digest();
  const check = (headers: Record<string, string | string[] | undefined>) => {
    const given = typeof headers.authorization === "string" ? headers.authorization.replace(/^Bearer\s+/i, "") : "";
    if (!timingSafeEqual(createHash("sha256").update(given).digest(), expected)) {
      throw new PlatformError("UNAUTHENTICATED", "this is the data plane's own API; only the control plane that started it (holding its secret) may call it");
    }
  };
  const base = { tags: ["dataplane"], public: true, action: "platform:read" as const };
  return [
    route({
      ...base,
      method: "GET",
      url: `${INTERNAL_PREFIX}/state`,
      summary: "What this data-plane process serves, the state it applied, and what it could not load",
      response: ObservedState,
      handler: async ({ headers }) => {
        check(headers);
        return state.observed();
      },
    }),
    route({
      ...base,
      method: "PUT",
      url: `${INTERNAL_PREFIX}/state`,
      summary: "Applies the control plane's desired state (answers the model digests it lacks instead, applying nothing)",
      body: DesiredState,
      bodyLimit: 16 * 1024 ** 2,
      response: ObservedState,
      handler: async ({ headers, body }) => {
        check(headers);
        return state.apply(body);
      },
    }),
    route({
      ...base,
      method: "PUT",
      url: `${INTERNAL_PREFIX}/blobs/:sha256`,
      summary: "Stores a model file by its digest (checked)",
      params: z.object({ sha256: SHA256 }),
      rawBody: true,
      response: z.object({ sha256: z.string(), sizeBytes: z.number() }),
      handler: async ({ headers, params, stream }) => {
        check(headers);
        return storeBlob(stream!, state.blobPath(params.sha256), params.sha256, maxModelBytes);
      },
    }),
    route({
      ...base,
      method: "GET",
      url: `${INTERNAL_PREFIX}/blobs/:sha256`,
      summary: "A model file this process holds (a control plane that lost its copy takes it back)",
      params: z.object({ sha256: SHA256 }),
      response: z.unknown(),
      handler: async ({ headers, params }) => {
        check(headers);
        const path = state.blobPath(params.sha256);
        if (!existsSync(path)) throw notFound(`no model file with digest ${params.sha256} here`);
        return new StreamResponse(createReadStream(path), "application/octet-stream");
      },
    }),
    route({
      ...base,
      method: "POST",
      url: `${INTERNAL_PREFIX}/windows/drain`,
      summary: "The rollout outcomes observed since the last drain (which empties them), with the applied revision and what serves now (replicas move with the autoscaler)",
      response: DrainAnswer,
      handler: async ({ headers }) => {
        check(headers);
        return { revision: state.revision, views: serving.list(), reports: router.drain() };
      },
    }),
    route({
      ...base,
      method: "POST",
      url: `${INTERNAL_PREFIX}/samples/drain`,
      summary: "The live samples of the watched versions since the last call (which empties them), for the control plane's monitors: binary, see encodeSampleSets",
      response: z.unknown(),
      handler: async ({ headers }) => {
        check(headers);
        return new StreamResponse(Readable.from([encodeSampleSets(serving.drainSamples())]), "application/octet-stream");
      },
    }),
    route({
      ...base,
      method: "GET",
      url: `${INTERNAL_PREFIX}/metrics`,
      summary: "The serving metrics as prom-client JSON, for the control plane to add up across processes",
      response: z.unknown(),
      handler: async ({ headers }) => {
        check(headers);
        return serving.metrics.registry.getMetricsAsJSON();
      },
    }),
    route({
      ...base,
      method: "POST",
      url: `${INTERNAL_PREFIX}/infer/:environment/:name/:version`,
      summary: "Runs a request on one version (the control plane's integration tests)",
      params: VersionPath,
      body: InferRequest,
      bodyLimit: maxRequestBytes,
      response: InferResponse,
      handler: async ({ headers, params, body }) => {
        check(headers);
        return serving.infer(params.name, params.version, body, undefined, params.environment);
      },
    }),
  ];
}

/** Streams a model file to a temporary file, hashing and counting; keeps it only when its digest is the one named. */
async function storeBlob(stream: Readable, path: string, sha256: string, limit: number): Promise<{ sha256: string; sizeBytes: number }> {
  const temporary = `${path}.${randomBytes(4).toString("hex")}.tmp`;
  const hash = createHash("sha256");
  let size = 0;
  try {
    await pipeline(
      stream,
      async function* (source: AsyncIterable<Buffer>) {
        for await (const chunk of source) {
          size += chunk.length;
          if (size > limit) throw new PlatformError("PAYLOAD_TOO_LARGE", `the model file is larger than serving.maxModelBytes (${limit})`);
          hash.update(chunk);
          yield chunk;
        }
      },
      createWriteStream(temporary, { mode: 0o600 }),
    );
    const got = hash.digest("hex");
    if (got !== sha256) throw new PlatformError("INVALID_INPUT", `the body's digest is ${got}, not ${sha256}; send the model file the path names`);
    renameSync(temporary, path);
    return { sha256, sizeBytes: size };
  } finally {
    rmSync(temporary, { force: true });
  }
}
