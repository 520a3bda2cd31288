/**
 * `@kubernetes`: runs a step as a Kubernetes Job. Usable bare (`@kubernetes`) or with options
 * (`@kubernetes({ cpu: 4, memory: "16GB" })`). Options are validated when the class is defined, so a bad
 * value fails `kubestep run` before anything starts; they are recorded on the step's metadata under
 * the name `kubernetes` (read them back with `flowMetaOf(cls).steps[name].decorators.kubernetes`).
 */
import { addStepDecorator } from "../flow/meta.js";
import type { StepDecorator } from "../flow/decorators.js";
import {
  KubernetesConfigError,
  validateKubernetesOptions,
  type KubernetesOptions,
  type ValidatedKubernetesOptions,
} from "./options.js";

type StepMethod = (this: unknown, ...args: never[]) => unknown;

function isMethodContext(v: unknown): v is ClassMethodDecoratorContext {
  return typeof v === "object" && v !== null && (v as { kind?: unknown }).kind === "method";
}

function apply(options: unknown, context: ClassMethodDecoratorContext): void {
  const step = String(context.name);
  addStepDecorator(context, "kubernetes", validateKubernetesOptions(step, options, "@kubernetes"));
}

/** Runs the step on Kubernetes with the default options (`@kubernetes`). */
export function kubernetes<M extends StepMethod>(method: M, context: ClassMethodDecoratorContext): void;
/** Runs the step on Kubernetes with these options (`@kubernetes({ cpu: 2 })`). */
export function kubernetes(options?: KubernetesOptions): StepDecorator;
export function kubernetes(first?: unknown, second?: unknown): StepDecorator | void {
  if (typeof first === "function" && isMethodContext(second)) return apply(undefined, second);
  if (typeof first === "function")
    throw new KubernetesConfigError(
      String(first.name || "(unknown)"),
      "@kubernetes",
      first,
      "use @kubernetes or @kubernetes({ ...options }) on a step method",
    );
  const options = first;
  return (_m, context) => apply(options, context);
}

declare module "../flow/meta.js" {
  /** What `@kubernetes` records: its validated options. */
  interface StepDecoratorOptions {
    kubernetes: ValidatedKubernetesOptions;
  }
}
