import { open } from "node:fs/promises";
import { StringDecoder } from "node:string_decoder";
import { setTimeout as sleep } from "node:timers/promises";

/**
 * An attempt's log file from byte `offset`; with `follow`, keeps reading until `running()` says
 * the attempt ended (then reads what is left) or `signal` aborts. Every executor writes its
 * attempts' output to a file Paved can read (a shared filesystem on a cluster), so they all
 * follow logs the same way.
 */
export async function* followLogFile(
  path: string,
  running: () => Promise<boolean>,
  opts: { follow: boolean; signal?: AbortSignal; offset?: number; pollMs?: number },
): AsyncIterable<string> {
  let file;
  for (;;) {
    try {
      file = await open(path, "r");
      break;
    } catch {
      // A queued cluster job has no log yet: wait for it when following.
      if (!opts.follow || opts.signal?.aborted || !(await running())) return;
      await sleep(opts.pollMs ?? 200, undefined, { signal: opts.signal }).catch(() => undefined);
    }
  }
  try {
    const decoder = new StringDecoder("utf8");
    const buffer = Buffer.alloc(64 * 1024);
    let position = opts.offset ?? 0;
    for (;;) {
      // Checked on every read, so a job that never stops printing cannot hold a follow past its end.
      if (opts.signal?.aborted) break;
      const { bytesRead } = await file.read(buffer, 0, buffer.length, position);
      if (bytesRead > 0) {
        position += bytesRead;
        yield decoder.write(buffer.subarray(0, bytesRead));
        continue;
      }
      if (!opts.follow || opts.signal?.aborted) break;
      if (!(await running())) {
        // One last read: the process may have written just before it ended.
        const last = await file.read(buffer, 0, buffer.length, position);
        if (last.bytesRead > 0) {
          position += last.bytesRead;
          yield decoder.write(buffer.subarray(0, last.bytesRead));
          continue;
        }
        break;
      }
      await sleep(opts.pollMs ?? 200, undefined, { signal: opts.signal }).catch(() => undefined);
    }
    const rest = decoder.end();
    if (rest) yield rest;
  } finally {
    await file.close();
  }
}
