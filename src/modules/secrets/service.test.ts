// Team secrets against a real database (both dialects) and a real key file: values round-trip for
// server code only, lists carry names, the stored bytes hold no value in plain text, a server with
// another key says so, and who may do what follows the policy. The HTTP part runs a whole app
// (SQLite) with its logs captured, to check that no answer, log line or audit record has a value.
import { randomBytes } from "node:crypto";
import { chmodSync, existsSync, mkdtempSync, readFileSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { sql } from "kysely";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createApp, type App } from "../../app.ts";
import { loadConfig } from "../../config/index.ts";
import { isPlatformError, randomIds, type Principal } from "../../core/index.ts";
import { openTestDatabase, testDialects } from "../../../test/support/databases.ts";
import { loadSecretKey, secretKeyFrom } from "./secret-key.ts";
import { SecretService } from "./service.ts";
import { MAX_SECRETS_PER_TEAM } from "./schema.ts";

const maintainer: Principal = { name: "ada", kind: "user", platformAdmin: false, teams: { risk: "maintainer", growth: "developer" } };
const developer: Principal = { name: "dev", kind: "user", platformAdmin: false, teams: { risk: "developer" } };
const outsider: Principal = { name: "otto", kind: "user", platformAdmin: false, teams: { growth: "maintainer" } };
const VALUE = "pw-8f3a1c5e9b7d-correct-horse";

async function codeOf(promise: Promise<unknown> | (() => unknown)): Promise<string | undefined> {
  try {
    await (typeof promise === "function" ? promise() : promise);
  } catch (error) {
    return isPlatformError(error) ? error.code : `not a PlatformError: ${String(error)}`;
  }
  return undefined;
}

describe("the secrets key file", () => {
  it("is created with mode 0600 on first use, then read back as the same key", () => {
    const dir = mkdtempSync(join(tmpdir(), "paved-key-"));
    const file = join(dir, "data", "secrets.key");
    const first = loadSecretKey(file);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(statSync(file).size).toBe(32);
    expect(loadSecretKey(file).id).toBe(first.id);
    const sealed = first.encrypt("x", "a");
    expect(loadSecretKey(file).decrypt(sealed, "a")).toBe("x");
  });

  it("accepts 32 bytes in base64 and a group-readable mount, and refuses a file others may read, its group write, or of the wrong size", async () => {
    const dir = mkdtempSync(join(tmpdir(), "paved-key-"));
    const key = randomBytes(32);
    writeFileSync(join(dir, "b64"), `${key.toString("base64")}\n`, { mode: 0o600 });
    expect(loadSecretKey(join(dir, "b64")).id).toBe(secretKeyFrom(key).id);
    writeFileSync(join(dir, "open"), key, { mode: 0o600 });
    chmodSync(join(dir, "open"), 0o644);
    expect(await codeOf(() => loadSecretKey(join(dir, "open")))).toBe("CONFIG");
    chmodSync(join(dir, "open"), 0o660);
    expect(await codeOf(() => loadSecretKey(join(dir, "open")))).toBe("CONFIG");
    // A Kubernetes secret mounted with fsGroup: its group may read it.
    chmodSync(join(dir, "open"), 0o440);
    expect(loadSecretKey(join(dir, "open")).id).toBe(secretKeyFrom(key).id);
    writeFileSync(join(dir, "short"), randomBytes(16), { mode: 0o600 });
    expect(await codeOf(() => loadSecretKey(join(dir, "short")))).toBe("CONFIG");
  });
});

