/**
 * Builds the batch/v1 Job for one task attempt from a resolved configuration and the run context.
 * Pure: no I/O, no clock, no randomness; the same input always gives the same Job (and Job name).
 */
import type {
  V1EnvVar,
  V1Job,
  V1ResourceRequirements,
  V1Toleration,
  V1Volume,
  V1VolumeMount,
} from "@kubernetes/client-node";
import type { ResolvedKubernetesConfig } from "./config.js";
import { dnsFragment, isDnsLabel, sanitizeLabelValue, shortHash } from "../contract/names.js";
import { MB, MIB } from "../contract/units.js";
import type { KubestepVariable } from "../variables.js";
import { nodeInjection } from "./node-injection.js";

/** What the executor knows about the attempt a Job runs. */
export interface RunContext {
  /** Flow class name. */
  flowName: string;
  /** Run id. */
  runId: string;
  /** Step name. */
  stepName: string;
  /** Task id. */
  taskId: string;
  /** Attempt number, 0 for the first. */
  attempt: number;
  /** User who started the run. */
  user: string;
  /** The container command (the executor's task launcher), e.g. `["sh", "-c", "..."]`. */
  command: string[];
  /** Environment variables the task needs (run context, datastore settings, `@environment` vars). */
  env: Record<string, string>;
  /** Timeout of the attempt in seconds; overrides the config's. */
  timeoutSeconds?: number;
  /** Job name to use instead of the generated one (must be a DNS-1123 label). */
  jobName?: string;
}

/** Label and annotation keys kubestep sets on every Job and pod. */
export const LABEL_KEYS = {
  name: "app.kubernetes.io/name",
  partOf: "app.kubernetes.io/part-of",
  flow: "kubestep.io/flow",
  run: "kubestep.io/run",
  step: "kubestep.io/step",
  task: "kubestep.io/task",
  attempt: "kubestep.io/attempt",
  user: "kubestep.io/user",
} as const;

/** Value of `app.kubernetes.io/name` on task Jobs and pods. */
export const TASK_APP_NAME = "kubestep-task";
/** Value of `app.kubernetes.io/part-of`. */
export const PART_OF = "kubestep";
/** Name of the one container. */
export const CONTAINER_NAME = "kubestep";

/**
 * Seconds added to the `@timeout` to get the Job's `activeDeadlineSeconds`.
 *
 * `activeDeadlineSeconds` counts from the Job's `status.startTime`, which the Job controller sets when it
 * first sees the Job: before the pod is scheduled and its image pulled. Using the bare `@timeout` would let
 * a slow schedule or pull eat into the step's time and kill a step that ran less than its timeout. The
 * runtime enforces the exact `@timeout` on the step's code inside the container; the Job deadline is the
 * backstop (a hung container, a stuck pull) and gets this grace on top so it never fires first.
 */
export const ACTIVE_DEADLINE_GRACE_SECONDS = 300;

/** Env var set to "1" in every step pod. */
export const WORKLOAD_ENV = "KUBESTEP_KUBERNETES_WORKLOAD" satisfies KubestepVariable;
/** Env var pointing at the tmpfs when `tmpfsTempdir`. */
export const TEMPDIR_ENV = "KUBESTEP_TEMPDIR" satisfies KubestepVariable;
/** Env var carrying `hostnameResolutionTimeout` (read by `@parallel`). */
export const HOSTNAME_TIMEOUT_ENV = "KUBESTEP_HOSTNAME_RESOLUTION_TIMEOUT" satisfies KubestepVariable;

/** Downward API variables: name -> pod field. */
export const DOWNWARD_ENV: Readonly<Partial<Record<KubestepVariable, string>>> = {
  KUBESTEP_KUBERNETES_POD_NAME: "metadata.name",
  KUBESTEP_KUBERNETES_POD_NAMESPACE: "metadata.namespace",
  KUBESTEP_KUBERNETES_POD_ID: "metadata.uid",
  KUBESTEP_KUBERNETES_NODE_IP: "status.hostIP",
  KUBESTEP_KUBERNETES_SERVICE_ACCOUNT_NAME: "spec.serviceAccountName",
};

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * The Job name of an attempt: `ks-<flow>-<step>-<attempt>-<hash>`, lowercase, DNS-1123 valid, <= 63
 * characters, deterministic, and unique per (flow, run, step, task, attempt) through the hash of all of them.
 */
