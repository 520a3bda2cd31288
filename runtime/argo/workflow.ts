/**
 * `kubestep argo-workflows create`: the flow as an Argo Workflows WorkflowTemplate (and a CronWorkflow for
 * `@schedule`), for teams that already run Argo. Pure and deterministic: the same flow, configuration and code
 * give the same objects, so they can be diffed and reviewed.
 *
 * Shape: one container template per step, each running the same code package as `kubestep run` (mounted from
 * ConfigMaps, verified by its sha256) through its Argo entry point (runtime/argo/task.ts); a DAG per scope:
 * the flow's top level, and one DAG per foreach body, invoked with `withParam` over the split indices the
 * foreach step outputs. A join after a foreach receives the task ids of every body run through Argo's
 * aggregated outputs. `@retry` becomes the template's retryStrategy, `@kubernetes` its resources, node
 * selector, tolerations, secrets and timeout.
 */
import type { DependencyLayerRef } from "../code/layer-install.js";
import type { V1Container, V1EnvVar, V1Toleration } from "@kubernetes/client-node";
import type { FlowGraph, GraphNode } from "../flow/graph.js";
import type { ResolvedKubernetesConfig } from "../kubernetes/config.js";
import { containerResources, LABEL_KEYS, PART_OF } from "../kubernetes/jobspec.js";
import { paramType } from "../flow/params.js";
import { KubestepError } from "../errors.js";
import { CODE_KEY, codeConfigMapNames } from "../kubernetes/deploy.js";
import type { V1ConfigMap } from "@kubernetes/client-node";
import type { KubestepVariable } from "../variables.js";

/** The API version of the objects built here. */
export const ARGO_API_VERSION = "argoproj.io/v1alpha1";
/** Where a step container writes its Argo outputs (task id; split indices of a foreach step). */
export const ARGO_OUTPUT_DIR = "/tmp/kubestep-argo";
/** Where the code package's ConfigMaps are mounted. */
export const ARGO_CODE_MOUNT = "/kubestep/code";
/** Environment variable holding the static part of an Argo task (JSON {@link ArgoTaskStatic}). */
export const ARGO_TASK_ENV = "KUBESTEP_ARGO_TASK" satisfies KubestepVariable;
/** Environment variable holding the dynamic part of an Argo task (JSON {@link ArgoTaskDynamic}, Argo-substituted). */
export const ARGO_INPUTS_ENV = "KUBESTEP_ARGO_INPUTS" satisfies KubestepVariable;
/** Prefix of the run ids of Argo workflows: `argo-<workflow name>`. */
export const ARGO_RUN_PREFIX = "argo-";
/** Seconds a finished Workflow object is kept (its pods are deleted as soon as they succeed; a failed pod stays with it, for `kubectl logs`). */
export const ARGO_WORKFLOW_TTL_SECONDS = 7 * 24 * 3600;

/** What every step container knows before Argo runs it. */
export interface ArgoTaskStatic {
  flowName: string;
  step: string;
  /** sha256 of the code package. */
  codeSha: string;
  /** The flow's dependency layer (external packages, native addons), installed by the pod before it imports the flow. */
  deps?: DependencyLayerRef;
  datastore: { kind: "s3" | "gs" | "azure"; root: string };
  tags: string[];
  maxNumSplits: number;
}

/** What Argo substitutes per task: its inputs and its place in the foreach nesting. */
export interface ArgoTaskDynamic {
  /** The workflow's name (the run id is `argo-<workflow>`). */
  workflow: string;
  /** Every workflow parameter (`{{workflow.parameters.json}}`: Argo's list of `{ name, value }`, values as text). */
  params: Array<{ name: string; value?: string }> | Record<string, string>;
  /** The input tasks: each step with one task id, or a list of them (a join after a foreach). */
  parents: Array<{ step: string; ids: string | string[] }>;
  /** Foreach indices from the outermost, joined by `.` ("" outside any foreach). */
  path: string;
  /** Attempt number (Argo's `{{retries}}`), "0" without a retry strategy. */
  attempt: string;
}