describe.each(testDialects())("team secrets (%s)", (dialect) => {
  let database: Awaited<ReturnType<typeof openTestDatabase>>;
  let service: SecretService;
  const key = secretKeyFrom(randomBytes(32));
  let now = 1_700_000_000_000;
  const clock = { now: () => now };

  beforeAll(async () => {
    database = await openTestDatabase(dialect);
    for (const team of ["risk", "growth"]) await database.db.insertInto("teams").values({ team_id: team, description: null, created_at: now }).execute();
    service = new SecretService({ db: database.db, key, clock, ids: randomIds });
  });
  afterAll(async () => database.close());

  it("sets a secret that server code reads back, and lists its name and history only", async () => {
    const set = await service.put("warehouse-password", { value: VALUE, team: "risk" }, maintainer);
    expect(set).toEqual({ team: "risk", name: "warehouse-password", createdBy: "ada", createdAt: now, updatedBy: "ada", updatedAt: now });
    expect(await service.reader("risk").read("warehouse-password")).toBe(VALUE);
    now += 1000;
    await service.put("warehouse-password", { value: `${VALUE}-2`, team: "risk" }, maintainer);
    expect(await service.reader("risk").read("warehouse-password")).toBe(`${VALUE}-2`);
    const listed = await service.list(developer);
    expect(listed).toEqual([{ team: "risk", name: "warehouse-password", createdBy: "ada", createdAt: now - 1000, updatedBy: "ada", updatedAt: now }]);
    expect(JSON.stringify(listed)).not.toContain(VALUE);
  });

  it("keeps teams apart: another team's secret is missing to its readers, its maintainers and its connectors", async () => {
    await service.put("s3-secret-key", { value: VALUE, team: "risk" }, maintainer);
    expect(await service.list(outsider)).toEqual([]);
    expect(await codeOf(service.reader("growth").read("s3-secret-key"))).toBe("NOT_FOUND");
    expect(await codeOf(service.delete("s3-secret-key", "risk", outsider))).toBe("NOT_FOUND");
    expect(await codeOf(service.put("s3-secret-key", { value: "x", team: "risk" }, outsider))).toBe("NOT_FOUND");
  });

  it("lets developers list names but only maintainers write or delete", async () => {
    expect(await codeOf(service.put("dev-made", { value: "x", team: "risk" }, developer))).toBe("FORBIDDEN");
    await service.put("temporary", { value: "x", team: "risk" }, maintainer);
    expect(await codeOf(service.delete("temporary", "risk", developer))).toBe("FORBIDDEN");
    await service.delete("temporary", "risk", maintainer);
    expect(await codeOf(service.delete("temporary", "risk", maintainer))).toBe("NOT_FOUND");
    expect(await codeOf(service.reader("risk").read("temporary"))).toBe("NOT_FOUND");
  });

  it("stores no value in plain text, and binds each value to its team and name", async () => {
    await service.put("plain-check", { value: VALUE, team: "risk" }, maintainer);
    const rows = await database.db.selectFrom("team_secrets").selectAll().execute();
    expect(rows.length).toBeGreaterThan(0);
    for (const row of rows) {
      expect(JSON.stringify(row)).not.toContain(VALUE);
      expect(Buffer.from(row.ciphertext, "base64").toString("latin1")).not.toContain(VALUE);
    }
    if (dialect === "sqlite") {
      // Every byte the database keeps on disk: the file and its write-ahead log.
      await sql`pragma wal_checkpoint(TRUNCATE)`.execute(database.db);
      const files = readdirSync(database.dataDir).filter((f) => f.startsWith("paved.db"));
      expect(files).toContain("paved.db");
      for (const f of files) expect(readFileSync(join(database.dataDir, f)).includes(Buffer.from(VALUE)), f).toBe(false);
    }
    // A value copied onto another row (another team's, another name) does not decrypt there.
    const source = rows.find((r) => r.name === "plain-check")!;
    await service.put("copy-target", { value: "other", team: "risk" }, maintainer);
    await database.db.updateTable("team_secrets").set({ ciphertext: source.ciphertext }).where("team_id", "=", "risk").where("name", "=", "copy-target").execute();
    expect(await codeOf(service.reader("risk").read("copy-target"))).toBe("CONFIG");
  });

  it("says clearly when the server's key is not the one a value was written under", async () => {
    await service.put("rotated", { value: VALUE, team: "risk" }, maintainer);
    const other = new SecretService({ db: database.db, key: secretKeyFrom(randomBytes(32)), clock, ids: randomIds });
    let error: unknown;
    try {
      await other.reader("risk").read("rotated");
    } catch (e) {
      error = e;
    }
    expect(isPlatformError(error) && error.code).toBe("CONFIG");
    expect((error as Error).message).toContain("secrets.keyFile");
    expect((error as Error).message).not.toContain(VALUE);
  });

  it("bounds how many secrets a team holds", async () => {
    const have = (await service.list(maintainer)).filter((s) => s.team === "growth").length;
    const admin: Principal = { name: "root", kind: "user", platformAdmin: true, teams: {} };
    for (let i = have; i < MAX_SECRETS_PER_TEAM; i++) await service.put(`bulk-${i}`, { value: "x", team: "growth" }, admin);
    expect(await codeOf(service.put("one-more", { value: "x", team: "growth" }, admin))).toBe("QUOTA_EXCEEDED");
    // Replacing an existing one still works at the bound.
    await service.put("bulk-0", { value: "y", team: "growth" }, admin);
  });
});

