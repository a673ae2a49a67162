// Leader election for the control plane on PostgreSQL (issue 14, item 4). Any number of `paved up`
// replicas share one database and all answer the API; one of them, the leader, runs the
// controllers (scheduler, evaluations, deployments, sweeps, workspaces, budgets, the data-plane
// fleet). The others forward requests to it (src/http/forward.ts).
//
// - Who leads: the replica whose session holds the advisory lock ('pavd', 1). PostgreSQL frees it
//   when that session ends, so a leader killed with kill -9 is replaced within one poll
//   (`intervalMs`) of a follower; the sessions set TCP keepalives so a vanished machine's session
//   ends within seconds too.
// - The epoch: each election raises `control_plane_leader.epoch` by one, under an ACCESS EXCLUSIVE
//   lock of that table. The leader's every database session says which epoch it leads at
//   (`paved.epoch`, set by Database.fence), and the statement trigger `paved_fence` on every table
//   refuses a write from a session whose epoch is no longer the row's. The trigger reads the row
//   under ACCESS SHARE, held to the end of the transaction, so an election waits for the old
//   leader's transactions in flight and every later one sees the new epoch: the old leader's
//   writes are fenced off even before it learns that it lost (it checks every `intervalMs` and
//   then stops).
import pg from "pg";
import { sql, type Kysely } from "kysely";
import { PlatformError } from "../core/index.ts";

/** pg_try_advisory_lock(int4, int4) key: 'pavd', 1 — the leader of this database's control plane. */
const ADVISORY_KEY = [0x70617664, 1] as const;

/** The SQLSTATE of a write refused by `paved_fence`. */
export const FENCED_SQLSTATE = "PVFNC";

/** Tables without the fence: the leader row itself and Kysely's migration bookkeeping. */
const UNFENCED = ["control_plane_leader", "kysely_migration", "kysely_migration_lock"];

/**
 * Creates the fence function and puts its trigger on every table of the schema that lacks it
 * (tables added by later migrations get it on the next start). Idempotent; replicas starting at
 * once take turns under a transaction-level advisory lock.
 */
export async function ensureFences(db: Kysely<any>): Promise<void> {
  await db.transaction().execute(async (trx) => {
    await sql`select pg_advisory_xact_lock(${ADVISORY_KEY[0]}, 2)`.execute(trx);
    await sql
      .raw(
        `create or replace function paved_fence() returns trigger language plpgsql as $fence$
declare
  mine text := current_setting('paved.epoch', true);
  now_epoch bigint;
begin
  if mine is null or mine = '' then return null; end if;
  select epoch into now_epoch from control_plane_leader where id = 1;
  if now_epoch is distinct from mine::bigint then
    raise exception 'this paved up led the control plane at epoch %, and another replica leads now (epoch %); its write to % is refused', mine, now_epoch, tg_table_name
      using errcode = '${FENCED_SQLSTATE}', hint = 'the replica stops its controllers and exits; its service manager starts it again as a follower';
  end if;
  return null;
end
$fence$`,
      )
      .execute(trx);
    const { rows } = await sql<{ table_name: string }>`
      select t.table_name from information_schema.tables t
       where t.table_schema = current_schema() and t.table_type = 'BASE TABLE'
         and not exists (select 1 from information_schema.triggers g where g.event_object_schema = t.table_schema and g.event_object_table = t.table_name and g.trigger_name = 'paved_fence')`.execute(trx);
    for (const { table_name: table } of rows) {
      if (UNFENCED.includes(table)) continue;
      await sql.raw(`create trigger paved_fence before insert or update or delete on "${table.replace(/"/g, '""')}" for each statement execute function paved_fence()`).execute(trx);
    }
  });
}

export interface LeaderRecord {
  epoch: number;
  holder: string | null;
  url: string | null;
}

export interface Leadership {
  /** The epoch this replica leads at; undefined while it follows. */
  readonly epoch: number | undefined;
  /** The row: who leads (or led last) and the URL to forward to. */
  leader(): Promise<LeaderRecord | undefined>;
  /** Steps down (a follower takes over within one poll) and closes the session. */
  release(): Promise<void>;
}

export interface CampaignOptions {
  /** Names this replica in pg_stat_activity and in the leader row, e.g. `paved up http://host:8080 pid 12`. */
  name: string;
  /** Where the other replicas reach this one once it leads. */
  url: string;
  /** How often a follower tries the lock and a leader checks it still leads (default 500 ms). */
  intervalMs?: number;
  /** Called once elected, with the new epoch: fence the database, then start the controllers. */
  onElected(epoch: number): Promise<void> | void;
  /** Called once when leadership is lost (the session broke, or another replica holds a newer epoch): stop. */
  onLost(error: PlatformError): void;
  /** Follower-side connection trouble, worth a log line; the campaign keeps trying. */
  onTrouble?(error: Error): void;
}

