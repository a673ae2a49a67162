import { sql, type Kysely } from "kysely";
import type { Tables } from "../../storage/index.ts";

/** A stretch of time a job held resources (one attempt, or the part of one until now). */
export interface JobInterval {
  jobId: string;
  name: string;
  team: string;
  owner: string;
  /** The profile and GPU type it asked for (its price depends on them). */
  profile: string | null;
  gpuType: string | null;
  gpus: number;
  cpus: number;
  memoryMiB: number;
  start: number;
  end: number;
}

/** What serving's replicas and requests of one (team, model, environment, deployment) added up to in a month. */
export interface ServingUsage {
  team: string;
  model: string;
  environment: string;
  deploymentId: string;
  /** Who created the deployment ('' for versions loaded by hand). */
  createdBy: string;
  replicaMs: number;
  requests: number;
}

/** Stored bytes × milliseconds held in a window, per team and the user who stored them. */
export interface StorageUsage {
  team: string;
  user: string;
  byteMs: number;
}

const ACTIVE = ["STARTING", "RUNNING"];
const TERMINAL = ["SUCCEEDED", "FAILED", "CANCELLED"];

interface RequestJson {
  profile?: string | null;
  gpuType?: string | null;
  gpus?: number;
  cpus?: number;
  memoryMiB?: number;
}

/**
 * The reads costs are figured from, all of them rows that are the usage: each ended attempt
 * (job_attempts, with what it held and when), the attempts running now (jobs), serving's metered
 * usage, and stored files with when they were stored. Nothing is counted in memory but serving's
 * replicas between two meter ticks.
 */
export class CostStore {
  constructor(private readonly db: Kysely<Tables>) {}

  /** Every stretch of time a job of these teams (all without a list) held resources that overlaps [from, to). */
  async jobIntervals(from: number, to: number, teams?: readonly string[]): Promise<JobInterval[]> {
    if (teams?.length === 0) return [];
    const only = teams ? [...teams] : undefined;
    const out: JobInterval[] = [];
    let ended = this.db
      .selectFrom("job_attempts as a")
      .innerJoin("jobs as j", "j.job_id", "a.job_id")
      .select(["a.job_id", "a.team_id", "a.gpus", "a.cpus", "a.memory_mib", "a.started_at", "a.ended_at", "j.name", "j.owner", "j.request"])
      .where("a.ended_at", ">", from)
      .where("a.started_at", "<", to);
    if (only) ended = ended.where("a.team_id", "in", only);
    for (const r of await ended.execute()) {
      const request = JSON.parse(r.request) as RequestJson;
      out.push({
        jobId: r.job_id,
        name: r.name,
        team: r.team_id,
        owner: r.owner,
        profile: request.profile ?? null,
        gpuType: request.gpuType ?? null,
        gpus: Number(r.gpus),
        cpus: Number(r.cpus),
        memoryMiB: Number(r.memory_mib),
        start: Number(r.started_at),
        end: Number(r.ended_at),
      });
    }
    // Attempts holding resources now: until `to` (now, for this month).
    let running = this.db
      .selectFrom("jobs")
      .select(["job_id", "team_id", "name", "owner", "request", "allocation", "attempt_started_at"])
      .where("phase", "in", ACTIVE)
      .where("allocation", "is not", null)
      .where("attempt_started_at", "<", to);
    if (only) running = running.where("team_id", "in", only);
    for (const r of await running.execute()) {
      const request = JSON.parse(r.request) as RequestJson;
      const held = JSON.parse(r.allocation!) as { gpus: number[]; cpus: number; memoryMiB: number };
      out.push({
        jobId: r.job_id,
        name: r.name,
        team: r.team_id,
        owner: r.owner,
        profile: request.profile ?? null,
        gpuType: request.gpuType ?? null,
        gpus: held.gpus.length,
        cpus: held.cpus,
        memoryMiB: held.memoryMiB,
        start: Number(r.attempt_started_at),
        end: to,
      });
    }
    // Jobs that ended before attempts were kept (data dirs from before 014): first start to end, at what they asked for.
    let legacy = this.db
      .selectFrom("jobs as j")
      .select(["j.job_id", "j.team_id", "j.name", "j.owner", "j.request", "j.started_at", "j.finished_at"])
      .where("j.phase", "in", TERMINAL)
      .where("j.started_at", "is not", null)
      .where("j.started_at", "<", to)
      .where("j.finished_at", ">", from)
      .where((eb) => eb.not(eb.exists(eb.selectFrom("job_attempts as a").select("a.job_id").whereRef("a.job_id", "=", "j.job_id"))));
    if (only) legacy = legacy.where("j.team_id", "in", only);
    for (const r of await legacy.execute()) {
      const request = JSON.parse(r.request) as RequestJson;
      out.push({
        jobId: r.job_id,
        name: r.name,
        team: r.team_id,
        owner: r.owner,
        profile: request.profile ?? null,
        gpuType: request.gpuType ?? null,
        gpus: request.gpus ?? 0,
        cpus: request.cpus ?? 0,
        memoryMiB: request.memoryMiB ?? 0,
        start: Number(r.started_at),
        end: Number(r.finished_at),
      });
    }
    return out;
  }

