import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLogger, type IdGenerator, type Principal } from "../../core/index.ts";
import type { Database } from "../../storage/index.ts";
import { openTestDatabase, testDialects } from "../../../test/support/databases.ts";
import type { AuditEvent, AuditRow } from "./audit-record.ts";
import { AuditService, type AuditOptions } from "./audit-service.ts";
import { AuditStore } from "./audit-store.ts";

function counterIds(): IdGenerator {
  let n = 0;
  return { hex32: () => (++n).toString(16).padStart(32, "0"), numeric: () => String(++n), prefixed: (p) => `${p}-${++n}` };
}

const ada: Principal = { name: "ada", kind: "user", userId: "u-ada", platformAdmin: false, teams: { fraud: "developer" }, team: "fraud" };
const job: Principal = { name: "job:j1", kind: "job", userId: "u-ada", platformAdmin: false, teams: {}, team: "fraud", jobId: "j1" };

function event(over: Partial<AuditEvent> = {}): AuditEvent {
  return {
    requestId: "req-1",
    principal: ada,
    action: "models:write",
    method: "POST",
    route: "/api/v1/models/:name/versions",
    params: { name: "churn" },
    resource: { kind: "model", id: "churn", team: "fraud" },
    status: 200,
    errorCode: undefined,
    clientIp: "127.0.0.1",
    durationMs: 2,
    ...over,
  };
}

/** The real store, counting its insert statements. */
class CountingStore extends AuditStore {
  inserts: number[] = [];
  failNext = false;
  override async insert(rows: readonly AuditRow[]): Promise<void> {
    this.inserts.push(rows.length);
    if (this.failNext) {
      this.failNext = false;
      throw new Error("disk full");
    }
    return super.insert(rows);
  }
}

