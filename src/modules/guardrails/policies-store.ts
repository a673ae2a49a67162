import type { Kysely, Selectable } from "kysely";
import type { Tables } from "../../storage/index.ts";

export type PolicyRow = Selectable<Tables["guardrail_policies"]>;

/** Every version of every policy document; the newest of a scope is the one in force. */
export class PolicyStore {
  constructor(private readonly db: Kysely<Tables>) {}

  /** The newest version of each scope asked for (scopes never set are absent). */
  async latest(scopes: readonly string[]): Promise<Map<string, PolicyRow>> {
    const out = new Map<string, PolicyRow>();
    if (scopes.length === 0) return out;
    const rows = await this.db
      .selectFrom("guardrail_policies as p")
      .selectAll()
      .where("p.scope", "in", [...scopes])
      .where((eb) =>
        eb(
          "p.version",
          "=",
          eb
            .selectFrom("guardrail_policies as q")
            .select((q) => q.fn.max("q.version").as("v"))
            .whereRef("q.scope", "=", "p.scope"),
        ),
      )
      .execute();
    for (const row of rows) out.set(row.scope, row);
    return out;
  }

  /** Versions of a scope, newest first. */
  async history(scope: string, limit: number): Promise<PolicyRow[]> {
    return this.db.selectFrom("guardrail_policies").selectAll().where("scope", "=", scope).orderBy("version", "desc").limit(limit).execute();
  }

  /**
   * Adds the next version of a scope; false when another writer took that version number first
   * (the primary key refuses the second).
   */
  async insert(row: PolicyRow): Promise<boolean> {
    const result = await this.db
      .insertInto("guardrail_policies")
      .values(row)
      .onConflict((oc) => oc.columns(["scope", "version"]).doNothing())
      .executeTakeFirst();
    return Number(result.numInsertedOrUpdatedRows ?? 0) > 0;
  }

  async teamExists(team: string): Promise<boolean> {
    return (await this.db.selectFrom("teams").select("team_id").where("team_id", "=", team).executeTakeFirst()) !== undefined;
  }

  /** The user names behind `user:<name>` movers that do exist. */
  async existingUsers(names: readonly string[]): Promise<Set<string>> {
    if (names.length === 0) return new Set();
    const rows = await this.db.selectFrom("users").select("name").where("name", "in", [...names]).execute();
    return new Set(rows.map((r) => r.name));
  }
}
