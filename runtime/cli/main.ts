/**
 * The `kubestep` command: run, resume, show, runs, logs, dump. Exit codes: 0 success, 1 the run failed,
 * 2 bad usage or a flow definition error (nothing ran), 130 interrupted.
 */
import { chooseDatastore as chooseDatastoreFrom, datastoreNeeds, type ChosenDatastore } from "./datastore-choice.js";
import { randomBytes } from "node:crypto";
import { resolve } from "node:path";
import { parseArgs, opt, intOpt, UsageError, type ParsedArgs } from "./args.js";
import { loadFlow } from "../code/load.js";
import { FlowDatastore, type RunMeta } from "../datastore/flowstore.js";
import { describeTrigger, type RunTrigger } from "../deploy/record.js";
import type { Storage } from "../datastore/storage.js";
import { resolveParams, paramType } from "../flow/params.js";
import { Orchestrator, currentUser, driverAlive, type Output } from "../exec/orchestrator.js";
import { LocalExecutor, chooseIsolation, localWidth, spareCount, type LocalIsolation } from "../exec/local.js";
import { isKubestepError } from "../errors.js";
import { redact } from "../redact.js";
import { parseVariable } from "../variables.js";
import { ArtifactStore } from "../artifacts/store.js";
import type { FlowGraph } from "../flow/graph.js";
import type { KubestepEnvironment } from "../environment.js";
import { loadEnvironment } from "../environment-source.js";
import { openStorage } from "../datastore/open.js";
import type { ResolvedKubernetesConfig } from "../kubernetes/config.js";
import type { KubernetesOptions } from "../kubernetes/options.js";
import { buildCodePackage } from "../code/package.js";
import { storeDependencyLayer } from "../code/layer.js";
import type { KubernetesExecutor } from "../exec/kubernetes/executor.js";
import { requirePeer, requirePeers } from "../peers.js";
import type { DatastoreKind } from "../environment.js";

// Kubernetes modules load only when a run or command needs them, to keep local start-up fast.
const k8sModules = async () => {
  const [config, executor, client, explain, jobspec] = await Promise.all([
    import("../kubernetes/config.js"),
    import("../exec/kubernetes/executor.js"),
    import("../exec/kubernetes/client.js"),
    import("../exec/kubernetes/explain.js"),
    import("../kubernetes/jobspec.js"),
  ]);
  return { ...config, ...executor, ...client, ...explain, ...jobspec };
};

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

