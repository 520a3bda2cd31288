/**
 * GPU node pools for `@kubernetes({ gpu: N })` steps on EKS, GKE and AKS, with labels and taints
 * (default `nvidia.com/gpu=present:NoSchedule`, one normalized taint mapped to each provider's
 * spelling), scale-to-zero, and the NVIDIA device plugin DaemonSet where the platform does not
 * install one (EKS and AKS; GKE installs it with the driver).
 */
import * as pulumi from "@pulumi/pulumi";
import * as eks from "@pulumi/aws/eks/index.js";
import * as iam from "@pulumi/aws/iam/index.js";
import * as gcpContainer from "@pulumi/gcp/container/index.js";
import * as containerservice from "@pulumi/azure-native/containerservice/index.js";
import * as autoscaling from "@pulumi/aws/autoscaling/index.js";
import * as gcpServiceAccount from "@pulumi/gcp/serviceaccount/index.js";
import * as gcpProjects from "@pulumi/gcp/projects/index.js";
import * as appsv1 from "@pulumi/kubernetes/apps/v1/index.js";
import { COMPUTE_POOL_LABEL, gpuResourceFor, type GpuPoolSpec, type Toleration } from "../runtime/contract/index.js";
import { googleAccountId } from "./datastore.js";
import {
  DEFAULT_GPU_TAINT,
  toAksTaint,
  toEksTaint,
  toGkeTaint,
  toleration,
  validateTaint,
  type Taint,
} from "./taints.js";
import {
  ensure,
  requireDnsLabel,
  requireInt,
  requireOneOf,
  requireString,
  resolveSpec,
  shown,
  validateAll,
} from "./validate.js";

/** Where the pool lives. */
export type GpuProvider = "eks" | "gke" | "aks";
/** Allowed providers. */
export const GPU_PROVIDERS: readonly GpuProvider[] = ["eks", "gke", "aks"];
/** What a pool's nodes are for: GPU steps (`gpu`, the default) or CPU steps (`cpu`, selected with `computePool`). */
export type PoolKind = "gpu" | "cpu";
/** Allowed pool kinds. */
export const POOL_KINDS: readonly PoolKind[] = ["gpu", "cpu"];
/** Label kubestep puts on every node of a GPU pool (value = pool name). */
export const POOL_LABEL = "kubestep.io/gpu-pool";
/** Label kubestep puts on every node of a CPU pool: the runtime's `computePool` node selector. */
export const CPU_POOL_LABEL: string = COMPUTE_POOL_LABEL;
/** CPU architectures of EKS node groups. */
export type EksArchitecture = "x86_64" | "arm64";
/**
 * EKS-optimized Amazon Linux 2023 AMI types (AL2 reached end of life): NVIDIA driver variants for GPU
 * pools, standard ones for CPU pools. There is no EKS-optimized AMD GPU AMI: AMD pools need `amiType`.
 */
export const EKS_AMI_TYPES: Record<PoolKind, Record<EksArchitecture, string>> = {
  gpu: { x86_64: "AL2023_x86_64_NVIDIA", arm64: "AL2023_ARM_64_NVIDIA" },
  cpu: { x86_64: "AL2023_x86_64_STANDARD", arm64: "AL2023_ARM_64_STANDARD" },
};
/** Default EKS AMI type of a GPU pool: Amazon Linux 2023 with the NVIDIA driver (x86-64). */
export const EKS_GPU_AMI_TYPE = EKS_AMI_TYPES.gpu.x86_64;
/** Image of the NVIDIA device plugin DaemonSet. */
export const NVIDIA_DEVICE_PLUGIN_IMAGE = "nvcr.io/nvidia/k8s-device-plugin:v0.17.0";
/** The taint AKS puts on every node of a Spot pool (listed so steps tolerate it). */
export const AKS_SPOT_TAINT: Taint = {
  key: "kubernetes.azure.com/scalesetpriority",
  value: "spot",
  effect: "NoSchedule",
};
/** Roles of a dedicated GKE node service account: GKE's least-privilege node role and image pulls. */
export const GKE_NODE_ROLES = ["roles/container.defaultNodeServiceAccount", "roles/artifactregistry.reader"];
/** Size fields the autoscaler changes: ignored after creation so `pulumi up` does not fight it. */
export const AUTOSCALED_FIELDS: Record<GpuProvider, string[]> = {
  eks: ["scalingConfig.desiredSize"],
  gke: ["initialNodeCount", "nodeCount"],
  aks: ["count"],
};

