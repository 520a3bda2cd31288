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
  CUDA_IMAGES,
  cudaVersionKey,
  GPU_VENDORS,
  IMAGE_PULL_POLICIES,
  QOS_CLASSES,
  TAINT_EFFECTS,
  type GpuVendor,
  type ImagePullPolicy,
  type QosClass,
  type TaintSpec,
} from "./contract/kubernetes.js";
import { isDnsLabel, isDnsSubdomain } from "./contract/names.js";
import { KubestepError } from "./errors.js";

export type { DatastoreKind } from "./contract/datastore.js";
export type { GpuVendor, ImagePullPolicy, QosClass, TaintEffect, TaintSpec } from "./contract/kubernetes.js";

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
  /**
   * Burstable steps only: set a memory limit of this factor times the memory request (a number >= 1, e.g. 1.5).
   * Absent (the default): Burstable steps request memory without a limit, as in Metaflow. Guaranteed steps always
   * have limits equal to their requests; BestEffort steps have neither.
   */
  memoryLimitFactor?: number;
}

/** Fields of {@link ResourceDefaults}. */
const DEFAULTS_FIELDS = ["cpu", "memory", "disk", "qos", "memoryLimitFactor"];

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
  /**
   * Image whose `node` binary kubestep copies into pods of steps whose image has no Node.js (an init
   * container; see `@kubernetes` `injectNode`). Default: {@link image}.
   */
  nodeImage?: string;
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
   * Image pull policy of every step pod (a step's `imagePullPolicy` wins). Absent: the field is left out of the pod,
   * so Kubernetes pulls `:latest` (and untagged) images always and any other tag only if not present.
   */
  imagePullPolicy?: ImagePullPolicy;
  /**
   * CUDA version (`major.minor`) -> image, for `@kubernetes({ cudaVersion })`: overrides or adds to the built-in
   * mapping (`CUDA_IMAGES` in `contract/kubernetes.ts`), e.g. to use a mirror or an image with your libraries.
   */
  cudaImages?: Record<string, string>;
  /**
   * Service account the orchestrator pods of deployed flows run as (`kubestep deploy`); present when the
   * environment provisions deployments (its Role is exactly what an orchestrator pod calls).
   */
  orchestratorServiceAccount?: string;
}

/** Optional top-level fields of {@link KubestepEnvironment} (absent when not set). */
const OPTIONAL_FIELDS = ["imagePullPolicy", "cudaImages", "orchestratorServiceAccount"];

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
  const nodeImage = str("nodeImage", value.nodeImage, false);

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
      if (d.memoryLimitFactor !== undefined) {
        const f = d.memoryLimitFactor;
        if (typeof f !== "number" || !Number.isFinite(f) || f < 1)
          problems.push(
            `defaults.memoryLimitFactor: expected a number >= 1 (the memory limit of Burstable steps is this factor times their request), got ${show(f)}`,
          );
        else defaults.memoryLimitFactor = f;
      }
      for (const k of Object.keys(d))
        if (!DEFAULTS_FIELDS.includes(k))
          problems.push(`defaults.${k}: unknown field (allowed: ${DEFAULTS_FIELDS.join(", ")})`);
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
    ...(nodeImage !== undefined ? { nodeImage } : {}),
    imagePullSecrets,
    defaults,
    podLabels: strMap("podLabels", value.podLabels),
    podAnnotations: strMap("podAnnotations", value.podAnnotations),
    gpuPools,
  };
  if (value.imagePullPolicy !== undefined) {
    if (!IMAGE_PULL_POLICIES.includes(value.imagePullPolicy as ImagePullPolicy))
      problems.push(
        `imagePullPolicy: expected one of ${IMAGE_PULL_POLICIES.join(", ")} (or no field for the Kubernetes default), got ${show(value.imagePullPolicy)}`,
      );
    else env.imagePullPolicy = value.imagePullPolicy as ImagePullPolicy;
  }
  if (value.cudaImages !== undefined) {
    if (!isObj(value.cudaImages))
      problems.push(`cudaImages: expected an object { "12.4": "registry/image:tag" }, got ${show(value.cudaImages)}`);
    else {
      const images: Record<string, string> = {};
      for (const [v, image] of Object.entries(value.cudaImages)) {
        if (cudaVersionKey(v) === undefined)
          problems.push(
            `cudaImages[${JSON.stringify(v)}]: expected a CUDA version major.minor as the key, e.g. ${Object.keys(CUDA_IMAGES).at(-1)}`,
          );
        if (typeof image !== "string" || image.trim() === "" || /\s/.test(image))
          problems.push(
            `cudaImages[${JSON.stringify(v)}]: expected an image reference without spaces, got ${show(image)}`,
          );
        else images[v] = image;
      }
      env.cudaImages = images;
    }
  }
  const orchestratorServiceAccount = str("orchestratorServiceAccount", value.orchestratorServiceAccount, false);
  if (orchestratorServiceAccount !== undefined) {
    if (!isDnsSubdomain(orchestratorServiceAccount))
      problems.push(
        `orchestratorServiceAccount: not a valid Kubernetes service account name (got ${show(orchestratorServiceAccount)})`,
      );
    env.orchestratorServiceAccount = orchestratorServiceAccount;
  }
  const fields = Object.keys(env);
  if (!fields.includes("nodeImage")) fields.splice(fields.indexOf("image") + 1, 0, "nodeImage"); // optional field
  const known = new Set([...fields, ...OPTIONAL_FIELDS]);
  for (const k of Object.keys(value))
    if (!known.has(k)) problems.push(`${k}: unknown field (allowed: ${[...known].join(", ")})`);
  if (problems.length) throw new EnvironmentError(source, problems);
  return env;
}
