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
import * as appsv1 from "@pulumi/kubernetes/apps/v1/index.js";
import type { GpuPoolSpec } from "../runtime/environment.js";
import { DEFAULT_GPU_TAINT, toAksTaint, toEksTaint, toGkeTaint, toleration, validateTaint, type Taint } from "./taints.js";
import { ensure, requireDnsLabel, requireInt, requireOneOf, requireString, resolveSpec, shown } from "./validate.js";

/** Where the pool lives. */
export type GpuProvider = "eks" | "gke" | "aks";
/** Allowed providers. */
export const GPU_PROVIDERS: readonly GpuProvider[] = ["eks", "gke", "aks"];
/** Label kubestep puts on every node of a pool (value = pool name). */
export const POOL_LABEL = "kubestep.io/gpu-pool";
/** Default EKS AMI type: Amazon Linux 2 with the NVIDIA driver. */
export const EKS_GPU_AMI_TYPE = "AL2_x86_64_GPU";
/** Image of the NVIDIA device plugin DaemonSet. */
export const NVIDIA_DEVICE_PLUGIN_IMAGE = "nvcr.io/nvidia/k8s-device-plugin:v0.17.0";

/** EKS specifics of a GPU pool. */
export interface EksGpuPoolArgs {
  /** EKS cluster name. */
  clusterName: string;
  /** Subnets the nodes are placed in. */
  subnetIds: string[];
  /** IAM role of the nodes; when omitted a role with the EKS worker, CNI and ECR read-only policies is created. */
  nodeRoleArn?: string;
  /** Instance types; default `["g5.xlarge"]`. */
  instanceTypes?: string[];
  /** AMI type; default `AL2_x86_64_GPU` (NVIDIA driver preinstalled). */
  amiType?: string;
  /** Root disk size in GiB; default 100. */
  diskSize?: number;
  /** `ON_DEMAND` (default) or `SPOT`. */
  capacityType?: "ON_DEMAND" | "SPOT";
}

/** GKE specifics of a GPU pool. */
export interface GkeGpuPoolArgs {
  /** GKE cluster name (or id). */
  cluster: string;
  /** Google Cloud project. */
  project?: string;
  /** Cluster location (region or zone). */
  location?: string;
  /** Machine type; default `g2-standard-4`. */
  machineType?: string;
  /** Accelerator type; default `nvidia-l4`. */
  acceleratorType?: string;
  /** Accelerators per node; default 1. */
  acceleratorCount?: number;
  /** Driver version GKE installs: `DEFAULT`, `LATEST` (default) or `INSTALLATION_DISABLED`. */
  gpuDriverVersion?: "DEFAULT" | "LATEST" | "INSTALLATION_DISABLED";
  /** Google service account of the nodes (email); default the Compute Engine default. */
  nodeServiceAccount?: string;
  /** Spot VMs; default false. */
  spot?: boolean;
}

/** AKS specifics of a GPU pool. */
export interface AksGpuPoolArgs {
  /** Resource group of the AKS cluster. */
  resourceGroupName: string;
  /** AKS cluster name. */
  clusterName: string;
  /** VM size; default `Standard_NC4as_T4_v3`. */
  vmSize?: string;
  /** OS disk size in GB; default 128. */
  osDiskSizeGB?: number;
}

/** Resolved arguments of {@link GpuNodePool}; see {@link GpuNodePoolArgs}. */
export interface GpuNodePoolSpecInput {
  provider: GpuProvider;
  poolName: string;
  vendor?: "nvidia" | "amd";
  nodeLabels?: Record<string, string>;
  taints?: Taint[];
  minSize?: number;
  maxSize: number;
  desiredSize?: number;
  devicePlugin?: boolean;
  eks?: EksGpuPoolArgs;
  gke?: GkeGpuPoolArgs;
  aks?: AksGpuPoolArgs;
}

