/** Issue 13: the option semantics a Metaflow/Aqueduct user expects, and every problem reported at once. */
import { strict as assert } from "node:assert";
import type { KubestepEnvironment } from "../../../runtime/environment.js";
import { parseWithKubernetes, resolveKubernetesConfigs } from "../../../runtime/kubernetes/config.js";
import { CUDA_IMAGES, cudaImages, cudaVersionKey } from "../../../runtime/contract/kubernetes.js";
import { InvalidOptionsError } from "../../../runtime/errors.js";
import { KubernetesConfigError, validateKubernetesOptions } from "../../../runtime/kubernetes/options.js";
import { expectConfigError, resolveStep, STEP, testEnvironment } from "./helpers.js";

const S = STEP;
const resolve = resolveStep;
const environment = (over: Partial<KubestepEnvironment> = {}): KubestepEnvironment =>
  testEnvironment({ imagePullSecrets: [], ...over });

/** Runs `fn` and returns the InvalidOptionsError it throws. */
function several(fn: () => unknown): InvalidOptionsError {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof InvalidOptionsError, `expected an InvalidOptionsError, got ${String(e)}`);
    return e;
  }
  assert.fail("expected an InvalidOptionsError");
}

describe("kubernetes config: QoS and memory limits", () => {
  it("Burstable by default, with no memory limit factor", () => {
    const c = resolve();
    assert.equal(c.qos, "Burstable");
    assert.equal(c.memoryLimitFactor, undefined);
  });
  it("takes memoryLimitFactor from the environment for Burstable steps only", () => {
    const env = environment({ defaults: { memoryLimitFactor: 1.5 } });
    assert.equal(resolve({ environment: env }).memoryLimitFactor, 1.5);
    assert.equal(resolve({ environment: env, decorator: { qos: "Guaranteed" } }).memoryLimitFactor, undefined);
    assert.equal(resolve({ environment: env, decorator: { qos: "BestEffort" } }).memoryLimitFactor, undefined);
  });
});

describe("kubernetes config: imagePullPolicy", () => {
  it("is unset by default, so the pod leaves it to Kubernetes", () => {
    assert.equal(resolve().imagePullPolicy, undefined);
    assert.equal(resolve({ environment: environment() }).imagePullPolicy, undefined);
  });
  it("comes from the environment, a variable, --with or the decorator (highest wins)", () => {
    const env = environment({ imagePullPolicy: "Always" });
    assert.equal(resolve({ environment: env }).imagePullPolicy, "Always");
    assert.equal(
      resolve({ environment: env, env: { KUBESTEP_KUBERNETES_IMAGE_PULL_POLICY: "Never" } }).imagePullPolicy,
      "Never",
    );
    assert.equal(
      resolve({ environment: env, decorator: { imagePullPolicy: "IfNotPresent" } }).imagePullPolicy,
      "IfNotPresent",
    );
  });
});

describe("kubernetes config: gpuResourceName alone", () => {
  it("requests one GPU of that resource", () => {
    const c = resolve({ decorator: { gpuResourceName: "nvidia.com/mig-1g.5gb" } });
    assert.equal(c.gpu, 1);
    assert.equal(c.gpuResourceName, "nvidia.com/mig-1g.5gb");
  });
  it("an explicit gpu count wins, gpu 0 stays none, and @resources gpu counts", () => {
    assert.equal(resolve({ decorator: { gpuResourceName: "amd.com/gpu", gpu: 4 } }).gpu, 4);
    assert.equal(resolve({ decorator: { gpuResourceName: "amd.com/gpu", gpu: 0 } }).gpu, 0);
    assert.equal(resolve({ decorator: { gpuResourceName: "amd.com/gpu" }, resources: { gpu: 2 } }).gpu, 2);
    assert.equal(resolve({ withOverrides: parseWithKubernetes("kubernetes:gpuResourceName=amd.com/gpu") }).gpu, 1);
  });
  it("steers to the environment's pool of that resource", () => {
    const env = environment({
      gpuPools: [
        { name: "t4", vendor: "nvidia", resourceName: "nvidia.com/gpu", nodeLabels: { pool: "t4" }, taints: [] },
        {
          name: "mig",
          vendor: "nvidia",
          resourceName: "nvidia.com/mig-1g.5gb",
          nodeLabels: { pool: "mig" },
          taints: [],
        },
      ],
    });
    const c = resolve({ environment: env, decorator: { gpuResourceName: "nvidia.com/mig-1g.5gb" } });
    assert.equal(c.gpuPool, "mig");
    assert.deepEqual(c.nodeSelector, { pool: "mig" });
  });
});

