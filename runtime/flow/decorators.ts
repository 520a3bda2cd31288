/**
 * The flow decorators: `@step`, `@param`, and the step decorators `@retry`, `@timeout`, `@catchFailure`
 * (also exported as `catch`), `@environment`, `@resources`, `@parallel`.
 *
 * Those whose options are all optional work bare and called (`@retry`, `@retry()`, `@retry({ times: 1 })`).
 * A decorator written where it cannot work (on a class or a field, called with something that is not an options
 * object, twice on one step) throws a `DecoratorUsageError` when the class is defined. Bad option values are
 * recorded on the step and reported by the graph builder all at once (every bad option of every step in one error),
 * before any task starts.
 */
import { DecoratorArgumentError, OptionProblems } from "../errors.js";
import { addParam, addStepDecorator, addStepProblems, stepMetaFor, type ParamOptions } from "./meta.js";
import { MB, MIB, parseMegabytes, SIZE_UNITS_HELP } from "../contract/units.js";
import {
  methodContext,
  optionalOptionsDecorator,
  requiredOptionsDecorator,
  type StepDecorator,
  type StepMethod,
} from "./decorate.js";

export type { StepDecorator } from "./decorate.js";

/** Marks a method as a step of the flow. */
export function step<M extends StepMethod>(method: M, context: ClassMethodDecoratorContext): void {
  stepMetaFor(methodContext("@step", method, context)).isStep = true;
}

/**
 * Declares a flow parameter: a field set from the command line (`--name value`) and recorded with the run.
 * The type of `default` (or `type`) decides how CLI text is parsed and validated.
 */
export function param<T>(options: ParamOptions<T> = {}) {
  return (_value: undefined, context: ClassFieldDecoratorContext): void => {
    const allowedKeys = ["default", "help", "required", "type"];
    for (const k of Object.keys(options)) {
      if (!allowedKeys.includes(k))
        throw new DecoratorArgumentError(
          `(parameter ${String(context.name)})`,
          `@param ${k}`,
          (options as Record<string, unknown>)[k],
          `allowed options: ${allowedKeys.join(", ")}`,
        );
    }
    if (options.type !== undefined && !["string", "number", "boolean", "json"].includes(options.type))
      throw new DecoratorArgumentError(
        `(parameter ${String(context.name)})`,
        "@param type",
        options.type,
        "allowed: string, number, boolean, json",
      );
    addParam(context, options as ParamOptions);
  };
}

/** Collects the bad options of one decorator on one step; they are recorded on the step, not thrown. */
class Checker {
  readonly problems = new OptionProblems();
  constructor(
    readonly step: string,
    readonly decorator: string,
  ) {}
  /** Records a bad value of `option` (a name after the decorator, or "" for the whole options object). */
  bad(option: string, value: unknown, allowed: string): undefined {
    const label = option ? `@${this.decorator} ${option}` : `@${this.decorator}`;
    this.problems.add(new DecoratorArgumentError(this.step, label, value, allowed));
    return undefined;
  }
  /** Records each option name not in `allowed`. */
  keys(options: object, allowed: string[]): void {
    for (const k of Object.keys(options))
      if (!allowed.includes(k))
        this.bad(k, (options as Record<string, unknown>)[k], `unknown option; allowed: ${allowed.join(", ")}`);
  }
  /** A number >= 0 (whole when `integer`, at most `max`), or undefined after recording the problem. */
  nonNegative(option: string, v: unknown, integer: boolean, max = Infinity): number | undefined {
    if (typeof v !== "number" || !Number.isFinite(v) || v < 0 || (integer && !Number.isInteger(v)) || v > max)
      return this.bad(
        option,
        v,
        `expected a ${integer ? "whole " : ""}number >= 0${max < Infinity ? ` and <= ${max}` : ""}`,
      );
    return v;
  }
  /** Records the problems on the step (the graph builder reports them). */
  record(context: ClassMethodDecoratorContext): void {
    addStepProblems(context, this.problems.list);
  }
}

/** Options of `@retry`. */
export interface RetryOptions {
  /** How many times to retry a failed task (default 3; so up to 4 attempts). */
  times?: number;
  /** Minutes to wait between attempts (default 2, like Metaflow; 0 for none). */
  minutesBetweenRetries?: number;
}

/** Retries a failed task with the defaults (3 times, 2 minutes apart): `@retry`. */
export function retry<M extends StepMethod>(method: M, context: ClassMethodDecoratorContext): void;
/** Retries a failed task: every attempt is a fresh process (or Job) with its own logs. `@retry({ times: 1 })`. */
export function retry(options?: RetryOptions): StepDecorator;
export function retry(first?: unknown, second?: unknown): StepDecorator | void {
  return optionalOptionsDecorator<RetryOptions>(
    "@retry",
    first,
    second,
    "{ times?, minutesBetweenRetries? }",
    (options, context) => {
      const c = new Checker(String(context.name), "retry");
      c.keys(options, ["times", "minutesBetweenRetries"]);
      const times = c.nonNegative("times", options.times ?? 3, true, 100) ?? 3;
      const minutesBetweenRetries =
        c.nonNegative("minutesBetweenRetries", options.minutesBetweenRetries ?? 2, false, 24 * 60) ?? 2;
      c.record(context);
      addStepDecorator(context, "retry", { times, minutesBetweenRetries });
    },
  );
}

