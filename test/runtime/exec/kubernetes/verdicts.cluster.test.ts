/**
 * Failures on the REAL local cluster, explained, and how `@retry` treats them (with a REAL S3 server as the
 * datastore): a volume that cannot mount fails after the pending timeout with the kubelet's event; a bad image
 * is not retried; a lost node (a Node object with no kubelet, deleted while the pod "runs" on it) is reported
 * as such and retried; the pod's bootstrap failing (download error, hash mismatch) is explained; a Job name
 * collision (409) is explained; each failure class ends the CLI with its exit code.
 */
import { strict as assert } from "node:assert";
import { execFileSync } from "node:child_process";
import { dirname, join } from "node:path";
import { FLOWS, kubestep, runIdOf, scratch, type CliResult } from "../../../helpers/cli.js";
import { Flow } from "../../../../runtime/client/index.js";
import { openStorage } from "../../../../runtime/datastore/open.js";
import { FlowDatastore } from "../../../../runtime/datastore/flowstore.js";
import { jobNameFor } from "../../../../runtime/kubernetes/jobspec.js";
import { createS3Namespace, required, kubectl } from "../../../helpers/cluster-namespace.js";

const NS = `ks-verdicts-${Date.now().toString(36)}`;
const flows = join(FLOWS, "k8s", "verdicts.ts");
const NODE = process.env.LOCAL_CLUSTER_NODE ?? "local-node";
const IMAGE = `localhost/node:${process.versions.node.split(".")[0]}-local`;

