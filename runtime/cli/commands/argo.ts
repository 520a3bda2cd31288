/**
 * `kubestep argo-workflows create | trigger | delete`: the flow as an Argo Workflows WorkflowTemplate (and a
 * CronWorkflow for `@schedule`), for teams that already run Argo. The objects are built by
 * runtime/argo/workflow.ts; each step pod runs the same code package as `kubestep run` (runtime/argo/task.ts),
 * so an Argo run is a kubestep run: `kubestep runs/logs/dump`, the client API and `kubestep ui` show it.
 */
import { resolve } from "node:path";
import { gzipSync } from "node:zlib";
import { parseArgs, opt, intOpt, UsageError, type ParsedArgs } from "../args.js";
import { loadFlow } from "../../code/load.js";
import { buildCodePackage } from "../../code/package.js";
import { storeDependencyLayer } from "../../code/layer.js";
import { FlowDatastore } from "../../datastore/flowstore.js";
import { openStorage } from "../../datastore/open.js";
import type { DatastoreKind } from "../../environment.js";
import { requirePeers } from "../../peers.js";
import { resolveParams } from "../../flow/params.js";
import { DeployDefinitionError, rawDeployDeclOf, resolveDeploySpec } from "../../deploy/decorators.js";
import { environmentOf, namespaceOf, type DeployHelpers } from "./deploy.js";
import type { ArgoObject } from "../../argo/workflow.js";

/** Usage of `kubestep argo-workflows`. */
export const ARGO_USAGE = `Usage: kubestep argo-workflows create <flow.ts> [--only-json] [options]
       kubestep argo-workflows trigger <flow.ts> [--<param> value ...] [options]
       kubestep argo-workflows delete <flow.ts> [options]

create: builds the flow's code package and writes, in the namespace, the ConfigMaps holding it and an Argo
WorkflowTemplate (plus a CronWorkflow for @schedule): one template per step running the same task code as
kubestep run, foreach as withParam over a sub-DAG, @retry as retryStrategy, resources from @kubernetes.
With --only-json it prints the objects (a JSON list) and writes nothing. Needs Argo Workflows in the cluster.
trigger: submits a Workflow from the template now, with parameters. delete: removes what create wrote.

Options:
  --flow <Name>                 the flow when the file exports several
  --name <name>                 the WorkflowTemplate's name (default: kubestep-<flow>)
  --namespace <ns>              namespace (default: the environment's)
  --stack <name> | --environment <file>   the provisioned environment (as for run)
  --datastore <kind>            s3 | gs | azure (default: the environment's, or KUBESTEP_DEFAULT_DATASTORE)
  --with kubernetes[:k=v,...]   option overrides for every step
  --service-account <sa>        service account of the workflow's pods (it needs Argo's executor rights)
  --allow-overlap               a scheduled run may start while the previous one runs (default: Forbid)
  --tag <tag>                   tag every run (repeatable)
  --max-num-splits <N>          as for run
  --kube-context <name>         kubeconfig context`;

const OPTS = [
  "flow",
  "name",
  "namespace",
  "stack",
  "environment",
  "datastore",
  "with",
  "service-account",
  "tag",
  "max-num-splits",
  "kube-context",
];

/** The WorkflowTemplate name of a flow: `kubestep-<flow>` in DNS form. */
export function argoTemplateName(flowName: string): string {
  const base = flowName
    .replace(/([a-z0-9])([A-Z])/g, "$1-$2")
    .replace(/[^A-Za-z0-9]+/g, "-")
    .toLowerCase()
    .replace(/^-+|-+$/g, "");
  return `kubestep-${base}`.slice(0, 52).replace(/-+$/, "");
}

async function kube(p: ParsedArgs, why: string) {
  await requirePeers([{ feature: "kubernetes", reason: why }]);
  const { loadKubeConfig } = await import("../../exec/kubernetes/client.js");
  const k8s = await import("@kubernetes/client-node");
  const { kubeConfig } = await loadKubeConfig({
    ...(opt(p, "kube-context") ? { context: opt(p, "kube-context")! } : {}),
  });
  return {
    core: kubeConfig.makeApiClient(k8s.CoreV1Api),
    custom: kubeConfig.makeApiClient(k8s.CustomObjectsApi),
  };
}

