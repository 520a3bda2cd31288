/**
 * The datastore bucket and the pod identity that lets step pods (and only them) use it:
 * S3 + IAM role for IRSA, GCS + Google service account for Workload Identity, Azure Blob +
 * user-assigned identity with a federated credential. Each component outputs the contract's
 * `DatastoreSpec` and the annotations/labels the step service account and pods need.
 */
import * as pulumi from "@pulumi/pulumi";
import * as s3 from "@pulumi/aws/s3/index.js";
import * as iam from "@pulumi/aws/iam/index.js";
import * as gcs from "@pulumi/gcp/storage/index.js";
import * as gcpServiceAccount from "@pulumi/gcp/serviceaccount/index.js";
import * as azureStorage from "@pulumi/azure-native/storage/index.js";
import * as managedidentity from "@pulumi/azure-native/managedidentity/index.js";
import * as authorization from "@pulumi/azure-native/authorization/index.js";
import type { DatastoreSpec } from "../runtime/environment.js";
import { ensure, requireDnsLabel, requireInt, requireString, resolveSpec, shown } from "./validate.js";

/** The Kubernetes identity allowed to use the datastore: `system:serviceaccount:<namespace>:<serviceAccount>`. */
export interface PodIdentityArgs {
  /** Namespace of the step service account. */
  namespace: string;
  /** Name of the step service account. */
  serviceAccount: string;
}

/** Bucket lifecycle/retention options shared by the three stores. */
export interface BucketPolicyArgs {
  /** Key prefix under which the runtime writes; default `kubestep`. */
  prefix?: string;
  /** Keep previous object versions; default true. */
  versioning?: boolean;
  /** Days previous versions (S3, GCS) or deleted blobs (Azure) are retained; default 30. */
  retentionDays?: number;
  /** Delete current objects this many days after creation (short TTLs for dev); default never. */
  expireAfterDays?: number;
  /** Delete the bucket even when it holds objects on `pulumi destroy`; default false. */
  forceDestroy?: boolean;
}

/** Kubernetes service account subject of a pod identity. */
export function serviceAccountSubject(id: PodIdentityArgs): string {
  return `system:serviceaccount:${id.namespace}:${id.serviceAccount}`;
}

function validatePodIdentity(id: PodIdentityArgs | undefined, path: string): asserts id is PodIdentityArgs {
  ensure(typeof id === "object" && id !== null, path, `must be { namespace, serviceAccount } (got ${shown(id)})`);
  requireDnsLabel(id.namespace, `${path}.namespace`);
  requireDnsLabel(id.serviceAccount, `${path}.serviceAccount`);
}

/** Validates the lifecycle options and fills defaults. */
export function bucketPolicyDefaults(b: BucketPolicyArgs): Required<Omit<BucketPolicyArgs, "expireAfterDays">> & { expireAfterDays?: number } {
  const prefix = b.prefix ?? "kubestep";
  ensure(typeof prefix === "string" && /^[A-Za-z0-9][A-Za-z0-9._/-]*$/.test(prefix) && !prefix.endsWith("/"), "prefix", `must be a key prefix without leading or trailing '/' (got ${shown(prefix)})`);
  const versioning = b.versioning ?? true;
  ensure(typeof versioning === "boolean", "versioning", `must be true or false (got ${shown(versioning)})`);
  const retentionDays = b.retentionDays ?? 30;
  requireInt(retentionDays, "retentionDays", 1, 36500);
  if (b.expireAfterDays !== undefined) requireInt(b.expireAfterDays, "expireAfterDays", 1, 36500);
  return { prefix, versioning, retentionDays, forceDestroy: b.forceDestroy ?? false, ...(b.expireAfterDays !== undefined ? { expireAfterDays: b.expireAfterDays } : {}) };
}

// ---------------------------------------------------------------- S3

/** An IAM policy document. */
export interface PolicyDocument {
  Version: "2012-10-17";
  Statement: Record<string, unknown>[];
}

/** Bucket policy denying every request not made over TLS (`aws:SecureTransport` = false). */
export function s3TlsOnlyPolicy(bucketArn: string): PolicyDocument {
  return {
    Version: "2012-10-17",
    Statement: [
      {
        Sid: "DenyInsecureTransport",
        Effect: "Deny",
        Principal: "*",
        Action: "s3:*",
        Resource: [bucketArn, `${bucketArn}/*`],
        Condition: { Bool: { "aws:SecureTransport": "false" } },
      },
    ],
  };
}

