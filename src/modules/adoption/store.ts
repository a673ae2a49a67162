import { sql, type Insertable, type Kysely } from "kysely";
import { BOOTSTRAP_ADMIN_ID, type Database, type Tables } from "../../storage/index.ts";
import type { Milestone } from "./schema.ts";

export const DAY_MS = 86_400_000;

/** Where a person's activity is read from. */
export type ActivitySource = "run" | "job" | "workspace" | "version" | "evaluation" | "deployment" | "audit" | "session" | "token" | "feedback";

/** Activity of one actor on one team's resources (team null: sign-ins) in one 24-hour period counted back from the window's end. */
export interface ActivityRow {
  source: ActivitySource;
  who: string;
  team: string | null;
  /** 0 for the 24 hours before the window's end, 1 for the day before, … */
  bucket: number;
  n: number;
}

export interface Person {
  userId: string;
  name: string;
  createdAt: number;
  /** Came from single sign-on: the account was created at the first sign-in. */
  sso: boolean;
}

export interface ProductionRollout {
  id: string;
  model: string;
  version: string;
  team: string;
  createdBy: string;
  phase: string;
  /** When it reached its last phase: the time of its last history event (else its last update); null while it is in progress. */
  finishedAt: number | null;
}

export interface VersionOrigin {
  registeredBy: string;
  runId: string | null;
  runStart: number | null;
}

const TERMINAL = new Set(["Succeeded", "RolledBack", "Failed"]);
const IN_CHUNK = 500;

/**
 * Each source of activity: the table (with what gives it its team), who acted, and when. Identifiers
 * only, written here; every value from a request goes in as a parameter.
 */
const SOURCES: Record<ActivitySource, { from: string; who: string; team: string; time: string; where?: string }> = {
  run: { from: "runs join experiments on experiments.experiment_id = runs.experiment_id", who: "runs.user_id", team: "experiments.team_id", time: "runs.start_time" },
  // Workspace servers are jobs that record no run: they count as workspaces, not jobs.
  job: { from: "jobs", who: "jobs.owner", team: "jobs.team_id", time: "jobs.created_at", where: "jobs.run_id is not null" },
  workspace: { from: "workspaces", who: "workspaces.owner", team: "workspaces.team_id", time: "workspaces.created_at", where: "workspaces.owner_user_id is not null" },
  version: { from: "model_versions join registered_models on registered_models.model_id = model_versions.model_id", who: "model_versions.user_id", team: "registered_models.team_id", time: "model_versions.creation_time" },
  evaluation: { from: "evaluations", who: "evaluations.user_id", team: "evaluations.team_id", time: "evaluations.created_at" },
  deployment: { from: "deployments", who: "deployments.created_by", team: "deployments.team_id", time: "deployments.created_at" },
  audit: { from: "audit_events", who: "audit_events.actor", team: "audit_events.team", time: "audit_events.time", where: "audit_events.actor_kind = 'user'" },
  session: { from: "sessions join users on users.user_id = sessions.user_id", who: "users.name", team: "cast(null as text)", time: "sessions.created_at" },
  token: { from: "api_tokens join users on users.user_id = api_tokens.user_id", who: "users.name", team: "cast(null as text)", time: "api_tokens.created_at", where: "api_tokens.role = 'personal'" },
  feedback: { from: "feedback", who: "feedback.user_name", team: "feedback.team_id", time: "feedback.created_at" },
};

/**
 * Reads what the adoption figures are computed from: other modules' tables, read only (as
 * monitoring's scrape does), and the feedback table, the one this module writes.
 */
export class AdoptionStore {
  private readonly db: Kysely<Tables>;

  constructor(database: Database) {
    this.db = database.db;
  }

  /** People: user accounts (not service accounts, not the bootstrap admin). */
  async persons(): Promise<Person[]> {
    const rows = await this.db
      .selectFrom("users")
      .select(["user_id", "name", "created_at", "sso_subject"])
      .where("kind", "=", "user")
      .where("user_id", "!=", BOOTSTRAP_ADMIN_ID)
      .execute();
    return rows.map((r) => ({ userId: r.user_id, name: r.name, createdAt: Number(r.created_at), sso: r.sso_subject !== null }));
  }

  async teams(): Promise<string[]> {
    return (await this.db.selectFrom("teams").select("team_id").orderBy("team_id").execute()).map((r) => r.team_id);
  }

  async memberships(): Promise<{ userId: string; team: string }[]> {
    return (await this.db.selectFrom("team_members").select(["user_id", "team_id"]).execute()).map((r) => ({ userId: r.user_id, team: r.team_id }));
  }

