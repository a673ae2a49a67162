// `paved datasets` against a real listening server: a folder (CSV, Parquet written by DuckDB, a
// README) becomes version 1, the same folder again answers version 1, a changed file makes version
// 2; ls, show, versions, preview, diff and alias print what the API holds, --json gives the
// objects, and a ragged CSV exits with INVALID_INPUT's code naming the line.
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DuckDBInstance } from "@duckdb/node-api";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createApp, type App } from "../src/app.ts";
import { loadConfig } from "../src/config/index.ts";
import { runPaved } from "./support/cli.ts";

let app: App;
let url: string;
let dir: string;

const paved = (args: string[], token = app.generatedAdminToken!) => runPaved(args, { url, token, dir });

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "paved-datasets-cli-"));
  app = await createApp(
    loadConfig({ env: {}, overrides: { dataDir: join(dir, "data"), port: 0, host: "127.0.0.1", logLevel: "silent", compute: { gpus: [] }, datasets: { duckdb: { threads: 1, memoryLimitMiB: 256, maxConcurrent: 1 } } } }),
    { env: {} },
  );
  url = await app.listen();
  expect((await paved(["teams", "create", "risk"])).code).toBe(0);
  const folder = join(dir, "export");
  await mkdir(join(folder, "parts"), { recursive: true });
  await writeFile(join(folder, "train.csv"), ["customer,tenure,plan", ...Array.from({ length: 30 }, (_, i) => `c${i},${i},${i % 2 ? "basic" : "pro"}`)].join("\n") + "\n");
  await writeFile(join(folder, "README.md"), "June export\n");
  await writeFile(join(folder, ".hidden"), "skipped\n");
  const duck = await DuckDBInstance.create(":memory:");
  const connection = await duck.connect();
  await connection.run(`COPY (SELECT i AS id, i * 2.5 AS spend FROM range(12) t(i)) TO '${join(folder, "parts", "p0.parquet")}' (FORMAT parquet)`);
  connection.closeSync();
  duck.closeSync();
});

afterAll(async () => {
  await app?.close();
  await rm(dir, { recursive: true, force: true });
});