describe("kubernetes config: cudaVersion", () => {
  it("maps every known version to NVIDIA's CUDA runtime image on Ubuntu 22.04", () => {
    assert.ok(Object.keys(CUDA_IMAGES).length >= 10);
    for (const [v, image] of Object.entries(CUDA_IMAGES)) {
      assert.match(v, /^1[12]\.[0-9]$/);
      assert.match(image, new RegExp(`^nvidia/cuda:${v.replace(".", "\\.")}\\.[0-9]+-runtime-ubuntu22\\.04$`));
    }
    assert.equal(cudaVersionKey("12.4.1"), "12.4");
    assert.equal(cudaVersionKey("12"), undefined);
    assert.equal(cudaImages({ "12.4.0": "x:1" })["12.4"], "x:1");
  });
  it("picks the image of the version, ignoring a patch, and implies no GPU", () => {
    for (const v of ["12.4", "12.4.0", "12.4.1"]) {
      const c = resolve({ decorator: { cudaVersion: v } });
      assert.equal(c.image, "nvidia/cuda:12.4.1-runtime-ubuntu22.04", v);
      assert.equal(c.gpu, undefined);
    }
    assert.equal(resolve({ decorator: { cudaVersion: "11.8" } }).image, "nvidia/cuda:11.8.0-runtime-ubuntu22.04");
    // A number is accepted too (11.8 -> "11.8").
    assert.equal(
      resolve({ decorator: { cudaVersion: 11.8 as never } }).image,
      "nvidia/cuda:11.8.0-runtime-ubuntu22.04",
    );
    assert.equal(resolve({ decorator: { cudaVersion: "12.8", gpu: 2 } }).gpu, 2);
  });
  it("replaces the environment's image and the variable's, and takes the registry prefix", () => {
    const c = resolve({
      environment: environment(),
      env: {
        KUBESTEP_KUBERNETES_CONTAINER_IMAGE: "var-img:1",
        KUBESTEP_KUBERNETES_CONTAINER_REGISTRY: "mirror.example.com",
      },
      decorator: { cudaVersion: "12.6" },
    });
    assert.equal(c.image, "mirror.example.com/nvidia/cuda:12.6.3-runtime-ubuntu22.04");
    assert.equal(c.cudaVersion, "12.6");
  });
  it("the environment's cudaImages override and extend the mapping", () => {
    const env = environment({
      cudaImages: { "12.4": "registry.example.com/cuda:12.4-py", "13.0": "registry.example.com/cuda:13" },
    });
    assert.equal(
      resolve({ environment: env, decorator: { cudaVersion: "12.4" } }).image,
      "registry.example.com/cuda:12.4-py",
    );
    assert.equal(
      resolve({ environment: env, decorator: { cudaVersion: "13.0" } }).image,
      "registry.example.com/cuda:13",
    );
    assert.equal(
      resolve({ environment: env, decorator: { cudaVersion: "12.8" } }).image,
      "nvidia/cuda:12.8.1-runtime-ubuntu22.04",
    );
  });
  it("rejects a version it does not know, with the list it knows", () => {
    const e = expectConfigError(() => resolve({ decorator: { cudaVersion: "12.7" } }), {
      step: S,
      option: "@kubernetes cudaVersion",
      value: "12.7",
      allowedIncludes: "11.8, 12.0, 12.1, 12.2, 12.3, 12.4, 12.5, 12.6, 12.8, 12.9",
    });
    assert.match(e.allowed, /cudaImages/);
    const env = environment({ cudaImages: { "13.0": "x:13" } });
    expectConfigError(() => resolve({ environment: env, decorator: { cudaVersion: "10.2" } }), {
      step: S,
      option: "@kubernetes cudaVersion",
      value: "10.2",
      allowedIncludes: "12.9, 13.0",
    });
    expectConfigError(() => validateKubernetesOptions(S, { cudaVersion: "twelve" }), {
      step: S,
      option: "@kubernetes cudaVersion",
      value: "twelve",
      allowedIncludes: '"major.minor"',
    });
  });
  it("is an error together with image from the same source; across sources the higher one wins", () => {
    expectConfigError(() => resolve({ decorator: { cudaVersion: "12.4", image: "me/cuda:1" } }), {
      step: S,
      option: "@kubernetes cudaVersion",
      value: "12.4",
      allowedIncludes: "either image or cudaVersion, not both",
    });
    expectConfigError(() => parseWithKubernetes("kubernetes:cudaVersion=12.4,image=me/cuda:1"), {
      step: "(all steps)",
      option: "--with kubernetes cudaVersion",
      value: "12.4",
      allowedIncludes: "either image or cudaVersion",
    });
    // The step's cudaVersion beats --with image; the step's image beats --with cudaVersion.
    assert.equal(
      resolve({ decorator: { cudaVersion: "12.4" }, withOverrides: { image: "other:1" } }).image,
      "nvidia/cuda:12.4.1-runtime-ubuntu22.04",
    );
    const c = resolve({ decorator: { image: "mine:1" }, withOverrides: { cudaVersion: "12.4" } });
    assert.equal(c.image, "mine:1");
    assert.equal(c.cudaVersion, undefined);
  });
});

