/**
 * Deployed flows end to end on the REAL local cluster with a REAL S3 server (versitygw): `kubestep deploy`,
 * `trigger`, `deployments list`, `event publish`, a one-minute `@schedule` (CronJob) with the Forbid overlap
 * policy, a `@triggerOnFinish` chain, the orchestrator pod killed mid-run, `deploy --delete`, and bad
 * declarations refused at deploy time. Orchestrator pods run as the orchestrator ServiceAccount bound to exactly
 * the Role components/orchestrator.ts builds (applied here as built), so every run also proves that Role suffices.
 */
import { waitFor } from "../../helpers/wait.js";
import { strict as assert } from "node:assert";
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { FLOWS, kubestep, scratch, type CliResult } from "../../helpers/cli.js";
import { orchestratorObjects } from "../../../components/orchestrator.js";
import { openStorage } from "../../../runtime/datastore/open.js";
import { Flow } from "../../../runtime/client/index.js";
import { FlowDatastore } from "../../../runtime/datastore/flowstore.js";
import {
  buildOrchestratorJob,
  deploymentName,
  orchestratorJobName,
  RECORD_KEY,
} from "../../../runtime/kubernetes/deploy.js";
import { parseDeploymentRecord } from "../../../runtime/deploy/record.js";
import { orchestratorLogKey, downstreamRunId } from "../../../runtime/deploy/pod.js";
import type { RunTrigger } from "../../../runtime/deploy/record.js";
import { createS3Namespace, required, kubectl } from "../../helpers/cluster-namespace.js";

const NS = `ks-deploy-${Date.now().toString(36)}`;
/** Run ids are unique per test execution: the S3 datastore outlives the namespace. */
const ID = (name: string) => `${name}-${NS.slice("ks-deploy-".length)}`;
const file = join(FLOWS, "deploy", "deployed.ts");
const bad = join(FLOWS, "deploy", "bad.ts");
const cwd = scratch();

function kubectlJson<T>(...args: string[]): T {
  return JSON.parse(kubectl(...args, "-o", "json")) as T;
}
const env = (): Record<string, string> => ({
  KUBESTEP_KUBERNETES_NAMESPACE: NS,
  KUBESTEP_KUBERNETES_CONTAINER_IMAGE: `localhost/node:${process.versions.node.split(".")[0]}-local`,
  KUBESTEP_KUBERNETES_IMAGE_PULL_POLICY: "IfNotPresent",
  KUBESTEP_KUBERNETES_SECRETS: "kubestep-s3",
  KUBESTEP_KUBERNETES_CPU: "0.1",
  KUBESTEP_KUBERNETES_MEMORY: "256",
  KUBESTEP_DEFAULT_DATASTORE: "s3",
});
const ks = (...args: string[]): Promise<CliResult> => kubestep(args, { cwd, env: env() });

interface Job {
  metadata: { name: string; creationTimestamp: string; labels?: Record<string, string> };
  status?: {
    active?: number;
    succeeded?: number;
    failed?: number;
    conditions?: Array<{ type: string; status: string }>;
  };
}
const jobsOf = (flow: string, component = "orchestrator"): Job[] =>
  kubectlJson<{ items: Job[] }>(
    "get",
    "jobs",
    "-n",
    NS,
    "-l",
    `kubestep.io/deployment=${flow},kubestep.io/component=${component}`,
  ).items;
const done = (j: Job, t: "Complete" | "Failed") =>
  !!j.status?.conditions?.some((c) => c.type === t && c.status === "True");

/**
 * Kills the running pod of orchestrator Job `orchJob` (as an eviction or a node loss would) and waits for the Job
 * to finish: it must complete through its next pod, the killed one counted as one failure. Returns the killed pod.
 */
