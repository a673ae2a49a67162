import { PlatformError, invalidInput, notFound, type Clock, type IdGenerator, type Logger, type Principal } from "../../core/index.ts";
import { DEFAULT_THRESHOLDS, type BudgetAction, type BudgetThreshold, type BudgetView, type PutBudgetBody } from "./budgets-schema.ts";
import type { BudgetEventRow, BudgetRow, BudgetStore } from "./budgets-store.ts";
import { monthOf, type CostService } from "./costs.ts";

/** Stops a team's running work: cancels its jobs (SIGTERM, then the grace period) and pauses its rollouts. */
export type StopTeamWork = (team: string, reason: string) => Promise<void>;

export interface WebhookSettings {
  /** Hosts a team admin may send budget notifications to (`host` or `*.domain`); platform admins may name any. */
  hosts: readonly string[];
  timeoutMs: number;
  /** The first retry's delay; each next one doubles, up to an hour. */
  retryMs: number;
  maxAttempts: number;
}

export interface BudgetServiceDeps {
  store: BudgetStore;
  costs: CostService;
  clock: Clock;
  ids: IdGenerator;
  logger: Logger;
  webhooks: WebhookSettings;
  /** Carries out a stop threshold; without it, a stop only blocks. */
  stopTeamWork?: StopTeamWork;
  fetch?: typeof fetch;
  /** Asks the controller for a pass now (after a budget changes, or work was refused). */
  kick?: () => void;
}

/** The status a budget gives its team this month. */
export interface BudgetStatus {
  month: string;
  spend: number;
  percent: number;
  /** The lowest block or stop threshold reached, if any: new work is refused. */
  blockedBy: BudgetThreshold | undefined;
}

const MAX_RETRY_MS = 3_600_000;
const DELIVERIES_PER_PASS = 50;

/**
 * Team budgets per UTC month, and what they do at their thresholds: notify (a webhook, once per
 * threshold per month, retried with backoff), block (new jobs and deployments are refused with
 * QUOTA_EXCEEDED), stop (the team's jobs are cancelled, each getting SIGTERM and its grace period to
 * checkpoint, and its rollouts paused). Spend is figured by the cost service from the database, so
 * every server sees the same figure; a crossing is recorded once, whoever sees it first.
 */
export class BudgetService {
  private readonly fetch: typeof fetch;

  constructor(private readonly deps: BudgetServiceDeps) {
    this.fetch = deps.fetch ?? globalThis.fetch;
  }

  async get(team: string): Promise<BudgetView> {
    const row = await this.deps.store.get(team);
    if (!row) throw notFound(`team '${team}' has no budget; a team admin sets one with \`paved budgets set ${team} --amount <number>\``);
    return this.view(row);
  }

  /** Budgets of these teams (every team's without a list). */
  async list(teams?: readonly string[]): Promise<BudgetView[]> {
    return Promise.all((await this.deps.store.list(teams)).map((row) => this.view(row)));
  }

  /** Amounts by team, for the cost report. */
  async amounts(teams?: readonly string[]): Promise<Map<string, number>> {
    return new Map((await this.deps.store.list(teams)).map((r) => [r.team_id, Number(r.amount)]));
  }

  /**
   * Sets a team's budget. Thresholds and the webhook, when not given, stay as they were. A webhook
   * URL must be http(s), carry no credentials, and name a host in budgets.webhookHosts unless a
   * platform admin sets it (the server POSTs to it).
   */
  async set(team: string, body: PutBudgetBody, principal: Principal): Promise<BudgetView> {
    const current = await this.deps.store.get(team);
    let webhook = current?.webhook_url ?? null;
    if (body.webhookUrl !== undefined && body.webhookUrl !== webhook) {
      webhook = body.webhookUrl === null ? null : this.checkWebhook(body.webhookUrl, principal);
    }
    const thresholds = body.thresholds ?? (current ? (JSON.parse(current.thresholds) as BudgetThreshold[]) : DEFAULT_THRESHOLDS);
    const row: BudgetRow = {
      team_id: team,
      amount: body.amount,
      thresholds: JSON.stringify([...thresholds].sort((a, b) => a.at - b.at)),
      webhook_url: webhook,
      updated_by: principal.name,
      updated_at: this.deps.clock.now(),
    };
    await this.deps.store.put(row);
    this.deps.logger.info({ team, amount: body.amount, user: principal.name }, "budget set");
    this.deps.kick?.();
    return this.view(row);
  }

  async remove(team: string): Promise<void> {
    if (!(await this.deps.store.remove(team))) throw notFound(`team '${team}' has no budget; see budgets with \`paved budgets ls\``);
  }

  /** Where a team stands against its budget this month; undefined without a budget. */
  async status(team: string): Promise<BudgetStatus | undefined> {
    const row = await this.deps.store.get(team);
    return row ? this.statusOf(row) : undefined;
  }

