import { execFileSync } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
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

  it("leaves dotfiles, dot-folders and credentials out of a snapshot outside git", async () => {
    const dir = mkdtempSync(join(tmpdir(), "paved-code-"));
    const files = {
      "train.py": "x",
      "src/model.py": "x",
      ".env": "DB_PASSWORD=x",
      ".ssh/id_rsa": "key",
      ".config/paved/credentials.json": "{}",
      ".cache/huge.bin": "x",
      "keys/id_ed25519": "key",
      "certs/server.pem": "pem",
      "certs/server.key": "key",
      "deploy/kubeconfig": "k",
      "gcp-credentials.json": "{}",
      "infra/terraform.tfstate": "{}",
      "client_secret_123.json": "{}",
    };
    for (const [rel, body] of Object.entries(files)) {
      mkdirSync(join(dir, rel, ".."), { recursive: true });
      writeFileSync(join(dir, rel), body);
    }
    expect(await codeFiles(dir)).toEqual(["src/model.py", "train.py"]);
  });

  it("inside git takes tracked files and untracked ones that are not dotfiles, never credentials", async () => {
    const repo = mkdtempSync(join(tmpdir(), "paved-git-"));
    git(repo, "init", "-q");
    for (const [rel, body] of Object.entries({ "train.py": "x", ".gitignore": "ignored.txt\n", ".env": "A=1", ".pre-commit-config.yaml": "repos: []" })) writeFileSync(join(repo, rel), body);
    git(repo, "add", "-f", ".");
    git(repo, "commit", "-q", "-m", "first");
    mkdirSync(join(repo, ".aws"));
    for (const [rel, body] of Object.entries({ "new.py": "x", "ignored.txt": "x", ".env.local": "B=2", ".aws/credentials": "k", ".netrc": "machine x", ".untracked-tool": "x" })) {
      writeFileSync(join(repo, rel), body);
    }
    expect(await codeFiles(repo)).toEqual([".gitignore", ".pre-commit-config.yaml", "new.py", "train.py"]);
  });

  it.skipIf(process.getuid?.() !== 0)("under runAs digests datasets as the job's user, the same way (skipped unless root)", async () => {
    const dir = mkdtempSync(join(tmpdir(), "paved-ds-"));
    chmodSync(dir, 0o755);
    mkdirSync(join(dir, "sub"), { mode: 0o755 });
    writeFileSync(join(dir, "x.csv"), "1,2\n", { mode: 0o644 });
    writeFileSync(join(dir, "sub", "y.csv"), "3\n", { mode: 0o644 });
    const nobody = { env: { PATH: "/usr/bin:/bin" }, uid: 65534, gid: 65534 };
    expect(await datasetDigest(dir, nobody)).toBe(await datasetDigest(dir));
    expect(await datasetDigest(join(dir, "x.csv"), nobody)).toBe(await datasetDigest(join(dir, "x.csv")));
    const secret = join(dir, "secret.csv");
    writeFileSync(secret, "root only\n", { mode: 0o600 });
    await expect(datasetDigest(secret, nobody)).rejects.toThrow(/cannot read/);
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
