import { invalidInput } from "./errors.ts";

/**
 * Cron schedules in a time zone, for pipeline triggers: the five fields of crontab(5) (minute, hour,
 * day of month, month, day of week) with lists, ranges, steps and names (`jan`, `mon`), or one of
 * `@hourly`, `@daily`, `@midnight`, `@weekly`, `@monthly`, `@yearly`, `@annually`. As in Vixie
 * cron, when both day fields are restricted a day matches either. Wall-clock times are the zone's:
 * a time the zone skips (spring forward) does not run that day, and a repeated hour (fall back)
 * runs once. Parsed by splitting, never by a regex over the user's text.
 */
export interface CronSchedule {
  readonly expression: string;
  readonly timeZone: string;
  /** The first time the schedule fires strictly after `after` (ms since the epoch); undefined when none within 5 years (e.g. `0 0 30 2 *`). */
  next(after: number): number | undefined;
}

const NICKNAMES: Record<string, string> = {
  "@yearly": "0 0 1 1 *",
  "@annually": "0 0 1 1 *",
  "@monthly": "0 0 1 * *",
  "@weekly": "0 0 * * 0",
  "@daily": "0 0 * * *",
  "@midnight": "0 0 * * *",
  "@hourly": "0 * * * *",
};
const MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"];
const DAYS = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

interface Field {
  name: string;
  min: number;
  max: number;
  names?: string[];
  /** The first name's number (months count from 1). */
  nameBase?: number;
}
const FIELDS: Field[] = [
  { name: "minute", min: 0, max: 59 },
  { name: "hour", min: 0, max: 23 },
  { name: "day of month", min: 1, max: 31 },
  { name: "month", min: 1, max: 12, names: MONTHS, nameBase: 1 },
  // 7 is Sunday too, as in most crons.
  { name: "day of week", min: 0, max: 7, names: DAYS, nameBase: 0 },
];

const FORMAT = "'<minute> <hour> <day of month> <month> <day of week>', e.g. '0 3 * * 1-5' (03:00 on weekdays), or @hourly, @daily, @weekly, @monthly, @yearly";
const HORIZON_MS = 5 * 366 * 86_400_000;
const MINUTE = 60_000;

/** Parses a schedule; INVALID_INPUT naming the field and the fix for anything else, and for an unknown time zone. */
export function parseCron(expression: string, timeZone = "UTC"): CronSchedule {
  if (typeof expression !== "string" || expression.length > 200) throw invalidInput(`a cron schedule is at most 200 characters: ${FORMAT}`);
  const text = expression.trim().toLowerCase();
  const fields = (NICKNAMES[text] ?? text).split(/\s+/);
  if (fields.length !== 5) throw invalidInput(`cron schedule '${expression}' has ${fields.length} fields, not 5: write ${FORMAT}`);
  const sets = fields.map((f, i) => parseField(f, FIELDS[i]!, expression));
  // Sunday is 0 and 7.
  if (sets[4]!.has(7)) sets[4]!.add(0);
  const zoned = zonedFields(timeZone);
  const [minutes, hours, days, months, weekdays] = sets as [Set<number>, Set<number>, Set<number>, Set<number>, Set<number>];
  // As in Vixie cron, a day field starting with '*' (also '*/2') does not restrict on its own.
  const anyDay = fields[2]!.startsWith("*");
  const anyWeekday = fields[4]!.startsWith("*");
  const dayMatches = (day: number, weekday: number) => {
    if (anyDay && anyWeekday) return true;
    if (anyDay) return weekdays.has(weekday);
    if (anyWeekday) return days.has(day);
    return days.has(day) || weekdays.has(weekday);
  };
  return {
    expression,
    timeZone,
    next(after: number): number | undefined {
      const last = zoned(after);
      const lastWall = wallKey(last);
      // From the next whole minute.
      let t = Math.floor(after / MINUTE) * MINUTE + MINUTE;
      const end = after + HORIZON_MS;
      while (t <= end) {
        const w = zoned(t);
        if (!months.has(w.month) || !dayMatches(w.day, w.weekday)) {
          // To the zone's next midnight (or near it: a DST change is corrected on the next turn).
          t += ((23 - w.hour) * 60 + (60 - w.minute)) * MINUTE;
          continue;
        }
        if (!hours.has(w.hour)) {
          t += (60 - w.minute) * MINUTE;
          continue;
        }
        // A repeated hour (fall back) shows wall-clock times already passed: they do not run again.
        if (minutes.has(w.minute) && wallKey(w) > lastWall) return t;
        t += MINUTE;
      }
      return undefined;
    },
  };
}

