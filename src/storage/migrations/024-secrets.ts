import type { Kysely, Migration } from "kysely";

/**
 * Team secrets (issue 10, item 2): a team's named values (a warehouse password, S3 keys) that
 * connectors read on the server. `ciphertext` is AES-256-GCM under the server's key file, never
 * the key itself; `key_id` names that key (a digest of it), so that a server started with another
 * key says so instead of failing to decrypt.
 */
export function secretsMigration(): Migration {
  return {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable("team_secrets")
        .addColumn("secret_id", "text", (c) => c.primaryKey())
        .addColumn("team_id", "text", (c) => c.notNull())
        .addColumn("name", "text", (c) => c.notNull())
        // base64 of nonce (12 bytes) | tag (16 bytes) | ciphertext; the team and name are its associated data.
        .addColumn("ciphertext", "text", (c) => c.notNull())
        .addColumn("key_id", "text", (c) => c.notNull())
        .addColumn("created_by", "text", (c) => c.notNull())
        .addColumn("created_at", "bigint", (c) => c.notNull())
        .addColumn("updated_by", "text", (c) => c.notNull())
        .addColumn("updated_at", "bigint", (c) => c.notNull())
        .execute();
      await db.schema.createIndex("team_secrets_name").on("team_secrets").columns(["team_id", "name"]).unique().execute();
    },
  };
}
