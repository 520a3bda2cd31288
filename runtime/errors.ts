/** Errors the runtime raises for bad user input; each names what is wrong and what is allowed. */

/** A flow definition error: bad graph, bad decorator argument, bad parameter. Raised before anything runs. */
export class FlowDefinitionError extends Error {
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
export class ParameterError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ParameterError";
  }
}

/** Raised inside a task when an artifact cannot be stored. */
export class ArtifactError extends Error {
  constructor(message: string) {
    super(message);
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
