// Alerts (issue 12, item 2): a team's rules on model signals (a monitor window's breaches) and
// infrastructure readings, with severities; firing alerts are kept one per rule and fingerprint
// (de-duplicated), resolved when the condition clears, and delivered to the team's webhooks in
// Paved's JSON or Alertmanager's webhook format, once per state (retried until delivered or
// maxAttempts). A rule may pause the rollout in progress of the model it watches. Webhook URLs
// must name a host the platform admin allow-listed (monitoring.alerts.allowedHosts): receivers are
// made by teams, and nothing else decides where the server sends requests.
import type { Kysely, Selectable } from "kysely";
import { PlatformError, conflict, describeProblems, invalidInput, notFound, validate, type Clock, type IdGenerator, type Logger, type Principal } from "../../core/index.ts";
import type { Tables } from "../../storage/index.ts";
import { authorize, teamForNew, visibleTeams } from "../identity/index.ts";
import { AlertRuleSpec, type AlertView, type ReceiverView, type RuleView } from "./schema.ts";
import type { ClosedWindow } from "./monitors.ts";

type AlertRow = Selectable<Tables["alerts"]>;
type RuleRow = Selectable<Tables["alert_rules"]>;
type ReceiverRow = Selectable<Tables["alert_receivers"]>;

/** Most alert rules, and most receivers, a team may have. */
export const MAX_PER_TEAM = 100;

/** One infrastructure reading: its labels and value. */
export interface Reading {
  labels: Record<string, string>;
  value: number;
}

export interface AlertServiceDeps {
  db: Kysely<Tables>;
  clock: Clock;
  ids: IdGenerator;
  logger: Logger;
  allowedHosts: readonly string[];
  timeoutMs: number;
  maxAttempts: number;
  /** Pauses the rollout in progress of a model in an environment; the deployment's id, or undefined when none is progressing. */
  pauseRollout: (model: string, environment: string, reason: string) => Promise<string | undefined>;
  /** The current readings of each infrastructure signal (the names after `infra.`). */
  readings: () => Promise<Record<string, Reading[]>>;
  /** Where people see Paved (Alertmanager's externalURL). */
  externalUrl: () => string;
  fetch?: typeof fetch;
}

interface Delivery {
  state: string | null;
  attempts: number;
  error: string | null;
  at: number | null;
}

/** Refuses a webhook URL that is not http(s) on an allow-listed host, or that carries credentials. */
export function checkWebhookUrl(text: string, allowedHosts: readonly string[]): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw invalidInput(`'${text.slice(0, 100)}' is not a URL; give an http(s) URL such as https://hooks.example.com/paved`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") throw invalidInput(`a webhook URL must be http or https, not ${url.protocol.replace(/:$/, "")}`);
  if (url.username || url.password) throw invalidInput("a webhook URL must not carry a user name or password; use a receiver that authenticates by its path, or a proxy");
  const host = url.hostname.toLowerCase();
  const port = url.port || (url.protocol === "https:" ? "443" : "80");
  const allowed = allowedHosts.some((entry) => {
    const [name, entryPort] = entry.toLowerCase().split(":");
    return name === host && (entryPort === undefined || entryPort === port);
  });
  if (!allowed) {
    throw invalidInput(`webhook host '${host}:${port}' is not allow-listed; a platform admin adds it to monitoring.alerts.allowedHosts in paved.yaml (allowed now: ${allowedHosts.length ? allowedHosts.join(", ") : "none"})`);
  }
  return url;
}

export class AlertService {
  constructor(private readonly deps: AlertServiceDeps) {}

  /** Refuses a team's 101st receiver or rule: each rule is evaluated every second, each receiver is a place the server sends to. */
  private async assertRoom(table: "alert_rules" | "alert_receivers", team: string): Promise<void> {
    const row = await this.deps.db.selectFrom(table).select((eb) => eb.fn.countAll<number>().as("n")).where("team_id", "=", team).executeTakeFirst();
    if (Number(row?.n ?? 0) >= MAX_PER_TEAM) {
      throw new PlatformError("QUOTA_EXCEEDED", `team '${team}' has ${MAX_PER_TEAM} alert ${table === "alert_rules" ? "rules" : "receivers"}, the most a team may have; delete some first`);
    }
  }

