/**
 * The options of `@kubernetes` (Metaflow's `@kubernetes` parameters, in camelCase) and the validation every source of options goes through: the decorator, `--with
 * kubernetes:...` and the `KUBESTEP_KUBERNETES_*` variables. A bad value throws a
 * {@link KubernetesConfigError} naming the step, the option, the bad value and what is allowed; every bad option of
 * one source is reported at once.
 *
 * Dependency-free (no Kubernetes client): runs when a flow class is defined.
 */
import { DecoratorArgumentError, OptionProblems } from "../errors.js";
import {
  CUDA_VERSION_PATTERN,
  GPU_VENDORS,
  IMAGE_PULL_POLICIES,
  INJECTED_NODE_DIR,
  QOS_CLASSES,
  TAINT_EFFECTS,
  type GpuVendor,
  type ImagePullPolicy,
  type QosClass,
  type TaintEffect,
  type Toleration,
} from "../contract/kubernetes.js";
import { isDnsLabel, isDnsSubdomain, labelKeyProblem, labelValueProblem } from "../contract/names.js";
import { MB, MIB, parseCpu, parseMebibytes, parseMegabytes, SIZE_UNITS_HELP } from "../contract/units.js";

export type { GpuVendor, ImagePullPolicy, QosClass, TaintEffect } from "../contract/kubernetes.js";

/**
 * Whether the runtime brings its own Node.js into the pod (an init container copies `node` from the node image
 * into a volume): "auto" when the step's image is not the node image, "always", or "never" (the image has
 * `node`). See `kubernetes/node-injection.ts`.
 */
export type InjectNode = "auto" | "always" | "never";
/** The values of {@link InjectNode}. */
export const INJECT_NODE_VALUES: readonly InjectNode[] = ["auto", "always", "never"];
/** A Kubernetes toleration, as in a pod spec (see `contract/kubernetes.ts`). */
export type KubernetesToleration = Toleration;

/** Container security settings `@kubernetes` passes through. */
export interface KubernetesSecurityContext {
  /** Run the container privileged (default false). Cannot be combined with `allowPrivilegeEscalation: false`. */
  privileged?: boolean;
  /** Whether a process can gain more privileges than its parent (Kubernetes default true). */
  allowPrivilegeEscalation?: boolean;
  /** UID the container runs as (default: the image's user). */
  runAsUser?: number;
  /** GID the container runs as (default: the image's group). */
  runAsGroup?: number;
  /** Refuse to start if the container would run as root (default false). */
  runAsNonRoot?: boolean;
}

/**
 * Options of `@kubernetes`. All are optional; each default can also be set with a
 * `KUBESTEP_KUBERNETES_*` variable or by the environment (see `resolveKubernetesConfig` for the precedence).
 */
