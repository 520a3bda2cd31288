/**
 * The contract between the Pulumi components (which provision a cluster side) and the runtime
 * (which submits steps to it). The components' top-level `KubestepEnvironment` resource outputs
 * exactly this type and the stack exports it as output `kubestep`; the runtime reads it with
 * `kubestep run flow.ts --stack dev`, `--environment file.json` or `KUBESTEP_ENVIRONMENT`.
 *
 * This module must stay dependency-free (no `@pulumi/*`, no Kubernetes client; only the shared vocabulary of
 * `contract/`): components import it as a type only, the runtime validates untrusted JSON with
 * {@link parseEnvironment}.
 */

import { DATASTORE_KINDS, ROOT_SCHEMES, type DatastoreKind } from "./contract/datastore.js";
import {
  GPU_VENDORS,
  QOS_CLASSES,
  TAINT_EFFECTS,
  type GpuVendor,
  type QosClass,
  type TaintSpec,
} from "./contract/kubernetes.js";
import { isDnsLabel, isDnsSubdomain } from "./contract/names.js";
import { KubestepError } from "./errors.js";

export type { DatastoreKind } from "./contract/datastore.js";
export type { GpuVendor, QosClass, TaintEffect, TaintSpec } from "./contract/kubernetes.js";

/** A pool of GPU nodes that `@kubernetes({ gpu: N })` steps are steered to. */
export interface GpuPoolSpec {
  /** Pool name (also usable as `computePool`). */
  name: string;
  /** GPU vendor: decides the default extended resource name. */
  vendor: GpuVendor;
  /** Extended resource the pool's nodes advertise, e.g. `nvidia.com/gpu`. */
  resourceName: string;
  /** Labels every node of the pool carries; become the step's node selector. */
  nodeLabels: Record<string, string>;
  /** Taints every node of the pool carries; become the step's tolerations. */
  taints: TaintSpec[];
}

/** Where the runtime stores everything. */
export interface DatastoreSpec {
  /** Kind of store. */
  kind: DatastoreKind;
  /** Root URL or path: `s3://bucket/prefix`, `gs://bucket/prefix`, `azure://account/container/prefix`, or a directory. */
  root: string;
  /** Cloud region of the bucket (S3). */
  region?: string;
  /** Custom endpoint (http:// or https:// URL) of an S3-compatible server or a GCS emulator; sets `KUBESTEP_S3_ENDPOINT_URL` / `KUBESTEP_GCS_ENDPOINT_URL` for the run and its pods. */
  endpoint?: string;
}

/** Default resources for `@kubernetes` steps in this environment. */
export interface ResourceDefaults {
  /** CPU cores requested by default. */
  cpu?: number;
  /** Memory in MB requested by default. */
  memory?: number;
  /** Ephemeral disk in MB requested by default. */
  disk?: number;
  /** Default QoS class. */
  qos?: QosClass;
}

/**
 * Everything the runtime needs to run steps on a provisioned cluster. Produced by the
 * `kubestep:index:Environment` component, exported by stacks as output `kubestep`.
 */
export interface KubestepEnvironment {
  /** Contract version; the runtime refuses versions it does not know. */
  version: 1;
  /** Name of this environment (usually the stack name). */
  name: string;
  /** Namespace step Jobs are created in. */
  namespace: string;
  /** Service account step pods run as (carries the pod identity for the datastore). */
  serviceAccount: string;
  /** The datastore. */
  datastore: DatastoreSpec;
  /** Default container image for steps. */
  image: string;
  /** Image pull secrets added to every step pod. */
  imagePullSecrets: string[];
  /** Default resources and QoS. */
  defaults: ResourceDefaults;
  /** Labels added to every step pod (e.g. `azure.workload.identity/use: "true"`). */
  podLabels: Record<string, string>;
  /** Annotations added to every step pod. */
  podAnnotations: Record<string, string>;
  /** GPU node pools. */
  gpuPools: GpuPoolSpec[];
  /**
   * Service account the orchestrator pods of deployed flows run as (`kubestep deploy`); present when the
   * environment provisions deployments (its Role is exactly what an orchestrator pod calls).
   */
  orchestratorServiceAccount?: string;
}