const USAGE: Record<string, string> = {
  main: `kubestep — write a flow as a TypeScript class of steps, run it locally or on Kubernetes.

Usage: kubestep <command> [options]

Commands:
  run <flow.ts>                      run a flow (flow parameters as --name value)
  resume <flow.ts> [step]            re-run a failed run from its failed step, reusing finished tasks
  show <flow.ts>                     print the flow's graph and parameters
  runs <Flow>                        list the runs of a flow
  logs <Flow/run/step[/task]>        print the logs of tasks
  dump <Flow/run/step/task>          print a task's artifacts
  kubernetes list|kill               list or delete a run's Kubernetes jobs
  ui                                 browse flows, runs, graphs, logs, artifacts and cards in a browser
  card get <Flow/run/step/task>      write a task's card as a self-contained HTML file
  deploy <flow.ts> [--delete]        deploy a flow to the cluster (schedule, triggers); runs need no laptop
  trigger <Flow> [--param value]     start a run of a deployed flow now, in the cluster
  deployments list                   what is deployed: version, schedule, triggers, last runs
  event publish <name> [--payload k=v]  start the deployed flows that @trigger on the event
  argo-workflows create <flow.ts>    the flow as an Argo WorkflowTemplate (--only-json prints it)

Run \`kubestep <command> --help\` for a command's options.`,
  run: `Usage: kubestep run <flow.ts> [--<param> value ...] [options]

Options:
  --flow <Name>           the flow to run when the file exports several
  --max-workers <N>       tasks run at once (default 16)
  --max-num-splits <N>    largest foreach allowed (default 100)
  --tag <tag>             tag the run (repeatable)
  --run-id <id>           use this run id instead of a generated one
  --datastore <kind>      local (default) | s3 | gs | azure (or KUBESTEP_DEFAULT_DATASTORE)
  --with kubernetes[:k=v,...]  run every step on Kubernetes, with option overrides (e.g. cpu=4,memory=8000)
  --stack <name>          read the environment from \`pulumi stack output kubestep --stack <name>\`
  --environment <file>    read the environment from a JSON file (or KUBESTEP_ENVIRONMENT)
  --kube-context <name>   kubeconfig context to use (default: the current one)
  --isolation <kind>      local tasks in worker threads of the CLI (thread, the default) or one node
                          process each (process); or KUBESTEP_LOCAL_ISOLATION. Code that cannot run in
                          a thread (process.chdir, native addons, external packages, child_process)
                          always gets processes
  --quiet                 do not print task output, only progress and errors
  --help                  this help`,
  resume: `Usage: kubestep resume <flow.ts> [step] [options]

Re-runs <step> (default: the first step that did not finish) and everything after it, in a new run that
reuses the artifacts of every finished task before it (no recomputation). Each reused artifact is checked
first (present, its size, its sha256): a task whose artifacts are damaged is recomputed, with the steps after it.

A run left running by a CLI that died (killed, SIGKILL, machine lost) is continued in place when no step and
no --run-id is given: its finished tasks are kept and its Kubernetes Jobs, still running or finished meanwhile,
are re-attached rather than submitted again, so no task runs twice.

Options:
  --origin-run-id <id>    the run to resume (default: the latest run of the flow)
  --flow, --max-workers, --max-num-splits, --tag, --run-id, --datastore, --with, --stack, --environment,
  --kube-context, --isolation, --quiet: as for run`,
  show: `Usage: kubestep show <flow.ts> [--flow <Name>]

Prints the steps, their transitions and decorators, and the parameters.`,
  runs: `Usage: kubestep runs <Flow> [--datastore <kind>]

Lists runs with status, start time, tags and parameters, newest last.`,
  logs: `Usage: kubestep logs <Flow/run/step[/task]> [--attempt N] [--datastore <kind>]

Prints the stored output of every task of a step (or of one task); the last attempt unless --attempt.`,
  dump: `Usage: kubestep dump <Flow/run/step/task> [--artifact <name>] [--datastore <kind>]

Prints the task's artifacts (all, or one).`,
  kubernetes: `Usage: kubestep kubernetes list [--run-id R] [--user U] [--all] [--namespace N] [--kube-context C]
       kubestep kubernetes kill --run-id R [--namespace N] [--kube-context C]

list: the kubestep Jobs in the namespace (default KUBESTEP_KUBERNETES_NAMESPACE or "default"), selected on the
server by label: your own unless --user or --all. kill: deletes a run's Jobs and their pods.`,
};

function defaultRunId(): string {
  // 32 random bits: runs started in the same millisecond (two at once on one datastore) never share an id.
  return `${Date.now()}-${randomBytes(4).toString("hex")}`;
}

/** Chooses the datastore from `--datastore` and the environment (one rule for every command: cli/datastore-choice.ts). */
function chooseDatastore(p: ParsedArgs, environment?: KubestepEnvironment): ChosenDatastore {
  return chooseDatastoreFrom(opt(p, "datastore"), environment);
}

