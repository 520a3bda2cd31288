import { strict as assert } from "node:assert";
import type { KubestepEnvironment } from "../../../runtime/environment.js";
import { resolveKubernetesConfig, type KubernetesConfigInput } from "../../../runtime/kubernetes/config.js";
import {
  ACTIVE_DEADLINE_GRACE_SECONDS,
  buildJob,
  bytesQuantity,
  cpuQuantity,
  jobLabelSelector,
  jobNameFor,
  type RunContext,
} from "../../../runtime/kubernetes/jobspec.js";
import { isDnsLabel, labelValueProblem } from "../../../runtime/contract/names.js";
import type { KubernetesOptions } from "../../../runtime/kubernetes/options.js";

const CTX: RunContext = {
  flowName: "HelloFlow",
  runId: "1700000000000",
  stepName: "train",
  taskId: "3",
  attempt: 0,
  user: "alice",
  command: ["node", "task.mjs"],
  env: { KUBESTEP_RUN_ID: "1700000000000", FOO: "bar" },
};

function job(
  decorator: KubernetesOptions = {},
  ctx: Partial<RunContext> = {},
  input: Partial<KubernetesConfigInput> = {},
) {
  const config = resolveKubernetesConfig({ step: "train", env: {}, decorator, ...input });
  const j = buildJob(config, { ...CTX, ...ctx });
  const pod = j.spec!.template.spec!;
  const c = pod.containers[0]!;
  const env = Object.fromEntries((c.env ?? []).map((e) => [e.name, e.value ?? e.valueFrom]));
  return { j, pod, c, env, config };
}

