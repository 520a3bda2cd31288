/**
 * `kubestep:index:Environment`: everything a team needs to run kubestep flows on a cluster —
 * namespace + identities + RBAC, the datastore with pod identity, GPU node pools — and, as
 * output `kubestep`, the {@link KubestepEnvironment} contract the runtime consumes.
 */
import * as pulumi from "@pulumi/pulumi";
import type {
  DatastoreSpec,
  GpuPoolSpec,
  KubestepEnvironment,
  QosClass,
  ResourceDefaults,
} from "../runtime/contract/index.js";
import { ClusterAutoscaler } from "./autoscaler.js";
import { AzureDatastore, GcsDatastore, S3Datastore } from "./datastore.js";
import {
  GpuNodePool,
  gpuNodePoolSpec,
  gpuPoolContract,
  POOL_LABEL,
  type EksArchitecture,
  type GpuNodePoolArgs,
  type GpuNodePoolSpecInput,
  type GpuProvider,
  type PoolKind,
} from "./gpu.js";
import {
  DEFAULT_STEP_SERVICE_ACCOUNT,
  StepNamespace,
  type ContainerLimits,
  type NetworkPoliciesArgs,
  type PodSecurity,
  type Submitters,
  type SubmittersArgs,
} from "./namespace.js";
import * as rbacv1 from "@pulumi/kubernetes/rbac/v1/index.js";
import {
  DEFAULT_ORCHESTRATOR_NAME,
  DEFAULT_DEPLOYER_ROLE,
  OrchestratorIdentity,
  deployerRoleBindingManifest,
  deployerRoleManifest,
} from "./orchestrator.js";
import { DEFAULT_GPU_TAINT, validateTaint, type Taint } from "./taints.js";
import {
  requireDnsLabel,
  requireOneOf,
  requireString,
  resolveSpec,
  shown,
  validateAll,
  type Problems,
} from "./validate.js";

/** Where the environment lives. `existing` = an existing cluster and datastore root; no cloud resources. */
export type Cloud = "aws" | "gcp" | "azure" | "existing";
/** Allowed clouds. */
export const CLOUDS: readonly Cloud[] = ["aws", "gcp", "azure", "existing"];
const QOS: readonly QosClass[] = ["Guaranteed", "Burstable", "BestEffort"];
const PROVIDER: Record<Exclude<Cloud, "existing">, GpuProvider> = { aws: "eks", gcp: "gke", azure: "aks" };

/** The EKS cluster (cloud `aws`). Fields accept outputs, e.g. `{ clusterName: cluster.name }`. */
export interface AwsClusterArgs {
  /** EKS cluster name. */
  clusterName: pulumi.Input<string>;
  /** ARN of the cluster's IAM OIDC provider (for IRSA). */
  oidcProviderArn: pulumi.Input<string>;
  /** Issuer URL of the cluster's OIDC provider. */
  oidcProviderUrl: pulumi.Input<string>;
  /** Region of the cluster: the bucket, node groups and autoscaling tags are created there; default the AWS provider's. */
  region?: pulumi.Input<string>;
  /** Subnets for the node groups (required when `gpuPools` is set). */
  subnetIds?: pulumi.Input<pulumi.Input<string>[]>;
  /** Node role for the node groups; default one is created per pool. */
  nodeRoleArn?: pulumi.Input<string>;
  /** IAM roles (names) of submitters: the datastore's submitter policy is attached to them. Plain list. */
  submitterRoleNames?: pulumi.Input<string>[];
  /** Install the Cluster Autoscaler (needed for the node groups to scale, from zero too); default true when pools exist. Plain value. */
  clusterAutoscaler?: boolean | { chartVersion?: string };
}

/** The GKE cluster (cloud `gcp`). Fields accept outputs. */
export interface GcpClusterArgs {
  /** GKE cluster name. */
  cluster: pulumi.Input<string>;
  /** Project (also the Workload Identity pool `<project>.svc.id.goog`). */
  project: pulumi.Input<string>;
  /** Cluster location (region or zone); also the bucket location unless `datastore.location` is set. */
  location: pulumi.Input<string>;
  /** Zones of the pools' nodes; default the cluster's. */
  nodeLocations?: pulumi.Input<pulumi.Input<string>[]>;
  /** IAM members who submit runs (e.g. `group:ml@example.com`): bucket access and URL signing as the datastore's service account. Plain list. */
  submitterMembers?: pulumi.Input<string>[];
}

