/**
 * The datastore bucket and the pod identity that lets step pods (and only them) use it:
 * S3 + IAM role for IRSA, GCS + Google service account for Workload Identity, Azure Blob +
 * user-assigned identity with a federated credential. Each component outputs the contract's
 * `DatastoreSpec` and the annotations/labels the step service account and pods need.
 */
import { createHash } from "node:crypto";
import * as pulumi from "@pulumi/pulumi";
import * as s3 from "@pulumi/aws/s3/index.js";
import * as iam from "@pulumi/aws/iam/index.js";
import * as gcs from "@pulumi/gcp/storage/index.js";
import * as gcpServiceAccount from "@pulumi/gcp/serviceaccount/index.js";
import * as azureStorage from "@pulumi/azure-native/storage/index.js";
import * as managedidentity from "@pulumi/azure-native/managedidentity/index.js";
import * as authorization from "@pulumi/azure-native/authorization/index.js";
import type { DatastoreSpec } from "../runtime/contract/index.js";
import {
  ensure,
  requireDnsLabel,
  requireInt,
  requireOneOf,
  requireString,
  resolveSpec,
  shown,
  validateAll,
  type Problems,
} from "./validate.js";

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

/**
 * Checks `additionalServiceAccounts`: other service accounts of the pod identity's namespace that get the same
 * datastore access (the orchestrator's of deployed flows). Names are DNS labels, none twice, not the step's own.
 */
function validateAdditionalServiceAccounts(p: Problems, extra: unknown, main: string | undefined): void {
  if (extra === undefined) return;
  if (
    !p.ensure(
      Array.isArray(extra),
      "additionalServiceAccounts",
      `must be a list of service account names (got ${shown(extra)})`,
    )
  )
    return;
  const seen = new Set<string>(main ? [main] : []);
  (extra as unknown[]).forEach((n, i) => {
    if (!p.check(() => requireDnsLabel(n, `additionalServiceAccounts[${i}]`))) return;
    p.ensure(
      !seen.has(n as string),
      `additionalServiceAccounts[${i}]`,
      `duplicates service account ${shown(n)} (the pod identity's or an earlier one)`,
    );
    seen.add(n as string);
  });
}

/** A list argument that must be plain (its length decides how many resources exist); its items may be outputs. */
function plainList<T>(v: pulumi.Input<T[]> | T[] | undefined, path: string): T[] {
  if (v === undefined) return [];
  if (!Array.isArray(v))
    throw new pulumi.InputPropertiesError({
      message: `${path} must be a plain list (each item is a resource)`,
      errors: [
        { propertyPath: path, reason: "must be a plain list (each item becomes a resource); its items may be outputs" },
      ],
    });
  return v;
}

