import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { App } from "../../app.ts";
import { encodeNameToken, encodePositionToken } from "../../core/index.ts";
import { testDialects } from "../../../test/support/databases.ts";
import { createMembers, createTeamsTestApp, type AuthHeaders } from "../../../test/support/teams.ts";

// GET /api/v1/pipelines (by name) and GET /api/v1/pipelines/:name/runs (newest first), a page at a
// time: keyset pages, so a pipeline applied or a run started between pages neither repeats nor
// hides one listed before; only the reader's teams' pipelines, counted before the page is cut.
describe.each(testDialects())("listing pipelines and their runs on %s", (dialect) => {
  let app: App;
  let admin: AuthHeaders;
  let ada: AuthHeaders;
  let bob: AuthHeaders;

  const call = async (who: AuthHeaders, method: "GET" | "POST", url: string, payload?: object) => app.server.inject({ method, url, headers: who, ...(payload ? { payload } : {}) });
  const apply = async (name: string, team: string) => {
    const res = await call(admin, "POST", "/api/v1/pipelines", { kind: "Pipeline", metadata: { name, team }, spec: { steps: [{ name: "say", echo: { said: name } }] } });
    expect(res.statusCode, res.body).toBe(200);
  };
  const start = async (name: string) => {
    const res = await call(ada, "POST", `/api/v1/pipelines/${name}/runs`, {});
    expect(res.statusCode, res.body).toBe(200);
    return res.json().id as string;
  };
  /** One page, checked to hold at most `limit` rows, and a full one whenever another follows. */
  const page = async <K extends "pipelines" | "runs">(who: AuthHeaders, url: string, key: K, limit: number, token?: string) => {
    const res = await call(who, "GET", `${url}?limit=${limit}${token ? `&pageToken=${token}` : ""}`);
    expect(res.statusCode, res.body).toBe(200);
    const body = res.json() as Record<K, { name: string; id: string; team: string }[]> & { nextPageToken?: string };
    expect(body[key].length).toBeLessThanOrEqual(limit);
    if (body.nextPageToken) expect(body[key]).toHaveLength(limit);
    return body;
  };

  beforeAll(async () => {
    ({ app, admin } = await createTeamsTestApp(dialect, "pipeline-list"));
    ({ ada, bob } = await createMembers(app, admin, ["risk", "fraud"], {
      ada: [{ team: "risk", role: "developer" }],
      bob: [{ team: "fraud", role: "developer" }],
    }));
    // Interleaved by name: a page of risk's pipelines is cut after the other team's are left out.
    for (const [i, name] of ["c", "e", "g", "i", "k", "m", "o"].entries()) {
      await apply(`${name}-risk`, "risk");
      await apply(`${String.fromCharCode(name.charCodeAt(0) + 1)}-fraud-${i}`, "fraud");
    }
  }, 60_000);
  afterAll(async () => app?.close());

  it("pages through a team's pipelines by name, each once, while pipelines are applied between pages", async () => {
    const risk = ["c-risk", "e-risk", "g-risk", "i-risk", "k-risk", "m-risk", "o-risk"];
    const seen: string[] = [];
    let body = await page(ada, "/api/v1/pipelines", "pipelines", 2);
    seen.push(...body.pipelines.map((p) => p.name));
    expect(seen).toEqual(["c-risk", "e-risk"]);
    // One before the page's end (the next pages do not go back for it) and one after (they reach it).
    await apply("a-risk-late", "risk");
    await apply("z-risk-late", "risk");
    while (body.nextPageToken) {
      body = await page(ada, "/api/v1/pipelines", "pipelines", 2, body.nextPageToken);
      seen.push(...body.pipelines.map((p) => p.name));
    }
    expect(seen).toEqual([...risk, "z-risk-late"]);
    // The first page again has the early one.
    expect((await page(ada, "/api/v1/pipelines", "pipelines", 1)).pipelines.map((p) => p.name)).toEqual(["a-risk-late"]);
  });

  it("never shows another team's pipeline on any page, and an admin pages through all of them", async () => {
    for (const [who, team] of [[ada, "risk"], [bob, "fraud"]] as const) {
      let body = await page(who, "/api/v1/pipelines", "pipelines", 3);
      const teams = body.pipelines.map((p) => p.team);
      while (body.nextPageToken) {
        body = await page(who, "/api/v1/pipelines", "pipelines", 3, body.nextPageToken);
        teams.push(...body.pipelines.map((p) => p.team));
      }
      expect(new Set(teams)).toEqual(new Set([team]));
      expect(teams.length).toBe(team === "risk" ? 9 : 7);
    }
    const all: string[] = [];
    let body = await page(admin, "/api/v1/pipelines", "pipelines", 4);
    all.push(...body.pipelines.map((p) => p.name));
    while (body.nextPageToken) {
      body = await page(admin, "/api/v1/pipelines", "pipelines", 4, body.nextPageToken);
      all.push(...body.pipelines.map((p) => p.name));
    }
    expect(all).toHaveLength(16);
    expect(all).toEqual((await page(admin, "/api/v1/pipelines", "pipelines", 100)).pipelines.map((p) => p.name));
  });

  it("pages through a pipeline's runs newest first, each once, while runs start between pages", async () => {
    for (let i = 0; i < 7; i++) await start("c-risk");
    // Runs started in the same millisecond are ordered by id: the one-page listing is the order to expect.
    const whole = (await page(ada, "/api/v1/pipelines/c-risk/runs", "runs", 100)).runs.map((r) => r.id);
    expect(whole).toHaveLength(7);
    const seen: string[] = [];
    let body = await page(ada, "/api/v1/pipelines/c-risk/runs", "runs", 3);
    seen.push(...body.runs.map((r) => r.id));
    const late = await start("c-risk");
    while (body.nextPageToken) {
      body = await page(ada, "/api/v1/pipelines/c-risk/runs", "runs", 3, body.nextPageToken);
      seen.push(...body.runs.map((r) => r.id));
    }
    expect(seen).toEqual(whole);
    expect((await page(ada, "/api/v1/pipelines/c-risk/runs", "runs", 1)).runs.map((r) => r.id)).toEqual([late]);
    // Another team's pipeline's runs answer as a missing pipeline, with or without a token.
    expect((await call(bob, "GET", "/api/v1/pipelines/c-risk/runs?limit=1")).statusCode).toBe(404);
  });

  it("refuses a page token it did not hand out, or one of the other list's kind", async () => {
    const position = encodePositionToken({ createdAt: Date.now(), id: "prun-x" });
    const name = encodeNameToken("c-risk");
    for (const url of [
      "/api/v1/pipelines?pageToken=nonsense",
      `/api/v1/pipelines?pageToken=${position}`,
      `/api/v1/pipelines?pageToken=${"a".repeat(201)}`,
      "/api/v1/pipelines?limit=0",
      "/api/v1/pipelines/c-risk/runs?pageToken=nonsense",
      `/api/v1/pipelines/c-risk/runs?pageToken=${name}`,
      "/api/v1/pipelines/c-risk/runs?limit=1001",
    ]) {
      const res = await call(ada, "GET", url);
      expect(res.statusCode, url).toBe(400);
      expect(res.json().error.code, url).toBe("INVALID_INPUT");
    }
  });
});