  /** The team a receiver or rule is made in or named from (the caller's only team by default), once the caller may write its alerts. */
  private async writableTeam(principal: Principal, team: string | undefined, id: string): Promise<string> {
    const teamId = await teamForNew(this.deps.db, principal, team);
    authorize(principal, "alerts:write", { kind: "alert", id, team: teamId });
    return teamId;
  }

  // ---- receivers ----

  async createReceiver(body: { name: string; url: string; format: "json" | "alertmanager"; team?: string | undefined }, principal: Principal): Promise<ReceiverView> {
    const team = await this.writableTeam(principal, body.team, "(new)");
    checkWebhookUrl(body.url, this.deps.allowedHosts);
    await this.assertRoom("alert_receivers", team);
    const exists = await this.deps.db.selectFrom("alert_receivers").select("receiver_id").where("team_id", "=", team).where("name", "=", body.name).executeTakeFirst();
    if (exists) throw conflict(`team '${team}' already has a receiver '${body.name}'; delete it first (\`paved alerts receivers rm ${body.name}\`)`);
    const row: ReceiverRow = { receiver_id: this.deps.ids.prefixed("rcv"), team_id: team, name: body.name, url: body.url, format: body.format, created_by: principal.onBehalfOf ?? principal.name, created_at: this.deps.clock.now() };
    await this.deps.db.insertInto("alert_receivers").values(row).execute();
    return receiverView(row);
  }

  async receivers(reader: Principal): Promise<ReceiverView[]> {
    const teams = visibleTeams(reader, "alerts:read");
    if (teams?.length === 0) return [];
    let q = this.deps.db.selectFrom("alert_receivers").selectAll();
    if (teams) q = q.where("team_id", "in", teams);
    return (await q.orderBy("team_id").orderBy("name").execute()).map(receiverView);
  }

  async deleteReceiver(name: string, team: string | undefined, principal: Principal): Promise<void> {
    const teamId = await this.writableTeam(principal, team, name);
    const result = await this.deps.db.deleteFrom("alert_receivers").where("team_id", "=", teamId).where("name", "=", name).executeTakeFirst();
    if (!result.numDeletedRows) throw notFound(`team '${teamId}' has no receiver '${name}'; list them with \`paved alerts receivers ls\``);
  }

  // ---- rules ----

  async createRule(body: { name: string; team?: string | undefined; rule: unknown }, principal: Principal): Promise<RuleView> {
    const team = await this.writableTeam(principal, body.team, "(new)");
    const parsed = validate(AlertRuleSpec, body.rule);
    if (!parsed.success) throw invalidInput(`invalid alert rule: ${describeProblems(parsed.problems)}; see docs/observability.md#alerts`, { problems: parsed.problems });
    const spec = parsed.data;
    await this.assertRoom("alert_rules", team);
    if (spec.receivers.length) {
      const known = new Set((await this.deps.db.selectFrom("alert_receivers").select("name").where("team_id", "=", team).execute()).map((r) => r.name));
      const unknown = spec.receivers.filter((r) => !known.has(r));
      if (unknown.length) throw invalidInput(`team '${team}' has no receiver ${unknown.map((r) => `'${r}'`).join(", ")}; create it first with \`paved alerts receivers add\``);
    }
    const exists = await this.deps.db.selectFrom("alert_rules").select("rule_id").where("team_id", "=", team).where("name", "=", body.name).executeTakeFirst();
    if (exists) throw conflict(`team '${team}' already has an alert rule '${body.name}'; delete it first (\`paved alerts rules rm ${body.name}\`)`);
    const row: RuleRow = { rule_id: this.deps.ids.prefixed("rule"), team_id: team, name: body.name, spec: JSON.stringify(spec), created_by: principal.onBehalfOf ?? principal.name, created_at: this.deps.clock.now() };
    await this.deps.db.insertInto("alert_rules").values(row).execute();
    return ruleView(row);
  }

  async rules(reader: Principal): Promise<RuleView[]> {
    const teams = visibleTeams(reader, "alerts:read");
    if (teams?.length === 0) return [];
    let q = this.deps.db.selectFrom("alert_rules").selectAll();
    if (teams) q = q.where("team_id", "in", teams);
    return (await q.orderBy("team_id").orderBy("name").execute()).map(ruleView);
  }

