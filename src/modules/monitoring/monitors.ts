// Model monitors (issue 12, item 1): one per deployed version and environment. Serving (in this
// process or in every data-plane process) keeps a bounded sample of the live traffic; the
// controller drains it every second, off the request path, into the window of the monitor it
// belongs to, and when a window closes judges it against the version's reference data with the
// gate policy's bounds (window.ts), and saves its figures and breaches. The windows are filled
// and judged on a thread of their own (windows-thread.ts). A restart loses the window being
// filled (its samples were in memory): it is not judged, and the next one is.
import type { Kysely, Selectable } from "kysely";
import { PlatformError, conflict, invalidInput, notFound, validate, describeProblems, type Clock, type IdGenerator, type Logger, type Principal, type ResourceRef } from "../../core/index.ts";
import type { Tables } from "../../storage/index.ts";
import type { EvaluationService, MonitorBasis } from "../evaluation/index.ts";
import { authorize, visibleTeams } from "../identity/index.ts";
import type { RegistryService } from "../registry/index.ts";
import { monitoredKey, type SampleRows, type SampleSet } from "../serving/index.ts";
import { MonitorSpec, MonitorThresholds, type CreateMonitorBody, type MonitorView, type MonitorWindowView, type SamplesDatasetBody, type SamplesDatasetView } from "./schema.ts";
import { samplesCsv } from "./samples-csv.ts";
import { prepareReference, type EffectiveThresholds, type PreparedReference } from "./window.ts";
import { WindowsLost, WindowsThread, type ClosedOnThread } from "./windows-thread.ts";

type MonitorRow = Selectable<Tables["monitors"]>;
/** A monitor as the controller reads it every pass: without its prediction baseline (thousands of numbers as JSON), read when a window closes. */
type MonitorTarget = Omit<MonitorRow, "prediction_baseline">;
type WindowRow = Selectable<Tables["monitor_windows"]>;

/** What monitors need of the datasets module (app.ts connects it): keeping sampled rows and making dataset versions of them. */
export interface MonitorDatasets {
  putBlob(team: string, body: Buffer, opts: { createdBy: string; what?: string }): Promise<{ digest: string; size: number }>;
  createVersion(input: {
    team: string;
    name: string;
    files: { path: string; digest: string; size: number }[];
    source?: { kind: string; description: string };
    lineage?: { kind: "deployment"; id: string } & Record<string, string | number>;
    createdBy: string;
  }): Promise<{ version: number; existing?: boolean }>;
}

export interface MonitorServiceDeps {
  db: Kysely<Tables>;
  registry: RegistryService;
  evaluation: EvaluationService;
  clock: Clock;
  ids: IdGenerator;
  logger: Logger;
  /** Keeps windows' sampled rows and makes dataset versions of them; unset, keepSamples keeps nothing. */
  datasets?: MonitorDatasets;
  /** The newest deployment that rolled a version out to an environment (a dataset of its traffic names it as its lineage). */
  deploymentOf?: (model: string, version: number, environment: string) => Promise<string | undefined>;
}

/** A closed window, as the alert evaluator reads it. */
export interface ClosedWindow {
  monitor: MonitorTarget;
  window: MonitorWindowView;
}

/** Most monitors a team may have: each holds up to 16 MiB of samples per serving process (4,000 rows of at most 1,024 features). */
export const MAX_MONITORS_PER_TEAM = 100;
/** How long closed windows are kept. */
export const WINDOW_RETENTION_MS = 30 * 86_400_000;

/** Every column of a monitor but its prediction baseline. */
const TARGET_COLUMNS = ["monitor_id", "team_id", "model_id", "model_name", "version", "environment", "spec", "evaluation_id", "basis", "created_by", "created_at", "window_start"] as const satisfies readonly (keyof MonitorTarget)[];

/** A monitor's target as serving names it (monitoredKey: `environment/model/version`). */
const keyOf = (model: string, version: string | number, environment: string) => monitoredKey({ model, version: String(version), environment });

