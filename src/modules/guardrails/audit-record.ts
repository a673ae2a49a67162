import type { Action, Principal, ResourceRef } from "../../core/index.ts";
import type { Tables } from "../../storage/index.ts";
import type { AuditRecord } from "./schema.ts";

/**
 * One answered request of an audited route, as `http/` hands it over. It holds what the audit log
 * may keep and nothing else: no body, no headers, no query string, no token.
 */
export interface AuditEvent {
  /** Fastify's request id, also answered as `x-request-id`. */
  requestId: string;
  /** Who called; undefined when the request carried no valid token (401). */
  principal: Principal | undefined;
  action: Action;
  method: string;
  /** The route's URL pattern, e.g. `/api/v1/jobs/:id/cancel`. */
  route: string;
  /** The path parameters, as the router matched them (not yet validated). */
  params: unknown;
  /** The resource the route loaded for the policy, when it got that far. */
  resource: ResourceRef | undefined;
  status: number;
  /** The PlatformError code of a refused or failed request (`FORBIDDEN`, `NOT_FOUND`, ...). */
  errorCode: string | undefined;
  /** The client's address (behind `http.trustedProxies`, the one they forwarded). */
  clientIp: string | undefined;
  durationMs: number;
}

/** What `http/` needs from the audit log: which routes it covers, and a durable record of each answer. */
export interface AuditSink {
  /** Whether answers of this route are recorded: mutations, never reads or inference. */
  covers(route: { method: string; action: Action }): boolean;
  /** Records one answered request; the answer is sent once this resolves. */
  record(event: AuditEvent): Promise<void>;
}

export type AuditRow = Tables["audit_events"];

/** Path parameters kept per record, and characters per value (an artifact path can be long). */
const MAX_PARAMS = 8;
const MAX_PARAM_CHARS = 256;

/**
 * Reads actions that arrive as POST (MLflow's searches) and inference: never recorded. Everything
 * else that is not a GET changes something.
 */
function isRead(action: Action): boolean {
  return action.endsWith(":read") || action === "serving:infer" || action === "jobs:list";
}

export function isMutation(route: { method: string; action: Action }): boolean {
  return route.method !== "GET" && route.method !== "HEAD" && !isRead(route.action);
}

/** The row for one event. Only named fields are copied, so nothing else a request carried can reach the log. */
export function toRow(event: AuditEvent, id: string, time: number): AuditRow {
  const p = event.principal;
  const authenticated = p !== undefined && p.kind !== "anonymous";
  const team = event.resource?.team ?? (p?.kind === "job" ? p.team : undefined) ?? null;
  return {
    id,
    time,
    first_time: null,
    count: 1,
    request_id: event.requestId,
    actor: authenticated ? p.name : null,
    actor_kind: p ? p.kind : null,
    actor_user_id: authenticated ? (p.userId ?? null) : null,
    actor_job_id: authenticated ? (p.jobId ?? null) : null,
    team,
    action: event.action,
    method: event.method,
    route: event.route,
    target_kind: event.resource?.kind ?? null,
    target_id: event.resource ? clip(event.resource.id) : null,
    params: paramsJson(event.params),
    status: event.status,
    error_code: event.errorCode ?? null,
    client_ip: event.clientIp ?? null,
    duration_ms: Math.round(event.durationMs * 1000) / 1000,
  };
}

function paramsJson(params: unknown): string | null {
  if (params === null || typeof params !== "object") return null;
  const kept: Record<string, string> = {};
  let n = 0;
  for (const [key, value] of Object.entries(params)) {
    if (typeof value !== "string" || n++ >= MAX_PARAMS) continue;
    kept[clip(key)] = clip(value);
  }
  return n === 0 ? null : JSON.stringify(kept);
}

function clip(text: string): string {
  return text.length <= MAX_PARAM_CHARS ? text : `${text.slice(0, MAX_PARAM_CHARS)}…`;
}

export function toRecord(row: AuditRow): AuditRecord {
  return {
    id: row.id,
    time: Number(row.time),
    ...(row.first_time !== null ? { firstTime: Number(row.first_time) } : {}),
    count: Number(row.count),
    requestId: row.request_id,
    actor: { name: row.actor, kind: row.actor_kind, userId: row.actor_user_id, jobId: row.actor_job_id },
    team: row.team,
    action: row.action,
    method: row.method,
    route: row.route,
    target: row.target_kind !== null && row.target_id !== null ? { kind: row.target_kind, id: row.target_id } : null,
    params: row.params ? (JSON.parse(row.params) as Record<string, string>) : {},
    outcome: { status: Number(row.status), errorCode: row.error_code },
    clientIp: row.client_ip,
    durationMs: Number(row.duration_ms),
  };
}