/** IRSA: where the cluster's OIDC provider is. */
export interface IrsaArgs extends PodIdentityArgs {
  /** ARN of the cluster's IAM OIDC provider. */
  oidcProviderArn: string;
  /** Issuer URL of the cluster (with or without `https://`). */
  oidcProviderUrl: string;
}

/** Trust policy of the IRSA role: only `system:serviceaccount:<ns>:<sa>` via the cluster's OIDC provider, audience `sts.amazonaws.com`. */
export function irsaTrustPolicy(a: IrsaArgs): PolicyDocument {
  const issuer = a.oidcProviderUrl.replace(/^https:\/\//, "");
  return {
    Version: "2012-10-17",
    Statement: [
      {
        Effect: "Allow",
        Principal: { Federated: a.oidcProviderArn },
        Action: "sts:AssumeRoleWithWebIdentity",
        Condition: { StringEquals: { [`${issuer}:sub`]: serviceAccountSubject(a), [`${issuer}:aud`]: "sts.amazonaws.com" } },
      },
    ],
  };
}

/** Access policy of the IRSA role: read/write/delete/list limited to `<bucket>/<prefix>/`. */
export function s3AccessPolicy(bucketArn: string, prefix: string): PolicyDocument {
  return {
    Version: "2012-10-17",
    Statement: [
      { Sid: "ListPrefix", Effect: "Allow", Action: "s3:ListBucket", Resource: bucketArn, Condition: { StringLike: { "s3:prefix": [prefix, `${prefix}/*`] } } },
      { Sid: "LocateBucket", Effect: "Allow", Action: "s3:GetBucketLocation", Resource: bucketArn },
      {
        Sid: "ReadWritePrefix",
        Effect: "Allow",
        Action: ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"],
        Resource: `${bucketArn}/${prefix}/*`,
      },
    ],
  };
}

/** S3 lifecycle rules: abort stale multipart uploads, expire old versions, optional TTL. */
export function s3LifecycleRules(b: ReturnType<typeof bucketPolicyDefaults>): {
  id: string;
  status: "Enabled";
  filter: { prefix: string };
  abortIncompleteMultipartUpload?: { daysAfterInitiation: number };
  noncurrentVersionExpiration?: { noncurrentDays: number };
  expiration?: { days: number };
}[] {
  const filter = { prefix: `${b.prefix}/` };
  const rules: ReturnType<typeof s3LifecycleRules> = [{ id: "abort-incomplete-uploads", status: "Enabled", filter, abortIncompleteMultipartUpload: { daysAfterInitiation: 7 } }];
  if (b.versioning) rules.push({ id: "expire-noncurrent-versions", status: "Enabled", filter, noncurrentVersionExpiration: { noncurrentDays: b.retentionDays } });
  if (b.expireAfterDays !== undefined) rules.push({ id: "expire-objects", status: "Enabled", filter, expiration: { days: b.expireAfterDays } });
  return rules;
}

/** Resolved arguments of {@link S3Datastore}. */
export interface S3DatastoreSpecInput extends BucketPolicyArgs {
  bucketName?: string;
  region?: string;
  kmsKeyId?: string;
  irsa: IrsaArgs;
}

/** Validated S3 datastore settings. */
export interface S3DatastoreSpec {
  bucket: ReturnType<typeof bucketPolicyDefaults>;
  bucketName?: string;
  region?: string;
  encryption: { sseAlgorithm: "AES256" } | { sseAlgorithm: "aws:kms"; kmsMasterKeyId: string };
  irsa: IrsaArgs;
}

/** Validates the S3 datastore arguments. */
export function s3DatastoreSpec(a: S3DatastoreSpecInput): S3DatastoreSpec {
  const bucket = bucketPolicyDefaults(a);
  if (a.bucketName !== undefined)
    ensure(typeof a.bucketName === "string" && /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(a.bucketName), "bucketName", `must be a valid S3 bucket name (got ${shown(a.bucketName)})`);
  validatePodIdentity(a.irsa, "irsa");
  ensure(typeof a.irsa.oidcProviderArn === "string" && a.irsa.oidcProviderArn.startsWith("arn:"), "irsa.oidcProviderArn", `must be the ARN of the cluster's IAM OIDC provider (got ${shown(a.irsa.oidcProviderArn)})`);
  requireString(a.irsa.oidcProviderUrl, "irsa.oidcProviderUrl");
  return {
    bucket,
    ...(a.bucketName !== undefined ? { bucketName: a.bucketName } : {}),
    ...(a.region !== undefined ? { region: a.region } : {}),
    encryption: a.kmsKeyId ? { sseAlgorithm: "aws:kms", kmsMasterKeyId: a.kmsKeyId } : { sseAlgorithm: "AES256" },
    irsa: a.irsa,
  };
}

/** Arguments of {@link S3Datastore}. */
export interface S3DatastoreArgs {
  /** Bucket name; default a unique name derived from the component name. */
  bucketName?: pulumi.Input<string>;
  /** Region of the bucket (recorded in the contract). */
  region?: pulumi.Input<string>;
  /** KMS key for SSE-KMS; default SSE-S3 (AES256). */
  kmsKeyId?: pulumi.Input<string>;
  /** Key prefix under which the runtime writes; default `kubestep`. */
  prefix?: pulumi.Input<string>;
  /** Keep previous object versions; default true. */
  versioning?: pulumi.Input<boolean>;
  /** Days previous versions are retained; default 30. */
  retentionDays?: pulumi.Input<number>;
  /** Expire objects this many days after creation (dev); default never. */
  expireAfterDays?: pulumi.Input<number>;
  /** Allow `pulumi destroy` to delete a non-empty bucket; default false. */
  forceDestroy?: pulumi.Input<boolean>;
  /** Protect the bucket from deletion (`protect`); default false. Plain value. */
  protect?: boolean;
  /** The cluster's OIDC provider and the step service account trusted to assume the role. */
  irsa: pulumi.Input<{
    /** Namespace of the step service account. */
    namespace: pulumi.Input<string>;
    /** Name of the step service account. */
    serviceAccount: pulumi.Input<string>;
    /** ARN of the cluster's IAM OIDC provider. */
    oidcProviderArn: pulumi.Input<string>;
    /** Issuer URL of the cluster's OIDC provider. */
    oidcProviderUrl: pulumi.Input<string>;
  }>;
}

/**
 * `kubestep:datastore:S3Datastore`: an encrypted, private, TLS-only, versioned S3 bucket with
 * lifecycle rules, and an IAM role for IRSA trusted only by the step service account.
 */
export class S3Datastore extends pulumi.ComponentResource {
  /** The contract's datastore. */
  public readonly datastore: pulumi.Output<DatastoreSpec>;
  /** Bucket name. */
  public readonly bucketName: pulumi.Output<string>;
  /** ARN of the IRSA role. */
  public readonly roleArn: pulumi.Output<string>;
  /** Annotations for the step service account (`eks.amazonaws.com/role-arn`). */
  public readonly serviceAccountAnnotations: pulumi.Output<Record<string, string>>;

  constructor(name: string, args: S3DatastoreArgs, opts?: pulumi.ComponentResourceOptions) {
    super("kubestep:datastore:S3Datastore", name, args, opts);
    const { protect, ...rest } = args;
    const spec = resolveSpec(rest, (a) => s3DatastoreSpec(a as S3DatastoreSpecInput));

    const bucket = new s3.Bucket(
      `${name}-bucket`,
      { bucket: spec.apply((s) => s.bucketName), forceDestroy: spec.apply((s) => s.bucket.forceDestroy), tags: { "managed-by": "kubestep" } },
      { parent: this, protect: protect ?? false },
    );
    new s3.BucketServerSideEncryptionConfiguration(
      `${name}-encryption`,
      { bucket: bucket.id, rules: [{ applyServerSideEncryptionByDefault: spec.apply((s) => s.encryption), bucketKeyEnabled: true }] },
      { parent: this },
    );
    const publicAccess = new s3.BucketPublicAccessBlock(
      `${name}-public-access`,
      { bucket: bucket.id, blockPublicAcls: true, blockPublicPolicy: true, ignorePublicAcls: true, restrictPublicBuckets: true },
      { parent: this },
    );
    new s3.BucketVersioning(
      `${name}-versioning`,
      { bucket: bucket.id, versioningConfiguration: { status: spec.apply((s) => (s.bucket.versioning ? "Enabled" : "Suspended")) } },
      { parent: this },
    );
    new s3.BucketLifecycleConfiguration(`${name}-lifecycle`, { bucket: bucket.id, rules: spec.apply((s) => s3LifecycleRules(s.bucket)) }, { parent: this });
    new s3.BucketPolicy(
      `${name}-tls-only`,
      { bucket: bucket.id, policy: bucket.arn.apply((arn) => JSON.stringify(s3TlsOnlyPolicy(arn))) },
      { parent: this, dependsOn: [publicAccess] },
    );
    const role = new iam.Role(
      `${name}-irsa`,
      { assumeRolePolicy: spec.apply((s) => JSON.stringify(irsaTrustPolicy(s.irsa))), description: "kubestep step pods: datastore access (IRSA)" },
      { parent: this },
    );
    new iam.RolePolicy(
      `${name}-access`,
      { role: role.name, policy: pulumi.all([bucket.arn, spec]).apply(([arn, s]) => JSON.stringify(s3AccessPolicy(arn, s.bucket.prefix))) },
      { parent: this },
    );

    this.bucketName = bucket.bucket;
    this.roleArn = role.arn;
    this.datastore = pulumi.all([bucket.bucket, spec]).apply(([b, s]): DatastoreSpec => ({ kind: "s3", root: `s3://${b}/${s.bucket.prefix}`, ...(s.region ? { region: s.region } : {}) }));
    this.serviceAccountAnnotations = role.arn.apply((arn): Record<string, string> => ({ "eks.amazonaws.com/role-arn": arn }));
    this.registerOutputs({ datastore: this.datastore, bucketName: this.bucketName, roleArn: this.roleArn, serviceAccountAnnotations: this.serviceAccountAnnotations });
  }
}

// ---------------------------------------------------------------- GCS

/** Workload Identity member of a Kubernetes service account: `serviceAccount:<project>.svc.id.goog[<ns>/<sa>]`. */
export function gkeWorkloadIdentityMember(project: string, id: PodIdentityArgs): string {
  return `serviceAccount:${project}.svc.id.goog[${id.namespace}/${id.serviceAccount}]`;
}

/** GCS lifecycle rules: delete old versions after the retention, optional TTL. */
export function gcsLifecycleRules(b: ReturnType<typeof bucketPolicyDefaults>): { action: { type: "Delete" }; condition: Record<string, unknown> }[] {
  const rules: ReturnType<typeof gcsLifecycleRules> = [];
  if (b.versioning) rules.push({ action: { type: "Delete" }, condition: { daysSinceNoncurrentTime: b.retentionDays, withState: "ARCHIVED" } });
  if (b.expireAfterDays !== undefined) rules.push({ action: { type: "Delete" }, condition: { age: b.expireAfterDays, matchesPrefixes: [`${b.prefix}/`], withState: "LIVE" } });
  return rules;
}

/** Google service account id (6-30 chars) derived from a component name. */
export function googleAccountId(name: string): string {
  let id = `ks-${name}`.toLowerCase().replace(/[^a-z0-9-]/g, "-").slice(0, 30).replace(/-+$/, "");
  while (id.length < 6) id += "-x";
  return id;
}

/** Resolved arguments of {@link GcsDatastore}. */
export interface GcsDatastoreSpecInput extends BucketPolicyArgs {
  bucketName?: string;
  location: string;
  project: string;
  accountId?: string;
  workloadIdentity: PodIdentityArgs;
}

/** Validates the GCS datastore arguments. */
export function gcsDatastoreSpec(a: GcsDatastoreSpecInput): GcsDatastoreSpecInput & { bucket: ReturnType<typeof bucketPolicyDefaults> } {
  const bucket = bucketPolicyDefaults(a);
  requireString(a.location, "location");
  requireString(a.project, "project");
  if (a.accountId !== undefined) ensure(/^[a-z][a-z0-9-]{4,28}[a-z0-9]$/.test(a.accountId), "accountId", `must be 6-30 lower-case letters, digits or '-' (got ${shown(a.accountId)})`);
  validatePodIdentity(a.workloadIdentity, "workloadIdentity");
  return { ...a, bucket };
}

/** Arguments of {@link GcsDatastore}. */
export interface GcsDatastoreArgs {
  /** Bucket name; default derived from the component name. */
  bucketName?: pulumi.Input<string>;
  /** Bucket location, e.g. `US-CENTRAL1`. */
  location: pulumi.Input<string>;
  /** Google Cloud project (also the Workload Identity pool `<project>.svc.id.goog`). */
  project: pulumi.Input<string>;
  /** Id of the Google service account to create; default derived from the component name. */
  accountId?: pulumi.Input<string>;
  /** Key prefix; default `kubestep`. */
  prefix?: pulumi.Input<string>;
  /** Object versioning; default true. */
  versioning?: pulumi.Input<boolean>;
  /** Days noncurrent versions are kept; default 30. */
  retentionDays?: pulumi.Input<number>;
  /** Delete objects this many days after creation (dev); default never. */
  expireAfterDays?: pulumi.Input<number>;
  /** Allow `pulumi destroy` of a non-empty bucket; default false. */
  forceDestroy?: pulumi.Input<boolean>;
  /** Protect the bucket from deletion; default false. Plain value. */
  protect?: boolean;
  /** The Kubernetes service account bound to the Google service account. */
  workloadIdentity: pulumi.Input<{
    /** Namespace of the step service account. */
    namespace: pulumi.Input<string>;
    /** Name of the step service account. */
    serviceAccount: pulumi.Input<string>;
  }>;
}

/**
 * `kubestep:datastore:GcsDatastore`: a GCS bucket with uniform access, public access prevention
 * and versioning; a Google service account the step service account impersonates through
 * Workload Identity, with object access to the bucket.
 */
export class GcsDatastore extends pulumi.ComponentResource {
  /** The contract's datastore. */
  public readonly datastore: pulumi.Output<DatastoreSpec>;
  /** Bucket name. */
  public readonly bucketName: pulumi.Output<string>;
  /** Email of the Google service account. */
  public readonly googleServiceAccount: pulumi.Output<string>;
  /** Annotations for the step service account (`iam.gke.io/gcp-service-account`). */
  public readonly serviceAccountAnnotations: pulumi.Output<Record<string, string>>;

  constructor(name: string, args: GcsDatastoreArgs, opts?: pulumi.ComponentResourceOptions) {
    super("kubestep:datastore:GcsDatastore", name, args, opts);
    const { protect, ...rest } = args;
    const spec = resolveSpec(rest, (a) => gcsDatastoreSpec(a as GcsDatastoreSpecInput));

    const bucket = new gcs.Bucket(
      `${name}-bucket`,
      {
        name: spec.apply((s) => s.bucketName),
        location: spec.apply((s) => s.location),
        project: spec.apply((s) => s.project),
        uniformBucketLevelAccess: true,
        publicAccessPrevention: "enforced",
        versioning: spec.apply((s) => ({ enabled: s.bucket.versioning })),
        lifecycleRules: spec.apply((s) => gcsLifecycleRules(s.bucket)),
        forceDestroy: spec.apply((s) => s.bucket.forceDestroy),
        labels: { "managed-by": "kubestep" },
      },
      { parent: this, protect: protect ?? false },
    );
    const gsa = new gcpServiceAccount.Account(
      `${name}-gsa`,
      { accountId: spec.apply((s) => s.accountId ?? googleAccountId(name)), project: spec.apply((s) => s.project), displayName: "kubestep step pods (datastore access)" },
      { parent: this },
    );
    new gcpServiceAccount.IAMMember(
      `${name}-workload-identity`,
      { serviceAccountId: gsa.name, role: "roles/iam.workloadIdentityUser", member: spec.apply((s) => gkeWorkloadIdentityMember(s.project, s.workloadIdentity)) },
      { parent: this },
    );
    new gcs.BucketIAMMember(
      `${name}-bucket-access`,
      { bucket: bucket.name, role: "roles/storage.objectUser", member: pulumi.interpolate`serviceAccount:${gsa.email}` },
      { parent: this },
    );

    this.bucketName = bucket.name;
    this.googleServiceAccount = gsa.email;
    this.datastore = pulumi.all([bucket.name, spec]).apply(([b, s]): DatastoreSpec => ({ kind: "gs", root: `gs://${b}/${s.bucket.prefix}` }));
    this.serviceAccountAnnotations = gsa.email.apply((email): Record<string, string> => ({ "iam.gke.io/gcp-service-account": email }));
    this.registerOutputs({ datastore: this.datastore, bucketName: this.bucketName, googleServiceAccount: this.googleServiceAccount, serviceAccountAnnotations: this.serviceAccountAnnotations });
  }
}

// ---------------------------------------------------------------- Azure

/** Built-in role "Storage Blob Data Contributor". */
export const STORAGE_BLOB_DATA_CONTRIBUTOR = "ba92f5b4-2d11-453d-a403-e96b0029c9fe";
/** Audience of Azure AD workload identity federation. */
export const AZURE_FEDERATION_AUDIENCE = "api://AzureADTokenExchange";
/** Label Azure Workload Identity's webhook requires on pods. */
export const AZURE_WORKLOAD_IDENTITY_LABEL = "azure.workload.identity/use";

/** Role definition id of `roleGuid` in the subscription that `scopeId` belongs to. */
export function azureRoleDefinitionId(scopeId: string, roleGuid: string): string {
  const m = /^\/subscriptions\/[^/]+/i.exec(scopeId);
  ensure(m !== null, "scope", `must be an Azure resource id starting with /subscriptions/<id> (got ${shown(scopeId)})`);
  return `${m[0]}/providers/Microsoft.Authorization/roleDefinitions/${roleGuid}`;
}

/** Resolved arguments of {@link AzureDatastore}. */
export interface AzureDatastoreSpecInput extends BucketPolicyArgs {
  resourceGroupName: string;
  location?: string;
  accountName?: string;
  containerName?: string;
  skuName?: string;
  workloadIdentity: PodIdentityArgs & { oidcIssuerUrl: string };
}

/** Validates the Azure datastore arguments. */
export function azureDatastoreSpec(a: AzureDatastoreSpecInput): AzureDatastoreSpecInput & { bucket: ReturnType<typeof bucketPolicyDefaults>; containerName: string; skuName: string } {
  const bucket = bucketPolicyDefaults(a);
  requireString(a.resourceGroupName, "resourceGroupName");
  if (a.accountName !== undefined) ensure(/^[a-z0-9]{3,24}$/.test(a.accountName), "accountName", `must be 3-24 lower-case letters or digits (got ${shown(a.accountName)})`);
  const containerName = a.containerName ?? "kubestep";
  ensure(/^[a-z0-9](?!.*--)[a-z0-9-]{1,61}[a-z0-9]$/.test(containerName), "containerName", `must be 3-63 lower-case letters, digits or single '-' (got ${shown(containerName)})`);
  validatePodIdentity(a.workloadIdentity, "workloadIdentity");
  ensure(typeof a.workloadIdentity.oidcIssuerUrl === "string" && a.workloadIdentity.oidcIssuerUrl.startsWith("https://"), "workloadIdentity.oidcIssuerUrl", `must be the AKS cluster's OIDC issuer URL (https://...) (got ${shown(a.workloadIdentity.oidcIssuerUrl)})`);
  return { ...a, bucket, containerName, skuName: a.skuName ?? "Standard_ZRS" };
}

/** Arguments of {@link AzureDatastore}. */
export interface AzureDatastoreArgs {
  /** Resource group for the storage account and the identity. */
  resourceGroupName: pulumi.Input<string>;
  /** Azure region; default the resource group's. */
  location?: pulumi.Input<string>;
  /** Storage account name (3-24 lower-case letters/digits); default auto-named. */
  accountName?: pulumi.Input<string>;
  /** Blob container; default `kubestep`. */
  containerName?: pulumi.Input<string>;
  /** Storage SKU; default `Standard_ZRS`. */
  skuName?: pulumi.Input<string>;
  /** Key prefix; default `kubestep`. */
  prefix?: pulumi.Input<string>;
  /** Blob versioning; default true. */
  versioning?: pulumi.Input<boolean>;
  /** Days deleted blobs and containers are retained (soft delete); default 30. */
  retentionDays?: pulumi.Input<number>;
  /** Not supported on Azure by this component (use a management policy); must be unset. */
  expireAfterDays?: pulumi.Input<number>;
  /** Protect the storage account from deletion; default false. Plain value. */
  protect?: boolean;
  /** The AKS OIDC issuer and the step service account trusted by the federated credential. */
  workloadIdentity: pulumi.Input<{
    /** Namespace of the step service account. */
    namespace: pulumi.Input<string>;
    /** Name of the step service account. */
    serviceAccount: pulumi.Input<string>;
    /** OIDC issuer URL of the AKS cluster. */
    oidcIssuerUrl: pulumi.Input<string>;
  }>;
}

/**
 * `kubestep:datastore:AzureDatastore`: an HTTPS-only, TLS 1.2+, no-public-access storage account
 * with a blob container, and a user-assigned identity federated with the step service account
 * and granted Storage Blob Data Contributor on the container.
 */
export class AzureDatastore extends pulumi.ComponentResource {
  /** The contract's datastore. */
  public readonly datastore: pulumi.Output<DatastoreSpec>;
  /** Storage account name. */
  public readonly accountName: pulumi.Output<string>;
  /** Client id of the user-assigned identity. */
  public readonly clientId: pulumi.Output<string>;
  /** Annotations for the step service account (`azure.workload.identity/client-id`). */
  public readonly serviceAccountAnnotations: pulumi.Output<Record<string, string>>;
  /** Labels step pods need (`azure.workload.identity/use: "true"`). */
  public readonly podLabels: pulumi.Output<Record<string, string>>;

  constructor(name: string, args: AzureDatastoreArgs, opts?: pulumi.ComponentResourceOptions) {
    super("kubestep:datastore:AzureDatastore", name, args, opts);
    const { protect, ...rest } = args;
    if (rest.expireAfterDays !== undefined)
      throw new pulumi.InputPropertyError({ propertyPath: "expireAfterDays", reason: "is not supported for Azure (objects are kept; use retentionDays for soft delete)" });
    const spec = resolveSpec(rest, (a) => azureDatastoreSpec(a as AzureDatastoreSpecInput));
    const rg = spec.apply((s) => s.resourceGroupName);

    const account = new azureStorage.StorageAccount(
      `${name}-account`,
      {
        resourceGroupName: rg,
        accountName: spec.apply((s) => s.accountName),
        location: spec.apply((s) => s.location),
        kind: "StorageV2",
        sku: { name: spec.apply((s) => s.skuName) },
        enableHttpsTrafficOnly: true,
        minimumTlsVersion: "TLS1_2",
        allowBlobPublicAccess: false,
        allowSharedKeyAccess: false,
        defaultToOAuthAuthentication: true,
        tags: { "managed-by": "kubestep" },
      },
      { parent: this, protect: protect ?? false },
    );
    new azureStorage.BlobServiceProperties(
      `${name}-blob-service`,
      {
        resourceGroupName: rg,
        accountName: account.name,
        blobServicesName: "default",
        isVersioningEnabled: spec.apply((s) => s.bucket.versioning),
        deleteRetentionPolicy: spec.apply((s) => ({ enabled: true, days: s.bucket.retentionDays })),
        containerDeleteRetentionPolicy: spec.apply((s) => ({ enabled: true, days: s.bucket.retentionDays })),
      },
      { parent: this },
    );
    const container = new azureStorage.BlobContainer(
      `${name}-container`,
      { resourceGroupName: rg, accountName: account.name, containerName: spec.apply((s) => s.containerName), publicAccess: "None" },
      { parent: this },
    );
    const identity = new managedidentity.UserAssignedIdentity(`${name}-identity`, { resourceGroupName: rg, location: spec.apply((s) => s.location) }, { parent: this });
    new managedidentity.FederatedIdentityCredential(
      `${name}-federation`,
      {
        resourceGroupName: rg,
        resourceName: identity.name,
        issuer: spec.apply((s) => s.workloadIdentity.oidcIssuerUrl),
        subject: spec.apply((s) => serviceAccountSubject(s.workloadIdentity)),
        audiences: [AZURE_FEDERATION_AUDIENCE],
      },
      { parent: this },
    );
    new authorization.RoleAssignment(
      `${name}-blob-access`,
      {
        principalId: identity.principalId,
        principalType: "ServicePrincipal",
        roleDefinitionId: container.id.apply((id) => azureRoleDefinitionId(id, STORAGE_BLOB_DATA_CONTRIBUTOR)),
        scope: container.id,
      },
      { parent: this },
    );

    this.accountName = account.name;
    this.clientId = identity.clientId;
    this.datastore = pulumi.all([account.name, container.name, spec]).apply(([acc, c, s]): DatastoreSpec => ({ kind: "azure", root: `azure://${acc}/${c}/${s.bucket.prefix}` }));
    this.serviceAccountAnnotations = identity.clientId.apply((id): Record<string, string> => ({ "azure.workload.identity/client-id": id }));
    this.podLabels = pulumi.output<Record<string, string>>({ [AZURE_WORKLOAD_IDENTITY_LABEL]: "true" });
    this.registerOutputs({ datastore: this.datastore, accountName: this.accountName, clientId: this.clientId, serviceAccountAnnotations: this.serviceAccountAnnotations, podLabels: this.podLabels });
  }
}
