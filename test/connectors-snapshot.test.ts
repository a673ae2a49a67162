// Connectors end to end, through `paved` against a real listening server (SQLite): a maintainer
// sets the team's secrets from stdin, then `paved datasets snapshot` turns a folder under a
// configured root, an S3 prefix (s3rver, an S3 EMULATOR) and, when the suite started one, a real
// PostgreSQL query into dataset versions that record their source. No secret value appears in any
// output, in the server's log, in the version, or in the database file; refusals exit with their codes.
import { randomBytes } from "node:crypto";
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough, Writable } from "node:stream";
import { PutObjectCommand } from "@aws-sdk/client-s3";
import pg from "pg";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createApp, type App } from "../src/app.ts";
import { runCli } from "../src/cli/program.ts";
import { loadConfig } from "../src/config/index.ts";
import { testPostgresUrl } from "./support/databases.ts";
import { startS3rver, type S3Emulator } from "./support/s3-emulator.ts";

const PG_PASSWORD = `pw-${randomBytes(12).toString("hex")}`;
let app: App;
let url: string;
let dir: string;
let emulator: S3Emulator;
let pgUrl: URL | undefined;
const logs: string[] = [];
const outputs: string[] = [];

/** The real `paved` program, in process, with `stdin` as its standard input. */
async function paved(args: string[], stdin = ""): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = "";
  let stderr = "";
  const input = new PassThrough();
  input.end(stdin);
  const code = await runCli(["node", "paved", ...args], {
    env: { PAVED_URL: url, PAVED_TOKEN: app.generatedAdminToken!, HOME: join(dir, "home") },
    cwd: dir,
    io: { stdout: { write: (s: string | Uint8Array) => (stdout += String(s)) }, stderr: { write: (s: string) => (stderr += s) }, stdin: input },
  });
  outputs.push(stdout, stderr);
  return { code, stdout, stderr };
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "paved-snapshots-"));
  await mkdir(join(dir, "exports", "2024"), { recursive: true });
  await writeFile(join(dir, "exports", "2024", "train.csv"), ["id,plan", ...Array.from({ length: 25 }, (_, i) => `${i},${i % 2 ? "basic" : "pro"}`)].join("\n") + "\n");
  await writeFile(join(dir, "exports", "2024", "NOTES.md"), "June export\n");
  emulator = await startS3rver();
  const put = (key: string, body: string) => emulator.client().send(new PutObjectCommand({ Bucket: emulator.bucket, Key: key, Body: body }));
  await put("churn/2024/a.csv", "x,y\n1,2\n3,4\n");
  await put("churn/2024/b.csv", "x,y\n5,6\n");
  const allowedHosts = [new URL(emulator.endpoint).host];
  if (process.env.PAVED_TEST_DATABASE_URL) {
    pgUrl = new URL(await testPostgresUrl());
    allowedHosts.push(pgUrl.host);
    const client = new pg.Client({ connectionString: pgUrl.toString() });
    await client.connect();
    await client.query("create table orders (id int, amount numeric(10,2), placed timestamptz)");
    await client.query("insert into orders select i, i * 1.25, timestamptz '2024-01-01 00:00:00+00' + i * interval '1 hour' from generate_series(1, 500) i");
    await client.end();
  }
  const sink = new Writable({ write: (chunk, _enc, done) => (logs.push(String(chunk)), done()) });
  app = await createApp(
    loadConfig({
      env: {},
      overrides: {
        dataDir: join(dir, "data"),
        port: 0,
        host: "127.0.0.1",
        logLevel: "debug",
        compute: { gpus: [] },
        serving: { dataPlane: { processes: 0 } },
        datasets: { duckdb: { threads: 1, memoryLimitMiB: 256, maxConcurrent: 1 }, connectors: { localRoots: [{ name: "exports", path: join(dir, "exports") }], allowedHosts } },
      } as never,
    }),
    { env: {}, logger: pino({ level: "debug" }, sink) },
  );
  url = await app.listen();
  expect((await paved(["teams", "create", "risk"])).code).toBe(0);
}, 120_000);