/** Options of `@timeout`: the sum of the given units is the limit for one attempt. */
export interface TimeoutOptions {
  /** Seconds. */
  seconds?: number;
  /** Minutes. */
  minutes?: number;
  /** Hours. */
  hours?: number;
}

/** Kills an attempt that runs longer than the limit; the attempt fails (and may be retried). */
export function timeout(options: TimeoutOptions): StepDecorator;
export function timeout(first: unknown, second?: unknown): StepDecorator {
  return requiredOptionsDecorator<TimeoutOptions>(
    "@timeout",
    first,
    second,
    "{ seconds?, minutes?, hours? }",
    (options, context) => {
      const c = new Checker(String(context.name), "timeout");
      c.keys(options, ["seconds", "minutes", "hours"]);
      const s = c.nonNegative("seconds", options.seconds ?? 0, false);
      const m = c.nonNegative("minutes", options.minutes ?? 0, false);
      const h = c.nonNegative("hours", options.hours ?? 0, false);
      let seconds = 0;
      if (s !== undefined && m !== undefined && h !== undefined) {
        seconds = s + 60 * m + 3600 * h;
        if (!(seconds > 0)) c.bad("", options, "the total of seconds + minutes + hours must be > 0");
      }
      c.record(context);
      addStepDecorator(context, "timeout", { seconds });
    },
  );
}

/** Options of `@catch`. */
export interface CatchOptions {
  /** Artifact that receives the failure ({ type, message, stack }) so later steps can inspect it. */
  var?: string;
  /** Print the failure (default true). */
  printException?: boolean;
}

const IDENT = /^[A-Za-z_$][\w$]*$/;

/** Lets the flow continue when every attempt of the step failed (`@catchFailure`). */
export function catchFailure<M extends StepMethod>(method: M, context: ClassMethodDecoratorContext): void;
/**
 * When every attempt of the step failed, records the failure in artifact `var` and lets the flow
 * continue along the step's transition instead of failing the run.
 */
export function catchFailure(options?: CatchOptions): StepDecorator;
export function catchFailure(first?: unknown, second?: unknown): StepDecorator | void {
  return optionalOptionsDecorator<CatchOptions>(
    "@catch",
    first,
    second,
    "{ var?, printException? }",
    (options, context) => {
      const c = new Checker(String(context.name), "catch");
      c.keys(options, ["var", "printException"]);
      if (options.var !== undefined && (typeof options.var !== "string" || !IDENT.test(options.var)))
        c.bad("var", options.var, 'expected an identifier to name the artifact, e.g. "failure"');
      if (options.printException !== undefined && typeof options.printException !== "boolean")
        c.bad("printException", options.printException, "expected true or false");
      c.record(context);
      addStepDecorator(context, "catch", {
        var: typeof options.var === "string" ? options.var : undefined,
        printException: options.printException !== false,
      });
    },
  );
}

/** Options of `@environment`. */
export interface EnvironmentOptions {
  /** Environment variables set for the step's process (and its pod on Kubernetes). */
  vars: Record<string, string>;
}

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Sets environment variables for the step. */
export function environment(options: EnvironmentOptions): StepDecorator;
export function environment(first: unknown, second?: unknown): StepDecorator {
  return requiredOptionsDecorator<EnvironmentOptions>(
    "@environment",
    first,
    second,
    '{ vars: { NAME: "value" } }',
    (options, context) => {
      const c = new Checker(String(context.name), "environment");
      c.keys(options, ["vars"]);
      const vars: Record<string, string> = {};
      if (typeof options.vars !== "object" || options.vars === null || Array.isArray(options.vars))
        c.bad("vars", options.vars, 'expected { vars: { NAME: "value" } }');
      else
        for (const [k, v] of Object.entries(options.vars)) {
          if (!ENV_NAME.test(k))
            c.bad("vars", k, "variable names are letters, digits and _ and do not start with a digit");
          else if (typeof v !== "string") c.bad(`vars.${k}`, v, "values must be strings");
          else vars[k] = v;
        }
      c.record(context);
      addStepDecorator(context, "environment", { vars });
    },
  );
}

/** Options of `@resources`: what the step needs wherever it runs (recorded locally, requested on Kubernetes). */
export interface ResourcesOptions {
  /** CPU cores (fractional allowed). */
  cpu?: number;
  /** Memory in MB, or a string with a unit ("16GB", "512Mi"). */
  memory?: number | string;
  /** Ephemeral disk in MB, or a string with a unit. */
  disk?: number | string;
  /** Number of GPUs (whole number; 0 = none). */
  gpu?: number;
  /** Shared memory (/dev/shm) in MiB. */
  sharedMemory?: number;
}