/** EKS specifics of a pool. */
export interface EksGpuPoolArgs {
  /** EKS cluster name. */
  clusterName: pulumi.Input<string>;
  /** Subnets the nodes are placed in. */
  subnetIds: pulumi.Input<pulumi.Input<string>[]>;
  /** IAM role of the nodes; when unset a role with the EKS worker, CNI and ECR read-only policies is created. */
  nodeRoleArn?: pulumi.Input<string>;
  /** Region of the cluster (the node group and its autoscaling tags are created there); default the provider's. */
  region?: pulumi.Input<string>;
  /** Instance types; default `["g5.xlarge"]` (GPU) or `["m7i.xlarge"]` (CPU). */
  instanceTypes?: pulumi.Input<pulumi.Input<string>[]>;
  /** CPU architecture of the instance types (picks the AMI type); default `x86_64`. */
  architecture?: pulumi.Input<EksArchitecture>;
  /** AMI type; default from {@link EKS_AMI_TYPES} (`AL2023_x86_64_NVIDIA` for a GPU pool). */
  amiType?: pulumi.Input<string>;
  /** Root disk size in GiB; default 100. */
  diskSize?: pulumi.Input<number>;
  /** `ON_DEMAND` or `SPOT`; default `SPOT` when the pool sets `spot`, else `ON_DEMAND`. */
  capacityType?: pulumi.Input<"ON_DEMAND" | "SPOT">;
}

/** GKE specifics of a pool. */
export interface GkeGpuPoolArgs {
  /** GKE cluster name (or id). */
  cluster: pulumi.Input<string>;
  /** Google Cloud project. */
  project?: pulumi.Input<string>;
  /** Cluster location (region or zone). */
  location?: pulumi.Input<string>;
  /** Zones of the pool's nodes (e.g. those that have the accelerator); default the cluster's. */
  nodeLocations?: pulumi.Input<pulumi.Input<string>[]>;
  /** How the autoscaler spreads nodes over zones: `ANY` (default: wherever capacity is, best for GPUs and Spot) or `BALANCED`. */
  locationPolicy?: pulumi.Input<"ANY" | "BALANCED">;
  /** Machine type; default `g2-standard-4` (GPU) or `n2-standard-4` (CPU). */
  machineType?: pulumi.Input<string>;
  /** Accelerator type; default `nvidia-l4`. */
  acceleratorType?: pulumi.Input<string>;
  /** Accelerators per node; default 1. */
  acceleratorCount?: pulumi.Input<number>;
  /** Driver version GKE installs: `DEFAULT`, `LATEST` (default) or `INSTALLATION_DISABLED`. */
  gpuDriverVersion?: pulumi.Input<"DEFAULT" | "LATEST" | "INSTALLATION_DISABLED">;
  /** Google service account (email) of the nodes; when unset a dedicated least-privilege one is created ({@link GKE_NODE_ROLES}). */
  nodeServiceAccount?: pulumi.Input<string>;
}

/** AKS specifics of a pool. */
export interface AksGpuPoolArgs {
  /** Resource group of the AKS cluster. */
  resourceGroupName: pulumi.Input<string>;
  /** AKS cluster name. */
  clusterName: pulumi.Input<string>;
  /** VM size; default `Standard_NC4as_T4_v3` (GPU) or `Standard_D4s_v5` (CPU). */
  vmSize?: pulumi.Input<string>;
  /** OS disk size in GB; default 128. */
  osDiskSizeGB?: pulumi.Input<number>;
  /** Spot pools: highest price per hour in US dollars, `-1` (default) = up to the on-demand price. */
  spotMaxPrice?: pulumi.Input<number>;
}

/** Resolved arguments of {@link GpuNodePool}; see {@link GpuNodePoolArgs}. */
export interface GpuNodePoolSpecInput {
  provider: GpuProvider;
  poolName: string;
  kind?: PoolKind;
  vendor?: "nvidia" | "amd";
  nodeLabels?: Record<string, string>;
  taints?: Taint[];
  minSize?: number;
  maxSize: number;
  desiredSize?: number;
  spot?: boolean;
  devicePlugin?: boolean;
  eks?: pulumi.Unwrap<EksGpuPoolArgs>;
  gke?: pulumi.Unwrap<GkeGpuPoolArgs>;
  aks?: pulumi.Unwrap<AksGpuPoolArgs>;
}

