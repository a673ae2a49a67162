import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DuckDBInstance } from "@duckdb/node-api";
import * as ort from "onnxruntime-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildTestModels, type TestModels } from "../serving/test-models.ts";
import { signatureFromRegistry } from "./columns.ts";
import { BatchInferenceEngine, Cancelled, type InputFile } from "./engine.ts";

const FEATURES = { names: ["f0", "f1", "f2", "f3"], from: "the test" };

let dir: string;
let models: TestModels;
let duck: DuckDBInstance;

async function query(sql: string): Promise<Record<string, unknown>[]> {
  const connection = await duck.connect();
  try {
    return (await connection.runAndReadAll(sql)).getRowObjectsJS() as Record<string, unknown>[];
  } finally {
    connection.closeSync();
  }
}

/** `rows` rows of id, four features (shuffled order: f2 first) and a text group, written by DuckDB. */
async function writeInput(name: string, rows: number, format: "csv" | "parquet"): Promise<InputFile> {
  const path = join(dir, name);
  await query(
    `COPY (SELECT i AS id, (i % 17) / 7.0 AS f2, sin(i) AS f0, cos(i) AS f1, (i % 5) - 2.0 AS f3, 'g' || (i % 3) AS grp FROM range(${rows}) t(i)) TO '${path}' ${format === "csv" ? "(HEADER)" : "(FORMAT parquet)"}`,
  );
  return { path, format };
}

/** The tiny model (Linear 4→2, softmax) run directly by onnxruntime on the given rows (f0..f3). */
async function direct(rows: number[][]): Promise<number[][]> {
  const session = await ort.InferenceSession.create(models.bytes("tiny"));
  const out = await session.run({ input: new ort.Tensor("float32", Float32Array.from(rows.flat()), [rows.length, 4]) });
  const data = out.probabilities!.data as Float32Array;
  return rows.map((_, i) => [data[i * 2]!, data[i * 2 + 1]!]);
}

function engine(overrides: Partial<ConstructorParameters<typeof BatchInferenceEngine>[0]> = {}): BatchInferenceEngine {
  return new BatchInferenceEngine({ workers: 2, chunkRows: 100, scratchDir: join(dir, "scratch"), memoryLimitMiB: 256, duckdbThreads: 2, ...overrides });
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "paved-predictions-engine-"));
  models = buildTestModels();
  duck = await DuckDBInstance.create(":memory:");
}, 120_000);

afterAll(() => {
  duck?.closeSync();
  rmSync(dir, { recursive: true, force: true });
});