export class MonitorService {
  /** Prepared reference data per monitor (read once; again after a restart). */
  private readonly references = new Map<string, Promise<PreparedReference>>();
  /** Fills the windows and judges them, off the main thread. */
  private readonly thread = new WindowsThread();
  /** When this process began filling windows (its controller started): a window begun before then lacks its first samples. */
  private watchingSince = Number.POSITIVE_INFINITY;
  /** Told of every window closed (the alert evaluator). */
  onWindow: ((closed: ClosedWindow) => Promise<void>) | undefined;

  constructor(private readonly deps: MonitorServiceDeps) {}

  // ---- what the policy sees ----

  async newResource(body: Pick<CreateMonitorBody, "model">): Promise<ResourceRef> {
    const model = await this.deps.registry.getModel(body.model);
    return { kind: "monitor", id: "(new)", team: model.team_id };
  }

  async resource(id: string): Promise<ResourceRef> {
    const row = await this.row(id);
    return { kind: "monitor", id, team: row.team_id, notFound: () => missing(id) };
  }

  // ---- the API ----

  /** Creates the monitor of a version in an environment; INVALID_INPUT when the version has no reference data (and how to attach some). */
  async create(body: CreateMonitorBody, principal: Principal): Promise<MonitorView> {
    const model = await this.deps.registry.getModel(body.model);
    const basis = await this.deps.evaluation.monitorBasis(body.model, body.version);
    const parsed = validate(MonitorSpec, { windowSeconds: body.windowSeconds, minRows: body.minRows, features: body.features, thresholds: MonitorThresholds.parse(body.thresholds ?? {}), keepSamples: body.keepSamples });
    if (!parsed.success) throw invalidInput(`invalid monitor: ${describeProblems(parsed.problems)}`, { problems: parsed.problems });
    const unknown = (parsed.data.features ?? []).filter((f) => !basis.features.includes(f));
    if (unknown.length) {
      const shown = unknown.slice(0, 5).map((f) => `'${f.slice(0, 64)}'`).join(", ");
      throw invalidInput(`the model has no feature ${shown}${unknown.length > 5 ? ` (and ${unknown.length - 5} more)` : ""}; its features (from ${basis.source.kind} '${basis.source.uri}') are ${basis.features.slice(0, 50).join(", ")}`);
    }
    const existing = await this.deps.db.selectFrom("monitors").select("monitor_id").where("model_id", "=", model.model_id).where("version", "=", body.version).where("environment", "=", body.environment).executeTakeFirst();
    if (existing) throw conflict(`version ${body.version} of '${body.model}' in ${body.environment} already has monitor ${existing.monitor_id}; see it with \`paved monitors show ${existing.monitor_id}\`, or delete it first`);
    const count = await this.deps.db.selectFrom("monitors").select((eb) => eb.fn.countAll<number>().as("n")).where("team_id", "=", model.team_id).executeTakeFirst();
    if (Number(count?.n ?? 0) >= MAX_MONITORS_PER_TEAM) {
      throw new PlatformError("QUOTA_EXCEEDED", `team '${model.team_id}' has ${MAX_MONITORS_PER_TEAM} monitors, the most a team may have; delete the monitors of versions no longer served (\`paved monitors ls\`, \`paved monitors rm <id>\`)`);
    }
    const now = this.deps.clock.now();
    const row: MonitorRow = {
      monitor_id: this.deps.ids.prefixed("mon"),
      team_id: model.team_id,
      model_id: model.model_id,
      model_name: model.name,
      version: body.version,
      environment: body.environment,
      spec: JSON.stringify(parsed.data),
      evaluation_id: basis.evaluationId,
      basis: JSON.stringify({ uri: basis.source.uri, kind: basis.source.kind, features: basis.features }),
      prediction_baseline: null,
      created_by: principal.onBehalfOf ?? principal.name,
      created_at: now,
      window_start: now,
    };
    await this.deps.db.insertInto("monitors").values(row).execute();
    this.references.set(row.monitor_id, Promise.resolve(prepareReference(basis.features, basis.columns, parsed.data.features)));
    this.deps.logger.info({ monitor: row.monitor_id, model: model.name, version: body.version, environment: body.environment, reference: basis.source.uri }, "monitor created");
    return this.view(row);
  }