/** Validates the lifecycle options (every problem at once) and fills defaults. */
export function bucketPolicyDefaults(
  b: BucketPolicyArgs,
): Required<Omit<BucketPolicyArgs, "expireAfterDays">> & { expireAfterDays?: number } {
  return validateAll("bucket settings", (p) => {
    const prefix = b.prefix ?? "kubestep";
    p.ensure(
      typeof prefix === "string" && /^[A-Za-z0-9][A-Za-z0-9._/-]*$/.test(prefix) && !prefix.endsWith("/"),
      "prefix",
      `must be a key prefix without leading or trailing '/' (got ${shown(prefix)})`,
    );
    const versioning = b.versioning ?? true;
    p.ensure(typeof versioning === "boolean", "versioning", `must be true or false (got ${shown(versioning)})`);
    const retentionDays = b.retentionDays ?? 30;
    p.check(() => requireInt(retentionDays, "retentionDays", 1, 36500));
    if (b.expireAfterDays !== undefined) p.check(() => requireInt(b.expireAfterDays, "expireAfterDays", 1, 36500));
    const forceDestroy = b.forceDestroy ?? false;
    p.ensure(typeof forceDestroy === "boolean", "forceDestroy", `must be true or false (got ${shown(forceDestroy)})`);
    return {
      prefix,
      versioning,
      retentionDays,
      forceDestroy,
      ...(b.expireAfterDays !== undefined ? { expireAfterDays: b.expireAfterDays } : {}),
    };
  });
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

/**
 * Trust policy of the IRSA role: only `system:serviceaccount:<ns>:<sa>` (and the `additional` service accounts of the
 * same namespace) via the cluster's OIDC provider, audience `sts.amazonaws.com`.
 */
export function irsaTrustPolicy(a: IrsaArgs, additional: string[] = []): PolicyDocument {
  const issuer = a.oidcProviderUrl.replace(/^https:\/\//, "");
  const subjects = [a, ...additional.map((serviceAccount) => ({ namespace: a.namespace, serviceAccount }))].map(
    serviceAccountSubject,
  );
  return {
    Version: "2012-10-17",
    Statement: [
      {
        Effect: "Allow",
        Principal: { Federated: a.oidcProviderArn },
        Action: "sts:AssumeRoleWithWebIdentity",
        // A list matches any of its values.
        Condition: {
          StringEquals: {
            [`${issuer}:sub`]: subjects.length === 1 ? subjects[0]! : subjects,
            [`${issuer}:aud`]: "sts.amazonaws.com",
          },
        },
      },
    ],
  };
}

/**
 * Access policy of the datastore's users (the IRSA role of step pods, and submitters): list, read,
 * write and delete limited to `<bucket>/<prefix>/`, and, with SSE-KMS, `kms:Decrypt` and
 * `kms:GenerateDataKey` on the bucket's key (S3 calls KMS on their behalf for every GET and PUT).
 */
export function s3AccessPolicy(bucketArn: string, prefix: string, kmsKeyArn?: string): PolicyDocument {
  const statements: Record<string, unknown>[] = [
    {
      Sid: "ListPrefix",
      Effect: "Allow",
      Action: "s3:ListBucket",
      Resource: bucketArn,
      Condition: { StringLike: { "s3:prefix": [prefix, `${prefix}/*`] } },
    },
    { Sid: "LocateBucket", Effect: "Allow", Action: "s3:GetBucketLocation", Resource: bucketArn },
    {
      Sid: "ReadWritePrefix",
      Effect: "Allow",
      Action: [
        "s3:GetObject",
        "s3:PutObject",
        "s3:DeleteObject",
        "s3:AbortMultipartUpload",
        "s3:ListMultipartUploadParts",
      ],
      Resource: `${bucketArn}/${prefix}/*`,
    },
  ];
  if (kmsKeyArn)
    statements.push({
      Sid: "UseBucketKey",
      Effect: "Allow",
      Action: ["kms:Decrypt", "kms:GenerateDataKey"],
      Resource: kmsKeyArn,
    });
  return { Version: "2012-10-17", Statement: statements };
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
  const rules: ReturnType<typeof s3LifecycleRules> = [
    {
      id: "abort-incomplete-uploads",
      status: "Enabled",
      filter,
      abortIncompleteMultipartUpload: { daysAfterInitiation: 7 },
    },
  ];
  if (b.versioning)
    rules.push({
      id: "expire-noncurrent-versions",
      status: "Enabled",
      filter,
      noncurrentVersionExpiration: { noncurrentDays: b.retentionDays },
    });
  if (b.expireAfterDays !== undefined)
    rules.push({ id: "expire-objects", status: "Enabled", filter, expiration: { days: b.expireAfterDays } });
  return rules;
}

/** Resolved arguments of {@link S3Datastore}. */
export interface S3DatastoreSpecInput extends BucketPolicyArgs {
  bucketName?: string;
  region?: string;
  kmsKeyId?: string;
  submitterRoleNames?: string[];
  irsa: IrsaArgs;
  additionalServiceAccounts?: string[];
}

/** Validated S3 datastore settings. */
export interface S3DatastoreSpec {
  bucket: ReturnType<typeof bucketPolicyDefaults>;
  bucketName?: string;
  region?: string;
  encryption: { sseAlgorithm: "AES256" } | { sseAlgorithm: "aws:kms"; kmsMasterKeyId: string };
  kmsKeyArn?: string;
  submitterRoleNames: string[];
  irsa: IrsaArgs;
  /** Other service accounts of the namespace trusted like the step's. */
  additionalServiceAccounts: string[];
}

/** Validates the S3 datastore arguments; every problem is reported at once. */
export function s3DatastoreSpec(a: S3DatastoreSpecInput): S3DatastoreSpec {
  return validateAll("kubestep:datastore:S3Datastore", (p) => {
    let bucket: ReturnType<typeof bucketPolicyDefaults> | undefined;
    p.check(() => (bucket = bucketPolicyDefaults(a)));
    if (a.bucketName !== undefined)
      p.ensure(
        typeof a.bucketName === "string" && /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(a.bucketName),
        "bucketName",
        `must be a valid S3 bucket name (got ${shown(a.bucketName)})`,
      );
    if (a.region !== undefined)
      p.ensure(
        typeof a.region === "string" && /^[a-z]{2}(-[a-z]+)+-\d$/.test(a.region),
        "region",
        `must be an AWS region such as "us-east-1" (got ${shown(a.region)})`,
      );
    if (a.kmsKeyId !== undefined)
      p.ensure(
        typeof a.kmsKeyId === "string" && a.kmsKeyId.startsWith("arn:"),
        "kmsKeyId",
        `must be the ARN of the KMS key (the IAM policies name it) (got ${shown(a.kmsKeyId)})`,
      );
    if (a.submitterRoleNames !== undefined)
      p.ensure(
        Array.isArray(a.submitterRoleNames) && a.submitterRoleNames.every((r) => typeof r === "string" && r !== ""),
        "submitterRoleNames",
        `must be a list of IAM role names (got ${shown(a.submitterRoleNames)})`,
      );
    if (p.check(() => validatePodIdentity(a.irsa, "irsa"))) {
      p.ensure(
        typeof a.irsa.oidcProviderArn === "string" && a.irsa.oidcProviderArn.startsWith("arn:"),
        "irsa.oidcProviderArn",
        `must be the ARN of the cluster's IAM OIDC provider (got ${shown(a.irsa.oidcProviderArn)})`,
      );
      p.check(() => requireString(a.irsa.oidcProviderUrl, "irsa.oidcProviderUrl"));
    }
    validateAdditionalServiceAccounts(p, a.additionalServiceAccounts, a.irsa?.serviceAccount);
    p.throwIfAny("kubestep:datastore:S3Datastore");
    return {
      bucket: bucket!,
      ...(a.bucketName !== undefined ? { bucketName: a.bucketName } : {}),
      ...(a.region !== undefined ? { region: a.region } : {}),
      encryption: a.kmsKeyId ? { sseAlgorithm: "aws:kms", kmsMasterKeyId: a.kmsKeyId } : { sseAlgorithm: "AES256" },
      ...(a.kmsKeyId ? { kmsKeyArn: a.kmsKeyId } : {}),
      submitterRoleNames: [...(a.submitterRoleNames ?? [])],
      irsa: a.irsa,
      additionalServiceAccounts: [...(a.additionalServiceAccounts ?? [])],
    };
  });
}

/** Arguments of {@link S3Datastore}. */
export interface S3DatastoreArgs {
  /** Bucket name; default a unique name derived from the component name. */
  bucketName?: pulumi.Input<string>;
  /** Region the bucket is created in (and recorded in the contract); default the AWS provider's region. */
  region?: pulumi.Input<string>;
  /** ARN of a KMS key for SSE-KMS (the pod identity and the submitter policy may use it); default SSE-S3 (AES256). */
  kmsKeyId?: pulumi.Input<string>;
  /** IAM roles (names) of submitters: the submitter policy (read/write under the prefix, KMS) is attached to them. */
  submitterRoleNames?: pulumi.Input<pulumi.Input<string>[]>;
  /** Other service accounts of the `irsa` namespace trusted to assume the role too (e.g. the orchestrator's of deployed flows). */
  additionalServiceAccounts?: pulumi.Input<pulumi.Input<string>[]>;
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
  /** Bucket ARN. */
  public readonly bucketArn: pulumi.Output<string>;
  /** Region the bucket is in. */
  public readonly region: pulumi.Output<string>;
  /** ARN of the IRSA role of step pods. */
  public readonly roleArn: pulumi.Output<string>;
  /** ARN of the managed policy for submitters (attach it to the roles/users that run `kubestep run`). */
  public readonly submitterPolicyArn: pulumi.Output<string>;
  /** The submitter policy document (JSON). */
  public readonly submitterPolicy: pulumi.Output<string>;
  /** ARN of the bucket's KMS key, when SSE-KMS is used. */
  public readonly kmsKeyArn: pulumi.Output<string | undefined>;
  /** Annotations for the step service account (`eks.amazonaws.com/role-arn`). */
  public readonly serviceAccountAnnotations: pulumi.Output<Record<string, string>>;

  constructor(name: string, args: S3DatastoreArgs, opts?: pulumi.ComponentResourceOptions) {
    super("kubestep:datastore:S3Datastore", name, args, opts);
    const { protect, ...rest } = args;
    const spec = resolveSpec(rest, (a) => s3DatastoreSpec(a as S3DatastoreSpecInput));
    // Every bucket resource is created in the stack's region (default: the provider's).
    const region = spec.apply((s) => s.region) as pulumi.Output<string | undefined>;

    const bucket = new s3.Bucket(
      `${name}-bucket`,
      {
        bucket: spec.apply((s) => s.bucketName),
        region,
        forceDestroy: spec.apply((s) => s.bucket.forceDestroy),
        tags: { "managed-by": "kubestep" },
      },
      { parent: this, protect: protect ?? false },
    );
    new s3.BucketServerSideEncryptionConfiguration(
      `${name}-encryption`,
      {
        bucket: bucket.id,
        region,
        rules: [{ applyServerSideEncryptionByDefault: spec.apply((s) => s.encryption), bucketKeyEnabled: true }],
      },
      { parent: this },
    );
    const publicAccess = new s3.BucketPublicAccessBlock(
      `${name}-public-access`,
      {
        bucket: bucket.id,
        region,
        blockPublicAcls: true,
        blockPublicPolicy: true,
        ignorePublicAcls: true,
        restrictPublicBuckets: true,
      },
      { parent: this },
    );
    new s3.BucketVersioning(
      `${name}-versioning`,
      {
        bucket: bucket.id,
        region,
        versioningConfiguration: { status: spec.apply((s) => (s.bucket.versioning ? "Enabled" : "Suspended")) },
      },
      { parent: this },
    );
    new s3.BucketLifecycleConfiguration(
      `${name}-lifecycle`,
      { bucket: bucket.id, region, rules: spec.apply((s) => s3LifecycleRules(s.bucket)) },
      { parent: this },
    );
    new s3.BucketPolicy(
      `${name}-tls-only`,
      { bucket: bucket.id, region, policy: bucket.arn.apply((arn) => JSON.stringify(s3TlsOnlyPolicy(arn))) },
      { parent: this, dependsOn: [publicAccess] },
    );
    const role = new iam.Role(
      `${name}-irsa`,
      {
        assumeRolePolicy: spec.apply((s) => JSON.stringify(irsaTrustPolicy(s.irsa, s.additionalServiceAccounts))),
        description: "kubestep step pods: datastore access (IRSA)",
        tags: { "managed-by": "kubestep" },
      },
      { parent: this },
    );
    const access = pulumi
      .all([bucket.arn, spec])
      .apply(([arn, s]) => JSON.stringify(s3AccessPolicy(arn, s.bucket.prefix, s.kmsKeyArn)));
    new iam.RolePolicy(`${name}-access`, { role: role.name, policy: access }, { parent: this });
    // Submitters write code packages and run metadata, pre-sign the code URL and read results: the same rights.
    const submitterPolicy = new iam.Policy(
      `${name}-submitters`,
      {
        description: "kubestep submitters: datastore access (attach to the roles or users that run `kubestep run`)",
        policy: access,
        tags: { "managed-by": "kubestep" },
      },
      { parent: this },
    );
    const submitterRoles = rest.submitterRoleNames;
    if (Array.isArray(submitterRoles))
      submitterRoles.forEach(
        (roleName, i) =>
          new iam.RolePolicyAttachment(
            `${name}-submitter-${i}`,
            { role: roleName, policyArn: submitterPolicy.arn },
            { parent: this },
          ),
      );
    else if (submitterRoles !== undefined)
      throw new pulumi.InputPropertiesError({
        message: "submitterRoleNames must be a list (each name is an attachment)",
        errors: [
          {
            propertyPath: "submitterRoleNames",
            reason: "must be a plain list (each name becomes a policy attachment); its items may be outputs",
          },
        ],
      });

    this.bucketName = bucket.bucket;
    this.bucketArn = bucket.arn;
    this.region = bucket.region;
    this.roleArn = role.arn;
    this.submitterPolicyArn = submitterPolicy.arn;
    this.submitterPolicy = access;
    this.kmsKeyArn = spec.apply((s) => s.kmsKeyArn) as pulumi.Output<string | undefined>;
    // The contract's region is where the bucket really is (the provider's region when none is given).
    this.datastore = pulumi.all([bucket.bucket, bucket.region, spec]).apply(([b, r, s]): DatastoreSpec => ({
      kind: "s3",
      root: `s3://${b}/${s.bucket.prefix}`,
      ...((r ?? s.region) ? { region: r ?? s.region } : {}),
    }));
    this.serviceAccountAnnotations = role.arn.apply((arn): Record<string, string> => ({
      "eks.amazonaws.com/role-arn": arn,
    }));
    this.registerOutputs({
      datastore: this.datastore,
      bucketName: this.bucketName,
      bucketArn: this.bucketArn,
      region: this.region,
      roleArn: this.roleArn,
      submitterPolicyArn: this.submitterPolicyArn,
      submitterPolicy: this.submitterPolicy,
      kmsKeyArn: this.kmsKeyArn,
      serviceAccountAnnotations: this.serviceAccountAnnotations,
    });
  }
}

// ---------------------------------------------------------------- GCS

/** Workload Identity member of a Kubernetes service account: `serviceAccount:<project>.svc.id.goog[<ns>/<sa>]`. */
export function gkeWorkloadIdentityMember(project: string, id: PodIdentityArgs): string {
  return `serviceAccount:${project}.svc.id.goog[${id.namespace}/${id.serviceAccount}]`;
}

/** GCS lifecycle rules: delete old versions after the retention, optional TTL. */
export function gcsLifecycleRules(
  b: ReturnType<typeof bucketPolicyDefaults>,
): { action: { type: "Delete" }; condition: Record<string, unknown> }[] {
  const rules: ReturnType<typeof gcsLifecycleRules> = [];
  if (b.versioning)
    rules.push({
      action: { type: "Delete" },
      condition: { daysSinceNoncurrentTime: b.retentionDays, withState: "ARCHIVED" },
    });
  if (b.expireAfterDays !== undefined)
    rules.push({
      action: { type: "Delete" },
      condition: { age: b.expireAfterDays, matchesPrefixes: [`${b.prefix}/`], withState: "LIVE" },
    });
  return rules;
}

/** Google service account id (6-30 chars) derived from a component name. */
export function googleAccountId(name: string): string {
  const full = `ks-${name}`.toLowerCase().replace(/[^a-z0-9-]/g, "-");
  // Too long: keep a prefix and add a hash of the whole name, so long names that share a prefix stay distinct.
  let id =
    full.length <= 30
      ? full.replace(/-+$/, "")
      : `${full.slice(0, 23).replace(/-+$/, "")}-${createHash("sha256").update(full).digest("hex").slice(0, 6)}`;
  while (id.length < 6) id += "-x";
  return id;
}

/** Resolved arguments of {@link GcsDatastore}. */
export interface GcsDatastoreSpecInput extends BucketPolicyArgs {
  bucketName?: string;
  location: string;
  project: string;
  accountId?: string;
  submitterMembers?: string[];
  workloadIdentity: PodIdentityArgs;
  additionalServiceAccounts?: string[];
}

/** Validates the GCS datastore arguments; every problem is reported at once. */
export function gcsDatastoreSpec(
  a: GcsDatastoreSpecInput,
): GcsDatastoreSpecInput & { bucket: ReturnType<typeof bucketPolicyDefaults> } {
  return validateAll("kubestep:datastore:GcsDatastore", (p) => {
    let bucket: ReturnType<typeof bucketPolicyDefaults> | undefined;
    p.check(() => (bucket = bucketPolicyDefaults(a)));
    p.check(() => requireString(a.location, "location"));
    p.check(() => requireString(a.project, "project"));
    if (a.accountId !== undefined)
      p.ensure(
        /^[a-z][a-z0-9-]{4,28}[a-z0-9]$/.test(a.accountId),
        "accountId",
        `must be 6-30 lower-case letters, digits or '-' (got ${shown(a.accountId)})`,
      );
    (a.submitterMembers ?? []).forEach((m, i) =>
      p.ensure(
        typeof m === "string" && /^(user|group|serviceAccount|domain|principal|principalSet):.+/.test(m),
        `submitterMembers[${i}]`,
        `must be an IAM member such as "group:ml@example.com" (got ${shown(m)})`,
      ),
    );
    p.check(() => validatePodIdentity(a.workloadIdentity, "workloadIdentity"));
    validateAdditionalServiceAccounts(p, a.additionalServiceAccounts, a.workloadIdentity?.serviceAccount);
    p.throwIfAny("kubestep:datastore:GcsDatastore");
    return { ...a, bucket: bucket! };
  });
}

/** Role submitters get on the datastore's Google service account so they can sign URLs as it (`iam.serviceAccounts.signBlob`). */
export const GCS_SIGNER_ROLE = "roles/iam.serviceAccountTokenCreator";
/** Role step pods and submitters get on the bucket. */
export const GCS_OBJECT_ROLE = "roles/storage.objectUser";

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
  /**
   * IAM members who submit runs (e.g. `group:ml@example.com`): object access to the bucket, and
   * `roles/iam.serviceAccountTokenCreator` on the datastore's Google service account so they can sign
   * the code URL as it. Plain list (each member is a binding).
   */
  submitterMembers?: pulumi.Input<string>[];
  /**
   * Other Kubernetes service accounts of the `workloadIdentity` namespace bound to the Google service account too
   * (e.g. the orchestrator's of deployed flows). Plain list (each name is a binding); the names may be outputs.
   */
  additionalServiceAccounts?: pulumi.Input<string>[];
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
  /** `gs://` URL of the bucket. */
  public readonly bucketUrl: pulumi.Output<string>;
  /** Email of the Google service account (step pods' identity; submitters sign URLs as it). */
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
      {
        accountId: spec.apply((s) => s.accountId ?? googleAccountId(name)),
        project: spec.apply((s) => s.project),
        displayName: "kubestep step pods (datastore access)",
      },
      { parent: this },
    );
    new gcpServiceAccount.IAMMember(
      `${name}-workload-identity`,
      {
        serviceAccountId: gsa.name,
        role: "roles/iam.workloadIdentityUser",
        member: spec.apply((s) => gkeWorkloadIdentityMember(s.project, s.workloadIdentity)),
      },
      { parent: this },
    );
    plainList(args.additionalServiceAccounts, "additionalServiceAccounts").forEach(
      (_, i) =>
        new gcpServiceAccount.IAMMember(
          `${name}-workload-identity-${i}`,
          {
            serviceAccountId: gsa.name,
            role: "roles/iam.workloadIdentityUser",
            member: spec.apply((s) =>
              gkeWorkloadIdentityMember(s.project, {
                namespace: s.workloadIdentity.namespace,
                serviceAccount: s.additionalServiceAccounts![i]!,
              }),
            ),
          },
          { parent: this },
        ),
    );
    new gcs.BucketIAMMember(
      `${name}-bucket-access`,
      { bucket: bucket.name, role: GCS_OBJECT_ROLE, member: pulumi.interpolate`serviceAccount:${gsa.email}` },
      { parent: this },
    );
    (args.submitterMembers ?? []).forEach((member, i) => {
      new gcs.BucketIAMMember(
        `${name}-submitter-${i}`,
        { bucket: bucket.name, role: GCS_OBJECT_ROLE, member },
        { parent: this },
      );
      new gcpServiceAccount.IAMMember(
        `${name}-submitter-signer-${i}`,
        { serviceAccountId: gsa.name, role: GCS_SIGNER_ROLE, member },
        { parent: this },
      );
    });

    this.bucketName = bucket.name;
    this.bucketUrl = bucket.url;
    this.googleServiceAccount = gsa.email;
    this.datastore = pulumi
      .all([bucket.name, spec])
      .apply(([b, s]): DatastoreSpec => ({ kind: "gs", root: `gs://${b}/${s.bucket.prefix}` }));
    this.serviceAccountAnnotations = gsa.email.apply((email): Record<string, string> => ({
      "iam.gke.io/gcp-service-account": email,
    }));
    this.registerOutputs({
      datastore: this.datastore,
      bucketName: this.bucketName,
      bucketUrl: this.bucketUrl,
      googleServiceAccount: this.googleServiceAccount,
      serviceAccountAnnotations: this.serviceAccountAnnotations,
    });
  }
}

