import type { Kysely, Selectable } from "kysely";
import type { Tables } from "../../storage/index.ts";

export type BudgetRow = Selectable<Tables["budgets"]>;
export type BudgetEventRow = Selectable<Tables["budget_events"]>;

/** Budgets and the thresholds they crossed; a crossing is one row per (team, month, threshold). */
export class BudgetStore {
  constructor(private readonly db: Kysely<Tables>) {}

  async get(team: string): Promise<BudgetRow | undefined> {
    return this.db.selectFrom("budgets").selectAll().where("team_id", "=", team).executeTakeFirst();
  }

  /** Budgets of these teams (every team's without a list), by team. */
  async list(teams?: readonly string[]): Promise<BudgetRow[]> {
    if (teams?.length === 0) return [];
    let q = this.db.selectFrom("budgets").selectAll();
    if (teams) q = q.where("team_id", "in", [...teams]);
    return q.orderBy("team_id").execute();
  }

  async put(row: BudgetRow): Promise<void> {
    await this.db
      .insertInto("budgets")
      .values(row)
      .onConflict((oc) =>
        oc.column("team_id").doUpdateSet({ amount: row.amount, thresholds: row.thresholds, webhook_url: row.webhook_url, updated_by: row.updated_by, updated_at: row.updated_at }),
      )
      .execute();
  }

  async remove(team: string): Promise<boolean> {
    const result = await this.db.deleteFrom("budgets").where("team_id", "=", team).executeTakeFirst();
    return Number(result.numDeletedRows) > 0;
  }

  /** Records a crossing; false when it was recorded already (by this server or another). */
  async recordCrossing(row: Omit<BudgetEventRow, "attempts">): Promise<boolean> {
    const result = await this.db
      .insertInto("budget_events")
      .values(row)
      .onConflict((oc) => oc.columns(["team_id", "month", "at"]).doNothing())
      .executeTakeFirst();
    return Number(result.numInsertedOrUpdatedRows ?? 0) > 0;
  }

  /** Crossings of a team in a month, lowest threshold first. */
  async events(team: string, month: string): Promise<BudgetEventRow[]> {
    return this.db.selectFrom("budget_events").selectAll().where("team_id", "=", team).where("month", "=", month).orderBy("at").execute();
  }

  /** Stop actions recorded but not carried out (a crash between the two): done again. */
  async unfinishedStops(): Promise<BudgetEventRow[]> {
    return this.db.selectFrom("budget_events").selectAll().where("action", "=", "stop").where("acted_at", "is", null).execute();
  }

  async markActed(id: string, at: number): Promise<void> {
    await this.db.updateTable("budget_events").set({ acted_at: at }).where("id", "=", id).where("acted_at", "is", null).execute();
  }

  /** Notifications whose next try is due. */
  async dueDeliveries(now: number, limit: number): Promise<BudgetEventRow[]> {
    return this.db
      .selectFrom("budget_events")
      .selectAll()
      .where("delivery", "=", "pending")
      .where("next_attempt_at", "<=", now)
      .orderBy("next_attempt_at")
      .limit(limit)
      .execute();
  }

  /**
   * Takes a due notification for one try: moves its next try to `until` if nobody moved it since it
   * was read, so two servers never send the same try.
   */
  async claimDelivery(id: string, seen: number | null, until: number): Promise<boolean> {
    let q = this.db.updateTable("budget_events").set({ next_attempt_at: until }).where("id", "=", id).where("delivery", "=", "pending");
    q = seen === null ? q.where("next_attempt_at", "is", null) : q.where("next_attempt_at", "=", seen);
    const result = await q.executeTakeFirst();
    return Number(result.numUpdatedRows) > 0;
  }

  async deliveryResult(id: string, patch: { delivery: string; attempts: number; next_attempt_at: number | null; delivered_at: number | null; last_error: string | null }): Promise<void> {
    await this.db.updateTable("budget_events").set(patch).where("id", "=", id).execute();
  }
}
