/**
 * The stack program run against each stack's real config file (Pulumi.<stack>.yaml) with the
 * shared mocks: asserts every child resource's inputs and the exported contract.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import * as pulumi from "@pulumi/pulumi";
import { one, ofType, resetResources, resources, settle, setupMocks, T, valueOf } from "../components/mocks.js";
import { parseEnvironment, type KubestepEnvironment } from "../../runtime/environment.js";

const yaml = createRequire(import.meta.url)("js-yaml") as { load(s: string): unknown };

/** Loads Pulumi.<stack>.yaml into the Pulumi runtime config the way the engine passes it (objects as JSON). */
function useStackConfig(stack: string): Record<string, unknown> {
  const doc = yaml.load(readFileSync(new URL(`../../Pulumi.${stack}.yaml`, import.meta.url), "utf8")) as { config: Record<string, unknown> };
  const flat: Record<string, string> = {};
  for (const [k, v] of Object.entries(doc.config)) flat[k] = typeof v === "string" ? v : JSON.stringify(v);
  pulumi.runtime.setAllConfig(flat);
  return doc.config;
}

async function runStack(stack: string): Promise<{ env: KubestepEnvironment; config: Record<string, unknown> }> {
  await setupMocks(stack);
  resetResources();
  const config = useStackConfig(stack);
  const { kubestepStack } = await import("../../stacks/program.js");
  const env = await valueOf(kubestepStack().kubestep);
  await settle();
  return { env, config };
}

const RULES = [
  { apiGroups: ["batch"], resources: ["jobs"], verbs: ["create", "get", "list", "watch", "delete"] },
  { apiGroups: [""], resources: ["pods"], verbs: ["get", "list", "watch"] },
  { apiGroups: [""], resources: ["pods/log"], verbs: ["get"] },
  { apiGroups: [""], resources: ["events"], verbs: ["list", "watch"] },
  { apiGroups: ["jobset.x-k8s.io"], resources: ["jobsets"], verbs: ["create", "get", "list", "watch", "delete"] },
];
const GPU_TAINT_EKS = [{ key: "nvidia.com/gpu", value: "present", effect: "NO_SCHEDULE" }];

function commonAssertions(env: KubestepEnvironment, stack: string, ns: string, oidc: string): void {
  assert.deepEqual(parseEnvironment(JSON.parse(JSON.stringify(env)), `stack ${stack}`), env);
  assert.equal(env.name, stack);
  assert.equal(env.namespace, ns);
  assert.equal(env.serviceAccount, "kubestep-step");
  assert.equal(env.image, "node:20-slim");
  assert.match(env.datastore.root, /^s3:\/\/kubestep-datastore-bucket-a1b2c3\/kubestep$/);
  assert.equal(env.datastore.region, "us-east-1");
  assert.deepEqual(env.gpuPools.map((p) => ({ name: p.name, resourceName: p.resourceName, nodeLabels: p.nodeLabels, taints: p.taints })), [
    { name: "gpu", resourceName: "nvidia.com/gpu", nodeLabels: { "kubestep.io/gpu-pool": "gpu" }, taints: [{ key: "nvidia.com/gpu", value: "present", effect: "NoSchedule" }] },
  ]);
  // namespace + RBAC
  assert.equal((one(T.namespace).inputs.metadata as { name: string }).name, ns);
  assert.deepEqual(one(T.role).inputs.rules, RULES);
  const sa = one(T.serviceAccount);
  assert.equal(sa.inputs.automountServiceAccountToken, false);
  assert.deepEqual((sa.inputs.metadata as { annotations: unknown }).annotations, { "eks.amazonaws.com/role-arn": "arn:aws:iam::123456789012:role/kubestep-datastore-irsa-r1" });
  // S3 bucket hardening
  const enc = one(T.s3Encryption).inputs.rules as { applyServerSideEncryptionByDefault: { sseAlgorithm: string } }[];
  assert.equal(enc[0].applyServerSideEncryptionByDefault.sseAlgorithm, "AES256");
  const pab = one(T.s3PublicAccess).inputs;
  for (const k of ["blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"]) assert.equal(pab[k], true, k);
  const policy = JSON.parse(one(T.s3Policy).inputs.policy as string);
  assert.deepEqual(policy.Statement[0].Condition, { Bool: { "aws:SecureTransport": "false" } });
  assert.equal(policy.Statement[0].Effect, "Deny");
  // IRSA trust
  const irsa = ofType(T.iamRole).find((r) => r.name === "kubestep-datastore-irsa")!;
  const trust = JSON.parse(irsa.inputs.assumeRolePolicy as string);
  assert.deepEqual(trust.Statement[0].Condition, { StringEquals: { [`${oidc}:sub`]: `system:serviceaccount:${ns}:kubestep-step`, [`${oidc}:aud`]: "sts.amazonaws.com" } });
  // GPU node group
  const ng = one(T.eksNodeGroup);
  assert.equal(ng.inputs.amiType, "AL2_x86_64_GPU");
  assert.deepEqual(ng.inputs.taints, GPU_TAINT_EKS);
  assert.deepEqual(ng.inputs.labels, { "kubestep.io/gpu-pool": "gpu" });
  assert.equal(one(T.daemonSet).name, "kubestep-gpu-gpu-device-plugin");
}

