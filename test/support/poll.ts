import { setTimeout as sleep } from "node:timers/promises";

/**
 * Reads until `done` holds, then returns the last reading. Bounded by a deadline, not a count of
 * tries: in the full suite on two cores a Jupyter or job start takes many times its figure alone,
 * and the deadline sits under the test's own limit so the failure names what never happened.
 * `fail` ends the wait early with its message (a workspace that FAILED).
 */
export async function pollUntil<T>(
  what: string,
  read: () => Promise<T>,
  done: (value: T) => boolean,
  opts: { timeoutMs?: number; intervalMs?: number; fail?: (value: T) => string | undefined } = {},
): Promise<T> {
  const deadline = Date.now() + (opts.timeoutMs ?? 150_000);
  let last: T;
  do {
    last = await read();
    if (done(last)) return last;
    const failed = opts.fail?.(last);
    if (failed !== undefined) throw new Error(`${what}: ${failed}`);
    await sleep(opts.intervalMs ?? 25);
  } while (Date.now() < deadline);
  throw new Error(`${what} did not happen within ${Math.round((opts.timeoutMs ?? 150_000) / 1000)} s; last seen: ${JSON.stringify(last).slice(0, 500)}`);
}
