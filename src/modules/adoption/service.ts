import { PlatformError, invalidInput, resolveTimeBound, type Clock, type IdGenerator, type Principal } from "../../core/index.ts";
import {
  DEFAULT_WINDOW_DAYS,
  FUNNEL_STAGES,
  MAX_DETAIL_USERS,
  MAX_FEEDBACK_PER_DAY,
  MAX_WINDOW_DAYS,
  MILESTONES,
  type AdoptionQuery,
  type AdoptionReport,
  type FeedbackBody,
  type FeedbackPrompt,
  type FeedbackView,
  type FunnelStage,
} from "./schema.ts";
import { DAY_MS, type ActivityRow, type AdoptionStore, type Person, type ProductionRollout } from "./store.ts";

const WEEK_MS = 7 * DAY_MS;
const MAX_FEEDBACK_LISTED = 1000;

export interface AdoptionServiceDeps {
  store: AdoptionStore;
  clock: Clock;
  ids: IdGenerator;
}

export interface AdoptionWindow {
  since: number;
  until: number;
}

/** The median of the values (the mean of the two middle ones for an even count), in seconds; null for none. */
export function p50Seconds(durationsMs: number[]): number | null {
  if (durationsMs.length === 0) return null;
  const sorted = [...durationsMs].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  const ms = sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
  return ms / 1000;
}

/**
 * The platform's adoption figures, computed on demand from its own records (docs/adoption.md says
 * exactly how), and the feedback people send.
 */
export class AdoptionService {
  constructor(private readonly deps: AdoptionServiceDeps) {}

  /** The window a query asks for: `until` (default now) and `since` (default 28 days before `until`); durations count back. */
  window(query: Pick<AdoptionQuery, "since" | "until">): AdoptionWindow {
    const now = this.deps.clock.now();
    const until = resolveTimeBound(query.until, now) ?? now;
    const since = resolveTimeBound(query.since, until) ?? until - DEFAULT_WINDOW_DAYS * DAY_MS;
    if (since >= until) throw invalidInput(`the window is empty: since (${iso(since)}) must be before until (${iso(until)}); e.g. --since 28d`);
    if (until - since > MAX_WINDOW_DAYS * DAY_MS) throw invalidInput(`a report covers at most ${MAX_WINDOW_DAYS} days; ask for a shorter window, e.g. --since 90d`, { maxDays: MAX_WINDOW_DAYS });
    return { since, until };
  }

