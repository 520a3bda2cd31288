import { strict as assert } from "node:assert";
import type { KubestepEnvironment } from "../../../runtime/environment.js";
import {
  COMPUTE_POOL_LABEL,
  defaultImage,
  imageHasRegistry,
  KUBERNETES_DEFAULTS,
  parseWithKubernetes,
  readKubernetesEnv,
  withRegistry,
} from "../../../runtime/kubernetes/config.js";
import { expectConfigError, resolveStep, STEP, testEnvironment } from "./helpers.js";

const S = STEP;
const resolve = resolveStep;
const environment = (over: Partial<KubestepEnvironment> = {}): KubestepEnvironment => testEnvironment({ ...over });

const POOLS: KubestepEnvironment["gpuPools"] = [
  {
    name: "t4",
    vendor: "nvidia",
    resourceName: "nvidia.com/gpu",
    nodeLabels: { pool: "t4" },
    taints: [{ key: "nvidia.com/gpu", effect: "NoSchedule" }],
  },
  {
    name: "mi250",
    vendor: "amd",
    resourceName: "amd.com/gpu",
    nodeLabels: { pool: "mi250" },
    taints: [{ key: "amd.com/gpu", value: "present", effect: "NoSchedule" }],
  },
  { name: "mig", vendor: "nvidia", resourceName: "nvidia.com/mig-1g.5gb", nodeLabels: { pool: "mig" }, taints: [] },
];

describe("kubernetes config: defaults", () => {
  it("fills every default when nothing is given", () => {
    const c = resolve();
    assert.deepEqual(c, {
      step: S,
      namespace: "default",
      image: defaultImage(),
      nodeImage: defaultImage(),
      injectNode: false,
      imagePullSecrets: [],
      secrets: [],
      cpu: 1,
      memory: 4096,
      disk: 10240,
      gpuVendor: "nvidia",
      gpuResourceName: "nvidia.com/gpu",
      nodeSelector: {},
      tolerations: [],
      labels: {},
      annotations: {},
      useTmpfs: false,
      tmpfsTempdir: true,
      tmpfsSize: 1953,
      tmpfsPath: "/kubestep_temp",
      persistentVolumeClaims: {},
      qos: "Burstable",
      hostnameResolutionTimeout: 600,
      jobTtlSecondsAfterFinished: 7 * 24 * 3600,
    });
  });

  it("defaults the image to node:<local major>-slim", () => {
    assert.equal(defaultImage(), `node:${process.versions.node.split(".")[0]}-slim`);
  });
});

