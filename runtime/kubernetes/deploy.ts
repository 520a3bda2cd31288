/**
 * The Kubernetes objects of a deployed flow, built from its {@link DeploymentRecord}: the deployment ConfigMap
 * (the record), the code ConfigMap (the orchestrator code package, gzipped), the orchestrator Job of one run and,
 * for `@schedule`, the CronJob whose Jobs are orchestrator Jobs. Plain batch/v1 and v1 objects, no controller.
 * Pure: no I/O, no clock, no randomness; the same input always gives the same objects.
 */
import type { V1ConfigMap, V1CronJob, V1EnvVar, V1Job, V1JobSpec, V1ObjectMeta } from "@kubernetes/client-node";
import type { DeployedRunSpec, DeploymentRecord } from "../deploy/record.js";
import { dnsFragment, sanitizeLabelValue, shortHash } from "../contract/names.js";
import type { KubestepVariable } from "../variables.js";
import { PART_OF, LABEL_KEYS } from "./jobspec.js";

/** Labels and annotations of deployment objects. */
export const DEPLOY_LABELS = {
  /** On every object a deployment creates (and on its orchestrator Jobs and pods): the flow, sanitized. */
  deployment: "kubestep.io/deployment",
  /** What the object is: `deployment`, `code`, `schedule` or `orchestrator`. */
  component: "kubestep.io/component",
  /** The code ConfigMap's sha (first 12 hex digits). */
  code: "kubestep.io/code",
} as const;

/** `app.kubernetes.io/name` of orchestrator Jobs and pods. */
export const ORCHESTRATOR_APP_NAME = "kubestep-orchestrator";
/** Key of the record in the deployment ConfigMap. */
export const RECORD_KEY = "deployment.json";
/** Key prefix of the gzipped orchestrator code package's parts in the code ConfigMaps (`code.mjs.gz.<i>`). */
export const CODE_KEY = "code.mjs.gz";
/** Where the code ConfigMap is mounted in the orchestrator pod. */
export const CODE_MOUNT = "/kubestep/code";
/** Default service account of orchestrator pods (see components/namespace.ts orchestratorRules). */
export const DEFAULT_ORCHESTRATOR_SERVICE_ACCOUNT = "kubestep-orchestrator";
/** Default restarts of a killed orchestrator pod (the Job's backoffLimit). */
export const DEFAULT_ORCHESTRATOR_BACKOFF_LIMIT = 4;
/** Seconds a finished orchestrator Job is kept. */
export const ORCHESTRATOR_JOB_TTL_SECONDS = 7 * 24 * 3600;
/** Bytes of gzipped code per code ConfigMap (base64 makes it 4/3 larger; the API server refuses objects over 1 MiB). */
export const CODE_PART_BYTES = 700_000;
/** Largest orchestrator code package deployed (gzipped): 12 ConfigMaps. */
export const MAX_CODE_BYTES = 12 * CODE_PART_BYTES;
/** The env var carrying the {@link DeployedRunSpec} (JSON). */
export const DEPLOYED_RUN_ENV = "KUBESTEP_DEPLOYED_RUN" satisfies KubestepVariable;
/** The env var carrying the orchestrator pod's Job name. */
export const ORCHESTRATOR_JOB_ENV = "KUBESTEP_ORCHESTRATOR_JOB" satisfies KubestepVariable;
/** The env var carrying the uid of the orchestrator pod's Job. */
export const ORCHESTRATOR_JOB_UID_ENV = "KUBESTEP_ORCHESTRATOR_JOB_UID" satisfies KubestepVariable;
/** The env var carrying the sha256 the orchestrator pod verifies its code package against. */
export const CODE_SHA_ENV = "KUBESTEP_CODE_SHA" satisfies KubestepVariable;

/** Name of a flow's deployment ConfigMap and CronJob: `ks-deploy-<flow>-<hash>`, <= 52 characters (the CronJob limit). */
export function deploymentName(flowName: string): string {
  return ["ks-deploy", dnsFragment(flowName, 30), shortHash(flowName, 8)].filter((p) => p !== "").join("-");
}

