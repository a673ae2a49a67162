// The datasets API through the whole app (app.inject), on SQLite and PostgreSQL: upload bytes, create versions (the same files
// answer the same version), show, list, preview, diff, aliases; another team's dataset answers as a
// missing one, a viewer may read but not write, another team's blob cannot be named, a ragged CSV
// names its line, and uploads are held to the team's storage quota (the real guardrails ledger).
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createApp, type App } from "../src/app.ts";
import { loadConfig } from "../src/config/index.ts";
import { encodeNameToken } from "../src/core/index.ts";
import { testDialects, testPostgresUrl } from "./support/databases.ts";
import { walkPages } from "./support/pages.ts";

describe.each(testDialects())("datasets API (%s)", (dialect) => {
  let app: App;
  const tokens: Record<"admin" | "dev" | "viewer" | "other", string> = { admin: "", dev: "", viewer: "", other: "" };

  const call = async (who: keyof typeof tokens, method: "GET" | "POST" | "PUT" | "DELETE", url: string, payload?: unknown) => {
    const raw = Buffer.isBuffer(payload);
    const res = await app.server.inject({
      method,
      url,
      headers: { authorization: `Bearer ${tokens[who]}`, ...(payload === undefined ? {} : { "content-type": raw ? "application/octet-stream" : "application/json" }) },
      ...(payload === undefined ? {} : { payload: raw ? (payload as Buffer) : JSON.stringify(payload) }),
    });
    return { status: res.statusCode, body: res.body ? res.json() : undefined };
  };
  const upload = async (who: keyof typeof tokens, content: string, team?: string) => {
    const res = await call(who, "POST", `/api/v1/dataset-uploads${team ? `?team=${team}` : ""}`, Buffer.from(content));
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    return res.body as { digest: string; size: number; team: string };
  };
  const csv = (rows: number, f: (i: number) => string) => ["id,score,label", ...Array.from({ length: rows }, (_, i) => f(i))].join("\n") + "\n";

  beforeAll(async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "paved-datasets-api-"));
    app = await createApp(
      loadConfig({ env: {}, overrides: { dataDir, ...(dialect === "postgres" ? { databaseUrl: await testPostgresUrl() } : {}), logLevel: "silent", compute: { gpus: [], cpus: 1, memoryMiB: 512 }, datasets: { duckdb: { threads: 1, memoryLimitMiB: 256, maxConcurrent: 1 } } } }),
    );
    tokens.admin = app.generatedAdminToken!;
    const ok = async (url: string, payload: unknown) => {
      const res = await call("admin", "POST", url, payload);
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      return res.body;
    };
    await ok("/api/v1/teams", { name: "alpha" });
    await ok("/api/v1/teams", { name: "beta" });
    const person = async (name: string, team: string, role: string) => {
      await ok("/api/v1/users", { name, teams: [{ team, role }] });
      return (await ok(`/api/v1/users/${name}/tokens`, { name: "t" })).token as string;
    };
    tokens.dev = await person("dev", "alpha", "developer");
    tokens.viewer = await person("vera", "alpha", "viewer");
    tokens.other = await person("otto", "beta", "developer");
  });
  afterAll(async () => app.close());

  it("uploads files and creates, shows, lists, previews and diffs versions", async () => {
    const a = await upload("dev", csv(50, (i) => `${i},${i / 2},${i % 2 ? "stayed" : "churned"}`));
    expect(a).toMatchObject({ team: "alpha", size: expect.any(Number), digest: expect.stringMatching(/^sha256:[0-9a-f]{64}$/) });
    const v1 = await call("dev", "POST", "/api/v1/datasets/churn/versions", { files: [{ path: "train.csv", digest: a.digest }], description: "first cut" });
    expect(v1.status, JSON.stringify(v1.body)).toBe(200);
    expect(v1.body).toMatchObject({ dataset: "churn", team: "alpha", version: 1, rowCount: 50, existing: false, lineage: { kind: "upload", id: "dev" } });
    expect(v1.body.files[0].columns.map((c: { name: string; kind: string }) => `${c.name}:${c.kind}`)).toEqual(["id:numeric", "score:numeric", "label:string"]);

    // The same files again: the same version, said so.
    const again = await call("dev", "POST", "/api/v1/datasets/churn/versions", { files: [{ path: "train.csv", digest: a.digest }] });
    expect(again.body).toMatchObject({ version: 1, existing: true, digest: v1.body.digest });

    const b = await upload("dev", csv(80, (i) => `${i},${i},${i % 3 ? "stayed" : "churned"}`));
    const v2 = await call("dev", "POST", "/api/v1/datasets/churn/versions", { files: [{ path: "train.csv", digest: b.digest }], alias: "prod" });
    expect(v2.body).toMatchObject({ version: 2, aliases: ["prod"], rowCount: 80 });

    expect((await call("viewer", "GET", "/api/v1/datasets")).body.datasets).toEqual([expect.objectContaining({ name: "churn", team: "alpha", latestVersion: 2, versionCount: 2, aliases: { prod: 2 } })]);
    expect((await call("viewer", "GET", "/api/v1/datasets/churn/versions")).body.versions.map((v: { version: number }) => v.version)).toEqual([2, 1]);
    const shown = await call("viewer", "GET", "/api/v1/datasets/churn/versions/prod");
    expect(shown.body).toMatchObject({ version: 2, ref: "datasets:/churn@2", files: [{ path: "train.csv", format: "csv", rowCount: 80 }] });
    const preview = await call("viewer", "GET", "/api/v1/datasets/churn/versions/1/preview?rows=2");
    expect(preview.body).toEqual({ dataset: "churn", version: 1, path: "train.csv", columns: ["id", "score", "label"], rows: [[0, 0, "churned"], [1, 0.5, "stayed"]] });
    expect((await call("viewer", "GET", "/api/v1/datasets/churn/versions/1/preview?rows=5000")).status).toBe(400);

    const diff = await call("viewer", "GET", "/api/v1/datasets/churn/diff?from=1&to=prod");
    expect(diff.body).toMatchObject({ from: { version: 1 }, to: { version: 2 }, rowCount: { from: 50, to: 80, change: 30 }, files: { added: [], removed: [], changed: [{ path: "train.csv" }] } });
    expect(diff.body.statistics).toContainEqual(expect.objectContaining({ column: "id", stat: "max", from: 49, to: 79 }));

    expect((await call("dev", "PUT", "/api/v1/datasets/churn/aliases/staging", { version: 1 })).body).toEqual({ dataset: "churn", alias: "staging", version: 1 });
    expect((await call("dev", "DELETE", "/api/v1/datasets/churn/aliases/staging")).body).toEqual({ dataset: "churn", alias: "staging", version: null });
    expect((await call("dev", "GET", "/api/v1/datasets/churn/versions/staging")).body.error.code).toBe("NOT_FOUND");
  });

  it("answers another team's dataset as a missing one, and lets a viewer read but not write", async () => {
    for (const url of ["/api/v1/datasets/churn", "/api/v1/datasets/churn/versions", "/api/v1/datasets/churn/versions/1", "/api/v1/datasets/churn/versions/1/preview", "/api/v1/datasets/churn/diff?from=1&to=2"]) {
      const theirs = await call("other", "GET", url);
      const missing = await call("other", "GET", url.replace("churn", "nothing-here"));
      expect([theirs.status, theirs.body.error.code], url).toEqual([404, "NOT_FOUND"]);
      expect(missing.status, url).toBe(404);
    }
    expect((await call("other", "GET", "/api/v1/datasets")).body.datasets).toEqual([]);
    expect((await call("other", "PUT", "/api/v1/datasets/churn/aliases/mine", { version: 1 })).status).toBe(404);
    // The name is taken: another team cannot add versions to it.
    const mine = await upload("other", "a,b\n1,2\n");
    expect((await call("other", "POST", "/api/v1/datasets/churn/versions", { files: [{ path: "x.csv", digest: mine.digest }] })).body.error.code).toBe("ALREADY_EXISTS");
    // Nor name alpha's bytes by their digest in a dataset of its own.
    const alphas = await upload("dev", "secret,data\n1,2\n");
    const stolen = await call("other", "POST", "/api/v1/datasets/stolen/versions", { files: [{ path: "x.csv", digest: alphas.digest }] });
    expect([stolen.status, stolen.body.error.code]).toEqual([404, "NOT_FOUND"]);
    expect((await call("other", "GET", "/api/v1/datasets/stolen")).status).toBe(404);

    expect((await call("viewer", "GET", "/api/v1/datasets/churn")).status).toBe(200);
    expect((await call("viewer", "POST", "/api/v1/dataset-uploads", Buffer.from("a\n1\n"))).status).toBe(403);
    expect((await call("viewer", "POST", "/api/v1/datasets/churn/versions", { files: [{ path: "x.csv", digest: alphas.digest }] })).status).toBe(403);
    expect((await call("viewer", "PUT", "/api/v1/datasets/churn/aliases/x", { version: 1 })).status).toBe(403);
  });

  it("refuses bad input with a stable code: a ragged CSV's line, a fake Parquet, bad names and paths, unknown versions", async () => {
    const ragged = await upload("dev", csv(10, (i) => (i === 4 ? "4,1" : `${i},1,a`)));
    const res = await call("dev", "POST", "/api/v1/datasets/ragged/versions", { files: [{ path: "in/r.csv", digest: ragged.digest }] });
    expect(res.status).toBe(400);
    expect(res.body.error).toMatchObject({ code: "INVALID_INPUT", details: { path: "in/r.csv", line: 6 } });
    expect((await call("dev", "GET", "/api/v1/datasets/ragged")).status).toBe(404);
    const fake = await upload("dev", "not parquet");
    expect((await call("dev", "POST", "/api/v1/datasets/fake/versions", { files: [{ path: "f.parquet", digest: fake.digest }] })).body.error.code).toBe("INVALID_INPUT");
    for (const body of [
      { files: [{ path: "../up.csv", digest: fake.digest }] },
      { files: [{ path: "/abs.csv", digest: fake.digest }] },
      { files: [{ path: "ok.csv", digest: "not-a-digest" }] },
      { files: [] },
      { files: [{ path: "ok.bin", digest: fake.digest }], alias: "1" },
    ]) {
      expect((await call("dev", "POST", "/api/v1/datasets/bad/versions", body)).body.error.code, JSON.stringify(body)).toBe("INVALID_INPUT");
    }
    expect((await call("dev", "POST", "/api/v1/datasets/Bad_Name/versions", { files: [{ path: "ok.bin", digest: fake.digest }] })).status).toBe(400);
    expect((await call("dev", "GET", "/api/v1/datasets/churn/versions/42")).body.error.code).toBe("NOT_FOUND");
    expect((await call("dev", "GET", "/api/v1/datasets/churn/diff?from=1&to=nope")).body.error.code).toBe("NOT_FOUND");
  });

  it("pages datasets and versions (limit, pageToken), each row once, never another team's, and refuses a token not ours", async () => {
    for (let i = 0; i < 5; i++) expect((await call("dev", "POST", "/api/v1/datasets", { name: `paged-${i}` })).status).toBe(200);
    for (let i = 0; i < 3; i++) expect((await call("other", "POST", "/api/v1/datasets", { name: `beta-paged-${i}` })).status).toBe(200);
    const walk = (who: keyof typeof tokens, url: string, key: "datasets" | "versions", limit: number) =>
      walkPages(async (token) => {
        const res = await call(who, "GET", `${url}?limit=${limit}${token ? `&pageToken=${encodeURIComponent(token)}` : ""}`);
        expect(res.status, JSON.stringify(res.body)).toBe(200);
        return { items: res.body[key].map((row: { name?: string; version?: number }) => row.name ?? row.version) as unknown[], nextPageToken: res.body.nextPageToken as string | undefined };
      });
    for (const who of ["viewer", "other"] as const) {
      const all = (await call(who, "GET", "/api/v1/datasets?limit=1000")).body;
      expect(all.nextPageToken).toBeUndefined();
      const names = all.datasets.map((d: { name: string; team: string }) => d.name);
      expect(all.datasets.every((d: { team: string }) => d.team === (who === "viewer" ? "alpha" : "beta"))).toBe(true);
      const pages = await walk(who, "/api/v1/datasets", "datasets", 2);
      expect(pages.flat()).toEqual(names);
      expect(pages.slice(0, -1).every((p) => p.length === 2)).toBe(true);
    }
    expect((await walk("other", "/api/v1/datasets", "datasets", 1)).flat().sort()).toEqual(["beta-paged-0", "beta-paged-1", "beta-paged-2"]);
    expect((await walk("viewer", "/api/v1/datasets", "datasets", 1)).flat()).toEqual(expect.arrayContaining(["churn", "paged-0", "paged-4"]));
    expect(await walk("viewer", "/api/v1/datasets/churn/versions", "versions", 1)).toEqual([[2], [1]]);
    expect((await call("viewer", "GET", "/api/v1/datasets/churn/versions?limit=2")).body.nextPageToken).toBeUndefined();

    const datasetsToken = (await call("viewer", "GET", "/api/v1/datasets?limit=1")).body.nextPageToken as string;
    const versionsToken = (await call("viewer", "GET", "/api/v1/datasets/churn/versions?limit=1")).body.nextPageToken as string;
    for (const [url, token] of [
      ["/api/v1/datasets", "garbage"],
      ["/api/v1/datasets", encodeNameToken("churn")],
      ["/api/v1/datasets", versionsToken],
      ["/api/v1/datasets", "x".repeat(201)],
      ["/api/v1/datasets/churn/versions", "garbage"],
      ["/api/v1/datasets/churn/versions", datasetsToken],
    ] as const) {
      const res = await call("viewer", "GET", `${url}?pageToken=${encodeURIComponent(token)}`);
      expect([res.status, res.body.error.code], `${url} ${token}`).toEqual([400, "INVALID_INPUT"]);
    }
  });

  it("holds uploads to the team's storage quota", async () => {
    const set = await call("admin", "PUT", "/api/v1/teams/beta/quotas", { storageBytes: 64 });
    expect(set.status, JSON.stringify(set.body)).toBe(200);
    const first = await call("other", "POST", "/api/v1/dataset-uploads", Buffer.from("x".repeat(40)));
    expect(first.status).toBe(200);
    const second = await call("other", "POST", "/api/v1/dataset-uploads", Buffer.from("y".repeat(40)));
    expect([second.status, second.body.error.code]).toEqual([429, "QUOTA_EXCEEDED"]);
    const quota = await call("admin", "GET", "/api/v1/teams/beta/quotas");
    expect(JSON.stringify(quota.body)).toContain("dataset files");
  });
});
