// Sampled requests and predictions, one JSON line each, for drift monitoring, under
// <dataDir>/serving/<model>/<version>/predictions-<YYYY-MM-DD>.jsonl for production (the path it
// always had) and <dataDir>/serving/<model>/<version>/environments/<env>/predictions-….jsonl for
// every other environment, so one environment's log never mixes with another's.
import { createWriteStream, mkdirSync, type WriteStream } from "node:fs";
import { join } from "node:path";
import type { Clock } from "../../core/index.ts";

export interface PredictionRecord {
  time: string;
  id: string;
  model: string;
  version: string;
  environment: string;
  latencyMs: number;
  inputs: unknown[];
  outputs: unknown[];
}

export interface PredictionLogOptions {
  /** <dataDir>/serving */
  root: string;
  clock: Clock;
  /** Share of requests kept, 0..1. */
  sampleRate: number;
  /** At most this many records per second per model version. */
  maxPerSecond: number;
  random?: () => number;
}

interface Open {
  date: string;
  stream: WriteStream;
  second: number;
  inSecond: number;
}

/** Whose log: one model version in one environment. */
export interface LogKey {
  model: string;
  version: string;
  environment: string;
}

/** The environment whose log keeps the layout from before environments were served apart. */
const UNPREFIXED_ENVIRONMENT = "production";

const keyOf = (k: LogKey) => `${k.environment}/${k.model}/${k.version}`;

// sample's keys by label object: the service passes one object per loaded version, and building
// and hashing the string anew on every request cost more than the rest of the check.
const sampleKeys = new WeakMap<LogKey, string>();
function sampleKeyOf(k: LogKey): string {
  let key = sampleKeys.get(k);
  if (key === undefined) sampleKeys.set(k, (key = keyOf(k)));
  return key;
}

export class PredictionLog {
  private readonly files = new Map<string, Open>();
  private readonly random: () => number;

  constructor(private readonly options: PredictionLogOptions) {
    this.random = options.random ?? Math.random;
  }

  /** Whether to keep this request (decided before building the record, which costs). */
  sample(of: LogKey): boolean {
    if (this.options.sampleRate <= 0 || this.options.maxPerSecond <= 0) return false;
    if (this.options.sampleRate < 1 && this.random() >= this.options.sampleRate) return false;
    const file = this.files.get(sampleKeyOf(of));
    const second = Math.floor(this.options.clock.now() / 1000);
    return !file || file.second !== second || file.inSecond < this.options.maxPerSecond;
  }

  write(record: PredictionRecord): void {
    const now = this.options.clock.now();
    const date = new Date(now).toISOString().slice(0, 10);
    const key = keyOf(record);
    let file = this.files.get(key);
    if (!file || file.date !== date) {
      file?.stream.end();
      const versionDir = join(this.options.root, record.model, record.version);
      const dir = record.environment === UNPREFIXED_ENVIRONMENT ? versionDir : join(versionDir, "environments", record.environment);
      mkdirSync(dir, { recursive: true });
      const stream = createWriteStream(join(dir, `predictions-${date}.jsonl`), { flags: "a" });
      // A full disk must not take serving down with it; the log is best effort.
      stream.on("error", () => undefined);
      file = { date, stream, second: 0, inSecond: 0 };
      this.files.set(key, file);
    }
    const second = Math.floor(now / 1000);
    if (file.second !== second) {
      file.second = second;
      file.inSecond = 0;
    }
    file.inSecond++;
    file.stream.write(JSON.stringify(record) + "\n");
  }

  /** Closes one version's file (on unload) or all of them; resolves once the lines are on disk. */
  async close(of?: LogKey): Promise<void> {
    const keys = of === undefined ? [...this.files.keys()] : [keyOf(of)];
    await Promise.all(
      keys.map((key) => {
        const file = this.files.get(key);
        this.files.delete(key);
        return file ? new Promise<void>((resolve) => file.stream.end(resolve)) : undefined;
      }),
    );
  }
}
