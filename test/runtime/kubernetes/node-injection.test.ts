/**
 * Bringing Node.js into pods of images without it (issue 13), in the pure parts: which node image and whether to
 * inject (config resolution, every source), the pod parts the builders add (init container, volume, read-only
 * mount, resources and QoS, JobSet templates), and the bad values refused up front.
 */
import { strict as assert } from "node:assert";
import type { KubestepEnvironment } from "../../../runtime/environment.js";
import { parseEnvironment } from "../../../runtime/environment.js";
import {
  parseWithKubernetes,
  resolveKubernetesConfig,
  type KubernetesConfigInput,
} from "../../../runtime/kubernetes/config.js";
import { buildJob, type RunContext } from "../../../runtime/kubernetes/jobspec.js";
import { buildJobSet } from "../../../runtime/kubernetes/jobset.js";
import {
  INJECTED_NODE,
  INJECTED_NODE_DIR,
  NODE_INIT_CONTAINER,
  NODE_VOLUME,
  nodeCopyCommand,
} from "../../../runtime/kubernetes/node-injection.js";
import type { KubernetesOptions } from "../../../runtime/kubernetes/options.js";
import { expectConfigError } from "./helpers.js";

const MAJOR = process.versions.node.split(".")[0];
const DEFAULT_IMAGE = `node:${MAJOR}-slim`;
const CUDA = "nvcr.io/nvidia/cuda:12.4.1-runtime-ubuntu22.04";

const CTX: RunContext = {
  flowName: "TrainFlow",
  runId: "1700000000000",
  stepName: "train",
  taskId: "3",
  attempt: 0,
  user: "alice",
  command: ["sh", "-c", "exec node task.mjs"],
  env: {},
};

const ENVIRONMENT: KubestepEnvironment = parseEnvironment({
  version: 1,
  name: "dev",
  namespace: "ml",
  serviceAccount: "runner",
  datastore: { kind: "s3", root: "s3://bucket/kubestep" },
  image: "registry.example.com/kubestep/node:20",
});

function config(decorator: KubernetesOptions = {}, input: Partial<KubernetesConfigInput> = {}) {
  return resolveKubernetesConfig({ step: "train", env: {}, decorator, ...input });
}
function pod(decorator: KubernetesOptions = {}, input: Partial<KubernetesConfigInput> = {}) {
  const c = config(decorator, input);
  const spec = buildJob(c, CTX).spec!.template.spec!;
  return { config: c, spec, main: spec.containers[0]!, init: spec.initContainers };
}

