/**
 * `kubestep:index:Environment`: everything a team needs to run kubestep flows on a cluster —
 * namespace + identities + RBAC, the datastore with pod identity, GPU node pools — and, as
 * output `kubestep`, the {@link KubestepEnvironment} contract the runtime consumes.
 */
import * as pulumi from "@pulumi/pulumi";
import type { DatastoreSpec, GpuPoolSpec, KubestepEnvironment, QosClass, ResourceDefaults } from "../runtime/environment.js";
import { AzureDatastore, GcsDatastore, S3Datastore } from "./datastore.js";
import { GpuNodePool, gpuPoolContract, POOL_LABEL, type GpuProvider } from "./gpu.js";
import { DEFAULT_STEP_SERVICE_ACCOUNT, StepNamespace, type ContainerLimits, type Submitters } from "./namespace.js";
import { DEFAULT_GPU_TAINT, validateTaint, type Taint } from "./taints.js";
import { deepKnown, ensure, requireDnsLabel, requireOneOf, requireString, resolveSpec, shown } from "./validate.js";

/** Where the environment lives. `existing` = an existing cluster and datastore root; no cloud resources. */
export type Cloud = "aws" | "gcp" | "azure" | "existing";
/** Allowed clouds. */
export const CLOUDS: readonly Cloud[] = ["aws", "gcp", "azure", "existing"];
const QOS: readonly QosClass[] = ["Guaranteed", "Burstable", "BestEffort"];
const PROVIDER: Record<Exclude<Cloud, "existing">, GpuProvider> = { aws: "eks", gcp: "gke", azure: "aks" };

/** The EKS cluster (cloud `aws`). */
export interface AwsClusterArgs {
  /** EKS cluster name. */
  clusterName: string;
  /** ARN of the cluster's IAM OIDC provider (for IRSA). */
  oidcProviderArn: string;
  /** Issuer URL of the cluster's OIDC provider. */
  oidcProviderUrl: string;
  /** Subnets for GPU node groups (required when `gpuPools` is set). */
  subnetIds?: string[];
  /** Node role for GPU node groups; default one is created. */
  nodeRoleArn?: string;
  /** Region (recorded as the datastore's region). */
  region?: string;
}

/** The GKE cluster (cloud `gcp`). */
export interface GcpClusterArgs {
  /** GKE cluster name. */
  cluster: string;
  /** Project (also the Workload Identity pool `<project>.svc.id.goog`). */
  project: string;
  /** Cluster location (region or zone); also the bucket location unless `datastore.location` is set. */
  location: string;
}

/** The AKS cluster (cloud `azure`). */
export interface AzureClusterArgs {
  /** AKS cluster name. */
  clusterName: string;
  /** Resource group of the cluster (and of the storage account and identity). */
  resourceGroupName: string;
  /** OIDC issuer URL of the cluster (workload identity must be enabled). */
  oidcIssuerUrl: string;
  /** Region; default the resource group's. */
  location?: string;
}

/** Datastore settings. */
export interface EnvironmentDatastoreArgs {
  /** Key prefix; default `kubestep`. */
  prefix?: string;
  /** Bucket (S3, GCS) or storage account (Azure) name; default auto-named. */
  bucketName?: string;
  /** Bucket location (GCS); default the cluster location. */
  location?: string;
  /** Keep previous versions; default true. */
  versioning?: boolean;
  /** Days previous versions / deleted blobs are retained; default 30. */
  retentionDays?: number;
  /** Delete objects this many days after creation (S3, GCS); default never. */
  expireAfterDays?: number;
  /** Allow `pulumi destroy` of a non-empty bucket; default false. */
  forceDestroy?: boolean;
  /** `protect` the bucket / storage account; default false. */
  protect?: boolean;
  /** Cloud `existing` only: kind of the existing store. */
  kind?: DatastoreSpec["kind"];
  /** Cloud `existing` only: root URL of the existing store, e.g. `s3://bucket/prefix`. */
  root?: string;
  /** Region of an S3 store. */
  region?: string;
  /** Endpoint of an S3-compatible store or a GCS emulator (cloud `existing`); the runtime sets `KUBESTEP_S3_ENDPOINT_URL` / `KUBESTEP_GCS_ENDPOINT_URL` from it. */
  endpoint?: string;
}

