/**
 * Resolves the full `@kubernetes` configuration of one step from every source, and parses
 * `--with kubernetes[:k=v,...]`.
 *
 * ## Precedence (highest first)
 * 1. the step's `@kubernetes({...})` options;
 * 2. `--with kubernetes:k=v,...` given to `kubestep run`;
 * 3. `KUBESTEP_KUBERNETES_*` environment variables;
 * 4. the environment provisioned by the Pulumi stack ({@link KubestepEnvironment}: namespace, service
 *    account, image, image pull secrets, default cpu/memory/disk/qos, pod labels/annotations, GPU pools);
 * 5. built-in defaults (cpu 1, memory 4096 MB, disk 10240 MB, qos Burstable without a memory limit, image
 *    `node:<major>-slim`, namespace `default`, no imagePullPolicy (Kubernetes then pulls `:latest` always and other
 *    tags if not present), tmpfsPath `/kubestep_temp`, tmpfsSize 50% of memory, hostnameResolutionTimeout 600 s,
 *    Job TTL after finished 7 days, injectNode "auto").
 *
 * The node image (whose `node` is brought into pods whose image is another) is `nodeImage` from the sources 1-3,
 * else the environment's `nodeImage`, else the default step image: `KUBESTEP_KUBERNETES_CONTAINER_IMAGE`, the
 * environment's `image`, `node:<major>-slim` (steps that name no image run on it, so it has `node`).
 *
 * Single values (and nodeSelector, tolerations, persistentVolumeClaims, securityContext) come whole from
 * the highest source that sets them. Labels and annotations merge across sources, the higher source winning
 * per key. Name lists (secrets, imagePullSecrets) accumulate across sources.
 *
 * `image` and `cudaVersion` both choose the image: the one given by the higher source wins (a step's
 * `cudaVersion` replaces the environment's and `KUBESTEP_KUBERNETES_CONTAINER_IMAGE`'s image); both from one source
 * is an error. `gpuResourceName` without `gpu` requests one GPU.
 *
 * Then `@resources` combines by taking the max of cpu, memory, disk, gpu and sharedMemory, GPU pools are
 * applied, and the combinations are checked (tmpfsSize and sharedMemory <= memory, distinct mount paths,
 * `@timeout` >= 60 s). Every problem of the step (of every source) is reported in one error.
 */
import type { GpuPoolSpec, KubestepEnvironment } from "../environment.js";
import {
  checkCombinations,
  closestOption,
  collectKubernetesOptions,
  isKubernetesOption,
  KUBERNETES_OPTION_NAMES,
  KubernetesConfigError,
  parseKeyValueList,
  validateKubernetesOption,
  validateKubernetesOptions,
  type GpuVendor,
  type ImagePullPolicy,
  type KubernetesOptionName,
  type KubernetesOptions,
  type KubernetesSecurityContext,
  type KubernetesToleration,
  type QosClass,
  type ValidatedKubernetesOptions,
} from "./options.js";
import { MB, MIB } from "../contract/units.js";
import {
  COMPUTE_POOL_LABEL,
  cudaImages,
  cudaVersionKey,
  gpuResourceFor,
  tolerationFor,
} from "../contract/kubernetes.js";
import { OptionProblems } from "../errors.js";

/** What `@resources` records (sizes already in MB / MiB). */
export interface ResourcesInput {
  /** CPU cores. */
  cpu?: number;
  /** Memory in MB. */
  memory?: number;
  /** Disk in MB. */
  disk?: number;
  /** GPUs. */
  gpu?: number;
  /** /dev/shm in MiB. */
  sharedMemory?: number;
}

/** Everything {@link resolveKubernetesConfig} combines for one step. */
export interface KubernetesConfigInput {
  /** Step name (for error messages). */
  step: string;
  /** Options of the step's `@kubernetes` (absent when the step is sent by `--with kubernetes`). */
  decorator?: KubernetesOptions;
  /** Options of the step's `@resources`. */
  resources?: ResourcesInput;
  /** The step's `@timeout` in seconds, if any. */
  timeoutSeconds?: number;
  /** Options from `--with kubernetes:...` (see {@link parseWithKubernetes}). */
  withOverrides?: Partial<KubernetesOptions>;
  /** Process environment (`process.env`): the `KUBESTEP_KUBERNETES_*` variables. */
  env: Record<string, string | undefined>;
  /** The provisioned environment, if any. */
  environment?: KubestepEnvironment;
}

