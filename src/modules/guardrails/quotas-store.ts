import type { Kysely } from "kysely";
import type { Tables } from "../../storage/index.ts";
import type { QuotaSettings } from "./quotas-schema.ts";

export interface StoredQuota {
  team: string;
  settings: QuotaSettings;
  updatedBy: string;
  updatedAt: number;
}

/** A team's GPU time this month: the total, and each job's part of it. */
export interface GpuHours {
  hours: number;
  byJob: { jobId: string; name: string; hours: number }[];
}

/** What one team's stored files take, by kind (logical bytes: a file stored twice counts twice). */
export interface StorageUse {
  runArtifacts: number;
  loggedModels: number;
  modelVersions: number;
  evaluationUploads: number;
  /** Files of the team's datasets (each blob once). */
  datasets: number;
  /** Workspaces' home folders (as last measured), each. */
  workspaces: { id: string; name: string; bytes: number }[];
}

/** A job holding resources now, as the ledger reads it from the jobs table. */
export interface HeldByJob {
  jobId: string;
  name: string;
  team: string;
  priority: number;
  gpus: number[];
  cpus: number;
  memoryMiB: number;
  attemptStartedAt: number | null;
}

const HOUR_MS = 3_600_000;

/**
 * The ledger's reads and the quota settings' writes. Usage is never kept in a counter: it is read
 * from the rows that are the usage (jobs holding resources, ended attempts, stored files), so
 * it cannot drift from what the platform really holds, and a restart changes nothing.
 */
export class QuotaStore {
  constructor(private readonly db: Kysely<Tables>) {}

  async get(team: string): Promise<StoredQuota | undefined> {
    const row = await this.db.selectFrom("team_quotas").selectAll().where("team_id", "=", team).executeTakeFirst();
    return row && toStored(row);
  }

  /** The stored quotas of these teams (every team's without a list). */
  async list(teams?: readonly string[]): Promise<StoredQuota[]> {
    if (teams?.length === 0) return [];
    let q = this.db.selectFrom("team_quotas").selectAll();
    if (teams) q = q.where("team_id", "in", [...teams]);
    return (await q.orderBy("team_id").execute()).map(toStored);
  }

  /** Replaces a team's settings (one row per team, written whole). */
  async put(quota: StoredQuota): Promise<void> {
    const row = { team_id: quota.team, limits: JSON.stringify(quota.settings), updated_by: quota.updatedBy, updated_at: quota.updatedAt };
    await this.db
      .insertInto("team_quotas")
      .values(row)
      .onConflict((oc) => oc.column("team_id").doUpdateSet({ limits: row.limits, updated_by: row.updated_by, updated_at: row.updated_at }))
      .execute();
  }

  async teamExists(team: string): Promise<boolean> {
    return (await this.db.selectFrom("teams").select("team_id").where("team_id", "=", team).executeTakeFirst()) !== undefined;
  }

  async teams(): Promise<string[]> {
    return (await this.db.selectFrom("teams").select("team_id").orderBy("team_id").execute()).map((r) => r.team_id);
  }

  /** Jobs holding resources (STARTING or RUNNING with an allocation), of these teams or all. */
  async heldByJobs(teams?: readonly string[]): Promise<HeldByJob[]> {
    if (teams?.length === 0) return [];
    let q = this.db
      .selectFrom("jobs")
      .select(["job_id", "name", "team_id", "priority", "allocation", "attempt_started_at"])
      .where("phase", "in", ["STARTING", "RUNNING"])
      .where("allocation", "is not", null);
    if (teams) q = q.where("team_id", "in", [...teams]);
    const rows = await q.orderBy("created_at").orderBy("job_id").execute();
    return rows.map((r) => {
      const a = JSON.parse(r.allocation!) as { gpus: number[]; cpus: number; memoryMiB: number };
      return {
        jobId: r.job_id,
        name: r.name,
        team: r.team_id,
        priority: Number(r.priority),
        gpus: a.gpus,
        cpus: a.cpus,
        memoryMiB: a.memoryMiB,
        attemptStartedAt: r.attempt_started_at === null ? null : Number(r.attempt_started_at),
      };
    });
  }

