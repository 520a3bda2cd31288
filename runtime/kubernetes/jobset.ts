/**
 * The JobSet path of `@parallel` on Kubernetes: one `jobset.x-k8s.io/v1alpha2` JobSet per gang attempt,
 * with a `control` replicated job (node 0) and a `worker` replicated job (nodes 1..N-1), plus detection of
 * the JobSet API through the apiserver's discovery and creation of the object.
 *
 * Field names follow the JobSet v1alpha2 Go types (kubernetes-sigs/jobset `api/jobset/v1alpha2/jobset_types.go`):
 * `spec.replicatedJobs[].{name, replicas, template}`, `spec.network.{enableDNSHostnames, subdomain}`,
 * `spec.successPolicy.{operator, targetReplicatedJobs}`, `spec.failurePolicy.maxRestarts`,
 * `spec.ttlSecondsAfterFinished`.
 *
 * ## Layout: why `worker` is ONE Indexed Job with parallelism = completions = N-1
 * With `network.enableDNSHostnames`, every pod is reachable as
 * `<jobset>-<replicatedJob>-<jobIndex>-<podIndex>.<subdomain>`, where podIndex is the Job completion index
 * (so the child Jobs must use `completionMode: Indexed`; the JobSet webhook defaults it, we set it
 * explicitly). The JobSet concepts documentation (site/content/en/docs/concepts, "Coordinator") models a
 * leader + workers gang exactly like this: a `leader` replicated job with replicas 1, parallelism 1,
 * completions 1, and a `workers` replicated job with replicas 1 and parallelism = completions = the worker
 * count. Both layouts (1 Job x N-1 pods, or N-1 Jobs x 1 pod) give stable hostnames; we take the documented
 * one because the worker's completion index (the pod annotation `batch.kubernetes.io/job-completion-index`,
 * 0..N-2) then IS its rank among the workers, so its node index is `completion index + 1`. With N-1 Jobs of
 * one pod every completion index would be 0 and the rank would have to come from JobSet-specific labels.
 * It is also N-1 fewer Job objects.
 *
 * The control pod's stable address is therefore `<jobset>-control-0-0.<subdomain>`.
 *
 * ## Semantics
 * - Gang failure: every child Job has `backoffLimit: 0` and `restartPolicy: Never` (from {@link buildJob}),
 *   and `failurePolicy.maxRestarts: 0`, so any pod failing fails its Job and the JobSet (no restart).
 * - Success: `successPolicy { operator: All, targetReplicatedJobs: [control] }`: the step succeeds when the
 *   control node does (its artifacts continue the flow).
 * - Lifetime: the JobSet carries `ttlSecondsAfterFinished` (the config's Job TTL); the child Job templates
 *   carry none: the child Jobs are owned by the JobSet and go with it.
 *
 * ## Environment of the pods (besides everything {@link buildJob} sets)
 * - `KUBESTEP_PARALLEL_NUM_NODES`: N;
 * - `KUBESTEP_PARALLEL_MAIN_IP`: the control pod's stable hostname (not an IP: there is DNS where JobSet runs);
 * - `KUBESTEP_PARALLEL_CONTROL_TASK_ID` and `KUBESTEP_PARALLEL_WORKER_TASK_IDS` (JSON list, worker rank order);
 * - control: `KUBESTEP_PARALLEL_NODE_INDEX=0`;
 * - workers: `KUBESTEP_PARALLEL_WORKER_INDEX` = the completion index (downward API). The downward API cannot
 *   add one, and the container command is not a shell, so the node index (`worker index + 1`) and the
 *   worker's task id are derived in the pod by `parallelNodeFromEnv` (exec/gang.ts).
 * - `KUBESTEP_HOSTNAME_RESOLUTION_TIMEOUT` (set by {@link buildJob}): how long workers wait for the control's
 *   hostname to resolve; the container port comes from the config's `port`.
 *
 * Pure: no API calls (creating, reading and deleting JobSets is `exec/kubernetes/jobset-api.ts`). The gang
 * variables and their reading in the pod are `exec/gang.ts`.
 */
