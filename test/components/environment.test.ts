import assert from "node:assert/strict";
import { Environment, environmentContract } from "../../components/environment.js";
import { parseEnvironment } from "../../runtime/environment.js";
import { inputError, ofType, one, resetResources, resources, settle, setupMocks, T, valueOf } from "./mocks.js";

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
      defaults: { cpu: 2, qos: "Guaranteed" },
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
      defaults: { cpu: 2, qos: "Guaranteed" },
      podLabels: {},
      podAnnotations: {},
      gpuPools: [{ name: "l4", vendor: "nvidia", resourceName: "nvidia.com/gpu", nodeLabels: { "kubestep.io/gpu-pool": "l4" }, taints: [{ key: "nvidia.com/gpu", value: "present", effect: "NoSchedule" }] }],
    });
    await settle();
    assert.equal(one(T.gcsBucket, "e1").inputs.location, "us-central1");
    assert.equal(one(T.gsaIam, "e1").inputs.member, "serviceAccount:proj.svc.id.goog[ml/kubestep-step]");
    assert.deepEqual((one(T.serviceAccount, "e1").inputs.metadata as { annotations: unknown }).annotations, { "iam.gke.io/gcp-service-account": "ks-e1-datastore@proj.iam.gserviceaccount.com" });
    assert.deepEqual((one(T.gkeNodePool, "e1").inputs.nodeConfig as { taints: unknown }).taints, [{ key: "nvidia.com/gpu", value: "present", effect: "NO_SCHEDULE" }]);
    assert.ok(resources.filter((r) => r.custom).every((r) => r.parent !== ""), "every child has a parent");
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
    assert.deepEqual(resources.filter((r) => r.custom && !r.type.startsWith("kubernetes:")), []);
    assert.deepEqual(one(T.serviceAccount, "e3").inputs.imagePullSecrets, [{ name: "regcred" }]);
    assert.equal(ofType(T.daemonSet, "e3").length, 0);
  });

  it("environmentContract builds exactly the contract fields", () => {
    const c = environmentContract({ name: "n", namespace: "ns", serviceAccount: "sa", datastore: { kind: "local", root: "/x" }, image: "i" });
    assert.deepEqual(Object.keys(c).sort(), ["datastore", "defaults", "gpuPools", "image", "imagePullSecrets", "name", "namespace", "podAnnotations", "podLabels", "serviceAccount", "version"]);
  });

  it("rejects invalid arguments naming the property and the allowed values", () => {
    let e = inputError(() => new Environment("x1", { ...BASE, cloud: "ibm" as never }));
    assert.equal(e.propertyPath, "cloud");
    assert.match(e.reason, /"aws", "gcp", "azure", "existing".*"ibm"/);
    e = inputError(() => new Environment("x2", { ...BASE, cloud: "aws" }));
    assert.equal(e.propertyPath, "aws");
    e = inputError(() => new Environment("x3", { ...BASE, cloud: "existing", gcp: { cluster: "c", project: "p", location: "l" } }));
    assert.equal(e.propertyPath, "gcp");
    e = inputError(() => new Environment("x4", { ...BASE, cloud: "existing", datastore: { kind: "s3" } }));
    assert.equal(e.propertyPath, "datastore.root");
    e = inputError(() => new Environment("x5", { ...BASE, cloud: "existing", datastore: { kind: "local", root: "/d" }, defaults: { qos: "Gold" as never } }));
    assert.equal(e.propertyPath, "defaults.qos");
    e = inputError(() => new Environment("x6", { ...BASE, cloud: "aws", aws: { clusterName: "c", oidcProviderArn: "arn:x", oidcProviderUrl: "u" }, gpuPools: [{ name: "g", maxSize: 1 }] }));
    assert.equal(e.propertyPath, "aws.subnetIds");
    e = inputError(() => new Environment("x7", { ...BASE, namespace: "Bad", cloud: "existing", datastore: { kind: "local", root: "/d" } }));
    assert.equal(e.propertyPath, "namespace");
  });
});
