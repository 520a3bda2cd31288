/**
 * The one vocabulary the runtime and the Pulumi components share (components import nothing else of the
 * runtime): the environment contract, Kubernetes names, units, taints and tolerations, QoS classes, GPU
 * vendors, datastore kinds. Everything here is dependency-free.
 */
export * from "./datastore.js";
export * from "./kubernetes.js";
export * from "./names.js";
export * from "./units.js";
export * from "../environment.js";