import type { V1EnvVar, V1Job, V1JobTemplateSpec, V1ObjectMeta } from "@kubernetes/client-node";
import type { ResolvedKubernetesConfig } from "./config.js";
import { buildJob, LABEL_KEYS, type RunContext } from "./jobspec.js";
import { dnsFragment, shortHash } from "../contract/names.js";
import { PARALLEL_ENV } from "../exec/gang.js";

/** API group of JobSet. */
export const JOBSET_GROUP = "jobset.x-k8s.io";
/** The JobSet API version kubestep writes. */
export const JOBSET_VERSION = "v1alpha2";
/** `apiVersion` of a JobSet object. */
export const JOBSET_API_VERSION = `${JOBSET_GROUP}/${JOBSET_VERSION}` as const;
/** Resource (plural) name of JobSets. */
export const JOBSET_PLURAL = "jobsets";
/** Name of the replicated job of node 0. */
export const CONTROL_REPLICATED_JOB = "control";
/** Name of the replicated job of nodes 1..N-1. */
export const WORKER_REPLICATED_JOB = "worker";
/** Pod annotation the Job controller sets on pods of Indexed Jobs: the completion index. */
export const COMPLETION_INDEX_ANNOTATION = "batch.kubernetes.io/job-completion-index";
/**
 * Longest JobSet name kubestep generates. The JobSet webhook rejects a JobSet whose generated pod names
 * (`<jobset>-<replicatedJob>-<jobIndex>-<podIndex>-<5 random>`) exceed 63 characters: with "worker",
 * job index 0 and a pod index of up to 7 digits, 63 - 10 - 7 - 6 = 40.
 */
export const MAX_JOBSET_NAME_LENGTH = 40;
/** Label on the JobSet, its Jobs and pods: `control` or `worker`. */
export const PARALLEL_ROLE_LABEL = "kubestep.io/parallel-role";
/** Annotation of the worker pods: the worker task ids (JSON list, in worker rank order). */
export const WORKER_TASKS_ANNOTATION = "kubestep.io/parallel-worker-tasks";

/** One replicated job of a JobSet (`jobset.x-k8s.io/v1alpha2` ReplicatedJob). */
export interface ReplicatedJob {
  /** Name; used as a suffix of the child Job names (`<jobset>-<name>-<jobIndex>`). */
  name: string;
  /** Number of Jobs created from the template. */
  replicas: number;
  /** Template of the Jobs (a batch/v1 JobTemplateSpec). */
  template: V1JobTemplateSpec;
}

/** `spec.network` of a JobSet. */
export interface JobSetNetwork {
  /** Pods reachable as `<jobset>-<replicatedJob>-<jobIndex>-<podIndex>.<subdomain>`. */
  enableDNSHostnames: boolean;
  /** Name of the headless service / DNS subdomain (defaults to the JobSet name when unset). */
  subdomain: string;
}

/** `spec.successPolicy` of a JobSet. */
export interface JobSetSuccessPolicy {
  /** Whether All or Any of the targeted Jobs must succeed. */
  operator: "All" | "Any";
  /** Replicated jobs the operator applies to (empty = all). */
  targetReplicatedJobs: string[];
}

/** `spec.failurePolicy` of a JobSet. */
export interface JobSetFailurePolicy {
  /** How many times the whole JobSet is recreated after a child Job fails. */
  maxRestarts: number;
}

/** `spec` of a JobSet, as kubestep writes it. */
export interface JobSetSpec {
  /** The groups of Jobs that form the set. */
  replicatedJobs: ReplicatedJob[];
  /** Pod DNS hostnames. */
  network: JobSetNetwork;
  /** When the JobSet counts as succeeded. */
  successPolicy: JobSetSuccessPolicy;
  /** When (and how often) the JobSet restarts. */
  failurePolicy: JobSetFailurePolicy;
  /** Seconds a finished JobSet is kept before it is deleted (with its Jobs and pods). */
  ttlSecondsAfterFinished: number;
}

/** A `jobset.x-k8s.io/v1alpha2` JobSet. */
export interface JobSet {
  /** Always `jobset.x-k8s.io/v1alpha2`. */
  apiVersion: typeof JOBSET_API_VERSION;
  /** Always `JobSet`. */
  kind: "JobSet";
  /** Name, namespace, labels and annotations. */
  metadata: V1ObjectMeta;
  /** The desired state. */
  spec: JobSetSpec;
  /** Status, filled by the JobSet controller (absent in what kubestep builds). */
  status?: Record<string, unknown>;
}

