import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, utimes } from "node:fs/promises";
import { isAbsolute, join, resolve, sep } from "node:path";
import { PlatformError, invalidInput } from "../../core/index.ts";

/** Longest a git command may take (a first fetch of a large repository). */
const GIT_TIMEOUT_MS = 10 * 60_000;

/**
 * Where a git trigger may fetch from: the URL must fall under one of `allowed` (https URL prefixes,
 * or absolute folders on this machine). INVALID_INPUT otherwise, naming the fix; ssh, git://, ext::
 * and file:// URLs are never fetched (Paved holds no ssh key, and ext:: runs commands).
 */
export function checkRemote(url: string, allowed: readonly string[]): string {
  const fix = `add it (or a prefix of it) to triggers.allowedRemotes in the server's configuration; allowed now: ${allowed.length ? allowed.join(", ") : "none"}`;
  if (/[\0\s]/.test(url) || url.startsWith("-")) throw invalidInput(`git url '${url.slice(0, 200)}' holds whitespace or starts with '-'`);
  if (url.startsWith("https://")) {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw invalidInput(`git url '${url.slice(0, 200)}' is not a URL`);
    }
    if (parsed.username || parsed.password) throw invalidInput("a git url carries no credentials; Paved fetches public or allow-listed repositories only");
    if (parsed.pathname.split("/").includes("..")) throw invalidInput(`git url '${url.slice(0, 200)}' contains '..'`);
    if (!allowed.some((prefix) => prefix.startsWith("https://") && url.startsWith(prefix.endsWith("/") ? prefix : `${prefix}/`))) throw invalidInput(`git url '${url.slice(0, 200)}' is not allow-listed; ${fix}`);
    return url;
  }
  if (isAbsolute(url)) {
    const path = resolve(url);
    const inside = allowed.filter((a) => isAbsolute(a)).some((root) => path === resolve(root) || path.startsWith(resolve(root) + sep));
    if (!inside) throw invalidInput(`git url '${url.slice(0, 200)}' is not under an allow-listed folder; ${fix}`);
    return path;
  }
  throw invalidInput(`git url '${url.slice(0, 200)}' is neither an https URL nor an absolute folder; Paved fetches over https (it holds no ssh key) or from folders on this machine`);
}

/**
 * The files of `commit` in a folder a job step can run in: a mirror of the remote per trigger
 * (`<base>/mirror.git`, fetched again when the commit is new to it), and a worktree per tree
 * (`<base>/trees/<tree id>`), so two commits with the same files share one folder and one cache
 * key. Git runs with argv only, no terminal prompt, no system configuration, and only the https and
 * file protocols.
 */
export async function checkoutCommit(opts: { url: string; commit: string; base: string; path: string }): Promise<{ dir: string; tree: string }> {
  const env: Record<string, string> = {
    PATH: opts.path,
    HOME: opts.base,
    GIT_TERMINAL_PROMPT: "0",
    GIT_CONFIG_NOSYSTEM: "1",
    GIT_ALLOW_PROTOCOL: "https:file",
    GIT_ASKPASS: "/bin/false",
  };
  const git = (args: string[]) => run(["git", ...args], env);
  await mkdir(opts.base, { recursive: true, mode: 0o755 });
  const mirror = join(opts.base, "mirror.git");
  if (!existsSync(join(mirror, "HEAD"))) {
    await git(["clone", "--mirror", "--quiet", "--", opts.url, mirror]);
  }
  const has = async () =>
    git(["--git-dir", mirror, "cat-file", "-e", `${opts.commit}^{commit}`]).then(
      () => true,
      () => false,
    );
  if (!(await has())) {
    await git(["--git-dir", mirror, "fetch", "--quiet", "--prune", "origin"]);
    if (!(await has())) throw new PlatformError("NOT_FOUND", `commit ${opts.commit} is not in ${opts.url} (fetched just now); push it, or check the trigger's url`);
  }
  const tree = (await git(["--git-dir", mirror, "rev-parse", `${opts.commit}^{tree}`])).trim();
  if (!/^[0-9a-f]{40,64}$/.test(tree)) throw new PlatformError("INTERNAL", `git answered '${tree.slice(0, 80)}' for the tree of ${opts.commit}`);
  const dir = join(opts.base, "trees", tree);
  if (existsSync(join(dir, ".git"))) {
    // The same files at another commit: the folder's HEAD follows the newest push, its files stay.
    await git(["-C", dir, "checkout", "--quiet", "--detach", opts.commit]);
  } else {
    await mkdir(join(opts.base, "trees"), { recursive: true });
    await git(["--git-dir", mirror, "worktree", "prune"]);
    await git(["--git-dir", mirror, "worktree", "add", "--quiet", "--detach", dir, opts.commit]);
  }
  // Its time says when a push last used it: the trigger's tidy pass keeps the most recent ones.
  const now = new Date();
  await utimes(dir, now, now);
  return { dir, tree };
}

function run(argv: string[], env: Record<string, string>): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    execFile(argv[0]!, argv.slice(1), { env, timeout: GIT_TIMEOUT_MS, maxBuffer: 1024 * 1024, encoding: "utf8" }, (error, stdout, stderr) => {
      if (error) {
        const why = (stderr || error.message).trim().split("\n").slice(-3).join("; ").slice(0, 500);
        reject(new PlatformError("UNAVAILABLE", `git ${argv[1]} failed: ${why}`));
        return;
      }
      resolvePromise(stdout);
    });
  });
}
