/**
 * `kubestep deploy`, `trigger`, `deployments list` and `event publish`: flows that run in the cluster with no
 * laptop attached. A deployment is plain Kubernetes objects (runtime/kubernetes/deploy.ts): a ConfigMap with the
 * deployment record, a ConfigMap with the orchestrator code package and, for `@schedule`, a CronJob. Each run is
 * an orchestrator Job running the kubestep runtime itself (runtime/deploy/pod.ts).
 */
import { readKubernetesEnv } from "../../kubernetes/config.js";
import { resolve } from "node:path";
import { gzipSync } from "node:zlib";
import { parseArgs, opt, intOpt, UsageError, type ParsedArgs } from "../args.js";
import { loadFlow } from "../../code/load.js";
import { buildCodePackage } from "../../code/package.js";
import { storeDependencyLayer } from "../../code/layer.js";
import { FlowDatastore } from "../../datastore/flowstore.js";
import { openStorage } from "../../datastore/open.js";
import { resolveParams } from "../../flow/params.js";
import { loadEnvironment } from "../../environment-source.js";
import type { KubestepEnvironment, DatastoreKind } from "../../environment.js";
import { requirePeers } from "../../peers.js";
import { currentUser } from "../../exec/orchestrator.js";
import { DeployDefinitionError, rawDeployDeclOf, resolveDeploySpec, type DeploySpec } from "../../deploy/decorators.js";
import type { DeploymentRecord, RunTrigger } from "../../deploy/record.js";
import type { KubernetesOptions } from "../../kubernetes/options.js";
import type { FlowGraph } from "../../flow/graph.js";
import type { ResolvedKubernetesConfig } from "../../kubernetes/config.js";
import type { PeerNeed } from "../../peers.js";

/** The datastore a command uses, as `kubestep run` chooses it. */
export interface ChosenDatastoreLike {
  /** Kind. */
  kind: DatastoreKind;
  /** Root URL or directory. */
  root: string;
  /** How the user asked for it, for messages. */
  reason: string;
}

/** What the deployment commands share with `kubestep run` (passed by the CLI's dispatcher). */
export interface DeployHelpers {
  /** The datastore from --datastore, the environment or the variables. */
  chooseDatastore(p: ParsedArgs, environment?: KubestepEnvironment): ChosenDatastoreLike;
  /** The optional peers the datastore needs. */
  datastoreNeeds(d: ChosenDatastoreLike): PeerNeed[];
  /** The resolved Kubernetes configuration of the steps sent to Kubernetes. */
  kubernetesConfigs(
    graph: FlowGraph,
    withSpecs: string[],
    environment: KubestepEnvironment | undefined,
  ): Promise<Record<string, ResolvedKubernetesConfig>>;
  /** A new run id. */
  defaultRunId(): string;
}

/** Usage of the deployment commands. */
export const DEPLOY_USAGE: Record<"deploy" | "trigger" | "deployments" | "event", string> = {
  deploy: `Usage: kubestep deploy <flow.ts> [options]
       kubestep deploy <flow.ts> --delete [options]

Stores the flow's code package in the datastore and deploys it to the cluster: a ConfigMap with the deployment
record (version, code package, parameters), a ConfigMap with the orchestrator code package and, for @schedule,
a CronJob. Runs then start in the cluster (kubestep trigger, the schedule, @trigger events, @triggerOnFinish).
Every step of a deployed run is a Job, as with --with kubernetes. --delete removes what deploy created; runs in
progress finish.

Options:
  --flow <Name>                 the flow when the file exports several
  --namespace <ns>              namespace of the deployment and its Jobs (default: the environment's)
  --stack <name> | --environment <file>   the provisioned environment (as for run)
  --datastore <kind>            s3 | gs | azure (default: the environment's, or KUBESTEP_DEFAULT_DATASTORE)
  --with kubernetes[:k=v,...]   option overrides for every step (and the orchestrator's image, secrets)
  --orchestrator-service-account <sa>  service account of orchestrator pods (default: the environment's
                                orchestratorServiceAccount, else kubestep-orchestrator)
  --allow-overlap               a scheduled run may start while the previous one runs (default: Forbid)
  --tag <tag>                   tag every run (repeatable)
  --max-workers <N>, --max-num-splits <N>   as for run
  --kube-context <name>         kubeconfig context
  --delete                      remove the deployment`,
  trigger: `Usage: kubestep trigger <Flow> [--<param> value ...] [options]

Starts one run of a deployed flow now, as an orchestrator Job in the cluster.

Options:
  --namespace <ns>, --stack <name>, --environment <file>, --kube-context <name>
  --run-id <id>     the run's id (default: generated)
  --resume <run>    resume this failed run in the cluster: its finished tasks are reused, its parameters kept
  --step <step>     with --resume: the step to re-run from (default: the first that did not finish)
  --wait            wait for the run to finish; exit 0 when it succeeded, 1 when it failed`,
  deployments: `Usage: kubestep deployments list [--namespace <ns>] [--stack <name> | --environment <file>] [--kube-context <name>]

What is deployed: flow, version, code package, schedule, triggers, and the last runs.`,
  event: `Usage: kubestep event publish <name> [--payload key=value ...] [--namespace <ns>] [--stack <name> | --environment <file>]

Starts a run of every deployed flow with @trigger({ event: <name> }); the payload is the run's current.trigger.payload,
and payload keys that name a parameter of the flow set it.`,
};