  /** Deletes a rule; its firing alerts resolve (and say so to their receivers). */
  async deleteRule(name: string, team: string | undefined, principal: Principal): Promise<void> {
    const teamId = await this.writableTeam(principal, team, name);
    const rule = await this.deps.db.selectFrom("alert_rules").selectAll().where("team_id", "=", teamId).where("name", "=", name).executeTakeFirst();
    if (!rule) throw notFound(`team '${teamId}' has no alert rule '${name}'; list them with \`paved alerts rules ls\``);
    const now = this.deps.clock.now();
    await this.deps.db.transaction().execute(async (trx) => {
      await trx.updateTable("alerts").set({ state: "resolved", resolved_at: now, updated_at: now, pending: 1 }).where("rule_id", "=", rule.rule_id).where("state", "=", "firing").execute();
      await trx.deleteFrom("alert_rules").where("rule_id", "=", rule.rule_id).execute();
    });
  }

  async alerts(query: { state?: "firing" | "resolved" | undefined; limit: number }, reader: Principal): Promise<AlertView[]> {
    const teams = visibleTeams(reader, "alerts:read");
    if (teams?.length === 0) return [];
    let q = this.deps.db.selectFrom("alerts").selectAll();
    if (teams) q = q.where("team_id", "in", teams);
    if (query.state) q = q.where("state", "=", query.state);
    return (await q.orderBy("started_at", "desc").limit(query.limit).execute()).map(alertView);
  }

  // ---- evaluation ----

  /** A monitor window closed: each model rule of its team that watches it fires or resolves. */
  async onWindow(closed: ClosedWindow, recent: (monitorId: string, count: number) => Promise<ClosedWindow["window"][]>): Promise<void> {
    const { monitor, window } = closed;
    const rules = (await this.deps.db.selectFrom("alert_rules").selectAll().where("team_id", "=", monitor.team_id).execute()).map((r) => ({ row: r, spec: JSON.parse(r.spec) as AlertRuleSpec }));
    for (const { row, spec } of rules) {
      if (!spec.signal.startsWith("model.")) continue;
      if (spec.model !== undefined && spec.model !== monitor.model_name) continue;
      if (spec.environment !== undefined && spec.environment !== monitor.environment) continue;
      const signal = spec.signal.slice("model.".length);
      const windows = spec.forWindows > 1 ? await recent(monitor.monitor_id, spec.forWindows) : [window];
      const breaching = windows.length >= spec.forWindows && windows.every((w) => w.breaches.some((b) => b.signal === signal));
      const fingerprint = `monitor:${monitor.monitor_id}`;
      if (!breaching) {
        await this.resolve(row.rule_id, fingerprint);
        continue;
      }
      const breaches = window.breaches.filter((b) => b.signal === signal);
      const labels = { alertname: row.name, severity: spec.severity, team: monitor.team_id, model: monitor.model_name, version: String(monitor.version), environment: monitor.environment, signal: spec.signal, monitor: monitor.monitor_id };
      const subjects = breaches.map((b) => b.subject).filter(Boolean);
      const annotations: Record<string, string> = {
        summary: `${spec.signal} on ${monitor.model_name} version ${monitor.version} (${monitor.environment})${subjects.length ? `: ${subjects.join(", ")}` : ""}`,
        description: breaches.map((b) => b.message).join("; "),
        ...(subjects.length ? { features: subjects.join(",") } : {}),
        ...(spec.summary ? { note: spec.summary } : {}),
      };
      const alert = await this.fire(row, spec, fingerprint, labels, annotations);
      if (spec.pauseRollout && alert && alert.paused_deployment === null) {
        const paused = await this.deps.pauseRollout(monitor.model_name, monitor.environment, `alert '${row.name}' (${annotations.summary})`);
        if (paused) {
          await this.deps.db.updateTable("alerts").set({ paused_deployment: paused, updated_at: this.deps.clock.now() }).where("alert_id", "=", alert.alert_id).execute();
          this.deps.logger.warn({ alert: alert.alert_id, deployment: paused, rule: row.name }, "alert paused a rollout");
        }
      }
    }
  }

