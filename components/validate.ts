/**
 * Input validation shared by the kubestep components. Each check throws
 * `pulumi.InputPropertyError` naming the property, the bad value and what is allowed; the
 * components run their checks through {@link Problems} / {@link validateAll}, which collect every
 * problem and throw one `pulumi.InputPropertiesError` listing them all, so `pulumi preview` prints
 * every mistake at once before anything is created.
 */
import * as pulumi from "@pulumi/pulumi";
import { isDnsLabel } from "../runtime/contract/index.js";

/** Renders a bad value for an error message. */
export function shown(v: unknown): string {
  if (v === undefined) return "nothing";
  try {
    return JSON.stringify(v);
  } catch {
    return String(v);
  }
}

/** Throws an `InputPropertyError` for `propertyPath` unless `ok`. */
export function ensure(ok: boolean, propertyPath: string, reason: string): asserts ok {
  if (!ok) throw new pulumi.InputPropertyError({ propertyPath, reason });
}

/** Requires `value` to be one of `allowed`. */
export function requireOneOf<T extends string>(
  value: unknown,
  allowed: readonly T[],
  propertyPath: string,
): asserts value is T {
  ensure(
    typeof value === "string" && (allowed as readonly string[]).includes(value),
    propertyPath,
    `must be one of ${allowed.map((a) => JSON.stringify(a)).join(", ")} (got ${shown(value)})`,
  );
}

/** Requires a valid DNS-1123 label of at most 63 characters. */
export function requireDnsLabel(value: unknown, propertyPath: string): asserts value is string {
  ensure(
    typeof value === "string" && isDnsLabel(value),
    propertyPath,
    `must be a Kubernetes name: lower-case letters, digits and '-', starting and ending with a letter or digit, at most 63 characters (got ${shown(value)})`,
  );
}

/** Requires a non-empty string. */
export function requireString(value: unknown, propertyPath: string): asserts value is string {
  ensure(typeof value === "string" && value !== "", propertyPath, `must be a non-empty string (got ${shown(value)})`);
}

/** Requires an integer in `[min, max]`. */
export function requireInt(
  value: unknown,
  propertyPath: string,
  min: number,
  max = Number.MAX_SAFE_INTEGER,
): asserts value is number {
  ensure(
    typeof value === "number" && Number.isInteger(value) && value >= min && value <= max,
    propertyPath,
    `must be an integer from ${min}${max === Number.MAX_SAFE_INTEGER ? " up" : ` to ${max}`} (got ${shown(value)})`,
  );
}

/** True when `v` is a plain value (not an `Output` or a promise) whose validity can be checked now. */
export function isKnown<T>(v: pulumi.Input<T> | undefined): v is T | undefined {
  return !pulumi.Output.isInstance(v) && !(v instanceof Promise);
}

/**
 * Runs `check` on an input now when it is a plain value, or when it resolves otherwise (an
 * invalid resolved value then fails the deployment with the same error).
 */
export function checkInput<T>(v: pulumi.Input<T> | undefined, check: (value: T | undefined) => void): void {
  if (isKnown(v)) check(v);
  else void pulumi.output(v).apply((x) => check(x as T | undefined));
}

/** True when `v` holds no `Output` or promise anywhere, so it can be validated synchronously. */
export function deepKnown(v: unknown): boolean {
  if (pulumi.Output.isInstance(v) || v instanceof Promise) return false;
  if (Array.isArray(v)) return v.every(deepKnown);
  if (typeof v === "object" && v !== null) return Object.values(v).every(deepKnown);
  return true;
}

/**
 * Resolves `args` and computes `spec(plainArgs)`. When `args` holds only plain values, `spec`
 * runs right now too, so invalid input throws `InputPropertyError` from the constructor.
 */
export function resolveSpec<A, S>(args: A, spec: (plain: pulumi.Unwrap<A>) => S): pulumi.Output<S> {
  if (deepKnown(args)) spec(args as pulumi.Unwrap<A>);
  return pulumi.output(args).apply((plain) => spec(plain as pulumi.Unwrap<A>)) as pulumi.Output<S>;
}

/**
 * Collects the problems of a component's arguments so that all of them are reported at once.
 * Each {@link Problems.check} runs one independent check; an `InputPropertyError` (or
 * `InputPropertiesError`) it throws is recorded (paths prefixed with `prefix`) instead of
 * stopping the validation. {@link Problems.throwIfAny} then throws one
 * `pulumi.InputPropertiesError` listing every problem.
 */
export class Problems {
  /** Every problem recorded so far. */
  readonly errors: pulumi.InputPropertyErrorDetails[] = [];

  /** Runs `check`; records the input errors it throws (other errors propagate). Returns false when it failed. */
  check(check: () => void, prefix = ""): boolean {
    try {
      check();
      return true;
    } catch (e) {
      if (pulumi.InputPropertyError.isInstance(e))
        this.errors.push({ propertyPath: joinPath(prefix, e.propertyPath), reason: e.reason });
      else if (pulumi.InputPropertiesError.isInstance(e))
        for (const x of e.errors)
          this.errors.push({ propertyPath: joinPath(prefix, x.propertyPath), reason: x.reason });
      else throw e;
      return false;
    }
  }

  /** Records a problem unless `ok`. */
  ensure(ok: boolean, propertyPath: string, reason: string): boolean {
    if (!ok) this.errors.push({ propertyPath, reason });
    return ok;
  }

  /** Throws one `InputPropertiesError` naming every recorded problem of `component`, if any. */
  throwIfAny(component: string): void {
    if (this.errors.length === 0) return;
    const lines = this.errors.map((e) => `  - ${e.propertyPath}: ${e.reason}`).join("\n");
    throw new pulumi.InputPropertiesError({
      message: `invalid arguments of ${component} (${this.errors.length} problem${this.errors.length > 1 ? "s" : ""}):\n${lines}`,
      errors: [...this.errors],
    });
  }
}

function joinPath(prefix: string, path: string): string {
  if (!prefix) return path;
  if (!path) return prefix;
  return path.startsWith("[") ? `${prefix}${path}` : `${prefix}.${path}`;
}

/**
 * Runs `body` with a fresh {@link Problems} and throws every problem it recorded at once
 * (`InputPropertiesError`); otherwise returns what `body` returned.
 */
export function validateAll<T>(component: string, body: (p: Problems) => T): T {
  const p = new Problems();
  let out: T | undefined;
  p.check(() => {
    out = body(p);
  });
  p.throwIfAny(component);
  return out as T;
}