describe("kubernetes config: precedence", () => {
  const env = {
    KUBESTEP_KUBERNETES_NAMESPACE: "var-ns",
    KUBESTEP_KUBERNETES_CPU: "3",
    KUBESTEP_KUBERNETES_CONTAINER_IMAGE: "var.example.com/img:2",
    KUBESTEP_KUBERNETES_QOS: "BestEffort",
  };
  const withOverrides = { namespace: "with-ns", cpu: 4, image: "with.example.com/img:3", qos: "Guaranteed" as const };
  const decorator = { namespace: "deco-ns", cpu: 5, image: "deco.example.com/img:4", qos: "Burstable" as const };
  const envt = environment({ defaults: { cpu: 2, qos: "Guaranteed" } });

  it("built-in default is the lowest", () => {
    const c = resolve();
    assert.deepEqual([c.namespace, c.cpu, c.image, c.qos], ["default", 1, defaultImage(), "Burstable"]);
  });
  it("the environment beats the built-in default", () => {
    const c = resolve({ environment: envt });
    assert.deepEqual(
      [c.namespace, c.cpu, c.image, c.qos, c.serviceAccount],
      ["env-ns", 2, "env.example.com/img:1", "Guaranteed", "env-sa"],
    );
  });
  it("KUBESTEP_KUBERNETES_* variables beat the environment", () => {
    const c = resolve({ environment: envt, env });
    assert.deepEqual([c.namespace, c.cpu, c.image, c.qos], ["var-ns", 3, "var.example.com/img:2", "BestEffort"]);
  });
  it("--with overrides beat the variables", () => {
    const c = resolve({ environment: envt, env, withOverrides });
    assert.deepEqual([c.namespace, c.cpu, c.image, c.qos], ["with-ns", 4, "with.example.com/img:3", "Guaranteed"]);
  });
  it("the decorator beats --with", () => {
    const c = resolve({ environment: envt, env, withOverrides, decorator });
    assert.deepEqual([c.namespace, c.cpu, c.image, c.qos], ["deco-ns", 5, "deco.example.com/img:4", "Burstable"]);
  });
  it("empty variables count as unset", () => {
    assert.equal(resolve({ env: { KUBESTEP_KUBERNETES_NAMESPACE: "" } }).namespace, "default");
  });
  it("merges labels and annotations per key (higher source wins) and accumulates secrets and pull secrets", () => {
    const c = resolve({
      environment: environment({ podLabels: { a: "env", e: "env" }, podAnnotations: { "x/y": "env" } }),
      env: {
        KUBESTEP_KUBERNETES_LABELS: "a=var,v=var",
        KUBESTEP_KUBERNETES_ANNOTATIONS: "x/y=var",
        KUBESTEP_KUBERNETES_SECRETS: "s-var",
        KUBESTEP_KUBERNETES_IMAGE_PULL_SECRETS: '["p-var"]',
      },
      withOverrides: { labels: { a: "with", w: "with" }, secrets: ["s-with"] },
      decorator: {
        labels: { a: "deco" },
        annotations: { "x/y": "deco" },
        secrets: ["s-deco", "s-var"],
        imagePullSecrets: ["p-deco"],
      },
    });
    assert.deepEqual(c.labels, { a: "deco", e: "env", v: "var", w: "with" });
    assert.deepEqual(c.annotations, { "x/y": "deco" });
    assert.deepEqual(c.secrets, ["s-var", "s-with", "s-deco"]);
    assert.deepEqual(c.imagePullSecrets, ["env-pull", "p-var", "p-deco"]);
  });
  it("takes nodeSelector and tolerations whole from the highest source", () => {
    const c = resolve({
      env: { KUBESTEP_KUBERNETES_NODE_SELECTOR: "a=1,b=2" },
      decorator: { nodeSelector: { c: "3" } },
    });
    assert.deepEqual(c.nodeSelector, { c: "3" });
    const d = resolve({ env: { KUBESTEP_KUBERNETES_TOLERATIONS: '[{"key":"a","operator":"Exists"}]' } });
    assert.deepEqual(d.tolerations, [{ key: "a", operator: "Exists" }]);
  });
});

