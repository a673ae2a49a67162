import type { Kysely, Selectable } from "kysely";
import type { Tables } from "../../storage/index.ts";

export type DatasetRow = Selectable<Tables["datasets"]>;
export type VersionRow = Selectable<Tables["dataset_versions"]>;
export type FileRow = Selectable<Tables["dataset_files"]>;
export type AliasRow = Selectable<Tables["dataset_aliases"]>;

/**
 * Datasets, their versions, files, aliases and the blobs each team stored. A version and its
 * files are written in one transaction that first updates the dataset's row (so concurrent
 * versions of one dataset are numbered one after another) and numbers it from the highest version;
 * the (dataset, digest) index makes a second insert of the same files fail, and the caller then
 * reads the version that won.
 */
export class DatasetStore {
  constructor(private readonly db: Kysely<Tables>) {}

  async insertDataset(row: DatasetRow): Promise<void> {
    await this.db.insertInto("datasets").values(row).execute();
  }

  async byName(name: string): Promise<DatasetRow | undefined> {
    return this.db.selectFrom("datasets").selectAll().where("name", "=", name).executeTakeFirst();
  }

  /**
   * Most recently changed first (then by name); with `teams`, only datasets of those teams (none
   * for an empty list); with `after` (a page's last row), only those after it in that order.
   */
  async list(opts: { limit: number; teams?: string[] | undefined; after?: { updatedAt: number; name: string } | undefined }): Promise<DatasetRow[]> {
    if (opts.teams?.length === 0) return [];
    let q = this.db.selectFrom("datasets").selectAll();
    if (opts.teams) q = q.where("team_id", "in", opts.teams);
    const after = opts.after;
    if (after) q = q.where((eb) => eb.or([eb("updated_at", "<", after.updatedAt), eb.and([eb("updated_at", "=", after.updatedAt), eb("name", ">", after.name)])]));
    return q.orderBy("updated_at", "desc").orderBy("name").limit(opts.limit).execute();
  }

  /** Highest version and number of versions of each dataset. */
  async versionCounts(ids: string[]): Promise<Map<string, { latest: number | null; count: number }>> {
    const out = new Map<string, { latest: number | null; count: number }>(ids.map((id) => [id, { latest: null, count: 0 }]));
    if (ids.length === 0) return out;
    const rows = await this.db
      .selectFrom("dataset_versions")
      .select(["dataset_id", (eb) => eb.fn.max("version").as("latest"), (eb) => eb.fn.countAll<number | string>().as("n")])
      .where("dataset_id", "in", ids)
      .groupBy("dataset_id")
      .execute();
    for (const r of rows) out.set(r.dataset_id, { latest: r.latest === null ? null : Number(r.latest), count: Number(r.n) });
    return out;
  }

  async aliases(ids: string[]): Promise<AliasRow[]> {
    if (ids.length === 0) return [];
    return this.db.selectFrom("dataset_aliases").selectAll().where("dataset_id", "in", ids).orderBy("alias").execute();
  }

  async version(datasetId: string, version: number): Promise<VersionRow | undefined> {
    return this.db.selectFrom("dataset_versions").selectAll().where("dataset_id", "=", datasetId).where("version", "=", version).executeTakeFirst();
  }

  async versionByDigest(datasetId: string, digest: string): Promise<VersionRow | undefined> {
    return this.db.selectFrom("dataset_versions").selectAll().where("dataset_id", "=", datasetId).where("digest", "=", digest).executeTakeFirst();
  }

  /** The team's versions whose digest is `digest` (any of its datasets), oldest first. */
  async teamVersionsByDigest(team: string, digest: string): Promise<(VersionRow & { name: string })[]> {
    return this.db
      .selectFrom("datasets as d")
      .innerJoin("dataset_versions as v", "v.dataset_id", "d.dataset_id")
      .selectAll("v")
      .select("d.name")
      .where("d.team_id", "=", team)
      .where("v.digest", "=", digest)
      .orderBy("v.created_at")
      .orderBy("d.name")
      .execute();
  }

  async latestVersion(datasetId: string): Promise<number | undefined> {
    const row = await this.db.selectFrom("dataset_versions").select((eb) => eb.fn.max("version").as("v")).where("dataset_id", "=", datasetId).executeTakeFirst();
    return row?.v === null || row?.v === undefined ? undefined : Number(row.v);
  }

  /** Newest (highest) first; with `before`, only versions below that number. */
  async versions(datasetId: string, limit: number, before?: number): Promise<VersionRow[]> {
    let q = this.db.selectFrom("dataset_versions").selectAll().where("dataset_id", "=", datasetId);
    if (before !== undefined) q = q.where("version", "<", before);
    return q.orderBy("version", "desc").limit(limit).execute();
  }

