import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { Spawner } from "./spawner.ts";

describe("Spawner", () => {
  const dir = mkdtempSync(join(tmpdir(), "paved-spawner-"));
  const request = (args: string[], log = join(dir, "out.log")) => ({ file: "/bin/sh", args, cwd: dir, env: { PATH: process.env.PATH ?? "" }, log });

  it("starts argv without a shell seeing them, appends output to the log, reports the exit", async () => {
    const spawner = new Spawner();
    const log = join(dir, "argv.log");
    const { pid, ended } = await spawner.spawn(request(["-c", 'printf "%s|" "$@"', "sh", "a b", "$(touch pwned)", ";"], log));
    expect(pid).toBeGreaterThan(0);
    await ended;
    expect(readFileSync(log, "utf8")).toBe("a b|$(touch pwned)|;|");
    expect(existsSync(join(dir, "pwned"))).toBe(false);
    await spawner.close();
  });

  it("reports a program that cannot start, and keeps working after its helper stops", async () => {
    const spawner = new Spawner();
    await expect(spawner.spawn({ ...request([]), file: "/nonexistent/program" })).rejects.toThrow(/ENOENT/);
    const long = await spawner.spawn(request(["-c", "sleep 5"]));
    await spawner.close();
    await long.ended; // settles when the helper is gone: the caller falls back to polling
    process.kill(-long.pid, "SIGKILL");
    const again = await spawner.spawn(request(["-c", "exit 0"]));
    await again.ended;
    await spawner.close();
  });
});
