/**
 * The JobSet path against the real local cluster (Kubernetes 1.20: no JobSet CRD or controller there).
 * Detects that the JobSet API is absent, applies a minimal stand-in CRD (test/fixtures/jobset-crd.json:
 * group jobset.x-k8s.io, version v1alpha2, schema preserving unknown fields), detects it, checks that the
 * Jobs a JobSet controller would create from buildJobSet's templates pass the apiserver (server-side dry
 * run), then creates the JobSet in a fresh namespace and reads it back. No controller runs it: no Job or
 * pod appears. The namespace AND the CRD are deleted at the end (other test files use the same cluster and
 * expect no JobSet API). Needs KUBECONFIG (fails without it).
 *
 * Known cluster defect: a kube-apiserver older than 1.24 compiled with Go >= 1.18 (the local cluster is
 * v1.20.2 built with go1.19) vendors modern-go/reflect2 1.0.1 and dies with SIGSEGV ("fatal error: fault"
 * in reflect2 UnsafeMapType.UnsafeIterate, see modern-go/reflect2#26) on every custom-resource request,
 * because decoding a custom resource JSON-encodes its metadata map. Sending the JobSet there would take the
 * shared apiserver down, so on such a server the JobSet-storing tests FAIL before sending anything, and say
 * why. They run on an apiserver without the defect: a newer one, one built with Go < 1.18, or one the local
 * cluster tooling stamps as built with reflect2 v1.0.2.
 */
import { strict as assert } from "node:assert";
import { existsSync, readFileSync, statSync } from "node:fs";
import type { KubeConfig, V1CustomResourceDefinition } from "@kubernetes/client-node";
import { resolveKubernetesConfig } from "../../../runtime/kubernetes/config.js";
import { jobLabelSelector, type RunContext } from "../../../runtime/kubernetes/jobspec.js";
import {
  buildJobSet, createJobSet, deleteJobSet, getJobSet, hasJobSetApi, JOBSET_GROUP, JOBSET_PLURAL, JOBSET_VERSION, type JobSet,
} from "../../../runtime/kubernetes/jobset.js";

const NS = `kubestep-jobset-${Date.now().toString(36)}`;
const CRD_TEXT = readFileSync(new URL("../../fixtures/jobset-crd.json", import.meta.url), "utf8");
const CRD_NAME = (JSON.parse(CRD_TEXT) as { metadata: { name: string } }).metadata.name;
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

/** Longest plausible compile of the local cluster (build.sh): bounds the buildDate of binaries a stamp vouches for. */
const MAX_BUILD_MS = 60 * 60 * 1000;

/**
 * Whether the local cluster tooling vouches for the running apiserver: test/tooling/cluster/build.sh swaps
 * reflect2 v1.0.2 into the vendor tree and touches `$LOCAL_CLUSTER_CACHE/bin/.built-with-reflect2-1.0.2`
 * right after copying the binaries it compiled; such a binary's buildDate (compile time) lies within
 * {@link MAX_BUILD_MS} before the stamp. An older, still running binary does not.
 */
function vouchedByLocalBuild(buildDate: string): boolean {
  const stamp = `${process.env.LOCAL_CLUSTER_CACHE ?? "/var/cache/local-cluster"}/bin/.built-with-reflect2-1.0.2`;
  if (!existsSync(stamp)) return false;
  const built = Date.parse(buildDate);
  const stamped = statSync(stamp).mtimeMs;
  return Number.isFinite(built) && built <= stamped && stamped - built <= MAX_BUILD_MS;
}

/**
 * Why this apiserver cannot be sent a custom resource, or undefined when it can (see the module comment).
 */
async function customResourceDefect(kc: KubeConfig, k8s: typeof import("@kubernetes/client-node")): Promise<string | undefined> {
  const v = await kc.makeApiClient(k8s.VersionApi).getCode();
  const minor = Number.parseInt(v.minor, 10);
  const go = /^go(\d+)\.(\d+)/.exec(v.goVersion);
  const goMinor = go && go[1] === "1" ? Number(go[2]) : undefined;
  if (Number(v.major) === 1 && minor < 24 && goMinor !== undefined && goMinor >= 18 && !vouchedByLocalBuild(v.buildDate))
    return `kube-apiserver ${v.gitVersion} built with ${v.goVersion} on ${v.buildDate} crashes (SIGSEGV in modern-go/reflect2 1.0.1, ` +
      "modern-go/reflect2#26) on any custom-resource request, so the JobSet is not sent: rebuild the local cluster " +
      "with github.com/modern-go/reflect2 >= v1.0.2 vendored (test/tooling/cluster/build.sh does, and stamps " +
      "bin/.built-with-reflect2-1.0.2) and restart it, or build with Go < 1.18";
  return undefined;
}

