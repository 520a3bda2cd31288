import { strict as assert } from "node:assert";
import type { V1Container, V1EnvVar, V1JobTemplateSpec } from "@kubernetes/client-node";
import { resolveKubernetesConfig } from "../../../runtime/kubernetes/config.js";
import {
  buildJob,
  jobLabelSelector,
  jobNameFor,
  LABEL_KEYS,
  type RunContext,
} from "../../../runtime/kubernetes/jobspec.js";
import {
  buildJobSet,
  COMPLETION_INDEX_ANNOTATION,
  controlHostname,
  JOBSET_API_VERSION,
  jobSetNameFor,
  MAX_JOBSET_NAME_LENGTH,
  PARALLEL_ROLE_LABEL,
  WORKER_TASKS_ANNOTATION,
  type JobSet,
  type ParallelGang,
} from "../../../runtime/kubernetes/jobset.js";
import { PARALLEL_ENV, parallelNodeFromEnv } from "../../../runtime/exec/gang.js";
import { isDnsLabel, labelValueProblem } from "../../../runtime/contract/names.js";
import type { KubernetesOptions } from "../../../runtime/kubernetes/options.js";

const CTX: RunContext = {
  flowName: "TrainFlow",
  runId: "1700000000000",
  stepName: "train",
  taskId: "5",
  attempt: 0,
  user: "alice",
  command: ["node", "task.mjs"],
  env: { KUBESTEP_RUN_ID: "1700000000000", FOO: "bar" },
};
const GANG: ParallelGang = { numNodes: 4, controlTaskId: "5", workerTaskIds: ["6", "7", "8"] };

function build(
  decorator: KubernetesOptions = {},
  ctx: Partial<RunContext> = {},
  gang: ParallelGang = GANG,
  env: Record<string, string> = {},
) {
  const config = resolveKubernetesConfig({ step: "train", env, decorator });
  const js = buildJobSet(config, { ...CTX, ...ctx }, gang);
  const byName = Object.fromEntries(js.spec.replicatedJobs.map((r) => [r.name, r]));
  const control = byName.control!,
    worker = byName.worker!;
  const container = (t: V1JobTemplateSpec): V1Container => t.spec!.template.spec!.containers[0]!;
  const envOf = (t: V1JobTemplateSpec) =>
    Object.fromEntries((container(t).env ?? []).map((e: V1EnvVar) => [e.name, e.value ?? e.valueFrom]));
  return {
    js,
    config,
    control,
    worker,
    container,
    controlEnv: envOf(control.template),
    workerEnv: envOf(worker.template),
  };
}

/** The DNS-1035 rule the JobSet webhook applies to the subdomain and to generated Job and pod names. */
const isDns1035 = (s: string) => s.length <= 63 && /^[a-z]([-a-z0-9]*[a-z0-9])?$/.test(s);

