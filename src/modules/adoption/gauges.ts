import { Gauge, type Registry } from "prom-client";
import type { Clock } from "../../core/index.ts";
import { DEFAULT_WINDOW_DAYS, type AdoptionReport } from "./schema.ts";
import type { AdoptionService } from "./service.ts";
import { DAY_MS } from "./store.ts";

export interface AdoptionGaugeOptions {
  /** The clock the window ends at (default: the system's). */
  clock?: Clock;
  /** How long one computed report answers scrapes, in ms (default 60 s): the report reads many tables. */
  cacheMs?: number;
}

type Value = number | null | undefined;

/**
 * Registers the adoption gauges on a Prometheus registry: aggregates over the last 28 days (and the
 * last day and week for active users and teams), labelled at most by team (teams are created by
 * platform admins, so the label is bounded) or by funnel stage (five fixed values). No per-person
 * figure is ever exported. A figure without data (a median of nothing) is NaN.
 */
export function registerAdoptionGauges(registry: Registry, service: AdoptionService, options: AdoptionGaugeOptions = {}): void {
  const clock = options.clock ?? { now: () => Date.now() };
  const cacheMs = options.cacheMs ?? 60_000;
  let cached: { at: number; report: Promise<AdoptionReport> } | undefined;
  const report = () => {
    if (!cached || performance.now() - cached.at > cacheMs) {
      const until = clock.now();
      const pending = service.report({ since: until - DEFAULT_WINDOW_DAYS * DAY_MS, until });
      // A failed read is not kept: the next scrape tries again.
      pending.catch(() => (cached = undefined));
      cached = { at: performance.now(), report: pending };
    }
    return cached.report;
  };
  const value = (v: Value) => (v === null || v === undefined ? Number.NaN : v);
  const single = (name: string, help: string, pick: (r: AdoptionReport) => Value) =>
    new Gauge({
      name,
      help,
      registers: [registry],
      async collect(this: Gauge) {
        this.set(value(pick(await report())));
      },
    });
  const labelled = (name: string, help: string, label: "team" | "stage", pick: (r: AdoptionReport) => { key: string; value: Value }[]) =>
    new Gauge({
      name,
      help,
      labelNames: [label],
      registers: [registry],
      async collect(this: Gauge) {
        this.reset();
        for (const { key, value: v } of pick(await report())) this.set({ [label]: key }, value(v));
      },
    });
  const w = `${DEFAULT_WINDOW_DAYS}d`;
  single("paved_adoption_active_users_1d", "People who did something on the platform in the last 24 hours", (r) => r.activeUsers.lastDay);
  single("paved_adoption_active_users_7d", "People who did something on the platform in the last 7 days", (r) => r.activeUsers.last7Days);
  single(`paved_adoption_active_users_${w}`, `People who did something on the platform in the last ${DEFAULT_WINDOW_DAYS} days`, (r) => r.activeUsers.window);
  single("paved_adoption_active_teams_1d", "Teams on whose resources a person did something in the last 24 hours", (r) => r.activeTeams.lastDay);
  single("paved_adoption_active_teams_7d", "Teams on whose resources a person did something in the last 7 days", (r) => r.activeTeams.last7Days);
  single(`paved_adoption_active_teams_${w}`, `Teams on whose resources a person did something in the last ${DEFAULT_WINDOW_DAYS} days`, (r) => r.activeTeams.window);
  const team = (help: string, name: string, pick: (t: AdoptionReport["teams"][number]) => number) =>
    labelled(`paved_adoption_team_${name}_${w}`, `${help} in the last ${DEFAULT_WINDOW_DAYS} days, by team`, "team", (r) => r.teams.map((t) => ({ key: t.team, value: pick(t) })));
  team("People active on the team's resources", "active_users", (t) => t.activeUsers);
  team("Tracked runs started in the team's experiments", "runs", (t) => t.runs);
  team("Jobs submitted (workspace servers excluded)", "jobs", (t) => t.jobs);
  team("GPU time of ended job attempts, in seconds (Prometheus's base unit)", "gpu_seconds", (t) => t.gpuHours * 3600);
  team("Workspaces created", "workspaces", (t) => t.workspaces);
  team("Production rollouts that finished promoted", "production_deployments", (t) => t.productionDeployments);
  labelled(`paved_adoption_funnel_users_${w}`, `People who reached each golden-path stage and every earlier one in the last ${DEFAULT_WINDOW_DAYS} days (workspace, run, registered, gated, production)`, "stage", (r) =>
    r.funnel.map((s) => ({ key: s.stage, value: s.throughPath })),
  );
  single(`paved_adoption_new_users_${w}`, `People whose first sign-in was in the last ${DEFAULT_WINDOW_DAYS} days`, (r) => r.timeToValue.newUsers);
  single("paved_adoption_time_to_first_run_p50_seconds", `Median time from first sign-in to first tracked run, over people new in the last ${DEFAULT_WINDOW_DAYS} days`, (r) => r.timeToValue.firstRun.p50Seconds);
  single("paved_adoption_time_to_production_p50_seconds", `Median time from first sign-in to first production deployment, over people new in the last ${DEFAULT_WINDOW_DAYS} days`, (r) => r.timeToValue.firstProduction.p50Seconds);
  single(`paved_adoption_production_deployments_${w}`, `Production rollouts that finished promoted in the last ${DEFAULT_WINDOW_DAYS} days`, (r) => r.delivery.productionDeployments);
  single("paved_adoption_lead_time_p50_seconds", `Median time from the start of the run that produced a version to its promotion to production, last ${DEFAULT_WINDOW_DAYS} days`, (r) => r.delivery.leadTime.p50Seconds);
  single("paved_adoption_change_failure_ratio", `Production rollouts rolled back or failed over those that finished, last ${DEFAULT_WINDOW_DAYS} days`, (r) => r.delivery.changeFailureRate);
  single("paved_adoption_time_to_restore_p50_seconds", `Median time from a failed production rollout to the next promoted one of the same model, last ${DEFAULT_WINDOW_DAYS} days`, (r) => r.delivery.timeToRestore.p50Seconds);
  single(`paved_adoption_feedback_responses_${w}`, `Feedback sent in the last ${DEFAULT_WINDOW_DAYS} days`, (r) => r.satisfaction.responses);
  single(`paved_adoption_feedback_score_mean_${w}`, `Mean feedback score (1 to 5) in the last ${DEFAULT_WINDOW_DAYS} days`, (r) => r.satisfaction.meanScore);
}
