import { invalidInput, type Clock, type Logger } from "../../core/index.ts";
import type { PricedResources, Prices } from "../catalog/index.ts";
import type { CostItem, CostReport, CostsQuery, TeamCost } from "./costs-schema.ts";
import type { CostStore, JobInterval, ServingUsage, StorageUsage } from "./costs-store.ts";

const HOUR_MS = 3_600_000;
const GB = 1024 ** 3;
const MIB_PER_GB = 1024;

/** The price list, as the catalog holds it. */
export interface Pricing {
  readonly prices: Prices;
  /** An hour of these resources: a profile's own hourlyCost, or the unit prices. */
  hourlyCost(resources: PricedResources): number;
}

/** A UTC month's bounds: [from, to) in epoch ms. */
export function monthBounds(month: string): { from: number; to: number } {
  const [year, m] = month.split("-").map(Number) as [number, number];
  return { from: Date.UTC(year, m - 1, 1), to: Date.UTC(year, m, 1) };
}

/** The UTC month (YYYY-MM) that holds `time`. */
export function monthOf(time: number): string {
  return new Date(time).toISOString().slice(0, 7);
}

/** One team's spend in a month, by kind of work. */
export interface TeamSpend {
  jobs: number;
  deployments: number;
  storage: number;
  total: number;
}

interface Figures {
  month: string;
  from: number;
  to: number;
  jobs: { interval: JobInterval; hours: number; cost: number; hourlyCost: number }[];
  serving: { usage: ServingUsage; cost: number }[];
  storage: { usage: StorageUsage; cost: number; gbMonths: number }[];
}

/**
 * What work cost, figured from the database at the catalog's prices: a job's attempts (time ×
 * the resources it held), a deployment's replica-hours (and, over its requests, the cost of
 * 1,000 predictions), and stored artifacts' GB-months. Per UTC month, per team, job, deployment
 * or user.
 */
export class CostService {
  constructor(private readonly deps: { store: CostStore; pricing: Pricing; clock: Clock }) {}

  get currency(): string {
    return this.deps.pricing.prices.currency;
  }

  /** The report behind `paved costs`: teams' totals and, by job, deployment or user, the items. */
  async report(query: CostsQuery, teams: readonly string[] | undefined, budgets: Map<string, number>): Promise<CostReport> {
    const month = query.month ?? monthOf(this.deps.clock.now());
    const figures = await this.figures(month, teams);
    const byTeam = new Map<string, TeamCost>();
    const team = (name: string) => {
      let t = byTeam.get(name);
      if (!t) byTeam.set(name, (t = { team: name, total: 0, jobs: 0, deployments: 0, storage: 0, budget: null }));
      return t;
    };
    for (const j of figures.jobs) team(j.interval.team).jobs += j.cost;
    for (const s of figures.serving) team(s.usage.team).deployments += s.cost;
    for (const s of figures.storage) team(s.usage.team).storage += s.cost;
    for (const name of budgets.keys()) if (!teams || teams.includes(name)) team(name);
    const teamCosts = [...byTeam.values()].map((t) => {
      const total = t.jobs + t.deployments + t.storage;
      const amount = budgets.get(t.team);
      return {
        team: t.team,
        total: money(total),
        jobs: money(t.jobs),
        deployments: money(t.deployments),
        storage: money(t.storage),
        budget: amount === undefined ? null : { amount, percent: round(amount > 0 ? (total / amount) * 100 : 0, 2) },
      };
    });
    teamCosts.sort((a, b) => b.total - a.total || a.team.localeCompare(b.team));
    const report: CostReport = {
      month,
      currency: this.currency,
      from: figures.from,
      to: figures.to,
      total: money(teamCosts.reduce((sum, t) => sum + t.total, 0)),
      teams: teamCosts,
    };
    if (query.by === "team") return report;
    const items = query.by === "job" ? jobItems(figures) : query.by === "deployment" ? deploymentItems(figures) : userItems(figures);
    items.sort((a, b) => b.cost - a.cost || a.team.localeCompare(b.team) || a.id.localeCompare(b.id));
    return { ...report, items: items.slice(0, query.limit), ...(items.length > query.limit ? { more: items.length - query.limit } : {}) };
  }

