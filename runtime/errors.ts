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
