// Dataset connectors against real sources: folders on this machine, a real PostgreSQL (when the
// suite started one: PAVED_TEST_DATABASE_URL), and s3rver, an EMULATOR of Amazon S3 started as a
// child process (it does not check signatures, so wrong keys are not caught here). Credentials come
// from the real secrets service on a real SQLite database. Each connector runs the one contract
// suite, then its own cases.
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, readdirSync, symlinkSync, writeFileSync } from "node:fs";
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PutObjectCommand } from "@aws-sdk/client-s3";
import { DuckDBInstance } from "@duckdb/node-api";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isPlatformError, randomIds, type Principal } from "../src/core/index.ts";
import { connectorContract } from "../src/modules/datasets/connectors/connector.contract.ts";
import { LocalConnector, PostgresConnector, S3Connector, createConnectorRegistry, runSnapshot, type ConnectorLimits, type SecretReader } from "../src/modules/datasets/connectors/index.ts";
import { SecretService, secretKeyFrom } from "../src/modules/secrets/index.ts";
import { openTestDatabase, testPostgresUrl } from "./support/databases.ts";
import { startS3rver, type S3Emulator } from "./support/s3-emulator.ts";
import { pollUntil } from "./support/poll.ts";

const maintainer: Principal = { name: "ada", kind: "user", platformAdmin: false, teams: { risk: "maintainer" } };
const LIMITS: ConnectorLimits = { maxBytes: 1024 ** 3, maxFiles: 10_000, maxRows: 10_000_000 };
const PG_PASSWORD = `pg-${randomBytes(8).toString("hex")}`;

let secrets: SecretReader;
let closeDb: () => Promise<void>;

beforeAll(async () => {
  const database = await openTestDatabase("sqlite");
  closeDb = () => database.close();
  const service = new SecretService({ db: database.db, key: secretKeyFrom(randomBytes(32)), clock: { now: () => Date.now() }, ids: randomIds });
  await service.put("warehouse-password", { value: PG_PASSWORD, team: "risk" }, maintainer);
  await service.put("s3-access-key", { value: "S3RVER", team: "risk" }, maintainer);
  await service.put("s3-secret-key", { value: "S3RVER", team: "risk" }, maintainer);
  secrets = service.reader("risk");
});
afterAll(async () => closeDb?.());

async function codeOf(promise: Promise<unknown>): Promise<string | undefined> {
  try {
    await promise;
  } catch (error) {
    return isPlatformError(error) ? error.code : `not a PlatformError: ${String(error)}`;
  }
  return undefined;
}

// ---- local ----

const base = mkdtempSync(join(tmpdir(), "paved-local-roots-"));
const exportsRoot = join(base, "exports");
const trickyRoot = join(base, "tricky");
const outside = join(base, "outside");
mkdirSync(join(exportsRoot, "2024", "q1"), { recursive: true });
writeFileSync(join(exportsRoot, "2024", "a.csv"), "x,y\n1,2\n");
writeFileSync(join(exportsRoot, "2024", "q1", "b.csv"), "x,y\n3,4\n5,6\n");
// A link that stays inside the root is followed.
symlinkSync(join(exportsRoot, "2024", "a.csv"), join(exportsRoot, "2024", "q1", "same-as-a.csv"));
mkdirSync(outside);
writeFileSync(join(outside, "shadow"), "root:x:0:0\n");
mkdirSync(join(trickyRoot, "data"), { recursive: true });
writeFileSync(join(trickyRoot, "data", "ok.csv"), "x\n1\n");
symlinkSync(join(outside, "shadow"), join(trickyRoot, "data", "escape"));
symlinkSync(outside, join(trickyRoot, "escape-dir"));
const roots = [
  { name: "exports", path: exportsRoot },
  { name: "tricky", path: trickyRoot },
];

