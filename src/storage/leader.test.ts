// Leader election and fencing on a real PostgreSQL (issue 14, item 4).
import pg from "pg";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { testDialects, testPostgresUrl } from "../../test/support/databases.ts";
import type { PlatformError } from "../core/index.ts";
import { openDatabase, type Database } from "./database.ts";
import { campaign, FENCED_SQLSTATE, type Leadership } from "./leader.ts";

async function until(what: string, probe: () => boolean | Promise<boolean>): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (await probe()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${what} never happened`);
}

describe.skipIf(!testDialects().includes("postgres"))("the control plane's leader on PostgreSQL", () => {
  const open: { close(): Promise<unknown> }[] = [];
  afterEach(async () => {
    for (const o of open.splice(0).reverse()) await o.close().catch(() => undefined);
  });

  async function replica(url: string, name: string) {
    const database = await openDatabase({ url, dataDir: mkdtempSync(join(tmpdir(), "paved-leader-")) });
    open.push(database);
    const events: string[] = [];
    let lost: PlatformError | undefined;
    const leadership: Leadership = await campaign(url, {
      name,
      url: `http://${name}`,
      intervalMs: 100,
      onElected: (epoch) => {
        database.fence?.(epoch);
        events.push(`elected ${epoch}`);
      },
      onLost: (error) => {
        lost = error;
        events.push(`lost ${error.code}`);
      },
    });
    open.push({ close: () => leadership.release() });
    return { database, leadership, events, lost: () => lost };
  }

  const write = (database: Database, id: string) =>
    database.db.insertInto("experiments").values({ experiment_id: id, name: `e-${id}`, artifact_location: "x", lifecycle_stage: "active", creation_time: 0, last_update_time: 0, team_id: "default" }).execute();

  it("elects one replica, hands over within a poll when it goes, and raises the epoch each time", async () => {
    const url = await testPostgresUrl();
    const a = await replica(url, "a");
    const b = await replica(url, "b");
    expect(a.leadership.epoch).toBe(1);
    expect(b.leadership.epoch).toBeUndefined();
    expect(await b.leadership.leader()).toEqual({ epoch: 1, holder: "a", url: "http://a" });
    // Followers write unfenced (they carry no epoch); the leader's writes land while it leads.
    await write(a.database, "1");
    await write(b.database, "2");
    await a.leadership.release();
    await until("b to lead", () => b.leadership.epoch === 2);
    expect(b.events).toEqual(["elected 2"]);
    expect((await b.leadership.leader())?.url).toBe("http://b");
  });

  it("fences off a stale leader's writes once another replica is elected, and tells it", async () => {
    const url = await testPostgresUrl();
    const a = await replica(url, "a");
    expect(a.leadership.epoch).toBe(1);
    await write(a.database, "before");
    // A replica that believes it leads while another was elected: its session ends without it
    // noticing yet (as across a network partition), and b takes the lock and the epoch.
    const admin = new pg.Client({ connectionString: url });
    await admin.connect();
    const b = await replica(url, "b");
    await admin.query("select pg_terminate_backend(pid) from pg_stat_activity where application_name = 'a' and pid <> pg_backend_pid()");
    await until("b to lead", () => b.leadership.epoch === 2);
    await admin.end();
    // a's pool still says epoch 1: the trigger refuses its write, naming why.
    const refused = await write(a.database, "stale").then(
      () => undefined,
      (error: { code?: string; message: string }) => error,
    );
    expect(refused?.code).toBe(FENCED_SQLSTATE);
    expect(refused?.message).toMatch(/led the control plane at epoch 1, and another replica leads now \(epoch 2\)/);
    await until("a to learn it lost", () => a.lost() !== undefined);
    expect(a.leadership.epoch).toBeUndefined();
    // The new leader writes.
    await write(b.database, "after");
    const { rows } = await new pg.Pool({ connectionString: url, max: 1 }).query("select experiment_id from experiments where experiment_id in ('before', 'stale', 'after') order by experiment_id");
    expect(rows.map((r) => r.experiment_id)).toEqual(["after", "before"]);
  });
});
