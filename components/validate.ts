/**
 * Input validation shared by the kubestep components. Every check throws
 * `pulumi.InputPropertyError` naming the property, the bad value and what is allowed, so
 * `pulumi preview` prints a precise message before anything is created.
 */
import * as pulumi from "@pulumi/pulumi";

/** Kubernetes DNS-1123 label (namespace, service account names). */
export const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
/** Kubernetes DNS-1123 subdomain (Role, RoleBinding names). */
export const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;

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
export function requireOneOf<T extends string>(value: unknown, allowed: readonly T[], propertyPath: string): asserts value is T {
  ensure(
    typeof value === "string" && (allowed as readonly string[]).includes(value),
    propertyPath,
    `must be one of ${allowed.map((a) => JSON.stringify(a)).join(", ")} (got ${shown(value)})`,
  );
}

/** Requires a valid DNS-1123 label of at most 63 characters. */
export function requireDnsLabel(value: unknown, propertyPath: string): asserts value is string {
  ensure(
    typeof value === "string" && value.length <= 63 && DNS_LABEL.test(value),
    propertyPath,
    `must be a Kubernetes name: lower-case letters, digits and '-', starting and ending with a letter or digit, at most 63 characters (got ${shown(value)})`,
  );
}

/** Requires a non-empty string. */
export function requireString(value: unknown, propertyPath: string): asserts value is string {
  ensure(typeof value === "string" && value !== "", propertyPath, `must be a non-empty string (got ${shown(value)})`);
}

/** Requires an integer in `[min, max]`. */
export function requireInt(value: unknown, propertyPath: string, min: number, max = Number.MAX_SAFE_INTEGER): asserts value is number {
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
