import { sql } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Database } from "../../storage/index.ts";
import { openTestDatabase, testDialects } from "../../../test/support/databases.ts";
import type { AuditRow } from "./audit-record.ts";
import { AuditStore } from "./audit-store.ts";

function row(id: string, time: number, over: Partial<AuditRow> = {}): AuditRow {
  return {
    id,
    time,
    first_time: null,
    count: 1,
    request_id: `req-${id}`,
    actor: "ada",
    actor_kind: "user",
    actor_user_id: "u-ada",
    actor_job_id: null,
    team: "fraud",
    action: "models:write",
    method: "POST",
    route: "/api/v1/models",
    target_kind: "model",
    target_id: "churn",
    params: null,
    status: 200,
    error_code: null,
    client_ip: "127.0.0.1",
    duration_ms: 1.5,
    ...over,
  };
}

describe.each(testDialects())("audit store on %s", (dialect) => {
  let database: Database;
  let store: AuditStore;

  beforeAll(async () => {
    database = await openTestDatabase(dialect);
    store = new AuditStore(database);
    await store.insert([
      row("a1", 1000),
      row("a2", 2000, { actor: "bob", team: "search", action: "jobs:create", status: 403, error_code: "FORBIDDEN" }),
      row("a3", 2000, { actor: null, actor_kind: null, actor_user_id: null, team: null, action: "runs:write", status: 401, error_code: "UNAUTHENTICATED" }),
      row("a4", 3000, { action: "models:delete", status: 404, error_code: "NOT_FOUND", params: JSON.stringify({ name: "gone" }) }),
      row("a5", 4000, { actor: "job:j1", actor_kind: "job", actor_job_id: "j1", action: "runs:write", count: 40, first_time: 3500, request_id: null }),
    ]);
  });
  afterAll(async () => database.close());

  const ids = async (filter: Parameters<AuditStore["list"]>[0], order: "asc" | "desc" = "desc") => (await store.list(filter, { limit: 100, order })).map((r) => r.id);

  it("lists newest first (ties by id), or oldest first, and keeps every field as written", async () => {
    expect(await ids({})).toEqual(["a5", "a4", "a3", "a2", "a1"]);
    expect(await ids({}, "asc")).toEqual(["a1", "a2", "a3", "a4", "a5"]);
    const [a5] = await store.list({ actor: "job:j1" }, { limit: 1, order: "desc" });
    expect(a5).toMatchObject({ count: 40, first_time: 3500, request_id: null, actor_job_id: "j1", duration_ms: 1.5 });
  });

  it("filters by time, actor, team, action (one or a kind's) and outcome", async () => {
    expect(await ids({ since: 2000, until: 4000 })).toEqual(["a4", "a3", "a2"]);
    expect(await ids({ actor: "bob" })).toEqual(["a2"]);
    expect(await ids({ team: "fraud" })).toEqual(["a5", "a4", "a1"]);
    expect(await ids({ action: "models:*" })).toEqual(["a4", "a1"]);
    expect(await ids({ action: "runs:write" })).toEqual(["a5", "a3"]);
    expect(await ids({ outcome: { kind: "success" } })).toEqual(["a5", "a1"]);
    expect(await ids({ outcome: { kind: "failure" } })).toEqual(["a4", "a3", "a2"]);
    expect(await ids({ outcome: { kind: "status", status: 403 } })).toEqual(["a2"]);
    expect(await ids({ outcome: { kind: "code", code: "UNAUTHENTICATED" } })).toEqual(["a3"]);
    expect(await ids({ team: "fraud", outcome: { kind: "success" }, since: 2000 })).toEqual(["a5"]);
  });

  it("pages after a cursor in either order, with ties on time", async () => {
    expect((await store.list({}, { limit: 2, order: "desc", after: { time: 2000, id: "a3" } })).map((r) => r.id)).toEqual(["a2", "a1"]);
    expect((await store.list({}, { limit: 2, order: "asc", after: { time: 2000, id: "a2" } })).map((r) => r.id)).toEqual(["a3", "a4"]);
  });

  it("refuses to edit a record: the table is append-only in the database itself", async () => {
    await expect(database.db.updateTable("audit_events").set({ actor: "mallory" }).where("id", "=", "a1").execute()).rejects.toThrow(/append-only/);
    await expect(sql`update audit_events set status = 200 where id = 'a2'`.execute(database.db)).rejects.toThrow(/append-only/);
    expect((await store.list({ actor: "ada" }, { limit: 10, order: "asc" })).map((r) => r.id)).toEqual(["a1", "a4"]);
  });

  it("inserts more rows than one statement holds", async () => {
    const many = Array.from({ length: 1234 }, (_, i) => row(`m${String(i).padStart(4, "0")}`, 10_000 + i, { actor: "bulk" }));
    await store.insert(many);
    expect(await store.list({ actor: "bulk" }, { limit: 2000, order: "asc" })).toHaveLength(1234);
  });

  it("prunes only what is older than the bound, a chunk at a time", async () => {
    expect(await store.pruneBefore(2000)).toBe(1);
    expect(await ids({ until: 10_000 })).toEqual(["a5", "a4", "a3", "a2"]);
    expect(await store.pruneBefore(10_000 + 1000, 300)).toBe(4 + 1000);
    expect(await store.list({ actor: "bulk" }, { limit: 2000, order: "asc" })).toHaveLength(234);
    expect(await ids({ until: 10_000 })).toEqual([]);
  });
});
