import { execFileSync } from "node:child_process";
import { chmodSync, constants, lchownSync, lstatSync, mkdirSync, readFileSync, readdirSync, type ReadStream } from "node:fs";
import { open } from "node:fs/promises";
import { join } from "node:path";
import { PlatformError } from "../../core/index.ts";

/** The OS user jobs run as (`compute.runAs`), resolved once at start. */
export interface RunAsUser {
  name: string;
  uid: number;
  gid: number;
}

/**
 * Resolves `compute.runAs` to a uid and gid, from /etc/passwd or `getent passwd` (LDAP, SSSD).
 * CONFIG errors when the server is not root (it could not switch users), when the user does not
 * exist, or when it is root itself (which would defeat the point).
 */
export function resolveRunAs(spec: string | undefined, serverUid: number | undefined = process.getuid?.()): RunAsUser | undefined {
  if (spec === undefined) return undefined;
  if (serverUid !== 0) {
    throw new PlatformError(
      "CONFIG",
      `compute.runAs is '${spec}' but paved up runs as uid ${serverUid ?? "unknown"}: switching jobs to another user needs root; start paved up as root, or remove compute.runAs (jobs then run as the server's own user)`,
    );
  }
  const entry = passwdEntry(spec);
  let user: RunAsUser;
  if (entry) user = entry;
  else if (/^\d+$/.test(spec)) user = { name: spec, uid: Number(spec), gid: Number(spec) };
  else {
    throw new PlatformError("CONFIG", `compute.runAs names user '${spec}', which does not exist on this machine; create it (e.g. \`useradd --system --no-create-home paved-job\`) or fix compute.runAs`);
  }
  if (user.uid === 0) {
    throw new PlatformError("CONFIG", `compute.runAs '${spec}' is root, which gives jobs the server's power; name an unprivileged user such as nobody`);
  }
  return user;
}

function passwdEntry(spec: string): RunAsUser | undefined {
  const parse = (text: string) => {
    for (const line of text.split("\n")) {
      const [name, , uid, gid] = line.split(":");
      if (name === undefined || uid === undefined || gid === undefined) continue;
      if (name === spec || uid === spec) return { name, uid: Number(uid), gid: Number(gid) };
    }
    return undefined;
  };
  try {
    const found = parse(readFileSync("/etc/passwd", "utf8"));
    if (found) return found;
  } catch {
    // no /etc/passwd: ask NSS below
  }
  try {
    return parse(execFileSync("getent", ["passwd", spec], { encoding: "utf8", env: { PATH: "/usr/bin:/bin" }, timeout: 10_000 }));
  } catch {
    return undefined;
  }
}

/**
 * Makes the data dir unreadable for the job user: the folder itself 0711 (it may pass through to
 * its own job folder under jobs/, never list anything) and every entry but jobs/ owner-only, so
 * the database, artifacts, served models and other jobs' logs stay the server's. The folders the
 * server fills later (artifacts/, serving/) are made here so they start private.
 */
export function protectDataDir(dataDir: string): void {
  mkdirSync(dataDir, { recursive: true });
  chmodSync(dataDir, 0o711);
  for (const name of ["artifacts", "serving"]) mkdirSync(join(dataDir, name), { recursive: true, mode: 0o700 });
  mkdirSync(join(dataDir, "jobs"), { recursive: true });
  for (const entry of readdirSync(dataDir, { withFileTypes: true })) {
    const path = join(dataDir, entry.name);
    if (entry.isSymbolicLink()) continue;
    if (entry.name === "jobs") chmodSync(path, 0o711);
    else chmodSync(path, lstatSync(path).mode & 0o700);
  }
  // Job folders from before runAs was set: their logs and files become owner-only as well.
  for (const job of readdirSync(join(dataDir, "jobs"), { withFileTypes: true })) {
    if (!job.isDirectory()) continue;
    const dir = join(dataDir, "jobs", job.name);
    chmodSync(dir, 0o711);
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      if (entry.isSymbolicLink()) continue;
      const path = join(dir, entry.name);
      const stat = lstatSync(path);
      if (stat.uid === 0) chmodSync(path, stat.mode & 0o700);
    }
  }
}

/**
 * A job's folder under runAs: the folder itself stays the server's (0711, so the job cannot
 * replace the log the server uploads), and `dirs` inside it (home, status, checkpoints, outputs)
 * belong to the job's user, 0700.
 */
export function prepareJobFolders(jobDir: string, user: RunAsUser, dirs: string[]): void {
  mkdirSync(jobDir, { recursive: true, mode: 0o711 });
  chmodSync(jobDir, 0o711);
  for (const dir of dirs) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const stat = lstatSync(dir);
    if (!stat.isDirectory()) throw new PlatformError("CONFLICT", `'${dir}' is not a folder; remove it and submit the job again`);
    if (stat.uid !== user.uid || stat.gid !== user.gid) lchownSync(dir, user.uid, user.gid);
    chmodSync(dir, 0o700);
  }
}

/**
 * Opens a file a job wrote (an output) for upload: never through a link at its last step, never
 * a FIFO or device, and with `owner` (the runAs uid) only a file that user owns, so a link swapped
 * into a parent folder cannot make the server upload a file the job could not read itself.
 */
export async function openJobFile(path: string, owner: number | undefined): Promise<ReadStream | undefined> {
  const handle = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  const stat = await handle.stat();
  if (!stat.isFile() || (owner !== undefined && stat.uid !== owner)) {
    await handle.close();
    return undefined;
  }
  return handle.createReadStream();
}
