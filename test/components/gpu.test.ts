import assert from "node:assert/strict";
import * as pulumi from "@pulumi/pulumi";
import { AKS_SPOT_TAINT, GpuNodePool, gpuNodePoolSpec, nvidiaDevicePluginManifest } from "../../components/gpu.js";
import { dependsOnNames, inputErrors, ofType, one, resetResources, settle, setupMocks, T, valueOf } from "./mocks.js";

const POOL = {
  name: "a100",
  vendor: "nvidia",
  resourceName: "nvidia.com/gpu",
  nodeLabels: { "kubestep.io/gpu-pool": "a100", accel: "a100" },
  taints: [{ key: "nvidia.com/gpu", value: "present", effect: "NoSchedule" }],
};

describe("components/gpu", () => {
  before(() => setupMocks());
  beforeEach(() => resetResources());

  it("EKS: managed node group with the AL2023 NVIDIA AMI, labels, EKS taint spelling, scale to zero, node role and device plugin", async () => {
    const p = new GpuNodePool("g1", {
      provider: "eks",
      poolName: "a100",
      nodeLabels: { accel: "a100" },
      maxSize: 3,
      eks: { clusterName: "c1", subnetIds: ["s1", "s2"], instanceTypes: ["p4d.24xlarge"], region: "eu-west-1" },
    });
    assert.deepEqual(await valueOf(p.pool), POOL);
    assert.equal(await valueOf(p.poolName), "kubestep-a100");
    assert.equal(await valueOf(p.nodeRoleArn!), "arn:aws:iam::123456789012:role/g1-node-role-r1");
    await settle();
    const ng = one(T.eksNodeGroup, "g1");
    assert.deepEqual(
      { ...ng.inputs },
      {
        clusterName: "c1",
        nodeGroupName: "kubestep-a100",
        nodeRoleArn: "arn:aws:iam::123456789012:role/g1-node-role-r1",
        subnetIds: ["s1", "s2"],
        region: "eu-west-1",
        amiType: "AL2023_x86_64_NVIDIA",
        instanceTypes: ["p4d.24xlarge"],
        diskSize: 100,
        capacityType: "ON_DEMAND",
        labels: { "kubestep.io/gpu-pool": "a100", accel: "a100" },
        taints: [{ key: "nvidia.com/gpu", value: "present", effect: "NO_SCHEDULE" }],
        scalingConfig: { minSize: 0, desiredSize: 0, maxSize: 3 },
        tags: { "managed-by": "kubestep" },
      },
    );
    const role = one(T.iamRole, "g1");
    assert.deepEqual(JSON.parse(role.inputs.assumeRolePolicy as string).Statement[0].Principal, {
      Service: "ec2.amazonaws.com",
    });
    assert.deepEqual(
      ofType(T.iamRolePolicyAttachment, "g1")
        .map((r) => r.inputs.policyArn)
        .sort(),
      [
        "arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryReadOnly",
        "arn:aws:iam::aws:policy/AmazonEKSWorkerNodePolicy",
        "arn:aws:iam::aws:policy/AmazonEKS_CNI_Policy",
      ],
    );
    const ds = one(T.daemonSet, "g1");
    assert.deepEqual(ds.inputs.spec, nvidiaDevicePluginManifest(POOL as never).spec);
    const podSpec = (ds.inputs.spec as { template: { spec: { nodeSelector: unknown; tolerations: unknown } } }).template
      .spec;
    assert.deepEqual(podSpec.nodeSelector, POOL.nodeLabels);
    assert.deepEqual(podSpec.tolerations, [
      { key: "CriticalAddonsOnly", operator: "Exists" },
      { key: "nvidia.com/gpu", operator: "Equal", value: "present", effect: "NoSchedule" },
    ]);
  });

  it("EKS: AL2023 AMI types per architecture and pool kind; AMD GPU pools must name their AMI", () => {
    const eks = { clusterName: "c", subnetIds: ["s"] };
    assert.equal(
      gpuNodePoolSpec({ provider: "eks", poolName: "x", maxSize: 1, eks }).eks!.amiType,
      "AL2023_x86_64_NVIDIA",
    );
    assert.equal(
      gpuNodePoolSpec({ provider: "eks", poolName: "x", maxSize: 1, eks: { ...eks, architecture: "arm64" } }).eks!
        .amiType,
      "AL2023_ARM_64_NVIDIA",
    );
    assert.equal(
      gpuNodePoolSpec({ provider: "eks", poolName: "x", kind: "cpu", maxSize: 1, eks }).eks!.amiType,
      "AL2023_x86_64_STANDARD",
    );
    assert.equal(
      gpuNodePoolSpec({
        provider: "eks",
        poolName: "x",
        kind: "cpu",
        maxSize: 1,
        eks: { ...eks, architecture: "arm64" },
      }).eks!.amiType,
      "AL2023_ARM_64_STANDARD",
    );
    assert.equal(
      gpuNodePoolSpec({
        provider: "eks",
        poolName: "x",
        maxSize: 1,
        eks: { ...eks, amiType: "BOTTLEROCKET_x86_64_NVIDIA" },
      }).eks!.amiType,
      "BOTTLEROCKET_x86_64_NVIDIA",
    );
    assert.match(
      inputErrors(() =>
        gpuNodePoolSpec({ provider: "eks", poolName: "x", vendor: "amd", devicePlugin: false, maxSize: 1, eks }),
      )["eks.amiType"],
      /no AMD GPU AMI/,
    );
  });

  it("EKS: a node role given as an Output is used (no role created)", async () => {
    new GpuNodePool("g1b", {
      provider: "eks",
      poolName: "t4",
      maxSize: 1,
      eks: {
        clusterName: pulumi.output("c1"),
        subnetIds: ["s1"],
        nodeRoleArn: pulumi.output("arn:aws:iam::1:role/nodes"),
      },
    });
    await settle();
    assert.equal(one(T.eksNodeGroup, "g1b").inputs.nodeRoleArn, "arn:aws:iam::1:role/nodes");
    assert.equal(ofType(T.iamRole, "g1b").length, 0);
    assert.deepEqual(dependsOnNames(one(T.eksNodeGroup, "g1b")), []);
  });

  it("EKS: the node group waits for its role's policy attachments", async () => {
    new GpuNodePool("g1c", {
      provider: "eks",
      poolName: "t4",
      maxSize: 1,
      eks: { clusterName: "c1", subnetIds: ["s1"] },
    });
    await settle();
    const deps = dependsOnNames(one(T.eksNodeGroup, "g1c"));
    for (const a of ["g1c-node-policy-0", "g1c-node-policy-1", "g1c-node-policy-2"])
      assert.ok(deps.includes(a), `node group depends on ${a} (deps: ${deps.join(", ")})`);
  });

  it("EKS: Cluster Autoscaler node-template tags (labels, taints) on the group's Auto Scaling group, for scale from zero", async () => {
    const p = new GpuNodePool("g1d", {
      provider: "eks",
      poolName: "a10",
      nodeLabels: { accel: "a10g" },
      maxSize: 2,
      eks: { clusterName: "c1", subnetIds: ["s1"], region: "us-west-2" },
    });
    assert.equal(await valueOf(p.autoScalingGroupName!), "eks-kubestep-a10-asg");
    await settle();
    const tags = ofType(T.asgTag, "g1d").map((r) => ({
      asg: r.inputs.autoscalingGroupName,
      region: r.inputs.region,
      ...(r.inputs.tag as object),
    }));
    assert.deepEqual(tags, [
      {
        asg: "eks-kubestep-a10-asg",
        region: "us-west-2",
        key: "k8s.io/cluster-autoscaler/node-template/label/kubestep.io/gpu-pool",
        value: "a10",
        propagateAtLaunch: false,
      },
      {
        asg: "eks-kubestep-a10-asg",
        region: "us-west-2",
        key: "k8s.io/cluster-autoscaler/node-template/label/accel",
        value: "a10g",
        propagateAtLaunch: false,
      },
      {
        asg: "eks-kubestep-a10-asg",
        region: "us-west-2",
        key: "k8s.io/cluster-autoscaler/node-template/taint/nvidia.com/gpu",
        value: "present:NoSchedule",
        propagateAtLaunch: false,
      },
    ]);
  });

  it("ignores the sizes the autoscaler manages (EKS desiredSize, GKE initial/current count, AKS count)", async () => {
    new GpuNodePool("ig1", { provider: "eks", poolName: "a", maxSize: 1, eks: { clusterName: "c", subnetIds: ["s"] } });
    new GpuNodePool("ig2", { provider: "gke", poolName: "b", maxSize: 1, gke: { cluster: "c", project: "p" } });
    new GpuNodePool("ig3", {
      provider: "aks",
      poolName: "c",
      maxSize: 1,
      aks: { resourceGroupName: "r", clusterName: "c" },
    });
    await settle();
    assert.deepEqual(one(T.eksNodeGroup, "ig1").ignoreChanges, ["scalingConfig.desiredSize"]);
    assert.deepEqual(one(T.gkeNodePool, "ig2").ignoreChanges, ["initialNodeCount", "nodeCount"]);
    assert.deepEqual(one(T.aksAgentPool, "ig3").ignoreChanges, ["count"]);
  });

  it("GKE: total autoscaling limits, node locations, accelerators, taints, GKE_METADATA and a dedicated least-privilege node service account", async () => {
    const p = new GpuNodePool("g2", {
      provider: "gke",
      poolName: "l4",
      minSize: 0,
      maxSize: 4,
      gke: {
        cluster: "gke1",
        project: "p1",
        location: "us-central1",
        nodeLocations: ["us-central1-a", "us-central1-c"],
        acceleratorCount: 2,
      },
    });
    assert.equal(await valueOf(p.nodeServiceAccount!), "ks-g2-nodes@p1.iam.gserviceaccount.com");
    await settle();
    const np = one(T.gkeNodePool, "g2");
    assert.equal(np.inputs.cluster, "gke1");
    assert.equal(np.inputs.project, "p1");
    assert.equal(np.inputs.location, "us-central1");
    assert.deepEqual(np.inputs.nodeLocations, ["us-central1-a", "us-central1-c"]);
    assert.deepEqual(np.inputs.autoscaling, { totalMinNodeCount: 0, totalMaxNodeCount: 4, locationPolicy: "ANY" });
    assert.equal(np.inputs.initialNodeCount, 0);
    const nc = np.inputs.nodeConfig as Record<string, unknown>;
    assert.deepEqual(nc.guestAccelerators, [
      { type: "nvidia-l4", count: 2, gpuDriverInstallationConfig: { gpuDriverVersion: "LATEST" } },
    ]);
    assert.deepEqual(nc.taints, [{ key: "nvidia.com/gpu", value: "present", effect: "NO_SCHEDULE" }]);
    assert.deepEqual(nc.workloadMetadataConfig, { mode: "GKE_METADATA" });
    assert.deepEqual(nc.labels, { "kubestep.io/gpu-pool": "l4" });
    assert.equal(nc.machineType, "g2-standard-4");
    assert.equal(nc.serviceAccount, "ks-g2-nodes@p1.iam.gserviceaccount.com");
    assert.equal(nc.spot, false);
    assert.equal(one(T.gsa, "g2").inputs.accountId, "ks-g2-nodes");
    assert.deepEqual(
      ofType(T.gcpProjectIam, "g2").map((r) => ({ ...r.inputs })),
      [
        {
          project: "p1",
          role: "roles/container.defaultNodeServiceAccount",
          member: "serviceAccount:ks-g2-nodes@p1.iam.gserviceaccount.com",
        },
        {
          project: "p1",
          role: "roles/artifactregistry.reader",
          member: "serviceAccount:ks-g2-nodes@p1.iam.gserviceaccount.com",
        },
      ],
    );
    const deps = dependsOnNames(np);
    for (const a of ["g2-node-role-0", "g2-node-role-1"])
      assert.ok(deps.includes(a), `node pool depends on ${a} (deps: ${deps.join(", ")})`);
    assert.equal(ofType(T.daemonSet, "g2").length, 0);
  });

  it("GKE: a given node service account is used (none created)", async () => {
    new GpuNodePool("g2b", {
      provider: "gke",
      poolName: "l4",
      maxSize: 1,
      gke: { cluster: "gke1", project: "p1", nodeServiceAccount: pulumi.output("nodes@p1.iam.gserviceaccount.com") },
    });
    await settle();
    assert.equal(
      (one(T.gkeNodePool, "g2b").inputs.nodeConfig as { serviceAccount: string }).serviceAccount,
      "nodes@p1.iam.gserviceaccount.com",
    );
    assert.equal(ofType(T.gsa, "g2b").length, 0);
  });

  it("AKS: agent pool with vmSize, nodeTaints k=v:Effect, nodeLabels, autoscaling to zero and the device plugin", async () => {
    new GpuNodePool("g3", {
      provider: "aks",
      poolName: "gpu-t4",
      maxSize: 2,
      taints: [{ key: "sku", value: "gpu", effect: "NoSchedule" }],
      aks: { resourceGroupName: "rg1", clusterName: "aks1" },
    });
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

  it("spot on all three clouds: EKS SPOT capacity, GKE Spot VMs, AKS Spot priority with its taint in the contract", async () => {
    new GpuNodePool("sp1", {
      provider: "eks",
      poolName: "s",
      spot: true,
      maxSize: 1,
      eks: { clusterName: "c", subnetIds: ["s"] },
    });
    new GpuNodePool("sp2", {
      provider: "gke",
      poolName: "s",
      spot: true,
      maxSize: 1,
      gke: { cluster: "c", project: "p" },
    });
    const aks = new GpuNodePool("sp3", {
      provider: "aks",
      poolName: "s",
      spot: true,
      maxSize: 1,
      aks: { resourceGroupName: "r", clusterName: "c" },
    });
    assert.deepEqual((await valueOf(aks.pool))!.taints, [
      { key: "nvidia.com/gpu", value: "present", effect: "NoSchedule" },
      AKS_SPOT_TAINT,
    ]);
    await settle();
    assert.equal(one(T.eksNodeGroup, "sp1").inputs.capacityType, "SPOT");
    assert.equal((one(T.gkeNodePool, "sp2").inputs.nodeConfig as { spot: boolean }).spot, true);
    const ap = one(T.aksAgentPool, "sp3").inputs;
    assert.deepEqual(
      {
        scaleSetPriority: ap.scaleSetPriority,
        scaleSetEvictionPolicy: ap.scaleSetEvictionPolicy,
        spotMaxPrice: ap.spotMaxPrice,
        nodeTaints: ap.nodeTaints,
      },
      {
        scaleSetPriority: "Spot",
        scaleSetEvictionPolicy: "Delete",
        spotMaxPrice: -1,
        nodeTaints: ["nvidia.com/gpu=present:NoSchedule", "kubernetes.azure.com/scalesetpriority=spot:NoSchedule"],
      },
    );
  });

  it("CPU pools: compute-pool label (the runtime's computePool selector), no taint, no accelerator, no device plugin", async () => {
    const p = new GpuNodePool("cpu1", {
      provider: "gke",
      kind: "cpu",
      poolName: "batch",
      maxSize: 8,
      gke: { cluster: "c", project: "p" },
    });
    assert.equal(await valueOf(p.pool), undefined);
    new GpuNodePool("cpu2", {
      provider: "eks",
      kind: "cpu",
      poolName: "batch",
      maxSize: 8,
      eks: { clusterName: "c", subnetIds: ["s"] },
    });
    await settle();
    const nc = one(T.gkeNodePool, "cpu1").inputs.nodeConfig as Record<string, unknown>;
    assert.deepEqual(nc.labels, { "kubestep.io/compute-pool": "batch" });
    assert.deepEqual(nc.taints, []);
    assert.equal(nc.guestAccelerators, undefined);
    assert.equal(nc.machineType, "n2-standard-4");
    const ng = one(T.eksNodeGroup, "cpu2").inputs;
    assert.deepEqual([ng.amiType, ng.instanceTypes, ng.taints], ["AL2023_x86_64_STANDARD", ["m7i.xlarge"], []]);
    assert.equal(ofType(T.daemonSet, "cpu").length, 0);
  });

  it("rejects invalid arguments with InputPropertiesError listing every problem at once", () => {
    assert.deepEqual(
      Object.keys(inputErrors(() => new GpuNodePool("bad1", { provider: "ecs" as never, poolName: "x", maxSize: 1 }))),
      ["provider"],
    );
    const all = inputErrors(() =>
      gpuNodePoolSpec({
        provider: "eks",
        poolName: "Bad_Name",
        minSize: 3,
        maxSize: 1,
        taints: [{ key: "k", effect: "Sometimes" as never }],
        gke: { cluster: "c" },
        eks: { clusterName: "", subnetIds: [] },
      }),
    );
    assert.deepEqual(Object.keys(all), [
      "poolName",
      "maxSize",
      "taints[0].effect",
      "gke",
      "eks.clusterName",
      "eks.subnetIds",
    ]);
    assert.match(all.maxSize, /at least minSize \(3\)/);
    assert.match(all["taints[0].effect"], /NoSchedule, PreferNoSchedule, NoExecute.*"Sometimes"/);
    assert.deepEqual(
      Object.keys(inputErrors(() => new GpuNodePool("bad3", { provider: "gke", poolName: "x", maxSize: 1 }))),
      ["gke"],
    );
    assert.deepEqual(
      Object.keys(
        inputErrors(() =>
          gpuNodePoolSpec({
            provider: "aks",
            poolName: "averyveryverylongpool",
            maxSize: 1,
            aks: { resourceGroupName: "r", clusterName: "c", spotMaxPrice: 0 },
          }),
        ),
      ),
      ["poolName", "aks.spotMaxPrice"],
    );
  });
});
