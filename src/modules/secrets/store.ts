import type { Kysely, Selectable } from "kysely";
import type { Tables } from "../../storage/index.ts";

export type SecretRow = Selectable<Tables["team_secrets"]>;
type SecretHead = Omit<SecretRow, "ciphertext" | "key_id">;

/** Rows of team_secrets. Listing never selects a value. */
export class SecretStore {
  constructor(private readonly db: Kysely<Tables>) {}

  async get(team: string, name: string): Promise<SecretRow | undefined> {
    return this.db.selectFrom("team_secrets").selectAll().where("team_id", "=", team).where("name", "=", name).executeTakeFirst();
  }

  async count(team: string): Promise<number> {
    const row = await this.db.selectFrom("team_secrets").select((eb) => eb.fn.countAll<number>().as("n")).where("team_id", "=", team).executeTakeFirst();
    return Number(row?.n ?? 0);
  }

  /** Inserts the secret, or replaces the value of the team's secret of that name (keeping who made it). */
  async upsert(row: SecretRow): Promise<void> {
    await this.db
      .insertInto("team_secrets")
      .values(row)
      .onConflict((oc) => oc.columns(["team_id", "name"]).doUpdateSet({ ciphertext: row.ciphertext, key_id: row.key_id, updated_by: row.updated_by, updated_at: row.updated_at }))
      .execute();
  }

  /** Names and history of the teams' secrets (every team's when `teams` is undefined). */
  async list(teams: string[] | undefined): Promise<SecretHead[]> {
    let q = this.db.selectFrom("team_secrets").select(["secret_id", "team_id", "name", "created_by", "created_at", "updated_by", "updated_at"]);
    if (teams) q = q.where("team_id", "in", teams);
    return q.orderBy("team_id").orderBy("name").execute();
  }

  async delete(team: string, name: string): Promise<boolean> {
    const result = await this.db.deleteFrom("team_secrets").where("team_id", "=", team).where("name", "=", name).executeTakeFirst();
    return Number(result.numDeletedRows) > 0;
  }
}