/** The fully resolved configuration of one Kubernetes step: every default filled in. */
export interface ResolvedKubernetesConfig {
  /** Step name. */
  step: string;
  /** Namespace of the Job. */
  namespace: string;
  /** Service account of the pod; undefined = the namespace's `default` account. */
  serviceAccount?: string;
  /** Container image (registry prefix applied). */
  image: string;
  /** The CUDA version the image was chosen for (`cudaVersion`), if any. */
  cudaVersion?: string;
  /** Image pull policy; undefined = left out of the pod, so Kubernetes decides. */
  imagePullPolicy?: ImagePullPolicy;
  /** Image whose `node` is copied into the pod when {@link injectNode} (registry prefix applied). */
  nodeImage: string;
  /**
   * Whether the pod gets kubestep's own Node.js (an init container from {@link nodeImage} copies `node` into a
   * volume): `injectNode` "always", or "auto" (the default) with an image other than the node image.
   */
  injectNode: boolean;
  /** Image pull secret names. */
  imagePullSecrets: string[];
  /** Secrets mounted as environment variables. */
  secrets: string[];
  /** CPU cores. */
  cpu: number;
  /** Memory in MB. */
  memory: number;
  /** Ephemeral disk in MB. */
  disk: number;
  /** GPUs; undefined = none requested, 0 = explicitly none. Only > 0 adds a request. */
  gpu?: number;
  /** GPU vendor. */
  gpuVendor: GpuVendor;
  /** Extended resource the GPUs are requested under (used only when gpu > 0). */
  gpuResourceName: string;
  /** Name of the environment's GPU pool the step is steered to, if any. */
  gpuPool?: string;
  /** Compute pool asked for, if any. */
  computePool?: string;
  /** Final node selector (user's + pool's). */
  nodeSelector: Record<string, string>;
  /** Final tolerations (user's + pool's taints). */
  tolerations: KubernetesToleration[];
  /** User and environment labels (system labels are added by the Job builder and win). */
  labels: Record<string, string>;
  /** User and environment annotations (system annotations are added by the Job builder and win). */
  annotations: Record<string, string>;
  /** Whether a tmpfs is mounted. */
  useTmpfs: boolean;
  /** Whether KUBESTEP_TEMPDIR points at the tmpfs. */
  tmpfsTempdir: boolean;
  /** tmpfs size in MiB. */
  tmpfsSize: number;
  /** tmpfs mount path. */
  tmpfsPath: string;
  /** PVCs: claim name -> mount path. */
  persistentVolumeClaims: Record<string, string>;
  /** /dev/shm size in MiB, if set. */
  sharedMemory?: number;
  /** Container port, if any. */
  port?: number;
  /** QoS class. */
  qos: QosClass;
  /** Burstable only: the memory limit is this factor times the request (the environment's); undefined = no limit. */
  memoryLimitFactor?: number;
  /** Container security context, if any. */
  securityContext?: KubernetesSecurityContext;
  /** Seconds `@parallel` workers wait for the control node's hostname. */
  hostnameResolutionTimeout: number;
  /** Seconds a finished Job is kept before Kubernetes deletes it. */
  jobTtlSecondsAfterFinished: number;
  /** The step's `@timeout` in seconds, if any. */
  timeoutSeconds?: number;
}

/** Built-in defaults (the lowest precedence). */
export const KUBERNETES_DEFAULTS = {
  cpu: 1,
  memory: 4096,
  disk: 10240,
  qos: "Burstable" as QosClass,
  namespace: "default",
  gpuVendor: "nvidia" as GpuVendor,
  tmpfsPath: "/kubestep_temp",
  tmpfsTempdir: true,
  tmpfsFractionOfMemory: 0.5,
  hostnameResolutionTimeout: 600,
  jobTtlSecondsAfterFinished: 7 * 24 * 3600,
  /** Shortest `@timeout` accepted for a Kubernetes step. */
  minTimeoutSeconds: 60,
} as const;

export { COMPUTE_POOL_LABEL, gpuResourceFor } from "../contract/kubernetes.js";

/** The default image: `node:<major>-slim` matching the local Node.js major. */
export function defaultImage(): string {
  return `node:${process.versions.node.split(".")[0]}-slim`;
}