describe("kubernetes config: KUBESTEP_KUBERNETES_* variables", () => {
  it("parses every variable", () => {
    const r = readKubernetesEnv(S, {
      KUBESTEP_KUBERNETES_NAMESPACE: "ns1",
      KUBESTEP_KUBERNETES_SERVICE_ACCOUNT: "sa1",
      KUBESTEP_KUBERNETES_CONTAINER_IMAGE: "img:1",
      KUBESTEP_KUBERNETES_CONTAINER_REGISTRY: "registry.example.com/team/",
      KUBESTEP_KUBERNETES_IMAGE_PULL_POLICY: "Always",
      KUBESTEP_KUBERNETES_IMAGE_PULL_SECRETS: '["r1","r2"]',
      KUBESTEP_KUBERNETES_CPU: "0.5",
      KUBESTEP_KUBERNETES_MEMORY: "2GB",
      KUBESTEP_KUBERNETES_DISK: "20000",
      KUBESTEP_KUBERNETES_GPU_VENDOR: "amd",
      KUBESTEP_KUBERNETES_NODE_SELECTOR: "zone=a,disk=ssd",
      KUBESTEP_KUBERNETES_TOLERATIONS:
        '[{"key":"k","operator":"Equal","value":"v","effect":"NoExecute","tolerationSeconds":30}]',
      KUBESTEP_KUBERNETES_QOS: "Guaranteed",
      KUBESTEP_KUBERNETES_PERSISTENT_VOLUME_CLAIMS: '{"data":"/data"}',
      KUBESTEP_KUBERNETES_SHARED_MEMORY: "256",
      KUBESTEP_KUBERNETES_SECRETS: "a, b",
      KUBESTEP_KUBERNETES_LABELS: "team=ml",
      KUBESTEP_KUBERNETES_ANNOTATIONS: '{"note":"a, b = c"}',
      KUBESTEP_KUBERNETES_PORT: "8080",
      KUBESTEP_KUBERNETES_JOB_TTL_SECONDS_AFTER_FINISHED: "3600",
      UNRELATED: "x",
    });
    assert.deepEqual(r.options, {
      namespace: "ns1",
      serviceAccount: "sa1",
      image: "img:1",
      imagePullPolicy: "Always",
      imagePullSecrets: ["r1", "r2"],
      cpu: 0.5,
      memory: 2000,
      disk: 20000,
      gpuVendor: "amd",
      nodeSelector: { zone: "a", disk: "ssd" },
      tolerations: [{ key: "k", operator: "Equal", value: "v", effect: "NoExecute", tolerationSeconds: 30 }],
      qos: "Guaranteed",
      persistentVolumeClaims: { data: "/data" },
      sharedMemory: 256,
      secrets: ["a", "b"],
      labels: { team: "ml" },
      annotations: { note: "a, b = c" },
      port: 8080,
    });
    assert.equal(r.registry, "registry.example.com/team/");
    assert.equal(r.jobTtlSecondsAfterFinished, 3600);
    assert.equal(r.sources.cpu, "KUBESTEP_KUBERNETES_CPU");
  });

  it("applies the registry to images that name none", () => {
    assert.equal(
      resolve({ env: { KUBESTEP_KUBERNETES_CONTAINER_REGISTRY: "registry.example.com/team/" } }).image,
      `registry.example.com/team/${defaultImage()}`,
    );
    assert.equal(
      resolve({ env: { KUBESTEP_KUBERNETES_CONTAINER_REGISTRY: "r.io" }, decorator: { image: "ghcr.io/x/y:1" } }).image,
      "ghcr.io/x/y:1",
    );
    assert.equal(
      resolve({ env: { KUBESTEP_KUBERNETES_CONTAINER_REGISTRY: "r.io" }, decorator: { image: "team/app:1" } }).image,
      "r.io/team/app:1",
    );
    assert.ok(imageHasRegistry("localhost/node:20-local"));
    assert.ok(imageHasRegistry("host:5000/x"));
    assert.ok(!imageHasRegistry("library/node"));
    assert.equal(withRegistry("node:20", undefined), "node:20");
  });

  it("takes the Job TTL from its variable, default 7 days", () => {
    assert.equal(resolve().jobTtlSecondsAfterFinished, 604800);
    assert.equal(
      resolve({ env: { KUBESTEP_KUBERNETES_JOB_TTL_SECONDS_AFTER_FINISHED: "0" } }).jobTtlSecondsAfterFinished,
      0,
    );
  });

  const cases: [string, string, string][] = [
    ["KUBESTEP_KUBERNETES_CPU", "many", "cores"],
    ["KUBESTEP_KUBERNETES_MEMORY", "4XB", "KB, MB, GB"],
    ["KUBESTEP_KUBERNETES_DISK", "-1", "KB, MB, GB"],
    ["KUBESTEP_KUBERNETES_SHARED_MEMORY", "lots", "MiB"],
    ["KUBESTEP_KUBERNETES_QOS", "Gold", "Guaranteed, Burstable, BestEffort"],
    ["KUBESTEP_KUBERNETES_GPU_VENDOR", "intel", "nvidia, amd"],
    ["KUBESTEP_KUBERNETES_IMAGE_PULL_POLICY", "Maybe", "Always, IfNotPresent, Never"],
    ["KUBESTEP_KUBERNETES_NAMESPACE", "Bad_NS", "DNS label"],
    ["KUBESTEP_KUBERNETES_SERVICE_ACCOUNT", "Bad SA", "service account"],
    ["KUBESTEP_KUBERNETES_CONTAINER_IMAGE", "a b", "without spaces"],
    ["KUBESTEP_KUBERNETES_PORT", "http", "a port number"],
    ["KUBESTEP_KUBERNETES_IMAGE_PULL_SECRETS", "regcred", "not valid JSON"],
    ["KUBESTEP_KUBERNETES_IMAGE_PULL_SECRETS", '{"a":1}', "JSON list"],
    ["KUBESTEP_KUBERNETES_TOLERATIONS", "[{", "not valid JSON"],
    ["KUBESTEP_KUBERNETES_TOLERATIONS", '{"key":"a"}', "JSON list of tolerations"],
    ["KUBESTEP_KUBERNETES_PERSISTENT_VOLUME_CLAIMS", '["a"]', "JSON object"],
    ["KUBESTEP_KUBERNETES_NODE_SELECTOR", "a=1,a=2", "given twice"],
    ["KUBESTEP_KUBERNETES_LABELS", "team", "not key=value"],
    ["KUBESTEP_KUBERNETES_ANNOTATIONS", "{bad json", "not valid JSON"],
    ["KUBESTEP_KUBERNETES_SECRETS", "[1", "not valid JSON"],
    ["KUBESTEP_KUBERNETES_CONTAINER_REGISTRY", "https://r.io", "without a scheme"],
    ["KUBESTEP_KUBERNETES_JOB_TTL_SECONDS_AFTER_FINISHED", "1.5", "whole number of seconds"],
  ];
  for (const [variable, text, allowed] of cases)
    it(`rejects ${variable}=${text} naming the variable`, () =>
      expectConfigError(() => resolve({ env: { [variable]: text } }), {
        step: S,
        option: variable,
        value: text,
        allowedIncludes: allowed,
      }));

  it("names the variable and the sub-field for bad parsed values", () => {
    expectConfigError(() => resolve({ env: { KUBESTEP_KUBERNETES_PORT: "70000" } }), {
      step: S,
      option: "KUBESTEP_KUBERNETES_PORT",
      value: 70000,
      allowedIncludes: "1 to 65535",
    });
    expectConfigError(() => resolve({ env: { KUBESTEP_KUBERNETES_TOLERATIONS: '[{"key":"a","effect":"Never"}]' } }), {
      step: S,
      option: "KUBESTEP_KUBERNETES_TOLERATIONS[0].effect",
      value: "Never",
      allowedIncludes: "NoSchedule",
    });
    expectConfigError(() => resolve({ env: { KUBESTEP_KUBERNETES_LABELS: "team=a b" } }), {
      step: S,
      option: 'KUBESTEP_KUBERNETES_LABELS["team"]',
      value: "a b",
      allowedIncludes: "invalid value",
    });
    expectConfigError(() => resolve({ env: { KUBESTEP_KUBERNETES_PERSISTENT_VOLUME_CLAIMS: '{"d":"rel"}' } }), {
      step: S,
      option: 'KUBESTEP_KUBERNETES_PERSISTENT_VOLUME_CLAIMS["d"]',
      value: "rel",
      allowedIncludes: "absolute",
    });
  });
});

