/**
 * Issue 13 on the REAL local cluster: a default-QoS (Burstable) step's pod requests memory and has no memory limit;
 * the Job we submit has no imagePullPolicy, so the apiserver fills its default (IfNotPresent for a non-latest tag,
 * Always for `:latest`); the environment's memoryLimitFactor adds a limit. Fails (never skips) without KUBECONFIG;
 * its namespace is deleted at the end.
 */
import { strict as assert } from "node:assert";
import type { V1Job, V1Pod } from "@kubernetes/client-node";
import type { KubestepEnvironment } from "../../../runtime/environment.js";
import { resolveKubernetesConfig } from "../../../runtime/kubernetes/config.js";
import { buildJob, jobLabelSelector, type RunContext } from "../../../runtime/kubernetes/jobspec.js";
import type { KubernetesOptions } from "../../../runtime/kubernetes/options.js";
import { parseQuantity } from "../../../runtime/contract/units.js";
import { NODE_IMAGE, setUpCluster, tearDownCluster, type ClusterEnv } from "../exec/kubernetes/cluster.js";

const MB = 1e6;

describe("QoS and imagePullPolicy on the local cluster", function () {
  this.timeout(180_000);
  let env: ClusterEnv | undefined;

  before(async () => {
    env = await setUpCluster("kubestep-qos");
  });
  after(async () => {
    await tearDownCluster(env);
  });

  const ctx = (stepName: string): RunContext => ({
    flowName: "QosFlow",
    runId: env!.runId,
    stepName,
    taskId: "1",
    attempt: 0,
    user: "tester",
    command: ["node", "-e", "console.log('qos ok')"],
    env: {},
  });

  function job(stepName: string, decorator: KubernetesOptions, environment?: KubestepEnvironment): V1Job {
    const config = resolveKubernetesConfig({
      step: stepName,
      env: {},
      // The step image has node; no init container (its node image would be node:<major>-slim, not on this cluster).
      decorator: { namespace: env!.namespace, cpu: 0.1, injectNode: "never", ...decorator },
      ...(environment ? { environment } : {}),
    });
    const j = buildJob(config, ctx(stepName));
    j.spec!.template.spec!.automountServiceAccountToken = false;
    j.spec!.template.spec!.terminationGracePeriodSeconds = 1;
    return j;
  }

  /** Creates the Job for real and returns its pod once it succeeded. */
  async function runToCompletion(j: V1Job, stepName: string): Promise<V1Pod> {
    const e = env!;
    await e.batch.createNamespacedJob({ namespace: e.namespace, body: j });
    const selector = jobLabelSelector({ runId: e.runId, stepName });
    let last: V1Pod | undefined;
    for (let i = 0; i < 600; i++) {
      const pods = await e.core.listNamespacedPod({ namespace: e.namespace, labelSelector: selector });
      last = pods.items[0];
      if (last?.status?.phase === "Succeeded") return last;
      if (last?.status?.phase === "Failed") assert.fail(`pod failed: ${JSON.stringify(last.status)}`);
      await new Promise((r) => setTimeout(r, 250));
    }
    assert.fail(`pod did not succeed in time: ${JSON.stringify(last?.status)}`);
  }

  it("a default-QoS step: memory requested, no memory limit, imagePullPolicy defaulted by the apiserver", async () => {
    const j = job("burstable", { memory: 256, image: NODE_IMAGE });
    const submitted = j.spec!.template.spec!.containers[0]!;
    assert.equal("imagePullPolicy" in submitted, false, "we submit no imagePullPolicy");
    assert.equal(submitted.resources!.limits, undefined, "we submit no limits");
    const pod = await runToCompletion(j, "burstable");
    const c = pod.spec!.containers[0]!;
    assert.equal(pod.status!.qosClass, "Burstable");
    assert.equal(parseQuantity(c.resources!.requests!.memory!), 256 * MB);
    assert.ok(c.resources!.requests!.cpu, "cpu requested");
    assert.equal(c.resources!.limits?.memory, undefined, `no memory limit: ${JSON.stringify(c.resources)}`);
    assert.ok(!NODE_IMAGE.endsWith(":latest"));
    assert.equal(c.imagePullPolicy, "IfNotPresent", "the apiserver's default for a non-latest tag");
  });

  it("the apiserver fills Always for :latest, so the field really is left to it", async () => {
    const e = env!;
    const j = job("latest", { image: "localhost/kubestep-never-pulled:latest" });
    const created = await e.batch.createNamespacedJob({ namespace: e.namespace, body: j, dryRun: "All" });
    assert.equal(created.spec!.template.spec!.containers[0]!.imagePullPolicy, "Always");
  });

  it("the environment's memoryLimitFactor sets a memory limit of factor x the request", async () => {
    const environment: KubestepEnvironment = {
      version: 1,
      name: "qos",
      namespace: env!.namespace,
      serviceAccount: "default",
      datastore: { kind: "s3", root: "s3://b/p" },
      image: NODE_IMAGE,
      imagePullSecrets: [],
      defaults: { memoryLimitFactor: 1.5 },
      podLabels: {},
      podAnnotations: {},
      gpuPools: [],
    };
    const pod = await runToCompletion(job("limited", { memory: 200 }, environment), "limited");
    const c = pod.spec!.containers[0]!;
    assert.equal(pod.status!.qosClass, "Burstable");
    assert.equal(parseQuantity(c.resources!.requests!.memory!), 200 * MB);
    assert.equal(parseQuantity(c.resources!.limits!.memory!), 300 * MB);
  });
});
