// Starts and watches the data-plane processes of one `paved up` (serving.dataPlane.processes of
// them), each in its own folder under <dataDir>/dataplane/<index>. They run detached in their own
// process group, so they outlive `paved up`: a restart (or a crash, or kill -9) of the control
// plane adopts the processes that still run instead of starting others, and one that died is
// started again on its saved state. Each gets the settings it needs and the data plane's secret,
// none of the control plane's other secrets.
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import type { Config } from "../config/index.ts";
import { invalidInput, type Logger } from "../core/index.ts";
import { writeDurably } from "./files.ts";
import type { DataPlaneMember } from "./fleet.ts";
import { INTERNAL_PREFIX, ProcessRecord } from "./protocol.ts";

export interface SupervisorOptions {
  config: Config;
  /** How many processes (serving.dataPlane.processes). */
  count: number;
  /** The port of process 0 (the next ones count up); 0: any free port. */
  basePort: number;
  host: string;
  logger: Logger;
  /** How to run `paved dataplane run`. */
  command: { node: string; script: string };
  /** The server's environment: a process gets its PATH, HOME and TZ, nothing else of it (and its node flags from PAVED_DATAPLANE_NODE_ARGS). */
  env: Record<string, string | undefined>;
}

interface Slot {
  index: number;
  dir: string;
  record: ProcessRecord | undefined;
  /** Whether this control plane keeps the slot running (started, adopted, or holding a saved state). */
  wanted: boolean;
  starting: Promise<void> | undefined;
}

/** How long a process may take from spawn to listening. */
const START_TIMEOUT_MS = 60_000;

export class DataPlaneSupervisor {
  readonly root: string;
  readonly secret: string;
  private readonly slots: Slot[];
  private readonly nodeArgs: string[];
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly options: SupervisorOptions) {
    this.nodeArgs = dataPlaneNodeArgs(options.env);
    this.root = join(options.config.dataDir, "dataplane");
    mkdirSync(this.root, { recursive: true, mode: 0o700 });
    // One secret per data dir, kept: processes that outlive this control plane know it. Replicas
    // without a shared data dir (pods) share PAVED_DATAPLANE_SECRET with the data-plane pods instead.
    const given = options.env.PAVED_DATAPLANE_SECRET?.trim();
    const secretFile = join(this.root, "secret");
    if (!given && !existsSync(secretFile)) writeDurably(secretFile, randomBytes(32).toString("base64url"));
    this.secret = given || readFileSync(secretFile, "utf8").trim();
    this.slots = Array.from({ length: options.count }, (_, index) => ({ index, dir: join(this.root, String(index)), record: undefined, wanted: false, starting: undefined }));
  }

  /** The processes that run now, as the fleet reaches them. */
  members(): DataPlaneMember[] {
    return this.slots.filter((s) => s.record !== undefined).map((s) => ({ index: s.index, url: s.record!.url, secret: this.secret }));
  }

  /** Where each running process serves. */
  urls(): string[] {
    return this.members().map((m) => m.url);
  }

  /**
   * Adopts the processes that still run from an earlier start (they answer with this data dir's
   * secret); starts again those that died holding a saved state; then watches them.
   */
  async adopt(): Promise<void> {
    await Promise.all(
      this.slots.map(async (slot) => {
        const record = readRecord(slot.dir);
        if (record && alive(record.pid) && (await this.answers(record.url))) {
          slot.record = record;
          slot.wanted = true;
          this.options.logger.info({ dataPlane: slot.index, pid: record.pid, url: record.url }, "adopted a running data-plane process");
        } else if (existsSync(join(slot.dir, "state.json"))) {
          slot.wanted = true;
          await this.start(slot);
        }
      }),
    );
    this.timer = setInterval(() => this.watch(), 1000);
    this.timer.unref();
  }

  /** Starts every process that does not run (before the first model is loaded). */
  async ensure(): Promise<void> {
    await Promise.all(
      this.slots.map((slot) => {
        slot.wanted = true;
        return slot.record && alive(slot.record.pid) ? undefined : this.start(slot);
      }),
    );
  }

  /** Stops watching; with `kill`, also stops the processes (SIGTERM, then SIGKILL after 5 s). */
  async stop(kill: boolean): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    // A process still starting is waited for: it is then recorded, to be adopted or stopped.
    for (const slot of this.slots) {
      slot.wanted = false;
      await slot.starting?.catch(() => undefined);
    }
    if (!kill) return;
    for (const slot of this.slots) slot.record = undefined;
    await stopDataPlanes(this.options.config.dataDir);
  }

  /** Starts again a wanted process that died. */
  private watch(): void {
    for (const slot of this.slots) {
      if (!slot.wanted || slot.starting || (slot.record && alive(slot.record.pid))) continue;
      if (slot.record) this.options.logger.warn({ dataPlane: slot.index, pid: slot.record.pid }, "a data-plane process died; starting it again on its saved state");
      slot.record = undefined;
      void this.start(slot).catch((error: unknown) => this.options.logger.error({ dataPlane: slot.index, reason: (error as Error).message }, "could not start a data-plane process; trying again"));
    }
  }

  private start(slot: Slot): Promise<void> {
    slot.starting ??= this.spawn(slot).finally(() => (slot.starting = undefined));
    return slot.starting;
  }

  private async spawn(slot: Slot): Promise<void> {
    mkdirSync(slot.dir, { recursive: true, mode: 0o700 });
    rmSync(join(slot.dir, "process.json"), { force: true });
    writeDurably(join(slot.dir, "config.json"), JSON.stringify(dataPlaneConfig(this.options.config)));
    const port = this.options.basePort === 0 ? 0 : this.options.basePort + slot.index;
    const log = openSync(join(slot.dir, "dataplane.log"), "a", 0o600);
    const { command: { node, script }, env } = this.options;
    const child = spawn(node, [...this.nodeArgs, script, "dataplane", "run", "--dir", slot.dir, "--index", String(slot.index), "--port", String(port), "--host", this.options.host], {
      detached: true,
      stdio: ["ignore", log, log],
      // What the process needs to run, and its secret: none of the control plane's own.
      env: { PATH: env.PATH ?? "/usr/bin:/bin", HOME: env.HOME ?? slot.dir, ...(env.TZ ? { TZ: env.TZ } : {}), PAVED_DATAPLANE_SECRET: this.secret },
    });
    closeSync(log);
    child.unref();
    const pid = child.pid;
    if (pid === undefined) throw new Error("could not spawn a data-plane process");
    const deadline = Date.now() + START_TIMEOUT_MS;
    for (;;) {
      const record = readRecord(slot.dir);
      if (record?.pid === pid) {
        slot.record = record;
        this.options.logger.info({ dataPlane: slot.index, pid, url: record.url }, "data-plane process started");
        return;
      }
      if (!alive(pid) || child.exitCode !== null) throw new Error(`the data-plane process exited while starting; see ${join(slot.dir, "dataplane.log")}`);
      if (Date.now() > deadline) {
        signal(pid, "SIGKILL");
        throw new Error(`the data-plane process did not listen within ${START_TIMEOUT_MS / 1000} s; see ${join(slot.dir, "dataplane.log")}`);
      }
      await sleep(50);
    }
  }

  /** Whether a process at `url` answers this data dir's secret (a reused pid or port does not). */
  private async answers(url: string): Promise<boolean> {
    try {
      const res = await fetch(`${url}${INTERNAL_PREFIX}/state`, { headers: { authorization: `Bearer ${this.secret}` }, signal: AbortSignal.timeout(3000) });
      return res.ok;
    } catch {
      return false;
    }
  }
}