/** Everything a {@link GpuNodePool} creates, in plain values. */
export interface GpuNodePoolSpec {
  /** GPU or CPU pool. */
  kind: PoolKind;
  /** The pool as the runtime sees it (contract); undefined for a CPU pool (steps select it with `computePool`). */
  pool: GpuPoolSpec | undefined;
  /** Labels of every node. */
  nodeLabels: Record<string, string>;
  /** Taints of every node (Kubernetes spelling). */
  taints: Taint[];
  /** Scaling: min (0 = scale to zero), desired, max. */
  scaling: { min: number; desired: number; max: number };
  /** Spot / preemptible capacity. */
  spot: boolean;
  /** Whether the NVIDIA device plugin DaemonSet is installed. */
  devicePlugin: boolean;
  /** EKS node group inputs (when provider is eks). */
  eks?: {
    clusterName: string;
    nodeGroupName: string;
    subnetIds: string[];
    nodeRoleArn?: string;
    region?: string;
    amiType: string;
    instanceTypes: string[];
    diskSize: number;
    capacityType: string;
    labels: Record<string, string>;
    taints: { key: string; value?: string; effect: string }[];
    scalingConfig: { minSize: number; desiredSize: number; maxSize: number };
    /** Cluster Autoscaler node-template tags for the group's Auto Scaling group (scale from zero). */
    autoscalerTags: Record<string, string>;
  };
  /** GKE node pool inputs (when provider is gke). */
  gke?: {
    cluster: string;
    name: string;
    project?: string;
    location?: string;
    nodeLocations?: string[];
    initialNodeCount: number;
    autoscaling: { totalMinNodeCount: number; totalMaxNodeCount: number; locationPolicy: "ANY" | "BALANCED" };
    management: { autoRepair: boolean; autoUpgrade: boolean };
    nodeConfig: {
      machineType: string;
      guestAccelerators?: { type: string; count: number; gpuDriverInstallationConfig: { gpuDriverVersion: string } }[];
      labels: Record<string, string>;
      taints: { key: string; value: string; effect: string }[];
      workloadMetadataConfig: { mode: "GKE_METADATA" };
      oauthScopes: string[];
      serviceAccount?: string;
      spot: boolean;
    };
  };
  /** AKS agent pool inputs (when provider is aks). */
  aks?: {
    resourceGroupName: string;
    resourceName: string;
    agentPoolName: string;
    vmSize: string;
    osDiskSizeGB: number;
    mode: "User";
    osType: "Linux";
    nodeLabels: Record<string, string>;
    nodeTaints: string[];
    enableAutoScaling: true;
    minCount: number;
    maxCount: number;
    count: number;
    scaleSetPriority?: "Spot";
    scaleSetEvictionPolicy?: "Delete";
    spotMaxPrice?: number;
  };
}

/** The pool's entry in the contract: name, vendor, resource name, node labels, taints. */
export function gpuPoolContract(
  poolName: string,
  vendor: "nvidia" | "amd",
  nodeLabels: Record<string, string>,
  taints: Taint[],
): GpuPoolSpec {
  return {
    name: poolName,
    vendor,
    resourceName: gpuResourceFor(vendor),
    nodeLabels: { ...nodeLabels },
    taints: taints.map((t) => ({ ...t })),
  };
}

/** Whether the platform lacks a device plugin of its own (EKS and AKS do; GKE installs one with the driver). */
export function needsDevicePlugin(provider: GpuProvider): boolean {
  return provider !== "gke";
}

/** The EKS AMI type of a pool: `amiType` when given, else from {@link EKS_AMI_TYPES}; AMD GPU pools must name one. */
export function eksAmiType(
  kind: PoolKind,
  vendor: "nvidia" | "amd",
  architecture: EksArchitecture = "x86_64",
  amiType?: string,
): string {
  if (amiType !== undefined) {
    requireString(amiType, "eks.amiType");
    return amiType;
  }
  requireOneOf(architecture, ["x86_64", "arm64"] as const, "eks.architecture");
  ensure(
    kind === "cpu" || vendor === "nvidia",
    "eks.amiType",
    "is required for an AMD GPU pool: EKS has no AMD GPU AMI type (use a custom AMI / launch template)",
  );
  return EKS_AMI_TYPES[kind][architecture];
}

/**
 * Cluster Autoscaler node-template tags of an EKS pool's Auto Scaling group, so the autoscaler can
 * build the node of an empty group (scale from zero) with the pool's labels and taints
 * (`k8s.io/cluster-autoscaler/node-template/label/<key>` = value, `.../taint/<key>` = `value:Effect`).
 * Managed node groups do not copy their labels and taints to the group's tags themselves.
 */
export function clusterAutoscalerNodeTemplateTags(
  labels: Record<string, string>,
  taints: Taint[],
): Record<string, string> {
  const tags: Record<string, string> = {};
  for (const [k, v] of Object.entries(labels)) tags[`k8s.io/cluster-autoscaler/node-template/label/${k}`] = v;
  for (const t of taints)
    tags[`k8s.io/cluster-autoscaler/node-template/taint/${t.key}`] = `${t.value ?? ""}:${t.effect}`;
  return tags;
}

/**
 * Builds and validates every input of a pool from resolved arguments. Every problem is reported
 * at once (`pulumi.InputPropertiesError`).
 */