/** Runs for leader until released: follows while another replica leads, leads when the lock comes free. */
export async function campaign(url: string, opts: CampaignOptions): Promise<Leadership> {
  const intervalMs = opts.intervalMs ?? 500;
  let client: pg.Client | undefined;
  let epoch: number | undefined;
  let released = false;
  let lost = false;
  let timer: NodeJS.Timeout | undefined;

  const connect = async (): Promise<pg.Client> => {
    const c = new pg.Client({ connectionString: url, application_name: opts.name.slice(0, 63), keepAlive: true, keepAliveInitialDelayMillis: 2_000, query_timeout: Math.max(3_000, intervalMs * 4) });
    c.on("error", () => undefined);
    await c.connect();
    // PostgreSQL's side notices a vanished replica within seconds (its advisory lock is freed).
    await c.query("set tcp_keepalives_idle = 3; set tcp_keepalives_interval = 1; set tcp_keepalives_count = 3; set tcp_user_timeout = 6000").catch(() => undefined);
    c.once("end", () => {
      if (client === c) client = undefined;
      if (epoch !== undefined) lose(new PlatformError("UNAVAILABLE", "lost the PostgreSQL session that held the control plane's leadership"));
    });
    return c;
  };

  const lose = (error: PlatformError) => {
    if (lost || released) return;
    lost = true;
    if (timer) clearTimeout(timer);
    opts.onLost(error);
  };

  const step = async () => {
    if (released || lost) return;
    try {
      client ??= await connect();
      if (epoch === undefined) {
        const { rows } = await client.query<{ locked: boolean }>("select pg_try_advisory_lock($1, $2) as locked", [...ADVISORY_KEY]);
        if (rows[0]?.locked) {
          epoch = await elect(client, opts.name, opts.url);
          await opts.onElected(epoch);
        }
      } else {
        const { rows } = await client.query<{ epoch: number }>("select epoch from control_plane_leader where id = 1");
        const now = Number(rows[0]?.epoch);
        if (now !== epoch) return lose(new PlatformError("CONFLICT", `another replica leads the control plane now (epoch ${now}; this one led at ${epoch})`));
      }
    } catch (error) {
      if (epoch !== undefined) return lose(error instanceof PlatformError ? error : new PlatformError("UNAVAILABLE", `could not confirm this replica still leads the control plane: ${(error as Error).message}`));
      opts.onTrouble?.(error as Error);
      const broken = client;
      client = undefined;
      await broken?.end().catch(() => undefined);
    } finally {
      if (!released && !lost) timer = setTimeout(() => void step(), intervalMs);
    }
  };
  await step();

  return {
    get epoch() {
      return lost ? undefined : epoch;
    },
    async leader() {
      const c = client;
      if (!c) return undefined;
      const { rows } = await c.query<{ epoch: number; holder: string | null; url: string | null }>("select epoch, holder, url from control_plane_leader where id = 1");
      return rows[0] ? { epoch: Number(rows[0].epoch), holder: rows[0].holder, url: rows[0].url } : undefined;
    },
    async release() {
      released = true;
      if (timer) clearTimeout(timer);
      const c = client;
      client = undefined;
      if (!c) return;
      if (epoch !== undefined && !lost) {
        // No forwarding to a replica that is going away; the lock is freed with the session.
        await c.query("update control_plane_leader set url = null where id = 1 and epoch = $1", [epoch]).catch(() => undefined);
      }
      await c.end().catch(() => undefined);
    },
  };
}

/** Raises the epoch and records this replica as leader, after the old leader's transactions in flight. */
async function elect(client: pg.Client, name: string, url: string): Promise<number> {
  await client.query("begin");
  try {
    await client.query("set local lock_timeout = '10s'");
    await client.query("lock table control_plane_leader in access exclusive mode");
    const { rows } = await client.query<{ epoch: number }>(
      "update control_plane_leader set epoch = epoch + 1, holder = $1, url = $2, elected_at = $3 where id = 1 returning epoch",
      [name, url, Date.now()],
    );
    await client.query("commit");
    const epoch = Number(rows[0]?.epoch);
    if (!Number.isFinite(epoch)) throw new PlatformError("INTERNAL", "the control_plane_leader row is missing; the database's migrations did not run");
    return epoch;
  } catch (error) {
    await client.query("rollback").catch(() => undefined);
    // Release the advisory lock so that another replica may try.
    await client.query("select pg_advisory_unlock($1, $2)", [...ADVISORY_KEY]).catch(() => undefined);
    throw error;
  }
}