/** What the builder needs besides the graph. */
export interface ArgoBuildInput {
  graph: FlowGraph;
  /** Resolved `@kubernetes` configuration of every step (all steps run on Kubernetes under Argo). */
  configs: Record<string, ResolvedKubernetesConfig>;
  /** The code package and the ConfigMaps holding its gzipped parts. */
  code: { sha: string; configMaps: string[] };
  /** The flow's dependency layer in the datastore, when it has external packages (runtime/code/layer.ts). */
  deps?: DependencyLayerRef;
  datastore: ArgoTaskStatic["datastore"];
  /** Extra environment of every pod (forwarded datastore settings). */
  podEnv: Record<string, string>;
  /** The Argo object names' base (default: the flow name, lowercased). */
  name: string;
  namespace: string;
  tags: string[];
  maxNumSplits: number;
  /** Service account of the workflow pods (needs Argo's executor rights); default: the step configs'. */
  serviceAccount?: string;
  /** `@schedule` of the flow, when it has one. */
  schedule?: { cron: string; timezone?: string; allowOverlap: boolean };
}

/** The flow cannot be expressed as an Argo workflow; every reason at once. */
export class ArgoTranslationError extends KubestepError {
  override readonly exitCode = 2;
  constructor(
    /** The flow. */
    readonly flowName: string,
    /** Every problem found. */
    readonly problems: string[],
  ) {
    super(
      `kubestep argo-workflows create: flow ${flowName} cannot be expressed as an Argo workflow:\n` +
        problems.map((p) => `  - ${p}`).join("\n"),
    );
    this.name = "ArgoTranslationError";
  }
}

/** A JSON object (the Argo objects are plain data; their schema is the Argo CRDs'). */
export type ArgoObject = Record<string, unknown>;

/** Lowercase DNS-style name of a step (`trainModel` -> `train-model`), unique within the flow. */
export function argoNames(steps: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  const used = new Set<string>();
  for (const s of steps) {
    const base =
      s
        .replace(/([a-z0-9])([A-Z])/g, "$1-$2")
        .replace(/[^A-Za-z0-9]+/g, "-")
        .toLowerCase()
        .replace(/^-+|-+$/g, "")
        .slice(0, 50) || "step";
    let n = base;
    for (let i = 2; used.has(n); i++) n = `${base}-${i}`;
    used.add(n);
    out[s] = n;
  }
  return out;
}

/** Every reason the flow cannot be translated (empty when it can). */
export function argoProblems(graph: FlowGraph): string[] {
  const problems: string[] = [];
  for (const name of graph.order) {
    const n = graph.nodes[name]!;
    if (n.type === "parallel" || n.meta.decorators.parallel)
      problems.push(
        `step ${name}: @parallel gangs need all nodes started together and a control node reachable by name; Argo Workflows has no gang scheduling: deploy this flow with \`kubestep deploy\` instead`,
      );
    if (n.type === "foreach") {
      const ends = foreachEnds(graph, name);
      if (ends.length !== 1)
        problems.push(
          `step ${name}: the foreach body must end in one step that goes to the join; found ${ends.length ? ends.join(", ") : "none"}`,
        );
    }
  }
  return problems;
}

/** The steps inside the foreach opened by `step` (nested bodies included; not the join that closes it). */
function foreachBody(graph: FlowGraph, step: string): string[] {
  return graph.order.filter((s) => {
    const n = graph.nodes[s]!;
    return n.splitParents.includes(step) && !(n.isJoin && n.splitParents[n.splitParents.length - 1] === step);
  });
}

/** The steps of a foreach body that lead out of it (to the join): exactly one in a flow Argo can run. */
function foreachEnds(graph: FlowGraph, step: string): string[] {
  const body = new Set(foreachBody(graph, step));
  return [...body].filter((b) => graph.nodes[b]!.out.some((o) => !body.has(o)));
}

/** An Argo task of a DAG, before rendering. */
interface DagTask {
  name: string;
  template: string;
  dependencies: string[];
  arguments: Array<{ name: string; value: string }>;
  withParam?: string;
}

