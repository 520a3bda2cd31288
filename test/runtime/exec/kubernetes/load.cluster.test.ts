/**
 * Load on the REAL local cluster (one node, 2 cores) with the S3 datastore (versitygw): a 500-way (LOAD_WIDTH;
 * 150 in CI) @kubernetes foreach with `--max-workers 50` (WideKubernetesFlow: 500 tiny Jobs) finishes, the join receives every task
 * exactly once, at most 50 tasks are in flight at any time (from the attempts' recorded times), the CLI's memory stays bounded (its peak RSS
 * is sampled from /proc), and nothing is left behind: with a short ttlSecondsAfterFinished the TTL controller
 * deletes every finished Job and pod. The figures go to docs/reliability.md (kind `load`); bench/load.mjs prints
 * the same figures and the local 10,000-way run.
 *
 * It loads the shared cluster for several minutes: run it alone.
 */
import { sleep } from "../../../helpers/wait.js";
import { strict as assert } from "node:assert";
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { join } from "node:path";
import { BIN, FLOWS, scratch } from "../../../helpers/cli.js";
import {
  createS3Namespace,
  deleteNamespace,
  kubectl,
  kubernetesRunEnv,
  namespaceName,
  required,
} from "../../../helpers/cluster-namespace.js";
import { openStorage } from "../../../../runtime/datastore/open.js";
import { FlowDatastore } from "../../../../runtime/datastore/flowstore.js";
import { recordFaults, reportReliabilityAfter } from "../../../helpers/reliability.js";

const NS = namespaceName("ks-load");
/**
 * The foreach width: 500 as issue 17 asks when LOAD_WIDTH=500 (about 10 minutes here, about one pod a second on
 * 2 cores: its figures are in docs/reliability.md and bench/README.md); CI runs 150, which already keeps 50 Jobs in
 * flight for three waves.
 */
const WIDTH = Number(process.env.LOAD_WIDTH ?? 150);
const MAX_WORKERS = 50;
/** The CLI's peak RSS bound: generous (313 MB measured at 500 tasks on 2026-11-24), to catch growth without limit. */
const RSS_BOUND_MB = 400;
const cwd = scratch();

function rssMb(pid: number): number {
  try {
    const kb = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1];
    return kb ? Number(kb) / 1024 : 0;
  } catch {
    return 0;
  }
}
const activeJobs = (run: string): number =>
  (
    JSON.parse(kubectl("get", "jobs", "-n", NS, "-l", `kubestep.io/run=${run}`, "-o", "json")).items as Array<{
      status?: { active?: number };
    }>
  ).filter((j) => (j.status?.active ?? 0) > 0).length;

describe("load on the real cluster", function () {
  this.timeout(1_800_000);
  reportReliabilityAfter();
  let ds: FlowDatastore;

  before(async () => {
    required("KUBECONFIG");
    ds = new FlowDatastore(await openStorage("s3", required("KUBESTEP_DATASTORE_SYSROOT_S3")), "WideKubernetesFlow");
    createS3Namespace(NS);
  });
  after(() => deleteNamespace(NS));

  it(`a ${WIDTH}-way @kubernetes foreach with --max-workers ${MAX_WORKERS}: finishes, bounded CLI memory, at most ${MAX_WORKERS} tasks in flight, nothing left behind`, async () => {
    const run = `load-${NS.slice(-8)}`;
    const started = Date.now();
    const child = spawn(
      process.execPath,
      [
        BIN,
        "run",
        join(FLOWS, "k8s", "load.ts"),
        "--flow",
        "WideKubernetesFlow",
        "--run-id",
        run,
        "--width",
        String(WIDTH),
        "--max-workers",
        String(MAX_WORKERS),
        "--max-num-splits",
        String(WIDTH),
      ],
      {
        cwd,
        env: {
          ...process.env,
          ...kubernetesRunEnv(NS, { KUBESTEP_KUBERNETES_JOB_TTL_SECONDS_AFTER_FINISHED: "20" }),
        },
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (c) => (stdout += c));
    child.stderr.on("data", (c) => (stderr += c));
    const closed = new Promise<number | null>((res) => child.on("close", (code) => res(code)));
    let peakRss = 0;
    let peakActive = 0;
    let exited = false;
    void closed.then(() => (exited = true));
    let polls = 0;
    while (!exited) {
      peakRss = Math.max(peakRss, rssMb(child.pid!));
      // Jobs are listed every few seconds only: the listing itself loads the API server.
      if (polls++ % 10 === 0) peakActive = Math.max(peakActive, activeJobs(run));
      await sleep(300);
    }
    const code = await closed;
    const seconds = (Date.now() - started) / 1000;
    assert.equal(code, 0, stderr.slice(-4000) + stdout.slice(-2000));
    assert.match(stdout, new RegExp(`width=${WIDTH} sum=${WIDTH * (WIDTH - 1)}`));
    assert.ok(peakRss > 0 && peakRss < RSS_BOUND_MB, `CLI peak RSS ${peakRss.toFixed(0)} MB (bound ${RSS_BOUND_MB})`);

    const tasks = await ds.listTasks(run, "fan");
    assert.equal(tasks.length, WIDTH);
    const metas = await Promise.all(tasks.map((id) => ds.readTask(run, "fan", id)));
    const rerun = metas.reduce((s, m) => s + (m?.attempts.length ?? 0) - 1, 0);
    // --max-workers bounds the tasks in flight: the attempts' recorded [start, finish] intervals never overlap
    // more than that. (A Job's own `active` count lags its pod's end, so the sampled count is a figure only.)
    const edges = metas
      .flatMap((m) => m?.attempts ?? [])
      .flatMap((a) => [
        [Date.parse(a.startedAt), 1],
        [Date.parse(a.finishedAt ?? a.startedAt), -1],
      ])
      .sort((x, y) => x[0]! - y[0]! || x[1]! - y[1]!);
    let inFlight = 0;
    let maxInFlight = 0;
    for (const [, d] of edges) maxInFlight = Math.max(maxInFlight, (inFlight += d!));
    assert.ok(maxInFlight <= MAX_WORKERS, `at most ${MAX_WORKERS} tasks in flight, the attempts show ${maxInFlight}`);
    assert.equal((await ds.readRun(run))?.status, "succeeded");

    // Nothing left behind: the TTL controller deletes every finished Job, and its pods go with it.
    const deadline = Date.now() + 300_000;
    for (;;) {
      const left = kubectl("get", "jobs,pods", "-n", NS, "-l", `kubestep.io/run=${run}`, "-o", "name").trim();
      if (!left) break;
      if (Date.now() > deadline)
        throw new Error(`left behind 5 minutes after the run: ${left.split("\n").length} objects`);
      await sleep(5000);
    }

    recordFaults(
      "load",
      `${WIDTH}-way @kubernetes foreach, --max-workers ${MAX_WORKERS}`,
      fileURLToPath(import.meta.url),
      {
        backend: "Kubernetes v1.34 (local cluster, 1 node, 2 cores), S3 (versitygw)",
        faultsInjected: 0,
        runsCompleted: 1,
        tasksRerun: rerun,
        objectsLost: 0,
        outcome: `${WIDTH} Jobs in ${seconds.toFixed(0)} s, at most ${maxInFlight} tasks in flight (${peakActive} Jobs active, sampled), CLI peak RSS ${peakRss.toFixed(0)} MB; every Job and pod deleted by the TTL controller`,
      },
    );
  });
});