describe("batch inference engine", () => {
  for (const format of ["csv", "parquet"] as const) {
    it(`runs the model over a ${format} file in chunks and writes the other columns beside its predictions`, async () => {
      const input = await writeInput(`in.${format}`, 1234, format);
      const output = join(dir, `out-${format}.parquet`);
      const progress: number[] = [];
      const result = await engine().run({ model: models.bytes("tiny"), input: [input], output, features: FEATURES, keep: "other", what: "the test data", onProgress: (rows) => progress.push(rows) });
      expect(result.rows).toBe(1234);
      expect(result.rowsPerSecond).toBeGreaterThan(0);
      expect(result.predictions.map((c) => c.name)).toEqual(["probabilities_0", "probabilities_1"]);
      expect(result.plan.matchedBy.by).toBe("name");
      // 13 chunks of at most 100 rows, in order.
      expect(progress.at(-1)).toBe(1234);
      expect(progress.length).toBe(13);
      const written = await query(`SELECT * FROM read_parquet('${output}') ORDER BY id`);
      expect(written).toHaveLength(1234);
      expect(Object.keys(written[0]!)).toEqual(["id", "grp", "probabilities_0", "probabilities_1"]);
      // Each row's predictions are its own: compare rows across chunk borders with a direct run.
      const sample = [0, 99, 100, 101, 777, 1233];
      const inputs = await query(`SELECT id, f0, f1, f2, f3 FROM ${format === "csv" ? "read_csv" : "read_parquet"}('${input.path}') WHERE id IN (${sample.join(",")}) ORDER BY id`);
      const expected = await direct(inputs.map((r) => [Number(r.f0), Number(r.f1), Number(r.f2), Number(r.f3)]));
      sample.forEach((id, i) => {
        const row = written[id]!;
        expect(Number(row.id)).toBe(id);
        expect(row.grp).toBe(`g${id % 3}`);
        expect(row.probabilities_0).toBeCloseTo(expected[i]![0]!, 5);
        expect(row.probabilities_1).toBeCloseTo(expected[i]![1]!, 5);
      });
    }, 60_000);
  }

  it("feeds every column in file order when the model names no features, and refuses a width that does not fit", async () => {
    const path = join(dir, "plain.csv");
    writeFileSync(path, "a,b,c,d\n1,2,3,4\n0.5,0.5,0.5,0.5\n");
    const output = join(dir, "plain.parquet");
    const result = await engine().run({ model: models.bytes("tiny"), input: [{ path, format: "csv" }], output, keep: "other", what: "plain data" });
    expect(result.plan.matchedBy.by).toBe("position");
    const written = await query(`SELECT * FROM read_parquet('${output}')`);
    const expected = await direct([
      [1, 2, 3, 4],
      [0.5, 0.5, 0.5, 0.5],
    ]);
    expect(written.map((r) => [r.probabilities_0, r.probabilities_1])).toEqual(expected.map((r) => [expect.closeTo(r[0]!, 5), expect.closeTo(r[1]!, 5)]));

    const wide = join(dir, "wide.csv");
    writeFileSync(wide, "id,a,b,c,d\n1,1,2,3,4\n");
    await expect(engine().run({ model: models.bytes("tiny"), input: [{ path: wide, format: "csv" }], output: join(dir, "x.parquet"), keep: "other", what: "wide data" })).rejects.toMatchObject({ code: "INVALID_INPUT" });
  });

  it("keeps all columns or the ones named, and refuses a prediction column that would replace an input column", async () => {
    const input = await writeInput("keep.parquet", 10, "parquet");
    const all = join(dir, "keep-all.parquet");
    await engine().run({ model: models.bytes("tiny"), input: [input], output: all, features: FEATURES, keep: "all", what: "d" });
    expect(Object.keys((await query(`SELECT * FROM read_parquet('${all}') LIMIT 1`))[0]!)).toEqual(["id", "f2", "f0", "f1", "f3", "grp", "probabilities_0", "probabilities_1"]);
    const some = join(dir, "keep-id.parquet");
    await engine().run({ model: models.bytes("tiny"), input: [input], output: some, features: FEATURES, keep: ["id"], what: "d" });
    expect(Object.keys((await query(`SELECT * FROM read_parquet('${some}') LIMIT 1`))[0]!)).toEqual(["id", "probabilities_0", "probabilities_1"]);
    await expect(engine().run({ model: models.bytes("tiny"), input: [input], output: some, features: FEATURES, keep: ["nope"], what: "d" })).rejects.toMatchObject({ code: "INVALID_INPUT" });

    const clash = join(dir, "clash.csv");
    writeFileSync(clash, "f0,f1,f2,f3,probabilities_0\n1,2,3,4,9\n");
    await expect(engine().run({ model: models.bytes("tiny"), input: [{ path: clash, format: "csv" }], output: join(dir, "c.parquet"), features: FEATURES, keep: "other", what: "d" })).rejects.toMatchObject({ code: "INVALID_INPUT" });
  });

  it("refuses data that lacks the model's features, listing the missing columns", async () => {
    const path = join(dir, "missing.csv");
    writeFileSync(path, "id,f0,f2\n1,2,3\n");
    const error = await engine()
      .run({ model: models.bytes("tiny"), input: [{ path, format: "csv" }], output: join(dir, "m.parquet"), features: FEATURES, keep: "other", what: "d" })
      .catch((e: unknown) => e);
    expect(error).toMatchObject({ code: "INVALID_INPUT", details: { missing: ["f1", "f3"] } });
  });

  it("plans from the registry's signature while the model loads: a run with it predicts the same, and missing columns are refused before the model is ready", async () => {
    const signature = signatureFromRegistry({ inputs: [{ name: "input", type: "float32", shape: ["batch", 4] }], outputs: [{ name: "probabilities", type: "float32", shape: ["batch", 2] }] });
    const input = await writeInput("signed.parquet", 300, "parquet");
    const plain = join(dir, "signed-plain.parquet");
    const signed = join(dir, "signed-ahead.parquet");
    await engine().run({ model: models.bytes("tiny"), input: [input], output: plain, features: FEATURES, keep: "other", what: "d" });
    const result = await engine().run({ model: models.bytes("tiny"), input: [input], output: signed, features: FEATURES, signature, keep: "other", what: "d" });
    expect(result.rows).toBe(300);
    expect(await query(`SELECT * FROM read_parquet('${signed}') ORDER BY id`)).toEqual(await query(`SELECT * FROM read_parquet('${plain}') ORDER BY id`));
    const path = join(dir, "signed-missing.csv");
    writeFileSync(path, "id,f0\n1,2\n");
    await expect(engine().run({ model: models.bytes("tiny"), input: [{ path, format: "csv" }], output: join(dir, "sm.parquet"), features: FEATURES, signature, keep: "other", what: "d" })).rejects.toMatchObject({ code: "INVALID_INPUT" });
  });

  it("refuses a value that is not a number with its row: early (a text column) and late (past DuckDB's type sample)", async () => {
    const early = join(dir, "early.csv");
    writeFileSync(early, "f0,f1,f2,f3\n1,2,3,4\n1,2,oops,4\n");
    await expect(engine().run({ model: models.bytes("tiny"), input: [{ path: early, format: "csv" }], output: join(dir, "e.parquet"), features: FEATURES, keep: "other", what: "d" })).rejects.toMatchObject({
      code: "INVALID_INPUT",
      details: { row: 2, column: "f2" },
    });

    // DuckDB types a CSV's columns from its first rows; a bad value far below them ends its read.
    const late = join(dir, "late.csv");
    const lines = ["f0,f1,f2,f3"];
    for (let i = 0; i < 60_000; i++) lines.push(i === 50_000 ? "1,2,three,4" : `${i},1,2,3`);
    writeFileSync(late, `${lines.join("\n")}\n`);
    await expect(engine().run({ model: models.bytes("tiny"), input: [{ path: late, format: "csv" }], output: join(dir, "l.parquet"), features: FEATURES, keep: "other", what: "d" })).rejects.toMatchObject({
      code: "INVALID_INPUT",
      details: { line: 50_002, column: "f2" },
    });

    const empty = join(dir, "empty-cell.csv");
    writeFileSync(empty, "f0,f1,f2,f3\n1,2,3,4\n1,,3,4\n");
    await expect(engine().run({ model: models.bytes("tiny"), input: [{ path: empty, format: "csv" }], output: join(dir, "n.parquet"), features: FEATURES, keep: "other", what: "d" })).rejects.toMatchObject({
      code: "INVALID_INPUT",
      details: { row: 2, column: "f1" },
    });
  }, 60_000);

  it("refuses a .parquet file that is not Parquet, and features that do not fit the model's input width", async () => {
    const fake = join(dir, "fake.parquet");
    writeFileSync(fake, "id,f0\n1,2\n");
    await expect(engine().describe([{ path: fake, format: "parquet" }], "d")).rejects.toMatchObject({ code: "INVALID_INPUT" });
    const input = await writeInput("fixed.parquet", 4, "parquet");
    // fixed.onnx takes a fixed [2, 3] input: 4 feature columns do not fit its 3.
    await expect(engine().run({ model: models.bytes("fixed"), input: [input], output: join(dir, "f.parquet"), features: { names: ["f0", "f1", "f2"], from: "t" }, keep: "other", what: "d" })).rejects.toMatchObject({ code: "INVALID_INPUT" });
  });

  it("stops between chunks when cancelled", async () => {
    const input = await writeInput("cancel.parquet", 5000, "parquet");
    const controller = new AbortController();
    const run = engine({ chunkRows: 10, workers: 1 }).run({
      model: models.bytes("tiny"),
      input: [input],
      output: join(dir, "cancel-out.parquet"),
      features: FEATURES,
      keep: "other",
      what: "d",
      signal: controller.signal,
      onProgress: (rows) => {
        if (rows >= 100) controller.abort();
      },
    });
    await expect(run).rejects.toBeInstanceOf(Cancelled);
  });
});