/** The AKS cluster (cloud `azure`). Fields accept outputs. */
export interface AzureClusterArgs {
  /** AKS cluster name. */
  clusterName: pulumi.Input<string>;
  /** Resource group of the cluster (and of the storage account and identity). */
  resourceGroupName: pulumi.Input<string>;
  /** OIDC issuer URL of the cluster (workload identity must be enabled). */
  oidcIssuerUrl: pulumi.Input<string>;
  /** Region; default the resource group's. */
  location?: pulumi.Input<string>;
  /** Object ids of Microsoft Entra principals who submit runs: Blob Data Contributor + Blob Delegator. Plain list. */
  submitterPrincipalIds?: pulumi.Input<string>[];
  /** Kind of those principals: `Group` (default), `User` or `ServicePrincipal`. */
  submitterPrincipalType?: "Group" | "User" | "ServicePrincipal";
}

/** Datastore settings. Fields accept outputs except `protect` and `kind`. */
export interface EnvironmentDatastoreArgs {
  /** Key prefix; default `kubestep`. */
  prefix?: pulumi.Input<string>;
  /** Bucket (S3, GCS) or storage account (Azure) name; default auto-named. */
  bucketName?: pulumi.Input<string>;
  /** Bucket location (GCS); default the cluster location. */
  location?: pulumi.Input<string>;
  /** Keep previous versions; default true. */
  versioning?: pulumi.Input<boolean>;
  /** Days previous versions / deleted blobs are retained; default 30. */
  retentionDays?: pulumi.Input<number>;
  /** Delete objects this many days after creation (S3, GCS); default never. */
  expireAfterDays?: pulumi.Input<number>;
  /** Allow `pulumi destroy` of a non-empty bucket; default false. */
  forceDestroy?: pulumi.Input<boolean>;
  /** `protect` the bucket / storage account; default false. Plain value. */
  protect?: boolean;
  /** S3: ARN of a KMS key for SSE-KMS; the pod identity and the submitter policy get kms:Decrypt / kms:GenerateDataKey on it. */
  kmsKeyId?: pulumi.Input<string>;
  /** Cloud `existing` only: kind of the existing store. Plain value. */
  kind?: DatastoreSpec["kind"];
  /** Cloud `existing` only: root URL of the existing store, e.g. `s3://bucket/prefix`. */
  root?: pulumi.Input<string>;
  /** Region of the bucket: cloud `aws` creates it there (default `aws.region`); `existing`: recorded in the contract. */
  region?: pulumi.Input<string>;
  /** Endpoint of an S3-compatible store or a GCS emulator (cloud `existing`); the runtime sets `KUBESTEP_S3_ENDPOINT_URL` / `KUBESTEP_GCS_ENDPOINT_URL` from it. */
  endpoint?: pulumi.Input<string>;
}

/** One node pool (GPU by default; `kind: cpu` for a CPU pool that steps select with `computePool`). Plain values. */
export interface EnvironmentGpuPoolArgs {
  /** Pool name (DNS label). */
  name: string;
  /** `gpu` (default) or `cpu`. */
  kind?: PoolKind;
  /** Vendor; default `nvidia`. */
  vendor?: "nvidia" | "amd";
  /** Extra node labels (`kubestep.io/gpu-pool=<name>` or `kubestep.io/compute-pool=<name>` is always set). */
  nodeLabels?: Record<string, string>;
  /** Taints; default `[nvidia.com/gpu=present:NoSchedule]` for GPU pools, none for CPU pools. */
  taints?: Taint[];
  /** Minimum nodes; default 0. */
  minSize?: number;
  /** Maximum nodes. */
  maxSize?: number;
  /** Initial nodes; default minSize (later the autoscaler's). */
  desiredSize?: number;
  /** Spot / preemptible nodes (EKS SPOT, GKE Spot VMs, AKS Spot); default false. */
  spot?: boolean;
  /** EKS instance types. */
  instanceTypes?: string[];
  /** EKS CPU architecture (`x86_64` or `arm64`), which picks the AL2023 AMI type. */
  architecture?: EksArchitecture;
  /** EKS AMI type (overrides the AL2023 default). */
  amiType?: string;
  /** GKE machine type. */
  machineType?: string;
  /** GKE accelerator type. */
  acceleratorType?: string;
  /** GKE accelerators per node. */
  acceleratorCount?: number;
  /** GKE zones of this pool (default `gcp.nodeLocations`, else the cluster's). */
  nodeLocations?: string[];
  /** AKS VM size. */
  vmSize?: string;
  /** AKS Spot max price (USD/hour, -1 = on-demand price). */
  spotMaxPrice?: number;
  /** Install the NVIDIA device plugin; default per platform. */
  devicePlugin?: boolean;
}

