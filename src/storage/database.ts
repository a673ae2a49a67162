import { mkdirSync } from "node:fs";
import { join } from "node:path";
import BetterSqlite3 from "better-sqlite3";
import { CompiledQuery, Kysely, Migrator, PostgresDialect, SqliteDialect, SqliteDriver, type DatabaseConnection, type Driver, type Migration, type MigrationProvider, type PostgresPool, type PostgresPoolClient } from "kysely";
import pg from "pg";
import { PlatformError } from "../core/index.ts";
import { jobRecordedMigration } from "./migrations/003-job-recorded.ts";
import { initialMigration } from "./migrations/001-initial.ts";
import { evaluationsMigration } from "./migrations/004-evaluations.ts";
import { deploymentsMigration } from "./migrations/005-deployments.ts";
import { deploymentOutcomesMigration } from "./migrations/006-deployment-outcomes.ts";
import { deploymentHardeningMigration } from "./migrations/009-deployment-hardening.ts";
import { evaluationPhasesMigration } from "./migrations/007-evaluation-phases.ts";
import { evaluationHardeningMigration } from "./migrations/008-evaluation-hardening.ts";
import { registryMigration } from "./migrations/002-registry.ts";
import { teamsMigration } from "./migrations/010-teams.ts";
import { teamUploadsMigration } from "./migrations/013-team-uploads.ts";
import { auditMigration } from "./migrations/011-audit.ts";
import { ssoMigration } from "./migrations/012-sso.ts";
import { quotasMigration } from "./migrations/014-quotas.ts";
import { budgetsPoliciesMigration } from "./migrations/015-budgets-policies.ts";
import { workspacesMigration } from "./migrations/016-workspaces.ts";
import { metricChunksMigration } from "./migrations/017-metric-chunks.ts";
import { sweepsMigration } from "./migrations/018-sweeps.ts";
import { leaderMigration } from "./migrations/019-leader.ts";
import { adoptionMigration } from "./migrations/021-adoption.ts";
import { monitoringMigration } from "./migrations/022-monitoring.ts";
import { datasetsMigration } from "./migrations/023-datasets.ts";
import { secretsMigration } from "./migrations/024-secrets.ts";
import { pipelinesMigration } from "./migrations/026-pipelines.ts";
import { predictionsMigration } from "./migrations/025-predictions.ts";
import { triggersMigration } from "./migrations/027-triggers.ts";
import { monitorSamplesMigration } from "./migrations/029-monitor-samples.ts";
import { changeTimesMigration } from "./migrations/030-change-times.ts";
import { runCollectionMigration } from "./migrations/032-run-collection.ts";
import { dropLatestMetricsKeyMigration } from "./migrations/033-drop-latest-metrics-key.ts";
import { metricWriteBeginMigration } from "./migrations/034-metric-write-begin.ts";
import { searchIndexMigration } from "./migrations/031-search-index.ts";
import { featuresMigration } from "./migrations/028-features.ts";
import { ensureFences } from "./leader.ts";
import type { Tables } from "./tables.ts";

export type Dialect = "sqlite" | "postgres";

/** The metadata database: a Kysely instance plus what a hot path needs to bypass it. */
export interface Database {
  readonly db: Kysely<Tables>;
  readonly dialect: Dialect;
  /** The raw better-sqlite3 handle (SQLite only), for prepared-statement bulk inserts. */
  readonly sqlite?: BetterSqlite3.Database;
  /** PostgreSQL: the SQL texts run as named prepared statements (a hot path's; see NamedStatements). */
  readonly statements?: NamedStatements;
  /**
   * PostgreSQL: from now on every session of this process says it leads at `epoch`, and the
   * `paved_fence` trigger refuses its writes once another replica is elected (src/storage/leader.ts).
   */
  fence?(epoch: number): void;
  /** Runs `hook` first when the database closes (a module's own connection or thread on it). */
  atClose(hook: () => Promise<void>): void;
  close(): Promise<void>;
}

