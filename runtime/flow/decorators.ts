/**
 * The flow decorators: `@step`, `@param`, and the step decorators `@retry`, `@timeout`, `@catchFailure`
 * (also exported as `catch`), `@environment`, `@resources`. Each validates its arguments when the class
 * is defined, so a bad argument fails `kubestep run` before any task starts.
 */
import { DecoratorArgumentError } from "../errors.js";
import { addParam, addStepDecorator, stepMetaFor, type ParamOptions } from "./meta.js";
import { MB, MIB, parseMegabytes, SIZE_UNITS_HELP } from "../contract/units.js";

type StepMethod = (this: unknown, ...args: never[]) => unknown;
/** A TS 5 standard method decorator. */
export type StepDecorator = <M extends StepMethod>(method: M, context: ClassMethodDecoratorContext) => void;

/** Marks a method as a step of the flow. */
export function step<M extends StepMethod>(_method: M, context: ClassMethodDecoratorContext): void {
  stepMetaFor(context).isStep = true;
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

function checkKeys(stepName: string, deco: string, options: object, allowed: string[]): void {
  for (const k of Object.keys(options)) {
    if (!allowed.includes(k))
      throw new DecoratorArgumentError(
        stepName,
        `@${deco} ${k}`,
        (options as Record<string, unknown>)[k],
        `unknown option; allowed: ${allowed.join(", ")}`,
      );
  }
}

function nonNegative(stepName: string, option: string, v: unknown, integer: boolean, max = Infinity): number {
  if (typeof v !== "number" || !Number.isFinite(v) || v < 0 || (integer && !Number.isInteger(v)) || v > max)
    throw new DecoratorArgumentError(
      stepName,
      option,
      v,
      `expected a ${integer ? "whole" : ""} number >= 0${max < Infinity ? ` and <= ${max}` : ""}`.replace(
        "a  number",
        "a number",
      ),
    );
  return v;
}

/** Options of `@retry`. */
export interface RetryOptions {
  /** How many times to retry a failed task (default 3; so up to 4 attempts). */
  times?: number;
  /** Minutes to wait between attempts (default 2, like Metaflow; 0 for none). */
  minutesBetweenRetries?: number;
}

/** Retries a failed task: every attempt is a fresh process (or Job) with its own logs. */
export function retry(options: RetryOptions = {}): StepDecorator {
  return (_m, context) => {
    const s = String(context.name);
    checkKeys(s, "retry", options, ["times", "minutesBetweenRetries"]);
    const times = nonNegative(s, "@retry times", options.times ?? 3, true, 100);
    const minutesBetweenRetries = nonNegative(
      s,
      "@retry minutesBetweenRetries",
      options.minutesBetweenRetries ?? 2,
      false,
      24 * 60,
    );
    addStepDecorator(context, "retry", { times, minutesBetweenRetries });
  };
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
export function timeout(options: TimeoutOptions): StepDecorator {
  return (_m, context) => {
    const s = String(context.name);
    if (typeof options !== "object" || options === null)
      throw new DecoratorArgumentError(s, "@timeout", options, "expected { seconds?, minutes?, hours? }");
    checkKeys(s, "timeout", options, ["seconds", "minutes", "hours"]);
    const seconds =
      nonNegative(s, "@timeout seconds", options.seconds ?? 0, false) +
      60 * nonNegative(s, "@timeout minutes", options.minutes ?? 0, false) +
      3600 * nonNegative(s, "@timeout hours", options.hours ?? 0, false);
    if (!(seconds > 0))
      throw new DecoratorArgumentError(s, "@timeout", options, "the total of seconds + minutes + hours must be > 0");
    addStepDecorator(context, "timeout", { seconds });
  };
}

/** Options of `@catch`. */
export interface CatchOptions {
  /** Artifact that receives the failure ({ type, message, stack }) so later steps can inspect it. */
  var?: string;
  /** Print the failure (default true). */
  printException?: boolean;
}

const IDENT = /^[A-Za-z_$][\w$]*$/;

/**
 * When every attempt of the step failed, records the failure in artifact `var` and lets the flow
 * continue along the step's transition instead of failing the run.
 */
export function catchFailure(options: CatchOptions = {}): StepDecorator {
  return (_m, context) => {
    const s = String(context.name);
    checkKeys(s, "catch", options, ["var", "printException"]);
    if (options.var !== undefined && (typeof options.var !== "string" || !IDENT.test(options.var)))
      throw new DecoratorArgumentError(
        s,
        "@catch var",
        options.var,
        'expected an identifier to name the artifact, e.g. "failure"',
      );
    addStepDecorator(context, "catch", { var: options.var, printException: options.printException ?? true });
  };
}

/** Options of `@environment`. */
export interface EnvironmentOptions {
  /** Environment variables set for the step's process (and its pod on Kubernetes). */
  vars: Record<string, string>;
}

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Sets environment variables for the step. */
export function environment(options: EnvironmentOptions): StepDecorator {
  return (_m, context) => {
    const s = String(context.name);
    if (typeof options !== "object" || options === null || typeof options.vars !== "object" || options.vars === null)
      throw new DecoratorArgumentError(s, "@environment vars", options, 'expected { vars: { NAME: "value" } }');
    checkKeys(s, "environment", options, ["vars"]);
    for (const [k, v] of Object.entries(options.vars)) {
      if (!ENV_NAME.test(k))
        throw new DecoratorArgumentError(
          s,
          "@environment vars",
          k,
          "variable names are letters, digits and _ and do not start with a digit",
        );
      if (typeof v !== "string")
        throw new DecoratorArgumentError(s, `@environment vars.${k}`, v, "values must be strings");
    }
    addStepDecorator(context, "environment", { vars: { ...options.vars } });
  };
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

/** Declares what a step needs: cpu, memory, disk, gpu, sharedMemory. */
export function resources(options: ResourcesOptions): StepDecorator {
  return (_m, context) => {
    const s = String(context.name);
    checkKeys(s, "resources", options, ["cpu", "memory", "disk", "gpu", "sharedMemory"]);
    const out: ResolvedResources = {};
    if (options.cpu !== undefined) {
      if (typeof options.cpu !== "number" || !(options.cpu > 0) || !Number.isFinite(options.cpu))
        throw new DecoratorArgumentError(
          s,
          "@resources cpu",
          options.cpu,
          "expected a number of cores > 0 (fractions allowed, e.g. 0.5)",
        );
      out.cpu = options.cpu;
    }
    for (const k of ["memory", "disk"] as const) {
      const v = options[k];
      if (v === undefined) continue;
      const mb = typeof v === "number" || typeof v === "string" ? parseMegabytes(v) : undefined;
      if (mb === undefined || !(mb > 0))
        throw new DecoratorArgumentError(s, `@resources ${k}`, v, `expected MB > 0: ${SIZE_UNITS_HELP}`);
      out[k] = mb;
    }
    if (options.gpu !== undefined) out.gpu = nonNegative(s, "@resources gpu", options.gpu, true);
    if (options.sharedMemory !== undefined) {
      if (typeof options.sharedMemory !== "number" || !(options.sharedMemory > 0))
        throw new DecoratorArgumentError(s, "@resources sharedMemory", options.sharedMemory, "expected MiB > 0");
      out.sharedMemory = options.sharedMemory;
      // sharedMemory is in MiB, memory in MB: compare bytes.
      if (out.memory !== undefined && out.sharedMemory * MIB > out.memory * MB)
        throw new DecoratorArgumentError(
          s,
          "@resources sharedMemory",
          options.sharedMemory,
          `must not exceed memory (${out.memory} MB = ${Math.floor(((out.memory * MB) / MIB) * 100) / 100} MiB; sharedMemory is in MiB)`,
        );
    }
    addStepDecorator(context, "resources", out);
  };
}

/** Options of `@parallel`. */
export interface ParallelOptions {
  /** Number of nodes (>= 2) when the previous step calls plain `this.next(this.<step>)`; `numParallel` in `next` wins. */
  numNodes?: number;
}

/**
 * Runs the step as a gang of N nodes started together (distributed training). Inside,
 * `current.parallel` gives { nodeIndex, numNodes, mainIp, controlTaskId }; node 0 is the control.
 * Reach it with `this.next(this.train, { numParallel: 4 })` or declare `@parallel({ numNodes: 4 })`;
 * a join after it receives every node's task.
 */
export function parallel(options: ParallelOptions = {}): StepDecorator {
  return (_m, context) => {
    const s = String(context.name);
    checkKeys(s, "parallel", options, ["numNodes"]);
    if (options.numNodes !== undefined && (!Number.isInteger(options.numNodes) || options.numNodes < 2))
      throw new DecoratorArgumentError(
        s,
        "@parallel numNodes",
        options.numNodes,
        "expected a whole number >= 2 (a gang of one is a normal step)",
      );
    addStepDecorator(context, "parallel", {
      ...(options.numNodes !== undefined ? { numNodes: options.numNodes } : {}),
    });
  };
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