export function jobNameFor(ctx: Pick<RunContext, "flowName" | "runId" | "stepName" | "taskId" | "attempt">): string {
  const hash = shortHash(JSON.stringify([ctx.flowName, ctx.runId, ctx.stepName, ctx.taskId, ctx.attempt]), 10);
  const parts = ["ks", dnsFragment(ctx.flowName, 20), dnsFragment(ctx.stepName, 20), String(ctx.attempt), hash].filter(
    (p) => p !== "",
  );
  return parts.join("-").slice(0, 63).replace(/-+$/, "");
}

/** Kubernetes quantity for CPU cores: whole cores as is, fractions in millicores (rounded up). */
export function cpuQuantity(cores: number): string {
  return Number.isInteger(cores) ? String(cores) : `${Math.ceil(Math.round(cores * 1e6) / 1000)}m`;
}

/** Kubernetes quantity for a byte count: `Mi` when a whole number of MiB, `M` when whole MB, else bytes. */
export function bytesQuantity(bytes: number): string {
  const b = Math.round(bytes);
  if (b % MIB === 0) return `${b / MIB}Mi`;
  if (b % MB === 0) return `${b / MB}M`;
  return String(b);
}

/** Quantity for a size in MB. */
export const megabytesQuantity = (mb: number): string => bytesQuantity(mb * MB);
/** Quantity for a size in MiB. */
export const mebibytesQuantity = (mib: number): string => bytesQuantity(mib * MIB);

/**
 * Resources of the container by QoS class:
 * - Guaranteed: limits = requests (cpu, memory, ephemeral-storage);
 * - Burstable: requests for all three and no memory limit (as Metaflow: a task may use the node's free memory),
 *   unless the environment sets `defaults.memoryLimitFactor`: then a memory limit of factor x the request;
 * - BestEffort: no cpu/memory/ephemeral-storage requests or limits.
 * GPUs (only when gpu > 0) go to limits under the configured resource name, in every class (Kubernetes
 * uses only cpu and memory for the QoS class, so this keeps BestEffort BestEffort).
 */
export function containerResources(config: ResolvedKubernetesConfig): V1ResourceRequirements {
  const requests: Record<string, string> = {
    cpu: cpuQuantity(config.cpu),
    memory: megabytesQuantity(config.memory),
    "ephemeral-storage": megabytesQuantity(config.disk),
  };
  const limits: Record<string, string> = {};
  const out: V1ResourceRequirements = {};
  if (config.qos === "Guaranteed") Object.assign(limits, requests);
  else if (config.qos === "Burstable" && config.memoryLimitFactor !== undefined)
    limits.memory = bytesQuantity(Math.ceil(config.memory * MB * config.memoryLimitFactor));
  if (config.gpu !== undefined && config.gpu > 0) limits[config.gpuResourceName] = String(config.gpu);
  if (config.qos !== "BestEffort") out.requests = requests;
  if (Object.keys(limits).length) out.limits = limits;
  return out;
}

/** Labels identifying an attempt (values sanitized for label rules). */
export function systemLabels(
  ctx: Pick<RunContext, "flowName" | "runId" | "stepName" | "taskId" | "attempt" | "user">,
): Record<string, string> {
  return {
    [LABEL_KEYS.name]: TASK_APP_NAME,
    [LABEL_KEYS.partOf]: PART_OF,
    [LABEL_KEYS.flow]: sanitizeLabelValue(ctx.flowName),
    [LABEL_KEYS.run]: sanitizeLabelValue(ctx.runId),
    [LABEL_KEYS.step]: sanitizeLabelValue(ctx.stepName),
    [LABEL_KEYS.task]: sanitizeLabelValue(ctx.taskId),
    [LABEL_KEYS.attempt]: String(ctx.attempt),
    [LABEL_KEYS.user]: sanitizeLabelValue(ctx.user),
  };
}

