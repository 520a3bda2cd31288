/**
 * The run watch and the failure explanations against the REAL local cluster: real Jobs succeed, fail to
 * schedule, fail to pull, miss a secret, get OOM-killed; the watch survives dropped connections and
 * expired resourceVersions without missing a completion. Needs KUBECONFIG (fails without it).
 */
import { strict as assert } from "node:assert";
import { eventsFor } from "../../../../runtime/exec/kubernetes/client.js";
import { explain, explainCreateError } from "../../../../runtime/exec/kubernetes/explain.js";
import { RunWatch, type JobSnapshot } from "../../../../runtime/exec/kubernetes/watch.js";
import { createJob, setUpCluster, tearDownCluster, type ClusterEnv } from "./cluster.js";

const lastPod = (s: JobSnapshot) => s.pods.at(-1);
const mainStatus = (s: JobSnapshot) => lastPod(s)?.status?.containerStatuses?.[0];
const jobDone = (s: JobSnapshot) =>
  !!s.job?.status?.conditions?.some((c) => (c.type === "Complete" || c.type === "Failed") && c.status === "True");

describe("run watch + explain on the real cluster", function () {
  this.timeout(240_000);
  let env: ClusterEnv;
  let watch: RunWatch;
  const diagnostics: string[] = [];

  before(async () => {
    env = await setUpCluster("ks-watch");
    watch = await RunWatch.start({
      kubeConfig: env.kc,
      namespace: env.namespace,
      labelSelector: env.labelSelector,
      onDiagnostic: (m) => diagnostics.push(m),
    });
  });
  after(async () => {
    await watch?.close();
    await tearDownCluster(env);
  });

  it("sees a Job succeed, with its pod, through one watch", async () => {
    const events: string[] = [];
    watch.subscribe("ok", (e) => events.push(`${e.kind}:${e.type}`));
    await createJob(env, "ok", { command: ["node", "-e", "console.log('hello from the pod')"] });
    const snap = await watch.waitFor("ok", jobDone, 120_000);
    const v = explain({ step: "ok", job: snap.job, pod: lastPod(snap) });
    assert.equal(v.state, "succeeded");
    assert.equal(snap.pods.length, 1);
    assert.equal(mainStatus(snap)?.state?.terminated?.exitCode, 0);
    assert.ok(
      events.includes("Job:ADDED") && events.includes("Pod:ADDED") && events.includes("Job:MODIFIED"),
      events.join(","),
    );
  });

  it("explains an unschedulable pod with the scheduler's own message (1000 CPUs)", async () => {
    await createJob(env, "huge-cpu", { command: ["node", "-e", "0"], resources: { requests: { cpu: "1000" } } });
    const snap = await watch.waitFor(
      "huge-cpu",
      (s) => !!lastPod(s)?.status?.conditions?.some((c) => c.type === "PodScheduled" && c.reason === "Unschedulable"),
      60_000,
    );
    const pod = lastPod(snap)!;
    const events = await eventsFor(env.core, env.namespace, pod.metadata!.name!);
    const pending = explain({ step: "huge-cpu", job: snap.job, pod, events });
    assert.equal(pending.state, "pending");
    assert.equal(pending.reason, "Unschedulable");
    assert.match(pending.message!, /0\/1 nodes are available: 1 Insufficient cpu/);
    assert.match(pending.message!, /step huge-cpu/);
    const failed = explain({ step: "huge-cpu", job: snap.job, pod, events, pendingTimeoutSeconds: 0 });
    assert.equal(failed.state, "failed");
    assert.equal(failed.retryable, false);
    assert.match(failed.message!, /Insufficient cpu.*cpu=1k?/s);
    assert.match(failed.message!, /KUBESTEP_KUBERNETES_PENDING_TIMEOUT/);
    assert.equal(
      explain({ step: "huge-cpu", job: snap.job, pod, events, pendingTimeoutSeconds: null }).state,
      "pending",
    );
  });

  it("explains a bad image with the image name and the kubelet's message", async () => {
    await createJob(env, "bad-image", { image: "does-not-exist", command: ["node", "-e", "0"] });
    const snap = await watch.waitFor(
      "bad-image",
      (s) => /ErrImagePull|ImagePullBackOff/.test(mainStatus(s)?.state?.waiting?.reason ?? ""),
      120_000,
    );
    const pod = lastPod(snap)!;
    const events = await eventsFor(env.core, env.namespace, pod.metadata!.name!);
    const early = explain({ step: "bad-image", job: snap.job, pod, events, imagePullGraceSeconds: 3600 });
    assert.equal(early.state, "pending", "within the grace period it is still pending");
    const v = explain({ step: "bad-image", job: snap.job, pod, events, imagePullGraceSeconds: 0 });
    assert.equal(v.state, "failed");
    assert.equal(v.reason, "ImagePull");
    assert.match(v.message!, /step bad-image/);
    assert.match(v.message!, /pulling image does-not-exist failed/);
    // The kubelet's own words: its "Failed to pull image" event (Kubernetes 1.34 + containerd: the resolver's error).
    assert.match(v.message!, /Failed to pull image "does-not-exist": .*docker\.io\/library\/does-not-exist:latest/);
  });

  it("explains a missing secret by name (CreateContainerConfigError)", async () => {
    await createJob(env, "no-secret", {
      command: ["node", "-e", "0"],
      envFrom: [{ secretRef: { name: "kubestep-missing-secret" } }],
    });
    const snap = await watch.waitFor(
      "no-secret",
      (s) => mainStatus(s)?.state?.waiting?.reason === "CreateContainerConfigError",
      120_000,
    );
    const pod = lastPod(snap)!;
    const v = explain({
      step: "no-secret",
      job: snap.job,
      pod,
      events: await eventsFor(env.core, env.namespace, pod.metadata!.name!),
      configErrorGraceSeconds: 0,
    });
    assert.equal(v.state, "failed");
    assert.equal(v.reason, "CreateContainerConfigError");
    assert.match(v.message!, /secret kubestep-missing-secret does not exist/);
    assert.match(v.message!, new RegExp(`kubectl create secret generic kubestep-missing-secret -n ${env.namespace}`));
  });

  it("explains a pod stuck in ContainerCreating on a missing config map volume, with the kubelet's FailedMount, after the pending timeout", async () => {
    await createJob(
      env,
      "no-configmap",
      { command: ["node", "-e", "0"], volumeMounts: [{ name: "cfg", mountPath: "/cfg" }] },
      { volumes: [{ name: "cfg", configMap: { name: "kubestep-missing-configmap" } }] },
    );
    const snap = await watch.waitFor("no-configmap", (s) => !!lastPod(s)?.spec?.nodeName, 120_000);
    const pod = lastPod(snap)!;
    let events = await eventsFor(env.core, env.namespace, pod.metadata!.name!);
    for (let i = 0; i < 120 && !events.some((e) => e.reason === "FailedMount"); i++) {
      await new Promise((r) => setTimeout(r, 500));
      events = await eventsFor(env.core, env.namespace, pod.metadata!.name!);
    }
    // Stuck for longer than a 1 s pending timeout.
    await new Promise((r) => setTimeout(r, 1500));
    const current = lastPod(watch.snapshot("no-configmap"))!;
    const input = { step: "no-configmap", job: snap.job, pod: current, events };
    assert.equal(explain({ ...input, pendingTimeoutSeconds: 600 }).state, "pending");
    const v = explain({ ...input, pendingTimeoutSeconds: 1 });
    assert.equal(v.state, "failed", `${JSON.stringify(v)} ${JSON.stringify(events.map((e) => [e.reason, e.type]))}`);
    assert.equal(v.reason, "ContainerCreating");
    assert.equal(v.retryable, false);
    assert.match(
      v.message!,
      /stuck in ContainerCreating .*\(FailedMount: MountVolume\.SetUp failed for volume "cfg" : configmap "kubestep-missing-configmap" not found\); create configmap kubestep-missing-configmap in namespace/,
    );
  });

  it("explains an OOM kill with the memory limit and what to raise", async () => {
    const script = "const a=[];for(let i=1;;i++){a.push(Buffer.alloc(4<<20,1));console.log('allocated '+(i*4)+' MB')}";
    await createJob(env, "oom", {
      command: ["node", "-e", script],
      resources: { limits: { memory: "64Mi" }, requests: { memory: "64Mi" } },
    });
    const snap = await watch.waitFor("oom", (s) => !!mainStatus(s)?.state?.terminated, 120_000);
    const v = explain({ step: "oom", job: snap.job, pod: lastPod(snap) });
    assert.equal(mainStatus(snap)?.state?.terminated?.reason, "OOMKilled");
    assert.equal(v.state, "failed");
    assert.equal(v.reason, "OOMKilled");
    assert.equal(
      v.message,
      "step oom ran out of memory (limit 67 MB); raise memory=256 (MB) with @resources or @kubernetes",
    );
    assert.equal(v.retryable, true);
  });

  it("explains a timeout (activeDeadlineSeconds) as DeadlineExceeded", async () => {
    await createJob(
      env,
      "slow",
      { command: ["node", "-e", "setTimeout(()=>{}, 600000)"] },
      { activeDeadlineSeconds: 3 },
    );
    const snap = await watch.waitFor("slow", jobDone, 120_000);
    const v = explain({ step: "slow", job: snap.job, pod: lastPod(snap) });
    assert.equal(v.reason, "DeadlineExceeded");
    assert.match(v.message!, /step slow timed out.*3 s/);
  });

  it("notices a pod deleted by someone else", async () => {
    await createJob(env, "victim", { command: ["node", "-e", "setTimeout(()=>{}, 600000)"] });
    const running = await watch.waitFor("victim", (s) => !!mainStatus(s)?.state?.running, 120_000);
    const podName = lastPod(running)!.metadata!.name!;
    await env.core.deleteNamespacedPod({ name: podName, namespace: env.namespace, gracePeriodSeconds: 0 });
    const snap = await watch.waitFor("victim", (s) => s.deletedPods.includes(podName), 60_000);
    const pod = snap.pods.find((p) => p.metadata?.name === podName);
    const v = explain({ step: "victim", job: snap.job, pod, podDeleted: true });
    assert.equal(v.reason, "PodDeleted");
    assert.match(v.message!, new RegExp(`pod ${podName} was deleted by someone else`));
    await env.batch.deleteNamespacedJob({ name: "victim", namespace: env.namespace, propagationPolicy: "Background" });
  });

  it("survives a dropped connection and an expired resourceVersion without missing a completion", async () => {
    const before = watch.stats;
    await createJob(env, "reconnect", { command: ["node", "-e", "setTimeout(()=>console.log('done'), 4000)"] });
    await watch.waitFor("reconnect", (s) => !!mainStatus(s)?.state?.running, 120_000);
    // Drop both watch connections as a network failure would.
    watch.dropConnections();
    await new Promise((r) => setTimeout(r, 300));
    // And once more with forgotten resourceVersions: the watch must relist (the 410 path).
    watch.expireResourceVersions();
    watch.dropConnections();
    const snap = await watch.waitFor("reconnect", jobDone, 120_000);
    assert.equal(explain({ step: "reconnect", job: snap.job, pod: lastPod(snap) }).state, "succeeded");
    const after = watch.stats;
    assert.ok(
      after.jobConnects >= before.jobConnects + 2,
      `job watch reconnected: ${JSON.stringify({ before, after })}`,
    );
    assert.ok(
      after.podConnects >= before.podConnects + 2,
      `pod watch reconnected: ${JSON.stringify({ before, after })}`,
    );
    assert.ok(
      after.jobRelists > before.jobRelists && after.podRelists > before.podRelists,
      `relisted: ${JSON.stringify({ before, after })}`,
    );
  });

  it("a real 410 Gone: resumed from a resourceVersion older than the API server's history, the watch relists and misses nothing", async () => {
    const before = watch.stats;
    const seen = diagnostics.length;
    await createJob(env, "gone410", { command: ["node", "-e", "setTimeout(()=>console.log('done'), 4000)"] });
    await watch.waitFor("gone410", (s) => !!mainStatus(s)?.state?.running, 120_000);
    // Reconnect from resourceVersion 1: the API server answers "too old resource version" (410 Expired).
    watch.rewindResourceVersions("1");
    watch.dropConnections();
    const snap = await watch.waitFor("gone410", jobDone, 120_000);
    assert.equal(explain({ step: "gone410", job: snap.job, pod: lastPod(snap) }).state, "succeeded");
    const after = watch.stats;
    assert.ok(
      after.jobGone > before.jobGone && after.podGone > before.podGone,
      `the API server answered 410 Gone to both watches: ${JSON.stringify({ before, after })}`,
    );
    assert.ok(
      after.jobRelists > before.jobRelists && after.podRelists > before.podRelists,
      `relisted after the 410: ${JSON.stringify({ before, after })}`,
    );
    const diag = diagnostics.slice(seen).join("\n");
    assert.match(diag, /Job watch: resourceVersion expired \(410 Gone\); relisting/);
    assert.match(diag, /Pod watch: resourceVersion expired \(410 Gone\); relisting/);
  });

  it("reports a Job deleted while the watch was disconnected (found on relist)", async () => {
    await createJob(env, "gone", { command: ["node", "-e", "setTimeout(()=>{}, 600000)"] });
    await watch.waitFor("gone", (s) => !!s.job, 60_000);
    watch.expireResourceVersions();
    await env.batch.deleteNamespacedJob({ name: "gone", namespace: env.namespace, propagationPolicy: "Foreground" });
    watch.dropConnections();
    const snap = await watch.waitFor("gone", (s) => s.jobDeleted, 60_000);
    assert.equal(snap.job, undefined);
  });

  it("explains a Job create refused by a ResourceQuota (403) with the quota message", async () => {
    await env.core.createNamespacedResourceQuota({
      namespace: env.namespace,
      body: { metadata: { name: "no-more-jobs" }, spec: { hard: { "count/jobs.batch": "0" } } },
    });
    for (let i = 0; i < 50; i++) {
      const q = await env.core.readNamespacedResourceQuota({ name: "no-more-jobs", namespace: env.namespace });
      if (q.status?.hard) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    let err: unknown;
    try {
      await createJob(env, "over-quota", { command: ["node", "-e", "0"] });
    } catch (e) {
      err = e;
    }
    assert.ok(err, "the apiserver refused the Job");
    const v = explainCreateError(err, "over-quota");
    assert.equal(v.state, "failed");
    assert.equal(v.reason, "QuotaExceeded");
    assert.match(v.message!, /step over-quota could not be submitted: .*exceeded quota: no-more-jobs/);
    await env.core.deleteNamespacedResourceQuota({ name: "no-more-jobs", namespace: env.namespace });
  });

  it("close() stops the watch and rejects pending waits", async () => {
    const w = await RunWatch.start({ kubeConfig: env.kc, namespace: env.namespace, labelSelector: env.labelSelector });
    const rejected = assert.rejects(
      w.waitFor("never-created", () => false, 60_000),
      /closed/,
    );
    await w.close();
    await rejected;
  });
});
