import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { openTestDatabase, testDialects } from "../../../test/support/databases.ts";
import { PlatformError, createLogger, githubSignature, randomIds, type Principal } from "../../core/index.ts";
import type { Database } from "../../storage/index.ts";
import type { ParameterValue } from "../pipelines/index.ts";
import { CreateTriggerBody } from "./schema.ts";
import { FIRING_RETENTION_MS, KEPT_FIRINGS, KEPT_TREES, TriggerService } from "./service.ts";

const ADA: Principal = { name: "ada", kind: "user", userId: "u-ada", platformAdmin: false, teams: { "team-a": "developer" } };
const SECRET = "hook-secret";
const at = (iso: string) => Date.parse(iso);

/**
 * Stand-ins for the modules around triggers (the pipelines service, the datasets service, the
 * secret store, identity), recording what they are asked; the real ones are connected in
 * test/triggers-story.test.ts. The database is real (SQLite, and PostgreSQL when the suite has it).
 */
function world(database: Database, start: string) {
  let now = at(start);
  const runs: { name: string; params: Record<string, unknown>; runId: string; reason: string }[] = [];
  const versions = new Map<string, number>([["churn", 1]]);
  let people: Record<string, Principal | undefined> = { "u-ada": ADA };
  const finished = new Set<string>();
  const service = new TriggerService({
    db: database.db,
    clock: { now: () => now },
    ids: randomIds,
    logger: createLogger("silent"),
    pipelines: {
      get: async (name) => {
        if (name !== "train") throw new PlatformError("NOT_FOUND", `pipeline '${name}' does not exist`);
        return { name, team: "team-a" };
      },
      startRun: async (name, params, _principal, options) => {
        if (!runs.some((r) => r.runId === options.runId)) runs.push({ name, params, runId: options.runId, reason: options.reason });
        return { id: options.runId };
      },
      unfinishedRunParams: async () => runs.filter((r) => !finished.has(r.runId)).map((r) => r.params as Record<string, ParameterValue>),
    },
    latestDatasetVersion: async (team, name) => {
      if (team !== "team-a" || !versions.has(name)) throw new PlatformError("NOT_FOUND", `dataset '${name}' does not exist`);
      return versions.get(name);
    },
    readSecret: async (team, name) => {
      if (team !== "team-a" || name !== "hook") throw new PlatformError("NOT_FOUND", `team '${team}' has no secret '${name}'`);
      return SECRET;
    },
    principalOf: async (userId) => people[userId],
    allowedRemotes: [],
    checkoutDir: mkdtempSync(join(tmpdir(), "paved-trig-")),
    path: process.env.PATH ?? "/usr/bin:/bin",
  });
  return {
    service,
    runs,
    versions,
    finished,
    setNow: (iso: string) => (now = at(iso)),
    forget: (userId: string) => (people = { ...people, [userId]: undefined }),
  };
}