/** Deployed flows (`kubestep deploy`): the orchestrator's identity and who may deploy. */
export interface EnvironmentDeploymentsArgs {
  /**
   * Name of the orchestrator's ServiceAccount, Role and RoleBinding; default `kubestep-orchestrator`. Plain value:
   * the datastore's pod identity trusts it by name.
   */
  orchestratorName?: string;
  /**
   * Who may deploy flows (`kubestep deploy`, `trigger`, `deployments list`, `event publish`): the deployer Role is
   * bound to them. Default: the submitters.
   */
  deployers?: pulumi.Input<SubmittersArgs>;
}

/** Arguments of {@link Environment}. */
export interface EnvironmentArgs {
  /** `aws`, `gcp`, `azure` or `existing`; decides which resources are created, so a plain value. */
  cloud: Cloud;
  /** Environment name recorded in the contract; default the stack name. */
  name?: pulumi.Input<string>;
  /** Namespace step Jobs run in (created). */
  namespace: pulumi.Input<string>;
  /** Extra namespace labels. */
  namespaceLabels?: pulumi.Input<Record<string, pulumi.Input<string>>>;
  /** Step service account name; default `kubestep-step`. */
  stepServiceAccount?: pulumi.Input<string>;
  /** Who may submit steps (users, groups, service accounts). */
  submitters: pulumi.Input<SubmittersArgs>;
  /** Grant the RBAC `@parallel` needs (JobSets); default true. */
  parallel?: pulumi.Input<boolean>;
  /** ResourceQuota `hard` limits (every shipped stack sets one). */
  resourceQuota?: pulumi.Input<Record<string, pulumi.Input<string>>>;
  /** LimitRange for containers (every shipped stack sets one). */
  limitRange?: pulumi.Input<ContainerLimits>;
  /** Pod Security admission of the namespace; default enforce `baseline`, warn/audit `restricted`; `false` for none. */
  podSecurity?: pulumi.Input<PodSecurity | false>;
  /** NetworkPolicies; default deny ingress except from the namespace, egress open. Plain value. */
  networkPolicies?: NetworkPoliciesArgs;
  /** Default container image for steps. */
  image: pulumi.Input<string>;
  /**
   * Image whose `node` the runtime copies into pods of step images without Node.js (`@kubernetes` injectNode).
   * Default: {@link image}.
   */
  nodeImage?: pulumi.Input<string>;
  /** Image pull secrets (existing in the namespace) for every step pod. */
  imagePullSecrets?: pulumi.Input<pulumi.Input<string>[]>;
  /** Default resources and QoS for `@kubernetes` steps. */
  defaults?: pulumi.Input<ResourceDefaults>;
  /** Extra labels for every step pod. */
  podLabels?: pulumi.Input<Record<string, pulumi.Input<string>>>;
  /** Extra annotations for every step pod. */
  podAnnotations?: pulumi.Input<Record<string, pulumi.Input<string>>>;
  /** EKS cluster (cloud `aws`). */
  aws?: AwsClusterArgs;
  /** GKE cluster (cloud `gcp`). */
  gcp?: GcpClusterArgs;
  /** AKS cluster (cloud `azure`). */
  azure?: AzureClusterArgs;
  /** Datastore settings (for `existing`: `kind` and `root` are required). */
  datastore?: EnvironmentDatastoreArgs;
  /** Node pools: created on aws/gcp/azure, only described (GPU pools) for `existing`. Plain list (each pool is a resource). */
  gpuPools?: EnvironmentGpuPoolArgs[];
  /**
   * Enable deployed flows (`kubestep deploy`): creates the orchestrator's ServiceAccount (with the datastore's pod
   * identity), Role and RoleBinding, and the deployer Role bound to the deployers; the contract then names the
   * orchestrator's service account. `true` for the defaults. Plain value (it decides which resources exist).
   */
  deployments?: boolean | EnvironmentDeploymentsArgs;
}

