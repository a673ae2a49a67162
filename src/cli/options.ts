import { DURATION, invalidInput } from "../core/index.ts";

// Small parsers for command-line values; each error names the flag and shows a valid example.

export function parseInteger(flag: string, min = 0): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (!/^-?\d+$/.test(value.trim()) || !Number.isSafeInteger(n) || n < min) {
      throw invalidInput(`${flag} must be a whole number of at least ${min}, got '${value}'`);
    }
    return n;
  };
}

export function parsePositiveNumber(flag: string): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (value.trim() === "" || !Number.isFinite(n) || n <= 0) throw invalidInput(`${flag} must be a positive number, got '${value}'`);
    return n;
  };
}

/** Splits `key=value` pairs (from repeated or variadic flags) into a record. */
export function parsePairs(flag: string, pairs: readonly string[] | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const pair of pairs ?? []) {
    const at = pair.indexOf("=");
    if (at <= 0) {
      throw invalidInput(
        `${flag} takes key=value, got '${pair}'; e.g. ${flag} lr=0.01 (put the command after \`--\`: paved train --name n ${flag} lr=0.01 -- python3 train.py)`,
      );
    }
    out[pair.slice(0, at)] = pair.slice(at + 1);
  }
  return out;
}

const MEMORY = /^\d+(\.\d+)?(Ki|Mi|Gi|Ti|K|M|G|T)?$/;

/** Kubernetes-style quantities: 512Mi, 4Gi, 1.5G. */
export function parseMemory(value: string): string {
  if (!MEMORY.test(value)) throw invalidInput(`--memory takes a quantity like 512Mi or 4Gi, got '${value}'`);
  return value;
}

/** Durations: 30m, 1h30m, 90s, 2d, or a bare number of seconds (sent as a number). */
export function parseDurationFlag(flag: string): (value: string) => string | number {
  return (value) => {
    if (/^\d+(\.\d+)?$/.test(value) && Number(value) > 0) return Number(value);
    if (!DURATION.test(value)) throw invalidInput(`${flag} takes a duration like 30m, 1h30m, 90s or a number of seconds, got '${value}'`);
    return value;
  };
}

/** Commander collector for repeatable options. */
export function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}
