// A time bound as people type it in a query (`since`, `until`): a duration before some reference
// time (`30m`, `7d`, `1h30m`), an ISO 8601 time, or epoch milliseconds. The audit log and the
// adoption report both take it.
import { z } from "zod";

/** Up to four `<digits><unit>` parts: bounded, so the pattern cannot backtrack far. */
const DURATION = /^(?:\d{1,9}[smhd]){1,4}$/;
const UNIT_MS = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/** `ago`: that many ms before the reference time; `at`: an absolute time (epoch ms). */
export type TimeBound = { ago: number } | { at: number };

/** A zod schema of a time bound; `examples` ends the message a bad one gets. */
export function timeBoundSchema(examples: string) {
  return z
    .string()
    .max(64)
    .transform((text, ctx): TimeBound => {
      const value = text.trim();
      if (DURATION.test(value)) {
        let ms = 0;
        for (const [, n, unit] of value.matchAll(/(\d+)([smhd])/g)) ms += Number(n) * UNIT_MS[unit as keyof typeof UNIT_MS];
        return { ago: ms };
      }
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