  /** A team's spend this month so far (what its budget is held against). */
  async teamSpend(team: string, month = monthOf(this.deps.clock.now())): Promise<TeamSpend> {
    const f = await this.figures(month, [team]);
    const jobs = f.jobs.reduce((s, j) => s + j.cost, 0);
    const deployments = f.serving.reduce((s, u) => s + u.cost, 0);
    const storage = f.storage.reduce((s, u) => s + u.cost, 0);
    return { jobs: money(jobs), deployments: money(deployments), storage: money(storage), total: money(jobs + deployments + storage) };
  }

  private async figures(month: string, teams: readonly string[] | undefined): Promise<Figures> {
    const { from, to: end } = monthBounds(month);
    const now = this.deps.clock.now();
    if (from > now) throw invalidInput(`month ${month} has not begun; ask for this month (${monthOf(now)}) or an earlier one`);
    const to = Math.min(end, now);
    const { store, pricing } = this.deps;
    const { prices } = pricing;
    const [intervals, serving, storage] = await Promise.all([store.jobIntervals(from, to, teams), store.servingUsage(month, teams), store.storageUsage(from, to, teams)]);
    const monthMs = end - from;
    return {
      month,
      from,
      to,
      jobs: intervals.map((interval) => {
        const hours = Math.max(0, Math.min(interval.end, to) - Math.max(interval.start, from)) / HOUR_MS;
        const hourlyCost = pricing.hourlyCost(interval);
        return { interval, hours, hourlyCost, cost: hours * hourlyCost };
      }),
      serving: serving.map((usage) => ({ usage, cost: (usage.replicaMs / HOUR_MS) * prices.replicaHour })),
      storage: storage.map((usage) => {
        const gbMonths = usage.byteMs / GB / monthMs;
        return { usage, gbMonths, cost: gbMonths * prices.storageGBMonth };
      }),
    };
  }
}

function jobItems(f: Figures): CostItem[] {
  const byJob = new Map<string, CostItem>();
  for (const { interval: i, hours, cost, hourlyCost } of f.jobs) {
    let item = byJob.get(i.jobId);
    if (!item) {
      byJob.set(i.jobId, (item = { kind: "job", id: i.jobId, name: i.name, team: i.team, user: i.owner, cost: 0, gpuHours: 0, cpuHours: 0, memoryGBHours: 0, hourlyCost }));
    }
    item.cost += cost;
    item.gpuHours! += hours * i.gpus;
    item.cpuHours! += hours * i.cpus;
    item.memoryGBHours! += (hours * i.memoryMiB) / MIB_PER_GB;
  }
  return [...byJob.values()].map((i) => ({ ...i, cost: money(i.cost), gpuHours: round(i.gpuHours!, 6), cpuHours: round(i.cpuHours!, 6), memoryGBHours: round(i.memoryGBHours!, 6) }));
}

function deploymentItems(f: Figures): CostItem[] {
  const byDeployment = new Map<string, CostItem>();
  for (const { usage: u, cost } of f.serving) {
    const key = `${u.team}\0${u.deploymentId}\0${u.model}\0${u.environment}`;
    let item = byDeployment.get(key);
    if (!item) {
      const name = `${u.model}/${u.environment}`;
      byDeployment.set(key, (item = { kind: "deployment", id: u.deploymentId, name, team: u.team, ...(u.createdBy ? { user: u.createdBy } : {}), cost: 0, replicaHours: 0, requests: 0 }));
    }
    item.cost += cost;
    item.replicaHours! += u.replicaMs / HOUR_MS;
    item.requests! += u.requests;
  }
  return [...byDeployment.values()].map((i) => ({
    ...i,
    cost: money(i.cost),
    replicaHours: round(i.replicaHours!, 6),
    costPer1000Predictions: i.requests! > 0 ? round((i.cost / i.requests!) * 1000, 6) : null,
  }));
}

