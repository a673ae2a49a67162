import type { Kysely, Migration } from "kysely";

/**
 * Single sign-on: logins in progress (a browser's authorization-code login or a CLI's device
 * login, each short-lived and used once) and browser sessions. Every secret a browser or CLI
 * holds (the state, the session cookie, the device login's polling handle) is stored as its
 * SHA-256 only.
 */
export function ssoMigration(): Migration {
  return {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable("sso_logins")
        // SHA-256 of the state (browser) or of the polling handle (device).
        .addColumn("key_hash", "text", (c) => c.primaryKey())
        .addColumn("kind", "text", (c) => c.notNull())
        // Browser logins: SHA-256 of the cookie that ties the login to the browser that started it.
        .addColumn("browser_hash", "text")
        .addColumn("nonce", "text")
        .addColumn("code_verifier", "text")
        .addColumn("return_to", "text")
        // Device logins: the provider's device code, the CLI's host name, when it may poll next.
        .addColumn("device_code", "text")
        .addColumn("client_name", "text")
        .addColumn("interval_seconds", "integer")
        .addColumn("next_poll_at", "bigint")
        .addColumn("created_at", "bigint", (c) => c.notNull())
        .addColumn("expires_at", "bigint", (c) => c.notNull())
        .execute();
      await db.schema.createIndex("sso_logins_expiry").on("sso_logins").columns(["expires_at"]).execute();
      await db.schema
        .createTable("sessions")
        // SHA-256 of the session cookie's value.
        .addColumn("session_hash", "text", (c) => c.primaryKey())
        .addColumn("user_id", "text", (c) => c.notNull())
        .addColumn("created_at", "bigint", (c) => c.notNull())
        .addColumn("expires_at", "bigint", (c) => c.notNull())
        .execute();
      await db.schema.createIndex("sessions_user").on("sessions").columns(["user_id"]).execute();
      await db.schema.createIndex("sessions_expiry").on("sessions").columns(["expires_at"]).execute();
    },
  };
}
