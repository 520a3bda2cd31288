/**
 * The Kubernetes executor: each attempt of a step is one batch/v1 Job (backoffLimit 0). The pod
 * downloads the code package from a pre-signed URL, runs the task, and stores artifacts in the
 * datastore itself. One watch per namespace follows every Job and pod of the run; logs stream live
 * with the `[run/step/task]` prefix; every failure is explained (see explain.ts); nothing is left
 * behind when the run is stopped.
 */
import type { KubeConfig, V1Pod, CoreV1Event } from "@kubernetes/client-node";
import { lastException, type AttemptOptions, type AttemptOutcome, type Executor } from "../executor.js";
import type { TaskSpec } from "../spec.js";
import type { Storage } from "../../datastore/storage.js";
import type { Placement } from "../../datastore/flowstore.js";
import type { ResolvedKubernetesConfig } from "../../kubernetes/config.js";
import {
  buildJob,
  jobLabelSelector,
  jobNameFor,
  CONTAINER_NAME,
  LABEL_KEYS,
  type RunContext,
} from "../../kubernetes/jobspec.js";
import { podBootstrapCommand } from "../../code/bootstrap.js";
import type { DependencyLayerRef } from "../../code/layer-install.js";
import { INJECTED_NODE } from "../../kubernetes/node-injection.js";
import { buildJobSet, jobSetNameFor, COMPLETION_INDEX_ANNOTATION } from "../../kubernetes/jobset.js";
import { createJobSet, deleteJobSet, hasJobSetApi } from "./jobset-api.js";
import { PARALLEL_ENV } from "../gang.js";
import type { KubestepVariable } from "../../variables.js";
import { kubeApis, apiErrorInfo, withApiRetry, type KubeApis } from "./client.js";
import { RunWatch, type JobSnapshot } from "./watch.js";
import { explain, explainCreateError, DEFAULT_PENDING_TIMEOUT_SECONDS, type Verdict } from "./explain.js";
import { followPodLogs } from "./logs.js";

/** Time allowed, beyond the pending timeout, for a scheduled pod to pull its image and start (seconds). */
export const CODE_URL_START_SECONDS = 30 * 60;
/** Validity of a code URL when pods may pend forever (`pendingTimeoutSeconds: null`). */
export const CODE_URL_UNBOUNDED_PENDING_SECONDS = 24 * 3600;

/**
 * Seconds the pre-signed code URL of one attempt stays valid. Each attempt signs its own URL when it submits its
 * Job, and its pod downloads the package exactly once, when its container starts (restartPolicy Never,
 * backoffLimit 0: a retry is a new attempt with a new URL). The pod starts at the latest after pending for the
 * pending timeout (the attempt fails after that) and pulling its image, so the URL need not outlive
 * `pendingTimeout + CODE_URL_START_SECONDS`; with no pending timeout, one day. Never more than the 7 days S3
 * and GCS allow.
 */
export function codeUrlSeconds(pendingTimeoutSeconds: number | null): number {
  const pending = pendingTimeoutSeconds === null ? CODE_URL_UNBOUNDED_PENDING_SECONDS : pendingTimeoutSeconds;
  return Math.min(7 * 24 * 3600, Math.max(0, pending) + CODE_URL_START_SECONDS);
}

/**
 * Environment variables forwarded from the CLI's environment to task pods: datastore roots, the S3 endpoint
 * and region, and the GCS endpoint (`KUBESTEP_GCS_ENDPOINT_URL`, or the SDK's `STORAGE_EMULATOR_HOST`).
 * Credentials are never forwarded: pods get theirs from secrets or workload identity.
 */
export const FORWARDED_ENV: ReadonlyArray<
  KubestepVariable | "AWS_REGION" | "AWS_DEFAULT_REGION" | "STORAGE_EMULATOR_HOST"
> = [
  "KUBESTEP_S3_ENDPOINT_URL",
  "AWS_REGION",
  "AWS_DEFAULT_REGION",
  "KUBESTEP_GCS_ENDPOINT_URL",
  "STORAGE_EMULATOR_HOST",
  "KUBESTEP_DATASTORE_SYSROOT_S3",
  "KUBESTEP_DATASTORE_SYSROOT_GS",
  "KUBESTEP_DATASTORE_SYSROOT_AZURE",
];

