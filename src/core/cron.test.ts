import { describe, expect, it } from "vitest";
import { parseCron } from "./cron.ts";

const at = (iso: string) => Date.parse(iso);
const iso = (t: number | undefined) => (t === undefined ? undefined : new Date(t).toISOString());
/** The next `n` firings after `from`. */
function fires(expr: string, zone: string, from: string, n: number): (string | undefined)[] {
  const schedule = parseCron(expr, zone);
  const out: (string | undefined)[] = [];
  let t = at(from);
  for (let i = 0; i < n; i++) {
    const next = schedule.next(t);
    out.push(iso(next));
    if (next === undefined) break;
    t = next;
  }
  return out;
}

describe("cron schedules", () => {
  it("fires on the fields' wall clock in UTC", () => {
    expect(fires("*/15 * * * *", "UTC", "2026-01-01T00:07:30Z", 3)).toEqual(["2026-01-01T00:15:00.000Z", "2026-01-01T00:30:00.000Z", "2026-01-01T00:45:00.000Z"]);
    expect(fires("0 3 * * mon-fri", "UTC", "2026-12-04T04:00:00Z", 2)).toEqual(["2026-12-07T03:00:00.000Z", "2026-12-08T03:00:00.000Z"]);
    expect(fires("@monthly", "UTC", "2026-01-15T00:00:00Z", 2)).toEqual(["2026-02-01T00:00:00.000Z", "2026-03-01T00:00:00.000Z"]);
    expect(fires("0 0 29 feb *", "UTC", "2026-01-01T00:00:00Z", 1)).toEqual(["2028-02-29T00:00:00.000Z"]);
    expect(fires("0 12 1,15 * *", "UTC", "2026-01-01T12:00:00Z", 2)).toEqual(["2026-01-15T12:00:00.000Z", "2026-02-01T12:00:00.000Z"]);
    // Sunday is 0 and 7.
    expect(fires("0 0 * * 7", "UTC", "2026-12-01T00:00:00Z", 1)).toEqual(fires("0 0 * * sun", "UTC", "2026-12-01T00:00:00Z", 1));
  });

  it("matches either day field when both are restricted, as Vixie cron does", () => {
    // The 13th of each month, and every Friday: 2026-02-06 is a Friday, 2026-02-13 both.
    expect(fires("0 0 13 * fri", "UTC", "2026-02-01T00:00:00Z", 3)).toEqual(["2026-02-06T00:00:00.000Z", "2026-02-13T00:00:00.000Z", "2026-02-20T00:00:00.000Z"]);
  });

  it("keeps the zone's wall clock across daylight saving time: a skipped time does not run, a repeated hour runs once", () => {
    // Berlin: 09:00 local is 08:00 UTC in winter and 07:00 UTC in summer (change on 2026-03-29).
    expect(fires("0 9 * * *", "Europe/Berlin", "2026-03-28T12:00:00Z", 2)).toEqual(["2026-03-29T07:00:00.000Z", "2026-03-30T07:00:00.000Z"]);
    // 02:30 does not exist in Berlin on 2026-03-29: that day has no run.
    expect(fires("30 2 * * *", "Europe/Berlin", "2026-03-28T12:00:00Z", 2)).toEqual(["2026-03-30T00:30:00.000Z", "2026-03-31T00:30:00.000Z"]);
    // 02:30 happens twice on 2026-10-25 (clocks go back at 03:00 CEST): it runs once, at the first.
    expect(fires("30 2 * * *", "Europe/Berlin", "2026-10-24T12:00:00Z", 2)).toEqual(["2026-10-25T00:30:00.000Z", "2026-10-26T01:30:00.000Z"]);
    // New York, with a half-hour-free zone change too.
    expect(fires("0 0 * * *", "America/New_York", "2026-06-01T12:00:00Z", 1)).toEqual(["2026-06-02T04:00:00.000Z"]);
  });

  it("answers undefined for a date that never comes", () => {
    expect(parseCron("0 0 30 2 *").next(at("2026-01-01T00:00:00Z"))).toBeUndefined();
  });

  it("refuses what is not a schedule, naming the field and the form", () => {
    for (const bad of ["* * * *", "60 * * * *", "* 24 * * *", "* * 0 * *", "* * * 13 *", "* * * * 8", "*/0 * * * *", "5-1 * * * *", "1-2-3 * * * *", "a * * * *", "* * * * mon-", "@every 5m", "1/2/3 * * * *", "x".repeat(300)]) {
      expect(() => parseCron(bad), bad).toThrow(expect.objectContaining({ code: "INVALID_INPUT" }));
    }
    expect(() => parseCron("0 * * * *", "Mars/Olympus")).toThrow(expect.objectContaining({ code: "INVALID_INPUT", message: expect.stringContaining("IANA") }));
  });
});
