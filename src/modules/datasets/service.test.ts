// Datasets on a real database (both dialects), a real local artifact store and real DuckDB: versions
// are content-addressed (the same files answer the same version), CSV and Parquet files get a
// schema, statistics and a preview, bad files are refused with the file (and line) named and nothing
// created, refs resolve per team, and two versions diff.
import { mkdtempSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { DuckDBInstance } from "@duckdb/node-api";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LocalArtifactStore, S3ArtifactStore } from "../../artifacts/index.ts";
import { createLogger, encodeNameToken, isPlatformError, randomIds, type Clock, type Principal } from "../../core/index.ts";
import { openTestDatabase, testDialects } from "../../../test/support/databases.ts";
import { startS3rver } from "../../../test/support/s3-emulator.ts";
import { DatasetAnalyzer } from "./analyzer.ts";
import { parseDatasetRef } from "./reference.ts";
import { DatasetService, versionDigest } from "./service.ts";
import { DatasetStore } from "./store.ts";
import { walkPages } from "../../../test/support/pages.ts";

async function code(promise: Promise<unknown>): Promise<string | undefined> {
  try {
    await promise;
    return undefined;
  } catch (error) {
    if (isPlatformError(error)) return error.code;
    throw error;
  }
}

async function failure(promise: Promise<unknown>): Promise<{ code: string; message: string; details?: Record<string, unknown> }> {
  try {
    await promise;
  } catch (error) {
    if (isPlatformError(error)) return { code: error.code, message: error.message, ...(error.details ? { details: error.details } : {}) };
    throw error;
  }
  throw new Error("expected a PlatformError");
}

describe("dataset refs", () => {
  it("parse name, version or alias, and an optional file path", () => {
    expect(parseDatasetRef("datasets:/churn@3")).toEqual({ name: "churn", version: 3 });
    expect(parseDatasetRef("datasets:/churn@prod")).toEqual({ name: "churn", version: "prod" });
    expect(parseDatasetRef("datasets:/churn")).toEqual({ name: "churn", version: "latest" });
    expect(parseDatasetRef("datasets:/churn@2/train/part-0.parquet")).toEqual({ name: "churn", version: 2, path: "train/part-0.parquet" });
    for (const bad of ["churn@3", "datasets:/Churn@3", "datasets:/churn@0", "datasets:/churn@3/../etc/passwd", "datasets:/churn@3//etc/passwd", "datasets:/churn@-x", "s3://bucket/x", "datasets:/" + "a".repeat(3000)]) {
      let caught: unknown;
      try {
        parseDatasetRef(bad);
      } catch (error) {
        caught = error;
      }
      expect(isPlatformError(caught) && caught.code === "INVALID_INPUT", bad).toBe(true);
    }
  });

  it("digest a version over its sorted (path, blob digest) list, whatever the order given", () => {
    const a = { path: "a.csv", digest: "1".repeat(64) };
    const b = { path: "b/c.parquet", digest: "2".repeat(64) };
    expect(versionDigest([a, b])).toBe(versionDigest([b, a]));
    expect(versionDigest([a, b])).not.toBe(versionDigest([a, { ...b, digest: "3".repeat(64) }]));
    expect(versionDigest([a, b])).not.toBe(versionDigest([a, { ...b, path: "b/d.parquet" }]));
  });
});

/** DuckDB as the tests use it: `threads` threads and as many queries at once, the data folder's files only, 5 preview rows. */
function testAnalyzer(dataDir: string, artifacts: LocalArtifactStore, threads: number): DatasetAnalyzer {
  return new DatasetAnalyzer({
    threads,
    memoryLimitMiB: 128 * threads,
    maxConcurrent: threads,
    allowedDirectories: [artifacts.localRoot, join(dataDir, "scratch")],
    tempDirectory: join(dataDir, "duckdb-tmp"),
    previewRows: 5,
    maxStatisticsColumns: 100,
    maxCellChars: 64,
  });
}

