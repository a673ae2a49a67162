// Durations as people write them (`90s`, `30m`, `1h30m`, `1.5h`, `2d`): a job's maxRuntime, a
// policy's, `paved gc --older-than`, the CLI's flags. And a time bound as people type it in a query
// (`since`, `until`): a duration before some reference time, an ISO 8601 time, or epoch
// milliseconds; the audit log and the adoption report both take it.
import { z } from "zod";

/** Up to eight `<number><unit>` parts: bounded, and each part ends at its unit, so it cannot backtrack far. */
export const DURATION = /^(?:\d{1,9}(?:\.\d{1,9})?[smhd]){1,8}$/;
const UNIT_SECONDS = { s: 1, m: 60, h: 3600, d: 86_400 } as const;

/** "90s", "30m", "1h30m", "1.5h", "2d" to seconds; undefined when it is not a duration. */
export function parseDurationSeconds(text: string): number | undefined {
  const value = text.trim();
  if (!DURATION.test(value)) return undefined;
  let seconds = 0;
  for (const [, n, unit] of value.matchAll(/(\d+(?:\.\d+)?)([smhd])/g)) seconds += Number(n) * UNIT_SECONDS[unit as keyof typeof UNIT_SECONDS];
  return seconds;
}

/** `ago`: that many ms before the reference time; `at`: an absolute time (epoch ms). */
export type TimeBound = { ago: number } | { at: number };

/** A zod schema of a time bound; `examples` ends the message a bad one gets. */
export function timeBoundSchema(examples: string) {
  return z
    .string()
    .max(64)
    .transform((text, ctx): TimeBound => {
      const value = text.trim();
      const seconds = parseDurationSeconds(value);
      if (seconds !== undefined) return { ago: Math.round(seconds * 1000) };
      if (/^\d{10,16}$/.test(value)) return { at: Number(value) };
      const at = /^\d{4}-\d{2}-\d{2}/.test(value) ? Date.parse(value) : Number.NaN;
      if (!Number.isNaN(at)) return { at };
      ctx.addIssue({ code: "custom", message: `use ${examples}` });
      return z.NEVER;
    });
}

/** The time a bound names, a duration counted back from `reference`; undefined stays undefined. */
export function resolveTimeBound(bound: TimeBound | undefined, reference: number): number | undefined {
  if (bound === undefined) return undefined;
  return "ago" in bound ? reference - bound.ago : bound.at;
}
