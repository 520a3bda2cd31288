/**
 * Turning what Kubernetes says about a step's Job, its pod and their events into a verdict a user can
 * act on: still pending (and why), running, succeeded, or failed with a message that names the step and
 * says what to do. PURE functions (no I/O, no clock unless passed): the watch feeds them snapshots.
 *
 * Only types are imported from `@kubernetes/client-node`.
 */
import type { CoreV1Event, V1Container, V1ContainerStatus, V1Job, V1Pod } from "@kubernetes/client-node";
import { apiErrorInfo } from "./client.js";
import { MB, parseQuantity } from "../../contract/units.js";
import { BOOTSTRAP_FAILURE_EXIT } from "../../code/bootstrap.js";
import { NODE_INIT_CONTAINER } from "../../kubernetes/node-injection.js";

/** Where a step's attempt stands. */
export type VerdictState = "pending" | "running" | "succeeded" | "failed";

/** Why an attempt is where it is. Stable identifiers for metadata and tests. */
export type VerdictReason =
  | "Submitted"
  | "Unschedulable"
  | "ContainerCreating"
  | "ImagePull"
  | "CreateContainerConfigError"
  | "Running"
  | "Succeeded"
  | "OOMKilled"
  | "Error"
  | "DeadlineExceeded"
  | "Evicted"
  | "Preempted"
  | "PodDeleted"
  | "NodeLost"
  | "BootstrapFailed"
  | "BackoffLimitExceeded"
  | "QuotaExceeded"
  | "Forbidden"
  | "Invalid"
  | "AlreadyExists"
  | "WebhookUnavailable"
  | "ApiError";

/** A user-facing verdict on a step's attempt. */
export interface Verdict {
  /** Where the attempt stands. */
  state: VerdictState;
  /** Why (machine-readable). */
  reason?: VerdictReason;
  /** What happened and what to do, naming the step (for pending states: the progress to show). */
  message?: string;
  /**
   * Whether another attempt (`@retry`) can plausibly succeed with nothing changed: true for the task's
   * own failures, OOM kills, timeouts, evictions, preemptions, deleted pods and lost nodes; false for
   * problems only the user can fix (unschedulable, bad image, missing secret / config map / volume,
   * quota, invalid spec, name collision). See {@link isRetryable}.
   */
  retryable: boolean;
}

/** Default of {@link ExplainInput.pendingTimeoutSeconds}: 15 minutes. */
export const DEFAULT_PENDING_TIMEOUT_SECONDS = 15 * 60;
/** Default of {@link ExplainInput.imagePullGraceSeconds}. */
export const DEFAULT_IMAGE_PULL_GRACE_SECONDS = 60;
/** Default of {@link ExplainInput.configErrorGraceSeconds}. */
export const DEFAULT_CONFIG_ERROR_GRACE_SECONDS = 30;

/** What {@link explain} looks at. */
export interface ExplainInput {
  /** Step name, used in every message. */
  step: string;
  /** The attempt's Job, as last seen. */
  job?: V1Job;
  /** The attempt's pod, as last seen (the newest one if the Job made several). */
  pod?: V1Pod;
  /** Events about the pod and the Job (any order). */
  events?: readonly CoreV1Event[];
  /** Current time; default `new Date()`. Pass it for deterministic results. */
  now?: Date;
  /**
   * How long a pod may stay unschedulable, or stuck starting on its node (ContainerCreating: a volume
   * that cannot mount, a missing config map), before the step fails (`KUBESTEP_KUBERNETES_PENDING_TIMEOUT`);
   * `null` waits forever. Default 15 minutes.
   */
  pendingTimeoutSeconds?: number | null;
  /** How long image pull failures are tolerated before the step fails. Default 60 s. */
  imagePullGraceSeconds?: number;
  /** How long a CreateContainerConfigError (e.g. a missing secret) is tolerated. Default 30 s. */
  configErrorGraceSeconds?: number;
  /** The pod was deleted and kubestep did not delete it (the watch saw a DELETED event). */
  podDeleted?: boolean;
  /** The pod's node is gone (deleted or unreachable), when the caller knows it. */
  nodeLost?: boolean;
  /** Name of the task container; default the pod's first container. */
  containerName?: string;
}

