/**
 * FlowSpec: the base class of every flow. A flow is a class whose `@step` methods call
 * `this.next(...)` to say what runs after them. Every field a step sets is an artifact.
 */
import { FlowDefinitionError } from "../errors.js";

/** Marks FlowSpec subclasses across copies of the runtime (the CLI's and a bundled flow's). */
export const FLOWSPEC_MARK: unique symbol = Symbol.for("kubestep.FlowSpec") as never;
/** Where the task runtime keeps its per-instance state on a flow object. */
export const TASK_STATE: unique symbol = Symbol.for("kubestep.taskState") as never;

/** Options of `this.next(...)`. */
export interface NextOptions {
  /** Fan out: one task of the target step per element of this artifact (an array or iterable). */
  foreach?: string;
  /** Gang-schedule N tasks of the target `@parallel` step. */
  numParallel?: number;
}

/** The transition a step took, recorded by `this.next`. */
export interface Transition {
  /** Target step names. */
  targets: string[];
  /** Foreach artifact name, when fanning out. */
  foreach?: string;
  /** Number of parallel nodes, for `@parallel` targets. */
  numParallel?: number;
}

/** The per-input view a join step receives: the artifacts of one incoming task. */
export type InputTask<T = Record<string, unknown>> = Readonly<T>;

/**
 * What a join step receives: one entry per incoming task, in foreach-index order (or branch order).
 * `byStep("a")` gives the input that came from step `a` in a static branch.
 */
export type Inputs<T = Record<string, unknown>> = ReadonlyArray<InputTask<T>> & {
  /** The input that came from the given step (static branches). */
  byStep(step: string): InputTask<T>;
};

/** Options of {@link FlowSpec.mergeArtifacts}. */
export interface MergeOptions {
  /** Artifact names not to merge (e.g. ones that differ per branch and that you handle yourself). */
  exclude?: string[];
  /** Only merge these artifacts. */
  include?: string[];
}

interface TaskState {
  transition?: Transition;
  stepName: string;
  merge?: (inputs: Inputs<Record<string, unknown>>, options: MergeOptions) => void;
}

type StepRef = (...args: never[]) => unknown;

export class FlowSpec {
  static readonly [FLOWSPEC_MARK] = true;

  /**
   * npm packages the code package leaves out (not bundled by esbuild), e.g. `static externals = ["sharp"]`.
   * Local runs import them from node_modules; for Kubernetes pods they are packed with their production
   * dependencies from the local node_modules into a content-addressed dependency layer that the pod downloads,
   * verifies and extracts. Native addons are found and left out without being named here.
   */
  static externals?: readonly string[];

  /**
   * In a foreach task: this task's element of the parent's foreach artifact. Narrow it in your flow with
   * `declare input: number;`.
   */
  declare input: unknown;
  /** In a foreach task: this task's index in the foreach. */
  declare index: number | undefined;

  /**
   * Says what runs after this step. Call it exactly once at the end of every step but `end`:
   * `this.next(this.b)`, a static branch `this.next(this.a, this.b)`, a fan-out
   * `this.next(this.square, { foreach: "items" })`, or `this.next(this.train, { numParallel: 4 })`.
   */
  next(...args: Array<StepRef | NextOptions>): void {
    const state = (this as unknown as { [TASK_STATE]?: TaskState })[TASK_STATE];
    const where = state ? `step ${state.stepName}` : "this.next";
    const targets: string[] = [];
    let options: NextOptions = {};
    for (const a of args) {
      if (typeof a === "function") {
        if (!a.name)
          throw new FlowDefinitionError(
            `${where}: this.next() got an anonymous function; pass a step method, e.g. this.next(this.end)`,
          );
        targets.push(a.name);
      } else if (typeof a === "object" && a !== null) options = a;
      else
        throw new FlowDefinitionError(
          `${where}: this.next() got ${String(a)}; pass step methods (this.stepName) and optionally { foreach } or { numParallel }`,
        );
    }
    if (!targets.length)
      throw new FlowDefinitionError(`${where}: this.next() needs at least one step, e.g. this.next(this.end)`);
    if (state) {
      if (state.transition)
        throw new FlowDefinitionError(`${where}: this.next() was called twice; call it exactly once per step`);
      state.transition = {
        targets,
        ...(options.foreach !== undefined ? { foreach: options.foreach } : {}),
        ...(options.numParallel !== undefined ? { numParallel: options.numParallel } : {}),
      };
    }
  }

  /**
   * In a join: copies to this task every artifact that all inputs agree on (same content) or that only
   * one input has. Fails, naming them, when inputs disagree on an artifact that is neither excluded nor
   * already set by this join step.
   */
  mergeArtifacts(inputs: Inputs<object>, options: MergeOptions = {}): void {
    const state = (this as unknown as { [TASK_STATE]?: TaskState })[TASK_STATE];
    if (!state?.merge)
      throw new FlowDefinitionError("mergeArtifacts() can only be called inside a join step, with the step's inputs");
    state.merge(inputs as Inputs<Record<string, unknown>>, options);
  }
}

/** Whether a value is a FlowSpec subclass (from any copy of the runtime). */
export function isFlowClass(v: unknown): v is typeof FlowSpec {
  return (
    typeof v === "function" &&
    (v as unknown as Record<symbol, unknown>)[FLOWSPEC_MARK] === true &&
    v !== FlowSpec &&
    (v as { name?: string }).name !== "FlowSpec"
  );
}