describe.each(testDialects())("pipeline triggers (%s)", (dialect) => {
  const open: Database[] = [];
  afterEach(async () => {
    for (const d of open.splice(0)) await d.close();
  });
  const database = async () => {
    const d = await openTestDatabase(dialect);
    open.push(d);
    return d;
  };

  it("fires a schedule at its time in its zone, once, and once for all the firings missed while down", async () => {
    const w = world(await database(), "2026-12-01T06:30:00Z");
    const trigger = await w.service.create("train", CreateTriggerBody.parse({ name: "nightly", cron: { schedule: "0 8 * * *", timeZone: "Europe/Berlin" }, params: { epochs: 5 } }), ADA);
    // 08:00 in Berlin in December is 07:00 UTC.
    expect(trigger.next).toBe(at("2026-12-01T07:00:00Z"));
    w.setNow("2026-12-01T06:59:59Z");
    await w.service.pass();
    expect(w.runs).toEqual([]);
    w.setNow("2026-12-01T07:00:05Z");
    await w.service.pass();
    await w.service.pass();
    expect(w.runs).toEqual([expect.objectContaining({ name: "train", params: { epochs: 5 }, reason: "trigger nightly (cron): cron:2026-12-01T07:00:00.000Z" })]);
    // Down for three days: one run, for the latest firing, saying what was missed.
    w.setNow("2026-12-04T12:00:00Z");
    await w.service.pass();
    expect(w.runs).toHaveLength(2);
    const shown = await w.service.get(trigger.id);
    expect(shown.firings[0]).toMatchObject({ key: "cron:2026-12-04T07:00:00.000Z", outcome: "started", message: expect.stringContaining("2 earlier firings were missed") });
    expect(shown.next).toBe(at("2026-12-05T07:00:00Z"));
  });

  it("skips firings missed while down when told to", async () => {
    const w = world(await database(), "2026-12-01T00:00:00Z");
    await w.service.create("train", CreateTriggerBody.parse({ cron: { schedule: "@hourly", missed: "skip" } }), ADA);
    w.setNow("2026-12-01T05:30:00Z");
    await w.service.pass();
    expect(w.runs).toEqual([]);
    w.setNow("2026-12-01T06:00:10Z");
    await w.service.pass();
    expect(w.runs).toHaveLength(1);
  });

  it("starts a run for a dataset's newest version, with its reference as a parameter", async () => {
    const w = world(await database(), "2026-12-01T00:00:00Z");
    const trigger = await w.service.create("train", CreateTriggerBody.parse({ dataset: { name: "churn" } }), ADA);
    await w.service.pass();
    expect(w.runs).toEqual([]);
    w.versions.set("churn", 3);
    await w.service.pass();
    await w.service.pass();
    expect(w.runs).toEqual([expect.objectContaining({ params: { dataset: "datasets:/churn@3" } })]);
    expect((await w.service.get(trigger.id)).firings[0]).toMatchObject({ key: "dataset:churn@3", message: expect.stringContaining("1 earlier new version") });
    await expect(w.service.create("train", CreateTriggerBody.parse({ name: "other", dataset: { name: "nope" } }), ADA)).rejects.toMatchObject({ code: "NOT_FOUND" });
  });

  it("starts a firing recorded before a crash after the restart, under the run id recorded, and refuses one whose creator is gone", async () => {
    const d = await database();
    const w = world(d, "2026-12-01T00:00:00Z");
    const trigger = await w.service.create("train", CreateTriggerBody.parse({ dataset: { name: "churn" } }), ADA);
    w.versions.set("churn", 2);
    // The firing is recorded, and the server dies before it starts the run.
    await (w.service as unknown as { newVersions(row: unknown): Promise<void> }).newVersions(await d.db.selectFrom("pipeline_triggers").selectAll().where("trigger_id", "=", trigger.id).executeTakeFirstOrThrow());
    const recorded = (await w.service.get(trigger.id)).firings[0]!;
    expect(recorded.outcome).toBe("pending");
    const after = world(d, "2026-12-01T00:01:00Z");
    after.versions.set("churn", 2);
    await after.service.pass();
    expect(after.runs).toEqual([expect.objectContaining({ runId: recorded.runId, params: { dataset: "datasets:/churn@2" } })]);
    after.versions.set("churn", 3);
    after.forget("u-ada");
    await after.service.pass();
    expect((await after.service.get(trigger.id)).firings[0]).toMatchObject({ key: "dataset:churn@3", outcome: "refused", message: expect.stringContaining("no longer exists") });
  });

  it("verifies a push before reading it, runs a delivery once, and ignores other branches and repositories", async () => {
    const w = world(await database(), "2026-12-01T00:00:00Z");
    const remote = mkdtempSync(join(tmpdir(), "paved-remote-"));
    const allowed = new TriggerService({ ...(w.service as unknown as { deps: ConstructorParameters<typeof TriggerService>[0] }).deps, allowedRemotes: [remote] });
    await expect(allowed.create("train", CreateTriggerBody.parse({ git: { repository: "acme/churn", url: "https://evil.example/x.git", secret: "hook" } }), ADA)).rejects.toMatchObject({ code: "INVALID_INPUT" });
    await expect(allowed.create("train", CreateTriggerBody.parse({ git: { repository: "acme/churn", url: remote, secret: "missing" } }), ADA)).rejects.toMatchObject({ code: "NOT_FOUND" });
    const trigger = await allowed.create("train", CreateTriggerBody.parse({ git: { repository: "acme/churn", url: remote, secret: "hook" } }), ADA);
    expect(trigger.webhook).toBe(`/api/v1/triggers/${trigger.id}/webhook`);
    const push = (branch: string, repo = "acme/churn") => Buffer.from(JSON.stringify({ ref: `refs/heads/${branch}`, after: "9fceb02d0ae598e95dc970b74767f19372d61af8", repository: { full_name: repo } }));
    const headers = (body: Buffer, id: string, secret = SECRET) => ({ "x-github-event": "push", "x-github-delivery": id, "x-hub-signature-256": githubSignature(body, secret) });
    const main = push("main");
    await expect(allowed.deliver(trigger.id, headers(main, "d-1", "wrong"), main)).rejects.toMatchObject({ code: "UNAUTHENTICATED" });
    expect((await allowed.get(trigger.id)).firings).toEqual([]);
    const first = await allowed.deliver(trigger.id, headers(main, "d-1"), main);
    expect(first).toMatchObject({ outcome: "accepted", runId: expect.any(String) });
    expect(await allowed.deliver(trigger.id, headers(main, "d-1"), main)).toEqual({ outcome: "replayed", runId: first.runId, message: expect.stringContaining("received before") });
    // The same signed body under a new delivery id (GitHub signs the body only): still the same commit, still nothing more.
    expect(await allowed.deliver(trigger.id, headers(main, "d-9"), main)).toMatchObject({ outcome: "replayed", runId: first.runId });
    const dev = push("dev");
    expect((await allowed.deliver(trigger.id, headers(dev, "d-2"), dev)).outcome).toBe("ignored");
    const fork = push("main", "mallory/churn");
    expect((await allowed.deliver(trigger.id, headers(fork, "d-3"), fork)).outcome).toBe("ignored");
    expect((await allowed.get(trigger.id)).firings).toHaveLength(1);
    await expect(allowed.deliver("trig-nope", headers(main, "d-4"), main)).rejects.toMatchObject({ code: "NOT_FOUND" });
  });

  it("fetches the pushed commit from the remote into a folder per tree, and names it in the run's parameters", async () => {
    const w = world(await database(), "2026-12-01T00:00:00Z");
    const remote = mkdtempSync(join(tmpdir(), "paved-remote-"));
    const git = (...args: string[]) => execFileSync("git", ["-C", remote, "-c", "user.name=t", "-c", "user.email=t@example.com", ...args], { encoding: "utf8" }).trim();
    git("init", "-q", "-b", "main");
    writeFileSync(join(remote, "train.py"), "print('v1')\n");
    git("add", ".");
    git("commit", "-q", "-m", "one");
    const one = git("rev-parse", "HEAD");
    git("commit", "-q", "--allow-empty", "-m", "same files");
    const two = git("rev-parse", "HEAD");
    const allowed = new TriggerService({ ...(w.service as unknown as { deps: ConstructorParameters<typeof TriggerService>[0] }).deps, allowedRemotes: [remote] });
    const trigger = await allowed.create("train", CreateTriggerBody.parse({ git: { repository: "acme/churn", url: remote, secret: "hook" } }), ADA);
    const deliver = async (commit: string, id: string) => {
      const body = Buffer.from(JSON.stringify({ ref: "refs/heads/main", after: commit, repository: { full_name: "acme/churn" } }));
      return allowed.deliver(trigger.id, { "x-github-event": "push", "x-github-delivery": id, "x-hub-signature-256": githubSignature(body, SECRET) }, body);
    };
    await deliver(one, "d-1");
    await allowed.pass();
    await deliver(two, "d-2");
    await allowed.pass();
    expect(w.runs.map((r) => r.params.commit)).toEqual([one, two]);
    // The same files: the same folder, whose HEAD follows the newest push.
    expect(w.runs[0]!.params.checkout).toBe(w.runs[1]!.params.checkout);
    const dir = String(w.runs[1]!.params.checkout);
    expect(readFileSync(join(dir, "train.py"), "utf8")).toBe("print('v1')\n");
    expect(execFileSync("git", ["-C", dir, "rev-parse", "HEAD"], { encoding: "utf8" }).trim()).toBe(two);
    // A commit the remote does not have: refused, with the reason.
    w.setNow("2026-12-01T00:05:00Z");
    await deliver("0123456789abcdef0123456789abcdef01234567", "d-3");
    await allowed.pass();
    expect((await allowed.get(trigger.id)).firings[0]).toMatchObject({ outcome: "refused", message: expect.stringContaining("is not in") });
    expect(existsSync(join(dir, ".git"))).toBe(true);
  });

  it("drops settled cron and dataset firings past the retention but the newest, and keeps pending ones and a git trigger's", async () => {
    const db = await database();
    const w = world(db, "2027-03-01T00:00:00Z");
    const remote = mkdtempSync(join(tmpdir(), "paved-remote-"));
    const allowed = new TriggerService({ ...(w.service as unknown as { deps: ConstructorParameters<typeof TriggerService>[0] }).deps, allowedRemotes: [remote] });
    const cron = await allowed.create("train", CreateTriggerBody.parse({ cron: { schedule: "* * * * *" } }), ADA);
    const git = await allowed.create("train", CreateTriggerBody.parse({ git: { repository: "acme/churn", url: remote, secret: "hook" } }), ADA);
    const now = at("2027-03-01T00:00:00Z");
    const old = now - FIRING_RETENTION_MS - 86_400_000;
    const firing = (trigger: string, key: string, created: number, outcome = "started") => ({ trigger_id: trigger, firing_key: key, run_id: `prun-${key}`, outcome, message: null, params: "{}", created_at: created, updated_at: created });
    const rows = [
      ...Array.from({ length: KEPT_FIRINGS + 50 }, (_, i) => firing(cron.id, `cron:old-${String(i).padStart(3, "0")}`, old + i * 60_000, i % 7 === 0 ? "refused" : "started")),
      ...Array.from({ length: 5 }, (_, i) => firing(cron.id, `cron:recent-${i}`, now - 86_400_000 + i)),
      firing(cron.id, "cron:pending", old - 86_400_000, "pending"),
      ...Array.from({ length: 3 }, (_, i) => firing(git.id, `git:${i}`, old - i)),
    ];
    await db.db.insertInto("trigger_firings").values(rows).execute();
    await allowed.tidy();
    const left = async (trigger: string) => (await db.db.selectFrom("trigger_firings").select("firing_key").where("trigger_id", "=", trigger).orderBy("firing_key").execute()).map((r) => r.firing_key);
    const oldKept = Array.from({ length: KEPT_FIRINGS - 5 }, (_, i) => `cron:old-${String(KEPT_FIRINGS + 50 - 1 - i).padStart(3, "0")}`);
    expect(await left(cron.id)).toEqual([...oldKept, "cron:pending", ...Array.from({ length: 5 }, (_, i) => `cron:recent-${i}`)].sort());
    expect(await left(git.id)).toEqual(["git:0", "git:1", "git:2"]); // a commit's key refuses its replay, however old
    expect((await allowed.get(cron.id)).firings).toHaveLength(20);
  });

  it("removes checkouts no unfinished run names but the most recently pushed, and a deleted trigger's folder once none is in use", async () => {
    const w = world(await database(), "2026-12-01T00:00:00Z");
    const remote = mkdtempSync(join(tmpdir(), "paved-remote-"));
    const git = (...args: string[]) => execFileSync("git", ["-C", remote, "-c", "user.name=t", "-c", "user.email=t@example.com", ...args], { encoding: "utf8" }).trim();
    git("init", "-q", "-b", "main");
    const commits: string[] = [];
    for (let i = 0; i < 5; i++) {
      writeFileSync(join(remote, "train.py"), `print(${i})\n`);
      git("add", ".");
      git("commit", "-q", "-m", `v${i}`);
      commits.push(git("rev-parse", "HEAD"));
    }
    const deps = (w.service as unknown as { deps: ConstructorParameters<typeof TriggerService>[0] }).deps;
    const allowed = new TriggerService({ ...deps, allowedRemotes: [remote] });
    const trigger = await allowed.create("train", CreateTriggerBody.parse({ git: { repository: "acme/churn", url: remote, secret: "hook" } }), ADA);
    const deliver = async (commit: string, id: string) => {
      const body = Buffer.from(JSON.stringify({ ref: "refs/heads/main", after: commit, repository: { full_name: "acme/churn" } }));
      return allowed.deliver(trigger.id, { "x-github-event": "push", "x-github-delivery": id, "x-hub-signature-256": githubSignature(body, SECRET) }, body);
    };
    for (const [i, commit] of commits.entries()) {
      await deliver(commit, `d-${i}`);
      await allowed.pass();
    }
    const dirs = w.runs.map((r) => String(r.params.checkout));
    expect(new Set(dirs).size).toBe(5);
    // Pushed one after another: the times say so, whatever the clock's resolution.
    dirs.forEach((dir, i) => utimesSync(dir, 1_800_000_000 + i, 1_800_000_000 + i));
    const base = join(deps.checkoutDir, trigger.id);
    for (const r of w.runs.slice(1)) w.finished.add(r.runId);
    await allowed.tidy();
    // The first run still runs in its checkout; the newest KEPT_TREES stay; the second goes.
    expect(dirs.map((d) => existsSync(d))).toEqual([true, false, ...Array.from({ length: KEPT_TREES }, () => true)]);
    expect(readFileSync(join(dirs[0]!, "train.py"), "utf8")).toBe("print(0)\n");
    // The files of the removed checkout pushed again in a new commit: checked out again.
    writeFileSync(join(remote, "train.py"), "print(1)\n");
    git("commit", "-q", "-am", "v1 again");
    await deliver(git("rev-parse", "HEAD"), "d-5");
    await allowed.pass();
    expect(String(w.runs.at(-1)!.params.checkout)).toBe(dirs[1]);
    expect(readFileSync(join(dirs[1]!, "train.py"), "utf8")).toBe("print(1)\n");
    // Deleted: what no run uses goes at once; the folder goes with the last run.
    w.finished.add(w.runs.at(-1)!.runId);
    await allowed.delete(trigger.id);
    await allowed.tidy();
    expect(readdirSync(join(base, "trees"))).toEqual([dirs[0]!.split("/").at(-1)]);
    w.finished.add(w.runs[0]!.runId);
    await allowed.tidy();
    expect(existsSync(base)).toBe(false);
  });
});