export interface KubernetesOptions {
  /** CPU cores requested (fractions allowed, e.g. 0.5, or millicores "500m"). Default 1. */
  cpu?: number | string;
  /** Memory in MB, or a string with a unit ("16GB", "512Mi"). Default 4096 (MB). */
  memory?: number | string;
  /** Ephemeral disk in MB, or a string with a unit. Default 10240 (MB). */
  disk?: number | string;
  /** Number of GPUs (whole number). Default: undefined = no GPU request; 0 = explicitly none. */
  gpu?: number;
  /** GPU vendor, which decides the extended resource (`nvidia.com/gpu`, `amd.com/gpu`). Default "nvidia". */
  gpuVendor?: GpuVendor;
  /**
   * Custom extended resource for the GPUs, e.g. "nvidia.com/mig-1g.5gb"; overrides `gpuVendor`. Given without `gpu`,
   * requests one GPU of that resource (Aqueduct's `gpu_resource_name`). Default: none.
   */
  gpuResourceName?: string;
  /**
   * Container image. Default: the CUDA image of `cudaVersion` when given, else the environment's image, else
   * `node:<local Node major>-slim`. Cannot be combined with `cudaVersion`.
   */
  image?: string;
  /**
   * CUDA version (`major.minor`, e.g. "12.4"; a patch is ignored), Aqueduct's `cuda_version`: run NVIDIA's CUDA runtime
   * image of that version (`CUDA_IMAGES` in `contract/kubernetes.ts`, or the environment's `cudaImages`). Replaces the
   * environment's and `KUBESTEP_KUBERNETES_CONTAINER_IMAGE`'s default image; an error together with `image`.
   * Requests no GPU by itself (set `gpu`). Default: none.
   */
  cudaVersion?: string;
  /**
   * Image pull policy. Default: the environment's, else none, so Kubernetes decides (`Always` for `:latest` or
   * untagged images, `IfNotPresent` for any other tag).
   */
  imagePullPolicy?: ImagePullPolicy;
  /**
   * Bring kubestep's own Node.js into the pod, for images without `node` (CUDA, Python, ...): an init container
   * running `nodeImage` copies its `node` binary into a volume, and the step runs with the image's own `node`
   * (version 20 or newer) when it has one, else with that copy. "auto" (default): only when `image` differs
   * from `nodeImage`; "always"; "never": the image must have `node` on its PATH. With injection the image needs
   * `/bin/sh` and glibc (not Alpine/musl, not distroless).
   */
  injectNode?: InjectNode;
  /**
   * Image whose `node` binary is brought into pods of images without Node.js (see `injectNode`). Default: the
   * environment's `nodeImage`, else the default step image (`KUBESTEP_KUBERNETES_CONTAINER_IMAGE`, the
   * environment's image, else `node:<local Node major>-slim`).
   */
  nodeImage?: string;
  /** Names of image pull secrets (added to the environment's). Default: none. */
  imagePullSecrets?: string[];
  /** Service account the pod runs as. Default: the environment's, else the namespace's default account. */
  serviceAccount?: string;
  /** Namespace of the Job. Default: the environment's, else "default". */
  namespace?: string;
  /** Names of Kubernetes secrets whose keys become environment variables (`envFrom.secretRef`). Default: none. */
  secrets?: string[];
  /** Node selector: `{ key: value }` or the string "k=v,k2=v2". Default: none. */
  nodeSelector?: Record<string, string> | string;
  /**
   * Compute pool: the name of a GPU pool of the environment (its node labels and taints are applied), or
   * any other name, which adds the node selector `kubestep.io/compute-pool: <name>`. Default: none.
   */
  computePool?: string;
  /** Tolerations, as in a pod spec. Default: none (plus the GPU pool's when `gpu > 0`). */
  tolerations?: KubernetesToleration[];
  /** Labels added to the Job and pod (the system's `kubestep.io/*` and `app.kubernetes.io/*` win). Default: none. */
  labels?: Record<string, string>;
  /** Annotations added to the Job and pod (the system's win). Default: none. */
  annotations?: Record<string, string>;
  /** Mount a memory-backed tmpfs at `tmpfsPath`. Default false, or true when `tmpfsSize` is given. */
  useTmpfs?: boolean;
  /** With `useTmpfs`: set `KUBESTEP_TEMPDIR` (and so `current.tempdir`) to `tmpfsPath`. Default true. */
  tmpfsTempdir?: boolean;
  /** Size of the tmpfs in MiB (or a string with a unit). Default: 50% of memory. Must not exceed memory. */
  tmpfsSize?: number | string;
  /** Where the tmpfs is mounted. Default "/kubestep_temp". */
  tmpfsPath?: string;
  /** Persistent volume claims to mount: `{ claimName: "/absolute/mount/path" }`. Default: none. */
  persistentVolumeClaims?: Record<string, string>;
  /** Size of `/dev/shm` in MiB (or a string with a unit). Default: none (the container runtime's 64 MiB). Must not exceed memory. */
  sharedMemory?: number | string;
  /** A container port to expose (1-65535). Default: none. */
  port?: number;
  /**
   * Pod quality-of-service class. Default "Burstable" (or the environment's default): requests cpu, memory and disk
   * without a memory limit (unless the environment sets `defaults.memoryLimitFactor`). "Guaranteed": limits equal
   * requests. "BestEffort": neither.
   */
  qos?: QosClass;
  /** Container security settings. Default: none (the cluster's defaults). */
  securityContext?: KubernetesSecurityContext;
  /** Seconds `@parallel` workers wait for the control node's hostname to resolve. Default 600. */
  hostnameResolutionTimeout?: number;
}