/** Whether an image reference names its registry (`host.tld/...`, `host:port/...`, `localhost/...`). */
export function imageHasRegistry(image: string): boolean {
  const slash = image.indexOf("/");
  if (slash < 0) return false;
  const first = image.slice(0, slash);
  return first.includes(".") || first.includes(":") || first === "localhost";
}

/** Prefixes `registry` to an image that names no registry. */
export function withRegistry(image: string, registry: string | undefined): string {
  if (!registry || imageHasRegistry(image)) return image;
  return `${registry.replace(/\/+$/, "")}/${image}`;
}

// ---------------------------------------------------------------------------------------------------
// KUBESTEP_KUBERNETES_* variables

/** Prefix of every configuration variable. */
export const ENV_PREFIX = "KUBESTEP_KUBERNETES_";

type EnvKind = "string" | "number" | "jsonList" | "jsonObjectList" | "jsonObject" | "nameList" | "keyValues";

/** Each variable, the option it sets and how its text is read. */
export const KUBERNETES_ENV_VARS: Readonly<
  Record<string, { option: KubernetesOptionName; kind: EnvKind; help: string }>
> = {
  NAMESPACE: { option: "namespace", kind: "string", help: "a namespace name" },
  SERVICE_ACCOUNT: { option: "serviceAccount", kind: "string", help: "a service account name" },
  CONTAINER_IMAGE: { option: "image", kind: "string", help: "an image reference" },
  IMAGE_PULL_POLICY: { option: "imagePullPolicy", kind: "string", help: "Always, IfNotPresent or Never" },
  INJECT_NODE: { option: "injectNode", kind: "string", help: "auto, always or never" },
  NODE_IMAGE: { option: "nodeImage", kind: "string", help: "an image reference" },
  IMAGE_PULL_SECRETS: {
    option: "imagePullSecrets",
    kind: "jsonList",
    help: 'a JSON list of secret names, e.g. ["regcred"]',
  },
  CPU: { option: "cpu", kind: "string", help: "cores" },
  MEMORY: { option: "memory", kind: "string", help: "MB or a size with a unit" },
  DISK: { option: "disk", kind: "string", help: "MB or a size with a unit" },
  GPU_VENDOR: { option: "gpuVendor", kind: "string", help: "nvidia or amd" },
  NODE_SELECTOR: { option: "nodeSelector", kind: "keyValues", help: '"k=v,k2=v2" or a JSON object' },
  TOLERATIONS: {
    option: "tolerations",
    kind: "jsonObjectList",
    help: 'a JSON list of tolerations, e.g. [{"key":"gpu","operator":"Exists","effect":"NoSchedule"}]',
  },
  QOS: { option: "qos", kind: "string", help: "Guaranteed, Burstable or BestEffort" },
  PERSISTENT_VOLUME_CLAIMS: {
    option: "persistentVolumeClaims",
    kind: "jsonObject",
    help: 'a JSON object {"claim":"/mount/path"}',
  },
  SHARED_MEMORY: { option: "sharedMemory", kind: "string", help: "MiB or a size with a unit" },
  SECRETS: { option: "secrets", kind: "nameList", help: "comma-separated secret names or a JSON list" },
  LABELS: { option: "labels", kind: "keyValues", help: '"k=v,k2=v2" or a JSON object' },
  ANNOTATIONS: { option: "annotations", kind: "keyValues", help: '"k=v,k2=v2" or a JSON object' },
  PORT: { option: "port", kind: "number", help: "a port number" },
};

function parseEnvValue(step: string, variable: string, text: string, kind: EnvKind, help: string): unknown {
  const bad = (allowed: string): never => {
    throw new KubernetesConfigError(step, variable, text, allowed);
  };
  const json = (): unknown => {
    try {
      return JSON.parse(text);
    } catch {
      return bad(`expected ${help} (not valid JSON)`);
    }
  };
  switch (kind) {
    case "string":
      return text.trim();
    case "number":
      return /^\s*-?[0-9]+(\.[0-9]+)?\s*$/.test(text) ? Number(text) : bad(`expected ${help}`);
    case "jsonList": {
      const v = json();
      return Array.isArray(v) ? v : bad(`expected ${help}`);
    }
    case "jsonObjectList": {
      const v = json();
      return Array.isArray(v) ? v : bad(`expected ${help}`);
    }
    case "jsonObject": {
      const v = json();
      return typeof v === "object" && v !== null && !Array.isArray(v) ? v : bad(`expected ${help}`);
    }
    case "nameList":
      if (text.trim().startsWith("[")) {
        const v = json();
        return Array.isArray(v) ? v : bad(`expected ${help}`);
      }
      return text
        .split(",")
        .map((s) => s.trim())
        .filter((s) => s !== "");
    case "keyValues":
      if (text.trim().startsWith("{")) return json();
      try {
        return parseKeyValueList(text);
      } catch (problem) {
        return bad(`expected ${help} with each key once (${String(problem)})`);
      }
  }
}