export interface OpenDatabaseOptions {
  /** `postgres://…`, or unset for SQLite at `<dataDir>/paved.db`. */
  url?: string;
  dataDir: string;
  /** Bring the schema up to date (default). A data-plane process only reads, on the schema its control plane keeps. */
  migrate?: boolean;
}

/**
 * PostgreSQL: SQL texts that run as named prepared statements, parsed and planned once on each
 * pooled session instead of at every call. A hot path registers its texts (the metric write
 * path's: a batch's upsert binds about 220 values, and parsing and planning it again at every
 * call took about 40% of PostgreSQL's CPU a batch: docs/benchmarks.md#tracking). Kysely sends every query
 * by text, so the pool handed to it names those texts as `pg` sends them. At most `limit` texts are
 * named (each is kept prepared on every session that ran it); past that, a text runs unnamed.
 * A named statement lives in its session, as the leader's epoch does (src/storage/leader.ts), so
 * a pooler between Paved and PostgreSQL pools sessions (docs/deploying-paved.md).
 */
export class NamedStatements {
  private readonly names = new Map<string, string>();

  constructor(private readonly limit = 64) {}

  /** Registers `text` (once) and returns it. */
  add(text: string): string {
    if (this.names.size < this.limit && !this.names.has(text)) this.names.set(text, `paved_${this.names.size}`);
    return text;
  }

  name(text: string): string | undefined {
    return this.names.get(text);
  }
}

/** `pool` for Kysely, its sessions sending the registered texts as named statements. */
function namingPool(pool: pg.Pool, statements: NamedStatements): PostgresPool {
  // One wrapper per pg client: Kysely keeps its connection object per client it is handed.
  const wrappers = new WeakMap<pg.PoolClient, PostgresPoolClient>();
  const wrap = (client: pg.PoolClient): PostgresPoolClient => ({
    query: ((query: unknown, values?: unknown[]) => {
      const name = typeof query === "string" ? statements.name(query) : undefined;
      return name ? client.query({ name, text: query as string, values: values as unknown[] }) : client.query(query as string, values);
    }) as unknown as PostgresPoolClient["query"],
    release: (destroy) => client.release(destroy),
  });
  return {
    connect: async () => {
      const client = await pool.connect();
      let wrapper = wrappers.get(client);
      if (!wrapper) wrappers.set(client, (wrapper = wrap(client)));
      return wrapper;
    },
    end: () => pool.end(),
  };
}

// PostgreSQL returns int8 as strings; every bigint here is an epoch-ms time, a step or a size,
// all far below 2^53.
pg.types.setTypeParser(20, (v) => Number(v));

/** Opens the database and brings its schema up to date. */
export async function openDatabase({ url, dataDir, migrate: migrating = true }: OpenDatabaseOptions): Promise<Database> {
  let database: Database;
  const hooks: (() => Promise<void>)[] = [];
  const closing = async (destroy: () => Promise<void>) => {
    for (const hook of hooks.splice(0)) await hook();
    await destroy();
  };
  if (url && /^postgres(ql)?:\/\//.test(url)) {
    const pool = new pg.Pool({ connectionString: url, max: 10 });
    const statements = new NamedStatements();
    const db = new Kysely<Tables>({ dialect: new PostgresDialect({ pool: namingPool(pool, statements) }) });
    let epoch: string | undefined;
    const told = new WeakMap<pg.PoolClient, string>();
    // 'acquire' is emitted before Kysely gets the session, and a session runs its queries in
    // order: the epoch is set before the first statement that needs it.
    pool.on("acquire", (client) => {
      if (epoch === undefined || told.get(client) === epoch) return;
      told.set(client, epoch);
      void client.query("select set_config('paved.epoch', $1, false)", [epoch]).catch(() => undefined);
    });
    database = {
      db,
      dialect: "postgres",
      statements,
      fence: (e) => {
        epoch = String(e);
      },
      atClose: (hook) => hooks.push(hook),
      close: () => closing(() => db.destroy()),
    };
  } else if (url) {
    throw new PlatformError("CONFIG", `unsupported database URL '${redact(url)}'; use postgres://user@host:port/db or leave it unset for SQLite`);
  } else {
    mkdirSync(dataDir, { recursive: true });
    const sqlite = openSqlite(join(dataDir, "paved.db"));
    const db = new Kysely<Tables>({ dialect: new ImmediateSqliteDialect(sqlite) });
    database = { db, dialect: "sqlite", sqlite, atClose: (hook) => hooks.push(hook), close: () => closing(() => db.destroy()) };
  }
  if (migrating) {
    await migrate(database);
    if (database.dialect === "postgres") await ensureFences(database.db);
  }
  return database;
}