function parseField(text: string, field: Field, expression: string): Set<number> {
  const out = new Set<number>();
  const bad = (why: string) => invalidInput(`cron schedule '${expression}': the ${field.name} field '${text}' ${why}; write ${FORMAT}`);
  if (text.length > 100) throw bad("is too long");
  for (const part of text.split(",")) {
    const [range = "", stepText, extra] = part.split("/");
    if (extra !== undefined) throw bad("has two '/'");
    const step = stepText === undefined ? 1 : integer(stepText);
    if (step === undefined || step < 1 || step > field.max) throw bad(`has step '${stepText}', which must be a whole number from 1 to ${field.max}`);
    let from: number;
    let to: number;
    if (range === "*") {
      from = field.min;
      to = field.name === "day of week" ? 6 : field.max;
    } else {
      const [a = "", b, more] = range.split("-");
      if (more !== undefined) throw bad("has a range with two '-'");
      const lo = value(a, field);
      const hi = b === undefined ? (stepText === undefined ? lo : field.max) : value(b, field);
      if (lo === undefined || hi === undefined) throw bad(`names something that is not a ${field.name} (${field.min}-${field.max}${field.names ? ` or ${field.names[0]}-${field.names.at(-1)}` : ""})`);
      if (lo > hi) throw bad(`is a range that runs backwards (${lo} > ${hi})`);
      from = lo;
      to = hi;
    }
    for (let v = from; v <= to; v += step) out.add(v);
  }
  return out;
}

function integer(text: string): number | undefined {
  if (text.length === 0 || text.length > 4) return undefined;
  for (const c of text) if (c < "0" || c > "9") return undefined;
  return Number(text);
}

function value(text: string, field: Field): number | undefined {
  const named = field.names?.indexOf(text) ?? -1;
  const n = named >= 0 ? named + (field.nameBase ?? 0) : integer(text);
  return n !== undefined && n >= field.min && n <= field.max ? n : undefined;
}

interface Wall {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  weekday: number;
}

const wallKey = (w: Wall) => ((((w.year * 100 + w.month) * 100 + w.day) * 100 + w.hour) * 100) + w.minute;

/** The wall clock of an instant in `timeZone`; INVALID_INPUT for a zone the runtime does not know. */
function zonedFields(timeZone: string): (t: number) => Wall {
  let format: Intl.DateTimeFormat;
  try {
    format = new Intl.DateTimeFormat("en-US", { timeZone, hourCycle: "h23", year: "numeric", month: "numeric", day: "numeric", hour: "numeric", minute: "numeric", weekday: "short" });
  } catch {
    throw invalidInput(`time zone '${timeZone}' is unknown; use an IANA name such as UTC, Europe/Berlin or America/New_York`);
  }
  return (t) => {
    const w: Wall = { year: 0, month: 0, day: 0, hour: 0, minute: 0, weekday: 0 };
    for (const p of format.formatToParts(t)) {
      if (p.type === "weekday") w.weekday = DAYS.indexOf(p.value.toLowerCase().slice(0, 3));
      else if (p.type === "year" || p.type === "month" || p.type === "day" || p.type === "hour" || p.type === "minute") w[p.type] = Number(p.value);
    }
    return w;
  };
}