  async report({ since, until }: AdoptionWindow, options: { perUser?: boolean } = {}): Promise<AdoptionReport> {
    const { store } = this.deps;
    const [persons, teams, memberships, activity, attempts, passed, rollouts, signIns, feedbackCounts] = await Promise.all([
      store.persons(),
      store.teams(),
      store.memberships(),
      store.activity(since, until),
      store.gpuAttempts(since, until),
      store.passedEvaluations(since, until),
      store.productionRollouts(until),
      store.firstSignIns(),
      store.feedbackCounts(since, until),
    ]);
    const byName = new Map(persons.map((p) => [p.name, p]));
    const teamSet = new Set(teams);
    const isPerson = (name: string | null | undefined): name is string => name !== null && name !== undefined && byName.has(name);
    const origins = await store.versionOrigins(rollouts.map((r) => r.model));
    const origin = (r: ProductionRollout) => origins.get(`${r.model}\0${r.version}`);

    // Active people and teams per 24-hour period counted back from `until`.
    const days = Math.ceil((until - since) / DAY_MS);
    const weeks = Math.ceil(days / 7);
    const dayUsers = Array.from({ length: days }, () => new Set<string>());
    const dayTeams = Array.from({ length: days }, () => new Set<string>());
    const teamUsers = new Map<string, Set<string>>(teams.map((t) => [t, new Set()]));
    const personDays = new Map<string, Set<number>>();
    for (const row of activity) {
      if (!isPerson(row.who) || row.bucket < 0 || row.bucket >= days) continue;
      dayUsers[row.bucket]!.add(row.who);
      (personDays.get(row.who) ?? personDays.set(row.who, new Set()).get(row.who)!).add(row.bucket);
      if (row.team !== null && teamSet.has(row.team)) {
        dayTeams[row.bucket]!.add(row.team);
        teamUsers.get(row.team)!.add(row.who);
      }
    }
    const union = (sets: Set<string>[]) => new Set(sets.flatMap((s) => [...s]));
    const bucket = (i: number, size: number) => ({ from: Math.max(since, until - (i + 1) * size), to: until - i * size });
    const daily = dayUsers.map((users, i) => ({ ...bucket(i, DAY_MS), users: users.size, teams: dayTeams[i]!.size })).reverse();
    const weekly = Array.from({ length: weeks }, (_, w) => {
      const range = Array.from({ length: Math.min(7, days - w * 7) }, (_, k) => w * 7 + k);
      return { ...bucket(w, WEEK_MS), users: union(range.map((i) => dayUsers[i]!)).size, teams: union(range.map((i) => dayTeams[i]!)).size };
    }).reverse();
    const active = (perDay: Set<string>[], pick: "users" | "teams") => {
      const fullDays = daily.filter((d) => d.to - d.from === DAY_MS);
      const fullWeeks = weekly.filter((w) => w.to - w.from === WEEK_MS);
      const mean = (xs: { users: number; teams: number }[], fallback: number) => (xs.length === 0 ? fallback : xs.reduce((s, x) => s + x[pick], 0) / xs.length);
      const lastDay = perDay[0]?.size ?? 0;
      const last7Days = union(perDay.slice(0, 7)).size;
      return { lastDay, last7Days, window: union(perDay).size, dailyAverage: round(mean(fullDays, lastDay)), weeklyAverage: round(mean(fullWeeks, last7Days)) };
    };

    // Production rollouts: promoted (successes) and rolled back or failed (failures), by when they finished.
    const finished = rollouts.filter((r): r is ProductionRollout & { finishedAt: number } => r.finishedAt !== null).sort((a, b) => a.finishedAt - b.finishedAt);
    const inWindow = (t: number) => t >= since && t < until;
    const promoted = finished.filter((r) => r.phase === "Succeeded");
    const promotedInWindow = promoted.filter((r) => inWindow(r.finishedAt));
    const failedInWindow = finished.filter((r) => r.phase !== "Succeeded" && inWindow(r.finishedAt));
    /** Who a production promotion counts for: whoever deployed it and whoever registered the version. */
    const creditedFor = (r: ProductionRollout) => [r.createdBy, origin(r)?.registeredBy].filter(isPerson);

    // The golden-path funnel: people per stage in the window.
    const stageUsers: Record<FunnelStage, Set<string>> = {
      workspace: new Set(activity.filter((a) => a.source === "workspace").map((a) => a.who).filter(isPerson)),
      run: new Set(activity.filter((a) => a.source === "run").map((a) => a.who).filter(isPerson)),
      registered: new Set(activity.filter((a) => a.source === "version").map((a) => a.who).filter(isPerson)),
      gated: new Set(passed.flatMap((e) => [e.requestedBy, e.registeredBy]).filter(isPerson)),
      production: new Set(promotedInWindow.flatMap(creditedFor)),
    };
    let through: Set<string> | undefined;
    let previous: number | undefined;
    const funnel = FUNNEL_STAGES.map((stage) => {
      through = through === undefined ? new Set(stageUsers[stage]) : new Set([...through].filter((u) => stageUsers[stage].has(u)));
      const step = { stage, users: stageUsers[stage].size, throughPath: through.size, conversion: previous === undefined || previous === 0 ? null : round(through.size / previous) };
      previous = through.size;
      return step;
    });

    // Time to value: from each person's first sign-in to their first tracked run and first production deployment.
    const firstProduction = new Map<string, number>();
    for (const r of promoted) {
      if (r.finishedAt >= until) continue;
      for (const name of creditedFor(r)) if (!firstProduction.has(name)) firstProduction.set(name, r.finishedAt);
    }
    const recorded = (p: Person) => Math.min(signIns.get(p.userId) ?? Infinity, p.sso ? p.createdAt : Infinity);
    const candidates = persons.filter((p) => {
      const first = recorded(p);
      return options.perUser || (first === Infinity ? p.createdAt : first) < until;
    });
    const firstRuns = await store.firstRuns(
      candidates.map((p) => p.name),
      until,
    );
    const startOf = (p: Person) => {
      const first = recorded(p);
      // A run or a promotion before any sign-in on record (its token since revoked, its session expired) moves the start back to it.
      return Math.min(first === Infinity ? p.createdAt : first, firstRuns.get(p.name) ?? Infinity, firstProduction.get(p.name) ?? Infinity);
    };
    const newUsers = persons.filter((p) => inWindow(startOf(p)));
    const toRun = newUsers.filter((p) => firstRuns.has(p.name)).map((p) => firstRuns.get(p.name)! - startOf(p));
    const toProduction = newUsers.filter((p) => firstProduction.has(p.name)).map((p) => firstProduction.get(p.name)! - startOf(p));

    // Delivery (DORA-style): lead time, frequency, change failure rate, time to restore.
    const leadTimes: number[] = [];
    let withoutRun = 0;
    for (const r of promotedInWindow) {
      const runStart = origin(r)?.runStart;
      if (runStart === null || runStart === undefined) withoutRun++;
      else leadTimes.push(Math.max(0, r.finishedAt - runStart));
    }
    const restores: number[] = [];
    let unrestored = 0;
    for (const f of failedInWindow) {
      const next = promoted.find((s) => s.model === f.model && s.finishedAt > f.finishedAt);
      if (next) restores.push(next.finishedAt - f.finishedAt);
      else unrestored++;
    }
    const finishedCount = promotedInWindow.length + failedInWindow.length;

    // Usage per team.
    const sum = (source: ActivityRow["source"], team: string) => activity.reduce((s, a) => (a.source === source && a.team === team ? s + a.n : s), 0);
    const gpuMs = new Map<string, number>();
    for (const a of attempts) gpuMs.set(a.team, (gpuMs.get(a.team) ?? 0) + a.gpus * Math.max(0, Math.min(a.endedAt, until) - Math.max(a.startedAt, since)));
    const teamUsage = teams.map((team) => ({
      team,
      activeUsers: teamUsers.get(team)!.size,
      runs: sum("run", team),
      jobs: sum("job", team),
      gpuHours: round((gpuMs.get(team) ?? 0) / 3_600_000),
      workspaces: sum("workspace", team),
      modelVersions: sum("version", team),
      deployments: sum("deployment", team),
      productionDeployments: promotedInWindow.filter((r) => r.team === team).length,
    }));

    // Satisfaction.
    const distribution = [0, 0, 0, 0, 0];
    const byTeam = new Map<string, { responses: number; total: number }>();
    for (const f of feedbackCounts) {
      if (f.score < 1 || f.score > 5) continue;
      distribution[f.score - 1]! += f.n;
      if (f.team === null) continue;
      const t = byTeam.get(f.team) ?? { responses: 0, total: 0 };
      t.responses += f.n;
      t.total += f.score * f.n;
      byTeam.set(f.team, t);
    }
    const responses = distribution.reduce((s, n) => s + n, 0);
    const totalScore = distribution.reduce((s, n, i) => s + n * (i + 1), 0);

    const report: AdoptionReport = {
      since,
      until,
      generatedAt: this.deps.clock.now(),
      activeUsers: active(dayUsers, "users"),
      activeTeams: active(dayTeams, "teams"),
      daily,
      weekly,
      teams: teamUsage,
      funnel,
      timeToValue: {
        newUsers: newUsers.length,
        firstRun: { count: toRun.length, p50Seconds: p50Seconds(toRun) },
        firstProduction: { count: toProduction.length, p50Seconds: p50Seconds(toProduction) },
      },
      delivery: {
        productionDeployments: promotedInWindow.length,
        perWeek: round(promotedInWindow.length / ((until - since) / WEEK_MS)),
        leadTime: { count: leadTimes.length, p50Seconds: p50Seconds(leadTimes) },
        withoutRun,
        finishedRollouts: finishedCount,
        failedRollouts: failedInWindow.length,
        changeFailureRate: finishedCount === 0 ? null : round(failedInWindow.length / finishedCount),
        timeToRestore: { count: restores.length, p50Seconds: p50Seconds(restores) },
        unrestored,
      },
      satisfaction: {
        responses,
        meanScore: responses === 0 ? null : round(totalScore / responses),
        distribution,
        satisfied: responses === 0 ? null : round((distribution[3]! + distribution[4]!) / responses),
        byTeam: [...byTeam.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([team, t]) => ({ team, responses: t.responses, meanScore: round(t.total / t.responses) })),
      },
    };
    if (!options.perUser) return report;

    const teamsOf = new Map<string, string[]>();
    for (const m of memberships) (teamsOf.get(m.userId) ?? teamsOf.set(m.userId, []).get(m.userId)!).push(m.team);
    report.users = [...persons]
      .sort((a, b) => a.name.localeCompare(b.name))
      .slice(0, MAX_DETAIL_USERS)
      .map((p) => {
        const first = recorded(p);
        return {
          user: p.name,
          teams: (teamsOf.get(p.userId) ?? []).sort(),
          firstSignIn: first === Infinity ? null : startOf(p),
          firstRun: firstRuns.get(p.name) ?? null,
          firstProduction: firstProduction.get(p.name) ?? null,
          activeDays: personDays.get(p.name)?.size ?? 0,
          runs: activity.reduce((s, a) => (a.source === "run" && a.who === p.name ? s + a.n : s), 0),
          stages: FUNNEL_STAGES.filter((stage) => stageUsers[stage].has(p.name)),
        };
      });
    report.feedback = (await store.feedback(since, until, MAX_FEEDBACK_LISTED)).map(feedbackView);
    return report;
  }