/** What the executor needs for a run. */
export interface KubernetesExecutorOptions {
  kubeConfig: KubeConfig;
  /** The datastore every pod reads and writes (never local). */
  storage: Storage;
  /** Code package sha and its datastore key. */
  codeSha: string;
  codeKey: string;
  /** The flow's dependency layer (external packages) and its datastore key, when it has external packages. */
  deps?: DependencyLayerRef;
  /** Resolved, validated configuration per step. */
  configs: Record<string, ResolvedKubernetesConfig>;
  /** Extra env for every pod (forwarded datastore settings). */
  podEnv: Record<string, string>;
  /** Seconds an unschedulable pod may pend; null = forever. */
  pendingTimeoutSeconds: number | null;
  /** Seconds image pull errors are tolerated before the step fails (`KUBESTEP_KUBERNETES_IMAGE_PULL_GRACE`). */
  imagePullGraceSeconds?: number;
  /** Progress messages (pending reasons, deletions). */
  info: (text: string) => void;
}

/** Builds a failed outcome of the current attempt. */
type Fail = (reason: string, error: string, log?: string, extra?: Partial<AttemptOutcome>) => AttemptOutcome;

/** A verdict of {@link KubernetesExecutor.monitor}: {@link explain}'s, or a timeout / abort the executor decided. */
type MonitorVerdict = Verdict & { timedOut?: boolean; aborted?: string };

/** A submitted attempt: what to watch, which pod is this node's, and how to remove what was created. */
interface Submission {
  /** The Job to watch (for a node of a JobSet: its child Job). */
  watchJob: string;
  /** This node's pod among the watched Job's pods. */
  pickPod: (snap: JobSnapshot) => V1Pod | undefined;
  /** Deletes what the attempt created. */
  cleanup: () => Promise<void>;
  /** When it was submitted (ms). */
  submittedAt: number;
  /** With a JobSet: a JobSet that has made no Job after this many ms fails the step (no controller). */
  noJobTimeoutMs?: number;
}

/** The newest pod of a Job. */
const lastPod = (snap: JobSnapshot): V1Pod | undefined => snap.pods[snap.pods.length - 1];

interface Tracked {
  namespace: string;
  /** A Job, or (kind "jobset") a JobSet. */
  jobName: string;
  kind?: "job" | "jobset";
}

export class KubernetesExecutor implements Executor {
  private apis: KubeApis | undefined;
  private readonly watches = new Map<string, Promise<RunWatch>>();
  private readonly created = new Map<string, Tracked>();
  private stopped: string | undefined;
  private readonly aborts = new Set<AbortController>();
  private jobSetApi: Promise<boolean> | undefined;

  constructor(private readonly o: KubernetesExecutorOptions) {}

  private async api(): Promise<KubeApis> {
    return (this.apis ??= await kubeApis(this.o.kubeConfig));
  }

  private watch(namespace: string, runId: string): Promise<RunWatch> {
    const key = `${namespace}\n${runId}`;
    let w = this.watches.get(key);
    if (!w) {
      w = withApiRetry(() =>
        RunWatch.start({
          kubeConfig: this.o.kubeConfig,
          namespace,
          labelSelector: jobLabelSelector({ runId }),
          onDiagnostic: (m) => this.o.info(`kubernetes watch of ${namespace}: ${m}`),
        }),
      );
      this.watches.set(key, w);
    }
    return w;
  }

