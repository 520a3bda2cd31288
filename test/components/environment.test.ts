import assert from "node:assert/strict";
import * as pulumi from "@pulumi/pulumi";
import { Environment, environmentContract } from "../../components/environment.js";
import { clusterAutoscalerPolicy } from "../../components/autoscaler.js";
import { parseEnvironment } from "../../runtime/environment.js";
import {
  dependsOnNames,
  inputErrors,
  ofType,
  one,
  PROVIDER_REGION,
  resetResources,
  resources,
  settle,
  setupMocks,
  T,
  valueOf,
} from "./mocks.js";
import { deployerRules, orchestratorRules } from "../../components/orchestrator.js";

const AWS = {
  clusterName: "eks1",
  oidcProviderArn: "arn:aws:iam::123456789012:oidc-provider/oidc.eks.us-west-2.amazonaws.com/id/X",
  oidcProviderUrl: "https://oidc.eks.us-west-2.amazonaws.com/id/X",
  subnetIds: ["s1"],
};

const BASE = { namespace: "ml", image: "node:20-slim", submitters: { groups: ["ml"] } };

describe("components/environment", () => {
  before(() => setupMocks("unit"));
  beforeEach(() => resetResources());

  it("gcp: GCS + Workload Identity + GKE pool, contract validated", async () => {
    const env = new Environment("e1", {
      ...BASE,
      cloud: "gcp",
      gcp: { cluster: "gke1", project: "proj", location: "us-central1" },
      datastore: { bucketName: "ml-bkt" },
      defaults: { cpu: 2, qos: "Guaranteed", memoryLimitFactor: 1.5 },
      gpuPools: [{ name: "l4", maxSize: 2 }],
    });
    const c = await valueOf(env.kubestep);
    assert.deepEqual(parseEnvironment(JSON.parse(JSON.stringify(c))), c);
    assert.deepEqual(c, {
      version: 1,
      name: "unit",
      namespace: "ml",
      serviceAccount: "kubestep-step",
      datastore: { kind: "gs", root: "gs://ml-bkt/kubestep" },
      image: "node:20-slim",
      imagePullSecrets: [],
      defaults: { cpu: 2, qos: "Guaranteed", memoryLimitFactor: 1.5 },
      podLabels: {},
      podAnnotations: {},
      gpuPools: [
        {
          name: "l4",
          vendor: "nvidia",
          resourceName: "nvidia.com/gpu",
          nodeLabels: { "kubestep.io/gpu-pool": "l4" },
          taints: [{ key: "nvidia.com/gpu", value: "present", effect: "NoSchedule" }],
        },
      ],
    });
    await settle();
    assert.equal(one(T.gcsBucket, "e1").inputs.location, "us-central1");
    assert.equal(one(T.gsaIam, "e1").inputs.member, "serviceAccount:proj.svc.id.goog[ml/kubestep-step]");
    assert.deepEqual((one(T.serviceAccount, "e1").inputs.metadata as { annotations: unknown }).annotations, {
      "iam.gke.io/gcp-service-account": "ks-e1-datastore@proj.iam.gserviceaccount.com",
    });
    assert.deepEqual((one(T.gkeNodePool, "e1").inputs.nodeConfig as { taints: unknown }).taints, [
      { key: "nvidia.com/gpu", value: "present", effect: "NO_SCHEDULE" },
    ]);
    assert.ok(
      resources.filter((r) => r.custom).every((r) => r.parent !== ""),
      "every child has a parent",
    );
  });

  it("azure: storage + workload identity; pods get azure.workload.identity/use=true; AKS pool taints", async () => {
    const env = new Environment("e2", {
      ...BASE,
      cloud: "azure",
      name: "az-prod",
      azure: { clusterName: "aks1", resourceGroupName: "rg1", oidcIssuerUrl: "https://issuer.example/" },
      datastore: { bucketName: "mlstore", protect: true },
      podLabels: { team: "ml" },
      gpuPools: [{ name: "t4", maxSize: 1, vmSize: "Standard_NC6s_v3" }],
    });
    const c = await valueOf(env.kubestep);
    assert.equal(c.name, "az-prod");
    assert.deepEqual(c.podLabels, { team: "ml", "azure.workload.identity/use": "true" });
    assert.deepEqual(c.datastore, { kind: "azure", root: "azure://mlstore/kubestep/kubestep" });
    await settle();
    const sa = one(T.serviceAccount, "e2").inputs.metadata as { annotations: unknown; labels: unknown };
    assert.deepEqual(sa.annotations, { "azure.workload.identity/client-id": "client-e2-datastore-identity" });
    assert.equal(one(T.azStorageAccount, "e2").protect, true);
    const ap = one(T.aksAgentPool, "e2").inputs;
    assert.deepEqual(ap.nodeTaints, ["nvidia.com/gpu=present:NoSchedule"]);
    assert.equal(ap.vmSize, "Standard_NC6s_v3");
  });

  it("existing: no cloud resources, datastore root and pools taken as given", async () => {
    const env = new Environment("e3", {
      ...BASE,
      cloud: "existing",
      datastore: { kind: "s3", root: "s3://minio-bucket/ks", endpoint: "http://10.0.0.1:9000" },
      imagePullSecrets: ["regcred"],
      gpuPools: [{ name: "fake", taints: [{ key: "gpu", effect: "NoSchedule" }] }],
    });
    const c = await valueOf(env.kubestep);
    assert.deepEqual(c.datastore, { kind: "s3", root: "s3://minio-bucket/ks", endpoint: "http://10.0.0.1:9000" });
    assert.deepEqual(c.gpuPools[0].taints, [{ key: "gpu", effect: "NoSchedule" }]);
    assert.deepEqual(c.imagePullSecrets, ["regcred"]);
    await settle();
    assert.deepEqual(
      resources.filter((r) => r.custom && !r.type.startsWith("kubernetes:")),
      [],
    );
    assert.deepEqual(one(T.serviceAccount, "e3").inputs.imagePullSecrets, [{ name: "regcred" }]);
    assert.equal(ofType(T.daemonSet, "e3").length, 0);
  });

  it("environmentContract builds exactly the contract fields", () => {
    const c = environmentContract({
      name: "n",
      namespace: "ns",
      serviceAccount: "sa",
      datastore: { kind: "local", root: "/x" },
      image: "i",
    });
    assert.deepEqual(Object.keys(c).sort(), [
      "datastore",
      "defaults",
      "gpuPools",
      "image",
      "imagePullSecrets",
      "name",
      "namespace",
      "podAnnotations",
      "podLabels",
      "serviceAccount",
      "version",
    ]);
  });

  it("environmentContract carries nodeImage when given, and the runtime accepts it", () => {
    const c = environmentContract({
      name: "n",
      namespace: "ns",
      serviceAccount: "sa",
      datastore: { kind: "local", root: "/x" },
      image: "i",
      nodeImage: "reg/node:20",
    });
    assert.equal(c.nodeImage, "reg/node:20");
    assert.deepEqual(parseEnvironment(JSON.parse(JSON.stringify(c))), c);
  });

  it("aws: nested args take outputs; a node role given as an Output is used; pools scale through the Cluster Autoscaler (IRSA); outputs exposed", async () => {
    const cluster = {
      name: pulumi.output("eks1"),
      nodeRole: pulumi.output("arn:aws:iam::123456789012:role/given-nodes"),
    };
    const env = new Environment("e4", {
      ...BASE,
      cloud: "aws",
      aws: { ...AWS, clusterName: cluster.name, nodeRoleArn: cluster.nodeRole, region: "us-west-2" },
      datastore: { bucketName: "ml-e4", kmsKeyId: "arn:aws:kms:us-west-2:123456789012:key/k" },
      gpuPools: [
        { name: "a10", maxSize: 2 },
        { name: "cpu", kind: "cpu", spot: true, maxSize: 4 },
      ],
    });
    const c = await valueOf(env.kubestep);
    assert.deepEqual(c.datastore, { kind: "s3", root: "s3://ml-e4/kubestep", region: "us-west-2" });
    assert.deepEqual(
      c.gpuPools.map((p) => p.name),
      ["a10"],
      "CPU pools are not GPU pools (steps select them with computePool)",
    );
    assert.equal(await valueOf(env.bucketArn!), "arn:aws:s3:::ml-e4");
    assert.equal(await valueOf(env.kmsKeyArn!), "arn:aws:kms:us-west-2:123456789012:key/k");
    assert.equal(await valueOf(env.datastoreRoleArn!), "arn:aws:iam::123456789012:role/e4-datastore-irsa-r1");
    assert.equal(await valueOf(env.submitterPolicyArn!), "arn:aws:iam::123456789012:policy/e4-datastore-submitters");
    assert.equal(await valueOf(env.pools.a10.nodeRoleArn!), "arn:aws:iam::123456789012:role/given-nodes");
    assert.equal(await valueOf(env.pools.cpu.poolName), "kubestep-cpu");
    assert.equal(await valueOf(env.autoscalerRoleArn!), "arn:aws:iam::123456789012:role/e4-autoscaler-role-r1");
    await settle();
    assert.deepEqual(
      ofType(T.eksNodeGroup, "e4")
        .sort((a, b) => a.name.localeCompare(b.name))
        .map((r) => [r.inputs.nodeRoleArn, r.inputs.region, r.inputs.amiType, r.inputs.capacityType]),
      [
        ["arn:aws:iam::123456789012:role/given-nodes", "us-west-2", "AL2023_x86_64_NVIDIA", "ON_DEMAND"],
        ["arn:aws:iam::123456789012:role/given-nodes", "us-west-2", "AL2023_x86_64_STANDARD", "SPOT"],
      ],
    );
    assert.equal(ofType(T.iamRole, "e4-gpu").length, 0, "no node role created when one is given");
    assert.equal(one(T.s3Bucket, "e4").inputs.region, "us-west-2");
    const release = one(T.helmRelease, "e4").inputs;
    assert.deepEqual(
      [release.chart, release.namespace, (release.repositoryOpts as { repo: string }).repo],
      ["cluster-autoscaler", "kube-system", "https://kubernetes.github.io/autoscaler"],
    );
    assert.deepEqual(release.values, {
      cloudProvider: "aws",
      awsRegion: "us-west-2",
      autoDiscovery: { clusterName: "eks1" },
      rbac: {
        serviceAccount: {
          create: true,
          name: "cluster-autoscaler",
          annotations: { "eks.amazonaws.com/role-arn": "arn:aws:iam::123456789012:role/e4-autoscaler-role-r1" },
        },
      },
      extraArgs: { "balance-similar-node-groups": true, "skip-nodes-with-system-pods": false, expander: "least-waste" },
    });
    const caRole = ofType(T.iamRole, "e4-autoscaler")[0];
    assert.deepEqual(JSON.parse(caRole.inputs.assumeRolePolicy as string).Statement[0].Condition.StringEquals, {
      "oidc.eks.us-west-2.amazonaws.com/id/X:sub": "system:serviceaccount:kube-system:cluster-autoscaler",
      "oidc.eks.us-west-2.amazonaws.com/id/X:aud": "sts.amazonaws.com",
    });
    assert.deepEqual(
      JSON.parse(one(T.iamRolePolicy, "e4-autoscaler").inputs.policy as string),
      clusterAutoscalerPolicy("eks1"),
    );
    assert.ok(
      resources.filter((r) => r.custom).every((r) => r.parent !== ""),
      "every child has a parent",
    );
  });

  it("aws.nodeRoleArn given as an Output (e.g. another stack's role) is the node groups' role; none is created", async () => {
    new Environment("e6", {
      ...BASE,
      cloud: "aws",
      aws: { ...AWS, nodeRoleArn: pulumi.output("arn:aws:iam::123456789012:role/shared-nodes") },
      gpuPools: [{ name: "g", maxSize: 1 }],
    });
    await settle();
    assert.equal(one(T.eksNodeGroup, "e6").inputs.nodeRoleArn, "arn:aws:iam::123456789012:role/shared-nodes");
    assert.deepEqual(ofType(T.iamRole, "e6-gpu"), []);
  });

  it("aws without a region: the contract records the bucket's real region (the provider's)", async () => {
    const env = new Environment("e5", { ...BASE, cloud: "aws", aws: AWS });
    assert.equal((await valueOf(env.kubestep)).datastore.region, PROVIDER_REGION);
    await settle();
    assert.equal(ofType(T.helmRelease, "e5").length, 0, "no autoscaler without pools");
  });

  it("rejects invalid arguments naming the property and the allowed values", () => {
    const e = inputErrors(() => new Environment("x1", { ...BASE, cloud: "ibm" as never }));
    assert.deepEqual(Object.keys(e), ["cloud"]);
    assert.match(e.cloud, /"aws", "gcp", "azure", "existing".*"ibm"/);
    assert.deepEqual(Object.keys(inputErrors(() => new Environment("x2", { ...BASE, cloud: "aws" }))), ["aws"]);
    assert.deepEqual(
      Object.keys(
        inputErrors(
          () =>
            new Environment("x3", { ...BASE, cloud: "existing", gcp: { cluster: "c", project: "p", location: "l" } }),
        ),
      ),
      ["gcp", "datastore.kind", "datastore.root"],
    );
    assert.deepEqual(
      Object.keys(inputErrors(() => new Environment("x4", { ...BASE, cloud: "existing", datastore: { kind: "s3" } }))),
      ["datastore.root"],
    );
    assert.deepEqual(
      Object.keys(
        inputErrors(
          () =>
            new Environment("x5", {
              ...BASE,
              cloud: "existing",
              datastore: { kind: "local", root: "/d" },
              defaults: { qos: "Gold" as never },
            }),
        ),
      ),
      ["defaults.qos"],
    );
    assert.deepEqual(
      Object.keys(
        inputErrors(
          () =>
            new Environment("x8", {
              ...BASE,
              cloud: "existing",
              datastore: { kind: "local", root: "/d" },
              defaults: { memoryLimitFactor: 0.5 },
            }),
        ),
      ),
      ["defaults.memoryLimitFactor"],
    );
    assert.deepEqual(
      Object.keys(
        inputErrors(
          () =>
            new Environment("x6", {
              ...BASE,
              cloud: "aws",
              aws: { ...AWS, subnetIds: undefined },
              gpuPools: [{ name: "g", maxSize: 1 }],
            }),
        ),
      ),
      ["gpuPools[0].eks.subnetIds", "aws.subnetIds"],
    );
    assert.deepEqual(
      Object.keys(
        inputErrors(
          () =>
            new Environment("x7", {
              ...BASE,
              namespace: "Bad",
              cloud: "existing",
              datastore: { kind: "local", root: "/d" },
            }),
        ),
      ),
      ["namespace"],
    );
  });

  it("reports every problem at once, pools included", () => {
    const e = inputErrors(
      () =>
        new Environment("x8", {
          ...BASE,
          namespace: "Bad",
          image: "",
          cloud: "gcp",
          gcp: { cluster: "c", project: "p", location: "l" },
          defaults: { cpu: -1 },
          datastore: { kmsKeyId: "k" },
          gpuPools: [
            { name: "a", maxSize: 1, minSize: 2 },
            { name: "a", maxSize: 1, taints: [{ key: "k", effect: "Never" as never }] },
          ],
        }),
    );
    assert.deepEqual(Object.keys(e), [
      "namespace",
      "image",
      "defaults.cpu",
      "datastore.kmsKeyId",
      "gpuPools[0].maxSize",
      "gpuPools[1].name",
      "gpuPools[1].taints[0].effect",
    ]);
  });

  describe("deployments (kubestep deploy): the orchestrator's identity and the deployer Role", () => {
    const byName = (type: string, name: string) => {
      const r = resources.find((x) => x.type === type && x.name === name);
      assert.ok(
        r,
        `no ${type} ${name}; have ${resources
          .filter((x) => x.type === type)
          .map((x) => x.name)
          .join(", ")}`,
      );
      return r;
    };

    it("aws: the orchestrator ServiceAccount carries the IRSA role, which trusts it next to the step's; Roles and bindings; the contract names it", async () => {
      const env = new Environment("d1", { ...BASE, cloud: "aws", aws: AWS, deployments: true });
      const c = await valueOf(env.kubestep);
      assert.equal(c.orchestratorServiceAccount, "kubestep-orchestrator");
      assert.deepEqual(parseEnvironment(JSON.parse(JSON.stringify(c))), c, "the runtime reads the contract back");
      assert.equal(await valueOf(env.orchestratorServiceAccount!), "kubestep-orchestrator");
      assert.equal(await valueOf(env.deployerRole!), "kubestep-deployer");
      await settle();
      const trust = JSON.parse(one(T.iamRole, "d1-datastore").inputs.assumeRolePolicy as string);
      assert.deepEqual(trust.Statement[0].Condition.StringEquals, {
        "oidc.eks.us-west-2.amazonaws.com/id/X:sub": [
          "system:serviceaccount:ml:kubestep-step",
          "system:serviceaccount:ml:kubestep-orchestrator",
        ],
        "oidc.eks.us-west-2.amazonaws.com/id/X:aud": "sts.amazonaws.com",
      });
      const sa = byName(T.serviceAccount, "d1-orchestrator-orchestrator-sa").inputs;
      assert.deepEqual(sa.metadata, {
        name: "kubestep-orchestrator",
        namespace: "ml",
        labels: { "app.kubernetes.io/managed-by": "kubestep" },
        annotations: { "eks.amazonaws.com/role-arn": "arn:aws:iam::123456789012:role/d1-datastore-irsa-r1" },
      });
      assert.equal(sa.automountServiceAccountToken, true);
      assert.deepEqual(byName(T.role, "d1-orchestrator-orchestrator").inputs.rules, orchestratorRules(true));
      assert.deepEqual(byName(T.roleBinding, "d1-orchestrator-orchestrator").inputs.subjects, [
        { kind: "ServiceAccount", name: "kubestep-orchestrator", namespace: "ml" },
      ]);
      const deployer = byName(T.role, "d1-deployer").inputs;
      assert.deepEqual(deployer.metadata, {
        name: "kubestep-deployer",
        namespace: "ml",
        labels: { "app.kubernetes.io/managed-by": "kubestep" },
      });
      assert.deepEqual(deployer.rules, deployerRules());
      const binding = byName(T.roleBinding, "d1-deployers");
      assert.deepEqual(binding.inputs.roleRef, {
        apiGroup: "rbac.authorization.k8s.io",
        kind: "Role",
        name: "kubestep-deployer",
      });
      assert.deepEqual(
        binding.inputs.subjects,
        [{ kind: "Group", apiGroup: "rbac.authorization.k8s.io", name: "ml" }],
        "default: the submitters deploy",
      );
      assert.ok(dependsOnNames(binding).includes("d1-deployer"), "bound after the Role exists");
      assert.ok(
        resources.filter((r) => r.custom).every((r) => r.parent !== ""),
        "every child has a parent",
      );
    });

    it("gcp: a second Workload Identity binding for the orchestrator; a named orchestrator and explicit deployers; parallel off", async () => {
      const env = new Environment("d2", {
        ...BASE,
        cloud: "gcp",
        gcp: { cluster: "gke1", project: "proj", location: "us-central1" },
        parallel: false,
        deployments: {
          orchestratorName: "flows-orchestrator",
          deployers: { users: [pulumi.output("ci-bot")], serviceAccounts: [{ name: "deployer", namespace: "ci" }] },
        },
      });
      assert.equal((await valueOf(env.kubestep)).orchestratorServiceAccount, "flows-orchestrator");
      await settle();
      assert.deepEqual(
        ofType(T.gsaIam, "d2")
          .map((r) => [r.name, r.inputs.role, r.inputs.member])
          .sort(),
        [
          [
            "d2-datastore-workload-identity",
            "roles/iam.workloadIdentityUser",
            "serviceAccount:proj.svc.id.goog[ml/kubestep-step]",
          ],
          [
            "d2-datastore-workload-identity-0",
            "roles/iam.workloadIdentityUser",
            "serviceAccount:proj.svc.id.goog[ml/flows-orchestrator]",
          ],
        ],
      );
      const sa = byName(T.serviceAccount, "d2-orchestrator-orchestrator-sa").inputs.metadata as {
        name: string;
        annotations: unknown;
      };
      assert.equal(sa.name, "flows-orchestrator");
      assert.deepEqual(sa.annotations, {
        "iam.gke.io/gcp-service-account": "ks-d2-datastore@proj.iam.gserviceaccount.com",
      });
      assert.deepEqual(byName(T.role, "d2-orchestrator-orchestrator").inputs.rules, orchestratorRules(false));
      assert.deepEqual(byName(T.roleBinding, "d2-deployers").inputs.subjects, [
        { kind: "User", apiGroup: "rbac.authorization.k8s.io", name: "ci-bot" },
        { kind: "ServiceAccount", name: "deployer", namespace: "ci" },
      ]);
    });

    it("azure: a second federated credential (after the first) and the workload identity label on the orchestrator", async () => {
      new Environment("d3", {
        ...BASE,
        cloud: "azure",
        azure: { clusterName: "aks1", resourceGroupName: "rg1", oidcIssuerUrl: "https://issuer.example/" },
        deployments: true,
      });
      await settle();
      const feds = ofType(T.azFederation, "d3").sort((a, b) => a.name.localeCompare(b.name));
      assert.deepEqual(
        feds.map((f) => [f.name, f.inputs.subject, f.inputs.issuer]),
        [
          ["d3-datastore-federation", "system:serviceaccount:ml:kubestep-step", "https://issuer.example/"],
          ["d3-datastore-federation-0", "system:serviceaccount:ml:kubestep-orchestrator", "https://issuer.example/"],
        ],
      );
      assert.ok(
        dependsOnNames(feds[1]!).includes("d3-datastore-federation"),
        "Azure writes federated credentials of one identity one at a time",
      );
      const sa = byName(T.serviceAccount, "d3-orchestrator-orchestrator-sa").inputs.metadata as {
        labels: unknown;
        annotations: unknown;
      };
      assert.deepEqual(sa.labels, {
        "app.kubernetes.io/managed-by": "kubestep",
        "azure.workload.identity/use": "true",
      });
      assert.deepEqual(sa.annotations, { "azure.workload.identity/client-id": "client-d3-datastore-identity" });
    });

    it("without deployments: no orchestrator objects, no deployer Role, no contract field", async () => {
      const env = new Environment("d4", { ...BASE, cloud: "existing", datastore: { kind: "s3", root: "s3://b/k" } });
      assert.equal("orchestratorServiceAccount" in (await valueOf(env.kubestep)), false);
      assert.equal(env.orchestratorServiceAccount, undefined);
      await settle();
      assert.deepEqual(
        resources.filter((r) => /orchestrator|deployer/.test(r.name)).map((r) => r.name),
        [],
      );
    });

    it("rejects bad deployments arguments, every problem at once", () => {
      const e = inputErrors(
        () =>
          new Environment("x9", {
            ...BASE,
            cloud: "existing",
            datastore: { kind: "local", root: "/d" },
            deployments: { orchestratorName: "Bad_Name", schedule: true } as never,
          }),
      );
      assert.deepEqual(Object.keys(e), ["deployments.schedule", "deployments.orchestratorName"]);
      assert.match(e["deployments.schedule"]!, /unknown field \(allowed: orchestratorName, deployers\)/);
      const same = inputErrors(
        () =>
          new Environment("x10", {
            ...BASE,
            cloud: "existing",
            datastore: { kind: "local", root: "/d" },
            deployments: { orchestratorName: "kubestep-step" },
          }),
      );
      assert.match(same["deployments.orchestratorName"]!, /must differ from the step service account "kubestep-step"/);
      assert.deepEqual(
        Object.keys(
          inputErrors(
            () =>
              new Environment("x11", {
                ...BASE,
                cloud: "existing",
                datastore: { kind: "local", root: "/d" },
                deployments: "yes" as never,
              }),
          ),
        ),
        ["deployments"],
      );
    });
  });
});