describe.each(testDialects())("datasets (%s)", (dialect) => {
  let db: Awaited<ReturnType<typeof openTestDatabase>>;
  let service: DatasetService;
  let analyzer: DatasetAnalyzer;
  let artifacts: LocalArtifactStore;
  let now = 1_700_000_000_000;
  const clock: Clock = { now: () => now };
  const work = mkdtempSync(join(tmpdir(), "paved-datasets-files-"));
  let quotaAsked: { team: string; bytes: number }[] = [];
  let quotaLimit = Infinity;

  const put = async (team: string, content: string | Buffer) => service.putBlob(team, Buffer.from(content), { createdBy: "ada" });
  const csv = (rows: number, f: (i: number) => string, header = "id,amount,city") => [header, ...Array.from({ length: rows }, (_, i) => f(i))].join("\n") + "\n";

  beforeAll(async () => {
    db = await openTestDatabase(dialect);
    artifacts = new LocalArtifactStore(join(db.dataDir, "artifacts"));
    analyzer = testAnalyzer(db.dataDir, artifacts, 2);
    service = new DatasetService({
      store: new DatasetStore(db.db),
      db: db.db,
      artifacts,
      analyzer,
      clock,
      ids: randomIds,
      logger: createLogger("silent"),
      // Stands in for the guardrails ledger (its own tests cover it): records what is asked, refuses past a limit.
      storageQuota: async (team, bytes) => {
        quotaAsked.push({ team, bytes });
        if (bytes > quotaLimit) throw new (await import("../../core/index.ts")).PlatformError("QUOTA_EXCEEDED", "over the quota");
      },
      scratchDir: join(db.dataDir, "scratch"),
      limits: { maxFileBytes: 1024 ** 2 },
    });
  });
  afterAll(async () => {
    await analyzer.close();
    await db.close();
  });

  it("creates versions 1, 2 from CSV files with schema, row count, statistics and a preview; the same files answer the same version", async () => {
    const data = csv(100, (i) => `${i},${i % 10 === 0 ? "" : (i * 1.5).toFixed(1)},${["paris", "lyon", "nice"][i % 3]}`);
    const blob = await put("risk", data);
    const v1 = await service.createVersion({ team: "risk", name: "churn", files: [{ path: "train.csv", ...blob }], createdBy: "ada", description: "first" });
    expect(v1).toMatchObject({ dataset: "churn", team: "risk", version: 1, ref: "datasets:/churn@1", rowCount: 100, fileCount: 1, existing: false });
    expect(v1.digest).toBe(`sha256:${versionDigest([{ path: "train.csv", digest: blob.digest }])}`);
    const file = v1.files![0]!;
    expect(file).toMatchObject({ path: "train.csv", format: "csv", rowCount: 100, size: Buffer.byteLength(data) });
    const [id, amount, city] = file.columns!;
    expect(id).toMatchObject({ name: "id", type: "BIGINT", kind: "numeric", stats: { nullCount: 0, min: 0, max: 99, mean: 49.5 } });
    expect(id!.stats!.quantiles!.p50).toBeGreaterThanOrEqual(48);
    expect(id!.stats!.quantiles!.p50).toBeLessThanOrEqual(51);
    expect(amount).toMatchObject({ name: "amount", kind: "numeric", stats: { nullCount: 10, nullFraction: 0.1, min: 1.5, max: 148.5 } });
    expect(city).toMatchObject({ name: "city", type: "VARCHAR", kind: "string", stats: { nullCount: 0, min: "lyon", max: "paris" } });
    expect(city!.stats!.distinctApprox).toBe(3);
    expect(new Set(city!.stats!.topValues)).toEqual(new Set(["paris", "lyon", "nice"]));

    const preview = await service.preview("churn", "1", { rows: 3 });
    expect(preview).toEqual({ dataset: "churn", version: 1, path: "train.csv", columns: ["id", "amount", "city"], rows: [[0, null, "paris"], [1, 1.5, "lyon"], [2, 3, "nice"]] });
    // Past the stored preview (5 rows), DuckDB reads the file again.
    expect((await service.preview("churn", "1", { rows: 50 })).rows).toHaveLength(50);

    const again = await service.createVersion({ team: "risk", name: "churn", files: [{ path: "train.csv", ...blob }], createdBy: "bob" });
    expect(again).toMatchObject({ version: 1, digest: v1.digest, existing: true, createdBy: "ada" });
    expect(await service.versions("churn")).toHaveLength(1);

    now += 1000;
    const more = await put("risk", csv(120, (i) => `${i},${(i * 2).toFixed(1)},${["paris", "lyon"][i % 2]}`, "id,amount,city"));
    const notes = await put("risk", "free text notes");
    const v2 = await service.createVersion({ team: "risk", name: "churn", files: [{ path: "train.csv", ...more }, { path: "README.md", ...notes }], createdBy: "ada", alias: "prod" });
    expect(v2).toMatchObject({ version: 2, rowCount: 120, fileCount: 2, aliases: ["prod"], existing: false });
    expect(v2.files!.find((f) => f.path === "README.md")).toEqual({ path: "README.md", digest: `sha256:${notes.digest}`, size: 15, format: "other", rowCount: null });
    expect(await service.getDataset("churn")).toMatchObject({ latestVersion: 2, versionCount: 2, aliases: { prod: 2 } });
  });

  it("numbers versions created at the same time one after another, and makes one version of the same files sent twice at once", async () => {
    const blobs = await Promise.all([0, 1, 2, 3].map((k) => put("risk", `k,v\n${k},1\n`)));
    const made = await Promise.all(blobs.map((b) => service.createVersion({ team: "risk", name: "racing", files: [{ path: "a.csv", ...b }], createdBy: "ada" })));
    expect(made.map((v) => v.version).sort()).toEqual([1, 2, 3, 4]);
    const same = await put("risk", "k,v\n9,9\n");
    const twice = await Promise.all([0, 1].map(() => service.createVersion({ team: "risk", name: "racing", files: [{ path: "a.csv", ...same }], createdBy: "ada" })));
    expect(twice[0]!.version).toBe(5);
    expect(twice[1]!.version).toBe(5);
    expect(twice.map((v) => v.existing).sort()).toEqual([false, true]);
    expect(await service.versions("racing")).toHaveLength(5);
  });

  it("resolves refs by number, alias and latest for the dataset's team only; what does not exist is NOT_FOUND", async () => {
    const byAlias = await service.resolve("risk", "datasets:/churn@prod");
    expect(byAlias).toMatchObject({ dataset: "churn", team: "risk", version: 2, ref: "datasets:/churn@2" });
    expect(byAlias.files.map((f) => f.path)).toEqual(["README.md", "train.csv"]);
    expect((await service.resolve("risk", "datasets:/churn")).version).toBe(2);
    expect((await service.resolve("risk", "datasets:/churn@1/train.csv")).file).toMatchObject({ path: "train.csv", format: "csv", rowCount: 100 });
    expect(await code(service.resolve("fraud", "datasets:/churn@1"))).toBe("NOT_FOUND");
    expect(await code(service.resolve("risk", "datasets:/churn@9"))).toBe("NOT_FOUND");
    expect(await code(service.resolve("risk", "datasets:/churn@staging"))).toBe("NOT_FOUND");
    expect(await code(service.resolve("risk", "datasets:/nope@1"))).toBe("NOT_FOUND");
    expect(await code(service.resolve("risk", "datasets:/churn@1/missing.csv"))).toBe("NOT_FOUND");
    await service.setAlias("churn", "staging", 1, "ada");
    expect((await service.resolve("risk", "datasets:/churn@staging")).version).toBe(1);
    await service.removeAlias("churn", "staging");
    expect(await code(service.resolve("risk", "datasets:/churn@staging"))).toBe("NOT_FOUND");
    expect(await code(service.setAlias("churn", "latest", 1, "ada"))).toBe("INVALID_INPUT");
    // By digest (what an MLflow log_input names), for the team only.
    const v1 = await service.getVersion("churn", 1);
    expect(await service.findByDigest("risk", v1.digest)).toMatchObject({ dataset: "churn", version: 1 });
    expect(await service.findByDigest("risk", v1.digest.slice(7))).toMatchObject({ version: 1 });
    expect(await service.findByDigest("fraud", v1.digest)).toBeUndefined();
    expect(await service.findByDigest("risk", "sha256:" + "0".repeat(64))).toBeUndefined();
    expect(await service.findByDigest("risk", "abc")).toBeUndefined();
  });

  it("diffs two versions: files, schema, row count and the statistics that changed", async () => {
    const diff = await service.diff("churn", "1", "prod");
    expect(diff).toMatchObject({ from: { version: 1 }, to: { version: 2 }, identical: false, rowCount: { from: 100, to: 120, change: 20 } });
    expect(diff.files.added).toEqual([{ path: "README.md", size: 15 }]);
    expect(diff.files.removed).toEqual([]);
    expect(diff.files.changed.map((f) => f.path)).toEqual(["train.csv"]);
    expect(diff.schema).toEqual([{ path: "train.csv", added: [], removed: [], typeChanged: [], rowCount: { from: 100, to: 120 } }]);
    const changed = (column: string, stat: string) => diff.statistics.find((s) => s.column === column && s.stat === stat);
    expect(changed("amount", "nullCount")).toMatchObject({ from: 10, to: 0 });
    expect(changed("id", "max")).toMatchObject({ from: 99, to: 119 });
    expect(changed("city", "distinctApprox")).toMatchObject({ from: 3, to: 2 });
    expect((await service.diff("churn", "2", "2")).identical).toBe(true);
  });

  it("refuses a ragged CSV with the file and line named, and creates nothing", async () => {
    // Early in the file (inside DuckDB's sniffing sample) and far past it (DuckDB's strict reader).
    const early = csv(50, (i) => (i === 6 ? "6,7" : `${i},${i}.5,x`));
    const late = csv(30_000, (i) => (i === 25_000 ? "25000,1,x,extra" : `${i},${i}.5,x`));
    for (const [content, line] of [[early, 8], [late, 25_002]] as const) {
      const blob = await put("risk", content);
      const error = await failure(service.createVersion({ team: "risk", name: "ragged", files: [{ path: "data/part.csv", ...blob }], createdBy: "ada" }));
      expect(error.code).toBe("INVALID_INPUT");
      expect(error.details).toMatchObject({ path: "data/part.csv", line });
      expect(error.message).toContain("data/part.csv");
      expect(error.message).toContain(`line ${line}`);
    }
    expect(await code(service.getDataset("ragged"))).toBe("NOT_FOUND");
    // Gzipped CSV is checked the same way; a .gz that is not gzip is refused.
    const zipped = await put("risk", gzipSync(Buffer.from(early)));
    expect((await failure(service.createVersion({ team: "risk", name: "ragged", files: [{ path: "part.csv.gz", ...zipped }], createdBy: "ada" }))).details).toMatchObject({ path: "part.csv.gz", line: 8 });
    const notZipped = await put("risk", early);
    expect(await code(service.createVersion({ team: "risk", name: "ragged", files: [{ path: "plain.csv.gz", ...notZipped }], createdBy: "ada" }))).toBe("INVALID_INPUT");
    const goodZip = await put("risk", gzipSync(Buffer.from(csv(4, (i) => `${i},1.5,"a, b"`))));
    expect((await service.createVersion({ team: "risk", name: "zipped", files: [{ path: "ok.csv.gz", ...goodZip }], createdBy: "ada" })).rowCount).toBe(4);
    // A good file beside a bad one: nothing either.
    const good = await put("risk", csv(3, (i) => `${i},1,x`));
    const bad = await put("risk", early);
    expect(await code(service.createVersion({ team: "risk", name: "churn", files: [{ path: "a.csv", ...good }, { path: "b.csv", ...bad }], createdBy: "ada" }))).toBe("INVALID_INPUT");
    expect(await service.versions("churn")).toHaveLength(2);
  });

  it("reads real Parquet files and refuses a .parquet that is not one", async () => {
    const file = join(work, "events.parquet");
    const duck = await DuckDBInstance.create(":memory:");
    const connection = await duck.connect();
    await connection.run(`COPY (SELECT i AS id, i * 0.25 AS score, CASE WHEN i % 4 = 0 THEN NULL ELSE 'k' || (i % 3) END AS kind, DATE '2024-01-01' + CAST(i AS INTEGER) AS day FROM range(1000) t(i)) TO '${file}' (FORMAT parquet)`);
    connection.closeSync();
    duck.closeSync();
    const blob = await service.putFile("risk", file, { createdBy: "ada" });
    const v = await service.createVersion({ team: "risk", name: "events", files: [{ path: "events.parquet", ...blob }], createdBy: "ada", source: { kind: "upload", description: "events export" }, lineage: { kind: "run", id: "run-1" } });
    expect(v).toMatchObject({ version: 1, rowCount: 1000, source: { kind: "upload", description: "events export" }, lineage: { kind: "run", id: "run-1" } });
    const columns = v.files![0]!.columns!;
    expect(columns.map((c) => [c.name, c.type, c.kind])).toEqual([
      ["id", "BIGINT", "numeric"],
      ["score", expect.stringMatching(/^DECIMAL\(/), "numeric"],
      ["kind", "VARCHAR", "string"],
      ["day", "DATE", "temporal"],
    ]);
    expect(columns[2]!.stats).toMatchObject({ nullCount: 250, nullFraction: 0.25 });
    expect(columns[3]!.stats).toMatchObject({ min: "2024-01-01", max: "2026-09-26" });

    const fake = await put("risk", "PAR1 this is not parquet at all");
    const error = await failure(service.createVersion({ team: "risk", name: "fake", files: [{ path: "x.parquet", ...fake }], createdBy: "ada" }));
    expect(error.code).toBe("INVALID_INPUT");
    expect(error.message).toContain("x.parquet");
    expect(error.message).not.toContain(db.dataDir);
    expect(await code(service.getDataset("fake"))).toBe("NOT_FOUND");
  });

  it("confines paths and names, bounds sizes, and holds blobs to the team's storage quota", async () => {
    const blob = await put("risk", "a,b\n1,2\n");
    for (const path of ["../x.csv", "/etc/passwd", "a/../../b.csv", "a\\b.csv", ""]) {
      expect(await code(service.createVersion({ team: "risk", name: "paths", files: [{ path, ...blob }], createdBy: "ada" })), path).toBe("INVALID_INPUT");
    }
    expect(await code(service.createVersion({ team: "risk", name: "Bad Name", files: [{ path: "a.csv", ...blob }], createdBy: "ada" }))).toBe("INVALID_INPUT");
    expect(await code(service.createVersion({ team: "risk", name: "dup", files: [{ path: "a.csv", ...blob }, { path: "./a.csv", ...blob }], createdBy: "ada" }))).toBe("INVALID_INPUT");
    expect(await code(service.createVersion({ team: "risk", name: "ghost", files: [{ path: "a.csv", digest: "f".repeat(64), size: 3 }], createdBy: "ada" }))).toBe("NOT_FOUND");
    expect(await code(put("risk", Buffer.alloc(1024 ** 2 + 1)))).toBe("PAYLOAD_TOO_LARGE");
    // A blob only another team uploaded cannot be named through the upload path.
    expect(await code(service.createVersionFromUploads({ team: "fraud", name: "stolen", files: [{ path: "a.csv", digest: blob.digest }], createdBy: "eve" }))).toBe("NOT_FOUND");
    // Another team's name is taken.
    expect(await code(service.createVersion({ team: "fraud", name: "churn", files: [{ path: "a.csv", ...blob }], createdBy: "eve" }))).toBe("ALREADY_EXISTS");

    quotaAsked = [];
    quotaLimit = 10;
    expect(await code(put("fraud", "more than ten bytes here"))).toBe("QUOTA_EXCEEDED");
    expect(quotaAsked.at(-1)).toEqual({ team: "fraud", bytes: 24 });
    quotaLimit = Infinity;
    // Bytes the team already stored count once.
    quotaAsked = [];
    await put("risk", "a,b\n1,2\n");
    expect(quotaAsked).toEqual([{ team: "risk", bytes: 0 }]);
  });

  it("runs a user's SQL on an instance that reads its own inputs and nothing else of the store", async () => {
    const mine = await put("risk", csv(3, (i) => `${i},${i},paris`));
    const theirs = await put("other", csv(3, (i) => `${i},${i * 100},lyon`));
    const total = await service.withDuckDB([{ path: "orders.csv", digest: mine.digest }], async (connection, [local]) => {
      const reader = await connection.runAndReadAll(`SELECT sum(amount) AS s FROM read_csv('${local}')`);
      return Number(reader.getRowObjects()[0]!.s);
    });
    expect(total).toBe(3);
    // The other team's blob, by its path in the local store: DuckDB refuses to open it.
    const path = (await artifacts.localPath!(theirs.digest))!;
    await expect(
      service.withDuckDB([{ path: "orders.csv", digest: mine.digest }], async (connection) => connection.runAndReadAll(`SELECT * FROM read_csv('${path}')`)),
    ).rejects.toThrow(/Permission|allowed|not allowed/i);
    // The links made for the call are gone after it.
    expect(readdirSync(join(db.dataDir, "scratch")).filter((f) => f.startsWith("sql-"))).toEqual([]);
  });

  it("reads blobs of an S3 store (s3rver, an S3 emulator) through a scratch copy, removed after", async () => {
    const emulator = await startS3rver();
    try {
      const s3 = new S3ArtifactStore({ client: emulator.client(), bucket: emulator.bucket, prefix: "datasets-test" });
      const scratchDir = join(db.dataDir, "scratch");
      const viaS3 = new DatasetService({
        store: new DatasetStore(db.db),
        db: db.db,
        artifacts: s3,
        analyzer,
        clock,
        ids: randomIds,
        logger: createLogger("silent"),
        scratchDir,
        limits: { maxFileBytes: 1024 ** 2 },
      });
      const blob = await viaS3.putBlob("risk", Buffer.from(csv(7, (i) => `${i},${i},z`) + "7,7,y\n"), { createdBy: "ada" });
      const v = await viaS3.createVersion({ team: "risk", name: "from-s3", files: [{ path: "c.csv", ...blob }], createdBy: "ada" });
      expect(v.rowCount).toBe(8);
      expect((await viaS3.preview("from-s3", "1", { rows: 100 })).rows).toHaveLength(8);
      expect(readdirSync(scratchDir)).toEqual([]);
      s3.close?.();
    } finally {
      await emulator.stop();
    }
  });
});

describe.each(testDialects())("dataset and version pages (%s)", (dialect) => {
  let db: Awaited<ReturnType<typeof openTestDatabase>>;
  let service: DatasetService;
  let analyzer: DatasetAnalyzer;
  let now = 1_800_000_000_000;
  const clock: Clock = { now: () => now };
  const reader = (...teams: string[]): Principal => ({ name: "ada", kind: "user", platformAdmin: false, teams: Object.fromEntries(teams.map((t) => [t, "viewer" as const])) });
  let bytes = 0;
  /** A new version (one small non-tabular file, so no analysis) of `name` in `team`, at the clock's time. */
  const addVersion = async (team: string, name: string) => {
    const blob = await service.putBlob(team, Buffer.from(`notes ${bytes++}\n`), { createdBy: "ada" });
    return service.createVersion({ team, name, files: [{ path: "notes.txt", ...blob }], createdBy: "ada" });
  };
  /** Every page of the datasets `who` sees, `limit` at a time; `between(n)` runs after page n (1-based) when another follows. */
  const datasetPages = (limit: number, who: Principal, between?: (n: number) => Promise<void>) =>
    walkPages(async (pageToken) => {
      const page = await service.list({ limit, ...(pageToken ? { pageToken } : {}) }, who);
      return { items: page.datasets.map((d) => d.name), nextPageToken: page.nextPageToken };
    }, between);
  const versionPages = (name: string, limit: number, between?: (n: number) => Promise<void>) =>
    walkPages(async (pageToken) => {
      const page = await service.versionsPage(name, { limit, ...(pageToken ? { pageToken } : {}) });
      return { items: page.versions.map((v) => v.version), nextPageToken: page.nextPageToken };
    }, between);

  beforeAll(async () => {
    db = await openTestDatabase(dialect);
    const artifacts = new LocalArtifactStore(join(db.dataDir, "artifacts"));
    analyzer = testAnalyzer(db.dataDir, artifacts, 1);
    service = new DatasetService({ store: new DatasetStore(db.db), db: db.db, artifacts, analyzer, clock, ids: randomIds, logger: createLogger("silent"), scratchDir: join(db.dataDir, "scratch"), limits: { maxFileBytes: 1024 ** 2 } });
  });
  afterAll(async () => {
    await analyzer.close();
    await db.close();
  });

  it("walks every dataset once, most recently changed first, names breaking ties, whatever the page size", async () => {
    // 11 datasets, three at a time changed at the same millisecond, created in an order that is not the listing's.
    const names = ["kiwi", "apple", "fig", "banana", "lime", "cherry", "mango", "date", "grape", "elder", "honeydew"];
    for (const [i, name] of names.entries()) {
      now = 1_800_000_000_000 + Math.floor(i / 3);
      await service.createDataset({ name, team: "orchard", description: undefined }, "ada");
    }
    const expected = names.map((name, i) => ({ name, at: Math.floor(i / 3) })).sort((a, b) => b.at - a.at || (a.name < b.name ? -1 : 1)).map((d) => d.name);
    const all = await service.list({ limit: 1000 }, reader("orchard"));
    expect(all.datasets.map((d) => d.name)).toEqual(expected);
    expect(all.nextPageToken).toBeUndefined();
    for (const limit of [1, 2, 3, 4, 10, 11]) {
      const pages = await datasetPages(limit, reader("orchard"));
      expect(pages.flat(), `limit ${limit}`).toEqual(expected);
      expect(pages.map((p) => p.length), `limit ${limit}`).toEqual([...Array.from({ length: Math.floor(11 / limit) }, () => limit), ...(11 % limit ? [11 % limit] : [])]);
    }
  });

  it("neither repeats nor hides a dataset that did not change while datasets are added or changed between pages", async () => {
    const names = Array.from({ length: 9 }, (_, i) => `grove-${i}`);
    for (const [i, name] of names.entries()) {
      now = 1_800_000_100_000 + i * 1000;
      await service.createDataset({ name, team: "grove", description: undefined }, "ada");
    }
    const before = [...names].reverse();
    const pages = await datasetPages(3, reader("grove"), async (n) => {
      now += 60_000;
      if (n === 1) {
        await service.createDataset({ name: "grove-new", team: "grove", description: undefined }, "ada");
        // One already listed and one not yet listed get a new version: both move to the first page.
        await addVersion("grove", before[0]!);
        await addVersion("grove", before[7]!);
      } else {
        await service.createDataset({ name: "grove-newer", team: "grove", description: undefined }, "ada");
      }
    });
    expect(pages.flat()).toEqual(before.filter((name) => name !== before[7]));
    // A fresh walk starts with what changed.
    expect((await service.list({ limit: 4 }, reader("grove"))).datasets.map((d) => d.name)).toEqual(["grove-newer", "grove-1", "grove-8", "grove-new"]);
  });

  it("cuts pages after the team filter: a reader never sees another team's dataset, on any page", async () => {
    for (let i = 0; i < 10; i++) {
      now = 1_800_000_200_000 + i;
      await service.createDataset({ name: `red-${i}`, team: "red", description: undefined }, "ada");
      await service.createDataset({ name: `blue-${i}`, team: "blue", description: undefined }, "ada");
    }
    for (const team of ["red", "blue"]) {
      const pages = await datasetPages(3, reader(team));
      expect(pages.map((p) => p.length)).toEqual([3, 3, 3, 1]);
      expect(pages.flat()).toEqual(Array.from({ length: 10 }, (_, i) => `${team}-${9 - i}`));
    }
    expect((await datasetPages(7, reader("red", "blue"))).flat()).toHaveLength(20);
    expect(await service.list({ limit: 3 }, reader())).toEqual({ datasets: [] });
  });

  it("walks a dataset's versions newest first; versions added between pages hide none of the older ones", async () => {
    for (let i = 0; i < 7; i++) await addVersion("orchard", "vintage");
    for (const limit of [1, 3, 7]) expect((await versionPages("vintage", limit)).flat(), `limit ${limit}`).toEqual([7, 6, 5, 4, 3, 2, 1]);
    expect(await versionPages("vintage", 3)).toEqual([[7, 6, 5], [4, 3, 2], [1]]);
    const pages = await versionPages("vintage", 3, async () => void (await addVersion("orchard", "vintage")));
    expect(pages).toEqual([[7, 6, 5], [4, 3, 2], [1]]);
    expect((await service.versionsPage("vintage", { limit: 3 })).versions.map((v) => v.version)).toEqual([9, 8, 7]);
    expect((await service.versions("vintage", 2)).map((v) => v.version)).toEqual([9, 8]);
  });

  it("refuses a page token it did not hand out, or one of the other list, with INVALID_INPUT", async () => {
    const datasetsToken = (await service.list({ limit: 1 }, reader("orchard"))).nextPageToken!;
    const versionsToken = (await service.versionsPage("vintage", { limit: 1 })).nextPageToken!;
    expect(datasetsToken).toBeDefined();
    expect(versionsToken).toBeDefined();
    for (const pageToken of ["garbage", "!!!", encodeNameToken("kiwi"), versionsToken]) {
      expect(await code(service.list({ limit: 5, pageToken }, reader("orchard"))), pageToken).toBe("INVALID_INPUT");
    }
    for (const pageToken of ["garbage", encodeNameToken("kiwi"), datasetsToken]) {
      expect(await code(service.versionsPage("vintage", { limit: 5, pageToken })), pageToken).toBe("INVALID_INPUT");
    }
  });
});
