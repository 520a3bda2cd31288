/**
 * How a step decorator is written: bare (`@retry`), called (`@retry()`, `@retry({ times: 1 })`), and what is
 * refused where the decorator is written (on a class, a field or a static method, called with something that is
 * not an options object). A step decorator only records what it declares; it never replaces the method.
 */
import { DecoratorUsageError, describeValue } from "../errors.js";
import { describeContext } from "./meta.js";

/** A step method, as the decorators see it. */
export type StepMethod = (this: unknown, ...args: never[]) => unknown;
/** A TS 5 standard method decorator. */
export type StepDecorator = <M extends StepMethod>(method: M, context: ClassMethodDecoratorContext) => void;

const isPlainObject = (v: unknown): v is object =>
  typeof v === "object" && v !== null && !Array.isArray(v) && !(v instanceof Date) && !(v instanceof RegExp);

/**
 * The context of a standard decorator on a public instance method, or a {@link DecoratorUsageError} naming the
 * decorator and where it was put instead.
 */
export function methodContext(decorator: string, method: unknown, context: unknown): ClassMethodDecoratorContext {
  const c = context as Partial<ClassMethodDecoratorContext> | undefined;
  if (typeof c !== "object" || c === null || c.kind !== "method")
    throw new DecoratorUsageError(
      decorator,
      `applies to step methods; here it is on ${describeContext(context)}. Write it above a method: ${decorator} start() { ... }`,
    );
  if (c.static || c.private || typeof c.name !== "string")
    throw new DecoratorUsageError(
      decorator,
      `applies to public instance methods; ${String(c.name)} is ${c.static ? "static" : c.private ? "private" : "named by a symbol"}`,
    );
  if (typeof method !== "function")
    throw new DecoratorUsageError(decorator, `applies to methods; got ${describeValue(method)}`);
  return c as ClassMethodDecoratorContext;
}

/**
 * Implements a step decorator whose options are all optional, usable as `@name`, `@name()` and `@name({ ... })`.
 * `apply` validates and records the options (`{}` when none are given). Returns nothing in the bare form and a
 * decorator that returns nothing in the called forms, so the method is never replaced.
 */
export function optionalOptionsDecorator<O extends object>(
  decorator: string,
  first: unknown,
  second: unknown,
  form: string,
  apply: (options: Partial<O>, context: ClassMethodDecoratorContext) => void,
): StepDecorator | undefined {
  if (second !== undefined) {
    apply({}, methodContext(decorator, first, second));
    return undefined;
  }
  if (first !== undefined && !isPlainObject(first))
    throw new DecoratorUsageError(
      decorator,
      `takes no argument or one options object ${form}; got ${describeValue(first)}. Write ${decorator} or ${decorator}(${form})`,
    );
  const options = (first ?? {}) as Partial<O>;
  return (method, context) => apply(options, methodContext(decorator, method, context));
}

/**
 * Implements a step decorator that needs its options object (`@timeout({ minutes: 5 })`): the bare form and a
 * call without an object are refused where they are written.
 */
export function requiredOptionsDecorator<O extends object>(
  decorator: string,
  first: unknown,
  second: unknown,
  form: string,
  apply: (options: O, context: ClassMethodDecoratorContext) => void,
): StepDecorator {
  if (second !== undefined || typeof first === "function")
    throw new DecoratorUsageError(decorator, `needs its options: write ${decorator}(${form})`);
  if (!isPlainObject(first))
    throw new DecoratorUsageError(
      decorator,
      `takes one options object ${form}; got ${describeValue(first)}. Write ${decorator}(${form})`,
    );
  const options = first as O;
  return (method, context) => apply(options, methodContext(decorator, method, context));
}
