import { describe, expect, it } from "vitest";
import { loadConfig } from "../../config/index.ts";
import { idleLimitsFor } from "./settings.ts";

describe("a profile's idle limits", () => {
  it("take the operator's idle values for what the profile does not set, never the built-in defaults", () => {
    const { workspaces } = loadConfig({
      env: {},
      overrides: { dataDir: "/tmp/paved-settings-test", workspaces: { idle: { idleMinutes: 120, warnMinutes: 2 }, profiles: { "gpu-8": { gpuIdleMinutes: 10 } } } },
    });
    expect(idleLimitsFor(workspaces, "gpu-8")).toEqual({ idleMinutes: 120, gpuIdleMinutes: 10, warnMinutes: 2, ttlHours: 24 });
    expect(idleLimitsFor(workspaces, "cpu")).toEqual({ idleMinutes: 120, gpuIdleMinutes: 30, warnMinutes: 2, ttlHours: 24 });
  });
});
