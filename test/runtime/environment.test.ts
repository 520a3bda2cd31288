import assert from "node:assert/strict";
import { EnvironmentError, parseEnvironment } from "../../runtime/environment.js";

const VALID = {
  version: 1,
  name: "prod",
  namespace: "ml",
  serviceAccount: "kubestep-step",
  datastore: { kind: "gs", root: "gs://b/kubestep" },
  image: "node:20-slim",
  imagePullSecrets: ["regcred"],
  defaults: { cpu: 2, memory: 8192, disk: 10240, qos: "Guaranteed" },
  podLabels: { "azure.workload.identity/use": "true" },
  podAnnotations: { a: "b" },
  gpuPools: [
    {
      name: "a100",
      vendor: "nvidia",
      resourceName: "nvidia.com/gpu",
      nodeLabels: { pool: "a100" },
      taints: [{ key: "nvidia.com/gpu", effect: "NoSchedule" }],
    },
  ],
};

function problems(v: unknown): string[] {
  try {
    parseEnvironment(v, "test");
  } catch (e) {
    assert.ok(e instanceof EnvironmentError);
    assert.equal(e.source, "test");
    return e.problems;
  }
  assert.fail("expected an EnvironmentError");
}

describe("runtime/environment parseEnvironment", () => {
  it("accepts a valid environment unchanged", () => {
    assert.deepEqual(parseEnvironment(VALID), VALID);
  });
  it("defaults optional collections to empty", () => {
    const { imagePullSecrets, defaults, podLabels, podAnnotations, gpuPools, ...required } = VALID;
    void [imagePullSecrets, defaults, podLabels, podAnnotations, gpuPools];
    assert.deepEqual(parseEnvironment(required), {
      ...required,
      imagePullSecrets: [],
      defaults: {},
      podLabels: {},
      podAnnotations: {},
      gpuPools: [],
    });
  });
  it("rejects a non-object", () => {
    assert.deepEqual(problems([1]), ["expected a JSON object, got [1]"]);
    assert.deepEqual(problems(null), ["expected a JSON object, got null"]);
  });
  it("names every bad field at once", () => {
    const p = problems({
      ...VALID,
      version: 3,
      name: "",
      namespace: "Not_OK",
      serviceAccount: 5,
      image: undefined,
      datastore: { kind: "ftp", root: "" },
      imagePullSecrets: [""],
      defaults: { cpu: -1, memory: "lots", qos: "Best", gpu: 1 },
      podLabels: { a: 1 },
      gpuPools: [
        { name: "g", vendor: "intel", resourceName: "", nodeLabels: {}, taints: [{ key: "k", effect: "Never" }, "x"] },
        7,
      ],
      bogus: true,
    });
    const expected = [
      "version: expected 1, got 3",
      'name: expected a non-empty string, got ""',
      'namespace: not a valid Kubernetes namespace name (got "Not_OK")',
      "serviceAccount: expected a non-empty string, got 5",
      "image: expected a non-empty string, got nothing",
      'datastore.kind: expected one of local, s3, gs, azure, got "ftp"',
      'datastore.root: expected a non-empty string, got ""',
      'imagePullSecrets: expected a list of secret names, got [""]',
      "defaults.cpu: expected a positive number, got -1",
      'defaults.memory: expected a positive number, got "lots"',
      'defaults.qos: expected one of Guaranteed, Burstable, BestEffort, got "Best"',
      "defaults.gpu: unknown field (allowed: cpu, memory, disk, qos, memoryLimitFactor)",
      'gpuPools[0].vendor: expected "nvidia" or "amd", got "intel"',
      'gpuPools[0].resourceName: expected a non-empty string, got ""',
      'gpuPools[0].taints[0].effect: expected one of NoSchedule, PreferNoSchedule, NoExecute, got "Never"',
      'gpuPools[0].taints[1]: expected { key, value?, effect }, got "x"',
      "gpuPools[1]: expected an object, got 7",
      'podLabels: expected an object of string values, got {"a":1}',
      "bogus: unknown field (allowed: version, name, namespace, serviceAccount, datastore, image, nodeImage, imagePullSecrets, defaults, podLabels, podAnnotations, gpuPools, imagePullPolicy, cudaImages, orchestratorServiceAccount)",
    ];
    for (const line of expected) assert.ok(p.includes(line), `missing problem: ${line}\n got:\n${p.join("\n")}`);
    assert.equal(p.length, expected.length, p.join("\n"));
  });
  it("accepts the optional memoryLimitFactor, imagePullPolicy and cudaImages (absent when not given)", () => {
    const env = parseEnvironment({
      ...VALID,
      defaults: { ...VALID.defaults, memoryLimitFactor: 1.5 },
      imagePullPolicy: "Always",
      cudaImages: { "12.4": "mirror.example.com/cuda:12.4.1-runtime", "13.0": "mirror.example.com/cuda:13.0.0" },
    });
    assert.equal(env.defaults.memoryLimitFactor, 1.5);
    assert.equal(env.imagePullPolicy, "Always");
    assert.deepEqual(env.cudaImages, {
      "12.4": "mirror.example.com/cuda:12.4.1-runtime",
      "13.0": "mirror.example.com/cuda:13.0.0",
    });
    assert.equal(parseEnvironment({ ...VALID, defaults: { memoryLimitFactor: 1 } }).defaults.memoryLimitFactor, 1);
    const plain = parseEnvironment(VALID);
    assert.equal("imagePullPolicy" in plain, false);
    assert.equal("cudaImages" in plain, false);
    assert.equal("memoryLimitFactor" in plain.defaults, false);
  });
  it("names every bad memoryLimitFactor, imagePullPolicy and cudaImages entry at once", () => {
    assert.deepEqual(
      problems({
        ...VALID,
        defaults: { memoryLimitFactor: 0.5 },
        imagePullPolicy: "Sometimes",
        cudaImages: { twelve: "img:1", "12.4": "" },
      }),
      [
        "defaults.memoryLimitFactor: expected a number >= 1 (the memory limit of Burstable steps is this factor times their request), got 0.5",
        'imagePullPolicy: expected one of Always, IfNotPresent, Never (or no field for the Kubernetes default), got "Sometimes"',
        'cudaImages["twelve"]: expected a CUDA version major.minor as the key, e.g. 12.9',
        'cudaImages["12.4"]: expected an image reference without spaces, got ""',
      ],
    );
    for (const bad of ["1.5", Infinity, null])
      assert.equal(problems({ ...VALID, defaults: { memoryLimitFactor: bad } }).length, 1, String(bad));
    assert.deepEqual(problems({ ...VALID, cudaImages: ["12.4"] }), [
      'cudaImages: expected an object { "12.4": "registry/image:tag" }, got ["12.4"]',
    ]);
  });
  it("checks the root prefix of each datastore kind", () => {
    assert.deepEqual(problems({ ...VALID, datastore: { kind: "azure", root: "s3://x" } }), [
      'datastore.root: a azure root must start with azure://, got "s3://x"',
    ]);
    assert.deepEqual(parseEnvironment({ ...VALID, datastore: { kind: "local", root: "/tmp/ks" } }).datastore, {
      kind: "local",
      root: "/tmp/ks",
    });
  });
  it("the message lists the source and each problem", () => {
    try {
      parseEnvironment({ ...VALID, version: 0 }, "file x.json");
      assert.fail("should throw");
    } catch (e) {
      assert.equal(
        (e as Error).message,
        "invalid kubestep environment from file x.json:\n  - version: expected 1, got 0",
      );
    }
  });
  it("reads the orchestrator's service account of deployed flows, when the environment provisions one", () => {
    assert.equal(
      parseEnvironment({ ...VALID, orchestratorServiceAccount: "kubestep-orchestrator" }).orchestratorServiceAccount,
      "kubestep-orchestrator",
    );
    assert.equal("orchestratorServiceAccount" in parseEnvironment(VALID), false);
    assert.deepEqual(problems({ ...VALID, orchestratorServiceAccount: "Bad Name" }), [
      'orchestratorServiceAccount: not a valid Kubernetes service account name (got "Bad Name")',
    ]);
    assert.deepEqual(problems({ ...VALID, orchestratorServiceAccount: 3 }), [
      "orchestratorServiceAccount: expected a non-empty string, got 3",
    ]);
  });
});
