/**
 * Where decorators record what they declare. TS 5 standard decorators write into
 * `context.metadata`; the graph builder reads it back from the class. Keys are global
 * (`Symbol.for`) so a flow bundled with its own copy of the runtime interoperates with the CLI's.
 */

import { DecoratorUsageError, type OptionProblem } from "../errors.js";

// Node 20 has no Symbol.metadata; decorator lowering (TypeScript, esbuild) uses it when present.
(Symbol as { metadata?: symbol }).metadata ??= Symbol.for("Symbol.metadata");

export const META_KEY: unique symbol = Symbol.for("kubestep.flow.meta") as never;

/** One decorator applied to a step, with its validated options. */
export interface StepDecoratorRecord<T = unknown> {
  /** Decorator name without `@`, e.g. `retry`, `kubernetes`. */
  name: string;
  /** Validated options. */
  options: T;
}

/**
 * The options each step decorator records, by decorator name. Each decorator's module adds its entry by
 * declaration merging (`declare module "./meta.js" { interface StepDecoratorOptions { retry: ... } }`), so
 * readers get the recorded type without a cast.
 */
// eslint-disable-next-line @typescript-eslint/no-empty-object-type -- filled by declaration merging, see above
export interface StepDecoratorOptions {}

/** The decorators of one step, by name: typed for the known ones, {@link StepDecoratorRecord} for any other. */
export type StepDecorators = {
  [K in keyof StepDecoratorOptions]?: StepDecoratorRecord<StepDecoratorOptions[K]>;
} & Record<string, StepDecoratorRecord>;

/** Everything declared on one step method. */
export interface StepMeta {
  /** Method name. */
  name: string;
  /** Whether `@step` was applied. */
  isStep: boolean;
  /** Other decorators, by name (one of each). */
  decorators: StepDecorators;
  /**
   * Bad option values of its decorators, recorded when the class is defined and reported by the graph builder all
   * together (every bad option of every step in one error). Absent when there are none.
   */
  problems?: OptionProblem[];
}

/** Options of `@param`. */
export interface ParamOptions<T = unknown> {
  /** Default value when the CLI does not give one; its type decides how CLI text is parsed. */
  default?: T;
  /** Help text shown by `kubestep run --help`. */
  help?: string;
  /** Parameter must be given (no default). */
  required?: boolean;
  /** Explicit type when there is no default. */
  type?: "string" | "number" | "boolean" | "json";
}

/** A declared parameter. */
export interface ParamMeta {
  /** Field name; the CLI flag is `--<name>`. */
  name: string;
  /** Its options. */
  options: ParamOptions;
}

/** What a flow class declares. */
export interface FlowMeta {
  steps: Record<string, StepMeta>;
  params: Record<string, ParamMeta>;
}

type MetadataBag = Record<PropertyKey, unknown>;

function own(bag: MetadataBag): FlowMeta {
  if (!Object.prototype.hasOwnProperty.call(bag, META_KEY)) {
    // Subclass metadata objects inherit from the parent's: copy the parent's declarations.
    const parent = bag[META_KEY] as FlowMeta | undefined;
    bag[META_KEY] = {
      steps: Object.fromEntries(
        Object.entries(parent?.steps ?? {}).map(([k, v]) => [
          k,
          { ...v, decorators: { ...v.decorators }, ...(v.problems ? { problems: [...v.problems] } : {}) },
        ]),
      ),
      params: { ...(parent?.params ?? {}) },
    } satisfies FlowMeta;
  }
  return bag[META_KEY] as FlowMeta;
}

/** The step record for a decorated method, created on first use. `decorator` names the decorator in errors. */
export function stepMetaFor(context: ClassMethodDecoratorContext, decorator = "@step"): StepMeta {
  if (typeof context !== "object" || context === null || context.kind !== "method")
    throw new DecoratorUsageError(
      decorator,
      `applies to step methods; here it is on ${describeContext(context)}. Write it above a method: ${decorator} start() { ... }`,
    );
  if (context.static || context.private || typeof context.name !== "string")
    throw new DecoratorUsageError(
      decorator,
      `applies to public instance methods; ${String(context.name)} is ${context.static ? "static" : context.private ? "private" : "named by a symbol"}`,
    );
  const meta = own(context.metadata as MetadataBag);
  return (meta.steps[context.name] ??= { name: context.name, isStep: false, decorators: {} });
}

/**
 * Records a step decorator. Used by every step decorator (`@retry`, `@kubernetes`, ...).
 * Throws if the same decorator is applied twice to one step.
 */
export function addStepDecorator<K extends string>(
  context: ClassMethodDecoratorContext,
  name: K,
  options: K extends keyof StepDecoratorOptions ? StepDecoratorOptions[K] : unknown,
): void {
  const s = stepMetaFor(context, `@${name}`);
  if (s.decorators[name])
    throw new DecoratorUsageError(`@${name}`, `step ${s.name}: @${name} is applied twice; keep one`);
  s.decorators[name] = { name, options };
}

/** Records bad option values of a step's decorator, for the graph builder to report with every other. */
export function addStepProblems(context: ClassMethodDecoratorContext, problems: readonly OptionProblem[]): void {
  if (!problems.length) return;
  const s = stepMetaFor(context);
  (s.problems ??= []).push(...problems);
}

/** Every recorded bad option of a flow class, steps in definition order. */
export function stepProblemsOf(meta: FlowMeta): OptionProblem[] {
  return Object.values(meta.steps).flatMap((s) => s.problems ?? []);
}

/** Describes where a decorator was applied, from its (standard or legacy) context. */
export function describeContext(context: unknown): string {
  if (typeof context === "string" || typeof context === "symbol")
    return `${String(context)} with legacy (experimentalDecorators) arguments; kubestep uses TypeScript 5 standard decorators: remove experimentalDecorators from tsconfig.json`;
  if (typeof context === "object" && context !== null && typeof (context as { kind?: unknown }).kind === "string") {
    const c = context as { kind: string; name?: unknown };
    return c.kind === "class" ? `the class ${String(c.name ?? "(anonymous)")}` : `the ${c.kind} ${String(c.name)}`;
  }
  return "something that is not a class member (called as a plain function?)";
}

/** Records a parameter. */
export function addParam(context: ClassFieldDecoratorContext, options: ParamOptions): void {
  if (typeof context !== "object" || context === null || context.kind !== "field")
    throw new DecoratorUsageError("@param", `applies to class fields; here it is on ${describeContext(context)}`);
  if (context.static || context.private || typeof context.name !== "string")
    throw new DecoratorUsageError("@param", `applies to public instance fields; got ${String(context.name)}`);
  own(context.metadata as MetadataBag).params[context.name] = { name: context.name, options };
}

/** Reads the declarations of a flow class (empty when it has none). */
export function flowMetaOf(cls: Function): FlowMeta {
  const md = (cls as unknown as Record<symbol, MetadataBag | undefined>)[Symbol.metadata as symbol];
  return (md?.[META_KEY] as FlowMeta | undefined) ?? { steps: {}, params: {} };
}