  /**
   * The monitor of a version in an environment, created with the defaults when none exists (what a
   * new deployment asks for); throws as `create` does when it cannot be made (no reference data).
   */
  async ensure(target: { model: string; version: number; environment: string }, principal: Principal): Promise<{ monitor: MonitorView; created: boolean }> {
    const model = await this.deps.registry.getModel(target.model);
    // The deployer's own right to watch it: deploying grants no more than `paved monitors create` would.
    authorize(principal, "monitors:write", { kind: "monitor", id: "(new)", team: model.team_id });
    const existing = await this.deps.db.selectFrom("monitors").selectAll().where("model_id", "=", model.model_id).where("version", "=", target.version).where("environment", "=", target.environment).executeTakeFirst();
    if (existing) return { monitor: await this.view(existing), created: false };
    return { monitor: await this.create({ ...target, features: undefined }, principal), created: true };
  }

  async list(filter: { model?: string | undefined; environment?: string | undefined }, reader: Principal): Promise<MonitorView[]> {
    const teams = visibleTeams(reader, "monitors:read");
    if (teams?.length === 0) return [];
    let query = this.deps.db.selectFrom("monitors").selectAll();
    if (teams) query = query.where("team_id", "in", teams);
    if (filter.model) query = query.where("model_name", "=", filter.model);
    if (filter.environment) query = query.where("environment", "=", filter.environment);
    const rows = await query.orderBy("created_at", "desc").limit(1000).execute();
    return Promise.all(rows.map((r) => this.view(r)));
  }

  async get(id: string): Promise<MonitorView> {
    return this.view(await this.row(id));
  }

  async windows(id: string, query: { since?: number | undefined; limit: number }): Promise<MonitorWindowView[]> {
    await this.row(id);
    let q = this.deps.db.selectFrom("monitor_windows").selectAll().where("monitor_id", "=", id);
    if (query.since !== undefined) q = q.where("window_end", ">", query.since);
    const rows = await q.orderBy("window_start", "desc").limit(query.limit).execute();
    return rows.map(windowView);
  }

  async delete(id: string): Promise<void> {
    const row = await this.row(id);
    await this.deps.db.transaction().execute(async (trx) => {
      await trx.deleteFrom("monitor_windows").where("monitor_id", "=", id).execute();
      await trx.deleteFrom("monitors").where("monitor_id", "=", id).execute();
    });
    this.references.delete(id);
    this.thread.forget(id, keyOf(row.model_name, row.version, row.environment));
  }

  // ---- the controller's work ----

  /** This process starts filling windows now (its controller started, on the leader). */
  beginWatching(): void {
    this.watchingSince = this.deps.clock.now();
    this.thread.reset();
  }

  /** Adds live samples (drained from serving; moved, the caller must not read them after) to the windows being filled; samples of unmonitored versions are dropped. */
  absorb(batches: readonly SampleSet[], monitored: ReadonlySet<string>): void {
    this.thread.absorb(batches.filter((batch) => monitored.has(keyOf(batch.model, batch.version, batch.environment))));
  }

  /** Every monitor, with the key of its target, and the versions to sample for serving (monitoredKey). */
  async monitors(): Promise<{ rows: MonitorTarget[]; keys: Set<string>; sampled: string[] }> {
    const rows = await this.deps.db.selectFrom("monitors").select(TARGET_COLUMNS).execute();
    const sampled = rows.map((r) => keyOf(r.model_name, r.version, r.environment));
    return { rows, keys: new Set(sampled), sampled };
  }