describe("JobSet on the local cluster (minimal CRD, no controller)", function () {
  this.timeout(120_000);
  let kc: KubeConfig;
  let k8s: typeof import("@kubernetes/client-node");
  let crdCreated = false;
  let nsCreated = false;
  let built: JobSet;

  const CTX: RunContext = {
    flowName: "GangFlow", runId: `r${Date.now()}`, stepName: "train", taskId: "3", attempt: 0, user: "tester",
    command: ["node", "-e", "console.log('never runs')"], env: { KUBESTEP_FLOW: "GangFlow" },
  };

  before(async () => {
    const path = process.env.KUBECONFIG;
    if (!path) throw new Error("KUBECONFIG is not set: this test needs the local cluster (export KUBECONFIG=/tmp/local-cluster/admin.kubeconfig)");
    k8s = await import("@kubernetes/client-node");
    kc = new k8s.KubeConfig();
    kc.loadFromFile(path);
  });

  after(async () => {
    if (!kc) return;
    const problems: string[] = [];
    if (nsCreated) {
      try {
        await kc.makeApiClient(k8s.CoreV1Api).deleteNamespace({ name: NS });
      } catch (e) {
        if (statusOf(e) !== 404) problems.push(`deleting namespace ${NS}: ${String(e)}`);
      }
    }
    if (crdCreated) {
      const ext = kc.makeApiClient(k8s.ApiextensionsV1Api);
      try {
        await ext.deleteCustomResourceDefinition({ name: CRD_NAME });
      } catch (e) {
        if (statusOf(e) !== 404) problems.push(`deleting CRD ${CRD_NAME}: ${String(e)}`);
      }
      // Leave the cluster as we found it: wait until the CRD is gone and discovery no longer serves the group.
      const gone = await eventually(async () => {
        try {
          await ext.readCustomResourceDefinition({ name: CRD_NAME });
          return false;
        } catch (e) {
          return statusOf(e) === 404 && !(await hasJobSetApi(kc));
        }
      }, 60_000);
      if (!gone) problems.push(`CRD ${CRD_NAME} still present 60 s after deletion`);
    }
    assert.deepEqual(problems, []);
  });

  it("hasJobSetApi is false on the bare cluster", async () => {
    let existing: V1CustomResourceDefinition | undefined;
    try {
      existing = await kc.makeApiClient(k8s.ApiextensionsV1Api).readCustomResourceDefinition({ name: CRD_NAME });
    } catch (e) {
      assert.equal(statusOf(e), 404, `reading CRD ${CRD_NAME}: ${String(e)}`);
    }
    assert.equal(existing, undefined, `CRD ${CRD_NAME} already exists on the cluster (left over by another run?); this test needs a cluster without it`);
    assert.equal(await hasJobSetApi(kc), false);
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

  it("hasJobSetApi is true once the jobset.x-k8s.io/v1alpha2 CRD is established", async () => {
    const ext = kc.makeApiClient(k8s.ApiextensionsV1Api);
    // loadYaml maps the JSON field names (x-kubernetes-preserve-unknown-fields) onto the client's model;
    // a bare JSON.parse would lose them in the client's serializer and the apiserver would prune the spec.
    const created = await ext.createCustomResourceDefinition({ body: k8s.loadYaml<V1CustomResourceDefinition>(CRD_TEXT) });
    crdCreated = true;
    assert.equal(created.spec.versions[0]!.schema?.openAPIV3Schema?.x_kubernetes_preserve_unknown_fields, true, "the CRD keeps unknown fields");
    const established = await eventually(async () => {
      const crd = await ext.readCustomResourceDefinition({ name: CRD_NAME });
      return !!crd.status?.conditions?.some((c) => c.type === "Established" && c.status === "True");
    }, 60_000);
    assert.ok(established, `CRD ${CRD_NAME} not Established within 60 s`);
    // Discovery may lag the Established condition by a moment.
    assert.ok(await eventually(() => hasJobSetApi(kc), 30_000), "discovery does not list jobset.x-k8s.io/v1alpha2");
  });

  it("the Jobs a JobSet controller would create from the templates pass the apiserver (dry run)", async () => {
    await kc.makeApiClient(k8s.CoreV1Api).createNamespace({ body: { apiVersion: "v1", kind: "Namespace", metadata: { name: NS } } });
    nsCreated = true;
    const config = resolveKubernetesConfig({
      step: "train", env: { KUBESTEP_KUBERNETES_NAMESPACE: NS },
      decorator: { image: `localhost/node:${NODE_MAJOR}-local`, imagePullPolicy: "Never", cpu: 0.1, memory: 256, disk: 512, port: 29500, hostnameResolutionTimeout: 90 },
    });
    built = buildJobSet(config, CTX, { numNodes: 3, controlTaskId: "3", workerTaskIds: ["4", "5"] });
    const batch = kc.makeApiClient(k8s.BatchV1Api);
    for (const r of built.spec.replicatedJobs) {
      // JobSet names child Jobs <jobset>-<replicatedJob>-<jobIndex>.
      const name = `${built.metadata.name}-${r.name}-0`;
      const job = await batch.createNamespacedJob({
        namespace: NS, dryRun: "All",
        body: { apiVersion: "batch/v1", kind: "Job", metadata: { ...r.template.metadata, name, namespace: NS }, spec: r.template.spec! },
      });
      assert.equal(job.metadata!.name, name);
      assert.equal(job.spec!.parallelism, r.template.spec!.parallelism);
      assert.equal(job.spec!.completions, r.template.spec!.completions);
      const env = job.spec!.template.spec!.containers[0]!.env!;
      if (r.name === "worker")
        assert.equal(env.find((e) => e.name === "KUBESTEP_PARALLEL_WORKER_INDEX")?.valueFrom?.fieldRef?.fieldPath, "metadata.annotations['batch.kubernetes.io/job-completion-index']");
      assert.deepEqual(job.spec!.template.spec!.containers[0]!.ports?.map((p) => p.containerPort), [29500]);
    }
    assert.deepEqual((await batch.listNamespacedJob({ namespace: NS })).items, [], "dry runs create nothing");
  });

  it("creates the JobSet built by buildJobSet and reads back the control/worker replicated jobs", async () => {
    assert.ok(crdCreated, "needs the CRD from a previous test");
    assert.ok(built, "needs the JobSet from the previous test");
    const defect = await customResourceDefect(kc, k8s);
    if (defect) throw new Error(defect);

    const created = await createJobSet(kc, NS, built);
    assert.equal(created.apiVersion, "jobset.x-k8s.io/v1alpha2");
    assert.equal(created.kind, "JobSet");
    assert.equal(created.metadata.name, built.metadata.name);
    assert.ok(created.metadata.uid, "the apiserver assigned a uid");

    const got = await getJobSet(kc, NS, built.metadata.name!);
    assert.deepEqual(got.metadata.labels, built.metadata.labels);
    assert.deepEqual(got.metadata.annotations, built.metadata.annotations);
    assert.deepEqual(got.spec, built.spec, "the stored spec is exactly the built one");
    assert.deepEqual(got.spec.replicatedJobs.map((r) => [r.name, r.replicas, r.template.spec!.parallelism, r.template.spec!.completions, r.template.spec!.completionMode]),
      [["control", 1, 1, 1, "Indexed"], ["worker", 1, 2, 2, "Indexed"]]);
    assert.deepEqual(got.spec.network, { enableDNSHostnames: true, subdomain: built.metadata.name });
    assert.deepEqual(got.spec.successPolicy, { operator: "All", targetReplicatedJobs: ["control"] });
    assert.deepEqual(got.spec.failurePolicy, { maxRestarts: 0 });
    const workerEnv = got.spec.replicatedJobs[1]!.template.spec!.template.spec!.containers[0]!.env!;
    assert.equal(workerEnv.find((e) => e.name === "KUBESTEP_PARALLEL_MAIN_IP")?.value, `${built.metadata.name}-control-0-0.${built.metadata.name}`);
    assert.deepEqual(got.spec.replicatedJobs[0]!.template.spec!.template.spec!.containers[0]!.ports, [{ containerPort: 29500, protocol: "TCP" }]);
  });

  it("the run's label selector finds the JobSet (list/kill), and no controller turned it into Jobs", async () => {
    assert.ok(built, "needs the JobSet from a previous test");
    const defect = await customResourceDefect(kc, k8s);
    if (defect) throw new Error(defect);
    const list = (await kc.makeApiClient(k8s.CustomObjectsApi).listNamespacedCustomObject({
      group: JOBSET_GROUP, version: JOBSET_VERSION, namespace: NS, plural: JOBSET_PLURAL, labelSelector: jobLabelSelector({ runId: CTX.runId }),
    })) as { items: JobSet[] };
    assert.deepEqual(list.items.map((j) => j.metadata.name), [built.metadata.name]);
    const other = (await kc.makeApiClient(k8s.CustomObjectsApi).listNamespacedCustomObject({
      group: JOBSET_GROUP, version: JOBSET_VERSION, namespace: NS, plural: JOBSET_PLURAL, labelSelector: jobLabelSelector({ runId: "another-run" }),
    })) as { items: JobSet[] };
    assert.deepEqual(other.items, []);
    const jobs = await kc.makeApiClient(k8s.BatchV1Api).listNamespacedJob({ namespace: NS });
    assert.deepEqual(jobs.items, [], "no JobSet controller on this cluster: no child Jobs");
  });

  it("deleteJobSet deletes it", async () => {
    assert.ok(built, "needs the JobSet from a previous test");
    const defect = await customResourceDefect(kc, k8s);
    if (defect) throw new Error(defect);
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
  });
});