  /** Serving usage of a month, of these teams (all without a list). */
  async servingUsage(month: string, teams?: readonly string[]): Promise<ServingUsage[]> {
    if (teams?.length === 0) return [];
    let q = this.db
      .selectFrom("serving_usage as u")
      .leftJoin("deployments as d", "d.id", "u.deployment_id")
      .select(["u.team_id", "u.model_name", "u.environment", "u.deployment_id", "u.replica_ms", "u.requests", "d.created_by"])
      .where("u.month", "=", month);
    if (teams) q = q.where("u.team_id", "in", [...teams]);
    return (await q.execute()).map((r) => ({
      team: r.team_id,
      model: r.model_name,
      environment: r.environment,
      deploymentId: r.deployment_id,
      createdBy: r.created_by ?? "",
      replicaMs: Number(r.replica_ms),
      requests: Number(r.requests),
    }));
  }

  /** Adds metered serving usage to its month's row (made on first use). */
  async addServingUsage(row: { month: string; team: string; model: string; environment: string; deploymentId: string; replicaMs: number; requests: number; now: number }): Promise<void> {
    await this.db
      .insertInto("serving_usage")
      .values({
        month: row.month,
        team_id: row.team,
        model_name: row.model,
        environment: row.environment,
        deployment_id: row.deploymentId,
        replica_ms: row.replicaMs,
        requests: row.requests,
        updated_at: row.now,
      })
      .onConflict((oc) =>
        oc.columns(["month", "team_id", "model_name", "environment", "deployment_id"]).doUpdateSet((eb) => ({
          replica_ms: eb(eb.ref("serving_usage.replica_ms"), "+", eb.ref("excluded.replica_ms")),
          requests: eb(eb.ref("serving_usage.requests"), "+", eb.ref("excluded.requests")),
          updated_at: eb.ref("excluded.updated_at"),
        })),
      )
      .execute();
  }

  /** The newest deployment of a model to an environment ('' when there is none): what its serving is charged to. */
  async currentDeployment(model: string, environment: string): Promise<string> {
    const row = await this.db
      .selectFrom("deployments")
      .select("id")
      .where("model_name", "=", model)
      .where("environment", "=", environment)
      .orderBy("created_at", "desc")
      .orderBy("id", "desc")
      .limit(1)
      .executeTakeFirst();
    return row?.id ?? "";
  }

  /**
   * Bytes × milliseconds each team's (and user's) stored files were held in [from, to): run
   * artifacts, logged models' files, model version files and evaluation uploads, each from when it
   * was stored. Logical bytes: a file stored twice counts twice.
   */
  async storageUsage(from: number, to: number, teams?: readonly string[]): Promise<StorageUsage[]> {
    if (teams?.length === 0) return [];
    const only = teams ? [...teams] : undefined;
    // In floating point: bytes × ms passes 2^63 for a terabyte held a month.
    const held = (size: string, stored: string) =>
      sql<number | string>`sum(1.0 * ${sql.ref(size)} * (${to} - case when ${sql.ref(stored)} > ${from} then ${sql.ref(stored)} else ${from} end))`;
    const out: StorageUsage[] = [];
    const add = (rows: { team_id: string; user_id: string; byte_ms: number | string | null }[]) => {
      for (const r of rows) out.push({ team: r.team_id, user: r.user_id, byteMs: Number(r.byte_ms ?? 0) });
    };
    let runs = this.db
      .selectFrom("artifacts as a")
      .innerJoin("runs as r", "r.run_id", "a.run_id")
      .innerJoin("experiments as e", "e.experiment_id", "r.experiment_id")
      .select(["e.team_id", "r.user_id", held("a.size", "a.created_at").as("byte_ms")])
      .where("a.created_at", "<", to)
      .groupBy(["e.team_id", "r.user_id"]);
    if (only) runs = runs.where("e.team_id", "in", only);
    add(await runs.execute());
    let logged = this.db
      .selectFrom("logged_model_artifacts as a")
      .innerJoin("logged_models as m", "m.model_id", "a.model_id")
      .innerJoin("experiments as e", "e.experiment_id", "m.experiment_id")
      .select(["e.team_id", "m.user_id", held("a.size", "a.created_at").as("byte_ms")])
      .where("a.created_at", "<", to)
      .groupBy(["e.team_id", "m.user_id"]);
    if (only) logged = logged.where("e.team_id", "in", only);
    add(await logged.execute());
    let versions = this.db
      .selectFrom("model_version_files as f")
      .innerJoin("model_versions as v", (j) => j.onRef("v.model_id", "=", "f.model_id").onRef("v.version", "=", "f.version"))
      .innerJoin("registered_models as m", "m.model_id", "f.model_id")
      .select(["m.team_id", "v.user_id", held("f.size", "v.creation_time").as("byte_ms")])
      .where("v.creation_time", "<", to)
      .groupBy(["m.team_id", "v.user_id"]);
    if (only) versions = versions.where("m.team_id", "in", only);
    add(await versions.execute());
    let uploads = this.db
      .selectFrom("evaluation_uploads as u")
      .select(["u.team_id", "u.user_id", held("u.size", "u.created_at").as("byte_ms")])
      .where("u.created_at", "<", to)
      .groupBy(["u.team_id", "u.user_id"]);
    if (only) uploads = uploads.where("u.team_id", "in", only);
    add(await uploads.execute());
    return out;
  }

  async teamExists(team: string): Promise<boolean> {
    return (await this.db.selectFrom("teams").select("team_id").where("team_id", "=", team).executeTakeFirst()) !== undefined;
  }
}