/** One GPU pool. */
export interface EnvironmentGpuPoolArgs {
  /** Pool name (DNS label). */
  name: string;
  /** Vendor; default `nvidia`. */
  vendor?: "nvidia" | "amd";
  /** Extra node labels (`kubestep.io/gpu-pool=<name>` is always set). */
  nodeLabels?: Record<string, string>;
  /** Taints; default `[nvidia.com/gpu=present:NoSchedule]`. */
  taints?: Taint[];
  /** Minimum nodes; default 0. */
  minSize?: number;
  /** Maximum nodes. */
  maxSize?: number;
  /** Desired nodes; default minSize. */
  desiredSize?: number;
  /** EKS instance types. */
  instanceTypes?: string[];
  /** EKS AMI type. */
  amiType?: string;
  /** GKE machine type. */
  machineType?: string;
  /** GKE accelerator type. */
  acceleratorType?: string;
  /** GKE accelerators per node. */
  acceleratorCount?: number;
  /** AKS VM size. */
  vmSize?: string;
  /** Install the NVIDIA device plugin; default per platform. */
  devicePlugin?: boolean;
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
  submitters: pulumi.Input<Submitters>;
  /** Grant the RBAC `@parallel` needs (JobSets); default true. */
  parallel?: pulumi.Input<boolean>;
  /** Optional ResourceQuota `hard` limits. */
  resourceQuota?: pulumi.Input<Record<string, pulumi.Input<string>>>;
  /** Optional LimitRange for containers. */
  limitRange?: pulumi.Input<ContainerLimits>;
  /** Default container image for steps. */
  image: pulumi.Input<string>;
  /** Image pull secrets (existing in the namespace) for every step pod. */
  imagePullSecrets?: pulumi.Input<pulumi.Input<string>[]>;
  /** Default resources and QoS for `@kubernetes` steps. */
  defaults?: pulumi.Input<ResourceDefaults>;
  /** Extra labels for every step pod. */
  podLabels?: pulumi.Input<Record<string, pulumi.Input<string>>>;
  /** Extra annotations for every step pod. */
  podAnnotations?: pulumi.Input<Record<string, pulumi.Input<string>>>;
  /** EKS cluster (cloud `aws`). */
  aws?: pulumi.Input<AwsClusterArgs>;
  /** GKE cluster (cloud `gcp`). */
  gcp?: pulumi.Input<GcpClusterArgs>;
  /** AKS cluster (cloud `azure`). */
  azure?: pulumi.Input<AzureClusterArgs>;
  /** Datastore settings (for `existing`: `root` is required). */
  datastore?: pulumi.Input<EnvironmentDatastoreArgs>;
  /** GPU pools: created on aws/gcp/azure, only described for `existing`. Plain list (each pool is a resource). */
  gpuPools?: EnvironmentGpuPoolArgs[];
}

/** Checks the parts of the arguments that decide which resources exist, and the contract fields. */
export function validateEnvironmentArgs(a: pulumi.Unwrap<EnvironmentArgs>): void {
  requireOneOf(a.cloud, CLOUDS, "cloud");
  for (const c of ["aws", "gcp", "azure"] as const)
    if (c !== a.cloud) ensure(a[c] === undefined, c, `is only for cloud "${c}"; cloud is "${a.cloud}"`);
  if (a.cloud !== "existing") ensure(a[a.cloud] !== undefined, a.cloud, `is required when cloud is "${a.cloud}" (the cluster to provision into)`);
  requireDnsLabel(a.namespace, "namespace");
  if (a.name !== undefined) requireString(a.name, "name");
  requireString(a.image, "image");
  const d = a.defaults ?? {};
  ensure(typeof d === "object" && d !== null, "defaults", `must be { cpu?, memory?, disk?, qos? } (got ${shown(d)})`);
  for (const k of Object.keys(d)) ensure(["cpu", "memory", "disk", "qos"].includes(k), `defaults.${k}`, "unknown field (allowed: cpu, memory, disk, qos)");
  for (const k of ["cpu", "memory", "disk"] as const)
    if (d[k] !== undefined) ensure(typeof d[k] === "number" && d[k]! > 0, `defaults.${k}`, `must be a positive number (got ${shown(d[k])})`);
  if (d.qos !== undefined) requireOneOf(d.qos, QOS, "defaults.qos");
  const ds = a.datastore ?? {};
  if (a.cloud === "existing") {
    requireOneOf(ds.kind, ["local", "s3", "gs", "azure"] as const, "datastore.kind");
    requireString(ds.root, "datastore.root");
  } else {
    for (const k of ["kind", "root", "endpoint"] as const)
      ensure(ds[k] === undefined, `datastore.${k}`, `is only for cloud "existing" (cloud "${a.cloud}" creates the datastore)`);
  }
  const pools = a.gpuPools ?? [];
  ensure(Array.isArray(pools), "gpuPools", `must be a list (got ${shown(pools)})`);
  const seen = new Set<string>();
  pools.forEach((p, i) => {
    requireDnsLabel(p?.name, `gpuPools[${i}].name`);
    ensure(!seen.has(p.name), `gpuPools[${i}].name`, `duplicates pool ${shown(p.name)}`);
    seen.add(p.name);
    if (a.cloud !== "existing") ensure(typeof p.maxSize === "number", `gpuPools[${i}].maxSize`, `is required (got ${shown(p.maxSize)})`);
    (p.taints ?? []).forEach((t, j) => validateTaint(t, `gpuPools[${i}].taints[${j}]`));
  });
  if (a.cloud === "aws" && pools.length && a.aws)
    ensure(Array.isArray(a.aws.subnetIds) && a.aws.subnetIds.length > 0, "aws.subnetIds", "are required to create GPU node groups");
}