export function gpuNodePoolSpec(a: GpuNodePoolSpecInput): GpuNodePoolSpec {
  return validateAll("kubestep:gpu:GpuNodePool", (p) => {
    p.check(() => requireOneOf(a.provider, GPU_PROVIDERS, "provider"));
    p.check(() => requireDnsLabel(a.poolName, "poolName"));
    const kind = a.kind ?? "gpu";
    p.check(() => requireOneOf(kind, POOL_KINDS, "kind"));
    const vendor = a.vendor ?? "nvidia";
    p.check(() => requireOneOf(vendor, ["nvidia", "amd"] as const, "vendor"));
    const min = a.minSize ?? 0;
    const sizes =
      p.check(() => requireInt(min, "minSize", 0, 1000)) &&
      p.check(() => requireInt(a.maxSize, "maxSize", 1, 1000)) &&
      p.ensure(a.maxSize >= min, "maxSize", `must be at least minSize (${min}) (got ${a.maxSize})`);
    const desired = a.desiredSize ?? min;
    if (sizes) p.check(() => requireInt(desired, "desiredSize", min, a.maxSize));
    const spot = a.spot ?? false;
    p.ensure(typeof spot === "boolean", "spot", `must be true or false (got ${shown(spot)})`);
    let taints = a.taints ?? (kind === "gpu" ? [DEFAULT_GPU_TAINT] : []);
    if (p.ensure(Array.isArray(taints), "taints", `must be a list of { key, value?, effect } (got ${shown(taints)})`))
      taints.forEach((t, i) => p.check(() => validateTaint(t, `taints[${i}]`)));
    else taints = [];
    const nodeLabels = { [kind === "gpu" ? POOL_LABEL : CPU_POOL_LABEL]: a.poolName, ...(a.nodeLabels ?? {}) };
    for (const [k, v] of Object.entries(nodeLabels))
      p.ensure(typeof v === "string", `nodeLabels.${k}`, `must be a string (got ${shown(v)})`);
    const devicePlugin = a.devicePlugin ?? (kind === "gpu" && vendor === "nvidia" && needsDevicePlugin(a.provider));
    p.ensure(
      !devicePlugin || (kind === "gpu" && vendor === "nvidia"),
      "devicePlugin",
      `the bundled device plugin is NVIDIA's, for GPU pools; this pool is ${shown(kind)} of vendor ${shown(vendor)}`,
    );
    for (const other of GPU_PROVIDERS.filter((x) => x !== a.provider && a[x] !== undefined))
      p.ensure(false, other, `is only for provider "${other}"; provider is "${a.provider}"`);
    // AKS adds this taint to every Spot node: list it so the runtime tolerates it.
    if (a.provider === "aks" && spot && !taints.some((t) => t.key === AKS_SPOT_TAINT.key))
      taints = [...taints, AKS_SPOT_TAINT];
    const spec: GpuNodePoolSpec = {
      kind,
      pool: kind === "gpu" ? gpuPoolContract(a.poolName, vendor, nodeLabels, taints) : undefined,
      nodeLabels,
      taints,
      scaling: { min, desired, max: a.maxSize },
      spot,
      devicePlugin,
    };

    if (a.provider === "eks") {
      const e = a.eks;
      if (e === undefined) {
        p.ensure(false, "eks", 'is required when provider is "eks" ({ clusterName, subnetIds, ... })');
        return spec;
      }
      p.check(() => requireString(e.clusterName, "eks.clusterName"));
      p.ensure(
        Array.isArray(e.subnetIds) && e.subnetIds.length > 0,
        "eks.subnetIds",
        `must list at least one subnet id (got ${shown(e.subnetIds)})`,
      );
      if (e.region !== undefined) p.check(() => requireString(e.region, "eks.region"));
      const capacityType = e.capacityType ?? (spot ? "SPOT" : "ON_DEMAND");
      p.check(() => requireOneOf(capacityType, ["ON_DEMAND", "SPOT"] as const, "eks.capacityType"));
      p.ensure(
        !(spot && capacityType === "ON_DEMAND"),
        "eks.capacityType",
        'is "ON_DEMAND" but the pool sets spot: true',
      );
      const diskSize = e.diskSize ?? 100;
      p.check(() => requireInt(diskSize, "eks.diskSize", 20, 16384));
      let amiType = "";
      p.check(() => (amiType = eksAmiType(kind, vendor, e.architecture, e.amiType)));
      const instanceTypes = e.instanceTypes ?? [kind === "gpu" ? "g5.xlarge" : "m7i.xlarge"];
      p.ensure(
        Array.isArray(instanceTypes) && instanceTypes.length > 0,
        "eks.instanceTypes",
        `must list at least one instance type (got ${shown(instanceTypes)})`,
      );
      spec.eks = {
        clusterName: e.clusterName,
        nodeGroupName: `kubestep-${a.poolName}`,
        subnetIds: [...(e.subnetIds ?? [])],
        ...(e.nodeRoleArn !== undefined ? { nodeRoleArn: e.nodeRoleArn } : {}),
        ...(e.region !== undefined ? { region: e.region } : {}),
        amiType,
        instanceTypes,
        diskSize,
        capacityType,
        labels: nodeLabels,
        taints: taints.map(toEksTaint),
        scalingConfig: { minSize: min, desiredSize: desired, maxSize: a.maxSize },
        autoscalerTags: clusterAutoscalerNodeTemplateTags(nodeLabels, taints),
      };
    } else if (a.provider === "gke") {
      const g = a.gke;
      if (g === undefined) {
        p.ensure(false, "gke", 'is required when provider is "gke" ({ cluster, project?, location?, ... })');
        return spec;
      }
      p.check(() => requireString(g.cluster, "gke.cluster"));
      const count = g.acceleratorCount ?? 1;
      p.check(() => requireInt(count, "gke.acceleratorCount", 1, 16));
      const driver = g.gpuDriverVersion ?? "LATEST";
      p.check(() =>
        requireOneOf(driver, ["DEFAULT", "LATEST", "INSTALLATION_DISABLED"] as const, "gke.gpuDriverVersion"),
      );
      p.ensure(
        !(kind === "gpu" && driver === "INSTALLATION_DISABLED" && !devicePlugin),
        "gke.gpuDriverVersion",
        "INSTALLATION_DISABLED needs devicePlugin: true (and your own driver installer)",
      );
      const locationPolicy = g.locationPolicy ?? "ANY";
      p.check(() => requireOneOf(locationPolicy, ["ANY", "BALANCED"] as const, "gke.locationPolicy"));
      if (g.nodeLocations !== undefined)
        p.ensure(
          Array.isArray(g.nodeLocations) &&
            g.nodeLocations.length > 0 &&
            g.nodeLocations.every((z) => typeof z === "string" && z !== ""),
          "gke.nodeLocations",
          `must list at least one zone (got ${shown(g.nodeLocations)})`,
        );
      spec.gke = {
        cluster: g.cluster,
        name: `kubestep-${a.poolName}`,
        ...(g.project !== undefined ? { project: g.project } : {}),
        ...(g.location !== undefined ? { location: g.location } : {}),
        ...(g.nodeLocations !== undefined ? { nodeLocations: [...g.nodeLocations] } : {}),
        // Per zone (GKE creates this many in each of the pool's zones); later sizes are the autoscaler's.
        initialNodeCount: desired,
        // Total limits: GKE's minNodeCount/maxNodeCount would apply per zone.
        autoscaling: { totalMinNodeCount: min, totalMaxNodeCount: a.maxSize, locationPolicy },
        management: { autoRepair: true, autoUpgrade: true },
        nodeConfig: {
          machineType: g.machineType ?? (kind === "gpu" ? "g2-standard-4" : "n2-standard-4"),
          ...(kind === "gpu"
            ? {
                guestAccelerators: [
                  {
                    type: g.acceleratorType ?? "nvidia-l4",
                    count,
                    gpuDriverInstallationConfig: { gpuDriverVersion: driver },
                  },
                ],
              }
            : {}),
          labels: nodeLabels,
          taints: taints.map(toGkeTaint),
          workloadMetadataConfig: { mode: "GKE_METADATA" },
          oauthScopes: ["https://www.googleapis.com/auth/cloud-platform"],
          ...(g.nodeServiceAccount !== undefined ? { serviceAccount: g.nodeServiceAccount } : {}),
          spot,
        },
      };
    } else if (a.provider === "aks") {
      const z = a.aks;
      if (z === undefined) {
        p.ensure(false, "aks", 'is required when provider is "aks" ({ resourceGroupName, clusterName, vmSize? })');
        return spec;
      }
      p.check(() => requireString(z.resourceGroupName, "aks.resourceGroupName"));
      p.check(() => requireString(z.clusterName, "aks.clusterName"));
      const agentPoolName = String(a.poolName).replace(/-/g, "");
      p.ensure(
        /^[a-z][a-z0-9]{0,11}$/.test(agentPoolName),
        "poolName",
        `AKS agent pool names must start with a letter and have at most 12 letters/digits once '-' are removed (got ${shown(a.poolName)})`,
      );
      const osDiskSizeGB = z.osDiskSizeGB ?? 128;
      p.check(() => requireInt(osDiskSizeGB, "aks.osDiskSizeGB", 30, 2048));
      const spotMaxPrice = z.spotMaxPrice ?? -1;
      p.ensure(
        typeof spotMaxPrice === "number" && (spotMaxPrice === -1 || spotMaxPrice > 0),
        "aks.spotMaxPrice",
        `must be -1 (up to the on-demand price) or a positive price (got ${shown(spotMaxPrice)})`,
      );
      p.ensure(spot || z.spotMaxPrice === undefined, "aks.spotMaxPrice", "is only for Spot pools (spot: true)");
      spec.aks = {
        resourceGroupName: z.resourceGroupName,
        resourceName: z.clusterName,
        agentPoolName,
        vmSize: z.vmSize ?? (kind === "gpu" ? "Standard_NC4as_T4_v3" : "Standard_D4s_v5"),
        osDiskSizeGB,
        mode: "User",
        osType: "Linux",
        nodeLabels,
        nodeTaints: taints.map(toAksTaint),
        enableAutoScaling: true,
        minCount: min,
        maxCount: a.maxSize,
        count: desired,
        ...(spot ? { scaleSetPriority: "Spot" as const, scaleSetEvictionPolicy: "Delete" as const, spotMaxPrice } : {}),
      };
    }
    return spec;
  });
}

