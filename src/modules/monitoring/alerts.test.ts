// Alert rules on infrastructure readings, against a real database (both dialects) and a real HTTP
// receiver: one alert per label set while the reading stays above the threshold, delivered once
// (retried after the receiver's failure), resolved when the reading falls, and the receiver told.
// Who may write rules, and where webhooks may go, are checked too. The readings are a function the
// test sets, standing where the platform's own gauges stand in `paved up`.
import { createServer } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLogger, isPlatformError, randomIds, type Principal } from "../../core/index.ts";
import { openTestDatabase, testDialects } from "../../../test/support/databases.ts";
import { mayAttempt } from "../identity/index.ts";
import { AlertService, MAX_PER_TEAM, checkWebhookUrl, type Reading } from "./alerts.ts";
import { registerMonitorGauges } from "./gauges.ts";
import { MonitorService } from "./monitors.ts";
import { Registry } from "prom-client";

const maintainer: Principal = { name: "ada", kind: "user", platformAdmin: false, teams: { default: "maintainer" } };
const viewer: Principal = { name: "bob", kind: "user", platformAdmin: false, teams: { default: "viewer" } };
// Rules and receivers can page people and pause rollouts: a developer may not write them.
const developer: Principal = { name: "cy", kind: "user", platformAdmin: false, teams: { default: "developer" } };

describe("webhook URLs", () => {
  const allowed = ["hooks.example.com", "alertmanager.internal:9093"];
  it("go only to allow-listed hosts, over http(s), without credentials", () => {
    expect(checkWebhookUrl("https://hooks.example.com/x/y", allowed).hostname).toBe("hooks.example.com");
    expect(checkWebhookUrl("http://alertmanager.internal:9093/api/v2/alerts", allowed).port).toBe("9093");
    for (const bad of ["http://alertmanager.internal:9094/", "http://169.254.169.254/latest/meta-data/", "file:///etc/passwd", "gopher://hooks.example.com/", "https://user:pw@hooks.example.com/", "https://hooks.example.com.evil.io/", "not a url"]) {
      let error: unknown;
      try {
        checkWebhookUrl(bad, allowed);
      } catch (e) {
        error = e;
      }
      expect(isPlatformError(error) && error.code === "INVALID_INPUT", bad).toBe(true);
    }
  });
});