  /** Activity in [since, until), grouped by source, actor, team and 24-hour period counted back from `until`. */
  async activity(since: number, until: number): Promise<ActivityRow[]> {
    const out: ActivityRow[] = [];
    for (const [source, s] of Object.entries(SOURCES) as [ActivitySource, (typeof SOURCES)[ActivitySource]][]) {
      const time = sql.raw(s.time);
      const { rows } = await sql<{ who: string | null; team: string | null; bucket: number | string; n: number | string }>`
        select ${sql.raw(s.who)} as who, ${sql.raw(s.team)} as team, cast((${sql.lit(until - 1)} - ${time}) / ${sql.lit(DAY_MS)} as integer) as bucket, count(*) as n
          from ${sql.raw(s.from)}
         where ${time} >= ${since} and ${time} < ${until}${s.where ? sql.raw(` and ${s.where}`) : sql``}
         group by 1, 2, 3`.execute(this.db);
      for (const r of rows) if (r.who !== null) out.push({ source, who: r.who, team: r.team, bucket: Number(r.bucket), n: Number(r.n) });
    }
    return out;
  }

  /** GPU-holding job attempts that ended after `since` and started before `until`. */
  async gpuAttempts(since: number, until: number): Promise<{ team: string; gpus: number; startedAt: number; endedAt: number }[]> {
    const rows = await this.db
      .selectFrom("job_attempts")
      .select(["team_id", "gpus", "started_at", "ended_at"])
      .where("gpus", ">", 0)
      .where("ended_at", ">", since)
      .where("started_at", "<", until)
      .execute();
    return rows.map((r) => ({ team: r.team_id, gpus: Number(r.gpus), startedAt: Number(r.started_at), endedAt: Number(r.ended_at) }));
  }

  /** Evaluations that passed in [since, until): who asked for them, and who registered the version. */
  async passedEvaluations(since: number, until: number): Promise<{ requestedBy: string; registeredBy: string | null }[]> {
    const rows = await this.db
      .selectFrom("evaluations")
      .leftJoin("model_versions", (j) => j.onRef("model_versions.model_id", "=", "evaluations.model_id").onRef("model_versions.version", "=", "evaluations.version"))
      .select(["evaluations.user_id", "model_versions.user_id as registered_by"])
      .where("evaluations.phase", "=", "Passed")
      .where("evaluations.finished_at", ">=", since)
      .where("evaluations.finished_at", "<", until)
      .execute();
    return rows.map((r) => ({ requestedBy: r.user_id, registeredBy: r.registered_by }));
  }

  /** Every rollout to production created before `until`, with when it finished. */
  async productionRollouts(until: number): Promise<ProductionRollout[]> {
    const rows = await this.db
      .selectFrom("deployments")
      .select(["id", "model_name", "team_id", "created_by", "phase", "spec", "status", "updated_at"])
      .where("environment", "=", "production")
      .where("created_at", "<", until)
      .orderBy("created_at")
      .execute();
    return rows.map((r) => {
      const version = String((JSON.parse(r.spec) as { version?: unknown }).version ?? "");
      let finishedAt: number | null = null;
      if (TERMINAL.has(r.phase)) {
        const history = (JSON.parse(r.status) as { history?: { time?: unknown }[] }).history ?? [];
        const last = history[history.length - 1]?.time;
        finishedAt = typeof last === "number" ? last : Number(r.updated_at);
      }
      return { id: r.id, model: r.model_name, version, team: r.team_id, createdBy: r.created_by, phase: r.phase, finishedAt };
    });
  }

  /** Who registered each version of these models, and the run each came from. Keyed `model\0version`. */
  async versionOrigins(models: string[]): Promise<Map<string, VersionOrigin>> {
    const out = new Map<string, VersionOrigin>();
    for (const names of chunks([...new Set(models)])) {
      const rows = await this.db
        .selectFrom("model_versions")
        .innerJoin("registered_models", "registered_models.model_id", "model_versions.model_id")
        .leftJoin("runs", "runs.run_id", "model_versions.run_id")
        .select(["registered_models.name", "model_versions.version", "model_versions.user_id", "model_versions.run_id", "runs.start_time"])
        .where("registered_models.name", "in", names)
        .execute();
      for (const r of rows) {
        out.set(`${r.name}\0${r.version}`, { registeredBy: r.user_id, runId: r.run_id, runStart: r.start_time === null ? null : Number(r.start_time) });
      }
    }
    return out;
  }