/** What the `KUBESTEP_KUBERNETES_*` variables set, validated; `registry` and `jobTtl` are not options. */
export interface EnvVarSettings {
  /** Options set by variables. */
  options: ValidatedKubernetesOptions;
  /** Which variable set each option. */
  sources: Partial<Record<KubernetesOptionName, string>>;
  /** KUBESTEP_KUBERNETES_CONTAINER_REGISTRY. */
  registry?: string;
  /** KUBESTEP_KUBERNETES_JOB_TTL_SECONDS_AFTER_FINISHED. */
  jobTtlSecondsAfterFinished?: number;
}

/** Reads and validates the `KUBESTEP_KUBERNETES_*` variables; errors name the variable. Empty = unset. */
export function readKubernetesEnv(step: string, env: Record<string, string | undefined>): EnvVarSettings {
  const out: EnvVarSettings = { options: {}, sources: {} };
  const opts = out.options as Record<string, unknown>;
  const problems = new OptionProblems();
  for (const [suffix, { option, kind, help }] of Object.entries(KUBERNETES_ENV_VARS)) {
    const variable = ENV_PREFIX + suffix;
    const text = env[variable];
    if (text === undefined || text.trim() === "") continue;
    const v = problems.check(() =>
      validateKubernetesOption(step, option, parseEnvValue(step, variable, text, kind, help), variable),
    );
    if (v === undefined) continue;
    opts[option] = v;
    out.sources[option] = variable;
  }
  const reg = env[ENV_PREFIX + "CONTAINER_REGISTRY"];
  if (reg !== undefined && reg.trim() !== "") {
    const r = reg.trim();
    if (/\s/.test(r) || r.includes("://") || r.startsWith("/"))
      problems.add(
        new KubernetesConfigError(
          step,
          ENV_PREFIX + "CONTAINER_REGISTRY",
          reg,
          'expected a registry host with an optional path, without a scheme, e.g. "registry.example.com/team"',
        ),
      );
    else out.registry = r;
  }
  const ttl = env[ENV_PREFIX + "JOB_TTL_SECONDS_AFTER_FINISHED"];
  if (ttl !== undefined && ttl.trim() !== "") {
    if (!/^\s*[0-9]+\s*$/.test(ttl) || Number(ttl) > 2 ** 31 - 1)
      problems.add(
        new KubernetesConfigError(
          step,
          ENV_PREFIX + "JOB_TTL_SECONDS_AFTER_FINISHED",
          ttl,
          "expected a whole number of seconds >= 0 (default 604800 = 7 days)",
        ),
      );
    else out.jobTtlSecondsAfterFinished = Number(ttl);
  }
  problems.throwIfAny();
  return out;
}

// ---------------------------------------------------------------------------------------------------
// --with kubernetes:...

/** Splits on commas that are outside quotes, brackets and braces. */
function splitTopLevel(text: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let quoted = false;
  let cur = "";
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quoted) {
      if (c === "\\") {
        cur += c + (text[++i] ?? "");
        continue;
      }
      if (c === '"') quoted = false;
    } else if (c === '"') quoted = true;
    else if (c === "[" || c === "{") depth++;
    else if (c === "]" || c === "}") depth--;
    else if (c === "," && depth === 0) {
      parts.push(cur);
      cur = "";
      continue;
    }
    cur += c;
  }
  parts.push(cur);
  return parts.map((p) => p.trim()).filter((p) => p !== "");
}

