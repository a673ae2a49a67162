import { lstat, readdir } from "node:fs/promises";
import { join } from "node:path";
import { setImmediate as yieldToEventLoop } from "node:timers/promises";

export interface FolderSize {
  /** Bytes of the regular files seen (their apparent size; links are not followed). */
  bytes: number;
  /** Files and folders looked at. */
  entries: number;
  /** True when it stopped at `maxEntries`: `bytes` counts what it saw. */
  truncated: boolean;
}

/**
 * The size of a folder's files, walked breadth-first without following links, looking at no more
 * than `maxEntries` entries and giving the event loop a turn every 500, so measuring a large home
 * folder costs a bounded amount of work and never stalls requests.
 */
export async function folderSize(root: string, maxEntries: number): Promise<FolderSize> {
  let bytes = 0;
  let entries = 0;
  const queue = [root];
  while (queue.length > 0) {
    const dir = queue.shift()!;
    const list = await readdir(dir, { withFileTypes: true }).catch(() => []);
    for (const entry of list) {
      if (entries >= maxEntries) return { bytes, entries, truncated: true };
      entries++;
      if (entries % 500 === 0) await yieldToEventLoop();
      const path = join(dir, entry.name);
      if (entry.isDirectory()) queue.push(path);
      else if (entry.isFile()) bytes += (await lstat(path).catch(() => undefined))?.size ?? 0;
    }
  }
  return { bytes, entries, truncated: false };
}