  /**
   * The milestone the UI should ask a person about: the latest one they reached and have not
   * given feedback on (feedback whose context names it). Nobody but a person is asked.
   */
  async feedbackPrompt(principal: Principal): Promise<FeedbackPrompt> {
    if (principal.kind !== "user" || principal.userId === undefined) return { milestone: null, reachedAt: null };
    const [reached, answered] = await Promise.all([this.deps.store.milestonesOf(principal.name), this.deps.store.feedbackContextsOf(principal.userId)]);
    for (const milestone of [...MILESTONES].reverse()) {
      const at = reached[milestone];
      if (at === undefined) continue;
      return answered.has(milestone) ? { milestone: null, reachedAt: null } : { milestone, reachedAt: at };
    }
    return { milestone: null, reachedAt: null };
  }

  /** Records a person's feedback: a score from 1 to 5, a comment, the milestone it follows. */
  async addFeedback(body: FeedbackBody, principal: Principal): Promise<FeedbackView> {
    if (principal.kind !== "user" || principal.userId === undefined) {
      throw new PlatformError("FORBIDDEN", `feedback is a person's: send it with your own token (you are '${principal.name}', a ${principal.kind}); run \`paved login\``, { principal: principal.name });
    }
    const teams = Object.keys(principal.teams).sort();
    if (body.team !== undefined && !teams.includes(body.team)) {
      throw invalidInput(`you are not in team '${body.team}'; name one of your teams: ${teams.length ? teams.join(", ") : "(none)"}`, { team: body.team, teams });
    }
    const now = this.deps.clock.now();
    const recent = await this.deps.store.feedbackSince(principal.userId, now - DAY_MS);
    if (recent >= MAX_FEEDBACK_PER_DAY) {
      throw new PlatformError("QUOTA_EXCEEDED", `you sent ${recent} pieces of feedback in the last 24 hours, the most one person may; thank you — send more tomorrow`, { limit: MAX_FEEDBACK_PER_DAY });
    }
    const row = {
      id: this.deps.ids.prefixed("fb"),
      user_id: principal.userId,
      user_name: principal.name,
      team_id: body.team ?? principal.team ?? null,
      score: body.score,
      comment: body.comment ?? null,
      context: body.context ?? null,
      created_at: now,
    };
    await this.deps.store.addFeedback(row);
    return feedbackView(row);
  }
}

function feedbackView(row: { id: string; user_name: string; team_id: string | null; score: number; comment: string | null; context: string | null; created_at: number }): FeedbackView {
  return { id: row.id, user: row.user_name, team: row.team_id, score: Number(row.score), comment: row.comment, context: row.context, createdAt: Number(row.created_at) };
}

function iso(ms: number): string {
  return Number.isFinite(ms) ? new Date(ms).toISOString() : String(ms);
}

function round(x: number): number {
  return Math.round(x * 10_000) / 10_000;
}