  /**
   * Runs one attempt as a Job (or, for `@parallel` with the JobSet API, as a node of a JobSet): submits it,
   * follows it to a verdict, then cleans up and turns the verdict into the attempt's outcome.
   */
  async runAttempt(spec: TaskSpec, a: AttemptOptions): Promise<AttemptOutcome> {
    const config = this.o.configs[spec.step];
    if (!config) throw new Error(`step ${spec.step} has no Kubernetes configuration`);
    const { namespace } = config;
    const where = (job: string) => `kubernetes job ${namespace}/${job}`;
    const jobName = jobNameFor({
      flowName: spec.flowName,
      runId: spec.runId,
      stepName: spec.step,
      taskId: spec.taskId,
      attempt: spec.attempt,
    });
    const fail: Fail = (reason, error, log = "", extra = {}) => ({
      ok: false,
      reason,
      error,
      log,
      where: where(jobName),
      ...extra,
    });
    if (this.stopped) return fail("killed", `step ${spec.step}: stopped (${this.stopped})`);

    const watch = await this.watch(namespace, spec.runId);
    const submission = await this.submit(spec, a, config, jobName, watch, fail);
    if ("ok" in submission) return submission;
    const { verdict, logs, abort } = await this.monitor(spec, a, namespace, watch, submission);

    const terminal =
      verdict.state === "succeeded" ||
      (verdict.state === "failed" &&
        !verdict.timedOut &&
        !verdict.aborted &&
        verdict.reason !== "Unschedulable" &&
        verdict.reason !== "ImagePull" &&
        verdict.reason !== "CreateContainerConfigError" &&
        verdict.reason !== "ContainerCreating");
    let logText = "";
    if (logs) {
      // The container ended: the follower drains the last lines (also after an OOM kill).
      if (!terminal) abort.abort("stopped");
      logText = (await logs).text;
    }
    this.aborts.delete(abort);
    // Failures the pod cannot recover from, and any failed node of a gang, leave nothing behind
    // (logs are archived); finished Jobs otherwise expire by ttlSecondsAfterFinished.
    if (!terminal || (spec.parallel && verdict.state !== "succeeded")) await submission.cleanup();
    this.created.delete(jobName);
    if (verdict.state === "succeeded") return { ok: true, exitCode: 0, log: logText, where: where(jobName) };
    const exitCode =
      verdict.timedOut || verdict.aborted
        ? null
        : lastExitCode(submission.pickPod(watch.snapshot(submission.watchJob)));
    if (verdict.aborted) return fail("killed", verdict.aborted, logText, { exitCode: null });
    if (verdict.timedOut) return fail("timeout", verdict.message!, logText, { exitCode: null, retryable: true });
    const exc = verdict.reason === "Error" ? lastException(logText.split("\n").slice(-40)) : undefined;
    return fail(
      reasonOf(verdict),
      exc ? `step ${spec.step}: ${exc}` : (verdict.message ?? `step ${spec.step}: the Job failed`),
      logText,
      { exitCode, retryable: verdict.retryable },
    );
  }

