import type { LightMyRequestResponse } from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { App } from "../../app.ts";
import { testDialects } from "../../../test/support/databases.ts";
import { createMembers, createTeamsTestApp, type AuthHeaders } from "../../../test/support/teams.ts";

const api = "/api/2.0/mlflow";
const proxy = "/api/2.0/mlflow-artifacts/artifacts";
type Users = Record<"ada" | "vic" | "bea" | "ben" | "dot", AuthHeaders>;

// Two teams on one server. ada develops in team-a, vic views team-a, bea views team-b, ben
// develops in team-b, dot develops in both. Requests are shaped as the mlflow client sends them.
describe.each(testDialects())("tracking under teams (%s)", (dialect) => {
  let app: App;
  let admin: AuthHeaders;
  let users: Users;
  let expA: string;
  let runA: string;
  let expB: string;
  let runB: string;
  const missingRun = "f".repeat(32);
  const missingExp = "987654321";

  const call = (who: AuthHeaders, method: "GET" | "POST", url: string, payload?: object) =>
    app.server.inject({ method, url, headers: who, ...(payload !== undefined ? { payload } : {}) });
  const get = (who: AuthHeaders, path: string, query: Record<string, string> = {}) => call(who, "GET", `${api}${path}?${new URLSearchParams(query)}`);
  const post = (who: AuthHeaders, path: string, payload: object) => call(who, "POST", `${api}${path}`, payload);
  const put = (who: AuthHeaders, path: string, body: string) =>
    app.server.inject({ method: "PUT", url: `${proxy}/${path}`, headers: { ...who, "content-type": "application/octet-stream" }, payload: Buffer.from(body) });

  async function experimentWithRun(who: AuthHeaders, name: string): Promise<{ experimentId: string; runId: string }> {
    const created = await post(who, "/experiments/create", { name });
    expect(created.statusCode, created.body).toBe(200);
    const experimentId: string = created.json().experiment_id;
    const run = await post(who, "/runs/create", { experiment_id: experimentId, start_time: 1_700_000_000_000 });
    expect(run.statusCode, run.body).toBe(200);
    const runId: string = run.json().run.info.run_id;
    const logged = await post(who, "/runs/log-batch", {
      run_id: runId,
      metrics: [{ key: "loss", value: 0.5, timestamp: 1_700_000_000_000, step: 1 }],
      params: [{ key: "lr", value: "0.1" }],
      tags: [{ key: "stage", value: "dev" }],
    });
    expect(logged.statusCode, logged.body).toBe(200);
    expect((await put(who, `${experimentId}/${runId}/artifacts/model/weights.bin`, "weights")).statusCode).toBe(200);
    return { experimentId, runId };
  }

  /** The answer for another team's resource is the one for a missing resource, ids aside. */
  function sameAsMissing(what: string, hidden: LightMyRequestResponse, missing: LightMyRequestResponse, swaps: [string, string][]): void {
    expect(missing.statusCode, `${what} (missing): ${missing.body}`).toBe(404);
    let body = hidden.body;
    for (const [from, to] of swaps) body = body.replaceAll(from, to);
    expect({ status: hidden.statusCode, body }, what).toEqual({ status: 404, body: missing.body });
  }

  beforeAll(async () => {
    ({ app, admin } = await createTeamsTestApp(dialect, "tracking-teams"));
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
    ({ experimentId: expA, runId: runA } = await experimentWithRun(users.ada, "a-exp"));
    ({ experimentId: expB, runId: runB } = await experimentWithRun(users.ben, "b-exp"));
  });
  afterAll(async () => app?.close());

  it("answers another team's reader exactly as for a missing experiment or run: by id, by name, by artifact path", async () => {
    const { bea } = users;
    const run = [runA, missingRun] as [string, string];
    const reads: [string, (id: string, exp: string) => Promise<LightMyRequestResponse>, [string, string][]][] = [
      ["experiments/get", (_id, exp) => get(bea, "/experiments/get", { experiment_id: exp }), [[expA, missingExp]]],
      ["experiments/get-by-name", (_id, exp) => get(bea, "/experiments/get-by-name", { experiment_name: exp === expA ? "a-exp" : "no-such-exp" }), [["a-exp", "no-such-exp"]]],
      ["runs/get", (id) => get(bea, "/runs/get", { run_id: id }), [run]],
      ["metrics/get-history (GET)", (id) => get(bea, "/metrics/get-history", { run_id: id, metric_key: "loss" }), [run]],
      ["metrics/get-history (POST)", (id) => post(bea, "/metrics/get-history", { run_id: id, metric_key: "loss" }), [run]],
      ["artifacts/list", (id) => get(bea, "/artifacts/list", { run_id: id }), [run]],
      ["artifact proxy download", (id) => call(bea, "GET", `${proxy}/${expA}/${id}/artifacts/model/weights.bin`), [run]],
      ["artifact proxy listing", (id) => call(bea, "GET", `${proxy}?${new URLSearchParams({ path: `${expA}/${id}/artifacts/model` })}`), [run]],
      ["GET /api/v1/runs/:id", (id) => call(bea, "GET", `/api/v1/runs/${id}`), [run]],
      ["GET /api/v1/runs/:id/metrics/:key", (id) => call(bea, "GET", `/api/v1/runs/${id}/metrics/loss`), [run]],
      ["GET /api/v1/runs/:id/artifacts", (id) => call(bea, "GET", `/api/v1/runs/${id}/artifacts`), [run]],
      ["GET /api/v1/runs/:id/artifacts/content", (id) => call(bea, "GET", `/api/v1/runs/${id}/artifacts/content?path=model/weights.bin`), [run]],
      ["GET /api/v1/runs?experiment=", (_id, exp) => call(bea, "GET", `/api/v1/runs?experiment=${exp === expA ? "a-exp" : "no-such-exp"}`), [["a-exp", "no-such-exp"]]],
      ["GET /api/v1/experiments/:id/keys", (_id, exp) => call(bea, "GET", `/api/v1/experiments/${exp}/keys`), [[expA, missingExp]]],
    ];
    for (const [what, request, swaps] of reads) sameAsMissing(what, await request(runA, expA), await request(missingRun, missingExp), swaps);
  });

  it("answers another team's developer as for a missing run or experiment on every write, and changes nothing", async () => {
    const { ben } = users;
    const run = [runA, missingRun] as [string, string];
    const exp = [expA, missingExp] as [string, string];
    const writes: [string, (id: string, exp: string) => Promise<LightMyRequestResponse>, [string, string][]][] = [
      ["runs/create", (_id, e) => post(ben, "/runs/create", { experiment_id: e, start_time: 1 }), [exp]],
      ["runs/log-batch", (id) => post(ben, "/runs/log-batch", { run_id: id, metrics: [{ key: "loss", value: 9, timestamp: 1, step: 9 }] }), [run]],
      ["runs/log-metric", (id) => post(ben, "/runs/log-metric", { run_id: id, key: "loss", value: 9, timestamp: 1, step: 9 }), [run]],
      ["runs/log-parameter", (id) => post(ben, "/runs/log-parameter", { run_id: id, key: "x", value: "1" }), [run]],
      ["runs/set-tag", (id) => post(ben, "/runs/set-tag", { run_id: id, key: "stage", value: "hacked" }), [run]],
      ["runs/delete-tag", (id) => post(ben, "/runs/delete-tag", { run_id: id, key: "stage" }), [run]],
      ["runs/update", (id) => post(ben, "/runs/update", { run_id: id, status: "KILLED" }), [run]],
      ["runs/delete", (id) => post(ben, "/runs/delete", { run_id: id }), [run]],
      ["runs/log-inputs", (id) => post(ben, "/runs/log-inputs", { run_id: id, datasets: [{ dataset: { name: "d", digest: "x", source_type: "local", source: "d.csv" } }] }), [run]],
      ["experiments/update", (_id, e) => post(ben, "/experiments/update", { experiment_id: e, new_name: "mine-now" }), [exp]],
      ["experiments/set-experiment-tag", (_id, e) => post(ben, "/experiments/set-experiment-tag", { experiment_id: e, key: "k", value: "v" }), [exp]],
      ["experiments/delete", (_id, e) => post(ben, "/experiments/delete", { experiment_id: e }), [exp]],
      ["artifact proxy upload", (id) => put(ben, `${expA}/${id}/artifacts/model/weights.bin`, "replaced"), [run]],
    ];
    for (const [what, request, swaps] of writes) sameAsMissing(what, await request(runA, expA), await request(missingRun, missingExp), swaps);

    const stored = (await get(users.ada, "/runs/get", { run_id: runA })).json().run;
    expect(stored.info).toMatchObject({ status: "RUNNING", lifecycle_stage: "active" });
    expect(stored.data.tags).toContainEqual({ key: "stage", value: "dev" });
    expect(stored.data.params).toEqual([{ key: "lr", value: "0.1" }]);
    expect(stored.data.metrics).toEqual([{ key: "loss", value: 0.5, timestamp: 1_700_000_000_000, step: 1 }]);
    expect((await get(users.ada, "/experiments/get", { experiment_id: expA })).json().experiment).toMatchObject({ name: "a-exp", lifecycle_stage: "active" });
    const file = await call(users.ada, "GET", `${proxy}/${expA}/${runA}/artifacts/model/weights.bin`);
    expect(file.body).toBe("weights");
  });

  it("leaves another team's experiments and runs out of every list and search", async () => {
    const { bea } = users;
    const names = (res: LightMyRequestResponse) => (res.json().experiments ?? []).map((e: { name: string }) => e.name);
    for (const res of [await post(bea, "/experiments/search", { max_results: 1000 }), await get(bea, "/experiments/search"), await get(bea, "/experiments/list")]) {
      expect(names(res)).toContain("b-exp");
      expect(names(res)).not.toContain("a-exp");
      expect(names(res)).not.toContain("Default");
    }
    expect((await post(bea, "/experiments/search", { filter: "name = 'a-exp'" })).json()).toEqual({});
    expect((await post(bea, "/experiments/search", { view_type: "ALL" })).json().experiments.map((e: { team?: string; name: string }) => e.name)).not.toContain("a-exp");
    const paved = (await call(bea, "GET", "/api/v1/experiments")).json().experiments;
    expect(paved.map((e: { name: string }) => e.name)).toEqual(["b-exp"]);
    expect(paved[0].team).toBe("team-b");

    const searched = (await post(bea, "/runs/search", { experiment_ids: [expA, expB], max_results: 100 })).json();
    expect(searched.runs.map((r: { info: { run_id: string } }) => r.info.run_id)).toEqual([runB]);
    expect((await post(bea, "/runs/search", { experiment_ids: [expA] })).json()).toEqual({});
    expect((await post(bea, "/runs/search", { experiment_ids: [expA, expB], filter: "params.lr = '0.1'" })).json().runs).toHaveLength(1);
    const listed = (await call(bea, "GET", "/api/v1/runs")).json().runs.map((r: { id: string }) => r.id);
    expect(listed).toContain(runB);
    expect(listed).not.toContain(runA);

    // The platform admin sees both.
    const all = (await call(admin, "GET", "/api/v1/experiments")).json().experiments;
    expect(all.map((e: { name: string; team: string }) => [e.name, e.team])).toEqual(
      expect.arrayContaining([
        ["a-exp", "team-a"],
        ["b-exp", "team-b"],
        ["Default", "default"],
      ]),
    );
  });

  it("lets a viewer read its team's tracking data and refuses every write with PERMISSION_DENIED", async () => {
    const { vic } = users;
    for (const res of [
      await get(vic, "/experiments/get", { experiment_id: expA }),
      await get(vic, "/experiments/get-by-name", { experiment_name: "a-exp" }),
      await get(vic, "/runs/get", { run_id: runA }),
      await get(vic, "/metrics/get-history", { run_id: runA, metric_key: "loss" }),
      await get(vic, "/artifacts/list", { run_id: runA }),
      await call(vic, "GET", `${proxy}/${expA}/${runA}/artifacts/model/weights.bin`),
      await call(vic, "GET", `${proxy}?path=${expA}/${runA}/artifacts/model`),
      await call(vic, "GET", `/api/v1/runs/${runA}`),
      await call(vic, "GET", `/api/v1/runs?experiment=a-exp`),
    ]) {
      expect(res.statusCode, res.body).toBe(200);
    }
    expect((await post(vic, "/runs/search", { experiment_ids: [expA, expB] })).json().runs.map((r: { info: { run_id: string } }) => r.info.run_id)).toEqual([runA]);

    const writes: [string, () => Promise<LightMyRequestResponse>][] = [
      ["experiments/create", () => post(vic, "/experiments/create", { name: "vic-exp" })],
      ["experiments/update", () => post(vic, "/experiments/update", { experiment_id: expA, new_name: "renamed" })],
      ["experiments/set-experiment-tag", () => post(vic, "/experiments/set-experiment-tag", { experiment_id: expA, key: "k", value: "v" })],
      ["experiments/delete", () => post(vic, "/experiments/delete", { experiment_id: expA })],
      ["experiments/restore", () => post(vic, "/experiments/restore", { experiment_id: expA })],
      ["runs/create", () => post(vic, "/runs/create", { experiment_id: expA })],
      ["runs/update", () => post(vic, "/runs/update", { run_id: runA, status: "KILLED" })],
      ["runs/log-metric", () => post(vic, "/runs/log-metric", { run_id: runA, key: "loss", value: 1, timestamp: 1, step: 2 })],
      ["runs/log-parameter", () => post(vic, "/runs/log-parameter", { run_id: runA, key: "p", value: "1" })],
      ["runs/log-batch", () => post(vic, "/runs/log-batch", { run_id: runA, tags: [{ key: "t", value: "v" }] })],
      ["runs/set-tag", () => post(vic, "/runs/set-tag", { run_id: runA, key: "t", value: "v" })],
      ["runs/delete-tag", () => post(vic, "/runs/delete-tag", { run_id: runA, key: "stage" })],
      ["runs/log-inputs", () => post(vic, "/runs/log-inputs", { run_id: runA, datasets: [] })],
      ["runs/delete", () => post(vic, "/runs/delete", { run_id: runA })],
      ["runs/restore", () => post(vic, "/runs/restore", { run_id: runA })],
      ["artifact proxy upload", () => put(vic, `${expA}/${runA}/artifacts/model/weights.bin`, "replaced")],
    ];
    for (const [what, request] of writes) {
      const res = await request();
      expect({ what, status: res.statusCode, code: res.json().error_code }).toEqual({ what, status: 403, code: "PERMISSION_DENIED" });
    }
    expect((await call(vic, "GET", `${proxy}/${expA}/${runA}/artifacts/model/weights.bin`)).body).toBe("weights");
  });

  it("creates an experiment in the caller's team, or the one its paved.team tag names; names stay unique across teams", async () => {
    const { ada, ben, bea, dot } = users;
    const team = async (id: string) => (await call(admin, "GET", "/api/v1/experiments")).json().experiments.find((e: { id: string }) => e.id === id)?.team;

    const own = await post(ada, "/experiments/create", { name: "ada-second" });
    expect(own.statusCode, own.body).toBe(200);
    expect(await team(own.json().experiment_id)).toBe("team-a");

    // dot develops in two teams and her token names none: she must say which.
    const unsure = await post(dot, "/experiments/create", { name: "dot-x" });
    expect({ status: unsure.statusCode, code: unsure.json().error_code }).toEqual({ status: 400, code: "INVALID_PARAMETER_VALUE" });
    const tagged = await post(dot, "/experiments/create", { name: "dot-x", tags: [{ key: "paved.team", value: "team-b" }, { key: "note", value: "n" }] });
    expect(tagged.statusCode, tagged.body).toBe(200);
    const id = tagged.json().experiment_id;
    expect(await team(id)).toBe("team-b");
    // The tag picks the team; it is not kept as a tag.
    expect((await get(bea, "/experiments/get", { experiment_id: id })).json().experiment.tags).toEqual([{ key: "note", value: "n" }]);

    // A team one is not in answers as a missing team; a name another team holds is taken.
    const elsewhere = await post(ada, "/experiments/create", { name: "ada-x", tags: [{ key: "paved.team", value: "team-b" }] });
    expect(elsewhere.json().error_code).toBe("RESOURCE_DOES_NOT_EXIST");
    const taken = await post(ben, "/experiments/create", { name: "a-exp" });
    expect({ status: taken.statusCode, code: taken.json().error_code }).toEqual({ status: 409, code: "RESOURCE_ALREADY_EXISTS" });
    const takenToo = await post(ada, "/experiments/create", { name: "b-exp" });
    expect(takenToo.json()).toEqual({ error_code: "RESOURCE_ALREADY_EXISTS", message: taken.json().message.replace("a-exp", "b-exp") });
    expect((await post(ben, "/experiments/update", { experiment_id: expB, new_name: "a-exp" })).json().error_code).toBe("RESOURCE_ALREADY_EXISTS");
  });

  it("keeps the Default experiment (id 0) in team default", async () => {
    const { ben } = users;
    sameAsMissing("experiments/get 0", await get(ben, "/experiments/get", { experiment_id: "0" }), await get(ben, "/experiments/get", { experiment_id: missingExp }), [["'0'", `'${missingExp}'`]]);
    // mlflow.start_run() without an experiment starts the run in experiment 0.
    const res = await post(ben, "/runs/create", { start_time: 1 });
    expect({ status: res.statusCode, code: res.json().error_code }).toEqual({ status: 404, code: "RESOURCE_DOES_NOT_EXIST" });
    expect((await get(admin, "/experiments/get", { experiment_id: "0" })).statusCode).toBe(200);
  });

  it("pages searches exactly when teams are mixed", async () => {
    const { dot, ada } = users;
    for (let i = 1; i <= 5; i++) {
      for (const t of ["a", "b"]) {
        const res = await post(dot, "/experiments/create", { name: `page-${t}-${i}`, tags: [{ key: "paved.team", value: `team-${t}` }] });
        expect(res.statusCode, res.body).toBe(200);
      }
    }
    const pages: string[][] = [];
    let token: string | undefined;
    do {
      const res: { experiments: { name: string }[]; next_page_token?: string } = (
        await post(ada, "/experiments/search", { filter: "name LIKE 'page-%'", order_by: ["name ASC"], max_results: 2, ...(token ? { page_token: token } : {}) })
      ).json();
      pages.push(res.experiments.map((e) => e.name));
      token = res.next_page_token;
    } while (token);
    expect(pages).toEqual([
      ["page-a-1", "page-a-2"],
      ["page-a-3", "page-a-4"],
      ["page-a-5"],
    ]);

    const experiments: Record<string, string> = {};
    for (const t of ["a", "b"]) {
      experiments[t] = (await post(dot, "/experiments/create", { name: `runs-${t}`, tags: [{ key: "paved.team", value: `team-${t}` }] })).json().experiment_id;
    }
    const runsOfA: string[] = [];
    for (let i = 0; i < 10; i++) {
      const t = i % 2 === 0 ? "a" : "b";
      const res = await post(dot, "/runs/create", { experiment_id: experiments[t], start_time: 1_800_000_000_000 - i });
      if (t === "a") runsOfA.push(res.json().run.info.run_id);
    }
    const seen: string[][] = [];
    token = undefined;
    do {
      const res: { runs: { info: { run_id: string } }[]; next_page_token?: string } = (
        await post(ada, "/runs/search", { experiment_ids: [experiments.a, experiments.b], max_results: 2, ...(token ? { page_token: token } : {}) })
      ).json();
      seen.push(res.runs.map((r) => r.info.run_id));
      token = res.next_page_token;
    } while (token);
    expect(seen.flat()).toEqual(runsOfA);
    expect(seen.map((p) => p.length)).toEqual([2, 2, 1]);
  });
});