  /**
   * Refuses new work (QUOTA_EXCEEDED, naming the budget) of a team whose spend this month reached a
   * block or stop threshold; the next pass records the crossing and notifies.
   */
  async assertWithinBudget(team: string, what: string): Promise<void> {
    const row = await this.deps.store.get(team);
    if (!row) return;
    const status = await this.statusOf(row);
    if (!status.blockedBy) return;
    // The crossing is recorded (and notified) by the controller's next pass.
    this.deps.kick?.();
    const currency = this.deps.costs.currency;
    const amount = Number(row.amount);
    throw new PlatformError(
      "QUOTA_EXCEEDED",
      `team ${team} has spent ${status.spend.toFixed(2)} ${currency} of its ${amount.toFixed(2)} ${currency} budget for ${status.month} (${status.percent.toFixed(1)}%), and its budget refuses new work from ${status.blockedBy.at}%, so ${what} is refused; a team admin may raise it (\`paved budgets set ${team} --amount <number>\`), or wait for next month (\`paved costs --team ${team} --by job\` shows where it went)`,
      { budget: team, team, month: status.month, spend: status.spend, amount, percent: status.percent, threshold: status.blockedBy, currency },
    );
  }

  /**
   * One pass of the budget controller: records every threshold each budget reached this month
   * (once), carries out stops, and sends the notifications that are due.
   */
  async pass(): Promise<void> {
    for (const row of await this.deps.store.list()) {
      try {
        await this.evaluate(row);
      } catch (error) {
        this.deps.logger.error({ err: error, team: row.team_id }, "evaluating a budget failed");
      }
    }
    for (const event of await this.deps.store.unfinishedStops()) await this.stop(event);
    await this.deliver();
  }

  private async evaluate(row: BudgetRow): Promise<void> {
    const status = await this.statusOf(row);
    const now = this.deps.clock.now();
    for (const threshold of JSON.parse(row.thresholds) as BudgetThreshold[]) {
      if (status.percent < threshold.at) continue;
      const event = {
        id: this.deps.ids.prefixed("budget-event"),
        team_id: row.team_id,
        month: status.month,
        at: threshold.at,
        action: threshold.action,
        amount: Number(row.amount),
        spend: status.spend,
        created_at: now,
        acted_at: threshold.action === "stop" ? null : now,
        delivery: row.webhook_url ? "pending" : "none",
        webhook_url: row.webhook_url,
        next_attempt_at: row.webhook_url ? now : null,
        delivered_at: null,
        last_error: null,
      };
      if (!(await this.deps.store.recordCrossing(event))) continue;
      this.deps.logger.warn({ team: row.team_id, month: status.month, at: threshold.at, action: threshold.action, spend: status.spend, amount: Number(row.amount) }, "budget threshold crossed");
      if (threshold.action === "stop") await this.stop({ ...event, attempts: 0 });
    }
  }

  private async stop(event: BudgetEventRow): Promise<void> {
    if (!this.deps.stopTeamWork) return;
    const reason = `team ${event.team_id}'s budget for ${event.month} reached ${event.at}% (spent ${Number(event.spend).toFixed(2)} of ${Number(event.amount).toFixed(2)} ${this.deps.costs.currency}), which stops its work`;
    try {
      await this.deps.stopTeamWork(event.team_id, reason);
      await this.deps.store.markActed(event.id, this.deps.clock.now());
    } catch (error) {
      this.deps.logger.error({ err: error, team: event.team_id }, "stopping a team's work for its budget failed; the next pass tries again");
    }
  }

  /** Sends due notifications: one POST per try, retried with doubling delays until maxAttempts. */
  private async deliver(): Promise<void> {
    const { store, clock, webhooks } = this.deps;
    for (const event of await store.dueDeliveries(clock.now(), DELIVERIES_PER_PASS)) {
      const now = clock.now();
      // Hold the try for longer than it can take, so no other server sends it meanwhile.
      if (!(await store.claimDelivery(event.id, event.next_attempt_at === null ? null : Number(event.next_attempt_at), now + webhooks.timeoutMs * 2))) continue;
      const attempts = Number(event.attempts) + 1;
      const error = await this.post(event);
      if (error === undefined) {
        await store.deliveryResult(event.id, { delivery: "delivered", attempts, next_attempt_at: null, delivered_at: clock.now(), last_error: null });
        continue;
      }
      const last = attempts >= webhooks.maxAttempts;
      const delay = Math.min(MAX_RETRY_MS, webhooks.retryMs * 2 ** (attempts - 1));
      await store.deliveryResult(event.id, { delivery: last ? "failed" : "pending", attempts, next_attempt_at: last ? null : clock.now() + delay, delivered_at: null, last_error: error });
      this.deps.logger.warn({ team: event.team_id, at: event.at, attempts, error, gaveUp: last }, "a budget notification was not delivered");
    }
  }