describe("JobSet spec (jobset.x-k8s.io/v1alpha2)", () => {
  it("is a jobset.x-k8s.io/v1alpha2 JobSet in the config's namespace", () => {
    const { js } = build({ namespace: "ml" });
    assert.equal(js.apiVersion, "jobset.x-k8s.io/v1alpha2");
    assert.equal(JOBSET_API_VERSION, "jobset.x-k8s.io/v1alpha2");
    assert.equal(js.kind, "JobSet");
    assert.equal(js.metadata.namespace, "ml");
    assert.equal(js.status, undefined);
    assert.deepEqual(Object.keys(js.spec).sort(), [
      "failurePolicy",
      "network",
      "replicatedJobs",
      "successPolicy",
      "ttlSecondsAfterFinished",
    ]);
  });

  it("has exactly two replicated jobs: control (1 Job x 1 pod) and worker (1 Indexed Job x N-1 pods)", () => {
    const { js, control, worker } = build();
    assert.deepEqual(
      js.spec.replicatedJobs.map((r) => r.name),
      ["control", "worker"],
    );
    for (const r of js.spec.replicatedJobs) assert.deepEqual(Object.keys(r).sort(), ["name", "replicas", "template"]);
    assert.equal(control.replicas, 1);
    assert.equal(control.template.spec!.parallelism, 1);
    assert.equal(control.template.spec!.completions, 1);
    assert.equal(control.template.spec!.completionMode, "Indexed");
    assert.equal(worker.replicas, 1);
    assert.equal(worker.template.spec!.parallelism, 3);
    assert.equal(worker.template.spec!.completions, 3);
    assert.equal(worker.template.spec!.completionMode, "Indexed");
  });

  it("a 2-node gang has one worker pod", () => {
    const { worker, workerEnv } = build({}, {}, { numNodes: 2, controlTaskId: "1", workerTaskIds: ["2"] });
    assert.equal(worker.template.spec!.parallelism, 1);
    assert.equal(worker.template.spec!.completions, 1);
    assert.equal(workerEnv[PARALLEL_ENV.numNodes], "2");
    assert.equal(workerEnv[PARALLEL_ENV.workerTaskIds], '["2"]');
  });

  it("network: DNS hostnames on, subdomain = the JobSet name (a DNS-1035 label)", () => {
    const { js } = build();
    assert.deepEqual(js.spec.network, { enableDNSHostnames: true, subdomain: js.metadata.name });
    assert.ok(isDns1035(js.spec.network.subdomain));
  });

  it("success when the control replicated job succeeds; no restarts on failure", () => {
    const { js } = build();
    assert.deepEqual(js.spec.successPolicy, { operator: "All", targetReplicatedJobs: ["control"] });
    assert.deepEqual(js.spec.failurePolicy, { maxRestarts: 0 });
  });

  it("the JobSet carries the Job TTL; the child Job templates carry none", () => {
    const { js, control, worker } = build({}, {}, GANG, { KUBESTEP_KUBERNETES_JOB_TTL_SECONDS_AFTER_FINISHED: "120" });
    assert.equal(js.spec.ttlSecondsAfterFinished, 120);
    assert.equal(build().js.spec.ttlSecondsAfterFinished, 7 * 24 * 3600);
    for (const t of [control.template, worker.template]) assert.equal(t.spec!.ttlSecondsAfterFinished, undefined);
  });

  it("child Jobs fail on the first pod failure: backoffLimit 0, restartPolicy Never", () => {
    const { control, worker } = build();
    for (const t of [control.template, worker.template]) {
      assert.equal(t.spec!.backoffLimit, 0);
      assert.equal(t.spec!.template.spec!.restartPolicy, "Never");
    }
  });

  it("keeps the @timeout backstop (activeDeadlineSeconds) of buildJob on both templates", () => {
    const config = resolveKubernetesConfig({ step: "train", env: {}, timeoutSeconds: 600 });
    const js = buildJobSet(config, CTX, GANG);
    const want = buildJob(config, CTX).spec!.activeDeadlineSeconds;
    assert.ok(want !== undefined);
    for (const r of js.spec.replicatedJobs) assert.equal(r.template.spec!.activeDeadlineSeconds, want);
  });

  it("templates have no name or namespace (JobSet names the child Jobs)", () => {
    const { control, worker } = build();
    for (const t of [control.template, worker.template]) {
      assert.equal(t.metadata!.name, undefined);
      assert.equal(t.metadata!.namespace, undefined);
    }
  });

  describe("pod templates come from buildJob", () => {
    it("same image, command, resources, volumes and buildJob env as the control Job of buildJob", () => {
      const decorator: KubernetesOptions = {
        cpu: 2,
        memory: 8000,
        useTmpfs: true,
        sharedMemory: 1024,
        secrets: ["s3"],
        port: 29500,
        image: "localhost/node:20-local",
      };
      const { control, worker, config, container } = build(decorator);
      const job = buildJob(config, CTX);
      const jc = job.spec!.template.spec!.containers[0]!;
      for (const t of [control.template, worker.template]) {
        const c = container(t);
        const pod = t.spec!.template.spec!;
        assert.equal(c.image, "localhost/node:20-local");
        assert.deepEqual(c.command, ["node", "task.mjs"]);
        assert.deepEqual(c.resources, jc.resources);
        assert.deepEqual(c.envFrom, [{ secretRef: { name: "s3" } }]);
        assert.deepEqual(c.volumeMounts, jc.volumeMounts);
        assert.deepEqual(pod.volumes, job.spec!.template.spec!.volumes);
        const names = c.env!.map((e) => e.name);
        for (const e of jc.env!) assert.ok(names.includes(e.name), `env ${e.name} from buildJob`);
        assert.equal(names.length, new Set(names).size, "no duplicate env names");
      }
    });

    it("exposes config.port as the containerPort on every pod", () => {
      const { control, worker, container } = build({ port: 29500 });
      for (const t of [control.template, worker.template])
        assert.deepEqual(container(t).ports, [{ containerPort: 29500, protocol: "TCP" }]);
      const none = build();
      assert.equal(none.container(none.control.template).ports, undefined);
    });

    it("passes hostnameResolutionTimeout as KUBESTEP_HOSTNAME_RESOLUTION_TIMEOUT", () => {
      const { controlEnv, workerEnv } = build({ hostnameResolutionTimeout: 120 });
      assert.equal(controlEnv.KUBESTEP_HOSTNAME_RESOLUTION_TIMEOUT, "120");
      assert.equal(workerEnv.KUBESTEP_HOSTNAME_RESOLUTION_TIMEOUT, "120");
      assert.equal(build().workerEnv.KUBESTEP_HOSTNAME_RESOLUTION_TIMEOUT, "600");
    });

    it("keeps the run's env", () => {
      const { controlEnv, workerEnv } = build();
      for (const e of [controlEnv, workerEnv]) {
        assert.equal(e.FOO, "bar");
        assert.equal(e.KUBESTEP_RUN_ID, "1700000000000");
      }
    });
  });

  describe("gang env", () => {
    it("every pod gets the control's stable hostname, N, and the task ids", () => {
      const { js, controlEnv, workerEnv } = build();
      const name = js.metadata.name!;
      for (const e of [controlEnv, workerEnv]) {
        assert.equal(e[PARALLEL_ENV.mainIp], `${name}-control-0-0.${name}`);
        assert.equal(e.KUBESTEP_PARALLEL_MAIN_IP, controlHostname(name));
        assert.equal(e.KUBESTEP_PARALLEL_NUM_NODES, "4");
        assert.equal(e.KUBESTEP_PARALLEL_CONTROL_TASK_ID, "5");
        assert.equal(e.KUBESTEP_PARALLEL_WORKER_TASK_IDS, '["6","7","8"]');
      }
    });

    it("control: node index 0, no worker index", () => {
      const { controlEnv } = build();
      assert.equal(controlEnv.KUBESTEP_PARALLEL_NODE_INDEX, "0");
      assert.equal(controlEnv.KUBESTEP_PARALLEL_WORKER_INDEX, undefined);
    });

    it("workers: worker index from the completion index annotation (downward API), no fixed node index", () => {
      const { workerEnv } = build();
      assert.deepEqual(workerEnv.KUBESTEP_PARALLEL_WORKER_INDEX, {
        fieldRef: { fieldPath: "metadata.annotations['batch.kubernetes.io/job-completion-index']" },
      });
      assert.equal(COMPLETION_INDEX_ANNOTATION, "batch.kubernetes.io/job-completion-index");
      assert.equal(workerEnv.KUBESTEP_PARALLEL_NODE_INDEX, undefined);
    });

    it("gang variables win over same-named variables of the run env", () => {
      const { controlEnv } = build(
        {},
        { env: { KUBESTEP_PARALLEL_NUM_NODES: "99", KUBESTEP_PARALLEL_MAIN_IP: "1.2.3.4" } },
      );
      assert.equal(controlEnv.KUBESTEP_PARALLEL_NUM_NODES, "4");
      assert.notEqual(controlEnv.KUBESTEP_PARALLEL_MAIN_IP, "1.2.3.4");
    });
  });

  describe("labels and annotations", () => {
    it("JobSet, both Job templates and both pod templates carry the run's system and user labels", () => {
      const { js, control, worker } = build({ labels: { team: "ml" } });
      const metas = [
        js.metadata,
        control.template.metadata!,
        control.template.spec!.template.metadata!,
        worker.template.metadata!,
        worker.template.spec!.template.metadata!,
      ];
      for (const m of metas) {
        assert.equal(m.labels![LABEL_KEYS.run], "1700000000000");
        assert.equal(m.labels![LABEL_KEYS.flow], "TrainFlow");
        assert.equal(m.labels![LABEL_KEYS.step], "train");
        assert.equal(m.labels![LABEL_KEYS.user], "alice");
        assert.equal(m.labels![LABEL_KEYS.attempt], "0");
        assert.equal(m.labels!["app.kubernetes.io/part-of"], "kubestep");
        assert.equal(m.labels!["app.kubernetes.io/name"], "kubestep-task");
        assert.equal(m.labels!.team, "ml");
        for (const [k, v] of Object.entries(m.labels!))
          assert.equal(labelValueProblem(v), undefined, `label ${k}=${v}`);
      }
    });

    it("the run's label selector (list/kill) matches every object", () => {
      const { js, control, worker } = build();
      const selector = jobLabelSelector({
        runId: CTX.runId,
        user: CTX.user,
        flowName: CTX.flowName,
        stepName: CTX.stepName,
      });
      const reqs = selector.split(",").map((kv) => kv.split("=") as [string, string]);
      for (const m of [
        js.metadata,
        control.template.spec!.template.metadata!,
        worker.template.spec!.template.metadata!,
      ])
        for (const [k, v] of reqs) assert.equal(m.labels![k], v, `${k}`);
    });

    it("control objects are labelled with the control task; worker templates carry no task label but list the worker tasks", () => {
      const { js, control, worker } = build({}, { taskId: "ignored" });
      assert.equal(js.metadata.labels![LABEL_KEYS.task], "5");
      assert.equal(js.metadata.annotations![LABEL_KEYS.task], "5");
      for (const m of [control.template.metadata!, control.template.spec!.template.metadata!]) {
        assert.equal(m.labels![LABEL_KEYS.task], "5");
        assert.equal(m.labels![PARALLEL_ROLE_LABEL], "control");
        assert.equal(m.annotations![WORKER_TASKS_ANNOTATION], undefined);
      }
      for (const m of [worker.template.metadata!, worker.template.spec!.template.metadata!]) {
        assert.equal(m.labels![LABEL_KEYS.task], undefined);
        assert.equal(m.annotations![LABEL_KEYS.task], undefined);
        assert.equal(m.labels![PARALLEL_ROLE_LABEL], "worker");
        assert.equal(m.annotations![WORKER_TASKS_ANNOTATION], '["6","7","8"]');
      }
    });

    it("user annotations reach every template", () => {
      const { control, worker } = build({ annotations: { "example.com/owner": "ml" } });
      for (const t of [control.template, worker.template]) {
        assert.equal(t.metadata!.annotations!["example.com/owner"], "ml");
        assert.equal(t.spec!.template.metadata!.annotations!["example.com/owner"], "ml");
      }
    });
  });

  describe("names", () => {
    it("deterministic, unique per run/step/control task/attempt, distinct from Job names", () => {
      const names = new Set<string>();
      for (const [over, ctrl] of [
        [{}, "5"],
        [{ runId: "2" }, "5"],
        [{ stepName: "eval" }, "5"],
        [{}, "9"],
        [{ attempt: 1 }, "5"],
        [{ flowName: "Other" }, "5"],
      ] as const) {
        const n = jobSetNameFor({ ...CTX, ...over }, ctrl);
        assert.equal(n, jobSetNameFor({ ...CTX, ...over }, ctrl));
        names.add(n);
      }
      assert.equal(names.size, 6);
      assert.notEqual(jobSetNameFor(CTX, "5"), jobNameFor({ ...CTX, taskId: "5" }));
      assert.equal(build().js.metadata.name, jobSetNameFor(CTX, "5"));
      assert.deepEqual(build().js, build().js);
    });

    it("long and odd names stay DNS-1035 and short enough for every generated Job, pod and hostname", () => {
      const odd = {
        flowName: "Ä".repeat(10) + "A".repeat(120) + "Flow",
        stepName: "_step_" + "x".repeat(80),
        runId: "run/2024:01",
        attempt: 123456,
      };
      for (const numNodes of [2, 10, 1001]) {
        const gang = {
          numNodes,
          controlTaskId: "c",
          workerTaskIds: Array.from({ length: numNodes - 1 }, (_, i) => `w${i}`),
        };
        for (const over of [{}, odd]) {
          const { js } = build({}, over, gang);
          const name = js.metadata.name!;
          assert.ok(name.length <= MAX_JOBSET_NAME_LENGTH, name);
          assert.ok(isDns1035(name) && isDnsLabel(name), name);
          for (const r of js.spec.replicatedJobs) {
            const maxPod = r.template.spec!.completions! - 1;
            assert.ok(isDns1035(`${name}-${r.name}-${r.replicas - 1}`), "job name");
            assert.ok(
              isDns1035(`${name}-${r.name}-${r.replicas - 1}-${maxPod}-abcde`),
              `pod name for ${numNodes} nodes`,
            );
          }
          assert.ok(isDnsLabel(controlHostname(name).split(".")[0]!));
          // The name does not depend on N: the largest N accepted (10,000,000) still fits.
          assert.ok(isDns1035(`${name}-worker-0-${10_000_000 - 2}-abcde`), "pod name at the largest N");
        }
      }
    });

    it("ctx.jobName names the JobSet when valid, and is rejected otherwise", () => {
      assert.equal(build({}, { jobName: "my-gang" }).js.metadata.name, "my-gang");
      assert.equal(build({}, { jobName: "my-gang" }).js.spec.network.subdomain, "my-gang");
      for (const bad of ["1gang", "x".repeat(MAX_JOBSET_NAME_LENGTH + 1), "Gang"])
        assert.throws(
          () => build({}, { jobName: bad }),
          (e: Error) =>
            e instanceof TypeError && e.message.includes(JSON.stringify(bad)) && e.message.includes("DNS-1035"),
        );
    });
  });

  describe("validation", () => {
    const cases: Array<[string, ParallelGang, string]> = [
      ["numNodes < 2", { numNodes: 1, controlTaskId: "1", workerTaskIds: [] }, "numNodes must be a whole number >= 2"],
      ["too many nodes", { numNodes: 10_000_001, controlTaskId: "1", workerTaskIds: [] }, "at most 10000000"],
      [
        "fractional numNodes",
        { numNodes: 2.5, controlTaskId: "1", workerTaskIds: ["2"] },
        "numNodes must be a whole number >= 2",
      ],
      ["wrong worker count", { numNodes: 3, controlTaskId: "1", workerTaskIds: ["2"] }, "numNodes - 1 = 2"],
      ["empty control id", { numNodes: 2, controlTaskId: "", workerTaskIds: ["2"] }, "controlTaskId"],
      ["duplicate ids", { numNodes: 3, controlTaskId: "1", workerTaskIds: ["2", "1"] }, "distinct"],
      ["empty worker id", { numNodes: 2, controlTaskId: "1", workerTaskIds: [""] }, "worker task id"],
    ];
    for (const [what, gang, msg] of cases)
      it(`rejects ${what}`, () =>
        assert.throws(
          () => build({}, {}, gang),
          (e: Error) => e instanceof TypeError && e.message.startsWith("buildJobSet:") && e.message.includes(msg),
        ));

    it("validates the run context like buildJob", () => {
      assert.throws(() => build({}, { command: [] }), /command must be a non-empty list/);
    });
  });
});