describe("kubernetes Job spec", () => {
  it("is a batch/v1 Job with backoffLimit 0, restartPolicy Never, TTL and one container", () => {
    const { j, pod, c } = job();
    assert.equal(j.apiVersion, "batch/v1");
    assert.equal(j.kind, "Job");
    assert.equal(j.metadata!.namespace, "default");
    assert.equal(j.spec!.backoffLimit, 0);
    assert.equal(j.spec!.ttlSecondsAfterFinished, 604800);
    assert.equal(j.spec!.activeDeadlineSeconds, undefined);
    assert.equal(pod.restartPolicy, "Never");
    assert.equal(pod.containers.length, 1);
    assert.equal(c.name, "kubestep");
    assert.deepEqual(c.command, ["node", "task.mjs"]);
    assert.equal(c.image, `node:${process.versions.node.split(".")[0]}-slim`);
    assert.equal("imagePullPolicy" in c, false, "no imagePullPolicy: Kubernetes decides");
    for (const absent of ["serviceAccountName", "imagePullSecrets", "nodeSelector", "tolerations", "volumes"] as const)
      assert.equal(pod[absent], undefined, absent);
    for (const absent of ["envFrom", "volumeMounts", "ports", "securityContext"] as const)
      assert.equal(c[absent], undefined, absent);
  });

  it("is deterministic", () => {
    assert.deepEqual(job({ cpu: 2 }).j, job({ cpu: 2 }).j);
  });

  it("sets activeDeadlineSeconds from the timeout plus the scheduling grace", () => {
    assert.equal(
      job({}, {}, { timeoutSeconds: 600 }).j.spec!.activeDeadlineSeconds,
      600 + ACTIVE_DEADLINE_GRACE_SECONDS,
    );
    assert.equal(
      job({}, { timeoutSeconds: 90.5 }, { timeoutSeconds: 600 }).j.spec!.activeDeadlineSeconds,
      91 + ACTIVE_DEADLINE_GRACE_SECONDS,
    );
  });

  it("takes the TTL from KUBESTEP_KUBERNETES_JOB_TTL_SECONDS_AFTER_FINISHED", () => {
    assert.equal(
      job({}, {}, { env: { KUBESTEP_KUBERNETES_JOB_TTL_SECONDS_AFTER_FINISHED: "60" } }).j.spec!
        .ttlSecondsAfterFinished,
      60,
    );
  });

  describe("name", () => {
    it("is a deterministic DNS-1123 label <= 63, unique per run/step/task/attempt", () => {
      const names = new Set<string>();
      for (const over of [
        {},
        { runId: "2" },
        { stepName: "eval" },
        { taskId: "4" },
        { attempt: 1 },
        { flowName: "Other" },
      ]) {
        const n = jobNameFor({ ...CTX, ...over });
        assert.ok(isDnsLabel(n), n);
        assert.equal(jobNameFor({ ...CTX, ...over }), n);
        names.add(n);
      }
      assert.equal(names.size, 6);
      assert.match(jobNameFor(CTX), /^ks-helloflow-train-0-[0-9a-f]{10}$/);
      const long = jobNameFor({ ...CTX, flowName: "A".repeat(200), stepName: "_" + "b".repeat(200), attempt: 100 });
      assert.ok(isDnsLabel(long) && long.length <= 63, long);
      const weird = jobNameFor({ ...CTX, flowName: "日本", stepName: "__" });
      assert.ok(isDnsLabel(weird), weird);
    });
    it("uses ctx.jobName when given, and rejects an invalid one", () => {
      assert.equal(job({}, { jobName: "my-job" }).j.metadata!.name, "my-job");
      assert.throws(() => job({}, { jobName: "My_Job" }), /DNS-1123/);
    });
  });

  describe("labels and annotations", () => {
    it("sets system labels (sanitized) and exact values as annotations on Job and pod", () => {
      const { j } = job({}, { user: "alice@example.com", runId: "run:42" });
      const labels = j.metadata!.labels!;
      assert.equal(labels["app.kubernetes.io/name"], "kubestep-task");
      assert.equal(labels["app.kubernetes.io/part-of"], "kubestep");
      assert.equal(labels["kubestep.io/flow"], "HelloFlow");
      assert.equal(labels["kubestep.io/step"], "train");
      assert.equal(labels["kubestep.io/task"], "3");
      assert.equal(labels["kubestep.io/attempt"], "0");
      assert.match(labels["kubestep.io/user"]!, /^alice-example\.com-[0-9a-f]{8}$/);
      assert.match(labels["kubestep.io/run"]!, /^run-42-[0-9a-f]{8}$/);
      for (const v of Object.values(labels)) assert.equal(labelValueProblem(v), undefined);
      const ann = j.metadata!.annotations!;
      assert.equal(ann["kubestep.io/user"], "alice@example.com");
      assert.equal(ann["kubestep.io/run"], "run:42");
      assert.equal(ann["kubestep.io/flow"], "HelloFlow");
      assert.deepEqual(j.spec!.template.metadata!.labels, labels);
      assert.deepEqual(j.spec!.template.metadata!.annotations, ann);
    });
    it("merges user and environment labels/annotations, system ones winning", () => {
      const environment: KubestepEnvironment = {
        version: 1,
        name: "dev",
        namespace: "ml",
        serviceAccount: "runner",
        datastore: { kind: "local", root: "/d" },
        image: "img:1",
        imagePullSecrets: [],
        defaults: {},
        podLabels: { "azure.workload.identity/use": "true" },
        podAnnotations: { "env/a": "1" },
        gpuPools: [],
      };
      const { j } = job(
        {
          labels: { team: "ml", "kubestep.io/flow": "spoof" },
          annotations: { note: "hi", "kubestep.io/user": "mallory" },
        },
        {},
        { environment },
      );
      const labels = j.metadata!.labels!;
      assert.equal(labels.team, "ml");
      assert.equal(labels["azure.workload.identity/use"], "true");
      assert.equal(labels["kubestep.io/flow"], "HelloFlow");
      const ann = j.spec!.template.metadata!.annotations!;
      assert.equal(ann.note, "hi");
      assert.equal(ann["env/a"], "1");
      assert.equal(ann["kubestep.io/user"], "alice");
    });
    it("builds label selectors for listing and killing", () => {
      assert.equal(jobLabelSelector(), "app.kubernetes.io/part-of=kubestep,app.kubernetes.io/name=kubestep-task");
      assert.equal(
        jobLabelSelector({ runId: "42", user: "alice@example.com" }),
        `app.kubernetes.io/part-of=kubestep,app.kubernetes.io/name=kubestep-task,kubestep.io/run=42,kubestep.io/user=${job({}, { user: "alice@example.com" }).j.metadata!.labels!["kubestep.io/user"]}`,
      );
      assert.match(jobLabelSelector({ flowName: "F", stepName: "s" }), /kubestep\.io\/flow=F,kubestep\.io\/step=s$/);
    });
  });

  describe("env", () => {
    it("sets the workload flag, the downward API variables and the run context", () => {
      const { env, c } = job({}, {}, {});
      assert.equal(env.KUBESTEP_KUBERNETES_WORKLOAD, "1");
      assert.deepEqual(env.KUBESTEP_KUBERNETES_POD_NAME, { fieldRef: { fieldPath: "metadata.name" } });
      assert.deepEqual(env.KUBESTEP_KUBERNETES_POD_NAMESPACE, { fieldRef: { fieldPath: "metadata.namespace" } });
      assert.deepEqual(env.KUBESTEP_KUBERNETES_POD_ID, { fieldRef: { fieldPath: "metadata.uid" } });
      assert.deepEqual(env.KUBESTEP_KUBERNETES_NODE_IP, { fieldRef: { fieldPath: "status.hostIP" } });
      assert.deepEqual(env.KUBESTEP_KUBERNETES_SERVICE_ACCOUNT_NAME, {
        fieldRef: { fieldPath: "spec.serviceAccountName" },
      });
      assert.equal(env.KUBESTEP_HOSTNAME_RESOLUTION_TIMEOUT, "600");
      assert.equal(env.KUBESTEP_RUN_ID, "1700000000000");
      assert.equal(env.FOO, "bar");
      assert.equal(env.KUBESTEP_TEMPDIR, undefined);
      const names = c.env!.map((e) => e.name);
      assert.equal(new Set(names).size, names.length, "no duplicate names");
    });
    it("system variables win over the run context's", () => {
      const { env, c } = job({}, { env: { KUBESTEP_KUBERNETES_WORKLOAD: "0", X: "1" } });
      assert.equal(env.KUBESTEP_KUBERNETES_WORKLOAD, "1");
      assert.equal(c.env!.filter((e) => e.name === "KUBESTEP_KUBERNETES_WORKLOAD").length, 1);
    });
    it("rejects a bad run context", () => {
      assert.throws(() => job({}, { env: { "1BAD": "x" } }), /valid variable name/);
      assert.throws(() => job({}, { command: [] }), /command/);
      assert.throws(() => job({}, { attempt: -1 }), /attempt/);
    });
  });

  describe("resources", () => {
    it("Burstable (default): requests without a memory limit, as Metaflow", () => {
      assert.deepEqual(job().c.resources, {
        requests: { cpu: "1", memory: "4096M", "ephemeral-storage": "10240M" },
      });
      assert.deepEqual(job({ qos: "Burstable", memory: "2Gi" }).c.resources, {
        requests: { cpu: "1", memory: "2048Mi", "ephemeral-storage": "10240M" },
      });
    });
    it("Burstable with the environment's memoryLimitFactor: a memory limit of factor x the request", () => {
      const environment = (memoryLimitFactor: number, qos?: "Guaranteed" | "BestEffort"): KubestepEnvironment => ({
        version: 1,
        name: "dev",
        namespace: "ml",
        serviceAccount: "runner",
        datastore: { kind: "local", root: "/d" },
        image: "img:1",
        imagePullSecrets: [],
        defaults: { memoryLimitFactor, ...(qos ? { qos } : {}) },
        podLabels: {},
        podAnnotations: {},
        gpuPools: [],
      });
      assert.deepEqual(job({ memory: 4000 }, {}, { environment: environment(1.5) }).c.resources, {
        requests: { cpu: "1", memory: "4000M", "ephemeral-storage": "10240M" },
        limits: { memory: "6000M" },
      });
      // Factor 1: the limit is the request exactly, whatever the unit.
      assert.deepEqual(job({ memory: "512Mi" }, {}, { environment: environment(1) }).c.resources!.limits, {
        memory: "512Mi",
      });
      // Guaranteed and BestEffort ignore it.
      assert.deepEqual(job({ qos: "Guaranteed", memory: 1000 }, {}, { environment: environment(2) }).c.resources, {
        requests: { cpu: "1", memory: "1000M", "ephemeral-storage": "10240M" },
        limits: { cpu: "1", memory: "1000M", "ephemeral-storage": "10240M" },
      });
      assert.deepEqual(job({}, {}, { environment: environment(2, "BestEffort") }).c.resources, {});
      assert.equal(job({ qos: "Guaranteed" }, {}, { environment: environment(2) }).config.memoryLimitFactor, undefined);
    });
    it("Guaranteed: limits = requests", () => {
      assert.deepEqual(job({ qos: "Guaranteed", cpu: 0.5, memory: "2Gi", disk: "1GB" }).c.resources, {
        requests: { cpu: "500m", memory: "2048Mi", "ephemeral-storage": "1000M" },
        limits: { cpu: "500m", memory: "2048Mi", "ephemeral-storage": "1000M" },
      });
    });
    it("BestEffort: none", () => {
      assert.deepEqual(job({ qos: "BestEffort" }).c.resources, {});
    });
    it("GPUs go to limits under the vendor's or custom resource name, only when gpu > 0", () => {
      assert.equal(job({ gpu: 2 }).c.resources!.limits!["nvidia.com/gpu"], "2");
      assert.equal(job({ gpu: 1, gpuVendor: "amd" }).c.resources!.limits!["amd.com/gpu"], "1");
      assert.equal(
        job({ gpu: 1, gpuResourceName: "nvidia.com/mig-1g.5gb" }).c.resources!.limits!["nvidia.com/mig-1g.5gb"],
        "1",
      );
      assert.deepEqual(job({ gpu: 1, qos: "BestEffort" }).c.resources, { limits: { "nvidia.com/gpu": "1" } });
      // gpuResourceName alone: one GPU of it.
      assert.deepEqual(job({ gpuResourceName: "nvidia.com/mig-1g.5gb" }).c.resources!.limits, {
        "nvidia.com/mig-1g.5gb": "1",
      });
      for (const gpu of [0, undefined]) {
        const r = job(gpu === undefined ? {} : { gpu }).c.resources!;
        assert.equal(r.limits, undefined);
        assert.deepEqual(Object.keys(r.requests!).sort(), ["cpu", "ephemeral-storage", "memory"]);
      }
    });
    it("formats quantities", () => {
      assert.equal(cpuQuantity(2), "2");
      assert.equal(cpuQuantity(0.25), "250m");
      assert.equal(cpuQuantity(1.0005), "1001m");
      assert.equal(bytesQuantity(512 * 2 ** 20), "512Mi");
      assert.equal(bytesQuantity(16e9), "16000M");
      assert.equal(bytesQuantity(1500), "1500");
    });
  });

  describe("volumes", () => {
    it("tmpfs: emptyDir Memory with sizeLimit at tmpfsPath, and KUBESTEP_TEMPDIR", () => {
      const { pod, c, env } = job({ useTmpfs: true, tmpfsSize: 256 });
      assert.deepEqual(pod.volumes, [{ name: "kubestep-tmpfs", emptyDir: { medium: "Memory", sizeLimit: "256Mi" } }]);
      assert.deepEqual(c.volumeMounts, [{ name: "kubestep-tmpfs", mountPath: "/kubestep_temp" }]);
      assert.equal(env.KUBESTEP_TEMPDIR, "/kubestep_temp");
    });
    it("tmpfs without tempdir, custom path, default size", () => {
      const { pod, c, env } = job({ useTmpfs: true, tmpfsTempdir: false, tmpfsPath: "/scratch", memory: 2048 });
      assert.deepEqual(pod.volumes, [
        { name: "kubestep-tmpfs", emptyDir: { medium: "Memory", sizeLimit: `${Math.floor(2048e6 / 2 ** 20 / 2)}Mi` } },
      ]);
      assert.deepEqual(c.volumeMounts, [{ name: "kubestep-tmpfs", mountPath: "/scratch" }]);
      assert.equal(env.KUBESTEP_TEMPDIR, undefined);
    });
    it("sharedMemory: emptyDir Memory at /dev/shm", () => {
      const { pod, c } = job({ sharedMemory: 1024 });
      assert.deepEqual(pod.volumes, [{ name: "kubestep-dshm", emptyDir: { medium: "Memory", sizeLimit: "1024Mi" } }]);
      assert.deepEqual(c.volumeMounts, [{ name: "kubestep-dshm", mountPath: "/dev/shm" }]);
    });
    it("PVCs: one volume and mount each, with valid volume names", () => {
      const { pod, c } = job({ persistentVolumeClaims: { data: "/data", "models.v2": "/models" } });
      assert.deepEqual(pod.volumes, [
        { name: "pvc-0-data", persistentVolumeClaim: { claimName: "data" } },
        { name: "pvc-1-models-v2", persistentVolumeClaim: { claimName: "models.v2" } },
      ]);
      assert.deepEqual(c.volumeMounts, [
        { name: "pvc-0-data", mountPath: "/data" },
        { name: "pvc-1-models-v2", mountPath: "/models" },
      ]);
      for (const v of pod.volumes!) assert.ok(isDnsLabel(v.name));
    });
  });

  describe("pod settings", () => {
    it("secrets become envFrom secretRefs", () => {
      assert.deepEqual(job({ secrets: ["s3-creds", "api"] }).c.envFrom, [
        { secretRef: { name: "s3-creds" } },
        { secretRef: { name: "api" } },
      ]);
    });
    it("imagePullSecrets, serviceAccountName, namespace, image, imagePullPolicy", () => {
      const { pod, c, j } = job({
        imagePullSecrets: ["regcred"],
        serviceAccount: "runner",
        namespace: "ml",
        image: "r.io/x:1",
        imagePullPolicy: "Never",
      });
      assert.deepEqual(pod.imagePullSecrets, [{ name: "regcred" }]);
      assert.equal(pod.serviceAccountName, "runner");
      assert.equal(j.metadata!.namespace, "ml");
      assert.equal(c.image, "r.io/x:1");
      assert.equal(c.imagePullPolicy, "Never");
    });
    it("securityContext on the container", () => {
      const sc = {
        runAsUser: 1000,
        runAsGroup: 2000,
        runAsNonRoot: true,
        allowPrivilegeEscalation: false,
        privileged: false,
      };
      assert.deepEqual(job({ securityContext: sc }).c.securityContext, sc);
    });
    it("containerPort for port", () => {
      assert.deepEqual(job({ port: 8080 }).c.ports, [{ containerPort: 8080, protocol: "TCP" }]);
    });
    it("nodeSelector, computePool and tolerations", () => {
      const { pod } = job({
        nodeSelector: "disk=ssd",
        computePool: "big",
        tolerations: [{ key: "spot", operator: "Exists", effect: "NoSchedule" }],
      });
      assert.deepEqual(pod.nodeSelector, { disk: "ssd", "kubestep.io/compute-pool": "big" });
      assert.deepEqual(pod.tolerations, [{ key: "spot", operator: "Exists", effect: "NoSchedule" }]);
    });
    it("GPU pool taints and labels when gpu > 0", () => {
      const environment: KubestepEnvironment = {
        version: 1,
        name: "dev",
        namespace: "ml",
        serviceAccount: "runner",
        datastore: { kind: "local", root: "/d" },
        image: "img:1",
        imagePullSecrets: [],
        defaults: {},
        podLabels: {},
        podAnnotations: {},
        gpuPools: [
          {
            name: "a100",
            vendor: "nvidia",
            resourceName: "nvidia.com/gpu",
            nodeLabels: { "kubestep.io/gpu-pool": "a100" },
            taints: [{ key: "nvidia.com/gpu", value: "true", effect: "NoSchedule" }],
          },
        ],
      };
      const { pod } = job({ gpu: 1 }, {}, { environment });
      assert.deepEqual(pod.nodeSelector, { "kubestep.io/gpu-pool": "a100" });
      assert.deepEqual(pod.tolerations, [
        { key: "nvidia.com/gpu", operator: "Equal", value: "true", effect: "NoSchedule" },
      ]);
      const none = job({ gpu: 0 }, {}, { environment }).pod;
      assert.equal(none.nodeSelector, undefined);
      assert.equal(none.tolerations, undefined);
    });
    it("hostnameResolutionTimeout goes to the environment", () => {
      assert.equal(job({ hostnameResolutionTimeout: 30 }).env.KUBESTEP_HOSTNAME_RESOLUTION_TIMEOUT, "30");
    });
  });
});