/** {@link KubernetesOptions} after validation: sizes are numbers (MB or MiB), the node selector is a record. */
export interface ValidatedKubernetesOptions extends KubernetesOptions {
  /** CPU cores. */
  cpu?: number;
  /** Memory in MB. */
  memory?: number;
  /** Disk in MB. */
  disk?: number;
  /** Node selector. */
  nodeSelector?: Record<string, string>;
  /** tmpfs size in MiB. */
  tmpfsSize?: number;
  /** /dev/shm size in MiB. */
  sharedMemory?: number;
}

/** Names of every option, in documentation order. */
export const KUBERNETES_OPTION_NAMES = [
  "cpu",
  "memory",
  "disk",
  "gpu",
  "gpuVendor",
  "gpuResourceName",
  "image",
  "cudaVersion",
  "imagePullPolicy",
  "injectNode",
  "nodeImage",
  "imagePullSecrets",
  "serviceAccount",
  "namespace",
  "secrets",
  "nodeSelector",
  "computePool",
  "tolerations",
  "labels",
  "annotations",
  "useTmpfs",
  "tmpfsTempdir",
  "tmpfsSize",
  "tmpfsPath",
  "persistentVolumeClaims",
  "sharedMemory",
  "port",
  "qos",
  "securityContext",
  "hostnameResolutionTimeout",
] as const satisfies readonly (keyof KubernetesOptions)[];

/** One option name. */
export type KubernetesOptionName = (typeof KUBERNETES_OPTION_NAMES)[number];

/**
 * A bad `@kubernetes` setting, from the decorator, `--with kubernetes:...`, a `KUBESTEP_KUBERNETES_*`
 * variable or the combination of them. Raised before anything is submitted.
 */
export class KubernetesConfigError extends DecoratorArgumentError {
  constructor(step: string, option: string, value: unknown, allowed: string) {
    super(step, option, value, allowed);
    this.name = "KubernetesConfigError";
  }
}

// ---------------------------------------------------------------------------------------------------
// Small parsers shared with config.ts

/**
 * Parses "k=v,k2=v2" into a record. Throws a message (string) when an item has no `=` or a key repeats;
 * the caller turns it into a {@link KubernetesConfigError}.
 */
export function parseKeyValueList(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const raw of text.split(",")) {
    const item = raw.trim();
    if (item === "") continue;
    const eq = item.indexOf("=");
    if (eq <= 0) throw `item ${JSON.stringify(item)} is not key=value`;
    const k = item.slice(0, eq).trim();
    const v = item.slice(eq + 1).trim();
    if (Object.prototype.hasOwnProperty.call(out, k)) throw `key ${JSON.stringify(k)} is given twice`;
    out[k] = v;
  }
  return out;
}

/** Edit distance, for "did you mean" suggestions. */
function editDistance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++)
    for (let j = 1; j <= b.length; j++)
      d[i]![j] = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
  return d[a.length]![b.length]!;
}

/** The known option closest to `name` (case-insensitive edit distance), if it is close enough to be a typo. */
export function closestOption(name: string, known: readonly string[] = KUBERNETES_OPTION_NAMES): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  for (const k of known) {
    const d = editDistance(name.toLowerCase(), k.toLowerCase());
    if (d < bestD) [best, bestD] = [k, d];
  }
  return best !== undefined && bestD <= Math.max(2, Math.floor(best.length / 3)) ? best : undefined;
}

// ---------------------------------------------------------------------------------------------------
// Validation