const NUMBER_OPTIONS: readonly KubernetesOptionName[] = ["gpu", "port", "hostnameResolutionTimeout"];
const BOOLEAN_OPTIONS: readonly KubernetesOptionName[] = ["useTmpfs", "tmpfsTempdir"];
const LIST_OPTIONS: readonly KubernetesOptionName[] = ["secrets", "imagePullSecrets"];

function coerceWithValue(name: KubernetesOptionName, text: string): unknown {
  const t = text.trim();
  if (t.startsWith("[") || t.startsWith("{") || t.startsWith('"')) {
    try {
      return JSON.parse(t);
    } catch {
      return t; // the validator reports it with the option's rule
    }
  }
  if (NUMBER_OPTIONS.includes(name) && /^-?[0-9]+(\.[0-9]+)?$/.test(t)) return Number(t);
  if (BOOLEAN_OPTIONS.includes(name) && (t === "true" || t === "false")) return t === "true";
  if (LIST_OPTIONS.includes(name)) return [t];
  return t;
}

/**
 * Parses a `--with` spec for Kubernetes: `kubernetes` (no overrides) or `kubernetes:cpu=4,memory=8000,image=x`.
 * Values are text, or JSON for lists and objects (`secrets=["a","b"]`, `labels={"team":"ml"}`; a single
 * secret name is also accepted); `nodeSelector=k=v` takes the text form. Validated like `@kubernetes`
 * (unknown keys rejected); errors name the option as `--with kubernetes <name>`.
 */
export function parseWithKubernetes(spec: string, step = "(all steps)"): ValidatedKubernetesOptions {
  const m = /^kubernetes(?::(.*))?$/s.exec(spec.trim());
  if (!m)
    throw new KubernetesConfigError(
      step,
      "--with",
      spec,
      'expected "kubernetes" or "kubernetes:key=value,key2=value2"',
    );
  const raw: Record<string, unknown> = {};
  const problems = new OptionProblems();
  for (const item of splitTopLevel(m[1] ?? "")) {
    const eq = item.indexOf("=");
    if (eq <= 0) {
      problems.add(
        new KubernetesConfigError(
          step,
          "--with kubernetes",
          item,
          `expected key=value items separated by commas; keys: ${KUBERNETES_OPTION_NAMES.join(", ")}`,
        ),
      );
      continue;
    }
    const key = item.slice(0, eq).trim();
    if (!isKubernetesOption(key)) {
      const guess = closestOption(key);
      problems.add(
        new KubernetesConfigError(
          step,
          `--with kubernetes ${key}`,
          item.slice(eq + 1),
          `unknown option${guess ? `; did you mean ${guess}?` : ""} Allowed options: ${KUBERNETES_OPTION_NAMES.join(", ")}`,
        ),
      );
      continue;
    }
    if (Object.prototype.hasOwnProperty.call(raw, key)) {
      problems.add(new KubernetesConfigError(step, `--with kubernetes ${key}`, item.slice(eq + 1), "each option once"));
      continue;
    }
    raw[key] = coerceWithValue(key, item.slice(eq + 1));
  }
  const out = problems.check(() => validateKubernetesOptions(step, raw, "--with kubernetes"));
  problems.throwIfAny();
  return out!;
}

// ---------------------------------------------------------------------------------------------------
// Resolution

const dedupe = <T>(xs: T[]): T[] => {
  const seen = new Set<string>();
  return xs.filter((x) => {
    const k = JSON.stringify(x);
    return seen.has(k) ? false : (seen.add(k), true);
  });
};

function pickPool(
  step: string,
  pools: GpuPoolSpec[],
  o: { computePool?: string; gpu?: number; gpuVendor?: GpuVendor; gpuResourceName?: string },
  label: (k: KubernetesOptionName) => string,
): GpuPoolSpec | undefined {
  const named = o.computePool !== undefined ? pools.find((p) => p.name === o.computePool) : undefined;
  if (named) {
    if (
      (o.gpu ?? 0) > 0 &&
      o.gpuVendor !== undefined &&
      o.gpuResourceName === undefined &&
      named.vendor !== o.gpuVendor
    )
      throw new KubernetesConfigError(
        step,
        label("gpuVendor"),
        o.gpuVendor,
        `the vendor of computePool ${JSON.stringify(named.name)} (${named.vendor}), or no gpuVendor`,
      );
    return named;
  }
  if (!((o.gpu ?? 0) > 0)) return undefined; // gpu 0 / undefined never steers to a GPU pool (Metaflow #2005)
  if (o.gpuResourceName !== undefined) return pools.find((p) => p.resourceName === o.gpuResourceName);
  if (o.gpuVendor !== undefined) return pools.find((p) => p.vendor === o.gpuVendor);
  return pools[0];
}