  /**
   * Submits an attempt: a Job, or for `@parallel` with the JobSet API (jobset.x-k8s.io/v1alpha2) the gang's
   * JobSet (created by the control node; every node then watches its own child Job). Without JobSet the gang
   * is a control Job and worker Jobs, whose workers first wait for the control pod's IP.
   * @returns what to monitor, or the failed outcome when the submission was refused.
   */
  private async submit(
    spec: TaskSpec,
    a: AttemptOptions,
    config: ResolvedKubernetesConfig,
    jobName: string,
    watch: RunWatch,
    fail: Fail,
  ): Promise<Submission | AttemptOutcome> {
    const { namespace } = config;
    const { batch } = await this.api();
    const urlSeconds = codeUrlSeconds(this.o.pendingTimeoutSeconds);
    const codeUrl = await this.o.storage.presignGet(this.o.codeKey, urlSeconds);
    const deps = this.o.deps;
    const depsUrl = deps ? await this.o.storage.presignGet(deps.key, urlSeconds) : undefined;
    let taskSpec: TaskSpec = { ...spec, kubernetes: true };
    const podEnv = () => ({
      ...this.o.podEnv,
      ...a.env,
      KUBESTEP_TASK_SPEC: JSON.stringify(taskSpec),
      KUBESTEP_CODE_URL: codeUrl,
      KUBESTEP_CODE_SHA: this.o.codeSha,
      ...(deps ? { KUBESTEP_DEPS: JSON.stringify(deps.layer), KUBESTEP_DEPS_URL: depsUrl! } : {}),
    });
    // What the pods of the attempt run, for its Job or JobSet; built when needed (a worker first learns the
    // control's IP).
    const runContext = (): RunContext => ({
      flowName: spec.flowName,
      runId: spec.runId,
      stepName: spec.step,
      taskId: spec.taskId,
      attempt: spec.attempt,
      user: spec.user,
      // With Node.js brought into the pod, a `sh` wrapper picks the image's node or the copy.
      command: podBootstrapCommand(config.injectNode ? { injectedNode: INJECTED_NODE } : {}),
      env: podEnv(),
      ...(a.timeoutSeconds ? { timeoutSeconds: a.timeoutSeconds } : {}),
    });
    // A create the apiserver refuses fails the attempt, explained.
    const refused = (e: unknown): AttemptOutcome => {
      const v = explainCreateError(e, spec.step);
      return fail(v.reason ?? "ApiError", v.message ?? apiErrorInfo(e).message, "", { retryable: v.retryable });
    };
    const useJobSet =
      !!spec.parallel && (await (this.jobSetApi ??= hasJobSetApi(this.o.kubeConfig).catch(() => false)));
    if (useJobSet) {
      const par = spec.parallel!;
      const jsName = jobSetNameFor(
        { flowName: spec.flowName, runId: spec.runId, stepName: spec.step, attempt: spec.attempt },
        par.controlTaskId,
      );
      if (par.nodeIndex === 0) {
        const body = buildJobSet(config, runContext(), {
          numNodes: par.numNodes,
          controlTaskId: par.controlTaskId,
          workerTaskIds: (par.taskIds ?? []).slice(1),
        });
        try {
          await withApiRetry(() => createJobSet(this.o.kubeConfig, namespace, body));
          this.o.info(`${a.prefix} created JobSet ${namespace}/${jsName} (${par.numNodes} nodes)`);
        } catch (e) {
          // This attempt's JobSet exists (names are deterministic): the run is being continued; re-attach to it.
          if (apiErrorInfo(e).code !== 409) return refused(e);
          this.o.info(`${a.prefix} re-attached to the existing JobSet ${namespace}/${jsName}`);
        }
        this.created.set(jsName, { namespace, jobName: jsName, kind: "jobset" });
      }
      return {
        watchJob: `${jsName}-${par.nodeIndex === 0 ? "control" : "worker"}-0`,
        pickPod:
          par.nodeIndex > 0
            ? (snap) =>
                snap.pods
                  .filter((p) => p.metadata?.annotations?.[COMPLETION_INDEX_ANNOTATION] === String(par.nodeIndex - 1))
                  .pop()
            : lastPod,
        cleanup: () => deleteJobSet(this.o.kubeConfig, namespace, jsName).catch(() => undefined),
        submittedAt: Date.now(),
        // A JobSet whose controller never makes its Jobs must not hang the run.
        noJobTimeoutMs: (this.o.pendingTimeoutSeconds ?? DEFAULT_PENDING_TIMEOUT_SECONDS) * 1000,
      };
    }
    if (spec.parallel && spec.parallel.nodeIndex > 0 && !watch.snapshot(jobName).job) {
      // Without JobSet (and without cluster DNS) workers learn the control pod's IP from the watch (a worker
      // whose Job already exists is re-attached as it is).
      const controlJob = jobNameFor({
        flowName: spec.flowName,
        runId: spec.runId,
        stepName: spec.step,
        taskId: spec.parallel.controlTaskId,
        attempt: spec.attempt,
      });
      const ip = await waitForPodIp(watch, controlJob, config.hostnameResolutionTimeout * 1000, a.signal);
      if (!ip.ok) return fail(ip.reason, `step ${spec.step}: ${ip.message}`);
      taskSpec = { ...taskSpec, parallel: { ...spec.parallel, mainIp: ip.ip } };
    }
    const job = buildJob(config, { ...runContext(), jobName });
    if (spec.parallel && spec.parallel.nodeIndex === 0) {
      // The control node's address is its own pod IP.
      job.spec!.template.spec!.containers[0]!.env!.push({
        name: PARALLEL_ENV.mainIp,
        valueFrom: { fieldRef: { fieldPath: "status.podIP" } },
      });
    }
    try {
      await withApiRetry(() => batch.createNamespacedJob({ namespace, body: job }));
    } catch (e) {
      if (apiErrorInfo(e).code !== 409) return refused(e);
      // This very attempt's Job exists (names are deterministic): a restarted deployed-run orchestrator
      // re-attaches to it. A Job of that name that is not this attempt's (its labels differ) is a collision.
      // (Listed by name: the submitter may list and watch Jobs, not get them.)
      const existing = (
        await batch
          .listNamespacedJob({ namespace, fieldSelector: `metadata.name=${jobName}` })
          .catch(() => ({ items: [] }))
      ).items[0];
      if (!existing || !sameAttempt(existing.metadata?.labels, job.metadata?.labels)) return refused(e);
      this.o.info(`${a.prefix} re-attached to the existing Job ${namespace}/${jobName}`);
    }
    this.created.set(jobName, { namespace, jobName });
    return {
      watchJob: jobName,
      pickPod: lastPod,
      cleanup: () => this.deleteJob(namespace, jobName),
      submittedAt: Date.now(),
    };
  }