  /** Closes every window whose time is up: judges it, saves it with the monitor's next window start, and tells onWindow. */
  async closeDue(rows: readonly MonitorTarget[]): Promise<void> {
    const now = this.deps.clock.now();
    for (const row of rows) {
      const spec = MonitorSpec.parse(JSON.parse(row.spec));
      const length = spec.windowSeconds * 1000;
      if (now < row.window_start + length) continue;
      let reference: PreparedReference;
      try {
        reference = await this.reference(row);
      } catch (error) {
        this.references.delete(row.monitor_id);
        this.thread.forget(row.monitor_id, keyOf(row.model_name, row.version, row.environment));
        this.deps.logger.warn({ monitor: row.monitor_id, reason: (error as Error).message }, "monitor cannot read its reference data; its window is not judged");
        continue;
      }
      const key = keyOf(row.model_name, row.version, row.environment);
      // After downtime the next window starts at the latest boundary passed, not in the past.
      const next = row.window_start + Math.floor((now - row.window_start) / length) * length;
      const skip = () => this.deps.db.updateTable("monitors").set({ window_start: next }).where("monitor_id", "=", row.monitor_id).execute();
      if (row.window_start < this.watchingSince) {
        // Begun before this process watched (a restart, a new leader): its first samples were lost, so it is not judged.
        this.thread.discard(key);
        await skip();
        continue;
      }
      const thresholds = await this.thresholds(row, spec);
      const saved = await this.deps.db.selectFrom("monitors").select("prediction_baseline").where("monitor_id", "=", row.monitor_id).executeTakeFirst();
      let closed: ClosedOnThread;
      try {
        closed = await this.thread.close({ monitor: row.monitor_id, key, reference, spec, thresholds, baseline: saved?.prediction_baseline ?? null, keepRows: spec.keepSamples });
      } catch (error) {
        if (!(error instanceof WindowsLost)) throw error;
        // As after a restart: every window being filled lacks samples, so none is judged.
        this.deps.logger.warn({ monitor: row.monitor_id, reason: error.message }, "monitor windows lost; this window is not judged");
        this.watchingSince = now;
        this.thread.discard(key);
        await skip();
        continue;
      }
      const { judged } = closed;
      const end = row.window_start + length;
      const window: WindowRow = {
        id: 0,
        monitor_id: row.monitor_id,
        window_start: row.window_start,
        window_end: end,
        status: judged.status,
        requests: closed.requests,
        errors: closed.errors,
        rows_seen: closed.rowsSeen,
        rows_kept: closed.rowsKept,
        rows_dropped: closed.rowsDropped,
        figures: JSON.stringify(judged.figures),
        breaches: JSON.stringify(judged.breaches),
      };
      const { id: _, ...values } = window;
      const kept = closed.rows ? await this.keepSamples(row, closed.rows) : undefined;
      await this.deps.db.transaction().execute(async (trx) => {
        await trx.insertInto("monitor_windows").values(values).onConflict((oc) => oc.columns(["monitor_id", "window_start"]).doNothing()).execute();
        await trx.deleteFrom("monitor_windows").where("monitor_id", "=", row.monitor_id).where("window_end", "<", now - WINDOW_RETENTION_MS).execute();
        if (kept) {
          await trx.insertInto("monitor_samples").values({ monitor_id: row.monitor_id, window_start: row.window_start, window_end: end, ...kept }).onConflict((oc) => oc.columns(["monitor_id", "window_start"]).doNothing()).execute();
        }
        await trx.deleteFrom("monitor_samples").where("monitor_id", "=", row.monitor_id).where("window_end", "<", now - WINDOW_RETENTION_MS).execute();
        await trx
          .updateTable("monitors")
          .set({ window_start: next, ...(judged.baseline ? { prediction_baseline: JSON.stringify(judged.baseline) } : {}) })
          .where("monitor_id", "=", row.monitor_id)
          .execute();
      });
      if (judged.breaches.length) this.deps.logger.info({ monitor: row.monitor_id, model: row.model_name, version: row.version, environment: row.environment, breaches: judged.breaches.map((b) => b.message) }, "monitor window breached");
      await this.onWindow?.({ monitor: { ...row, window_start: next }, window: windowView(window) });
    }
  }

