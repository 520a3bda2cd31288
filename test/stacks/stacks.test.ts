/**
 * The stack program run against each stack's real config file (Pulumi.<stack>.yaml) with the
 * shared mocks: asserts every child resource's inputs and the exported contract.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import * as pulumi from "@pulumi/pulumi";
import {
  dependsOnNames,
  inputErrors,
  one,
  ofType,
  resetResources,
  resources,
  settle,
  setupMocks,
  T,
  valueOf,
  type Recorded,
} from "../components/mocks.js";
import { podSecurityLabels } from "../../components/namespace.js";
import { parseEnvironment, type KubestepEnvironment } from "../../runtime/environment.js";

const yaml = createRequire(import.meta.url)("js-yaml") as { load(s: string): unknown };

/** Loads Pulumi.<stack>.yaml into the Pulumi runtime config the way the engine passes it (objects as JSON). */
function useStackConfig(stack: string): Record<string, unknown> {
  const doc = yaml.load(readFileSync(new URL(`../../Pulumi.${stack}.yaml`, import.meta.url), "utf8")) as {
    config: Record<string, unknown>;
  };
  const flat: Record<string, string> = {};
  for (const [k, v] of Object.entries(doc.config)) flat[k] = typeof v === "string" ? v : JSON.stringify(v);
  pulumi.runtime.setAllConfig(flat);
  return doc.config;
}

/** Every Kubernetes object goes through the stack's explicit provider, built from `kubestep:kubernetes`. */
function assertExplicitKubernetesProvider(context: string): void {
  const provider = one(T.kubernetesProvider);
  assert.equal(provider.inputs.context, context);
  const kube = resources.filter((r) => r.custom && r.type.startsWith("kubernetes:"));
  assert.ok(kube.length > 0);
  for (const r of kube)
    assert.match(
      r.provider,
      /::pulumi:providers:kubernetes::kubestep-kubernetes::/,
      `${r.type} ${r.name} uses the stack's provider`,
    );
}

/** The step namespace's hardening: Pod Security labels, NetworkPolicies, quota and limits. */
function assertNamespaceHardening(ns: string): void {
  assert.deepEqual((one(T.namespace).inputs.metadata as { labels: Record<string, string> }).labels, {
    "app.kubernetes.io/managed-by": "kubestep",
    ...podSecurityLabels(),
  });
  assert.deepEqual(
    ofType(T.networkPolicy).map(
      (r) =>
        (r.inputs.metadata as { name: string; namespace: string }).name +
        "@" +
        (r.inputs.metadata as { namespace: string }).namespace,
    ),
    [`kubestep-default-deny-ingress@${ns}`, `kubestep-allow-same-namespace@${ns}`],
  );
  const quota = (one(T.resourceQuota).inputs.spec as { hard: Record<string, string> }).hard;
  for (const k of ["requests.cpu", "requests.memory", "limits.memory", "requests.nvidia.com/gpu", "pods"])
    assert.ok(quota[k], `quota sets ${k}`);
  const limits = (one(T.limitRange).inputs.spec as { limits: { defaultRequest?: unknown; max?: unknown }[] }).limits[0];
  assert.ok(limits.defaultRequest && limits.max, "limit range sets default requests and a max");
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
  { apiGroups: ["batch"], resources: ["jobs"], verbs: ["create", "list", "watch", "delete"] },
  { apiGroups: [""], resources: ["pods"], verbs: ["get", "list", "watch", "deletecollection"] },
  { apiGroups: [""], resources: ["pods/log"], verbs: ["get"] },
  { apiGroups: [""], resources: ["events"], verbs: ["list"] },
  { apiGroups: ["jobset.x-k8s.io"], resources: ["jobsets"], verbs: ["create", "list", "delete"] },
];
const gpuGroup = (): Recorded => ofType(T.eksNodeGroup).find((r) => r.inputs.nodeGroupName === "kubestep-gpu")!;
const GPU_TAINT_EKS = [{ key: "nvidia.com/gpu", value: "present", effect: "NO_SCHEDULE" }];

