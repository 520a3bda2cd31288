/**
 * Flow-level decorators for deployed flows: `@schedule`, `@trigger` and `@triggerOnFinish` on the flow class.
 * They only record their (raw) arguments on the class; `kubestep deploy` validates everything at once with
 * {@link resolveDeploySpec} and fails with every problem, naming the flow, the option, the value and what is
 * allowed. Keys are global (`Symbol.for`) so a code package's copy of the runtime and the CLI's agree.
 */
import { KubestepError } from "../errors.js";

// Node 20 has no Symbol.metadata; decorator lowering (TypeScript, esbuild) uses it when present.
(Symbol as { metadata?: symbol }).metadata ??= Symbol.for("Symbol.metadata");

const DEPLOY_KEY: unique symbol = Symbol.for("kubestep.flow.deploy") as never;

/** Options of `@schedule`: exactly one of `cron`, `hourly`, `daily`, `weekly`. */
export interface ScheduleOptions {
  /** A five-field cron expression (minute hour day-of-month month day-of-week), e.g. `"0 * * * *"`. */
  cron?: string;
  /** IANA time zone the cron expression is read in, e.g. `"Europe/Paris"`; default the cluster's (UTC). */
  timezone?: string;
  /** Every hour at minute 0 (`0 * * * *`). */
  hourly?: boolean;
  /** Every day at 00:00 (`0 0 * * *`). */
  daily?: boolean;
  /** Every Sunday at 00:00 (`0 0 * * 0`). */
  weekly?: boolean;
}

/** Options of `@trigger`: start a run of the deployed flow when the event is published. */
export interface TriggerOptions {
  /** Event name (`kubestep event publish <event>`): letters, digits, `.`, `_`, `-`. */
  event: string;
}

/** Options of `@triggerOnFinish`: start a run when a run of the upstream deployed flow succeeds. */
export interface TriggerOnFinishOptions {
  /** Name of the upstream flow class (it must be deployed in the same namespace). */
  flow: string;
}

/** What the decorators recorded, unvalidated. */
export interface RawDeployDecl {
  /** `@schedule` arguments, each application. */
  schedules: unknown[];
  /** `@trigger` arguments. */
  triggers: unknown[];
  /** `@triggerOnFinish` arguments. */
  triggerOnFinish: unknown[];
}

/** A flow's validated deployment declarations. */
export interface DeploySpec {
  /** The schedule, when `@schedule` is given. */
  schedule?: { cron: string; timezone?: string };
  /** Events that start a run. */
  events: string[];
  /** Upstream flows whose successful runs start a run. */
  upstreamFlows: string[];
}

/** Thrown by `kubestep deploy` for bad `@schedule` / `@trigger` / `@triggerOnFinish` arguments; lists every problem. */
export class DeployDefinitionError extends KubestepError {
  constructor(
    /** The flow. */
    readonly flowName: string,
    /** One line per problem. */
    readonly problems: string[],
  ) {
    super(`flow ${flowName} cannot be deployed:\n  - ${problems.join("\n  - ")}`);
    this.name = "DeployDefinitionError";
  }
}

type Bag = Record<PropertyKey, unknown>;
function record(context: ClassDecoratorContext, kind: keyof RawDeployDecl, options: unknown): void {
  const bag = context.metadata as Bag;
  if (!Object.prototype.hasOwnProperty.call(bag, DEPLOY_KEY))
    bag[DEPLOY_KEY] = { schedules: [], triggers: [], triggerOnFinish: [] } satisfies RawDeployDecl;
  (bag[DEPLOY_KEY] as RawDeployDecl)[kind].push(options);
}

type ClassDecorator = (cls: Function, context: ClassDecoratorContext) => void;

/** Runs the deployed flow on a schedule (a batch/v1 CronJob): `@schedule({ cron: "0 * * * *" })`, `@schedule({ daily: true })`. */
export function schedule(options: ScheduleOptions): ClassDecorator {
  return (_cls, context) => record(context, "schedules", options);
}

/** Starts a run of the deployed flow when `event` is published (`kubestep event publish <event> --payload k=v`). */
export function trigger(options: TriggerOptions): ClassDecorator {
  return (_cls, context) => record(context, "triggers", options);
}

