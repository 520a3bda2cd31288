/**
 * Every `KUBESTEP_*` environment variable, in one registry: its name, who sets it, what it does and, where the
 * text needs more than trimming, its parser. Code names a variable through {@link KubestepVariable}, so a
 * variable that is not registered here does not typecheck; the README's table of variables is
 * {@link variablesTable} (a test checks it), and the `KUBESTEP_KUBERNETES_<OPTION>` family is the table
 * `KUBERNETES_ENV_VARS` of `kubernetes/config.ts`, which validates each option like the decorator does.
 *
 * Dependency-free: task processes and pod code packages read their variables through it.
 */
import { KubestepError } from "./errors.js";
import { DURATION_HELP, parseDurationSeconds } from "./contract/units.js";

/** Who sets a variable: the user (documented in the README) or kubestep, for its task processes and pods. */
export type VariableAudience = "user" | "internal";

/** One registered variable. */
export interface VariableSpec {
  /** Who sets it. */
  audience: VariableAudience;
  /** What it does, one sentence (the README table shows it for user variables). */
  doc: string;
  /** The default when unset, as the README shows it. */
  default?: string;
  /** Parses the (trimmed, non-empty) text; undefined when it is malformed. Absent: the text itself. */
  parse?: (text: string) => unknown;
  /** The forms `parse` accepts, for the message when it fails. */
  forms?: string;
}

/** The prefix of the `@kubernetes` option variables (`KUBESTEP_KUBERNETES_CPU`, ...; see `kubernetes/config.ts`). */
export const KUBERNETES_OPTION_PREFIX = "KUBESTEP_KUBERNETES_";