/** Parts the contract is assembled from. */
export interface ContractParts {
  name: string;
  namespace: string;
  serviceAccount: string;
  datastore: DatastoreSpec;
  image: string;
  imagePullSecrets?: string[];
  defaults?: ResourceDefaults;
  podLabels?: Record<string, string>;
  podAnnotations?: Record<string, string>;
  identityPodLabels?: Record<string, string>;
  gpuPools?: GpuPoolSpec[];
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
    imagePullSecrets: [...(p.imagePullSecrets ?? [])],
    defaults: { ...(p.defaults ?? {}) },
    podLabels: { ...(p.podLabels ?? {}), ...(p.identityPodLabels ?? {}) },
    podAnnotations: { ...(p.podAnnotations ?? {}) },
    gpuPools: (p.gpuPools ?? []).map((g) => ({ ...g, nodeLabels: { ...g.nodeLabels }, taints: g.taints.map((t) => ({ ...t })) })),
  };
}

/**
 * `kubestep:index:Environment`: the top-level component. Pass a Kubernetes provider for the
 * cluster with `providers: { kubernetes: provider }` (default: the ambient kubeconfig).
 */
export class Environment extends pulumi.ComponentResource {
  /** The contract the runtime consumes (export it as stack output `kubestep`). */
  public readonly kubestep: pulumi.Output<KubestepEnvironment>;