  /**
   * GPU-hours since `since` per team: every ended attempt's GPUs × its time after `since`, plus
   * the running attempts' up to `now`.
   */
  async gpuHours(since: number, now: number, teams?: readonly string[]): Promise<Map<string, GpuHours>> {
    const out = new Map<string, GpuHours>();
    if (teams?.length === 0) return out;
    const add = (team: string, jobId: string, name: string, gpus: number, start: number, end: number) => {
      const ms = Math.max(0, end - Math.max(start, since));
      if (gpus === 0 || ms === 0) return;
      const hours = (gpus * ms) / HOUR_MS;
      let entry = out.get(team);
      if (!entry) out.set(team, (entry = { hours: 0, byJob: [] }));
      entry.hours += hours;
      const job = entry.byJob.find((j) => j.jobId === jobId);
      if (job) job.hours += hours;
      else entry.byJob.push({ jobId, name, hours });
    };
    let ended = this.db
      .selectFrom("job_attempts as a")
      .innerJoin("jobs as j", "j.job_id", "a.job_id")
      .select(["a.job_id", "j.name", "a.team_id", "a.gpus", "a.started_at", "a.ended_at"])
      .where("a.ended_at", ">", since)
      .where("a.gpus", ">", 0);
    if (teams) ended = ended.where("a.team_id", "in", [...teams]);
    for (const r of await ended.orderBy("a.started_at").execute()) add(r.team_id, r.job_id, r.name, Number(r.gpus), Number(r.started_at), Number(r.ended_at));
    for (const j of await this.heldByJobs(teams)) {
      if (j.attemptStartedAt !== null) add(j.team, j.jobId, j.name, j.gpus.length, j.attemptStartedAt, now);
    }
    for (const entry of out.values()) entry.byJob.sort((a, b) => b.hours - a.hours || a.jobId.localeCompare(b.jobId));
    return out;
  }

  /** Bytes each team's stored files take, by kind (teams with none are absent). */
  async storage(teams?: readonly string[]): Promise<Map<string, StorageUse>> {
    const out = new Map<string, StorageUse>();
    if (teams?.length === 0) return out;
    const entry = (team: string) => {
      let e = out.get(team);
      if (!e) out.set(team, (e = { runArtifacts: 0, loggedModels: 0, modelVersions: 0, evaluationUploads: 0, datasets: 0, workspaces: [] }));
      return e;
    };
    const only = teams ? [...teams] : undefined;
    let artifacts = this.db
      .selectFrom("artifacts as a")
      .innerJoin("runs as r", "r.run_id", "a.run_id")
      .innerJoin("experiments as e", "e.experiment_id", "r.experiment_id")
      .select(["e.team_id", (eb) => eb.fn.sum<number | string>("a.size").as("bytes")])
      .groupBy("e.team_id");
    if (only) artifacts = artifacts.where("e.team_id", "in", only);
    for (const r of await artifacts.execute()) entry(r.team_id).runArtifacts += Number(r.bytes ?? 0);
    let logged = this.db
      .selectFrom("logged_model_artifacts as a")
      .innerJoin("logged_models as m", "m.model_id", "a.model_id")
      .innerJoin("experiments as e", "e.experiment_id", "m.experiment_id")
      .select(["e.team_id", (eb) => eb.fn.sum<number | string>("a.size").as("bytes")])
      .groupBy("e.team_id");
    if (only) logged = logged.where("e.team_id", "in", only);
    for (const r of await logged.execute()) entry(r.team_id).loggedModels += Number(r.bytes ?? 0);
    let versions = this.db
      .selectFrom("model_version_files as f")
      .innerJoin("registered_models as m", "m.model_id", "f.model_id")
      .select(["m.team_id", (eb) => eb.fn.sum<number | string>("f.size").as("bytes")])
      .groupBy("m.team_id");
    if (only) versions = versions.where("m.team_id", "in", only);
    for (const r of await versions.execute()) entry(r.team_id).modelVersions += Number(r.bytes ?? 0);
    let uploads = this.db
      .selectFrom("evaluation_uploads")
      .select(["team_id", (eb) => eb.fn.sum<number | string>("size").as("bytes")])
      .groupBy("team_id");
    if (only) uploads = uploads.where("team_id", "in", only);
    for (const r of await uploads.execute()) entry(r.team_id).evaluationUploads += Number(r.bytes ?? 0);
    let datasetBlobs = this.db
      .selectFrom("dataset_blobs")
      .select(["team_id", (eb) => eb.fn.sum<number | string>("size").as("bytes")])
      .groupBy("team_id");
    if (only) datasetBlobs = datasetBlobs.where("team_id", "in", only);
    for (const r of await datasetBlobs.execute()) entry(r.team_id).datasets += Number(r.bytes ?? 0);
    let homes = this.db.selectFrom("workspaces").select(["team_id", "workspace_id", "name", "home_bytes"]).where("home_bytes", ">", 0).orderBy("workspace_id");
    if (only) homes = homes.where("team_id", "in", only);
    for (const r of await homes.execute()) entry(r.team_id).workspaces.push({ id: r.workspace_id, name: r.name, bytes: Number(r.home_bytes) });
    return out;
  }
}

function toStored(row: { team_id: string; limits: string; updated_by: string; updated_at: number }): StoredQuota {
  return { team: row.team_id, settings: JSON.parse(row.limits) as QuotaSettings, updatedBy: row.updated_by, updatedAt: Number(row.updated_at) };
}
