/**
 * The API server restarted mid-run, for real: `kubestep run` of a 3-way @kubernetes foreach (NapFlow, each task
 * printing a numbered line every half second) on the REAL local cluster with the S3 datastore (versitygw), while
 * test/tooling/cluster/restart-apiserver.sh stops kube-apiserver, keeps it down for 10 s and starts it again. The
 * run's watch and its log follows reconnect; the run finishes; each task ran once (one Job each, attempt 0); the
 * archived log of every task has each of its lines exactly once, the last included; and the cluster is healthy
 * afterwards (node Ready, cluster DNS and the JobSet controller answering).
 *
 * Every other client of the cluster sees the outage: run this file alone on a shared cluster.
 */
import { waitFor } from "../../../helpers/wait.js";
import { strict as assert } from "node:assert";
import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { join } from "node:path";
import { FLOWS, ROOT, kubestep, scratch, type CliResult } from "../../../helpers/cli.js";
import {
  createS3Namespace,
  deleteNamespace,
  kubectl,
  kubernetesRunEnv,
  namespaceName,
  NODE_IMAGE,
  required,
} from "../../../helpers/cluster-namespace.js";
import { openStorage } from "../../../../runtime/datastore/open.js";
import { FlowDatastore } from "../../../../runtime/datastore/flowstore.js";
import { recordFaults, reportReliabilityAfter } from "../../../helpers/reliability.js";

const NS = namespaceName("ks-restart");
const naps = join(FLOWS, "k8s", "naps.ts");
const RESTART = join(ROOT, "test", "tooling", "cluster", "restart-apiserver.sh");
const DOWN_SECONDS = 10;
const TASK_SECONDS = 30;
const cwd = scratch();

