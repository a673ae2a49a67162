// Monitoring (issue 12): what `paved up` exposes for Prometheus at /metrics (GPUs, the host, the
// job queue, workspaces, HTTP, the database and Node, beside the serving series the serving plane
// reports); model monitors, which judge each deployed version's live traffic window by window
// against its reference data with the gate policy's bounds; and alerts on their breaches and on
// infrastructure readings, sent to teams' webhooks, which may pause a rollout.
import { Readable } from "node:stream";
import { z } from "zod";
import { StreamResponse, route, type Clock, type IdGenerator, type Logger, type RouteDefinition } from "../../core/index.ts";
import type { Database } from "../../storage/index.ts";
import type { EvaluationService } from "../evaluation/index.ts";
import type { RegistryService } from "../registry/index.ts";
import type { SampleSet } from "../serving/index.ts";
import { AlertService } from "./alerts.ts";
import { MonitoringController } from "./controller.ts";
import { InfrastructureMetrics, type GpuSample } from "./infrastructure.ts";
import { registerMonitorGauges } from "./gauges.ts";
import { MonitorService, type MonitorDatasets } from "./monitors.ts";
import { monitoringRoutes } from "./routes.ts";

export { InfrastructureMetrics, type GpuSample } from "./infrastructure.ts";
export { AlertService, checkWebhookUrl } from "./alerts.ts";
export { MonitorService } from "./monitors.ts";
export { MonitoringController } from "./controller.ts";
export { MonitorView, MonitorWindowView, AlertView, RuleView, ReceiverView, AlertRuleSpec, SamplesDatasetView } from "./schema.ts";

export interface MonitoringDeps {
  database: Database;
  clock: Clock;
  gpus: () => Promise<GpuSample[]>;
  /** The serving series in Prometheus text (the in-process serving, or every data-plane process added up). */
  servingMetrics: () => Promise<string>;
  pressureDir?: string;
  ids: IdGenerator;
  logger: Logger;
  registry: RegistryService;
  evaluation: EvaluationService;
  /** What serving sampled of live traffic since the last call (in-process serving, or the data-plane fleet). */
  drainSamples: () => SampleSet[];
  /** Tells serving which versions monitors watch (only their traffic is sampled). */
  setMonitored: (keys: readonly string[]) => void;
  /** Pauses the rollout in progress of a model in an environment (an alert rule's pauseRollout); its id, if one was progressing. */
  pauseRollout: (model: string, environment: string, reason: string) => Promise<string | undefined>;
  /** Where people reach Paved, for alerts' links. */
  externalUrl: () => string;
  options: { intervalSeconds: number; alerts: { allowedHosts: string[]; timeoutSeconds: number; maxAttempts: number } };
  /** Keeps monitors' sampled rows and makes dataset versions of them (the datasets module). */
  datasets?: MonitorDatasets;
  /** The newest deployment of a version to an environment (a traffic dataset's lineage names it). */
  deploymentOf?: (model: string, version: number, environment: string) => Promise<string | undefined>;
}

export function createMonitoringModule(deps: MonitoringDeps): { metrics: InfrastructureMetrics; monitors: MonitorService; alerts: AlertService; controller: MonitoringController; routes: RouteDefinition[] } {
  const metrics = new InfrastructureMetrics({ db: deps.database.db, clock: deps.clock, gpus: deps.gpus, ...(deps.pressureDir ? { pressureDir: deps.pressureDir } : {}) });
  const logger = deps.logger.child({ module: "monitoring" });
  const monitors = new MonitorService({
    db: deps.database.db,
    registry: deps.registry,
    evaluation: deps.evaluation,
    clock: deps.clock,
    ids: deps.ids,
    logger,
    ...(deps.datasets ? { datasets: deps.datasets } : {}),
    ...(deps.deploymentOf ? { deploymentOf: deps.deploymentOf } : {}),
  });
  const alerts = new AlertService({
    db: deps.database.db,
    clock: deps.clock,
    ids: deps.ids,
    logger,
    allowedHosts: deps.options.alerts.allowedHosts,
    timeoutMs: deps.options.alerts.timeoutSeconds * 1000,
    maxAttempts: deps.options.alerts.maxAttempts,
    pauseRollout: deps.pauseRollout,
    readings: () => metrics.readings(),
    externalUrl: deps.externalUrl,
  });
  const controller = new MonitoringController({ monitors, alerts, drainSamples: deps.drainSamples, setMonitored: deps.setMonitored, logger, intervalMs: deps.options.intervalSeconds * 1000 });
  registerMonitorGauges(metrics.registry, deps.database.db);
  const metricsRoute = route({
    method: "GET",
    url: "/metrics",
    summary: "Prometheus metrics of the platform (platform admins; scrape with a bearer token): serving per model version, GPUs (DCGM exporter's names), host pressure, job queue and workspaces by team, HTTP by route, database latency, the Node process",
    action: "metrics:read",
    tags: ["monitoring"],
    response: z.string(),
    handler: async () => {
      const [platform, serving] = await Promise.all([metrics.registry.metrics(), deps.servingMetrics()]);
      return new StreamResponse(Readable.from([platform, serving.endsWith("\n") || serving === "" ? serving : `${serving}\n`]), "text/plain; version=0.0.4; charset=utf-8");
    },
  });
  return { metrics, monitors, alerts, controller, routes: [metricsRoute, ...monitoringRoutes(monitors, alerts)] };
}