const ENV_OPTS = ["namespace", "stack", "environment", "kube-context"];

/** The environment of `--stack` / `--environment` (or `KUBESTEP_ENVIRONMENT`), if any. */
export async function environmentOf(p: ParsedArgs): Promise<KubestepEnvironment | undefined> {
  return loadEnvironment({
    ...(opt(p, "stack") !== undefined ? { stack: opt(p, "stack")! } : {}),
    ...(opt(p, "environment") !== undefined ? { environment: opt(p, "environment")! } : {}),
    env: process.env,
  });
}

/** The namespace of `--namespace`, else the environment's, else `KUBESTEP_KUBERNETES_NAMESPACE`, else "default". */
export function namespaceOf(p: ParsedArgs, environment: KubestepEnvironment | undefined): string {
  return (
    opt(p, "namespace") ??
    environment?.namespace ??
    readKubernetesEnv("(deployment)", process.env).options.namespace ??
    "default"
  );
}

async function kube(p: ParsedArgs, why: string) {
  await requirePeers([{ feature: "kubernetes", reason: why }]);
  const { loadKubeConfig } = await import("../../exec/kubernetes/client.js");
  const api = await import("../../exec/kubernetes/deploy-api.js");
  const { kubeConfig } = await loadKubeConfig({
    ...(opt(p, "kube-context") ? { context: opt(p, "kube-context")! } : {}),
  });
  return { kubeConfig, apis: await api.deployApis(kubeConfig), api };
}

function usage(cmd: keyof typeof DEPLOY_USAGE, code: number): number {
  (code ? process.stderr : process.stdout).write(DEPLOY_USAGE[cmd] + "\n");
  return code;
}

