import { z } from "zod";
import { ACTIONS, ERROR_CODES, timeBoundSchema } from "../../core/index.ts";

export const DEFAULT_AUDIT_PAGE = 100;
export const MAX_AUDIT_PAGE = 1000;

/** An audit record as the API answers it (and the JSONL export writes it, one per line). */
export const AuditRecordView = z.object({
  id: z.string(),
  time: z.number().describe("when the answer was sent (epoch ms); for a summary, the last request it counts"),
  firstTime: z.number().optional().describe("for a summary of run-tracking writes: when the first request it counts was answered"),
  count: z.number().describe("requests this record stands for: 1, or more for a summary"),
  requestId: z.string().nullable().describe("the request's x-request-id; null for a summary"),
  actor: z.object({
    name: z.string().nullable().describe("the principal's name; null when the request had no valid token"),
    kind: z.string().nullable().describe("user, service or job; null when unauthenticated"),
    userId: z.string().nullable(),
    jobId: z.string().nullable().describe("set for a job's token"),
  }),
  team: z.string().nullable().describe("the team of the resource acted on, when the route knew it"),
  action: z.string(),
  method: z.string(),
  route: z.string().describe("the route's URL pattern, e.g. /api/v1/jobs/:id/cancel"),
  target: z.object({ kind: z.string(), id: z.string() }).nullable(),
  params: z.record(z.string(), z.string()).describe("the path parameters (never the body, headers or query)"),
  outcome: z.object({ status: z.number(), errorCode: z.string().nullable() }),
  clientIp: z.string().nullable(),
  durationMs: z.number().describe("for a summary, the mean"),
});
export type AuditRecord = z.output<typeof AuditRecordView>;

export const AuditList = z.object({
  records: z.array(AuditRecordView),
  nextPageToken: z.string().optional().describe("set when older records remain: pass it as pageToken for the next page"),
});

/** A time bound: `1h`, `30m`, `7d`, `1h30m` (that long before now), an ISO 8601 time, or epoch ms. */
export type { TimeBound } from "../../core/index.ts";

const timeBound = timeBoundSchema("a duration before now (30m, 1h, 7d, 1h30m), an ISO 8601 time (2025-01-31T12:00:00Z) or epoch milliseconds");

const OUTCOMES = "success, failure, a status (403) or an error code (FORBIDDEN)";

const outcome = z
  .string()
  .max(32)
  .transform((text, ctx) => {
    if (text === "success" || text === "failure") return { kind: text } as const;
    if (/^[1-5]\d\d$/.test(text)) return { kind: "status", status: Number(text) } as const;
    if ((ERROR_CODES as readonly string[]).includes(text)) return { kind: "code", code: text } as const;
    ctx.addIssue({ code: "custom", message: `use ${OUTCOMES}` });
    return z.NEVER;
  });

const KINDS = new Set(ACTIONS.map((a) => a.slice(0, a.indexOf(":"))));

const action = z
  .string()
  .max(64)
  .refine((a) => (ACTIONS as readonly string[]).includes(a) || (a.endsWith(":*") && KINDS.has(a.slice(0, -2))), {
    message: `use an action (models:write) or every action on a kind (models:*); kinds: ${[...KINDS].join(", ")}`,
  });

/** Filters of GET /api/v1/audit and /api/v1/audit/export. */
export const AuditFilterQuery = z.object({
  since: timeBound.optional().describe("answered at or after: 1h, 30m, 7d (before now), an ISO 8601 time or epoch ms"),
  until: timeBound.optional().describe("answered before: same forms as since"),
  actor: z.string().min(1).max(200).optional().describe("a principal's name (a user, a service account, job:<id>)"),
  team: z.string().min(1).max(200).optional(),
  action: action.optional().describe("an action (models:write) or every action on a kind (models:*)"),
  outcome: outcome.optional().describe(`${OUTCOMES}`),
});

export const AuditQuery = AuditFilterQuery.extend({
  limit: z.coerce.number().int().min(1).max(MAX_AUDIT_PAGE).default(DEFAULT_AUDIT_PAGE).describe(`records per page, newest first (at most ${MAX_AUDIT_PAGE})`),
  pageToken: z.string().max(200).optional().describe("nextPageToken of the previous page"),
});
