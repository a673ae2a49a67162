import { sql, type Insertable, type Selectable } from "kysely";
import type { Moments } from "../../core/index.ts";
import { olderThan, type Database, type Tables } from "../../storage/index.ts";

export type DeploymentRow = Selectable<Tables["deployments"]>;
export type OverrideRow = Selectable<Tables["deployment_overrides"]>;
/** What a user asked the controller to do: force-promote is a promote the API let past a failing or missing analysis (recorded in deployment_overrides). */
export type RequestedAction = "promote" | "force-promote" | "rollback";

/** Phases the controller still works on. */
export const ACTIVE_PHASES = ["Progressing", "Paused"];

/** Deployment rows. The API writes spec, `paused` and `requested`; the controller writes status and phase. */
export class DeploymentStore {
  constructor(private readonly database: Database) {}

  private get db() {
    return this.database.db;
  }

  async insert(row: DeploymentRow): Promise<void> {
    await this.db.insertInto("deployments").values(row).execute();
  }

  get(id: string): Promise<DeploymentRow | undefined> {
    return this.db.selectFrom("deployments").selectAll().where("id", "=", id).executeTakeFirst();
  }

  /**
   * Newest first; with `limit`, at most that many, older than `before` (a page's last row) when
   * given; with `teams`, only deployments of those teams (none for an empty list).
   */
  async list(
    filter: { model?: string | undefined; environment?: string | undefined; createdBy?: string | undefined; teams?: string[] | undefined } = {},
    page: { limit?: number; before?: { createdAt: number; id: string } | undefined } = {},
  ): Promise<DeploymentRow[]> {
    if (filter.teams?.length === 0) return [];
    let query = this.db.selectFrom("deployments").selectAll();
    if (filter.teams !== undefined) query = query.where("team_id", "in", filter.teams);
    if (filter.model !== undefined) query = query.where("model_name", "=", filter.model);
    if (filter.environment !== undefined) query = query.where("environment", "=", filter.environment);
    if (filter.createdBy !== undefined) query = query.where("created_by", "=", filter.createdBy);
    const before = page.before;
    if (before) query = query.where(olderThan(before, { id: "id" }));
    query = query.orderBy("created_at", "desc").orderBy("id", "desc");
    if (page.limit !== undefined) query = query.limit(page.limit);
    return query.execute();
  }

  /** The rollout in progress (Progressing or Paused) of a model in an environment, if any. */
  active(model: string, environment: string): Promise<DeploymentRow | undefined> {
    return this.db
      .selectFrom("deployments")
      .selectAll()
      .where("model_name", "=", model)
      .where("environment", "=", environment)
      .where("phase", "in", ACTIVE_PHASES)
      .orderBy("created_at", "desc")
      .executeTakeFirst();
  }

  /**
   * The newest deployment of each (model, environment): what the controller reconciles, without
   * reading the whole history every pass. "Newest" is list()'s order (created_at, then id).
   */
  current(): Promise<DeploymentRow[]> {
    return this.db
      .selectFrom("deployments as d")
      .selectAll("d")
      .where(({ not, exists, selectFrom }) =>
        not(
          exists(
            selectFrom("deployments as n")
              .select(sql.lit(1).as("one"))
              .whereRef("n.model_name", "=", "d.model_name")
              .whereRef("n.environment", "=", "d.environment")
              .where((eb) => eb.or([eb("n.created_at", ">", eb.ref("d.created_at")), eb.and([eb("n.created_at", "=", eb.ref("d.created_at")), eb("n.id", ">", eb.ref("d.id"))])])),
          ),
        ),
      )
      .orderBy("d.created_at", "desc")
      .orderBy("d.id", "desc")
      .execute();
  }

  /** Writes the controller's status (leaves the user's `paused` and `requested` alone). */
  async saveStatus(id: string, status: string, phase: string, now: number): Promise<void> {
    await this.db.updateTable("deployments").set({ status, phase, updated_at: now }).where("id", "=", id).execute();
  }

  async setPaused(id: string, paused: boolean, now: number): Promise<void> {
    await this.db.updateTable("deployments").set({ paused: paused ? 1 : 0, updated_at: now }).where("id", "=", id).execute();
  }

  async request(id: string, action: RequestedAction, now: number): Promise<void> {
    await this.db.updateTable("deployments").set({ requested: action, updated_at: now }).where("id", "=", id).execute();
  }

  /** Records a forced promotion and asks the controller for it, in one transaction. */
  async requestOverride(row: OverrideRow, now: number): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      await trx.insertInto("deployment_overrides").values(row).execute();
      await trx.updateTable("deployments").set({ requested: "force-promote", updated_at: now }).where("id", "=", row.deployment_id).execute();
    });
  }

  /** Forced promotions of these deployments, newest first. */
  async overrides(deploymentIds: string[]): Promise<OverrideRow[]> {
    if (deploymentIds.length === 0) return [];
    const rows: OverrideRow[] = [];
    // Bounded IN lists (a page of deployments can be long; PostgreSQL and SQLite cap parameters).
    for (let i = 0; i < deploymentIds.length; i += 500) {
      rows.push(...(await this.db.selectFrom("deployment_overrides").selectAll().where("deployment_id", "in", deploymentIds.slice(i, i + 500)).execute()));
    }
    return rows.sort((a, b) => b.created_at - a.created_at || (a.id < b.id ? 1 : -1));
  }

  /** Clears a handled request (only that one: a newer request stays). */
  async clearRequest(id: string, action: string): Promise<void> {
    await this.db.updateTable("deployments").set({ requested: null }).where("id", "=", id).where("requested", "=", action).execute();
  }

  /** Stores reported A/B outcomes in one transaction (all or none); returns how many were new (ids seen before are skipped). */
  async addOutcomes(rows: Insertable<Tables["deployment_outcomes"]>[]): Promise<number> {
    return this.database.db.transaction().execute(async (trx) => {
      let added = 0;
      for (let i = 0; i < rows.length; i += 200) {
        const [result] = await trx
          .insertInto("deployment_outcomes")
          .values(rows.slice(i, i + 200))
          .onConflict((oc) => oc.columns(["deployment_id", "outcome_id"]).doNothing())
          .execute();
        added += Number(result?.numInsertedOrUpdatedRows ?? 0);
      }
      return added;
    });
  }

  /** Count, sum and sum of squares of a deployment's reported outcomes, per version. */
  async outcomeMoments(deploymentId: string): Promise<Map<string, Moments>> {
    const rows = await this.db
      .selectFrom("deployment_outcomes")
      .select((eb) => ["version", eb.fn.countAll().as("n"), eb.fn.sum<number>("value").as("sum"), eb.fn.sum<number>(eb("value", "*", eb.ref("value"))).as("sum_sq")])
      .where("deployment_id", "=", deploymentId)
      .groupBy("version")
      .execute();
    return new Map(rows.map((r) => [r.version, { n: Number(r.n), sum: Number(r.sum), sumSq: Number(r.sum_sq) }]));
  }
}