const GROUP = "argoproj.io";
const VERSION = "v1alpha1";
const PLURAL: Record<string, string> = {
  WorkflowTemplate: "workflowtemplates",
  CronWorkflow: "cronworkflows",
  Workflow: "workflows",
};

/** Explains an API error of an Argo object (a missing CRD above all). */
function argoApiError(e: unknown, what: string): Error {
  const code = (e as { code?: number }).code;
  const body = (e as { body?: unknown }).body;
  const message =
    typeof body === "string"
      ? body
      : body && typeof body === "object" && "message" in body
        ? String((body as { message: unknown }).message)
        : (e as Error).message;
  if (code === 404 && /could not find the requested resource|the server could not find/i.test(message))
    return new UsageError(
      `${what}: the cluster has no Argo Workflows CRDs (argoproj.io/v1alpha1); install Argo Workflows first, or use \`kubestep deploy\``,
    );
  return new Error(`${what}: ${code ?? ""} ${message}`.trim());
}

/** Creates or replaces one Argo object. */
async function applyArgo(custom: import("@kubernetes/client-node").CustomObjectsApi, obj: ArgoObject): Promise<void> {
  const meta = obj.metadata as { name: string; namespace: string };
  const plural = PLURAL[String(obj.kind)]!;
  const what = `${String(obj.kind)} ${meta.namespace}/${meta.name}`;
  let existing: { metadata?: { resourceVersion?: string } } | undefined;
  try {
    existing = (await custom.getNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      namespace: meta.namespace,
      plural,
      name: meta.name,
    })) as typeof existing;
  } catch (e) {
    if ((e as { code?: number }).code !== 404) throw argoApiError(e, what);
    const body = (e as { body?: unknown }).body;
    if (
      typeof body === "string" &&
      /page not found|could not find the requested resource/i.test(body) &&
      !/"NotFound"/.test(body)
    )
      throw argoApiError(e, what);
  }
  try {
    if (existing)
      await custom.replaceNamespacedCustomObject({
        group: GROUP,
        version: VERSION,
        namespace: meta.namespace,
        plural,
        name: meta.name,
        body: {
          ...obj,
          metadata: { ...meta, ...(obj.metadata as object), resourceVersion: existing.metadata?.resourceVersion },
        },
      });
    else
      await custom.createNamespacedCustomObject({
        group: GROUP,
        version: VERSION,
        namespace: meta.namespace,
        plural,
        body: obj,
      });
  } catch (e) {
    throw argoApiError(e, what);
  }
}

/** `kubestep argo-workflows <create|trigger|delete> ...`. */
export async function cmdArgoWorkflows(argv: string[], h: DeployHelpers): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === undefined || sub === "help" || sub === "--help" || sub === "-h") {
    (sub === undefined ? process.stderr : process.stdout).write(ARGO_USAGE + "\n");
    return sub === undefined ? 2 : 0;
  }
  if (sub === "create") return create(rest, h);
  if (sub === "trigger") return trigger(rest);
  if (sub === "delete") return remove(rest);
  throw new UsageError(`unknown subcommand ${JSON.stringify(sub)}; use create, trigger or delete`);
}