async function storageFrom(p: ParsedArgs, environment?: KubestepEnvironment): Promise<Storage> {
  const d = chooseDatastore(p, environment);
  await requirePeers(datastoreNeeds(d));
  return openStorage(d.kind, d.root);
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

/** Which steps run on Kubernetes, with their resolved configuration (validated before anything runs). */
async function kubernetesConfigs(
  graph: FlowGraph,
  withSpecs: string[],
  environment: KubestepEnvironment | undefined,
): Promise<Record<string, ResolvedKubernetesConfig>> {
  if (!withSpecs.length && !graph.order.some((s) => graph.nodes[s]!.meta.decorators.kubernetes)) return {};
  const { parseWithKubernetes, resolveKubernetesConfigs } = await import("../kubernetes/config.js");
  let withOverrides: Partial<KubernetesOptions> | undefined;
  for (const w of withSpecs) {
    if (w !== "kubernetes" && !w.startsWith("kubernetes:"))
      throw new UsageError(
        `--with ${JSON.stringify(w)} is not supported; use --with kubernetes or --with kubernetes:cpu=4,memory=8000`,
      );
    withOverrides = { ...withOverrides, ...parseWithKubernetes(w) };
  }
  // Every step is resolved before anything is submitted; every bad option of every step comes in one error.
  return resolveKubernetesConfigs(
    graph.order.flatMap((name) => {
      const d = graph.nodes[name]!.meta.decorators;
      if (!d.kubernetes && !withOverrides) return [];
      return [
        {
          step: name,
          ...(d.kubernetes ? { decorator: d.kubernetes.options } : {}),
          ...(d.resources ? { resources: d.resources.options } : {}),
          ...(d.timeout ? { timeoutSeconds: d.timeout.options.seconds } : {}),
          ...(withOverrides ? { withOverrides } : {}),
          env: process.env,
          ...(environment ? { environment } : {}),
        },
      ];
    }),
  );
}

/** `--isolation`, else `KUBESTEP_LOCAL_ISOLATION`, else undefined (threads where the code allows). */
function requestedIsolation(p: ParsedArgs): LocalIsolation | undefined {
  const given = opt(p, "isolation");
  if (given === undefined) return parseVariable("KUBESTEP_LOCAL_ISOLATION");
  if (given !== "thread" && given !== "process")
    throw new UsageError(`--isolation ${JSON.stringify(given)} is invalid; use thread or process`);
  return given;
}

async function runOrResume(argv: string[], resume: boolean): Promise<number> {
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

function describeGraph(graph: FlowGraph): string {
  const lines = [`Flow ${graph.flowName}`, ""];
  for (const s of graph.order) {
    const n = graph.nodes[s]!;
    const decos = Object.entries(n.meta.decorators).map(
      ([k, d]) => `@${k}${d.options && Object.keys(d.options as object).length ? JSON.stringify(d.options) : ""}`,
    );
    const to = n.out.length
      ? ` -> ${n.out.join(", ")}${n.foreach ? ` (foreach ${n.foreach})` : ""}${n.numParallel ? ` (parallel ${n.numParallel})` : ""}`
      : "";
    lines.push(`  ${s}${n.isJoin ? "(inputs)" : ""} [${n.type}]${to}${decos.length ? "  " + decos.join(" ") : ""}`);
  }
  const params = Object.values(graph.meta.params);
  if (params.length) {
    lines.push("", "Parameters:");
    for (const pm of params)
      lines.push(
        `  --${pm.name} <${paramType(pm)}>${pm.options.default !== undefined ? ` (default ${JSON.stringify(pm.options.default)})` : pm.options.required ? " (required)" : ""}${pm.options.help ? `  ${pm.options.help}` : ""}`,
      );
  }
  return lines.join("\n");
}

function splitPathspec(spec: string | undefined, min: number, what: string): string[] {
  const parts = (spec ?? "").split("/").filter(Boolean);
  if (parts.length < min) throw new UsageError(`expected ${what}, got ${JSON.stringify(spec ?? "")}`);
  return parts;
}

async function cmdRuns(argv: string[]): Promise<number> {
  const p = parseArgs(argv, ["datastore"], ["help"], false);
  if (p.flags.has("help")) return usage("runs", 0);
  const [flow] = splitPathspec(p.positionals[0], 1, "a flow name");
  const ds = new FlowDatastore(await storageFrom(p), flow!);
  const runs = await ds.listRuns();
  if (!runs.length) process.stdout.write(`no runs of ${flow}\n`);
  for (const r of runs) {
    const m = (await ds.readRun(r)) as (RunMeta & { trigger?: RunTrigger }) | undefined;
    if (!m) continue;
    // Deployed runs record why they started (run.json `trigger`, `current.trigger` in their tasks).
    process.stdout.write(
      `${r}  ${m.status.padEnd(9)} ${m.createdAt}  user=${m.user}${m.tags.length ? ` tags=${m.tags.join(",")}` : ""}  params=${JSON.stringify(m.params)}${m.originRunId ? ` (resumed ${m.originRunId})` : ""}${m.trigger ? ` started by: ${describeTrigger(m.trigger)}` : ""}\n`,
    );
  }
  return 0;
}

async function cmdLogs(argv: string[]): Promise<number> {
  const p = parseArgs(argv, ["datastore", "attempt"], ["help"], false);
  if (p.flags.has("help")) return usage("logs", 0);
  const [flow, run, step, task] = splitPathspec(p.positionals[0], 3, "Flow/run/step[/task]");
  const ds = new FlowDatastore(await storageFrom(p), flow!);
  const tasks = task ? [task] : await ds.listTasks(run!, step!);
  if (!tasks.length) throw new UsageError(`no tasks at ${flow}/${run}/${step}`);
  for (const t of tasks) {
    const meta = await ds.readTask(run!, step!, t);
    if (!meta) throw new UsageError(`no task ${flow}/${run}/${step}/${t}`);
    // A running task's attempt is not in its metadata until it ends: its live log is the one after the last.
    const attempt =
      opt(p, "attempt") !== undefined
        ? Number(opt(p, "attempt"))
        : meta.status === "running" && meta.attempts[meta.attempts.length - 1]?.status !== "running"
          ? meta.attempts.length
          : meta.attempts.length - 1;
    const log = attempt >= 0 ? await ds.readLogOrLive(run!, step!, t, attempt) : undefined;
    if (tasks.length > 1 || task === undefined)
      process.stdout.write(`--- ${flow}/${run}/${step}/${t} attempt ${attempt} (${meta.status}) ---\n`);
    process.stdout.write(
      log?.text ??
        (meta.clonedFrom
          ? `(reused from ${meta.clonedFrom}; see its logs)\n`
          : meta.status === "running"
            ? "(running; no output stored yet)\n"
            : "(no log stored)\n"),
    );
    if (log?.live) process.stderr.write(`(attempt ${attempt} is still running: this is its output so far)\n`);
  }
  return 0;
}

async function cmdDump(argv: string[]): Promise<number> {
  const p = parseArgs(argv, ["datastore", "artifact"], ["help"], false);
  if (p.flags.has("help")) return usage("dump", 0);
  const [flow, run, step, task] = splitPathspec(p.positionals[0], 4, "Flow/run/step/task");
  const ds = new FlowDatastore(await storageFrom(p), flow!);
  const meta = await ds.readTask(run!, step!, task!);
  if (!meta) throw new UsageError(`no task ${flow}/${run}/${step}/${task}`);
  const store = new ArtifactStore(ds);
  const only = opt(p, "artifact");
  // Where each Kubernetes attempt ran, as comment lines before the artifacts.
  if (!only)
    for (const at of meta.attempts)
      if (at?.placement)
        process.stdout.write(
          `# attempt ${at.attempt} ${at.status}: Kubernetes Job ${at.placement.namespace}/${at.placement.job}, pod ${at.placement.pod}, node ${at.placement.node ?? "(not scheduled)"}\n`,
        );
  const { inspect } = await import("node:util");
  for (const [name, ref] of Object.entries(meta.artifacts ?? {})) {
    if (only && name !== only) continue;
    const v = await store.load(name, ref, `${run}/${step}/${task}`);
    process.stdout.write(
      redact(`${name} = ${inspect(v, { depth: 4, maxArrayLength: 20, maxStringLength: 200, breakLength: 120 })}`) +
        "\n",
    );
  }
  if (only && !meta.artifacts?.[only])
    throw new UsageError(`task has no artifact ${only}; it has: ${Object.keys(meta.artifacts ?? {}).join(", ")}`);
  return 0;
}

async function cmdShow(argv: string[]): Promise<number> {
  const p = parseArgs(argv, ["flow"], ["help"], false);
  if (p.flags.has("help")) return usage("show", 0);
  const file = p.positionals[0];
  if (!file) throw new UsageError("missing the flow file");
  const { graph } = await loadFlow(file, opt(p, "flow"));
  process.stdout.write(describeGraph(graph) + "\n");
  return 0;
}

async function cmdKubernetes(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  const p = parseArgs(rest, ["run-id", "user", "namespace", "kube-context"], ["help", "all"], false);
  if (p.flags.has("help") || sub === "--help" || sub === undefined)
    return usage("kubernetes", sub === undefined ? 2 : 0);
  if (sub !== "list" && sub !== "kill") throw new UsageError(`unknown subcommand kubernetes ${sub}; use list or kill`);
  await requirePeer("kubernetes", `kubestep kubernetes ${sub}`);
  const { loadKubeConfig, kubeApis, jobLabelSelector } = await k8sModules();
  const { kubeConfig } = await loadKubeConfig({
    ...(opt(p, "kube-context") ? { context: opt(p, "kube-context")! } : {}),
  });
  const { batch, core } = await kubeApis(kubeConfig);
  const namespace = opt(p, "namespace") ?? process.env.KUBESTEP_KUBERNETES_NAMESPACE ?? "default";
  const runId = opt(p, "run-id");
  if (sub === "kill" && !runId) throw new UsageError("kubernetes kill needs --run-id <id>");
  const user = p.flags.has("all") || runId ? opt(p, "user") : (opt(p, "user") ?? currentUser());
  const labelSelector = jobLabelSelector({ ...(runId ? { runId } : {}), ...(user ? { user } : {}) });
  const { listJobSets, deleteJobSet } = await import("../exec/kubernetes/jobset-api.js");
  // @parallel gangs run as JobSets where the cluster serves the API; their child Jobs carry the same labels.
  const [jobs, jobSets] = await Promise.all([
    batch.listNamespacedJob({ namespace, labelSelector }).then((l) => l.items),
    listJobSets(kubeConfig, namespace, labelSelector),
  ]);
  if (sub === "list") {
    if (!jobs.length && !jobSets.length)
      process.stdout.write(`no kubestep jobs in namespace ${namespace} matching ${labelSelector}\n`);
    for (const s of jobSets) {
      const a = s.metadata.annotations ?? {};
      const conditions = (s.status?.conditions ?? []) as Array<{ type?: string; status?: string }>;
      const done = (t: string) => conditions.some((c) => c.type === t && c.status === "True");
      const st = done("Completed") ? "succeeded" : done("Failed") ? "failed" : "running";
      process.stdout.write(
        `jobset/${s.metadata.name}  ${st.padEnd(9)} ${a["kubestep.io/flow"] ?? ""}/${a["kubestep.io/run"] ?? ""}/${a["kubestep.io/step"] ?? ""} attempt ${a["kubestep.io/attempt"] ?? ""} user=${a["kubestep.io/user"] ?? ""} (${s.spec.replicatedJobs.map((r) => r.name).join(" + ")})\n`,
      );
    }
    for (const j of jobs) {
      const a = j.metadata?.annotations ?? {};
      const st = j.status?.succeeded
        ? "succeeded"
        : j.status?.failed
          ? "failed"
          : j.status?.active
            ? "running"
            : "pending";
      process.stdout.write(
        `${j.metadata?.name}  ${st.padEnd(9)} ${a["kubestep.io/flow"] ?? ""}/${a["kubestep.io/run"] ?? ""}/${a["kubestep.io/step"] ?? ""}/${a["kubestep.io/task"] ?? ""} attempt ${a["kubestep.io/attempt"] ?? ""} user=${a["kubestep.io/user"] ?? ""}\n`,
      );
    }
    return 0;
  }
  // JobSets first: a JobSet controller recreates a child Job deleted under a live JobSet.
  await Promise.all(jobSets.map((s) => deleteJobSet(kubeConfig, namespace, s.metadata.name!)));
  await Promise.all(
    jobs.map((j) =>
      batch
        .deleteNamespacedJob({
          namespace,
          name: j.metadata!.name!,
          propagationPolicy: "Background",
          gracePeriodSeconds: 0,
        })
        .catch((e: unknown) => {
          // A JobSet's child Job may already be gone with its JobSet.
          if ((e as { code?: number }).code !== 404) throw e;
        }),
    ),
  );
  await core.deleteCollectionNamespacedPod({ namespace, labelSelector, gracePeriodSeconds: 0 });
  process.stdout.write(
    `deleted ${jobSets.length ? `${jobSets.length} JobSet(s), ` : ""}${jobs.length} job(s) and their pods of run ${runId} in namespace ${namespace}\n`,
  );
  return 0;
}

/** What the deployment commands (cli/deploy.ts) share with run. */
const deployHelpers = { chooseDatastore, datastoreNeeds, kubernetesConfigs, defaultRunId };

function usage(cmd: string, code: number): number {
  (code ? process.stderr : process.stdout).write(USAGE[cmd]! + "\n");
  return code;
}

/** Runs the CLI; resolves to the exit code. */
export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  try {
    switch (cmd) {
      case "run":
        return await runOrResume(rest, false);
      case "resume":
        return await runOrResume(rest, true);
      case "show":
        return await cmdShow(rest);
      case "runs":
        return await cmdRuns(rest);
      case "logs":
        return await cmdLogs(rest);
      case "dump":
        return await cmdDump(rest);
      case "kubernetes":
        return await cmdKubernetes(rest);
      case "ui":
        return await (await import("./ui.js")).cmdUi(rest);
      case "card":
        return await (await import("./card.js")).cmdCard(rest);
      case "deploy":
        return await (await import("./deploy.js")).cmdDeploy(rest, deployHelpers);
      case "trigger":
        return await (await import("./deploy.js")).cmdTrigger(rest, deployHelpers);
      case "deployments":
        return await (await import("./deploy.js")).cmdDeployments(rest, deployHelpers);
      case "event":
        return await (await import("./deploy.js")).cmdEvent(rest, deployHelpers);
      case "argo-workflows":
        return await (await import("./argo.js")).cmdArgoWorkflows(rest, deployHelpers);
      case undefined:
      case "help":
      case "--help":
      case "-h":
        return usage("main", cmd === undefined ? 2 : 0);
      default:
        process.stderr.write(`kubestep: unknown command ${JSON.stringify(cmd)}\n\n`);
        return usage("main", 2);
    }
  } catch (e) {
    if (e instanceof UsageError) {
      process.stderr.write(`kubestep ${cmd}: ${e.message}\n\n`);
      if (cmd === "argo-workflows") return (process.stderr.write((await import("./argo.js")).ARGO_USAGE + "\n"), 2);
      if (!USAGE[cmd!] && ["deploy", "trigger", "deployments", "event"].includes(cmd!))
        return (process.stderr.write((await import("./deploy.js")).DEPLOY_USAGE[cmd as "deploy"] + "\n"), 2);
      return usage(USAGE[cmd!] ? cmd! : "main", 2);
    }
    // Every error kubestep raises for bad input or configuration (flow definition, parameters, decorators,
    // environment, kubeconfig, datastore, missing peers) carries its exit code; recognised by brand, so the
    // errors of the flow's code package (its own copy of the runtime) count too.
    if (isKubestepError(e)) {
      process.stderr.write(`kubestep ${cmd}: ${redact(e.message)}\n`);
      return e.exitCode;
    }
    process.stderr.write(`kubestep ${cmd}: ${redact((e as Error).stack ?? String(e))}\n`);
    return 1;
  }
}