  async files(datasetId: string, version: number): Promise<FileRow[]> {
    return this.db.selectFrom("dataset_files").selectAll().where("dataset_id", "=", datasetId).where("version", "=", version).orderBy("path").execute();
  }

  /** An analysis already computed for these bytes in this format (any dataset's: it depends on the bytes alone). */
  async knownAnalysis(digest: string, format: string): Promise<{ analysis: string; row_count: number | null } | undefined> {
    return this.db
      .selectFrom("dataset_files")
      .select(["analysis", "row_count"])
      .where("digest", "=", digest)
      .where("format", "=", format)
      .where("analysis", "is not", null)
      .limit(1)
      .executeTakeFirst() as Promise<{ analysis: string; row_count: number | null } | undefined>;
  }

  /**
   * Inserts the version as the dataset's next one with its files; undefined when a version with
   * the same digest exists (inserted meanwhile by another request).
   */
  async insertVersion(row: Omit<VersionRow, "version">, files: Omit<FileRow, "dataset_id" | "version">[], alias?: { alias: string; by: string }): Promise<number | undefined> {
    try {
      return await this.db.transaction().execute(async (trx) => {
        // First, so that versions of one dataset are numbered one at a time (PostgreSQL holds the row until commit).
        await trx.updateTable("datasets").set({ updated_at: row.created_at }).where("dataset_id", "=", row.dataset_id).execute();
        const latest = await trx.selectFrom("dataset_versions").select((eb) => eb.fn.max("version").as("v")).where("dataset_id", "=", row.dataset_id).executeTakeFirst();
        const version = (latest?.v === null || latest?.v === undefined ? 0 : Number(latest.v)) + 1;
        await trx.insertInto("dataset_versions").values({ ...row, version }).execute();
        for (let i = 0; i < files.length; i += 500) {
          await trx
            .insertInto("dataset_files")
            .values(files.slice(i, i + 500).map((f) => ({ ...f, dataset_id: row.dataset_id, version })))
            .execute();
        }
        if (alias) await upsertAlias(trx, { dataset_id: row.dataset_id, alias: alias.alias, version, updated_by: alias.by, updated_at: row.created_at });
        return version;
      });
    } catch (error) {
      // Another request inserted the same files (unique digest) or took the number first (primary key).
      if (isUniqueViolation(error)) return undefined;
      throw error;
    }
  }

  async setAlias(row: AliasRow): Promise<void> {
    await this.db.transaction().execute(async (trx) => upsertAlias(trx, row));
  }

  async removeAlias(datasetId: string, alias: string): Promise<boolean> {
    const result = await this.db.deleteFrom("dataset_aliases").where("dataset_id", "=", datasetId).where("alias", "=", alias).executeTakeFirst();
    return Number(result.numDeletedRows) > 0;
  }

  async alias(datasetId: string, alias: string): Promise<number | undefined> {
    const row = await this.db.selectFrom("dataset_aliases").select("version").where("dataset_id", "=", datasetId).where("alias", "=", alias).executeTakeFirst();
    return row === undefined ? undefined : Number(row.version);
  }

  /** The sizes of these blobs the team stored for its datasets (those it did not are absent). */
  async teamBlobs(team: string, digests: string[]): Promise<Map<string, number>> {
    const out = new Map<string, number>();
    const unique = [...new Set(digests)];
    for (let i = 0; i < unique.length; i += 500) {
      const rows = await this.db.selectFrom("dataset_blobs").select(["digest", "size"]).where("team_id", "=", team).where("digest", "in", unique.slice(i, i + 500)).execute();
      for (const r of rows) out.set(r.digest, Number(r.size));
    }
    return out;
  }

  /** Records blobs as the team's (once each). */
  async recordBlobs(rows: Selectable<Tables["dataset_blobs"]>[]): Promise<void> {
    for (let i = 0; i < rows.length; i += 500) {
      await this.db
        .insertInto("dataset_blobs")
        .values(rows.slice(i, i + 500))
        .onConflict((oc) => oc.columns(["team_id", "digest"]).doNothing())
        .execute();
    }
  }
}

async function upsertAlias(db: Kysely<Tables>, row: AliasRow): Promise<void> {
  await db
    .insertInto("dataset_aliases")
    .values(row)
    .onConflict((oc) => oc.columns(["dataset_id", "alias"]).doUpdateSet({ version: row.version, updated_by: row.updated_by, updated_at: row.updated_at }))
    .execute();
}

function isUniqueViolation(error: unknown): boolean {
  const e = error as { code?: string; message?: string };
  return e.code === "23505" || e.code === "SQLITE_CONSTRAINT_UNIQUE" || e.code === "SQLITE_CONSTRAINT_PRIMARYKEY";
}
