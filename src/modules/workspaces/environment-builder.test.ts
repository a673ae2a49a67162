import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { createLogger, systemClock } from "../../core/index.ts";
import { EnvironmentBuilder } from "./environment-builder.ts";
import { EnvironmentCatalog } from "./environment-catalog.ts";
import { EnvironmentEntry } from "./schema.ts";

const hasSklearn = (() => {
  try {
    execFileSync("/usr/bin/python3", ["-c", "import sklearn, ipykernel"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
})();

function builder(cacheDir = mkdtempSync(join(tmpdir(), "paved-envs-"))) {
  return new EnvironmentBuilder({ cacheDir, sources: { findLinks: [] }, path: "/usr/local/bin:/usr/bin:/bin", timeoutMs: 120_000, clock: systemClock, logger: createLogger("silent") });
}
const entry = (packages: string[], name = "t") => EnvironmentEntry.parse({ name, version: "1", python: "/usr/bin/python3", packages });

describe.skipIf(!hasSklearn)("workspace environments (Debian's python3 with python3-sklearn)", () => {
  it("builds a virtualenv once and reuses it; entries alike share it", async () => {
    const b = builder();
    const first = await b.ensure(entry(["scikit-learn>=1.0", "numpy"]));
    expect(first.reused).toBe(false);
    // A real interpreter of its own, that sees Debian's packages.
    const out = execFileSync(first.python, ["-c", "import sys, sklearn; print(sys.prefix)"], { encoding: "utf8" }).trim();
    expect(out).toBe(first.prefix);
    const again = await b.ensure(entry(["numpy", "scikit-learn>=1.0"], "other-name"));
    expect(again).toMatchObject({ reused: true, digest: first.digest, prefix: first.prefix, builtAt: first.builtAt });
    // Asked twice at once: built once.
    const c = builder();
    const [x, y] = await Promise.all([c.ensure(entry(["numpy"])), c.ensure(entry(["numpy"]))]);
    expect(x.builtAt).toBe(y.builtAt);
  }, 120_000);

  it("fails a build whose packages cannot be installed, naming each, and leaves nothing behind", async () => {
    const cacheDir = mkdtempSync(join(tmpdir(), "paved-envs-"));
    const b = builder(cacheDir);
    const error = await b.ensure(entry(["numpy", "no-such-package-paved-a", "no-such-package-paved-b>=1", "scikit-learn>=99"])).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: "UNAVAILABLE", details: { reason: "ENVIRONMENT_BUILD_FAILED", missing: ["no-such-package-paved-a", "no-such-package-paved-b>=1", "scikit-learn>=99"] } });
    expect(readdirSync(cacheDir).filter((n) => !n.startsWith("."))).toEqual([]);
    expect(await b.built(entry(["no-such-package-paved-a"]))).toBeUndefined();
  }, 120_000);

  it("resolves NAME to its latest version and refuses unknown ones, naming the known", () => {
    const catalog = EnvironmentCatalog.load();
    expect(catalog.get("torch").version).toBe("1");
    expect(catalog.get("sklearn@1").packages).toContain("numpy");
    expect(() => catalog.get("nope")).toThrow(expect.objectContaining({ code: "INVALID_INPUT", details: { known: expect.arrayContaining(["sklearn@1", "torch@1"]) } }));
    expect(() => catalog.get("torch@9")).toThrow(expect.objectContaining({ code: "INVALID_INPUT" }));
    expect(existsSync(catalog.list()[0]!.python)).toBe(true);
  });
});
