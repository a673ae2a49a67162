import type { Insertable, Selectable } from "kysely";
import type { Moments } from "../../core/index.ts";
import type { Database, Tables } from "../../storage/index.ts";

export type DeploymentRow = Selectable<Tables["deployments"]>;

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

  /** Newest first. */
  list(filter: { model?: string | undefined } = {}): Promise<DeploymentRow[]> {
    let query = this.db.selectFrom("deployments").selectAll();
    if (filter.model !== undefined) query = query.where("model_name", "=", filter.model);
    return query.orderBy("created_at", "desc").orderBy("id", "desc").execute();
  }

  /** Writes the controller's status (leaves the user's `paused` and `requested` alone). */
  async saveStatus(id: string, status: string, phase: string, now: number): Promise<void> {
    await this.db.updateTable("deployments").set({ status, phase, updated_at: now }).where("id", "=", id).execute();
  }

  async setPaused(id: string, paused: boolean, now: number): Promise<void> {
    await this.db.updateTable("deployments").set({ paused: paused ? 1 : 0, updated_at: now }).where("id", "=", id).execute();
  }

  async request(id: string, action: "promote" | "rollback", now: number): Promise<void> {
    await this.db.updateTable("deployments").set({ requested: action, updated_at: now }).where("id", "=", id).execute();
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
