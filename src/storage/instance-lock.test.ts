import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { PlatformError } from "../core/index.ts";
import { LOCK_FILE, lockDataDir } from "./instance-lock.ts";

const code = (f: () => unknown): string | undefined => {
  try {
    f();
  } catch (error) {
    return (error as PlatformError).code;
  }
  return undefined;
};

describe("the data dir lock", () => {
  it("is exclusive while its holder lives, records the URL, and is gone after release", () => {
    const dir = mkdtempSync(join(tmpdir(), "paved-lock-"));
    const lock = lockDataDir(dir);
    lock.setUrl("http://127.0.0.1:8080");
    expect(JSON.parse(readFileSync(join(dir, LOCK_FILE), "utf8"))).toMatchObject({ pid: process.pid, host: hostname(), url: "http://127.0.0.1:8080" });
    expect(code(() => lockDataDir(dir))).toBe("CONFLICT");
    lock.release();
    expect(existsSync(join(dir, LOCK_FILE))).toBe(false);
    lockDataDir(dir).release();
  });

  it("takes over a lock whose process is gone, or whose pid now belongs to a later process", () => {
    const dir = mkdtempSync(join(tmpdir(), "paved-lock-"));
    const stale = (pid: number, processStart: string | null) =>
      writeFileSync(join(dir, LOCK_FILE), JSON.stringify({ pid, host: hostname(), processStart, since: "2020-01-01T00:00:00.000Z", url: null }));
    stale(2 ** 22 + 12345, null); // above Linux's pid_max: no such process
    lockDataDir(dir).release();
    stale(process.pid, "1"); // this pid, but started at another time
    lockDataDir(dir).release();
    // An unreadable lock (a crash mid-write) is stale too.
    writeFileSync(join(dir, LOCK_FILE), "{");
    lockDataDir(dir).release();
  });

  it("refuses a lock held on another host (it cannot check that process)", () => {
    const dir = mkdtempSync(join(tmpdir(), "paved-lock-"));
    writeFileSync(join(dir, LOCK_FILE), JSON.stringify({ pid: 1, host: `not-${hostname()}`, processStart: null, since: "2020-01-01T00:00:00.000Z", url: null }));
    expect(code(() => lockDataDir(dir))).toBe("CONFLICT");
  });
});
