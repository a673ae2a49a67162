import { sql, type Kysely, type Migration } from "kysely";

/**
 * The control plane's leader (issue 14, item 4). Several `paved up` replicas share one PostgreSQL
 * database; one of them, the leader, runs the controllers. `control_plane_leader` holds one row:
 * the leader's epoch (raised by one at every election), who it is and the URL the other replicas
 * forward requests to. On PostgreSQL every table also gets the statement trigger `paved_fence`
 * (src/storage/leader.ts): a session that says it leads at an epoch that is no longer the row's
 * has its writes refused, so a leader that lost its lease without knowing it writes nothing.
 * SQLite has one process per database: the row is there and never changes.
 */
export function leaderMigration(): Migration {
  return {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable("control_plane_leader")
        .addColumn("id", "integer", (c) => c.primaryKey())
        .addColumn("epoch", "bigint", (c) => c.notNull())
        .addColumn("holder", "text")
        .addColumn("url", "text")
        .addColumn("elected_at", "bigint")
        .execute();
      await sql`insert into control_plane_leader (id, epoch) values (1, 0)`.execute(db);
    },
  };
}
