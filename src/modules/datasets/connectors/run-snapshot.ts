import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { join } from "node:path";
import { PlatformError } from "../../../core/index.ts";
import type { ConnectorLimits, SecretReader, SnapshotResult } from "./connector.ts";
import type { ConnectorRegistry } from "./registry.ts";

export interface RunSnapshotOptions {
  registry: ConnectorRegistry;
  /** The spec as the request gave it (validated here against its kind's schema). */
  spec: unknown;
  team: string;
  secrets: SecretReader;
  /** A folder the server owns; the snapshot's scratch folder is made inside it. */
  workDir: string;
  limits: ConnectorLimits & { timeoutSeconds: number };
  signal?: AbortSignal;
}

/**
 * The one wrapper around every connector: validates the spec, makes a fresh scratch folder, bounds
 * the time, and removes the folder when the snapshot fails. On success the caller owns the folder
 * (`dir`) and removes it once the files are stored.
 */
export async function runSnapshot(options: RunSnapshotOptions): Promise<SnapshotResult & { dir: string }> {
  const { connector, spec } = options.registry.parse(options.spec);
  await mkdir(options.workDir, { recursive: true, mode: 0o700 });
  const dir = await mkdtemp(join(options.workDir, `snapshot-${connector.kind}-`));
  const timeout = AbortSignal.timeout(options.limits.timeoutSeconds * 1000);
  const signal = options.signal ? AbortSignal.any([options.signal, timeout]) : timeout;
  try {
    const result = await connector.snapshot(spec, { team: options.team, secrets: options.secrets, scratchDir: dir, limits: options.limits, signal });
    return { ...result, dir };
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    if (signal.aborted && !(error instanceof PlatformError && error.code !== "INTERNAL")) {
      throw new PlatformError("UNAVAILABLE", `the ${connector.kind} snapshot was cancelled or ran past datasets.connectors.limits.timeoutSeconds (${options.limits.timeoutSeconds} s); nothing was kept; narrow the source or ask an admin to raise the limit`);
    }
    throw error;
  }
}
