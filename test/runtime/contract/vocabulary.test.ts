/** The shared vocabulary (runtime/contract/): each word defined once, and the places that used copies agree with it. */
import { strict as assert } from "node:assert";
import * as contract from "../../../runtime/contract/index.js";
import { parseEnvironment } from "../../../runtime/environment.js";
import { resolveKubernetesConfig } from "../../../runtime/kubernetes/config.js";
import { isDatastoreKind as rootsIsKind, DATASTORE_KINDS as rootsKinds } from "../../../runtime/datastore/roots.js";

describe("contract: the shared vocabulary", () => {
  it("DNS labels and subdomains: one check, rejecting empty segments (a..b), upper case and over-long names", () => {
    assert.equal(contract.isDnsSubdomain("a.b"), true);
    assert.equal(contract.isDnsSubdomain("a..b"), false);
    assert.equal(contract.isDnsSubdomain(".a"), false);
    assert.equal(contract.isDnsLabel("a.b"), false);
    assert.equal(contract.isDnsLabel("Ab"), false);
    assert.equal(contract.isDnsLabel("a".repeat(63)), true);
    assert.equal(contract.isDnsLabel("a".repeat(64)), false);
  });

  it("the environment's namespace uses the same DNS-label check (length included)", () => {
    const env = (namespace: string) => ({
      version: 1,
      name: "e",
      namespace,
      serviceAccount: "sa",
      image: "node:20-slim",
      datastore: { kind: "local", root: ".kubestep" },
    });
    assert.equal(parseEnvironment(env("a".repeat(63))).namespace, "a".repeat(63));
    assert.throws(() => parseEnvironment(env("a".repeat(64))), /namespace: not a valid Kubernetes namespace name/);
  });

  it("taint -> toleration: Equal on a value, Exists without one (absent or empty)", () => {
    assert.deepEqual(contract.tolerationFor({ key: "k", value: "v", effect: "NoSchedule" }), {
      key: "k",
      operator: "Equal",
      value: "v",
      effect: "NoSchedule",
    });
    assert.deepEqual(contract.tolerationFor({ key: "k", effect: "NoExecute" }), {
      key: "k",
      operator: "Exists",
      effect: "NoExecute",
    });
    assert.deepEqual(contract.tolerationFor({ key: "k", value: "", effect: "NoSchedule" }), {
      key: "k",
      operator: "Exists",
      effect: "NoSchedule",
    });
  });

  it("a GPU pool's taints become the step's tolerations through tolerationFor", () => {
    const taints: contract.TaintSpec[] = [
      { key: "nvidia.com/gpu", value: "present", effect: "NoSchedule" },
      { key: "dedicated", effect: "NoExecute" },
    ];
    const environment = parseEnvironment({
      version: 1,
      name: "e",
      namespace: "ml",
      serviceAccount: "sa",
      image: "node:20-slim",
      datastore: { kind: "local", root: ".kubestep" },
      gpuPools: [{ name: "gpu", vendor: "amd", resourceName: "amd.com/gpu", nodeLabels: { pool: "gpu" }, taints }],
    });
    const config = resolveKubernetesConfig({ step: "train", env: {}, environment, decorator: { gpu: 1 } });
    assert.deepEqual(config.tolerations, taints.map(contract.tolerationFor));
    assert.equal(config.gpuResourceName, "amd.com/gpu");
  });

  it("GPU vendors, QoS classes, taint effects and datastore kinds are listed once", () => {
    assert.deepEqual(contract.GPU_VENDORS.map(contract.gpuResourceFor), ["nvidia.com/gpu", "amd.com/gpu"]);
    assert.deepEqual([...contract.QOS_CLASSES], ["Guaranteed", "Burstable", "BestEffort"]);
    assert.deepEqual([...contract.TAINT_EFFECTS], ["NoSchedule", "PreferNoSchedule", "NoExecute"]);
    assert.deepEqual([...contract.DATASTORE_KINDS], ["local", "s3", "gs", "azure"]);
    assert.equal(rootsKinds, contract.DATASTORE_KINDS);
    assert.equal(rootsIsKind, contract.isDatastoreKind);
  });

  it("sizes: MB for memory and disk, MiB for tmpfs; Kubernetes quantities: case-sensitive, m is milli", () => {
    assert.equal(contract.parseMegabytes("1GB"), 1000);
    assert.equal(contract.parseMebibytes("1Gi"), 1024);
    assert.equal(contract.parseMegabytes("16m"), 16);
    assert.equal(contract.parseQuantity("500m"), 0.5);
    assert.equal(contract.parseQuantity("64Mi"), 64 * contract.MIB);
  });
});
