import { EventEmitter, once } from "node:events";
import { PavedClient } from "../client/index.ts";
import { resolveCredentials } from "../client/credentials.ts";

/** Where a command writes; process streams in `paved`, buffers in tests. */
export interface CliIo {
  stdout: { write(chunk: string | Uint8Array): unknown; isTTY?: boolean };
  stderr: { write(text: string): unknown; isTTY?: boolean };
  stdin: NodeJS.ReadableStream & { isTTY?: boolean; setRawMode?: (mode: boolean) => unknown };
}

/** Everything a command needs from the outside world, handed down from main.ts. */
export interface CliContext {
  /** The environment; the CLI reads PAVED_URL, PAVED_TOKEN, PAVED_TEAM, XDG_CONFIG_HOME and HOME from it. */
  env: Record<string, string | undefined>;
  io: CliIo;
  /** Folder relative paths are resolved against. */
  cwd: string;
  now(): number;
  sleep(ms: number): Promise<void>;
  /** The fetch the client uses (tests pass a fake one). */
  fetch?: typeof fetch;
  /** A client for the server named by the environment or `paved login`. */
  client(): Promise<PavedClient>;
  out(text: string): void;
  /** Writes bytes to stdout, waiting while the reader is behind (downloads). */
  outBytes(chunk: Uint8Array): Promise<void>;
  /** Progress and notes, kept off stdout so stdout stays parseable. */
  note(text: string): void;
  json(value: unknown): void;
  /** The process exit code when no error is thrown (e.g. 12 when a followed job fails). */
  exitCode: number;
}

export interface ContextOptions {
  env: Record<string, string | undefined>;
  io?: CliIo;
  cwd?: string;
  fetch?: typeof fetch;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
}

export function createContext(options: ContextOptions): CliContext {
  const io = options.io ?? { stdout: process.stdout, stderr: process.stderr, stdin: process.stdin };
  let client: Promise<PavedClient> | undefined;
  return {
    env: options.env,
    io,
    cwd: options.cwd ?? process.cwd(),
    now: options.now ?? Date.now,
    sleep: options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms))),
    fetch: options.fetch,
    client() {
      client ??= resolveCredentials({ env: options.env }).then(
        ({ url, token }) => new PavedClient({ url, token, ...(options.fetch ? { fetch: options.fetch } : {}) }),
      );
      return client;
    },
    out: (text) => void io.stdout.write(text),
    outBytes: async (chunk) => {
      // events.once also rejects on 'error' (a closed pipe) and removes both listeners.
      if (io.stdout.write(chunk) === false && io.stdout instanceof EventEmitter) await once(io.stdout, "drain");
    },
    note: (text) => void io.stderr.write(text.endsWith("\n") ? text : text + "\n"),
    json: (value) => void io.stdout.write(JSON.stringify(value, null, 2) + "\n"),
    exitCode: 0,
  };
}