function seconds(from: string | Date | undefined, now: Date): number {
  if (!from) return 0;
  const t = new Date(from).getTime();
  return Number.isFinite(t) ? Math.max(0, (now.getTime() - t) / 1000) : 0;
}

function duration(s: number): string {
  if (s < 90) return `${Math.round(s)} s`;
  if (s < 5400) return `${Math.round(s / 60)} min`;
  return `${(s / 3600).toFixed(1)} h`;
}

function mainContainer(pod: V1Pod, name?: string): { spec?: V1Container; status?: V1ContainerStatus } {
  const spec = name ? pod.spec?.containers.find((c) => c.name === name) : pod.spec?.containers[0];
  const cname = spec?.name ?? name;
  const status =
    pod.status?.containerStatuses?.find((c) => c.name === cname) ??
    (cname ? undefined : pod.status?.containerStatuses?.[0]);
  return { spec, status };
}

/**
 * An init container that stops the pod from starting: waiting on an image pull, or terminated with an error.
 * Only looked for while the step container has not started.
 */
function blockingInitContainer(pod: V1Pod): { spec?: V1Container; status: V1ContainerStatus } | undefined {
  const status = pod.status?.initContainerStatuses?.find(
    (s) =>
      (s.state?.terminated && s.state.terminated.exitCode !== 0) ||
      /^(ErrImagePull|ImagePullBackOff|InvalidImageName|ErrImageNeverPull|RegistryUnavailable)$/.test(
        s.state?.waiting?.reason ?? "",
      ),
  );
  if (!status) return undefined;
  return { spec: pod.spec?.initContainers?.find((c) => c.name === status.name), status };
}

/** What the init container is for, in messages. */
function initPurpose(name: string, image: string): string {
  return name === NODE_INIT_CONTAINER
    ? `init container ${name}, which copies Node.js from the node image ${image} (nodeImage) for a step image without node,`
    : `init container ${name} (image ${image})`;
}

/** A hint for a step container that could not start because its image lacks an executable kubestep runs. */
function startErrorHint(message: string): string {
  if (/"node": executable file not found/.test(message))
    return ` The image has no node on its PATH: let kubestep bring Node.js into the pod (@kubernetes injectNode "always", or "auto" with nodeImage naming an image that has node), or install node >= 20 in the image.`;
  if (/"sh": executable file not found/.test(message))
    return ` The image has no /bin/sh, which kubestep needs to choose between the image's node and the one it brings: distroless images are not supported; use an image with a shell, or one with node >= 20 and injectNode "never".`;
  return "";
}

function eventTime(e: CoreV1Event): number {
  const t = e.lastTimestamp ?? e.eventTime ?? e.firstTimestamp ?? e.metadata?.creationTimestamp;
  return t ? new Date(t).getTime() : 0;
}

function firstTime(e: CoreV1Event): string | Date | undefined {
  return e.firstTimestamp ?? e.eventTime ?? e.lastTimestamp ?? e.metadata?.creationTimestamp;
}

function podEvents(input: ExplainInput, pred: (e: CoreV1Event) => boolean): CoreV1Event[] {
  const podName = input.pod?.metadata?.name;
  return (input.events ?? [])
    .filter((e) => (podName ? e.involvedObject?.kind !== "Pod" || e.involvedObject?.name === podName : true))
    .filter(pred)
    .sort((a, b) => eventTime(a) - eventTime(b));
}

/** A memory size in MB for messages (whole MB, or one decimal below 10 MB). */
function mbText(bytes: number): string {
  const mb = bytes / MB;
  return mb >= 10 ? String(Math.round(mb)) : mb.toFixed(1);
}

