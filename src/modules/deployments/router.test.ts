import { describe, expect, it } from "vitest";
import type { RoutedOutcome } from "../serving/index.ts";
import { DeploymentRouter, stickyVariant } from "./router.ts";

const outcome = (version: string, ok: boolean, seconds = 0.01, environment = "production"): RoutedOutcome => ({ model: "m", environment, version, role: "primary", ok, seconds, key: undefined, output: undefined });

describe("deployment router", () => {
  it("assigns routing keys stickily, in proportion to the split, reshuffled per deployment", () => {
    const keys = Array.from({ length: 20_000 }, (_, i) => `user-${i}`);
    const onB = keys.filter((k) => stickyVariant("deploy-1", k, 30) === "B");
    expect(onB.length / keys.length).toBeGreaterThan(0.28);
    expect(onB.length / keys.length).toBeLessThan(0.32);
    expect(keys.every((k) => stickyVariant("deploy-1", k, 30) === stickyVariant("deploy-1", k, 30))).toBe(true);
    // Raising the split only moves keys from A to B.
    expect(onB.every((k) => stickyVariant("deploy-1", k, 60) === "B")).toBe(true);
    const elsewhere = keys.filter((k) => stickyVariant("deploy-2", k, 30) === "B");
    expect(elsewhere.filter((k) => onB.includes(k)).length).toBeLessThan(onB.length * 0.5);
  });

  it("routes by mode and never names a version that is not loaded", () => {
    const loaded = new Set(["1", "2"]);
    const router = new DeploymentRouter((_name, version, environment) => environment === "production" && loaded.has(version), () => 0.99);
    router.set("m", { deploymentId: "d", environment: "production", mode: "weighted", stable: "1", canary: "2", canaryWeight: 50 });
    expect(router.pick("m", "k", "production")).toEqual({ version: "1" });
    router.set("m", { deploymentId: "d", environment: "production", mode: "sticky", stable: "1", canary: "2", canaryWeight: 50 });
    const key = ["a", "b", "c", "d", "e", "f"].find((k) => stickyVariant("d", k, 50) === "B")!;
    expect(router.pick("m", key, "production")).toEqual({ version: "2" });
    router.set("m", { deploymentId: "d", environment: "production", mode: "shadow", stable: "1", canary: "2", canaryWeight: 0 });
    expect(router.pick("m", undefined, "production")).toEqual({ version: "1", shadow: "2" });
    loaded.delete("2");
    expect(router.pick("m", undefined, "production")).toEqual({ version: "1", shadow: undefined });
    router.set("m", { deploymentId: "d", environment: "production", mode: "sticky", stable: "1", canary: "2", canaryWeight: 99 });
    expect(router.pick("m", key, "production")).toEqual({ version: "1" });
    expect(router.pick("other", undefined, "production")).toBeUndefined();
  });

  it("tallies a built-in A/B metric per version until drained, and ignores shadow copies outside shadow mode", () => {
    const router = new DeploymentRouter(() => true);
    router.set("m", { deploymentId: "d", environment: "production", mode: "sticky", stable: "1", canary: "2", canaryWeight: 50, abMetric: "error_rate" });
    router.observe(outcome("1", true));
    router.observe(outcome("1", false));
    router.observe(outcome("2", true));
    router.observe({ ...outcome("2", false), role: "shadow" });
    const tally = router.drainTally("d");
    expect(tally.get("1")).toEqual({ n: 2, sum: 1, sumSq: 1 });
    expect(tally.get("2")).toEqual({ n: 1, sum: 0, sumSq: 0 });
    expect(router.drainTally("d").size).toBe(0);
    expect(router.window("d").stats("2").requests).toBe(1);
    // A finished deployment (no canary) is not analysed.
    router.set("m", { deploymentId: "done", environment: "production", mode: "weighted", stable: "1", canary: null, canaryWeight: 0 });
    router.observe(outcome("1", true));
    expect(router.window("done").stats("1").requests).toBe(0);
  });

  it("keeps each environment's split apart: a staging split neither routes nor observes production's requests", () => {
    const loaded = new Set(["production/2", "staging/2", "staging/3"]);
    const router = new DeploymentRouter((_name, version, environment) => loaded.has(`${environment}/${version}`), () => 0);
    router.set("m", { deploymentId: "prod", environment: "production", mode: "weighted", stable: "2", canary: null, canaryWeight: 0 });
    router.set("m", { deploymentId: "stage", environment: "staging", mode: "weighted", stable: "2", canary: "3", canaryWeight: 100 });
    expect(router.pick("m", undefined, "production")).toEqual({ version: "2" });
    expect(router.pick("m", undefined, "staging")).toEqual({ version: "3" });
    expect(router.pick("m", undefined, "dev")).toBeUndefined();
    // Version 3 is loaded in staging only: a production split naming it falls back to stable.
    router.set("m", { deploymentId: "prod", environment: "production", mode: "weighted", stable: "2", canary: "3", canaryWeight: 100 });
    expect(router.pick("m", undefined, "production")).toEqual({ version: "2" });
    router.observe(outcome("3", false, 0.01, "staging"));
    expect(router.window("stage").stats("3").requests).toBe(1);
    expect(router.window("prod").stats("3").requests).toBe(0);
    router.delete("m", "staging");
    expect(router.pick("m", undefined, "staging")).toBeUndefined();
    expect(router.split("m", "production")?.deploymentId).toBe("prod");
  });
});
