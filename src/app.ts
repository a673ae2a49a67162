// Composition root: the only file that knows every concrete class. Builds the database, the
// artifact store, the modules and the HTTP server, and starts the controllers.
import { hostname } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { FastifyInstance } from "fastify";
import { z } from "zod";
import { LocalArtifactStore, createS3ArtifactStore, type ArtifactStore } from "./artifacts/index.ts";
import { isLoopback, type Config } from "./config/index.ts";
import { PlatformError, createLogger, randomIds, route, systemClock, type Clock, type IdGenerator, type Logger, type RouteDefinition } from "./core/index.ts";
import { buildServer, leaderForwarder, leaderUpgradeForwarder, WebUi } from "./http/index.ts";
import { createCatalogModule, podSpecPatchHostAccess } from "./modules/catalog/index.ts";
import { GPU_TELEMETRY_FIELDS, allowListedEnvironment, createComputeModule, queryGpus } from "./modules/compute/index.ts";
import { createMonitoringModule } from "./modules/monitoring/index.ts";
import { createLineageModule } from "./modules/lineage/index.ts";
import { createTriggersModule } from "./modules/triggers/index.ts";
import { DeploymentRouter, createDeploymentsModule, type DeploymentsModuleDeps } from "./modules/deployments/index.ts";
import { createEvaluationModule, parsePolicy } from "./modules/evaluation/index.ts";
import { createBudgetsModule, type ServingSample, type StopTeamWork } from "./modules/guardrails/index.ts";
import { createAuditModule, createQuotaModule } from "./modules/guardrails/index.ts";
import { authorize, checkSsoConfig, createIdentityModule, createSso, type TokenService } from "./modules/identity/index.ts";
import { createRegistryModule } from "./modules/registry/index.ts";
import { createServingModule, oipServerRoutes, servingRoutes, type ServingPlane } from "./modules/serving/index.ts";
import { DataPlaneFleet, DataPlaneSupervisor, oipRelay } from "./dataplane/index.ts";
import { createTrackingModule } from "./modules/tracking/index.ts";
import { createWorkspacesModule } from "./modules/workspaces/index.ts";
import { createSweepsModule } from "./modules/sweeps/index.ts";
import { CreateDeploymentBody } from "./modules/deployments/index.ts";
import { createPipelinesModule, deployStep, evaluateStep, registerStep } from "./modules/pipelines/index.ts";
import { createSecretsModule } from "./modules/secrets/index.ts";
import { createAdoptionModule, registerAdoptionGauges } from "./modules/adoption/index.ts";
import { createDatasetsModule } from "./modules/datasets/index.ts";
import { createEventsModule } from "./modules/events/index.ts";
import { createFeaturesModule } from "./modules/features/index.ts";
import { createConnectorRegistry, snapshotRoutes, snapshotStep } from "./modules/datasets/connectors/index.ts";
import { createPredictionsModule, predictStep } from "./modules/predictions/index.ts";
import { campaign, openDatabase, type Database, type Leadership } from "./storage/index.ts";

export interface AppDeps {
  /** The server's environment; jobs get only its allow-listed part (PATH, HOME, virtualenvs; see compute.jobEnvironment). */
  env?: Record<string, string | undefined>;
  clock?: Clock;
  ids?: IdGenerator;
  logger?: Logger;
  /**
   * Replicas on PostgreSQL: called when this replica stops leading (another one was elected, or its
   * session broke). Its controllers are stopped by then; `paved up` exits so that its service
   * manager starts it again as a follower. Default: log it and keep answering as a follower.
   */
  onLeadershipLost?: (error: PlatformError) => void;
}

export interface App {
  readonly config: Config;
  readonly server: FastifyInstance;
  readonly database: Database;
  readonly tokens: TokenService;
  /** Every route the server mounts (besides the OpenAPI document), as the modules declared them. */
  readonly routes: readonly RouteDefinition[];
  /** Set when this start generated the admin token: print it once. */
  readonly generatedAdminToken: string | undefined;
  /** The data-plane processes, when models are served by them (serving.dataPlane.processes > 0). */
  readonly dataPlane: { ensure(): Promise<void>; urls(): string[]; fleet: DataPlaneFleet } | undefined;
  /**
   * Starts listening and the controllers; resolves to the base URL. On PostgreSQL it first runs for
   * leader (src/storage/leader.ts): it leads at once when no other replica does, and otherwise
   * follows (forwarding requests to the leader) until it is elected.
   */
  listen(): Promise<string>;
  /** Whether this replica runs the controllers now (always, on SQLite), and at which epoch. */
  role(): { leads: boolean; epoch: number | undefined };
  /** Stops; the data-plane processes too, unless `keepDataPlanes` (a restart of `paved up` leaves them serving). */
  close(options?: { keepDataPlanes?: boolean }): Promise<void>;
}