function commonAssertions(env: KubestepEnvironment, stack: string, ns: string, oidc: string): void {
  assert.deepEqual(parseEnvironment(JSON.parse(JSON.stringify(env)), `stack ${stack}`), env);
  assert.equal(env.name, stack);
  assert.equal(env.namespace, ns);
  assert.equal(env.serviceAccount, "kubestep-step");
  assert.equal(env.image, "node:20-slim");
  assert.match(env.datastore.root, /^s3:\/\/kubestep-datastore-bucket-a1b2c3\/kubestep$/);
  assert.equal(env.datastore.region, "us-east-1");
  assert.deepEqual(
    env.gpuPools.map((p) => ({
      name: p.name,
      resourceName: p.resourceName,
      nodeLabels: p.nodeLabels,
      taints: p.taints,
    })),
    [
      {
        name: "gpu",
        resourceName: "nvidia.com/gpu",
        nodeLabels: { "kubestep.io/gpu-pool": "gpu" },
        taints: [{ key: "nvidia.com/gpu", value: "present", effect: "NoSchedule" }],
      },
    ],
  );
  // namespace + RBAC
  assert.equal((one(T.namespace).inputs.metadata as { name: string }).name, ns);
  assert.deepEqual(one(T.role).inputs.rules, RULES);
  const sa = one(T.serviceAccount);
  assert.equal(sa.inputs.automountServiceAccountToken, false);
  assert.deepEqual((sa.inputs.metadata as { annotations: unknown }).annotations, {
    "eks.amazonaws.com/role-arn": "arn:aws:iam::123456789012:role/kubestep-datastore-irsa-r1",
  });
  // S3 bucket hardening
  const enc = one(T.s3Encryption).inputs.rules as { applyServerSideEncryptionByDefault: { sseAlgorithm: string } }[];
  assert.equal(enc[0].applyServerSideEncryptionByDefault.sseAlgorithm, "AES256");
  const pab = one(T.s3PublicAccess).inputs;
  for (const k of ["blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"])
    assert.equal(pab[k], true, k);
  const policy = JSON.parse(one(T.s3Policy).inputs.policy as string);
  assert.deepEqual(policy.Statement[0].Condition, { Bool: { "aws:SecureTransport": "false" } });
  assert.equal(policy.Statement[0].Effect, "Deny");
  // IRSA trust
  const irsa = ofType(T.iamRole).find((r) => r.name === "kubestep-datastore-irsa")!;
  const trust = JSON.parse(irsa.inputs.assumeRolePolicy as string);
  assert.deepEqual(trust.Statement[0].Condition, {
    StringEquals: {
      [`${oidc}:sub`]: `system:serviceaccount:${ns}:kubestep-step`,
      [`${oidc}:aud`]: "sts.amazonaws.com",
    },
  });
  // GPU node group: AL2023 NVIDIA, in the stack's region, waits for its role, sizes left to the autoscaler
  const ng = gpuGroup();
  assert.equal(ng.inputs.amiType, "AL2023_x86_64_NVIDIA");
  assert.equal(ng.inputs.region, "us-east-1");
  assert.deepEqual(ng.inputs.taints, GPU_TAINT_EKS);
  assert.deepEqual(ng.inputs.labels, { "kubestep.io/gpu-pool": "gpu" });
  assert.deepEqual(ng.ignoreChanges, ["scalingConfig.desiredSize"]);
  for (const a of [
    "kubestep-gpu-gpu-node-policy-0",
    "kubestep-gpu-gpu-node-policy-1",
    "kubestep-gpu-gpu-node-policy-2",
  ])
    assert.ok(dependsOnNames(ng).includes(a));
  assert.equal(one(T.daemonSet).name, "kubestep-gpu-gpu-device-plugin");
  assert.equal(one(T.s3Bucket).inputs.region, "us-east-1");
  // the Cluster Autoscaler scales the (tainted) GPU group from zero, with its IRSA identity
  const ca = one(T.helmRelease).inputs;
  assert.deepEqual(
    [ca.chart, (ca.values as { autoDiscovery: unknown }).autoDiscovery, (ca.values as { awsRegion: string }).awsRegion],
    ["cluster-autoscaler", { clusterName: `kubestep-${stack}` }, "us-east-1"],
  );
  assert.ok(
    ofType(T.asgTag, "kubestep-gpu-gpu").some(
      (r) =>
        (r.inputs.tag as { key: string; value: string }).key ===
        "k8s.io/cluster-autoscaler/node-template/taint/nvidia.com/gpu",
    ),
  );
  assertExplicitKubernetesProvider(`arn:aws:eks:us-east-1:123456789012:cluster/kubestep-${stack}`);
  assertNamespaceHardening(ns);
}

