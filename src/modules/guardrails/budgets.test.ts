import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openTestDatabase, testDialects } from "../../../test/support/databases.ts";
import { PlatformError, createLogger, randomIds, type Clock, type Principal } from "../../core/index.ts";
import type { Database } from "../../storage/index.ts";
import { ProfileCatalog } from "../catalog/index.ts";
import { BudgetStore } from "./budgets-store.ts";
import { BudgetService, hostAllowed } from "./budgets.ts";
import { CostStore } from "./costs-store.ts";
import { CostService, monthBounds } from "./costs.ts";

const HOUR = 3_600_000;
const DEC = monthBounds("2026-12");
const platformAdmin: Principal = { name: "root", kind: "user", platformAdmin: true, teams: {} };
const teamAdmin: Principal = { name: "lead", kind: "user", platformAdmin: false, teams: { risk: "admin" } };

/** A webhook receiver: answers each POST with the next status of `statuses` (then 200), and keeps what it got. */
async function receiver(statuses: number[] = []) {
  const got: { headers: IncomingHttpHeaders; body: Record<string, unknown> }[] = [];
  const server: Server = createServer((req, res) => {
    let text = "";
    req.on("data", (chunk: Buffer) => (text += chunk.toString()));
    req.on("end", () => {
      got.push({ headers: req.headers, body: JSON.parse(text) as Record<string, unknown> });
      res.statusCode = statuses.shift() ?? 200;
      res.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks/budget?token=s3cret`;
  return { got, url, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

async function refusal(p: Promise<unknown>): Promise<PlatformError> {
  const error = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(PlatformError);
  return error as PlatformError;
}

describe.each(testDialects())("budgets (%s)", (dialect) => {
  let database: Database;
  let now = DEC.from + 24 * HOUR;
  const clock: Clock = { now: () => now };
  const stops: { team: string; reason: string }[] = [];
  let failStops = 0;
  let budgets: BudgetService;
  let hook: Awaited<ReturnType<typeof receiver>>;

  /** A CPU job of `team` that ran `hours` hours (1 CPU at 1.0 an hour). */
  let jobs = 0;
  async function ran(team: string, hours: number) {
    const id = `job-${++jobs}`;
    const start = now - hours * HOUR;
    await database.db
      .insertInto("jobs")
      .values({ job_id: id, name: id, spec: "{}", phase: "SUCCEEDED", priority: 0, owner: "ada", request: JSON.stringify({ profile: null, gpus: 0, cpus: 1, memoryMiB: 0 }), experiment_id: "0", run_id: null, attempt: 1, created_at: start, updated_at: now, team_id: team, started_at: start, finished_at: now })
      .execute();
    await database.db.insertInto("job_attempts").values({ job_id: id, attempt: 1, team_id: team, gpus: 0, cpus: 1, memory_mib: 0, started_at: start, ended_at: now, outcome: "SUCCEEDED" }).execute();
  }

  beforeAll(async () => {
    database = await openTestDatabase(dialect);
    hook = await receiver([500, 503]);
    const pricing = new ProfileCatalog([], { currency: "USD", gpuHour: 0, gpuHourByType: {}, cpuHour: 1, memoryGBHour: 0, storageGBMonth: 0, replicaHour: 0 });
    const costs = new CostService({ store: new CostStore(database.db), pricing, clock });
    budgets = new BudgetService({
      store: new BudgetStore(database.db),
      costs,
      clock,
      ids: randomIds,
      logger: createLogger("silent"),
      webhooks: { hosts: ["hooks.example.com", "*.corp.example"], timeoutMs: 5000, retryMs: 60_000, maxAttempts: 3 },
      stopTeamWork: async (team, reason) => {
        if (failStops-- > 0) throw new Error("compute is down");
        stops.push({ team, reason });
      },
    });
  });
  afterAll(async () => {
    await hook?.close();
    await database?.close();
  });

  it("lets a team admin send notifications only to allowed hosts, a platform admin anywhere, and never shows the URL", async () => {
    const outside = await refusal(budgets.set("risk", { amount: 10, webhookUrl: hook.url }, teamAdmin));
    expect(outside.code).toBe("FORBIDDEN");
    expect(outside.details).toMatchObject({ rule: "webhookHosts", host: "127.0.0.1" });
    expect((await refusal(budgets.set("risk", { amount: 10, webhookUrl: "https://user:pw@hooks.example.com/x" }, platformAdmin))).code).toBe("INVALID_INPUT");
    expect((await refusal(budgets.set("risk", { amount: 10, webhookUrl: "file:///etc/passwd" }, platformAdmin))).code).toBe("INVALID_INPUT");
    const allowed = await budgets.set("risk", { amount: 10, webhookUrl: "https://a.corp.example/hook" }, teamAdmin);
    expect(allowed.webhookHost).toBe("a.corp.example");
    const set = await budgets.set("risk", { amount: 10, thresholds: [{ at: 100, action: "block" }, { at: 50, action: "notify" }, { at: 150, action: "stop" }], webhookUrl: hook.url }, platformAdmin);
    expect(set).toMatchObject({ team: "risk", amount: 10, currency: "USD", webhookHost: new URL(hook.url).host, spend: 0, percent: 0, blocked: false, events: [] });
    expect(set.thresholds.map((t) => t.at)).toEqual([50, 100, 150]);
    expect(JSON.stringify(set)).not.toContain("s3cret");
    // A team admin changing the amount keeps the platform admin's webhook (left out: kept).
    expect((await budgets.set("risk", { amount: 10 }, teamAdmin)).webhookHost).toBe(new URL(hook.url).host);
    expect(hostAllowed("x.corp.example", ["*.corp.example"])).toBe(true);
    expect(hostAllowed("corp.example", ["*.corp.example"])).toBe(false);
    expect(hostAllowed("evilcorp.example", ["*.corp.example"])).toBe(false);
  });

  it("notifies once per threshold per month, retrying a receiver that failed with the same event id", async () => {
    await ran("risk", 6); // 6 of 10: 60%
    await budgets.pass();
    await budgets.pass();
    // The first try answered 500: retried after 60 s, then after 120 s (503, then 200).
    expect(hook.got).toHaveLength(1);
    now += 60_000;
    await budgets.pass();
    expect(hook.got).toHaveLength(2);
    now += 60_000;
    await budgets.pass();
    expect(hook.got).toHaveLength(2);
    now += 60_000;
    await budgets.pass();
    await budgets.pass();
    expect(hook.got).toHaveLength(3);
    const ids = new Set(hook.got.map((g) => g.headers["x-paved-event-id"]));
    expect(ids.size).toBe(1);
    expect(hook.got[2]!.body).toMatchObject({ kind: "BudgetThreshold", team: "risk", month: "2026-12", threshold: { at: 50, action: "notify" }, amount: 10, spend: 6, percent: 60, currency: "USD" });
    expect(hook.got[2]!.body.id).toBe([...ids][0]);
    const view = await budgets.get("risk");
    expect(view.events).toEqual([expect.objectContaining({ at: 50, action: "notify", delivery: "delivered", attempts: 3, lastError: null })]);
    await budgets.assertWithinBudget("risk", "job 'next'");
  });

  it("blocks new work from the block threshold with the budget named, and stops the team's work once, from the stop threshold", async () => {
    await ran("risk", 4.5); // 10.5 of 10
    const blocked = await refusal(budgets.assertWithinBudget("risk", "job 'next'"));
    expect(blocked.code).toBe("QUOTA_EXCEEDED");
    expect(blocked.details).toMatchObject({ budget: "risk", month: "2026-12", spend: 10.5, amount: 10, threshold: { at: 100, action: "block" } });
    expect((await budgets.get("risk")).blocked).toBe(true);
    await budgets.pass();
    expect(stops).toEqual([]);
    // Another team is held to nothing.
    await budgets.assertWithinBudget("fraud", "job 'other'");

    await ran("risk", 5); // 15.5 of 10: past 150%, stop. Both tries of this pass fail; the next pass does it.
    failStops = 2;
    await budgets.pass();
    expect(stops).toEqual([]);
    await budgets.pass();
    await budgets.pass();
    expect(stops).toHaveLength(1);
    expect(stops[0]!.team).toBe("risk");
    expect(stops[0]!.reason).toContain("150%");
    const events = (await budgets.get("risk")).events;
    expect(events.map((e) => [e.at, e.action])).toEqual([
      [50, "notify"],
      [100, "block"],
      [150, "stop"],
    ]);
    expect(events[2]!.actedAt).not.toBeNull();
    // Each crossing's notification went out once (the 100% and 150% ones on their first try).
    const thresholds = hook.got.map((g) => (g.body.threshold as { at: number }).at);
    expect(thresholds.filter((at) => at === 100)).toHaveLength(1);
    expect(thresholds.filter((at) => at === 150)).toHaveLength(1);
  });

  it("starts every month afresh, and gives a notification up after its last try", async () => {
    now = Date.UTC(2027, 0, 2);
    expect(await budgets.status("risk")).toMatchObject({ month: "2027-01", spend: 0, blockedBy: undefined });
    await budgets.assertWithinBudget("risk", "job 'new year'");
    expect((await budgets.get("risk")).events).toEqual([]);

    const dead = await receiver([500, 500, 500]);
    await budgets.set("fraud", { amount: 1, thresholds: [{ at: 100, action: "block" }], webhookUrl: dead.url }, platformAdmin);
    await ran("fraud", 2);
    for (let i = 0; i < 4; i++) {
      await budgets.pass();
      now += 10 * 60_000;
    }
    expect(dead.got).toHaveLength(3);
    expect((await budgets.get("fraud")).events[0]).toMatchObject({ delivery: "failed", attempts: 3, lastError: "HTTP 500" });
    await dead.close();
    await budgets.remove("fraud");
    await budgets.assertWithinBudget("fraud", "job 'x'");
    expect((await refusal(budgets.get("fraud"))).code).toBe("NOT_FOUND");
  });
});