describe("kubernetes config: @resources", () => {
  it("takes the max of cpu, memory, disk, gpu and sharedMemory", () => {
    const c = resolve({
      decorator: { cpu: 2, memory: 8000, disk: 5000, gpu: 1, sharedMemory: 100 },
      resources: { cpu: 4, memory: 1000, disk: 50000, gpu: 2, sharedMemory: 50 },
    });
    assert.deepEqual([c.cpu, c.memory, c.disk, c.gpu, c.sharedMemory], [4, 8000, 50000, 2, 100]);
  });
  it("compares against the resolved defaults and fills unset gpu/sharedMemory", () => {
    const c = resolve({ resources: { cpu: 0.5, memory: 16000, gpu: 0, sharedMemory: 64 } });
    assert.deepEqual([c.cpu, c.memory, c.disk, c.gpu, c.sharedMemory], [1, 16000, 10240, 0, 64]);
  });
  it("gpu 0 from @resources does not override a gpu request", () => {
    assert.equal(resolve({ decorator: { gpu: 2 }, resources: { gpu: 0 } }).gpu, 2);
  });
});

describe("kubernetes config: combinations on the resolved values", () => {
  it("defaults tmpfsSize to 50% of memory and turns the tmpfs on when a size is given", () => {
    assert.equal(resolve({ decorator: { memory: 2000 } }).tmpfsSize, Math.floor(2000e6 / 2 ** 20 / 2));
    assert.equal(resolve({ decorator: { tmpfsSize: 100 } }).useTmpfs, true);
    assert.equal(resolve({ decorator: { tmpfsSize: 100, useTmpfs: false } }).useTmpfs, false);
  });
  it("rejects tmpfsSize > memory across sources", () =>
    expectConfigError(() => resolve({ decorator: { tmpfsSize: 5000 } }), {
      step: S,
      option: "@kubernetes tmpfsSize",
      value: 5000,
      allowedIncludes: "at most memory: 4096 MB",
    }));
  it("rejects sharedMemory > memory across sources, naming where the value came from", () => {
    expectConfigError(
      () => resolve({ env: { KUBESTEP_KUBERNETES_MEMORY: "1000" }, decorator: { sharedMemory: 2000 } }),
      { step: S, option: "@kubernetes sharedMemory", value: 2000, allowedIncludes: "at most memory: 1000 MB" },
    );
    expectConfigError(() => resolve({ resources: { sharedMemory: 5000 } }), {
      step: S,
      option: "@resources sharedMemory",
      value: 5000,
      allowedIncludes: "at most memory",
    });
  });
  it("rejects a PVC mounted on the tmpfs path", () =>
    expectConfigError(
      () => resolve({ decorator: { useTmpfs: true, persistentVolumeClaims: { d: "/kubestep_temp" } } }),
      { step: S, option: '@kubernetes persistentVolumeClaims["d"]', value: "/kubestep_temp", allowedIncludes: "tmpfs" },
    ));
  it("rejects @timeout shorter than 60 s", () => {
    expectConfigError(() => resolve({ timeoutSeconds: 30 }), {
      step: S,
      option: "@timeout",
      value: 30,
      allowedIncludes: "at least 60 seconds",
    });
    assert.equal(resolve({ timeoutSeconds: 60 }).timeoutSeconds, 60);
  });
  it("re-validates decorator options it is given", () =>
    expectConfigError(() => resolve({ decorator: { cpu: -1 } }), {
      step: S,
      option: "@kubernetes cpu",
      value: -1,
      allowedIncludes: "cores",
    }));
  it("validates environment pod labels as labels", () =>
    expectConfigError(() => resolve({ environment: environment({ podLabels: { team: "a b" } }) }), {
      step: S,
      option: 'environment podLabels["team"]',
      value: "a b",
      allowedIncludes: "invalid value",
    }));
});

