/**
 * What an orchestrator pod runs (`runOrchestrator()` of the orchestrator code package): the deployed run in
 * `KUBESTEP_DEPLOYED_RUN`, with the same Orchestrator as `kubestep run` and every step a Job (as with
 * `--with kubernetes`), against the deployment's datastore, with the pod's service account (in-cluster
 * credentials). A restarted pod (killed, evicted, node lost; the Job's backoffLimit) continues the same run:
 * finished tasks are kept and step Jobs still running are re-attached. The orchestrator's own output is stored
 * in the datastore under `<Flow>/orchestrator-logs/<run>/<pod>.txt`. At the end of a successful run it starts
 * the runs of the deployed flows with `@triggerOnFinish` on this flow.
 * Exit codes: 0 the run succeeded, 1 it failed (the Job's podFailurePolicy then fails the Job at once).
 */
import { readVariable } from "../variables.js";
import { isFlowClass } from "../flow/flowspec.js";
import { buildGraph } from "../flow/graph.js";
import { resolveParams } from "../flow/params.js";
import { openStorage } from "../datastore/open.js";
import { installDependencyLayer } from "../code/layer-install.js";
import { FlowDatastore } from "../datastore/flowstore.js";
import { Orchestrator, type Output } from "../exec/orchestrator.js";
import { shortHash } from "../contract/names.js";
import { DEPLOYED_RUN_ENV, ORCHESTRATOR_JOB_ENV, ORCHESTRATOR_JOB_UID_ENV } from "../kubernetes/deploy.js";
import type { DeployedRunSpec } from "./record.js";

/** Datastore key of an orchestrator pod's log. */
export function orchestratorLogKey(flowName: string, runId: string, pod: string): string {
  return `${flowName}/orchestrator-logs/${runId}/${pod}.txt`;
}

/** Datastore key naming the orchestrator Job (its uid) that owns a deployed run. */
export function runOwnerKey(flowName: string, runId: string): string {
  return `${flowName}/orchestrator-logs/${runId}/owner-job-uid`;
}

/** Run id of a downstream run started by `upstream` (`Flow/run`): deterministic, so a restarted orchestrator starts it once. */
export function downstreamRunId(upstream: string, downstreamFlow: string): string {
  return `after-${shortHash(JSON.stringify([upstream, downstreamFlow]), 12)}`;
}

/** Runs the deployed run of this pod and exits. */
export async function orchestratorMain(loadFlowModule: () => Promise<Record<string, unknown>>): Promise<never> {
  let code = 1;
  try {
    code = await orchestrate(loadFlowModule);
  } catch (e) {
    process.stderr.write(`kubestep orchestrator: ${(e as Error)?.stack ?? String(e)}\n`);
  }
  process.exit(code);
}

