import type { LightMyRequestResponse } from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { App } from "../../app.ts";
import { testDialects } from "../../../test/support/databases.ts";
import { createMembers, createTeamsTestApp, type AuthHeaders } from "../../../test/support/teams.ts";

const api = "/api/2.0/mlflow";
const proxy = "/api/2.0/mlflow-artifacts/artifacts";
type Method = "GET" | "POST" | "PATCH" | "DELETE" | "PUT";
type Users = Record<"ada" | "vic" | "bea" | "ben" | "dot", AuthHeaders>;
type Request = (name: string, ids: Ids) => Promise<LightMyRequestResponse>;
/** What a request names: a model, a run, an experiment and a logged model (A's, or missing ones). */
interface Ids {
  model: string;
  run: string;
  exp: string;
  logged: string;
}

// Two teams on one server: ada develops in team-a, vic views team-a, bea views team-b, ben
// develops in team-b, dot develops in both. Requests are shaped as the mlflow client sends them.
describe.each(testDialects())("registry under teams (%s)", (dialect) => {
  let app: App;
  let admin: AuthHeaders;
  let users: Users;
  let a: Ids;
  let b: Ids;
  const missing: Ids = { model: "no-such-model", run: "f".repeat(32), exp: "987654321", logged: `m-${"0".repeat(32)}` };

  const call = (who: AuthHeaders, method: Method, url: string, payload?: object) =>
    app.server.inject({ method, url, headers: who, ...(payload !== undefined ? { payload } : {}) });
  const get = (who: AuthHeaders, path: string, query: Record<string, string> = {}) => call(who, "GET", `${api}${path}?${new URLSearchParams(query)}`);
  const put = (who: AuthHeaders, path: string, body: string) =>
    app.server.inject({ method: "PUT", url: `${proxy}/${path}`, headers: { ...who, "content-type": "application/octet-stream" }, payload: Buffer.from(body) });
  const ok = async (res: Promise<LightMyRequestResponse>) => {
    const done = await res;
    expect(done.statusCode, done.body).toBe(200);
    return done.json();
  };

  /** An experiment, a run with model files, a registered model with version 1 (alias champion) and a finalized logged model. */
  async function teamData(who: AuthHeaders, prefix: string): Promise<Ids> {
    const exp = (await ok(call(who, "POST", `${api}/experiments/create`, { name: `${prefix}-exp` }))).experiment_id;
    const run = (await ok(call(who, "POST", `${api}/runs/create`, { experiment_id: exp, start_time: 1_700_000_000_000 }))).run.info.run_id;
    expect((await put(who, `${exp}/${run}/artifacts/model/model.bin`, `${prefix}-weights`)).statusCode).toBe(200);
    expect((await put(who, `${exp}/${run}/artifacts/model/MLmodel`, "flavors: {}\n")).statusCode).toBe(200);
    const model = `${prefix}-model`;
    await ok(call(who, "POST", `${api}/registered-models/create`, { name: model, description: "first" }));
    await ok(call(who, "POST", `${api}/model-versions/create`, { name: model, source: `mlflow-artifacts:/${exp}/${run}/artifacts/model`, run_id: run }));
    await ok(call(who, "POST", `${api}/registered-models/alias`, { name: model, alias: "champion", version: "1" }));
    const logged = (await ok(call(who, "POST", `${api}/logged-models`, { experiment_id: exp, name: "net", source_run_id: run }))).model.info.model_id;
    expect((await put(who, `${exp}/models/${logged}/artifacts/net.bin`, "net")).statusCode).toBe(200);
    await ok(call(who, "PATCH", `${api}/logged-models/${logged}`, { status: "LOGGED_MODEL_READY" }));
    return { model, run, exp, logged };
  }

  /** Each request answers for A's resource exactly what it answers for a missing one (ids aside). */
  async function sameAsMissing(cases: [string, Request][]): Promise<void> {
    for (const [what, request] of cases) {
      const hidden = await request(a.model, a);
      const absent = await request(missing.model, missing);
      expect(absent.statusCode, `${what} (missing): ${absent.body}`).toBe(404);
      let body = hidden.body;
      for (const key of ["run", "logged", "model", "exp"] as const) body = body.replaceAll(a[key], missing[key]);
      expect({ what, status: hidden.statusCode, body }).toEqual({ what, status: 404, body: absent.body });
    }
  }

  beforeAll(async () => {
    ({ app, admin } = await createTeamsTestApp(dialect, "registry-teams"));
    users = await createMembers(app, admin, ["team-a", "team-b"], {
      ada: [{ team: "team-a", role: "developer" }],
      vic: [{ team: "team-a", role: "viewer" }],
      bea: [{ team: "team-b", role: "viewer" }],
      ben: [{ team: "team-b", role: "developer" }],
      dot: [
        { team: "team-a", role: "developer" },
        { team: "team-b", role: "developer" },
      ],
    });
    a = await teamData(users.ada, "a");
    b = await teamData(users.ben, "b");
  });
  afterAll(async () => app?.close());

  it("answers another team's reader exactly as for a missing model, version, alias, logged model or file", async () => {
    const { bea } = users;
    await sameAsMissing(
      [
        ["registered-models/get", (m) => get(bea, "/registered-models/get", { name: m })],
        ["model-versions/get", (m) => get(bea, "/model-versions/get", { name: m, version: "1" })],
        ["model-versions/get-download-uri", (m) => get(bea, "/model-versions/get-download-uri", { name: m, version: "1" })],
        ["registered-models/alias (GET)", (m) => get(bea, "/registered-models/alias", { name: m, alias: "champion" })],
        ["registered-models/get-latest-versions", (m) => call(bea, "POST", `${api}/registered-models/get-latest-versions`, { name: m })],
        ["GET /api/v1/models/:name", (m) => call(bea, "GET", `/api/v1/models/${m}`)],
        ["GET /api/v1/models/:name/versions/1", (m) => call(bea, "GET", `/api/v1/models/${m}/versions/1`)],
        ["GET /api/v1/models/:name/versions/champion", (m) => call(bea, "GET", `/api/v1/models/${m}/versions/champion`)],
        ["logged-models/:id", (_m, ids) => get(bea, `/logged-models/${ids.logged}`)],
        ["proxy: version file", (m) => call(bea, "GET", `${proxy}/registry/${m}/1/model.bin`)],
        ["proxy: version listing", (m) => call(bea, "GET", `${proxy}?path=registry/${m}/1`)],
        ["proxy: logged model file", (_m, ids) => call(bea, "GET", `${proxy}/${ids.exp}/models/${ids.logged}/artifacts/net.bin`)],
        ["proxy: logged model listing", (_m, ids) => call(bea, "GET", `${proxy}?path=${ids.exp}/models/${ids.logged}/artifacts`)],
      ],
    );
  });

  it("answers another team's developer as for a missing model on every write, and changes nothing", async () => {
    const { ben } = users;
    const r = `${api}/registered-models`;
    const v = `${api}/model-versions`;
    const l = `${api}/logged-models`;
    await sameAsMissing(
      [
        ["registered-models/rename", (m) => call(ben, "POST", `${r}/rename`, { name: m, new_name: "stolen" })],
        ["registered-models/update", (m) => call(ben, "PATCH", `${r}/update`, { name: m, description: "x" })],
        ["registered-models/set-tag", (m) => call(ben, "POST", `${r}/set-tag`, { name: m, key: "k", value: "v" })],
        ["registered-models/delete-tag", (m) => call(ben, "DELETE", `${r}/delete-tag`, { name: m, key: "k" })],
        ["registered-models/alias (POST)", (m) => call(ben, "POST", `${r}/alias`, { name: m, alias: "champion", version: "1" })],
        ["registered-models/alias (DELETE)", (m) => call(ben, "DELETE", `${r}/alias`, { name: m, alias: "champion" })],
        ["model-versions/create", (m) => call(ben, "POST", `${v}/create`, { name: m, source: `runs:/${b.run}/model` })],
        ["model-versions/update", (m) => call(ben, "PATCH", `${v}/update`, { name: m, version: "1", description: "x" })],
        ["model-versions/set-tag", (m) => call(ben, "POST", `${v}/set-tag`, { name: m, version: "1", key: "k", value: "v" })],
        ["model-versions/delete-tag", (m) => call(ben, "DELETE", `${v}/delete-tag`, { name: m, version: "1", key: "k" })],
        ["PUT /api/v1/models/:name/aliases/:alias", (m) => call(ben, "PUT", `/api/v1/models/${m}/aliases/staging`, { version: "1" })],
        ["DELETE /api/v1/models/:name/aliases/:alias", (m) => call(ben, "DELETE", `/api/v1/models/${m}/aliases/champion`)],
        ["PATCH /api/v1/models/:name/tags", (m) => call(ben, "PATCH", `/api/v1/models/${m}/tags`, { set: { k: "v" } })],
        ["PATCH /api/v1/models/:name/versions/1/tags", (m) => call(ben, "PATCH", `/api/v1/models/${m}/versions/1/tags`, { set: { k: "v" } })],
        ["logged model: finalize", (_m, ids) => call(ben, "PATCH", `${l}/${ids.logged}`, { status: "LOGGED_MODEL_UPLOAD_FAILED" })],
        ["logged model: delete", (_m, ids) => call(ben, "DELETE", `${l}/${ids.logged}`)],
        ["logged model: set tags", (_m, ids) => call(ben, "PATCH", `${l}/${ids.logged}/tags`, { tags: [{ key: "k", value: "v" }] })],
        ["logged model: delete tag", (_m, ids) => call(ben, "DELETE", `${l}/${ids.logged}/tags/k`)],
        ["logged model: params", (_m, ids) => call(ben, "POST", `${l}/${ids.logged}/params`, { params: [{ key: "k", value: "v" }] })],
        ["logged model: upload", (_m, ids) => put(ben, `${ids.exp}/models/${ids.logged}/artifacts/net.bin`, "replaced")],
        ["logged model: create in the experiment", (_m, ids) => call(ben, "POST", l, { experiment_id: ids.exp, name: "x" })],
        ["logged model: create from the run", (_m, ids) => call(ben, "POST", l, { experiment_id: b.exp, name: "x", source_run_id: ids.run })],
        ["runs/outputs: the run", (_m, ids) => call(ben, "POST", `${api}/runs/outputs`, { run_id: ids.run, models: [{ model_id: b.logged }] })],
        ["runs/outputs: the logged model", (_m, ids) => call(ben, "POST", `${api}/runs/outputs`, { run_id: b.run, models: [{ model_id: ids.logged }] })],
      ],
    );
    // Deleting needs a maintainer: ben (a developer) is refused before anything is looked up.
    expect((await call(ben, "DELETE", `${r}/delete`, { name: a.model })).statusCode).toBe(403);

    const model = (await get(users.ada, "/registered-models/get", { name: a.model })).json().registered_model;
    expect(model).toMatchObject({ name: a.model, description: "first", aliases: [{ alias: "champion", version: "1" }] });
    expect(model.tags).toBeUndefined();
    expect((await get(users.ada, "/model-versions/search", { filter: `name = '${a.model}'` })).json().model_versions).toHaveLength(1);
    expect((await get(users.ada, `/logged-models/${a.logged}`)).json().model.info).toMatchObject({ status: "LOGGED_MODEL_READY" });
    expect((await call(users.ada, "GET", `${proxy}/${a.exp}/models/${a.logged}/artifacts/net.bin`)).body).toBe("net");
  });

  it("never registers another team's run, model or logged model: the source answers as missing", async () => {
    const { ben } = users;
    const create = (source: (ids: Ids) => string, extra: (ids: Ids) => object = () => ({})): Request => (_m, ids) =>
      call(ben, "POST", `${api}/model-versions/create`, { name: b.model, source: source(ids), ...extra(ids) });
    await sameAsMissing(
      [
        ["runs:/", create((ids) => `runs:/${ids.run}/model`)],
        ["mlflow-artifacts:/ run path", create((ids) => `mlflow-artifacts:/${ids.exp}/${ids.run}/artifacts/model`)],
        ["models:/<name>/<version>", create((ids) => `models:/${ids.model}/1`)],
        ["models:/<logged model>", create((ids) => `models:/${ids.logged}`)],
        ["mlflow-artifacts:/ logged model path", create((ids) => `mlflow-artifacts:/${ids.exp}/models/${ids.logged}/artifacts`)],
        ["run_id beside a version source", create(() => `models:/${b.model}/1`, (ids) => ({ run_id: ids.run }))],
        ["model_id beside a run source", create(() => `runs:/${b.run}/model`, (ids) => ({ model_id: ids.logged }))],
        ["Paved registration of a new model", (_m, ids) => call(ben, "POST", "/api/v1/models/b-copy/versions", { source: `runs:/${ids.run}/model` })],
        ["Paved registration into its own model", (_m, ids) => call(ben, "POST", `/api/v1/models/${b.model}/versions`, { source: `models:/${ids.model}/1` })],
      ],
    );
    // Nothing was created on the way.
    expect((await get(admin, "/registered-models/get", { name: "b-copy" })).statusCode).toBe(404);
    expect((await get(admin, "/model-versions/search", { filter: `name = '${b.model}'` })).json().model_versions).toHaveLength(1);
  });

  it("holds model names across teams: creating one another team has is ALREADY_EXISTS", async () => {
    const { ben, ada } = users;
    for (const res of [
      await call(ben, "POST", `${api}/registered-models/create`, { name: a.model }),
      await call(ben, "POST", `/api/v1/models/${a.model}/versions`, { source: `runs:/${b.run}/model` }),
      await call(ada, "POST", `${api}/registered-models/create`, { name: b.model }),
      await call(ben, "POST", `${api}/registered-models/rename`, { name: b.model, new_name: a.model }),
    ]) {
      expect(res.statusCode, res.body).toBe(409);
    }
  });

  it("leaves another team's models, versions and logged models out of every search", async () => {
    const { bea } = users;
    const names = (body: { registered_models?: { name: string }[] }) => (body.registered_models ?? []).map((m) => m.name);
    expect(names((await get(bea, "/registered-models/search")).json())).toEqual([b.model]);
    expect(names((await call(bea, "POST", `${api}/registered-models/search`, { max_results: 100 })).json())).toEqual([b.model]);
    expect((await get(bea, "/registered-models/search", { filter: `name = '${a.model}'` })).json()).toEqual({});
    expect((await get(bea, "/model-versions/search", { filter: `name = '${a.model}'` })).json()).toEqual({});
    const versions = (await call(bea, "POST", `${api}/model-versions/search`, {})).json().model_versions;
    expect(versions.map((v: { name: string }) => v.name)).toEqual([b.model]);
    const logged = (await call(bea, "POST", `${api}/logged-models/search`, { experiment_ids: [a.exp, b.exp] })).json().models;
    expect(logged.map((m: { info: { model_id: string } }) => m.info.model_id)).toEqual([b.logged]);
    expect((await call(bea, "POST", `${api}/logged-models/search`, { experiment_ids: [a.exp] })).json()).toEqual({});
    const paved = (await call(bea, "GET", "/api/v1/models")).json().models;
    expect(paved.map((m: { name: string; team: string }) => [m.name, m.team])).toEqual([[b.model, "team-b"]]);
  });

  it("lets a viewer read its team's registry and refuses every write with PERMISSION_DENIED", async () => {
    const { vic } = users;
    for (const res of [
      await get(vic, "/registered-models/get", { name: a.model }),
      await get(vic, "/model-versions/get", { name: a.model, version: "1" }),
      await get(vic, "/registered-models/alias", { name: a.model, alias: "champion" }),
      await get(vic, `/logged-models/${a.logged}`),
      await call(vic, "GET", `/api/v1/models/${a.model}`),
      await call(vic, "GET", `${proxy}/registry/${a.model}/1/model.bin`),
      await call(vic, "GET", `${proxy}/${a.exp}/models/${a.logged}/artifacts/net.bin`),
    ]) {
      expect(res.statusCode, res.body).toBe(200);
    }
    expect((await get(vic, "/registered-models/search")).json().registered_models.map((m: { name: string }) => m.name)).toEqual([a.model]);
    const writes: [string, () => Promise<LightMyRequestResponse>][] = [
      ["registered-models/create", () => call(vic, "POST", `${api}/registered-models/create`, { name: "vic-model" })],
      ["registered-models/rename", () => call(vic, "POST", `${api}/registered-models/rename`, { name: a.model, new_name: "x" })],
      ["registered-models/update", () => call(vic, "PATCH", `${api}/registered-models/update`, { name: a.model, description: "x" })],
      ["registered-models/delete", () => call(vic, "DELETE", `${api}/registered-models/delete`, { name: a.model })],
      ["registered-models/set-tag", () => call(vic, "POST", `${api}/registered-models/set-tag`, { name: a.model, key: "k", value: "v" })],
      ["registered-models/alias", () => call(vic, "POST", `${api}/registered-models/alias`, { name: a.model, alias: "x", version: "1" })],
      ["model-versions/create", () => call(vic, "POST", `${api}/model-versions/create`, { name: a.model, source: `runs:/${a.run}/model` })],
      ["model-versions/update", () => call(vic, "PATCH", `${api}/model-versions/update`, { name: a.model, version: "1", description: "x" })],
      ["model-versions/delete", () => call(vic, "DELETE", `${api}/model-versions/delete`, { name: a.model, version: "1" })],
      ["model-versions/set-tag", () => call(vic, "POST", `${api}/model-versions/set-tag`, { name: a.model, version: "1", key: "k", value: "v" })],
      ["logged-models (create)", () => call(vic, "POST", `${api}/logged-models`, { experiment_id: a.exp, source_run_id: a.run })],
      ["logged-models (finalize)", () => call(vic, "PATCH", `${api}/logged-models/${a.logged}`, { status: "LOGGED_MODEL_READY" })],
      ["runs/outputs", () => call(vic, "POST", `${api}/runs/outputs`, { run_id: a.run, models: [{ model_id: a.logged }] })],
      ["Paved: register a version", () => call(vic, "POST", `/api/v1/models/${a.model}/versions`, { source: `runs:/${a.run}/model` })],
      ["Paved: move an alias", () => call(vic, "PUT", `/api/v1/models/${a.model}/aliases/champion`, { version: "1" })],
      ["Paved: tags", () => call(vic, "PATCH", `/api/v1/models/${a.model}/tags`, { set: { k: "v" } })],
    ];
    for (const [what, request] of writes) {
      const res = await request();
      const code = res.json().error_code ?? res.json().error?.code;
      expect({ what, status: res.statusCode, code }).toEqual({ what, status: 403, code: expect.stringMatching(/^(PERMISSION_DENIED|FORBIDDEN)$/) });
    }
  });

  it("keeps a version's files in their team for a member of both: refused with a reason, nothing created", async () => {
    const { dot } = users;
    await ok(call(dot, "POST", `${api}/registered-models/create`, { name: "dot-b", tags: [{ key: "paved.team", value: "team-b" }] }));
    const cross = await call(dot, "POST", `${api}/model-versions/create`, { name: "dot-b", source: `runs:/${a.run}/model` });
    expect({ status: cross.statusCode, code: cross.json().error_code }).toEqual({ status: 400, code: "INVALID_PARAMETER_VALUE" });
    const crossVersion = await call(dot, "POST", `${api}/model-versions/create`, { name: "dot-b", source: `models:/${a.model}/1` });
    expect(crossVersion.statusCode).toBe(400);

    // Paved's registration puts a new model in its source's team; naming another team is refused before the model is made.
    const refused = await call(dot, "POST", "/api/v1/models/dot-from-a/versions", { source: `runs:/${a.run}/model`, team: "team-b" });
    expect({ status: refused.statusCode, code: refused.json().error.code }).toEqual({ status: 400, code: "INVALID_INPUT" });
    expect((await call(admin, "GET", "/api/v1/models/dot-from-a")).statusCode).toBe(404);
    const registered = await call(dot, "POST", "/api/v1/models/dot-from-a/versions", { source: `runs:/${a.run}/model` });
    expect(registered.statusCode, registered.body).toBe(200);
    expect((await call(admin, "GET", "/api/v1/models/dot-from-a")).json()).toMatchObject({ team: "team-a", latestVersion: "1" });
    expect((await call(dot, "POST", "/api/v1/models/dot-from-a/versions", { source: `runs:/${a.run}/model`, team: "team-b" })).statusCode).toBe(400);

    const crossLogged = await call(dot, "POST", `${api}/logged-models`, { experiment_id: b.exp, source_run_id: a.run });
    expect(crossLogged.json().error_code).toBe("INVALID_PARAMETER_VALUE");
    const crossOutput = await call(dot, "POST", `${api}/runs/outputs`, { run_id: b.run, models: [{ model_id: a.logged }] });
    expect(crossOutput.json().error_code).toBe("INVALID_PARAMETER_VALUE");
  });

  it("pages model and version searches exactly when teams are mixed", async () => {
    const { dot, ada } = users;
    for (let i = 1; i <= 5; i++) {
      for (const [t, ids] of [["a", a], ["b", b]] as const) {
        const name = `page-${t}-${i}`;
        await ok(call(dot, "POST", `${api}/registered-models/create`, { name, tags: [{ key: "paved.team", value: `team-${t}` }] }));
        await ok(call(dot, "POST", `${api}/model-versions/create`, { name, source: `runs:/${ids.run}/model` }));
      }
    }
    const collect = async (path: string, key: "registered_models" | "model_versions", extra: object) => {
      const pages: string[][] = [];
      let token: string | undefined;
      do {
        const res = (await call(ada, "POST", `${api}${path}`, { ...extra, max_results: 2, ...(token ? { page_token: token } : {}) })).json();
        pages.push((res[key] ?? []).map((m: { name: string }) => m.name));
        token = res.next_page_token;
      } while (token);
      return pages;
    };
    const expected = [
      ["page-a-1", "page-a-2"],
      ["page-a-3", "page-a-4"],
      ["page-a-5"],
    ];
    expect(await collect("/registered-models/search", "registered_models", { filter: "name LIKE 'page-%'", order_by: ["name ASC"] })).toEqual(expected);
    expect(await collect("/model-versions/search", "model_versions", { filter: "name LIKE 'page-%'", order_by: ["name ASC"] })).toEqual(expected);
  });
});