  /** Stops the windows' thread (the controller stopped). */
  stop(): Promise<void> {
    return this.thread.stop();
  }

  /** A window's sampled rows as a CSV blob (the features in the model's order, then the prediction score), held to the team's quota. */
  private async keepSamples(row: MonitorTarget, samples: SampleRows): Promise<{ digest: string; size: number; rows: number } | undefined> {
    if (samples.count === 0 || !this.deps.datasets) return undefined;
    const csv = await samplesCsv(samples, (JSON.parse(row.basis) as { features: string[] }).features);
    try {
      const blob = await this.deps.datasets.putBlob(row.team_id, csv, { createdBy: `monitor:${row.monitor_id}`, what: `the sampled traffic of monitor ${row.monitor_id}` });
      return { ...blob, rows: samples.count };
    } catch (error) {
      // A team at its storage quota loses the window's rows, not the window.
      this.deps.logger.warn({ monitor: row.monitor_id, reason: (error as Error).message }, "a window's sampled rows were not kept");
      return undefined;
    }
  }

  /**
   * The kept windows' sampled rows (in a time range) as a new version of a dataset of the monitor's
   * team, one CSV file per window, with lineage to the deployment that served them. INVALID_INPUT
   * when the monitor keeps no samples or none fall in the range.
   */
  async samplesDataset(id: string, body: SamplesDatasetBody, principal: Principal): Promise<SamplesDatasetView> {
    const row = await this.row(id);
    if (!this.deps.datasets) throw new PlatformError("UNSUPPORTED", "this server has no datasets module");
    let query = this.deps.db.selectFrom("monitor_samples").selectAll().where("monitor_id", "=", id);
    if (body.since !== undefined) query = query.where("window_end", ">", body.since);
    if (body.until !== undefined) query = query.where("window_end", "<=", body.until);
    const samples = await query.orderBy("window_start").limit(10_000).execute();
    if (samples.length === 0) {
      const keeps = MonitorSpec.parse(JSON.parse(row.spec)).keepSamples;
      throw invalidInput(
        keeps
          ? `monitor ${id} has kept no sampled rows${body.since !== undefined || body.until !== undefined ? " in that range" : " yet"}: windows keep rows once they close with traffic; see \`paved monitors windows ${id}\``
          : `monitor ${id} does not keep its sampled rows; create it with keepSamples (\`paved monitors create ${row.model_name}@${row.version} --keep-samples\`), and its next windows will`,
      );
    }
    const deployment = await this.deps.deploymentOf?.(row.model_name, row.version, row.environment);
    const first = samples[0]!;
    const last = samples[samples.length - 1]!;
    const version = await this.deps.datasets.createVersion({
      team: row.team_id,
      name: body.name,
      files: samples.map((s) => ({ path: `window-${new Date(Number(s.window_start)).toISOString().replace(/[:.]/g, "-")}.csv`, digest: s.digest, size: Number(s.size) })),
      source: { kind: "monitor", description: `live traffic of ${row.model_name}@${row.version} in ${row.environment}, sampled by monitor ${id}, windows ${new Date(Number(first.window_start)).toISOString()} to ${new Date(Number(last.window_end)).toISOString()}` },
      lineage: { kind: "deployment", id: deployment ?? `${row.environment}/${row.model_name}@${row.version}`, monitor: id, model: row.model_name, modelVersion: row.version, environment: row.environment },
      createdBy: principal.onBehalfOf ?? principal.name,
    });
    return { dataset: body.name, version: version.version, ref: `datasets:/${body.name}@${version.version}`, windows: samples.length, rows: samples.reduce((n, s) => n + Number(s.rows), 0), existing: version.existing === true };
  }

  /** The newest `count` windows of a monitor, newest first. */
  async recent(monitorId: string, count: number): Promise<MonitorWindowView[]> {
    const rows = await this.deps.db.selectFrom("monitor_windows").selectAll().where("monitor_id", "=", monitorId).orderBy("window_start", "desc").limit(count).execute();
    return rows.map(windowView);
  }

