/**
 * @kubernetes steps end to end on the REAL local cluster, with a REAL S3 server (versitygw, verifying SigV4) as the datastore:
 * artifacts both ways, secrets, tmpfs, /dev/shm, PVC, node selection, GPU pools, retries, @catch, every
 * failure explained, Ctrl-C cleanup, list/kill, and logs after the pods are gone.
 */
import { strict as assert } from "node:assert";
import { spawn, execFileSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { FLOWS, BIN, kubestep, runIdOf, scratch, type CliResult } from "../../../helpers/cli.js";
import { createS3Namespace, required, kubectl } from "../../../helpers/cluster-namespace.js";

const NS = `ks-e2e-${Date.now().toString(36)}`;
const flows = join(FLOWS, "k8s");
const features = join(flows, "features.ts");
const NODE = process.env.LOCAL_CLUSTER_NODE ?? "local-node";

function kubectlApply(obj: object): void {
  execFileSync("kubectl", ["apply", "-f", "-"], {
    input: JSON.stringify(obj),
    encoding: "utf8",
    stdio: ["pipe", "pipe", "pipe"],
  });
}

const cwd = scratch();
function env(extra: Record<string, string> = {}): Record<string, string> {
  return {
    KUBESTEP_KUBERNETES_NAMESPACE: NS,
    KUBESTEP_KUBERNETES_CONTAINER_IMAGE: `localhost/node:${process.versions.node.split(".")[0]}-local`,
    KUBESTEP_KUBERNETES_IMAGE_PULL_POLICY: "IfNotPresent",
    KUBESTEP_DEFAULT_DATASTORE: "s3",
    KUBESTEP_KUBERNETES_PENDING_TIMEOUT: "8s",
    KUBESTEP_KUBERNETES_IMAGE_PULL_GRACE: "5s",
    ...extra,
  };
}
const run = (args: string[], extra: Record<string, string> = {}): Promise<CliResult> =>
  kubestep(["run", ...args], { cwd, env: env(extra) });

function podsInNamespace(): string[] {
  return kubectl("get", "pods", "-n", NS, "-o", "name").split("\n").filter(Boolean);
}

describe("Kubernetes executor on the real cluster", function () {
  this.timeout(300_000);

  before(() => {
    createS3Namespace(NS);
    kubectl("create", "secret", "generic", "ks-e2e-secret", "-n", NS, "--from-literal=E2E_TOKEN=s3cr3t");
  });
  after(() => {
    try {
      kubectl("delete", "namespace", NS, "--wait=false");
    } catch {
      /* best effort */
    }
    try {
      kubectl("delete", "pv", `${NS}-pv`, "--wait=false");
    } catch {
      /* may not exist */
    }
  });

  it("runs local start -> @kubernetes foreach x3 -> @kubernetes join -> local end, artifacts flowing both ways; logs live and after the pods are gone", async () => {
    const r = await run([join(flows, "mixed.ts")]);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.match(r.stdout, /words=A10,BB10,CCC10 sum=12 onKubernetes=false/);
    const id = runIdOf(r);
    // Live logs from the pods, prefixed.
    for (const i of [0, 1, 2])
      assert.match(r.stdout, new RegExp(`\\[${id}/fan/\\d+\\] fan ${i} on pod:ks-mixedflow-fan-`));
    // The pods ran with the Job's labels; list finds them by label on the server.
    const list = await kubestep(["kubernetes", "list", "--run-id", id], { cwd, env: env() });
    assert.equal(list.code, 0, list.stderr);
    assert.equal(list.stdout.trim().split("\n").length, 4, list.stdout);
    assert.match(list.stdout, /succeeded\s+MixedFlow\/\S+\/fan\/\d+ attempt 0/);
    // Remove every Job and pod, then read the archived logs from the datastore.
    const kill = await kubestep(["kubernetes", "kill", "--run-id", id], { cwd, env: env() });
    assert.equal(kill.code, 0, kill.stderr);
    assert.match(kill.stdout, /deleted 4 job\(s\)/);
    for (let i = 0; i < 60 && podsInNamespace().length; i++) await new Promise((s) => setTimeout(s, 500));
    assert.deepEqual(podsInNamespace(), []);
    const logs = await kubestep(["logs", `MixedFlow/${id}/fan`], { cwd, env: env() });
    assert.equal(logs.code, 0, logs.stderr);
    assert.equal((logs.stdout.match(/fan \d on pod:/g) ?? []).length, 3, logs.stdout);
  });

  it("mounts secrets as env, a tmpfs tempdir and /dev/shm, with their size limits", async () => {
    const r = await run(["--flow", "VolumesFlow", features]);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    const dump = await kubestep(["dump", `VolumesFlow/${runIdOf(r)}/probe/2`], { cwd, env: env() });
    assert.equal(dump.code, 0, dump.stderr);
    assert.match(dump.stdout, /secret = 's3cr3t'/);
    assert.match(dump.stdout, /tempdir = '\/kubestep_temp'/);
    const TMPFS_MAGIC = 0x01021994;
    assert.match(dump.stdout, new RegExp(`tmpfsType = ${TMPFS_MAGIC}`));
    assert.match(dump.stdout, new RegExp(`shmType = ${TMPFS_MAGIC}`));
    const job = JSON.parse(kubectl("get", "jobs", "-n", NS, "-l", `kubestep.io/step=probe`, "-o", "json")).items[0];
    const vols = Object.fromEntries(
      job.spec.template.spec.volumes.map((v: { name: string; emptyDir?: { sizeLimit: string } }) => [
        v.name,
        v.emptyDir?.sizeLimit,
      ]),
    );
    assert.deepEqual(Object.values(vols).sort(), ["32Mi", "64Mi"]);
  });

  it("shares a PVC (hostPath PV) between two steps", async () => {
    const dir = scratch();
    kubectlApply({
      apiVersion: "v1",
      kind: "PersistentVolume",
      metadata: { name: `${NS}-pv` },
      spec: {
        capacity: { storage: "1Gi" },
        accessModes: ["ReadWriteOnce"],
        storageClassName: "ks-e2e",
        hostPath: { path: dir },
        claimRef: { namespace: NS, name: "ks-e2e-pvc" },
      },
    });
    kubectlApply({
      apiVersion: "v1",
      kind: "PersistentVolumeClaim",
      metadata: { name: "ks-e2e-pvc", namespace: NS },
      spec: { accessModes: ["ReadWriteOnce"], storageClassName: "ks-e2e", resources: { requests: { storage: "1Gi" } } },
    });
    const r = await run(["--flow", "PvcFlow", features]);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    const id = runIdOf(r);
    const token = (
      await kubestep(["dump", `PvcFlow/${id}/start/1`, "--artifact", "token"], { cwd, env: env() })
    ).stdout.trim();
    const readBack = (
      await kubestep(["dump", `PvcFlow/${id}/read/3`, "--artifact", "readBack"], { cwd, env: env() })
    ).stdout.trim();
    assert.match(token, /^token = 't-\d+'$/);
    assert.equal(readBack.replace("readBack", "token"), token);
  });

  it("honours nodeSelector and tolerations on a tainted node", async () => {
    kubectl("label", "node", NODE, "kubestep.io/e2e-pool=pinned", "--overwrite");
    kubectl("taint", "node", NODE, "kubestep.io/e2e-dedicated=yes:NoSchedule", "--overwrite");
    try {
      const r = await run(["--flow", "SelectorFlow", features]);
      assert.equal(r.code, 0, r.stderr + r.stdout);
      const pod = JSON.parse(kubectl("get", "jobs", "-n", NS, "-l", "kubestep.io/step=pinned", "-o", "json")).items[0]
        .spec.template.spec;
      assert.deepEqual(pod.nodeSelector, { "kubestep.io/e2e-pool": "pinned" });
      assert.ok(pod.tolerations.some((t: { key: string }) => t.key === "kubestep.io/e2e-dedicated"));
    } finally {
      kubectl("taint", "node", NODE, "kubestep.io/e2e-dedicated-");
    }
    // Without the toleration the same taint makes the pod unschedulable: proven by the GPU test below.
  });

  it("requests a GPU from a fake nvidia.com/gpu capacity, the environment's pool taint tolerated automatically", async () => {
    const patch = JSON.stringify([{ op: "add", path: "/status/capacity/nvidia.com~1gpu", value: "2" }]);
    kubectl("patch", "node", NODE, "--subresource=status", "--type=json", "-p", patch);
    kubectl("label", "node", NODE, "kubestep.io/e2e-gpu-pool=fake", "--overwrite");
    kubectl("taint", "node", NODE, "nvidia.com/gpu=present:NoSchedule", "--overwrite");
    const envFile = join(cwd, "environment.json");
    writeFileSync(
      envFile,
      JSON.stringify({
        version: 1,
        name: "e2e",
        namespace: NS,
        serviceAccount: "default",
        image: `localhost/node:${process.versions.node.split(".")[0]}-local`,
        datastore: {
          kind: "s3",
          root: required("KUBESTEP_DATASTORE_SYSROOT_S3"),
          endpoint: required("KUBESTEP_S3_ENDPOINT_URL"),
        },
        gpuPools: [
          {
            name: "fake",
            vendor: "nvidia",
            resourceName: "nvidia.com/gpu",
            nodeLabels: { "kubestep.io/e2e-gpu-pool": "fake" },
            taints: [{ key: "nvidia.com/gpu", value: "present", effect: "NoSchedule" }],
          },
        ],
      }),
    );
    try {
      for (
        let i = 0;
        i < 40 && !kubectl("get", "node", NODE, "-o", "jsonpath={.status.allocatable.nvidia\\.com/gpu}").includes("2");
        i++
      )
        await new Promise((s) => setTimeout(s, 500));
      const r = await run(["--flow", "GpuFlow", features, "--environment", envFile], {
        KUBESTEP_KUBERNETES_CONTAINER_IMAGE: "",
        KUBESTEP_KUBERNETES_NAMESPACE: "",
        KUBESTEP_DEFAULT_DATASTORE: "",
      });
      assert.equal(r.code, 0, r.stderr + r.stdout);
      const spec = JSON.parse(kubectl("get", "jobs", "-n", NS, "-l", "kubestep.io/step=train", "-o", "json")).items[0]
        .spec.template.spec;
      assert.equal(spec.containers[0].resources.limits["nvidia.com/gpu"], "1");
      assert.equal(spec.nodeSelector["kubestep.io/e2e-gpu-pool"], "fake");
      assert.ok(
        spec.tolerations.some(
          (t: { key: string; effect: string }) => t.key === "nvidia.com/gpu" && t.effect === "NoSchedule",
        ),
      );
      // A step without the pool's toleration cannot land on the tainted node: the scheduler says why.
      const blocked = await run(["--flow", "RetryK8sFlow", features]);
      assert.equal(blocked.code, 1);
      assert.match(
        blocked.stderr,
        /step flaky cannot be scheduled: 0\/1 nodes are available: 1 node\(s\) had untolerated taint\(s\)/,
      );
    } finally {
      kubectl("taint", "node", NODE, "nvidia.com/gpu-");
    }
  });

  it("retries a failed pod with a new Job and succeeds on the 2nd attempt", async () => {
    const r = await run(["--flow", "RetryK8sFlow", features]);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.match(r.stderr, /attempt 1 failed: step flaky: Error: first attempt fails on purpose/);
    const jobs = kubectl(
      "get",
      "jobs",
      "-n",
      NS,
      "-l",
      `kubestep.io/run=${runIdOf(r)},kubestep.io/step=flaky`,
      "-o",
      "jsonpath={.items[*].metadata.labels.kubestep\\.io/attempt}",
    );
    assert.deepEqual(jobs.split(" ").sort(), ["0", "1"]);
  });

  it("@catch works for a Kubernetes step", async () => {
    const r = await run(["--flow", "CatchK8sFlow", features]);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.match(r.stderr, /@catch: step boom: Error: boom in a pod; continuing/);
  });

  const failures: Array<[string, RegExp, string]> = [
    ["HugeCpuFlow", /step big cannot be scheduled: 0\/1 nodes are available: 1 Insufficient cpu/, "unschedulable"],
    [
      "BadImageFlow",
      /step pull cannot start: pulling image localhost\/does-not-exist:1 failed \((ErrImagePull|ImagePullBackOff)\)/,
      "image",
    ],
    ["OomFlow", /step hog ran out of memory \(limit 160 MB\); raise memory=/, "oom"],
    ["MissingSecretFlow", /step needs cannot start its container: secret no-such-secret does not exist/, "config"],
  ];
  for (const [flow, message, reason] of failures) {
    it(`explains ${reason}: ${flow}`, async () => {
      const r = await run(["--flow", flow, features]);
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, message);
      const id = runIdOf(r);
      const runs = await kubestep(["runs", flow], { cwd, env: env() });
      assert.match(runs.stdout, new RegExp(`${id}\\s+failed`));
      if (reason !== "oom") {
        // Failures the pod never recovers from leave no Job behind.
        assert.equal(kubectl("get", "jobs", "-n", NS, "-l", `kubestep.io/run=${id}`, "-o", "name").trim(), "");
      } else {
        const logs = await kubestep(["logs", `${flow}/${id}/hog`], { cwd, env: env() });
        assert.match(logs.stdout, /allocating past the limit now/);
      }
    });
  }

  it("explains a Job refused by a ResourceQuota (403 on create) with the quota's message", async () => {
    const nsq = `${NS}-quota`;
    kubectl("create", "namespace", nsq);
    try {
      kubectlApply({
        apiVersion: "v1",
        kind: "ResourceQuota",
        metadata: { name: "no-jobs", namespace: nsq },
        spec: { hard: { "count/jobs.batch": "0" } },
      });
      const r = await run(["--flow", "CatchK8sFlow", features], { KUBESTEP_KUBERNETES_NAMESPACE: nsq });
      assert.equal(r.code, 0, "@catch turns the refusal into a recorded failure");
      assert.match(
        r.stderr,
        /step boom could not be submitted: the namespace's resource quota is exceeded: .*exceeded quota: no-jobs/,
      );
    } finally {
      kubectl("delete", "namespace", nsq, "--wait=false");
    }
  });

  const parallelWith = 'kubernetes:cpu=0.2,memory=256,secrets=["kubestep-s3"]';
  const gangPods = (id: string) =>
    kubectl("get", "pods", "-n", NS, "-l", `kubestep.io/run=${id},kubestep.io/step=train`, "-o", "name").trim();
  const jobSets = (id: string) =>
    JSON.parse(kubectl("get", "jobsets.jobset.x-k8s.io", "-n", NS, "-l", `kubestep.io/run=${id}`, "-o", "json"))
      .items as Array<{ metadata: { name: string } }>;
  async function untilNoGangPod(id: string): Promise<void> {
    for (let i = 0; i < 120 && gangPods(id); i++) await new Promise((s) => setTimeout(s, 500));
  }

  /** Runs the gang with node 2 failing; asserts the step failed with its reason, no pod is left and the log was archived. */
  async function failingGang(): Promise<string> {
    const r = await run([join(FLOWS, "parallel.ts"), "--with", parallelWith, "--fail-node", "2"]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(
      r.stderr,
      /step train: parallel node 2 \(task \d+\) failed: step train: Error: node 2 fails on purpose/,
    );
    const id = runIdOf(r);
    await untilNoGangPod(id);
    assert.equal(gangPods(id), "", "no pod of the gang is left");
    // The failing node's output was archived before its Job was deleted.
    const logs = await kubestep(["logs", `ParallelFlow/${id}/train`], { cwd, env: env() });
    assert.match(logs.stdout, /node 2 fails on purpose/);
    return id;
  }

  /** Starts the gang with every node holding (10 min) and waits until all 3 run; returns the CLI process and the run id. */
  async function holdingGang(): Promise<{
    child: ReturnType<typeof spawn>;
    closed: Promise<unknown>;
    id: string;
    out: () => string;
  }> {
    const child = spawn(
      process.execPath,
      [BIN, "run", join(FLOWS, "parallel.ts"), "--with", parallelWith, "--hold-ms", "600000"],
      { cwd, env: { ...process.env, ...env() }, stdio: ["ignore", "pipe", "pipe"] },
    );
    let out = "";
    child.stdout!.on("data", (c) => (out += c));
    child.stderr!.on("data", (c) => (out += c));
    const closed = new Promise((res) => child.on("close", res));
    try {
      for (let i = 0; i < 480 && (out.match(/node \d holding/g) ?? []).length < 3; i++)
        await new Promise((s) => setTimeout(s, 250));
      assert.equal((out.match(/node \d holding/g) ?? []).length, 3, out);
      const id = /run (\S+) \(datastore/.exec(out)?.[1];
      assert.ok(id, out);
      return { child, closed, id, out: () => out };
    } catch (e) {
      child.kill("SIGINT");
      throw e;
    }
  }

  describe("@parallel through the real JobSet controller", () => {
    it("a 3-node gang is one JobSet; workers reach the control node by its DNS name and exchange a message", async () => {
      const r = await run([join(FLOWS, "parallel.ts"), "--with", parallelWith]);
      assert.equal(r.code, 0, r.stderr + r.stdout);
      assert.match(
        r.stdout,
        /nodes=3 received=\["hello from 1\/3 \(control task \d+\)","hello from 2\/3 \(control task \d+\)"\]/,
      );
      const id = runIdOf(r);
      assert.match(r.stderr + r.stdout, /created JobSet \S+ \(3 nodes\)/);
      // The address the workers used is the control pod's hostname under the JobSet's headless Service.
      const mainIp = /mainIp=(\S+)/.exec(r.stdout)?.[1] ?? "";
      assert.match(
        mainIp,
        /^ks-parallelflow-train-0-[a-z0-9]+-control-0-0\.ks-parallelflow-train-0-[a-z0-9]+$/,
        `a DNS name, not an IP: ${mainIp}`,
      );
      // One JobSet, no plain kubestep Jobs for the gang: its Jobs are the JobSet's children.
      const sets = jobSets(id);
      assert.equal(sets.length, 1, JSON.stringify(sets));
      const jobs = JSON.parse(
        kubectl("get", "jobs", "-n", NS, "-l", `kubestep.io/run=${id},kubestep.io/step=train`, "-o", "json"),
      ).items as Array<{ metadata: { ownerReferences?: Array<{ kind: string }> } }>;
      assert.ok(
        jobs.length > 0 && jobs.every((j) => j.metadata.ownerReferences?.[0]?.kind === "JobSet"),
        "every Job of the gang is owned by the JobSet",
      );
    });

    it("one node failing fails the whole step and leaves no pod; the JobSet is deleted", async () => {
      const id = await failingGang();
      assert.deepEqual(jobSets(id), [], "the JobSet was deleted");
    });

    it("Ctrl-C deletes the JobSet, its Jobs and pods", async () => {
      const { child, closed, id, out } = await holdingGang();
      assert.equal(jobSets(id).length, 1, out());
      child.kill("SIGINT");
      assert.equal(await closed, 130, out());
      assert.deepEqual(jobSets(id), [], "the JobSet was deleted");
      await untilNoGangPod(id);
      assert.equal(gangPods(id), "", "no pod of the gang is left");
    });

    it("kubernetes list shows the gang's JobSet and kubernetes kill deletes it (not only its Jobs, which JobSet would recreate)", async () => {
      const { child, closed, id, out } = await holdingGang();
      try {
        const list = await kubestep(["kubernetes", "list", "--run-id", id], { cwd, env: env() });
        assert.equal(list.code, 0, list.stderr);
        assert.match(
          list.stdout,
          /^jobset\/ks-parallelflow-train-0-[a-z0-9]+ +running +ParallelFlow\/\S+\/train attempt 0 user=\S+ \(control \+ worker\)$/m,
        );
        const kill = await kubestep(["kubernetes", "kill", "--run-id", id], { cwd, env: env() });
        assert.equal(kill.code, 0, kill.stderr);
        assert.match(kill.stdout, /deleted 1 JobSet\(s\), \d+ job\(s\) and their pods of run/);
        assert.deepEqual(jobSets(id), [], "the JobSet is gone");
        // The run notices its pods were deleted by someone else and fails; nothing of it is left.
        assert.equal(await closed, 1, out());
        await untilNoGangPod(id);
        assert.equal(gangPods(id), "", "no pod of the gang is left");
      } finally {
        if (child.exitCode === null) child.kill("SIGINT");
      }
    });
  });

  describe("@parallel without the JobSet CRD (control and worker Jobs)", () => {
    // The CRD is removed for these tests and restored after (up.sh keeps a copy in the cluster's state folder).
    const crdFile = join(process.env.LOCAL_CLUSTER_STATE ?? "/tmp/local-cluster", "jobset-crd.yaml");
    const served = () => kubectl("api-versions").split("\n").includes("jobset.x-k8s.io/v1alpha2");
    before(async () => {
      kubectl("delete", "crd", "jobsets.jobset.x-k8s.io", "--wait=true");
      for (let i = 0; i < 120 && served(); i++) await new Promise((r) => setTimeout(r, 500));
      assert.equal(served(), false, "discovery still lists jobset.x-k8s.io/v1alpha2");
    });
    after(async () => {
      kubectl("apply", "--server-side", "-f", crdFile);
      // (`kubectl wait` fails at once while the new CRD has no status yet, so poll.)
      const established = () => {
        // Only the status (the CRD itself is over a megabyte); a CRD without status yet is not Established.
        const status = kubectl("get", "crd", "jobsets.jobset.x-k8s.io", "-o", "jsonpath={.status}").trim();
        const conditions = status
          ? (JSON.parse(status) as { conditions?: Array<{ type: string; status: string }> }).conditions
          : undefined;
        return !!conditions?.some((c) => c.type === "Established" && c.status === "True");
      };
      for (let i = 0; i < 120 && !(established() && served()); i++) await new Promise((r) => setTimeout(r, 500));
      assert.equal(established(), true, "the restored JobSet CRD is Established");
      assert.equal(served(), true, "the JobSet CRD is back");
    });

    it("3 pods, workers reach the control pod by IP and exchange a message", async () => {
      const r = await run([join(FLOWS, "parallel.ts"), "--with", parallelWith]);
      assert.equal(r.code, 0, r.stderr + r.stdout);
      assert.match(
        r.stdout,
        /nodes=3 received=\["hello from 1\/3 \(control task \d+\)","hello from 2\/3 \(control task \d+\)"\] mainIp=\d+\.\d+\.\d+\.\d+/,
      );
      const jobs = kubectl(
        "get",
        "jobs",
        "-n",
        NS,
        "-l",
        `kubestep.io/run=${runIdOf(r)},kubestep.io/step=train`,
        "-o",
        "name",
      )
        .trim()
        .split("\n");
      assert.equal(jobs.length, 3, "a control Job and two worker Jobs, sharing the run's labels");
    });

    it("a failing worker fails the step and leaves no pod of the gang", async () => {
      const id = await failingGang();
      assert.equal(
        kubectl("get", "jobs", "-n", NS, "-l", `kubestep.io/run=${id},kubestep.io/step=train`, "-o", "name").trim(),
        "",
        "no Job of the gang is left",
      );
    });
  });

  it("finished Jobs are really deleted by ttlSecondsAfterFinished (KUBESTEP_KUBERNETES_JOB_TTL_SECONDS_AFTER_FINISHED)", async () => {
    const r = await run([join(flows, "mixed.ts")], { KUBESTEP_KUBERNETES_JOB_TTL_SECONDS_AFTER_FINISHED: "2" });
    assert.equal(r.code, 0, r.stderr + r.stdout);
    const id = runIdOf(r);
    const jobs = () =>
      kubectl(
        "get",
        "jobs",
        "-n",
        NS,
        "-l",
        `kubestep.io/run=${id}`,
        "-o",
        'jsonpath={range .items[*]}{.metadata.name}={.spec.ttlSecondsAfterFinished}{"\\n"}{end}',
      ).trim();
    const seen = jobs();
    assert.ok(seen === "" || seen.split("\n").every((l) => l.endsWith("=2")), `the Jobs carry the TTL: ${seen}`);
    // The TTL-after-finished controller deletes them (and their pods) a few seconds after they finish.
    for (let i = 0; i < 120 && jobs(); i++) await new Promise((s) => setTimeout(s, 500));
    assert.equal(jobs(), "", "the finished Jobs were deleted by the TTL controller");
  });

  it("an Indexed Job keeps completionMode Indexed and gives each pod its completion index", async () => {
    const name = `ks-indexed-${Date.now().toString(36)}`;
    kubectlApply({
      apiVersion: "batch/v1",
      kind: "Job",
      metadata: { name, namespace: NS },
      spec: {
        completionMode: "Indexed",
        completions: 2,
        parallelism: 2,
        backoffLimit: 0,
        ttlSecondsAfterFinished: 60,
        template: {
          spec: {
            restartPolicy: "Never",
            terminationGracePeriodSeconds: 1,
            containers: [
              {
                name: "c",
                image: env().KUBESTEP_KUBERNETES_CONTAINER_IMAGE!,
                imagePullPolicy: "IfNotPresent",
                command: ["node", "-e", "console.log('index', process.env.JOB_COMPLETION_INDEX)"],
              },
            ],
          },
        },
      },
    });
    assert.equal(kubectl("get", "job", name, "-n", NS, "-o", "jsonpath={.spec.completionMode}"), "Indexed");
    kubectl("wait", "--for=condition=Complete", `job/${name}`, "-n", NS, "--timeout=120s");
    const pods = kubectl(
      "get",
      "pods",
      "-n",
      NS,
      "-l",
      `job-name=${name}`,
      "-o",
      'jsonpath={range .items[*]}{.metadata.annotations.batch\\.kubernetes\\.io/job-completion-index}{" "}{end}',
    )
      .trim()
      .split(" ")
      .sort();
    assert.deepEqual(pods, ["0", "1"]);
    kubectl("delete", "job", name, "-n", NS, "--wait=false");
  });

  it("kills a step at its @timeout and explains it; rejects a @timeout under 60 s before submitting", async () => {
    const short = await run(["--flow", "ShortTimeoutFlow", features]);
    assert.equal(short.code, 2);
    assert.match(short.stderr, /step slow: .*timeout.*60/i);
    const r = await run(["--flow", "TimeoutK8sFlow", features]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /step slow: timed out after 60 s \(@timeout\)/);
    assert.equal(kubectl("get", "jobs", "-n", NS, "-l", `kubestep.io/run=${runIdOf(r)}`, "-o", "name").trim(), "");
  });

  it("refuses to run @kubernetes steps with the local datastore, naming the datastores that work", async () => {
    const r = await run([join(flows, "mixed.ts")], { KUBESTEP_DEFAULT_DATASTORE: "local" });
    assert.equal(r.code, 2);
    assert.match(
      r.stderr,
      /steps fan, join run on Kubernetes, whose pods cannot read the local datastore .*: --datastore s3 .* gs .* azure/,
    );
  });

  it("Ctrl-C deletes the run's Jobs and pods before exiting", async () => {
    const child = spawn(process.execPath, [BIN, "run", "--flow", "SleepFlow", features], {
      cwd,
      env: { ...process.env, ...env() },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    child.stdout.on("data", (c) => (out += c));
    child.stderr.on("data", (c) => (out += c));
    await new Promise<void>((res) => {
      const t = setInterval(() => {
        if (/\] sleeping/.test(out)) {
          clearInterval(t);
          res();
        }
      }, 200);
    });
    const id = /run (\S+) \(datastore/.exec(out)![1]!;
    assert.equal(
      kubectl("get", "jobs", "-n", NS, "-l", `kubestep.io/run=${id}`, "-o", "name").trim().split("\n").length,
      1,
    );
    child.kill("SIGINT");
    const code = await new Promise((r) => child.on("close", r));
    assert.equal(code, 130, out);
    assert.equal(kubectl("get", "jobs", "-n", NS, "-l", `kubestep.io/run=${id}`, "-o", "name").trim(), "");
    for (let i = 0; i < 60 && kubectl("get", "pods", "-n", NS, "-l", `kubestep.io/run=${id}`, "-o", "name").trim(); i++)
      await new Promise((s) => setTimeout(s, 500));
    assert.equal(kubectl("get", "pods", "-n", NS, "-l", `kubestep.io/run=${id}`, "-o", "name").trim(), "");
  });
});