/** `kubestep deploy <flow.ts> [--delete]`. */
export async function cmdDeploy(argv: string[], h: DeployHelpers): Promise<number> {
  const p = parseArgs(
    argv,
    ["flow", "datastore", "with", "orchestrator-service-account", "tag", "max-workers", "max-num-splits", ...ENV_OPTS],
    ["help", "delete", "allow-overlap"],
    false,
  );
  if (p.flags.has("help")) return usage("deploy", 0);
  const [file, more] = p.positionals;
  if (!file) throw new UsageError("missing the flow file");
  if (more) throw new UsageError(`unexpected argument ${more}`);
  const { cls, graph, externals } = await loadFlow(file, opt(p, "flow"));
  const environment = await environmentOf(p);
  const { chooseDatastore, datastoreNeeds, kubernetesConfigs } = h;

  if (p.flags.has("delete")) {
    const namespace = namespaceOf(p, environment);
    const { apis, api } = await kube(p, "kubestep deploy --delete");
    const deleted = await api.deleteDeployment(apis, namespace, graph.flowName);
    process.stdout.write(
      deleted.length
        ? `deleted the deployment of ${graph.flowName} in namespace ${namespace}: ${deleted.join(", ")} (runs in progress finish)\n`
        : `${graph.flowName} is not deployed in namespace ${namespace}; nothing to delete\n`,
    );
    return 0;
  }

  // Every problem of the flow's deployment declarations, and every unknown upstream flow, at once.
  const raw = rawDeployDeclOf(cls);
  const problems: string[] = [];
  let spec: DeploySpec | undefined;
  try {
    spec = resolveDeploySpec(graph.flowName, raw);
  } catch (e) {
    if (!(e instanceof DeployDefinitionError)) throw e;
    problems.push(...e.problems);
  }

  const upstream = [
    ...new Set(
      raw.triggerOnFinish.flatMap((t) =>
        typeof t === "object" && t !== null && typeof (t as { flow?: unknown }).flow === "string"
          ? [(t as { flow: string }).flow]
          : [],
      ),
    ),
  ].filter((u) => u !== graph.flowName);
  // Nothing left to check on the cluster: fail before connecting to it.
  if (problems.length && !upstream.length) throw new DeployDefinitionError(graph.flowName, problems);

  const withSpecs = [...(p.options.with?.length ? p.options.with : ["kubernetes"])];
  if (opt(p, "namespace")) withSpecs.push(`kubernetes:namespace=${opt(p, "namespace")}`);
  const configs = await kubernetesConfigs(graph, withSpecs, environment);
  const { parseWithKubernetes, resolveKubernetesConfig } = await import("../../kubernetes/config.js");
  let overrides: Partial<KubernetesOptions> = {};
  for (const w of withSpecs) overrides = { ...overrides, ...(parseWithKubernetes(w) as Partial<KubernetesOptions>) };
  const orchestratorConfig = resolveKubernetesConfig({
    step: "(orchestrator)",
    withOverrides: overrides,
    env: process.env,
    ...(environment ? { environment } : {}),
  });
  const namespace = orchestratorConfig.namespace;
  const chosen = chooseDatastore(p, environment);
  if (chosen.kind === "local")
    throw new UsageError(
      `a deployed flow runs in the cluster, whose pods cannot read the local datastore ${chosen.root}; choose one they reach: --datastore s3 | gs | azure, or --stack <name> / --environment <file>`,
    );
  await requirePeers([{ feature: "kubernetes", reason: "kubestep deploy" }, ...datastoreNeeds(chosen)]);
  const { apis, api } = await kube(p, "kubestep deploy");
  for (const u of upstream)
    if (!(await api.readDeployment(apis, namespace, u)))
      problems.push(
        `@triggerOnFinish flow = ${JSON.stringify(u)}: no flow ${u} is deployed in namespace ${namespace}; deploy it first (kubestep deploy <its file> --namespace ${namespace})`,
      );
  if (problems.length || !spec) throw new DeployDefinitionError(graph.flowName, problems);

  const storage = await openStorage(chosen.kind, chosen.root);
  const ds = new FlowDatastore(storage, graph.flowName);
  const podDatastore = chosen.kind as Exclude<DatastoreKind, "local">;
  const taskPkg = await buildCodePackage(resolve(file), { selfContained: true, podDatastore, externals });
  const orchPkg = await buildCodePackage(resolve(file), {
    selfContained: true,
    podDatastore,
    orchestrator: true,
    externals,
  });
  for (const pkg of [taskPkg, orchPkg]) await ds.putCode(pkg.sha, pkg.bytes);
  // External packages and native addons: one content-addressed layer, uploaded once, installed by the
  // orchestrator pod (before it imports the flow) and by every step pod.
  const deps = await storeDependencyLayer(ds, taskPkg.externals, (t) => process.stderr.write(t + "\n"));
  const gz = gzipSync(orchPkg.bytes, { level: 9 });
  const k8sDeploy = await import("../../kubernetes/deploy.js");
  if (gz.byteLength > k8sDeploy.MAX_CODE_BYTES)
    throw new UsageError(
      `the orchestrator code package of ${graph.flowName} is ${(gz.byteLength / 1e6).toFixed(2)} MB gzipped, more than kubestep deploys through ConfigMaps (${k8sDeploy.MAX_CODE_BYTES / 1e6} MB); import fewer packages in the flow file`,
    );
  const parts = k8sDeploy.codeParts(gz);

  const { FORWARDED_ENV } = await import("../../exec/kubernetes/executor.js");
  const podEnv: Record<string, string> = {};
  for (const k of FORWARDED_ENV) if (process.env[k]) podEnv[k] = process.env[k]!;
  const previous = await api.readDeployment(apis, namespace, graph.flowName);
  const record: DeploymentRecord = {
    format: 1,
    flowName: graph.flowName,
    version: (previous?.version ?? 0) + 1,
    createdAt: new Date().toISOString(),
    user: currentUser(),
    namespace,
    datastore: { kind: podDatastore, root: chosen.root },
    taskCode: { sha: taskPkg.sha, key: ds.codeKey(taskPkg.sha) },
    ...(deps ? { deps: { layer: deps.layer, key: deps.key } } : {}),
    orchestratorCode: {
      sha: orchPkg.sha,
      key: ds.codeKey(orchPkg.sha),
      configMaps: k8sDeploy.codeConfigMapNames(graph.flowName, orchPkg.sha, parts.length),
    },
    params: graph.meta.params,
    stepConfigs: configs,
    podEnv,
    orchestrator: {
      // The flag, else the one the environment provisioned (Environment with deployments), else the default name.
      serviceAccount:
        opt(p, "orchestrator-service-account") ??
        environment?.orchestratorServiceAccount ??
        k8sDeploy.DEFAULT_ORCHESTRATOR_SERVICE_ACCOUNT,
      image: orchestratorConfig.image,
      ...(orchestratorConfig.imagePullPolicy !== undefined
        ? { imagePullPolicy: orchestratorConfig.imagePullPolicy }
        : {}),
      secrets: orchestratorConfig.secrets,
      imagePullSecrets: orchestratorConfig.imagePullSecrets,
      backoffLimit: k8sDeploy.DEFAULT_ORCHESTRATOR_BACKOFF_LIMIT,
      ...(Object.keys(orchestratorConfig.labels).length ? { podLabels: orchestratorConfig.labels } : {}),
    },
    ...(spec.schedule ? { schedule: { ...spec.schedule, allowOverlap: p.flags.has("allow-overlap") } } : {}),
    events: spec.events,
    upstreamFlows: spec.upstreamFlows,
    tags: p.options.tag ?? [],
    maxWorkers: intOpt(p, "max-workers", 16),
    maxNumSplits: intOpt(p, "max-num-splits", 100),
  };
  // The code first, then the record, then the schedule: a CronJob never points at code that is not there.
  for (const cm of k8sDeploy.buildCodeConfigMaps(
    record,
    parts.map((b) => Buffer.from(b).toString("base64")),
  ))
    await api.applyConfigMap(apis, cm);
  await api.applyConfigMap(apis, k8sDeploy.buildDeploymentConfigMap(record));
  if (record.schedule) await api.applyCronJob(apis, k8sDeploy.buildCronJob(record));
  else
    await apis.batch
      .deleteNamespacedCronJob({
        namespace,
        name: k8sDeploy.deploymentName(graph.flowName),
        propagationPolicy: "Orphan",
      })
      .catch(() => undefined);
  const pruned = await api.pruneCodeConfigMaps(apis, namespace, graph.flowName, record.orchestratorCode.configMaps);
  process.stdout.write(
    `deployed ${graph.flowName} version ${record.version} in namespace ${namespace} (code ${taskPkg.sha.slice(0, 12)}, datastore ${storage.root})` +
      (record.schedule
        ? `; schedule ${record.schedule.cron}${record.schedule.timezone ? ` (${record.schedule.timezone})` : ""}, overlap ${record.schedule.allowOverlap ? "allowed" : "forbidden"}`
        : "") +
      (record.events.length ? `; events ${record.events.join(", ")}` : "") +
      (record.upstreamFlows.length ? `; after ${record.upstreamFlows.join(", ")}` : "") +
      (pruned.length ? `; removed the code of older versions no run uses (${pruned.join(", ")})` : "") +
      `\n  start a run now: kubestep trigger ${graph.flowName} --namespace ${namespace}\n`,
  );
  return 0;
}