function kubectlCreate(obj: object, verb: "apply" | "create" = "apply"): void {
  execFileSync("kubectl", [verb, "-f", "-"], { input: JSON.stringify(obj), encoding: "utf8", stdio: "pipe" });
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const cwd = scratch();
function env(extra: Record<string, string> = {}): Record<string, string> {
  return {
    KUBESTEP_KUBERNETES_NAMESPACE: NS,
    KUBESTEP_KUBERNETES_CONTAINER_IMAGE: IMAGE,
    KUBESTEP_KUBERNETES_IMAGE_PULL_POLICY: "IfNotPresent",
    KUBESTEP_DEFAULT_DATASTORE: "s3",
    KUBESTEP_KUBERNETES_PENDING_TIMEOUT: "8s",
    KUBESTEP_KUBERNETES_IMAGE_PULL_GRACE: "5s",
    ...extra,
  };
}
const run = (flow: string, extra: Record<string, string> = {}, args: string[] = []): Promise<CliResult> =>
  kubestep(["run", "--flow", flow, ...args, flows], { cwd, env: env(extra) });
/** The attempts of a step's (only) task, as recorded in the S3 datastore. */
async function attempts(flow: string, runId: string, step: string) {
  const f = await Flow.connect(flow, { datastore: "s3" });
  return f.run(runId)!.step(step).task.attempts;
}
const jobsOfRun = (id: string) =>
  kubectl("get", "jobs", "-n", NS, "-l", `kubestep.io/run=${id}`, "-o", "name").split("\n").filter(Boolean);

describe("Kubernetes failures, explained and retried as they deserve (real cluster)", function () {
  this.timeout(300_000);

  before(() => {
    createS3Namespace(NS);
  });
  after(() => {
    for (const args of [
      ["delete", "namespace", NS, "--wait=false"],
      ["delete", "pv", `${NS}-broken`, "--wait=false", "--ignore-not-found"],
    ])
      try {
        kubectl(...args);
      } catch {
        /* best effort */
      }
  });

  it("a bad image is not retried although @retry allows 2 more attempts: one attempt, the image verdict, exit 1", async () => {
    const r = await run("RetryBadImageFlow");
    assert.equal(r.code, 1, r.stderr);
    assert.match(
      r.stderr,
      /attempt 1 failed: step pull cannot start: pulling image localhost\/does-not-exist:1 failed \((ErrImagePull|ImagePullBackOff)\)/,
    );
    assert.match(
      r.stderr,
      /not retried although @retry allows 2 more attempt\(s\): image cannot succeed on another attempt until its cause is fixed/,
    );
    assert.doesNotMatch(r.stderr, /retrying \(attempt 2/);
    const id = runIdOf(r);
    const recorded = await attempts("RetryBadImageFlow", id, "pull");
    assert.deepEqual(
      recorded.map((a) => [a.status, a.reason]),
      [["failed", "image"]],
    );
    assert.deepEqual(jobsOfRun(id), [], "nothing is left behind");
  });

  it("a volume that cannot mount (stuck in ContainerCreating) fails after the pending timeout with the kubelet's FailedMount, not retried", async () => {
    // A claim bound to a hostPath volume whose directory does not exist: scheduled, then FailedMount forever.
    kubectlCreate({
      apiVersion: "v1",
      kind: "PersistentVolume",
      metadata: { name: `${NS}-broken` },
      spec: {
        capacity: { storage: "1Gi" },
        accessModes: ["ReadWriteOnce"],
        storageClassName: "",
        claimRef: { namespace: NS, name: "ks-broken-volume" },
        hostPath: { path: `/nonexistent/${NS}`, type: "Directory" },
      },
    });
    kubectlCreate({
      apiVersion: "v1",
      kind: "PersistentVolumeClaim",
      metadata: { name: "ks-broken-volume", namespace: NS },
      spec: {
        accessModes: ["ReadWriteOnce"],
        storageClassName: "",
        volumeName: `${NS}-broken`,
        resources: { requests: { storage: "1Gi" } },
      },
    });
    const r = await run("BrokenVolumeFlow", { KUBESTEP_KUBERNETES_PENDING_TIMEOUT: "15s" });
    assert.equal(r.code, 1, r.stderr);
    assert.match(
      r.stderr,
      new RegExp(
        `attempt 1 failed: step mount cannot start: pod \\S+ was stuck in ContainerCreating on ${NODE} for \\d+ s \\(FailedMount: MountVolume.SetUp failed for volume "${NS}-broken" : hostPath type check failed: /nonexistent/${NS} is not a directory\\); fix the volume`,
      ),
    );
    assert.match(r.stderr, /KUBESTEP_KUBERNETES_PENDING_TIMEOUT/);
    assert.match(r.stderr, /not retried although @retry allows 1 more attempt\(s\): container-creating cannot succeed/);
    const id = runIdOf(r);
    assert.deepEqual(
      (await attempts("BrokenVolumeFlow", id, "mount")).map((a) => a.reason),
      ["container-creating"],
    );
    assert.deepEqual(jobsOfRun(id), [], "the stuck pod's Job is deleted");
  });

  it("a lost node: the pod's node is deleted while it runs; the verdict says node lost and @retry runs it again on a live node", async () => {
    const ghost = `kubestep-ghost-${Date.now().toString(36)}`;
    const label = "kubestep.io/ghost-test";
    // A Node object with no kubelet behind it, tainted so that only this test's pod (which tolerates it) lands there.
    kubectlCreate(
      {
        apiVersion: "v1",
        kind: "Node",
        metadata: { name: ghost, labels: { "kubernetes.io/hostname": ghost, [label]: ghost } },
        spec: { taints: [{ key: "kubestep.io/ghost", value: ghost, effect: "NoSchedule" }] },
      },
      "create",
    );
    const t = new Date().toISOString().replace(/\.\d+Z$/, "Z");
    const capacity = { cpu: "4", memory: "8Gi", "ephemeral-storage": "100Gi", pods: "10" };
    kubectl(
      "patch",
      "node",
      ghost,
      "--subresource=status",
      "--type=merge",
      "-p",
      JSON.stringify({
        status: {
          capacity,
          allocatable: capacity,
          conditions: [
            { type: "Ready", status: "True", reason: "KubeletReady", lastHeartbeatTime: t, lastTransitionTime: t },
          ],
        },
      }),
    );
    const runId = `nodelost-${Date.now().toString(36)}`;
    try {
      const running = run(
        "NodeLostFlow",
        {
          KUBESTEP_KUBERNETES_NODE_SELECTOR: `${label}=${ghost}`,
          KUBESTEP_KUBERNETES_TOLERATIONS: JSON.stringify([{ operator: "Exists" }]),
          KUBESTEP_KUBERNETES_PENDING_TIMEOUT: "5m",
        },
        ["--run-id", runId],
      );
      // The first attempt's pod is bound to the ghost node.
      let pod = "";
      for (let i = 0; i < 240 && !pod; i++) {
        await sleep(500);
        pod = kubectl(
          "get",
          "pods",
          "-n",
          NS,
          "-l",
          `kubestep.io/run=${runId},kubestep.io/attempt=0`,
          "-o",
          `jsonpath={range .items[?(@.spec.nodeName=="${ghost}")]}{.metadata.name}{end}`,
        ).trim();
      }
      assert.ok(pod, "the first attempt's pod was scheduled on the ghost node");
      // What the node's kubelet would report: the container runs.
      kubectl(
        "patch",
        "pod",
        pod,
        "-n",
        NS,
        "--subresource=status",
        "--type=merge",
        "-p",
        JSON.stringify({
          status: {
            phase: "Running",
            containerStatuses: [
              {
                name: "kubestep",
                image: IMAGE,
                imageID: "",
                ready: true,
                started: true,
                restartCount: 0,
                state: { running: { startedAt: new Date().toISOString().replace(/\.\d+Z$/, "Z") } },
              },
            ],
          },
        }),
      );
      // The retry must fit the live node; then the node the pod runs on disappears.
      kubectl("label", "node", NODE, `${label}=${ghost}`, "--overwrite");
      kubectl("delete", "node", ghost, "--wait=false");
      const r = await running;
      assert.equal(r.code, 0, r.stderr + r.stdout);
      assert.match(
        r.stderr,
        new RegExp(
          `attempt 1 failed: step work: the node running pod ${pod} \\(${ghost}\\) was lost \\(PodGC: node no longer exists\\); the step can be retried`,
        ),
      );
      assert.match(r.stderr, /retrying \(attempt 2 of 2\)/);
      const recorded = await attempts("NodeLostFlow", runId, "work");
      assert.deepEqual(
        recorded.map((a) => [a.status, a.reason]),
        [
          ["failed", "node-lost"],
          ["succeeded", undefined],
        ],
      );
    } finally {
      kubectl("label", "node", NODE, `${label}-`);
      kubectl("delete", "node", ghost, "--ignore-not-found", "--wait=false");
    }
  });

  it("a Job name collision (409 AlreadyExists, not this attempt's Job) is explained, not retried, and the other Job is left alone", async () => {
    const runId = `collide-${Date.now().toString(36)}`;
    const name = jobNameFor({ flowName: "CollisionFlow", runId, stepName: "work", taskId: "2", attempt: 0 });
    // Someone else's Job of that very name.
    kubectlCreate({
      apiVersion: "batch/v1",
      kind: "Job",
      metadata: { name, namespace: NS, labels: { owner: "someone-else" } },
      spec: {
        suspend: true,
        template: {
          spec: { restartPolicy: "Never", containers: [{ name: "c", image: IMAGE, command: ["true"] }] },
        },
      },
    });
    const r = await run("CollisionFlow", {}, ["--run-id", runId]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(
      r.stderr,
      new RegExp(
        `attempt 1 failed: step work could not be submitted: a Job of that name already exists and is not this attempt's .*jobs.batch "${name}" already exists`,
      ),
    );
    assert.match(r.stderr, /not retried although @retry allows 1 more attempt\(s\): AlreadyExists cannot succeed/);
    assert.doesNotMatch(r.stderr, /re-attached/);
    assert.equal(kubectl("get", "job", name, "-n", NS, "-o", "jsonpath={.metadata.labels.owner}"), "someone-else");
  });

  it("the pod's bootstrap cannot download the code package (an endpoint pods cannot reach): explained, retried, exit 1", async () => {
    // The S3 server answers on every address of the host; 127.0.0.1 is the pod's own loopback in a pod.
    const endpoint = required("KUBESTEP_S3_ENDPOINT_URL").replace(/\/\/[^:/]+/, "//127.0.0.1");
    const r = await run("BootstrapFlow", { KUBESTEP_S3_ENDPOINT_URL: endpoint });
    assert.equal(r.code, 1, r.stderr);
    assert.match(
      r.stderr,
      /step work could not start its task: the pod could not download the code package \(cannot download the code package [0-9a-f]{12}: fetch failed\)\. Check that pods reach the datastore/,
    );
    const id = runIdOf(r);
    assert.deepEqual(
      (await attempts("BootstrapFlow", id, "work")).map((a) => [a.reason, a.exitCode]),
      [
        ["bootstrap", 70],
        ["bootstrap", 70],
      ],
    );
  });

  it("the pod's bootstrap finds a code package that does not match its hash: explained, not retried", async () => {
    // The CLI verifies (and repairs) the stored package before the run, so it is damaged during the run: once the
    // local start step finished, before the @kubernetes step's pod (scheduled and started after it) downloads it.
    const storage = await openStorage("s3", required("KUBESTEP_DATASTORE_SYSROOT_S3"));
    const ds = new FlowDatastore(storage, "BootstrapFlow");
    const dir = dirname(ds.codeKey("x"));
    let damaged: Promise<string[]> | undefined;
    const damage = async () => {
      const keys = (await storage.list(dir))
        .filter((k) => k.endsWith(".mjs"))
        .map((k) => (k.startsWith(dir) ? k : `${dir}/${k}`));
      for (const k of keys) await storage.put(k, "not the code package");
      return keys;
    };
    const r = await kubestep(["run", "--flow", "BootstrapFlow", flows], {
      cwd,
      env: env({}),
      onOutput: (printed) => {
        if (!damaged && /\/start\/1\] finished/.test(printed)) damaged = damage();
      },
    });
    const keys = await damaged;
    try {
      assert.ok(keys && keys.length >= 1, `the code package of BootstrapFlow was damaged in ${dir}:\n${r.stderr}`);
      assert.equal(r.code, 1, r.stderr);
      assert.match(
        r.stderr,
        /step work could not start its task: the pod could not verify the code package \(code package hash mismatch: expected [0-9a-f]{64}, got [0-9a-f]{64}\)\. The code package stored in the datastore is damaged/,
      );
      assert.match(r.stderr, /not retried although @retry allows 1 more attempt\(s\): bootstrap cannot succeed/);
    } finally {
      for (const k of keys ?? []) await storage.delete(k);
    }
  });

  it("bad configuration ends the CLI with exit 2 before anything is submitted (KUBESTEP_KUBERNETES_PENDING_TIMEOUT=0)", async () => {
    const runId = `badcfg-${Date.now().toString(36)}`;
    const r = await run("CollisionFlow", { KUBESTEP_KUBERNETES_PENDING_TIMEOUT: "0" }, ["--run-id", runId]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /KUBESTEP_KUBERNETES_PENDING_TIMEOUT="0" is invalid; use seconds/);
    assert.doesNotMatch(r.stderr, /\n\s+at /, "no stack trace");
    assert.deepEqual(jobsOfRun(runId), []);
  });
});