function userItems(f: Figures): CostItem[] {
  const byUser = new Map<string, CostItem & { jobs: number; deployments: number; storage: number; storageGBMonths: number }>();
  const user = (team: string, name: string) => {
    const key = `${team}\0${name}`;
    let item = byUser.get(key);
    if (!item) byUser.set(key, (item = { kind: "user", id: name, name, team, cost: 0, jobs: 0, deployments: 0, storage: 0, storageGBMonths: 0 }));
    return item;
  };
  for (const j of f.jobs) user(j.interval.team, j.interval.owner).jobs += j.cost;
  for (const s of f.serving) user(s.usage.team, s.usage.createdBy || "(loaded by hand)").deployments += s.cost;
  for (const s of f.storage) {
    const item = user(s.usage.team, s.usage.user);
    item.storage += s.cost;
    item.storageGBMonths += s.gbMonths;
  }
  return [...byUser.values()].map((i) => ({
    ...i,
    cost: money(i.jobs + i.deployments + i.storage),
    jobs: money(i.jobs),
    deployments: money(i.deployments),
    storage: money(i.storage),
    storageGBMonths: round(i.storageGBMonths, 6),
  }));
}

/** Money to a millionth (a cent is too coarse for a minute of a CPU). */
function money(value: number): number {
  return round(value, 6);
}

function round(value: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

/** One loaded model version as the meter reads serving: its replicas, and requests answered since it was loaded. */
export interface ServingSample {
  team: string;
  model: string;
  version: string;
  environment: string;
  replicas: number;
  /** When it was loaded (epoch ms). */
  loadedAt: number;
  /** Requests it answered since it was loaded (a counter; lower than before means it restarted). */
  requests: number;
}

/**
 * Turns serving's in-memory state into stored usage: at each tick, every loaded version adds
 * replicas × the time since the last tick (or since it was loaded), and the requests it answered
 * since, to its month's row of (team, model, environment, deployment). What a crash loses is at
 * most one tick.
 */
export class ServingMeter {
  private last: number;
  private readonly counters = new Map<string, number>();

  constructor(private readonly deps: { store: CostStore; clock: Clock; logger: Logger }) {
    this.last = deps.clock.now();
  }

  async record(samples: readonly ServingSample[]): Promise<void> {
    const now = this.deps.clock.now();
    const since = this.last;
    this.last = now;
    const totals = new Map<string, { team: string; model: string; environment: string; replicaMs: number; requests: number }>();
    const seen = new Set<string>();
    for (const s of samples) {
      const key = `${s.team}\0${s.model}\0${s.environment}\0${s.version}`;
      seen.add(key);
      const before = this.counters.get(key) ?? 0;
      const requests = s.requests >= before ? s.requests - before : s.requests;
      this.counters.set(key, s.requests);
      const replicaMs = Math.max(0, now - Math.max(since, s.loadedAt)) * s.replicas;
      if (replicaMs === 0 && requests === 0) continue;
      const group = `${s.team}\0${s.model}\0${s.environment}`;
      const total = totals.get(group) ?? { team: s.team, model: s.model, environment: s.environment, replicaMs: 0, requests: 0 };
      total.replicaMs += replicaMs;
      total.requests += requests;
      totals.set(group, total);
    }
    for (const key of this.counters.keys()) if (!seen.has(key)) this.counters.delete(key);
    const month = monthOf(now);
    for (const t of totals.values()) {
      const deploymentId = await this.deps.store.currentDeployment(t.model, t.environment);
      await this.deps.store.addServingUsage({ month, team: t.team, model: t.model, environment: t.environment, deploymentId, replicaMs: t.replicaMs, requests: t.requests, now });
    }
  }
}