async function create(argv: string[], h: DeployHelpers): Promise<number> {
  const p = parseArgs(argv, OPTS, ["help", "only-json", "allow-overlap"], false);
  if (p.flags.has("help")) return (process.stdout.write(ARGO_USAGE + "\n"), 0);
  const [file, more] = p.positionals;
  if (!file) throw new UsageError("missing the flow file");
  if (more) throw new UsageError(`unexpected argument ${more}`);
  const { cls, graph, externals } = await loadFlow(file, opt(p, "flow"));
  const environment = await environmentOf(p);
  const argo = await import("../../argo/workflow.js");
  // Every reason the flow cannot be expressed in Argo, and every bad deployment declaration, at once.
  const problems = argo.argoProblems(graph);
  const raw = rawDeployDeclOf(cls);
  let schedule: { cron: string; timezone?: string } | undefined;
  try {
    schedule = resolveDeploySpec(graph.flowName, raw).schedule;
  } catch (e) {
    if (!(e instanceof DeployDefinitionError)) throw e;
    problems.push(...e.problems);
  }
  if (raw.triggers.length || raw.triggerOnFinish.length)
    problems.push(
      "@trigger / @triggerOnFinish need an event source (Argo Events is not part of Argo Workflows): deploy this flow with `kubestep deploy`, or start its workflows with `kubestep argo-workflows trigger` from your own sensor",
    );
  if (problems.length) throw new argo.ArgoTranslationError(graph.flowName, problems);

  const withSpecs = [...(p.options.with?.length ? p.options.with : ["kubernetes"])];
  if (opt(p, "namespace")) withSpecs.push(`kubernetes:namespace=${opt(p, "namespace")}`);
  const configs = await h.kubernetesConfigs(graph, withSpecs, environment);
  const namespace = configs.start!.namespace;
  const chosen = h.chooseDatastore(p, environment);
  if (chosen.kind === "local")
    throw new UsageError(
      `an Argo workflow runs in the cluster, whose pods cannot read the local datastore ${chosen.root}; choose one they reach: --datastore s3 | gs | azure, or --stack <name> / --environment <file>`,
    );
  await requirePeers(h.datastoreNeeds(chosen));
  const datastore = { kind: chosen.kind as Exclude<DatastoreKind, "local">, root: chosen.root };
  const pkg = await buildCodePackage(resolve(file), {
    selfContained: true,
    podDatastore: datastore.kind,
    argo: true,
    externals,
  });
  const k8sDeploy = await import("../../kubernetes/deploy.js");
  const gz = gzipSync(pkg.bytes, { level: 9 });
  if (gz.byteLength > k8sDeploy.MAX_CODE_BYTES)
    throw new UsageError(
      `the code package of ${graph.flowName} is ${(gz.byteLength / 1e6).toFixed(2)} MB gzipped, more than fits in ConfigMaps (${k8sDeploy.MAX_CODE_BYTES / 1e6} MB); import fewer packages in the flow file`,
    );
  const parts = k8sDeploy.codeParts(gz).map((b) => Buffer.from(b).toString("base64"));
  const { FORWARDED_ENV } = await import("../../exec/kubernetes/executor.js");
  const podEnv: Record<string, string> = {};
  for (const k of FORWARDED_ENV) if (process.env[k]) podEnv[k] = process.env[k]!;
  const name = opt(p, "name") ?? argoTemplateName(graph.flowName);
  // External packages and native addons: too big for ConfigMaps, so each pod installs them from the datastore
  // (content-addressed, verified) before it imports the flow. Stored with --only-json too: the objects printed
  // then work as soon as they are applied.
  const deps = pkg.externals.length
    ? await storeDependencyLayer(
        new FlowDatastore(await openStorage(datastore.kind, datastore.root), graph.flowName),
        pkg.externals,
        (t) => process.stderr.write(t + "\n"),
      )
    : undefined;
  const codeMaps = argo.buildArgoCodeConfigMaps(graph.flowName, namespace, pkg.sha, parts);
  const built = argo.buildArgoWorkflows({
    graph,
    configs,
    code: { sha: pkg.sha, configMaps: codeMaps.map((c) => c.metadata!.name!) },
    ...(deps ? { deps: { layer: deps.layer, key: deps.key } } : {}),
    datastore,
    podEnv,
    name,
    namespace,
    tags: p.options.tag ?? [],
    maxNumSplits: intOpt(p, "max-num-splits", 100),
    ...(opt(p, "service-account") ? { serviceAccount: opt(p, "service-account")! } : {}),
    ...(schedule ? { schedule: { ...schedule, allowOverlap: p.flags.has("allow-overlap") } } : {}),
  });
  const objects = [built.workflowTemplate, ...(built.cronWorkflow ? [built.cronWorkflow] : [])];
  if (p.flags.has("only-json")) {
    process.stdout.write(JSON.stringify([...codeMaps, ...objects], null, 2) + "\n");
    return 0;
  }
  const { core, custom } = await kube(p, "kubestep argo-workflows create");
  // The code first, then the template, then the schedule: nothing points at code that is not there.
  for (const cm of codeMaps) {
    const cmName = cm.metadata!.name!;
    const exists = await core.readNamespacedConfigMap({ namespace, name: cmName }).then(
      () => true,
      (e: { code?: number }) => (e.code === 404 ? false : Promise.reject(e)),
    );
    if (exists) await core.replaceNamespacedConfigMap({ namespace, name: cmName, body: cm });
    else await core.createNamespacedConfigMap({ namespace, body: cm });
  }
  for (const o of objects) await applyArgo(custom, o);
  if (!built.cronWorkflow)
    await custom
      .deleteNamespacedCustomObject({ group: GROUP, version: VERSION, namespace, plural: "cronworkflows", name })
      .catch(() => undefined);
  process.stdout.write(
    `created WorkflowTemplate ${name} in namespace ${namespace} (code ${pkg.sha.slice(0, 12)}, datastore ${chosen.root})` +
      (schedule
        ? `; CronWorkflow ${name}: ${schedule.cron}${schedule.timezone ? ` (${schedule.timezone})` : ""}`
        : "") +
      `\n  start a run now: kubestep argo-workflows trigger ${file} --namespace ${namespace}\n`,
  );
  return 0;
}