describe("kubernetes config: GPUs and pools", () => {
  const env = environment({ gpuPools: POOLS });
  it("gpu undefined or 0 never adds a GPU constraint", () => {
    for (const gpu of [undefined, 0]) {
      const c = resolve({ environment: env, decorator: gpu === undefined ? {} : { gpu } });
      assert.equal(c.gpuPool, undefined);
      assert.deepEqual(c.nodeSelector, {});
      assert.deepEqual(c.tolerations, []);
    }
  });
  it("gpu > 0 picks the first pool and adds its taints as tolerations and its labels as node selector", () => {
    const c = resolve({
      environment: env,
      decorator: { gpu: 1, nodeSelector: { zone: "a" }, tolerations: [{ key: "spot", operator: "Exists" }] },
    });
    assert.equal(c.gpuPool, "t4");
    assert.equal(c.gpuResourceName, "nvidia.com/gpu");
    assert.deepEqual(c.nodeSelector, { zone: "a", pool: "t4" });
    assert.deepEqual(c.tolerations, [
      { key: "spot", operator: "Exists" },
      { key: "nvidia.com/gpu", operator: "Exists", effect: "NoSchedule" },
    ]);
  });
  it("matches the pool by vendor", () => {
    const c = resolve({ environment: env, decorator: { gpu: 2, gpuVendor: "amd" } });
    assert.equal(c.gpuPool, "mi250");
    assert.equal(c.gpuResourceName, "amd.com/gpu");
    assert.deepEqual(c.tolerations, [
      { key: "amd.com/gpu", operator: "Equal", value: "present", effect: "NoSchedule" },
    ]);
  });
  it("matches the pool by resource name", () => {
    const c = resolve({ environment: env, decorator: { gpu: 1, gpuResourceName: "nvidia.com/mig-1g.5gb" } });
    assert.equal(c.gpuPool, "mig");
    assert.deepEqual(c.nodeSelector, { pool: "mig" });
  });
  it("uses the pool named by computePool, and its resource name", () => {
    const c = resolve({ environment: env, decorator: { gpu: 1, computePool: "mig" } });
    assert.equal(c.gpuPool, "mig");
    assert.equal(c.gpuResourceName, "nvidia.com/mig-1g.5gb");
  });
  it("a computePool that names no GPU pool adds the compute-pool node selector", () => {
    const c = resolve({ environment: env, decorator: { computePool: "highmem" } });
    assert.equal(c.gpuPool, undefined);
    assert.deepEqual(c.nodeSelector, { [COMPUTE_POOL_LABEL]: "highmem" });
  });
  it("no matching pool: GPU resource of the vendor, no constraint", () => {
    const c = resolve({
      environment: environment({ gpuPools: [POOLS[1]!] }),
      decorator: { gpu: 1, gpuVendor: "nvidia" },
    });
    assert.equal(c.gpuPool, undefined);
    assert.equal(c.gpuResourceName, "nvidia.com/gpu");
    assert.deepEqual(c.nodeSelector, {});
  });
  it("rejects a node selector that conflicts with the pool", () =>
    expectConfigError(() => resolve({ environment: env, decorator: { gpu: 1, nodeSelector: { pool: "other" } } }), {
      step: S,
      option: '@kubernetes nodeSelector["pool"]',
      value: "other",
      allowedIncludes: 'GPU pool "t4"',
    }));
  it("rejects a gpuVendor that contradicts the computePool", () =>
    expectConfigError(() => resolve({ environment: env, decorator: { gpu: 1, computePool: "t4", gpuVendor: "amd" } }), {
      step: S,
      option: "@kubernetes gpuVendor",
      value: "amd",
      allowedIncludes: "nvidia",
    }));
  it("takes the vendor from the variable", () => {
    assert.equal(
      resolve({ env: { KUBESTEP_KUBERNETES_GPU_VENDOR: "amd" }, decorator: { gpu: 1 } }).gpuResourceName,
      "amd.com/gpu",
    );
  });
});