describe("kubernetes node injection", () => {
  describe("resolution: node image and whether to inject", () => {
    it("no image named: the step runs on the node image, nothing injected", () => {
      const c = config();
      assert.equal(c.image, DEFAULT_IMAGE);
      assert.equal(c.nodeImage, DEFAULT_IMAGE);
      assert.equal(c.injectNode, false);
    });

    it("an image other than the node image: injected (auto), from the default image", () => {
      const c = config({ image: CUDA });
      assert.equal(c.nodeImage, DEFAULT_IMAGE);
      assert.equal(c.injectNode, true);
    });

    it("the node image is the environment's image, or its nodeImage when set", () => {
      assert.equal(config({ image: CUDA }, { environment: ENVIRONMENT }).nodeImage, ENVIRONMENT.image);
      assert.equal(config({}, { environment: ENVIRONMENT }).injectNode, false);
      const env = parseEnvironment({ ...ENVIRONMENT, nodeImage: "registry.example.com/kubestep/node-runtime:20" });
      const c = config({ image: CUDA }, { environment: env });
      assert.equal(c.nodeImage, "registry.example.com/kubestep/node-runtime:20");
      assert.equal(c.injectNode, true);
      // A step without an image runs on the environment's image, which is not its nodeImage: injected.
      assert.equal(config({}, { environment: env }).injectNode, true);
    });

    it("KUBESTEP_KUBERNETES_CONTAINER_IMAGE is the default step image, so it is the node image", () => {
      const env = { KUBESTEP_KUBERNETES_CONTAINER_IMAGE: "localhost/node:20-local" };
      assert.equal(config({}, { env }).injectNode, false);
      const c = config({ image: "localhost/nonode:bookworm-local" }, { env, environment: ENVIRONMENT });
      assert.equal(c.nodeImage, "localhost/node:20-local");
      assert.equal(c.injectNode, true);
    });

    it("nodeImage from @kubernetes, --with and KUBESTEP_KUBERNETES_NODE_IMAGE, in that order", () => {
      const env = { KUBESTEP_KUBERNETES_NODE_IMAGE: "from-env:1" };
      assert.equal(config({ image: CUDA }, { env }).nodeImage, "from-env:1");
      const withOverrides = parseWithKubernetes("kubernetes:nodeImage=from-with:1");
      assert.equal(config({ image: CUDA }, { env, withOverrides }).nodeImage, "from-with:1");
      assert.equal(config({ image: CUDA, nodeImage: "from-deco:1" }, { env, withOverrides }).nodeImage, "from-deco:1");
    });

    it("the registry prefix applies to the node image too", () => {
      const c = config(
        { image: "cuda:12" },
        { env: { KUBESTEP_KUBERNETES_CONTAINER_REGISTRY: "reg.example.com/team" } },
      );
      assert.equal(c.image, "reg.example.com/team/cuda:12");
      assert.equal(c.nodeImage, `reg.example.com/team/${DEFAULT_IMAGE}`);
      assert.equal(c.injectNode, true);
    });

    it("injectNode always / never override the comparison; case-insensitive; from every source", () => {
      assert.equal(config({ injectNode: "always" }).injectNode, true);
      assert.equal(config({ image: CUDA, injectNode: "never" }).injectNode, false);
      assert.equal(config({ image: CUDA, injectNode: "Never" as "never" }).injectNode, false);
      assert.equal(config({ image: CUDA }, { env: { KUBESTEP_KUBERNETES_INJECT_NODE: "never" } }).injectNode, false);
      assert.equal(config({}, { withOverrides: parseWithKubernetes("kubernetes:injectNode=always") }).injectNode, true);
    });

    it("refuses a bad injectNode or nodeImage, naming the step, the option, the value and what is allowed", () => {
      expectConfigError(() => config({ injectNode: "yes" as "always" }), {
        step: "train",
        option: "@kubernetes injectNode",
        value: "yes",
        allowedIncludes: "auto, always, never",
      });
      expectConfigError(() => config({ nodeImage: "node 20" }), {
        step: "train",
        option: "@kubernetes nodeImage",
        value: "node 20",
        allowedIncludes: "image reference without spaces",
      });
      expectConfigError(() => config({}, { env: { KUBESTEP_KUBERNETES_INJECT_NODE: "sometimes" } }), {
        step: "train",
        option: "KUBESTEP_KUBERNETES_INJECT_NODE",
        value: "sometimes",
        allowedIncludes: "auto, always, never",
      });
    });

    it("refuses a tmpfs or a volume mounted where the brought Node.js goes", () => {
      expectConfigError(() => config({ image: CUDA, useTmpfs: true, tmpfsPath: INJECTED_NODE_DIR }), {
        step: "train",
        option: "@kubernetes tmpfsPath",
        value: INJECTED_NODE_DIR,
        allowedIncludes: "used by the Node.js kubestep brings",
      });
      expectConfigError(() => config({ persistentVolumeClaims: { data: INJECTED_NODE_DIR } }), {
        step: "train",
        option: '@kubernetes persistentVolumeClaims["data"]',
        value: INJECTED_NODE_DIR,
        allowedIncludes: "the Node.js kubestep brings (injectNode)",
      });
    });

    it("the environment's nodeImage is validated like its other fields", () => {
      assert.throws(
        () => parseEnvironment({ ...ENVIRONMENT, nodeImage: "" }),
        /nodeImage: expected a non-empty string, got ""/,
      );
    });
  });

  describe("the pod", () => {
    it("without injection: no init container, no node volume", () => {
      const { spec, main } = pod();
      assert.equal(spec.initContainers, undefined);
      assert.equal(spec.volumes, undefined);
      assert.equal(main.volumeMounts, undefined);
    });

    it("with injection: an init container from the node image copies node into an emptyDir mounted read-only", () => {
      const { spec, main, init } = pod({ image: CUDA });
      assert.deepEqual(spec.volumes, [{ name: NODE_VOLUME, emptyDir: {} }]);
      assert.deepEqual(main.volumeMounts, [{ name: NODE_VOLUME, mountPath: INJECTED_NODE_DIR, readOnly: true }]);
      assert.equal(main.image, CUDA);
      assert.deepEqual(main.command, CTX.command);
      assert.equal(init?.length, 1);
      const i = init![0]!;
      assert.equal(i.name, NODE_INIT_CONTAINER);
      assert.equal(i.image, DEFAULT_IMAGE);
      assert.equal(i.imagePullPolicy, undefined); // Kubernetes' default for the node image's tag
      assert.deepEqual(i.command, nodeCopyCommand());
      assert.deepEqual(i.volumeMounts, [{ name: NODE_VOLUME, mountPath: INJECTED_NODE_DIR }]);
      assert.equal(i.env, undefined);
      assert.equal(i.envFrom, undefined);
      assert.equal(INJECTED_NODE, "/kubestep/node/bin/node");
    });

    it("the node volume comes after the user's volumes (tmpfs, /dev/shm, PVCs)", () => {
      const { spec, main } = pod({
        image: CUDA,
        useTmpfs: true,
        sharedMemory: 64,
        persistentVolumeClaims: { data: "/data" },
      });
      assert.deepEqual(
        spec.volumes!.map((v) => v.name),
        ["kubestep-tmpfs", "kubestep-dshm", "pvc-0-data", NODE_VOLUME],
      );
      assert.deepEqual(
        main.volumeMounts!.map((m) => m.mountPath),
        ["/kubestep_temp", "/dev/shm", "/data", INJECTED_NODE_DIR],
      );
    });

    it("the init container gets the step's cpu/memory/disk (no extra cost, same QoS) but never its GPUs", () => {
      const guaranteed = pod({ image: CUDA, qos: "Guaranteed", cpu: 2, memory: 8000, gpu: 1 });
      assert.deepEqual(guaranteed.init![0]!.resources, {
        requests: {
          cpu: "2",
          memory: "8000M",
          "ephemeral-storage": guaranteed.main.resources!.requests!["ephemeral-storage"]!,
        },
        limits: {
          cpu: "2",
          memory: "8000M",
          "ephemeral-storage": guaranteed.main.resources!.limits!["ephemeral-storage"]!,
        },
      });
      assert.equal(guaranteed.main.resources!.limits!["nvidia.com/gpu"], "1");
      const burstable = pod({ image: CUDA, memory: 1000 });
      // Burstable has no memory limit (requests only), so neither has its init container.
      assert.equal(burstable.main.resources!.limits?.memory, undefined);
      assert.equal(burstable.init![0]!.resources!.limits?.memory, undefined);
      assert.equal(burstable.init![0]!.resources!.requests!.memory, "1000M");
      const bestEffort = pod({ image: CUDA, qos: "BestEffort", gpu: 1 });
      assert.equal(bestEffort.init![0]!.resources, undefined);
    });

    it("the init container's image pull policy is the step container's, unset when the step's is", () => {
      for (const policy of ["Always", "IfNotPresent", "Never"] as const) {
        const { main, init } = pod({ image: CUDA, imagePullPolicy: policy });
        assert.equal(main.imagePullPolicy, policy);
        assert.equal(init![0]!.imagePullPolicy, policy, policy);
      }
      const unset = pod({ image: CUDA });
      assert.equal(unset.main.imagePullPolicy, undefined);
      assert.ok(!("imagePullPolicy" in unset.init![0]!));
    });

    it("the init container runs with the step's security context (e.g. non-root under a restricted policy)", () => {
      const { init } = pod({ image: CUDA, securityContext: { runAsUser: 1000, runAsNonRoot: true } });
      assert.deepEqual(init![0]!.securityContext, { runAsUser: 1000, runAsNonRoot: true });
    });

    it("the JobSet's control and worker templates carry the injection too", () => {
      const c = config({ image: CUDA });
      const js = buildJobSet(c, CTX, { numNodes: 3, controlTaskId: "3", workerTaskIds: ["4", "5"] });
      for (const rj of js.spec.replicatedJobs) {
        const spec = rj.template.spec!.template.spec!;
        assert.deepEqual(
          spec.initContainers?.map((x) => [x.name, x.image]),
          [[NODE_INIT_CONTAINER, DEFAULT_IMAGE]],
          rj.name,
        );
        assert.ok(
          spec.volumes?.some((v) => v.name === NODE_VOLUME),
          rj.name,
        );
      }
    });

    it("is deterministic", () => {
      const c = config({ image: CUDA });
      assert.deepEqual(buildJob(c, CTX), buildJob(c, CTX));
    });
  });
});
