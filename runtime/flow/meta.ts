/**
 * Where decorators record what they declare. TS 5 standard decorators write into
 * `context.metadata`; the graph builder reads it back from the class. Keys are global
 * (`Symbol.for`) so a flow bundled with its own copy of the runtime interoperates with the CLI's.
 */

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
        Object.entries(parent?.steps ?? {}).map(([k, v]) => [k, { ...v, decorators: { ...v.decorators } }]),
      ),
      params: { ...(parent?.params ?? {}) },
    } satisfies FlowMeta;
  }
  return bag[META_KEY] as FlowMeta;
}

/** The step record for a decorated method, created on first use. */
export function stepMetaFor(context: ClassMethodDecoratorContext): StepMeta {
  if (context.static || context.private || typeof context.name !== "string")
    throw new TypeError(`kubestep decorators apply to public instance methods; got ${String(context.name)}`);
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
  const s = stepMetaFor(context);
  if (s.decorators[name]) throw new TypeError(`step ${s.name}: @${name} is applied twice`);
  s.decorators[name] = { name, options };
}

/** Records a parameter. */
export function addParam(context: ClassFieldDecoratorContext, options: ParamOptions): void {
  if (context.static || context.private || typeof context.name !== "string")
    throw new TypeError(`@param applies to public instance fields; got ${String(context.name)}`);
  own(context.metadata as MetadataBag).params[context.name] = { name: context.name, options };
}

/** Reads the declarations of a flow class (empty when it has none). */
export function flowMetaOf(cls: Function): FlowMeta {
  const md = (cls as unknown as Record<symbol, MetadataBag | undefined>)[Symbol.metadata as symbol];
  return (md?.[META_KEY] as FlowMeta | undefined) ?? { steps: {}, params: {} };
}
