import { strict as assert } from "node:assert";
import {
  closestOption,
  KUBERNETES_OPTION_NAMES,
  KubernetesConfigError,
  parseKeyValueList,
  validateKubernetesOptions,
} from "../../../runtime/kubernetes/options.js";
import { parseCpu, parseMebibytes, parseMegabytes, parseSizeBytes } from "../../../runtime/contract/units.js";
import { DecoratorArgumentError, FlowDefinitionError } from "../../../runtime/errors.js";
import { expectConfigError } from "./helpers.js";

const S = "train";
const bad = (raw: Record<string, unknown>) => () => validateKubernetesOptions(S, raw);

describe("kubernetes options: parsing", () => {
  it("parses memory/disk sizes to MB", () => {
    assert.equal(parseMegabytes(4096), 4096);
    assert.equal(parseMegabytes("2048"), 2048);
    assert.equal(parseMegabytes("16GB"), 16000);
    assert.equal(parseMegabytes("2G"), 2000);
    assert.equal(parseMegabytes("1.5gb"), 1500);
    assert.equal(parseMegabytes("512Mi"), 512 * 1.048576);
    assert.equal(parseMegabytes("1Gi"), 1073.741824);
    assert.equal(parseMegabytes("1GiB"), 1073.741824);
    assert.equal(parseMegabytes("1TB"), 1e6);
    assert.equal(parseMegabytes("500KB"), 0.5);
    assert.equal(parseMegabytes(" 8 GB "), 8000);
    assert.equal(parseMegabytes("16XB"), undefined);
    assert.equal(parseMegabytes("GB"), undefined);
    assert.equal(parseMegabytes("-1GB"), undefined);
    assert.equal(parseMegabytes(Number.NaN), undefined);
  });

  it("parses tmpfs/shm sizes to MiB and sizes to bytes", () => {
    assert.equal(parseMebibytes(256), 256);
    assert.equal(parseMebibytes("1Gi"), 1024);
    assert.equal(parseMebibytes("1048576B"), 1);
    assert.equal(parseSizeBytes("1Ki", 1), 1024);
    assert.equal(parseSizeBytes("3", 10), 30);
  });

  it("parses CPU amounts", () => {
    assert.equal(parseCpu(2), 2);
    assert.equal(parseCpu("0.5"), 0.5);
    assert.equal(parseCpu("500m"), 0.5);
    assert.equal(parseCpu("two"), undefined);
  });

  it("parses k=v lists and rejects repeats and bad items", () => {
    assert.deepEqual(parseKeyValueList("a=1, b=x=y ,c="), { a: "1", b: "x=y", c: "" });
    assert.deepEqual(parseKeyValueList(""), {});
    assert.throws(() => parseKeyValueList("a=1,a=2"), /given twice/);
    assert.throws(() => parseKeyValueList("a=1,b"), /not key=value/);
  });

  it("suggests the closest option for typos only", () => {
    assert.equal(closestOption("memroy"), "memory");
    assert.equal(closestOption("CPU"), "cpu");
    assert.equal(closestOption("nodeselector"), "nodeSelector");
    assert.equal(closestOption("tolerration"), "tolerations");
    assert.equal(closestOption("zzzzzzzzzzzz"), undefined);
  });
});