describe("paved datasets", () => {
  it("creates versions from a folder, answers the same files with the same version, and shows them", async () => {
    const created = await paved(["datasets", "create", "churn", "export", "--team", "risk", "--description", "June", "--alias", "prod"]);
    expect(created.code, created.stderr).toBe(0);
    expect(created.stdout).toContain("created datasets:/churn@1 (3 files");
    expect(created.stdout).toContain("42 rows");

    const again = await paved(["datasets", "create", "churn", "export", "--json"]);
    expect(again.code, again.stderr).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({ version: 1, existing: true });

    await writeFile(join(dir, "export", "train.csv"), ["customer,tenure,plan,region", ...Array.from({ length: 40 }, (_, i) => `c${i},${i},pro,eu`)].join("\n") + "\n");
    const second = await paved(["datasets", "create", "churn", "export"]);
    expect(second.code, second.stderr).toBe(0);
    expect(second.stdout).toContain("created datasets:/churn@2");

    const ls = await paved(["datasets", "ls"]);
    expect(ls.stdout).toMatch(/^NAME\s+TEAM\s+LATEST\s+VERSIONS\s+ALIASES/);
    expect(ls.stdout).toMatch(/churn\s+risk\s+2\s+2\s+prod=1/);

    const show = await paved(["datasets", "show", "churn@prod"]);
    expect(show.code, show.stderr).toBe(0);
    expect(show.stdout).toMatch(/ref:\s+datasets:\/churn@1/);
    expect(show.stdout).toMatch(/parts\/p0\.parquet\s+parquet/);
    expect(show.stdout).toMatch(/README\.md\s+other/);
    expect(show.stdout).not.toContain(".hidden");
    expect(show.stdout).toMatch(/tenure\s+BIGINT\s+0 \(0%\)/);
    const json = JSON.parse((await paved(["datasets", "show", "churn", "--json"])).stdout);
    expect(json).toMatchObject({ version: 2, files: expect.arrayContaining([expect.objectContaining({ path: "train.csv", rowCount: 40 })]) });

    const versions = await paved(["datasets", "versions", "churn"]);
    expect(versions.stdout.trimEnd().split("\n").slice(1).map((l) => l.trim().split(/\s+/)[0])).toEqual(["2", "1"]);

    const preview = await paved(["datasets", "preview", "churn@1", "--rows", "2", "--path", "train.csv"]);
    expect(preview.code, preview.stderr).toBe(0);
    expect(preview.stdout.split("\n").map((l) => l.trim().split(/\s+/).join(" "))).toEqual(["churn@1 train.csv (first 2 rows)", "customer tenure plan", "c0 0 pro", "c1 1 basic", ""]);

    const diff = await paved(["datasets", "diff", "churn@1", "churn@2"]);
    expect(diff.code, diff.stderr).toBe(0);
    expect(diff.stdout).toContain("rows: 42 → 52 (+10)");
    expect(diff.stdout).toContain("~ train.csv");
    expect(diff.stdout).toContain("train.csv: + column region VARCHAR");

    expect((await paved(["datasets", "alias", "churn@2", "prod"])).stdout).toBe("churn@prod → version 2\n");
    expect(JSON.parse((await paved(["datasets", "show", "churn@prod", "--json"])).stdout).version).toBe(2);
  });

  it("pages ls and versions with --limit and --page-token, saying how to get the next page", async () => {
    await writeFile(join(dir, "notes.txt"), "no table here\n");
    expect((await paved(["datasets", "create", "notes", "notes.txt", "--team", "risk"])).code).toBe(0);
    const all = JSON.parse((await paved(["datasets", "ls", "--json"])).stdout) as { datasets: { name: string }[]; nextPageToken?: string };
    expect(all.datasets.map((d) => d.name)).toEqual(["notes", "churn"]);
    expect(all.nextPageToken).toBeUndefined();

    const first = await paved(["datasets", "ls", "--limit", "1"]);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toMatch(/^notes\s+risk/m);
    expect(first.stdout).not.toContain("churn");
    const token = /more datasets: add --page-token (\S+)/.exec(first.stderr)?.[1];
    expect(token, first.stderr).toBeDefined();
    const second = await paved(["datasets", "ls", "--limit", "1", "--page-token", token!]);
    expect(second.code, second.stderr).toBe(0);
    expect(second.stdout).toMatch(/^churn\s+risk/m);
    expect(second.stderr).not.toContain("more datasets");

    const newest = await paved(["datasets", "versions", "churn", "--limit", "1"]);
    expect(newest.stdout.trimEnd().split("\n").slice(1).map((l) => l.trim().split(/\s+/)[0])).toEqual(["2"]);
    const next = /more versions: add --page-token (\S+)/.exec(newest.stderr)?.[1];
    expect(next, newest.stderr).toBeDefined();
    const older = await paved(["datasets", "versions", "churn", "--limit", "1", "--page-token", next!, "--json"]);
    expect(JSON.parse(older.stdout)).toEqual({ versions: [expect.objectContaining({ version: 1 })] });

    const bad = await paved(["datasets", "ls", "--page-token", "garbage"]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("nextPageToken");
  });

  it("exits with the error's code: a ragged CSV names its line, a missing version says how to list them", async () => {
    await writeFile(join(dir, "bad.csv"), "a,b\n1,2\n3\n");
    const bad = await paved(["datasets", "create", "bad", "bad.csv", "--team", "risk"]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("bad.csv: line 3");
    const missing = await paved(["datasets", "show", "churn@9"]);
    expect(missing.code).toBe(3);
    expect(missing.stderr).toContain("paved datasets versions churn");
    expect((await paved(["datasets", "diff", "churn@1", "other@2"])).code).toBe(2);
  });
});