/** Starts a run of the deployed flow when a run of the deployed flow `flow` succeeds. */
export function triggerOnFinish(options: TriggerOnFinishOptions): ClassDecorator {
  return (_cls, context) => record(context, "triggerOnFinish", options);
}

/** What the decorators recorded on a flow class (empty when none). */
export function rawDeployDeclOf(cls: Function): RawDeployDecl {
  const md = (cls as unknown as Record<symbol, Bag | undefined>)[Symbol.metadata as symbol];
  return (
    (md && Object.prototype.hasOwnProperty.call(md, DEPLOY_KEY) ? (md[DEPLOY_KEY] as RawDeployDecl) : undefined) ?? {
      schedules: [],
      triggers: [],
      triggerOnFinish: [],
    }
  );
}

const show = (v: unknown): string =>
  v === undefined ? "nothing" : typeof v === "string" ? JSON.stringify(v) : (JSON.stringify(v) ?? String(v));

const MONTHS = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"];
const DAYS = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];
/** The five fields of a cron expression, their ranges and names (day of week 7 is Sunday, like 0). */
export const CRON_FIELDS: ReadonlyArray<{ name: string; min: number; max: number; names?: string[] }> = [
  { name: "minute", min: 0, max: 59 },
  { name: "hour", min: 0, max: 23 },
  { name: "day of month", min: 1, max: 31 },
  { name: "month", min: 1, max: 12, names: MONTHS },
  { name: "day of week", min: 0, max: 7, names: DAYS },
];

/**
 * Problems of a five-field cron expression as the CronJob controller reads it (numbers, `*`, `?`, ranges `a-b`,
 * steps `/n`, lists `,`, month and weekday names); empty when valid.
 */
export function cronProblems(expr: string): string[] {
  const fields = expr.trim().split(/\s+/);
  if (expr.trim() === "" || fields.length !== 5)
    return [`expected 5 fields (minute hour day-of-month month day-of-week), got ${fields.filter(Boolean).length}`];
  const problems: string[] = [];
  fields.forEach((f, i) => {
    const spec = CRON_FIELDS[i]!;
    const value = (s: string): number | undefined => {
      if (/^\d+$/.test(s)) return Number(s);
      const k = spec.names?.indexOf(s.toUpperCase()) ?? -1;
      return k >= 0 ? k + (spec.name === "month" ? 1 : 0) : undefined;
    };
    for (const part of f.split(",")) {
      const [range, step, extra] = part.split("/");
      const bad = (why: string) =>
        problems.push(
          `${spec.name} field ${JSON.stringify(f)}: ${why} (allowed: ${spec.min}-${spec.max}${spec.names ? ` or ${spec.names[0]}-${spec.names[spec.names.length - 1]}` : ""}, *, ranges a-b, steps /n, lists a,b)`,
        );
      if (extra !== undefined || range === undefined || range === "") {
        bad(`${JSON.stringify(part)} is not a value, range or step`);
        continue;
      }
      if (step !== undefined && !(/^\d+$/.test(step) && Number(step) > 0)) {
        bad(`step ${JSON.stringify(step)} must be a whole number > 0`);
        continue;
      }
      if (range === "*" || range === "?") continue;
      const ends = range.split("-");
      if (ends.length > 2) {
        bad(`${JSON.stringify(range)} is not a value or a range`);
        continue;
      }
      const nums = ends.map(value);
      if (nums.some((n) => n === undefined)) {
        bad(`${JSON.stringify(range)} is not a number${spec.names ? " or name" : ""}`);
        continue;
      }
      if (nums.some((n) => n! < spec.min || n! > spec.max)) {
        bad(`${JSON.stringify(range)} is out of range`);
        continue;
      }
      if (nums.length === 2 && nums[0]! > nums[1]!) bad(`range ${JSON.stringify(range)} runs backwards`);
    }
  });
  return problems;
}

/** Whether `tz` is an IANA time zone this Node knows (the CronJob controller reads the same database). */
export function isTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat("en-US", { timeZone: tz });
    return tz !== "" && !/^[+-]/.test(tz);
  } catch {
    return false;
  }
}

const EVENT_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;
const FLOW_NAME = /^[A-Za-z_$][\w$]*$/;
const isObj = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/**
 * Validates what `@schedule`, `@trigger` and `@triggerOnFinish` recorded; pure.
 * @throws DeployDefinitionError with every problem, each naming the decorator, the option, the value and what is allowed.
 */