describe("kubernetes options: normalization", () => {
  it("normalizes sizes, node selectors, enums and lists", () => {
    const o = validateKubernetesOptions(S, {
      cpu: "250m",
      memory: "16GB",
      disk: "1Gi",
      tmpfsSize: "1Gi",
      sharedMemory: 512,
      nodeSelector: "disk=ssd, zone=a",
      qos: "guaranteed",
      gpuVendor: "AMD",
      secrets: ["a", "a", "b"],
      tmpfsPath: "/scratch/",
      imagePullPolicy: "never",
    });
    assert.equal(o.cpu, 0.25);
    assert.equal(o.memory, 16000);
    assert.equal(o.disk, 1073.741824);
    assert.equal(o.tmpfsSize, 1024);
    assert.equal(o.sharedMemory, 512);
    assert.deepEqual(o.nodeSelector, { disk: "ssd", zone: "a" });
    assert.equal(o.qos, "Guaranteed");
    assert.equal(o.gpuVendor, "amd");
    assert.equal(o.imagePullPolicy, "Never");
    assert.deepEqual(o.secrets, ["a", "b"]);
    assert.equal(o.tmpfsPath, "/scratch");
  });

  it("accepts every option with a valid value, and undefined options", () => {
    const all = {
      cpu: 1.5,
      memory: 8000,
      disk: 20000,
      gpu: 0,
      gpuVendor: "nvidia",
      gpuResourceName: "nvidia.com/mig-1g.5gb",
      image: "r.example.com/x:1",
      cudaVersion: "12.4",
      imagePullPolicy: "Always",
      injectNode: "always",
      nodeImage: "r.example.com/node:20",
      imagePullSecrets: ["regcred"],
      serviceAccount: "runner",
      namespace: "ml",
      secrets: ["s3"],
      nodeSelector: { "kubernetes.io/arch": "amd64" },
      computePool: "a100",
      tolerations: [{ key: "gpu", operator: "Exists", effect: "NoSchedule" }],
      labels: { team: "ml" },
      annotations: { "example.com/note": "any text, even spaces" },
      useTmpfs: true,
      tmpfsTempdir: false,
      tmpfsSize: 100,
      tmpfsPath: "/tmpfs",
      persistentVolumeClaims: { data: "/data" },
      sharedMemory: 64,
      port: 8080,
      qos: "BestEffort",
      securityContext: {
        runAsUser: 1000,
        runAsGroup: 1000,
        runAsNonRoot: true,
        privileged: false,
        allowPrivilegeEscalation: false,
      },
      hostnameResolutionTimeout: 120,
    };
    assert.deepEqual(Object.keys(all).sort(), [...KUBERNETES_OPTION_NAMES].sort(), "the test covers every option");
    // image and cudaVersion both choose the image: one source gives one of them.
    const { image, ...rest } = all;
    const o = { ...validateKubernetesOptions(S, rest), ...validateKubernetesOptions(S, { image }) };
    assert.equal(Object.keys(o).length, KUBERNETES_OPTION_NAMES.length);
    assert.deepEqual(validateKubernetesOptions(S, { cpu: undefined }), {});
    assert.deepEqual(validateKubernetesOptions(S, undefined), {});
  });

  it("is a DecoratorArgumentError / FlowDefinitionError so the CLI reports it as a definition error", () => {
    try {
      validateKubernetesOptions(S, { cpu: 0 });
      assert.fail("expected an error");
    } catch (e) {
      assert.ok(e instanceof KubernetesConfigError);
      assert.ok(e instanceof DecoratorArgumentError);
      assert.ok(e instanceof FlowDefinitionError);
    }
  });
});

