import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { App } from "../../app.ts";
import { encodePageToken, encodePositionToken } from "../../core/index.ts";
import { runPaved } from "../../../test/support/cli.ts";
import { testDialects } from "../../../test/support/databases.ts";
import { walkPages } from "../../../test/support/pages.ts";
import { createMembers, createTeamsTestApp, type AuthHeaders } from "../../../test/support/teams.ts";

// GET /api/v1/models: a page at a time by name (keyset on the last name: a model registered or
// deleted between pages neither repeats nor hides another), only within the reader's teams; and
// `paved models ls` against the server, one page per call.
describe.each(testDialects())("listing models on %s", (dialect) => {
  let app: App;
  let url: string;
  const dir = mkdtempSync(join(tmpdir(), "paved-model-list-"));
  let admin: AuthHeaders;
  let ada: AuthHeaders;
  let bea: AuthHeaders;
  const mlflow = "/api/2.0/mlflow";

  const create = async (who: AuthHeaders, name: string, tags: Record<string, string> = {}) => {
    const res = await app.server.inject({
      method: "POST",
      url: `${mlflow}/registered-models/create`,
      headers: who,
      payload: { name, tags: Object.entries(tags).map(([key, value]) => ({ key, value })) },
    });
    expect(res.statusCode, res.body).toBe(200);
  };
  const list = async (who: AuthHeaders, query: Record<string, string>) => {
    const res = await app.server.inject({ method: "GET", url: `/api/v1/models?${new URLSearchParams(query)}`, headers: who });
    expect(res.statusCode, res.body).toBe(200);
    return res.json() as { models: { name: string; team: string }[]; nextPageToken?: string };
  };
  /** Every page of a listing, with `between` run after each page but the last. */
  const walk = (who: AuthHeaders, query: Record<string, string>, between?: (page: number) => Promise<void>) =>
    walkPages(async (token) => {
      const page = await list(who, { ...query, ...(token ? { pageToken: token } : {}) });
      return { items: page.models.map((m) => m.name), nextPageToken: page.nextPageToken };
    }, between);

  beforeAll(async () => {
    ({ app, admin } = await createTeamsTestApp(dialect, "model-list", { host: "127.0.0.1", port: 0 }));
    url = await app.listen();
    ({ ada, bea } = await createMembers(app, admin, ["team-a", "team-b"], {
      ada: [{ team: "team-a", role: "developer" }],
      bea: [{ team: "team-b", role: "developer" }],
    }));
    // Interleaved by name across the two teams, so each page is cut after the team filter.
    for (let i = 0; i < 7; i++) await create(ada, `m-${i}-a`, i % 2 ? { stage: "odd" } : {});
    for (let i = 0; i < 7; i++) await create(bea, `m-${i}-b`);
  }, 60_000);
  afterAll(async () => app?.close());

  it("walks every model of the reader's teams once, by name, a page at a time", async () => {
    const pages = await walk(ada, { limit: "2" });
    expect(pages.map((p) => p.length)).toEqual([2, 2, 2, 1]);
    expect(pages.flat()).toEqual([0, 1, 2, 3, 4, 5, 6].map((i) => `m-${i}-a`));
    // A last page that is exactly full says there is no more.
    expect((await list(ada, { limit: "7" })).nextPageToken).toBeUndefined();
    expect((await walk(bea, { limit: "3" })).flat()).toEqual([0, 1, 2, 3, 4, 5, 6].map((i) => `m-${i}-b`));
    // The platform admin sees both teams' models, interleaved by name.
    expect((await walk(admin, { limit: "4", filter: "name LIKE 'm-%'" })).flat()).toEqual([0, 1, 2, 3, 4, 5, 6].flatMap((i) => [`m-${i}-a`, `m-${i}-b`]));
  });

  it("paved models ls prints one page and the token of the next, until the last", async () => {
    const token = ada.authorization.replace(/^Bearer /, "");
    const seen: string[] = [];
    let args = ["models", "ls", "--limit", "3", "--filter", "name LIKE 'm-%'"];
    for (;;) {
      const result = await runPaved(args, { url, token, dir });
      expect(result.code, result.stderr).toBe(0);
      seen.push(...result.stdout.trimEnd().split("\n").slice(1).map((line) => line.split(/\s+/)[0]!));
      const next = /^more models: add --page-token (\S+)$/m.exec(result.stderr)?.[1];
      if (!next) break;
      args = ["models", "ls", "--limit", "3", "--filter", "name LIKE 'm-%'", "--page-token", next];
    }
    expect(seen).toEqual([0, 1, 2, 3, 4, 5, 6].map((i) => `m-${i}-a`));
    const json = JSON.parse((await runPaved(["models", "ls", "--limit", "2", "--json"], { url, token, dir })).stdout) as { models: { name: string }[]; nextPageToken?: string };
    expect(json.models.map((m) => m.name)).toEqual(["m-0-a", "m-1-a"]);
    expect(json.nextPageToken).toEqual(expect.any(String));
    const refused = await runPaved(["models", "ls", "--page-token", "nonsense"], { url, token, dir });
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain("INVALID_INPUT");
  });

  it("pages a filter by name and by tag", async () => {
    expect((await walk(ada, { limit: "1", filter: "name LIKE 'm-%-a'" })).flat()).toEqual([0, 1, 2, 3, 4, 5, 6].map((i) => `m-${i}-a`));
    expect(await walk(ada, { limit: "2", filter: "tags.stage = 'odd'" })).toEqual([
      ["m-1-a", "m-3-a"],
      ["m-5-a"],
    ]);
    expect(await walk(bea, { limit: "2", filter: "tags.stage = 'odd'" })).toEqual([[]]);
  });

  it("goes on after the last name shown while models are registered and deleted between pages", async () => {
    const pages = await walk(ada, { limit: "3", filter: "name LIKE 'm-%'" }, async (page) => {
      if (page !== 1) return;
      // Before the cursor (m-2-a): neither shown nor shifting what follows; after it: shown in its place.
      for (const name of ["m-0-a0", "m-1-a0", "m-4-a0"]) await create(ada, name);
      // Deleting a model the first page showed hides nothing after it.
      const res = await app.server.inject({ method: "DELETE", url: `${mlflow}/registered-models/delete`, headers: admin, payload: { name: "m-1-a" } });
      expect(res.statusCode, res.body).toBe(200);
    });
    expect(pages.flat()).toEqual(["m-0-a", "m-1-a", "m-2-a", "m-3-a", "m-4-a", "m-4-a0", "m-5-a", "m-6-a"]);
  });

  it("takes a token from another filter as a place in the names, and refuses one it did not hand out", async () => {
    // m-1-a was deleted above.
    const first = await list(ada, { limit: "1", filter: "tags.stage = 'odd'" });
    expect(first.models.map((m) => m.name)).toEqual(["m-3-a"]);
    // Harmless: the other filter's page goes on after m-3-a, and still holds only the reader's teams.
    expect((await list(ada, { limit: "2", filter: "name LIKE 'm-%'", pageToken: first.nextPageToken! })).models.map((m) => m.name)).toEqual(["m-4-a", "m-4-a0"]);
    const garbage = ["nonsense", encodePageToken(2), encodePositionToken({ createdAt: 1, id: "x" }), Buffer.from('{"after":7}').toString("base64url"), "x".repeat(513)];
    for (const pageToken of garbage) {
      const res = await app.server.inject({ method: "GET", url: `/api/v1/models?${new URLSearchParams({ pageToken })}`, headers: ada });
      expect(res.statusCode, pageToken).toBe(400);
      expect(res.json().error.code).toBe("INVALID_INPUT");
    }
  });

  it("hands out a token for the longest model name the registry takes", async () => {
    const long = `z${"y".repeat(255)}`;
    await create(ada, long);
    await create(ada, `${long.slice(0, 255)}z`);
    const first = await list(ada, { limit: "1", filter: "name LIKE 'zy%'" });
    expect(first.models.map((m) => m.name)).toEqual([long]);
    expect((await list(ada, { limit: "1", filter: "name LIKE 'zy%'", pageToken: first.nextPageToken! })).models.map((m) => m.name)).toEqual([`${long.slice(0, 255)}z`]);
  });
});
