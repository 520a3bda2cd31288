/** `kubestep run` and `kubestep resume`: the orchestrator with the local and Kubernetes executors. */
import { datastoreNeeds } from "../datastore-choice.js";
import { resolve } from "node:path";
import { parseArgs, opt, intOpt, UsageError, type ParsedArgs } from "../args.js";
import { loadFlow } from "../../code/load.js";
import { FlowDatastore, type RunMeta } from "../../datastore/flowstore.js";
import { resolveParams } from "../../flow/params.js";
import { Orchestrator, driverAlive, type Output } from "../../exec/orchestrator.js";
import { LocalExecutor, chooseIsolation, localWidth, spareCount, type LocalIsolation } from "../../exec/local.js";
import { redact } from "../../redact.js";
import { parseVariable } from "../../variables.js";
import type { FlowGraph } from "../../flow/graph.js";
import { loadEnvironment } from "../../environment-source.js";
import { openStorage } from "../../datastore/open.js";
import { buildCodePackage } from "../../code/package.js";
import { storeDependencyLayer } from "../../code/layer.js";
import type { KubernetesExecutor } from "../../exec/kubernetes/executor.js";
import { requirePeers } from "../../peers.js";
import type { DatastoreKind } from "../../environment.js";
import { usage } from "../usage.js";
import { k8sModules, defaultRunId, chooseDatastore, kubernetesConfigs } from "../common.js";