describe("kubernetes config: --with kubernetes", () => {
  it("parses bare and with options", () => {
    assert.deepEqual(parseWithKubernetes("kubernetes"), {});
    assert.deepEqual(parseWithKubernetes("kubernetes:"), {});
    assert.deepEqual(parseWithKubernetes("kubernetes:cpu=4,memory=8000,image=x"), { cpu: 4, memory: 8000, image: "x" });
  });
  it("parses every kind of value", () => {
    const o = parseWithKubernetes(
      'kubernetes:gpu=1,port=8080,useTmpfs=true,tmpfsTempdir=false,secrets=["a","b"],imagePullSecrets=regcred,nodeSelector=zone=a,' +
        'labels={"team":"ml","x":"y"},tolerations=[{"key":"k","operator":"Exists"}],memory=16GB,qos=Guaranteed,image="my/img:1",hostnameResolutionTimeout=60',
    );
    assert.deepEqual(o, {
      gpu: 1,
      port: 8080,
      useTmpfs: true,
      tmpfsTempdir: false,
      secrets: ["a", "b"],
      imagePullSecrets: ["regcred"],
      nodeSelector: { zone: "a" },
      labels: { team: "ml", x: "y" },
      tolerations: [{ key: "k", operator: "Exists" }],
      memory: 16000,
      qos: "Guaranteed",
      image: "my/img:1",
      hostnameResolutionTimeout: 60,
    });
  });
  it("rejects unknown keys with a suggestion, bad values, repeats and other specs", () => {
    expectConfigError(() => parseWithKubernetes("kubernetes:cpus=4"), {
      step: "(all steps)",
      option: "--with kubernetes cpus",
      value: "4",
      allowedIncludes: "did you mean cpu?",
    });
    expectConfigError(() => parseWithKubernetes("kubernetes:cpu=-4"), {
      step: "(all steps)",
      option: "--with kubernetes cpu",
      value: "-4",
      allowedIncludes: "cores",
    });
    expectConfigError(() => parseWithKubernetes("kubernetes:gpu=two"), {
      step: "(all steps)",
      option: "--with kubernetes gpu",
      value: "two",
      allowedIncludes: "whole number",
    });
    expectConfigError(() => parseWithKubernetes("kubernetes:cpu=1,cpu=2"), {
      step: "(all steps)",
      option: "--with kubernetes cpu",
      value: "2",
      allowedIncludes: "once",
    });
    expectConfigError(() => parseWithKubernetes("kubernetes:cpu"), {
      step: "(all steps)",
      option: "--with kubernetes",
      value: "cpu",
      allowedIncludes: "key=value",
    });
    expectConfigError(() => parseWithKubernetes("kubernetes:labels={bad"), {
      step: "(all steps)",
      option: "--with kubernetes labels",
      value: "{bad",
      allowedIncludes: "object",
    });
    expectConfigError(() => parseWithKubernetes("batch:cpu=1"), {
      step: "(all steps)",
      option: "--with",
      value: "batch:cpu=1",
      allowedIncludes: "kubernetes:key=value",
    });
  });
  it("feeds resolveKubernetesConfig", () => {
    const c = resolve({ withOverrides: parseWithKubernetes("kubernetes:cpu=4,memory=8000") });
    assert.deepEqual([c.cpu, c.memory], [4, 8000]);
    assert.equal(KUBERNETES_DEFAULTS.minTimeoutSeconds, 60);
  });
});