async function killOrchestratorPod(orchJob: string): Promise<string> {
  const firstPod = kubectlJson<{ items: Array<{ metadata: { name: string } }> }>(
    "get",
    "pods",
    "-n",
    NS,
    "-l",
    `job-name=${orchJob}`,
  ).items[0]!.metadata.name;
  kubectl("delete", "pod", "-n", NS, firstPod, "--wait=false");
  const job = await waitFor("the run to finish after the restart (bounded at 240 s)", 240, () => {
    const j = kubectlJson<Job>("get", "job", "-n", NS, orchJob);
    return done(j, "Complete") || done(j, "Failed") ? j : undefined;
  });
  assert.ok(done(job, "Complete"), JSON.stringify(job.status));
  assert.ok((job.status?.failed ?? 0) >= 1, `the killed pod counts as one failure: ${JSON.stringify(job.status)}`);
  return firstPod;
}

async function datastore(flow: string): Promise<FlowDatastore> {
  return new FlowDatastore(await openStorage("s3", required("KUBESTEP_DATASTORE_SYSROOT_S3")), flow);
}
async function runMeta(
  flow: string,
  runId: string,
): Promise<{ status: string; params: Record<string, unknown>; codeHash: string; trigger?: RunTrigger } | undefined> {
  return (await (await datastore(flow)).readRun(runId)) as never;
}