describe("parallelNodeFromEnv", () => {
  const envOf = (vars: V1EnvVar[], completionIndex?: number): Record<string, string> =>
    Object.fromEntries(
      vars.map((e) => [
        e.name,
        e.value ??
          (e.valueFrom?.fieldRef?.fieldPath?.includes(COMPLETION_INDEX_ANNOTATION) ? String(completionIndex) : ""),
      ]),
    );

  it("reads what buildJobSet puts in the control and worker pods", () => {
    const { js, control, worker, container } = build();
    const name = js.metadata.name!;
    assert.deepEqual(parallelNodeFromEnv(envOf(container(control.template).env!)), {
      nodeIndex: 0,
      numNodes: 4,
      mainIp: controlHostname(name),
      controlTaskId: "5",
      taskId: "5",
    });
    for (const w of [0, 1, 2])
      assert.deepEqual(parallelNodeFromEnv(envOf(container(worker.template).env!, w)), {
        nodeIndex: w + 1,
        numNodes: 4,
        mainIp: controlHostname(name),
        controlTaskId: "5",
        taskId: GANG.workerTaskIds[w],
      });
  });

  it("is undefined outside a gang", () => {
    assert.equal(parallelNodeFromEnv({}), undefined);
    assert.equal(parallelNodeFromEnv({ KUBESTEP_PARALLEL_NUM_NODES: "" }), undefined);
  });

  it("names the bad variable", () => {
    const ok = {
      KUBESTEP_PARALLEL_NUM_NODES: "3",
      KUBESTEP_PARALLEL_MAIN_IP: "h",
      KUBESTEP_PARALLEL_CONTROL_TASK_ID: "1",
      KUBESTEP_PARALLEL_WORKER_TASK_IDS: '["2","3"]',
    };
    assert.throws(
      () => parallelNodeFromEnv({ ...ok, KUBESTEP_PARALLEL_NUM_NODES: "1" }),
      /KUBESTEP_PARALLEL_NUM_NODES="1"/,
    );
    assert.throws(
      () => parallelNodeFromEnv({ ...ok, KUBESTEP_PARALLEL_WORKER_INDEX: "2" }),
      /KUBESTEP_PARALLEL_WORKER_INDEX="2".*0 to 1/,
    );
    assert.throws(
      () => parallelNodeFromEnv({ ...ok, KUBESTEP_PARALLEL_WORKER_INDEX: "" }),
      /KUBESTEP_PARALLEL_WORKER_INDEX/,
    );
    assert.throws(
      () => parallelNodeFromEnv({ ...ok, KUBESTEP_PARALLEL_WORKER_TASK_IDS: '["2"]' }),
      /KUBESTEP_PARALLEL_WORKER_TASK_IDS.*2 task ids/,
    );
    assert.throws(() => parallelNodeFromEnv({ ...ok, KUBESTEP_PARALLEL_MAIN_IP: "" }), /KUBESTEP_PARALLEL_MAIN_IP/);
    assert.throws(() => parallelNodeFromEnv(ok), /KUBESTEP_PARALLEL_NODE_INDEX/);
    assert.deepEqual(parallelNodeFromEnv({ ...ok, KUBESTEP_PARALLEL_WORKER_INDEX: "1" })?.taskId, "3");
  });
});

// Type-level check: the builder's result is a JobSet.
const _typed: (c: Parameters<typeof buildJobSet>[0]) => JobSet = (c) => buildJobSet(c, CTX, GANG);
void _typed;