describe.each(testDialects())("audit service on %s", (dialect) => {
  let database: Database;
  let now = 1_700_000_000_000;
  const clock = { now: () => now };
  const logger = createLogger("silent");
  const ids = counterIds();

  beforeAll(async () => {
    database = await openTestDatabase(dialect);
  });
  afterAll(async () => database.close());

  function service(options: Partial<AuditOptions> = {}): { audit: AuditService; store: CountingStore } {
    const store = new CountingStore(database);
    return { audit: new AuditService({ store, clock, ids, logger, dataEvents: false, retentionDays: 30, summarySeconds: 60, ...options }), store };
  }

  const rows = (filter: Parameters<AuditStore["list"]>[0]) => new AuditStore(database).list(filter, { limit: 10_000, order: "asc" });

  it("commits the records of answers that finish together in one statement, each awaited until then", async () => {
    const { audit, store } = service();
    const settled: number[] = [];
    const all = Array.from({ length: 50 }, (_, i) => audit.record(event({ requestId: `group-${i}`, principal: { ...ada, name: "group" } })).then(() => settled.push(i)));
    expect(settled).toEqual([]);
    await Promise.all(all);
    expect(store.inserts).toEqual([50]);
    expect(await rows({ actor: "group" })).toHaveLength(50);
  });

  it("writes what arrives during a write as the next group, and a failed write fails only its own requests", async () => {
    const { audit, store } = service();
    store.failNext = true;
    const first = audit.record(event({ principal: { ...ada, name: "fail" } }));
    await expect(first).rejects.toThrow("disk full");
    const next = await Promise.allSettled([audit.record(event({ principal: { ...ada, name: "after" } })), audit.record(event({ principal: { ...ada, name: "after" } }))]);
    expect(next.map((r) => r.status)).toEqual(["fulfilled", "fulfilled"]);
    expect(await rows({ actor: "fail" })).toHaveLength(0);
    expect(await rows({ actor: "after" })).toHaveLength(2);
  });

  it("records who, team, what, target, outcome and from where; a 401 has no actor", async () => {
    const { audit } = service();
    await audit.record(event({ requestId: "r-job", principal: job, action: "runs:create", route: "/api/2.0/mlflow/runs/create", params: {}, resource: undefined, status: 403, errorCode: "FORBIDDEN" }));
    await audit.record(event({ requestId: "r-anon", principal: undefined, resource: undefined, status: 401, errorCode: "UNAUTHENTICATED", clientIp: "10.1.2.3" }));
    const [refused] = await rows({ actor: "job:j1" });
    expect(refused).toMatchObject({ request_id: "r-job", actor_kind: "job", actor_job_id: "j1", actor_user_id: "u-ada", team: "fraud", action: "runs:create", status: 403, error_code: "FORBIDDEN", target_kind: null, params: null });
    const [anonymous] = await rows({ outcome: { kind: "code", code: "UNAUTHENTICATED" } });
    expect(anonymous).toMatchObject({ request_id: "r-anon", actor: null, actor_kind: null, actor_user_id: null, team: null, target_kind: null, client_ip: "10.1.2.3", params: JSON.stringify({ name: "churn" }) });
  });

  it("keeps at most 8 path parameters of 256 characters each", async () => {
    const { audit } = service();
    const params = Object.fromEntries(Array.from({ length: 12 }, (_, i) => [`p${i}`, "x".repeat(1000)]));
    await audit.record(event({ principal: { ...ada, name: "params" }, params }));
    const [kept] = await rows({ actor: "params" });
    const parsed = JSON.parse(kept!.params!) as Record<string, string>;
    expect(Object.keys(parsed)).toHaveLength(8);
    expect(parsed.p0).toHaveLength(257);
  });

  it("summarises run-tracking writes per actor, run, route and outcome; refused ones stay one by one", async () => {
    const { audit, store } = service();
    const write = (over: Partial<AuditEvent>) => audit.record(event({ principal: job, action: "runs:write", route: "/api/2.0/mlflow/runs/log-batch", params: {}, resource: { kind: "run", id: "r1", team: "fraud", jobId: "j1" }, ...over }));
    for (let i = 0; i < 30; i++) {
      now += 10;
      await write({ requestId: `lb-${i}`, durationMs: i % 2 ? 1 : 3 });
    }
    await write({ resource: { kind: "run", id: "r2", team: "fraud", jobId: "j1" } });
    await write({ status: 400, errorCode: "INVALID_INPUT" });
    await write({ status: 403, errorCode: "FORBIDDEN", requestId: "lb-refused" });
    expect(store.inserts).toEqual([1]);
    expect((await rows({ actor: "job:j1", action: "runs:write" })).map((r) => r.request_id)).toEqual(["lb-refused"]);
    await audit.stop();
    const summaries = (await rows({ actor: "job:j1", action: "runs:write" })).filter((r) => r.request_id === null);
    const r1 = summaries.find((r) => r.target_id === "r1" && r.status === 200);
    expect(r1).toMatchObject({ count: 30, first_time: now - 290, time: now, duration_ms: 2 });
    expect(summaries.map((r) => [r.target_id, r.status, r.count]).sort()).toEqual([
      ["r1", 200, 30],
      ["r1", 400, 1],
      ["r2", 200, 1],
    ]);
  });

  it("records each run-tracking write with dataEvents on", async () => {
    const { audit } = service({ dataEvents: true });
    for (let i = 0; i < 3; i++) await audit.record(event({ principal: { ...job, name: "job:j2", jobId: "j2" }, action: "runs:write", requestId: `each-${i}` }));
    expect((await rows({ actor: "job:j2" })).map((r) => [r.request_id, r.count])).toEqual([
      ["each-0", 1],
      ["each-1", 1],
      ["each-2", 1],
    ]);
  });

  it("covers mutations only: never GETs, POSTed searches or inference", () => {
    const { audit } = service();
    expect(audit.covers({ method: "POST", action: "models:write" })).toBe(true);
    expect(audit.covers({ method: "DELETE", action: "runs:delete" })).toBe(true);
    expect(audit.covers({ method: "PUT", action: "runs:write" })).toBe(true);
    expect(audit.covers({ method: "GET", action: "jobs:read" })).toBe(false);
    expect(audit.covers({ method: "POST", action: "runs:read" })).toBe(false);
    expect(audit.covers({ method: "POST", action: "serving:infer" })).toBe(false);
  });

  it("pages newest first with a token, and refuses a token it did not hand out", async () => {
    const { audit } = service();
    for (let i = 0; i < 5; i++) {
      now += 1000;
      await audit.record(event({ principal: { ...ada, name: "pager" }, requestId: `p${i}` }));
    }
    const first = await audit.query({ actor: "pager" }, { limit: 2 });
    expect(first.records.map((r) => r.requestId)).toEqual(["p4", "p3"]);
    const second = await audit.query({ actor: "pager" }, { limit: 2, pageToken: first.nextPageToken });
    expect(second.records.map((r) => r.requestId)).toEqual(["p2", "p1"]);
    const last = await audit.query({ actor: "pager" }, { limit: 2, pageToken: second.nextPageToken });
    expect(last.records.map((r) => r.requestId)).toEqual(["p0"]);
    expect(last.nextPageToken).toBeUndefined();
    await expect(audit.query({}, { limit: 2, pageToken: "bm9wZQ" })).rejects.toMatchObject({ code: "INVALID_INPUT" });
  });

  it("exports oldest first across pages, up to the time the export started", async () => {
    const { audit } = service();
    const base = now;
    await new AuditStore(database).insert(Array.from({ length: 2345 }, (_, i) => ({ ...rowOf(i), time: base + 1 + i })));
    now = base + 2000;
    const exported: string[] = [];
    for await (const record of audit.export({ actor: "export" })) exported.push(record.id);
    expect(exported).toHaveLength(2000);
    expect(exported[0]).toBe("e00000");
    expect([...exported].sort()).toEqual(exported);
    now = base + 3000;
  });

  it("prunes records past retentionDays by the clock; 0 keeps them all", async () => {
    const { audit } = service({ retentionDays: 30 });
    const day = 86_400_000;
    await new AuditStore(database).insert([
      { ...rowOf(9001), id: "old", actor: "retention", time: now - 31 * day },
      { ...rowOf(9002), id: "new", actor: "retention", time: now - 29 * day },
    ]);
    expect(await service({ retentionDays: 0 }).audit.prune()).toBe(0);
    expect(await audit.prune()).toBeGreaterThanOrEqual(1);
    expect((await rows({ actor: "retention" })).map((r) => r.id)).toEqual(["new"]);
  });
});

function rowOf(i: number): AuditRow {
  return {
    id: `e${String(i).padStart(5, "0")}`,
    time: 0,
    first_time: null,
    count: 1,
    request_id: `x${i}`,
    actor: "export",
    actor_kind: "user",
    actor_user_id: null,
    actor_job_id: null,
    team: null,
    action: "models:write",
    method: "POST",
    route: "/api/v1/models",
    target_kind: null,
    target_id: null,
    params: null,
    status: 200,
    error_code: null,
    client_ip: null,
    duration_ms: 1,
  };
}
