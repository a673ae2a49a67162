import { open } from "node:fs/promises";
import { PlatformError } from "../../core/index.ts";

/** The bounds of job log reads and follows (`compute.logs`). */
export interface LogBounds {
  maxFollowsPerPrincipal: number;
  maxFollows: number;
  maxFollowSeconds: number;
  maxReadBytes: number;
}

/**
 * Open log follows, per principal and in total. A follow holds a connection and a poll loop for as
 * long as a job runs, so a token opening thousands would exhaust the server; past either bound a
 * new follow is refused with QUOTA_EXCEEDED.
 */
export class FollowSlots {
  private readonly byPrincipal = new Map<string, number>();
  private total = 0;

  constructor(private readonly bounds: Pick<LogBounds, "maxFollowsPerPrincipal" | "maxFollows">) {}

  /** Takes a slot for `principal` or throws QUOTA_EXCEEDED; the returned release may be called any number of times. */
  acquire(principal: string): () => void {
    const mine = this.byPrincipal.get(principal) ?? 0;
    if (mine >= this.bounds.maxFollowsPerPrincipal) {
      throw new PlatformError(
        "QUOTA_EXCEEDED",
        `you already follow ${mine} job logs at once, the most one token may (compute.logs.maxFollowsPerPrincipal); stop a follow you no longer watch, or read without follow`,
        { limit: this.bounds.maxFollowsPerPrincipal, open: mine },
      );
    }
    if (this.total >= this.bounds.maxFollows) {
      throw new PlatformError(
        "QUOTA_EXCEEDED",
        `the server already holds ${this.total} log follows, its limit (compute.logs.maxFollows); try again when one ends, or read without follow`,
        { limit: this.bounds.maxFollows, open: this.total },
      );
    }
    this.byPrincipal.set(principal, mine + 1);
    this.total++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.total--;
      const left = (this.byPrincipal.get(principal) ?? 1) - 1;
      if (left > 0) this.byPrincipal.set(principal, left);
      else this.byPrincipal.delete(principal);
    };
  }

  /** Follows open now (for tests and metrics). */
  get open(): number {
    return this.total;
  }
}

/** A part of a log: its text, where it starts and ends (byte offsets), and the whole log's size. */
export interface LogPage {
  text: string;
  start: number;
  end: number;
  size: number;
}

/**
 * Reads at most `limit` bytes of a log: from `offset`, or else the last `limit` bytes, starting
 * at a line when the start is cut. A missing log reads as empty.
 */
export async function readLogPage(path: string, opts: { offset?: number; limit: number }): Promise<LogPage> {
  let file;
  try {
    file = await open(path, "r");
  } catch {
    return { text: "", start: 0, end: 0, size: 0 };
  }
  try {
    const size = (await file.stat()).size;
    let start = opts.offset !== undefined ? Math.min(opts.offset, size) : Math.max(0, size - opts.limit);
    const length = Math.min(opts.limit, size - start);
    const buffer = Buffer.alloc(length);
    let read = 0;
    while (read < length) {
      const { bytesRead } = await file.read(buffer, read, length - read, start + read);
      if (bytesRead === 0) break;
      read += bytesRead;
    }
    let bytes = buffer.subarray(0, read);
    if (opts.offset === undefined && start > 0) {
      const newline = bytes.indexOf(0x0a);
      if (newline >= 0 && newline < bytes.length - 1) {
        bytes = bytes.subarray(newline + 1);
        start += newline + 1;
      }
    }
    return { text: bytes.toString("utf8"), start, end: start + bytes.length, size };
  } finally {
    await file.close();
  }
}