/** The {@link GpuNodePool} arguments of one pool on `cloud` (shared by validation and construction). */
export function poolArgsFor(
  cloud: Exclude<Cloud, "existing">,
  p: EnvironmentGpuPoolArgs,
  a: Pick<EnvironmentArgs, "aws" | "gcp" | "azure">,
): GpuNodePoolArgs {
  const provider: GpuProvider = PROVIDER[cloud];
  const common: GpuNodePoolArgs = {
    provider,
    poolName: p.name,
    ...(p.kind !== undefined ? { kind: p.kind } : {}),
    ...(p.vendor !== undefined ? { vendor: p.vendor } : {}),
    ...(p.nodeLabels !== undefined ? { nodeLabels: p.nodeLabels } : {}),
    ...(p.taints !== undefined ? { taints: p.taints } : {}),
    ...(p.minSize !== undefined ? { minSize: p.minSize } : {}),
    maxSize: p.maxSize ?? 0,
    ...(p.desiredSize !== undefined ? { desiredSize: p.desiredSize } : {}),
    ...(p.spot !== undefined ? { spot: p.spot } : {}),
    ...(p.devicePlugin !== undefined ? { devicePlugin: p.devicePlugin } : {}),
  };
  if (provider === "eks") {
    const c = a.aws!;
    return {
      ...common,
      eks: {
        clusterName: c.clusterName,
        subnetIds: c.subnetIds ?? [],
        ...(c.nodeRoleArn !== undefined ? { nodeRoleArn: c.nodeRoleArn } : {}),
        ...(c.region !== undefined ? { region: c.region } : {}),
        ...(p.instanceTypes ? { instanceTypes: p.instanceTypes } : {}),
        ...(p.architecture ? { architecture: p.architecture } : {}),
        ...(p.amiType ? { amiType: p.amiType } : {}),
      },
    };
  }
  if (provider === "gke") {
    const c = a.gcp!;
    const zones = p.nodeLocations ?? c.nodeLocations;
    return {
      ...common,
      gke: {
        cluster: c.cluster,
        project: c.project,
        location: c.location,
        ...(zones !== undefined ? { nodeLocations: zones } : {}),
        ...(p.machineType ? { machineType: p.machineType } : {}),
        ...(p.acceleratorType ? { acceleratorType: p.acceleratorType } : {}),
        ...(p.acceleratorCount ? { acceleratorCount: p.acceleratorCount } : {}),
      },
    };
  }
  const c = a.azure!;
  return {
    ...common,
    aks: {
      resourceGroupName: c.resourceGroupName,
      clusterName: c.clusterName,
      ...(p.vmSize ? { vmSize: p.vmSize } : {}),
      ...(p.spotMaxPrice !== undefined ? { spotMaxPrice: p.spotMaxPrice } : {}),
    },
  };
}

const POOL_FIELDS = [
  "name",
  "kind",
  "vendor",
  "nodeLabels",
  "taints",
  "minSize",
  "maxSize",
  "desiredSize",
  "spot",
  "instanceTypes",
  "architecture",
  "amiType",
  "machineType",
  "acceleratorType",
  "acceleratorCount",
  "nodeLocations",
  "vmSize",
  "spotMaxPrice",
  "devicePlugin",
];

