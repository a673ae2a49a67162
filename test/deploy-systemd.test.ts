// The systemd unit Paved ships for a VM (deploy/systemd/paved.service, issue 14 item 6): systemd's
// own checker accepts it without a warning, and the command it starts, run as written (the paths
// moved to this checkout, port 0), serves, stops cleanly on the unit's KillSignal, and leaves a
// running job alive, which is what KillMode=process relies on (the restarted server adopts it).
// systemd does not run as PID 1 here, so the unit is not started by systemctl.
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { describe, expect, it } from "vitest";
import { stopDataPlanes } from "../src/dataplane/index.ts";

const ROOT = join(import.meta.dirname, "..");
const UNIT = join(ROOT, "deploy/systemd/paved.service");
const hasAnalyze = spawnSync("systemd-analyze", ["--version"], { stdio: "ignore" }).status === 0;

/** A key's value in the unit's [Service] section (the last one, as systemd reads it). */
function setting(unit: string, key: string): string | undefined {
  return [...unit.matchAll(new RegExp(`^${key}=(.*)$`, "gm"))].pop()?.[1]?.trim();
}

/** The unit with its paths moved to this checkout and this Node, and the user dropped (the test is not root's service user). */
function localUnit(unit: string, dir: string): string {
  return unit
    .replaceAll("/usr/bin/node", process.execPath)
    .replaceAll("/opt/paved/bin/paved.js", join(ROOT, "bin/paved.js"))
    .replaceAll("/etc/paved", dir)
    .replaceAll("/var/lib/paved", join(dir, "data"));
}

describe("the systemd unit for a VM", () => {
  const unit = readFileSync(UNIT, "utf8");

  it.skipIf(!hasAnalyze)(`passes systemd-analyze verify without a warning${hasAnalyze ? "" : " (skipped: systemd-analyze is not installed; Debian: apt-get install systemd)"}`, () => {
    const dir = mkdtempSync(join(tmpdir(), "paved-unit-"));
    const file = join(dir, "paved.service");
    writeFileSync(file, localUnit(unit, dir));
    const checked = spawnSync("systemd-analyze", ["verify", file], { encoding: "utf8" });
    expect(checked.status, checked.stderr).toBe(0);
    // verify exits 0 on settings it ignores; it says so on stderr, naming the file.
    expect(checked.stderr.split("\n").filter((l) => l.includes("paved.service"))).toEqual([]);
  });

  it("stops only paved up itself, and restarts it unless another one already runs", () => {
    expect(setting(unit, "KillMode")).toBe("process");
    expect(setting(unit, "KillSignal")).toBe("SIGTERM");
    expect(setting(unit, "RestartPreventExitStatus")).toBe("4");
  });

  it("starts a server that answers, stops cleanly on SIGTERM within TimeoutStopSec, and leaves a running job alive", async () => {
    const dir = mkdtempSync(join(tmpdir(), "paved-unit-run-"));
    writeFileSync(join(dir, "paved.yaml"), "logLevel: warn\ncompute:\n  gpus: []\n");
    const [command, ...args] = setting(localUnit(unit, dir), "ExecStart")!.split(/\s+/);
    const argv = args.map((a, i) => (args[i - 1] === "--port" ? "0" : args[i - 1] === "--host" ? "127.0.0.1" : a));
    const token = "pvd_systemd-unit-test-token-0123456789";
    const child = spawn(command!, argv, { env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: dir, PAVED_ADMIN_TOKEN: token, NODE_ENV: setting(unit, "Environment")!.split("=")[1]! }, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => (out += d));
    const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
    let jobPid = 0;
    try {
      let url: string | undefined;
      for (const end = Date.now() + 30_000; !url && Date.now() < end; await sleep(50)) url = /listening on (http:\/\/\S+)/.exec(out)?.[1];
      expect(url, out).toBeDefined();
      const headers = { authorization: `Bearer ${token}`, "content-type": "application/json" };
      const pidFile = join(dir, "job.pid");
      const submitted = await fetch(`${url}/api/v1/jobs`, { method: "POST", headers, body: JSON.stringify({ name: "outlives", workingDir: dir, command: ["/bin/sh", "-c", `echo $$ > ${pidFile}; exec sleep 60`], compute: { cpus: 0.1, memory: 16 } }) });
      expect(submitted.status, await submitted.clone().text()).toBe(200);
      for (const end = Date.now() + 30_000; !jobPid && Date.now() < end; await sleep(50)) jobPid = Number(readFileSafe(pidFile)) || 0;
      expect(jobPid).toBeGreaterThan(0);
      for (const end = Date.now() + 60_000; !out.includes("data-plane process(es)") && Date.now() < end; ) await sleep(50);

      child.kill("SIGTERM");
      const stopWithin = Number(setting(unit, "TimeoutStopSec")) * 1000;
      const code = await Promise.race([exited, sleep(stopWithin).then(() => "still running")]);
      expect(code, out).toBe(0);
      // The job's process was not part of the stop: the server that comes back adopts it.
      expect(alive(jobPid)).toBe(true);
      // Nor was the data plane: models keep being served while paved up restarts.
      const dataPlane = JSON.parse(readFileSafe(join(dir, "data", "dataplane", "0", "process.json"))) as { pid: number; url: string };
      expect(alive(dataPlane.pid)).toBe(true);
      expect((await fetch(`${dataPlane.url}/v2/health/ready`)).status).toBe(200);
    } finally {
      child.kill("SIGKILL");
      if (jobPid && alive(jobPid)) process.kill(jobPid, "SIGKILL");
      await stopDataPlanes(join(dir, "data"));
    }
  }, 90_000);
});

function readFileSafe(path: string): string {
  try {
    return readFileSync(path, "utf8").trim();
  } catch {
    return "";
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