  private reference(row: MonitorTarget): Promise<PreparedReference> {
    let prepared = this.references.get(row.monitor_id);
    if (!prepared) {
      prepared = this.deps.evaluation.monitorBasis(row.model_name, row.version).then((basis: MonitorBasis) => {
        if (basis.evaluationId !== row.evaluation_id) this.deps.logger.info({ monitor: row.monitor_id, evaluation: basis.evaluationId }, "monitor reference now from a newer evaluation");
        return prepareReference(basis.features, basis.columns, MonitorSpec.parse(JSON.parse(row.spec)).features);
      });
      this.references.set(row.monitor_id, prepared);
    }
    return prepared;
  }

  /** The monitor's thresholds with the model's gate policy's drift and performance bounds (read now: a policy change applies from the next window). */
  private async thresholds(row: MonitorTarget, spec: MonitorSpec): Promise<EffectiveThresholds> {
    const policy = (await this.deps.evaluation.getPolicy(row.model_name)).policy;
    const drift = policy.checks.find((c) => c.type === "drift");
    const performance = policy.checks.find((c) => c.type === "performance");
    const t = spec.thresholds;
    return {
      maxErrorRate: t.maxErrorRate,
      maxSchemaViolationRate: t.maxSchemaViolationRate,
      maxMissingRate: t.maxMissingRate,
      maxOutOfRangeRate: t.maxOutOfRangeRate,
      maxPredictionPsi: t.maxPredictionPsi,
      chiSquareAlpha: t.chiSquareAlpha,
      maxPsi: t.maxPsi ?? (drift?.type === "drift" ? (drift.maxPsi ?? null) : null),
      maxKsStatistic: t.maxKsStatistic ?? (drift?.type === "drift" ? (drift.maxKsStatistic ?? null) : null),
      p99Ms: t.p99Ms ?? (performance?.type === "performance" ? (performance.p99Ms ?? null) : null),
    };
  }

  private async row(id: string): Promise<MonitorRow> {
    const row = await this.deps.db.selectFrom("monitors").selectAll().where("monitor_id", "=", id).executeTakeFirst();
    if (!row) throw missing(id);
    return row;
  }

  private async view(row: MonitorRow): Promise<MonitorView> {
    const spec = MonitorSpec.parse(JSON.parse(row.spec));
    const basis = JSON.parse(row.basis) as { uri: string; kind: string; features: string[] };
    let thresholds: Record<string, number | null>;
    try {
      thresholds = { ...(await this.thresholds(row, spec)) };
    } catch (error) {
      if (!(error instanceof PlatformError)) throw error;
      thresholds = {};
    }
    const [latest] = await this.recent(row.monitor_id, 1);
    return {
      id: row.monitor_id,
      team: row.team_id,
      model: row.model_name,
      version: row.version,
      environment: row.environment,
      spec,
      thresholds,
      reference: { evaluationId: row.evaluation_id, uri: basis.uri, kind: basis.kind, features: basis.features },
      predictionBaseline: row.prediction_baseline ? (JSON.parse(row.prediction_baseline) as number[]).length : 0,
      createdBy: row.created_by,
      createdAt: row.created_at,
      windowStart: row.window_start,
      latest: latest ?? null,
    };
  }
}

export function windowView(row: Omit<WindowRow, "id"> & { id?: number }): MonitorWindowView {
  return {
    start: row.window_start,
    end: row.window_end,
    status: row.status as MonitorWindowView["status"],
    requests: Number(row.requests),
    errors: Number(row.errors),
    rowsSeen: Number(row.rows_seen),
    rowsKept: Number(row.rows_kept),
    rowsDropped: Number(row.rows_dropped),
    figures: JSON.parse(row.figures) as MonitorWindowView["figures"],
    breaches: JSON.parse(row.breaches) as MonitorWindowView["breaches"],
  };
}

function missing(id: string): PlatformError {
  return notFound(`monitor '${id}' does not exist; list monitors with \`paved monitors ls\``);
}