/** The gang a JobSet runs. */
export interface ParallelGang {
  /** Number of nodes N (>= 2): one control and N-1 workers. */
  numNodes: number;
  /** Task id of node 0. */
  controlTaskId: string;
  /** Task ids of nodes 1..N-1, in order (N-1 of them). */
  workerTaskIds: string[];
}

function checkGang(p: ParallelGang): void {
  if (!Number.isInteger(p.numNodes) || p.numNodes < 2)
    throw new TypeError(
      `buildJobSet: numNodes must be a whole number >= 2 (one control and at least one worker), got ${JSON.stringify(p.numNodes)}`,
    );
  if (p.numNodes > 10_000_000) throw new TypeError(`buildJobSet: numNodes must be at most 10000000, got ${p.numNodes}`);
  if (typeof p.controlTaskId !== "string" || p.controlTaskId === "")
    throw new TypeError(
      `buildJobSet: controlTaskId must be a non-empty string, got ${JSON.stringify(p.controlTaskId)}`,
    );
  if (!Array.isArray(p.workerTaskIds) || p.workerTaskIds.length !== p.numNodes - 1)
    throw new TypeError(
      `buildJobSet: workerTaskIds must list numNodes - 1 = ${p.numNodes - 1} task ids, got ${Array.isArray(p.workerTaskIds) ? p.workerTaskIds.length : JSON.stringify(p.workerTaskIds)}`,
    );
  const all = [p.controlTaskId, ...p.workerTaskIds];
  for (const id of p.workerTaskIds)
    if (typeof id !== "string" || id === "")
      throw new TypeError(`buildJobSet: every worker task id must be a non-empty string, got ${JSON.stringify(id)}`);
  if (new Set(all).size !== all.length)
    throw new TypeError(`buildJobSet: the control and worker task ids must be distinct, got ${JSON.stringify(all)}`);
}

const DNS_1035 = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;

/**
 * The JobSet name of a gang attempt: `ks-<flow>-<step>-<attempt>-<hash>`, a DNS-1035 label of at most
 * {@link MAX_JOBSET_NAME_LENGTH} characters, deterministic, unique per (flow, run, step, control task,
 * attempt) through the hash, and different from the Job names of `jobNameFor` (jobspec.ts).
 */
export function jobSetNameFor(
  ctx: Pick<RunContext, "flowName" | "runId" | "stepName" | "attempt">,
  controlTaskId: string,
): string {
  const hash = shortHash(
    JSON.stringify(["jobset", ctx.flowName, ctx.runId, ctx.stepName, controlTaskId, ctx.attempt]),
    10,
  );
  const tail = `-${ctx.attempt}-${hash}`;
  const head = ["ks", dnsFragment(ctx.flowName, 20), dnsFragment(ctx.stepName, 20)].filter((p) => p !== "").join("-");
  return head.slice(0, MAX_JOBSET_NAME_LENGTH - tail.length).replace(/-+$/, "") + tail;
}

/** The stable hostname of the control pod: `<jobset>-control-0-0.<subdomain>`. */
export function controlHostname(jobSetName: string, subdomain: string = jobSetName): string {
  return `${jobSetName}-${CONTROL_REPLICATED_JOB}-0-0.${subdomain}`;
}

/** Turns a Job built by {@link buildJob} into a JobSet Job template (no name/namespace; no Job TTL). */
function toTemplate(built: V1Job, counts: { parallelism: number; completions: number }): V1JobTemplateSpec {
  const job = structuredClone(built); // each template owns its objects (they are decorated separately)
  const { ttlSecondsAfterFinished: _ttl, ...spec } = job.spec!;
  return {
    metadata: { labels: { ...job.metadata!.labels }, annotations: { ...job.metadata!.annotations } },
    spec: { ...spec, parallelism: counts.parallelism, completions: counts.completions, completionMode: "Indexed" },
  };
}