async function waitForJob(
  apis: { batch: import("@kubernetes/client-node").BatchV1Api },
  namespace: string,
  name: string,
): Promise<boolean> {
  for (;;) {
    const j = await apis.batch.readNamespacedJobStatus({ namespace, name });
    const cond = (t: string) => j.status?.conditions?.some((c) => c.type === t && c.status === "True");
    if (cond("Complete")) return true;
    if (cond("Failed")) return false;
    await new Promise((r) => setTimeout(r, 2000));
  }
}

/** `kubestep trigger <Flow> [--param value ...]`. */
export async function cmdTrigger(argv: string[], h: DeployHelpers): Promise<number> {
  const p = parseArgs(argv, ["run-id", "resume", "step", ...ENV_OPTS], ["help", "wait"], true);
  if (p.flags.has("help")) return usage("trigger", 0);
  const [flow, more] = p.positionals;
  if (!flow) throw new UsageError("missing the flow name");
  if (more) throw new UsageError(`unexpected argument ${more}`);
  const environment = await environmentOf(p);
  const namespace = namespaceOf(p, environment);
  const { apis, api } = await kube(p, "kubestep trigger");
  const record = await api.readDeployment(apis, namespace, flow);
  if (!record)
    throw new UsageError(
      `flow ${flow} is not deployed in namespace ${namespace}; deploy it with kubestep deploy <flow.ts> --namespace ${namespace}`,
    );
  const resume = opt(p, "resume");
  if (opt(p, "step") !== undefined && resume === undefined) throw new UsageError("--step needs --resume <run>");
  if (resume !== undefined && Object.keys(p.extra).length)
    throw new UsageError(
      `a resumed run keeps the parameters of run ${resume}; remove ${Object.keys(p.extra)
        .map((k) => `--${k}`)
        .join(", ")}`,
    );
  const params = resume === undefined ? resolveParams(record.params, p.extra) : undefined;
  const { defaultRunId } = h;
  const runId = opt(p, "run-id") ?? defaultRunId();
  // A deployed run continues an existing run of the same id (that is how a restarted orchestrator pod goes on):
  // refuse an id the datastore already has, as kubestep run does.
  await requirePeers(
    h.datastoreNeeds({
      kind: record.datastore.kind,
      root: record.datastore.root,
      reason: `the deployment's ${record.datastore.kind} datastore (${record.datastore.root})`,
    }),
  );
  const ds = new FlowDatastore(await openStorage(record.datastore.kind, record.datastore.root), flow);
  if (await ds.readRun(runId))
    throw new UsageError(`run ${flow}/${runId} already exists in ${record.datastore.root}; choose another --run-id`);
  if (resume !== undefined && !(await ds.readRun(resume)))
    throw new UsageError(`run ${flow}/${resume} does not exist in ${record.datastore.root}; nothing to resume`);
  const started = await api.startDeployedRun(apis, {
    deployment: record,
    runId,
    ...(params ? { params } : {}),
    trigger: { type: "manual", user: currentUser() },
    ...(resume !== undefined
      ? { resume: { originRunId: resume, ...(opt(p, "step") !== undefined ? { step: opt(p, "step")! } : {}) } }
      : {}),
  });
  if (!started.created)
    throw new UsageError(`run ${flow}/${runId} was already started (Job ${namespace}/${started.job})`);
  process.stderr.write(
    `triggered ${flow} run ${runId} (deployment version ${record.version}, Job ${namespace}/${started.job}, datastore ${record.datastore.root})\n`,
  );
  if (!p.flags.has("wait")) return 0;
  const ok = await waitForJob(apis, namespace, started.job);
  process.stderr.write(`run ${flow}/${runId} ${ok ? "succeeded" : "failed"}\n`);
  return ok ? 0 : 1;
}