/** The registry. Keys are the variables' names. */
export const KUBESTEP_VARIABLES = {
  // --- set by the user -------------------------------------------------------------------------------------
  KUBESTEP_DEFAULT_DATASTORE: {
    audience: "user",
    doc: "The datastore kind when `--datastore` is not given: local, s3, gs or azure.",
    default: "local",
  },
  KUBESTEP_DATASTORE_SYSROOT_LOCAL: {
    audience: "user",
    doc: "Root directory of the local datastore.",
    default: ".kubestep",
  },
  KUBESTEP_DATASTORE_SYSROOT_S3: { audience: "user", doc: "Root of the s3 datastore: `s3://bucket/prefix`." },
  KUBESTEP_DATASTORE_SYSROOT_GS: { audience: "user", doc: "Root of the gs datastore: `gs://bucket/prefix`." },
  KUBESTEP_DATASTORE_SYSROOT_AZURE: {
    audience: "user",
    doc: "Root of the azure datastore: `azure://account/container/prefix`.",
  },
  KUBESTEP_S3_ENDPOINT_URL: {
    audience: "user",
    doc: "Endpoint (http:// or https:// URL) of an S3-compatible server; forwarded to pods.",
  },
  KUBESTEP_GCS_ENDPOINT_URL: {
    audience: "user",
    doc: "Endpoint of a GCS emulator (or `STORAGE_EMULATOR_HOST`); forwarded to pods.",
  },
  KUBESTEP_AZURE_BLOB_ENDPOINT: {
    audience: "user",
    doc: "Blob service endpoint of the azure datastore (e.g. azurite).",
    default: "https://<account>.blob.core.windows.net",
  },
  KUBESTEP_ENVIRONMENT: {
    audience: "user",
    doc: "The kubestep environment (as `--environment`): inline JSON or the path of a JSON file.",
  },
  KUBESTEP_USER: { audience: "user", doc: "The user name recorded with runs and put on Jobs.", default: "$USER" },
  KUBESTEP_KUBERNETES_PENDING_TIMEOUT: {
    audience: "user",
    doc: 'How long a Kubernetes step may stay unschedulable, or stuck starting its container (a volume that cannot mount), before it fails: seconds, a duration with s/m/h, or "never".',
    default: "15m",
    parse: parseDurationSeconds,
    forms: DURATION_HELP,
  },
  KUBESTEP_KUBERNETES_IMAGE_PULL_GRACE: {
    audience: "user",
    doc: "How long image pull errors are tolerated before a Kubernetes step fails (same forms).",
    default: "60s",
    parse: parseDurationSeconds,
    forms: DURATION_HELP,
  },
  KUBESTEP_KUBERNETES_CONTAINER_REGISTRY: {
    audience: "user",
    doc: "Registry prefixed to step images that name none, e.g. `registry.example.com/team`.",
  },
  KUBESTEP_KUBERNETES_JOB_TTL_SECONDS_AFTER_FINISHED: {
    audience: "user",
    doc: "Seconds a finished Job (or JobSet) is kept.",
    default: "604800 (7 days)",
  },
  KUBESTEP_LOCAL_ISOLATION: {
    audience: "user",
    doc: "How local tasks are isolated: `thread` (each task in its own worker thread of the CLI, falling back to a process for code that cannot run in a thread) or `process` (each task in its own `node` process); as `--isolation`.",
    default: "thread",
    parse: (t: string) => (t === "thread" || t === "process" ? t : undefined),
    forms: "thread or process",
  },
  // --- set by kubestep for its task processes and pods -------------------------------------------------------
  KUBESTEP_TASK_SPEC: { audience: "internal", doc: "The task a task process runs (JSON)." },
  KUBESTEP_CODE_URL: { audience: "internal", doc: "Pre-signed URL of the code package a pod downloads." },
  KUBESTEP_CODE_SHA: { audience: "internal", doc: "sha256 the pod verifies the code package against." },
  KUBESTEP_DEPS: {
    audience: "internal",
    doc: "The flow's dependency layer a pod extracts beside the code package (JSON: sha, externals, native, platform).",
  },
  KUBESTEP_DEPS_URL: { audience: "internal", doc: "Pre-signed URL of the dependency layer a pod downloads." },
  KUBESTEP_DEPS_DIR: {
    audience: "internal",
    doc: "Where a pod whose code came from ConfigMaps (deployed orchestrator, Argo task) installs the dependency layer.",
  },
  KUBESTEP_TEMPDIR: { audience: "internal", doc: "`current.tempdir` of the task (the tmpfs with useTmpfs)." },
  KUBESTEP_HOSTNAME_RESOLUTION_TIMEOUT: {
    audience: "internal",
    doc: "Seconds @parallel workers wait for the control node's hostname to resolve.",
    default: "600",
    parse: (t: string) => (Number(t) > 0 ? Number(t) : undefined),
    forms: "a number of seconds > 0",
  },
  KUBESTEP_KUBERNETES_WORKLOAD: { audience: "internal", doc: "The Job name of the pod's attempt." },
  KUBESTEP_KUBERNETES_POD_NAME: { audience: "internal", doc: "The pod's name (downward API)." },
  KUBESTEP_KUBERNETES_POD_NAMESPACE: { audience: "internal", doc: "The pod's namespace (downward API)." },
  KUBESTEP_KUBERNETES_POD_ID: { audience: "internal", doc: "The pod's uid (downward API)." },
  KUBESTEP_KUBERNETES_NODE_IP: { audience: "internal", doc: "The node's IP (downward API)." },
  KUBESTEP_KUBERNETES_SERVICE_ACCOUNT_NAME: {
    audience: "internal",
    doc: "The pod's service account (downward API).",
  },
  KUBESTEP_PARALLEL_MAIN_IP: { audience: "internal", doc: "@parallel: the control node's address." },
  KUBESTEP_PARALLEL_NUM_NODES: { audience: "internal", doc: "@parallel: the number of nodes." },
  KUBESTEP_PARALLEL_NODE_INDEX: { audience: "internal", doc: "@parallel: this node's index (the control's 0)." },
  KUBESTEP_PARALLEL_WORKER_INDEX: { audience: "internal", doc: "@parallel: a worker's completion index." },
  KUBESTEP_PARALLEL_CONTROL_TASK_ID: { audience: "internal", doc: "@parallel: the control node's task id." },
  KUBESTEP_PARALLEL_WORKER_TASK_IDS: { audience: "internal", doc: "@parallel: the workers' task ids (JSON list)." },
  KUBESTEP_ARGO_TASK: {
    audience: "internal",
    doc: "Argo Workflows: the step a workflow pod runs (JSON: flow, step, code sha, datastore).",
  },
  KUBESTEP_ARGO_INPUTS: {
    audience: "internal",
    doc: "Argo Workflows: the task's inputs, substituted by Argo (JSON: workflow, parameters, parents, foreach path, attempt).",
  },
  KUBESTEP_DEPLOYED_RUN: {
    audience: "internal",
    doc: "The deployed run an orchestrator pod runs (JSON: deployment record, run id, parameters, trigger).",
  },
  KUBESTEP_ORCHESTRATOR_JOB_UID: {
    audience: "internal",
    doc: "The uid of the orchestrator pod's Job (downward API): only a pod of the Job that started a run continues it.",
  },
  KUBESTEP_ORCHESTRATOR_JOB: {
    audience: "internal",
    doc: "The name of the orchestrator pod's Job (downward API); the run id of a scheduled run.",
  },
} as const satisfies Readonly<Record<string, VariableSpec>>;