/** The normalized shape `@resources` records. */
export interface ResolvedResources {
  cpu?: number;
  memory?: number;
  disk?: number;
  gpu?: number;
  sharedMemory?: number;
}

/** Declares the step's resources with every default (`@resources`: recorded, nothing more requested). */
export function resources<M extends StepMethod>(method: M, context: ClassMethodDecoratorContext): void;
/** Declares what a step needs: cpu, memory, disk, gpu, sharedMemory. */
export function resources(options?: ResourcesOptions): StepDecorator;
export function resources(first?: unknown, second?: unknown): StepDecorator | void {
  return optionalOptionsDecorator<ResourcesOptions>(
    "@resources",
    first,
    second,
    "{ cpu?, memory?, disk?, gpu?, sharedMemory? }",
    (options, context) => {
      const c = new Checker(String(context.name), "resources");
      c.keys(options, ["cpu", "memory", "disk", "gpu", "sharedMemory"]);
      const out: ResolvedResources = {};
      if (options.cpu !== undefined) {
        if (typeof options.cpu !== "number" || !(options.cpu > 0) || !Number.isFinite(options.cpu))
          c.bad("cpu", options.cpu, "expected a number of cores > 0 (fractions allowed, e.g. 0.5)");
        else out.cpu = options.cpu;
      }
      for (const k of ["memory", "disk"] as const) {
        const v = options[k];
        if (v === undefined) continue;
        const mb = typeof v === "number" || typeof v === "string" ? parseMegabytes(v) : undefined;
        if (mb === undefined || !(mb > 0)) c.bad(k, v, `expected MB > 0: ${SIZE_UNITS_HELP}`);
        else out[k] = mb;
      }
      if (options.gpu !== undefined) {
        const g = c.nonNegative("gpu", options.gpu, true);
        if (g !== undefined) out.gpu = g;
      }
      if (options.sharedMemory !== undefined) {
        if (typeof options.sharedMemory !== "number" || !(options.sharedMemory > 0))
          c.bad("sharedMemory", options.sharedMemory, "expected MiB > 0");
        // sharedMemory is in MiB, memory in MB: compare bytes.
        else if (out.memory !== undefined && options.sharedMemory * MIB > out.memory * MB)
          c.bad(
            "sharedMemory",
            options.sharedMemory,
            `must not exceed memory (${out.memory} MB = ${Math.floor(((out.memory * MB) / MIB) * 100) / 100} MiB; sharedMemory is in MiB)`,
          );
        else out.sharedMemory = options.sharedMemory;
      }
      c.record(context);
      addStepDecorator(context, "resources", out);
    },
  );
}

/** Options of `@parallel`. */
export interface ParallelOptions {
  /** Number of nodes (>= 2) when the previous step calls plain `this.next(this.<step>)`; `numParallel` in `next` wins. */
  numNodes?: number;
}

/** Runs the step as a gang whose size the previous step gives (`this.next(this.train, { numParallel: 4 })`). */
export function parallel<M extends StepMethod>(method: M, context: ClassMethodDecoratorContext): void;
/**
 * Runs the step as a gang of N nodes started together (distributed training). Inside,
 * `current.parallel` gives { nodeIndex, numNodes, mainIp, controlTaskId }; node 0 is the control.
 * Reach it with `this.next(this.train, { numParallel: 4 })` or declare `@parallel({ numNodes: 4 })`;
 * a join after it receives every node's task.
 */
export function parallel(options?: ParallelOptions): StepDecorator;
export function parallel(first?: unknown, second?: unknown): StepDecorator | void {
  return optionalOptionsDecorator<ParallelOptions>("@parallel", first, second, "{ numNodes? }", (options, context) => {
    const c = new Checker(String(context.name), "parallel");
    c.keys(options, ["numNodes"]);
    let numNodes: number | undefined;
    if (options.numNodes !== undefined) {
      if (!Number.isInteger(options.numNodes) || options.numNodes < 2)
        c.bad("numNodes", options.numNodes, "expected a whole number >= 2 (a gang of one is a normal step)");
      else numNodes = options.numNodes;
    }
    c.record(context);
    addStepDecorator(context, "parallel", numNodes !== undefined ? { numNodes } : {});
  });
}

declare module "./meta.js" {
  /** What the decorators of this module record (see `flow/meta.ts`). */
  interface StepDecoratorOptions {
    retry: { times: number; minutesBetweenRetries: number };
    timeout: { seconds: number };
    catch: { var: string | undefined; printException: boolean };
    environment: { vars: Record<string, string> };
    resources: ResolvedResources;
    parallel: ParallelOptions;
  }
}
