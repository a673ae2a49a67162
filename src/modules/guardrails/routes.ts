import { Readable } from "node:stream";
import type { z } from "zod";
import { resolveTimeBound, route, StreamResponse, type Clock, type RouteDefinition } from "../../core/index.ts";
import type { AuditService } from "./audit-service.ts";
import type { AuditFilter } from "./audit-store.ts";
import { AuditFilterQuery, AuditList, AuditQuery, type TimeBound } from "./schema.ts";

const tags = ["audit"];

/** The audit log's read routes; nothing edits or deletes a record. */
export function auditRoutes(service: AuditService, clock: Clock): RouteDefinition[] {
  return [
    route({
      method: "GET",
      url: "/api/v1/audit",
      summary: "Audit records of mutating requests, newest first, a page at a time (since, until, actor, team, action, outcome, limit, pageToken)",
      tags,
      action: "audit:read",
      query: AuditQuery,
      response: AuditList,
      handler: async ({ query }) => service.query(filterOf(query, clock.now()), { limit: query.limit, pageToken: query.pageToken }),
    }),
    route({
      method: "GET",
      url: "/api/v1/audit/export",
      summary: "The matching audit records as JSON Lines, oldest first, streamed (same filters as /api/v1/audit)",
      tags,
      action: "audit:read",
      query: AuditFilterQuery,
      handler: async ({ query, signal }) => {
        const records = service.export(filterOf(query, clock.now()), signal);
        const lines = (async function* () {
          for await (const record of records) yield JSON.stringify(record) + "\n";
        })();
        return new StreamResponse(Readable.from(lines, { objectMode: false }), "application/jsonl; charset=utf-8");
      },
    }),
  ];
}

function filterOf(query: z.output<typeof AuditFilterQuery>, now: number): AuditFilter {
  const at = (bound: TimeBound | undefined) => resolveTimeBound(bound, now);
  return { since: at(query.since), until: at(query.until), actor: query.actor, team: query.team, action: query.action, outcome: query.outcome };
}