/** The name of a registered variable. */
export type KubestepVariable = keyof typeof KUBESTEP_VARIABLES;

/** The variables set in a task process or pod: every internal one. */
export type InternalVariable = {
  [K in KubestepVariable]: (typeof KUBESTEP_VARIABLES)[K]["audience"] extends "internal" ? K : never;
}[KubestepVariable];

/** Whether `name` is registered (a `KUBESTEP_KUBERNETES_<OPTION>` variable counts when `options` lists its suffix). */
export function isKubestepVariable(name: string, options: readonly string[] = []): boolean {
  if (Object.hasOwn(KUBESTEP_VARIABLES, name)) return true;
  return name.startsWith(KUBERNETES_OPTION_PREFIX) && options.includes(name.slice(KUBERNETES_OPTION_PREFIX.length));
}

/**
 * Reads a registered variable from `env` (the process environment unless given): its trimmed text, or
 * undefined when it is unset or blank.
 */
export function readVariable(
  name: KubestepVariable,
  env: Readonly<Record<string, string | undefined>> = process.env,
): string | undefined {
  const v = env[name]?.trim();
  return v === undefined || v === "" ? undefined : v;
}

/** What {@link parseVariable} returns for a variable: its parser's result, or the text. */
export type VariableValue<K extends KubestepVariable> = (typeof KUBESTEP_VARIABLES)[K] extends {
  parse: (text: string) => infer T;
}
  ? Exclude<T, undefined>
  : string;

/** A registered variable with a malformed value; names the variable, the value and the allowed forms. */
export class VariableError extends KubestepError {
  constructor(
    /** The variable. */
    readonly variable: KubestepVariable,
    /** Its text. */
    readonly value: string,
    forms: string,
  ) {
    super(`${variable}=${JSON.stringify(value)} is invalid; ${forms}`);
    this.name = "VariableError";
  }
}

/**
 * Reads and parses a registered variable: undefined when unset or blank, else its parser's value (the text
 * for a variable without a parser).
 * @throws VariableError when the parser rejects the text.
 */
export function parseVariable<K extends KubestepVariable>(
  name: K,
  env: Readonly<Record<string, string | undefined>> = process.env,
): VariableValue<K> | undefined {
  const text = readVariable(name, env);
  if (text === undefined) return undefined;
  const spec: VariableSpec = KUBESTEP_VARIABLES[name];
  if (!spec.parse) return text as VariableValue<K>;
  const value = spec.parse(text);
  if (value === undefined) throw new VariableError(name, env[name]!, spec.forms ?? "see the README");
  return value as VariableValue<K>;
}

/** The README's table of the variables a user sets (Markdown), generated from the registry. */
export function variablesTable(): string {
  const rows = Object.entries(KUBESTEP_VARIABLES as Readonly<Record<string, VariableSpec>>)
    .filter(([, v]) => v.audience === "user")
    .map(([name, v]) => `| \`${name}\` | ${v.doc} | ${v.default === undefined ? "" : `\`${v.default}\``} |`);
  return [
    "| Variable | What it does | Default |",
    "| --- | --- | --- |",
    ...rows,
    `| \`${KUBERNETES_OPTION_PREFIX}<OPTION>\` | Any \`@kubernetes\` option for every step (\`KUBESTEP_KUBERNETES_CPU=2\`, \`..._NODE_SELECTOR=k=v\`); see \`KUBERNETES_ENV_VARS\` in runtime/kubernetes/config.ts. | |`,
  ].join("\n");
}
