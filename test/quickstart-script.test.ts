// The README's first command, end to end: `npm run quickstart` starts paved up, trains the
// quickstart model through it, registers, evaluates and deploys the model, and prints where the
// results are.
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { stopDataPlanes } from "../src/dataplane/index.ts";
import { freePort } from "./support/server-process.ts";

const ROOT = new URL("..", import.meta.url).pathname;

describe("npm run quickstart", () => {
  const dataDir = join(mkdtempSync(join(tmpdir(), "paved-quickstart-")), "data");
  afterAll(async () => {
    const pidFile = join(dataDir, "server.pid");
    if (existsSync(pidFile)) {
      try {
        process.kill(Number(readFileSync(pidFile, "utf8").trim()), "SIGTERM");
      } catch {
        // already gone
      }
    }
    // The data plane outlives paved up's SIGTERM, as the quickstart's last line says.
    await stopDataPlanes(dataDir);
  });

  it("trains, registers, evaluates and deploys the quickstart model through Paved and shows where everything landed", async () => {
    const port = await freePort();
    const result = spawnSync("bash", ["scripts/quickstart.sh"], {
      cwd: ROOT,
      env: { ...process.env, PAVED_PORT: String(port), PAVED_QUICKSTART_DIR: dataDir, PAVED_TOKEN: "" },
      encoding: "utf8",
      timeout: 240_000,
    });
    const output = result.stdout + result.stderr;
    expect(result.status, output).toBe(0);
    expect(output).toMatch(/SUCCEEDED/);
    expect(output).toMatch(/val_accuracy=0\.\d+/);
    expect(output).toMatch(/outputs\/model\.onnx/);
    expect(output).toMatch(/breast-cancer [0-9a-f]{64}/);
    expect(output).toMatch(/registered +quickstart@1 from runs:\/[0-9a-f]+\/outputs/);
    expect(output).toMatch(/evaluated +eval-[0-9a-f]+: passed the gate/);
    expect(output).toMatch(/deployed +deploy-[0-9a-f]+: Succeeded/);
    expect(output).toMatch(/answered by version 1: \d+/);
    expect(output).not.toMatch(/failed$/m);
    expect(output).toContain(`/v2/models/quickstart/infer  (production = version 1)`);
    expect(existsSync(join(dataDir, "paved.db"))).toBe(true);
  });
});