/** Thrown when an environment document is malformed; lists every bad field. */
export class EnvironmentError extends KubestepError {
  constructor(
    /** Where the environment came from (file, stack, variable). */
    readonly source: string,
    /** One line per bad field: `path: problem (got value)`. */
    readonly problems: string[],
  ) {
    super(`invalid kubestep environment from ${source}:\n  - ${problems.join("\n  - ")}`);
    this.name = "EnvironmentError";
  }
}

function show(v: unknown): string {
  return v === undefined ? "nothing" : JSON.stringify(v);
}

/**
 * Validates an untrusted value (parsed JSON) as a {@link KubestepEnvironment}. Optional collections
 * default to empty. Every problem is reported at once, each naming its field.
 */
export function parseEnvironment(value: unknown, source = "environment"): KubestepEnvironment {
  const problems: string[] = [];
  const isObj = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
  if (!isObj(value)) throw new EnvironmentError(source, [`expected a JSON object, got ${show(value)}`]);
  const str = (path: string, v: unknown, required = true): string | undefined => {
    if (v === undefined && !required) return undefined;
    if (typeof v !== "string" || v === "") {
      problems.push(`${path}: expected a non-empty string, got ${show(v)}`);
      return undefined;
    }
    return v;
  };
  const strMap = (path: string, v: unknown): Record<string, string> => {
    if (v === undefined) return {};
    if (!isObj(v) || !Object.values(v).every((x) => typeof x === "string")) {
      problems.push(`${path}: expected an object of string values, got ${show(v)}`);
      return {};
    }
    return v as Record<string, string>;
  };
  const posNum = (path: string, v: unknown): number | undefined => {
    if (v === undefined) return undefined;
    if (typeof v !== "number" || !Number.isFinite(v) || v <= 0) {
      problems.push(`${path}: expected a positive number, got ${show(v)}`);
      return undefined;
    }
    return v;
  };

  if (value.version !== 1) problems.push(`version: expected 1, got ${show(value.version)}`);
  const name = str("name", value.name) ?? "";
  const namespace = str("namespace", value.namespace) ?? "";
  if (namespace && !isDnsLabel(namespace))
    problems.push(`namespace: not a valid Kubernetes namespace name (got ${show(namespace)})`);
  const serviceAccount = str("serviceAccount", value.serviceAccount) ?? "";
  const image = str("image", value.image) ?? "";

  let datastore: DatastoreSpec = { kind: "local", root: "" };
  if (!isObj(value.datastore))
    problems.push(`datastore: expected an object { kind, root }, got ${show(value.datastore)}`);
  else {
    const d = value.datastore;
    const kind = d.kind as DatastoreKind;
    if (!DATASTORE_KINDS.includes(kind))
      problems.push(`datastore.kind: expected one of ${DATASTORE_KINDS.join(", ")}, got ${show(d.kind)}`);
    const root = str("datastore.root", d.root) ?? "";
    const prefix = kind === "local" ? "" : ROOT_SCHEMES[kind];
    if (root && prefix && !root.startsWith(prefix))
      problems.push(`datastore.root: a ${kind} root must start with ${prefix}, got ${show(root)}`);
    datastore = {
      kind,
      root,
      region: str("datastore.region", d.region, false),
      endpoint: str("datastore.endpoint", d.endpoint, false),
    };
    if (datastore.region === undefined) delete datastore.region;
    if (datastore.endpoint === undefined) delete datastore.endpoint;
  }

  let imagePullSecrets: string[] = [];
  if (value.imagePullSecrets !== undefined) {
    if (
      !Array.isArray(value.imagePullSecrets) ||
      !value.imagePullSecrets.every((s) => typeof s === "string" && s !== "")
    )
      problems.push(`imagePullSecrets: expected a list of secret names, got ${show(value.imagePullSecrets)}`);
    else imagePullSecrets = value.imagePullSecrets as string[];
  }

  const defaults: ResourceDefaults = {};
  if (value.defaults !== undefined) {
    if (!isObj(value.defaults)) problems.push(`defaults: expected an object, got ${show(value.defaults)}`);
    else {
      const d = value.defaults;
      for (const k of ["cpu", "memory", "disk"] as const) {
        const n = posNum(`defaults.${k}`, d[k]);
        if (n !== undefined) defaults[k] = n;
      }
      if (d.qos !== undefined) {
        if (!QOS_CLASSES.includes(d.qos as QosClass))
          problems.push(`defaults.qos: expected one of ${QOS_CLASSES.join(", ")}, got ${show(d.qos)}`);
        else defaults.qos = d.qos as QosClass;
      }
      for (const k of Object.keys(d))
        if (!["cpu", "memory", "disk", "qos"].includes(k))
          problems.push(`defaults.${k}: unknown field (allowed: cpu, memory, disk, qos)`);
    }
  }

  const gpuPools: GpuPoolSpec[] = [];
  if (value.gpuPools !== undefined) {
    if (!Array.isArray(value.gpuPools)) problems.push(`gpuPools: expected a list, got ${show(value.gpuPools)}`);
    else
      value.gpuPools.forEach((p: unknown, i: number) => {
        const at = `gpuPools[${i}]`;
        if (!isObj(p)) return void problems.push(`${at}: expected an object, got ${show(p)}`);
        const pname = str(`${at}.name`, p.name) ?? "";
        const vendor = p.vendor as GpuPoolSpec["vendor"];
        if (!GPU_VENDORS.includes(vendor))
          problems.push(
            `${at}.vendor: expected ${GPU_VENDORS.map((v) => JSON.stringify(v)).join(" or ")}, got ${show(p.vendor)}`,
          );
        const resourceName = str(`${at}.resourceName`, p.resourceName) ?? "";
        const nodeLabels = strMap(`${at}.nodeLabels`, p.nodeLabels);
        const taints: TaintSpec[] = [];
        if (p.taints !== undefined && !Array.isArray(p.taints))
          problems.push(`${at}.taints: expected a list, got ${show(p.taints)}`);
        for (const [j, t] of ((Array.isArray(p.taints) ? p.taints : []) as unknown[]).entries()) {
          const tat = `${at}.taints[${j}]`;
          if (!isObj(t)) {
            problems.push(`${tat}: expected { key, value?, effect }, got ${show(t)}`);
            continue;
          }
          const key = str(`${tat}.key`, t.key) ?? "";
          const tv = str(`${tat}.value`, t.value, false);
          if (!TAINT_EFFECTS.includes(t.effect as TaintSpec["effect"]))
            problems.push(`${tat}.effect: expected one of ${TAINT_EFFECTS.join(", ")}, got ${show(t.effect)}`);
          taints.push({ key, ...(tv !== undefined ? { value: tv } : {}), effect: t.effect as TaintSpec["effect"] });
        }
        gpuPools.push({ name: pname, vendor, resourceName, nodeLabels, taints });
      });
  }

  const env: KubestepEnvironment = {
    version: 1,
    name,
    namespace,
    serviceAccount,
    datastore,
    image,
    imagePullSecrets,
    defaults,
    podLabels: strMap("podLabels", value.podLabels),
    podAnnotations: strMap("podAnnotations", value.podAnnotations),
    gpuPools,
  };
  const orchestratorServiceAccount = str("orchestratorServiceAccount", value.orchestratorServiceAccount, false);
  if (orchestratorServiceAccount !== undefined) {
    if (!isDnsSubdomain(orchestratorServiceAccount))
      problems.push(
        `orchestratorServiceAccount: not a valid Kubernetes service account name (got ${show(orchestratorServiceAccount)})`,
      );
    env.orchestratorServiceAccount = orchestratorServiceAccount;
  }
  const known = new Set([...Object.keys(env), "orchestratorServiceAccount"]);
  for (const k of Object.keys(value))
    if (!known.has(k)) problems.push(`${k}: unknown field (allowed: ${[...known].join(", ")})`);
  if (problems.length) throw new EnvironmentError(source, problems);
  return env;
}
