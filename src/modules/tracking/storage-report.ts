import { sql, type Kysely } from "kysely";
import type { Tables } from "../../storage/index.ts";

/** What a team stores, by kind, in bytes; `pendingCollection` is what garbage collection frees next. */
export interface TeamStorage {
  team: string;
  /** Artifact files of the team's active runs. */
  runArtifacts: number;
  /** Metric points of the team's active runs, as stored (chunk bytes). */
  metricData: number;
  /** Files of registered model versions and logged models (blobs shared with runs are counted in each). */
  models: number;
  datasets: number;
  evaluationUploads: number;
  /** Workspace home folders (as last measured). */
  workspaces: number;
  /** Deleted runs not yet collected: their artifact files and metric data, and when the first of them is collected. */
  pendingCollection: { runs: number; artifactBytes: number; metricBytes: number; nextCollectionAt: string | null };
  /** Runs garbage-collected so far, and the bytes their collection freed. */
  collected: { runs: number; bytes: number };
  /** What the storage quota counts (guardrails' ledger): every run's artifacts (deleted ones until collected), models, datasets, uploads, homes. */
  quotaCounted: number;
}

/** Storage per team, read from the tables (the same sums guardrails' ledger makes, plus metric data and what is pending collection). */
export async function teamStorage(db: Kysely<Tables>, teams: string[], retentionMs: number): Promise<TeamStorage[]> {
  const out = new Map<string, TeamStorage>();
  for (const team of teams) {
    out.set(team, {
      team,
      runArtifacts: 0,
      metricData: 0,
      models: 0,
      datasets: 0,
      evaluationUploads: 0,
      workspaces: 0,
      pendingCollection: { runs: 0, artifactBytes: 0, metricBytes: 0, nextCollectionAt: null },
      collected: { runs: 0, bytes: 0 },
      quotaCounted: 0,
    });
  }
  if (!teams.length) return [];
  const at = (team: string) => out.get(team)!;
  const n = (v: unknown) => Number(v ?? 0);

  const artifacts = await db
    .selectFrom("artifacts as a")
    .innerJoin("runs as r", "r.run_id", "a.run_id")
    .innerJoin("experiments as e", "e.experiment_id", "r.experiment_id")
    .select(["e.team_id", "r.lifecycle_stage", (eb) => eb.fn.sum<number | string>("a.size").as("bytes")])
    .where("e.team_id", "in", teams)
    .groupBy(["e.team_id", "r.lifecycle_stage"])
    .execute();
  for (const r of artifacts) {
    if (r.lifecycle_stage === "deleted") at(r.team_id).pendingCollection.artifactBytes += n(r.bytes);
    else at(r.team_id).runArtifacts += n(r.bytes);
  }
  const metrics = await sql<{ team_id: string; lifecycle_stage: string; bytes: number | string | null }>`
    select e.team_id, r.lifecycle_stage, sum(length(m.points)) as bytes
      from metric_chunks m join runs r on r.run_id = m.run_id join experiments e on e.experiment_id = r.experiment_id
     where e.team_id in (${sql.join(teams)})
     group by e.team_id, r.lifecycle_stage`.execute(db);
  for (const r of metrics.rows) {
    if (r.lifecycle_stage === "deleted") at(r.team_id).pendingCollection.metricBytes += n(r.bytes);
    else at(r.team_id).metricData += n(r.bytes);
  }
  const pending = await db
    .selectFrom("runs as r")
    .innerJoin("experiments as e", "e.experiment_id", "r.experiment_id")
    .select(["e.team_id", (eb) => eb.fn.countAll<number | string>().as("runs"), (eb) => eb.fn.min("r.deleted_time").as("first")])
    .where("e.team_id", "in", teams)
    .where("r.lifecycle_stage", "=", "deleted")
    .groupBy("e.team_id")
    .execute();
  for (const r of pending) {
    at(r.team_id).pendingCollection.runs = n(r.runs);
    if (r.first !== null && r.first !== undefined) at(r.team_id).pendingCollection.nextCollectionAt = new Date(n(r.first) + retentionMs).toISOString();
  }
  const tombstones = await db
    .selectFrom("run_tombstones")
    .select(["team_id", (eb) => eb.fn.countAll<number | string>().as("runs"), (eb) => eb.fn.sum<number | string>("bytes_freed").as("bytes")])
    .where("team_id", "in", teams)
    .groupBy("team_id")
    .execute();
  for (const r of tombstones) at(r.team_id).collected = { runs: n(r.runs), bytes: n(r.bytes) };
  const versions = await db
    .selectFrom("model_version_files as f")
    .innerJoin("registered_models as m", "m.model_id", "f.model_id")
    .select(["m.team_id", (eb) => eb.fn.sum<number | string>("f.size").as("bytes")])
    .where("m.team_id", "in", teams)
    .groupBy("m.team_id")
    .execute();
  for (const r of versions) at(r.team_id).models += n(r.bytes);
  const logged = await db
    .selectFrom("logged_model_artifacts as a")
    .innerJoin("logged_models as m", "m.model_id", "a.model_id")
    .innerJoin("experiments as e", "e.experiment_id", "m.experiment_id")
    .select(["e.team_id", (eb) => eb.fn.sum<number | string>("a.size").as("bytes")])
    .where("e.team_id", "in", teams)
    .groupBy("e.team_id")
    .execute();
  for (const r of logged) at(r.team_id).models += n(r.bytes);
  const datasets = await db.selectFrom("dataset_blobs").select(["team_id", (eb) => eb.fn.sum<number | string>("size").as("bytes")]).where("team_id", "in", teams).groupBy("team_id").execute();
  for (const r of datasets) at(r.team_id).datasets += n(r.bytes);
  const uploads = await db.selectFrom("evaluation_uploads").select(["team_id", (eb) => eb.fn.sum<number | string>("size").as("bytes")]).where("team_id", "in", teams).groupBy("team_id").execute();
  for (const r of uploads) at(r.team_id).evaluationUploads += n(r.bytes);
  const homes = await db.selectFrom("workspaces").select(["team_id", (eb) => eb.fn.sum<number | string>("home_bytes").as("bytes")]).where("team_id", "in", teams).groupBy("team_id").execute();
  for (const r of homes) at(r.team_id).workspaces += n(r.bytes);
  for (const s of out.values()) {
    s.quotaCounted = s.runArtifacts + s.pendingCollection.artifactBytes + s.models + s.datasets + s.evaluationUploads + s.workspaces;
  }
  return [...out.values()];
}