/**
 * The settings a data-plane process gets: where the database is (it checks tokens there), how to
 * serve, how to listen. Not the admin token, the single sign-on secret or the artifact store's keys.
 */
/**
 * Node's own flags for the data-plane processes, from the operator's PAVED_DATAPLANE_NODE_ARGS
 * (space-separated), e.g. `--cpu-prof --cpu-prof-dir=/tmp/dp` to profile them: Node refuses
 * `--cpu-prof` in NODE_OPTIONS, so they go in the argv. Each must be a flag (`--…`); anything else
 * would be taken for the script, so it is refused.
 */
export function dataPlaneNodeArgs(env: Record<string, string | undefined>): string[] {
  const args = (env.PAVED_DATAPLANE_NODE_ARGS ?? "").split(/\s+/).filter((a) => a !== "");
  const bad = args.find((a) => !/^--[a-z]/.test(a));
  if (bad !== undefined) throw invalidInput(`PAVED_DATAPLANE_NODE_ARGS holds '${bad}', which is not a node flag; give flags such as --cpu-prof --cpu-prof-dir=/tmp/dp, separated by spaces`);
  return args;
}

function dataPlaneConfig(config: Config): Record<string, unknown> {
  return {
    dataDir: config.dataDir,
    ...(config.databaseUrl ? { databaseUrl: config.databaseUrl } : {}),
    host: config.host,
    logLevel: config.logLevel,
    auth: { disabled: config.auth.disabled },
    http: config.http,
    serving: config.serving,
    registry: { onnx: config.registry.onnx },
  };
}

/**
 * Stops the data-plane processes a data dir's `paved up` started (SIGTERM, then SIGKILL after 5 s);
 * their saved state stays, so the next `paved up` serves it again. Answers the pids stopped.
 */
export async function stopDataPlanes(dataDir: string): Promise<number[]> {
  const root = join(dataDir, "dataplane");
  if (!existsSync(root)) return [];
  const pids = readdirSync(root)
    .filter((name) => /^\d+$/.test(name))
    .map((name) => readRecord(join(root, name))?.pid)
    .filter((pid): pid is number => pid !== undefined && alive(pid) && isDataPlane(pid));
  await Promise.all(
    pids.map(async (pid) => {
      signal(pid, "SIGTERM");
      const deadline = Date.now() + 5000;
      while (alive(pid) && Date.now() < deadline) await sleep(50);
      if (alive(pid)) signal(pid, "SIGKILL");
    }),
  );
  return pids;
}

/** Whether a pid is a `paved dataplane run` process (a pid reused by another program is left alone). */
function isDataPlane(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").includes("dataplane");
  } catch {
    return true;
  }
}

function readRecord(dir: string): ProcessRecord | undefined {
  try {
    return ProcessRecord.parse(JSON.parse(readFileSync(join(dir, "process.json"), "utf8")));
  } catch {
    return undefined;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

function signal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch {
    // already gone
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