afterAll(async () => {
  await app?.close();
  await emulator?.stop();
  await rm(dir, { recursive: true, force: true });
});

describe("paved secrets and paved datasets snapshot", () => {
  it("sets secrets from stdin and lists their names only", async () => {
    const set = await paved(["secrets", "set", "warehouse-password", "--team", "risk"], `${PG_PASSWORD}\n`);
    expect(set.code, set.stderr).toBe(0);
    expect(set.stdout).toContain("secret warehouse-password of team risk set");
    await writeFile(join(dir, "key-id"), "S3RVER");
    expect((await paved(["secrets", "set", "s3-access-key", "--team", "risk", "--from-file", "key-id"])).code).toBe(0);
    expect((await paved(["secrets", "set", "s3-secret-key", "--team", "risk"], "S3RVER")).code).toBe(0);
    const ls = await paved(["secrets", "ls"]);
    expect(ls.code).toBe(0);
    expect(ls.stdout).toMatch(/risk\s+s3-access-key/);
    expect(ls.stdout).toMatch(/risk\s+warehouse-password/);
    const json = await paved(["secrets", "ls", "--json"]);
    expect(JSON.parse(json.stdout).secrets).toHaveLength(3);
    expect((await paved(["secrets", "set", "empty", "--team", "risk"], "")).code).toBe(2);
    expect((await paved(["secrets", "rm", "nope", "--team", "risk"])).code).toBe(3);
  });

  it("snapshots a folder under a configured root, and the same folder again answers the same version", async () => {
    await writeFile(join(dir, "local.yaml"), "kind: local\nroot: exports\npath: '2024'\n");
    const first = await paved(["datasets", "snapshot", "june", "-f", "local.yaml", "--team", "risk", "--alias", "prod"]);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toContain("created datasets:/june@1 (2 files");
    expect(first.stdout).toContain("25 rows");
    expect(first.stdout).toContain("local root 'exports', path 2024");
    const again = await paved(["datasets", "snapshot", "june", "-f", "local.yaml", "--json"]);
    expect(again.code, again.stderr).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({ version: 1, existing: true, source: { kind: "local" } });
    await writeFile(join(dir, "escape.yaml"), "kind: local\nroot: exports\npath: ../data\n");
    const escaped = await paved(["datasets", "snapshot", "june", "-f", "escape.yaml"]);
    expect(escaped.code).toBe(2);
    expect(escaped.stderr).toContain("INVALID_INPUT");
    // Nothing is left in the server's scratch folder, after success or refusal.
    expect(await readdir(join(dir, "data", "datasets", "connectors"))).toEqual([]);
  });

  it("snapshots an S3 prefix with the team's keys", async () => {
    await writeFile(join(dir, "s3.yaml"), [`kind: s3`, `url: s3://${emulator.bucket}/churn/2024/`, `endpoint: ${emulator.endpoint}`, `accessKeyIdSecret: s3-access-key`, `secretAccessKeySecret: s3-secret-key`].join("\n") + "\n");
    const made = await paved(["datasets", "snapshot", "churn-raw", "-f", "s3.yaml", "--team", "risk", "--json"]);
    expect(made.code, made.stderr).toBe(0);
    const version = JSON.parse(made.stdout);
    expect(version).toMatchObject({ dataset: "churn-raw", version: 1, fileCount: 2, rowCount: 3, source: { kind: "s3" } });
    expect(version.source.description).toContain(`s3://${emulator.bucket}/churn/2024/`);
    await writeFile(join(dir, "aws.yaml"), [`kind: s3`, `url: s3://${emulator.bucket}/churn/2024/`, `accessKeyIdSecret: s3-access-key`, `secretAccessKeySecret: s3-secret-key`].join("\n") + "\n");
    const forbidden = await paved(["datasets", "snapshot", "churn-raw", "-f", "aws.yaml"]);
    expect(forbidden.code).toBe(6);
    expect(forbidden.stderr).toContain("datasets.connectors.allowedHosts");
    await writeFile(join(dir, "inline.yaml"), [`kind: s3`, `url: s3://${emulator.bucket}/churn/2024/`, `endpoint: ${emulator.endpoint}`, `accessKeyId: S3RVER`, `secretAccessKey: S3RVER`].join("\n") + "\n");
    expect((await paved(["datasets", "snapshot", "churn-raw", "-f", "inline.yaml"])).code).toBe(2);
    await writeFile(join(dir, "ftp.yaml"), "kind: ftp\n");
    const unknown = await paved(["datasets", "snapshot", "churn-raw", "-f", "ftp.yaml"]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain("local, postgres, s3");
  });

  it.skipIf(!process.env.PAVED_TEST_DATABASE_URL)("snapshots a PostgreSQL query into Parquet, and refuses one that is not a SELECT (real PostgreSQL)", async () => {
    const spec = (query: string) =>
      [`kind: postgres`, `host: ${pgUrl!.hostname}`, `port: ${pgUrl!.port}`, `database: ${pgUrl!.pathname.slice(1)}`, `user: postgres`, `passwordSecret: warehouse-password`, `tls: disable`, `file: orders.parquet`, `query: "${query}"`].join("\n") + "\n";
    await writeFile(join(dir, "pg.yaml"), spec("select * from orders where amount > 100"));
    const made = await paved(["datasets", "snapshot", "orders", "-f", "pg.yaml", "--team", "risk", "--json"]);
    expect(made.code, made.stderr).toBe(0);
    const version = JSON.parse(made.stdout);
    expect(version).toMatchObject({ dataset: "orders", version: 1, fileCount: 1, rowCount: 420, source: { kind: "postgres" } });
    expect(version.source.description).toMatch(/query sha256:[0-9a-f]{64}: 420 rows, 3 columns/);
    const show = await paved(["datasets", "show", "orders@1", "--json"]);
    expect(JSON.stringify(JSON.parse(show.stdout))).toContain("orders.parquet");
    await writeFile(join(dir, "delete.yaml"), spec("delete from orders"));
    const refused = await paved(["datasets", "snapshot", "orders", "-f", "delete.yaml"]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain("DELETE");
  });

  it("runs a connector as a pipeline step, whose outputs name the version", async () => {
    await writeFile(
      join(dir, "pipeline.yaml"),
      [
        "kind: Pipeline",
        "metadata:",
        "  name: refresh-june",
        "  team: risk",
        "spec:",
        "  steps:",
        "    - name: fetch",
        "      snapshot:",
        "        dataset: june-pipeline",
        "        spec: { kind: local, root: exports, path: '2024' }",
        "        alias: fresh",
        "    - name: report",
        "      echo: { ref: \"${{ steps.fetch.outputs.ref }}\", existing: \"${{ steps.fetch.outputs.existing }}\" }",
      ].join("\n") + "\n",
    );
    const applied = await paved(["pipelines", "apply", "-f", "pipeline.yaml"]);
    expect(applied.code, applied.stderr).toBe(0);
    const run = await paved(["pipelines", "run", "refresh-june", "--wait", "--json"]);
    expect(run.code, run.stderr + run.stdout).toBe(0);
    const result = JSON.parse(run.stdout);
    expect(JSON.stringify(result)).toContain("datasets:/june-pipeline@1");
    const shown = await paved(["datasets", "show", "june-pipeline@fresh", "--json"]);
    expect(JSON.parse(shown.stdout)).toMatchObject({ version: 1, source: { kind: "local" } });
  });

  it("never shows a secret's value: not in outputs, logs, versions or the database file", async () => {
    const list = await paved(["datasets", "ls", "--json"]);
    expect(list.code).toBe(0);
    for (const value of [PG_PASSWORD]) {
      expect(outputs.join("\n")).not.toContain(value);
      expect(logs.join("")).not.toContain(value);
    }
    expect(logs.length).toBeGreaterThan(0);
    const files = (await readdir(join(dir, "data"))).filter((f) => f.startsWith("paved.db"));
    for (const f of files) expect((await readFile(join(dir, "data", f))).includes(Buffer.from(PG_PASSWORD)), f).toBe(false);
  });
});