async function orchestrate(loadFlowModule: () => Promise<Record<string, unknown>>): Promise<number> {
  const text = readVariable(DEPLOYED_RUN_ENV);
  if (!text)
    throw new Error(
      `${DEPLOYED_RUN_ENV} is not set: this code package runs a deployed run only in an orchestrator Job`,
    );
  const run = JSON.parse(text) as DeployedRunSpec;
  const record = run.deployment;
  const runId = run.runId ?? readVariable(ORCHESTRATOR_JOB_ENV);
  if (!runId) throw new Error(`no run id: neither the deployed run nor ${ORCHESTRATOR_JOB_ENV} gives one`);
  const pod = readVariable("KUBESTEP_KUBERNETES_POD_NAME") ?? "orchestrator";
  const storage = await openStorage(record.datastore.kind, record.datastore.root);
  // The flow's external packages (native addons) must be in place before the flow module is imported.
  if (record.deps) await installDependencyLayer(storage, record.deps);
  const mod = await loadFlowModule();
  const cls = Object.values(mod).find((v) => isFlowClass(v) && (v as Function).name === record.flowName) as
    Function | undefined;
  if (!cls) throw new Error(`the code package does not export flow ${record.flowName}`);
  const graph = buildGraph(cls);
  let params = run.params ?? resolveParams(record.params, {});
  if (run.resume) {
    const origin = await new FlowDatastore(storage, record.flowName).readRun(run.resume.originRunId);
    if (!origin)
      throw new Error(`resume: run ${record.flowName}/${run.resume.originRunId} does not exist in ${storage.root}`);
    params = origin.params;
  }
  // Only the Job that started a run continues it: another Job reaching an existing run id (two namespaces
  // scheduling the same flow into one datastore at the same minute) must not take it over.
  const jobUid = readVariable(ORCHESTRATOR_JOB_UID_ENV);
  if (jobUid) {
    const owner = (await storage.get(runOwnerKey(record.flowName, runId)))?.toString();
    if (owner === undefined && (await new FlowDatastore(storage, record.flowName).readRun(runId)))
      throw new Error(
        `run ${record.flowName}/${runId} already exists in ${storage.root} and was not started by this deployment's Job ${readVariable(ORCHESTRATOR_JOB_ENV) ?? ""}; refusing to continue it`,
      );
    if (owner !== undefined && owner !== jobUid)
      throw new Error(
        `run ${record.flowName}/${runId} belongs to another orchestrator Job (uid ${owner}); this Job (uid ${jobUid}) refuses to continue it`,
      );
    if (owner === undefined) await storage.put(runOwnerKey(record.flowName, runId), jobUid);
  }
  if (run.trigger.type === "manual") process.env.KUBESTEP_USER ??= run.trigger.user;
  else process.env.KUBESTEP_USER ??= `deployment:${record.flowName}`;

  // The orchestrator's output goes to the pod's log and, every few seconds and at the end, to the datastore.
  let log = "";
  let dirty = false;
  const logKey = orchestratorLogKey(record.flowName, runId, pod);
  const flush = async () => {
    if (!dirty) return;
    dirty = false;
    await storage.put(logKey, log).catch(() => (dirty = true));
  };
  const write = (t: string, stream: "stdout" | "stderr") => {
    (stream === "stderr" ? process.stderr : process.stdout).write(t + "\n");
    log += t + "\n";
    dirty = true;
  };
  const output: Output = { line: (t, s) => write(t, s), info: (t) => write(t, "stderr") };
  const flusher = setInterval(() => void flush(), 5000);
  // Killed (pod deleted, evicted, node drained): leave the step Jobs running; the Job's next pod re-attaches to them.
  // A handler is needed anyway: as PID 1, node would otherwise ignore SIGTERM until the kubelet's SIGKILL.
  process.once("SIGTERM", () => {
    write(
      `SIGTERM: the orchestrator pod ${pod} stops; step Jobs keep running and the next pod of the Job continues run ${runId}`,
      "stderr",
    );
    dirty = true;
    void flush().finally(() => process.exit(143));
  });

  const { loadKubeConfig } = await import("../exec/kubernetes/client.js");
  const { KubernetesExecutor } = await import("../exec/kubernetes/executor.js");
  const { DEFAULT_PENDING_TIMEOUT_SECONDS, DEFAULT_IMAGE_PULL_GRACE_SECONDS } =
    await import("../exec/kubernetes/explain.js");
  const { kubeConfig } = await loadKubeConfig();
  const executor = new KubernetesExecutor({
    kubeConfig,
    storage,
    codeSha: record.taskCode.sha,
    codeKey: record.taskCode.key,
    ...(record.deps ? { deps: record.deps } : {}),
    configs: record.stepConfigs,
    podEnv: record.podEnv,
    pendingTimeoutSeconds: DEFAULT_PENDING_TIMEOUT_SECONDS,
    imagePullGraceSeconds: DEFAULT_IMAGE_PULL_GRACE_SECONDS,
    info: output.info,
  });
  output.info(
    `orchestrating ${record.flowName} run ${runId} (deployment version ${record.version}, code ${record.taskCode.sha.slice(0, 12)}, trigger ${run.trigger.type}, pod ${pod}, datastore ${storage.root})`,
  );
  const orch = new Orchestrator({
    graph,
    storage,
    executorFor: () => executor,
    runId,
    params,
    tags: record.tags,
    codeHash: record.taskCode.sha,
    flowFile: `deployment ${record.flowName} version ${record.version}`,
    maxWorkers: record.maxWorkers,
    maxNumSplits: record.maxNumSplits,
    output,
    trigger: run.trigger,
    continueRun: true,
    ...(run.resume ? { resume: run.resume } : {}),
  });
  const res = await orch.execute();
  output.info(
    res.ok ? `run ${record.flowName}/${runId} succeeded` : `run ${record.flowName}/${runId} failed: ${res.error}`,
  );
  if (res.ok) {
    try {
      const { deployApis, listDeployments, startDeployedRun } = await import("../exec/kubernetes/deploy-api.js");
      const apis = await deployApis(kubeConfig);
      const upstream = `${record.flowName}/${runId}`;
      for (const d of (await listDeployments(apis, record.namespace)).filter((d) =>
        d.upstreamFlows.includes(record.flowName),
      )) {
        const started = await startDeployedRun(apis, {
          deployment: d,
          runId: downstreamRunId(upstream, d.flowName),
          trigger: { type: "flow", pathspec: upstream },
        });
        output.info(
          `@triggerOnFinish: ${started.created ? "started" : "already started"} ${d.flowName} run ${downstreamRunId(upstream, d.flowName)} (Job ${started.job})`,
        );
      }
    } catch (e) {
      output.info(`@triggerOnFinish: could not start the downstream flows: ${(e as Error).message}`);
    }
  }
  clearInterval(flusher);
  dirty = true;
  await flush();
  return res.ok ? 0 : 1;
}