describe("secrets over HTTP", () => {
  let app: App;
  const logs: string[] = [];
  let admin: Record<string, string>;
  let dataDir: string;

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), "paved-secrets-http-"));
    const sink = new Writable({ write: (chunk, _enc, done) => (logs.push(String(chunk)), done()) });
    const config = loadConfig({ env: {}, overrides: { dataDir, logLevel: "trace", compute: { gpus: [], cpus: 1, memoryMiB: 512 }, serving: { dataPlane: { processes: 0 } } } as never });
    app = await createApp(config, { logger: pino({ level: "trace" }, sink) });
    admin = { authorization: `Bearer ${app.generatedAdminToken}` };
    expect((await app.server.inject({ method: "POST", url: "/api/v1/teams", headers: admin, payload: { name: "risk" } })).statusCode).toBe(200);
  });
  afterAll(async () => app?.close());

  it("never answers, logs or audits a value", async () => {
    expect(statSync(join(dataDir, "secrets.key")).mode & 0o777).toBe(0o600);
    const put = await app.server.inject({ method: "PUT", url: "/api/v1/secrets/warehouse-password", headers: admin, payload: { value: VALUE, team: "risk" } });
    expect(put.statusCode, put.body).toBe(200);
    const bad = await app.server.inject({ method: "PUT", url: "/api/v1/secrets/Bad..Name", headers: admin, payload: { value: VALUE, team: "risk" } });
    expect(bad.json().error.code).toBe("INVALID_INPUT");
    const extra = await app.server.inject({ method: "PUT", url: "/api/v1/secrets/x1", headers: admin, payload: { value: VALUE, team: "risk", password: VALUE } });
    expect(extra.json().error.code).toBe("INVALID_INPUT");
    const tooBig = await app.server.inject({ method: "PUT", url: "/api/v1/secrets/big", headers: admin, payload: { value: "v".repeat(65 * 1024), team: "risk" } });
    expect(tooBig.json().error.code).toBe("INVALID_INPUT");
    const list = await app.server.inject({ method: "GET", url: "/api/v1/secrets", headers: admin });
    expect(list.json().secrets.map((s: { name: string }) => s.name)).toEqual(["warehouse-password"]);
    const del = await app.server.inject({ method: "DELETE", url: "/api/v1/secrets/warehouse-password?team=risk", headers: admin });
    expect(del.statusCode, del.body).toBe(200);
    await app.close();
    const answers = [put, bad, extra, tooBig, list, del].map((r) => r.body).join("\n");
    expect(answers).not.toContain(VALUE);
    expect(logs.length).toBeGreaterThan(0);
    expect(logs.join("")).not.toContain(VALUE);
    // The audit log recorded the writes (after close, every record is written), by name only.
    const { openDatabase } = await import("../../storage/index.ts");
    const db = await openDatabase({ dataDir, migrate: false });
    const audited = await db.db.selectFrom("audit_events").selectAll().execute();
    await db.close();
    expect(audited.some((e) => JSON.stringify(e).includes("warehouse-password"))).toBe(true);
    expect(JSON.stringify(audited)).not.toContain(VALUE);
    for (const f of readdirSync(dataDir).filter((f) => f.startsWith("paved.db"))) expect(readFileSync(join(dataDir, f)).includes(Buffer.from(VALUE)), f).toBe(false);
    expect(existsSync(join(dataDir, "secrets.key"))).toBe(true);
  });
});