/** The blob store `artifacts.store` names; an S3 store's keys come from the server's environment or a secret file. */
function createArtifactStore(config: Config, env: Record<string, string | undefined>): ArtifactStore {
  switch (config.artifacts.store) {
    case "local":
      return new LocalArtifactStore(join(config.dataDir, "artifacts"));
    case "s3":
      // The schema refuses store s3 without its settings.
      return createS3ArtifactStore(config.artifacts.s3!, env);
  }
}

/** The `paved` command line, for the processes Paved starts itself (workspace helpers, data-plane processes); in a bundle (paved.mjs), the bundle. */
const CLI_SCRIPT = fileURLToPath(new URL(import.meta.url.endsWith(".mjs") ? "./paved.mjs" : "../bin/paved.js", import.meta.url));

export async function createApp(config: Config, deps: AppDeps = {}): Promise<App> {
  const clock = deps.clock ?? systemClock;
  const ids = deps.ids ?? randomIds;
  const logger = deps.logger ?? createLogger(config.logLevel);
  if (config.auth.disabled && !isLoopback(config.host)) {
    throw new PlatformError(
      "CONFIG",
      `refusing to bind ${config.host} with authentication disabled; bind 127.0.0.1 or turn authentication back on`,
    );
  }
  checkSsoConfig(config);
  // Before the database opens: a store that cannot be built (missing keys) refuses the start with nothing to close.
  const artifacts = createArtifactStore(config, deps.env ?? {});
  const database = await openDatabase({ url: config.databaseUrl, dataDir: config.dataDir });
  const identity = createIdentityModule({ database, clock, ids });
  const tokens = identity.tokens;
  const admin = await tokens.ensureAdmin(config.auth.adminToken);
  if (admin.replaced > 0) {
    logger.warn({ replaced: admin.replaced }, "the configured admin token replaced the previous one, which no longer works");
  }

  // On PostgreSQL several replicas may share the database; one leads (runs the controllers) at a time.
  const replicated = database.dialect === "postgres";
  let leads = !replicated;
  let leadership: Leadership | undefined;
  const routes: RouteDefinition[] = [healthRoute(() => (leads ? "leader" : "follower")), ...identity.routes];
  // The quota ledger: jobs, serving replicas and stored bytes of every team draw from it.
  const quotas = createQuotaModule({ db: database.db, clock, defaults: config.guardrails.defaultQuota });
  routes.push(...quotas.routes);
  // Team secrets: values only server code reads (dataset connectors); their key file never enters the database.
  const secrets = createSecretsModule({ database, clock, ids, keyFile: config.secrets.keyFile, dataDir: config.dataDir });
  routes.push(...secrets.routes);
  // Uploads (artifacts, logged models, evaluation data) and registered versions' copies are held to the team's storage quota.
  const storageQuota = (team: string, bytes: number, what: string) => quotas.ledger.assertStorage(team, bytes, what);
  // Modules are wired below, lower ones first (tracking, then compute, which records into it).
  const tracking = createTrackingModule({ database, artifacts, clock, ids, config, logger, storageQuota });
  routes.push(...tracking.routes);
  const registry = createRegistryModule({ database, artifacts, tracking: tracking.service, clock, ids, config, logger, storageQuota });
  routes.push(...registry.routes);
  // Datasets: versioned, content-addressed files of a team (held to its storage quota), analysed by one bounded DuckDB.
  const datasets = createDatasetsModule({ database, artifacts, clock, ids, config, logger, storageQuota });
  routes.push(...datasets.routes);
  // Features: feature sets and training sets, read and written through the datasets service.
  routes.push(...createFeaturesModule({ database, artifacts, clock, ids, config, logger, datasets: datasets.service }).routes);
  // Connectors snapshot local roots, PostgreSQL queries and S3 prefixes into dataset versions, with the team's secrets.
  const snapshots = {
    datasets: datasets.service,
    registry: createConnectorRegistry(config.datasets.connectors),
    secrets: (team: string) => secrets.service.reader(team),
    workDir: join(config.dataDir, "datasets", "connectors"),
    limits: config.datasets.connectors.limits,
  };
  routes.push(...snapshotRoutes(snapshots));
  const controllers: { start(): Promise<void> | void; stop(): Promise<void> | void }[] = [];
  // Garbage collection of runs deleted longer than tracking.retentionDays ago, on the leader only.
  controllers.push(tracking.gcController);
  const catalog = createCatalogModule({ profilesFile: config.compute.profilesFile });
  routes.push(...catalog.routes);
  // Costs, budgets and policies: they admit jobs, deployments and moves of `production` (through
  // the hooks below); a budget's stop cancels the team's jobs and pauses its rollouts.
  let stopTeamWork: StopTeamWork = async () => undefined;
  let servingUsage: () => Promise<ServingSample[]> = async () => [];
  const budgets = createBudgetsModule({
    database,
    clock,
    ids,
    logger,
    pricing: catalog.service,
    knownProfiles: () => catalog.service.list().map((p) => p.name),
    settings: config.guardrails.budgets,
    parseGatePolicy: (policy) => parsePolicy(policy),
    stopTeamWork: (team, reason) => stopTeamWork(team, reason),
    servingUsage: () => servingUsage(),
  });
  routes.push(...budgets.routes);
  // Before evaluation's gate: a move the policy refuses records no gate override.
  registry.service.addAliasGuard((change) => budgets.aliasGuard(change));
  // Stops before compute and deployments, whose work a pass may stop.
  controllers.push(budgets.controller);
  let serverUrl = config.publicUrl ?? `http://${config.host}:${config.port}`;
  // Single sign-on (auth.sso) and browser sessions, which the server accepts beside bearer tokens.
  const sso = createSso({ db: database.db, clock, logger, identity: identity.service, tokens, settings: config.auth.sso, publicUrl: () => serverUrl });
  routes.push(...sso.routes);
  // Live change notifications (server-sent events) for the web UI, read from the database; ended with the controllers.
  const events = createEventsModule({ database, clock, logger, authenticate: config.auth.disabled ? undefined : (c) => sso.authenticator.authenticate({ ...c, method: "GET" }) });
  routes.push(...events.routes);
  controllers.push(events.controller);
  const compute = await createComputeModule({
    ledger: quotas.ledger,
    // Jobs get only the allow-listed part of it (compute.jobEnvironment), never the server's secrets.
    serverEnv: deps.env ?? {},
    database,
    artifacts,
    clock,
    ids,
    config,
    logger,
    runs: tracking.service,
    // A job's token lives as long as the job (revoked when it ends); the TTL only bounds a leak.
    tokens: { mintToken: (jobId) => tokens.mintForJob(jobId, 30 * 24 * 3600 * 1000), revokeToken: (jobId) => tokens.revokeForJob(jobId) },
    serverUrl: () => serverUrl,
    catalog: catalog.service,
    admission: ({ spec, request, team }, principal) =>
      budgets.admitJob({ name: spec.name, team, profile: request.profile, gpus: request.gpus, gpuType: request.gpuType, cpus: request.cpus, memoryMiB: request.memoryMiB, maxRuntimeSeconds: spec.maxRuntime, executorArgs: executorArgsOf(request.placement), hostAccess: podSpecPatchHostAccess(request.placement?.podSpecPatch) }, principal),
  });
  // Jobs read registered dataset versions (pinned at submit, written read-only into their folder).
  compute.service.useDatasets({ resolve: (team, ref) => datasets.service.resolve(team, ref), open: (digest) => artifacts.get(digest) });
  routes.push(...compute.routes);
  controllers.push(compute.controller);
  // Workspaces: Jupyter servers run as jobs of the compute module, reached through the proxy below.
  const helperEnv = allowListedEnvironment(deps.env ?? {}, config.compute.jobEnvironment.passthrough);
  const workspaces = createWorkspacesModule({
    database,
    artifacts,
    clock,
    ids,
    config,
    logger,
    jobs: compute.service,
    catalog: catalog.service,
    runs: tracking.service,
    runSource: tracking.service,
    models: registry.service,
    serverUrl: () => serverUrl,
    principalOf: (userId) => tokens.principalOf(userId),
    cli: { node: process.execPath, script: CLI_SCRIPT },
    path: helperEnv.PATH ?? "/usr/local/bin:/usr/bin:/bin",
    ...(config.compute.gpus === "auto" ? { gpuUse: async () => new Map((await queryGpus(config.compute.nvidiaSmi, helperEnv)).map((g) => [g.index, g.utilizationPercent])) } : {}),
  });
  routes.push(...workspaces.routes);
  controllers.push(workspaces.controller);
  // Sweeps: their trials are jobs of the compute module (the team's quota and fair share), each a child run of the sweep's run.
  const sweeps = createSweepsModule({
    database,
    artifacts,
    clock,
    ids,
    config,
    logger,
    jobs: compute.service,
    runs: tracking.service,
    limits: async (team) => quotas.ledger.limitsOf(team),
    principalOf: (userId) => tokens.principalOf(userId),
  });
  routes.push(...sweeps.routes);
  controllers.push(sweeps.controller);
  // Serving takes model bytes; what it loads is decided by its caller (the deployment controller, the admin routes).
  // This process's own serving runs evaluations' private copies, and every endpoint when no data-plane process serves.
  const serving = createServingModule({ dataDir: config.dataDir, clock, ids, logger, ...config.serving, onnx: { inspection: config.registry.onnx } });
  const passthroughs = [workspaces.proxy];
  let plane: ServingPlane = serving.service;
  let router: DeploymentRouter | undefined;
  let dataPlane: App["dataPlane"];
  let supervisor: DataPlaneSupervisor | undefined;
  // /metrics is the platform's (monitoring, below), which adds serving's series to its own.
  if (config.serving.dataPlane.processes === 0 && config.serving.dataPlane.remote.length === 0) {
    routes.push(...serving.routes);
  } else {
    // Data-plane processes serve the endpoints; this process tells them what to serve (the fleet) and relays /v2 to them.
    const sup = new DataPlaneSupervisor({
      config,
      count: config.serving.dataPlane.processes,
      basePort: config.serving.dataPlane.port ?? (config.port === 0 ? 0 : config.port + 1),
      host: config.host,
      logger: logger.child({ module: "dataplane" }),
      command: { node: process.execPath, script: CLI_SCRIPT },
      env: deps.env ?? {},
    });
    supervisor = sup;
    // The control plane answers no inference itself: its router only holds splits and the windows the processes report.
    router = new DeploymentRouter(() => false);
    // Processes elsewhere are numbered after the local ones.
    const remote = config.serving.dataPlane.remote.map((url, i) => ({ index: config.serving.dataPlane.processes + i, url: url.replace(/\/+$/, ""), secret: sup.secret }));
    const fleet = new DataPlaneFleet({
      members: () => [...sup.members(), ...remote],
      ensureMembers: () => sup.ensure(),
      router,
      blobsDir: join(config.dataDir, "dataplane", "models"),
      limits: serving.service.limits,
      logger: logger.child({ module: "dataplane" }),
      replicaRoom: (team) => quotas.ledger.replicaRoom(team),
    });
    plane = fleet;
    dataPlane = { ensure: () => sup.ensure(), urls: () => [...sup.urls(), ...remote.map((r) => r.url)], fleet };
    const limits = { maxRequestBytes: config.serving.maxRequestBytes, maxModelBytes: config.serving.maxModelBytes };
    routes.push(...oipServerRoutes(() => true), ...servingRoutes(fleet, limits));
    passthroughs.push(...oipRelay(() => fleet.members().filter((m) => m.live).map((m) => m.url)));
    controllers.push({ start: () => sup.adopt(), stop: () => undefined }, { start: () => fleet.start(), stop: () => fleet.stop() });
  }
  servingUsage = async () => {
    const answered = await plane.answered();
    // Evaluations' private copies (environment "(private)") serve no one and cost their evaluation nothing here.
    return plane
      .list()
      .filter((v) => !v.environment.startsWith("("))
      .map((v) => ({ team: v.team, model: v.name, version: v.version, environment: v.environment, replicas: v.replicas, loadedAt: v.loadedAt, requests: answered.get(`${v.name}\0${v.version}\0${v.environment}`) ?? 0 }));
  };
  // Evaluations' private copies (environment "(private)") serve no one and draw nothing.
  quotas.ledger.useServing(() => plane.list().filter((v) => !v.environment.startsWith("(")));
  // Autoscaling stops at the team's serving-replica quota.
  serving.service.setReplicaRoom((team) => quotas.ledger.replicaRoom(team));
  // Evaluation runs versions on serving and guards the registry's production alias.
  const evaluation = createEvaluationModule({ database, registry: registry.service, tracking: tracking.service, serving: serving.service, artifacts, maxDataBytes: config.evaluation.maxDataBytes, clock, ids, logger, requiredPolicy: (team) => budgets.policies.requiredGatePolicy(team), storageQuota, datasets: datasets.service });
  routes.push(...evaluation.routes);
  controllers.push(evaluation.runner);
  // Batch inference: a model version over a dataset version, the output a new dataset version with lineage to both.
  const predictions = createPredictionsModule({ database, artifacts, clock, ids, config, logger, storageQuota, registry: registry.service, datasets: datasets.service });
  routes.push(...predictions.routes);
  controllers.push(predictions.controller);
  // Deployments roll versions out on serving (through the router they register there), behind evaluation's gate.
  let monitorDeployment: NonNullable<DeploymentsModuleDeps["monitor"]> = async () => ({ id: null, created: false, note: "not monitored: monitoring is not running" });
  const deployments = createDeploymentsModule({ database, registry: registry.service, serving: plane, ...(router ? { router } : {}), evaluation: evaluation.service, clock, ids, logger, admission: (d, principal) => budgets.admitDeployment(d, principal), replicaQuota: (team, replicas, what) => quotas.ledger.assertReplicas(team, replicas, what), monitor: (target, principal) => monitorDeployment(target, principal) });
  routes.push(...deployments.routes);
  // A budget's stop: the team's workspaces are stopped (homes kept) and every queued and running job
  // is cancelled (SIGTERM, then the grace period to checkpoint); its rollouts in progress are paused,
  // while what serves keeps serving.
  stopTeamWork = async (team, reason) => {
    await workspaces.service.stopTeam(team, reason);
    await compute.service.cancelTeam(team, reason);
    let pageToken: string | undefined;
    do {
      const page = await deployments.service.list({ limit: 1000, pageToken });
      for (const d of page.deployments) if (d.team === team && d.status.phase === "Progressing" && !d.paused) await deployments.service.pause(d.id);
      pageToken = page.nextPageToken;
    } while (pageToken);
  };
  controllers.push(deployments.controller);
  // Pipelines: DAGs of jobs and of the golden path's other steps, each step acting as whoever started the run.
  // Step kinds of modules above compute are registered here (a module's own kinds, e.g. dataset snapshots, likewise).
  const pipelines = createPipelinesModule({ database, artifacts, clock, ids, config, logger, jobs: compute.service, principalOf: (userId) => tokens.principalOf(userId) });
  pipelines.steps.register(
    evaluateStep({
      evaluate: async (model, version, body, principal) => {
        authorize(principal, "evaluations:create", await evaluation.service.modelResource(model));
        return evaluation.service.evaluate(model, version, body as Parameters<typeof evaluation.service.evaluate>[2], principal.name);
      },
      get: (id) => evaluation.service.get(id),
    }),
  );
  pipelines.steps.register(registerStep({ register: (input, principal) => registry.service.registerVersion({ ...input, userId: principal.onBehalfOf ?? principal.name, principal }) }));
  pipelines.steps.register(
    deployStep({
      schema: CreateDeploymentBody,
      create: async (body, principal) => {
        const parsed = CreateDeploymentBody.parse(body);
        authorize(principal, "deployments:write", await deployments.service.newDeploymentResource(parsed));
        return deployments.service.create(parsed, principal);
      },
      get: async (id) => {
        const d = await deployments.service.get(id);
        return { id: d.id, phase: d.status.phase, message: d.status.history.at(-1)?.reason ?? null };
      },
      rollback: async (id) => void (await deployments.service.rollback(id)),
    }),
  );
  pipelines.steps.register(predictStep(predictions.service));
  pipelines.steps.register(snapshotStep(snapshots));
  routes.push(...pipelines.routes);
  controllers.push(pipelines.controller);
  // Triggers start pipeline runs by themselves: cron schedules, new dataset versions, verified git pushes.
  const triggers = createTriggersModule({
    db: database.db,
    clock,
    ids,
    logger: logger.child({ module: "triggers" }),
    pipelines: {
      get: async (name) => pipelines.service.get(name),
      startRun: (name, params, principal, options) => pipelines.service.startRun(name, params, principal, options),
      unfinishedRunParams: () => pipelines.service.unfinishedRunParams(),
    },
    latestDatasetVersion: async (team, name) => {
      // Another team's dataset answers as a missing one.
      if ((await datasets.service.getDataset(name)).team !== team) await datasets.service.resolve(team, `datasets:/${name}`);
      return (await datasets.service.versions(name, 1))[0]?.version;
    },
    readSecret: (team, name) => secrets.service.reader(team).read(name),
    principalOf: (userId) => tokens.principalOf(userId),
    allowedRemotes: config.triggers.allowedRemotes,
    checkoutDir: join(config.dataDir, "triggers"),
    path: deps.env?.PATH ?? "/usr/local/bin:/usr/bin:/bin",
    intervalMs: config.triggers.intervalSeconds * 1000,
  });
  routes.push(...triggers.routes);
  controllers.push(triggers.controller);
  // Stopping terminates every model's worker threads.
  controllers.push({ start() {}, stop: () => serving.service.close() });
  // /metrics: GPUs, the host, the queue, HTTP, the database and Node, with serving's series.
  const monitoring = createMonitoringModule({
    database,
    clock,
    gpus: config.compute.gpus === "auto" ? () => queryGpus(config.compute.nvidiaSmi, helperEnv, 10_000, GPU_TELEMETRY_FIELDS) : async () => [],
    servingMetrics: () => plane.metricsText(),
    ids,
    logger,
    registry: registry.service,
    evaluation: evaluation.service,
    drainSamples: () => plane.drainSamples(),
    setMonitored: (keys) => plane.setMonitored(keys),
    pauseRollout: (model, environment) => deployments.service.pauseActive(model, environment),
    externalUrl: () => advertised,
    options: config.monitoring,
    // Monitors with keepSamples keep each window's sampled rows as dataset files, which become dataset versions to retrain on.
    datasets: { putBlob: (team, body, opts) => datasets.service.putBlob(team, body, opts), createVersion: (input) => datasets.service.createVersion(input) },
    deploymentOf: async (model, version, environment) => (await deployments.service.list({ model, environment, limit: 100 })).deployments.find((d) => d.spec.version === String(version))?.id,
  });
  routes.push(...monitoring.routes);
  controllers.push(monitoring.controller);
  // A new deployment's version is watched by a monitor when it has reference data (an evaluation's).
  monitorDeployment = async (target, principal) => {
    const { monitor, created } = await monitoring.monitors.ensure(target, principal);
    const watched = `monitor ${monitor.id} watches version ${target.version} of '${target.model}' in ${target.environment}`;
    return { id: monitor.id, created, note: created ? `${watched} (see it with \`paved monitors show ${monitor.id}\`)` : `${watched} already` };
  };
  tracking.service.onIngest = (metrics, params, tags) => monitoring.metrics.tracked(metrics, params, tags);
  compute.onStarted((job) => monitoring.metrics.jobStarted(job.team, job.profile, job.waitedSeconds));
  // The audit log records every mutating route's answer (http/ calls it); it stops after the server, with the last answers.
  const audit = createAuditModule({ database, clock, ids, logger, options: config.audit });
  routes.push(...audit.routes);
  // Adoption figures (platform admins) and feedback (any person), read from every module's records.
  const adoption = createAdoptionModule({ database, clock, ids });
  routes.push(...adoption.routes);
  // Lineage: deployment → model version → run → commit, dataset versions → connector source, and back down.
  routes.push(...createLineageModule({ database }).routes);
  // Adoption's aggregate gauges (teams and funnel stages, never a person) on the platform's /metrics.
  registerAdoptionGauges(monitoring.metrics.registry, adoption.service, { clock });

  let advertised = "";
  const forwarding = { leads: () => leads, leaderUrl: async () => (await leadership?.leader())?.url ?? null, self: () => advertised };
  const server = buildServer({
    routes,
    tokens: config.auth.disabled ? undefined : tokens,
    authenticator: sso.authenticator,
    logger,
    bodyLimit: config.http.maxBodyBytes,
    uploadLimit: config.artifacts.maxUploadBytes,
    requestTimeoutMs: config.http.requestTimeoutSeconds * 1000,
    audit: audit.service,
    trustedProxies: config.http.trustedProxies,
    passthroughs,
    observe: (method, route, status, seconds) => monitoring.metrics.http(method, route, status, seconds),
    webUi: new WebUi(config.uiDir),
    // A follower forwards every request but the health check to the leader, websockets included.
    ...(replicated ? { fastPath: leaderForwarder(forwarding), upgradeFirst: leaderUpgradeForwarder(forwarding) } : {}),
  });
  const startControllers = async () => {
    for (const c of controllers) await c.start();
  };
  const stopControllers = async () => {
    for (const c of controllers) await c.stop();
  };

  return {
    config,
    server,
    database,
    tokens,
    routes,
    generatedAdminToken: admin.generated,
    dataPlane,
    async listen() {
      await server.listen({ host: config.host, port: config.port });
      const address = server.server.address();
      if (!address || typeof address === "string") throw new PlatformError("INTERNAL", "server is not listening");
      const host = address.family === "IPv6" ? `[${address.address}]` : address.address;
      const url = `http://${host}:${address.port}`;
      // Jobs get MLFLOW_TRACKING_URI from this, so it must hold the real port (port 0 picks one).
      serverUrl = config.publicUrl ?? url;
      audit.service.start();
      if (!replicated) {
        await startControllers();
        return url;
      }
      advertised = config.http.advertiseUrl?.replace(/\/+$/, "") ?? (["0.0.0.0", "::"].includes(config.host) ? `http://${hostname()}:${address.port}` : url);
      leadership = await campaign(config.databaseUrl!, {
        name: `paved up ${advertised} pid ${process.pid}`,
        url: advertised,
        onElected: async (epoch) => {
          // Fenced first: once another replica is elected, nothing this one still writes lands.
          database.fence?.(epoch);
          leads = true;
          logger.info({ epoch, url: advertised }, "this replica leads the control plane: starting the controllers");
          await startControllers();
        },
        onLost: (error) => {
          leads = false;
          logger.error({ err: error }, "this replica no longer leads the control plane: stopping its controllers");
          void stopControllers().finally(() => deps.onLeadershipLost?.(error));
        },
        onTrouble: (error) => logger.warn({ err: error }, "running for leader: the database did not answer; trying again"),
      });
      return url;
    },
    role: () => ({ leads, epoch: leads ? leadership?.epoch : undefined }),
    async close(options = {}) {
      const led = leads;
      if (led) await stopControllers();
      leads = false;
      // After the controllers: a follower takes over within one poll, and nothing here acts any more.
      await leadership?.release();
      // A follower leaves the data-plane processes to the leader.
      await supervisor?.stop(led && !options.keepDataPlanes);
      await server.close();
      await audit.service.stop();
      await database.close();
      await datasets.close();
      artifacts.close?.();
    },
  };
}

function healthRoute(role: () => "leader" | "follower"): RouteDefinition {
  return route({
    method: "GET",
    url: "/api/v1/health",
    summary: "Liveness: answers while the server runs; `role` says whether this replica runs the controllers (leader) or forwards to the one that does (follower)",
    public: true,
    action: "platform:read",
    response: z.object({ status: z.literal("ok"), role: z.enum(["leader", "follower"]) }),
    handler: async () => ({ status: "ok" as const, role: role() }),
  });
}

/** A profile's escape hatch as policy sees it: raw sbatch arguments, and a pod spec patch as one JSON word. */
function executorArgsOf(placement: { extraArgs?: string[] | undefined; podSpecPatch?: Record<string, unknown> | undefined } | undefined): string[] {
  return [...(placement?.extraArgs ?? []), ...(placement?.podSpecPatch ? [`podSpecPatch=${JSON.stringify(placement.podSpecPatch)}`] : [])];
}
