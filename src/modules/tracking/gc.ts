import { sql, type Kysely } from "kysely";
import type { ArtifactStore } from "../../artifacts/index.ts";
import { ReconcileLoop, type Clock, type Logger } from "../../core/index.ts";
import type { Database, Tables } from "../../storage/index.ts";

const DAY_MS = 86_400_000;
/** Runs collected per page of candidates, and digests looked up per query. */
const PAGE = 200;
const IN_LIST = 500;
/** Kept blobs listed by name in a report (the count and bytes cover them all). */
const KEPT_LISTED = 100;

/**
 * Every table that names a blob of the artifact store by digest, and what a reference there means.
 * A blob is removed only when none of them names it. `gc.test.ts` checks that every `digest`
 * column of the schema is here or in NOT_BLOBS.
 */
export const BLOB_REFERENCES = [
  { table: "artifacts", column: "digest", why: "another run's artifact" },
  { table: "model_version_files", column: "digest", why: "a registered model version's file" },
  { table: "logged_model_artifacts", column: "digest", why: "a logged model's file" },
  { table: "dataset_files", column: "digest", why: "a dataset version's file" },
  { table: "dataset_blobs", column: "digest", why: "a team's dataset blob" },
  { table: "evaluation_uploads", column: "digest", why: "an evaluation upload" },
  { table: "monitor_samples", column: "digest", why: "a monitor's sampled traffic" },
  { table: "evaluations", column: "data_digest", why: "an evaluation's data" },
] as const;

/** Digest columns that do not name a blob of the store (a digest over several files, a client's dataset digest). */
export const NOT_BLOBS = ["dataset_versions.digest", "dataset_inputs.digest", "gc_blobs.digest"] as const;

/** The tables that hang off a run by `run_id` and go with it. */
const RUN_TABLES = ["metric_chunks", "latest_metrics", "params", "tags", "dataset_inputs", "artifacts", "run_outputs"] as const;

export interface GcOptions {
  dryRun: boolean;
  /** Collect runs deleted at least this long ago (default: `tracking.retentionDays`). */
  olderThanMs?: number | undefined;
}

export interface GcTotals {
  runs: number;
  metricChunks: number;
  metricPoints: number;
  metricBytes: number;
  artifactFiles: number;
  artifactBytes: number;
  blobsRemoved: number;
  blobBytesRemoved: number;
}

export interface GcTeamTotals extends GcTotals {
  team: string;
}

export interface KeptBlob {
  digest: string;
  size: number;
  reason: string;
}

export interface GcReport extends GcTotals {
  dryRun: boolean;
  olderThanMs: number;
  /** Runs deleted at or before this time were collected. */
  cutoff: string;
  at: string;
  /** Rows of params, tags and dataset inputs removed with the runs. */
  params: number;
  tags: number;
  datasetInputs: number;
  /** What comes back: metric chunk bytes plus the bytes of the blobs removed from the artifact store. */
  bytesFreed: number;
  /** Blobs nothing references any more but kept: still referenced elsewhere, too recent, or a store that cannot delete. */
  blobsKept: number;
  blobBytesKept: number;
  kept: KeptBlob[];
  /** Candidates left alone: restored (or deleted again) between the listing and their transaction. */
  skipped: { runId: string; reason: string }[];
  teams: GcTeamTotals[];
}

export interface RunCollectorDeps {
  database: Database;
  artifacts: ArtifactStore;
  clock: Clock;
  logger: Logger;
  retentionDays: number;
  /** A blob written this recently is kept (an upload of the same bytes may be about to name it). */
  minBlobAgeMs: number;
}

interface RunCounts {
  team: string;
  metricChunks: number;
  metricPoints: number;
  metricBytes: number;
  artifactFiles: number;
  artifactBytes: number;
  params: number;
  tags: number;
  datasetInputs: number;
  blobs: Map<string, number>;
}

/**
 * Garbage collection of deleted runs, as `mlflow gc` does it: a run deleted more than the retention
 * period ago (or deleted with its experiment) loses its rows in every table that hangs off it and
 * leaves a tombstone; then the blobs nothing references any more leave the artifact store. Each run
 * goes in its own transaction, which re-reads it (locked, on PostgreSQL) and leaves it alone unless
 * it is still deleted and past the cutoff. Blobs are removed only after the commit, through the
 * `gc_blobs` queue, so a crash between leaves files the next pass removes, never rows without files.
 */
export class RunCollector {
  /** Grows with each pass that removed something: what storage reports made before it are stale. */
  collections = 0;

  constructor(private readonly deps: RunCollectorDeps) {}

  private get db(): Kysely<Tables> {
    return this.deps.database.db;
  }