describe.each(testDialects())("infrastructure alerts (%s)", (dialect) => {
  const bodies: { status: string; alert: { labels: Record<string, string>; state: string } }[] = [];
  let failNext = 1;
  const receiver = createServer((req, res) => {
    let text = "";
    req.on("data", (d) => (text += d));
    req.on("end", () => {
      if (failNext > 0) {
        failNext--;
        res.writeHead(503).end();
        return;
      }
      bodies.push(JSON.parse(text));
      res.writeHead(204).end();
    });
  });
  let url = "";
  beforeAll(async () => {
    await new Promise<void>((resolve) => receiver.listen(0, "127.0.0.1", resolve));
    url = `http://127.0.0.1:${(receiver.address() as { port: number }).port}/hook`;
  });
  afterAll(async () => {
    receiver.closeAllConnections();
    await new Promise((resolve) => receiver.close(resolve));
  });

  it("fires once per GPU above the threshold, retries a failed delivery, and resolves when it cools", async () => {
    const database = await openTestDatabase(dialect);
    let now = 1_800_000_000_000;
    let readings: Record<string, Reading[]> = {};
    const alerts = new AlertService({
      db: database.db,
      clock: { now: () => now },
      ids: randomIds,
      logger: createLogger("silent"),
      allowedHosts: ["127.0.0.1"],
      timeoutMs: 5_000,
      maxAttempts: 3,
      pauseRollout: async () => undefined,
      readings: async () => readings,
      externalUrl: () => "",
    });
    await expect(alerts.createReceiver({ name: "ops", url, format: "json" }, developer)).rejects.toMatchObject({ code: "FORBIDDEN" });
    await alerts.createReceiver({ name: "ops", url, format: "json" }, maintainer);
    await expect(alerts.createRule({ name: "hot", rule: { signal: "infra.gpu_temperature_celsius", severity: "warning", threshold: 85, receivers: ["ops"] } }, developer)).rejects.toMatchObject({ code: "FORBIDDEN" });
    await expect(alerts.createRule({ name: "hot", rule: { signal: "infra.gpu_temperature_celsius", severity: "loud", threshold: 85 } }, maintainer)).rejects.toMatchObject({ code: "INVALID_INPUT" });
    await alerts.createRule({ name: "hot", rule: { signal: "infra.gpu_temperature_celsius", severity: "warning", threshold: 85, receivers: ["ops"] } }, maintainer);

    const gpu = (index: string, value: number): Reading => ({ labels: { gpu: index, Hostname: "gpu-1" }, value });
    readings = { gpu_temperature_celsius: [gpu("0", 90), gpu("1", 60)] };
    await alerts.evaluateInfra();
    await alerts.evaluateInfra();
    const firing = await alerts.alerts({ state: "firing", limit: 10 }, maintainer);
    expect(firing).toHaveLength(1);
    expect(firing[0]!.labels).toMatchObject({ alertname: "hot", severity: "warning", gpu: "0", Hostname: "gpu-1", signal: "infra.gpu_temperature_celsius" });
    // The receiver answers 503 first: the delivery is retried, and delivered once.
    await alerts.deliver();
    expect(bodies).toHaveLength(0);
    expect((await alerts.alerts({ limit: 10 }, maintainer))[0]!.deliveries.ops).toMatchObject({ state: null, attempts: 1, error: "the receiver answered 503" });
    await alerts.deliver();
    await alerts.deliver();
    expect(bodies.map((b) => b.status)).toEqual(["firing"]);
    expect(bodies[0]!.alert.labels.gpu).toBe("0");

    // Cooler: resolved, and the receiver hears it once.
    now += 60_000;
    readings = { gpu_temperature_celsius: [gpu("0", 70), gpu("1", 60)] };
    await alerts.evaluateInfra();
    await alerts.deliver();
    await alerts.deliver();
    expect(bodies.map((b) => b.status)).toEqual(["firing", "resolved"]);
    const [resolved] = await alerts.alerts({ limit: 10 }, viewer);
    expect(resolved).toMatchObject({ state: "resolved", resolvedAt: now, deliveries: { ops: { state: "resolved", attempts: 0, error: null } } });
    // A viewer of another team sees none of it.
    expect(await alerts.alerts({ limit: 10 }, { name: "eve", kind: "user", platformAdmin: false, teams: { other: "admin" } })).toEqual([]);
    await database.close();
  });
});