/** A plain DaemonSet manifest of the NVIDIA device plugin, restricted to one pool's nodes. */
export interface DevicePluginManifest {
  apiVersion: "apps/v1";
  kind: "DaemonSet";
  metadata: { name: string; namespace: string; labels: Record<string, string> };
  spec: {
    selector: { matchLabels: Record<string, string> };
    updateStrategy: { type: "RollingUpdate" };
    template: {
      metadata: { labels: Record<string, string> };
      spec: {
        priorityClassName: string;
        nodeSelector: Record<string, string>;
        tolerations: Toleration[];
        containers: {
          name: string;
          image: string;
          env: { name: string; value: string }[];
          securityContext: { allowPrivilegeEscalation: boolean; capabilities: { drop: string[] } };
          volumeMounts: { name: string; mountPath: string }[];
        }[];
        volumes: { name: string; hostPath: { path: string } }[];
      };
    };
  };
}

/** The NVIDIA device plugin DaemonSet for the nodes of `pool` (tolerating its taints). */
export function nvidiaDevicePluginManifest(
  pool: GpuPoolSpec,
  namespace = "kube-system",
  image = NVIDIA_DEVICE_PLUGIN_IMAGE,
): DevicePluginManifest {
  const labels = {
    "app.kubernetes.io/name": "nvidia-device-plugin",
    "app.kubernetes.io/instance": pool.name,
    "app.kubernetes.io/managed-by": "kubestep",
  };
  return {
    apiVersion: "apps/v1",
    kind: "DaemonSet",
    metadata: { name: `nvidia-device-plugin-${pool.name}`, namespace, labels },
    spec: {
      selector: {
        matchLabels: { "app.kubernetes.io/name": "nvidia-device-plugin", "app.kubernetes.io/instance": pool.name },
      },
      updateStrategy: { type: "RollingUpdate" },
      template: {
        metadata: { labels },
        spec: {
          priorityClassName: "system-node-critical",
          nodeSelector: { ...pool.nodeLabels },
          tolerations: [{ key: "CriticalAddonsOnly", operator: "Exists" }, ...pool.taints.map(toleration)],
          containers: [
            {
              name: "nvidia-device-plugin",
              image,
              env: [{ name: "FAIL_ON_INIT_ERROR", value: "false" }],
              securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ["ALL"] } },
              volumeMounts: [{ name: "device-plugin", mountPath: "/var/lib/kubelet/device-plugins" }],
            },
          ],
          volumes: [{ name: "device-plugin", hostPath: { path: "/var/lib/kubelet/device-plugins" } }],
        },
      },
    },
  };
}

