import { sql, type Kysely, type Migration } from "kysely";

/** The team every resource of a server from before teams belongs to, and new users start in. */
export const DEFAULT_TEAM_ID = "default";
/** The platform admin a server from before teams had as its only identity (its admin token). */
export const BOOTSTRAP_ADMIN_ID = "usr_admin";

/**
 * People, machines and teams. Users (people, from SSO or made by an admin) and service accounts
 * (CI, automation) belong to teams with a role each; API tokens belong to a user (personal) or to
 * a job. Every top-level resource gets the team that owns it; runs, logged models, versions and
 * the like inherit theirs. A server from before teams keeps working: its data joins the `default`
 * team and its admin token becomes the personal token of user `admin`, platform admin.
 */
export function teamsMigration(): Migration {
  return {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable("teams")
        // The name is the id (like a Kubernetes namespace): what specs, tokens and SSO groups name.
        .addColumn("team_id", "text", (c) => c.primaryKey())
        .addColumn("description", "text")
        .addColumn("created_at", "bigint", (c) => c.notNull())
        .execute();
      await db.schema
        .createTable("users")
        .addColumn("user_id", "text", (c) => c.primaryKey())
        .addColumn("name", "text", (c) => c.notNull().unique())
        .addColumn("kind", "text", (c) => c.notNull())
        .addColumn("display_name", "text")
        .addColumn("email", "text")
        .addColumn("platform_admin", "integer", (c) => c.notNull().defaultTo(0))
        .addColumn("sso_issuer", "text")
        .addColumn("sso_subject", "text")
        .addColumn("created_at", "bigint", (c) => c.notNull())
        .addColumn("disabled_at", "bigint")
        .execute();
      await db.schema.createIndex("users_sso").on("users").columns(["sso_issuer", "sso_subject"]).unique().execute();
      await db.schema
        .createTable("team_members")
        .addColumn("team_id", "text", (c) => c.notNull())
        .addColumn("user_id", "text", (c) => c.notNull())
        .addColumn("role", "text", (c) => c.notNull())
        .addColumn("created_at", "bigint", (c) => c.notNull())
        .addPrimaryKeyConstraint("team_members_pk", ["team_id", "user_id"])
        .execute();
      await db.schema.createIndex("team_members_user").on("team_members").columns(["user_id"]).execute();

      await db.schema.alterTable("api_tokens").addColumn("user_id", "text").execute();
      await db.schema.alterTable("api_tokens").addColumn("team_id", "text").execute();
      await db.schema.createIndex("api_tokens_user").on("api_tokens").columns(["user_id"]).execute();
      for (const table of ["experiments", "jobs", "registered_models", "deployments", "evaluations", "evaluation_uploads"]) {
        await db.schema.alterTable(table).addColumn("team_id", "text", (c) => c.notNull().defaultTo(DEFAULT_TEAM_ID)).execute();
        await db.schema.createIndex(`${table}_team`).on(table).columns(["team_id"]).execute();
      }

      await sql`insert into teams (team_id, description, created_at) values (${DEFAULT_TEAM_ID}, 'everything from before teams', 0)`.execute(db);
      await sql`insert into users (user_id, name, kind, display_name, platform_admin, created_at) values (${BOOTSTRAP_ADMIN_ID}, 'admin', 'user', 'Administrator', 1, 0)`.execute(db);
      await sql`insert into team_members (team_id, user_id, role, created_at) values (${DEFAULT_TEAM_ID}, ${BOOTSTRAP_ADMIN_ID}, 'admin', 0)`.execute(db);
      // The admin token becomes the admin user's personal token; job tokens are re-minted per attempt.
      await sql`update api_tokens set role = 'personal', user_id = ${BOOTSTRAP_ADMIN_ID} where role = 'admin'`.execute(db);
      await sql`delete from api_tokens where role not in ('personal', 'job')`.execute(db);
      await sql`update api_tokens set team_id = ${DEFAULT_TEAM_ID} where role = 'job'`.execute(db);
    },
  };
}
