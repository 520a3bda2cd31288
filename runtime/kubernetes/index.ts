/**
 * `@kubernetes`: the decorator, its options and validation, the resolution of its configuration from every
 * source, and the Job each attempt becomes. Submitting and watching Jobs lives elsewhere (the executor).
 */
export { kubernetes } from "./decorator.js";
export {
  KubernetesConfigError, validateKubernetesOptions, validateKubernetesOption, parseMegabytes, parseMebibytes, parseCpu,
  parseSizeBytes, KUBERNETES_OPTION_NAMES,
  type KubernetesOptions, type ValidatedKubernetesOptions, type KubernetesOptionName, type KubernetesToleration,
  type KubernetesSecurityContext, type GpuVendor, type ImagePullPolicy, type TaintEffect, type QosClass,
} from "./options.js";
export {
  resolveKubernetesConfig, parseWithKubernetes, readKubernetesEnv, defaultImage, KUBERNETES_DEFAULTS, KUBERNETES_ENV_VARS,
  ENV_PREFIX, COMPUTE_POOL_LABEL,
  type ResolvedKubernetesConfig, type KubernetesConfigInput, type ResourcesInput,
} from "./config.js";
export {
  buildJob, jobNameFor, jobLabelSelector, containerResources, LABEL_KEYS, ACTIVE_DEADLINE_GRACE_SECONDS, DOWNWARD_ENV,
  type RunContext,
} from "./jobspec.js";
export { sanitizeLabelValue, labelKeyProblem, labelValueProblem, annotationKeyProblem } from "./labels.js";