/** Managed policies an EKS node role needs. */
export const EKS_NODE_POLICIES = [
  "arn:aws:iam::aws:policy/AmazonEKSWorkerNodePolicy",
  "arn:aws:iam::aws:policy/AmazonEKS_CNI_Policy",
  "arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryReadOnly",
];

/** Trust policy of an EKS node role: EC2 may assume it. */
export function eksNodeTrustPolicy(): string {
  return JSON.stringify({
    Version: "2012-10-17",
    Statement: [{ Effect: "Allow", Principal: { Service: "ec2.amazonaws.com" }, Action: "sts:AssumeRole" }],
  });
}

/** Arguments of {@link GpuNodePool}. */
export interface GpuNodePoolArgs {
  /** `eks`, `gke` or `aks`; decides which resources are created, so it is a plain value. */
  provider: GpuProvider;
  /** Pool name (DNS label); nodes get label `kubestep.io/gpu-pool=<poolName>` (GPU) or `kubestep.io/compute-pool=<poolName>` (CPU). */
  poolName: pulumi.Input<string>;
  /** `gpu` (default) or `cpu`: a CPU pool has no accelerators, no default taint, and steps select it with `computePool`. Plain value. */
  kind?: PoolKind;
  /** GPU vendor; default `nvidia`. */
  vendor?: pulumi.Input<"nvidia" | "amd">;
  /** Extra node labels. Plain value (on EKS each becomes an autoscaling tag). */
  nodeLabels?: Record<string, pulumi.Input<string>>;
  /** Node taints; default `[nvidia.com/gpu=present:NoSchedule]` for GPU pools, none for CPU pools. Plain value (on EKS each becomes an autoscaling tag). */
  taints?: Taint[];
  /** Minimum nodes; default 0 (scale to zero). */
  minSize?: pulumi.Input<number>;
  /** Maximum nodes. */
  maxSize: pulumi.Input<number>;
  /** Initial nodes (GKE: per zone); default `minSize`. Later changes are the autoscaler's (ignored by `pulumi up`). */
  desiredSize?: pulumi.Input<number>;
  /** Spot / preemptible capacity (EKS `SPOT`, GKE Spot VMs, AKS Spot priority); default false. Plain value. */
  spot?: boolean;
  /** Install the NVIDIA device plugin DaemonSet; default true for NVIDIA GPU pools on EKS and AKS. Plain value. */
  devicePlugin?: boolean;
  /** EKS specifics (provider `eks`). */
  eks?: EksGpuPoolArgs;
  /** GKE specifics (provider `gke`). */
  gke?: GkeGpuPoolArgs;
  /** AKS specifics (provider `aks`). */
  aks?: AksGpuPoolArgs;
}