  /**
   * Follows a submitted attempt to its verdict ({@link explain} over the watch's snapshots, events fetched
   * while pending, a clock for the time-based verdicts): starts following the pod's logs once its container
   * runs, reports progress while it pends, and ends on success, failure, `@timeout` or abort.
   */
  private async monitor(
    spec: TaskSpec,
    a: AttemptOptions,
    namespace: string,
    watch: RunWatch,
    submission: Submission,
  ): Promise<{ verdict: MonitorVerdict; logs: Promise<{ text: string }> | undefined; abort: AbortController }> {
    const { core } = await this.api();
    const { watchJob, pickPod, submittedAt, noJobTimeoutMs } = submission;
    const abort = new AbortController();
    this.aborts.add(abort);
    const onAbort = () => abort.abort(a.signal?.reason ?? "stopped");
    a.signal?.addEventListener("abort", onAbort, { once: true });
    let logs: Promise<{ text: string }> | undefined;
    let events: CoreV1Event[] = [];
    let lastEventsFetch = 0;
    let lastProgress = "";
    let lastProgressAt = 0;
    let runningSince: number | undefined;
    let placed = "";

    const verdict = await new Promise<MonitorVerdict>((resolve) => {
      let done = false;
      // The watch may call back at once (the Job already finished): finish then runs before these are set.
      let timer: NodeJS.Timeout | undefined;
      let unsubscribe: (() => void) | undefined;
      const finish = (v: MonitorVerdict) => {
        if (done) return;
        done = true;
        clearInterval(timer);
        unsubscribe?.();
        resolve(v);
      };
      const evaluate = (snap: JobSnapshot) => {
        if (done) return;
        if (noJobTimeoutMs !== undefined && !snap.job && Date.now() - submittedAt > noJobTimeoutMs)
          return finish({
            state: "failed",
            reason: "Unschedulable",
            retryable: false,
            message: `step ${spec.step}: the JobSet for this @parallel step was created but no Job of it (${watchJob}) appeared within ${Math.round(noJobTimeoutMs / 1000)} s; the cluster serves the jobset.x-k8s.io API but its controller is not running. Install the JobSet controller, or remove the JobSet CRD so kubestep runs the gang as plain Jobs`,
          });
        const pod: V1Pod | undefined = pickPod(snap);
        const podName = pod?.metadata?.name;
        const podDeleted = !!podName && snap.deletedPods.includes(podName);
        if (pod && podName) {
          const p = placementOf(namespace, watchJob, pod);
          const key = `${p.pod}|${p.node ?? ""}`;
          if (key !== placed) {
            placed = key;
            a.onPlacement?.(p);
          }
        }
        const v = explain({
          step: spec.step,
          ...(snap.job ? { job: snap.job } : {}),
          ...(pod ? { pod } : {}),
          events,
          pendingTimeoutSeconds: this.o.pendingTimeoutSeconds,
          ...(this.o.imagePullGraceSeconds !== undefined
            ? {
                imagePullGraceSeconds: this.o.imagePullGraceSeconds,
                configErrorGraceSeconds: Math.min(30, this.o.imagePullGraceSeconds),
              }
            : {}),
          podDeleted: podDeleted || (snap.jobDeleted && !pod),
          containerName: CONTAINER_NAME,
        });
        if (pod && !logs && containerStarted(pod)) {
          runningSince = Date.now();
          logs = followPodLogs({
            kubeConfig: this.o.kubeConfig,
            namespace,
            pod: podName!,
            container: CONTAINER_NAME,
            prefix: a.prefix,
            signal: abort.signal,
            onLine: (line) => a.onLine(`${a.prefix} ${line}`, "stdout"),
          }).catch((e: Error) => ({ text: `(logs unavailable: ${e.message})\n` }));
        }
        if (v.state === "succeeded" || v.state === "failed") return finish(v);
        // Progress while pending: when the reason changes, and every 30 s while it stays.
        const gist = (v.message ?? "").replace(/\d+ s\b/g, "N s");
        if (v.message && v.state === "pending" && (gist !== lastProgress || Date.now() - lastProgressAt > 30_000)) {
          lastProgress = gist;
          lastProgressAt = Date.now();
          this.o.info(`${a.prefix} ${v.message}`);
        }
        // The scheduler's and kubelet's reasons arrive as events: fetch them while pending.
        if (pod && v.state === "pending" && Date.now() - lastEventsFetch > 3000) {
          lastEventsFetch = Date.now();
          core
            .listNamespacedEvent({ namespace, fieldSelector: `involvedObject.name=${podName}` })
            .then((l) => {
              events = l.items;
              evaluate(watch.snapshot(watchJob));
            })
            .catch(() => undefined);
        }
      };
      const off = watch.subscribe(watchJob, (e) => evaluate(e.snapshot));
      if (done) {
        off();
        return;
      }
      unsubscribe = off;
      // Time-based verdicts (pending timeout, image-pull grace, @timeout) need a clock, not only events.
      timer = setInterval(() => {
        if (a.timeoutSeconds && runningSince && Date.now() - runningSince > a.timeoutSeconds * 1000)
          return finish({
            state: "failed",
            reason: "DeadlineExceeded",
            message: `step ${spec.step}: timed out after ${a.timeoutSeconds} s (@timeout); the Job was deleted`,
            retryable: true,
            timedOut: true,
          });
        evaluate(watch.snapshot(watchJob));
      }, 1000);
      abort.signal.addEventListener(
        "abort",
        () =>
          finish({
            state: "failed",
            reason: "Error",
            message: String(abort.signal.reason ?? "stopped"),
            retryable: false,
            aborted: String(abort.signal.reason),
          }),
        { once: true },
      );
      evaluate(watch.snapshot(watchJob));
    });
    a.signal?.removeEventListener("abort", onAbort);
    return { verdict, logs, abort };
  }

