import type { Kysely, Selectable } from "kysely";
import type { Tables } from "../../storage/index.ts";

export type FeatureSetRow = Selectable<Tables["feature_sets"]>;

export class FeatureSetStore {
  constructor(private readonly db: Kysely<Tables>) {}

  async latest(name: string): Promise<FeatureSetRow | undefined> {
    return this.db.selectFrom("feature_sets").selectAll().where("name", "=", name).orderBy("version", "desc").limit(1).executeTakeFirst();
  }

  async get(name: string, version: number): Promise<FeatureSetRow | undefined> {
    return this.db.selectFrom("feature_sets").selectAll().where("name", "=", name).where("version", "=", version).executeTakeFirst();
  }

  /** The newest version of each of the teams' feature sets, most recent first. */
  async list(opts: { limit: number; teams: string[] | undefined }): Promise<FeatureSetRow[]> {
    let q = this.db.selectFrom("feature_sets").selectAll().orderBy("created_at", "desc").orderBy("name").orderBy("version", "desc");
    if (opts.teams !== undefined) {
      if (opts.teams.length === 0) return [];
      q = q.where("team_id", "in", opts.teams);
    }
    const rows = await q.limit(opts.limit * 20).execute();
    const seen = new Set<string>();
    return rows.filter((r) => (seen.has(r.name) ? false : (seen.add(r.name), true))).slice(0, opts.limit);
  }

  /** Inserts a version; false when that (name, version) was taken meanwhile. */
  async insert(row: FeatureSetRow): Promise<boolean> {
    try {
      await this.db.insertInto("feature_sets").values(row).execute();
      return true;
    } catch (error) {
      if (await this.get(row.name, Number(row.version))) return false;
      throw error;
    }
  }
}