/**
 * A connection to the SQLite file with Paved's settings. Also the metric writer thread's own
 * connection (src/modules/tracking/metric-writer.ts): every connection to the file has them.
 */
export function openSqlite(file: string): BetterSqlite3.Database {
  const sqlite = new BetterSqlite3(file);
  sqlite.pragma("journal_mode = WAL");
  // FULL: a commit is fsynced before it is acknowledged, so acknowledged writes survive kill -9
  // and power loss alike.
  sqlite.pragma("synchronous = FULL");
  sqlite.pragma("busy_timeout = 5000");
  sqlite.pragma("foreign_keys = ON");
  return sqlite;
}

/**
 * Kysely's SQLite dialect with transactions that take the write lock when they begin. A deferred
 * `begin` that reads and then writes fails at once with SQLITE_BUSY (no wait) if another
 * connection (the metric writer thread's) committed in between; `begin immediate` waits for the
 * lock (busy_timeout) instead, and then its reads and writes see one state.
 */
class ImmediateSqliteDialect extends SqliteDialect {
  constructor(private readonly sqlite: BetterSqlite3.Database) {
    super({ database: sqlite });
  }

  override createDriver(): Driver {
    return new (class extends SqliteDriver {
      override async beginTransaction(connection: DatabaseConnection): Promise<void> {
        await connection.executeQuery(CompiledQuery.raw("begin immediate"));
      }
    })({ database: this.sqlite });
  }
}

function migrations(dialect: Dialect): Record<string, Migration> {
  return { "001-initial": initialMigration(dialect), "002-registry": registryMigration(), "003-job-recorded": jobRecordedMigration(), "004-evaluations": evaluationsMigration(), "005-deployments": deploymentsMigration(), "006-deployment-outcomes": deploymentOutcomesMigration(), "007-evaluation-phases": evaluationPhasesMigration(), "008-evaluation-hardening": evaluationHardeningMigration(), "009-deployment-hardening": deploymentHardeningMigration(), "010-teams": teamsMigration(), "011-audit": auditMigration(dialect), "012-sso": ssoMigration(), "013-team-uploads": teamUploadsMigration(), "014-quotas": quotasMigration(), "015-budgets-policies": budgetsPoliciesMigration(), "016-workspaces": workspacesMigration(dialect), "017-metric-chunks": metricChunksMigration(dialect), "018-sweeps": sweepsMigration(dialect), "019-leader": leaderMigration(), "021-adoption": adoptionMigration(), "022-monitoring": monitoringMigration(dialect), "023-datasets": datasetsMigration(), "024-secrets": secretsMigration() };
}

async function migrate(database: Database): Promise<void> {
  const provider: MigrationProvider = { getMigrations: async () => ({ ...migrations(database.dialect), "025-predictions": predictionsMigration(), "026-pipelines": pipelinesMigration(database.dialect), "027-triggers": triggersMigration(), "029-monitor-samples": monitorSamplesMigration(), "028-features": featuresMigration(), "030-change-times": changeTimesMigration(), "031-search-index": searchIndexMigration(), "032-run-collection": runCollectionMigration(), "033-drop-latest-metrics-key": dropLatestMetricsKeyMigration(), "034-metric-write-begin": metricWriteBeginMigration(database.dialect) }) };
  const migrator = new Migrator({ db: database.db, provider });
  const { error } = await migrator.migrateToLatest();
  if (error) {
    throw new PlatformError("INTERNAL", `database migration failed: ${(error as Error).message}`);
  }
}

function redact(url: string): string {
  return url.replace(/\/\/[^@/]*@/, "//***@");
}
