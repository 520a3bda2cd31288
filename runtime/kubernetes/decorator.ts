/**
 * `@kubernetes`: runs a step as a Kubernetes Job. Usable bare (`@kubernetes`), called (`@kubernetes()`) or with
 * options (`@kubernetes({ cpu: 4, memory: "16GB" })`). Options are validated when the class is defined; bad values
 * are recorded on the step and reported by the graph builder with every other bad option of the flow, so
 * `kubestep run` fails before anything starts. Valid options are recorded on the step's metadata under the name
 * `kubernetes` (read them back with `flowMetaOf(cls).steps[name].decorators.kubernetes`). Written on a class, a
 * field, or called with something that is not an options object, it throws a `DecoratorUsageError` there.
 */
import { addStepDecorator, addStepProblems } from "../flow/meta.js";
import { optionalOptionsDecorator, type StepDecorator, type StepMethod } from "../flow/decorate.js";
import { OptionProblems } from "../errors.js";
import { validateKubernetesOptions, type KubernetesOptions, type ValidatedKubernetesOptions } from "./options.js";

/** Runs the step on Kubernetes with the default options (`@kubernetes`). */
export function kubernetes<M extends StepMethod>(method: M, context: ClassMethodDecoratorContext): void;
/** Runs the step on Kubernetes with these options (`@kubernetes({ cpu: 2 })`, or `@kubernetes()` for none). */
export function kubernetes(options?: KubernetesOptions): StepDecorator;
export function kubernetes(first?: unknown, second?: unknown): StepDecorator | void {
  return optionalOptionsDecorator<KubernetesOptions>(
    "@kubernetes",
    first,
    second,
    "{ cpu?, memory?, image?, gpu?, ... }",
    (options, context) => {
      const problems = new OptionProblems();
      const validated = problems.check(() => validateKubernetesOptions(String(context.name), options, "@kubernetes"));
      addStepProblems(context, problems.list);
      addStepDecorator(context, "kubernetes", validated ?? {});
    },
  );
}

declare module "../flow/meta.js" {
  /** What `@kubernetes` records: its validated options. */
  interface StepDecoratorOptions {
    kubernetes: ValidatedKubernetesOptions;
  }
}