describe("kubernetes config: every problem at once", () => {
  it("one source: every bad option of the decorator", () => {
    const e = several(() => validateKubernetesOptions(S, { cpu: -1, memroy: 5, gpu: 1.5, qos: "Gold" }));
    assert.deepEqual(
      e.problems.map((p) => p.option),
      ["@kubernetes cpu", "@kubernetes memroy", "@kubernetes gpu", "@kubernetes qos"],
    );
    for (const p of e.problems) assert.ok(p instanceof KubernetesConfigError);
    assert.match(e.message, /^4 invalid options:\n {2}- step train: @kubernetes cpu = -1 is invalid; /);
    assert.match(
      e.message,
      /\n {2}- step train: @kubernetes memroy = 5 is invalid; unknown option; did you mean memory\?/,
    );
    assert.equal(e.exitCode, 2);
  });
  it("every source of one step: decorator, --with, variables, environment labels and @timeout", () => {
    const e = several(() =>
      resolve({
        decorator: { cpu: 0 },
        withOverrides: { port: 0 },
        env: { KUBESTEP_KUBERNETES_MEMORY: "lots", KUBESTEP_KUBERNETES_JOB_TTL_SECONDS_AFTER_FINISHED: "-1" },
        environment: environment({ podLabels: { "bad key!": "x" } }),
        timeoutSeconds: 5,
      }),
    );
    assert.deepEqual(
      e.problems.map((p) => p.option),
      [
        "@kubernetes cpu",
        "--with kubernetes port",
        "KUBESTEP_KUBERNETES_MEMORY",
        "KUBESTEP_KUBERNETES_JOB_TTL_SECONDS_AFTER_FINISHED",
        'environment podLabels["bad key!"]',
        "@timeout",
      ],
    );
  });
  it("every broken combination at once (when each value is valid on its own)", () => {
    const e = several(() =>
      resolve({
        decorator: { memory: 100, tmpfsSize: 500, sharedMemory: 600, persistentVolumeClaims: { d: "/dev/shm" } },
      }),
    );
    assert.deepEqual(
      e.problems.map((p) => p.option),
      ["@kubernetes tmpfsSize", "@kubernetes sharedMemory", '@kubernetes persistentVolumeClaims["d"]'],
    );
  });
  it("every step: resolveKubernetesConfigs reports every bad option of every step in one error", () => {
    const e = several(() =>
      resolveKubernetesConfigs([
        { step: "start", env: {}, decorator: { cpu: "lots" } },
        { step: "ok", env: {}, decorator: { cpu: 2 } },
        { step: "train", env: {}, decorator: { gpu: -1, cudaVersion: "9.0" } },
        { step: "end", env: {}, decorator: { image: "has space" }, timeoutSeconds: 1 },
      ]),
    );
    assert.deepEqual(
      e.problems.map((p) => `${p.step}: ${p.option}`),
      [
        "start: @kubernetes cpu",
        "train: @kubernetes gpu",
        "train: @kubernetes cudaVersion",
        "end: @kubernetes image",
        "end: @timeout",
      ],
    );
    for (const p of e.problems) {
      assert.ok(e.message.includes(p.message), "the message lists every problem");
      assert.ok(p.allowed.length > 0);
    }
    const ok = resolveKubernetesConfigs([
      { step: "a", env: {}, decorator: { cpu: 2 } },
      { step: "b", env: {} },
    ]);
    assert.deepEqual(Object.keys(ok), ["a", "b"]);
  });
  it("--with: every bad item at once", () => {
    const e = several(() => parseWithKubernetes("kubernetes:cpus=4,gpu=two,cpu,qos=Gold"));
    assert.deepEqual(
      e.problems.map((p) => p.option),
      ["--with kubernetes cpus", "--with kubernetes", "--with kubernetes gpu", "--with kubernetes qos"],
    );
  });
});