describe("deployed flows on the real cluster", function () {
  this.timeout(600_000);

  before(() => {
    createS3Namespace(NS);
    // The orchestrator's ServiceAccount, Role and RoleBinding exactly as the component builds them.
    const o = orchestratorObjects({ namespace: NS });
    execFileSync("kubectl", ["apply", "-f", "-"], {
      input: JSON.stringify({ apiVersion: "v1", kind: "List", items: [o.serviceAccount, o.role, o.roleBinding] }),
      stdio: ["pipe", "pipe", "pipe"],
    });
  });
  after(() => {
    try {
      kubectl("delete", "namespace", NS, "--wait=false");
    } catch {
      /* best effort */
    }
  });

  it("deploy + trigger with parameters: the orchestrator Job runs every step as a Job and the run is visible from the laptop", async () => {
    const d = await ks("deploy", file, "--flow", "DeployedFlow");
    assert.equal(d.code, 0, d.stderr + d.stdout);
    assert.match(d.stdout, new RegExp(`deployed DeployedFlow version 1 in namespace ${NS}`));
    const cm = kubectlJson<{ data: Record<string, string>; metadata: { labels: Record<string, string> } }>(
      "get",
      "configmap",
      "-n",
      NS,
      deploymentName("DeployedFlow"),
    );
    assert.equal(cm.metadata.labels["kubestep.io/deployment"], "DeployedFlow");
    assert.equal(cm.data.flow, "DeployedFlow");
    assert.equal(cm.data.version, "1");
    assert.deepEqual(JSON.parse(cm.data.parameters!), { n: 2, label: "none" });

    const t = await ks("trigger", "DeployedFlow", "--n", "3", "--label", "hello", "--run-id", ID("manual-1"), "--wait");
    assert.equal(t.code, 0, t.stderr + t.stdout);
    assert.match(t.stderr, new RegExp(`run DeployedFlow/${ID("manual-1")} succeeded`));
    // One orchestrator Job; every step a Job of its own, started by the orchestrator pod (1 start + 3 square + join + end).
    assert.deepEqual(
      jobsOf("DeployedFlow").map((j) => j.metadata.name),
      [orchestratorJobName("DeployedFlow", ID("manual-1"))],
    );
    const stepJobs = kubectlJson<{ items: Job[] }>(
      "get",
      "jobs",
      "-n",
      NS,
      "-l",
      `kubestep.io/flow=DeployedFlow,kubestep.io/run=${ID("manual-1")},app.kubernetes.io/name=kubestep-task`,
    ).items;
    assert.equal(stepJobs.length, 6);
    assert.ok(stepJobs.every((j) => done(j, "Complete")));

    const runs = await ks("runs", "DeployedFlow");
    assert.equal(runs.code, 0, runs.stderr);
    assert.match(
      runs.stdout,
      new RegExp(
        `${ID("manual-1")}\\s+succeeded .* params=\\{"n":3,"label":"hello"\\} started by: manual trigger by \\S+`,
      ),
    );
    const logs = await ks("logs", `DeployedFlow/${ID("manual-1")}/end`);
    assert.match(logs.stdout, /total=14 label=hello trigger=\{"type":"manual","user":"[^"]+"\}/);
    const meta = await runMeta("DeployedFlow", ID("manual-1"));
    assert.equal(meta?.codeHash, cm.data.taskCodeSha, "the run records the code package it ran");
    assert.equal(meta?.trigger?.type, "manual");
    const ds = await datastore("DeployedFlow");
    const join = (await ds.listTasks(ID("manual-1"), "join"))[0]!;
    const dump = await ks("dump", `DeployedFlow/${ID("manual-1")}/join/${join}`);
    assert.match(dump.stdout, /total = 14/);
    assert.match(dump.stdout, /onKubernetes = true/);
    // The client API reads the deployed run like any other.
    const viaApi = (await Flow.connect("DeployedFlow", { datastore: "s3" })).run(ID("manual-1"));
    assert.ok(viaApi?.successful);
    assert.deepEqual(viaApi.params, { n: 3, label: "hello" });
    const joinTask = viaApi.step("join").task;
    await joinTask.fetch();
    assert.equal(joinTask.data.total, 14);
    // The orchestrator's own log is in the datastore.
    const pod = kubectlJson<{ items: Array<{ metadata: { name: string } }> }>(
      "get",
      "pods",
      "-n",
      NS,
      "-l",
      `job-name=${orchestratorJobName("DeployedFlow", ID("manual-1"))}`,
    ).items[0]!.metadata.name;
    const olog = (await ds.storage.get(orchestratorLogKey("DeployedFlow", ID("manual-1"), pod)))?.toString() ?? "";
    assert.match(olog, new RegExp(`orchestrating DeployedFlow run ${ID("manual-1")} \\(deployment version 1`));
    assert.match(olog, new RegExp(`run DeployedFlow/${ID("manual-1")} succeeded`));

    // Another Job reaching the same run id (two namespaces scheduling one flow into one datastore) must not take the run over.
    const intruder = buildOrchestratorJob({
      deployment: parseDeploymentRecord(cm.data[RECORD_KEY]!, "test"),
      runId: ID("manual-1"),
      trigger: { type: "manual", user: "intruder" },
    });
    intruder.metadata!.name = "ks-run-intruder";
    execFileSync("kubectl", ["create", "-f", "-"], {
      input: JSON.stringify(intruder),
      stdio: ["pipe", "pipe", "pipe"],
    });
    await waitFor("the intruding Job to fail (bounded at 120 s)", 120, () =>
      done(kubectlJson<Job>("get", "job", "-n", NS, "ks-run-intruder"), "Failed"),
    );
    const uidOf = (job: string) => kubectlJson<{ metadata: { uid: string } }>("get", "job", "-n", NS, job).metadata.uid;
    assert.match(
      kubectl("logs", "-n", NS, "job/ks-run-intruder"),
      new RegExp(
        `run DeployedFlow/${ID("manual-1")} belongs to another orchestrator Job \\(uid ${uidOf(orchestratorJobName("DeployedFlow", ID("manual-1")))}\\); this Job \\(uid ${uidOf("ks-run-intruder")}\\) refuses to continue it`,
      ),
    );
    assert.equal((await runMeta("DeployedFlow", ID("manual-1")))?.trigger?.type, "manual");
    assert.equal((await runMeta("DeployedFlow", ID("manual-1")))?.status, "succeeded");
    kubectl("delete", "job", "-n", NS, "ks-run-intruder");

    // Bad parameters fail on the laptop; nothing is started.
    const badParam = await ks("trigger", "DeployedFlow", "--n", "many");
    assert.equal(badParam.code, 2, badParam.stderr);
    assert.match(badParam.stderr, /kubestep trigger: parameter --n: "many" is not a number/);
    assert.equal(jobsOf("DeployedFlow").length, 1);

    const list = await ks("deployments", "list");
    assert.equal(list.code, 0, list.stderr);
    assert.match(
      list.stdout,
      new RegExp(`DeployedFlow {2}version 1 .* manual only\\n {4}last run: ${ID("manual-1")} succeeded \\(manual, `),
    );
    // Redeploying replaces the version and prunes the code of versions no run uses (here a stand-in for an old one).
    const codeConfigMaps = () =>
      kubectl(
        "get",
        "configmaps",
        "-n",
        NS,
        "-l",
        "kubestep.io/deployment=DeployedFlow,kubestep.io/component=code",
        "-o",
        "name",
      )
        .split("\n")
        .filter(Boolean)
        .sort();
    const current = codeConfigMaps();
    assert.ok(current.length >= 1);
    execFileSync("kubectl", ["apply", "-f", "-"], {
      input: JSON.stringify({
        apiVersion: "v1",
        kind: "ConfigMap",
        metadata: {
          name: "ks-code-deployedflow-0123456789ab-0",
          namespace: NS,
          labels: {
            "app.kubernetes.io/part-of": "kubestep",
            "kubestep.io/deployment": "DeployedFlow",
            "kubestep.io/component": "code",
          },
        },
        data: { old: "version" },
      }),
      stdio: ["pipe", "pipe", "pipe"],
    });
    const again = await ks("deploy", file, "--flow", "DeployedFlow");
    assert.match(
      again.stdout,
      /deployed DeployedFlow version 2 .*; removed the code of older versions no run uses \(ks-code-deployedflow-0123456789ab-0\)/,
    );
    assert.deepEqual(codeConfigMaps(), current);
  });

  it("a one-minute @schedule fires (CronJob, timeZone) and Forbid skips a schedule while the previous run goes on; --delete leaves nothing behind", async () => {
    const d = await ks("deploy", file, "--flow", "EveryMinuteFlow");
    assert.equal(d.code, 0, d.stderr + d.stdout);
    assert.match(d.stdout, /schedule \* \* \* \* \* \(UTC\), overlap forbidden/);
    const cj = kubectlJson<{ spec: { schedule: string; timeZone: string; concurrencyPolicy: string } }>(
      "get",
      "cronjob",
      "-n",
      NS,
      deploymentName("EveryMinuteFlow"),
    );
    assert.deepEqual([cj.spec.schedule, cj.spec.timeZone, cj.spec.concurrencyPolicy], ["* * * * *", "UTC", "Forbid"]);
    // The CronJob controller fires on the next minute boundary: up to 60 s, plus its sync delay.
    const first = await waitFor(
      "the first scheduled run's Job (bounded: 60 s to the minute + 30 s)",
      90,
      () => jobsOf("EveryMinuteFlow")[0],
    );
    // Each run lasts more than a minute (its end step sleeps 75 s): while it runs, at least one schedule passes
    // and Forbid must skip it — never two orchestrator Jobs at once, no second Job before the first ends.
    let maxActive = 0;
    await waitFor("the first scheduled run to finish (75 s step + pods; bounded at 240 s)", 240, () => {
      const jobs = jobsOf("EveryMinuteFlow");
      maxActive = Math.max(maxActive, jobs.filter((j) => !done(j, "Complete") && !done(j, "Failed")).length);
      const f = jobs.find((j) => j.metadata.name === first.metadata.name);
      if (f && (done(f, "Complete") || done(f, "Failed"))) return true;
      assert.equal(
        jobs.length,
        1,
        `a second scheduled Job started while the first ran: ${jobs.map((j) => j.metadata.name).join(", ")}`,
      );
      return false;
    });
    assert.equal(maxActive, 1);
    const runId = first.metadata.name; // a scheduled run's id is its Job's name
    const meta = await runMeta("EveryMinuteFlow", runId);
    assert.equal(meta?.status, "succeeded");
    assert.deepEqual(meta?.trigger, { type: "schedule", cron: "* * * * *", timezone: "UTC" });
    const startedAt = new Date(first.metadata.creationTimestamp).getTime();
    assert.ok(Date.now() - startedAt > 60_000, "the run spanned a schedule that Forbid skipped");

    const listedAt = Date.now();
    const list = await ks("deployments", "list");
    assert.equal(list.code, 0, list.stderr);
    assert.match(
      list.stdout,
      new RegExp(
        `EveryMinuteFlow {2}version 1 .* schedule \\* \\* \\* \\* \\* UTC\\n {4}schedule: next fire \\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:00\\.000Z, last fired \\d{4}-\\d\\d-\\d\\dT[\\d:.]+Z, \\d running\\n(?: {4}last run: .*\\n)*? {4}last run: ${runId} succeeded \\(schedule, `,
      ),
    );
    // Every minute: the next fire time is the next minute boundary after the listing.
    const nextFire = Date.parse(/schedule: next fire (\S+),/.exec(list.stdout)![1]!);
    assert.ok(
      nextFire > listedAt - 1000 && nextFire <= listedAt + 61_000,
      `next fire ${new Date(nextFire).toISOString()}`,
    );
    const del = await ks("deploy", file, "--flow", "EveryMinuteFlow", "--delete");
    assert.equal(del.code, 0, del.stderr);
    assert.match(
      del.stdout,
      /deleted the deployment of EveryMinuteFlow .*cronjob\/.*configmap\/.*\(runs in progress finish\)/,
    );
    assert.deepEqual(
      kubectlJson<{ items: unknown[] }>(
        "get",
        "cronjobs,configmaps",
        "-n",
        NS,
        "-l",
        "kubestep.io/deployment=EveryMinuteFlow,kubestep.io/component!=orchestrator",
      ).items,
      [],
    );
    const again = await ks("deploy", file, "--flow", "EveryMinuteFlow", "--delete");
    assert.match(again.stdout, /EveryMinuteFlow is not deployed in namespace .*; nothing to delete/);
    const after = await ks("deployments", "list");
    assert.doesNotMatch(after.stdout, /EveryMinuteFlow/);
  });

  it("the orchestrator pod killed while a step Job runs: the Job's next pod continues the same run, re-attaches the step Job, runs no task twice", async () => {
    assert.equal((await ks("deploy", file, "--flow", "SlowFlow")).code, 0);
    const t = await ks("trigger", "SlowFlow", "--run-id", ID("killed-1"), "--seconds", "40");
    assert.equal(t.code, 0, t.stderr);
    const orchJob = orchestratorJobName("SlowFlow", ID("killed-1"));
    await waitFor("the slow step's pod to run (bounded at 120 s)", 120, () =>
      kubectlJson<{ items: Array<{ status: { phase: string } }> }>(
        "get",
        "pods",
        "-n",
        NS,
        "-l",
        "kubestep.io/flow=SlowFlow,kubestep.io/step=slow",
      ).items.some((p) => p.status.phase === "Running"),
    );
    const firstPod = await killOrchestratorPod(orchJob);
    const meta = await runMeta("SlowFlow", ID("killed-1"));
    assert.equal(meta?.status, "succeeded");
    // Exactly one Job per step (attempt 0 only), and each task has a single attempt.
    const stepJobs = kubectlJson<{ items: Array<{ metadata: { labels: Record<string, string> } }> }>(
      "get",
      "jobs",
      "-n",
      NS,
      "-l",
      `kubestep.io/flow=SlowFlow,kubestep.io/run=${ID("killed-1")},app.kubernetes.io/name=kubestep-task`,
    ).items;
    assert.deepEqual(
      stepJobs
        .map((j) => `${j.metadata.labels["kubestep.io/step"]}/${j.metadata.labels["kubestep.io/attempt"]}`)
        .sort(),
      ["end/0", "slow/0", "start/0"],
    );
    const ds = await datastore("SlowFlow");
    for (const step of ["start", "slow", "end"]) {
      const tasks = await ds.listTasks(ID("killed-1"), step);
      assert.equal(tasks.length, 1, `${step}: ${tasks.join(", ")}`);
      const task = await ds.readTask(ID("killed-1"), step, tasks[0]!);
      assert.equal(task?.status, "succeeded");
      assert.equal(task?.attempts.length, 1, `${step} ran once: ${JSON.stringify(task?.attempts)}`);
    }
    const slowLog = await ks("logs", `SlowFlow/${ID("killed-1")}/slow`);
    assert.equal((slowLog.stdout.match(/slow step started at/g) ?? []).length, 1, slowLog.stdout);
    // The second pod said what it did, in its log stored in the datastore.
    const secondPod = kubectlJson<{ items: Array<{ metadata: { name: string } }> }>(
      "get",
      "pods",
      "-n",
      NS,
      "-l",
      `job-name=${orchJob}`,
    )
      .items.map((p) => p.metadata.name)
      .find((n) => n !== firstPod)!;
    const olog = (await ds.storage.get(orchestratorLogKey("SlowFlow", ID("killed-1"), secondPod)))?.toString() ?? "";
    assert.match(
      olog,
      new RegExp(`continuing run ${ID("killed-1")}: 1 finished task\\(s\\) kept, 1 unfinished re-attached`),
    );
    assert.match(olog, /re-attached to the existing Job/);
  });

  it("the orchestrator pod killed while an @parallel gang runs: the gang's JobSet (or Jobs) is re-attached, not submitted again; each node runs once", async () => {
    assert.equal((await ks("deploy", file, "--flow", "GangFlow")).code, 0);
    const run = ID("gang-1");
    const t = await ks("trigger", "GangFlow", "--run-id", run, "--seconds", "35");
    assert.equal(t.code, 0, t.stderr);
    const orchJob = orchestratorJobName("GangFlow", run);
    const sel = `kubestep.io/flow=GangFlow,kubestep.io/run=${run},kubestep.io/step=train`;
    await waitFor("both gang pods to run (bounded at 150 s)", 150, () => {
      const pods = kubectlJson<{ items: Array<{ status: { phase: string } }> }>("get", "pods", "-n", NS, "-l", sel);
      return pods.items.filter((p) => p.status.phase === "Running").length === 2;
    });
    // What the gang was submitted as, by uid: a JobSet (with the controller) or control + worker Jobs (without).
    const uids = (kind: string) =>
      kubectlJson<{ items: Array<{ metadata: { name: string; uid: string } }> }>("get", kind, "-n", NS, "-l", sel)
        .items.map((o) => `${o.metadata.name}=${o.metadata.uid}`)
        .sort();
    const jobSetsServed = kubectl("api-versions").split("\n").includes("jobset.x-k8s.io/v1alpha2");
    const before = { jobs: uids("jobs"), jobsets: jobSetsServed ? uids("jobsets") : [] };
    assert.equal(before.jobs.length, 2, `two Jobs of the gang: ${before.jobs.join(", ")}`);
    const firstPod = await killOrchestratorPod(orchJob);
    assert.equal((await runMeta("GangFlow", run))?.status, "succeeded");
    // The very same objects (uids) ran the gang: nothing of it was submitted again.
    // (A finished JobSet's controller may already have removed its child Jobs: those left are the same ones.)
    const after = uids("jobs");
    assert.ok(
      after.every((j) => before.jobs.includes(j)),
      `no Job of the gang was created again: before ${before.jobs.join(", ")}; after ${after.join(", ")}`,
    );
    if (jobSetsServed) {
      assert.equal(before.jobsets.length, 1, `one JobSet: ${before.jobsets.join(", ")}`);
      assert.deepEqual(uids("jobsets"), before.jobsets, "the JobSet's uid did not change");
    }
    const ds = await datastore("GangFlow");
    const tasks = await ds.listTasks(run, "train");
    assert.equal(tasks.length, 2, `train: ${tasks.join(", ")}`);
    for (const id of tasks) {
      const task = await ds.readTask(run, "train", id);
      assert.equal(task?.status, "succeeded");
      assert.equal(task?.attempts.length, 1, `train/${id} ran once: ${JSON.stringify(task?.attempts)}`);
      const log = await ks("logs", `GangFlow/${run}/train/${id}`);
      assert.equal((log.stdout.match(/gang node \d started/g) ?? []).length, 1, log.stdout);
    }
    const end = await ks("logs", `GangFlow/${run}/end`);
    assert.match(end.stdout, /nodes=\[0,1\]/);
    const secondPod = kubectlJson<{ items: Array<{ metadata: { name: string } }> }>(
      "get",
      "pods",
      "-n",
      NS,
      "-l",
      `job-name=${orchJob}`,
    )
      .items.map((p) => p.metadata.name)
      .find((n) => n !== firstPod)!;
    const olog = (await ds.storage.get(orchestratorLogKey("GangFlow", run, secondPod)))?.toString() ?? "";
    assert.match(olog, /2 unfinished re-attached/);
    assert.match(olog, jobSetsServed ? /re-attached to the existing JobSet/ : /re-attached to the existing Job/);
  });

  it("@triggerOnFinish: a successful run of the deployed upstream flow starts the downstream flow, which sees the upstream run", async () => {
    assert.equal((await ks("deploy", file, "--flow", "UpstreamFlow")).code, 0);
    const d = await ks("deploy", file, "--flow", "DownstreamFlow");
    assert.equal(d.code, 0, d.stderr + d.stdout);
    assert.match(d.stdout, /after UpstreamFlow/);
    const t = await ks("trigger", "UpstreamFlow", "--run-id", ID("up-1"), "--wait");
    assert.equal(t.code, 0, t.stderr);
    const downId = downstreamRunId(`UpstreamFlow/${ID("up-1")}`, "DownstreamFlow");
    const job = await waitFor("the downstream run (bounded at 180 s)", 180, () => {
      const j = jobsOf("DownstreamFlow")[0];
      return j && (done(j, "Complete") || done(j, "Failed")) ? j : undefined;
    });
    assert.equal(job.metadata.name, orchestratorJobName("DownstreamFlow", downId));
    assert.ok(done(job, "Complete"));
    const meta = await runMeta("DownstreamFlow", downId);
    assert.equal(meta?.status, "succeeded");
    assert.deepEqual(meta?.trigger, { type: "flow", pathspec: `UpstreamFlow/${ID("up-1")}` });
    const dump = await ks("dump", `DownstreamFlow/${downId}/start/1`, "--artifact", "why");
    assert.match(dump.stdout, new RegExp(`why = \\{ type: 'flow', pathspec: 'UpstreamFlow/${ID("up-1")}' \\}`));
    assert.equal(jobsOf("DownstreamFlow").length, 1, "started once");
    const runs = await ks("runs", "DownstreamFlow");
    assert.match(
      runs.stdout,
      new RegExp(`^${downId} .* started by: upstream run UpstreamFlow/${ID("up-1")} succeeded$`, "m"),
    );
  });

  it("event publish starts the flows that @trigger on it, with the payload as current.trigger and matching parameters", async () => {
    assert.equal((await ks("deploy", file, "--flow", "EventFlow")).code, 0);
    const none = await ks("event", "publish", "nobody-listens");
    assert.equal(none.code, 0);
    assert.match(none.stderr, /no deployed flow in namespace .* listens to event nobody-listens/);
    const p = await ks("event", "publish", "data-ready", "--payload", "table=sales", "--payload", "day=monday");
    assert.equal(p.code, 0, p.stderr);
    const runId = /started EventFlow run (\S+)/.exec(p.stdout)?.[1];
    assert.ok(runId, p.stdout);
    await waitFor("the event's run (bounded at 180 s)", 180, () => {
      const j = jobsOf("EventFlow")[0];
      return j && (done(j, "Complete") || done(j, "Failed"));
    });
    const meta = await runMeta("EventFlow", runId);
    assert.equal(meta?.status, "succeeded");
    assert.deepEqual(meta?.params, { table: "sales" });
    assert.deepEqual(meta?.trigger, { type: "event", name: "data-ready", payload: { table: "sales", day: "monday" } });
    const runs = await ks("runs", "EventFlow");
    assert.match(
      runs.stdout,
      new RegExp(`^${runId} .* started by: event data-ready with table="sales" day="monday"$`, "m"),
    );
  });

  it("a failed deployed run fails its Job at once (no orchestrator retry) and kubestep trigger --resume finishes it in the cluster", async () => {
    assert.equal((await ks("deploy", file, "--flow", "ResumableFlow")).code, 0);
    const failed = await ks("trigger", "ResumableFlow", "--run-id", ID("res-1"), "--k", "9", "--wait");
    assert.equal(failed.code, 1, failed.stderr);
    assert.match(failed.stderr, new RegExp(`run ResumableFlow/${ID("res-1")} failed`));
    const job = kubectlJson<Job>("get", "job", "-n", NS, orchestratorJobName("ResumableFlow", ID("res-1")));
    assert.equal(
      job.status?.failed,
      1,
      `the podFailurePolicy fails the Job on exit 1 without another orchestrator pod: ${JSON.stringify(job.status)}`,
    );
    assert.equal((await runMeta("ResumableFlow", ID("res-1")))?.status, "failed");
    const bad = await ks("trigger", "ResumableFlow", "--resume", ID("res-1"), "--k", "1");
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, new RegExp(`a resumed run keeps the parameters of run ${ID("res-1")}; remove --k`));
    const resumed = await ks("trigger", "ResumableFlow", "--resume", ID("res-1"), "--run-id", ID("res-2"), "--wait");
    assert.equal(resumed.code, 0, resumed.stderr);
    const meta = (await runMeta("ResumableFlow", ID("res-2"))) as
      { status: string; params: Record<string, unknown>; originRunId?: string } | undefined;
    assert.equal(meta?.status, "succeeded");
    assert.equal(meta?.originRunId, ID("res-1"));
    assert.deepEqual(meta?.params, { k: 9 });
    const ds = await datastore("ResumableFlow");
    const start = await ds.readTask(ID("res-2"), "start", (await ds.listTasks(ID("res-2"), "start"))[0]!);
    assert.match(start?.clonedFrom ?? "", new RegExp(`^${ID("res-1")}/start/\\d+$`));
  });

  it("bad schedules and unknown upstream flows fail at deploy time with every problem; nothing is created", async () => {
    const b = await ks("deploy", bad, "--flow", "BadScheduleFlow");
    assert.equal(b.code, 2);
    assert.equal(
      b.stderr,
      [
        "kubestep deploy: flow BadScheduleFlow cannot be deployed:",
        '  - @schedule every = "minute" is an unknown option; allowed: cron, timezone, hourly, daily, weekly',
        '  - @schedule cron = "61 * * * * *" is invalid: expected 5 fields (minute hour day-of-month month day-of-week), got 6',
        '  - @schedule timezone = "Mars/Olympus" is invalid; expected an IANA time zone such as "UTC" or "Europe/Paris"',
        "",
      ].join("\n"),
    );
    const h = await ks("deploy", bad, "--flow", "BadHourFlow");
    assert.equal(h.code, 2);
    assert.match(
      h.stderr,
      /@schedule cron = "\*\/5 25 \* \* MON" is invalid: hour field "25": "25" is out of range \(allowed: 0-23/,
    );
    const o = await ks("deploy", bad, "--flow", "OrphanFlow");
    assert.equal(o.code, 2);
    assert.match(
      o.stderr,
      new RegExp(
        `@triggerOnFinish flow = "NeverDeployedFlow": no flow NeverDeployedFlow is deployed in namespace ${NS}; deploy it first`,
      ),
    );
    assert.deepEqual(
      kubectlJson<{ items: unknown[] }>(
        "get",
        "cronjobs,configmaps",
        "-n",
        NS,
        "-l",
        "kubestep.io/deployment in (BadScheduleFlow,BadHourFlow,OrphanFlow)",
      ).items,
      [],
    );
    const t = await ks("trigger", "OrphanFlow");
    assert.equal(t.code, 2);
    assert.match(
      t.stderr,
      new RegExp(
        `flow OrphanFlow is not deployed in namespace ${NS}; deploy it with kubestep deploy <flow.ts> --namespace ${NS}`,
      ),
    );
  });
});