/** Adds env vars (replacing any of the same name) and a role label to a template. */
function decorate(
  t: V1JobTemplateSpec,
  role: string,
  env: V1EnvVar[],
  drop: { labels?: string[]; annotations?: string[] } = {},
  addAnnotations: Record<string, string> = {},
): void {
  const apply = (meta: V1ObjectMeta) => {
    for (const k of drop.labels ?? []) delete meta.labels![k];
    for (const k of drop.annotations ?? []) delete meta.annotations![k];
    meta.labels![PARALLEL_ROLE_LABEL] = role;
    Object.assign(meta.annotations!, addAnnotations);
  };
  apply(t.metadata!);
  apply(t.spec!.template.metadata!);
  const c = t.spec!.template.spec!.containers[0]!;
  const names = new Set(env.map((e) => e.name));
  c.env = [...(c.env ?? []).filter((e) => !names.has(e.name)), ...env];
}

/**
 * Builds the JobSet of one attempt of an `@parallel` step (see the module documentation for the layout and
 * semantics). The pod templates come from {@link buildJob} (same labels, annotations, env, resources,
 * volumes, port); `ctx.taskId` is ignored in favour of `parallel.controlTaskId`; `ctx.jobName`, if given,
 * names the JobSet (and must be a DNS-1035 label of at most {@link MAX_JOBSET_NAME_LENGTH} characters).
 * Worker pods carry no `kubestep.io/task` label (one template serves every worker): their task ids are in
 * the `kubestep.io/parallel-worker-tasks` annotation and the env.
 */
export function buildJobSet(config: ResolvedKubernetesConfig, ctx: RunContext, parallel: ParallelGang): JobSet {
  checkGang(parallel);
  if (ctx.jobName !== undefined && !(ctx.jobName.length <= MAX_JOBSET_NAME_LENGTH && DNS_1035.test(ctx.jobName)))
    throw new TypeError(
      `buildJobSet: jobName ${JSON.stringify(ctx.jobName)} is not a valid JobSet name: use a DNS-1035 label (lowercase letters, digits and '-', starting with a letter) of at most ${MAX_JOBSET_NAME_LENGTH} characters`,
    );
  const base: RunContext = { ...ctx, taskId: parallel.controlTaskId };
  delete base.jobName;
  const name = ctx.jobName ?? jobSetNameFor(base, parallel.controlTaskId);
  const subdomain = name;
  const workerCount = parallel.numNodes - 1;

  const job = buildJob(config, base); // validates ctx; same labels/env/resources for both roles
  const common: V1EnvVar[] = [
    { name: PARALLEL_ENV.mainIp, value: controlHostname(name, subdomain) },
    { name: PARALLEL_ENV.numNodes, value: String(parallel.numNodes) },
    { name: PARALLEL_ENV.controlTaskId, value: parallel.controlTaskId },
    { name: PARALLEL_ENV.workerTaskIds, value: JSON.stringify(parallel.workerTaskIds) },
  ];

  const control = toTemplate(job, { parallelism: 1, completions: 1 });
  decorate(control, CONTROL_REPLICATED_JOB, [...common, { name: PARALLEL_ENV.nodeIndex, value: "0" }]);

  const worker = toTemplate(job, { parallelism: workerCount, completions: workerCount });
  decorate(
    worker,
    WORKER_REPLICATED_JOB,
    [
      ...common,
      {
        name: PARALLEL_ENV.workerIndex,
        valueFrom: { fieldRef: { fieldPath: `metadata.annotations['${COMPLETION_INDEX_ANNOTATION}']` } },
      },
    ],
    { labels: [LABEL_KEYS.task], annotations: [LABEL_KEYS.task] },
    { [WORKER_TASKS_ANNOTATION]: JSON.stringify(parallel.workerTaskIds) },
  );

  return {
    apiVersion: JOBSET_API_VERSION,
    kind: "JobSet",
    metadata: {
      name,
      namespace: config.namespace,
      labels: { ...job.metadata!.labels },
      annotations: { ...job.metadata!.annotations },
    },
    spec: {
      replicatedJobs: [
        { name: CONTROL_REPLICATED_JOB, replicas: 1, template: control },
        { name: WORKER_REPLICATED_JOB, replicas: 1, template: worker },
      ],
      network: { enableDNSHostnames: true, subdomain },
      successPolicy: { operator: "All", targetReplicatedJobs: [CONTROL_REPLICATED_JOB] },
      failurePolicy: { maxRestarts: 0 },
      ttlSecondsAfterFinished: config.jobTtlSecondsAfterFinished,
    },
  };
}