/** Everything a {@link GpuNodePool} creates, in plain values. */
export interface GpuNodePoolSpec {
  /** The pool as the runtime sees it (contract). */
  pool: GpuPoolSpec;
  /** Scaling: min (0 = scale to zero), desired, max. */
  scaling: { min: number; desired: number; max: number };
  /** Whether the NVIDIA device plugin DaemonSet is installed. */
  devicePlugin: boolean;
  /** EKS node group inputs (when provider is eks). */
  eks?: {
    clusterName: string;
    nodeGroupName: string;
    subnetIds: string[];
    nodeRoleArn?: string;
    amiType: string;
    instanceTypes: string[];
    diskSize: number;
    capacityType: string;
    labels: Record<string, string>;
    taints: { key: string; value?: string; effect: string }[];
    scalingConfig: { minSize: number; desiredSize: number; maxSize: number };
  };
  /** GKE node pool inputs (when provider is gke). */
  gke?: {
    cluster: string;
    name: string;
    project?: string;
    location?: string;
    initialNodeCount: number;
    autoscaling: { minNodeCount: number; maxNodeCount: number };
    management: { autoRepair: boolean; autoUpgrade: boolean };
    nodeConfig: {
      machineType: string;
      guestAccelerators: { type: string; count: number; gpuDriverInstallationConfig: { gpuDriverVersion: string } }[];
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
  };
}

/** The pool's entry in the contract: name, vendor, resource name, node labels, taints. */
export function gpuPoolContract(poolName: string, vendor: "nvidia" | "amd", nodeLabels: Record<string, string>, taints: Taint[]): GpuPoolSpec {
  return { name: poolName, vendor, resourceName: vendor === "nvidia" ? "nvidia.com/gpu" : "amd.com/gpu", nodeLabels: { ...nodeLabels }, taints: taints.map((t) => ({ ...t })) };
}

/** Whether the platform lacks a device plugin of its own (EKS and AKS do; GKE installs one with the driver). */
export function needsDevicePlugin(provider: GpuProvider): boolean {
  return provider !== "gke";
}

/** Builds and validates every input of a GPU pool from resolved arguments. */
export function gpuNodePoolSpec(a: GpuNodePoolSpecInput): GpuNodePoolSpec {
  requireOneOf(a.provider, GPU_PROVIDERS, "provider");
  requireDnsLabel(a.poolName, "poolName");
  const vendor = a.vendor ?? "nvidia";
  requireOneOf(vendor, ["nvidia", "amd"] as const, "vendor");
  const min = a.minSize ?? 0;
  requireInt(min, "minSize", 0, 1000);
  requireInt(a.maxSize, "maxSize", 1, 1000);
  ensure(a.maxSize >= min, "maxSize", `must be at least minSize (${min}) (got ${a.maxSize})`);
  const desired = a.desiredSize ?? min;
  requireInt(desired, "desiredSize", min, a.maxSize);
  const taints = a.taints ?? [DEFAULT_GPU_TAINT];
  ensure(Array.isArray(taints), "taints", `must be a list of { key, value?, effect } (got ${shown(taints)})`);
  taints.forEach((t, i) => validateTaint(t, `taints[${i}]`));
  const nodeLabels = { [POOL_LABEL]: a.poolName, ...(a.nodeLabels ?? {}) };
  for (const [k, v] of Object.entries(nodeLabels)) ensure(typeof v === "string", `nodeLabels.${k}`, `must be a string (got ${shown(v)})`);
  const devicePlugin = a.devicePlugin ?? (vendor === "nvidia" && needsDevicePlugin(a.provider));
  ensure(!devicePlugin || vendor === "nvidia", "devicePlugin", `the bundled device plugin is NVIDIA's; vendor is ${shown(vendor)}`);
  const spec: GpuNodePoolSpec = { pool: gpuPoolContract(a.poolName, vendor, nodeLabels, taints), scaling: { min, desired, max: a.maxSize }, devicePlugin };

  const others = GPU_PROVIDERS.filter((p) => p !== a.provider && a[p] !== undefined);
  ensure(others.length === 0, others[0] ?? "", `is only for provider "${others[0]}"; provider is "${a.provider}"`);
  if (a.provider === "eks") {
    const e = a.eks;
    ensure(e !== undefined, "eks", 'is required when provider is "eks" ({ clusterName, subnetIds, ... })');
    requireString(e.clusterName, "eks.clusterName");
    ensure(Array.isArray(e.subnetIds) && e.subnetIds.length > 0, "eks.subnetIds", `must list at least one subnet id (got ${shown(e.subnetIds)})`);
    const capacityType = e.capacityType ?? "ON_DEMAND";
    requireOneOf(capacityType, ["ON_DEMAND", "SPOT"] as const, "eks.capacityType");
    const diskSize = e.diskSize ?? 100;
    requireInt(diskSize, "eks.diskSize", 20, 16384);
    spec.eks = {
      clusterName: e.clusterName,
      nodeGroupName: `kubestep-${a.poolName}`,
      subnetIds: [...e.subnetIds],
      nodeRoleArn: e.nodeRoleArn,
      amiType: e.amiType ?? EKS_GPU_AMI_TYPE,
      instanceTypes: e.instanceTypes ?? ["g5.xlarge"],
      diskSize,
      capacityType,
      labels: nodeLabels,
      taints: taints.map(toEksTaint),
      scalingConfig: { minSize: min, desiredSize: desired, maxSize: a.maxSize },
    };
  } else if (a.provider === "gke") {
    const g = a.gke;
    ensure(g !== undefined, "gke", 'is required when provider is "gke" ({ cluster, project?, location?, ... })');
    requireString(g.cluster, "gke.cluster");
    const count = g.acceleratorCount ?? 1;
    requireInt(count, "gke.acceleratorCount", 1, 16);
    const driver = g.gpuDriverVersion ?? "LATEST";
    requireOneOf(driver, ["DEFAULT", "LATEST", "INSTALLATION_DISABLED"] as const, "gke.gpuDriverVersion");
    ensure(!(driver === "INSTALLATION_DISABLED" && !devicePlugin), "gke.gpuDriverVersion", "INSTALLATION_DISABLED needs devicePlugin: true (and your own driver installer)");
    spec.gke = {
      cluster: g.cluster,
      name: `kubestep-${a.poolName}`,
      ...(g.project !== undefined ? { project: g.project } : {}),
      ...(g.location !== undefined ? { location: g.location } : {}),
      initialNodeCount: desired,
      autoscaling: { minNodeCount: min, maxNodeCount: a.maxSize },
      management: { autoRepair: true, autoUpgrade: true },
      nodeConfig: {
        machineType: g.machineType ?? "g2-standard-4",
        guestAccelerators: [{ type: g.acceleratorType ?? "nvidia-l4", count, gpuDriverInstallationConfig: { gpuDriverVersion: driver } }],
        labels: nodeLabels,
        taints: taints.map(toGkeTaint),
        workloadMetadataConfig: { mode: "GKE_METADATA" },
        oauthScopes: ["https://www.googleapis.com/auth/cloud-platform"],
        ...(g.nodeServiceAccount !== undefined ? { serviceAccount: g.nodeServiceAccount } : {}),
        spot: g.spot ?? false,
      },
    };
  } else {
    const z = a.aks;
    ensure(z !== undefined, "aks", 'is required when provider is "aks" ({ resourceGroupName, clusterName, vmSize? })');
    requireString(z.resourceGroupName, "aks.resourceGroupName");
    requireString(z.clusterName, "aks.clusterName");
    const agentPoolName = a.poolName.replace(/-/g, "");
    ensure(/^[a-z][a-z0-9]{0,11}$/.test(agentPoolName), "poolName", `AKS agent pool names must start with a letter and have at most 12 letters/digits once '-' are removed (got ${shown(a.poolName)})`);
    const osDiskSizeGB = z.osDiskSizeGB ?? 128;
    requireInt(osDiskSizeGB, "aks.osDiskSizeGB", 30, 2048);
    spec.aks = {
      resourceGroupName: z.resourceGroupName,
      resourceName: z.clusterName,
      agentPoolName,
      vmSize: z.vmSize ?? "Standard_NC4as_T4_v3",
      osDiskSizeGB,
      mode: "User",
      osType: "Linux",
      nodeLabels,
      nodeTaints: taints.map(toAksTaint),
      enableAutoScaling: true,
      minCount: min,
      maxCount: a.maxSize,
      count: desired,
    };
  }
  return spec;
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
        tolerations: { key: string; operator: string; value?: string; effect?: string }[];
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
export function nvidiaDevicePluginManifest(pool: GpuPoolSpec, namespace = "kube-system", image = NVIDIA_DEVICE_PLUGIN_IMAGE): DevicePluginManifest {
  const labels = { "app.kubernetes.io/name": "nvidia-device-plugin", "app.kubernetes.io/instance": pool.name, "app.kubernetes.io/managed-by": "kubestep" };
  return {
    apiVersion: "apps/v1",
    kind: "DaemonSet",
    metadata: { name: `nvidia-device-plugin-${pool.name}`, namespace, labels },
    spec: {
      selector: { matchLabels: { "app.kubernetes.io/name": "nvidia-device-plugin", "app.kubernetes.io/instance": pool.name } },
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
  /** Pool name (DNS label); nodes get label `kubestep.io/gpu-pool=<poolName>`. */
  poolName: pulumi.Input<string>;
  /** GPU vendor; default `nvidia`. */
  vendor?: pulumi.Input<"nvidia" | "amd">;
  /** Extra node labels. */
  nodeLabels?: pulumi.Input<Record<string, pulumi.Input<string>>>;
  /** Node taints; default `[nvidia.com/gpu=present:NoSchedule]`. */
  taints?: pulumi.Input<pulumi.Input<Taint>[]>;
  /** Minimum nodes; default 0 (scale to zero). */
  minSize?: pulumi.Input<number>;
  /** Maximum nodes. */
  maxSize: pulumi.Input<number>;
  /** Initial/desired nodes; default `minSize`. */
  desiredSize?: pulumi.Input<number>;
  /** Install the NVIDIA device plugin DaemonSet; default true on EKS and AKS, false on GKE. Plain value. */
  devicePlugin?: boolean;
  /** EKS specifics (provider `eks`). */
  eks?: pulumi.Input<EksGpuPoolArgs>;
  /** GKE specifics (provider `gke`). */
  gke?: pulumi.Input<GkeGpuPoolArgs>;
  /** AKS specifics (provider `aks`). */
  aks?: pulumi.Input<AksGpuPoolArgs>;
}

/**
 * `kubestep:gpu:GpuNodePool`: an EKS managed node group, a GKE node pool or an AKS agent pool
 * of GPU nodes, plus the NVIDIA device plugin where the platform has none.
 */
export class GpuNodePool extends pulumi.ComponentResource {
  /** The pool as the contract describes it. */
  public readonly pool: pulumi.Output<GpuPoolSpec>;
  /** The resolved spec (every provider input). */
  public readonly spec: pulumi.Output<GpuNodePoolSpec>;

  constructor(name: string, args: GpuNodePoolArgs, opts?: pulumi.ComponentResourceOptions) {
    super("kubestep:gpu:GpuNodePool", name, args, opts);
    requireOneOf(args.provider, GPU_PROVIDERS, "provider");
    const spec = resolveSpec(args, (a) => gpuNodePoolSpec(a as GpuNodePoolSpecInput));
    this.spec = spec;
    const devicePlugin = args.devicePlugin ?? (args.vendor !== "amd" && needsDevicePlugin(args.provider));

    if (args.provider === "eks") {
      const e = spec.apply((s) => s.eks!);
      let nodeRoleArn: pulumi.Input<string> = e.apply((x) => x.nodeRoleArn ?? "");
      if (!deepHas(args.eks, "nodeRoleArn")) {
        const role = new iam.Role(`${name}-node-role`, { assumeRolePolicy: eksNodeTrustPolicy() }, { parent: this });
        EKS_NODE_POLICIES.forEach((policyArn, i) => new iam.RolePolicyAttachment(`${name}-node-policy-${i}`, { role: role.name, policyArn }, { parent: this }));
        nodeRoleArn = role.arn;
      }
      new eks.NodeGroup(
        `${name}-nodegroup`,
        {
          clusterName: e.apply((x) => x.clusterName),
          nodeGroupName: e.apply((x) => x.nodeGroupName),
          nodeRoleArn,
          subnetIds: e.apply((x) => x.subnetIds),
          amiType: e.apply((x) => x.amiType),
          instanceTypes: e.apply((x) => x.instanceTypes),
          diskSize: e.apply((x) => x.diskSize),
          capacityType: e.apply((x) => x.capacityType),
          labels: e.apply((x) => x.labels),
          taints: e.apply((x) => x.taints),
          scalingConfig: e.apply((x) => x.scalingConfig),
        },
        { parent: this },
      );
    } else if (args.provider === "gke") {
      const g = spec.apply((s) => s.gke!);
      new gcpContainer.NodePool(
        `${name}-nodepool`,
        {
          cluster: g.apply((x) => x.cluster),
          name: g.apply((x) => x.name),
          project: g.apply((x) => x.project),
          location: g.apply((x) => x.location),
          initialNodeCount: g.apply((x) => x.initialNodeCount),
          autoscaling: g.apply((x) => x.autoscaling),
          management: g.apply((x) => x.management),
          nodeConfig: g.apply((x) => x.nodeConfig),
        },
        { parent: this },
      );
    } else {
      const z = spec.apply((s) => s.aks!);
      new containerservice.AgentPool(
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
        },
        { parent: this },
      );
    }

    if (devicePlugin) {
      const ds = spec.apply((s) => nvidiaDevicePluginManifest(s.pool));
      new appsv1.DaemonSet(`${name}-device-plugin`, { metadata: ds.apply((d) => d.metadata), spec: ds.apply((d) => d.spec) }, { parent: this });
    }

    this.pool = spec.apply((s) => s.pool);
    this.registerOutputs({ pool: this.pool });
  }
}

/** True when `v` (an input object, maybe not yet resolved) is known to set `key`. */
function deepHas(v: unknown, key: string): boolean {
  return typeof v === "object" && v !== null && !pulumi.Output.isInstance(v) && (v as Record<string, unknown>)[key] !== undefined;
}