  /** Infrastructure rules: each reading above its rule's threshold fires (one alert per label set); one back under it, or gone, resolves. */
  async evaluateInfra(): Promise<void> {
    const rules = (await this.deps.db.selectFrom("alert_rules").selectAll().execute()).map((r) => ({ row: r, spec: JSON.parse(r.spec) as AlertRuleSpec })).filter((r) => r.spec.signal.startsWith("infra."));
    if (!rules.length) return;
    const readings = await this.deps.readings();
    for (const { row, spec } of rules) {
      const signal = spec.signal.slice("infra.".length);
      const above = new Set<string>();
      for (const reading of readings[signal] ?? []) {
        if (!(reading.value > spec.threshold!)) continue;
        const fingerprint = `infra:${Object.entries(reading.labels).sort(([a], [b]) => (a < b ? -1 : 1)).map(([k, v]) => `${k}=${v}`).join(",")}`;
        above.add(fingerprint);
        const labels = { alertname: row.name, severity: spec.severity, team: row.team_id, signal: spec.signal, ...reading.labels };
        await this.fire(row, spec, fingerprint, labels, { summary: `${spec.signal} is ${reading.value} (above ${spec.threshold})`, ...(spec.summary ? { note: spec.summary } : {}) });
      }
      const firing = await this.deps.db.selectFrom("alerts").select("fingerprint").where("rule_id", "=", row.rule_id).where("state", "=", "firing").execute();
      for (const { fingerprint } of firing) if (!above.has(fingerprint)) await this.resolve(row.rule_id, fingerprint);
    }
  }

  private async fire(rule: RuleRow, spec: AlertRuleSpec, fingerprint: string, labels: Record<string, string>, annotations: Record<string, string>): Promise<AlertRow | undefined> {
    const firing = await this.deps.db.selectFrom("alerts").selectAll().where("rule_id", "=", rule.rule_id).where("fingerprint", "=", fingerprint).where("state", "=", "firing").executeTakeFirst();
    // De-duplicated: a condition that still holds keeps its alert (and sends nothing new).
    if (firing) return firing;
    const now = this.deps.clock.now();
    const row: AlertRow = {
      alert_id: this.deps.ids.prefixed("alert"),
      rule_id: rule.rule_id,
      team_id: rule.team_id,
      fingerprint,
      severity: spec.severity,
      labels: JSON.stringify(labels),
      annotations: JSON.stringify(annotations),
      state: "firing",
      started_at: now,
      resolved_at: null,
      deliveries: JSON.stringify(Object.fromEntries(spec.receivers.map((r) => [r, { state: null, attempts: 0, error: null, at: null } satisfies Delivery]))),
      paused_deployment: null,
      pending: spec.receivers.length ? 1 : 0,
      updated_at: now,
    };
    await this.deps.db.insertInto("alerts").values(row).execute();
    this.deps.logger.warn({ alert: row.alert_id, rule: rule.name, severity: spec.severity, ...labels }, `alert firing: ${annotations.summary}`);
    return row;
  }

  private async resolve(ruleId: string, fingerprint: string): Promise<void> {
    const now = this.deps.clock.now();
    const result = await this.deps.db.updateTable("alerts").set({ state: "resolved", resolved_at: now, updated_at: now, pending: 1 }).where("rule_id", "=", ruleId).where("fingerprint", "=", fingerprint).where("state", "=", "firing").executeTakeFirst();
    if (result.numUpdatedRows) this.deps.logger.info({ rule: ruleId, fingerprint }, "alert resolved");
  }

  // ---- delivery ----

  /** Sends each alert's state to each of its receivers that has not had it (firing, then resolved), retrying failures up to maxAttempts. */
  async deliver(): Promise<void> {
    const pending = await this.deps.db.selectFrom("alerts").selectAll().where("pending", "=", 1).execute();
    for (const alert of pending) {
      const deliveries = JSON.parse(alert.deliveries) as Record<string, Delivery>;
      let changed = false;
      for (const [name, delivery] of Object.entries(deliveries)) {
        if (delivery.state === alert.state || delivery.attempts >= this.deps.maxAttempts) continue;
        const receiver = await this.deps.db.selectFrom("alert_receivers").selectAll().where("team_id", "=", alert.team_id).where("name", "=", name).executeTakeFirst();
        changed = true;
        if (!receiver) {
          Object.assign(delivery, { attempts: this.deps.maxAttempts, error: `receiver '${name}' no longer exists`, at: this.deps.clock.now() });
          continue;
        }
        const error = await this.send(receiver, alert);
        if (error === null) Object.assign(delivery, { state: alert.state, attempts: 0, error: null, at: this.deps.clock.now() });
        else {
          Object.assign(delivery, { attempts: delivery.attempts + 1, error, at: this.deps.clock.now() });
          this.deps.logger.warn({ alert: alert.alert_id, receiver: name, attempt: delivery.attempts, reason: error }, "alert delivery failed");
        }
      }
      const still = Object.values(deliveries).some((d) => d.state !== alert.state && d.attempts < this.deps.maxAttempts);
      // Written only while the alert is in the state delivered: a resolve that landed meanwhile keeps pending set.
      if (changed || !still) {
        await this.deps.db
          .updateTable("alerts")
          .set({ deliveries: JSON.stringify(deliveries), pending: still ? 1 : 0 })
          .where("alert_id", "=", alert.alert_id)
          .where("state", "=", alert.state)
          .execute();
      }
    }
  }