/** `kubestep deployments list`. */
export async function cmdDeployments(argv: string[], _h?: DeployHelpers): Promise<number> {
  const [sub, ...rest] = argv;
  const p = parseArgs(rest, ENV_OPTS, ["help"], false);
  if (p.flags.has("help") || sub === "--help" || sub === undefined)
    return usage("deployments", sub === undefined ? 2 : 0);
  if (sub !== "list") throw new UsageError(`unknown subcommand deployments ${sub}; use list`);
  const environment = await environmentOf(p);
  const namespace = namespaceOf(p, environment);
  const { apis, api } = await kube(p, "kubestep deployments list");
  const records = await api.listDeployments(apis, namespace);
  if (!records.length) process.stdout.write(`no flows deployed in namespace ${namespace}\n`);
  for (const r of records.sort((a, b) => a.flowName.localeCompare(b.flowName))) {
    const jobs = await api.listOrchestratorJobs(apis, namespace, r.flowName);
    const last = jobs.slice(-3).map((j) => {
      const c = (t: string) => j.status?.conditions?.some((x) => x.type === t && x.status === "True");
      const state = c("Complete") ? "succeeded" : c("Failed") ? "failed" : "running";
      return `${j.metadata?.annotations?.["kubestep.io/run"] ?? j.metadata?.name} ${state} (${j.metadata?.annotations?.["kubestep.io/trigger"] ?? "schedule"}, ${j.metadata?.creationTimestamp instanceof Date ? j.metadata.creationTimestamp.toISOString() : String(j.metadata?.creationTimestamp ?? "")})`;
    });
    const on = [
      ...(r.schedule
        ? [
            `schedule ${r.schedule.cron}${r.schedule.timezone ? ` ${r.schedule.timezone}` : ""}${r.schedule.allowOverlap ? " (overlap allowed)" : ""}`,
          ]
        : []),
      ...r.events.map((e) => `event ${e}`),
      ...r.upstreamFlows.map((f) => `after ${f}`),
    ];
    process.stdout.write(
      `${r.flowName}  version ${r.version}  deployed ${r.createdAt} by ${r.user}  code ${r.taskCode.sha.slice(0, 12)}  ${on.length ? on.join(", ") : "manual only"}\n`,
    );
    if (r.schedule) {
      const { deploymentName } = await import("../../kubernetes/deploy.js");
      const cj = await apis.batch
        .readNamespacedCronJob({ namespace, name: deploymentName(r.flowName) })
        .catch(() => undefined);
      const last = cj?.status?.lastScheduleTime;
      const { nextFireTime } = await import("../../deploy/cron.js");
      const next = cj?.spec?.suspend ? undefined : nextFireTime(r.schedule.cron, new Date(), r.schedule.timezone);
      process.stdout.write(
        `    schedule: ${cj ? `next fire ${cj.spec?.suspend ? "none (suspended)" : next ? next.toISOString() : "never"}, last fired ${last ? new Date(last).toISOString() : "never"}, ${cj.status?.active?.length ?? 0} running` : "CronJob missing; redeploy the flow"}\n`,
      );
    }
    process.stdout.write(last.length ? last.map((l) => `    last run: ${l}\n`).join("") : "    no runs yet\n");
  }
  return 0;
}

