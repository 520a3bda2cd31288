/**
 * kubestep: write a workflow as a TypeScript class of steps, run it locally, send any step to Kubernetes.
 *
 * ```ts
 * import { FlowSpec, step, param, current, type Inputs } from "kubestep";
 * ```
 */
import "./flow/meta.js"; // installs the Symbol.metadata polyfill before any flow class is defined
export {
  FlowSpec,
  type Inputs,
  type InputTask,
  type NextOptions,
  type MergeOptions,
  type Transition,
} from "./flow/flowspec.js";
export {
  step,
  param,
  retry,
  timeout,
  catchFailure,
  catchFailure as catch,
  environment,
  resources,
  parallel,
} from "./flow/decorators.js";
export type {
  RetryOptions,
  TimeoutOptions,
  CatchOptions,
  EnvironmentOptions,
  ResourcesOptions,
  ResolvedResources,
  StepDecorator,
  ParallelOptions,
} from "./flow/decorators.js";
export type { ParamOptions } from "./flow/meta.js";
export { current, type CurrentInfo, type ParallelInfo } from "./flow/current.js";
export { Card, type CardInput, type CardComponent, type CardData, type ChartSpec } from "./flow/card.js";
export {
  FlowDefinitionError,
  DecoratorArgumentError,
  DecoratorUsageError,
  InvalidOptionsError,
  ParameterError,
  ArtifactError,
  type OptionProblem,
} from "./errors.js";
export { CUDA_IMAGES } from "./contract/kubernetes.js";
export { MissingPeerError, type PeerNeed, type PeerFeature, type RuntimePeer } from "./peers.js";
export { Flow, Run, Step, Task, namespaceRoot } from "./client/index.js";
export type {
  KubestepEnvironment,
  GpuPoolSpec,
  TaintSpec,
  DatastoreSpec,
  DatastoreKind,
  QosClass,
  ImagePullPolicy,
  ResourceDefaults,
} from "./environment.js";
export { kubernetes } from "./kubernetes/decorator.js";
export {
  schedule,
  trigger,
  triggerOnFinish,
  type ScheduleOptions,
  type TriggerOptions,
  type TriggerOnFinishOptions,
} from "./deploy/decorators.js";
export type { RunTrigger } from "./deploy/record.js";
export { parseMegabytes } from "./contract/units.js";
export type { KubernetesOptions, KubernetesToleration, KubernetesSecurityContext } from "./kubernetes/options.js";
