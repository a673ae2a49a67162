import { PlatformError } from "../../../core/index.ts";
import type { ConnectorLimits } from "./connector.ts";

/** A snapshot past one of its bounds: refused whole, with the config key that sets the bound. */
export function tooLarge(what: string, limit: keyof ConnectorLimits, value: number, fix: string): PlatformError {
  return new PlatformError("PAYLOAD_TOO_LARGE", `${what} is more than datasets.connectors.limits.${limit} (${value}); ${fix}, or ask a platform admin to raise the limit`, { limit, value });
}

/** Counts what a snapshot writes against its limits. */
export class SnapshotBudget {
  bytes = 0;
  files = 0;

  constructor(
    private readonly limits: ConnectorLimits,
    private readonly narrow: string,
  ) {}

  addFile(): void {
    this.files++;
    if (this.files > this.limits.maxFiles) throw tooLarge(`the source's file count`, "maxFiles", this.limits.maxFiles, this.narrow);
  }

  addBytes(n: number): void {
    this.bytes += n;
    if (this.bytes > this.limits.maxBytes) throw tooLarge(`the source's size in bytes`, "maxBytes", this.limits.maxBytes, this.narrow);
  }
}

/** Throws when the snapshot was cancelled (or ran out of time). */
export function checkAborted(signal: AbortSignal): void {
  if (signal.aborted) throw new PlatformError("UNAVAILABLE", "the snapshot was cancelled or ran past datasets.connectors.limits.timeoutSeconds; nothing was kept; run it again (narrowed, if it ran out of time)");
}