describe("stacks (Pulumi.<stack>.yaml + stacks/program.ts)", function () {
  this.timeout(30000);

  it("dev: small and cheap, GPU pool scales to zero, short TTLs, unprotected bucket", async () => {
    const { env } = await runStack("dev");
    commonAssertions(env, "dev", "kubestep-dev", "oidc.eks.us-east-1.amazonaws.com/id/DEV0123456789ABCDEF");
    assert.deepEqual(env.defaults, { cpu: 1, memory: 2048, qos: "Burstable" });
    assert.deepEqual(one(T.eksNodeGroup).inputs.scalingConfig, { minSize: 0, desiredSize: 0, maxSize: 2 });
    assert.deepEqual(one(T.eksNodeGroup).inputs.instanceTypes, ["g5.xlarge"]);
    const bucket = one(T.s3Bucket);
    assert.equal(bucket.protect, false);
    assert.equal(bucket.inputs.forceDestroy, true);
    assert.deepEqual(one(T.s3Versioning).inputs.versioningConfiguration, { status: "Suspended" });
    const rules = one(T.s3Lifecycle).inputs.rules as { id: string; expiration?: { days: number } }[];
    assert.deepEqual(rules.map((r) => r.id), ["abort-incomplete-uploads", "expire-objects"]);
    assert.deepEqual(rules[1].expiration, { days: 7 });
    assert.deepEqual(one(T.roleBinding).inputs.subjects, [{ kind: "Group", apiGroup: "rbac.authorization.k8s.io", name: "kubestep-developers" }]);
    assert.equal(ofType(T.resourceQuota).length, 0);
  });

  it("staging: like prod but smaller", async () => {
    const { env } = await runStack("staging");
    commonAssertions(env, "staging", "kubestep-staging", "oidc.eks.us-east-1.amazonaws.com/id/STG0123456789ABCDEF");
    assert.deepEqual(env.defaults, { cpu: 2, memory: 8192, qos: "Guaranteed" });
    assert.deepEqual(one(T.eksNodeGroup).inputs.scalingConfig, { minSize: 0, desiredSize: 0, maxSize: 4 });
    assert.equal(one(T.s3Bucket).protect, true);
    assert.deepEqual(one(T.s3Versioning).inputs.versioningConfiguration, { status: "Enabled" });
    const rules = one(T.s3Lifecycle).inputs.rules as { id: string; noncurrentVersionExpiration?: unknown }[];
    assert.deepEqual(rules[1], { id: "expire-noncurrent-versions", status: "Enabled", filter: { prefix: "kubestep/" }, noncurrentVersionExpiration: { noncurrentDays: 14 } });
    assert.deepEqual(one(T.resourceQuota).inputs.spec, { hard: { "requests.nvidia.com/gpu": "4" } });
    assert.deepEqual(one(T.roleBinding).inputs.subjects, [
      { kind: "Group", apiGroup: "rbac.authorization.k8s.io", name: "kubestep-developers" },
      { kind: "ServiceAccount", name: "ci-runner", namespace: "ci" },
    ]);
  });

  it("prod: protected versioned bucket with retention, Guaranteed QoS, larger GPU pool", async () => {
    const { env } = await runStack("prod");
    commonAssertions(env, "prod", "kubestep", "oidc.eks.us-east-1.amazonaws.com/id/PRD0123456789ABCDEF");
    assert.deepEqual(env.defaults, { cpu: 4, memory: 16384, qos: "Guaranteed" });
    const ng = one(T.eksNodeGroup);
    assert.deepEqual(ng.inputs.scalingConfig, { minSize: 1, desiredSize: 1, maxSize: 16 });
    assert.deepEqual(ng.inputs.instanceTypes, ["g5.12xlarge"]);
    const bucket = one(T.s3Bucket);
    assert.equal(bucket.protect, true);
    assert.equal(bucket.inputs.forceDestroy, false);
    assert.deepEqual(one(T.s3Versioning).inputs.versioningConfiguration, { status: "Enabled" });
    const rules = one(T.s3Lifecycle).inputs.rules as { id: string; noncurrentVersionExpiration?: { noncurrentDays: number } }[];
    assert.deepEqual(rules.map((r) => r.id), ["abort-incomplete-uploads", "expire-noncurrent-versions"]);
    assert.deepEqual(rules[1].noncurrentVersionExpiration, { noncurrentDays: 90 });
    assert.deepEqual(one(T.limitRange).inputs.spec, { limits: [{ type: "Container", defaultRequest: { cpu: "1", memory: "2Gi" } }] });
    // only the bucket is protected
    assert.deepEqual(resources.filter((r) => r.protect).map((r) => r.type), [T.s3Bucket]);
  });
});