describe("stacks (Pulumi.<stack>.yaml + stacks/program.ts)", function () {
  this.timeout(30000);

  it("dev: small and cheap, GPU pool scales to zero, short TTLs, unprotected bucket", async () => {
    const { env } = await runStack("dev");
    commonAssertions(env, "dev", "kubestep-dev", "oidc.eks.us-east-1.amazonaws.com/id/DEV0123456789ABCDEF");
    assert.deepEqual(env.defaults, { cpu: 1, memory: 2048, qos: "Burstable" });
    assert.deepEqual(gpuGroup().inputs.scalingConfig, { minSize: 0, desiredSize: 0, maxSize: 2 });
    assert.deepEqual(gpuGroup().inputs.instanceTypes, ["g5.xlarge"]);
    // a CPU pool on Spot capacity, selected with computePool: "cpu"
    const cpu = ofType(T.eksNodeGroup).find((r) => r.inputs.nodeGroupName === "kubestep-cpu")!;
    assert.deepEqual(
      [cpu.inputs.capacityType, cpu.inputs.amiType, cpu.inputs.labels, cpu.inputs.taints],
      ["SPOT", "AL2023_x86_64_STANDARD", { "kubestep.io/compute-pool": "cpu" }, []],
    );
    // submitters' datastore rights: the submitter policy attached to their IAM role
    assert.deepEqual(one(T.iamRolePolicyAttachment, "kubestep-datastore-submitter").inputs, {
      role: "kubestep-developers",
      policyArn: "arn:aws:iam::123456789012:policy/kubestep-datastore-submitters",
    });
    const bucket = one(T.s3Bucket);
    assert.equal(bucket.protect, false);
    assert.equal(bucket.inputs.forceDestroy, true);
    assert.deepEqual(one(T.s3Versioning).inputs.versioningConfiguration, { status: "Suspended" });
    const rules = one(T.s3Lifecycle).inputs.rules as { id: string; expiration?: { days: number } }[];
    assert.deepEqual(
      rules.map((r) => r.id),
      ["abort-incomplete-uploads", "expire-objects"],
    );
    assert.deepEqual(rules[1].expiration, { days: 7 });
    assert.deepEqual(one(T.roleBinding).inputs.subjects, [
      { kind: "Group", apiGroup: "rbac.authorization.k8s.io", name: "kubestep-developers" },
    ]);
    assert.deepEqual(one(T.resourceQuota).inputs.spec, {
      hard: {
        "requests.cpu": "32",
        "requests.memory": "128Gi",
        "limits.memory": "256Gi",
        "requests.nvidia.com/gpu": "2",
        pods: "100",
      },
    });
  });

  it("staging: like prod but smaller", async () => {
    const { env } = await runStack("staging");
    commonAssertions(env, "staging", "kubestep-staging", "oidc.eks.us-east-1.amazonaws.com/id/STG0123456789ABCDEF");
    assert.deepEqual(env.defaults, { cpu: 2, memory: 8192, qos: "Guaranteed" });
    assert.deepEqual(gpuGroup().inputs.scalingConfig, { minSize: 0, desiredSize: 0, maxSize: 4 });
    assert.equal(one(T.s3Bucket).protect, true);
    assert.deepEqual(one(T.s3Versioning).inputs.versioningConfiguration, { status: "Enabled" });
    const rules = one(T.s3Lifecycle).inputs.rules as { id: string; noncurrentVersionExpiration?: unknown }[];
    assert.deepEqual(rules[1], {
      id: "expire-noncurrent-versions",
      status: "Enabled",
      filter: { prefix: "kubestep/" },
      noncurrentVersionExpiration: { noncurrentDays: 14 },
    });
    assert.equal(
      (one(T.resourceQuota).inputs.spec as { hard: Record<string, string> }).hard["requests.nvidia.com/gpu"],
      "4",
    );
    assert.deepEqual(one(T.roleBinding).inputs.subjects, [
      { kind: "Group", apiGroup: "rbac.authorization.k8s.io", name: "kubestep-developers" },
      { kind: "ServiceAccount", name: "ci-runner", namespace: "ci" },
    ]);
  });

  it("prod: protected versioned bucket with retention, Guaranteed QoS, larger GPU pool", async () => {
    const { env } = await runStack("prod");
    commonAssertions(env, "prod", "kubestep", "oidc.eks.us-east-1.amazonaws.com/id/PRD0123456789ABCDEF");
    assert.deepEqual(env.defaults, { cpu: 4, memory: 16384, qos: "Guaranteed" });
    const ng = gpuGroup();
    assert.deepEqual(ng.inputs.scalingConfig, { minSize: 1, desiredSize: 1, maxSize: 16 });
    assert.deepEqual(ng.inputs.instanceTypes, ["g5.12xlarge"]);
    const bucket = one(T.s3Bucket);
    assert.equal(bucket.protect, true);
    assert.equal(bucket.inputs.forceDestroy, false);
    assert.deepEqual(one(T.s3Versioning).inputs.versioningConfiguration, { status: "Enabled" });
    const rules = one(T.s3Lifecycle).inputs.rules as {
      id: string;
      noncurrentVersionExpiration?: { noncurrentDays: number };
    }[];
    assert.deepEqual(
      rules.map((r) => r.id),
      ["abort-incomplete-uploads", "expire-noncurrent-versions"],
    );
    assert.deepEqual(rules[1].noncurrentVersionExpiration, { noncurrentDays: 90 });
    assert.deepEqual(one(T.limitRange).inputs.spec, {
      limits: [
        {
          type: "Container",
          default: { memory: "4Gi" },
          defaultRequest: { cpu: "1", memory: "2Gi" },
          max: { cpu: "96", memory: "768Gi" },
        },
      ],
    });
    // only the bucket is protected
    assert.deepEqual(
      resources.filter((r) => r.protect).map((r) => r.type),
      [T.s3Bucket],
    );
  });

  it("gke: GCS + Workload Identity, Spot L4 pool over two zones with total limits and a dedicated node service account, Spot CPU pool, submitters' bucket and signing rights", async () => {
    const { env } = await runStack("gke");
    assert.deepEqual(parseEnvironment(JSON.parse(JSON.stringify(env)), "stack gke"), env);
    assert.deepEqual(env.datastore, { kind: "gs", root: "gs://kubestep-datastore-bucket-a1b2c3/kubestep" });
    assert.deepEqual(
      env.gpuPools.map((p) => p.name),
      ["l4"],
    );
    assertExplicitKubernetesProvider("gke_my-ml-project_us-central1_kubestep");
    assertNamespaceHardening("kubestep");
    assert.deepEqual(one(T.role).inputs.rules, RULES);
    const pools = ofType(T.gkeNodePool);
    const l4 = pools.find((r) => r.inputs.name === "kubestep-l4")!;
    assert.deepEqual(l4.inputs.autoscaling, { totalMinNodeCount: 0, totalMaxNodeCount: 8, locationPolicy: "ANY" });
    assert.deepEqual(l4.inputs.nodeLocations, ["us-central1-a", "us-central1-b"]);
    assert.deepEqual(l4.ignoreChanges, ["initialNodeCount", "nodeCount"]);
    const nc = l4.inputs.nodeConfig as {
      spot: boolean;
      serviceAccount: string;
      machineType: string;
      guestAccelerators: unknown;
    };
    assert.deepEqual(
      [nc.spot, nc.serviceAccount, nc.machineType],
      [true, "ks-kubestep-gpu-l4-nodes@my-ml-project.iam.gserviceaccount.com", "g2-standard-8"],
    );
    const cpu = pools.find((r) => r.inputs.name === "kubestep-cpu")!;
    assert.deepEqual((cpu.inputs.nodeConfig as { labels: unknown; spot: boolean }).labels, {
      "kubestep.io/compute-pool": "cpu",
    });
    assert.equal((cpu.inputs.nodeConfig as { spot: boolean }).spot, true);
    assert.deepEqual(
      ofType(T.gcpProjectIam)
        .map((r) => r.inputs.role)
        .sort(),
      [
        "roles/artifactregistry.reader",
        "roles/artifactregistry.reader",
        "roles/container.defaultNodeServiceAccount",
        "roles/container.defaultNodeServiceAccount",
      ],
    );
    assert.deepEqual(
      one(T.gsaIam, "kubestep-datastore-submitter-signer").inputs.role,
      "roles/iam.serviceAccountTokenCreator",
    );
    assert.deepEqual(
      one(T.gcsBucketIam, "kubestep-datastore-submitter").inputs.member,
      "group:kubestep-developers@example.com",
    );
    assert.equal(ofType(T.helmRelease).length, 0, "GKE scales its pools itself");
  });

  it("aks: storage + workload identity, Spot T4 pool (Spot taint in the contract), Spot CPU pool, submitters' Blob Contributor + Delegator", async () => {
    const { env } = await runStack("aks");
    assert.deepEqual(parseEnvironment(JSON.parse(JSON.stringify(env)), "stack aks"), env);
    assert.deepEqual(env.datastore, { kind: "azure", root: "azure://kubestepdata/kubestep/kubestep" });
    assert.deepEqual(env.podLabels, { "azure.workload.identity/use": "true" });
    assert.deepEqual(env.gpuPools[0].taints, [
      { key: "nvidia.com/gpu", value: "present", effect: "NoSchedule" },
      { key: "kubernetes.azure.com/scalesetpriority", value: "spot", effect: "NoSchedule" },
    ]);
    assertExplicitKubernetesProvider("kubestep-aks");
    assertNamespaceHardening("kubestep");
    const pools = ofType(T.aksAgentPool);
    const t4 = pools.find((r) => r.inputs.agentPoolName === "t4")!;
    assert.deepEqual(
      [t4.inputs.scaleSetPriority, t4.inputs.scaleSetEvictionPolicy, t4.inputs.spotMaxPrice, t4.ignoreChanges],
      ["Spot", "Delete", -1, ["count"]],
    );
    const cpu = pools.find((r) => r.inputs.agentPoolName === "cpu")!;
    assert.deepEqual(
      [cpu.inputs.vmSize, cpu.inputs.nodeLabels, cpu.inputs.scaleSetPriority],
      ["Standard_D8s_v5", { "kubestep.io/compute-pool": "cpu" }, "Spot"],
    );
    const roles = ofType(T.azRoleAssignment, "kubestep-datastore-submitter")
      .map((r) => (r.inputs.roleDefinitionId as string).split("/").pop())
      .sort();
    assert.deepEqual(roles, ["ba92f5b4-2d11-453d-a403-e96b0029c9fe", "db58b8e5-c6ad-4a2a-8342-4190687cbf4a"]);
  });

  it("a stack must name its cluster (kubestep:kubernetes.context): the current kubectl context is never used", async () => {
    await setupMocks("nocluster");
    resetResources();
    const config = useStackConfig("dev");
    delete config["kubestep:kubernetes"];
    const flat: Record<string, string> = {};
    for (const [k, v] of Object.entries(config)) flat[k] = typeof v === "string" ? v : JSON.stringify(v);
    pulumi.runtime.setAllConfig(flat);
    const { kubestepStack } = await import("../../stacks/program.js");
    assert.deepEqual(Object.keys(inputErrors(() => kubestepStack())), ["kubernetes"]);
  });

  it("stacks/index.ts exports the contract and what operators need (bucket, ARNs, pools)", async () => {
    await setupMocks("dev");
    resetResources();
    useStackConfig("dev");
    const out = await import("../../stacks/index.js");
    assert.equal((await valueOf(out.kubestep)).name, "dev");
    assert.equal(await valueOf(out.bucketArn!), "arn:aws:s3:::kubestep-datastore-bucket-a1b2c3");
    assert.equal(
      await valueOf(out.submitterPolicyArn!),
      "arn:aws:iam::123456789012:policy/kubestep-datastore-submitters",
    );
    assert.equal(await valueOf(out.datastoreRoleArn!), "arn:aws:iam::123456789012:role/kubestep-datastore-irsa-r1");
    assert.equal(await valueOf(out.autoscalerRoleArn!), "arn:aws:iam::123456789012:role/kubestep-autoscaler-role-r1");
    assert.deepEqual(Object.keys(out.pools).sort(), ["cpu", "gpu"]);
    assert.equal(await valueOf(out.pools.gpu.poolName), "kubestep-gpu");
    assert.equal(out.googleServiceAccount, undefined);
    await settle();
  });
});
