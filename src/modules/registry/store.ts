import type { Selectable, Updateable } from "kysely";
import type { Database, Tables } from "../../storage/index.ts";

export type RegisteredModelRow = Selectable<Tables["registered_models"]>;
export type ModelVersionRow = Selectable<Tables["model_versions"]>;
export type VersionFileRow = Selectable<Tables["model_version_files"]>;
type KeyValue = { key: string; value: string };

// Below both dialects' bound-parameter limits.
const IN_CHUNK = 500;

/** Registered models, their versions, tags, aliases and copied files. */
export class RegistryStore {
  constructor(private readonly database: Database) {}

  private get db() {
    return this.database.db;
  }

  // ---- registered models ----

  async insertModel(row: RegisteredModelRow, tags: KeyValue[]): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      await trx.insertInto("registered_models").values(row).execute();
      if (tags.length) await trx.insertInto("registered_model_tags").values(tags.map((t) => ({ model_id: row.model_id, ...t }))).execute();
    });
  }

  getModelByName(name: string): Promise<RegisteredModelRow | undefined> {
    return this.db.selectFrom("registered_models").selectAll().where("name", "=", name).executeTakeFirst();
  }

  /** Every registered model, by name; only those of `teams` when given (an empty list: none). */
  async listModels(teams?: string[]): Promise<RegisteredModelRow[]> {
    if (teams && !teams.length) return [];
    let query = this.db.selectFrom("registered_models").selectAll();
    if (teams) query = query.where("team_id", "in", teams);
    return query.orderBy("name").execute();
  }

  async updateModel(modelId: string, patch: Updateable<Tables["registered_models"]>): Promise<void> {
    await this.db.updateTable("registered_models").set(patch).where("model_id", "=", modelId).execute();
  }

  /** Deletes a model with its versions, tags, aliases and file rows (the blobs stay: others may share them). */
  async deleteModel(modelId: string): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      for (const table of ["model_version_files", "model_version_tags", "model_versions", "registered_model_aliases", "registered_model_tags"] as const) {
        await trx.deleteFrom(table).where("model_id", "=", modelId).execute();
      }
      await trx.deleteFrom("registered_models").where("model_id", "=", modelId).execute();
    });
  }

  async setModelTag(modelId: string, key: string, value: string): Promise<void> {
    await this.db
      .insertInto("registered_model_tags")
      .values({ model_id: modelId, key, value })
      .onConflict((oc) => oc.columns(["model_id", "key"]).doUpdateSet({ value }))
      .execute();
  }

  async deleteModelTag(modelId: string, key: string): Promise<boolean> {
    const result = await this.db.deleteFrom("registered_model_tags").where("model_id", "=", modelId).where("key", "=", key).executeTakeFirst();
    return Number(result.numDeletedRows) > 0;
  }

  async modelTags(modelIds: string[]): Promise<Map<string, KeyValue[]>> {
    const out = new Map<string, KeyValue[]>();
    for (let i = 0; i < modelIds.length; i += IN_CHUNK) {
      const rows = await this.db.selectFrom("registered_model_tags").selectAll().where("model_id", "in", modelIds.slice(i, i + IN_CHUNK)).orderBy("key").execute();
      for (const r of rows) push(out, r.model_id, { key: r.key, value: r.value });
    }
    return out;
  }

  // ---- aliases ----

  async setAlias(modelId: string, alias: string, version: number): Promise<void> {
    await this.db
      .insertInto("registered_model_aliases")
      .values({ model_id: modelId, alias, version })
      .onConflict((oc) => oc.columns(["model_id", "alias"]).doUpdateSet({ version }))
      .execute();
  }

  async deleteAlias(modelId: string, alias: string): Promise<boolean> {
    const result = await this.db.deleteFrom("registered_model_aliases").where("model_id", "=", modelId).where("alias", "=", alias).executeTakeFirst();
    return Number(result.numDeletedRows) > 0;
  }

  async aliases(modelIds: string[]): Promise<Map<string, { alias: string; version: number }[]>> {
    const out = new Map<string, { alias: string; version: number }[]>();
    for (let i = 0; i < modelIds.length; i += IN_CHUNK) {
      const rows = await this.db.selectFrom("registered_model_aliases").selectAll().where("model_id", "in", modelIds.slice(i, i + IN_CHUNK)).orderBy("alias").execute();
      for (const r of rows) push(out, r.model_id, { alias: r.alias, version: r.version });
    }
    return out;
  }

  // ---- versions ----

  /**
   * Takes the next version number atomically and inserts the version with its tags and copied
   * files in one transaction.
   */
  async insertVersion(
    row: Omit<ModelVersionRow, "version">,
    tags: KeyValue[],
    files: Omit<VersionFileRow, "model_id" | "version">[],
  ): Promise<number> {
    return this.db.transaction().execute(async (trx) => {
      const { max_version: version } = await trx
        .updateTable("registered_models")
        .set((eb) => ({ max_version: eb("max_version", "+", 1), last_update_time: row.creation_time }))
        .where("model_id", "=", row.model_id)
        .returning("max_version")
        .executeTakeFirstOrThrow();
      await trx.insertInto("model_versions").values({ ...row, version }).execute();
      if (tags.length) await trx.insertInto("model_version_tags").values(tags.map((t) => ({ model_id: row.model_id, version, ...t }))).execute();
      for (let i = 0; i < files.length; i += 100) {
        await trx
          .insertInto("model_version_files")
          .values(files.slice(i, i + 100).map((f) => ({ model_id: row.model_id, version, ...f })))
          .execute();
      }
      return version;
    });
  }

  getVersion(modelId: string, version: number): Promise<ModelVersionRow | undefined> {
    return this.db.selectFrom("model_versions").selectAll().where("model_id", "=", modelId).where("version", "=", version).executeTakeFirst();
  }

  /** Versions of the given models (all models when omitted). */
  async listVersions(modelIds?: string[]): Promise<ModelVersionRow[]> {
    if (!modelIds) return this.db.selectFrom("model_versions").selectAll().orderBy("model_id").orderBy("version").execute();
    const out: ModelVersionRow[] = [];
    for (let i = 0; i < modelIds.length; i += IN_CHUNK) {
      out.push(...(await this.db.selectFrom("model_versions").selectAll().where("model_id", "in", modelIds.slice(i, i + IN_CHUNK)).orderBy("version").execute()));
    }
    return out;
  }

  async updateVersion(modelId: string, version: number, patch: Updateable<Tables["model_versions"]>): Promise<void> {
    await this.db.updateTable("model_versions").set(patch).where("model_id", "=", modelId).where("version", "=", version).execute();
  }

  async deleteVersion(modelId: string, version: number): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      for (const table of ["model_version_files", "model_version_tags", "registered_model_aliases", "model_versions"] as const) {
        await trx.deleteFrom(table).where("model_id", "=", modelId).where("version", "=", version).execute();
      }
    });
  }

  async setVersionTag(modelId: string, version: number, key: string, value: string): Promise<void> {
    await this.db
      .insertInto("model_version_tags")
      .values({ model_id: modelId, version, key, value })
      .onConflict((oc) => oc.columns(["model_id", "version", "key"]).doUpdateSet({ value }))
      .execute();
  }

  async deleteVersionTag(modelId: string, version: number, key: string): Promise<boolean> {
    const result = await this.db
      .deleteFrom("model_version_tags")
      .where("model_id", "=", modelId)
      .where("version", "=", version)
      .where("key", "=", key)
      .executeTakeFirst();
    return Number(result.numDeletedRows) > 0;
  }

  /** Tags of the given models' versions, keyed by `<model_id>/<version>`. */
  async versionTags(modelIds: string[]): Promise<Map<string, KeyValue[]>> {
    const out = new Map<string, KeyValue[]>();
    for (let i = 0; i < modelIds.length; i += IN_CHUNK) {
      const rows = await this.db.selectFrom("model_version_tags").selectAll().where("model_id", "in", modelIds.slice(i, i + IN_CHUNK)).orderBy("key").execute();
      for (const r of rows) push(out, `${r.model_id}/${r.version}`, { key: r.key, value: r.value });
    }
    return out;
  }

  /** The version's files whose path is `prefix`-prefixed (compared exactly, no LIKE wildcards). */
  async versionFiles(modelId: string, version: number, prefix = ""): Promise<VersionFileRow[]> {
    let query = this.db.selectFrom("model_version_files").selectAll().where("model_id", "=", modelId).where("version", "=", version);
    if (prefix) query = query.where((eb) => eb(eb.fn("substr", ["path", eb.val(1), eb.val(prefix.length)]), "=", prefix));
    return query.orderBy("path").execute();
  }

  getVersionFile(modelId: string, version: number, path: string): Promise<VersionFileRow | undefined> {
    return this.db
      .selectFrom("model_version_files")
      .selectAll()
      .where("model_id", "=", modelId)
      .where("version", "=", version)
      .where("path", "=", path)
      .executeTakeFirst();
  }
}

export function push<T>(map: Map<string, T[]>, key: string, value: T): void {
  const list = map.get(key);
  if (list) list.push(value);
  else map.set(key, [value]);
}
