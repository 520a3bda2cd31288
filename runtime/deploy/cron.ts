/**
 * When a schedule fires next: a pure function over a cron expression (five fields or a `@hourly`-style macro) and an
 * IANA time zone, read the way the CronJob controller reads it (robfig/cron): `*` and `?`, ranges, steps (`a/n`
 * means `a-max/n`), lists, month and weekday names; when both day of month and day of week are restricted, a day
 * matching either fires. Across daylight-saving changes the schedule follows the wall clock of the zone: a time
 * the clocks skip (spring forward) does not fire that day, a time the clocks repeat (fall back) fires at both instants.
 */
import { CRON_FIELDS, cronProblems } from "./decorators.js";
import { KubestepError } from "../errors.js";

/** The macros the CronJob controller accepts, as five-field expressions. */
export const CRON_MACROS: Readonly<Record<string, string>> = {
  "@yearly": "0 0 1 1 *",
  "@annually": "0 0 1 1 *",
  "@monthly": "0 0 1 * *",
  "@weekly": "0 0 * * 0",
  "@daily": "0 0 * * *",
  "@midnight": "0 0 * * *",
  "@hourly": "0 * * * *",
};

/** A cron expression that cannot be read. */
export class CronError extends KubestepError {
  constructor(message: string) {
    super(message);
    this.name = "CronError";
  }
}

interface Parsed {
  fields: Array<Set<number>>;
  /** Whether day of month / day of week is unrestricted (`*` or `?`, possibly with step 1). */
  domStar: boolean;
  dowStar: boolean;
}

function parse(expr: string): Parsed {
  const text = CRON_MACROS[expr.trim().toLowerCase()] ?? expr;
  const problems = cronProblems(text);
  if (problems.length)
    throw new CronError(
      `cron ${JSON.stringify(expr)} is invalid: ${problems.join("; ")} (or use one of ${Object.keys(CRON_MACROS).join(", ")})`,
    );
  const stars: boolean[] = [];
  const fields = text
    .trim()
    .split(/\s+/)
    .map((f, i) => {
      const spec = CRON_FIELDS[i]!;
      const value = (s: string): number => {
        if (/^\d+$/.test(s)) return Number(s);
        return spec.names!.indexOf(s.toUpperCase()) + (spec.name === "month" ? 1 : 0);
      };
      const set = new Set<number>();
      let star = false;
      for (const part of f.split(",")) {
        const [range, stepText] = part.split("/") as [string, string | undefined];
        const step = stepText === undefined ? 1 : Number(stepText);
        let lo: number;
        let hi: number;
        if (range === "*" || range === "?") {
          [lo, hi] = [spec.min, spec.max];
          if (step === 1) star = true;
        } else {
          const ends = range.split("-").map(value);
          lo = ends[0]!;
          hi = ends.length === 2 ? ends[1]! : stepText !== undefined ? spec.max : lo;
        }
        for (let v = lo; v <= hi; v += step) set.add(spec.name === "day of week" && v === 7 ? 0 : v);
      }
      stars.push(star);
      return set;
    });
  return { fields, domStar: stars[2]!, dowStar: stars[4]! };
}

const formatters = new Map<string, Intl.DateTimeFormat>();

/** The wall clock of `ms` in `timeZone`, as if it were UTC (ms, whole minutes). */
function wallOf(ms: number, timeZone: string): number {
  let f = formatters.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat("en-US", {
      timeZone,
      hourCycle: "h23",
      year: "numeric",
      month: "numeric",
      day: "numeric",
      hour: "numeric",
      minute: "numeric",
    });
    formatters.set(timeZone, f);
  }
  const p: Record<string, number> = {};
  for (const part of f.formatToParts(ms)) if (part.type !== "literal") p[part.type] = Number(part.value);
  return Date.UTC(p.year!, p.month! - 1, p.day!, p.hour!, p.minute!);
}

/** Every instant whose wall clock in `timeZone` is `wall`: none in a skipped hour, two in a repeated one. */
function instantsOf(wall: number, timeZone: string): number[] {
  const out = new Set<number>();
  for (const probe of [wall - 14 * 3_600_000, wall + 14 * 3_600_000]) {
    const offset = wallOf(probe, timeZone) - Math.floor(probe / 60_000) * 60_000;
    const t = wall - offset;
    if (wallOf(t, timeZone) === wall) out.add(t);
  }
  return [...out].sort((a, b) => a - b);
}

/** Wall-clock times (as UTC ms) matching the schedule, in order, from `fromWall` on, for at most `years` years. */
function* wallTimes(p: Parsed, fromWall: number, years: number): Generator<number> {
  const sorted = (i: number) => [...p.fields[i]!].sort((a, b) => a - b);
  const [minutes, hours, months] = [sorted(0), sorted(1), sorted(3)];
  const domSet = p.fields[2]!;
  const dowSet = p.fields[4]!;
  const start = new Date(fromWall);
  for (let y = start.getUTCFullYear(); y <= start.getUTCFullYear() + years; y++)
    for (const m of months) {
      if (Date.UTC(y, m, 1) <= fromWall) continue; // the whole month is before the start
      const days = new Date(Date.UTC(y, m, 0)).getUTCDate();
      for (let d = 1; d <= days; d++) {
        if (Date.UTC(y, m - 1, d + 1) <= fromWall) continue;
        const domMatch = domSet.has(d);
        const dowMatch = dowSet.has(new Date(Date.UTC(y, m - 1, d)).getUTCDay());
        if (p.domStar || p.dowStar ? !(domMatch && dowMatch) : !(domMatch || dowMatch)) continue;
        for (const h of hours) {
          if (Date.UTC(y, m - 1, d, h + 1) <= fromWall) continue;
          for (const min of minutes) {
            const w = Date.UTC(y, m - 1, d, h, min);
            if (w >= fromWall) yield w;
          }
        }
      }
    }
}

/** Longest a wall clock moves at a daylight-saving change, with margin (ms). */
const MAX_SHIFT_MS = 3 * 3_600_000;

/**
 * The next `count` instants after `after` (strictly) at which the schedule fires, in `timeZone` (default UTC,
 * the CronJob controller's default). Fewer when the schedule stops firing within 5 years (e.g. `0 0 30 2 *`).
 * @throws CronError naming the expression and every problem when it cannot be read.
 */
export function nextFireTimes(expr: string, after: Date, timeZone = "UTC", count = 1): Date[] {
  const p = parse(expr);
  const t0 = after.getTime();
  const out: number[] = [];
  // A wall time repeated by a fall-back change may map to an instant after `after` though its wall clock is
  // earlier than `after`'s: start a few hours back and keep instants after `after`.
  let horizon = Infinity;
  for (const w of wallTimes(p, wallOf(t0, timeZone) - MAX_SHIFT_MS, 5)) {
    if (w > horizon) break;
    for (const t of instantsOf(w, timeZone))
      if (t > t0) {
        out.push(t);
        // Instants are in wall order, which differs from time order by at most a DST shift.
        if (out.length >= count && horizon === Infinity) horizon = w + MAX_SHIFT_MS;
      }
  }
  return [...new Set(out)]
    .sort((a, b) => a - b)
    .slice(0, count)
    .map((t) => new Date(t));
}

/** The next instant after `after` at which the schedule fires; undefined when it never does within 5 years. */
export function nextFireTime(expr: string, after: Date, timeZone = "UTC"): Date | undefined {
  return nextFireTimes(expr, after, timeZone, 1)[0];
}
