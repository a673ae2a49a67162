// Monitoring: what `paved up` exposes for Prometheus at /metrics (issue 12). Today the
// infrastructure side (item 3): GPUs, the host, the job queue, workspaces, HTTP, the database and
// Node, beside the serving series the serving plane reports. Model monitors, alerts and adoption
// figures are the rest of issue 12.
import { Readable } from "node:stream";
import { z } from "zod";
import { StreamResponse, route, type Clock, type RouteDefinition } from "../../core/index.ts";
import type { Database } from "../../storage/index.ts";
import { InfrastructureMetrics, type GpuSample } from "./infrastructure.ts";

export { InfrastructureMetrics, type GpuSample } from "./infrastructure.ts";

export interface MonitoringDeps {
  database: Database;
  clock: Clock;
  gpus: () => Promise<GpuSample[]>;
  /** The serving series in Prometheus text (the in-process serving, or every data-plane process added up). */
  servingMetrics: () => Promise<string>;
  pressureDir?: string;
}

export function createMonitoringModule(deps: MonitoringDeps): { metrics: InfrastructureMetrics; routes: RouteDefinition[] } {
  const metrics = new InfrastructureMetrics({ db: deps.database.db, clock: deps.clock, gpus: deps.gpus, ...(deps.pressureDir ? { pressureDir: deps.pressureDir } : {}) });
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
  return { metrics, routes: [metricsRoute] };
}
