/**
 * The JobSet API calls of runtime/kubernetes/jobset.ts against the real local cluster, which runs the real
 * JobSet controller (sigs.k8s.io/jobset, built by test/tooling/cluster) with its CRD and admission webhooks:
 * detection through discovery, creation of what buildJobSet builds (accepted by JobSet's own validating and
 * defaulting webhooks), the controller turning it into Indexed child Jobs plus the headless Service that gives
 * the pods their hostnames, the run's label selector finding it, and deletion cascading to the Jobs.
 * The flow-level @parallel tests (a real gang, with and without the CRD) are in
 * test/runtime/exec/kubernetes/executor.cluster.test.ts. Needs KUBECONFIG (fails without it).
 */
import { strict as assert } from "node:assert";
import type { KubeConfig } from "@kubernetes/client-node";
import { resolveKubernetesConfig } from "../../../runtime/kubernetes/config.js";
import { jobLabelSelector, type RunContext } from "../../../runtime/kubernetes/jobspec.js";
import {
  buildJobSet,
  controlHostname,
  JOBSET_GROUP,
  JOBSET_PLURAL,
  JOBSET_VERSION,
  type JobSet,
} from "../../../runtime/kubernetes/jobset.js";
import { createJobSet, deleteJobSet, getJobSet, hasJobSetApi } from "../../../runtime/exec/kubernetes/jobset-api.js";

const NS = `kubestep-jobset-${Date.now().toString(36)}`;
const NODE_MAJOR = process.versions.node.split(".")[0];

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const statusOf = (e: unknown): number | undefined => (e as { code?: number }).code;

/** Polls `check` every 250 ms until it returns true or `ms` pass; returns its last answer. */
async function eventually(check: () => Promise<boolean>, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  for (;;) {
    if (await check()) return true;
    if (Date.now() > end) return false;
    await sleep(250);
  }
}