/** Builds the WorkflowTemplate (and the CronWorkflow when the flow has a schedule). */
export function buildArgoWorkflows(input: ArgoBuildInput): { workflowTemplate: ArgoObject; cronWorkflow?: ArgoObject } {
  const { graph } = input;
  const problems = argoProblems(graph);
  const missing = graph.order.filter((s) => !input.configs[s]);
  if (missing.length) problems.push(`no @kubernetes configuration resolved for step(s) ${missing.join(", ")}`);
  if (problems.length) throw new ArgoTranslationError(graph.flowName, problems);

  const names = argoNames(graph.order);
  const templates: ArgoObject[] = [];
  const foreachSteps = graph.order.filter((s) => graph.nodes[s]!.type === "foreach");

  // A DAG per scope: the top level (every step outside any foreach) and each foreach's body.
  const scopeOf = (steps: string[], opened: string[]): { top: string[]; inner: string[] } => {
    const inner = foreachSteps.filter(
      (f) =>
        steps.includes(f) &&
        !foreachSteps.some((g) => g !== f && steps.includes(g) && foreachBody(graph, g).includes(f)),
    );
    void opened;
    const hidden = new Set(inner.flatMap((f) => foreachBody(graph, f)));
    return { top: steps.filter((s) => !hidden.has(s)), inner };
  };
  const ref = (task: string, param: string) => `{{tasks.${task}.outputs.parameters.${param}}}`;

  const buildDag = (dagName: string, steps: string[], entry?: { foreach: string }): void => {
    const { top, inner } = scopeOf(steps, []);
    const tasks: DagTask[] = [];
    // Where each step's task id comes from in this DAG: its own task, or the foreach task whose body ends in it.
    const producer = new Map<string, { task: string; aggregated: boolean }>();
    for (const s of top) producer.set(s, { task: names[s]!, aggregated: false });
    for (const f of inner) {
      const end = foreachEnds(graph, f)[0]!;
      producer.set(end, { task: `${names[f]}-foreach`, aggregated: true });
    }
    for (const s of top) {
      const node = graph.nodes[s]!;
      const parents =
        entry && s === graph.nodes[entry.foreach]!.out[0]
          ? [{ step: entry.foreach, ids: `"{{inputs.parameters.parent}}"` }]
          : node.in.map((p) => {
              const src = producer.get(p)!;
              return { step: p, ids: src.aggregated ? ref(src.task, "task-id") : `"${ref(src.task, "task-id")}"` };
            });
      const deps = [
        ...new Set(
          node.in
            .filter((p) => producer.has(p) && !(entry && s === graph.nodes[entry.foreach]!.out[0]))
            .map((p) => producer.get(p)!.task),
        ),
      ];
      tasks.push({
        name: names[s]!,
        template: `step-${names[s]}`,
        dependencies: deps,
        arguments: [
          {
            name: "parents",
            value: `[${parents.map((p) => `{"step":${JSON.stringify(p.step)},"ids":${p.ids}}`).join(",")}]`,
          },
          { name: "path", value: entry ? "{{inputs.parameters.path}}" : "" },
        ],
      });
    }
    for (const f of inner) {
      tasks.push({
        name: `${names[f]}-foreach`,
        template: `foreach-${names[f]}`,
        dependencies: [names[f]!],
        withParam: ref(names[f]!, "splits"),
        arguments: [
          { name: "parent", value: ref(names[f]!, "task-id") },
          { name: "path", value: entry ? "{{inputs.parameters.path}}.{{item}}" : "{{item}}" },
        ],
      });
      buildDag(`foreach-${names[f]}`, foreachBody(graph, f), { foreach: f });
    }
    const dag: ArgoObject = {
      name: dagName,
      ...(entry
        ? {
            inputs: { parameters: [{ name: "parent" }, { name: "path" }] },
            outputs: {
              parameters: [
                {
                  name: "task-id",
                  valueFrom: { parameter: ref(producer.get(bodyEnd(entry.foreach))!.task, "task-id") },
                },
              ],
            },
          }
        : {}),
      dag: {
        tasks: tasks
          .sort((a, b) => a.name.localeCompare(b.name))
          .map((t) => ({
            name: t.name,
            template: t.template,
            ...(t.dependencies.length ? { dependencies: [...t.dependencies].sort() } : {}),
            ...(t.withParam ? { withParam: t.withParam } : {}),
            arguments: { parameters: t.arguments },
          })),
      },
    };
    templates.push(dag);
  };
  const bodyEnd = (f: string): string => foreachEnds(graph, f)[0]!;

  buildDag("main", graph.order);
  for (const s of graph.order) templates.push(stepTemplate(input, graph.nodes[s]!, names[s]!));

  const labels = { [LABEL_KEYS.partOf]: PART_OF, [LABEL_KEYS.flow]: sanitizeLabel(graph.flowName) };
  const params = Object.values(graph.meta.params)
    .sort((a, b) => a.name.localeCompare(b.name))
    .map((p) => {
      const d = p.options.default;
      const type = paramType(p);
      return {
        name: p.name,
        ...(d !== undefined ? { value: type === "string" ? String(d) : JSON.stringify(d) } : {}),
        ...(p.options.help ? { description: p.options.help } : {}),
      };
    });
  const workflowTemplate: ArgoObject = {
    apiVersion: ARGO_API_VERSION,
    kind: "WorkflowTemplate",
    metadata: {
      name: input.name,
      namespace: input.namespace,
      labels,
      annotations: { [LABEL_KEYS.flow]: graph.flowName, "kubestep.io/code-sha": input.code.sha },
    },
    spec: {
      entrypoint: "main",
      ...(params.length ? { arguments: { parameters: params } } : {}),
      ...((input.serviceAccount ?? input.configs.start!.serviceAccount)
        ? { serviceAccountName: input.serviceAccount ?? input.configs.start!.serviceAccount }
        : {}),
      podGC: { strategy: "OnPodSuccess" },
      ttlStrategy: { secondsAfterCompletion: ARGO_WORKFLOW_TTL_SECONDS },
      volumes: [
        {
          name: "kubestep-code",
          projected: { sources: input.code.configMaps.map((name) => ({ configMap: { name } })) },
        },
        { name: "kubestep-argo", emptyDir: {} },
      ],
      templates: templates.sort((a, b) => String(a.name).localeCompare(String(b.name))),
    },
  };
  if (!input.schedule) return { workflowTemplate };
  const cronWorkflow: ArgoObject = {
    apiVersion: ARGO_API_VERSION,
    kind: "CronWorkflow",
    metadata: { name: input.name, namespace: input.namespace, labels },
    spec: {
      schedules: [input.schedule.cron],
      ...(input.schedule.timezone ? { timezone: input.schedule.timezone } : {}),
      concurrencyPolicy: input.schedule.allowOverlap ? "Allow" : "Forbid",
      startingDeadlineSeconds: 300,
      successfulJobsHistoryLimit: 3,
      failedJobsHistoryLimit: 3,
      workflowSpec: { workflowTemplateRef: { name: input.name } },
    },
  };
  return { workflowTemplate, cronWorkflow };
}