describe.each(testDialects())("alerts and monitors seen by the weakest tokens (%s)", (dialect) => {
  it("a job's token takes none of the monitoring actions", () => {
    const job: Principal = { name: "job:j1", kind: "job", platformAdmin: false, teams: {}, team: "default", jobId: "j1" };
    for (const action of ["monitors:read", "monitors:write", "alerts:read", "alerts:write"] as const) expect(mayAttempt(job, action), action).toBe(false);
  });

  it("another team's rule never fires on, pauses or hears of this team's monitor; a team's rules are bounded", async () => {
    const database = await openTestDatabase(dialect);
    await database.db.insertInto("teams").values({ team_id: "other", name: "other", created_at: 1 } as never).execute().catch(() => undefined);
    const paused: string[] = [];
    const alerts = new AlertService({
      db: database.db,
      clock: { now: () => 1_800_000_000_000 },
      ids: randomIds,
      logger: createLogger("silent"),
      allowedHosts: [],
      timeoutMs: 1_000,
      maxAttempts: 1,
      pauseRollout: async (model) => (paused.push(model), "deploy-1"),
      readings: async () => ({}),
      externalUrl: () => "",
    });
    const other: Principal = { name: "eve", kind: "user", platformAdmin: false, teams: { other: "maintainer" } };
    // Eve's rule names this team's model: it still only matches monitors of her team.
    await alerts.createRule({ name: "steal", rule: { signal: "model.drift", severity: "critical", model: "churn", pauseRollout: true } }, other);
    const monitor = { monitor_id: "mon-1", team_id: "default", model_id: "m1", model_name: "churn", version: 3, environment: "production", spec: "{}", evaluation_id: "e1", basis: "{}", prediction_baseline: null, created_by: "ada", created_at: 1, window_start: 2 };
    const window = { start: 1, end: 2, status: "breach" as const, requests: 10, errors: 0, rowsSeen: 10, rowsKept: 10, rowsDropped: 0, figures: { errorRate: 0, schemaViolationRate: 0, latencyP50Ms: 1, latencyP99Ms: 1, predictionPsi: null, driftedFeatures: ["f0"], features: [], notes: [] }, breaches: [{ signal: "drift" as const, subject: "f0", value: 1, threshold: 0.25, message: "drifted" }] };
    await alerts.onWindow({ monitor, window }, async () => [window]);
    expect(paused).toEqual([]);
    expect(await alerts.alerts({ limit: 10 }, other)).toEqual([]);
    // The team's own rule does fire and pause.
    await alerts.createRule({ name: "drift", rule: { signal: "model.drift", severity: "critical", pauseRollout: true } }, maintainer);
    await alerts.onWindow({ monitor, window }, async () => [window]);
    expect(paused).toEqual(["churn"]);
    expect((await alerts.alerts({ limit: 10 }, maintainer)).map((a) => a.labels.alertname)).toEqual(["drift"]);
    // At most MAX_PER_TEAM rules a team: each runs every pass.
    for (let i = (await alerts.rules(other)).length; i < MAX_PER_TEAM; i++) await alerts.createRule({ name: `r${i}`, rule: { signal: "infra.database_ping_seconds", severity: "info", threshold: 1 } }, other);
    await expect(alerts.createRule({ name: "one-more", rule: { signal: "infra.database_ping_seconds", severity: "info", threshold: 1 } }, other)).rejects.toMatchObject({ code: "QUOTA_EXCEEDED" });
    await database.close();
  });

  it("lists no monitor of another team, and a monitor's id resolves to its own team for the policy", async () => {
    const database = await openTestDatabase(dialect);
    await database.db.insertInto("monitors").values({ monitor_id: "mon-1", team_id: "default", model_id: "m1", model_name: "churn", version: 3, environment: "production", spec: "{}", evaluation_id: "e1", basis: "{}", prediction_baseline: null, created_by: "ada", created_at: 1, window_start: 2 }).execute();
    // Listing and the policy read the database only: the registry and evaluation are not reached here.
    const monitors = new MonitorService({ db: database.db, registry: undefined as never, evaluation: undefined as never, clock: { now: () => 3 }, ids: randomIds, logger: createLogger("silent") });
    expect(await monitors.list({}, { name: "eve", kind: "user", platformAdmin: false, teams: { other: "admin" } })).toEqual([]);
    expect(await monitors.resource("mon-1")).toMatchObject({ kind: "monitor", team: "default" });
    await expect(monitors.resource("mon-nope")).rejects.toMatchObject({ code: "NOT_FOUND" });
    await database.close();
  });

  it("exports a monitor's feature names cut to 64 characters, at most 50 per version, escaped", async () => {
    const database = await openTestDatabase(dialect);
    await database.db.insertInto("monitors").values({ monitor_id: "mon-1", team_id: "default", model_id: "m1", model_name: "churn", version: 3, environment: "production", spec: "{}", evaluation_id: "e1", basis: "{}", prediction_baseline: null, created_by: "ada", created_at: 1, window_start: 2 }).execute();
    const long = `a"} evil{${"x".repeat(100)}`;
    const features = [long, ...Array.from({ length: 80 }, (_, i) => `f${i}`)].map((feature) => ({ feature, kind: "numeric", rows: 1, psi: 0.1, ksStatistic: 0.1, chiSquare: null, chiSquarePValue: null, missingRate: 0, outOfRangeRate: 0, drifted: false }));
    await database.db.insertInto("monitor_windows").values({ monitor_id: "mon-1", window_start: 1, window_end: 2, status: "ok", requests: 1, errors: 0, rows_seen: 1, rows_kept: 1, rows_dropped: 0, figures: JSON.stringify({ errorRate: 0, schemaViolationRate: 0, latencyP50Ms: 1, latencyP99Ms: 1, predictionPsi: null, driftedFeatures: [], features, notes: [] }), breaches: "[]" }).execute();
    const registry = new Registry();
    registerMonitorGauges(registry, database.db);
    const text = await registry.metrics();
    const lines = text.split("\n").filter((l) => l.startsWith("paved_monitor_feature_psi{"));
    expect(lines).toHaveLength(50);
    const label = /feature="((?:[^"\\]|\\.)*)"/.exec(lines[0]!)![1]!;
    expect(label.replace(/\\(.)/g, "$1")).toHaveLength(64);
    expect(lines[0]).toContain('\\"');
    await database.close();
  });
});