/**
 * Which secret or config map a CreateContainerConfigError is about, parsed from the kubelet's message
 * (`secret "s" not found`, `couldn't find key K in Secret ns/s`, same for ConfigMap).
 */
export function parseConfigError(
  message: string,
): { kind: "secret" | "configmap"; name: string; key?: string } | undefined {
  let m = /\b(secret|configmap)s? "([^"]+)" not found/i.exec(message);
  if (m) return { kind: m[1]!.toLowerCase() as "secret" | "configmap", name: m[2]! };
  m = /couldn't find key (\S+) in (Secret|ConfigMap) (?:[^/\s]+\/)?(\S+)/i.exec(message);
  if (m) return { kind: m[2]!.toLowerCase() as "secret" | "configmap", name: m[3]!, key: m[1]! };
  return undefined;
}

/** Explains a failed Job/pod creation (e.g. a 403 for an exceeded ResourceQuota). Never pending. */
export function explainCreateError(err: unknown, step: string): Verdict {
  const info = apiErrorInfo(err);
  if (info.code === 403 && /exceeded quota/i.test(info.message))
    return {
      state: "failed",
      reason: "QuotaExceeded",
      message: `step ${step} could not be submitted: the namespace's resource quota is exceeded: ${info.message}. Lower the step's resources, wait for other work to finish, or ask for a larger quota.`,
      retryable: false,
    };
  if (info.code === 403)
    return {
      state: "failed",
      reason: "Forbidden",
      message: `step ${step} could not be submitted: the Kubernetes API refused it (403 Forbidden): ${info.message}. Check that your credentials (kube context) may create Jobs in this namespace.`,
      retryable: false,
    };
  if (info.code === 422 || info.code === 400)
    return {
      state: "failed",
      reason: "Invalid",
      message: `step ${step} could not be submitted: the Job was rejected as invalid: ${info.message}`,
      retryable: false,
    };
  const webhook = /failed calling webhook "([^"]+)"/.exec(info.message);
  if (webhook)
    return {
      state: "failed",
      reason: "WebhookUnavailable",
      message:
        `step ${step} could not be submitted: the cluster's admission webhook ${webhook[1]} did not answer, so the API server refused the object: ${info.message}. ` +
        (webhook[1]!.endsWith(".kb.io") && /jobset/i.test(info.message)
          ? "That webhook belongs to the JobSet controller: check that it runs (e.g. kubectl -n jobset-system get pods) or remove the JobSet CRD so kubestep runs the gang as plain Jobs."
          : "Check that the controller serving that webhook runs."),
      retryable: true,
    };
  if (info.code === 409)
    return {
      state: "failed",
      reason: "AlreadyExists",
      message: `step ${step} could not be submitted: a Job of that name already exists and is not this attempt's (another run or a leftover): ${info.message}. Delete it (kubectl delete job <name> -n <namespace>) or run again with another run id.`,
      retryable: false,
    };
  return {
    state: "failed",
    reason: "ApiError",
    message: `step ${step} could not be submitted: ${info.code ? `HTTP ${info.code}: ` : ""}${info.message}`,
    retryable: info.code === 0 || info.code === 429 || info.code >= 500,
  };
}

/** Kubelet events that say a pod's volumes cannot be set up: only the user can fix those. */
const VOLUME_FAILURES = /^(FailedMount|FailedAttachVolume|FailedMapVolume)$/;

/**
 * A pod bound to a node whose container has not started (ContainerCreating): pending while it starts,
 * failed once it has been stuck longer than the pending timeout, with the kubelet's newest warning
 * (e.g. FailedMount: a config map, secret or volume that cannot be mounted). An image still being pulled
 * (the newest event is Pulling) or whose pull just failed keeps waiting: the image-pull verdict decides.
 */