/** Throws a {@link KubernetesConfigError} for the option being validated (optionally a sub-field). */
type Fail = (value: unknown, allowed: string, sub?: string) => never;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

const TOLERATION_KEYS = ["key", "operator", "value", "effect", "tolerationSeconds"];
const SECURITY_KEYS = ["privileged", "allowPrivilegeEscalation", "runAsUser", "runAsGroup", "runAsNonRoot"];
/** Largest total size of annotations the apiserver accepts. */
const MAX_ANNOTATIONS_BYTES = 256 * 1024;

function positiveSize(v: unknown, fail: Fail, parse: (x: number | string) => number | undefined, unit: string): number {
  const n = typeof v === "number" || typeof v === "string" ? parse(v) : undefined;
  if (n === undefined || !(n > 0) || !Number.isFinite(n))
    fail(v, `expected a size > 0: ${SIZE_UNITS_HELP.replace("a number", `a number (${unit})`)}`);
  return n;
}

function enumValue<T extends string>(v: unknown, allowed: readonly T[], fail: Fail): T {
  const hit = typeof v === "string" ? allowed.find((a) => a.toLowerCase() === v.toLowerCase()) : undefined;
  if (hit === undefined) fail(v, `allowed: ${allowed.join(", ")}`);
  return hit;
}

function imageRef(v: unknown, fail: Fail): string {
  if (typeof v !== "string" || v.trim() === "" || /\s/.test(v))
    fail(v, 'expected an image reference without spaces, e.g. "node:20-slim" or "registry.example.com/team/app:1.2"');
  return v;
}

function bool(v: unknown, fail: Fail): boolean {
  if (typeof v !== "boolean") fail(v, "expected true or false");
  return v;
}

function integer(v: unknown, fail: Fail, min: number, max: number, what: string): number {
  if (typeof v !== "number" || !Number.isInteger(v) || v < min || v > max) fail(v, `expected ${what}`);
  return v;
}

function nameList(v: unknown, fail: Fail, what: string): string[] {
  if (!Array.isArray(v))
    fail(v, `expected a list of ${what} names (DNS subdomains: lowercase letters, digits, '-', '.')`);
  for (const [i, s] of v.entries())
    if (typeof s !== "string" || !isDnsSubdomain(s))
      fail(
        s,
        `each entry must be a ${what} name: a DNS subdomain (lowercase letters, digits, '-', '.', <= 253 characters)`,
        `[${i}]`,
      );
  return [...new Set(v as string[])];
}

function absolutePath(v: unknown, fail: Fail, sub?: string): string {
  if (typeof v !== "string" || !v.startsWith("/") || v === "/" || v.split("/").includes("..") || /[\s:]/.test(v))
    fail(v, 'expected an absolute path other than "/", without ".." segments, spaces or ":", e.g. "/data"', sub);
  return v.length > 1 ? v.replace(/\/+$/, "") : v;
}

function labelRecord(v: unknown, fail: Fail, what: "label" | "node selector"): Record<string, string> {
  if (!isObject(v)) fail(v, `expected an object of ${what} key: value strings`);
  for (const [k, val] of Object.entries(v)) {
    const kp = labelKeyProblem(k);
    if (kp) fail(k, `invalid ${what} key: ${kp}`, `[${JSON.stringify(k)}]`);
    const vp = labelValueProblem(val);
    if (vp) fail(val, `invalid value for ${what} ${JSON.stringify(k)}: ${vp}`, `[${JSON.stringify(k)}]`);
  }
  return { ...(v as Record<string, string>) };
}