/**
 * `kubestep:gpu:GpuNodePool`: an EKS managed node group, a GKE node pool or an AKS agent pool of
 * GPU (or CPU) nodes, plus the NVIDIA device plugin where the platform has none. The size the
 * autoscaler manages is ignored after creation (`ignoreChanges`). On EKS, a node role (unless
 * given) that the node group waits for, and the Cluster Autoscaler node-template tags on the
 * group's Auto Scaling group; on GKE a dedicated least-privilege node service account (unless given).
 */
export class GpuNodePool extends pulumi.ComponentResource {
  /** The pool as the contract describes it (undefined for a CPU pool). */
  public readonly pool: pulumi.Output<GpuPoolSpec | undefined>;
  /** The resolved spec (every provider input). */
  public readonly spec: pulumi.Output<GpuNodePoolSpec>;
  /** The provider's name of the pool: EKS node group, GKE node pool or AKS agent pool name. */
  public readonly poolName: pulumi.Output<string>;
  /** EKS: ARN of the node role (created or given). */
  public readonly nodeRoleArn?: pulumi.Output<string>;
  /** EKS: name of the node group's Auto Scaling group. */
  public readonly autoScalingGroupName?: pulumi.Output<string>;
  /** GKE: email of the nodes' Google service account (created or given). */
  public readonly nodeServiceAccount?: pulumi.Output<string>;

