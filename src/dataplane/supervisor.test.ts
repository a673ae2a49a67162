// Where the data plane's secret comes from: the data dir's file, or PAVED_DATAPLANE_SECRET (pods
// that share no data dir with their data-plane processes, as the Helm chart deploys them).
import { existsSync, mkdtempSync, readFileSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadConfig } from "../config/index.ts";
import { createLogger } from "../core/index.ts";
import { DataPlaneSupervisor, dataPlaneNodeArgs } from "./supervisor.ts";

const supervisor = (dataDir: string, env: Record<string, string>) =>
  new DataPlaneSupervisor({ config: loadConfig({ env: {}, overrides: { dataDir } }), count: 0, basePort: 0, host: "127.0.0.1", logger: createLogger("silent"), command: { node: process.execPath, script: "unused" }, env });

describe("the data plane's secret", () => {
  it("is made once per data dir (0600) and kept; PAVED_DATAPLANE_SECRET replaces it without a file", () => {
    const dataDir = mkdtempSync(join(tmpdir(), "paved-dp-secret-"));
    const first = supervisor(dataDir, {});
    const file = join(dataDir, "dataplane", "secret");
    expect(first.secret).toBe(readFileSync(file, "utf8").trim());
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(supervisor(dataDir, {}).secret).toBe(first.secret);
    const other = mkdtempSync(join(tmpdir(), "paved-dp-secret-"));
    expect(supervisor(other, { PAVED_DATAPLANE_SECRET: "shared-with-the-pods-0123456789" }).secret).toBe("shared-with-the-pods-0123456789");
    expect(existsSync(join(other, "dataplane", "secret"))).toBe(false);
  });
});

describe("the data plane's node flags", () => {
  it("come from PAVED_DATAPLANE_NODE_ARGS, flags only, refused at start otherwise", () => {
    expect(dataPlaneNodeArgs({})).toEqual([]);
    expect(dataPlaneNodeArgs({ PAVED_DATAPLANE_NODE_ARGS: "  --cpu-prof   --cpu-prof-dir=/tmp/dp " })).toEqual(["--cpu-prof", "--cpu-prof-dir=/tmp/dp"]);
    for (const bad of ["/tmp/evil.js", "--cpu-prof other.js", "-e", "--"]) {
      expect(() => dataPlaneNodeArgs({ PAVED_DATAPLANE_NODE_ARGS: bad })).toThrow(expect.objectContaining({ code: "INVALID_INPUT", message: expect.stringContaining("not a node flag") }));
    }
    const dataDir = mkdtempSync(join(tmpdir(), "paved-dp-args-"));
    expect(() => supervisor(dataDir, { PAVED_DATAPLANE_NODE_ARGS: "evil.js" })).toThrow(expect.objectContaining({ code: "INVALID_INPUT" }));
  });
});
