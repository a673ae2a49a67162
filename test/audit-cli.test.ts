// `paved audit` against a real server: the table, one page as JSON with the next page's token,
// the JSONL export, and the exit codes of misuse and of a caller who may not read the log.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createApp, type App } from "../src/app.ts";
import { loadConfig } from "../src/config/index.ts";
import { runPaved } from "./support/cli.ts";

let app: App;
let url: string;
let dir: string;

const paved = (args: string[], token = app.generatedAdminToken!) => runPaved(args, { url, token, dir });

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "paved-audit-cli-"));
  app = await createApp(loadConfig({ env: {}, overrides: { dataDir: join(dir, "data"), port: 0, host: "127.0.0.1", logLevel: "silent", compute: { gpus: [] } } }), { env: {} });
  url = await app.listen();
  for (const name of ["risk", "fraud", "search"]) expect((await paved(["teams", "create", name])).code).toBe(0);
  expect((await paved(["teams", "create", "risk"])).code).not.toBe(0);
});

afterAll(async () => {
  await app?.close();
  await rm(dir, { recursive: true, force: true });
});

describe("paved audit", () => {
  it("prints who did what, newest first, with the outcome", async () => {
    const result = await paved(["audit", "--since", "1h", "--actor", "admin", "--action", "teams:*"]);
    expect(result.code, result.stderr).toBe(0);
    const lines = result.stdout.trimEnd().split("\n");
    expect(lines[0]).toMatch(/^TIME\s+ACTOR\s+TEAM\s+ACTION\s+TARGET\s+OUTCOME\s+COUNT\s+FROM\s+REQUEST$/);
    expect(lines).toHaveLength(5);
    expect(lines[1]).toMatch(/admin .*teams:create .*409 ALREADY_EXISTS/);
    expect(lines.slice(2).every((l) => / 200 /.test(l))).toBe(true);
    expect((await paved(["audit", "--outcome", "failure"])).stdout).toContain("ALREADY_EXISTS");
    expect((await paved(["audit", "--until", "2000-01-01T00:00:00Z"])).stdout).toBe("no audit records match\n");
  });

  it("pages with --json and --page-token, and exports everything as JSON Lines, oldest first", async () => {
    const first = await paved(["audit", "--limit", "2", "--json"]);
    const page = JSON.parse(first.stdout) as { records: { id: string }[]; nextPageToken: string };
    expect(page.records).toHaveLength(2);
    const second = JSON.parse((await paved(["audit", "--limit", "2", "--json", "--page-token", page.nextPageToken])).stdout) as { records: { id: string }[] };
    expect(second.records).toHaveLength(2);
    const table = await paved(["audit", "--limit", "2"]);
    expect(table.stderr).toMatch(/--page-token \S+/);
    const exported = await paved(["audit", "--jsonl"]);
    expect(exported.code).toBe(0);
    const ids = exported.stdout.trimEnd().split("\n").map((l) => (JSON.parse(l) as { id: string }).id);
    expect(ids).toHaveLength(4);
    expect(ids.slice().reverse().slice(0, 4)).toEqual([...page.records, ...second.records].map((r) => r.id));
    expect(exported.stdout).not.toContain(app.generatedAdminToken!);
  });

  it("refuses bad flags (2) and a caller who is not a platform admin (6)", async () => {
    expect((await paved(["audit", "--json", "--jsonl"])).code).toBe(2);
    expect((await paved(["audit", "--since", "yesterday"])).code).toBe(2);
    expect((await paved(["users", "create", "ada", "--team", "risk:developer"])).code).toBe(0);
    const created = await paved(["users", "token", "ada", "--name", "cli", "--json"]);
    expect(created.code, created.stderr).toBe(0);
    const ada = (JSON.parse(created.stdout) as { token: string }).token;
    expect((await paved(["audit"], ada)).code).toBe(6);
  });
});
