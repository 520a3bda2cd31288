/**
 * explain() / explainCreateError() on real-shaped objects: the fixtures in ./fixtures are Jobs, pods
 * and events captured from the local cluster (managedFields removed); a few verdicts whose situations
 * cannot be produced on a single-node test cluster (eviction, preemption) are derived from them by
 * setting the status fields the kubelet / controllers set. node-lost.json is real: a pod bound to a Node
 * object with no kubelet, whose node was then deleted (the pod GC failed the pod before deleting it).
 */
import { strict as assert } from "node:assert";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { CoreV1Event, V1Job, V1Pod } from "@kubernetes/client-node";
import {
  explain,
  explainCreateError,
  isRetryable,
  parseConfigError,
  type Verdict,
} from "../../../../runtime/exec/kubernetes/explain.js";
import { parseQuantity } from "../../../../runtime/contract/units.js";

interface Fixture {
  job: V1Job;
  pod: V1Pod;
  events: CoreV1Event[];
}
const FIX = join(dirname(fileURLToPath(import.meta.url)), "fixtures");
const load = (name: string): Fixture => JSON.parse(readFileSync(join(FIX, `${name}.json`), "utf8")) as Fixture;
const at = (f: Fixture, secondsAfterCreation: number) =>
  new Date(new Date(f.pod.metadata!.creationTimestamp!).getTime() + secondsAfterCreation * 1000);

