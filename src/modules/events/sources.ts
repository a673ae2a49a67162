import type { Kysely } from "kysely";
import type { Action } from "../../core/index.ts";
import type { Tables } from "../../storage/index.ts";
import type { ChangeEvent, EventKind, Topic } from "./schema.ts";

/** A change as a source reads it: the event, what decides whether it is new, and who may see it. */
export interface Change {
  event: ChangeEvent;
  /** Unique per resource within its topic (`<kind>:<id>`). */
  key: string;
  /** Differs whenever the resource changed again (its change time and state). */
  signature: string;
  /** The action whose visible teams decide who hears it (the list endpoint's). */
  action: Action;
  /** For a workspace: the users it belongs to (its owner and whom it is shared with); its team's admins hear it too. */
  users?: string[];
}

/**
 * One topic's reading of the database: the resources that changed after `since` (ms), at most
 * `limit` of them. Every column read is written by the server's own clock on each change, except a
 * run's times, which MLflow clients send (hence the runs' longer look-back).
 */
export interface ChangeSource {
  topic: Topic;
  /** How far back each poll looks past the previous one: a transaction that committed later than its timestamp is still found. */
  lookbackMs: number;
  changedSince(db: Kysely<Tables>, since: number, limit: number): Promise<Change[]>;
}

const n = (value: number | string | bigint | null | undefined): number => (value === null || value === undefined ? 0 : Number(value));

function change(topic: Topic, kind: EventKind, id: string, team: string, at: number, action: Action, state?: string | null, parent?: string): Change {
  const event: ChangeEvent = { topic, kind, id, team, at, ...(state ? { state } : {}), ...(parent !== undefined ? { parent } : {}) };
  return { event, key: `${kind}:${id}`, signature: `${at}|${state ?? ""}`, action };
}

const jobs: ChangeSource = {
  topic: "jobs",
  lookbackMs: 5_000,
  async changedSince(db, since, limit) {
    const rows = await db.selectFrom("jobs").select(["job_id", "team_id", "phase", "updated_at"]).where("updated_at", ">", since).orderBy("updated_at").limit(limit).execute();
    return rows.map((r) => change("jobs", "job", r.job_id, r.team_id, n(r.updated_at), "jobs:list", r.phase));
  },
};

const runs: ChangeSource = {
  topic: "runs",
  // Runs' times come from the MLflow client's clock.
  lookbackMs: 30_000,
  async changedSince(db, since, limit) {
    // One query per time, each by its own index (an OR of the three is a scan of every run).
    const byTime = await Promise.all(
      (["runs.start_time", "runs.end_time", "runs.deleted_time"] as const).map((time) =>
        db
          .selectFrom("runs")
          .innerJoin("experiments", "experiments.experiment_id", "runs.experiment_id")
          .select(["runs.run_id", "experiments.team_id", "runs.status", "runs.lifecycle_stage", "runs.start_time", "runs.end_time", "runs.deleted_time"])
          .where(time, ">", since)
          .orderBy(time)
          .limit(limit)
          .execute(),
      ),
    );
    const rows = [...new Map(byTime.flat().map((r) => [r.run_id, r])).values()];
    return rows.map((r) => {
      const at = Math.max(n(r.start_time), n(r.end_time), n(r.deleted_time));
      return change("runs", "run", r.run_id, r.team_id, at, "runs:read", r.lifecycle_stage === "deleted" ? "DELETED" : r.status);
    });
  },
};

const deployments: ChangeSource = {
  topic: "deployments",
  lookbackMs: 5_000,
  async changedSince(db, since, limit) {
    const rows = await db.selectFrom("deployments").select(["id", "team_id", "phase", "paused", "updated_at"]).where("updated_at", ">", since).orderBy("updated_at").limit(limit).execute();
    return rows.map((r) => change("deployments", "deployment", r.id, r.team_id, n(r.updated_at), "deployments:read", n(r.paused) ? `${r.phase} (paused)` : r.phase));
  },
};