  /** Deletes a Job and its pods now (foreground), ignoring "not found". */
  private async deleteJob(namespace: string, name: string): Promise<void> {
    const { batch, core } = await this.api();
    await batch
      .deleteNamespacedJob({ namespace, name, propagationPolicy: "Background", gracePeriodSeconds: 0 })
      .catch(() => undefined);
    await core
      .deleteCollectionNamespacedPod({ namespace, labelSelector: `job-name=${name}`, gracePeriodSeconds: 0 })
      .catch(() => undefined);
  }

  async discard(spec: TaskSpec): Promise<void> {
    const config = this.o.configs[spec.step];
    if (!config) return;
    await this.deleteJob(
      config.namespace,
      jobNameFor({
        flowName: spec.flowName,
        runId: spec.runId,
        stepName: spec.step,
        taskId: spec.taskId,
        attempt: spec.attempt,
      }),
    );
    if (spec.parallel)
      await deleteJobSet(
        this.o.kubeConfig,
        config.namespace,
        jobSetNameFor(
          { flowName: spec.flowName, runId: spec.runId, stepName: spec.step, attempt: spec.attempt },
          spec.parallel.controlTaskId,
        ),
      ).catch(() => undefined);
  }

  async stopAll(reason: string): Promise<void> {
    this.stopped = reason;
    for (const a of this.aborts) a.abort(reason);
    const jobs = [...this.created.values()];
    if (jobs.length) this.o.info(`deleting ${jobs.length} Kubernetes job(s) of the run...`);
    await Promise.all(
      jobs.map((j) =>
        j.kind === "jobset"
          ? deleteJobSet(this.o.kubeConfig, j.namespace, j.jobName).catch(() => undefined)
          : this.deleteJob(j.namespace, j.jobName),
      ),
    );
  }

