import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { join } from "node:path";
import { LocalArtifactStore } from "../../artifacts/index.ts";
import { loadConfig } from "../../config/index.ts";
import { createLogger, type Clock, type IdGenerator } from "../../core/index.ts";
import type { Database } from "../../storage/index.ts";
import { openTestDatabase, testDialects } from "../../../test/support/databases.ts";
import { createTrackingModule, type TrackingService } from "../tracking/index.ts";
import { createRegistryModule, type LoggedModelService, type RegistryService } from "./index.ts";

function counterIds(): IdGenerator {
  let n = 0;
  return { hex32: () => (++n).toString(16).padStart(32, "0"), numeric: () => String(100 + ++n), prefixed: (p) => `${p}-${++n}` };
}

// Issue 7, finding 9: LIKE/ILIKE compiled to a backtracking RegExp on the main thread;
// `tags.note LIKE '%a%a%a%b'` against a 1,000-character tag took 76 s on 037a407.
describe.each(testDialects())("registry and logged-model filters on %s", (dialect) => {
  let database: Database & { dataDir: string };
  let tracking: TrackingService;
  let registry: RegistryService;
  let loggedModels: LoggedModelService;
  let experimentId: string;
  const clock: Clock = { now: () => 1_700_000_000_000 };
  const long = "a".repeat(1_000);
  const longest = "a".repeat(5_000);

  beforeAll(async () => {
    database = await openTestDatabase(dialect);
    const config = loadConfig({ env: {}, overrides: { dataDir: database.dataDir, logLevel: "silent" } });
    const deps = { database, artifacts: new LocalArtifactStore(join(database.dataDir, "artifacts")), clock, ids: counterIds(), config, logger: createLogger("silent") };
    tracking = createTrackingModule(deps).service;
    const module = createRegistryModule({ ...deps, tracking });
    registry = module.service;
    loggedModels = module.loggedModels;
    await registry.createModel({ name: "Fraud-a", userId: "ada", tags: [{ key: "note", value: long }, { key: "path", value: "50%_off\\sale" }] });
    await registry.createModel({ name: "fraud-b", userId: "ada", tags: [{ key: "note", value: longest }] });
    experimentId = await tracking.ensureExperiment("filters");
    await loggedModels.create({ experimentId, name: "net", userId: "ada", tags: [{ key: "note", value: long }] });
  });
  afterAll(async () => database.close());

  const names = async (filter: string) => (await registry.searchModels({ filter })).models.map((m) => m.name).sort();

  it("matches the review's pattern against long tags without backtracking", async () => {
    expect(await names("tags.note LIKE '%a%a%a%b'")).toEqual([]);
    expect(await names("tags.note LIKE '%a%a%a%a%a%a%a%a%a%a%a%a%a%a%a%a%a%a%a%a%a%a%a%a%b'")).toEqual([]);
    expect(await names("tags.note ILIKE '%A%A%A%'")).toEqual(["Fraud-a", "fraud-b"]);
    expect((await loggedModels.search({ experimentIds: [experimentId], filter: "tags.note LIKE '%a%a%a%b'" })).models).toEqual([]);
    expect((await loggedModels.search({ experimentIds: [experimentId], filter: "tags.note LIKE '%a%a%a%'" })).models.map((m) => m.name)).toEqual(["net"]);
  });

  it("keeps LIKE case-sensitive, ILIKE not, and `\\` as the escape character", async () => {
    expect(await names("name LIKE 'fraud%'")).toEqual(["fraud-b"]);
    expect(await names("name ILIKE 'fraud%'")).toEqual(["Fraud-a", "fraud-b"]);
    expect(await names("name LIKE '_raud-_'")).toEqual(["Fraud-a", "fraud-b"]);
    // The filter string's own quoting turns `\\` into `\`, which then escapes the next character.
    expect(await names("tags.path LIKE '50\\\\%\\\\_off%'")).toEqual(["Fraud-a"]);
    expect(await names("tags.path LIKE '50\\\\%\\\\_of'")).toEqual([]);
    await expect(registry.searchModels({ filter: "name LIKE 'fraud\\\\'" })).rejects.toMatchObject({ code: "INVALID_INPUT" });
  });

  it("bounds a filter: 100 clauses and 10,000 IN values, more is INVALID_INPUT", async () => {
    const clauses = (n: number) => Array.from({ length: n }, (_, i) => `tags.k${i} != 'x'`).join(" and ");
    const list = (n: number) => `name IN (${Array.from({ length: n }, (_, i) => `'m${i}'`).join(", ")}, 'fraud-b')`;
    expect(await names(list(9_999))).toEqual(["fraud-b"]);
    expect(await names(clauses(100))).toEqual([]);
    for (const filter of [list(10_000), clauses(101)]) await expect(registry.searchModels({ filter })).rejects.toMatchObject({ code: "INVALID_INPUT" });
    await expect(loggedModels.search({ experimentIds: [experimentId], filter: clauses(101) })).rejects.toMatchObject({ code: "INVALID_INPUT" });
  });

  it("parses a huge order_by term in linear time", async () => {
    // `\s*(ASC|DESC)?\s*$` backtracked quadratically: 40,000 spaces took 1.6 s on 037a407.
    const term = `name${" ".repeat(300_000)}x`;
    await expect(registry.searchModels({ orderBy: [term] })).rejects.toMatchObject({ code: "INVALID_INPUT" });
    await expect(registry.searchVersions({ orderBy: [term] })).rejects.toMatchObject({ code: "INVALID_INPUT" });
    expect((await registry.searchModels({ orderBy: ["  name   DESC  "] })).models.map((m) => m.name)).toEqual(["fraud-b", "Fraud-a"]);
  });
});
