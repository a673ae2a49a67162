import { z } from "zod";
import { route, type RouteDefinition } from "../../core/index.ts";
import { CreateWorkspaceBody, EnvironmentList, OpenWorkspaceAnswer, ReadyStats, ShareWorkspaceBody, WorkspaceIdParams, WorkspaceList, WorkspaceListQuery, WorkspaceView } from "./schema.ts";
import type { WorkspaceService } from "./service.ts";
import type { WorkspaceStore } from "./store.ts";

export function workspaceRoutes(service: WorkspaceService, store: WorkspaceStore, now: () => number): RouteDefinition[] {
  const tags = ["workspaces"];
  const byId = { params: WorkspaceIdParams, resource: async ({ params }: { params: { id: string } }) => service.resource(params.id) };
  return [
    route({
      method: "POST",
      url: "/api/v1/workspaces",
      summary: "Create a workspace: a Jupyter server of a compute profile, scheduled as a job, reached at /workspaces/<id>/",
      tags,
      action: "workspaces:create",
      body: CreateWorkspaceBody,
      resource: async ({ body, principal }) => service.newResource(body, principal),
      response: WorkspaceView,
      handler: async ({ body, principal }) => service.create(body, principal),
    }),
    route({
      method: "GET",
      url: "/api/v1/workspaces",
      summary: "Your workspaces and those shared with you (all=true: a team admin's whole teams)",
      tags,
      action: "workspaces:read",
      query: WorkspaceListQuery,
      response: WorkspaceList,
      handler: async ({ query, principal }) => ({ workspaces: await service.list(principal, query.all) }),
    }),
    route({
      method: "GET",
      url: "/api/v1/workspaces/:id",
      summary: "A workspace: phase, URL, why it waits, its GPUs, ready time, last use, events",
      tags,
      action: "workspaces:read",
      ...byId,
      response: WorkspaceView,
      handler: async ({ params, principal }) => service.get(params.id, principal),
    }),
    route({
      method: "POST",
      url: "/api/v1/workspaces/:id/stop",
      summary: "Stop a workspace: its server and kernels end, its GPUs go back; its home folder stays",
      tags,
      action: "workspaces:write",
      ...byId,
      response: WorkspaceView,
      handler: async ({ params, principal }) => service.stop(params.id, `stopped by ${principal.onBehalfOf ?? principal.name}`, principal),
    }),
    route({
      method: "POST",
      url: "/api/v1/workspaces/:id/start",
      summary: "Start a stopped workspace again (same URL and home folder)",
      tags,
      action: "workspaces:write",
      ...byId,
      response: WorkspaceView,
      handler: async ({ params, principal }) => service.start(params.id, principal),
    }),
    route({
      method: "DELETE",
      url: "/api/v1/workspaces/:id",
      summary: "Delete a workspace: stops it and removes its home folder",
      tags,
      action: "workspaces:write",
      ...byId,
      response: z.object({ deleted: z.literal(true) }),
      handler: async ({ params }) => (await service.delete(params.id), { deleted: true as const }),
    }),
    route({
      method: "POST",
      url: "/api/v1/workspaces/:id/share",
      summary: "Share a workspace with members of its team (or stop sharing it)",
      tags,
      action: "workspaces:write",
      ...byId,
      body: ShareWorkspaceBody,
      response: WorkspaceView,
      handler: async ({ params, body, principal }) => service.share(params.id, body, principal),
    }),
    route({
      method: "POST",
      url: "/api/v1/workspaces/:id/open",
      summary: "A link that opens the workspace in a browser (a one-time code traded for a cookie of this workspace only)",
      tags,
      action: "workspaces:use",
      ...byId,
      response: OpenWorkspaceAnswer,
      handler: async ({ params, principal }) => service.open(params.id, principal),
    }),
    route({
      method: "GET",
      url: "/api/v1/environments",
      summary: "The environments workspaces may ask for (--env NAME[@VERSION]): interpreter, packages, and whether their virtualenv is built",
      tags,
      action: "catalog:read",
      response: EnvironmentList,
      handler: async () => ({ environments: await service.environments() }),
    }),
    route({
      method: "GET",
      url: "/api/v1/workspace-stats",
      summary: "Ready times of workspaces (request to a kernel answering) per profile, p50 and p95, over the last 30 days",
      tags,
      action: "workspaces:read",
      response: ReadyStats,
      handler: async () => readyStats(await store.readyTimes(now() - 30 * 86_400_000)),
    }),
  ];
}

function readyStats(rows: { profile: string; ready_ms: number; from_pool: number }[]): z.output<typeof ReadyStats> {
  const by = new Map<string, { ms: number[]; pool: number }>();
  for (const r of rows) {
    const entry = by.get(r.profile) ?? { ms: [], pool: 0 };
    entry.ms.push(r.ready_ms);
    entry.pool += r.from_pool;
    by.set(r.profile, entry);
  }
  return {
    profiles: [...by.entries()]
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([profile, { ms, pool }]) => ({ profile, sessions: ms.length, p50Ms: percentile(ms, 0.5), p95Ms: percentile(ms, 0.95), fromPool: pool })),
  };
}

/** The nearest-rank percentile. */
export function percentile(values: number[], p: number): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))]!;
}