describe("the API server restarted mid-run on the real cluster", function () {
  this.timeout(600_000);
  reportReliabilityAfter();
  let ds: FlowDatastore;

  before(async () => {
    required("KUBECONFIG");
    ds = new FlowDatastore(await openStorage("s3", required("KUBESTEP_DATASTORE_SYSROOT_S3")), "NapFlow");
    createS3Namespace(NS);
  });
  after(() => deleteNamespace(NS));

  it("the watch and the log streams reconnect, the run finishes, each task ran once and every last log line is archived", async () => {
    const run = `restart-${NS.slice(-8)}`;
    const ticks = TASK_SECONDS * 2;
    let printed = "";
    const result: Promise<CliResult> = kubestep(
      ["run", naps, "--run-id", run, "--seconds", [TASK_SECONDS, TASK_SECONDS, TASK_SECONDS].join(",")],
      { cwd, env: kubernetesRunEnv(NS), onOutput: (p) => (printed = p) },
    );
    // Every task's pod runs and its log stream is live (a few ticks of each streamed) before the outage.
    await waitFor("each nap task to stream 4 ticks (bounded at 180 s)", 180, () =>
      [0, 1, 2].every((i) => printed.includes(`nap ${i} tick 4/${ticks}`)),
    ).catch((e: Error) => {
      throw new Error(`${e.message}; the CLI printed:\n${printed}`, { cause: e });
    });
    const restartedAt = Date.now();
    execFileSync("bash", [RESTART, String(DOWN_SECONDS)], { stdio: ["ignore", "ignore", "inherit"] });
    const outageMs = Date.now() - restartedAt;
    // The tasks were still running through the whole outage: it hit live watches and live log follows.
    assert.ok(
      ![0, 1, 2].some((i) => printed.includes(`nap ${i} last line`)),
      `a task ended before the API server was back (${outageMs} ms):\n${printed}`,
    );

    const r = await result;
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.match(r.stdout, new RegExp(`total ticks=${3 * ticks}`));
    // The outage was said, not silent: the watch's reconnects are reported.
    assert.match(r.stderr, /kubernetes watch of \S+: .*(reconnecting|retrying)/, r.stderr);
    // The live output carried each task's last line too (with its step/task prefix).
    for (const i of [0, 1, 2]) assert.match(r.stdout, new RegExp(`\\[${run}/nap/\\d+\\] nap ${i} last line`));

    // One Job per task, attempt 0 only: nothing was submitted twice.
    const jobs = JSON.parse(
      kubectl("get", "jobs", "-n", NS, "-l", `kubestep.io/run=${run},kubestep.io/step=nap`, "-o", "json"),
    ).items as Array<{ metadata: { labels: Record<string, string> } }>;
    assert.deepEqual(
      jobs.map((j) => j.metadata.labels["kubestep.io/attempt"]),
      ["0", "0", "0"],
    );
    assert.equal((await ds.readRun(run))?.status, "succeeded");
    const tasks = await ds.listTasks(run, "nap");
    assert.equal(tasks.length, 3);
    let linesArchived = 0;
    for (const id of tasks) {
      const t = await ds.readTask(run, "nap", id);
      assert.equal(t?.status, "succeeded");
      assert.equal(t?.attempts.length, 1, `nap/${id} ran once: ${JSON.stringify(t?.attempts)}`);
      const log = (await ks(["logs", `NapFlow/${run}/nap/${id}`])).stdout;
      const index = /nap (\d) started/.exec(log)?.[1];
      assert.ok(index !== undefined, log);
      // Each line exactly once, in order: none lost in the outage, none repeated by the reconnect.
      const expected = [
        ...Array.from({ length: ticks }, (_, k) => `nap ${index} tick ${k + 1}/${ticks}`),
        `nap ${index} last line`,
      ];
      const got = log.split("\n").filter((l) => l.startsWith(`nap ${index} tick`) || l.endsWith("last line"));
      assert.deepEqual(got, expected, log);
      linesArchived += got.length;
    }

    // The cluster is whole again: the node is Ready, cluster DNS resolves and the JobSet controller answers.
    // An outage longer than the node monitor's grace period makes the node controller mark the node Unknown (and
    // taint it unreachable) until the kubelet's next status post: bounded wait, so the tests after this one start
    // on a schedulable node.
    await waitFor("the node to be Ready and untainted again (bounded at 180 s)", 180, () => {
      const node = JSON.parse(kubectl("get", "nodes", "-o", "json")).items[0] as {
        spec: { taints?: Array<{ key: string }> };
        status: { conditions: Array<{ type: string; status: string }> };
      };
      return (
        node.status.conditions.some((c) => c.type === "Ready" && c.status === "True") &&
        !(node.spec.taints ?? []).some((t) => t.key.startsWith("node.kubernetes.io/"))
      );
    });
    assert.match(kubectl("get", "--raw", "/readyz"), /ok/);
    const resolved = execFileSync(
      "kubectl",
      [
        "run",
        `dns-${run}`,
        "-n",
        NS,
        "--image",
        NODE_IMAGE,
        "--image-pull-policy=IfNotPresent",
        "--restart=Never",
        "--rm",
        "-i",
        "--quiet",
        "--command",
        "--",
        "node",
        "-e",
        "require('dns').lookup('kubernetes.default.svc.cluster.local',(e,a)=>{console.log(e?'dns error '+e.code:'resolved '+a);process.exit(e?1:0)})",
      ],
      { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], timeout: 120_000 },
    );
    assert.match(resolved, /resolved 10\.96\.0\.1/);
    // A server-side dry-run create of a JobSet goes through the JobSet controller's admission webhooks.
    const jobset = {
      apiVersion: "jobset.x-k8s.io/v1alpha2",
      kind: "JobSet",
      metadata: { name: `probe-${run}`, namespace: NS },
      spec: {
        replicatedJobs: [
          {
            name: "w",
            replicas: 1,
            template: {
              spec: {
                template: {
                  spec: { restartPolicy: "Never", containers: [{ name: "c", image: NODE_IMAGE, command: ["true"] }] },
                },
              },
            },
          },
        ],
      },
    };
    assert.match(
      execFileSync("kubectl", ["create", "--dry-run=server", "-o", "name", "-f", "-"], {
        input: JSON.stringify(jobset),
        encoding: "utf8",
        stdio: ["pipe", "pipe", "pipe"],
      }),
      /jobset/,
    );

    recordFaults("apiserver-restart", "kube-apiserver stopped for 10 s mid-run", fileURLToPath(import.meta.url), {
      backend: "Kubernetes v1.34 (local cluster), S3 (versitygw)",
      faultsInjected: 1,
      runsCompleted: 1,
      tasksRerun: 0,
      objectsLost: 0,
      outcome: `3 running @kubernetes tasks; outage ${(outageMs / 1000).toFixed(0)} s until /readyz; run succeeded, ${linesArchived} log lines archived, none lost or repeated`,
    });
  });

  const ks = (args: string[]): Promise<CliResult> => kubestep(args, { cwd, env: kubernetesRunEnv(NS) });
});
