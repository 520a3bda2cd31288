/**
 * The Kubernetes vocabulary the runtime and the components share, each word defined once: taint effects and
 * the toleration of a taint, pod QoS classes, GPU vendors and their extended resources, the compute-pool
 * node label. Dependency-free (no Kubernetes client, no Pulumi).
 */

/** Taint effects Kubernetes knows (a toleration matches one, or every effect when it names none). */
export const TAINT_EFFECTS = ["NoSchedule", "PreferNoSchedule", "NoExecute"] as const;
/** A taint effect. */
export type TaintEffect = (typeof TAINT_EFFECTS)[number];

/** Pod quality-of-service classes. */
export const QOS_CLASSES = ["Guaranteed", "Burstable", "BestEffort"] as const;
/** Pod quality-of-service class. */
export type QosClass = (typeof QOS_CLASSES)[number];

/** GPU vendors kubestep knows the extended resource name of. */
export const GPU_VENDORS = ["nvidia", "amd"] as const;
/** A GPU vendor. */
export type GpuVendor = (typeof GPU_VENDORS)[number];

/** The extended resource each GPU vendor's device plugin advertises. */
export const GPU_RESOURCE_NAMES: Readonly<Record<GpuVendor, string>> = {
  nvidia: "nvidia.com/gpu",
  amd: "amd.com/gpu",
};

/** Default extended resource name of a GPU vendor (`nvidia.com/gpu`, `amd.com/gpu`). */
export function gpuResourceFor(vendor: GpuVendor): string {
  return GPU_RESOURCE_NAMES[vendor] ?? GPU_RESOURCE_NAMES.nvidia;
}

/** Node label a non-GPU-pool `computePool` selects on (the components put it on every node of a CPU pool). */
export const COMPUTE_POOL_LABEL = "kubestep.io/compute-pool";

/**
 * Where the Node.js kubestep brings into pods of images without it is mounted (`@kubernetes` injectNode); no
 * tmpfs or volume of the step may be mounted there.
 */
export const INJECTED_NODE_DIR = "/kubestep/node";

/** A node taint, as Kubernetes spells it (`key=value:Effect`). */
export interface TaintSpec {
  /** Taint key, e.g. `nvidia.com/gpu`. */
  key: string;
  /** Taint value; omitted for a key-only taint. */
  value?: string;
  /** `NoSchedule`, `PreferNoSchedule` or `NoExecute`. */
  effect: TaintEffect;
}

/** A Kubernetes toleration, as in a pod spec. */
export interface Toleration {
  /** Taint key to match; empty or absent with operator `Exists` matches every taint. */
  key?: string;
  /** `Equal` (default: key and value must match) or `Exists` (key only; no value). */
  operator?: "Equal" | "Exists";
  /** Taint value to match (operator `Equal`). */
  value?: string;
  /** Taint effect to match; absent matches every effect. */
  effect?: TaintEffect;
  /** With effect `NoExecute`: seconds the pod stays after the taint appears (absent = forever). */
  tolerationSeconds?: number;
}

/**
 * The toleration that tolerates `taint`: `Equal` on key and value, or `Exists` on the key when the taint has
 * no value (absent or empty: `Exists` tolerates the empty value too).
 */
export function tolerationFor(taint: TaintSpec): Toleration {
  return taint.value !== undefined && taint.value !== ""
    ? { key: taint.key, operator: "Equal", value: taint.value, effect: taint.effect }
    : { key: taint.key, operator: "Exists", effect: taint.effect };
}

/** When the kubelet pulls a container image (absent: Kubernetes decides, `Always` for `:latest`, else `IfNotPresent`). */
export const IMAGE_PULL_POLICIES = ["Always", "IfNotPresent", "Never"] as const;
/** An image pull policy. */
export type ImagePullPolicy = (typeof IMAGE_PULL_POLICIES)[number];

/**
 * The image `@kubernetes({ cudaVersion })` runs when the step names no image: NVIDIA's CUDA runtime image
 * (`nvidia/cuda:<version>-runtime-ubuntu22.04`, on Docker Hub and nvcr.io) of the latest patch release of each
 * CUDA minor version. Keys are `major.minor`; an environment may override or add entries (`cudaImages`).
 * CUDA 12.7 was never released.
 */
export const CUDA_IMAGES: Readonly<Record<string, string>> = {
  "11.8": "nvidia/cuda:11.8.0-runtime-ubuntu22.04",
  "12.0": "nvidia/cuda:12.0.1-runtime-ubuntu22.04",
  "12.1": "nvidia/cuda:12.1.1-runtime-ubuntu22.04",
  "12.2": "nvidia/cuda:12.2.2-runtime-ubuntu22.04",
  "12.3": "nvidia/cuda:12.3.2-runtime-ubuntu22.04",
  "12.4": "nvidia/cuda:12.4.1-runtime-ubuntu22.04",
  "12.5": "nvidia/cuda:12.5.1-runtime-ubuntu22.04",
  "12.6": "nvidia/cuda:12.6.3-runtime-ubuntu22.04",
  "12.8": "nvidia/cuda:12.8.1-runtime-ubuntu22.04",
  "12.9": "nvidia/cuda:12.9.1-runtime-ubuntu22.04",
};

/** The form of a CUDA version: `major.minor`, optionally `.patch` (the patch is ignored when choosing the image). */
export const CUDA_VERSION_PATTERN = /^([1-9][0-9]*)\.([0-9]+)(?:\.[0-9]+)?$/;

/** The `major.minor` key of a CUDA version ("12.4.1" -> "12.4"), or undefined when it is not one. */
export function cudaVersionKey(version: string): string | undefined {
  const m = CUDA_VERSION_PATTERN.exec(version.trim());
  return m ? `${Number(m[1])}.${Number(m[2])}` : undefined;
}

/** The CUDA mapping in force: {@link CUDA_IMAGES} with an environment's `cudaImages` over it. */
export function cudaImages(overrides: Readonly<Record<string, string>> = {}): Record<string, string> {
  const out: Record<string, string> = { ...CUDA_IMAGES };
  for (const [v, image] of Object.entries(overrides)) out[cudaVersionKey(v) ?? v] = image;
  return out;
}