/** Label values: at most 63 characters of `[A-Za-z0-9._-]`, alphanumeric at both ends. */
function sanitizeLabel(v: string): string {
  return v
    .replace(/[^A-Za-z0-9._-]/g, "-")
    .slice(0, 63)
    .replace(/^[^A-Za-z0-9]+|[^A-Za-z0-9]+$/g, "");
}

/** The container template of one step. */
function stepTemplate(input: ArgoBuildInput, node: GraphNode, name: string): ArgoObject {
  const config = input.configs[node.name]!;
  const retry = node.meta.decorators.retry?.options;
  const times = retry?.times ?? 0;
  const statics: ArgoTaskStatic = {
    flowName: input.graph.flowName,
    step: node.name,
    codeSha: input.code.sha,
    ...(input.deps ? { deps: input.deps } : {}),
    datastore: input.datastore,
    tags: input.tags,
    maxNumSplits: input.maxNumSplits,
  };
  const dynamic =
    // Argo cannot resolve `{{workflow.parameters.json}}` in a workflow without parameters: a flow without any gets `{}`.
    `{"workflow":"{{workflow.name}}","params":${Object.keys(input.graph.meta.params).length ? "{{workflow.parameters.json}}" : "{}"},"parents":{{inputs.parameters.parents}},` +
    `"path":"{{inputs.parameters.path}}","attempt":"${times > 0 ? "{{retries}}" : "0"}"}`;
  const env: V1EnvVar[] = [
    { name: ARGO_TASK_ENV, value: JSON.stringify(statics) },
    { name: ARGO_INPUTS_ENV, value: dynamic },
    { name: "KUBESTEP_KUBERNETES_WORKLOAD", value: "1" },
    { name: "KUBESTEP_KUBERNETES_POD_NAME", valueFrom: { fieldRef: { fieldPath: "metadata.name" } } },
    { name: "KUBESTEP_KUBERNETES_POD_NAMESPACE", valueFrom: { fieldRef: { fieldPath: "metadata.namespace" } } },
    ...Object.entries(input.podEnv)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([k, v]) => ({ name: k, value: v })),
  ];
  const container: V1Container = {
    name: "main",
    image: config.image,
    ...(config.imagePullPolicy ? { imagePullPolicy: config.imagePullPolicy } : {}),
    command: argoTaskCommand(),
    env,
    ...(config.secrets.length ? { envFrom: config.secrets.map((s) => ({ secretRef: { name: s } })) } : {}),
    resources: containerResources(config),
    volumeMounts: [
      { name: "kubestep-code", mountPath: ARGO_CODE_MOUNT, readOnly: true },
      { name: "kubestep-argo", mountPath: ARGO_OUTPUT_DIR },
    ],
  };
  const outputs = [
    { name: "task-id", valueFrom: { path: `${ARGO_OUTPUT_DIR}/task-id` } },
    ...(node.type === "foreach" ? [{ name: "splits", valueFrom: { path: `${ARGO_OUTPUT_DIR}/splits` } }] : []),
  ];
  const tolerations: V1Toleration[] = config.tolerations.map((t) => ({ ...t }));
  return {
    name: `step-${name}`,
    inputs: { parameters: [{ name: "parents" }, { name: "path" }] },
    outputs: { parameters: outputs },
    metadata: {
      labels: { [LABEL_KEYS.partOf]: PART_OF, [LABEL_KEYS.step]: sanitizeLabel(node.name), ...config.labels },
      ...(Object.keys(config.annotations).length ? { annotations: { ...config.annotations } } : {}),
    },
    ...(Object.keys(config.nodeSelector).length ? { nodeSelector: { ...config.nodeSelector } } : {}),
    ...(tolerations.length ? { tolerations } : {}),
    ...(config.timeoutSeconds !== undefined ? { activeDeadlineSeconds: Math.ceil(config.timeoutSeconds) } : {}),
    ...(times > 0
      ? {
          retryStrategy: {
            limit: String(times),
            retryPolicy: "Always",
            ...(retry?.minutesBetweenRetries ? { backoff: { duration: `${retry.minutesBetweenRetries}m` } } : {}),
          },
        }
      : {}),
    container,
  };
}

