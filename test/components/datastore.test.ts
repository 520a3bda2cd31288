import * as pulumi from "@pulumi/pulumi";
import assert from "node:assert/strict";
import {
  AzureDatastore,
  GcsDatastore,
  S3Datastore,
  azureRoleDefinitionId,
  googleAccountId,
  irsaTrustPolicy,
  s3AccessPolicy,
} from "../../components/datastore.js";
import { inputErrors, ofType, one, PROVIDER_REGION, resetResources, settle, setupMocks, T, valueOf } from "./mocks.js";

const IRSA = {
  namespace: "ml",
  serviceAccount: "kubestep-step",
  oidcProviderArn: "arn:aws:iam::123456789012:oidc-provider/oidc.eks.eu-west-1.amazonaws.com/id/ABC",
  oidcProviderUrl: "https://oidc.eks.eu-west-1.amazonaws.com/id/ABC",
};

describe("components/datastore", () => {
  before(() => setupMocks());
  beforeEach(() => resetResources());

  describe("S3Datastore", () => {
    it("creates an encrypted, private, versioned, TLS-only bucket with lifecycle and an IRSA role limited to the prefix", async () => {
      const d = new S3Datastore("s1", {
        bucketName: "ml-artifacts",
        region: "eu-west-1",
        prefix: "runs",
        retentionDays: 10,
        expireAfterDays: 3,
        irsa: IRSA,
        protect: true,
      });
      assert.deepEqual(await valueOf(d.datastore), { kind: "s3", root: "s3://ml-artifacts/runs", region: "eu-west-1" });
      assert.deepEqual(await valueOf(d.serviceAccountAnnotations), {
        "eks.amazonaws.com/role-arn": "arn:aws:iam::123456789012:role/s1-irsa-r1",
      });
      await settle();
      const bucket = one(T.s3Bucket, "s1");
      assert.equal(bucket.protect, true);
      assert.equal(bucket.inputs.bucket, "ml-artifacts");
      assert.equal(bucket.inputs.forceDestroy, false);
      assert.deepEqual(one(T.s3Encryption, "s1").inputs.rules, [
        { applyServerSideEncryptionByDefault: { sseAlgorithm: "AES256" }, bucketKeyEnabled: true },
      ]);
      const pab = one(T.s3PublicAccess, "s1").inputs;
      assert.deepEqual(
        { ...pab },
        {
          bucket: "ml-artifacts",
          region: "eu-west-1",
          blockPublicAcls: true,
          blockPublicPolicy: true,
          ignorePublicAcls: true,
          restrictPublicBuckets: true,
        },
      );
      assert.deepEqual(one(T.s3Versioning, "s1").inputs.versioningConfiguration, { status: "Enabled" });
      assert.deepEqual(one(T.s3Lifecycle, "s1").inputs.rules, [
        {
          id: "abort-incomplete-uploads",
          status: "Enabled",
          filter: { prefix: "runs/" },
          abortIncompleteMultipartUpload: { daysAfterInitiation: 7 },
        },
        {
          id: "expire-noncurrent-versions",
          status: "Enabled",
          filter: { prefix: "runs/" },
          noncurrentVersionExpiration: { noncurrentDays: 10 },
        },
        { id: "expire-objects", status: "Enabled", filter: { prefix: "runs/" }, expiration: { days: 3 } },
      ]);
      assert.deepEqual(JSON.parse(one(T.s3Policy, "s1").inputs.policy as string), {
        Version: "2012-10-17",
        Statement: [
          {
            Sid: "DenyInsecureTransport",
            Effect: "Deny",
            Principal: "*",
            Action: "s3:*",
            Resource: ["arn:aws:s3:::ml-artifacts", "arn:aws:s3:::ml-artifacts/*"],
            Condition: { Bool: { "aws:SecureTransport": "false" } },
          },
        ],
      });
      const trust = JSON.parse(one(T.iamRole, "s1").inputs.assumeRolePolicy as string);
      assert.deepEqual(trust, irsaTrustPolicy(IRSA));
      assert.deepEqual(trust.Statement[0].Principal, { Federated: IRSA.oidcProviderArn });
      assert.equal(trust.Statement[0].Action, "sts:AssumeRoleWithWebIdentity");
      assert.deepEqual(trust.Statement[0].Condition, {
        StringEquals: {
          "oidc.eks.eu-west-1.amazonaws.com/id/ABC:sub": "system:serviceaccount:ml:kubestep-step",
          "oidc.eks.eu-west-1.amazonaws.com/id/ABC:aud": "sts.amazonaws.com",
        },
      });
      const access = JSON.parse(one(T.iamRolePolicy, "s1").inputs.policy as string);
      assert.deepEqual(access, s3AccessPolicy("arn:aws:s3:::ml-artifacts", "runs"));
      assert.equal(access.Statement[2].Resource, "arn:aws:s3:::ml-artifacts/runs/*");
      assert.deepEqual(access.Statement[0].Condition, { StringLike: { "s3:prefix": ["runs", "runs/*"] } });
      assert.ok(!JSON.stringify(access).includes('"s3:*"'));
    });
    it("uses SSE-KMS when a key is given, grants the pod identity and submitters kms:Decrypt/GenerateDataKey on it, and exposes it", async () => {
      const key = "arn:aws:kms:eu-west-1:1:key/k";
      const d = new S3Datastore("s2", { kmsKeyId: key, versioning: false, irsa: IRSA });
      assert.equal(await valueOf(d.kmsKeyArn), key);
      await settle();
      assert.deepEqual(one(T.s3Encryption, "s2").inputs.rules, [
        {
          applyServerSideEncryptionByDefault: { sseAlgorithm: "aws:kms", kmsMasterKeyId: key },
          bucketKeyEnabled: true,
        },
      ]);
      assert.deepEqual(one(T.s3Versioning, "s2").inputs.versioningConfiguration, { status: "Suspended" });
      assert.equal(one(T.s3Bucket, "s2").protect, false);
      const kms = {
        Sid: "UseBucketKey",
        Effect: "Allow",
        Action: ["kms:Decrypt", "kms:GenerateDataKey"],
        Resource: key,
      };
      assert.deepEqual(JSON.parse(one(T.iamRolePolicy, "s2").inputs.policy as string).Statement[3], kms);
      assert.deepEqual(JSON.parse(one(T.iamPolicy, "s2").inputs.policy as string).Statement[3], kms);
    });
    it("creates the bucket (and every bucket resource) in the given region; the contract's region is the bucket's real one", async () => {
      const a = new S3Datastore("r1", { region: "ap-south-1", irsa: IRSA });
      const b = new S3Datastore("r2", { irsa: IRSA });
      assert.equal((await valueOf(a.datastore)).region, "ap-south-1");
      // No region given: the bucket is where the provider put it, and the contract says so.
      assert.equal((await valueOf(b.datastore)).region, PROVIDER_REGION);
      assert.equal(await valueOf(b.region), PROVIDER_REGION);
      await settle();
      for (const t of [T.s3Bucket, T.s3Encryption, T.s3PublicAccess, T.s3Versioning, T.s3Lifecycle, T.s3Policy])
        assert.equal(one(t, "r1").inputs.region, "ap-south-1", t);
    });
    it("gives submitters a managed policy (read/write under the prefix) attached to their roles, and exposes bucket ARN and role ARNs", async () => {
      const d = new S3Datastore("sub1", {
        bucketName: "ml-b",
        submitterRoleNames: ["ml-developers", "ci"],
        irsa: IRSA,
      });
      assert.equal(await valueOf(d.bucketArn), "arn:aws:s3:::ml-b");
      assert.equal(await valueOf(d.submitterPolicyArn), "arn:aws:iam::123456789012:policy/sub1-submitters");
      assert.deepEqual(JSON.parse(await valueOf(d.submitterPolicy)), s3AccessPolicy("arn:aws:s3:::ml-b", "kubestep"));
      await settle();
      assert.deepEqual(
        JSON.parse(one(T.iamPolicy, "sub1").inputs.policy as string),
        s3AccessPolicy("arn:aws:s3:::ml-b", "kubestep"),
      );
      assert.deepEqual(
        ofType(T.iamRolePolicyAttachment, "sub1").map((r) => ({ ...r.inputs })),
        [
          { role: "ml-developers", policyArn: "arn:aws:iam::123456789012:policy/sub1-submitters" },
          { role: "ci", policyArn: "arn:aws:iam::123456789012:policy/sub1-submitters" },
        ],
      );
    });
    it("rejects invalid arguments, every problem at once", () => {
      assert.deepEqual(
        Object.keys(inputErrors(() => new S3Datastore("s3", { irsa: { ...IRSA, serviceAccount: "Bad SA" } }))),
        ["irsa.serviceAccount"],
      );
      const all = inputErrors(
        () =>
          new S3Datastore("s4", {
            prefix: "/abs/",
            retentionDays: 0,
            region: "Mars",
            kmsKeyId: "k",
            irsa: { ...IRSA, oidcProviderArn: "oidc.eks" },
          }),
      );
      assert.deepEqual(Object.keys(all), ["prefix", "retentionDays", "region", "kmsKeyId", "irsa.oidcProviderArn"]);
    });
    it("trusts additional service accounts of the namespace (the orchestrator's), each checked", async () => {
      assert.deepEqual(irsaTrustPolicy(IRSA, ["kubestep-orchestrator"]).Statement[0]!.Condition, {
        StringEquals: {
          "oidc.eks.eu-west-1.amazonaws.com/id/ABC:sub": [
            "system:serviceaccount:ml:kubestep-step",
            "system:serviceaccount:ml:kubestep-orchestrator",
          ],
          "oidc.eks.eu-west-1.amazonaws.com/id/ABC:aud": "sts.amazonaws.com",
        },
      });
      const e = inputErrors(
        () =>
          new S3Datastore("s5", { irsa: IRSA, additionalServiceAccounts: ["kubestep-step", "Bad SA", "orch", "orch"] }),
      );
      assert.deepEqual(Object.keys(e), [
        "additionalServiceAccounts[0]",
        "additionalServiceAccounts[1]",
        "additionalServiceAccounts[3]",
      ]);
      assert.match(e["additionalServiceAccounts[0]"]!, /duplicates service account "kubestep-step"/);
      assert.throws(
        () =>
          new GcsDatastore("gs9", {
            location: "EU",
            project: "p",
            workloadIdentity: { namespace: "ml", serviceAccount: "kubestep-step" },
            additionalServiceAccounts: pulumi.output(["x"]) as never,
          }),
        /additionalServiceAccounts must be a plain list/,
      );
    });
  });

  describe("GcsDatastore", () => {
    it("creates a uniform, public-access-prevented, versioned bucket and a Workload Identity bound Google service account", async () => {
      const d = new GcsDatastore("gs1", {
        bucketName: "ml-bkt",
        location: "US-CENTRAL1",
        project: "proj-1",
        workloadIdentity: { namespace: "ml", serviceAccount: "kubestep-step" },
        protect: true,
      });
      assert.deepEqual(await valueOf(d.datastore), { kind: "gs", root: "gs://ml-bkt/kubestep" });
      assert.deepEqual(await valueOf(d.serviceAccountAnnotations), {
        "iam.gke.io/gcp-service-account": "ks-gs1@proj-1.iam.gserviceaccount.com",
      });
      await settle();
      const b = one(T.gcsBucket, "gs1");
      assert.equal(b.protect, true);
      assert.equal(b.inputs.uniformBucketLevelAccess, true);
      assert.equal(b.inputs.publicAccessPrevention, "enforced");
      assert.deepEqual(b.inputs.versioning, { enabled: true });
      assert.deepEqual(b.inputs.lifecycleRules, [
        { action: { type: "Delete" }, condition: { daysSinceNoncurrentTime: 30, withState: "ARCHIVED" } },
      ]);
      assert.equal(one(T.gsa, "gs1").inputs.accountId, "ks-gs1");
      const wi = one(T.gsaIam, "gs1").inputs;
      assert.equal(wi.role, "roles/iam.workloadIdentityUser");
      assert.equal(wi.member, "serviceAccount:proj-1.svc.id.goog[ml/kubestep-step]");
      assert.equal(wi.serviceAccountId, "projects/proj-1/serviceAccounts/ks-gs1@proj-1.iam.gserviceaccount.com");
      const bi = one(T.gcsBucketIam, "gs1").inputs;
      assert.deepEqual(
        { ...bi },
        {
          bucket: "ml-bkt",
          role: "roles/storage.objectUser",
          member: "serviceAccount:ks-gs1@proj-1.iam.gserviceaccount.com",
        },
      );
    });
    it("lets submitters use the bucket and sign URLs as the datastore's service account", async () => {
      new GcsDatastore("gs3", {
        bucketName: "b3",
        location: "EU",
        project: "p3",
        submitterMembers: ["group:ml@example.com"],
        workloadIdentity: { namespace: "ml", serviceAccount: "kubestep-step" },
      });
      await settle();
      assert.deepEqual(
        { ...one(T.gcsBucketIam, "gs3-submitter").inputs },
        { bucket: "b3", role: "roles/storage.objectUser", member: "group:ml@example.com" },
      );
      assert.deepEqual(
        { ...one(T.gsaIam, "gs3-submitter-signer").inputs },
        {
          serviceAccountId: "projects/p3/serviceAccounts/ks-gs3@p3.iam.gserviceaccount.com",
          role: "roles/iam.serviceAccountTokenCreator",
          member: "group:ml@example.com",
        },
      );
    });
    it("derives valid, distinct Google service account ids from long names", () => {
      const a = googleAccountId("kubestep-gpu-a100-eu-west4-nodes");
      const b = googleAccountId("kubestep-gpu-a100-eu-west4-spot-nodes");
      for (const id of [a, b]) assert.match(id, /^[a-z][a-z0-9-]{4,28}[a-z0-9]$/);
      assert.notEqual(a, b);
      assert.equal(googleAccountId("gs1"), "ks-gs1");
    });
    it("rejects invalid arguments, every problem at once", () => {
      const e = inputErrors(
        () =>
          new GcsDatastore("gs2", {
            location: "",
            project: "",
            submitterMembers: ["ml@example.com"],
            workloadIdentity: { namespace: "ml", serviceAccount: "sa" },
          }),
      );
      assert.deepEqual(Object.keys(e), ["location", "project", "submitterMembers[0]"]);
    });
  });

  describe("AzureDatastore", () => {
    it("creates an https-only TLS1.2 private account, container, identity, federated credential and a container-scoped role assignment", async () => {
      const d = new AzureDatastore("az1", {
        resourceGroupName: "rg1",
        accountName: "mlstore1",
        retentionDays: 9,
        workloadIdentity: {
          namespace: "ml",
          serviceAccount: "kubestep-step",
          oidcIssuerUrl: "https://eastus.oic.prod-aks.azure.com/t/c/",
        },
      });
      assert.deepEqual(await valueOf(d.datastore), { kind: "azure", root: "azure://mlstore1/kubestep/kubestep" });
      assert.deepEqual(await valueOf(d.podLabels), { "azure.workload.identity/use": "true" });
      assert.deepEqual(await valueOf(d.serviceAccountAnnotations), {
        "azure.workload.identity/client-id": "client-az1-identity",
      });
      await settle();
      const acc = one(T.azStorageAccount, "az1").inputs;
      assert.equal(acc.enableHttpsTrafficOnly, true);
      assert.equal(acc.minimumTlsVersion, "TLS1_2");
      assert.equal(acc.allowBlobPublicAccess, false);
      assert.equal(acc.allowSharedKeyAccess, false);
      assert.equal(acc.kind, "StorageV2");
      const svc = one(T.azBlobService, "az1").inputs;
      assert.equal(svc.isVersioningEnabled, true);
      assert.deepEqual(svc.deleteRetentionPolicy, { enabled: true, days: 9 });
      assert.equal(one(T.azContainer, "az1").inputs.publicAccess, "None");
      const fed = one(T.azFederation, "az1").inputs;
      assert.equal(fed.subject, "system:serviceaccount:ml:kubestep-step");
      assert.equal(fed.issuer, "https://eastus.oic.prod-aks.azure.com/t/c/");
      assert.deepEqual(fed.audiences, ["api://AzureADTokenExchange"]);
      const ra = one(T.azRoleAssignment, "az1").inputs;
      const containerId =
        "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg1/providers/BlobContainer/kubestep";
      assert.equal(ra.scope, containerId);
      assert.equal(ra.principalId, "principal-az1-identity");
      assert.equal(ra.principalType, "ServicePrincipal");
      assert.equal(
        ra.roleDefinitionId,
        "/subscriptions/00000000-0000-0000-0000-000000000000/providers/Microsoft.Authorization/roleDefinitions/ba92f5b4-2d11-453d-a403-e96b0029c9fe",
      );
      assert.equal(ofType(T.azIdentity, "az1").length, 1);
    });
    it("gives submitters Storage Blob Data Contributor on the container and Storage Blob Delegator on the account", async () => {
      const principal = "11111111-2222-3333-4444-555555555555";
      new AzureDatastore("az4", {
        resourceGroupName: "rg4",
        accountName: "mlstore4",
        submitterPrincipalIds: [principal],
        workloadIdentity: { namespace: "ml", serviceAccount: "kubestep-step", oidcIssuerUrl: "https://x/" },
      });
      await settle();
      const sub = "/subscriptions/00000000-0000-0000-0000-000000000000";
      assert.deepEqual(
        { ...one(T.azRoleAssignment, "az4-submitter-0").inputs },
        {
          principalId: principal,
          principalType: "Group",
          roleDefinitionId: `${sub}/providers/Microsoft.Authorization/roleDefinitions/ba92f5b4-2d11-453d-a403-e96b0029c9fe`,
          scope: `${sub}/resourceGroups/rg4/providers/BlobContainer/kubestep`,
        },
      );
      assert.deepEqual(
        { ...one(T.azRoleAssignment, "az4-submitter-delegator").inputs },
        {
          principalId: principal,
          principalType: "Group",
          roleDefinitionId: `${sub}/providers/Microsoft.Authorization/roleDefinitions/db58b8e5-c6ad-4a2a-8342-4190687cbf4a`,
          scope: `${sub}/resourceGroups/rg4/providers/StorageAccount/mlstore4`,
        },
      );
    });
    it("rejects invalid arguments, every problem at once", () => {
      const e = inputErrors(
        () =>
          new AzureDatastore("az2", {
            resourceGroupName: "rg",
            accountName: "Bad-Name",
            expireAfterDays: 3,
            submitterPrincipalIds: ["bob"],
            workloadIdentity: { namespace: "ml", serviceAccount: "sa", oidcIssuerUrl: "http://x" },
          }),
      );
      assert.deepEqual(Object.keys(e), [
        "expireAfterDays",
        "accountName",
        "submitterPrincipalIds[0]",
        "workloadIdentity.oidcIssuerUrl",
      ]);
      assert.throws(
        () => azureRoleDefinitionId("not-an-id", "x"),
        (x: { propertyPath?: string }) => x.propertyPath === "scope",
      );
    });
  });
});