  /** One POST; null when the receiver answered 2xx, else why not. */
  private async send(receiver: ReceiverRow, alert: AlertRow): Promise<string | null> {
    let url: URL;
    try {
      // Checked again: the allow-list may have shrunk since the receiver was made.
      url = checkWebhookUrl(receiver.url, this.deps.allowedHosts);
    } catch (error) {
      return (error as Error).message;
    }
    const body = receiver.format === "alertmanager" ? alertmanagerBody(receiver.name, alert, this.deps.externalUrl()) : genericBody(alert);
    try {
      const response = await (this.deps.fetch ?? fetch)(url, {
        method: "POST",
        headers: { "content-type": "application/json", "user-agent": "paved-alerts" },
        body: JSON.stringify(body),
        redirect: "manual",
        signal: AbortSignal.timeout(this.deps.timeoutMs),
      });
      // The answer's body is not read: a receiver could send any amount.
      await response.body?.cancel().catch(() => undefined);
      return response.ok ? null : `the receiver answered ${response.status}`;
    } catch (error) {
      return `could not reach the receiver: ${(error as Error).message}`;
    }
  }
}

const ZERO_TIME = "0001-01-01T00:00:00Z";

function genericBody(alert: AlertRow) {
  return { version: 1, status: alert.state, alert: alertView(alert) };
}

/** Alertmanager's webhook body (version 4), one alert per notification. */
function alertmanagerBody(receiver: string, alert: AlertRow, externalUrl: string) {
  const labels = JSON.parse(alert.labels) as Record<string, string>;
  const annotations = JSON.parse(alert.annotations) as Record<string, string>;
  return {
    version: "4",
    groupKey: `{}:{alertname=${JSON.stringify(labels.alertname ?? "")}}`,
    truncatedAlerts: 0,
    status: alert.state,
    receiver,
    groupLabels: { alertname: labels.alertname ?? "" },
    commonLabels: labels,
    commonAnnotations: annotations,
    externalURL: externalUrl,
    alerts: [
      {
        status: alert.state,
        labels,
        annotations,
        startsAt: new Date(alert.started_at).toISOString(),
        endsAt: alert.resolved_at === null ? ZERO_TIME : new Date(alert.resolved_at).toISOString(),
        generatorURL: externalUrl ? `${externalUrl}/api/v1/alerts` : "",
        fingerprint: alert.alert_id,
      },
    ],
  };
}

/** A receiver as shown: its URL's path is left out (webhook paths often hold a secret). */
function receiverView(r: ReceiverRow): ReceiverView {
  const url = new URL(r.url);
  return { id: r.receiver_id, team: r.team_id, name: r.name, url: `${url.origin}${url.pathname === "/" ? "/" : "/…"}`, format: r.format, createdBy: r.created_by, createdAt: r.created_at };
}

function ruleView(r: RuleRow): RuleView {
  return { id: r.rule_id, team: r.team_id, name: r.name, spec: JSON.parse(r.spec) as unknown, createdBy: r.created_by, createdAt: r.created_at };
}

function alertView(a: AlertRow): AlertView {
  return {
    id: a.alert_id,
    rule: a.rule_id,
    team: a.team_id,
    severity: a.severity,
    state: a.state as AlertView["state"],
    labels: JSON.parse(a.labels) as Record<string, string>,
    annotations: JSON.parse(a.annotations) as Record<string, string>,
    startedAt: a.started_at,
    resolvedAt: a.resolved_at,
    deliveries: JSON.parse(a.deliveries) as AlertView["deliveries"],
    pausedDeployment: a.paused_deployment,
  };
}