/** Names of the ConfigMaps holding the `parts` parts of an orchestrator code package. */
export function codeConfigMapNames(flowName: string, sha: string, parts: number): string[] {
  if (!Number.isInteger(parts) || parts < 1)
    throw new TypeError(`codeConfigMapNames: parts must be a whole number >= 1, got ${parts}`);
  return Array.from({ length: parts }, (_, i) =>
    ["ks-code", dnsFragment(flowName, 30), sha.slice(0, 12), String(i)].filter((p) => p !== "").join("-"),
  );
}

/** Splits gzipped code into parts of at most {@link CODE_PART_BYTES}. */
export function codeParts(gz: Uint8Array): Uint8Array[] {
  const parts: Uint8Array[] = [];
  for (let i = 0; i < gz.byteLength; i += CODE_PART_BYTES) parts.push(gz.subarray(i, i + CODE_PART_BYTES));
  return parts.length ? parts : [gz];
}

/** Name of the orchestrator Job of a triggered run: deterministic per (flow, run). */
export function orchestratorJobName(flowName: string, runId: string): string {
  return ["ks-run", dnsFragment(flowName, 30), shortHash(JSON.stringify([flowName, runId]), 10)]
    .filter((p) => p !== "")
    .join("-");
}

/** Label selector of every object of one deployment, or of all deployments. */
export function deploymentSelector(
  flowName?: string,
  component?: "deployment" | "code" | "schedule" | "orchestrator",
): string {
  const parts = [`${LABEL_KEYS.partOf}=${PART_OF}`];
  parts.push(
    flowName === undefined ? DEPLOY_LABELS.deployment : `${DEPLOY_LABELS.deployment}=${sanitizeLabelValue(flowName)}`,
  );
  if (component) parts.push(`${DEPLOY_LABELS.component}=${component}`);
  return parts.join(",");
}

function labels(record: DeploymentRecord, component: string): Record<string, string> {
  return {
    [LABEL_KEYS.partOf]: PART_OF,
    [DEPLOY_LABELS.deployment]: sanitizeLabelValue(record.flowName),
    [DEPLOY_LABELS.component]: component,
    [LABEL_KEYS.flow]: sanitizeLabelValue(record.flowName),
  };
}

/** The deployment ConfigMap: the record (`deployment.json`) and a few fields for `kubectl get -o wide` readers. */
export function buildDeploymentConfigMap(record: DeploymentRecord): V1ConfigMap {
  return {
    apiVersion: "v1",
    kind: "ConfigMap",
    metadata: {
      name: deploymentName(record.flowName),
      namespace: record.namespace,
      labels: labels(record, "deployment"),
      annotations: { [LABEL_KEYS.flow]: record.flowName },
    },
    data: {
      [RECORD_KEY]: JSON.stringify(record),
      flow: record.flowName,
      version: String(record.version),
      codeSha: record.orchestratorCode.sha,
      codeKey: record.orchestratorCode.key,
      taskCodeSha: record.taskCode.sha,
      createdAt: record.createdAt,
      parameters: JSON.stringify(
        Object.fromEntries(Object.values(record.params).map((p) => [p.name, p.options.default ?? null])),
      ),
      ...(record.schedule
        ? { schedule: `${record.schedule.cron}${record.schedule.timezone ? ` ${record.schedule.timezone}` : ""}` }
        : {}),
    },
  };
}

/** The ConfigMaps holding the gzipped orchestrator code package, one per part (`partsBase64`: each part in base64, in order). */
export function buildCodeConfigMaps(record: DeploymentRecord, partsBase64: string[]): V1ConfigMap[] {
  const names = record.orchestratorCode.configMaps;
  if (names.length !== partsBase64.length)
    throw new TypeError(`buildCodeConfigMaps: ${partsBase64.length} parts for ${names.length} ConfigMaps`);
  return partsBase64.map((data, i) => ({
    apiVersion: "v1",
    kind: "ConfigMap",
    metadata: {
      name: names[i]!,
      namespace: record.namespace,
      labels: { ...labels(record, "code"), [DEPLOY_LABELS.code]: record.orchestratorCode.sha.slice(0, 12) },
      annotations: {
        [LABEL_KEYS.flow]: record.flowName,
        "kubestep.io/code-sha": record.orchestratorCode.sha,
        "kubestep.io/code-part": `${i + 1}/${names.length}`,
      },
    },
    binaryData: { [`${CODE_KEY}.${i}`]: data },
  }));
}

