/** When a schedule fires next: cron fields, macros, day-of-month/day-of-week rules, time zones and DST edges. */
import { strict as assert } from "node:assert";
import { CronError, nextFireTime, nextFireTimes } from "../../../runtime/deploy/cron.js";

const at = (iso: string) => new Date(iso);
const iso = (d: Date | undefined) => d?.toISOString();
const next = (expr: string, after: string, tz?: string) => iso(nextFireTime(expr, at(after), tz));

describe("cron: next fire time", () => {
  it("reads the macros @hourly, @daily, @weekly (and the others the CronJob controller accepts)", () => {
    assert.equal(next("@hourly", "2026-03-04T10:15:30Z"), "2026-03-04T11:00:00.000Z");
    assert.equal(next("@hourly", "2026-03-04T10:00:00Z"), "2026-03-04T11:00:00.000Z", "strictly after");
    assert.equal(next("@daily", "2026-03-04T10:15:00Z"), "2026-03-05T00:00:00.000Z");
    assert.equal(next("@midnight", "2026-12-31T23:59:59Z"), "2027-01-01T00:00:00.000Z");
    // 2026-03-04 is a Wednesday: the next Sunday midnight is the 8th.
    assert.equal(next("@weekly", "2026-03-04T10:15:00Z"), "2026-03-08T00:00:00.000Z");
    assert.equal(next("@monthly", "2026-03-04T10:15:00Z"), "2026-04-01T00:00:00.000Z");
    assert.equal(next("@yearly", "2026-03-04T10:15:00Z"), "2027-01-01T00:00:00.000Z");
    assert.equal(next("@HOURLY", "2026-03-04T10:15:00Z"), "2026-03-04T11:00:00.000Z");
  });

  it("reads steps, ranges, lists and names", () => {
    assert.equal(next("*/15 * * * *", "2026-03-04T10:16:00Z"), "2026-03-04T10:30:00.000Z");
    assert.equal(next("5/20 * * * *", "2026-03-04T10:46:00Z"), "2026-03-04T11:05:00.000Z", "a/n is a-max/n");
    assert.equal(next("0 9-17/4 * * *", "2026-03-04T13:00:00Z"), "2026-03-04T17:00:00.000Z");
    assert.equal(next("0 12 * * MON-FRI", "2026-03-06T13:00:00Z"), "2026-03-09T12:00:00.000Z", "Friday → Monday");
    assert.equal(next("0 0 1 jan,jul *", "2026-03-04T00:00:00Z"), "2026-07-01T00:00:00.000Z");
    assert.equal(next("0 0 * * 7", "2026-03-04T00:00:00Z"), "2026-03-08T00:00:00.000Z", "7 is Sunday");
    assert.equal(next("0 0 29 2 *", "2026-03-01T00:00:00Z"), "2028-02-29T00:00:00.000Z", "the next leap day");
    assert.equal(nextFireTime("0 0 30 2 *", at("2026-01-01T00:00:00Z")), undefined, "never fires");
    assert.deepEqual(nextFireTimes("0 * * * *", at("2026-03-04T10:15:00Z"), "UTC", 3).map(iso), [
      "2026-03-04T11:00:00.000Z",
      "2026-03-04T12:00:00.000Z",
      "2026-03-04T13:00:00.000Z",
    ]);
  });

  it("fires on a day matching either restricted day field, both when one is *", () => {
    // The 13th of the month OR a Friday: 2026-03-06 is a Friday, before the 13th.
    assert.equal(next("0 0 13 * 5", "2026-03-04T00:00:00Z"), "2026-03-06T00:00:00.000Z");
    assert.equal(next("0 0 13 * *", "2026-03-04T00:00:00Z"), "2026-03-13T00:00:00.000Z");
    assert.equal(next("0 0 ? * 5", "2026-03-04T00:00:00Z"), "2026-03-06T00:00:00.000Z");
    assert.equal(next("0 0 */1 * 5", "2026-03-04T00:00:00Z"), "2026-03-06T00:00:00.000Z", "*/1 is *");
  });

  it("reads the expression in its time zone", () => {
    // 09:00 in Paris is 08:00 UTC in winter, 07:00 UTC in summer.
    assert.equal(next("0 9 * * *", "2026-01-10T12:00:00Z", "Europe/Paris"), "2026-01-11T08:00:00.000Z");
    assert.equal(next("0 9 * * *", "2026-07-10T12:00:00Z", "Europe/Paris"), "2026-07-11T07:00:00.000Z");
    assert.equal(next("@daily", "2026-07-10T12:00:00Z", "Asia/Kolkata"), "2026-07-10T18:30:00.000Z");
    // Midnight on Sunday in Tokyo is Saturday 15:00 UTC.
    assert.equal(next("@weekly", "2026-03-04T00:00:00Z", "Asia/Tokyo"), "2026-03-07T15:00:00.000Z");
  });

  it("skips a time the clocks jump over (spring forward) and fires twice in a repeated hour (fall back)", () => {
    // New York, 2026-03-08: 02:00 EST jumps to 03:00 EDT, so 02:30 does not exist that day.
    assert.equal(next("30 2 * * *", "2026-03-08T05:00:00Z", "America/New_York"), "2026-03-09T06:30:00.000Z");
    assert.equal(next("30 3 * * *", "2026-03-08T05:00:00Z", "America/New_York"), "2026-03-08T07:30:00.000Z");
    assert.equal(
      next("@hourly", "2026-03-08T06:30:00Z", "America/New_York"),
      "2026-03-08T07:00:00.000Z",
      "01:30 EST → 03:00 EDT",
    );
    // 2026-11-01: 02:00 EDT falls back to 01:00 EST, so 01:30 happens at 05:30 and at 06:30 UTC.
    assert.deepEqual(nextFireTimes("30 1 * * *", at("2026-11-01T04:00:00Z"), "America/New_York", 3).map(iso), [
      "2026-11-01T05:30:00.000Z",
      "2026-11-01T06:30:00.000Z",
      "2026-11-02T06:30:00.000Z",
    ]);
    // From inside the repeated hour (01:45 EDT), the next 01:10 is the second one, 01:10 EST (06:10 UTC),
    // though 01:50 EDT (05:50 UTC) comes first.
    assert.equal(next("10,50 1 * * *", "2026-11-01T05:45:00Z", "America/New_York"), "2026-11-01T05:50:00.000Z");
    assert.equal(next("10,50 1 * * *", "2026-11-01T05:50:00Z", "America/New_York"), "2026-11-01T06:10:00.000Z");
    assert.deepEqual(nextFireTimes("@hourly", at("2026-11-01T04:30:00Z"), "America/New_York", 3).map(iso), [
      "2026-11-01T05:00:00.000Z",
      "2026-11-01T06:00:00.000Z",
      "2026-11-01T07:00:00.000Z",
    ]);
    // Daily midnight across a change stays at local midnight.
    assert.equal(next("@daily", "2026-03-28T12:00:00Z", "Europe/London"), "2026-03-29T00:00:00.000Z");
    assert.equal(next("@daily", "2026-03-29T12:00:00Z", "Europe/London"), "2026-03-29T23:00:00.000Z");
  });

  it("refuses a bad expression with every problem and the allowed macros", () => {
    assert.throws(
      () => nextFireTime("61 25 * * *", at("2026-01-01T00:00:00Z")),
      (e: unknown) =>
        e instanceof CronError &&
        /minute field "61"/.test(e.message) &&
        /hour field "25"/.test(e.message) &&
        /@hourly/.test(e.message),
    );
    assert.throws(() => nextFireTime("@fortnightly", at("2026-01-01T00:00:00Z")), CronError);
  });
});
