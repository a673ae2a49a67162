import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { join } from "node:path";
import { LocalArtifactStore } from "../../artifacts/index.ts";
import { loadConfig } from "../../config/index.ts";
import { createLogger, type IdGenerator } from "../../core/index.ts";
import type { Database } from "../../storage/index.ts";
import { openTestDatabase, testDialects } from "../../../test/support/databases.ts";
import { createTrackingModule, type TrackingService } from "./index.ts";

function counterIds(): IdGenerator {
  let n = 0;
  return { hex32: () => (++n).toString(16).padStart(32, "0"), numeric: () => String(100 + ++n), prefixed: (p) => `${p}-${++n}` };
}

// Issue 7, finding 9: user patterns never run as a backtracking RegExp. Experiment filters are
// matched in memory (core/like-pattern.ts), run filters in the database; both keep MLflow's
// semantics (LIKE case-sensitive, ILIKE not, `\` escapes) on SQLite and PostgreSQL alike.
describe.each(testDialects())("experiment and run filters on %s", (dialect) => {
  let database: Database & { dataDir: string };
  let service: TrackingService;
  let experimentId: string;
  const long = "a".repeat(8_000);

  beforeAll(async () => {
    database = await openTestDatabase(dialect);
    const config = loadConfig({ env: {}, overrides: { dataDir: database.dataDir, logLevel: "silent" } });
    service = createTrackingModule({
      database,
      artifacts: new LocalArtifactStore(join(database.dataDir, "artifacts")),
      clock: { now: () => 1_700_000_000_000 },
      ids: counterIds(),
      config,
      logger: createLogger("silent"),
    }).service;
    experimentId = await service.createExperiment({ name: "Churn", team: "default", tags: { note: long, path: "50%_off\\sale" } });
    await service.createExperiment({ name: "churn-b", team: "default", tags: { note: "b" } });
    for (const [name, note] of [["Train", long], ["train-2", "50%_off\\sale"]] as const) {
      const { runId } = await service.createRun({ experimentId, runName: name, userId: "ada" });
      await service.setTags(runId, { note });
    }
  });
  afterAll(async () => database.close());

  const experiments = async (filter: string) => (await service.searchExperiments({ filter })).experiments.map((e) => e.name).sort();
  const runs = async (filter: string) => (await service.searchRuns({ experimentIds: [experimentId], filter })).runs.map((r) => r.info.run_name).sort();

  it("matches the review's pattern against an 8,000-character experiment tag without backtracking", async () => {
    // 037a407: a RegExp; 76 s for 1,000 characters, far longer for 8,000.
    expect(await experiments("tags.note LIKE '%a%a%a%b'")).toEqual([]);
    expect(await experiments("tags.note ILIKE '%A%A%A%'")).toEqual(["Churn"]);
    expect(await runs("tags.note LIKE '%a%a%a%a%a%a%a%a%a%a%a%a%b'")).toEqual([]);
    expect(await runs("tags.note LIKE '%a%a%a%'")).toEqual(["Train"]);
  });

  it("keeps LIKE case-sensitive, ILIKE not, and `\\` as the escape character in both", async () => {
    expect(await experiments("name LIKE 'churn%'")).toEqual(["churn-b"]);
    expect(await experiments("name ILIKE 'churn%'")).toEqual(["Churn", "churn-b"]);
    expect(await runs("attributes.run_name LIKE 'train%'")).toEqual(["train-2"]);
    expect(await runs("attributes.run_name ILIKE 'train%'")).toEqual(["Train", "train-2"]);
    // The filter's quoting turns `\\` into `\`, which then escapes `%` and `_`.
    expect(await experiments("tags.path LIKE '50\\\\%\\\\_off%'")).toEqual(["Churn"]);
    expect(await runs("tags.note LIKE '50\\\\%\\\\_off%'")).toEqual(["train-2"]);
    expect(await runs("tags.note ILIKE '50\\\\%\\\\_OFF%'")).toEqual(["train-2"]);
    expect(await runs("tags.note LIKE '50\\\\%\\\\_of'")).toEqual([]);
    for (const filter of ["name LIKE 'churn\\\\'", "tags.note ILIKE 'x\\\\'"]) {
      await expect(service.searchExperiments({ filter })).rejects.toMatchObject({ code: "INVALID_INPUT" });
    }
    await expect(service.searchRuns({ experimentIds: [experimentId], filter: "tags.note LIKE 'x\\\\'" })).rejects.toMatchObject({ code: "INVALID_INPUT" });
    await expect(service.searchRuns({ experimentIds: [experimentId], filter: "tags.note ILIKE 'x\\\\'" })).rejects.toMatchObject({ code: "INVALID_INPUT" });
  });

  it("bounds a filter: 100 clauses and 10,000 IN values are searched, more is INVALID_INPUT (037a407: SQLITE_ERROR)", async () => {
    const clauses = (n: number) => Array.from({ length: n }, (_, i) => `tags.k${i} != 'x'`).join(" and ");
    const list = (n: number) => `attributes.run_name IN (${Array.from({ length: n }, (_, i) => `'r${i}'`).join(", ")}, 'Train')`;
    expect(await runs(list(9_999))).toEqual(["Train"]);
    expect(await runs("tags.note LIKE '%a' and " + clauses(99))).toEqual([]);
    for (const filter of [list(10_000), clauses(101)]) {
      await expect(service.searchRuns({ experimentIds: [experimentId], filter })).rejects.toMatchObject({ code: "INVALID_INPUT" });
    }
    await expect(service.searchExperiments({ filter: clauses(101) })).rejects.toMatchObject({ code: "INVALID_INPUT" });
  });

  it("parses a huge experiment order_by term in linear time", async () => {
    // `\s*(ASC|DESC)?\s*$` backtracked quadratically: 40,000 spaces took 1.8 s on 037a407.
    await expect(service.searchExperiments({ orderBy: [`name${" ".repeat(300_000)}x`] })).rejects.toMatchObject({ code: "INVALID_INPUT" });
    expect((await service.searchExperiments({ orderBy: ["  name   DESC "] })).experiments.map((e) => e.name)).toEqual(["churn-b", "Default", "Churn"]);
  });
});
