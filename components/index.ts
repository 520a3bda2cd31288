/**
 * kubestep Pulumi components (package export `kubestep/components`). The top-level
 * {@link Environment} outputs the `KubestepEnvironment` contract the runtime consumes.
 */
export * from "./environment.js";
export * from "./namespace.js";
export * from "./orchestrator.js";
export * from "./gpu.js";
export * from "./datastore.js";
export * from "./autoscaler.js";
export * from "./taints.js";
export * from "./validate.js";
export type {
  KubestepEnvironment,
  GpuPoolSpec,
  DatastoreSpec,
  TaintSpec,
  ResourceDefaults,
  QosClass,
  DatastoreKind,
} from "../runtime/environment.js";