/** A duration variable (`KUBESTEP_KUBERNETES_PENDING_TIMEOUT`, `..._IMAGE_PULL_GRACE`): seconds, null for never. */
function durationVariable(
  name: "KUBESTEP_KUBERNETES_PENDING_TIMEOUT" | "KUBESTEP_KUBERNETES_IMAGE_PULL_GRACE",
  dflt: number,
): number | null {
  try {
    const v = parseVariable(name);
    return v === undefined ? dflt : v;
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

/** How the user sent steps to Kubernetes, for messages: `--with kubernetes` or `step train (@kubernetes)`. */
function kubernetesReason(graph: FlowGraph, withSpecs: string[], steps: string[]): string {
  if (withSpecs.length) return `--with ${withSpecs[withSpecs.length - 1]}`;
  const decorated = steps.filter((s) => graph.nodes[s]!.meta.decorators.kubernetes);
  return `${decorated.length === 1 ? "step" : "steps"} ${decorated.join(", ")} (@kubernetes)`;
}

/** The CLI's console, through the one redaction of secrets. */
const consoleOutput = (quiet: boolean): Output => ({
  line: (text, stream) => {
    if (!quiet) (stream === "stderr" ? process.stderr : process.stdout).write(redact(text) + "\n");
  },
  info: (text) => process.stderr.write(redact(text) + "\n"),
});

const RUN_OPTS = [
  "flow",
  "max-workers",
  "max-num-splits",
  "tag",
  "run-id",
  "datastore",
  "origin-run-id",
  "with",
  "stack",
  "environment",
  "kube-context",
  "isolation",
];

/** `--isolation`, else `KUBESTEP_LOCAL_ISOLATION`, else undefined (threads where the code allows). */
function requestedIsolation(p: ParsedArgs): LocalIsolation | undefined {
  const given = opt(p, "isolation");
  if (given === undefined) return parseVariable("KUBESTEP_LOCAL_ISOLATION");
  if (given !== "thread" && given !== "process")
    throw new UsageError(`--isolation ${JSON.stringify(given)} is invalid; use thread or process`);
  return given;
}

/** `kubestep run` (resume false) and `kubestep resume`. */
export async function runOrResume(argv: string[], resume: boolean): Promise<number> {
  const p = parseArgs(argv, RUN_OPTS, ["help", "quiet"], !resume);
  if (p.flags.has("help")) return usage(resume ? "resume" : "run", 0);
  const [file, stepArg, ...more] = p.positionals;
  if (!file) throw new UsageError("missing the flow file");
  if (more.length || (!resume && stepArg)) throw new UsageError(`unexpected argument ${more[0] ?? stepArg}`);
  const started = Date.now();
  const requested = requestedIsolation(p);
  const { graph, code, externals } = await loadFlow(file, opt(p, "flow"));
  const environment = await loadEnvironment({
    ...(opt(p, "stack") !== undefined ? { stack: opt(p, "stack")! } : {}),
    ...(opt(p, "environment") !== undefined ? { environment: opt(p, "environment")! } : {}),
    env: process.env,
  });
  const k8sConfigs = await kubernetesConfigs(graph, p.options.with ?? [], environment);
  const k8sSteps = Object.keys(k8sConfigs);
  const chosen = chooseDatastore(p, environment);
  if (k8sSteps.length && chosen.kind === "local")
    throw new UsageError(
      `steps ${k8sSteps.join(", ")} run on Kubernetes, whose pods cannot read the local datastore ${chosen.root}; choose one they reach: --datastore s3 (KUBESTEP_DATASTORE_SYSROOT_S3=s3://bucket/prefix), gs (KUBESTEP_DATASTORE_SYSROOT_GS) or azure (KUBESTEP_DATASTORE_SYSROOT_AZURE), or --stack <name> / --environment <file> for a provisioned environment`,
    );
  // Optional peers (cloud SDKs, the Kubernetes client) are checked before anything runs.
  await requirePeers([
    ...(k8sSteps.length
      ? [{ feature: "kubernetes" as const, reason: kubernetesReason(graph, p.options.with ?? [], k8sSteps) }]
      : []),
    ...datastoreNeeds(chosen),
  ]);
  const k8s = k8sSteps.length ? await k8sModules() : undefined;
  const storage = await openStorage(chosen.kind, chosen.root);
  const pendingTimeoutSeconds = k8s
    ? durationVariable("KUBESTEP_KUBERNETES_PENDING_TIMEOUT", k8s.DEFAULT_PENDING_TIMEOUT_SECONDS)
    : null;
  const ds = new FlowDatastore(storage, graph.flowName);
  let params: Record<string, unknown>;
  let originRunId: string | undefined;
  let continueRun = false;
  if (resume) {
    originRunId = opt(p, "origin-run-id") ?? (await ds.listRuns()).filter((r) => r !== (opt(p, "run-id") ?? "")).pop();
    if (!originRunId) throw new UsageError(`no run of ${graph.flowName} to resume in ${storage.root}`);
    const origin = await ds.readRun(originRunId);
    if (!origin) throw new UsageError(`run ${graph.flowName}/${originRunId} does not exist in ${storage.root}`);
    params = origin.params;
    continueRun = interruptedRun(origin, stepArg, opt(p, "run-id"));
  } else params = resolveParams(graph.meta.params, p.extra);
  const runId = continueRun ? originRunId! : (opt(p, "run-id") ?? defaultRunId());
  if (!continueRun && (await ds.readRun(runId))) throw new UsageError(`run ${graph.flowName}/${runId} already exists`);
  await ds.putCode(code.sha, code.bytes);
  const output = consoleOutput(p.flags.has("quiet"));
  const isolation = chooseIsolation(requested, code.path, [...code.externals.map((e) => e.name), ...externals]);
  if (isolation.reason && graph.order.some((s) => !k8sConfigs[s]))
    output.info(`local tasks run in their own processes, not in threads: the flow's code ${isolation.reason}`);
  const executor = new LocalExecutor(code.path, {
    isolation: isolation.isolation,
    spares: graph.order.some((s) => !k8sConfigs[s]) ? spareCount(localWidth(graph, intOpt(p, "max-workers", 16))) : 0,
    lastSteps: ["end"],
  });
  executor.warm();
  let k8sExecutor: KubernetesExecutor | undefined;
  if (k8s) {
    const { KubernetesExecutor, FORWARDED_ENV, loadKubeConfig, DEFAULT_IMAGE_PULL_GRACE_SECONDS } = k8s;
    const { kubeConfig } = await loadKubeConfig({
      ...(opt(p, "kube-context") ? { context: opt(p, "kube-context")! } : {}),
    });
    const pkg = await buildCodePackage(resolve(file), {
      selfContained: true,
      podDatastore: chosen.kind as Exclude<DatastoreKind, "local">,
      externals,
    });
    const codeKey = ds.codeKey(pkg.sha);
    if (await ds.putCode(pkg.sha, pkg.bytes))
      output.info(
        `uploaded the code package ${pkg.sha.slice(0, 12)} (${(pkg.bytes.byteLength / 1e6).toFixed(1)} MB) to ${storage.root}`,
      );
    const deps = await storeDependencyLayer(ds, pkg.externals, (t) => output.info(t));
    const podEnv: Record<string, string> = {};
    for (const k of FORWARDED_ENV) if (process.env[k]) podEnv[k] = process.env[k]!;
    k8sExecutor = new KubernetesExecutor({
      kubeConfig,
      storage,
      codeSha: pkg.sha,
      codeKey,
      ...(deps ? { deps: { layer: deps.layer, key: deps.key } } : {}),
      configs: k8sConfigs,
      podEnv,
      pendingTimeoutSeconds,
      imagePullGraceSeconds:
        durationVariable("KUBESTEP_KUBERNETES_IMAGE_PULL_GRACE", DEFAULT_IMAGE_PULL_GRACE_SECONDS) ?? undefined,
      info: (t) => output.info(t),
    });
  }
  const orch = new Orchestrator({
    graph,
    storage,
    executorFor: (node) => (k8sConfigs[node.name] ? k8sExecutor! : executor),
    runId,
    params,
    tags: p.options.tag ?? [],
    codeHash: code.sha,
    flowFile: resolve(file),
    maxWorkers: intOpt(p, "max-workers", 16),
    maxNumSplits: intOpt(p, "max-num-splits", 100),
    output,
    ...(continueRun
      ? { continueRun: true }
      : resume
        ? { resume: { originRunId: originRunId!, ...(stepArg ? { step: stepArg } : {}) } }
        : {}),
  });
  output.info(
    continueRun
      ? `continuing ${graph.flowName} run ${runId}, whose driver died mid-run (datastore ${storage.root}): finished tasks are kept; its Kubernetes Jobs, running or finished, are re-attached, not submitted again`
      : `${resume ? "resuming" : "running"} ${graph.flowName} run ${runId} (datastore ${storage.root})`,
  );
  let interrupted = false;
  const onSignal = (sig: string) => {
    if (interrupted) return;
    interrupted = true;
    output.info(`${sig}: stopping every task of run ${runId}...`);
    void orch.interrupt(`interrupted by ${sig}`);
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  const res = await orch.execute();
  process.off("SIGINT", onSignal);
  process.off("SIGTERM", onSignal);
  const secs = ((Date.now() - started) / 1000).toFixed(2);
  if (res.ok) output.info(`run ${graph.flowName}/${runId} succeeded in ${secs} s`);
  else
    output.info(
      `run ${graph.flowName}/${runId} failed after ${secs} s: ${res.error}\n  resume it with: kubestep resume ${file} --origin-run-id ${runId}`,
    );
  return interrupted ? 130 : res.ok ? 0 : 1;
}

/**
 * Whether `resume` continues the origin run in place: it was left running by a driver that died (the CLI was
 * killed), so its unfinished tasks keep their ids and attempts and their Kubernetes Jobs are re-attached.
 * Resuming from a named step, or into a named new run, always makes a new run. A run whose driver still runs
 * on this host is refused.
 */
function interruptedRun(origin: RunMeta, stepArg: string | undefined, newRunId: string | undefined): boolean {
  if (origin.status !== "running" || stepArg !== undefined || newRunId !== undefined) return false;
  if (driverAlive(origin.driver))
    throw new UsageError(
      `run ${origin.flowName}/${origin.runId} is still running (pid ${origin.driver!.pid} on this host); wait for it or stop it (Ctrl-C, or kubestep kubernetes kill) before resuming`,
    );
  return true;
}
