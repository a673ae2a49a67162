import { randomBytes } from "node:crypto";
import { linkSync, mkdirSync, readFileSync, renameSync, statSync, unlinkSync, writeFileSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { PlatformError, isProcessAlive, processStartTime } from "../core/index.ts";

// One control plane per store: two `paved up` on one data dir (or one PostgreSQL database) would
// both run the scheduler and the controllers, starting jobs twice and racing on every status.
// Controllers under a leader lease would make several replicas safe; until then a second start
// is refused, naming the one that holds the store.

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

// ---- PostgreSQL ---------------------------------------------------------------------------------

/** pg_try_advisory_lock(int4, int4) key: 'pavd', 1 — the control plane of this database. */
const ADVISORY_KEY = [0x70617664, 1] as const;

export interface DatabaseLock {
  /** Names this holder in pg_stat_activity (application_name), e.g. with its URL once it listens. */
  describe(text: string): Promise<void>;
  release(): Promise<void>;
}

/**
 * Takes a session-level advisory lock on the PostgreSQL database at `url`, held by a connection
 * of its own for as long as this process runs. CONFLICT naming the holder's session
 * (application name, client address, since when) while another control plane holds it.
 * `onLost` is called when the lock's connection breaks and the lock cannot be taken back.
 */
export async function lockDatabase(url: string, opts: { name: string; onLost(error: PlatformError): void }): Promise<DatabaseLock> {
  let name = opts.name;
  let client = await tryLock(url, name);
  let released = false;
  const watch = (c: pg.Client) => {
    c.on("error", () => undefined);
    c.once("end", () => {
      if (released) return;
      void retake();
    });
  };
  const retake = async () => {
    // The connection broke (a restart of PostgreSQL, the network): take the lock back, unless
    // another control plane took it meanwhile.
    for (let attempt = 0; !released; attempt++) {
      await new Promise((r) => setTimeout(r, Math.min(500 * 2 ** attempt, 5_000)));
      try {
        client = await tryLock(url, name);
        watch(client);
        return;
      } catch (error) {
        if (error instanceof PlatformError && error.code === "CONFLICT") return opts.onLost(error);
        if (attempt >= 20) {
          return opts.onLost(new PlatformError("UNAVAILABLE", `lost the PostgreSQL connection that holds this control plane's lock and could not take it back: ${(error as Error).message}`));
        }
      }
    }
  };
  watch(client);
  return {
    async describe(text) {
      name = text;
      await client.query("select set_config('application_name', $1, false)", [name.slice(0, 63)]).catch(() => undefined);
    },
    async release() {
      released = true;
      await client.end().catch(() => undefined);
    },
  };
}

async function tryLock(url: string, name: string): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: url, application_name: name.slice(0, 63) });
  client.on("error", () => undefined);
  try {
    await client.connect();
    const { rows } = await client.query<{ locked: boolean }>("select pg_try_advisory_lock($1, $2) as locked", [...ADVISORY_KEY]);
    if (rows[0]?.locked) return client;
    const holder = await client
      .query<{ application_name: string | null; client_addr: string | null; backend_start: Date | null }>(
        `select a.application_name, a.client_addr::text, a.backend_start
           from pg_locks l join pg_stat_activity a on a.pid = l.pid
          where l.locktype = 'advisory' and l.classid = $1 and l.objid = $2 and l.objsubid = 2 and l.granted and l.database = (select oid from pg_database where datname = current_database())`,
        [...ADVISORY_KEY],
      )
      .then((r) => r.rows[0])
      .catch(() => undefined);
    await client.end().catch(() => undefined);
    const who = holder
      ? `'${holder.application_name || "unnamed"}'${holder.client_addr ? ` from ${holder.client_addr}` : ""}${holder.backend_start ? `, since ${holder.backend_start.toISOString()}` : ""}`
      : "a session whose details this role may not see";
    throw new PlatformError(
      "CONFLICT",
      `the PostgreSQL database is in use by another paved up (${who}); several control planes on one database are not supported yet: stop that server first, or point this one at another database (PAVED_DATABASE_URL)`,
      { holder: holder ?? null },
    );
  } catch (error) {
    await client.end().catch(() => undefined);
    if (error instanceof PlatformError) throw error;
    throw new PlatformError("UNAVAILABLE", `cannot connect to PostgreSQL to take the control plane's lock: ${(error as Error).message}; check PAVED_DATABASE_URL and that the server runs`);
  }
}