  async close(): Promise<void> {
    const ws = [...this.watches.values()];
    this.watches.clear();
    await Promise.all(ws.map(async (w) => (await w.catch(() => undefined))?.close()));
  }
}

/** Where a pod of an attempt runs: its Job (from the pod's job-name label), name and node. */
export function placementOf(namespace: string, job: string, pod: V1Pod): Placement {
  const node = pod.spec?.nodeName;
  return {
    namespace,
    job: pod.metadata?.labels?.["job-name"] ?? job,
    pod: pod.metadata?.name ?? "",
    ...(node ? { node } : {}),
  };
}

/** Waits for the newest pod of a Job to have an IP; fails on timeout, abort, or the Job failing first. */
async function waitForPodIp(
  watch: RunWatch,
  jobName: string,
  timeoutMs: number,
  signal: AbortSignal | undefined,
): Promise<{ ok: true; ip: string } | { ok: false; reason: string; message: string }> {
  const ipOf = (snap: JobSnapshot) => snap.pods[snap.pods.length - 1]?.status?.podIP;
  return new Promise((resolve) => {
    let settled = false;
    const done = (r: { ok: true; ip: string } | { ok: false; reason: string; message: string }) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      unsubscribe();
      signal?.removeEventListener("abort", onAbort);
      resolve(r);
    };
    const check = (snap: JobSnapshot) => {
      const ip = ipOf(snap);
      if (ip) return done({ ok: true, ip });
      if (snap.job?.status?.failed)
        done({
          ok: false,
          reason: "killed",
          message: `the control node's Job ${jobName} failed before it had an address`,
        });
    };
    const onAbort = () => done({ ok: false, reason: "killed", message: String(signal?.reason ?? "stopped") });
    const unsubscribe = watch.subscribe(jobName, (e) => check(e.snapshot));
    const timer = setTimeout(
      () =>
        done({
          ok: false,
          reason: "timeout",
          message: `the control node (Job ${jobName}) had no address after ${Math.round(timeoutMs / 1000)} s (hostnameResolutionTimeout)`,
        }),
      timeoutMs,
    );
    if (signal?.aborted) onAbort();
    else signal?.addEventListener("abort", onAbort, { once: true });
    check(watch.snapshot(jobName));
  });
}

/**
 * Whether the pod's container has started (so it has a log to follow): by its phase, or by a container
 * state, since a container that starts and ends between two status updates can be reported terminated
 * while the pod's phase still says Pending.
 */
function containerStarted(pod: V1Pod): boolean {
  const phase = pod.status?.phase;
  if (phase === "Running" || phase === "Succeeded" || phase === "Failed") return true;
  return !!pod.status?.containerStatuses?.some(
    (c) => c.state?.running || c.state?.terminated || c.lastState?.terminated,
  );
}

/** Whether two Jobs' labels name the same attempt (flow, run, step, task, attempt). */
function sameAttempt(a: Record<string, string> | undefined, b: Record<string, string> | undefined): boolean {
  const keys = [LABEL_KEYS.flow, LABEL_KEYS.run, LABEL_KEYS.step, LABEL_KEYS.task, LABEL_KEYS.attempt];
  return keys.every((k) => a?.[k] !== undefined && a[k] === b?.[k]);
}

function lastExitCode(pod: V1Pod | undefined): number | null {
  const st =
    pod?.status?.containerStatuses?.find((c) => c.name === CONTAINER_NAME) ?? pod?.status?.containerStatuses?.[0];
  return st?.state?.terminated?.exitCode ?? null;
}

function reasonOf(v: Verdict): string {
  switch (v.reason) {
    case "OOMKilled":
      return "oom";
    case "DeadlineExceeded":
      return "timeout";
    case "Unschedulable":
      return "unschedulable";
    case "ImagePull":
      return "image";
    case "CreateContainerConfigError":
      return "config";
    case "Evicted":
      return "evicted";
    case "PodDeleted":
      return "deleted";
    case "NodeLost":
      return "node-lost";
    case "Preempted":
      return "preempted";
    case "ContainerCreating":
      return "container-creating";
    case "BootstrapFailed":
      return "bootstrap";
    case "Error":
      return "exception";
    default:
      return v.reason ? v.reason.toLowerCase() : "exception";
  }
}