function toleration(v: unknown, fail: Fail, i: number): KubernetesToleration {
  const at = `[${i}]`;
  if (!isObject(v))
    fail(v, "expected a toleration object { key?, operator?, value?, effect?, tolerationSeconds? }", at);
  for (const k of Object.keys(v))
    if (!TOLERATION_KEYS.includes(k))
      fail(k, `unknown toleration field; allowed: ${TOLERATION_KEYS.join(", ")}`, `${at}`);
  const out: KubernetesToleration = {};
  if (v.key !== undefined && v.key !== "") {
    const kp = typeof v.key === "string" ? labelKeyProblem(v.key) : "a key must be a string";
    if (kp) fail(v.key, `invalid toleration key: ${kp}`, `${at}.key`);
    out.key = v.key as string;
  }
  const operator = v.operator === undefined ? "Equal" : v.operator;
  if (operator !== "Equal" && operator !== "Exists")
    fail(v.operator, "allowed operators: Equal, Exists", `${at}.operator`);
  if (v.operator !== undefined) out.operator = operator;
  if (v.value !== undefined && v.value !== "") {
    if (operator === "Exists") fail(v.value, "a toleration with operator Exists has no value", `${at}.value`);
    const vp = labelValueProblem(v.value);
    if (vp) fail(v.value, `invalid toleration value: ${vp}`, `${at}.value`);
    out.value = v.value as string;
  }
  if (out.key === undefined && operator !== "Exists")
    fail(v, "a toleration without a key must use operator Exists (it then tolerates every taint)", at);
  if (v.effect !== undefined && v.effect !== "") {
    if (!TAINT_EFFECTS.includes(v.effect as TaintEffect))
      fail(v.effect, `allowed effects: ${TAINT_EFFECTS.join(", ")} (or none for all)`, `${at}.effect`);
    out.effect = v.effect as TaintEffect;
  }
  if (v.tolerationSeconds !== undefined) {
    if (out.effect !== "NoExecute")
      fail(v.tolerationSeconds, "tolerationSeconds requires effect NoExecute", `${at}.tolerationSeconds`);
    out.tolerationSeconds = integer(
      v.tolerationSeconds,
      (val, allowed) => fail(val, allowed, `${at}.tolerationSeconds`),
      Number.MIN_SAFE_INTEGER,
      Number.MAX_SAFE_INTEGER,
      "a whole number of seconds",
    );
  }
  return out;
}

type Validators = { [K in KubernetesOptionName]: (v: unknown, fail: Fail) => ValidatedKubernetesOptions[K] };