function validateInto(p: Problems, a: pulumi.Unwrap<EnvironmentArgs>): void {
  p.check(() => requireOneOf(a.cloud, CLOUDS, "cloud"));
  for (const c of ["aws", "gcp", "azure"] as const)
    if (c !== a.cloud) p.ensure(a[c] === undefined, c, `is only for cloud "${c}"; cloud is "${a.cloud}"`);
  if (a.cloud !== "existing" && CLOUDS.includes(a.cloud))
    p.ensure(
      a[a.cloud] !== undefined,
      a.cloud,
      `is required when cloud is "${a.cloud}" (the cluster to provision into)`,
    );
  p.check(() => requireDnsLabel(a.namespace, "namespace"));
  if (a.name !== undefined) p.check(() => requireString(a.name, "name"));
  p.check(() => requireString(a.image, "image"));
  if (a.nodeImage !== undefined) p.check(() => requireString(a.nodeImage, "nodeImage"));
  const d = a.defaults ?? {};
  if (
    p.ensure(
      typeof d === "object" && d !== null,
      "defaults",
      `must be { cpu?, memory?, disk?, qos?, memoryLimitFactor? } (got ${shown(d)})`,
    )
  ) {
    for (const k of Object.keys(d))
      p.ensure(
        ["cpu", "memory", "disk", "qos", "memoryLimitFactor"].includes(k),
        `defaults.${k}`,
        "unknown field (allowed: cpu, memory, disk, qos, memoryLimitFactor)",
      );
    for (const k of ["cpu", "memory", "disk"] as const)
      if (d[k] !== undefined)
        p.ensure(
          typeof d[k] === "number" && d[k]! > 0,
          `defaults.${k}`,
          `must be a positive number (got ${shown(d[k])})`,
        );
    if (d.qos !== undefined) p.check(() => requireOneOf(d.qos, QOS, "defaults.qos"));
    // Optional: Burstable steps get a memory limit of this factor times their request (none when absent).
    const f = d.memoryLimitFactor;
    if (f !== undefined)
      p.ensure(
        typeof f === "number" && Number.isFinite(f) && f >= 1,
        "defaults.memoryLimitFactor",
        `must be a number >= 1 (got ${shown(f)})`,
      );
  }
  const ds = a.datastore ?? {};
  if (a.cloud === "existing") {
    p.check(() => requireOneOf(ds.kind, ["local", "s3", "gs", "azure"] as const, "datastore.kind"));
    p.check(() => requireString(ds.root, "datastore.root"));
    p.ensure(ds.kmsKeyId === undefined, "datastore.kmsKeyId", 'is only for cloud "aws" (the bucket it creates)');
  } else {
    for (const k of ["kind", "root", "endpoint"] as const)
      p.ensure(
        ds[k] === undefined,
        `datastore.${k}`,
        `is only for cloud "existing" (cloud "${a.cloud}" creates the datastore)`,
      );
    if (a.cloud !== "aws")
      p.ensure(ds.kmsKeyId === undefined, "datastore.kmsKeyId", 'is only for cloud "aws" (S3 SSE-KMS)');
  }
  const dep = a.deployments;
  if (dep !== undefined && typeof dep !== "boolean") {
    if (
      p.ensure(
        typeof dep === "object" && dep !== null,
        "deployments",
        `must be true, false or { orchestratorName?, deployers? } (got ${shown(dep)})`,
      )
    ) {
      for (const k of Object.keys(dep))
        p.ensure(
          ["orchestratorName", "deployers"].includes(k),
          `deployments.${k}`,
          "unknown field (allowed: orchestratorName, deployers)",
        );
      if (dep.orchestratorName !== undefined) {
        p.check(() => requireDnsLabel(dep.orchestratorName, "deployments.orchestratorName"));
        p.ensure(
          dep.orchestratorName !== (a.stepServiceAccount ?? DEFAULT_STEP_SERVICE_ACCOUNT),
          "deployments.orchestratorName",
          `must differ from the step service account ${shown(a.stepServiceAccount ?? DEFAULT_STEP_SERVICE_ACCOUNT)} (steps must not get the orchestrator's rights)`,
        );
      }
    }
  }
  const pools = a.gpuPools ?? [];
  if (!p.ensure(Array.isArray(pools), "gpuPools", `must be a list (got ${shown(pools)})`)) return;
  const seen = new Set<string>();
  pools.forEach((pool, i) => {
    if (
      !p.ensure(typeof pool === "object" && pool !== null, `gpuPools[${i}]`, `must be an object (got ${shown(pool)})`)
    )
      return;
    for (const k of Object.keys(pool))
      p.ensure(POOL_FIELDS.includes(k), `gpuPools[${i}].${k}`, `unknown field (allowed: ${POOL_FIELDS.join(", ")})`);
    p.check(() => requireDnsLabel(pool.name, `gpuPools[${i}].name`));
    p.ensure(!seen.has(pool.name), `gpuPools[${i}].name`, `duplicates pool ${shown(pool.name)}`);
    seen.add(pool.name);
    if (a.cloud === "existing") {
      (pool.taints ?? []).forEach((t, j) => p.check(() => validateTaint(t, `gpuPools[${i}].taints[${j}]`)));
      return;
    }
    p.ensure(typeof pool.maxSize === "number", `gpuPools[${i}].maxSize`, `is required (got ${shown(pool.maxSize)})`);
    if (!CLOUDS.includes(a.cloud) || a[a.cloud] === undefined) return;
    // The pool's own checks (sizes, taints, AMI, names...), reported under gpuPools[i].
    p.check(
      () =>
        gpuNodePoolSpec(
          poolArgsFor(
            a.cloud as Exclude<Cloud, "existing">,
            pool,
            a as unknown as EnvironmentArgs,
          ) as unknown as GpuNodePoolSpecInput,
        ),
      `gpuPools[${i}]`,
    );
  });
  if (a.cloud === "aws" && pools.length && a.aws)
    p.ensure(
      Array.isArray(a.aws.subnetIds) && a.aws.subnetIds.length > 0,
      "aws.subnetIds",
      "are required to create node groups",
    );
}

/** Checks every argument of an {@link Environment} (pools included) and reports every problem at once (`InputPropertiesError`). */
export function validateEnvironmentArgs(a: pulumi.Unwrap<EnvironmentArgs>): void {
  validateAll("kubestep:index:Environment", (p) => validateInto(p, a));
}

/** Parts the contract is assembled from. */
export interface ContractParts {
  name: string;
  namespace: string;
  serviceAccount: string;
  datastore: DatastoreSpec;
  image: string;
  nodeImage?: string;
  imagePullSecrets?: string[];
  defaults?: ResourceDefaults;
  podLabels?: Record<string, string>;
  podAnnotations?: Record<string, string>;
  identityPodLabels?: Record<string, string>;
  gpuPools?: GpuPoolSpec[];
  /** The orchestrator's service account, when deployments are enabled. */
  orchestratorServiceAccount?: string;
}