  async collect(options: GcOptions): Promise<GcReport> {
    const now = this.deps.clock.now();
    const olderThanMs = options.olderThanMs ?? this.deps.retentionDays * DAY_MS;
    const cutoff = now - olderThanMs;
    const report = emptyReport(options.dryRun, olderThanMs, cutoff, now);
    const teams = new Map<string, GcTeamTotals>();
    const team = (name: string) => {
      let t = teams.get(name);
      if (!t) teams.set(name, (t = { team: name, ...zeroTotals() }));
      return t;
    };
    const freed = new Map<string, { size: number; team: string }>();
    let after = "";
    for (;;) {
      const page = await this.db
        .selectFrom("runs")
        .select("run_id")
        .where("lifecycle_stage", "=", "deleted")
        .where("deleted_time", "<=", cutoff)
        .where("run_id", ">", after)
        .orderBy("run_id")
        .limit(PAGE)
        .execute();
      if (!page.length) break;
      after = page.at(-1)!.run_id;
      for (const { run_id: runId } of page) {
        const counts = options.dryRun ? await this.count(this.db, runId) : await this.collectRun(runId, cutoff, now);
        if (typeof counts === "string") {
          report.skipped.push({ runId, reason: counts });
          continue;
        }
        add(report, counts);
        add(team(counts.team), counts);
        report.params += counts.params;
        report.tags += counts.tags;
        report.datasetInputs += counts.datasetInputs;
        for (const [digest, size] of counts.blobs) if (!freed.has(digest)) freed.set(digest, { size, team: counts.team });
      }
      if (page.length < PAGE) break;
    }
    // A dry run judges the blobs of the runs it would collect (their own rows do not count as
    // references); a real pass judges what its commits queued, and what an earlier pass left queued.
    const queued = await this.db.selectFrom("gc_blobs").select(["digest", "size", "team_id"]).execute();
    for (const q of queued) if (!freed.has(q.digest)) freed.set(q.digest, { size: Number(q.size), team: q.team_id });
    for (const [digest, { size, team: owner }] of freed) {
      const reason = await this.referencedBy(digest, options.dryRun ? cutoff : undefined);
      let verdict: "removed" | "kept" = "kept";
      let why = reason;
      if (!reason) {
        if (!this.deps.artifacts.remove) why = `the ${this.deps.artifacts.kind} artifact store cannot delete`;
        else if (options.dryRun) verdict = "removed";
        else {
          const outcome = await this.deps.artifacts.remove(digest, { minAgeMs: this.deps.minBlobAgeMs });
          if (outcome === "recent") why = "written too recently (an upload of the same bytes may be naming it); a later pass removes it";
          else verdict = "removed";
        }
      }
      if (verdict === "removed") {
        report.blobsRemoved++;
        report.blobBytesRemoved += size;
        team(owner).blobsRemoved++;
        team(owner).blobBytesRemoved += size;
      } else {
        report.blobsKept++;
        report.blobBytesKept += size;
        if (report.kept.length < KEPT_LISTED) report.kept.push({ digest, size, reason: why! });
      }
      // Judged: a referenced blob is someone else's now, a removed one is gone; a recent one stays queued.
      if (!options.dryRun && !(verdict === "kept" && !reason && this.deps.artifacts.remove)) {
        await this.db.deleteFrom("gc_blobs").where("digest", "=", digest).execute();
      }
    }
    report.teams = [...teams.values()].sort((a, b) => a.team.localeCompare(b.team));
    report.bytesFreed = report.metricBytes + report.blobBytesRemoved;
    if (!options.dryRun && (report.runs || report.blobsRemoved)) {
      this.collections++;
      this.deps.logger.info({ runs: report.runs, metricBytes: report.metricBytes, blobsRemoved: report.blobsRemoved, blobBytes: report.blobBytesRemoved }, "garbage collection removed deleted runs");
    }
    return report;
  }

  /** One run, in one transaction: re-checked, counted, removed, tombstoned, its blobs queued. A string says why it was left alone. */
  private async collectRun(runId: string, cutoff: number, now: number): Promise<RunCounts | string> {
    return this.db.transaction().execute(async (trx) => {
      const query = trx.selectFrom("runs").select(["run_id", "experiment_id", "run_name", "lifecycle_stage", "deleted_time"]).where("run_id", "=", runId);
      // Locked: a log-batch holding its share lock commits first (the run was active then, so this
      // finds it restored and leaves it), and one arriving later waits, then finds no run.
      const run = await (this.deps.database.dialect === "postgres" ? query.forUpdate() : query).executeTakeFirst();
      if (!run) return "collected already";
      if (run.lifecycle_stage !== "deleted" || run.deleted_time === null) return "restored since the pass began";
      if (run.deleted_time > cutoff) return "deleted again since the pass began (the retention period counts from then)";
      const counts = await this.count(trx, runId);
      for (const table of RUN_TABLES) await trx.deleteFrom(table).where("run_id", "=", runId).execute();
      await trx.deleteFrom("runs").where("run_id", "=", runId).execute();
      await trx
        .insertInto("run_tombstones")
        .values({
          run_id: runId,
          experiment_id: run.experiment_id,
          team_id: counts.team,
          run_name: run.run_name,
          deleted_time: run.deleted_time,
          collected_at: now,
          bytes_freed: counts.metricBytes + counts.artifactBytes,
          metric_points: counts.metricPoints,
          artifact_files: counts.artifactFiles,
        })
        .execute();
      const blobs = [...counts.blobs];
      for (let i = 0; i < blobs.length; i += IN_LIST) {
        await trx
          .insertInto("gc_blobs")
          .values(blobs.slice(i, i + IN_LIST).map(([digest, size]) => ({ digest, size, team_id: counts.team, queued_at: now })))
          .onConflict((oc) => oc.column("digest").doNothing())
          .execute();
      }
      return counts;
    });
  }