const workspaces: ChangeSource = {
  topic: "workspaces",
  lookbackMs: 5_000,
  async changedSince(db, since, limit) {
    const rows = await db.selectFrom("workspaces").select(["workspace_id", "team_id", "phase", "owner", "shared_with", "updated_at"]).where("updated_at", ">", since).orderBy("updated_at").limit(limit).execute();
    return rows.map((r) => {
      let shared: string[] = [];
      try {
        shared = JSON.parse(r.shared_with) as string[];
      } catch {
        // An unreadable list shares with nobody.
      }
      return { ...change("workspaces", "workspace", r.workspace_id, r.team_id, n(r.updated_at), "workspaces:read", r.phase), users: [r.owner, ...shared] };
    });
  },
};

const pipelines: ChangeSource = {
  topic: "pipelines",
  lookbackMs: 5_000,
  async changedSince(db, since, limit) {
    const [defs, runsOf, steps] = await Promise.all([
      db.selectFrom("pipelines").select(["name", "team_id", "version", "updated_at"]).where("updated_at", ">", since).orderBy("updated_at").limit(limit).execute(),
      db.selectFrom("pipeline_runs").select(["run_id", "team_id", "pipeline_name", "phase", "updated_at"]).where("updated_at", ">", since).orderBy("updated_at").limit(limit).execute(),
      db
        .selectFrom("pipeline_steps")
        .innerJoin("pipeline_runs", "pipeline_runs.run_id", "pipeline_steps.run_id")
        .select(["pipeline_steps.run_id", "pipeline_steps.step_key", "pipeline_steps.phase", "pipeline_steps.updated_at", "pipeline_runs.team_id"])
        .where("pipeline_steps.updated_at", ">", since)
        .orderBy("pipeline_steps.updated_at")
        .limit(limit)
        .execute(),
    ]);
    return [
      ...defs.map((r) => change("pipelines", "pipeline", r.name, r.team_id, n(r.updated_at), "pipelines:read", `v${n(r.version)}`)),
      ...runsOf.map((r) => change("pipelines", "pipeline-run", r.run_id, r.team_id, n(r.updated_at), "pipelines:read", r.phase, r.pipeline_name)),
      ...steps.map((r) => change("pipelines", "pipeline-step", `${r.run_id}/${r.step_key}`, r.team_id, n(r.updated_at), "pipelines:read", r.phase, r.run_id)),
    ];
  },
};

const models: ChangeSource = {
  topic: "models",
  lookbackMs: 5_000,
  async changedSince(db, since, limit) {
    const [registered, versions, evaluations] = await Promise.all([
      db.selectFrom("registered_models").select(["name", "team_id", "last_update_time"]).where("last_update_time", ">", since).orderBy("last_update_time").limit(limit).execute(),
      db
        .selectFrom("model_versions")
        .innerJoin("registered_models", "registered_models.model_id", "model_versions.model_id")
        .select(["registered_models.name", "registered_models.team_id", "model_versions.version", "model_versions.status", "model_versions.last_update_time"])
        .where("model_versions.last_update_time", ">", since)
        .orderBy("model_versions.last_update_time")
        .limit(limit)
        .execute(),
      // One query per time, each by its own index (as for runs).
      Promise.all(
        (["created_at", "started_at", "finished_at"] as const).map((time) =>
          db.selectFrom("evaluations").select(["id", "model_name", "team_id", "phase", "created_at", "started_at", "finished_at"]).where(time, ">", since).orderBy(time).limit(limit).execute(),
        ),
      ).then((byTime) => [...new Map(byTime.flat().map((r) => [r.id, r])).values()]),
    ]);
    return [
      ...registered.map((r) => change("models", "model", r.name, r.team_id, n(r.last_update_time), "models:read")),
      ...versions.map((r) => change("models", "model-version", `${r.name}/${n(r.version)}`, r.team_id, n(r.last_update_time), "models:read", r.status, r.name)),
      ...evaluations.map((r) => change("models", "evaluation", r.id, r.team_id, Math.max(n(r.created_at), n(r.started_at), n(r.finished_at)), "evaluations:read", r.phase, r.model_name)),
    ];
  },
};

/** Every topic's source. */
export const SOURCES: Readonly<Record<Topic, ChangeSource>> = { jobs, runs, deployments, workspaces, pipelines, models };
