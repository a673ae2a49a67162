import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import pg from "pg";
import { openDatabase, type Database, type Dialect } from "../../src/storage/index.ts";

/** The dialects store tests run on: SQLite always, PostgreSQL when the test script started one. */
export function testDialects(): Dialect[] {
  return process.env.PAVED_TEST_DATABASE_URL ? ["sqlite", "postgres"] : ["sqlite"];
}

/** A fresh, migrated database of the dialect (a new PostgreSQL database per call). */
export async function openTestDatabase(dialect: Dialect): Promise<Database & { dataDir: string; url?: string }> {
  const dataDir = mkdtempSync(join(tmpdir(), "paved-test-"));
  if (dialect === "sqlite") return { ...(await openDatabase({ dataDir })), dataDir };
  const url = await testPostgresUrl();
  return { ...(await openDatabase({ dataDir, url })), dataDir, url };
}

/** Creates an empty PostgreSQL database and returns its URL. */
export async function testPostgresUrl(): Promise<string> {
  const admin = process.env.PAVED_TEST_DATABASE_URL;
  if (!admin) throw new Error("PAVED_TEST_DATABASE_URL is not set; run the suite with `npm test`");
  const name = `paved_${randomBytes(6).toString("hex")}`;
  const client = new pg.Client({ connectionString: admin });
  await client.connect();
  try {
    await client.query(`create database ${name}`);
  } finally {
    await client.end();
  }
  return admin.replace(/\/[^/]*$/, `/${name}`);
}