describe("kubernetes options: validation messages", () => {
  const L = (o: string) => `@kubernetes ${o}`;

  it("rejects a non-object", () =>
    expectConfigError(() => validateKubernetesOptions(S, 5), {
      step: S,
      option: "@kubernetes",
      value: 5,
      allowedIncludes: "options object",
    }));

  it("rejects unknown options, suggesting the closest", () => {
    const e = expectConfigError(bad({ memroy: 4000 }), {
      step: S,
      option: L("memroy"),
      value: 4000,
      allowedIncludes: "did you mean memory?",
    });
    assert.ok(e.allowed.includes("cpu, memory, disk"));
    const e2 = expectConfigError(bad({ frobnicate: 1 }), {
      step: S,
      option: L("frobnicate"),
      value: 1,
      allowedIncludes: "unknown option",
    });
    assert.ok(!e2.allowed.includes("did you mean"));
  });

  for (const [opt, value] of [
    ["cpu", 0],
    ["cpu", -1],
    ["cpu", "lots"],
    ["cpu", Number.NaN],
    ["cpu", 0.0001],
  ] as const)
    it(`rejects cpu ${String(value)}`, () =>
      expectConfigError(bad({ [opt]: value }), { step: S, option: L(opt), value, allowedIncludes: "cores" }));

  for (const opt of ["memory", "disk"] as const) {
    for (const value of [0, -5, "abc", "16XB", Infinity, true])
      it(`rejects ${opt} ${String(value)}`, () =>
        expectConfigError(bad({ [opt]: value }), { step: S, option: L(opt), value, allowedIncludes: "KB, MB, GB" }));
  }

  for (const value of [-1, 1.5, "2", Number.NaN])
    it(`rejects gpu ${String(value)}`, () =>
      expectConfigError(bad({ gpu: value }), {
        step: S,
        option: L("gpu"),
        value,
        allowedIncludes: "whole number of GPUs >= 0",
      }));

  it("rejects an unknown gpuVendor", () =>
    expectConfigError(bad({ gpuVendor: "intel" }), {
      step: S,
      option: L("gpuVendor"),
      value: "intel",
      allowedIncludes: "nvidia, amd",
    }));

  it("rejects a bad gpuResourceName", () => {
    expectConfigError(bad({ gpuResourceName: "gpu" }), {
      step: S,
      option: L("gpuResourceName"),
      value: "gpu",
      allowedIncludes: "nvidia.com/gpu",
    });
    expectConfigError(bad({ gpuResourceName: "kubernetes.io/gpu" }), {
      step: S,
      option: L("gpuResourceName"),
      value: "kubernetes.io/gpu",
      allowedIncludes: "domain prefix",
    });
  });

  it("rejects qos not one of three", () =>
    expectConfigError(bad({ qos: "Premium" }), {
      step: S,
      option: L("qos"),
      value: "Premium",
      allowedIncludes: "Guaranteed, Burstable, BestEffort",
    }));

  it("rejects an unknown imagePullPolicy", () =>
    expectConfigError(bad({ imagePullPolicy: "Sometimes" }), {
      step: S,
      option: L("imagePullPolicy"),
      value: "Sometimes",
      allowedIncludes: "Always, IfNotPresent, Never",
    }));

  it("rejects a bad image", () =>
    expectConfigError(bad({ image: "my image" }), {
      step: S,
      option: L("image"),
      value: "my image",
      allowedIncludes: "without spaces",
    }));

  it("rejects bad names in name lists and names", () => {
    expectConfigError(bad({ secrets: "s3" }), {
      step: S,
      option: L("secrets"),
      value: "s3",
      allowedIncludes: "list of secret names",
    });
    expectConfigError(bad({ secrets: ["ok", "Not_OK"] }), {
      step: S,
      option: L("secrets") + "[1]",
      value: "Not_OK",
      allowedIncludes: "DNS subdomain",
    });
    expectConfigError(bad({ imagePullSecrets: [""] }), {
      step: S,
      option: L("imagePullSecrets") + "[0]",
      value: "",
      allowedIncludes: "DNS subdomain",
    });
    expectConfigError(bad({ namespace: "ML" }), {
      step: S,
      option: L("namespace"),
      value: "ML",
      allowedIncludes: "DNS label",
    });
    expectConfigError(bad({ serviceAccount: "a b" }), {
      step: S,
      option: L("serviceAccount"),
      value: "a b",
      allowedIncludes: "service account name",
    });
    expectConfigError(bad({ computePool: "bad pool" }), {
      step: S,
      option: L("computePool"),
      value: "bad pool",
      allowedIncludes: "pool name",
    });
  });

  it("rejects tolerations with unknown keys, bad operator, bad effect and inconsistent fields", () => {
    const t = (x: unknown) => bad({ tolerations: [x] });
    expectConfigError(t({ key: "a", colour: "red" }), {
      step: S,
      option: L("tolerations") + "[0]",
      value: "colour",
      allowedIncludes: "key, operator, value, effect, tolerationSeconds",
    });
    expectConfigError(t({ key: "a", operator: "In" }), {
      step: S,
      option: L("tolerations") + "[0].operator",
      value: "In",
      allowedIncludes: "Equal, Exists",
    });
    expectConfigError(t({ key: "a", effect: "NoRun" }), {
      step: S,
      option: L("tolerations") + "[0].effect",
      value: "NoRun",
      allowedIncludes: "NoSchedule, PreferNoSchedule, NoExecute",
    });
    expectConfigError(t({ key: "a", operator: "Exists", value: "x" }), {
      step: S,
      option: L("tolerations") + "[0].value",
      value: "x",
      allowedIncludes: "no value",
    });
    expectConfigError(t({ value: "x" }), {
      step: S,
      option: L("tolerations") + "[0]",
      value: { value: "x" },
      allowedIncludes: "operator Exists",
    });
    expectConfigError(t({ key: "bad key" }), {
      step: S,
      option: L("tolerations") + "[0].key",
      value: "bad key",
      allowedIncludes: "invalid toleration key",
    });
    expectConfigError(t({ key: "a", effect: "NoSchedule", tolerationSeconds: 5 }), {
      step: S,
      option: L("tolerations") + "[0].tolerationSeconds",
      value: 5,
      allowedIncludes: "NoExecute",
    });
    expectConfigError(t("gpu"), {
      step: S,
      option: L("tolerations") + "[0]",
      value: "gpu",
      allowedIncludes: "toleration object",
    });
    expectConfigError(bad({ tolerations: { key: "a" } }), {
      step: S,
      option: L("tolerations"),
      value: { key: "a" },
      allowedIncludes: "list of toleration",
    });
  });

  it("rejects node selector strings that do not parse or repeat a key, and bad keys/values", () => {
    expectConfigError(bad({ nodeSelector: "a=1,b" }), {
      step: S,
      option: L("nodeSelector"),
      value: "a=1,b",
      allowedIncludes: "key=value",
    });
    expectConfigError(bad({ nodeSelector: "a=1,a=2" }), {
      step: S,
      option: L("nodeSelector"),
      value: "a=1,a=2",
      allowedIncludes: "given twice",
    });
    expectConfigError(bad({ nodeSelector: { "a b": "1" } }), {
      step: S,
      option: L("nodeSelector") + '["a b"]',
      value: "a b",
      allowedIncludes: "invalid node selector key",
    });
    expectConfigError(bad({ nodeSelector: { a: "x y" } }), {
      step: S,
      option: L("nodeSelector") + '["a"]',
      value: "x y",
      allowedIncludes: "invalid value",
    });
  });

  it("rejects invalid label keys/values and annotation keys", () => {
    expectConfigError(bad({ labels: { "-team": "ml" } }), {
      step: S,
      option: L("labels") + '["-team"]',
      value: "-team",
      allowedIncludes: "invalid label key",
    });
    expectConfigError(bad({ labels: { "Team.COM/x": "ml" } }), {
      step: S,
      option: L("labels") + '["Team.COM/x"]',
      value: "Team.COM/x",
      allowedIncludes: "DNS subdomain",
    });
    expectConfigError(bad({ labels: { team: "x".repeat(64) } }), {
      step: S,
      option: L("labels") + '["team"]',
      value: "x".repeat(64),
      allowedIncludes: "at most 63",
    });
    expectConfigError(bad({ labels: { team: 5 } }), {
      step: S,
      option: L("labels") + '["team"]',
      value: 5,
      allowedIncludes: "must be a string",
    });
    expectConfigError(bad({ annotations: { "a/b/c": "x" } }), {
      step: S,
      option: L("annotations") + '["a/b/c"]',
      value: "a/b/c",
      allowedIncludes: "invalid annotation key",
    });
    expectConfigError(bad({ annotations: { a: 1 } }), {
      step: S,
      option: L("annotations") + '["a"]',
      value: 1,
      allowedIncludes: "strings",
    });
    expectConfigError(bad({ annotations: { a: "x".repeat(300_000) } }), {
      step: S,
      option: L("annotations"),
      value: "300001 bytes",
      allowedIncludes: "262144 bytes",
    });
  });

  it("rejects tmpfsSize and sharedMemory > memory given together", () => {
    expectConfigError(bad({ memory: 1000, tmpfsSize: 1000 }), {
      step: S,
      option: L("tmpfsSize"),
      value: 1000,
      allowedIncludes: "at most memory: 1000 MB",
    });
    expectConfigError(bad({ memory: "1GB", sharedMemory: "1Gi" }), {
      step: S,
      option: L("sharedMemory"),
      value: 1024,
      allowedIncludes: "at most memory",
    });
    assert.doesNotThrow(bad({ memory: 1000, tmpfsSize: 953, sharedMemory: 953 }));
  });

  it("rejects PVC mount paths not absolute or repeated, and bad claim names", () => {
    expectConfigError(bad({ persistentVolumeClaims: { data: "data" } }), {
      step: S,
      option: L("persistentVolumeClaims") + '["data"]',
      value: "data",
      allowedIncludes: "absolute path",
    });
    expectConfigError(bad({ persistentVolumeClaims: { a: "/data", b: "/data/" } }), {
      step: S,
      option: L("persistentVolumeClaims") + '["b"]',
      value: "/data/",
      allowedIncludes: "each mount path once",
    });
    expectConfigError(bad({ persistentVolumeClaims: { Data: "/d" } }), {
      step: S,
      option: L("persistentVolumeClaims") + '["Data"]',
      value: "Data",
      allowedIncludes: "claim name",
    });
    expectConfigError(bad({ persistentVolumeClaims: { a: "/x/../etc" } }), {
      step: S,
      option: L("persistentVolumeClaims") + '["a"]',
      value: "/x/../etc",
      allowedIncludes: "absolute path",
    });
    expectConfigError(bad({ persistentVolumeClaims: { a: "/dev/shm" } }), {
      step: S,
      option: L("persistentVolumeClaims") + '["a"]',
      value: "/dev/shm",
      allowedIncludes: "sharedMemory",
    });
    expectConfigError(bad({ useTmpfs: true, tmpfsPath: "/t", persistentVolumeClaims: { a: "/t" } }), {
      step: S,
      option: L("persistentVolumeClaims") + '["a"]',
      value: "/t",
      allowedIncludes: "tmpfs",
    });
    expectConfigError(bad({ persistentVolumeClaims: ["a"] }), {
      step: S,
      option: L("persistentVolumeClaims"),
      value: ["a"],
      allowedIncludes: "claimName",
    });
  });

  it("rejects bad tmpfs settings", () => {
    expectConfigError(bad({ tmpfsPath: "tmp" }), {
      step: S,
      option: L("tmpfsPath"),
      value: "tmp",
      allowedIncludes: "absolute path",
    });
    expectConfigError(bad({ tmpfsPath: "/" }), {
      step: S,
      option: L("tmpfsPath"),
      value: "/",
      allowedIncludes: "absolute path",
    });
    expectConfigError(bad({ useTmpfs: true, tmpfsPath: "/dev/shm" }), {
      step: S,
      option: L("tmpfsPath"),
      value: "/dev/shm",
      allowedIncludes: "sharedMemory",
    });
    expectConfigError(bad({ useTmpfs: "yes" }), {
      step: S,
      option: L("useTmpfs"),
      value: "yes",
      allowedIncludes: "true or false",
    });
    expectConfigError(bad({ tmpfsSize: 0 }), { step: S, option: L("tmpfsSize"), value: 0, allowedIncludes: "MiB" });
  });

  for (const value of [0, 65536, 80.5, "80"])
    it(`rejects port ${String(value)}`, () =>
      expectConfigError(bad({ port: value }), { step: S, option: L("port"), value, allowedIncludes: "1 to 65535" }));

  it("rejects bad securityContext", () => {
    expectConfigError(bad({ securityContext: { runAsUser: -1 } }), {
      step: S,
      option: L("securityContext") + ".runAsUser",
      value: -1,
      allowedIncludes: "UID/GID",
    });
    expectConfigError(bad({ securityContext: { capabilities: {} } }), {
      step: S,
      option: L("securityContext"),
      value: "capabilities",
      allowedIncludes: "runAsNonRoot",
    });
    expectConfigError(bad({ securityContext: { privileged: "yes" } }), {
      step: S,
      option: L("securityContext") + ".privileged",
      value: "yes",
      allowedIncludes: "true or false",
    });
    expectConfigError(bad({ securityContext: { privileged: true, allowPrivilegeEscalation: false } }), {
      step: S,
      option: L("securityContext"),
      value: { privileged: true, allowPrivilegeEscalation: false },
      allowedIncludes: "cannot be combined",
    });
    expectConfigError(bad({ securityContext: { runAsNonRoot: true, runAsUser: 0 } }), {
      step: S,
      option: L("securityContext"),
      value: { runAsNonRoot: true, runAsUser: 0 },
      allowedIncludes: "root",
    });
  });

  it("rejects a bad hostnameResolutionTimeout", () =>
    expectConfigError(bad({ hostnameResolutionTimeout: 0 }), {
      step: S,
      option: L("hostnameResolutionTimeout"),
      value: 0,
      allowedIncludes: "seconds",
    }));

  it("names the source given (--with)", () =>
    expectConfigError(() => validateKubernetesOptions(S, { cpu: -2 }, "--with kubernetes"), {
      step: S,
      option: "--with kubernetes cpu",
      value: -2,
      allowedIncludes: "cores",
    }));
});
