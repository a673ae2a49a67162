import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Readable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PlatformError, createLogger, type Principal } from "../../core/index.ts";
import { openDatabase, type Database } from "../../storage/index.ts";
import { ChangeFeed, EventStreams, parseTopics, type Subscriber } from "./index.ts";
import type { ChangeEvent } from "./schema.ts";

const logger = createLogger("silent");
const ada: Principal = { name: "ada", kind: "user", userId: "u-ada", platformAdmin: false, teams: { alpha: "developer" }, team: "alpha" };
const bob: Principal = { name: "bob", kind: "user", userId: "u-bob", platformAdmin: false, teams: { beta: "viewer" }, team: "beta" };

/** Reads a stream's text as it comes. */
function collect(stream: Readable): { text: () => string; ended: Promise<void> } {
  let text = "";
  stream.setEncoding("utf8");
  stream.on("data", (chunk: string) => (text += chunk));
  return { text: () => text, ended: new Promise((r) => stream.once("end", () => r())) };
}

describe("the change feed", () => {
  let database: Database;
  let now = 1_000_000;
  const clock = { now: () => now };
  let feed: ChangeFeed;

  const setJob = async (id: string, team: string, phase: string, at: number) => {
    const existing = await database.db.selectFrom("jobs").select("job_id").where("job_id", "=", id).executeTakeFirst();
    if (existing) return void (await database.db.updateTable("jobs").set({ phase, updated_at: at }).where("job_id", "=", id).execute());
    await database.db.insertInto("teams").values({ team_id: team, description: null, created_at: 0 }).onConflict((oc) => oc.doNothing()).execute();
    await database.db
      .insertInto("jobs")
      .values({ job_id: id, name: id, spec: "{}", phase, priority: 0, owner: "ada", request: "{}", experiment_id: "0", run_id: null, attempt: 1, created_at: at, updated_at: at, team_id: team })
      .execute();
  };
  const listener = (principal: Principal, topics = "jobs") => {
    const got: { event: ChangeEvent; id: string }[] = [];
    const resets: string[] = [];
    const s: Subscriber = { principal, topics: parseTopics(topics), send: (event, id) => got.push({ event, id }), reset: (topic) => resets.push(topic) };
    return { s, got, resets };
  };

  beforeAll(async () => {
    database = await openDatabase({ dataDir: mkdtempSync(join(tmpdir(), "paved-events-")) });
    feed = new ChangeFeed({ db: database.db, clock, logger, tickMs: 3_600_000, limit: 50, maxResumeMs: 3_600_000 });
  });
  afterAll(async () => {
    await feed.stop();
    await database.close();
  });

  it("tells each subscriber of the changes of its teams' resources once, not of older ones, and finds a change committed late", async () => {
    await setJob("old", "alpha", "QUEUED", now - 1_000);
    const a = listener(ada);
    const b = listener(bob);
    const stopA = feed.subscribe(a.s);
    const stopB = feed.subscribe(b.s);
    now += 100;
    await setJob("j1", "alpha", "QUEUED", now);
    await setJob("k1", "beta", "QUEUED", now);
    await feed.poll();
    expect(a.got.map((g) => `${g.event.id} ${g.event.state}`)).toEqual(["j1 QUEUED"]);
    expect(b.got.map((g) => `${g.event.id} ${g.event.state}`)).toEqual(["k1 QUEUED"]);
    expect(a.got[0]!.event).toMatchObject({ topic: "jobs", kind: "job", team: "alpha", at: now });
    // Nothing new: nothing told again.
    now += 1_000;
    await feed.poll();
    expect(a.got).toHaveLength(1);
    // A transaction stamped before the last poll but committed after it is still found.
    await setJob("j1", "alpha", "RUNNING", now - 1_500);
    now += 1_000;
    await feed.poll();
    expect(a.got.map((g) => `${g.event.id} ${g.event.state}`)).toEqual(["j1 QUEUED", "j1 RUNNING"]);
    expect(Number(a.got[1]!.id)).toBe(now);
    stopA();
    stopB();
    expect(feed.size).toBe(0);
  });

  it("replays what a subscriber missed after its cursor, and asks for a reload when the cursor is too old or too much changed", async () => {
    const cursor = now;
    now += 10_000;
    await setJob("j2", "alpha", "SUCCEEDED", now);
    const missed = await feed.replay(["jobs"], cursor);
    expect(missed).not.toBe("reset");
    expect((missed as { event: ChangeEvent }[]).map((c) => c.event.id)).toContain("j2");
    expect(await feed.replay(["jobs"], now - 2 * 3_600_000)).toBe("reset");
    for (let i = 0; i < 60; i++) await setJob(`many-${i}`, "alpha", "QUEUED", now);
    expect(await feed.replay(["jobs"], cursor)).toBe("reset");
  });
});

describe("event streams", () => {
  let database: Database;
  let feed: ChangeFeed;
  let streams: EventStreams;
  let valid = true;

  beforeAll(async () => {
    database = await openDatabase({ dataDir: mkdtempSync(join(tmpdir(), "paved-events-streams-")) });
    feed = new ChangeFeed({ db: database.db, clock: { now: () => Date.now() }, logger, tickMs: 50, limit: 100, maxResumeMs: 3_600_000 });
    streams = new EventStreams(feed, {
      maxPerPrincipal: 2,
      heartbeatMs: 50,
      recheckMs: 50,
      maxBufferedBytes: 1 << 20,
      logger,
      clock: { now: () => Date.now() },
      authenticate: async () => {
        if (!valid) throw new PlatformError("UNAUTHENTICATED", "the token was revoked");
        return ada;
      },
    });
  });
  afterAll(async () => {
    await streams.stop();
    await database.close();
  });

  const open = (principal: Principal, topics = "jobs") =>
    streams.openStream({ principal, topics, lastEventId: undefined, credentials: { authorization: "Bearer x", cookie: undefined }, signal: new AbortController().signal });

  it("sends heartbeats, bounds the streams of one principal, and ends a stream whose credentials stopped holding", async () => {
    const first = await open(ada);
    expect(first.contentType).toContain("text/event-stream");
    const firstText = collect(first.stream);
    await expect.poll(() => firstText.text()).toContain(": heartbeat");
    const second = await open(ada);
    const secondText = collect(second.stream);
    await expect(open(ada)).rejects.toMatchObject({ code: "QUOTA_EXCEEDED" });
    // Another principal has its own bound.
    const bobs = await open(bob);
    collect(bobs.stream);
    valid = false;
    await firstText.ended;
    await secondText.ended;
    expect(firstText.text()).toContain("event: end");
    expect(firstText.text()).toContain('"code":"UNAUTHENTICATED"');
    valid = true;
    // The ended ones no longer count.
    const again = await open(ada);
    collect(again.stream);
    await expect(open(ada, "nope")).rejects.toMatchObject({ code: "INVALID_INPUT" });
    await streams.stop();
    await expect(open(ada)).rejects.toMatchObject({ code: "UNAVAILABLE" });
    expect(streams.count).toBe(0);
    streams.start();
  });
});