// ---------------------------------------------------------------- Azure

/** Built-in role "Storage Blob Data Contributor". */
export const STORAGE_BLOB_DATA_CONTRIBUTOR = "ba92f5b4-2d11-453d-a403-e96b0029c9fe";
/** Built-in role "Storage Blob Delegator" (get a user delegation key: sign user delegation SAS URLs). */
export const STORAGE_BLOB_DELEGATOR = "db58b8e5-c6ad-4a2a-8342-4190687cbf4a";
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
  submitterPrincipalIds?: string[];
  workloadIdentity: PodIdentityArgs & { oidcIssuerUrl: string };
  additionalServiceAccounts?: string[];
}

/** Validates the Azure datastore arguments; every problem is reported at once. */
export function azureDatastoreSpec(a: AzureDatastoreSpecInput): AzureDatastoreSpecInput & {
  bucket: ReturnType<typeof bucketPolicyDefaults>;
  containerName: string;
  skuName: string;
} {
  return validateAll("kubestep:datastore:AzureDatastore", (p) => {
    let bucket: ReturnType<typeof bucketPolicyDefaults> | undefined;
    p.check(() => (bucket = bucketPolicyDefaults(a)));
    p.ensure(
      a.expireAfterDays === undefined,
      "expireAfterDays",
      "is not supported for Azure (objects are kept; use retentionDays for soft delete)",
    );
    p.check(() => requireString(a.resourceGroupName, "resourceGroupName"));
    if (a.accountName !== undefined)
      p.ensure(
        /^[a-z0-9]{3,24}$/.test(a.accountName),
        "accountName",
        `must be 3-24 lower-case letters or digits (got ${shown(a.accountName)})`,
      );
    const containerName = a.containerName ?? "kubestep";
    p.ensure(
      /^[a-z0-9](?!.*--)[a-z0-9-]{1,61}[a-z0-9]$/.test(containerName),
      "containerName",
      `must be 3-63 lower-case letters, digits or single '-' (got ${shown(containerName)})`,
    );
    (a.submitterPrincipalIds ?? []).forEach((id, i) =>
      p.ensure(
        typeof id === "string" && /^[0-9a-fA-F-]{36}$/.test(id),
        `submitterPrincipalIds[${i}]`,
        `must be the object id (GUID) of a Microsoft Entra user, group or service principal (got ${shown(id)})`,
      ),
    );
    if (p.check(() => validatePodIdentity(a.workloadIdentity, "workloadIdentity")))
      p.ensure(
        typeof a.workloadIdentity.oidcIssuerUrl === "string" && a.workloadIdentity.oidcIssuerUrl.startsWith("https://"),
        "workloadIdentity.oidcIssuerUrl",
        `must be the AKS cluster's OIDC issuer URL (https://...) (got ${shown(a.workloadIdentity.oidcIssuerUrl)})`,
      );
    validateAdditionalServiceAccounts(p, a.additionalServiceAccounts, a.workloadIdentity?.serviceAccount);
    p.throwIfAny("kubestep:datastore:AzureDatastore");
    return { ...a, bucket: bucket!, containerName, skuName: a.skuName ?? "Standard_ZRS" };
  });
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
  /**
   * Object ids of the Microsoft Entra users, groups or service principals who submit runs: Storage
   * Blob Data Contributor on the container (read and write) and Storage Blob Delegator on the account
   * (user delegation SAS for the code URL). Plain list (each id is two role assignments).
   */
  submitterPrincipalIds?: pulumi.Input<string>[];
  /**
   * Other Kubernetes service accounts of the `workloadIdentity` namespace federated with the identity too (e.g. the
   * orchestrator's of deployed flows). Plain list (each name is a federated credential); the names may be outputs.
   */
  additionalServiceAccounts?: pulumi.Input<string>[];
  /** Kind of the `submitterPrincipalIds` principals: `Group` (default), `User` or `ServicePrincipal`. Plain value. */
  submitterPrincipalType?: "Group" | "User" | "ServicePrincipal";
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
  /** Storage account resource id. */
  public readonly accountId: pulumi.Output<string>;
  /** Blob container name. */
  public readonly containerName: pulumi.Output<string>;
  /** Resource id of the user-assigned identity of step pods. */
  public readonly identityId: pulumi.Output<string>;
  /** Client id of the user-assigned identity. */
  public readonly clientId: pulumi.Output<string>;
  /** Annotations for the step service account (`azure.workload.identity/client-id`). */
  public readonly serviceAccountAnnotations: pulumi.Output<Record<string, string>>;
  /** Labels step pods need (`azure.workload.identity/use: "true"`). */
  public readonly podLabels: pulumi.Output<Record<string, string>>;

  constructor(name: string, args: AzureDatastoreArgs, opts?: pulumi.ComponentResourceOptions) {
    super("kubestep:datastore:AzureDatastore", name, args, opts);
    const { protect, submitterPrincipalType, ...rest } = args;
    validateAll("kubestep:datastore:AzureDatastore", (p) => {
      if (submitterPrincipalType !== undefined)
        p.check(() =>
          requireOneOf(
            submitterPrincipalType,
            ["Group", "User", "ServicePrincipal"] as const,
            "submitterPrincipalType",
          ),
        );
    });
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
      {
        resourceGroupName: rg,
        accountName: account.name,
        containerName: spec.apply((s) => s.containerName),
        publicAccess: "None",
      },
      { parent: this },
    );
    const identity = new managedidentity.UserAssignedIdentity(
      `${name}-identity`,
      { resourceGroupName: rg, location: spec.apply((s) => s.location) },
      { parent: this },
    );
    const federation = new managedidentity.FederatedIdentityCredential(
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
    // Azure refuses concurrent writes of federated credentials on one identity: each waits for the previous.
    let previous: pulumi.Resource = federation;
    plainList(args.additionalServiceAccounts, "additionalServiceAccounts").forEach((_, i) => {
      previous = new managedidentity.FederatedIdentityCredential(
        `${name}-federation-${i}`,
        {
          resourceGroupName: rg,
          resourceName: identity.name,
          issuer: spec.apply((s) => s.workloadIdentity.oidcIssuerUrl),
          subject: spec.apply((s) =>
            serviceAccountSubject({
              namespace: s.workloadIdentity.namespace,
              serviceAccount: s.additionalServiceAccounts![i]!,
            }),
          ),
          audiences: [AZURE_FEDERATION_AUDIENCE],
        },
        { parent: this, dependsOn: [previous] },
      );
    });
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
    const principalType = args.submitterPrincipalType ?? "Group";
    (args.submitterPrincipalIds ?? []).forEach((principalId, i) => {
      new authorization.RoleAssignment(
        `${name}-submitter-${i}`,
        {
          principalId,
          principalType,
          roleDefinitionId: container.id.apply((id) => azureRoleDefinitionId(id, STORAGE_BLOB_DATA_CONTRIBUTOR)),
          scope: container.id,
        },
        { parent: this },
      );
      new authorization.RoleAssignment(
        `${name}-submitter-delegator-${i}`,
        {
          principalId,
          principalType,
          roleDefinitionId: account.id.apply((id) => azureRoleDefinitionId(id, STORAGE_BLOB_DELEGATOR)),
          scope: account.id,
        },
        { parent: this },
      );
    });

    this.accountName = account.name;
    this.accountId = account.id;
    this.containerName = container.name;
    this.identityId = identity.id;
    this.clientId = identity.clientId;
    this.datastore = pulumi
      .all([account.name, container.name, spec])
      .apply(([acc, c, s]): DatastoreSpec => ({ kind: "azure", root: `azure://${acc}/${c}/${s.bucket.prefix}` }));
    this.serviceAccountAnnotations = identity.clientId.apply((id): Record<string, string> => ({
      "azure.workload.identity/client-id": id,
    }));
    this.podLabels = pulumi.output<Record<string, string>>({ [AZURE_WORKLOAD_IDENTITY_LABEL]: "true" });
    this.registerOutputs({
      datastore: this.datastore,
      accountName: this.accountName,
      accountId: this.accountId,
      containerName: this.containerName,
      identityId: this.identityId,
      clientId: this.clientId,
      serviceAccountAnnotations: this.serviceAccountAnnotations,
      podLabels: this.podLabels,
    });
  }
}