/** Assembles the {@link KubestepEnvironment} contract (exactly its fields, nothing else). */
export function environmentContract(p: ContractParts): KubestepEnvironment {
  return {
    version: 1,
    name: p.name,
    namespace: p.namespace,
    serviceAccount: p.serviceAccount,
    datastore: { ...p.datastore },
    image: p.image,
    ...(p.nodeImage !== undefined ? { nodeImage: p.nodeImage } : {}),
    imagePullSecrets: [...(p.imagePullSecrets ?? [])],
    defaults: { ...(p.defaults ?? {}) },
    podLabels: { ...(p.podLabels ?? {}), ...(p.identityPodLabels ?? {}) },
    podAnnotations: { ...(p.podAnnotations ?? {}) },
    gpuPools: (p.gpuPools ?? []).map((g) => ({
      ...g,
      nodeLabels: { ...g.nodeLabels },
      taints: g.taints.map((t) => ({ ...t })),
    })),
    ...(p.orchestratorServiceAccount !== undefined ? { orchestratorServiceAccount: p.orchestratorServiceAccount } : {}),
  };
}

/** Outputs of the pools of an {@link Environment}, by pool name. */
export interface EnvironmentPoolOutputs {
  /** Provider name of the pool (node group, node pool, agent pool). */
  poolName: pulumi.Output<string>;
  /** EKS node role ARN. */
  nodeRoleArn?: pulumi.Output<string>;
  /** GKE node service account. */
  nodeServiceAccount?: pulumi.Output<string>;
}

/**
 * `kubestep:index:Environment`: the top-level component. Give it the cluster's Kubernetes provider
 * with `providers: { kubernetes: provider }` (the stacks build one from `kubestep:kubernetes`
 * config; without it Pulumi would use the ambient kubeconfig context).
 */
export class Environment extends pulumi.ComponentResource {
  /** The contract the runtime consumes (export it as stack output `kubestep`). */
  public readonly kubestep: pulumi.Output<KubestepEnvironment>;
  /** Name of the namespace. */
  public readonly namespace: pulumi.Output<string>;
  /** Bucket (S3, GCS) or storage account (Azure) name; undefined for `existing`. */
  public readonly bucketName?: pulumi.Output<string>;
  /** S3 bucket ARN (aws). */
  public readonly bucketArn?: pulumi.Output<string>;
  /** ARN of the step pods' IAM role (aws). */
  public readonly datastoreRoleArn?: pulumi.Output<string>;
  /** ARN of the submitter policy to attach to whoever runs `kubestep run` (aws). */
  public readonly submitterPolicyArn?: pulumi.Output<string>;
  /** ARN of the bucket's KMS key (aws, with `datastore.kmsKeyId`). */
  public readonly kmsKeyArn?: pulumi.Output<string | undefined>;
  /** Google service account of step pods (gcp); submitters sign URLs as it. */
  public readonly googleServiceAccount?: pulumi.Output<string>;
  /** Client id of the step pods' managed identity (azure). */
  public readonly clientId?: pulumi.Output<string>;
  /** ARN of the Cluster Autoscaler's IAM role (aws with pools). */
  public readonly autoscalerRoleArn?: pulumi.Output<string>;
  /** The pools, by name. */
  public readonly pools: Record<string, EnvironmentPoolOutputs>;
  /** Name of the orchestrator's service account of deployed flows (with `deployments`). */
  public readonly orchestratorServiceAccount?: pulumi.Output<string>;
  /** Name of the deployer Role (with `deployments`). */
  public readonly deployerRole?: pulumi.Output<string>;