  /** What collecting the run removes. */
  private async count(db: Kysely<Tables>, runId: string): Promise<RunCounts> {
    const owner = await db
      .selectFrom("runs")
      .innerJoin("experiments", "experiments.experiment_id", "runs.experiment_id")
      .select("experiments.team_id")
      .where("runs.run_id", "=", runId)
      .executeTakeFirst();
    const chunks = await sql<{ chunks: number | string; points: number | string | null; bytes: number | string | null }>`
      select count(*) as chunks, sum(count) as points, sum(length(points)) as bytes from metric_chunks where run_id = ${runId}`.execute(db);
    const files = await db.selectFrom("artifacts").select(["digest", "size"]).where("run_id", "=", runId).execute();
    const rows = async (table: "params" | "tags" | "dataset_inputs") =>
      Number((await db.selectFrom(table).select((eb) => eb.fn.countAll<number | string>().as("n")).where("run_id", "=", runId).executeTakeFirstOrThrow()).n);
    const c = chunks.rows[0]!;
    const blobs = new Map<string, number>();
    for (const f of files) blobs.set(f.digest, Number(f.size));
    return {
      team: owner?.team_id ?? "default",
      metricChunks: Number(c.chunks),
      metricPoints: Number(c.points ?? 0),
      metricBytes: Number(c.bytes ?? 0),
      artifactFiles: files.length,
      artifactBytes: files.reduce((n, f) => n + Number(f.size), 0),
      params: await rows("params"),
      tags: await rows("tags"),
      datasetInputs: await rows("dataset_inputs"),
      blobs,
    };
  }

  /**
   * Why a blob must stay (what still names it), or undefined. `dryRunCutoff`: the artifacts of runs
   * a real pass would collect (deleted by then) do not count, as they would be gone.
   */
  private async referencedBy(digest: string, dryRunCutoff: number | undefined): Promise<string | undefined> {
    for (const ref of BLOB_REFERENCES) {
      if (ref.table === "artifacts" && dryRunCutoff !== undefined) {
        const other = await this.db
          .selectFrom("artifacts")
          .innerJoin("runs", "runs.run_id", "artifacts.run_id")
          .select("artifacts.run_id")
          .where("artifacts.digest", "=", digest)
          .where((eb) => eb.or([eb("runs.lifecycle_stage", "!=", "deleted"), eb("runs.deleted_time", "is", null), eb("runs.deleted_time", ">", dryRunCutoff)]))
          .limit(1)
          .executeTakeFirst();
        if (other) return `named by ${ref.why}`;
        continue;
      }
      const found = await sql<{ one: number }>`select 1 as one from ${sql.table(ref.table)} where ${sql.ref(ref.column)} = ${digest} limit 1`.execute(this.db);
      if (found.rows.length) return `named by ${ref.why}`;
    }
    return undefined;
  }
}

/** Runs the collector every `intervalMs` while this replica leads (a controller in app.ts's list). */
export function gcController(collector: RunCollector, options: { intervalMs: number; logger: Logger }): { start(): void; stop(): Promise<void> } {
  const loop = new ReconcileLoop(async () => void (await collector.collect({ dryRun: false })), {
    intervalMs: options.intervalMs,
    onError: (error) => options.logger.error({ err: error }, "garbage collection of deleted runs failed; the next pass tries again"),
  });
  return {
    start: () => {
      if (options.intervalMs > 0) loop.start();
    },
    stop: () => loop.stop(),
  };
}

function zeroTotals(): GcTotals {
  return { runs: 0, metricChunks: 0, metricPoints: 0, metricBytes: 0, artifactFiles: 0, artifactBytes: 0, blobsRemoved: 0, blobBytesRemoved: 0 };
}

function emptyReport(dryRun: boolean, olderThanMs: number, cutoff: number, now: number): GcReport {
  return {
    dryRun,
    olderThanMs,
    cutoff: new Date(cutoff).toISOString(),
    at: new Date(now).toISOString(),
    ...zeroTotals(),
    params: 0,
    tags: 0,
    datasetInputs: 0,
    bytesFreed: 0,
    blobsKept: 0,
    blobBytesKept: 0,
    kept: [],
    skipped: [],
    teams: [],
  };
}

function add(to: GcTotals, counts: RunCounts): void {
  to.runs++;
  to.metricChunks += counts.metricChunks;
  to.metricPoints += counts.metricPoints;
  to.metricBytes += counts.metricBytes;
  to.artifactFiles += counts.artifactFiles;
  to.artifactBytes += counts.artifactBytes;
}