export function resolveDeploySpec(flowName: string, raw: RawDeployDecl): DeploySpec {
  const problems: string[] = [];
  const out: DeploySpec = { events: [], upstreamFlows: [] };
  if (raw.schedules.length > 1)
    problems.push(`@schedule is applied ${raw.schedules.length} times; a flow has one schedule`);
  const s = raw.schedules[0];
  if (s !== undefined) {
    if (!isObj(s))
      problems.push(
        `@schedule = ${show(s)} is invalid; expected { cron, timezone? } or { hourly | daily | weekly: true }`,
      );
    else {
      for (const k of Object.keys(s))
        if (!["cron", "timezone", "hourly", "daily", "weekly"].includes(k))
          problems.push(
            `@schedule ${k} = ${show(s[k])} is an unknown option; allowed: cron, timezone, hourly, daily, weekly`,
          );
      for (const k of ["hourly", "daily", "weekly"] as const)
        if (s[k] !== undefined && typeof s[k] !== "boolean")
          problems.push(`@schedule ${k} = ${show(s[k])} is invalid; expected true`);
      const chosen = (["cron", "hourly", "daily", "weekly"] as const).filter((k) =>
        k === "cron" ? s.cron !== undefined : s[k] === true,
      );
      let cron: string | undefined;
      if (chosen.length !== 1)
        problems.push(
          `@schedule needs exactly one of cron, hourly, daily, weekly (got ${chosen.length ? chosen.join(" and ") : "none"})`,
        );
      else if (chosen[0] === "cron") {
        if (typeof s.cron !== "string")
          problems.push(`@schedule cron = ${show(s.cron)} is invalid; expected a string like "0 * * * *"`);
        else {
          const cp = cronProblems(s.cron);
          if (cp.length) problems.push(...cp.map((p) => `@schedule cron = ${show(s.cron)} is invalid: ${p}`));
          else cron = s.cron.trim().split(/\s+/).join(" ");
        }
      } else cron = { hourly: "0 * * * *", daily: "0 0 * * *", weekly: "0 0 * * 0" }[chosen[0]!];
      let timezone: string | undefined;
      if (s.timezone !== undefined) {
        if (typeof s.timezone !== "string" || !isTimeZone(s.timezone))
          problems.push(
            `@schedule timezone = ${show(s.timezone)} is invalid; expected an IANA time zone such as "UTC" or "Europe/Paris"`,
          );
        else timezone = s.timezone;
      }
      if (cron !== undefined) out.schedule = { cron, ...(timezone !== undefined ? { timezone } : {}) };
    }
  }
  for (const t of raw.triggers) {
    if (!isObj(t)) {
      problems.push(`@trigger = ${show(t)} is invalid; expected { event: "name" }`);
      continue;
    }
    for (const k of Object.keys(t))
      if (k !== "event") problems.push(`@trigger ${k} = ${show(t[k])} is an unknown option; allowed: event`);
    if (typeof t.event !== "string" || !EVENT_NAME.test(t.event))
      problems.push(
        `@trigger event = ${show(t.event)} is invalid; expected 1-63 letters, digits, '.', '_' or '-' starting with a letter or digit`,
      );
    else if (!out.events.includes(t.event)) out.events.push(t.event);
  }
  for (const t of raw.triggerOnFinish) {
    if (!isObj(t)) {
      problems.push(`@triggerOnFinish = ${show(t)} is invalid; expected { flow: "UpstreamFlow" }`);
      continue;
    }
    for (const k of Object.keys(t))
      if (k !== "flow") problems.push(`@triggerOnFinish ${k} = ${show(t[k])} is an unknown option; allowed: flow`);
    if (typeof t.flow !== "string" || !FLOW_NAME.test(t.flow))
      problems.push(`@triggerOnFinish flow = ${show(t.flow)} is invalid; expected the class name of a deployed flow`);
    else if (t.flow === flowName)
      problems.push(`@triggerOnFinish flow = ${show(t.flow)} is invalid; a flow cannot trigger itself`);
    else if (!out.upstreamFlows.includes(t.flow)) out.upstreamFlows.push(t.flow);
  }
  if (problems.length) throw new DeployDefinitionError(flowName, problems);
  return out;
}