  constructor(name: string, args: EnvironmentArgs, opts?: pulumi.ComponentResourceOptions) {
    super("kubestep:index:Environment", name, args, opts);
    requireOneOf(args.cloud, CLOUDS, "cloud");
    const checked = resolveSpec(args, (a) => {
      validateEnvironmentArgs(a);
      return a;
    });
    const cloud = args.cloud;
    const saName = pulumi.output(args.stepServiceAccount ?? DEFAULT_STEP_SERVICE_ACCOUNT);
    const identity = { namespace: pulumi.output(args.namespace), serviceAccount: saName };
    const ds = pulumi.output(args.datastore ?? {}) as pulumi.Output<EnvironmentDatastoreArgs>;
    const protect = deepKnown(args.datastore) ? ((args.datastore as EnvironmentDatastoreArgs | undefined)?.protect ?? false) : false;
    // Optional settings pass through as outputs that may resolve to undefined (= the default).
    const opt = <T>(f: (d: EnvironmentDatastoreArgs) => T | undefined) => ds.apply(f) as pulumi.Output<T>;
    const bucketArgs = {
      prefix: opt((d) => d.prefix),
      versioning: opt((d) => d.versioning),
      retentionDays: opt((d) => d.retentionDays),
      forceDestroy: opt((d) => d.forceDestroy),
      protect,
    };

    let datastore: pulumi.Output<DatastoreSpec>;
    let saAnnotations: pulumi.Output<Record<string, string>> = pulumi.output({}) as pulumi.Output<Record<string, string>>;
    let identityPodLabels: pulumi.Output<Record<string, string>> = pulumi.output({}) as pulumi.Output<Record<string, string>>;
    if (cloud === "aws") {
      const aws = pulumi.output(args.aws!) as pulumi.Output<AwsClusterArgs>;
      const s3 = new S3Datastore(
        `${name}-datastore`,
        {
          ...bucketArgs,
          bucketName: opt((d) => d.bucketName),
          expireAfterDays: opt((d) => d.expireAfterDays),
          region: pulumi.all([ds, aws]).apply(([d, c]) => d.region ?? c.region) as pulumi.Output<string>,
          irsa: { ...identity, oidcProviderArn: aws.apply((c) => c.oidcProviderArn), oidcProviderUrl: aws.apply((c) => c.oidcProviderUrl) },
        },
        { parent: this },
      );
      datastore = s3.datastore;
      saAnnotations = s3.serviceAccountAnnotations;
    } else if (cloud === "gcp") {
      const gcp = pulumi.output(args.gcp!) as pulumi.Output<GcpClusterArgs>;
      const g = new GcsDatastore(
        `${name}-datastore`,
        {
          ...bucketArgs,
          bucketName: opt((d) => d.bucketName),
          expireAfterDays: opt((d) => d.expireAfterDays),
          location: pulumi.all([ds, gcp]).apply(([d, c]) => d.location ?? c.location),
          project: gcp.apply((c) => c.project),
          workloadIdentity: identity,
        },
        { parent: this },
      );
      datastore = g.datastore;
      saAnnotations = g.serviceAccountAnnotations;
    } else if (cloud === "azure") {
      const az = pulumi.output(args.azure!) as pulumi.Output<AzureClusterArgs>;
      const z = new AzureDatastore(
        `${name}-datastore`,
        {
          ...bucketArgs,
          resourceGroupName: az.apply((c) => c.resourceGroupName),
          location: az.apply((c) => c.location) as pulumi.Output<string>,
          accountName: opt((d) => d.bucketName),
          workloadIdentity: { ...identity, oidcIssuerUrl: az.apply((c) => c.oidcIssuerUrl) },
        },
        { parent: this },
      );
      datastore = z.datastore;
      saAnnotations = z.serviceAccountAnnotations;
      identityPodLabels = z.podLabels;
    } else {
      datastore = ds.apply((d): DatastoreSpec => ({
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
      },
      { parent: this },
    );

    const pools: pulumi.Output<GpuPoolSpec>[] = (args.gpuPools ?? []).map((p) => {
      if (cloud === "existing")
        return pulumi.output(gpuPoolContract(p.name, p.vendor ?? "nvidia", { [POOL_LABEL]: p.name, ...(p.nodeLabels ?? {}) }, p.taints ?? [DEFAULT_GPU_TAINT]));
      const provider = PROVIDER[cloud];
      const common = { provider, poolName: p.name, vendor: p.vendor, nodeLabels: p.nodeLabels, taints: p.taints, minSize: p.minSize, maxSize: p.maxSize ?? 0, desiredSize: p.desiredSize, devicePlugin: p.devicePlugin };
      const pool =
        provider === "eks"
          ? new GpuNodePool(
              `${name}-gpu-${p.name}`,
              {
                ...common,
                eks: (pulumi.output(args.aws!) as pulumi.Output<AwsClusterArgs>).apply((c) => ({
                  clusterName: c.clusterName,
                  subnetIds: c.subnetIds ?? [],
                  ...(c.nodeRoleArn !== undefined ? { nodeRoleArn: c.nodeRoleArn } : {}),
                  ...(p.instanceTypes ? { instanceTypes: p.instanceTypes } : {}),
                  ...(p.amiType ? { amiType: p.amiType } : {}),
                })),
              },
              { parent: this },
            )
          : provider === "gke"
            ? new GpuNodePool(
                `${name}-gpu-${p.name}`,
                {
                  ...common,
                  gke: (pulumi.output(args.gcp!) as pulumi.Output<GcpClusterArgs>).apply((c) => ({
                    cluster: c.cluster,
                    project: c.project,
                    location: c.location,
                    ...(p.machineType ? { machineType: p.machineType } : {}),
                    ...(p.acceleratorType ? { acceleratorType: p.acceleratorType } : {}),
                    ...(p.acceleratorCount ? { acceleratorCount: p.acceleratorCount } : {}),
                  })),
                },
                { parent: this },
              )
            : new GpuNodePool(
                `${name}-gpu-${p.name}`,
                {
                  ...common,
                  aks: (pulumi.output(args.azure!) as pulumi.Output<AzureClusterArgs>).apply((c) => ({
                    resourceGroupName: c.resourceGroupName,
                    clusterName: c.clusterName,
                    ...(p.vmSize ? { vmSize: p.vmSize } : {}),
                  })),
                },
                { parent: this },
              );
      return pool.pool;
    });

    this.kubestep = pulumi
      .all([checked, ns.namespace, ns.serviceAccount, datastore, identityPodLabels, pulumi.all(pools)])
      .apply(([a, namespace, serviceAccount, store, idLabels, gpuPools]) =>
        environmentContract({
          name: a.name ?? pulumi.getStack(),
          namespace,
          serviceAccount,
          datastore: store,
          image: a.image,
          imagePullSecrets: a.imagePullSecrets,
          defaults: a.defaults,
          podLabels: a.podLabels,
          podAnnotations: a.podAnnotations,
          identityPodLabels: idLabels,
          gpuPools,
        }),
      ) as pulumi.Output<KubestepEnvironment>;
    this.registerOutputs({ kubestep: this.kubestep });
  }
}
