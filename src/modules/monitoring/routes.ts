import { z } from "zod";
import { route, type Principal, type RouteDefinition } from "../../core/index.ts";
import type { AlertService } from "./alerts.ts";
import type { MonitorService } from "./monitors.ts";
import { AlertView, CreateMonitorBody, CreateReceiverBody, CreateRuleBody, ListAlertsQuery, ListMonitorsQuery, MonitorIdParams, MonitorView, MonitorWindowView, NameParams, ReceiverView, RuleView, SamplesDatasetBody, SamplesDatasetView, TeamQuery, WindowsQuery } from "./schema.ts";

/** GET /api/v1/alerts/<kind> (the team-named things of the caller's teams) and DELETE /api/v1/alerts/<kind>/:name (?team=). */
function listAndDelete<View extends z.ZodType>(
  kind: "receivers" | "rules",
  view: View,
  listSummary: string,
  deleteSummary: string,
  list: (principal: Principal) => Promise<z.output<View>[]>,
  remove: (name: string, team: string | undefined, principal: Principal) => Promise<void>,
): RouteDefinition[] {
  const tags = ["monitoring"];
  return [
    route({
      method: "GET",
      url: `/api/v1/alerts/${kind}`,
      summary: listSummary,
      tags,
      action: "alerts:read",
      response: z.object({ [kind]: z.array(view) }),
      handler: async ({ principal }) => ({ [kind]: await list(principal) }),
    }),
    route({
      method: "DELETE",
      url: `/api/v1/alerts/${kind}/:name`,
      summary: deleteSummary,
      tags,
      action: "alerts:write",
      params: NameParams,
      query: TeamQuery,
      response: z.object({ deleted: z.string() }),
      handler: async ({ params, query, principal }) => {
        await remove(params.name, query.team, principal);
        return { deleted: params.name };
      },
    }),
  ];
}

/** Monitors and alerts under /api/v1. */
export function monitoringRoutes(monitors: MonitorService, alerts: AlertService): RouteDefinition[] {
  const tags = ["monitoring"];
  const deleted = z.object({ deleted: z.string() });
  return [
    route({
      method: "POST",
      url: "/api/v1/monitors",
      summary: "Monitor a version in an environment: drift of its live inputs against its reference data, prediction shift, missing, out-of-range and schema-violating inputs, errors and latency, per window",
      tags,
      action: "monitors:write",
      body: CreateMonitorBody,
      resource: async ({ body }) => monitors.newResource(body),
      response: MonitorView,
      handler: async ({ body, principal }) => monitors.create(body, principal),
    }),
    route({
      method: "GET",
      url: "/api/v1/monitors",
      summary: "Monitors of your teams, with each one's latest window",
      tags,
      action: "monitors:read",
      query: ListMonitorsQuery,
      response: z.object({ monitors: z.array(MonitorView) }),
      handler: async ({ query, principal }) => ({ monitors: await monitors.list(query, principal) }),
    }),
    route({
      method: "GET",
      url: "/api/v1/monitors/:id",
      summary: "A monitor: its target, reference, thresholds in force and latest window",
      tags,
      action: "monitors:read",
      params: MonitorIdParams,
      resource: async ({ params }) => monitors.resource(params.id),
      response: MonitorView,
      handler: async ({ params }) => monitors.get(params.id),
    }),
    route({
      method: "GET",
      url: "/api/v1/monitors/:id/windows",
      summary: "A monitor's closed windows, newest first: figures per feature and the breaches",
      tags,
      action: "monitors:read",
      params: MonitorIdParams,
      query: WindowsQuery,
      resource: async ({ params }) => monitors.resource(params.id),
      response: z.object({ windows: z.array(MonitorWindowView) }),
      handler: async ({ params, query }) => ({ windows: await monitors.windows(params.id, query) }),
    }),
    route({
      method: "DELETE",
      url: "/api/v1/monitors/:id",
      summary: "Delete a monitor and its windows",
      tags,
      action: "monitors:write",
      params: MonitorIdParams,
      resource: async ({ params }) => monitors.resource(params.id),
      response: deleted,
      handler: async ({ params }) => {
        await monitors.delete(params.id);
        return { deleted: params.id };
      },
    }),
    route({
      method: "POST",
      url: "/api/v1/monitors/:id/dataset",
      summary: "The sampled live traffic a monitor kept (keepSamples), inputs and prediction scores, as a new version of a dataset of its team: one CSV file per window, with lineage to the deployment that served it",
      tags,
      action: "datasets:write",
      params: MonitorIdParams,
      body: SamplesDatasetBody,
      resource: async ({ params }) => monitors.resource(params.id),
      response: SamplesDatasetView,
      handler: async ({ params, body, principal }) => monitors.samplesDataset(params.id, body, principal),
    }),
    route({
      method: "POST",
      url: "/api/v1/alerts/receivers",
      summary: "Add a webhook receiver to a team (its host must be in monitoring.alerts.allowedHosts)",
      tags,
      action: "alerts:write",
      body: CreateReceiverBody,
      response: ReceiverView,
      handler: async ({ body, principal }) => alerts.createReceiver(body, principal),
    }),
    ...listAndDelete("receivers", ReceiverView, "Webhook receivers of your teams (URL paths are not shown)", "Delete a team's receiver", (p) => alerts.receivers(p), (name, team, p) => alerts.deleteReceiver(name, team, p)),
    route({
      method: "POST",
      url: "/api/v1/alerts/rules",
      summary: "Add an alert rule to a team: a model or infrastructure signal, a severity, receivers, and whether it pauses the rollout in progress",
      tags,
      action: "alerts:write",
      body: CreateRuleBody,
      response: RuleView,
      handler: async ({ body, principal }) => alerts.createRule(body, principal),
    }),
    ...listAndDelete("rules", RuleView, "Alert rules of your teams", "Delete a team's alert rule (its firing alerts resolve)", (p) => alerts.rules(p), (name, team, p) => alerts.deleteRule(name, team, p)),
    route({
      method: "GET",
      url: "/api/v1/alerts",
      summary: "Alerts of your teams, newest first (state firing or resolved), with what each receiver was sent",
      tags,
      action: "alerts:read",
      query: ListAlertsQuery,
      response: z.object({ alerts: z.array(AlertView) }),
      handler: async ({ query, principal }) => ({ alerts: await alerts.alerts(query, principal) }),
    }),
  ];
}