describe("explain (real-shaped fixtures)", () => {
  it("succeeded and running", () => {
    const ok = load("succeeded");
    assert.deepEqual(explain({ step: "s", ...ok }), { state: "succeeded", reason: "Succeeded", retryable: false });
    const run = load("running");
    assert.equal(explain({ step: "s", ...run }).state, "running");
  });

  it("Unschedulable: pending with the scheduler's message, failed after the pending timeout, never with null", () => {
    const f = load("unschedulable");
    const pending = explain({ step: "train", ...f, now: at(f, 60) });
    assert.equal(pending.state, "pending");
    assert.equal(pending.reason, "Unschedulable");
    assert.match(
      pending.message!,
      /^step train cannot be scheduled: 0\/1 nodes are available: 1 Insufficient cpu\. \(it requests cpu=1k\)/,
    );
    assert.match(pending.message!, /Pending for 60 s; failing after 15 min/);
    const failed = explain({ step: "train", ...f, now: at(f, 16 * 60) });
    assert.equal(failed.state, "failed");
    assert.equal(failed.retryable, false);
    assert.match(failed.message!, /Gave up after 16 min pending \(KUBESTEP_KUBERNETES_PENDING_TIMEOUT\)/);
    assert.equal(explain({ step: "train", ...f, now: at(f, 99_999), pendingTimeoutSeconds: null }).state, "pending");
    // Without the condition message, the FailedScheduling event's message is used.
    const pod = structuredClone(f.pod);
    pod.status!.conditions![0]!.message = undefined;
    assert.match(
      explain({ step: "train", job: f.job, pod, events: f.events }).message!,
      /0\/1 nodes are available: 1 Insufficient cpu/,
    );
  });

  it("ErrImagePull / ImagePullBackOff: pending within the grace, then failed naming the image and the kubelet's message", () => {
    const f = load("image-pull");
    const first = new Date(f.events.find((e) => /^Failed to pull image/.test(e.message ?? ""))!.firstTimestamp!);
    const early = explain({ step: "prep", ...f, now: new Date(first.getTime() + 10_000), imagePullGraceSeconds: 60 });
    assert.equal(early.state, "pending");
    assert.match(early.message!, /failing in 50 s/);
    const v = explain({ step: "prep", ...f, now: new Date(first.getTime() + 61_000), imagePullGraceSeconds: 60 });
    assert.equal(v.state, "failed");
    assert.equal(v.reason, "ImagePull");
    assert.equal(v.retryable, false);
    assert.match(
      v.message!,
      /^step prep cannot start: pulling image does-not-exist failed \((ErrImagePull|ImagePullBackOff)\): Failed to pull image "does-not-exist": rpc error/,
    );
  });

  it("CreateContainerConfigError names the missing secret and how to create it", () => {
    const f = load("missing-secret");
    const v = explain({ step: "load", ...f, now: at(f, 120) });
    assert.equal(v.state, "failed");
    assert.equal(v.reason, "CreateContainerConfigError");
    const ns = f.pod.metadata!.namespace!;
    assert.equal(
      v.message,
      `step load cannot start its container: secret db-credentials does not exist (secret "db-credentials" not found); create it in namespace ${ns} (kubectl create secret generic db-credentials -n ${ns} ...) or remove it from the step's secrets.`,
    );
    assert.equal(explain({ step: "load", ...f, now: at(f, 1), configErrorGraceSeconds: 30 }).state, "pending");
    assert.deepEqual(parseConfigError("couldn't find key password in Secret ns1/db"), {
      kind: "secret",
      name: "db",
      key: "password",
    });
    assert.deepEqual(parseConfigError('configmap "settings" not found'), { kind: "configmap", name: "settings" });
  });

  it("OOMKilled: the limit in MB and what to raise", () => {
    const f = load("oom");
    const v = explain({ step: "train", ...f });
    assert.deepEqual(v, {
      state: "failed",
      reason: "OOMKilled",
      message: "step train ran out of memory (limit 67 MB); raise memory=256 (MB) with @resources or @kubernetes",
      retryable: true,
    });
    const pod = structuredClone(f.pod);
    pod.spec!.containers[0]!.resources = { limits: { memory: "4096M" } };
    assert.match(
      explain({ step: "train", job: f.job, pod }).message!,
      /^step train ran out of memory \(limit 4096 MB\); raise memory=8192 \(MB\)/,
    );
  });

  it("a non-zero exit code is a retryable failure", () => {
    const f = load("exit-code");
    const v = explain({ step: "fit", ...f });
    assert.equal(v.state, "failed");
    assert.equal(v.reason, "Error");
    assert.match(v.message!, /^step fit failed: its container exited with code 3/);
    assert.equal(v.retryable, true);
  });

  it("DeadlineExceeded from the Job condition", () => {
    const f = load("deadline");
    const v = explain({ step: "slow", ...f });
    assert.equal(v.reason, "DeadlineExceeded");
    assert.match(
      v.message!,
      /^step slow timed out: it ran longer than its time limit of 2 s \(Job was active longer than specified deadline\); raise @timeout/,
    );
  });

  it("Evicted (status set by the kubelet)", () => {
    const f = load("running");
    const pod = structuredClone(f.pod);
    pod.status = {
      ...pod.status,
      phase: "Failed",
      reason: "Evicted",
      message:
        "The node was low on resource: memory. Container task was using 2097152Ki, which exceeds its request of 0. ",
      containerStatuses: [],
    };
    const v = explain({ step: "etl", job: f.job, pod });
    assert.equal(v.reason, "Evicted");
    assert.match(v.message!, /^step etl: pod \S+ was evicted by the kubelet: The node was low on resource: memory/);
    assert.equal(v.retryable, true);
  });

  it("node lost (pod status NodeLost, or deleted after NodeNotReady)", () => {
    const f = load("running");
    const pod = structuredClone(f.pod);
    pod.status = {
      ...pod.status,
      reason: "NodeLost",
      message: "Node local-node which was running pod x is unresponsive",
    };
    const v = explain({ step: "etl", job: f.job, pod });
    assert.equal(v.reason, "NodeLost");
    assert.match(
      v.message!,
      /^step etl: the node running pod \S+ \(local-node\) was lost \(Node local-node which was running pod x is unresponsive\)/,
    );
    const ev: CoreV1Event = {
      metadata: {},
      involvedObject: { kind: "Pod", name: f.pod.metadata!.name },
      reason: "NodeNotReady",
      message: "Node is not ready",
      lastTimestamp: new Date(),
    };
    assert.equal(explain({ step: "etl", job: f.job, pod: f.pod, events: [ev], podDeleted: true }).reason, "NodeLost");
  });

  it("pod deleted by someone else", () => {
    const f = load("running");
    const v = explain({ step: "etl", ...f, podDeleted: true });
    assert.equal(v.reason, "PodDeleted");
    assert.match(v.message!, /deleted by someone else \(not kubestep\)/);
    assert.equal(explain({ step: "etl", job: f.job, podDeleted: true }).reason, "PodDeleted");
  });

  it("no pod yet: pending; a FailedCreate quota event is shown", () => {
    const f = load("succeeded");
    const job = structuredClone(f.job);
    job.status = {};
    assert.equal(explain({ step: "a", job }).state, "pending");
    const ev: CoreV1Event = {
      metadata: {},
      involvedObject: { kind: "Job", name: job.metadata!.name },
      reason: "FailedCreate",
      message:
        'Error creating: pods "a-x" is forbidden: exceeded quota: compute, requested: requests.cpu=2, used: requests.cpu=8, limited: requests.cpu=8',
      lastTimestamp: new Date(),
    };
    const v = explain({ step: "a", job, events: [ev] });
    assert.equal(v.reason, "QuotaExceeded");
    assert.match(v.message!, /exceeded quota: compute/);
  });

  it("explainCreateError: quota 403 body as client-node delivers it (JSON text)", () => {
    const body = JSON.stringify({
      kind: "Status",
      apiVersion: "v1",
      status: "Failure",
      message:
        'jobs.batch "ks-x" is forbidden: exceeded quota: compute, requested: count/jobs.batch=1, used: count/jobs.batch=0, limited: count/jobs.batch=0',
      reason: "Forbidden",
      code: 403,
    });
    const err = Object.assign(new Error("HTTP-Code: 403"), { code: 403, body });
    const v = explainCreateError(err, "train");
    assert.equal(v.reason, "QuotaExceeded");
    assert.match(
      v.message!,
      /^step train could not be submitted: the namespace's resource quota is exceeded: jobs.batch "ks-x" is forbidden: exceeded quota: compute/,
    );
    assert.equal(
      explainCreateError(
        Object.assign(new Error("x"), {
          code: 403,
          body: JSON.stringify({ message: 'jobs.batch is forbidden: User "u" cannot create resource' }),
        }),
        "t",
      ).reason,
      "Forbidden",
    );
    assert.equal(
      explainCreateError(Object.assign(new Error("x"), { code: 422, body: { message: "invalid" } }), "t").reason,
      "Invalid",
    );
    assert.equal(explainCreateError(new Error("connect ECONNREFUSED"), "t").retryable, true);
  });

  it("explainCreateError: an admission webhook that does not answer (the JobSet controller down) is explained and retryable", () => {
    // The Status the API server returns when it cannot reach a webhook (shape as captured from the local cluster).
    const body = JSON.stringify({
      kind: "Status",
      apiVersion: "v1",
      status: "Failure",
      reason: "InternalError",
      code: 500,
      message:
        'Internal error occurred: failed calling webhook "mjobset.kb.io": failed to call webhook: Post "https://127.0.0.1:9443/mutate-jobset-x-k8s-io-v1alpha2-jobset?timeout=10s": dial tcp 127.0.0.1:9443: connect: connection refused',
    });
    const v = explainCreateError(Object.assign(new Error("HTTP-Code: 500"), { code: 500, body }), "train");
    assert.equal(v.reason, "WebhookUnavailable");
    assert.equal(v.retryable, true);
    assert.match(
      v.message!,
      /^step train could not be submitted: the cluster's admission webhook mjobset\.kb\.io did not answer/,
    );
    assert.match(v.message!, /JobSet controller: check that it runs .* or remove the JobSet CRD/);
    const other = explainCreateError(
      Object.assign(new Error("x"), {
        code: 500,
        body: JSON.stringify({
          code: 500,
          message: 'Internal error occurred: failed calling webhook "policy.example.com": context deadline exceeded',
        }),
      }),
      "t",
    );
    assert.equal(other.reason, "WebhookUnavailable");
    assert.match(other.message!, /policy\.example\.com.*Check that the controller serving that webhook runs\.$/);
  });

  it("ContainerCreating with a missing config map volume: pending with the FailedMount event, failed after the pending timeout, not retryable", () => {
    const f = load("missing-configmap");
    const scheduled = new Date(
      f.pod.status!.conditions!.find((c) => c.type === "PodScheduled")!.lastTransitionTime!,
    ).getTime();
    const at = (s: number) => new Date(scheduled + s * 1000);
    const pending = explain({ step: "load", ...f, now: at(20), pendingTimeoutSeconds: 60 });
    assert.equal(pending.state, "pending");
    assert.equal(pending.reason, "ContainerCreating");
    assert.match(
      pending.message!,
      /^step load: pod \S+ is starting on local-node \(ContainerCreating\); FailedMount: MountVolume\.SetUp failed for volume "cfg" : configmap "no-such-configmap" not found$/,
    );
    const ns = f.pod.metadata!.namespace!;
    const failed = explain({ step: "load", ...f, now: at(61), pendingTimeoutSeconds: 60 });
    assert.deepEqual(failed, {
      state: "failed",
      reason: "ContainerCreating",
      message: `step load cannot start: pod ${f.pod.metadata!.name} was stuck in ContainerCreating on local-node for 61 s (FailedMount: MountVolume.SetUp failed for volume "cfg" : configmap "no-such-configmap" not found); create configmap no-such-configmap in namespace ${ns} or remove it from the step. Gave up after the pending timeout (KUBESTEP_KUBERNETES_PENDING_TIMEOUT).`,
      retryable: false,
    });
    // The default timeout is 15 minutes; null waits forever.
    assert.equal(explain({ step: "load", ...f, now: at(14 * 60) }).state, "pending");
    assert.equal(explain({ step: "load", ...f, now: at(16 * 60) }).state, "failed");
    assert.equal(explain({ step: "load", ...f, now: at(99_999), pendingTimeoutSeconds: null }).state, "pending");
  });

  it("ContainerCreating with a volume that cannot mount (hostPath PV): the kubelet's newest warning, not the scheduler's older ones", () => {
    const f = load("failed-mount");
    const v = explain({ step: "mount", ...f, now: new Date(Date.now() + 3600_000), pendingTimeoutSeconds: 10 });
    assert.equal(v.state, "failed");
    assert.equal(v.retryable, false);
    assert.match(
      v.message!,
      /\(FailedMount: MountVolume\.SetUp failed for volume "\S+" : hostPath type check failed: \/nonexistent\/kubestep-i13 is not a directory\); fix the volume \(its PersistentVolume, claim or storage\)/,
    );
  });

  it("ContainerCreating whose image pull just failed (the event before the status) waits for the image-pull verdict", () => {
    const f = load("missing-configmap");
    const later = new Date(Date.now() + 3600_000);
    const failedPull: CoreV1Event = {
      metadata: {},
      involvedObject: { kind: "Pod", name: f.pod.metadata!.name! },
      type: "Warning",
      reason: "Failed",
      message: "Error: ErrImagePull",
      lastTimestamp: later,
    };
    const v = explain({
      step: "s",
      job: f.job,
      pod: f.pod,
      events: [failedPull],
      now: later,
      pendingTimeoutSeconds: 8,
    });
    assert.equal(v.state, "pending");
    assert.match(v.message!, /Failed: Error: ErrImagePull/);
  });

  it("ContainerCreating: an image still being pulled keeps waiting; no warning fails retryable, saying so", () => {
    const f = load("missing-configmap");
    const podName = f.pod.metadata!.name!;
    const later = new Date(Date.now() + 3600_000);
    const pulling: CoreV1Event = {
      metadata: {},
      involvedObject: { kind: "Pod", name: podName },
      type: "Normal",
      reason: "Pulling",
      message: 'Pulling image "cuda:12"',
      lastTimestamp: later,
    };
    const still = explain({ step: "s", job: f.job, pod: f.pod, events: [...f.events, pulling], now: later });
    assert.equal(still.state, "pending");
    const quiet = explain({ step: "s", job: f.job, pod: f.pod, events: [], now: later, pendingTimeoutSeconds: 60 });
    assert.equal(quiet.state, "failed");
    assert.equal(quiet.retryable, true);
    assert.match(quiet.message!, /with no event saying why; see kubectl describe pod/);
  });

  it("node lost for real: the pod's node was deleted, the pod GC failed the pod (DisruptionTarget DeletionByPodGC)", () => {
    const f = load("node-lost");
    const v = explain({ step: "work", ...f });
    const node = f.pod.spec!.nodeName!;
    assert.match(node, /^kubestep-ghost-/);
    assert.deepEqual(v, {
      state: "failed",
      reason: "NodeLost",
      message: `step work: the node running pod ${f.pod.metadata!.name} (${node}) was lost (PodGC: node no longer exists); the step can be retried (@retry) on another node.`,
      retryable: true,
    });
    // The same once the watch saw the pod deleted, and before the Job's own Failed condition.
    assert.equal(explain({ step: "work", pod: f.pod, podDeleted: true }).reason, "NodeLost");
  });

  it("preemption and API evictions (DisruptionTarget) are retryable", () => {
    const f = load("node-lost");
    const with_ = (reason: string, message: string) => {
      const pod = structuredClone(f.pod);
      pod.status!.conditions = [
        { type: "DisruptionTarget", status: "True", reason, message, lastTransitionTime: new Date() },
      ];
      return explain({ step: "w", job: f.job, pod });
    };
    const pre = with_("PreemptionByScheduler", "default-scheduler: preempting to accommodate a higher priority pod");
    assert.equal(pre.reason, "Preempted");
    assert.equal(pre.retryable, true);
    assert.match(pre.message!, /was preempted by the scheduler .*\(default-scheduler: preempting/);
    const ev = with_("EvictionByEvictionAPI", "Eviction API: evicting");
    assert.equal(ev.reason, "Evicted");
    assert.equal(ev.retryable, true);
    assert.equal(with_("DeletionByTaintManager", "Taint manager: deleting due to NoExecute taint").reason, "NodeLost");
  });

  it("the pod's bootstrap failing (exit 70 with its termination message): download retryable, hash mismatch not", () => {
    const f = load("exit-code");
    const withExit = (message: string) => {
      const pod = structuredClone(f.pod);
      const cs = pod.status!.containerStatuses![0]!;
      cs.state = { terminated: { exitCode: 70, reason: "Error", message } };
      return explain({ step: "fit", job: f.job, pod });
    };
    const dl = withExit("cannot download the code package 0123456789ab: HTTP 403 Request has expired");
    assert.equal(dl.reason, "BootstrapFailed");
    assert.equal(dl.retryable, true);
    assert.match(
      dl.message!,
      /^step fit could not start its task: the pod could not download the code package \(cannot download the code package 0123456789ab: HTTP 403 Request has expired\)\. Check that pods reach the datastore/,
    );
    const bad = withExit("code package hash mismatch: expected aa, got bb");
    assert.equal(bad.retryable, false);
    assert.match(bad.message!, /could not verify the code package \(code package hash mismatch: expected aa, got bb\)/);
  });

  it("explainCreateError: 409 AlreadyExists (a name collision) is explained and not retryable", () => {
    const body = JSON.stringify({
      kind: "Status",
      status: "Failure",
      reason: "AlreadyExists",
      code: 409,
      message: 'jobs.batch "ks-f-s-0-abc" already exists',
    });
    const v = explainCreateError(Object.assign(new Error("HTTP-Code: 409"), { code: 409, body }), "s");
    assert.equal(v.reason, "AlreadyExists");
    assert.equal(v.retryable, false);
    assert.match(
      v.message!,
      /^step s could not be submitted: a Job of that name already exists and is not this attempt's .*: jobs\.batch "ks-f-s-0-abc" already exists\. Delete it/,
    );
  });

  it("every failed verdict's retryable agrees with isRetryable(reason) where the reason decides it", () => {
    const failed: Verdict[] = [];
    for (const name of ["oom", "exit-code", "deadline", "node-lost"])
      failed.push(explain({ step: "s", ...load(name) }));
    const late = new Date(Date.now() + 10 * 3600_000);
    for (const name of ["unschedulable", "image-pull", "missing-secret", "missing-configmap"])
      failed.push(explain({ step: "s", ...load(name), now: late }));
    for (const code of [403, 409, 422])
      failed.push(
        explainCreateError(Object.assign(new Error("x"), { code, body: { message: "exceeded quota: q" } }), "s"),
      );
    assert.ok(failed.every((v) => v.state === "failed"));
    const reasons = failed.map((v) => v.reason);
    assert.deepEqual(reasons, [
      "OOMKilled",
      "Error",
      "DeadlineExceeded",
      "NodeLost",
      "Unschedulable",
      "ImagePull",
      "CreateContainerConfigError",
      "ContainerCreating",
      "QuotaExceeded",
      "AlreadyExists",
      "Invalid",
    ]);
    for (const v of failed) {
      const expected = isRetryable(v.reason!);
      if (expected !== undefined) assert.equal(v.retryable, expected, `${v.reason}`);
    }
    assert.deepEqual(
      failed.map((v) => v.retryable),
      [true, true, true, true, false, false, false, false, false, false, false],
    );
  });

  describe("images without Node.js (init container kubestep-node, issue 13)", () => {
    it("the node image cannot be pulled: pending within the grace, then failed naming the init container and nodeImage", () => {
      const f = load("init-image-pull");
      const early = explain({ step: "bare", ...f, now: at(f, 1), imagePullGraceSeconds: 600 });
      assert.equal(early.state, "pending");
      assert.equal(early.reason, "ImagePull");
      const v = explain({ step: "bare", ...f, now: at(f, 120), imagePullGraceSeconds: 60 });
      assert.equal(v.state, "failed");
      assert.equal(v.reason, "ImagePull");
      assert.equal(v.retryable, false);
      assert.match(
        v.message!,
        /^step bare cannot start: pulling the image of the init container kubestep-node, which copies Node\.js from the node image localhost\/no-such-node-image:1 \(nodeImage\) for a step image without node, failed \(ImagePullBackOff\): .*no-such-node-image/,
      );
      assert.match(
        v.message!,
        /Check the image name and tag \(nodeImage= in @kubernetes, KUBESTEP_KUBERNETES_NODE_IMAGE/,
      );
    });

    it("the node image has no node: the init container's failure is the verdict, not retryable", () => {
      const f = load("init-no-node");
      const v = explain({ step: "bare", ...f });
      assert.equal(v.state, "failed");
      assert.equal(v.reason, "Error");
      assert.equal(v.retryable, false);
      assert.match(
        v.message!,
        /^step bare cannot start: the init container kubestep-node, which copies Node\.js from the node image localhost\/nonode:bookworm-local \(nodeImage\) for a step image without node, exited with code 128 \(StartError\): .*"node": executable file not found/,
      );
      assert.match(v.message!, /check that the node image has node on its PATH\.$/);
    });

    it("an image without node and no injection: StartError with what to do", () => {
      const f = load("no-node");
      const v = explain({ step: "bare", ...f });
      assert.equal(v.state, "failed");
      assert.match(
        v.message!,
        /exited with code 128 \(StartError\): .*exec: "node": executable file not found in \$PATH/,
      );
      assert.match(
        v.message!,
        /The image has no node on its PATH: let kubestep bring Node\.js into the pod \(@kubernetes injectNode "always"/,
      );
    });

    it("an image without glibc: the wrapper's termination message says why", () => {
      const f = load("no-glibc");
      const v = explain({ step: "bare", ...f });
      assert.equal(v.state, "failed");
      assert.match(
        v.message!,
        /^step bare failed: its container exited with code 70: the image has no Node\.js >= 20 on its PATH \(found: none\) and the Node\.js kubestep brought from the node image cannot run in it: .*\/kubestep\/node\/bin\/node: not found/,
      );
      assert.match(v.message!, /It needs glibc and libstdc\+\+/);
    });

    it("a missing /bin/sh gets its own hint (derived from the no-node fixture)", () => {
      const f = load("no-node");
      const pod = structuredClone(f.pod);
      const t = pod.status!.containerStatuses![0]!.state!.terminated!;
      t.message = t.message!.replace('"node"', '"sh"');
      const v = explain({ step: "bare", job: f.job, pod, events: f.events });
      assert.match(v.message!, /The image has no \/bin\/sh.*distroless images are not supported/);
    });
  });

  it("parseQuantity", () => {
    assert.equal(parseQuantity("64Mi"), 64 * 2 ** 20);
    assert.equal(parseQuantity("4096M"), 4096e6);
    assert.equal(parseQuantity("500m"), 0.5);
    assert.equal(parseQuantity("1e3"), 1000);
    assert.equal(parseQuantity("1.5Gi"), 1.5 * 2 ** 30);
    assert.equal(parseQuantity("bad"), undefined);
  });
});