const VALIDATORS: Validators = {
  cpu: (v: unknown, fail: Fail) => {
    const n = typeof v === "number" || typeof v === "string" ? parseCpu(v) : undefined;
    if (n === undefined || !(n > 0) || !Number.isFinite(n))
      fail(v, 'expected a number of cores > 0 (fractions allowed, e.g. 0.5, or millicores like "500m")');
    if (n < 0.001) fail(v, "expected at least 0.001 cores (1 millicore)");
    return n;
  },
  memory: (v: unknown, fail: Fail) => positiveSize(v, fail, parseMegabytes, "MB"),
  disk: (v: unknown, fail: Fail) => positiveSize(v, fail, parseMegabytes, "MB"),
  gpu: (v: unknown, fail: Fail) =>
    integer(v, fail, 0, Number.MAX_SAFE_INTEGER, "a whole number of GPUs >= 0 (0 = none)"),
  gpuVendor: (v: unknown, fail: Fail) => enumValue(v, GPU_VENDORS, fail),
  gpuResourceName: (v: unknown, fail: Fail) => {
    const p = typeof v === "string" ? labelKeyProblem(v) : "not a string";
    if (p || !(v as string).includes("/") || /(^|\.)kubernetes\.io\//.test(v as string))
      fail(
        v,
        'expected an extended resource name with a domain prefix, e.g. "nvidia.com/gpu" or "nvidia.com/mig-1g.5gb"',
      );
    return v as string;
  },
  image: imageRef,
  cudaVersion: (v: unknown, fail: Fail) => {
    const text = typeof v === "number" && Number.isFinite(v) ? String(v) : v;
    if (typeof text !== "string" || !CUDA_VERSION_PATTERN.test(text.trim()))
      fail(v, 'expected a CUDA version "major.minor" as a string, e.g. "12.4" or "11.8"');
    return text.trim();
  },
  injectNode: (v: unknown, fail: Fail) => enumValue(v, INJECT_NODE_VALUES, fail),
  nodeImage: imageRef,
  imagePullPolicy: (v: unknown, fail: Fail) => enumValue(v, IMAGE_PULL_POLICIES, fail),
  imagePullSecrets: (v: unknown, fail: Fail) => nameList(v, fail, "secret"),
  serviceAccount: (v: unknown, fail: Fail) => {
    if (typeof v !== "string" || !isDnsSubdomain(v))
      fail(v, "expected a service account name: a DNS subdomain (lowercase letters, digits, '-', '.')");
    return v;
  },
  namespace: (v: unknown, fail: Fail) => {
    if (typeof v !== "string" || !isDnsLabel(v))
      fail(
        v,
        "expected a namespace name: a DNS label (lowercase letters, digits and '-', <= 63 characters, starting and ending alphanumeric)",
      );
    return v;
  },
  secrets: (v: unknown, fail: Fail) => nameList(v, fail, "secret"),
  nodeSelector: (v: unknown, fail: Fail) => {
    let rec: unknown = v;
    if (typeof v === "string") {
      try {
        rec = parseKeyValueList(v);
      } catch (problem) {
        fail(v, `expected "key=value,key2=value2" with each key once (${String(problem)})`);
      }
    }
    return labelRecord(rec, fail, "node selector");
  },
  computePool: (v: unknown, fail: Fail) => {
    if (typeof v !== "string" || v === "" || labelValueProblem(v))
      fail(v, "expected a pool name usable as a label value (letters, digits, '-', '_', '.', <= 63 characters)");
    return v;
  },
  tolerations: (v: unknown, fail: Fail) => {
    if (!Array.isArray(v))
      fail(v, "expected a list of toleration objects { key?, operator?, value?, effect?, tolerationSeconds? }");
    return v.map((t, i) => toleration(t, fail, i));
  },
  labels: (v: unknown, fail: Fail) => labelRecord(v, fail, "label"),
  annotations: (v: unknown, fail: Fail) => {
    if (!isObject(v)) fail(v, "expected an object of annotation key: value strings");
    let size = 0;
    for (const [k, val] of Object.entries(v)) {
      const kp = labelKeyProblem(k);
      if (kp) fail(k, `invalid annotation key: ${kp}`, `[${JSON.stringify(k)}]`);
      if (typeof val !== "string") fail(val, "annotation values must be strings", `[${JSON.stringify(k)}]`);
      size += Buffer.byteLength(k) + Buffer.byteLength(val);
    }
    if (size > MAX_ANNOTATIONS_BYTES) fail(`${size} bytes`, `annotations total at most ${MAX_ANNOTATIONS_BYTES} bytes`);
    return { ...(v as Record<string, string>) };
  },
  useTmpfs: bool,
  tmpfsTempdir: bool,
  tmpfsSize: (v: unknown, fail: Fail) => positiveSize(v, fail, parseMebibytes, "MiB"),
  tmpfsPath: (v: unknown, fail: Fail) => absolutePath(v, fail),
  persistentVolumeClaims: (v: unknown, fail: Fail) => {
    if (!isObject(v)) fail(v, 'expected an object { claimName: "/mount/path" }');
    const out: Record<string, string> = {};
    const seen = new Map<string, string>();
    for (const [claim, path] of Object.entries(v)) {
      if (!isDnsSubdomain(claim))
        fail(
          claim,
          "a claim name is a DNS subdomain (lowercase letters, digits, '-', '.')",
          `[${JSON.stringify(claim)}]`,
        );
      const p = absolutePath(path, fail, `[${JSON.stringify(claim)}]`);
      if (seen.has(p))
        fail(
          path,
          `each mount path once; ${JSON.stringify(p)} is also the mount path of claim ${JSON.stringify(seen.get(p))}`,
          `[${JSON.stringify(claim)}]`,
        );
      seen.set(p, claim);
      out[claim] = p;
    }
    return out;
  },
  sharedMemory: (v: unknown, fail: Fail) => positiveSize(v, fail, parseMebibytes, "MiB"),
  port: (v: unknown, fail: Fail) => integer(v, fail, 1, 65535, "a whole port number from 1 to 65535"),
  qos: (v: unknown, fail: Fail) => enumValue(v, QOS_CLASSES, fail),
  securityContext: (v: unknown, fail: Fail) => {
    if (!isObject(v)) fail(v, `expected an object with ${SECURITY_KEYS.join(", ")}`);
    const out: KubernetesSecurityContext = {};
    for (const [k, val] of Object.entries(v)) {
      const sub: Fail = (x, allowed) => fail(x, allowed, `.${k}`);
      if (k === "privileged" || k === "allowPrivilegeEscalation" || k === "runAsNonRoot") out[k] = bool(val, sub);
      else if (k === "runAsUser" || k === "runAsGroup")
        out[k] = integer(val, sub, 0, 2 ** 31 - 1, "a whole number >= 0 (a UID/GID)");
      else fail(k, `unknown securityContext field; allowed: ${SECURITY_KEYS.join(", ")}`);
    }
    if (out.privileged === true && out.allowPrivilegeEscalation === false)
      fail(v, "privileged: true cannot be combined with allowPrivilegeEscalation: false");
    if (out.runAsNonRoot === true && out.runAsUser === 0)
      fail(v, "runAsNonRoot: true cannot be combined with runAsUser: 0 (root)");
    return out;
  },
  hostnameResolutionTimeout: (v: unknown, fail: Fail) =>
    integer(v, fail, 1, 86400, "a whole number of seconds from 1 to 86400"),
};

/** Whether `name` is an option of `@kubernetes`. */
export function isKubernetesOption(name: string): name is KubernetesOptionName {
  return (KUBERNETES_OPTION_NAMES as readonly string[]).includes(name);
}

/**
 * Validates one option value; `optionLabel` names it in errors (e.g. `@kubernetes cpu`,
 * `KUBESTEP_KUBERNETES_CPU`). Returns the normalized value.
 */
export function validateKubernetesOption<K extends KubernetesOptionName>(
  step: string,
  name: K,
  value: unknown,
  optionLabel: string,
): ValidatedKubernetesOptions[K] {
  const fail: Fail = (v, allowed, sub) => {
    throw new KubernetesConfigError(step, sub ? `${optionLabel}${sub}` : optionLabel, v, allowed);
  };
  return VALIDATORS[name](value, fail);
}

/**
 * Validates raw `@kubernetes` options (from the decorator, or `--with` with `source` "--with kubernetes").
 * Rejects unknown names (suggesting the closest option for a typo) and every bad value; checks the
 * combinations it can see within these options alone (tmpfsSize and sharedMemory against memory,
 * PVC mount paths against tmpfsPath). The combinations with other sources are checked again on the
 * resolved configuration.
 */
export function validateKubernetesOptions(
  step: string,
  raw: unknown,
  source = "@kubernetes",
): ValidatedKubernetesOptions {
  const problems = new OptionProblems();
  const opts = collectKubernetesOptions(step, raw, source, problems);
  problems.throwIfAny();
  return opts;
}

/**
 * {@link validateKubernetesOptions} that records its problems in `problems` instead of throwing, and returns the
 * options that are valid (so a caller can go on checking what depends on them and report everything at once).
 */
export function collectKubernetesOptions(
  step: string,
  raw: unknown,
  source: string,
  problems: OptionProblems,
): ValidatedKubernetesOptions {
  if (raw === undefined) return {};
  if (!isObject(raw)) {
    problems.add(
      new KubernetesConfigError(
        step,
        source,
        raw,
        `expected an options object { ${KUBERNETES_OPTION_NAMES.join(", ")} }`,
      ),
    );
    return {};
  }
  const out: Record<string, unknown> = {};
  const before = problems.list.length;
  for (const [name, value] of Object.entries(raw)) {
    if (!isKubernetesOption(name)) {
      const guess = closestOption(name);
      problems.add(
        new KubernetesConfigError(
          step,
          `${source} ${name}`,
          value,
          `unknown option${guess ? `; did you mean ${guess}?` : ""} Allowed options: ${KUBERNETES_OPTION_NAMES.join(", ")}`,
        ),
      );
      continue;
    }
    if (value === undefined) continue;
    const v = problems.check(() => validateKubernetesOption(step, name, value, `${source} ${name}`));
    if (v !== undefined) out[name] = v;
  }
  const opts = out as ValidatedKubernetesOptions;
  if (opts.image !== undefined && opts.cudaVersion !== undefined)
    problems.add(
      new KubernetesConfigError(
        step,
        `${source} cudaVersion`,
        opts.cudaVersion,
        `either image or cudaVersion, not both: cudaVersion chooses the image (here image = ${JSON.stringify(opts.image)}); drop cudaVersion to run your own CUDA image`,
      ),
    );
  // Combinations are checked on values that are valid on their own.
  if (problems.list.length === before)
    problems.check(() => checkCombinations(step, opts, (name) => `${source} ${name}`));
  return opts;
}

/**
 * Checks combinations of options that are all present in `opts`: tmpfsSize <= memory, sharedMemory <=
 * memory, and mount paths (tmpfsPath, PVCs, /dev/shm) distinct. Used on one source's options and on the
 * resolved configuration. Throws every broken combination at once.
 */
export function checkCombinations(
  step: string,
  opts: ValidatedKubernetesOptions,
  label: (name: KubernetesOptionName) => string,
): void {
  const problems = new OptionProblems();
  checkCombinationsEach(step, opts, label, problems);
  problems.throwIfAny();
}

function checkCombinationsEach(
  step: string,
  opts: ValidatedKubernetesOptions,
  label: (name: KubernetesOptionName) => string,
  problems: OptionProblems,
): void {
  if (opts.memory !== undefined) {
    const memMiB = (opts.memory * MB) / MIB;
    for (const k of ["tmpfsSize", "sharedMemory"] as const) {
      const v = opts[k];
      if (v !== undefined && v > memMiB + 1e-9)
        problems.add(
          new KubernetesConfigError(
            step,
            label(k),
            v,
            `at most memory: ${opts.memory} MB = ${Math.floor(memMiB * 100) / 100} MiB (${k} is in MiB)`,
          ),
        );
    }
  }
  if (opts.persistentVolumeClaims) {
    const reserved = ["/dev/shm", INJECTED_NODE_DIR, ...(opts.useTmpfs && opts.tmpfsPath ? [opts.tmpfsPath] : [])];
    for (const [claim, path] of Object.entries(opts.persistentVolumeClaims))
      if (reserved.includes(path))
        problems.add(
          new KubernetesConfigError(
            step,
            `${label("persistentVolumeClaims")}[${JSON.stringify(claim)}]`,
            path,
            `a mount path other than ${reserved.map((r) => JSON.stringify(r)).join(", ")} (used by ${path === "/dev/shm" ? "sharedMemory" : path === INJECTED_NODE_DIR ? "the Node.js kubestep brings (injectNode)" : "the tmpfs"})`,
          ),
        );
  }
  if (opts.useTmpfs && opts.tmpfsPath === INJECTED_NODE_DIR)
    problems.add(
      new KubernetesConfigError(
        step,
        label("tmpfsPath"),
        opts.tmpfsPath,
        `a path other than ${JSON.stringify(INJECTED_NODE_DIR)} (used by the Node.js kubestep brings, injectNode)`,
      ),
    );
  if (opts.useTmpfs && opts.tmpfsPath === "/dev/shm")
    problems.add(
      new KubernetesConfigError(
        step,
        label("tmpfsPath"),
        opts.tmpfsPath,
        'a path other than "/dev/shm" (use sharedMemory for /dev/shm)',
      ),
    );
}
