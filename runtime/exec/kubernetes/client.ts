/**
 * Loading the Kubernetes client configuration, and small helpers around `@kubernetes/client-node`
 * (imported lazily: nothing here loads it until a function is called).
 *
 * Where the configuration comes from, first match wins:
 * 1. the `kubeconfig` option (a path);
 * 2. `KUBECONFIG` (one or more paths separated by `:`);
 * 3. `~/.kube/config`;
 * 4. in-cluster (service account token) when running inside a pod (`KUBERNETES_SERVICE_HOST` set and
 *    the token mounted).
 * `--kube-context` (the `context` option) chooses a context of a kubeconfig; an unknown context is an
 * error that lists the available ones.
 */
import { existsSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import type { BatchV1Api, CoreV1Api, KubeConfig, V1Status } from "@kubernetes/client-node";
import { KubestepError } from "../../errors.js";

/** Path of the service account token mounted in pods. */
export const IN_CLUSTER_TOKEN = "/var/run/secrets/kubernetes.io/serviceaccount/token";

/** Thrown when no usable Kubernetes configuration (or the asked-for context) is found. */
export class KubeConfigError extends KubestepError {
  constructor(message: string) {
    super(message);
    this.name = "KubeConfigError";
  }
}

/** Options of {@link loadKubeConfig}. */
export interface LoadKubeConfigOptions {
  /** Context to use (`--kube-context`); default the kubeconfig's current context. */
  context?: string;
  /** Kubeconfig file to read instead of `KUBECONFIG` / `~/.kube/config`. */
  kubeconfig?: string;
  /** Environment to read `KUBECONFIG`, `HOME` and `KUBERNETES_SERVICE_HOST` from; default `process.env`. */
  env?: Readonly<Record<string, string | undefined>>;
  /** Path of the in-cluster token (tests only); default {@link IN_CLUSTER_TOKEN}. */
  inClusterTokenPath?: string;
}

type K8s = typeof import("@kubernetes/client-node");
let k8sPromise: Promise<K8s> | undefined;
/** The `@kubernetes/client-node` module, imported on first use. */
export function k8s(): Promise<K8s> {
  k8sPromise ??= import("@kubernetes/client-node");
  return k8sPromise;
}

/** Where a loaded configuration came from, for messages. */
export type KubeConfigSource = "option" | "KUBECONFIG" | "default-file" | "in-cluster";

/** A loaded configuration and where it came from. */
export interface LoadedKubeConfig {
  /** The client configuration. */
  kubeConfig: KubeConfig;
  /** Where it came from. */
  source: KubeConfigSource;
  /** The context in use (`in-cluster` inside a pod). */
  context: string;
  /** Namespace of the context (or of the pod in-cluster), when it sets one. */
  namespace: string | undefined;
}

/**
 * Loads the Kubernetes configuration (see the module comment for the order) and selects `context`.
 * @throws KubeConfigError when nothing is configured, a named file does not exist, or the context is
 *   unknown (the message lists the available contexts).
 */
export async function loadKubeConfig(options: LoadKubeConfigOptions = {}): Promise<LoadedKubeConfig> {
  const { KubeConfig } = await k8s();
  const env = options.env ?? process.env;
  const kc = new KubeConfig();
  let source: KubeConfigSource;
  if (options.kubeconfig) {
    if (!existsSync(options.kubeconfig))
      throw new KubeConfigError(`kubeconfig file ${options.kubeconfig} does not exist`);
    kc.loadFromFile(options.kubeconfig);
    source = "option";
  } else if (env.KUBECONFIG) {
    const files = env.KUBECONFIG.split(":").filter((f) => f !== "");
    const present = files.filter((f) => existsSync(f));
    if (present.length === 0) throw new KubeConfigError(`KUBECONFIG=${env.KUBECONFIG} names no existing file`);
    kc.loadFromFile(present[0]!);
    for (const f of present.slice(1)) {
      const more = new KubeConfig();
      more.loadFromFile(f);
      kc.mergeConfig(more, true);
    }
    source = "KUBECONFIG";
  } else if (existsSync(join(env.HOME || homedir(), ".kube", "config"))) {
    kc.loadFromFile(join(env.HOME || homedir(), ".kube", "config"));
    source = "default-file";
  } else if (env.KUBERNETES_SERVICE_HOST && existsSync(options.inClusterTokenPath ?? IN_CLUSTER_TOKEN)) {
    kc.loadFromCluster();
    source = "in-cluster";
  } else {
    throw new KubeConfigError(
      "no Kubernetes configuration found: set KUBECONFIG to a kubeconfig file, create ~/.kube/config, or run inside a pod",
    );
  }
  const contexts = kc.getContexts().map((c) => c.name);
  if (options.context !== undefined && options.context !== "") {
    if (!contexts.includes(options.context))
      throw new KubeConfigError(
        `kube context ${JSON.stringify(options.context)} (--kube-context) is not in the kubeconfig (${source === "KUBECONFIG" ? `KUBECONFIG=${env.KUBECONFIG}` : source}); available contexts: ${contexts.length ? contexts.join(", ") : "none"}`,
      );
    kc.setCurrentContext(options.context);
  } else if (source !== "in-cluster" && !kc.getCurrentContext()) {
    throw new KubeConfigError(
      `the kubeconfig has no current context; choose one with --kube-context (available: ${contexts.join(", ") || "none"})`,
    );
  }
  const current = kc.getContextObject(kc.getCurrentContext());
  return { kubeConfig: kc, source, context: kc.getCurrentContext(), namespace: current?.namespace };
}

/** The API clients the Kubernetes executor uses. */
export interface KubeApis {
  /** Pods, events, secrets, namespaces. */
  core: CoreV1Api;
  /** Jobs. */
  batch: BatchV1Api;
}

/** Creates the API clients for a configuration. */
export async function kubeApis(kc: KubeConfig): Promise<KubeApis> {
  const { CoreV1Api, BatchV1Api } = await k8s();
  return { core: kc.makeApiClient(CoreV1Api), batch: kc.makeApiClient(BatchV1Api) };
}

/** The essentials of a failed API call: HTTP status and the apiserver's Status object when it sent one. */
export interface ApiErrorInfo {
  /** HTTP status (0 when the request never got an answer). */
  code: number;
  /** The apiserver's reason (`Forbidden`, `AlreadyExists`, `Expired`, ...), when known. */
  reason?: string;
  /** The apiserver's message (e.g. the quota message), else the error's own message. */
  message: string;
}

/**
 * Extracts status, reason and message from whatever an API call threw (client-node's ApiException with
 * a JSON or parsed Status body, a watch error with `statusCode`, a network error).
 */
export function apiErrorInfo(err: unknown): ApiErrorInfo {
  const e = err as { code?: unknown; statusCode?: unknown; body?: unknown; message?: unknown } | undefined;
  const code = typeof e?.code === "number" ? e.code : typeof e?.statusCode === "number" ? e.statusCode : 0;
  let status: Partial<V1Status> | undefined;
  if (typeof e?.body === "string") {
    try {
      status = JSON.parse(e.body) as V1Status;
    } catch {
      status = e.body ? { message: e.body } : undefined;
    }
  } else if (e?.body && typeof e.body === "object") status = e.body as V1Status;
  const message = status?.message || (typeof e?.message === "string" ? e.message : String(err));
  return { code: status?.code ?? code, ...(status?.reason ? { reason: status.reason } : {}), message };
}

/**
 * Events about one object (a pod or a Job) in a namespace, oldest first, selected on the server by
 * `involvedObject.name` (one list call; used when explaining a pending or failed attempt).
 */
export async function eventsFor(
  core: CoreV1Api,
  namespace: string,
  objectName: string,
): Promise<import("@kubernetes/client-node").CoreV1Event[]> {
  const list = await core.listNamespacedEvent({ namespace, fieldSelector: `involvedObject.name=${objectName}` });
  const t = (e: import("@kubernetes/client-node").CoreV1Event) =>
    new Date(e.lastTimestamp ?? e.eventTime ?? e.firstTimestamp ?? 0).getTime();
  return [...list.items].sort((a, b) => t(a) - t(b));
}

/**
 * Whether an API call failed for a reason that passes (the API server restarting or unreachable, 429 from
 * priority and fairness, 5xx), so the same call may be made again.
 */
export function isTransientApiError(err: unknown): boolean {
  const { code } = apiErrorInfo(err);
  return code === 0 || code === 429 || code === 500 || code === 502 || code === 503 || code === 504;
}

/**
 * The wait an API server asks for with `Retry-After` (seconds, as priority and fairness sends with a 429), in
 * milliseconds; undefined when the answer has none.
 */
export function retryAfterMs(err: unknown): number | undefined {
  const headers = (err as { headers?: unknown } | undefined)?.headers;
  if (!headers || typeof headers !== "object") return undefined;
  const entry = Object.entries(headers as Record<string, unknown>).find(([k]) => k.toLowerCase() === "retry-after");
  const seconds = Number(entry?.[1]);
  return entry && Number.isFinite(seconds) && seconds >= 0 ? seconds * 1000 : undefined;
}

/**
 * Calls `call`, retrying transient failures ({@link isTransientApiError}) with doubling delays (from 500 ms,
 * capped at 10 s, with jitter; never sooner than the answer's `Retry-After`) for at most `budgetMs` (default 2
 * minutes); other errors are thrown at once. Only for idempotent calls (a create whose 409 the caller treats as
 * "already there" is one).
 */
export async function withApiRetry<T>(call: () => Promise<T>, budgetMs = 120_000): Promise<T> {
  const until = Date.now() + budgetMs;
  let delay = 500;
  for (;;) {
    try {
      return await call();
    } catch (e) {
      const wait = Math.max(delay * (1 + Math.random() * 0.2), retryAfterMs(e) ?? 0);
      if (!isTransientApiError(e) || Date.now() + wait > until) throw e;
      await new Promise((r) => setTimeout(r, wait));
      delay = Math.min(delay * 2, 10_000);
    }
  }
}
