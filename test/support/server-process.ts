import { spawn, type ChildProcess } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { stringify } from "yaml";
import { stopDataPlanes } from "../../src/dataplane/index.ts";
import { freePort } from "./ports.ts";

export { freePort };

const ROOT = new URL("../..", import.meta.url).pathname;

/** A real `paved up` process (not in-process), for tests about crashes and restarts. */
export interface ServerProcess {
  url: string;
  token: string;
  child: ChildProcess;
  output(): string;
  /** SIGKILL, no chance to clean up. */
  kill9(): Promise<void>;
  stop(): Promise<void>;
}

/** Starts `paved up` on `dataDir` with a fixed admin token and waits until /health answers. */
export async function startServerProcess(opts: { dataDir: string; token: string; port?: number; config?: Record<string, unknown>; env?: Record<string, string> }): Promise<ServerProcess> {
  const port = opts.port ?? (await freePort());
  const configFile = join(opts.dataDir, "..", `paved-config-${port}.yaml`);
  // Data-plane processes on any free port (port + 1 may be another test's), unless the test names one.
  const serving = (opts.config?.serving ?? {}) as { dataPlane?: Record<string, unknown> };
  const config = { ...opts.config, serving: { ...serving, dataPlane: { port: 0, ...serving.dataPlane } } };
  writeFileSync(configFile, stringify({ logLevel: "warn", compute: { gpus: [], systemMetricsInterval: 1 }, ...config }));
  const child = spawn(process.execPath, [join(ROOT, "bin/paved.js"), "up", "--port", String(port), "--data-dir", opts.dataDir, "--config", configFile], {
    env: { ...process.env, ...opts.env, PAVED_ADMIN_TOKEN: opts.token },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  child.stdout?.on("data", (d) => (out += d));
  child.stderr?.on("data", (d) => (out += d));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`paved up exited early:\n${out}`);
    try {
      const res = await fetch(`${url}/api/v1/health`);
      if (res.ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`paved up did not answer within 30 s:\n${out}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  const exited = () => new Promise<void>((resolve) => (child.exitCode !== null || child.signalCode !== null ? resolve() : child.once("exit", () => resolve())));
  return {
    url,
    token: opts.token,
    child,
    output: () => out,
    async kill9() {
      child.kill("SIGKILL");
      await exited();
    },
    /** SIGTERM, and the data-plane processes it started (which a SIGTERM leaves serving) stopped too. */
    async stop() {
      child.kill("SIGTERM");
      await exited();
      await stopDataPlanes(opts.dataDir);
    },
  };
}
