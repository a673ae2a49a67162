import { randomBytes } from "node:crypto";
import { linkSync, mkdirSync, readFileSync, renameSync, statSync, unlinkSync, writeFileSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { PlatformError, isProcessAlive, processStartTime } from "../core/index.ts";

// One control plane per data dir on SQLite: two `paved up` on one data dir would both run the
// scheduler and the controllers, starting jobs twice and racing on every status. A second start is
// refused, naming the one that holds it. On PostgreSQL, replicas elect a leader instead
// (leader.ts) and may share a data dir.

/** Who holds a data dir: what `<dataDir>/paved.lock` records. */
export interface LockHolder {
  pid: number;
  host: string;
  /** The holder's start time in clock ticks since boot (Linux), so a recycled pid is not taken for it. */
  processStart: string | null;
  /** When it took the lock (ISO 8601). */
  since: string;
  /** The URL it serves, once it listens. */
  url: string | null;
}

export interface DataDirLock {
  readonly path: string;
  readonly holder: LockHolder;
  /** Records the URL the server listens on, for the message a second start gets. */
  setUrl(url: string): void;
  /** Removes the lock file if it is still this process's (synchronous: safe in an 'exit' handler). */
  release(): void;
}

export const LOCK_FILE = "paved.lock";

/**
 * Takes `<dataDir>/paved.lock` for this process. CONFLICT naming the holder (pid, host, URL,
 * since when) while another live process holds it; a lock left by a process that is gone (its
 * pid no longer runs, or runs a process that started later) is taken over.
 */
export function lockDataDir(dataDir: string, now: () => Date = () => new Date()): DataDirLock {
  mkdirSync(dataDir, { recursive: true });
  const path = join(dataDir, LOCK_FILE);
  const holder: LockHolder = { pid: process.pid, host: hostname(), processStart: processStartTime(process.pid) ?? null, since: now().toISOString(), url: null };
  for (let attempt = 0; attempt < 20; attempt++) {
    if (createExclusive(path, holder)) return ownLock(path, holder);
    const text = readText(path);
    if (text === undefined) continue; // removed meanwhile: try again
    const other = parseHolder(text);
    if (other && holderAlive(other)) throw heldError(dataDir, path, other);
    // Stale (or unreadable after a crash mid-write): remove it, if it is still the one we read.
    takeOver(path, text);
  }
  throw new PlatformError("CONFLICT", `could not take the lock ${path}: it kept changing hands; is another paved up starting on ${dataDir}? Try again`);
}

/** Creates the file with the holder's record, atomically: it appears complete, or not at all. */
function createExclusive(path: string, holder: LockHolder): boolean {
  const temp = `${path}.${process.pid}.${randomBytes(4).toString("hex")}`;
  writeFileSync(temp, JSON.stringify(holder) + "\n", { mode: 0o644 });
  try {
    linkSync(temp, path);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "EEXIST") return false;
    throw new PlatformError("CONFIG", `cannot create the lock ${path}: ${(error as Error).message}; check that the data dir is writable`);
  } finally {
    unlinkSync(temp);
  }
}

function ownLock(path: string, holder: LockHolder): DataDirLock {
  let released = false;
  return {
    path,
    holder,
    setUrl(url) {
      holder.url = url;
      const temp = `${path}.${process.pid}.${randomBytes(4).toString("hex")}`;
      writeFileSync(temp, JSON.stringify(holder) + "\n", { mode: 0o644 });
      renameSync(temp, path);
    },
    release() {
      if (released) return;
      released = true;
      const current = parseHolder(readText(path) ?? "");
      if (current && current.pid === holder.pid && current.processStart === holder.processStart && current.host === holder.host) {
        try {
          unlinkSync(path);
        } catch {
          // already gone
        }
      }
    },
  };
}

/** Removes a stale lock; a guard file makes sure only one starting process does it. */
function takeOver(path: string, staleText: string): void {
  const guard = `${path}.takeover`;
  try {
    writeFileSync(guard, String(process.pid), { flag: "wx" });
  } catch {
    // Another start is taking it over; a guard older than 10 s is a leftover of a crash.
    try {
      if (Date.now() - statSync(guard).mtimeMs > 10_000) unlinkSync(guard);
    } catch {
      // gone meanwhile
    }
    sleepSync(50);
    return;
  }
  try {
    if (readText(path) === staleText) unlinkSync(path);
  } finally {
    unlinkSync(guard);
  }
}

function holderAlive(holder: LockHolder): boolean {
  // A process on another machine (a data dir on shared storage) cannot be checked from here.
  if (holder.host !== hostname()) return true;
  return isProcessAlive(holder.pid, holder.processStart);
}

function heldError(dataDir: string, path: string, holder: LockHolder): PlatformError {
  const where = holder.host === hostname() ? `pid ${holder.pid}` : `pid ${holder.pid} on host ${holder.host}`;
  const serving = holder.url ? `, serving ${holder.url}` : ", still starting";
  const remote = holder.host === hostname() ? "" : ` (if that process is gone, delete ${path})`;
  return new PlatformError(
    "CONFLICT",
    `data dir ${dataDir} is in use by another paved up (${where}${serving}, since ${holder.since}); stop that server first, or start this one with another --data-dir${remote}`,
    { holder, lockFile: path },
  );
}

function readText(path: string): string | undefined {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return undefined;
  }
}

function parseHolder(text: string): LockHolder | undefined {
  try {
    const value = JSON.parse(text) as Partial<LockHolder>;
    if (typeof value.pid !== "number" || typeof value.host !== "string") return undefined;
    return {
      pid: value.pid,
      host: value.host,
      processStart: typeof value.processStart === "string" ? value.processStart : null,
      since: typeof value.since === "string" ? value.since : "an unknown time",
      url: typeof value.url === "string" ? value.url : null,
    };
  } catch {
    return undefined;
  }
}

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}