/** Annotations carrying the exact (unsanitized) values, under the same keys as the labels. */
export function systemAnnotations(
  ctx: Pick<RunContext, "flowName" | "runId" | "stepName" | "taskId" | "attempt" | "user">,
): Record<string, string> {
  return {
    [LABEL_KEYS.flow]: ctx.flowName,
    [LABEL_KEYS.run]: ctx.runId,
    [LABEL_KEYS.step]: ctx.stepName,
    [LABEL_KEYS.task]: ctx.taskId,
    [LABEL_KEYS.attempt]: String(ctx.attempt),
    [LABEL_KEYS.user]: ctx.user,
  };
}

/**
 * A label selector for kubestep task Jobs/pods, narrowed by any of run, user, flow, step (for listing and
 * killing): e.g. `app.kubernetes.io/part-of=kubestep,app.kubernetes.io/name=kubestep-task,kubestep.io/run=42`.
 */
export function jobLabelSelector(
  filter: { runId?: string; user?: string; flowName?: string; stepName?: string } = {},
): string {
  const parts = [`${LABEL_KEYS.partOf}=${PART_OF}`, `${LABEL_KEYS.name}=${TASK_APP_NAME}`];
  if (filter.flowName !== undefined) parts.push(`${LABEL_KEYS.flow}=${sanitizeLabelValue(filter.flowName)}`);
  if (filter.runId !== undefined) parts.push(`${LABEL_KEYS.run}=${sanitizeLabelValue(filter.runId)}`);
  if (filter.stepName !== undefined) parts.push(`${LABEL_KEYS.step}=${sanitizeLabelValue(filter.stepName)}`);
  if (filter.user !== undefined) parts.push(`${LABEL_KEYS.user}=${sanitizeLabelValue(filter.user)}`);
  return parts.join(",");
}

function checkContext(ctx: RunContext): void {
  if (!Number.isInteger(ctx.attempt) || ctx.attempt < 0)
    throw new TypeError(`buildJob: attempt must be a whole number >= 0, got ${ctx.attempt}`);
  if (!Array.isArray(ctx.command) || ctx.command.length === 0 || !ctx.command.every((c) => typeof c === "string"))
    throw new TypeError("buildJob: command must be a non-empty list of strings");
  for (const [k, v] of Object.entries(ctx.env))
    if (!ENV_NAME.test(k) || typeof v !== "string")
      throw new TypeError(`buildJob: env ${JSON.stringify(k)} must be a valid variable name with a string value`);
  if (ctx.jobName !== undefined && !isDnsLabel(ctx.jobName))
    throw new TypeError(
      `buildJob: jobName ${JSON.stringify(ctx.jobName)} is not a DNS-1123 label (<= 63 lowercase alphanumerics and '-')`,
    );
  if (ctx.timeoutSeconds !== undefined && !(ctx.timeoutSeconds > 0))
    throw new TypeError(`buildJob: timeoutSeconds must be > 0, got ${ctx.timeoutSeconds}`);
}