/** `kubestep event publish <name> --payload k=v`. */
export async function cmdEvent(argv: string[], h: DeployHelpers): Promise<number> {
  const [sub, ...rest] = argv;
  const p = parseArgs(rest, ["payload", ...ENV_OPTS], ["help"], false);
  if (p.flags.has("help") || sub === "--help" || sub === undefined) return usage("event", sub === undefined ? 2 : 0);
  if (sub !== "publish") throw new UsageError(`unknown subcommand event ${sub}; use publish`);
  const [name, more] = p.positionals;
  if (!name) throw new UsageError("missing the event name");
  if (more) throw new UsageError(`unexpected argument ${more}`);
  const payload: Record<string, string> = {};
  const bad = (p.options.payload ?? []).filter((kv) => kv.indexOf("=") <= 0);
  if (bad.length) throw new UsageError(`--payload ${bad.map((b) => JSON.stringify(b)).join(", ")}: expected key=value`);
  for (const kv of p.options.payload ?? []) payload[kv.slice(0, kv.indexOf("="))] = kv.slice(kv.indexOf("=") + 1);
  const environment = await environmentOf(p);
  const namespace = namespaceOf(p, environment);
  const { apis, api } = await kube(p, "kubestep event publish");
  const listeners = (await api.listDeployments(apis, namespace)).filter((r) => r.events.includes(name));
  if (!listeners.length) process.stderr.write(`no deployed flow in namespace ${namespace} listens to event ${name}\n`);
  const { defaultRunId } = h;
  for (const r of listeners) {
    const given = Object.fromEntries(Object.entries(payload).filter(([k]) => r.params[k] !== undefined));
    const trigger: RunTrigger = { type: "event", name, payload };
    const runId = defaultRunId();
    const started = await api.startDeployedRun(apis, {
      deployment: r,
      runId,
      params: resolveParams(r.params, given),
      trigger,
    });
    process.stdout.write(`event ${name}: started ${r.flowName} run ${runId} (Job ${namespace}/${started.job})\n`);
  }
  return 0;
}