const BOOTSTRAP = `
const { createHash } = await import("node:crypto");
const { readFileSync, writeFileSync, mkdirSync, renameSync } = await import("node:fs");
const { gunzipSync } = await import("node:zlib");
const { pathToFileURL } = await import("node:url");
const { readdirSync } = await import("node:fs");
const sha = process.env.${CODE_SHA_ENV};
const parts = readdirSync(${JSON.stringify(CODE_MOUNT)}).filter((f) => f.startsWith(${JSON.stringify(CODE_KEY + ".")})).sort((a, b) => Number(a.split(".").pop()) - Number(b.split(".").pop()));
const bytes = gunzipSync(Buffer.concat(parts.map((f) => readFileSync(${JSON.stringify(CODE_MOUNT + "/")} + f))));
const got = createHash("sha256").update(bytes).digest("hex");
if (got !== sha) { process.stderr.write("kubestep orchestrator bootstrap: code package hash mismatch: expected " + sha + ", got " + got + "\\n"); process.exit(70); }
mkdirSync("/tmp/kubestep-code", { recursive: true });
const file = "/tmp/kubestep-code/" + sha + ".mjs";
writeFileSync(file + ".part", bytes); renameSync(file + ".part", file);
const pkg = await import(pathToFileURL(file).href);
await pkg.runOrchestrator();
`.trim();

/** The orchestrator container's command: joins and unzips the mounted code package's parts, verifies its sha256, runs `runOrchestrator()`. */
export function orchestratorBootstrapCommand(): string[] {
  return ["node", "--enable-source-maps", "--input-type=module", "-e", BOOTSTRAP];
}

/** The Job spec of an orchestrator run (shared by triggered Jobs and the CronJob's template). */
export function orchestratorJobSpec(run: DeployedRunSpec): V1JobSpec {
  const record = run.deployment;
  const o = record.orchestrator;
  const podLabels = {
    ...(o.podLabels ?? {}),
    ...labels(record, "orchestrator"),
    [LABEL_KEYS.name]: ORCHESTRATOR_APP_NAME,
  };
  const env: V1EnvVar[] = [
    { name: DEPLOYED_RUN_ENV, value: JSON.stringify(run) },
    { name: CODE_SHA_ENV, value: record.orchestratorCode.sha },
    {
      name: ORCHESTRATOR_JOB_ENV,
      valueFrom: { fieldRef: { fieldPath: "metadata.labels['batch.kubernetes.io/job-name']" } },
    },
    {
      name: ORCHESTRATOR_JOB_UID_ENV,
      valueFrom: { fieldRef: { fieldPath: "metadata.labels['batch.kubernetes.io/controller-uid']" } },
    },
    { name: "KUBESTEP_KUBERNETES_POD_NAME", valueFrom: { fieldRef: { fieldPath: "metadata.name" } } },
    { name: "KUBESTEP_KUBERNETES_POD_NAMESPACE", valueFrom: { fieldRef: { fieldPath: "metadata.namespace" } } },
    ...Object.entries(record.podEnv)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([name, value]) => ({ name, value })),
  ];
  return {
    // A killed, evicted or lost orchestrator pod is replaced; the new pod goes on with the same run.
    backoffLimit: o.backoffLimit,
    // A run that failed (exit 1) or a code package that does not verify (70) fails the Job at once: only a
    // killed or lost pod is replaced.
    podFailurePolicy: {
      rules: [{ action: "FailJob", onExitCodes: { containerName: "orchestrator", operator: "In", values: [1, 70] } }],
    },
    ttlSecondsAfterFinished: ORCHESTRATOR_JOB_TTL_SECONDS,
    template: {
      metadata: {
        labels: podLabels,
        annotations: { [LABEL_KEYS.flow]: record.flowName, "kubestep.io/version": String(record.version) },
      },
      spec: {
        restartPolicy: "Never",
        serviceAccountName: o.serviceAccount,
        ...(o.imagePullSecrets.length ? { imagePullSecrets: o.imagePullSecrets.map((name) => ({ name })) } : {}),
        volumes: [
          {
            name: "kubestep-code",
            projected: { sources: record.orchestratorCode.configMaps.map((name) => ({ configMap: { name } })) },
          },
        ],
        containers: [
          {
            name: "orchestrator",
            image: o.image,
            ...(o.imagePullPolicy !== undefined ? { imagePullPolicy: o.imagePullPolicy } : {}),
            command: orchestratorBootstrapCommand(),
            env,
            ...(o.secrets.length ? { envFrom: o.secrets.map((name) => ({ secretRef: { name } })) } : {}),
            resources: { requests: { cpu: "250m", memory: "512Mi" }, limits: { memory: "1Gi" } },
            volumeMounts: [{ name: "kubestep-code", mountPath: CODE_MOUNT, readOnly: true }],
          },
        ],
      },
    },
  };
}

