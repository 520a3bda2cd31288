/** Errors the runtime raises for bad user input; each names what is wrong and what is allowed. */

/** The brand of every {@link KubestepError}: a registered symbol, so it survives a second copy of the runtime. */
const ERROR_BRAND = Symbol.for("kubestep.error");

/**
 * The base of every error kubestep raises for bad input or configuration. It carries the exit code the CLI
 * ends with (2 unless a subclass says otherwise), and the CLI prints its message without a stack.
 *
 * Recognise one with {@link isKubestepError}, not `instanceof`: a flow's decorators run inside its code
 * package, which bundles its own copy of the runtime, so their errors are instances of the other copy's class.
 */
export class KubestepError extends Error {
  /** Exit code of the CLI when this error ends a command. */
  readonly exitCode: number;
  /** The brand {@link isKubestepError} checks. */
  readonly [ERROR_BRAND] = true;

  constructor(message: string, exitCode = 2) {
    super(message);
    this.name = "KubestepError";
    this.exitCode = exitCode;
  }
}

/** Whether `e` is a {@link KubestepError} from any copy of the runtime (checks the brand, not the class). */
export function isKubestepError(e: unknown): e is KubestepError {
  return (
    typeof e === "object" &&
    e !== null &&
    (e as Record<symbol, unknown>)[ERROR_BRAND] === true &&
    typeof (e as { exitCode?: unknown }).exitCode === "number"
  );
}

/** A flow definition error: bad graph, bad decorator argument, bad parameter. Raised before anything runs. */
export class FlowDefinitionError extends KubestepError {
  constructor(message: string) {
    super(message);
    this.name = "FlowDefinitionError";
  }
}

/** A bad decorator argument: names the step, the decorator option, the bad value and what is allowed. */
export class DecoratorArgumentError extends FlowDefinitionError {
  constructor(
    /** Step the decorator is on. */
    readonly step: string,
    /** Decorator and option, e.g. `@retry times`. */
    readonly option: string,
    /** The bad value. */
    readonly value: unknown,
    /** What is allowed. */
    readonly allowed: string,
  ) {
    super(`step ${step}: ${option} = ${describeValue(value)} is invalid; ${allowed}`);
    this.name = "DecoratorArgumentError";
  }
}

/** The shape of a {@link DecoratorArgumentError} from any copy of the runtime (a flow bundles its own). */
export interface OptionProblem {
  /** Step (or `(all steps)`, `(parameter x)`) the option belongs to. */
  readonly step: string;
  /** Where the option was given and its name, e.g. `@kubernetes cpu`, `KUBESTEP_KUBERNETES_CPU`. */
  readonly option: string;
  /** The bad value. */
  readonly value: unknown;
  /** What is allowed. */
  readonly allowed: string;
  /** The full one-line message. */
  readonly message: string;
}

/**
 * Several bad options at once (of one step or of many), each a {@link DecoratorArgumentError}. Raised before
 * anything runs, so a user fixes every problem in one go instead of one per attempt.
 */
export class InvalidOptionsError extends FlowDefinitionError {
  constructor(
    /** Every problem, in the order found (steps in definition order, options in the order given). */
    readonly problems: readonly OptionProblem[],
  ) {
    super(`${problems.length} invalid options:\n  - ${problems.map((p) => p.message).join("\n  - ")}`);
    this.name = "InvalidOptionsError";
  }
}

/** Whether `e` is a single bad-option error (from any copy of the runtime). */
export function isOptionProblem(e: unknown): e is OptionProblem & KubestepError {
  return (
    isKubestepError(e) &&
    typeof (e as Partial<OptionProblem>).step === "string" &&
    typeof (e as Partial<OptionProblem>).option === "string" &&
    typeof (e as Partial<OptionProblem>).allowed === "string"
  );
}

/** The single problems inside `e` (itself, or an {@link InvalidOptionsError}'s list); undefined for any other error. */
export function optionProblemsOf(e: unknown): OptionProblem[] | undefined {
  if (isOptionProblem(e)) return [e];
  const list = isKubestepError(e) ? (e as { problems?: unknown }).problems : undefined;
  if (Array.isArray(list) && list.every((p) => isOptionProblem(p))) return [...(list as OptionProblem[])];
  return undefined;
}

/**
 * Collects bad options: {@link OptionProblems.check} runs a validation and keeps its problems instead of stopping;
 * {@link OptionProblems.throwIfAny} then throws them together (the error itself when there is one, an
 * {@link InvalidOptionsError} when there are several). Errors that are not bad options propagate at once.
 */
export class OptionProblems {
  /** The problems found so far. */
  readonly list: OptionProblem[] = [];

  /** Runs `fn`; returns its result, or undefined (recording the problems) when it throws bad options. */
  check<T>(fn: () => T): T | undefined {
    try {
      return fn();
    } catch (e) {
      const found = optionProblemsOf(e);
      if (!found) throw e;
      this.add(...found);
      return undefined;
    }
  }

  /** Records problems found elsewhere (skipping exact repeats). */
  add(...problems: OptionProblem[]): void {
    for (const p of problems) if (!this.list.some((q) => q.message === p.message)) this.list.push(p);
  }

  /** Throws what was collected, if anything. */
  throwIfAny(): void {
    if (this.list.length === 1) throw this.list[0];
    if (this.list.length > 1) throw new InvalidOptionsError(this.list);
  }
}

/**
 * A decorator used where it cannot work (on a class, a field or a static method, called with something that is not
 * an options object, applied twice): raised where the decorator is written, when the class is defined.
 */
export class DecoratorUsageError extends FlowDefinitionError {
  constructor(
    /** Decorator name with its `@`. */
    readonly decorator: string,
    /** What is wrong and how to write it. */
    problem: string,
  ) {
    super(`${decorator}: ${problem}`);
    this.name = "DecoratorUsageError";
  }
}

/** A bad parameter value on the command line. */
export class ParameterError extends KubestepError {
  constructor(message: string) {
    super(message);
    this.name = "ParameterError";
  }
}

/** Raised inside a task when an artifact cannot be stored (the task fails; exit code 1). */
export class ArtifactError extends KubestepError {
  constructor(message: string) {
    super(message, 1);
    this.name = "ArtifactError";
  }
}

/** Short, safe rendering of a user value for error messages. */
export function describeValue(v: unknown): string {
  if (typeof v === "string") return JSON.stringify(v);
  if (typeof v === "bigint") return `${v}n`;
  if (typeof v === "function") return `function ${v.name || "(anonymous)"}`;
  if (v === undefined) return "undefined";
  try {
    const s = JSON.stringify(v);
    return s.length > 120 ? s.slice(0, 117) + "..." : s;
  } catch {
    return String(v);
  }
}

/**
 * Stored bytes that do not match the sha256 they are addressed by (an artifact or a code package changed or
 * damaged after it was written). Names what was read, where from, and both hashes; exit code 1.
 */
export class IntegrityError extends KubestepError {
  constructor(
    message: string,
    /** The sha256 the object is addressed by. */
    readonly expected: string,
    /** The sha256 of the bytes actually read. */
    readonly actual: string,
    /** The datastore key of the object. */
    readonly key: string,
  ) {
    super(message, 1);
    this.name = "IntegrityError";
  }
}

/** A stored metadata file (run.json, task.json, result.json, ...) that is not valid JSON or lacks a field; exit code 1. */
export class MetadataError extends KubestepError {
  constructor(
    message: string,
    /** The datastore key of the file. */
    readonly key: string,
  ) {
    super(message, 1);
    this.name = "MetadataError";
  }
}