  /** Per user id: the first browser session and the first personal token still on record. */
  async firstSignIns(): Promise<Map<string, number>> {
    const out = new Map<string, number>();
    const keep = (userId: string | null, at: number | string | null) => {
      if (userId === null || at === null) return;
      const t = Number(at);
      out.set(userId, Math.min(out.get(userId) ?? Infinity, t));
    };
    const sessions = await this.db.selectFrom("sessions").select(["user_id", (eb) => eb.fn.min("created_at").as("first")]).groupBy("user_id").execute();
    for (const r of sessions) keep(r.user_id, r.first);
    const tokens = await this.db
      .selectFrom("api_tokens")
      .select(["user_id", (eb) => eb.fn.min("created_at").as("first")])
      .where("role", "=", "personal")
      .where("user_id", "is not", null)
      .groupBy("user_id")
      .execute();
    for (const r of tokens) keep(r.user_id, r.first);
    return out;
  }

  /** Each of these people's first tracked run started before `until`. */
  async firstRuns(names: string[], until: number): Promise<Map<string, number>> {
    const out = new Map<string, number>();
    for (const part of chunks(names)) {
      const rows = await this.db
        .selectFrom("runs")
        .select(["user_id", (eb) => eb.fn.min("start_time").as("first")])
        .where("user_id", "in", part)
        .where("start_time", "<", until)
        .groupBy("user_id")
        .execute();
      for (const r of rows) if (r.first !== null) out.set(r.user_id, Number(r.first));
    }
    return out;
  }

  /** Feedback in [since, until), counted by team and score. */
  async feedbackCounts(since: number, until: number): Promise<{ team: string | null; score: number; n: number }[]> {
    const rows = await this.db
      .selectFrom("feedback")
      .select(["team_id", "score", (eb) => eb.fn.countAll().as("n")])
      .where("created_at", ">=", since)
      .where("created_at", "<", until)
      .groupBy(["team_id", "score"])
      .execute();
    return rows.map((r) => ({ team: r.team_id, score: Number(r.score), n: Number(r.n) }));
  }

  /** The newest feedback in [since, until), at most `limit`. */
  async feedback(since: number, until: number, limit: number): Promise<Tables["feedback"][]> {
    return this.db.selectFrom("feedback").selectAll().where("created_at", ">=", since).where("created_at", "<", until).orderBy("created_at", "desc").orderBy("id").limit(limit).execute();
  }

  async feedbackSince(userId: string, since: number): Promise<number> {
    const row = await this.db.selectFrom("feedback").select((eb) => eb.fn.countAll().as("n")).where("user_id", "=", userId).where("created_at", ">=", since).executeTakeFirst();
    return Number(row?.n ?? 0);
  }

  /**
   * When a person first reached each milestone: their first tracked run, first registered model
   * version, first production rollout that succeeded (undefined when not yet).
   */
  async milestonesOf(name: string): Promise<Record<Milestone, number | undefined>> {
    const [run, version, production] = await Promise.all([
      this.db.selectFrom("runs").select((eb) => eb.fn.min("start_time").as("at")).where("user_id", "=", name).executeTakeFirst(),
      this.db.selectFrom("model_versions").select((eb) => eb.fn.min("creation_time").as("at")).where("user_id", "=", name).executeTakeFirst(),
      this.db
        .selectFrom("deployments")
        .select((eb) => eb.fn.min("updated_at").as("at"))
        .where("created_by", "=", name)
        .where("environment", "=", "production")
        .where("phase", "=", "Succeeded")
        .executeTakeFirst(),
    ]);
    const at = (row: { at: unknown } | undefined) => (row?.at === null || row?.at === undefined ? undefined : Number(row.at));
    return { "first-run": at(run), "first-registered-model": at(version), "first-production-deployment": at(production) };
  }

  /** The contexts a person has given feedback on (milestones among them). */
  async feedbackContextsOf(userId: string): Promise<Set<string>> {
    const rows = await this.db.selectFrom("feedback").select("context").distinct().where("user_id", "=", userId).where("context", "is not", null).execute();
    return new Set(rows.map((r) => r.context!));
  }

  async addFeedback(row: Insertable<Tables["feedback"]>): Promise<void> {
    await this.db.insertInto("feedback").values(row).execute();
  }
}

function chunks<T>(items: T[]): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += IN_CHUNK) out.push(items.slice(i, i + IN_CHUNK));
  return out;
}
