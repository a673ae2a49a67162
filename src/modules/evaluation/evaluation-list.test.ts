import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { App } from "../../app.ts";
import { encodeNameToken, encodePageToken } from "../../core/index.ts";
import { runPaved } from "../../../test/support/cli.ts";
import { testDialects } from "../../../test/support/databases.ts";
import { walkPages } from "../../../test/support/pages.ts";
import { createMembers, createTeamsTestApp, type AuthHeaders } from "../../../test/support/teams.ts";
import type { EvaluationRow } from "./store.ts";

// GET /api/v1/evaluations: newest first a page at a time (keyset on creation time and id: an
// evaluation asked for between pages neither repeats nor hides an older one), only within the
// reader's teams. Asking for a real evaluation needs an ONNX model and the runner; the list reads
// only the stored rows, so they are written to the database as the service writes them.
describe.each(testDialects())("listing evaluations on %s", (dialect) => {
  let app: App;
  let url: string;
  const dir = mkdtempSync(join(tmpdir(), "paved-evaluation-list-"));
  let admin: AuthHeaders;
  let ada: AuthHeaders;
  let bea: AuthHeaders;
  /** Every row written, as the list orders them: newest first, the larger id first on a tie. */
  const rows: EvaluationRow[] = [];
  const ordered = (filter: (r: EvaluationRow) => boolean) =>
    rows
      .filter(filter)
      .sort((x, y) => y.created_at - x.created_at || (x.id < y.id ? 1 : -1))
      .map((r) => r.id);

  const createModel = async (who: AuthHeaders, name: string) => {
    const res = await app.server.inject({ method: "POST", url: "/api/2.0/mlflow/registered-models/create", headers: who, payload: { name } });
    expect(res.statusCode, res.body).toBe(200);
    const row = await app.database.db.selectFrom("registered_models").select(["model_id", "team_id"]).where("name", "=", name).executeTakeFirstOrThrow();
    return { id: row.model_id, name, team: row.team_id };
  };
  let serial = 0;
  const insert = async (model: { id: string; name: string; team: string }, version: number, createdAt: number) => {
    // Ids out of step with time, as random ids are, so ties are broken by id and not by insertion.
    const id = `eval-${((serial++ * 7919) % 65_536).toString(16).padStart(10, "0")}`;
    const row: EvaluationRow = {
      id,
      model_id: model.id,
      model_name: model.name,
      version,
      policy_version: "p1",
      data_path: "uploads:/sha256-00",
      data_digest: "sha256:00",
      reference_path: null,
      passed: 1,
      checks: "[]",
      user_id: "ada",
      started_at: createdAt,
      finished_at: createdAt + 5,
      phase: "Passed",
      request: null,
      message: null,
      created_at: createdAt,
      team_id: model.team,
    };
    await app.database.db.insertInto("evaluations").values(row).execute();
    rows.push(row);
  };
  const list = async (who: AuthHeaders, query: Record<string, string>) => {
    const res = await app.server.inject({ method: "GET", url: `/api/v1/evaluations?${new URLSearchParams(query)}`, headers: who });
    expect(res.statusCode, res.body).toBe(200);
    return res.json() as { evaluations: { id: string; model: string; version: string }[]; nextPageToken?: string };
  };
  /** Every page of a listing, with `between` run after each page but the last. */
  const walk = (who: AuthHeaders, query: Record<string, string>, between?: (page: number) => Promise<void>) =>
    walkPages(async (token) => {
      const page = await list(who, { ...query, ...(token ? { pageToken: token } : {}) });
      return { items: page.evaluations.map((e) => e.id), nextPageToken: page.nextPageToken };
    }, between);
  let churn: { id: string; name: string; team: string };
  let fraud: { id: string; name: string; team: string };

  beforeAll(async () => {
    ({ app, admin } = await createTeamsTestApp(dialect, "evaluation-list", { host: "127.0.0.1", port: 0 }));
    url = await app.listen();
    ({ ada, bea } = await createMembers(app, admin, ["team-a", "team-b"], {
      ada: [{ team: "team-a", role: "developer" }],
      bea: [{ team: "team-b", role: "developer" }],
    }));
    churn = await createModel(ada, "churn");
    fraud = await createModel(bea, "fraud");
    expect([churn.team, fraud.team]).toEqual(["team-a", "team-b"]);
    // Three at a time share a creation time, and the teams interleave, so pages cut inside ties
    // and after the team filter.
    for (let i = 0; i < 18; i++) await insert(i % 3 === 2 ? fraud : churn, 1 + (i % 2), 1_000 + Math.floor(i / 3) * 10);
  }, 60_000);
  afterAll(async () => app?.close());

  it("walks every evaluation of the reader's teams once, newest first, a page at a time", async () => {
    const pages = await walk(ada, { limit: "4" });
    expect(pages.map((p) => p.length)).toEqual([4, 4, 4]);
    expect(pages.flat()).toEqual(ordered((r) => r.team_id === "team-a"));
    expect((await walk(ada, { limit: "1" })).flat()).toEqual(ordered((r) => r.team_id === "team-a"));
    // A last page that is exactly full says there is no more.
    expect((await list(ada, { limit: "12" })).nextPageToken).toBeUndefined();
    expect((await walk(bea, { limit: "2" })).flat()).toEqual(ordered((r) => r.team_id === "team-b"));
    expect((await walk(admin, { limit: "5" })).flat()).toEqual(ordered(() => true));
    // The default page holds them all.
    expect((await list(ada, {})).evaluations).toHaveLength(12);
  });

  it("paved evaluations ls prints one page and the token of the next, until the last", async () => {
    const token = bea.authorization.replace(/^Bearer /, "");
    const seen: string[] = [];
    let args = ["evaluations", "ls", "--limit", "4"];
    for (;;) {
      const result = await runPaved(args, { url, token, dir });
      expect(result.code, result.stderr).toBe(0);
      seen.push(...result.stdout.trimEnd().split("\n").slice(1).map((line) => line.split(/\s+/)[0]!));
      const next = /^more evaluations: add --page-token (\S+)$/m.exec(result.stderr)?.[1];
      if (!next) break;
      args = ["evaluations", "ls", "--limit", "4", "--page-token", next];
    }
    expect(seen).toEqual(ordered((r) => r.team_id === "team-b"));
    const json = JSON.parse((await runPaved(["evaluations", "ls", "--limit", "6", "--json"], { url, token, dir })).stdout) as { evaluations: { id: string }[]; nextPageToken?: string };
    expect(json.evaluations.map((e) => e.id)).toEqual(ordered((r) => r.team_id === "team-b"));
    expect(json.nextPageToken).toBeUndefined();
  });

  it("pages one model's version", async () => {
    const pages = await walk(ada, { model: "churn", version: "2", limit: "2" });
    expect(pages.flat()).toEqual(ordered((r) => r.model_name === "churn" && r.version === 2));
    expect(pages.flat().length).toBeGreaterThan(2);
    // Another team's model answers as a missing one, token or not.
    const hidden = await app.server.inject({ method: "GET", url: "/api/v1/evaluations?model=churn", headers: bea });
    expect(hidden.statusCode).toBe(404);
  });

  it("goes on from the last evaluation shown while evaluations are asked for between pages", async () => {
    const before = ordered((r) => r.team_id === "team-a");
    const pages = await walk(ada, { limit: "5" }, async (page) => {
      // Newer evaluations (two sharing a creation time): none is shown on the pages after, and nothing repeats.
      if (page === 1) for (const at of [5_000, 5_000, 6_000]) await insert(churn, 1, at);
    });
    expect(pages.flat()).toEqual(before);
    expect(new Set(pages.flat()).size).toBe(before.length);
    expect((await list(ada, { limit: "3" })).evaluations.map((e) => e.id)).toEqual(ordered((r) => r.team_id === "team-a").slice(0, 3));
  });

  it("refuses a page token it did not hand out, saying what to pass", async () => {
    const garbage = ["nonsense", encodePageToken(2), encodeNameToken("churn"), Buffer.from('["x",1]').toString("base64url"), "x".repeat(201)];
    for (const pageToken of garbage) {
      const res = await app.server.inject({ method: "GET", url: `/api/v1/evaluations?${new URLSearchParams({ pageToken })}`, headers: ada });
      expect(res.statusCode, pageToken).toBe(400);
      expect(res.json().error.code).toBe("INVALID_INPUT");
    }
    const bad = await app.server.inject({ method: "GET", url: "/api/v1/evaluations?pageToken=nonsense", headers: ada });
    expect(bad.json().error.message).toContain("nextPageToken");
  });
});
