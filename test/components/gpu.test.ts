import assert from "node:assert/strict";
import { GpuNodePool, gpuNodePoolSpec, nvidiaDevicePluginManifest } from "../../components/gpu.js";
import { inputError, ofType, one, resetResources, settle, setupMocks, T, valueOf } from "./mocks.js";

const POOL = { name: "a100", vendor: "nvidia", resourceName: "nvidia.com/gpu", nodeLabels: { "kubestep.io/gpu-pool": "a100", accel: "a100" }, taints: [{ key: "nvidia.com/gpu", value: "present", effect: "NoSchedule" }] };

describe("components/gpu", () => {
  before(() => setupMocks());
  beforeEach(() => resetResources());

  it("EKS: managed node group with the NVIDIA AMI, labels, EKS taint spelling, scale to zero, node role and device plugin", async () => {
    const p = new GpuNodePool("g1", { provider: "eks", poolName: "a100", nodeLabels: { accel: "a100" }, maxSize: 3, eks: { clusterName: "c1", subnetIds: ["s1", "s2"], instanceTypes: ["p4d.24xlarge"] } });
    assert.deepEqual(await valueOf(p.pool), POOL);
    await settle();
    const ng = one(T.eksNodeGroup, "g1");
    assert.deepEqual(
      { ...ng.inputs },
      {
        clusterName: "c1",
        nodeGroupName: "kubestep-a100",
        nodeRoleArn: "arn:aws:iam::123456789012:role/g1-node-role-r1",
        subnetIds: ["s1", "s2"],
        amiType: "AL2_x86_64_GPU",
        instanceTypes: ["p4d.24xlarge"],
        diskSize: 100,
        capacityType: "ON_DEMAND",
        labels: { "kubestep.io/gpu-pool": "a100", accel: "a100" },
        taints: [{ key: "nvidia.com/gpu", value: "present", effect: "NO_SCHEDULE" }],
        scalingConfig: { minSize: 0, desiredSize: 0, maxSize: 3 },
      },
    );
    const role = one(T.iamRole, "g1");
    assert.deepEqual(JSON.parse(role.inputs.assumeRolePolicy as string).Statement[0].Principal, { Service: "ec2.amazonaws.com" });
    assert.deepEqual(ofType(T.iamRolePolicyAttachment, "g1").map((r) => r.inputs.policyArn).sort(), [
      "arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryReadOnly",
      "arn:aws:iam::aws:policy/AmazonEKSWorkerNodePolicy",
      "arn:aws:iam::aws:policy/AmazonEKS_CNI_Policy",
    ]);
    const ds = one(T.daemonSet, "g1");
    assert.deepEqual(ds.inputs.spec, nvidiaDevicePluginManifest(POOL as never).spec);
    const podSpec = (ds.inputs.spec as { template: { spec: { nodeSelector: unknown; tolerations: unknown } } }).template.spec;
    assert.deepEqual(podSpec.nodeSelector, POOL.nodeLabels);
    assert.deepEqual(podSpec.tolerations, [{ key: "CriticalAddonsOnly", operator: "Exists" }, { key: "nvidia.com/gpu", operator: "Equal", value: "present", effect: "NoSchedule" }]);
  });

  it("EKS: uses a given node role instead of creating one", async () => {
    new GpuNodePool("g1b", { provider: "eks", poolName: "t4", maxSize: 1, eks: { clusterName: "c1", subnetIds: ["s1"], nodeRoleArn: "arn:aws:iam::1:role/nodes" } });
    await settle();
    assert.equal(one(T.eksNodeGroup, "g1b").inputs.nodeRoleArn, "arn:aws:iam::1:role/nodes");
    assert.equal(ofType(T.iamRole, "g1b").length, 0);
  });

  it("GKE: node pool with guest accelerators, driver installation, GKE taints, GKE_METADATA, autoscaling; no device plugin", async () => {
    new GpuNodePool("g2", { provider: "gke", poolName: "l4", minSize: 0, maxSize: 4, gke: { cluster: "gke1", project: "p1", location: "us-central1", acceleratorCount: 2 } });
    await settle();
    const np = one(T.gkeNodePool, "g2");
    assert.equal(np.inputs.cluster, "gke1");
    assert.equal(np.inputs.project, "p1");
    assert.equal(np.inputs.location, "us-central1");
    assert.deepEqual(np.inputs.autoscaling, { minNodeCount: 0, maxNodeCount: 4 });
    assert.equal(np.inputs.initialNodeCount, 0);
    const nc = np.inputs.nodeConfig as Record<string, unknown>;
    assert.deepEqual(nc.guestAccelerators, [{ type: "nvidia-l4", count: 2, gpuDriverInstallationConfig: { gpuDriverVersion: "LATEST" } }]);
    assert.deepEqual(nc.taints, [{ key: "nvidia.com/gpu", value: "present", effect: "NO_SCHEDULE" }]);
    assert.deepEqual(nc.workloadMetadataConfig, { mode: "GKE_METADATA" });
    assert.deepEqual(nc.labels, { "kubestep.io/gpu-pool": "l4" });
    assert.equal(nc.machineType, "g2-standard-4");
    assert.equal(ofType(T.daemonSet, "g2").length, 0);
  });

  it("AKS: agent pool with vmSize, nodeTaints k=v:Effect, nodeLabels, autoscaling to zero and the device plugin", async () => {
    new GpuNodePool("g3", { provider: "aks", poolName: "gpu-t4", maxSize: 2, taints: [{ key: "sku", value: "gpu", effect: "NoSchedule" }], aks: { resourceGroupName: "rg1", clusterName: "aks1" } });
    await settle();
    const ap = one(T.aksAgentPool, "g3");
    assert.deepEqual(
      { ...ap.inputs },
      {
        resourceGroupName: "rg1",
        resourceName: "aks1",
        agentPoolName: "gput4",
        vmSize: "Standard_NC4as_T4_v3",
        osDiskSizeGB: 128,
        mode: "User",
        osType: "Linux",
        nodeLabels: { "kubestep.io/gpu-pool": "gpu-t4" },
        nodeTaints: ["sku=gpu:NoSchedule"],
        enableAutoScaling: true,
        minCount: 0,
        maxCount: 2,
        count: 0,
      },
    );
    assert.equal(ofType(T.daemonSet, "g3").length, 1);
  });

  it("rejects invalid arguments with InputPropertyError naming the property and allowed values", () => {
    let e = inputError(() => new GpuNodePool("bad1", { provider: "ecs" as never, poolName: "x", maxSize: 1 }));
    assert.equal(e.propertyPath, "provider");
    assert.match(e.reason, /"eks", "gke", "aks".*"ecs"/);
    e = inputError(() => new GpuNodePool("bad2", { provider: "eks", poolName: "x", minSize: 3, maxSize: 1, eks: { clusterName: "c", subnetIds: ["s"] } }));
    assert.equal(e.propertyPath, "maxSize");
    e = inputError(() => new GpuNodePool("bad3", { provider: "gke", poolName: "x", maxSize: 1 }));
    assert.equal(e.propertyPath, "gke");
    e = inputError(() => gpuNodePoolSpec({ provider: "eks", poolName: "x", maxSize: 1, eks: { clusterName: "c", subnetIds: [] } }));
    assert.equal(e.propertyPath, "eks.subnetIds");
    e = inputError(() => gpuNodePoolSpec({ provider: "aks", poolName: "x", maxSize: 1, taints: [{ key: "k", effect: "Sometimes" as never }], aks: { resourceGroupName: "r", clusterName: "c" } }));
    assert.equal(e.propertyPath, "taints[0].effect");
    e = inputError(() => gpuNodePoolSpec({ provider: "aks", poolName: "averyveryverylongpool", maxSize: 1, aks: { resourceGroupName: "r", clusterName: "c" } }));
    assert.equal(e.propertyPath, "poolName");
    e = inputError(() => gpuNodePoolSpec({ provider: "eks", poolName: "x", maxSize: 1, gke: { cluster: "c" }, eks: { clusterName: "c", subnetIds: ["s"] } }));
    assert.equal(e.propertyPath, "gke");
  });
});