/** Builds the Job of one attempt. See the "The Job" for every field; tested field by field. */
export function buildJob(config: ResolvedKubernetesConfig, ctx: RunContext): V1Job {
  checkContext(ctx);
  const name = ctx.jobName ?? jobNameFor(ctx);
  const labels = { ...config.labels, ...systemLabels(ctx) };
  const annotations = { ...config.annotations, ...systemAnnotations(ctx) };

  const systemEnv: V1EnvVar[] = [
    { name: WORKLOAD_ENV, value: "1" },
    ...Object.entries(DOWNWARD_ENV).map(([n, fieldPath]): V1EnvVar => ({
      name: n,
      valueFrom: { fieldRef: { fieldPath } },
    })),
    { name: HOSTNAME_TIMEOUT_ENV, value: String(config.hostnameResolutionTimeout) },
  ];
  if (config.useTmpfs && config.tmpfsTempdir) systemEnv.push({ name: TEMPDIR_ENV, value: config.tmpfsPath });
  const systemNames = new Set(systemEnv.map((e) => e.name));
  const env: V1EnvVar[] = [
    ...systemEnv,
    ...Object.entries(ctx.env)
      .filter(([k]) => !systemNames.has(k))
      .map(([k, v]) => ({ name: k, value: v })),
  ];

  const volumes: V1Volume[] = [];
  const mounts: V1VolumeMount[] = [];
  if (config.useTmpfs) {
    volumes.push({
      name: "kubestep-tmpfs",
      emptyDir: { medium: "Memory", sizeLimit: mebibytesQuantity(config.tmpfsSize) },
    });
    mounts.push({ name: "kubestep-tmpfs", mountPath: config.tmpfsPath });
  }
  if (config.sharedMemory !== undefined) {
    volumes.push({
      name: "kubestep-dshm",
      emptyDir: { medium: "Memory", sizeLimit: mebibytesQuantity(config.sharedMemory) },
    });
    mounts.push({ name: "kubestep-dshm", mountPath: "/dev/shm" });
  }
  Object.entries(config.persistentVolumeClaims).forEach(([claimName, mountPath], i) => {
    const vname = [`pvc-${i}`, dnsFragment(claimName, 50)].filter((p) => p !== "").join("-");
    volumes.push({ name: vname, persistentVolumeClaim: { claimName } });
    mounts.push({ name: vname, mountPath });
  });
  // Images without Node.js: an init container copies the node image's `node` into a volume (node-injection.ts).
  const injection = nodeInjection(config, containerResources(config));
  if (injection) {
    volumes.push(injection.volume);
    mounts.push(injection.mount);
  }

  const timeout = ctx.timeoutSeconds ?? config.timeoutSeconds;
  const tolerations: V1Toleration[] = config.tolerations.map((t) => ({ ...t }));

  return {
    apiVersion: "batch/v1",
    kind: "Job",
    metadata: { name, namespace: config.namespace, labels, annotations },
    spec: {
      backoffLimit: 0,
      ttlSecondsAfterFinished: config.jobTtlSecondsAfterFinished,
      ...(timeout !== undefined ? { activeDeadlineSeconds: Math.ceil(timeout) + ACTIVE_DEADLINE_GRACE_SECONDS } : {}),
      template: {
        metadata: { labels: { ...labels }, annotations: { ...annotations } },
        spec: {
          restartPolicy: "Never",
          ...(config.serviceAccount !== undefined ? { serviceAccountName: config.serviceAccount } : {}),
          ...(config.imagePullSecrets.length
            ? { imagePullSecrets: config.imagePullSecrets.map((n) => ({ name: n })) }
            : {}),
          ...(Object.keys(config.nodeSelector).length ? { nodeSelector: { ...config.nodeSelector } } : {}),
          ...(tolerations.length ? { tolerations } : {}),
          ...(volumes.length ? { volumes } : {}),
          ...(injection ? { initContainers: [injection.initContainer] } : {}),
          containers: [
            {
              name: CONTAINER_NAME,
              image: config.image,
              // Absent unless set: Kubernetes then pulls `:latest` always and other tags only when missing.
              ...(config.imagePullPolicy !== undefined ? { imagePullPolicy: config.imagePullPolicy } : {}),
              command: [...ctx.command],
              env,
              ...(config.secrets.length ? { envFrom: config.secrets.map((s) => ({ secretRef: { name: s } })) } : {}),
              resources: containerResources(config),
              ...(mounts.length ? { volumeMounts: mounts } : {}),
              ...(config.port !== undefined ? { ports: [{ containerPort: config.port, protocol: "TCP" }] } : {}),
              ...(config.securityContext !== undefined ? { securityContext: { ...config.securityContext } } : {}),
            },
          ],
        },
      },
    },
  };
}