  /** One try; the error (never the URL, which is often a secret) or undefined when the receiver took it. */
  private async post(event: BudgetEventRow): Promise<string | undefined> {
    const amount = Number(event.amount);
    const spend = Number(event.spend);
    const body = {
      kind: "BudgetThreshold",
      id: event.id,
      team: event.team_id,
      month: event.month,
      threshold: { at: Number(event.at), action: event.action },
      amount,
      spend,
      percent: amount > 0 ? Math.round((spend / amount) * 10_000) / 100 : 0,
      currency: this.deps.costs.currency,
      time: new Date(Number(event.created_at)).toISOString(),
    };
    try {
      const response = await this.fetch(event.webhook_url!, {
        method: "POST",
        headers: { "content-type": "application/json", "user-agent": "paved-budgets", "x-paved-event-id": event.id },
        body: JSON.stringify(body),
        redirect: "manual",
        signal: AbortSignal.timeout(this.deps.webhooks.timeoutMs),
      });
      await response.body?.cancel().catch(() => undefined);
      return response.ok ? undefined : `HTTP ${response.status}`;
    } catch (error) {
      const e = error as Error & { cause?: { code?: string } };
      return e.name === "TimeoutError" ? `no answer within ${this.deps.webhooks.timeoutMs} ms` : (e.cause?.code ?? e.name);
    }
  }

  private async statusOf(row: BudgetRow): Promise<BudgetStatus> {
    const month = monthOf(this.deps.clock.now());
    const { total } = await this.deps.costs.teamSpend(row.team_id, month);
    const amount = Number(row.amount);
    const percent = amount > 0 ? (total / amount) * 100 : 0;
    const blocking = (JSON.parse(row.thresholds) as BudgetThreshold[]).filter((t) => t.action !== "notify" && percent >= t.at).sort((a, b) => a.at - b.at);
    return { month, spend: total, percent: Math.round(percent * 100) / 100, blockedBy: blocking[0] };
  }

  private async view(row: BudgetRow): Promise<BudgetView> {
    const status = await this.statusOf(row);
    const events = await this.deps.store.events(row.team_id, status.month);
    return {
      team: row.team_id,
      amount: Number(row.amount),
      currency: this.deps.costs.currency,
      thresholds: JSON.parse(row.thresholds) as BudgetThreshold[],
      webhookHost: row.webhook_url ? new URL(row.webhook_url).host : null,
      updatedBy: row.updated_by,
      updatedAt: Number(row.updated_at),
      month: status.month,
      spend: status.spend,
      percent: status.percent,
      blocked: status.blockedBy !== undefined,
      events: events.map((e) => ({
        id: e.id,
        at: Number(e.at),
        action: e.action as BudgetAction,
        spend: Number(e.spend),
        createdAt: Number(e.created_at),
        actedAt: e.acted_at === null ? null : Number(e.acted_at),
        delivery: e.delivery as "none" | "pending" | "delivered" | "failed",
        attempts: Number(e.attempts),
        deliveredAt: e.delivered_at === null ? null : Number(e.delivered_at),
        lastError: e.last_error,
      })),
    };
  }

  private checkWebhook(text: string, principal: Principal): string {
    let url: URL;
    try {
      url = new URL(text);
    } catch {
      throw invalidInput(`webhookUrl '${text.slice(0, 100)}' is not a URL; give an http(s) URL such as https://hooks.example.com/paved`);
    }
    if (url.protocol !== "https:" && url.protocol !== "http:") throw invalidInput(`webhookUrl must be http(s), not ${url.protocol}; give an https:// URL`);
    if (url.username || url.password) throw invalidInput("webhookUrl must not carry a user name or password; put a token in the path or query if the receiver needs one");
    if (!principal.platformAdmin && !hostAllowed(url.hostname, this.deps.webhooks.hosts)) {
      throw new PlatformError(
        "FORBIDDEN",
        `budget webhooks may go only to hosts the server allows (budgets.webhookHosts: ${this.deps.webhooks.hosts.length ? this.deps.webhooks.hosts.join(", ") : "none"}), and '${url.hostname}' is not one; use an allowed host, or ask a platform admin to set this webhook or allow the host`,
        { rule: "webhookHosts", host: url.hostname, allowed: [...this.deps.webhooks.hosts] },
      );
    }
    return url.toString();
  }
}

/** Whether a host is on the allow-list: an exact name, or `*.domain` for its subdomains. */
export function hostAllowed(host: string, allowed: readonly string[]): boolean {
  const name = host.toLowerCase();
  return allowed.some((entry) => {
    const e = entry.toLowerCase();
    return e.startsWith("*.") ? name.endsWith(e.slice(1)) && name.length > e.length - 1 : name === e;
  });
}