describe("JobSet on the local cluster (real CRD, webhooks and controller)", function () {
  this.timeout(120_000);
  let kc: KubeConfig;
  let k8s: typeof import("@kubernetes/client-node");
  let nsCreated = false;
  let built: JobSet;

  const CTX: RunContext = {
    flowName: "GangFlow",
    runId: `r${Date.now()}`,
    stepName: "train",
    taskId: "3",
    attempt: 0,
    user: "tester",
    // The pods only sleep: this file tests the objects, not a flow.
    command: ["node", "-e", "setTimeout(() => {}, 600000)"],
    env: { KUBESTEP_FLOW: "GangFlow" },
  };

  before(async () => {
    const path = process.env.KUBECONFIG;
    if (!path)
      throw new Error(
        "KUBECONFIG is not set: this test needs the local cluster (export KUBECONFIG=/tmp/local-cluster/admin.kubeconfig)",
      );
    k8s = await import("@kubernetes/client-node");
    kc = new k8s.KubeConfig();
    kc.loadFromFile(path);
    await kc
      .makeApiClient(k8s.CoreV1Api)
      .createNamespace({ body: { apiVersion: "v1", kind: "Namespace", metadata: { name: NS } } });
    nsCreated = true;
    const config = resolveKubernetesConfig({
      step: "train",
      env: { KUBESTEP_KUBERNETES_NAMESPACE: NS },
      decorator: {
        image: `localhost/node:${NODE_MAJOR}-local`,
        imagePullPolicy: "Never",
        cpu: 0.1,
        memory: 256,
        disk: 512,
        port: 29500,
        hostnameResolutionTimeout: 90,
      },
    });
    built = buildJobSet(config, CTX, { numNodes: 3, controlTaskId: "3", workerTaskIds: ["4", "5"] });
  });

  after(async () => {
    if (!kc || !nsCreated) return;
    try {
      await kc.makeApiClient(k8s.CoreV1Api).deleteNamespace({ name: NS });
    } catch (e) {
      if (statusOf(e) !== 404) throw e;
    }
  });

  it("hasJobSetApi is true: the cluster serves jobset.x-k8s.io/v1alpha2", async () => {
    assert.equal(await hasJobSetApi(kc), true);
  });

  it("hasJobSetApi fails loudly (not false) when the apiserver is unreachable", async () => {
    const bad = new k8s.KubeConfig();
    bad.loadFromOptions({
      clusters: [{ name: "c", server: "https://127.0.0.1:1", skipTLSVerify: true }],
      users: [{ name: "u", token: "x" }],
      contexts: [{ name: "ctx", cluster: "c", user: "u" }],
      currentContext: "ctx",
    });
    await assert.rejects(hasJobSetApi(bad));
  });

  it("JobSet's validating webhook refuses an invalid JobSet with its reason", async () => {
    const invalid = structuredClone(built);
    invalid.metadata.name = "ks-invalid";
    invalid.spec.successPolicy = { operator: "All", targetReplicatedJobs: ["no-such-replicated-job"] };
    await assert.rejects(createJobSet(kc, NS, invalid), (e: unknown) => {
      const body = String((e as { body?: unknown }).body ?? e);
      assert.match(body, /no-such-replicated-job/, body);
      return true;
    });
  });

  it("creates the JobSet built by buildJobSet; the webhooks accept it and keep every field kubestep set", async () => {
    const created = await createJobSet(kc, NS, built);
    assert.equal(created.apiVersion, "jobset.x-k8s.io/v1alpha2");
    assert.equal(created.kind, "JobSet");
    assert.equal(created.metadata.name, built.metadata.name);
    assert.ok(created.metadata.uid, "the apiserver assigned a uid");

    const got = await getJobSet(kc, NS, built.metadata.name!);
    for (const [k, v] of Object.entries(built.metadata.labels!))
      assert.equal(got.metadata.labels?.[k], v, `label ${k}`);
    assert.deepEqual(
      got.spec.replicatedJobs.map((r) => [
        r.name,
        r.replicas,
        r.template.spec!.parallelism,
        r.template.spec!.completions,
        r.template.spec!.completionMode,
      ]),
      [
        ["control", 1, 1, 1, "Indexed"],
        ["worker", 1, 2, 2, "Indexed"],
      ],
    );
    assert.equal(got.spec.network.enableDNSHostnames, true);
    assert.equal(got.spec.network.subdomain, built.metadata.name);
    assert.deepEqual(got.spec.successPolicy, { operator: "All", targetReplicatedJobs: ["control"] });
    assert.equal(got.spec.failurePolicy.maxRestarts, 0);
    assert.equal(got.spec.ttlSecondsAfterFinished, built.spec.ttlSecondsAfterFinished);
    const workerEnv = got.spec.replicatedJobs[1]!.template.spec!.template.spec!.containers[0]!.env!;
    assert.equal(
      workerEnv.find((e) => e.name === "KUBESTEP_PARALLEL_MAIN_IP")?.value,
      controlHostname(built.metadata.name!),
    );
  });

  it("the controller creates the Indexed child Jobs and the headless Service of the pods' hostnames", async () => {
    const batch = kc.makeApiClient(k8s.BatchV1Api);
    const core = kc.makeApiClient(k8s.CoreV1Api);
    const name = built.metadata.name!;
    const names = [`${name}-control-0`, `${name}-worker-0`];
    const appeared = await eventually(async () => {
      const jobs = (
        await batch.listNamespacedJob({ namespace: NS, labelSelector: jobLabelSelector({ runId: CTX.runId }) })
      ).items;
      return names.every((n) => jobs.some((j) => j.metadata?.name === n));
    }, 60_000);
    assert.ok(appeared, `the JobSet controller created ${names.join(", ")}`);
    for (const n of names) {
      const job = await batch.readNamespacedJob({ name: n, namespace: NS });
      assert.equal(job.spec!.completionMode, "Indexed", `${n} keeps completionMode Indexed`);
      assert.equal(job.metadata!.ownerReferences?.[0]?.kind, "JobSet", `${n} is owned by the JobSet`);
      assert.equal(job.spec!.template.spec!.subdomain, name, `${n}'s pods get the subdomain`);
    }
    const svc = await core.readNamespacedService({ name, namespace: NS });
    assert.equal(svc.spec!.clusterIP, "None", "the pods' subdomain is a headless Service");
    // The worker pods carry their completion index, which kubestep turns into the node index.
    const indexed = await eventually(async () => {
      const pods = (await core.listNamespacedPod({ namespace: NS, labelSelector: `job-name=${name}-worker-0` })).items;
      return (
        pods
          .map((p) => p.metadata?.annotations?.["batch.kubernetes.io/job-completion-index"])
          .sort()
          .join(",") === "0,1"
      );
    }, 60_000);
    assert.ok(indexed, "the two worker pods carry completion indexes 0 and 1");
  });

  it("the run's label selector finds the JobSet (list/kill), and only it", async () => {
    const custom = kc.makeApiClient(k8s.CustomObjectsApi);
    const list = (await custom.listNamespacedCustomObject({
      group: JOBSET_GROUP,
      version: JOBSET_VERSION,
      namespace: NS,
      plural: JOBSET_PLURAL,
      labelSelector: jobLabelSelector({ runId: CTX.runId }),
    })) as { items: JobSet[] };
    assert.deepEqual(
      list.items.map((j) => j.metadata.name),
      [built.metadata.name],
    );
    const other = (await custom.listNamespacedCustomObject({
      group: JOBSET_GROUP,
      version: JOBSET_VERSION,
      namespace: NS,
      plural: JOBSET_PLURAL,
      labelSelector: jobLabelSelector({ runId: "another-run" }),
    })) as { items: JobSet[] };
    assert.deepEqual(other.items, []);
  });

  it("deleteJobSet deletes it, and its Jobs and pods go with it", async () => {
    await deleteJobSet(kc, NS, built.metadata.name!);
    const gone = await eventually(async () => {
      try {
        await getJobSet(kc, NS, built.metadata.name!);
        return false;
      } catch (e) {
        return statusOf(e) === 404;
      }
    }, 30_000);
    assert.ok(gone, "the JobSet is still there");
    const batch = kc.makeApiClient(k8s.BatchV1Api);
    const core = kc.makeApiClient(k8s.CoreV1Api);
    const empty = await eventually(
      async () =>
        (await batch.listNamespacedJob({ namespace: NS })).items.length === 0 &&
        (await core.listNamespacedPod({ namespace: NS })).items.length === 0,
      60_000,
    );
    assert.ok(empty, "the child Jobs and pods are deleted with the JobSet");
  });
});
