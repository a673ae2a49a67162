import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { codeFiles, datasetDigest, gitInfo, insideGitRepository, pythonEnvironment } from "./capture.ts";

function git(dir: string, ...args: string[]) {
  execFileSync("git", ["-C", dir, "-c", "user.email=t@example.com", "-c", "user.name=t", ...args], { stdio: "ignore" });
}

describe("environment capture", () => {
  it("records the commit and dirty flag inside a repository, nothing outside one", async () => {
    const repo = mkdtempSync(join(tmpdir(), "paved-git-"));
    git(repo, "init", "-q");
    writeFileSync(join(repo, "train.py"), "print('hi')\n");
    git(repo, "add", "train.py");
    git(repo, "commit", "-q", "-m", "first");
    mkdirSync(join(repo, "sub"));
    expect(insideGitRepository(join(repo, "sub"))).toBe(true);
    const clean = await gitInfo(repo);
    expect(clean?.commit).toMatch(/^[0-9a-f]{40}$/);
    expect(clean?.dirty).toBe(false);
    writeFileSync(join(repo, "train.py"), "print('changed')\n");
    expect((await gitInfo(repo))?.dirty).toBe(true);
    const outside = mkdtempSync(join(tmpdir(), "paved-nogit-"));
    expect(insideGitRepository(outside)).toBe(false);
    expect(await gitInfo(outside)).toBeUndefined();
  });

  it("snapshots code within bounds and skips environments and caches", async () => {
    const dir = mkdtempSync(join(tmpdir(), "paved-code-"));
    writeFileSync(join(dir, "a.py"), "x");
    writeFileSync(join(dir, "big.bin"), Buffer.alloc(2048));
    mkdirSync(join(dir, "__pycache__"));
    writeFileSync(join(dir, "__pycache__", "a.pyc"), "x");
    expect(await codeFiles(dir, { maxFiles: 10, maxFileBytes: 1024, maxTotalBytes: 4096 })).toEqual(["a.py"]);
  });

  it("digests a folder by its files' paths and contents", async () => {
    const a = mkdtempSync(join(tmpdir(), "paved-ds-"));
    const b = mkdtempSync(join(tmpdir(), "paved-ds-"));
    for (const d of [a, b]) writeFileSync(join(d, "x.csv"), "1,2\n");
    expect(await datasetDigest(a)).toBe(await datasetDigest(b));
    writeFileSync(join(b, "y.csv"), "3\n");
    expect(await datasetDigest(a)).not.toBe(await datasetDigest(b));
  });

  it("lists an interpreter's packages without pip", async () => {
    const env = await pythonEnvironment("/usr/bin/python3");
    expect(env?.version).toMatch(/^3\.\d+/);
    expect(env?.requirements).toMatch(/^numpy==/m);
  });
});