const BOOTSTRAP = `
const { readFileSync, readdirSync, mkdirSync, writeFileSync, renameSync } = await import("node:fs");
const { gunzipSync } = await import("node:zlib");
const { createHash } = await import("node:crypto");
const { pathToFileURL } = await import("node:url");
const statics = JSON.parse(process.env.${ARGO_TASK_ENV});
const dir = "${ARGO_CODE_MOUNT}/";
const parts = readdirSync(dir).filter((f) => f.startsWith("${CODE_KEY}.")).sort((a, b) => Number(a.split(".").pop()) - Number(b.split(".").pop()));
const bytes = gunzipSync(Buffer.concat(parts.map((f) => readFileSync(dir + f))));
const got = createHash("sha256").update(bytes).digest("hex");
if (got !== statics.codeSha) { process.stderr.write("kubestep argo bootstrap: code package hash mismatch: expected " + statics.codeSha + ", got " + got + "\\n"); process.exit(70); }
mkdirSync("/tmp/kubestep-code", { recursive: true });
const file = "/tmp/kubestep-code/" + got + ".mjs";
writeFileSync(file + ".part", bytes); renameSync(file + ".part", file);
const pkg = await import(pathToFileURL(file).href);
await pkg.runArgoTask();
`.trim();

/** The step container's command: joins and unzips the mounted code package, verifies it, runs `runArgoTask()`. */
export function argoTaskCommand(): string[] {
  return ["node", "--enable-source-maps", "--input-type=module", "-e", BOOTSTRAP];
}

/** Names of the ConfigMaps holding an Argo flow's code package (`parts` parts): `ks-code-<flow>-argo-<sha12>-<i>`. */
export function argoCodeConfigMapNames(flowName: string, sha: string, parts: number): string[] {
  return codeConfigMapNames(`${flowName}-argo`, sha, parts);
}

/** The ConfigMaps holding the gzipped code package of an Argo flow, one per part (each part in base64, in order). */
export function buildArgoCodeConfigMaps(
  flowName: string,
  namespace: string,
  sha: string,
  partsBase64: string[],
): V1ConfigMap[] {
  const names = argoCodeConfigMapNames(flowName, sha, partsBase64.length);
  return partsBase64.map((data, i) => ({
    apiVersion: "v1",
    kind: "ConfigMap",
    metadata: {
      name: names[i]!,
      namespace,
      labels: {
        [LABEL_KEYS.partOf]: PART_OF,
        [LABEL_KEYS.flow]: sanitizeLabel(flowName),
        "kubestep.io/argo-code": sha.slice(0, 12),
      },
      annotations: {
        [LABEL_KEYS.flow]: flowName,
        "kubestep.io/code-sha": sha,
        "kubestep.io/code-part": `${i + 1}/${names.length}`,
      },
    },
    binaryData: { [`${CODE_KEY}.${i}`]: data },
  }));
}