connectorContract("local", () => ({
  connector: new LocalConnector(roots),
  spec: { kind: "local", root: "exports", path: "2024" },
  files: ["a.csv", "q1/b.csv", "q1/same-as-a.csv"],
  secrets,
  secretValues: [],
  outside: [
    { why: "an unknown root", spec: { kind: "local", root: "etc", path: "passwd" }, code: "INVALID_INPUT" },
    { why: "'..' out of the root", spec: { kind: "local", root: "exports", path: "../outside/shadow" }, code: "INVALID_INPUT" },
    { why: "an absolute path", spec: { kind: "local", root: "exports", path: "/etc/passwd" }, code: "INVALID_INPUT" },
    { why: "a link to a file outside", spec: { kind: "local", root: "tricky", path: "data/escape" }, code: "INVALID_INPUT" },
    { why: "a folder holding a link outside", spec: { kind: "local", root: "tricky", path: "data" }, code: "INVALID_INPUT" },
    { why: "a link to a folder outside", spec: { kind: "local", root: "tricky", path: "escape-dir/shadow" }, code: "INVALID_INPUT" },
  ],
  missingSecret: "the local connector reads no secrets: its roots are the server's own folders, allowed by its admin",
}));

describe("local connector", () => {
  it("reads one file, or a whole root, and says which root and path", async () => {
    const connector = new LocalConnector(roots);
    const scratchDir = await mkdtemp(join(tmpdir(), "paved-snap-"));
    const one = await connector.snapshot({ kind: "local", root: "exports", path: "2024/q1/b.csv" }, { team: "risk", secrets, scratchDir, limits: LIMITS, signal: new AbortController().signal });
    expect(one).toEqual({ files: [{ path: "b.csv", bytes: 12 }], source: { kind: "local", root: "exports", path: "2024/q1/b.csv", files: 1, bytes: 12 } });
    const whole = await connector.snapshot({ kind: "local", root: "exports" }, { team: "risk", secrets, scratchDir: await mkdtemp(join(tmpdir(), "paved-snap-")), limits: LIMITS, signal: new AbortController().signal });
    expect(whole.source).toMatchObject({ root: "exports", path: ".", files: 3 });
    expect(await codeOf(connector.snapshot({ kind: "local", root: "exports", path: "2025" }, { team: "risk", secrets, scratchDir, limits: LIMITS, signal: new AbortController().signal }))).toBe("NOT_FOUND");
    expect(await codeOf(connector.snapshot({ kind: "local", root: "exports", path: "2024" }, { team: "risk", secrets, scratchDir: await mkdtemp(join(tmpdir(), "paved-snap-")), limits: { ...LIMITS, maxFiles: 2 }, signal: new AbortController().signal }))).toBe("PAYLOAD_TOO_LARGE");
  });

  it("reads nothing when no root is configured, and says how to add one", async () => {
    let message = "";
    try {
      await new LocalConnector([]).snapshot({ kind: "local", root: "exports" }, { team: "risk", secrets, scratchDir: base, limits: LIMITS, signal: new AbortController().signal });
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toContain("datasets.connectors.localRoots");
  });

  it("runs through the registry and the snapshot wrapper, which lists kinds and cleans up after a failure", async () => {
    const registry = createConnectorRegistry({ localRoots: roots, allowedHosts: [], postgres: { statementTimeoutSeconds: 5, batchRows: 100 } });
    expect(registry.kinds()).toEqual(["local", "postgres", "s3"]);
    let error: unknown;
    try {
      registry.get("ftp");
    } catch (e) {
      error = e;
    }
    expect(isPlatformError(error) && error.code).toBe("INVALID_INPUT");
    expect(isPlatformError(error) && error.details).toEqual({ kinds: ["local", "postgres", "s3"] });
    const workDir = await mkdtemp(join(tmpdir(), "paved-work-"));
    const done = await runSnapshot({ registry, spec: { kind: "local", root: "exports", path: "2024/a.csv" }, team: "risk", secrets, workDir, limits: { ...LIMITS, timeoutSeconds: 60 } });
    expect(readdirSync(done.dir)).toEqual(["a.csv"]);
    expect(await codeOf(runSnapshot({ registry, spec: { kind: "local", root: "tricky", path: "data" }, team: "risk", secrets, workDir, limits: { ...LIMITS, timeoutSeconds: 60 } }))).toBe("INVALID_INPUT");
    // The failed snapshot's scratch folder is gone; the successful one's is the caller's.
    expect(readdirSync(workDir)).toEqual([done.dir.slice(workDir.length + 1)]);
  });
});

// ---- postgres ----

const pgAdmin = process.env.PAVED_TEST_DATABASE_URL;
describe.skipIf(!pgAdmin)("postgres connector (real PostgreSQL; skipped without PAVED_TEST_DATABASE_URL)", () => {
  let url: URL;
  const ROWS = 3000;
  beforeAll(async () => {
    url = new URL(await testPostgresUrl());
    const client = new pg.Client({ connectionString: url.toString() });
    await client.connect();
    try {
      // The test cluster trusts local connections, so the password (from the team secret) is sent but not checked.
      await client.query(`do $$ begin if not exists (select 1 from pg_roles where rolname = 'paved_reader') then create role paved_reader login password '${PG_PASSWORD}'; end if; end $$`);
      await client.query(`create table customers (
        id bigint primary key, name text, score double precision, balance numeric(12,2), ratio numeric,
        active boolean, signed_up timestamptz, born date, seen timestamp, small smallint, tags text[], doc jsonb, blob bytea)`);
      await client.query(`insert into customers
        select i, case when i % 10 = 0 then null else 'name ' || i || ' ''quoted'' ; -- not a comment' end,
               case when i % 7 = 0 then null else i * 1.5 end, (i * 100.25)::numeric(12,2), i / 3.0,
               i % 2 = 0, timestamptz '2024-01-01 00:00:00.123456+00' + i * interval '1 minute',
               date '2000-01-01' + i, timestamp '2024-06-01 12:00:00.654321' + i * interval '1 second', (i % 100)::smallint,
               array['a', 'b' || i], jsonb_build_object('i', i), decode(lpad(to_hex(i), 8, '0'), 'hex')
        from generate_series(1, ${ROWS}) i`);
      await client.query("grant select on customers to paved_reader");
      await client.query("create sequence counter");
      await client.query("grant usage on sequence counter to paved_reader");
    } finally {
      await client.end();
    }
  });

  const hostPort = () => `${url.hostname}:${url.port}`;
  const spec = (extra: Record<string, unknown> = {}) => ({
    kind: "postgres",
    host: url.hostname,
    port: Number(url.port),
    database: url.pathname.slice(1),
    user: "paved_reader",
    passwordSecret: "warehouse-password",
    tls: "disable",
    query: "select * from customers order by id",
    file: "customers.parquet",
    ...extra,
  });
  const connector = (statementTimeoutSeconds = 30) => new PostgresConnector({ allowedHosts: [hostPort()], statementTimeoutSeconds, batchRows: 500 });

  connectorContract("postgres", () => ({
    connector: connector(),
    spec: spec({ query: "select id, name from customers where id <= 10" }),
    files: ["customers.parquet"],
    secrets,
    secretValues: [PG_PASSWORD],
    outside: [
      { why: "a host not allowed", spec: spec({ host: "warehouse.example.com" }), code: "FORBIDDEN" },
      { why: "another port of an allowed host", spec: spec({ port: 1 }), code: "FORBIDDEN" },
      { why: "not a SELECT", spec: spec({ query: "delete from customers" }), code: "INVALID_INPUT" },
    ],
    missingSecret: spec({ passwordSecret: "no-such-secret" }),
  }));

  it("snapshots thousands of rows of mixed types into Parquet, exactly, in batches", async () => {
    const scratchDir = await mkdtemp(join(tmpdir(), "paved-snap-"));
    const registry = createConnectorRegistry({ localRoots: [], allowedHosts: [hostPort()], postgres: { statementTimeoutSeconds: 30, batchRows: 500 } });
    const result = await registry.get("postgres").snapshot(registry.parse(spec()).spec, { team: "risk", secrets, scratchDir, limits: LIMITS, signal: new AbortController().signal });
    expect(result.source).toMatchObject({ kind: "postgres", host: url.hostname, port: Number(url.port), user: "paved_reader", rows: ROWS, columns: 13 });
    expect(String(result.source.queryDigest)).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(JSON.stringify(result.source)).not.toContain(PG_PASSWORD);
    const duck = await DuckDBInstance.create();
    const db = await duck.connect();
    const file = join(scratchDir, "customers.parquet").replace(/'/g, "''");
    const types = (await db.runAndReadAll(`select column_name, column_type from (describe select * from '${file}')`)).getRowObjects();
    expect(Object.fromEntries(types.map((t) => [t.column_name, t.column_type]))).toEqual({
      id: "BIGINT",
      name: "VARCHAR",
      score: "DOUBLE",
      balance: "DECIMAL(12,2)",
      ratio: "DOUBLE",
      active: "BOOLEAN",
      signed_up: "TIMESTAMP WITH TIME ZONE",
      born: "DATE",
      seen: "TIMESTAMP",
      small: "SMALLINT",
      tags: "VARCHAR",
      doc: "VARCHAR",
      blob: "BLOB",
    });
    const summary = (
      await db.runAndReadAll(`select count(*)::integer as n, count(name)::integer as names, count(score)::integer as scores, sum(balance)::varchar as balance,
        min(signed_up) = timestamptz '2024-01-01 00:01:00.123456+00' as first_ts, max(seen) = timestamp '2024-06-01 12:50:00.654321' as last_seen,
        bool_and(active = (id % 2 = 0)) as actives, max(blob) = from_hex('00000BB8') as last_blob,
        (select name from '${file}' where id = 1) as first_name from '${file}'`)
    ).getRowObjects()[0]!;
    expect(summary).toEqual({
      n: ROWS,
      names: ROWS - ROWS / 10,
      scores: ROWS - Math.floor(ROWS / 7),
      balance: (100.25 * ((ROWS * (ROWS + 1)) / 2)).toFixed(2),
      first_ts: true,
      last_seen: true,
      actives: true,
      last_blob: true,
      first_name: "name 1 'quoted' ; -- not a comment",
    });
    db.closeSync();
    duck.closeSync();
  });

  it("runs the query read-only, within the statement timeout, and within the row bound", async () => {
    const run = (s: Record<string, unknown>, c = connector(), limits = LIMITS) =>
      (async () => {
        return c.snapshot(c.spec.parse(s), { team: "risk", secrets, scratchDir: await mkdtemp(join(tmpdir(), "paved-snap-")), limits, signal: new AbortController().signal });
      })();
    // nextval passes the lexical check (it is not a write keyword); the read-only transaction refuses it.
    expect(await codeOf(run(spec({ query: "select nextval('counter')" })))).toBe("INVALID_INPUT");
    // A query that would run for hours ends at the statement timeout (1 s here).
    expect(await codeOf(run(spec({ query: "select count(*) from generate_series(1, 100000000000)" }), connector(1)))).toBe("INVALID_INPUT");
    expect(await codeOf(run(spec(), connector(), { ...LIMITS, maxRows: 100 }))).toBe("PAYLOAD_TOO_LARGE");
    expect(await codeOf(run(spec({ query: "select 1; delete from customers" })))).toBe("INVALID_INPUT");
    // Still all there.
    const client = new pg.Client({ connectionString: url.toString() });
    await client.connect();
    expect((await client.query("select count(*)::int as n from customers")).rows[0].n).toBe(ROWS);
    expect((await client.query("select last_value, is_called from counter")).rows[0].is_called).toBe(false);
    await client.end();
  });

  it("stops a running query when the snapshot is cancelled, and the server ends it", async () => {
    const controller = new AbortController();
    const scratchDir = await mkdtemp(join(tmpdir(), "paved-snap-"));
    const c = connector(600);
    const running = codeOf(c.snapshot(c.spec.parse(spec({ query: "select count(*) from generate_series(1, 100000000000)" })), { team: "risk", secrets, scratchDir, limits: LIMITS, signal: controller.signal }));
    const watcher = new pg.Client({ connectionString: url.toString() });
    await watcher.connect();
    const active = async () => Number((await watcher.query("select count(*)::int as n from pg_stat_activity where datname = current_database() and application_name = 'paved-snapshot' and state = 'active' and query like 'fetch%'")).rows[0].n);
    await pollUntil("the snapshot's query running on PostgreSQL", active, (n) => n === 1, { timeoutMs: 30_000 });
    controller.abort();
    expect(await running).toBe("UNAVAILABLE");
    await pollUntil("the query ended on PostgreSQL", active, (n) => n === 0, { timeoutMs: 30_000 });
    await watcher.end();
    expect(readdirSync(scratchDir)).toEqual([]);
  });
});

// ---- s3 ----

describe("s3 connector (s3rver, an S3 emulator)", () => {
  let emulator: S3Emulator;
  let hostPort: string;
  beforeAll(async () => {
    emulator = await startS3rver();
    hostPort = new URL(emulator.endpoint).host;
    const client = emulator.client();
    const put = (key: string, body: string) => client.send(new PutObjectCommand({ Bucket: emulator.bucket, Key: key, Body: body }));
    await put("churn/2024/a.csv", "x,y\n1,2\n");
    await put("churn/2024/parts/b.csv", "x,y\n3,4\n");
    await put("churn/2024/parts/", "");
    await put("churn/2023/old.csv", "x,y\n0,0\n");
  }, 60_000);
  afterAll(async () => emulator?.stop());

  const spec = (extra: Record<string, unknown> = {}) => ({
    kind: "s3",
    url: `s3://${emulator.bucket}/churn/2024/`,
    endpoint: emulator.endpoint,
    accessKeyIdSecret: "s3-access-key",
    secretAccessKeySecret: "s3-secret-key",
    ...extra,
  });

  connectorContract("s3 (s3rver emulator)", () => ({
    connector: new S3Connector({ allowedHosts: [hostPort] }),
    spec: spec(),
    files: ["a.csv", "parts/b.csv"],
    secrets,
    secretValues: ["S3RVER"],
    outside: [
      { why: "AWS's endpoint, not allowed here", spec: spec({ endpoint: undefined, region: "eu-west-1" }), code: "FORBIDDEN" },
      { why: "another host", spec: spec({ endpoint: "http://169.254.169.254" }), code: "FORBIDDEN" },
      { why: "another port of the allowed host", spec: spec({ endpoint: `http://127.0.0.1:1` }), code: "FORBIDDEN" },
      { why: "credentials in the endpoint", spec: spec({ endpoint: `http://user:pw@${hostPort}` }), code: "INVALID_INPUT" },
      { why: "a path in the endpoint", spec: spec({ endpoint: `http://${hostPort}/other-service` }), code: "INVALID_INPUT" },
    ],
    missingSecret: spec({ secretAccessKeySecret: "no-such-secret" }),
  }));

  it("names objects after the prefix's last '/', and refuses an empty prefix or too many objects", async () => {
    const connector = new S3Connector({ allowedHosts: [hostPort] });
    const ctx = async (limits = LIMITS) => ({ team: "risk", secrets, scratchDir: await mkdtemp(join(tmpdir(), "paved-snap-")), limits, signal: new AbortController().signal });
    const partial = await connector.snapshot(connector.spec.parse(spec({ url: `s3://${emulator.bucket}/churn/20` })), await ctx());
    expect(partial.files.map((f) => f.path).sort()).toEqual(["2023/old.csv", "2024/a.csv", "2024/parts/b.csv"]);
    expect(partial.source).toEqual({ kind: "s3", endpoint: hostPort, bucket: emulator.bucket, prefix: "churn/20", objects: 3, bytes: 24 });
    expect(await codeOf(connector.snapshot(connector.spec.parse(spec({ url: `s3://${emulator.bucket}/nothing/` })), await ctx()))).toBe("NOT_FOUND");
    expect(await codeOf(connector.snapshot(connector.spec.parse(spec()), await ctx({ ...LIMITS, maxFiles: 1 })))).toBe("PAYLOAD_TOO_LARGE");
  });
});
