import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createApp, type App } from "../../app.ts";
import { LocalArtifactStore } from "../../artifacts/index.ts";
import { loadConfig } from "../../config/index.ts";
import { createLogger, type Clock, type IdGenerator } from "../../core/index.ts";
import type { Database } from "../../storage/index.ts";
import { openTestDatabase, testDialects, testPostgresUrl } from "../../../test/support/databases.ts";
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
    await registry.createModel({ name: "Fraud-a", team: "default", userId: "ada", tags: [{ key: "note", value: long }, { key: "path", value: "50%_off\\sale" }] });
    await registry.createModel({ name: "fraud-b", team: "default", userId: "ada", tags: [{ key: "note", value: longest }] });
    experimentId = await tracking.ensureExperiment("filters", "default");
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

// Issue 8: MLflow 3 adds ``tag.`mlflow.prompt.is_prompt` != 'true'`` to every
// search_registered_models and search_model_versions call; Paved answered 400, so
// mlflow.search_registered_models() always failed.
describe.each(testDialects())("MLflow 3's prompt filter through the MLflow REST routes on %s", (dialect) => {
  let app: App;
  let auth: Record<string, string>;
  const api = "/api/2.0/mlflow";
  const PROMPT_FILTER = "tag.`mlflow.prompt.is_prompt` != 'true'";
  const search = (path: string, filter: string) =>
    app.server.inject({ method: "GET", url: `${api}${path}?${new URLSearchParams({ filter, max_results: "100" })}`, headers: auth });

  beforeAll(async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "paved-prompt-filter-"));
    const databaseUrl = dialect === "postgres" ? await testPostgresUrl() : undefined;
    app = await createApp(loadConfig({ env: {}, overrides: { dataDir, logLevel: "silent", compute: { gpus: [] }, ...(databaseUrl ? { databaseUrl } : {}) } }));
    auth = { authorization: `Bearer ${app.generatedAdminToken}` };
    const post = async (path: string, body: object) => expect((await app.server.inject({ method: "POST", url: `${api}${path}`, headers: auth, payload: body })).statusCode).toBe(200);
    await post("/registered-models/create", { name: "churn" });
    await post("/registered-models/create", { name: "marked-model", tags: [{ key: "mlflow.prompt.is_prompt", value: "false" }, { key: "team", value: "ml" }] });
    await post("/registered-models/create", { name: "greeting", tags: [{ key: "mlflow.prompt.is_prompt", value: "true" }] });
    const run = (await app.server.inject({ method: "POST", url: `${api}/runs/create`, headers: auth, payload: { experiment_id: "0" } })).json().run.info;
    const mlmodel = { ...auth, "content-type": "application/octet-stream" };
    const upload = await app.server.inject({ method: "PUT", url: `/api/2.0/mlflow-artifacts/artifacts/0/${run.run_id}/artifacts/model/MLmodel`, headers: mlmodel, payload: Buffer.from("flavors: {python_function: {}}\n") });
    expect(upload.statusCode).toBe(200);
    await post("/model-versions/create", { name: "churn", source: `runs:/${run.run_id}/model`, run_id: run.run_id });
    await post("/model-versions/create", { name: "greeting", source: `runs:/${run.run_id}/model`, run_id: run.run_id, tags: [{ key: "mlflow.prompt.is_prompt", value: "true" }] });
  });
  afterAll(async () => app?.close());

  const modelNames = async (filter: string) => {
    const res = await search("/registered-models/search", filter);
    expect(res.statusCode).toBe(200);
    return (res.json().registered_models ?? []).map((m: { name: string }) => m.name).sort();
  };

  it("answers the exact filter mlflow.search_registered_models() sends, without prompts", async () => {
    expect(await modelNames(PROMPT_FILTER)).toEqual(["churn", "marked-model"]);
    // What `search_registered_models(filter_string="name LIKE 'c%'")` becomes in MLflow 3.
    expect(await modelNames(`name LIKE 'c%' AND ${PROMPT_FILTER}`)).toEqual(["churn"]);
    // What MLflow's search_prompts sends.
    expect(await modelNames("tag.`mlflow.prompt.is_prompt` = 'true'")).toEqual(["greeting"]);
  });

  it("answers it for model versions too", async () => {
    const res = await search("/model-versions/search", `name = 'churn' AND ${PROMPT_FILTER}`);
    expect(res.statusCode).toBe(200);
    expect(res.json().model_versions.map((v: { name: string }) => v.name)).toEqual(["churn"]);
    const prompts = await search("/model-versions/search", PROMPT_FILTER);
    expect(prompts.json().model_versions.map((v: { name: string }) => v.name)).toEqual(["churn"]);
  });

  it("accepts tag./tags. with backquoted or double-quoted keys, and keeps MLflow's meaning of != on other tags", async () => {
    for (const key of ["tag.`team`", "tags.`team`", 'tags."team"', "tags.team", "`tags.team`"]) expect(await modelNames(`${key} = 'ml'`)).toEqual(["marked-model"]);
    // As in MLflow's stores: a model without the tag does not match `!=` (only the prompt tag is special).
    expect(await modelNames("tags.`team` != 'other'")).toEqual(["marked-model"]);
    expect(await modelNames("tag.`mlflow.prompt.is_prompt` = 'false'")).toEqual(["churn", "marked-model"]);
  });

  it("still refuses what MLflow refuses, as INVALID_PARAMETER_VALUE", async () => {
    for (const filter of ["tag.`unterminated != 'x'", "tag.`k` ~ 'x'", "tag. `k` = 'x'"]) {
      const res = await search("/registered-models/search", filter);
      expect(res.statusCode).toBe(400);
      expect(res.json().error_code).toBe("INVALID_PARAMETER_VALUE");
    }
  });
});