function explainStarting(input: ExplainInput, pod: V1Pod, now: Date, waitingReason: string | undefined): Verdict {
  const { step } = input;
  const podName = pod.metadata?.name ?? "?";
  const ns = pod.metadata?.namespace ?? "?";
  const node = pod.spec?.nodeName ?? "its node";
  const events = podEvents(input, (e) => e.involvedObject?.kind === "Pod" || e.involvedObject?.kind === undefined);
  const warning = events.filter((e) => e.type === "Warning").pop();
  const newest = events.pop();
  const scheduledAt = pod.status?.conditions?.find((c) => c.type === "PodScheduled" && c.status === "True");
  const waited = seconds(
    scheduledAt?.lastTransitionTime ?? pod.status?.startTime ?? pod.metadata?.creationTimestamp,
    now,
  );
  const timeout =
    input.pendingTimeoutSeconds === undefined ? DEFAULT_PENDING_TIMEOUT_SECONDS : input.pendingTimeoutSeconds;
  const why = warning ? `${warning.reason}: ${(warning.message ?? "").trim()}` : undefined;
  // An image being pulled, or whose pull just failed (the kubelet's event comes before the container's status
  // says ErrImagePull): the image-pull verdict, with its own grace, decides once the status catches up.
  const pulling =
    newest?.reason === "Pulling" ||
    (warning?.reason === "Failed" && /ErrImagePull|ImagePullBackOff|Failed to pull image/i.test(warning.message ?? ""));
  if (timeout === null || !Number.isFinite(timeout) || waited < timeout || pulling)
    return {
      state: "pending",
      reason: "ContainerCreating",
      message: `step ${step}: pod ${podName} is starting on ${node}${waitingReason ? ` (${waitingReason})` : ""}${why ? `; ${why}` : ""}`,
      retryable: false,
    };
  const missing = warning ? parseConfigError(warning.message ?? "") : undefined;
  const pvc = /persistentvolumeclaim "([^"]+)" not found/i.exec(warning?.message ?? "")?.[1];
  const fix = missing
    ? `create ${missing.kind} ${missing.name} in namespace ${ns} or remove it from the step`
    : pvc
      ? `create the PersistentVolumeClaim ${pvc} in namespace ${ns} or remove it from the step's persistentVolumeClaims`
      : warning && VOLUME_FAILURES.test(warning.reason ?? "")
        ? "fix the volume (its PersistentVolume, claim or storage) or remove it from the step's persistentVolumeClaims"
        : `see kubectl describe pod ${podName} -n ${ns}`;
  return {
    state: "failed",
    reason: "ContainerCreating",
    message: `step ${step} cannot start: pod ${podName} was stuck in ContainerCreating on ${node} for ${duration(waited)}${why ? ` (${why})` : " with no event saying why"}; ${fix}. Gave up after the pending timeout (KUBESTEP_KUBERNETES_PENDING_TIMEOUT).`,
    // A volume that cannot mount stays so; a sandbox or runtime problem may not recur on another attempt.
    retryable: !(warning && VOLUME_FAILURES.test(warning.reason ?? "")),
  };
}

/**
 * Whether another attempt of a failed verdict can succeed with nothing changed, by reason: problems only
 * the user can fix (unschedulable, image, configuration, volumes, quota, permissions, invalid spec, name
 * collision) are not; the task's own failures and the cluster's disruptions (OOM, eviction, preemption,
 * node loss, deleted pod, timeout) are. A reason whose retryability depends on details is decided by
 * {@link explain} itself (its verdict's `retryable`).
 */
export function isRetryable(reason: VerdictReason): boolean | undefined {
  switch (reason) {
    case "Unschedulable":
    case "ImagePull":
    case "CreateContainerConfigError":
    case "QuotaExceeded":
    case "Forbidden":
    case "Invalid":
    case "AlreadyExists":
      return false;
    case "OOMKilled":
    case "Error":
    case "DeadlineExceeded":
    case "Evicted":
    case "Preempted":
    case "PodDeleted":
    case "NodeLost":
    case "BackoffLimitExceeded":
    case "WebhookUnavailable":
      return true;
    default:
      return undefined;
  }
}

