import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { App } from "../../app.ts";
import { testDialects } from "../../../test/support/databases.ts";
import { createMembers, createTeamsTestApp, type AuthHeaders } from "../../../test/support/teams.ts";

// GET /api/v1/jobs: a page at a time (keyset: a job submitted between pages neither repeats nor
// vanishes) and by owner (owner=me, as the web UI's home page asks), only within the reader's teams.
describe.each(testDialects())("listing jobs on %s", (dialect) => {
  let app: App;
  let admin: AuthHeaders;
  let ana: AuthHeaders;
  let bo: AuthHeaders;
  let outsider: AuthHeaders;
  const workingDir = mkdtempSync(join(tmpdir(), "paved-job-list-"));

  const submit = async (who: AuthHeaders, name: string) => {
    const res = await app.server.inject({
      method: "POST",
      url: "/api/v1/jobs",
      headers: who,
      payload: { kind: "Job", name, team: "vision", workingDir, command: [process.execPath, "-e", ""], compute: { profile: "cpu" }, hyperparameterArgs: false },
    });
    expect(res.statusCode, res.body).toBe(200);
    return res.json().id as string;
  };
  const list = async (who: AuthHeaders, query: string) => {
    const res = await app.server.inject({ method: "GET", url: `/api/v1/jobs?${query}`, headers: who });
    expect(res.statusCode, res.body).toBe(200);
    return res.json() as { jobs: { id: string; owner: string }[]; nextPageToken?: string };
  };

  beforeAll(async () => {
    ({ app, admin } = await createTeamsTestApp(dialect, "job-list"));
    ({ ana, bo, outsider } = await createMembers(app, admin, ["vision", "nlp"], {
      ana: [{ team: "vision", role: "developer" }],
      bo: [{ team: "vision", role: "developer" }],
      outsider: [{ team: "nlp", role: "developer" }],
    }));
  }, 60_000);
  afterAll(async () => app?.close());

  it("pages through every job once, newest first, while jobs are submitted between pages", async () => {
    const submitted: string[] = [];
    for (let i = 0; i < 5; i++) submitted.push(await submit(i % 2 ? bo : ana, `job-${i}`));
    const seen: string[] = [];
    let page = await list(ana, "limit=2");
    seen.push(...page.jobs.map((j) => j.id));
    // Newer jobs arrive after the first page: the pages after it go on from where it ended.
    const later = await submit(bo, "job-late");
    while (page.nextPageToken) {
      page = await list(ana, `limit=2&pageToken=${page.nextPageToken}`);
      expect(page.jobs.length).toBeLessThanOrEqual(2);
      seen.push(...page.jobs.map((j) => j.id));
    }
    expect(seen).toEqual([...submitted].reverse());
    expect((await list(ana, "limit=1")).jobs.map((j) => j.id)).toEqual([later]);
  });

  it("lists one owner's jobs: owner=me for the caller's, or a name", async () => {
    const mine = await list(ana, "owner=me&limit=100");
    expect(mine.jobs.length).toBe(3);
    expect(new Set(mine.jobs.map((j) => j.owner))).toEqual(new Set(["ana"]));
    const hers = await list(bo, "owner=ana&limit=100");
    expect(hers.jobs.map((j) => j.id)).toEqual(mine.jobs.map((j) => j.id));
    expect((await list(bo, "owner=me")).jobs.map((j) => j.owner)).toEqual(["bo", "bo", "bo"]);
    // Another team's member finds none of them, by owner or not.
    expect((await list(outsider, "owner=ana")).jobs).toEqual([]);
    expect((await list(outsider, "limit=100")).jobs).toEqual([]);
  });

  it("refuses a page token it did not hand out and an owner too long, saying what to pass", async () => {
    for (const query of ["pageToken=nonsense", `pageToken=${Buffer.from('["x",1]').toString("base64url")}`, `owner=${"a".repeat(201)}`, "limit=0"]) {
      const res = await app.server.inject({ method: "GET", url: `/api/v1/jobs?${query}`, headers: ana });
      expect(res.statusCode, query).toBe(400);
      expect(res.json().error.code).toBe("INVALID_INPUT");
    }
    const bad = await app.server.inject({ method: "GET", url: "/api/v1/jobs?pageToken=nonsense", headers: ana });
    expect(bad.json().error.message).toContain("nextPageToken");
  });
});