/** Resolves the full configuration of one step (see the module documentation for the precedence). */
export function resolveKubernetesConfig(input: KubernetesConfigInput): ResolvedKubernetesConfig {
  const { step, environment } = input;
  // Every problem of every source is collected; they are thrown together at the end.
  const problems = new OptionProblems();
  const deco = collectKubernetesOptions(step, input.decorator, "@kubernetes", problems);
  const over = collectKubernetesOptions(step, input.withOverrides, "--with kubernetes", problems);
  const envs: EnvVarSettings = problems.check(() => readKubernetesEnv(step, input.env)) ?? { options: {}, sources: {} };
  const envOpts = envs.options;
  const optionsValid = problems.list.length === 0;

  const sources = new Map<KubernetesOptionName, string>();
  const pick = <K extends KubernetesOptionName>(k: K): ValidatedKubernetesOptions[K] | undefined => {
    if (deco[k] !== undefined) return (sources.set(k, `@kubernetes ${k}`), deco[k]);
    if (over[k] !== undefined) return (sources.set(k, `--with kubernetes ${k}`), over[k]);
    if (envOpts[k] !== undefined) return (sources.set(k, envs.sources[k]!), envOpts[k]);
    return undefined;
  };
  /** 0 = decorator, 1 = --with, 2 = variable, 3 = not given: which source sets `k`. */
  const rank = (k: KubernetesOptionName): number =>
    deco[k] !== undefined ? 0 : over[k] !== undefined ? 1 : envOpts[k] !== undefined ? 2 : 3;
  const label = (k: KubernetesOptionName) => sources.get(k) ?? `@kubernetes ${k}`;
  const fromEnvironment = <T>(k: KubernetesOptionName, v: T | undefined): T | undefined => {
    if (v !== undefined && v !== "") sources.set(k, `environment ${environment?.name ?? ""} ${k}`.replace("  ", " "));
    return v === "" ? undefined : v;
  };
  const defaults = environment?.defaults ?? {};

  let cpu = pick("cpu") ?? fromEnvironment("cpu", defaults.cpu) ?? KUBERNETES_DEFAULTS.cpu;
  let memory = pick("memory") ?? fromEnvironment("memory", defaults.memory) ?? KUBERNETES_DEFAULTS.memory;
  let disk = pick("disk") ?? fromEnvironment("disk", defaults.disk) ?? KUBERNETES_DEFAULTS.disk;
  let gpu = pick("gpu");
  let sharedMemory = pick("sharedMemory");
  const qos = pick("qos") ?? fromEnvironment("qos", defaults.qos) ?? KUBERNETES_DEFAULTS.qos;

  // @resources: the max of each.
  const r = input.resources ?? {};
  const max = (k: "cpu" | "memory" | "disk" | "gpu" | "sharedMemory", cur: number | undefined): number | undefined => {
    const v = r[k];
    if (typeof v !== "number" || !Number.isFinite(v)) return cur;
    if (cur === undefined || v > cur) {
      sources.set(k, `@resources ${k}`);
      return v;
    }
    return cur;
  };
  cpu = max("cpu", cpu)!;
  memory = max("memory", memory)!;
  disk = max("disk", disk)!;
  gpu = max("gpu", gpu);
  sharedMemory = max("sharedMemory", sharedMemory);

  const explicitTmpfsSize = pick("tmpfsSize");
  // Like Metaflow, giving a tmpfsSize turns the tmpfs on unless useTmpfs is explicitly false.
  const useTmpfs = pick("useTmpfs") ?? explicitTmpfsSize !== undefined;
  const tmpfsPath = pick("tmpfsPath") ?? KUBERNETES_DEFAULTS.tmpfsPath;
  const tmpfsTempdir = pick("tmpfsTempdir") ?? KUBERNETES_DEFAULTS.tmpfsTempdir;
  const tmpfsSize =
    explicitTmpfsSize ?? Math.max(1, Math.floor(((memory * MB) / MIB) * KUBERNETES_DEFAULTS.tmpfsFractionOfMemory));
  const persistentVolumeClaims = pick("persistentVolumeClaims") ?? {};

  // GPUs and pools.
  const explicitVendor = pick("gpuVendor");
  const explicitResource = pick("gpuResourceName");
  // A GPU resource name alone asks for one GPU of it (Aqueduct's gpu_resource_name); gpu: 0 stays none.
  if (gpu === undefined && explicitResource !== undefined) {
    gpu = 1;
    sources.set("gpu", `${label("gpuResourceName")} (one GPU)`);
  }
  const computePool = pick("computePool");
  const pool = problems.check(() =>
    pickPool(
      step,
      environment?.gpuPools ?? [],
      { computePool, gpu, gpuVendor: explicitVendor, gpuResourceName: explicitResource },
      label,
    ),
  );
  const gpuVendor = explicitVendor ?? pool?.vendor ?? KUBERNETES_DEFAULTS.gpuVendor;
  const gpuResourceName =
    explicitResource ?? (pool && pool.vendor === gpuVendor ? pool.resourceName : gpuResourceFor(gpuVendor));

  const userSelector = pick("nodeSelector") ?? {};
  const nodeSelector: Record<string, string> = { ...userSelector };
  const poolLabels: Record<string, string> = pool
    ? pool.nodeLabels
    : computePool !== undefined
      ? { [COMPUTE_POOL_LABEL]: computePool }
      : {};
  for (const [k, v] of Object.entries(poolLabels)) {
    if (userSelector[k] !== undefined && userSelector[k] !== v)
      problems.add(
        new KubernetesConfigError(
          step,
          `${label("nodeSelector")}[${JSON.stringify(k)}]`,
          userSelector[k],
          `${JSON.stringify(v)} or no ${k} selector: ${pool ? `GPU pool ${JSON.stringify(pool.name)}` : `computePool ${JSON.stringify(computePool)}`} selects ${k}=${v}`,
        ),
      );
    nodeSelector[k] = v;
  }
  const tolerations = dedupe([...(pick("tolerations") ?? []), ...(pool?.taints ?? []).map(tolerationFor)]);

  const mergeMaps = (k: "labels" | "annotations", base: Record<string, string> | undefined) => ({
    ...(base ?? {}),
    ...(envOpts[k] ?? {}),
    ...(over[k] ?? {}),
    ...(deco[k] ?? {}),
  });
  const labels = mergeMaps("labels", environment?.podLabels);
  const annotations = mergeMaps("annotations", environment?.podAnnotations);
  // Environment pod labels are not validated by parseEnvironment as label values: do it here.
  if (environment?.podLabels)
    problems.check(() => validateKubernetesOption(step, "labels", environment.podLabels, "environment podLabels"));
  if (environment?.podAnnotations)
    problems.check(() =>
      validateKubernetesOption(step, "annotations", environment.podAnnotations, "environment podAnnotations"),
    );

  const accumulate = (k: "secrets" | "imagePullSecrets", base: string[] | undefined) => [
    ...new Set([...(base ?? []), ...(envOpts[k] ?? []), ...(over[k] ?? []), ...(deco[k] ?? [])]),
  ];

  // The image: cudaVersion and image both choose it; the higher source wins (one source giving both was
  // rejected when its options were validated).
  const cudaVersion = rank("cudaVersion") < rank("image") ? pick("cudaVersion") : undefined;
  let cudaImage: string | undefined;
  if (cudaVersion !== undefined) {
    const known = cudaImages(environment?.cudaImages);
    cudaImage = known[cudaVersionKey(cudaVersion) ?? ""];
    if (cudaImage === undefined)
      problems.add(
        new KubernetesConfigError(
          step,
          label("cudaVersion"),
          cudaVersion,
          `a CUDA version kubestep has an image for: ${Object.keys(known)
            .sort((a, b) => a.localeCompare(b, "en", { numeric: true }))
            .join(", ")} (or give image = a CUDA image of your own; an environment can add versions with cudaImages)`,
        ),
      );
  }
  const image = withRegistry(
    cudaImage ?? pick("image") ?? fromEnvironment("image", environment?.image) ?? defaultImage(),
    envs.registry,
  );
  // The node image: the default step image unless named (steps that name no image run on it, so it has node).
  const nodeImage = withRegistry(
    pick("nodeImage") ??
      fromEnvironment("nodeImage", environment?.nodeImage) ??
      envOpts.image ??
      environment?.image ??
      defaultImage(),
    envs.registry,
  );
  const injectNodeMode = pick("injectNode") ?? "auto";
  const injectNode = injectNodeMode === "always" || (injectNodeMode === "auto" && image !== nodeImage);

  const config: ResolvedKubernetesConfig = {
    step,
    namespace:
      pick("namespace") ?? fromEnvironment("namespace", environment?.namespace) ?? KUBERNETES_DEFAULTS.namespace,
    image,
    nodeImage,
    injectNode,
    imagePullSecrets: accumulate("imagePullSecrets", environment?.imagePullSecrets),
    secrets: accumulate("secrets", undefined),
    cpu,
    memory,
    disk,
    gpuVendor,
    gpuResourceName,
    nodeSelector,
    tolerations,
    labels,
    annotations,
    useTmpfs,
    tmpfsTempdir,
    tmpfsSize,
    tmpfsPath,
    persistentVolumeClaims,
    qos,
    hostnameResolutionTimeout: pick("hostnameResolutionTimeout") ?? KUBERNETES_DEFAULTS.hostnameResolutionTimeout,
    jobTtlSecondsAfterFinished: envs.jobTtlSecondsAfterFinished ?? KUBERNETES_DEFAULTS.jobTtlSecondsAfterFinished,
  };
  if (cudaVersion !== undefined) config.cudaVersion = cudaVersion;
  const imagePullPolicy = pick("imagePullPolicy") ?? fromEnvironment("imagePullPolicy", environment?.imagePullPolicy);
  if (imagePullPolicy !== undefined) config.imagePullPolicy = imagePullPolicy;
  if (qos === "Burstable" && defaults.memoryLimitFactor !== undefined)
    config.memoryLimitFactor = defaults.memoryLimitFactor;
  const serviceAccount = pick("serviceAccount") ?? fromEnvironment("serviceAccount", environment?.serviceAccount);
  if (serviceAccount !== undefined) config.serviceAccount = serviceAccount;
  if (gpu !== undefined) config.gpu = gpu;
  if (pool) config.gpuPool = pool.name;
  if (computePool !== undefined) config.computePool = computePool;
  if (sharedMemory !== undefined) config.sharedMemory = sharedMemory;
  const port = pick("port");
  if (port !== undefined) config.port = port;
  const securityContext = pick("securityContext");
  if (securityContext !== undefined) config.securityContext = securityContext;

  // Combinations on the final values (only when every value is valid on its own: a bad value replaced by its
  // default would report a combination the user did not write).
  if (!sources.has("tmpfsSize") && useTmpfs) sources.set("tmpfsSize", "@kubernetes tmpfsSize (default: 50% of memory)");
  if (optionsValid)
    problems.check(() =>
      checkCombinations(
        step,
        {
          memory,
          tmpfsSize: useTmpfs || explicitTmpfsSize !== undefined ? tmpfsSize : undefined,
          sharedMemory,
          persistentVolumeClaims,
          useTmpfs,
          tmpfsPath,
        },
        label,
      ),
    );
  if (input.timeoutSeconds !== undefined) {
    if (!(input.timeoutSeconds >= KUBERNETES_DEFAULTS.minTimeoutSeconds))
      problems.add(
        new KubernetesConfigError(
          step,
          "@timeout",
          input.timeoutSeconds,
          `at least ${KUBERNETES_DEFAULTS.minTimeoutSeconds} seconds for a step on Kubernetes (pod scheduling and image pull alone can take that long)`,
        ),
      );
    config.timeoutSeconds = input.timeoutSeconds;
  }
  problems.throwIfAny();
  return config;
}

/**
 * Resolves the configuration of several steps, reporting every problem of every step in one error (before anything
 * is submitted). Steps are resolved in the order given.
 */
export function resolveKubernetesConfigs(inputs: KubernetesConfigInput[]): Record<string, ResolvedKubernetesConfig> {
  const problems = new OptionProblems();
  const out: Record<string, ResolvedKubernetesConfig> = {};
  for (const input of inputs) {
    const c = problems.check(() => resolveKubernetesConfig(input));
    if (c) out[input.step] = c;
  }
  problems.throwIfAny();
  return out;
}