  constructor(name: string, args: GpuNodePoolArgs, opts?: pulumi.ComponentResourceOptions) {
    super("kubestep:gpu:GpuNodePool", name, args, opts);
    validateAll("kubestep:gpu:GpuNodePool", () => requireOneOf(args.provider, GPU_PROVIDERS, "provider"));
    const spec = resolveSpec(args, (a) => gpuNodePoolSpec(a as GpuNodePoolSpecInput));
    this.spec = spec;
    const kind = args.kind ?? "gpu";
    const devicePlugin =
      args.devicePlugin ?? (kind === "gpu" && args.vendor !== "amd" && needsDevicePlugin(args.provider));
    const ignoreChanges = AUTOSCALED_FIELDS[args.provider];

    if (args.provider === "eks") {
      const e = spec.apply((s) => s.eks!);
      let nodeRoleArn: pulumi.Input<string>;
      const dependsOn: pulumi.Resource[] = [];
      if (args.eks?.nodeRoleArn === undefined) {
        const role = new iam.Role(
          `${name}-node-role`,
          { assumeRolePolicy: eksNodeTrustPolicy(), tags: { "managed-by": "kubestep" } },
          { parent: this },
        );
        EKS_NODE_POLICIES.forEach((policyArn, i) =>
          dependsOn.push(
            new iam.RolePolicyAttachment(`${name}-node-policy-${i}`, { role: role.name, policyArn }, { parent: this }),
          ),
        );
        nodeRoleArn = role.arn;
      } else nodeRoleArn = args.eks.nodeRoleArn;
      const region = e.apply((x) => x.region) as pulumi.Output<string | undefined>;
      const ng = new eks.NodeGroup(
        `${name}-nodegroup`,
        {
          clusterName: e.apply((x) => x.clusterName),
          nodeGroupName: e.apply((x) => x.nodeGroupName),
          nodeRoleArn,
          subnetIds: e.apply((x) => x.subnetIds),
          region,
          amiType: e.apply((x) => x.amiType),
          instanceTypes: e.apply((x) => x.instanceTypes),
          diskSize: e.apply((x) => x.diskSize),
          capacityType: e.apply((x) => x.capacityType),
          labels: e.apply((x) => x.labels),
          taints: e.apply((x) => x.taints),
          scalingConfig: e.apply((x) => x.scalingConfig),
          tags: { "managed-by": "kubestep" },
        },
        // Like pulumi-eks: the group waits for its role's policies (nodes cannot join without them).
        { parent: this, dependsOn, ignoreChanges },
      );
      const asg = ng.resources.apply((r) => r?.[0]?.autoscalingGroups?.[0]?.name ?? "");
      // One tag per label and taint key: the keys are plain (nodeLabels and taints are plain values).
      const keys = Object.keys(
        clusterAutoscalerNodeTemplateTags(
          { [kind === "gpu" ? POOL_LABEL : CPU_POOL_LABEL]: "", ...(args.nodeLabels ?? {}) } as Record<string, string>,
          args.taints ?? (kind === "gpu" ? [DEFAULT_GPU_TAINT] : []),
        ),
      );
      keys.forEach(
        (key, i) =>
          new autoscaling.Tag(
            `${name}-asg-tag-${i}`,
            {
              autoscalingGroupName: asg,
              region,
              tag: { key, value: e.apply((x) => x.autoscalerTags[key] ?? ""), propagateAtLaunch: false },
            },
            { parent: this },
          ),
      );
      this.nodeRoleArn = pulumi.output(nodeRoleArn);
      this.autoScalingGroupName = asg;
      this.poolName = ng.nodeGroupName;
    } else if (args.provider === "gke") {
      const g = spec.apply((s) => s.gke!);
      let serviceAccount: pulumi.Input<string>;
      const dependsOn: pulumi.Resource[] = [];
      if (args.gke?.nodeServiceAccount === undefined) {
        const gsa = new gcpServiceAccount.Account(
          `${name}-node-sa`,
          {
            accountId: googleAccountId(`${name}-nodes`),
            project: g.apply((x) => x.project) as pulumi.Output<string>,
            displayName: "kubestep pool nodes (least privilege)",
          },
          { parent: this },
        );
        GKE_NODE_ROLES.forEach((role, i) =>
          dependsOn.push(
            new gcpProjects.IAMMember(
              `${name}-node-role-${i}`,
              {
                project: g.apply((x) => x.project ?? ""),
                role,
                member: pulumi.interpolate`serviceAccount:${gsa.email}`,
              },
              { parent: this },
            ),
          ),
        );
        serviceAccount = gsa.email;
      } else serviceAccount = args.gke.nodeServiceAccount;
      const np = new gcpContainer.NodePool(
        `${name}-nodepool`,
        {
          cluster: g.apply((x) => x.cluster),
          name: g.apply((x) => x.name),
          project: g.apply((x) => x.project),
          location: g.apply((x) => x.location),
          nodeLocations: g.apply((x) => x.nodeLocations),
          initialNodeCount: g.apply((x) => x.initialNodeCount),
          autoscaling: g.apply((x) => x.autoscaling),
          management: g.apply((x) => x.management),
          nodeConfig: pulumi.all([g, serviceAccount]).apply(([x, sa]) => ({ ...x.nodeConfig, serviceAccount: sa })),
        },
        { parent: this, dependsOn, ignoreChanges },
      );
      this.nodeServiceAccount = pulumi.output(serviceAccount);
      this.poolName = np.name;
    } else {
      const z = spec.apply((s) => s.aks!);
      const ap = new containerservice.AgentPool(
        `${name}-agentpool`,
        {
          resourceGroupName: z.apply((x) => x.resourceGroupName),
          resourceName: z.apply((x) => x.resourceName),
          agentPoolName: z.apply((x) => x.agentPoolName),
          vmSize: z.apply((x) => x.vmSize),
          osDiskSizeGB: z.apply((x) => x.osDiskSizeGB),
          mode: z.apply((x) => x.mode),
          osType: z.apply((x) => x.osType),
          nodeLabels: z.apply((x) => x.nodeLabels),
          nodeTaints: z.apply((x) => x.nodeTaints),
          enableAutoScaling: z.apply((x) => x.enableAutoScaling),
          minCount: z.apply((x) => x.minCount),
          maxCount: z.apply((x) => x.maxCount),
          count: z.apply((x) => x.count),
          scaleSetPriority: z.apply((x) => x.scaleSetPriority),
          scaleSetEvictionPolicy: z.apply((x) => x.scaleSetEvictionPolicy),
          spotMaxPrice: z.apply((x) => x.spotMaxPrice),
        },
        { parent: this, ignoreChanges },
      );
      this.poolName = ap.name;
    }

    if (devicePlugin) {
      const ds = spec.apply((s) =>
        nvidiaDevicePluginManifest(
          s.pool ?? gpuPoolContract(String(s.nodeLabels[POOL_LABEL]), "nvidia", s.nodeLabels, s.taints),
        ),
      );
      new appsv1.DaemonSet(
        `${name}-device-plugin`,
        { metadata: ds.apply((d) => d.metadata), spec: ds.apply((d) => d.spec) },
        { parent: this },
      );
    }

    this.pool = spec.apply((s) => s.pool);
    this.registerOutputs({
      pool: this.pool,
      poolName: this.poolName,
      nodeRoleArn: this.nodeRoleArn,
      autoScalingGroupName: this.autoScalingGroupName,
      nodeServiceAccount: this.nodeServiceAccount,
    });
  }
}