/** Explains the state of a step's attempt from its Job, pod and events. */
export function explain(input: ExplainInput): Verdict {
  const { step, job, pod } = input;
  const now = input.now ?? new Date();
  const conditions = job?.status?.conditions ?? [];
  const complete = conditions.find((c) => c.type === "Complete" && c.status === "True");
  if (complete) return { state: "succeeded", reason: "Succeeded", retryable: false };
  const jobFailed = conditions.find((c) => c.type === "Failed" && c.status === "True");
  if (jobFailed?.reason === "DeadlineExceeded") {
    const limit = job?.spec?.activeDeadlineSeconds;
    return {
      state: "failed",
      reason: "DeadlineExceeded",
      message: `step ${step} timed out: it ran longer than its time limit${limit ? ` of ${duration(limit)}` : ""} (${jobFailed.message ?? "Job was active longer than specified deadline"}); raise @timeout or make the step faster.`,
      retryable: true,
    };
  }

  if (pod) {
    const podName = pod.metadata?.name ?? "?";
    const main = mainContainer(pod, input.containerName);
    const mainStarted = !!(
      main.status?.state?.running ||
      main.status?.state?.terminated ||
      main.status?.lastState?.terminated
    );
    const init = mainStarted ? undefined : blockingInitContainer(pod);
    const { spec, status } = init ?? main;
    const terminated = status?.state?.terminated ?? status?.lastState?.terminated;
    if (
      status?.state?.terminated?.reason === "OOMKilled" ||
      (terminated?.reason === "OOMKilled" && pod.status?.phase === "Failed")
    ) {
      const limitBytes = parseQuantity(spec?.resources?.limits?.memory);
      const limit =
        limitBytes !== undefined ? `limit ${mbText(limitBytes)} MB` : "no memory limit set; the node ran out";
      const suggest =
        limitBytes !== undefined ? String(Math.max(1, Math.ceil((limitBytes * 2) / MB / 256) * 256)) : "<MB>";
      return {
        state: "failed",
        reason: "OOMKilled",
        message: `step ${step} ran out of memory (${limit}); raise memory=${suggest} (MB) with @resources or @kubernetes`,
        retryable: true,
      };
    }
    if (pod.status?.phase === "Failed" && pod.status.reason === "Evicted")
      return {
        state: "failed",
        reason: "Evicted",
        message: `step ${step}: pod ${podName} was evicted by the kubelet: ${pod.status.message ?? "no message"}. Request more resources (memory=, disk=) so the step is not the first to go, or retry.`,
        retryable: true,
      };
    // Why the control plane ended the pod (condition DisruptionTarget, set before it deletes the pod).
    const disruption = pod.status?.conditions?.find((c) => c.type === "DisruptionTarget" && c.status === "True");
    if (disruption?.reason === "PreemptionByScheduler")
      return {
        state: "failed",
        reason: "Preempted",
        message: `step ${step}: pod ${podName} was preempted by the scheduler to make room for a higher-priority pod${disruption.message ? ` (${disruption.message})` : ""}; the step can be retried (@retry).`,
        retryable: true,
      };
    if (disruption?.reason === "EvictionByEvictionAPI" || disruption?.reason === "TerminationByKubelet")
      return {
        state: "failed",
        reason: "Evicted",
        message: `step ${step}: pod ${podName} was evicted (${disruption.reason}${disruption.message ? `: ${disruption.message}` : ""}), e.g. a node drain or the node running short of resources; the step can be retried (@retry).`,
        retryable: true,
      };
    const nodeLostEvent = podEvents(
      input,
      (e) => e.reason === "NodeNotReady" || e.reason === "TaintManagerEviction" || e.reason === "NodeLost",
    ).pop();
    // The pod GC deletes the pods of a deleted node; the taint manager those of an unreachable one.
    const nodeDisruption =
      disruption?.reason === "DeletionByPodGC" || disruption?.reason === "DeletionByTaintManager"
        ? disruption
        : undefined;
    if (nodeDisruption)
      return {
        state: "failed",
        reason: "NodeLost",
        message: `step ${step}: the node running pod ${podName}${pod.spec?.nodeName ? ` (${pod.spec.nodeName})` : ""} was lost (${nodeDisruption.message ?? nodeDisruption.reason}); the step can be retried (@retry) on another node.`,
        retryable: true,
      };
    if (pod.status?.reason === "NodeLost" || input.nodeLost || (input.podDeleted && nodeLostEvent))
      return {
        state: "failed",
        reason: "NodeLost",
        message: `step ${step}: the node running pod ${podName}${pod.spec?.nodeName ? ` (${pod.spec.nodeName})` : ""} was lost${nodeLostEvent?.message ? ` (${nodeLostEvent.message})` : pod.status?.message ? ` (${pod.status.message})` : ""}; the step can be retried (@retry) on another node.`,
        retryable: true,
      };
    if (
      input.podDeleted &&
      pod.status?.phase !== "Succeeded" &&
      !(status?.state?.terminated && status.state.terminated.exitCode === 0)
    )
      return {
        state: "failed",
        reason: "PodDeleted",
        message: `step ${step}: pod ${podName} was deleted by someone else (not kubestep) before the step finished; if that was not intended, check who deletes pods in namespace ${pod.metadata?.namespace ?? "?"} (kubectl get events), then retry.`,
        retryable: true,
      };
    if (init?.status.state?.terminated) {
      const t = init.status.state.terminated;
      return {
        state: "failed",
        reason: "Error",
        message: `step ${step} cannot start: the ${initPurpose(init.status.name, init.spec?.image ?? init.status.image)} exited with code ${t.exitCode}${t.reason && t.reason !== "Error" ? ` (${t.reason})` : ""}${t.message ? `: ${t.message.trim()}` : ""}; check that the node image has node on its PATH.`,
        retryable: false,
      };
    }
    if (status?.state?.terminated) {
      const t = status.state.terminated;
      if (t.exitCode === 0) return { state: "succeeded", reason: "Succeeded", retryable: false };
      if (t.exitCode === BOOTSTRAP_FAILURE_EXIT) {
        // The pod's bootstrap writes why to the termination log; a mismatch will not change on retry.
        const why = (t.message ?? "").trim().replace(/^kubestep bootstrap: /, "");
        // The sh wrapper of images without Node.js (kubernetes/node-injection.ts) found no node that runs here:
        // the image must change, another attempt cannot help.
        if (/^the image has no Node\.js/.test(why))
          return {
            state: "failed",
            reason: "Error",
            message: `step ${step} failed: its container exited with code ${t.exitCode}: ${why}`,
            retryable: false,
          };
        const mismatch = /hash mismatch/.test(why);
        return {
          state: "failed",
          reason: "BootstrapFailed",
          message: `step ${step} could not start its task: the pod could not ${mismatch ? "verify" : "download"} the code package${why ? ` (${why})` : ""}. ${mismatch ? "The code package stored in the datastore is damaged (its content does not match its name): delete it (the flow's code/<sha>.mjs in the datastore) so that the next run uploads it anew." : "Check that pods reach the datastore (its endpoint from inside the cluster, proxies, network policies) and that the pre-signed URL has not expired."}`,
          retryable: !mismatch,
        };
      }
      return {
        state: "failed",
        reason: "Error",
        message: `step ${step} failed: its container exited with code ${t.exitCode}${t.signal ? ` (signal ${t.signal})` : ""}${t.reason && t.reason !== "Error" ? ` (${t.reason})` : ""}${t.message ? `: ${t.message.trim()}` : ""}; see the step's logs.${t.reason === "StartError" || t.reason === "ContainerCannotRun" ? startErrorHint(t.message ?? "") : ""}`,
        retryable: true,
      };
    }
    const waiting = status?.state?.waiting;
    if (
      waiting &&
      /^(ErrImagePull|ImagePullBackOff|InvalidImageName|ErrImageNeverPull|RegistryUnavailable)$/.test(
        waiting.reason ?? "",
      )
    ) {
      const image = spec?.image ?? status?.image ?? "?";
      const pulls = podEvents(input, (e) => e.reason === "Failed" && /pull|image/i.test(e.message ?? ""));
      const kubelet =
        pulls.filter((e) => /^Failed to pull image/i.test(e.message ?? "")).pop()?.message ??
        (waiting.message && !/^Back-off pulling/i.test(waiting.message) ? waiting.message : undefined) ??
        pulls.filter((e) => !/^(Error: |Back-off)/i.test(e.message ?? "")).pop()?.message ??
        waiting.message ??
        waiting.reason!;
      const since = pulls[0] ? firstTime(pulls[0]) : (pod.status?.startTime ?? pod.metadata?.creationTimestamp);
      const grace = input.imagePullGraceSeconds ?? DEFAULT_IMAGE_PULL_GRACE_SECONDS;
      const waited = seconds(since, now);
      const permanent = waiting.reason === "InvalidImageName" || waiting.reason === "ErrImageNeverPull";
      const which = init ? `the image of the ${initPurpose(init.status.name, image)}` : `image ${image}`;
      const option =
        init?.status.name === NODE_INIT_CONTAINER
          ? "nodeImage= in @kubernetes, KUBESTEP_KUBERNETES_NODE_IMAGE or the environment's nodeImage / image"
          : "image= in @kubernetes or the environment's default";
      const message = `step ${step} cannot start: pulling ${which} failed (${waiting.reason}): ${kubelet}. Check the image name and tag (${option}), that it exists in the registry, and the image pull secrets.`;
      if (permanent || waited >= grace) return { state: "failed", reason: "ImagePull", message, retryable: false };
      return {
        state: "pending",
        reason: "ImagePull",
        message: `${message} (failing in ${Math.ceil(grace - waited)} s unless the pull succeeds)`,
        retryable: false,
      };
    }
    if (waiting?.reason === "CreateContainerConfigError") {
      const what = parseConfigError(waiting.message ?? "");
      const detail = what
        ? what.key
          ? `key ${what.key} is missing from ${what.kind} ${what.name}`
          : `${what.kind} ${what.name} does not exist`
        : (waiting.message ?? "configuration error");
      const ns = pod.metadata?.namespace ?? "?";
      const fix = what
        ? `create it in namespace ${ns} (kubectl create ${what.kind === "secret" ? "secret generic" : "configmap"} ${what.name} -n ${ns} ...) or remove it from the step's secrets`
        : "fix the step's secrets / environment";
      const since = podEvents(
        input,
        (e) => e.reason === "Failed" && /CreateContainerConfigError|not found|couldn't find key/.test(e.message ?? ""),
      )[0];
      const waited = seconds(
        since ? firstTime(since) : (pod.status?.startTime ?? pod.metadata?.creationTimestamp),
        now,
      );
      const grace = input.configErrorGraceSeconds ?? DEFAULT_CONFIG_ERROR_GRACE_SECONDS;
      const message = `step ${step} cannot start its container: ${detail} (${waiting.message ?? "CreateContainerConfigError"}); ${fix}.`;
      if (waited >= grace) return { state: "failed", reason: "CreateContainerConfigError", message, retryable: false };
      return { state: "pending", reason: "CreateContainerConfigError", message, retryable: false };
    }
    if (status?.state?.running || pod.status?.phase === "Running")
      return { state: "running", reason: "Running", retryable: false };
    if (pod.status?.phase === "Succeeded") return { state: "succeeded", reason: "Succeeded", retryable: false };
    if (pod.status?.phase === "Failed")
      return {
        state: "failed",
        reason: "Error",
        message: `step ${step} failed: pod ${podName} failed${pod.status.reason ? ` (${pod.status.reason})` : ""}${pod.status.message ? `: ${pod.status.message}` : ""}.`,
        retryable: true,
      };

    // Pending.
    const scheduled = pod.status?.conditions?.find((c) => c.type === "PodScheduled");
    if (scheduled?.status === "False" && scheduled.reason === "Unschedulable") {
      const fromEvent = podEvents(input, (e) => e.reason === "FailedScheduling").pop()?.message;
      const why = (scheduled.message || fromEvent || "no node fits the pod").trim();
      const waited = seconds(pod.metadata?.creationTimestamp, now);
      const timeout =
        input.pendingTimeoutSeconds === undefined ? DEFAULT_PENDING_TIMEOUT_SECONDS : input.pendingTimeoutSeconds;
      const res = spec?.resources?.requests ?? {};
      const asked = Object.entries(res)
        .map(([k, v]) => `${k}=${v}`)
        .join(", ");
      const message = `step ${step} cannot be scheduled: ${why}${asked ? ` (it requests ${asked})` : ""}. Lower the step's resources (@resources / @kubernetes), fix its node selector / tolerations, or add nodes that fit.`;
      if (timeout !== null && Number.isFinite(timeout) && waited >= timeout)
        return {
          state: "failed",
          reason: "Unschedulable",
          message: `${message} Gave up after ${duration(waited)} pending (KUBESTEP_KUBERNETES_PENDING_TIMEOUT).`,
          retryable: false,
        };
      return {
        state: "pending",
        reason: "Unschedulable",
        message: `${message} Pending for ${duration(waited)}${timeout !== null && Number.isFinite(timeout) ? `; failing after ${duration(timeout)}` : ""}.`,
        retryable: false,
      };
    }
    if (scheduled?.status === "True" || pod.spec?.nodeName) return explainStarting(input, pod, now, waiting?.reason);
    return {
      state: "pending",
      reason: "Submitted",
      message: `step ${step}: pod ${podName} is waiting to be scheduled`,
      retryable: false,
    };
  }

  if (input.podDeleted)
    return {
      state: "failed",
      reason: "PodDeleted",
      message: `step ${step}: its pod was deleted by someone else (not kubestep) before the step finished; check who deletes pods in the namespace, then retry.`,
      retryable: true,
    };
  if (jobFailed)
    return {
      state: "failed",
      reason: jobFailed.reason === "BackoffLimitExceeded" ? "BackoffLimitExceeded" : "Error",
      message: `step ${step} failed: Job ${job?.metadata?.name ?? "?"} failed (${jobFailed.reason ?? "Failed"}${jobFailed.message ? `: ${jobFailed.message}` : ""}).`,
      retryable: true,
    };
  // No pod yet: the Job controller may be unable to create it (e.g. a pod quota).
  const createFailed = (input.events ?? [])
    .filter((e) => e.reason === "FailedCreate")
    .sort((a, b) => eventTime(a) - eventTime(b))
    .pop();
  if (createFailed) {
    const waited = seconds(job?.metadata?.creationTimestamp, now);
    const timeout =
      input.pendingTimeoutSeconds === undefined ? DEFAULT_PENDING_TIMEOUT_SECONDS : input.pendingTimeoutSeconds;
    const quota = /exceeded quota/i.test(createFailed.message ?? "");
    const message = `step ${step}: the Job controller cannot create its pod: ${createFailed.message ?? "FailedCreate"}${quota ? ". Lower the step's resources or ask for a larger quota." : ""}`;
    if (timeout !== null && Number.isFinite(timeout) && waited >= timeout)
      return { state: "failed", reason: quota ? "QuotaExceeded" : "ApiError", message, retryable: false };
    return { state: "pending", reason: quota ? "QuotaExceeded" : "Submitted", message, retryable: false };
  }
  return {
    state: "pending",
    reason: "Submitted",
    message: `step ${step}: waiting for the Job's pod to be created`,
    retryable: false,
  };
}
