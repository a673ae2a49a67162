import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

const SCRIPT = fileURLToPath(new URL("./spawner-process.js", import.meta.url));

export interface SpawnRequest {
  file: string;
  args: string[];
  cwd: string;
  env: Record<string, string>;
  /** Output and errors of the process are appended here (created owner-only). */
  log: string;
  /** Run the process as this user and group (the spawner must be root). */
  uid?: number;
  gid?: number;
  /** Epoch ms after which the request is refused instead of started (a crashed server's request that came late). */
  notAfter?: number;
}

export interface Spawned {
  pid: number;
  /** Settles when the process exits, or when the spawner is gone and can no longer tell. */
  ended: Promise<void>;
}

/**
 * Client of the spawner helper process (`spawner-process.js`): starts detached processes from a
 * small process, so a job's start does not pay for forking the whole server. Started on first
 * use, restarted if it dies; it never keeps the server's event loop alive.
 */
export class Spawner {
  private child: ChildProcess | undefined;
  private nextId = 1;
  private readonly requests = new Map<number, { resolve(spawned: Spawned): void; reject(error: Error): void }>();
  private readonly exits = new Map<number, () => void>();

  /** @param env the helper's own environment: the allow-listed one, never the server's secrets. */
  constructor(private readonly env: Record<string, string> = {}) {}

  /** Whether the helper script is present (it is not inside single-file bundles). */
  static available(): boolean {
    return existsSync(SCRIPT);
  }

  spawn(request: SpawnRequest): Promise<Spawned> {
    const child = this.ensure();
    const id = this.nextId++;
    return new Promise<Spawned>((resolve, reject) => {
      this.requests.set(id, { resolve, reject });
      child.stdin!.write(`${JSON.stringify({ id, ...request })}\n`);
    });
  }

  /** Stops the helper (running jobs are unaffected); the next spawn starts a new one. */
  async close(): Promise<void> {
    const child = this.child;
    if (!child) return;
    const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    child.stdin!.end();
    await exited;
  }

  private ensure(): ChildProcess {
    if (this.child) return this.child;
    const child = spawn(process.execPath, [SCRIPT], { stdio: ["pipe", "pipe", "inherit"], env: this.env });
    this.child = child;
    createInterface({ input: child.stdout! }).on("line", (line) => this.receive(line));
    child.once("exit", () => {
      if (this.child === child) this.child = undefined;
      const error = new Error("the spawner process exited");
      for (const request of this.requests.values()) request.reject(error);
      this.requests.clear();
      for (const settle of this.exits.values()) settle();
      this.exits.clear();
    });
    child.unref();
    for (const stream of [child.stdin, child.stdout] as unknown as { unref?(): void }[]) stream?.unref?.();
    return child;
  }

  private receive(line: string): void {
    const message = JSON.parse(line) as { id?: number; pid?: number; error?: string; exit?: number };
    if (message.exit !== undefined) {
      this.exits.get(message.exit)?.();
      this.exits.delete(message.exit);
      return;
    }
    const request = message.id === undefined ? undefined : this.requests.get(message.id);
    if (!request) return;
    this.requests.delete(message.id!);
    if (message.pid !== undefined) {
      // Registered now, not when the caller resumes: the exit may be on the next line.
      const pid = message.pid;
      request.resolve({ pid, ended: new Promise<void>((resolve) => this.exits.set(pid, resolve)) });
    } else request.reject(new Error(message.error ?? "spawn failed"));
  }
}