/** The orchestrator Job of one run started now (`kubestep trigger`, an event, an upstream flow). */
export function buildOrchestratorJob(run: DeployedRunSpec & { runId: string }): V1Job {
  const record = run.deployment;
  const metadata: V1ObjectMeta = {
    name: orchestratorJobName(record.flowName, run.runId),
    namespace: record.namespace,
    labels: {
      ...labels(record, "orchestrator"),
      [LABEL_KEYS.name]: ORCHESTRATOR_APP_NAME,
      [LABEL_KEYS.run]: sanitizeLabelValue(run.runId),
    },
    annotations: {
      [LABEL_KEYS.flow]: record.flowName,
      [LABEL_KEYS.run]: run.runId,
      "kubestep.io/trigger": run.trigger.type,
      "kubestep.io/version": String(record.version),
    },
  };
  return { apiVersion: "batch/v1", kind: "Job", metadata, spec: orchestratorJobSpec(run) };
}

/**
 * The code ConfigMaps unfinished orchestrator Jobs mount (a pod of theirs may still start, after a restart):
 * redeploying keeps them and prunes the other versions'.
 */
export function codeConfigMapsInUse(jobs: V1Job[]): string[] {
  const finished = (j: V1Job) =>
    !!j.status?.conditions?.some((c) => (c.type === "Complete" || c.type === "Failed") && c.status === "True");
  const names = jobs
    .filter((j) => !finished(j))
    .flatMap((j) =>
      (j.spec?.template.spec?.volumes ?? []).flatMap((v) =>
        (v.projected?.sources ?? []).flatMap((s) => (s.configMap?.name ? [s.configMap.name] : [])),
      ),
    );
  return [...new Set(names)].sort();
}

/** The CronJob of a scheduled flow: each Job is an orchestrator run with the default parameters. */
export function buildCronJob(record: DeploymentRecord): V1CronJob {
  const s = record.schedule;
  if (!s) throw new TypeError(`buildCronJob: flow ${record.flowName} has no schedule`);
  const run: DeployedRunSpec = {
    deployment: record,
    trigger: { type: "schedule", cron: s.cron, ...(s.timezone ? { timezone: s.timezone } : {}) },
  };
  return {
    apiVersion: "batch/v1",
    kind: "CronJob",
    metadata: {
      name: deploymentName(record.flowName),
      namespace: record.namespace,
      labels: labels(record, "schedule"),
      annotations: { [LABEL_KEYS.flow]: record.flowName, "kubestep.io/version": String(record.version) },
    },
    spec: {
      schedule: s.cron,
      ...(s.timezone ? { timeZone: s.timezone } : {}),
      concurrencyPolicy: s.allowOverlap ? "Allow" : "Forbid",
      startingDeadlineSeconds: 300,
      successfulJobsHistoryLimit: 3,
      failedJobsHistoryLimit: 3,
      jobTemplate: {
        metadata: { labels: { ...labels(record, "orchestrator"), [LABEL_KEYS.name]: ORCHESTRATOR_APP_NAME } },
        spec: orchestratorJobSpec(run),
      },
    },
  };
}
