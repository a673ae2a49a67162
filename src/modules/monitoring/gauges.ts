import type { Kysely } from "kysely";
import { Gauge, type Registry } from "prom-client";
import type { Tables } from "../../storage/index.ts";
import type { WindowFigures } from "./schema.ts";

/** Most features per monitor exported (the rest stay in the API): feature names come from model cards and data headers. */
export const MAX_EXPORTED_FEATURES = 50;
/** Longest label value exported from user input (cut beyond, with "…"). */
const MAX_LABEL = 64;

const bounded = (value: string) => (value.length > MAX_LABEL ? `${value.slice(0, MAX_LABEL - 1)}…` : value);

/**
 * Monitors' latest windows as Prometheus series: per version, the window's error rate, p99 and
 * prediction PSI, and per feature (the first MAX_EXPORTED_FEATURES) its PSI; and alerts firing by
 * team and severity. Label values from user input are cut to 64 characters (prom-client escapes
 * them); teams, models and environments are names the platform validated.
 */
export function registerMonitorGauges(registry: Registry, db: Kysely<Tables>): void {
  let read: { at: number; rows: Promise<{ labels: Record<string, string>; figures: WindowFigures; breaching: number }[]> } | undefined;
  const latest = () => {
    if (!read || performance.now() - read.at > 1_000) {
      read = {
        at: performance.now(),
        rows: (async () => {
          const monitors = await db.selectFrom("monitors").select(["monitor_id", "model_name", "version", "environment"]).execute();
          const out: { labels: Record<string, string>; figures: WindowFigures; breaching: number }[] = [];
          for (const m of monitors) {
            const w = await db.selectFrom("monitor_windows").select(["figures", "breaches"]).where("monitor_id", "=", m.monitor_id).orderBy("window_start", "desc").limit(1).executeTakeFirst();
            if (!w) continue;
            out.push({ labels: { model: m.model_name, version: String(m.version), environment: m.environment }, figures: JSON.parse(w.figures) as WindowFigures, breaching: (JSON.parse(w.breaches) as unknown[]).length });
          }
          return out;
        })(),
      };
    }
    return read.rows;
  };
  const perVersion = (name: string, help: string, pick: (f: WindowFigures) => number | null) =>
    new Gauge({
      name,
      help,
      labelNames: ["model", "version", "environment"],
      registers: [registry],
      async collect(this: Gauge) {
        this.reset();
        for (const { labels, figures } of await latest()) {
          const value = pick(figures);
          if (value !== null) this.set(labels, value);
        }
      },
    });
  perVersion("paved_monitor_error_rate", "Share of failed requests in the monitor's latest window, per version", (f) => f.errorRate);
  perVersion("paved_monitor_latency_p99_seconds", "p99 latency in the monitor's latest window, per version", (f) => (f.latencyP99Ms === null ? null : f.latencyP99Ms / 1000));
  perVersion("paved_monitor_prediction_psi", "PSI of the latest window's prediction scores against the first full window's, per version", (f) => f.predictionPsi);
  perVersion("paved_monitor_drifted_features", "Features that drifted in the monitor's latest window, per version", (f) => f.driftedFeatures.length);
  new Gauge({
    name: "paved_monitor_feature_psi",
    help: `PSI of each feature's live values against the reference in the monitor's latest window (first ${MAX_EXPORTED_FEATURES} features per version)`,
    labelNames: ["model", "version", "environment", "feature"],
    registers: [registry],
    async collect(this: Gauge) {
      this.reset();
      for (const { labels, figures } of await latest()) {
        for (const f of figures.features.slice(0, MAX_EXPORTED_FEATURES)) if (f.psi !== null) this.set({ ...labels, feature: bounded(f.feature) }, f.psi);
      }
    },
  });
  new Gauge({
    name: "paved_alerts_firing",
    help: "Alerts firing, by team and severity",
    labelNames: ["team", "severity"],
    registers: [registry],
    async collect(this: Gauge) {
      this.reset();
      const rows = await db.selectFrom("alerts").select(["team_id", "severity"]).select((eb) => eb.fn.countAll<number>().as("n")).where("state", "=", "firing").groupBy(["team_id", "severity"]).execute();
      for (const r of rows) this.set({ team: r.team_id, severity: r.severity }, Number(r.n));
    },
  });
}