  constructor(name: string, args: EnvironmentArgs, opts?: pulumi.ComponentResourceOptions) {
    super("kubestep:index:Environment", name, args, opts);
    validateAll("kubestep:index:Environment", () => requireOneOf(args.cloud, CLOUDS, "cloud"));
    const checked = resolveSpec(args, (a) => {
      validateEnvironmentArgs(a);
      return a;
    });
    const cloud = args.cloud;
    const saName = pulumi.output(args.stepServiceAccount ?? DEFAULT_STEP_SERVICE_ACCOUNT);
    const identity = { namespace: args.namespace, serviceAccount: saName };
    const deployments = args.deployments === true ? {} : args.deployments || undefined;
    const orchestratorName = deployments ? (deployments.orchestratorName ?? DEFAULT_ORCHESTRATOR_NAME) : undefined;
    // The orchestrator pods reach the datastore by pod identity, like step pods: the identity trusts its service account too.
    const additionalServiceAccounts = orchestratorName !== undefined ? [orchestratorName] : undefined;
    const ds: EnvironmentDatastoreArgs = args.datastore ?? {};
    const bucketArgs = {
      prefix: ds.prefix,
      versioning: ds.versioning,
      retentionDays: ds.retentionDays,
      forceDestroy: ds.forceDestroy,
      protect: ds.protect ?? false,
    };

    let datastore: pulumi.Output<DatastoreSpec>;
    let saAnnotations: pulumi.Output<Record<string, string>> = pulumi.output({}) as pulumi.Output<
      Record<string, string>
    >;
    let identityPodLabels: pulumi.Output<Record<string, string>> = pulumi.output({}) as pulumi.Output<
      Record<string, string>
    >;
    let bucketRegion: pulumi.Output<string> | undefined;
    if (cloud === "aws") {
      const aws = args.aws!;
      const s3 = new S3Datastore(
        `${name}-datastore`,
        {
          ...bucketArgs,
          bucketName: ds.bucketName,
          expireAfterDays: ds.expireAfterDays,
          region: ds.region ?? aws.region,
          kmsKeyId: ds.kmsKeyId,
          submitterRoleNames: aws.submitterRoleNames,
          additionalServiceAccounts,
          irsa: { ...identity, oidcProviderArn: aws.oidcProviderArn, oidcProviderUrl: aws.oidcProviderUrl },
        },
        { parent: this },
      );
      datastore = s3.datastore;
      saAnnotations = s3.serviceAccountAnnotations;
      this.bucketName = s3.bucketName;
      this.bucketArn = s3.bucketArn;
      this.datastoreRoleArn = s3.roleArn;
      this.submitterPolicyArn = s3.submitterPolicyArn;
      this.kmsKeyArn = s3.kmsKeyArn;
      bucketRegion = s3.region;
    } else if (cloud === "gcp") {
      const gcp = args.gcp!;
      const g = new GcsDatastore(
        `${name}-datastore`,
        {
          ...bucketArgs,
          bucketName: ds.bucketName,
          expireAfterDays: ds.expireAfterDays,
          location: ds.location ?? gcp.location,
          project: gcp.project,
          submitterMembers: gcp.submitterMembers,
          additionalServiceAccounts,
          workloadIdentity: identity,
        },
        { parent: this },
      );
      datastore = g.datastore;
      saAnnotations = g.serviceAccountAnnotations;
      this.bucketName = g.bucketName;
      this.googleServiceAccount = g.googleServiceAccount;
    } else if (cloud === "azure") {
      const az = args.azure!;
      const z = new AzureDatastore(
        `${name}-datastore`,
        {
          ...bucketArgs,
          expireAfterDays: ds.expireAfterDays,
          resourceGroupName: az.resourceGroupName,
          location: az.location,
          accountName: ds.bucketName,
          submitterPrincipalIds: az.submitterPrincipalIds,
          ...(az.submitterPrincipalType !== undefined ? { submitterPrincipalType: az.submitterPrincipalType } : {}),
          additionalServiceAccounts,
          workloadIdentity: { ...identity, oidcIssuerUrl: az.oidcIssuerUrl },
        },
        { parent: this },
      );
      datastore = z.datastore;
      saAnnotations = z.serviceAccountAnnotations;
      identityPodLabels = z.podLabels;
      this.bucketName = z.accountName;
      this.clientId = z.clientId;
    } else {
      datastore = pulumi
        .output({ kind: ds.kind, root: ds.root, region: ds.region, endpoint: ds.endpoint })
        .apply((d): DatastoreSpec => ({
          kind: d.kind!,
          root: d.root!,
          ...(d.region !== undefined ? { region: d.region } : {}),
          ...(d.endpoint !== undefined ? { endpoint: d.endpoint } : {}),
        }));
    }

    const ns = new StepNamespace(
      `${name}-namespace`,
      {
        namespace: args.namespace,
        labels: args.namespaceLabels,
        stepServiceAccount: saName,
        stepServiceAccountAnnotations: saAnnotations,
        stepServiceAccountLabels: identityPodLabels,
        imagePullSecrets: args.imagePullSecrets,
        submitters: args.submitters,
        parallel: args.parallel,
        resourceQuota: args.resourceQuota,
        limitRange: args.limitRange,
        podSecurity: args.podSecurity,
        networkPolicies: args.networkPolicies,
      },
      { parent: this },
    );

    // Deployed flows: the orchestrator's identity (same pod identity as steps) and the deployer Role.
    if (deployments) {
      const orchestrator = new OrchestratorIdentity(
        `${name}-orchestrator`,
        {
          namespace: ns.namespace,
          name: orchestratorName,
          annotations: saAnnotations,
          labels: identityPodLabels,
          parallel: args.parallel,
        },
        { parent: this },
      );
      const deployerRole = new rbacv1.Role(
        `${name}-deployer`,
        {
          metadata: ns.namespace.apply((n) => deployerRoleManifest(n).metadata),
          rules: ns.namespace.apply((n) => deployerRoleManifest(n).rules),
        },
        { parent: this },
      );
      const binding = pulumi
        .all([ns.namespace, pulumi.output(deployments.deployers ?? args.submitters)])
        .apply(([n, who]) => deployerRoleBindingManifest(n, who as Submitters, DEFAULT_DEPLOYER_ROLE));
      new rbacv1.RoleBinding(
        `${name}-deployers`,
        {
          metadata: binding.apply((b) => b.metadata),
          roleRef: binding.apply((b) => b.roleRef),
          subjects: binding.apply((b) => b.subjects),
        },
        { parent: this, dependsOn: [deployerRole] },
      );
      this.orchestratorServiceAccount = orchestrator.serviceAccount;
      this.deployerRole = deployerRole.metadata.name;
    }

    this.pools = {};
    const pools: pulumi.Output<GpuPoolSpec | undefined>[] = (args.gpuPools ?? []).map((p) => {
      if (cloud === "existing")
        return pulumi.output(
          (p.kind ?? "gpu") === "gpu"
            ? gpuPoolContract(
                p.name,
                p.vendor ?? "nvidia",
                { [POOL_LABEL]: p.name, ...(p.nodeLabels ?? {}) },
                p.taints ?? [DEFAULT_GPU_TAINT],
              )
            : undefined,
        );
      const pool = new GpuNodePool(`${name}-gpu-${p.name}`, poolArgsFor(cloud, p, args), { parent: this });
      this.pools[p.name] = {
        poolName: pool.poolName,
        ...(pool.nodeRoleArn ? { nodeRoleArn: pool.nodeRoleArn } : {}),
        ...(pool.nodeServiceAccount ? { nodeServiceAccount: pool.nodeServiceAccount } : {}),
      };
      return pool.pool;
    });

    // EKS node groups do not scale by themselves: the Cluster Autoscaler does (from zero too).
    const ca = args.aws?.clusterAutoscaler;
    if (cloud === "aws" && (args.gpuPools ?? []).length && ca !== false) {
      const aws = args.aws!;
      const autoscaler = new ClusterAutoscaler(
        `${name}-autoscaler`,
        {
          clusterName: aws.clusterName,
          // The cluster's region; without one, the provider's (where the bucket was created).
          region: aws.region ?? bucketRegion!,
          oidcProviderArn: aws.oidcProviderArn,
          oidcProviderUrl: aws.oidcProviderUrl,
          ...(typeof ca === "object" && ca.chartVersion !== undefined ? { chartVersion: ca.chartVersion } : {}),
        },
        { parent: this },
      );
      this.autoscalerRoleArn = autoscaler.roleArn;
    }

    this.namespace = ns.namespace;
    this.kubestep = pulumi
      .all([
        checked,
        ns.namespace,
        ns.serviceAccount,
        datastore,
        identityPodLabels,
        pulumi.all(pools),
        pulumi.output(this.orchestratorServiceAccount),
      ])
      .apply(([a, namespace, serviceAccount, store, idLabels, gpuPools, orchestratorServiceAccount]) =>
        environmentContract({
          name: a.name ?? pulumi.getStack(),
          namespace,
          serviceAccount,
          datastore: store,
          image: a.image,
          nodeImage: a.nodeImage,
          imagePullSecrets: a.imagePullSecrets,
          defaults: a.defaults,
          podLabels: a.podLabels,
          podAnnotations: a.podAnnotations,
          identityPodLabels: idLabels,
          gpuPools: gpuPools.filter((g): g is GpuPoolSpec => g !== undefined),
          ...(orchestratorServiceAccount !== undefined ? { orchestratorServiceAccount } : {}),
        }),
      ) as pulumi.Output<KubestepEnvironment>;
    this.registerOutputs({
      kubestep: this.kubestep,
      namespace: this.namespace,
      bucketName: this.bucketName,
      bucketArn: this.bucketArn,
      datastoreRoleArn: this.datastoreRoleArn,
      submitterPolicyArn: this.submitterPolicyArn,
      kmsKeyArn: this.kmsKeyArn,
      googleServiceAccount: this.googleServiceAccount,
      clientId: this.clientId,
      autoscalerRoleArn: this.autoscalerRoleArn,
      pools: this.pools,
      orchestratorServiceAccount: this.orchestratorServiceAccount,
      deployerRole: this.deployerRole,
    });
  }
}
