// `paved features` against a real listening server: create from YAML, ls, show, materialize and
// training-set print what the API holds, --json gives the objects, and SQL that is not one SELECT
// exits with INVALID_INPUT's message.
import { mkdtemp, rm, writeFile } from "node:fs/promises";
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
  dir = await mkdtemp(join(tmpdir(), "paved-features-cli-"));
  app = await createApp(
    loadConfig({ env: {}, overrides: { dataDir: join(dir, "data"), port: 0, host: "127.0.0.1", logLevel: "silent", compute: { gpus: [] }, datasets: { duckdb: { threads: 1, memoryLimitMiB: 256, maxConcurrent: 1 } } } }),
    { env: {} },
  );
  url = await app.listen();
  expect((await paved(["teams", "create", "risk"])).code).toBe(0);
  await writeFile(join(dir, "orders.csv"), "customer_id,event_time,amount\n1,2024-01-01 00:00:00,10\n1,2024-01-05 00:00:00,30\n");
  await writeFile(join(dir, "labels.csv"), "customer_id,event_time,churned\n1,2024-01-03 00:00:00,0\n");
  for (const name of ["orders", "labels"]) {
    const created = await paved(["datasets", "create", name, `${name}.csv`, "--team", "risk"]);
    expect(created.code, created.stderr).toBe(0);
  }
  await writeFile(
    join(dir, "featureset.yaml"),
    [
      "name: spend",
      "team: risk",
      "entityKey: customer_id",
      "timestamp: event_time",
      "sql: SELECT customer_id, event_time, amount AS last_amount FROM orders",
      "inputs:",
      "  orders: datasets:/orders@1",
    ].join("\n") + "\n",
  );
});

afterAll(async () => {
  await app?.close();
  await rm(dir, { recursive: true, force: true });
});

describe("paved features", () => {
  it("creates, lists, shows, materializes and builds a training set", async () => {
    const created = await paved(["features", "create", "-f", "featureset.yaml"]);
    expect(created.code, created.stderr).toBe(0);
    expect(created.stdout).toContain("feature set spend@1 created (inputs datasets:/orders@1)");
    const ls = await paved(["features", "ls"]);
    expect(ls.stdout).toMatch(/spend\s+1\s+risk\s+customer_id\s+datasets:\/orders@1/);
    const show = await paved(["features", "show", "spend@1", "--json"]);
    expect(JSON.parse(show.stdout)).toMatchObject({ name: "spend", version: 1, pinned: { orders: { ref: "datasets:/orders@1" } } });
    const m = await paved(["features", "materialize", "spend@1"]);
    expect(m.code, m.stderr).toBe(0);
    expect(m.stdout).toContain("spend@1 materialized: datasets:/spend@1 (2 rows)");
    const t = await paved(["features", "training-set", "--labels", "datasets:/labels@1", "--features", "datasets:/spend@1", "--entity", "customer_id", "--timestamp", "event_time", "--output", "train-set", "--team", "risk", "--json"]);
    expect(t.code, t.stderr).toBe(0);
    expect(JSON.parse(t.stdout)).toMatchObject({ ref: "datasets:/train-set@1", rows: 1, columns: ["customer_id", "event_time", "churned", "last_amount"] });
  });

  it("refuses SQL that is not one SELECT, and a version-less materialize", async () => {
    await writeFile(join(dir, "bad.yaml"), "name: bad\nteam: risk\nentityKey: customer_id\ntimestamp: event_time\nsql: DELETE FROM orders\ninputs:\n  orders: datasets:/orders@1\n");
    const bad = await paved(["features", "create", "-f", "bad.yaml"]);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain("INVALID_INPUT");
    const noVersion = await paved(["features", "materialize", "spend"]);
    expect(noVersion.code).not.toBe(0);
    expect(noVersion.stderr).toContain("<feature set>@<version number>");
  });
});