async function trigger(argv: string[]): Promise<number> {
  const p = parseArgs(argv, OPTS, ["help"], true);
  if (p.flags.has("help")) return (process.stdout.write(ARGO_USAGE + "\n"), 0);
  const [file, more] = p.positionals;
  if (!file) throw new UsageError("missing the flow file");
  if (more) throw new UsageError(`unexpected argument ${more}`);
  const { graph } = await loadFlow(file, opt(p, "flow"));
  const environment = await environmentOf(p);
  const given = p.extra;
  // Checked here (unknown names, types) so a bad value fails before a workflow exists.
  const params = resolveParams(graph.meta.params, given);
  const namespace = namespaceOf(p, environment);
  const name = opt(p, "name") ?? argoTemplateName(graph.flowName);
  const { custom } = await kube(p, "kubestep argo-workflows trigger");
  const camel = (k: string) => k.replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase());
  const parameters = Object.keys(given).map((k) => {
    const n = graph.meta.params[k] ? k : camel(k);
    const v = params[n];
    return { name: n, value: typeof v === "string" ? v : JSON.stringify(v) };
  });
  const body: ArgoObject = {
    apiVersion: `${GROUP}/${VERSION}`,
    kind: "Workflow",
    metadata: { generateName: `${name}-`, namespace, labels: { "app.kubernetes.io/part-of": "kubestep" } },
    spec: { workflowTemplateRef: { name }, ...(parameters.length ? { arguments: { parameters } } : {}) },
  };
  let created: { metadata?: { name?: string } };
  try {
    created = (await custom.createNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      namespace,
      plural: "workflows",
      body,
    })) as typeof created;
  } catch (e) {
    throw argoApiError(e, `Workflow from template ${namespace}/${name}`);
  }
  const wf = created.metadata?.name ?? "?";
  process.stdout.write(
    `submitted workflow ${wf} in namespace ${namespace}; its kubestep run is ${graph.flowName}/argo-${wf}\n`,
  );
  return 0;
}

async function remove(argv: string[]): Promise<number> {
  const p = parseArgs(argv, OPTS, ["help"], false);
  if (p.flags.has("help")) return (process.stdout.write(ARGO_USAGE + "\n"), 0);
  const [file] = p.positionals;
  if (!file) throw new UsageError("missing the flow file");
  const { graph } = await loadFlow(file, opt(p, "flow"));
  const environment = await environmentOf(p);
  const namespace = namespaceOf(p, environment);
  const name = opt(p, "name") ?? argoTemplateName(graph.flowName);
  const { core, custom } = await kube(p, "kubestep argo-workflows delete");
  const deleted: string[] = [];
  for (const plural of ["cronworkflows", "workflowtemplates"])
    await custom.deleteNamespacedCustomObject({ group: GROUP, version: VERSION, namespace, plural, name }).then(
      () => deleted.push(`${plural}/${name}`),
      (e: { code?: number }) => (e.code === 404 ? undefined : Promise.reject(argoApiError(e, `${plural}/${name}`))),
    );
  const maps = await core.listNamespacedConfigMap({
    namespace,
    labelSelector: `app.kubernetes.io/part-of=kubestep,kubestep.io/argo-code`,
  });
  for (const cm of maps.items.filter((c) => c.metadata?.annotations?.["kubestep.io/flow"] === graph.flowName)) {
    await core.deleteNamespacedConfigMap({ namespace, name: cm.metadata!.name! });
    deleted.push(`configmap/${cm.metadata!.name}`);
  }
  process.stdout.write(
    deleted.length
      ? `deleted ${deleted.join(", ")} in namespace ${namespace} (workflows already running finish)\n`
      : `nothing of ${graph.flowName} in namespace ${namespace}\n`,
  );
  return 0;
}
