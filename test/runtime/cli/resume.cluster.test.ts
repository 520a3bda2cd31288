/**
 * The CLI killed (SIGKILL) mid-run with steps running on the REAL local cluster (S3 datastore on versitygw):
 * `kubestep kubernetes list` shows the orphaned Jobs; `kubestep resume` continues the run in place,
 * re-attaching to the Jobs still running and adopting the one that finished meanwhile, so no Job is created
 * twice and no task runs twice; the orphans of a run nobody resumes are deleted by the TTL controller.
 */
import { waitFor } from "../../helpers/wait.js";
import { strict as assert } from "node:assert";
import { spawn, execFileSync, type ChildProcess } from "node:child_process";
import { join } from "node:path";
import { FLOWS, BIN, kubestep, scratch, type CliResult } from "../../helpers/cli.js";
import { openStorage } from "../../../runtime/datastore/open.js";
import { FlowDatastore } from "../../../runtime/datastore/flowstore.js";
import { recordFaults, reportReliabilityAfter } from "../../helpers/reliability.js";
import { fileURLToPath } from "node:url";

const NS = `ks-resume-${Date.now().toString(36)}`;
const naps = join(FLOWS, "k8s", "naps.ts");
const cwd = scratch();

function kubectl(...args: string[]): string {
  return execFileSync("kubectl", args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
}
function required(name: string): string {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set: run with the local cluster (KUBECONFIG) and the datastore servers`);
  return v;
}
function env(extra: Record<string, string> = {}): Record<string, string> {
  return {
    KUBESTEP_KUBERNETES_NAMESPACE: NS,
    KUBESTEP_KUBERNETES_CONTAINER_IMAGE: `localhost/node:${process.versions.node.split(".")[0]}-local`,
    KUBESTEP_KUBERNETES_IMAGE_PULL_POLICY: "IfNotPresent",
    KUBESTEP_DEFAULT_DATASTORE: "s3",
    ...extra,
  };
}
const ks = (args: string[], extra: Record<string, string> = {}): Promise<CliResult> =>
  kubestep(args, { cwd, env: env(extra) });

interface Job {
  metadata: { name: string; uid: string; labels: Record<string, string> };
  spec: { ttlSecondsAfterFinished?: number };
  status?: { succeeded?: number; active?: number };
}
const jobsOf = (run: string, step = "nap"): Job[] =>
  JSON.parse(kubectl("get", "jobs", "-n", NS, "-l", `kubestep.io/run=${run},kubestep.io/step=${step}`, "-o", "json"))
    .items as Job[];
const runningPods = (run: string): number =>
  (
    JSON.parse(kubectl("get", "pods", "-n", NS, "-l", `kubestep.io/run=${run}`, "-o", "json")).items as Array<{
      status: { phase: string };
    }>
  ).filter((p) => p.status.phase === "Running").length;

/** Starts `kubestep run` of NapFlow as a child process; resolves once `pods` of its pods run. */
async function startRun(
  runId: string,
  seconds: string,
  pods: number,
  extra: Record<string, string> = {},
): Promise<{ child: ChildProcess; out: () => string; closed: Promise<unknown> }> {
  const child = spawn(process.execPath, [BIN, "run", naps, "--run-id", runId, "--seconds", seconds], {
    cwd,
    env: { ...process.env, ...env(extra) },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  child.stdout!.on("data", (c) => (out += c));
  child.stderr!.on("data", (c) => (out += c));
  const closed = new Promise((res) => child.on("close", (code, signal) => res(signal ?? code)));
  try {
    await waitFor(`${pods} nap pods to run (bounded at 150 s)`, 150, () => runningPods(runId) >= pods);
  } catch (e) {
    child.kill("SIGKILL");
    throw new Error(`${(e as Error).message}\n${out}`, { cause: e });
  }
  return { child, out: () => out, closed };
}

describe("the CLI killed mid-run with steps on the real cluster", function () {
  this.timeout(600_000);
  reportReliabilityAfter();
  let ds: FlowDatastore;

  before(async () => {
    required("KUBECONFIG");
    required("KUBESTEP_S3_ENDPOINT_URL");
    ds = new FlowDatastore(await openStorage("s3", required("KUBESTEP_DATASTORE_SYSROOT_S3")), "NapFlow");
    kubectl("create", "namespace", NS);
    kubectl(
      "create",
      "secret",
      "generic",
      "kubestep-s3",
      "-n",
      NS,
      `--from-literal=AWS_ACCESS_KEY_ID=${required("AWS_ACCESS_KEY_ID")}`,
      `--from-literal=AWS_SECRET_ACCESS_KEY=${required("AWS_SECRET_ACCESS_KEY")}`,
    );
  });
  after(() => {
    try {
      kubectl("delete", "namespace", NS, "--wait=false");
    } catch {
      /* best effort */
    }
  });

  it("SIGKILL: kubernetes list shows the orphaned Jobs; resume re-attaches the running ones and adopts the finished one; no Job is created twice, every task runs once", async () => {
    const run = `killed-${NS.slice("ks-resume-".length)}`;
    const { child, out, closed } = await startRun(run, "6,40,40", 3);
    // While its CLI lives, the run cannot be resumed from elsewhere on this host.
    const early = await ks(["resume", naps, "--origin-run-id", run]);
    assert.equal(early.code, 2, early.stderr);
    assert.match(early.stderr, new RegExp(`run NapFlow/${run} is still running \\(pid ${child.pid} on this host\\)`));
    child.kill("SIGKILL");
    assert.equal(await closed, "SIGKILL");
    const before = jobsOf(run)
      .map((j) => `${j.metadata.name}=${j.metadata.uid}`)
      .sort();
    assert.equal(before.length, 3, `${before.join(", ")}\n${out()}`);
    // The short task finishes while nobody watches; the two others still run.
    await waitFor("the 6 s task's Job to finish with the CLI gone (bounded at 60 s)", 60, () =>
      jobsOf(run).some((j) => j.status?.succeeded === 1),
    );
    const list = await ks(["kubernetes", "list", "--run-id", run]);
    assert.equal(list.code, 0, list.stderr);
    const listed = list.stdout.trim().split("\n");
    assert.equal(listed.filter((l) => /NapFlow\/\S+\/nap\/\d+ attempt 0/.test(l)).length, 3, list.stdout);
    assert.equal(listed.filter((l) => /\bsucceeded\b.*\/nap\//.test(l)).length, 1, list.stdout);
    assert.equal(listed.filter((l) => /\brunning\b.*\/nap\//.test(l)).length, 2, list.stdout);

    const r = await ks(["resume", naps, "--origin-run-id", run]);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.match(r.stderr, new RegExp(`continuing NapFlow run ${run}, whose driver died mid-run`));
    assert.match(r.stderr, /1 finished task\(s\) kept, 3 unfinished re-attached/);
    assert.equal((r.stderr.match(/re-attached to the existing Job/g) ?? []).length, 3, r.stderr);
    assert.match(r.stdout, /total ticks=172/);
    // The very same three Jobs (names and uids), attempt 0 only: nothing was submitted again.
    const after = jobsOf(run);
    assert.deepEqual(after.map((j) => `${j.metadata.name}=${j.metadata.uid}`).sort(), before);
    assert.deepEqual(
      after.map((j) => j.metadata.labels["kubestep.io/attempt"]),
      ["0", "0", "0"],
    );
    assert.equal((await ds.readRun(run))?.status, "succeeded");
    const tasks = await ds.listTasks(run, "nap");
    assert.equal(tasks.length, 3);
    for (const id of tasks) {
      const t = await ds.readTask(run, "nap", id);
      assert.equal(t?.status, "succeeded");
      assert.equal(t?.attempts.length, 1, `nap/${id} ran once: ${JSON.stringify(t?.attempts)}`);
      assert.ok(
        t?.artifacts?.ticks && t.artifacts.napper,
        `nap/${id} has its artifacts: ${JSON.stringify(t?.artifacts)}`,
      );
      const log = (await ks(["logs", `NapFlow/${run}/nap/${id}`])).stdout;
      assert.equal((log.match(/nap \d started/g) ?? []).length, 1, log);
      assert.match(log, /nap \d last line/);
    }
    for (const step of ["start", "join", "end"]) assert.equal((await ds.listTasks(run, step)).length, 1, step);
    recordFaults(
      "cli-killed",
      "kubestep run SIGKILLed with 3 Jobs running, then resumed",
      fileURLToPath(import.meta.url),
      {
        backend: "Kubernetes v1.34 (local cluster), S3 (versitygw)",
        faultsInjected: 1,
        runsCompleted: 1,
        tasksRerun: 0,
        objectsLost: 0,
        outcome:
          "resume re-attached 2 running Jobs and adopted 1 finished meanwhile; same 3 Jobs (names, uids), each task once",
      },
    );
  });

  it("the orphaned Jobs of a run nobody resumes carry ttlSecondsAfterFinished and the TTL controller deletes them once finished", async () => {
    const run = `abandoned-${NS.slice("ks-resume-".length)}`;
    const { child, closed } = await startRun(run, "2,2", 2, {
      KUBESTEP_KUBERNETES_JOB_TTL_SECONDS_AFTER_FINISHED: "5",
    });
    child.kill("SIGKILL");
    await closed;
    const jobs = jobsOf(run);
    assert.equal(jobs.length, 2);
    for (const j of jobs) assert.equal(j.spec.ttlSecondsAfterFinished, 5, j.metadata.name);
    await waitFor("the TTL controller to delete the finished orphans (bounded at 120 s)", 120, () =>
      jobsOf(run).length === 0 ? true : undefined,
    );
    await waitFor("their pods to go (bounded at 60 s)", 60, () =>
      kubectl("get", "pods", "-n", NS, "-l", `kubestep.io/run=${run}`, "-o", "name").trim() === "" ? true : undefined,
    );
  });
});
