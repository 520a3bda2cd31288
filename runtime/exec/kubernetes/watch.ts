/**
 * ONE watch over a run's Jobs and Pods (by label selector, e.g. `kubestep.io/run=<sanitized run id>`),
 * shared by every step of the run — not a poll per Job. It lists, then watches from the list's
 * resourceVersion; when a watch ends (server timeout, disconnect, client inactivity timeout) it resumes
 * from the last resourceVersion it saw; on 410 Gone (history compacted) it relists and reports every
 * difference (changed and vanished objects) so no completion is missed.
 *
 * Subscribers are keyed by Job name; pods are attributed to their Job by owner reference (or the
 * `job-name` label the Job controller sets).
 */
import type { KubeConfig, V1Job, V1Pod } from "@kubernetes/client-node";
import { apiErrorInfo, k8s } from "./client.js";

/** What a subscriber sees for one Job: the Job and its pods, as last seen. */
export interface JobSnapshot {
  /** Job name. */
  name: string;
  /** The Job, or undefined before it is seen or after it was deleted. */
  job: V1Job | undefined;
  /** Whether the Job was deleted (seen DELETED, or gone on relist). */
  jobDeleted: boolean;
  /** Its pods, oldest first (by creation time), including deleted ones (see `deletedPods`). */
  pods: V1Pod[];
  /** Names of pods that were deleted (their last state is still in `pods`). */
  deletedPods: string[];
}

/** One change the watch saw. */
export interface RunWatchEvent {
  /** What happened to the object. */
  type: "ADDED" | "MODIFIED" | "DELETED";
  /** Which kind of object changed. */
  kind: "Job" | "Pod";
  /** The object's name. */
  name: string;
  /** The Job it belongs to. */
  jobName: string;
  /** The Job's state after the change. */
  snapshot: JobSnapshot;
}

/** Receives the changes of one Job (or of all Jobs). */
export type RunWatchListener = (event: RunWatchEvent) => void;

/** Options of {@link RunWatch.start}. */
export interface RunWatchOptions {
  /** Client configuration. */
  kubeConfig: KubeConfig;
  /** Namespace of the run's Jobs. */
  namespace: string;
  /** Label selector of the run's Jobs and pods, e.g. `kubestep.io/run=42`. */
  labelSelector: string;
  /** Called on watch problems it recovers from (reconnects, relists), for diagnostics. */
  onDiagnostic?: (message: string) => void;
  /** Delay before reconnecting after an error, doubled up to 30 s; default 500 ms. */
  reconnectDelayMs?: number;
}

interface Obj {
  metadata?: {
    name?: string;
    resourceVersion?: string;
    creationTimestamp?: Date | string;
    labels?: Record<string, string>;
    ownerReferences?: Array<{ kind: string; name: string }>;
  };
}

/** Per-resource list+watch loop. */
class Stream<T extends Obj> {
  rv = "";
  readonly objects = new Map<string, T>();
  controller: AbortController | undefined;
  connects = 0;
  relists = 0;
  /** Watches the API server ended with 410 Gone (resourceVersion too old). */
  gone = 0;
  constructor(
    readonly kind: "Job" | "Pod",
    readonly path: string,
    readonly list: () => Promise<{ items: T[]; metadata?: { resourceVersion?: string } }>,
  ) {}
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class RunWatch {
  private readonly jobs: Stream<V1Job>;
  private readonly pods: Stream<V1Pod>;
  private readonly deletedJobs = new Set<string>();
  private readonly deletedPods = new Map<string, V1Pod>();
  private readonly listeners = new Map<string, Set<RunWatchListener>>();
  private readonly all = new Set<RunWatchListener>();
  private closed = false;
  private readonly closeWaiters = new Set<() => void>();
  private readonly loops: Promise<void>[] = [];

  private constructor(
    private readonly options: RunWatchOptions,
    private readonly watch: import("@kubernetes/client-node").Watch,
    core: import("@kubernetes/client-node").CoreV1Api,
    batch: import("@kubernetes/client-node").BatchV1Api,
  ) {
    const { namespace, labelSelector } = options;
    this.jobs = new Stream<V1Job>("Job", `/apis/batch/v1/namespaces/${namespace}/jobs`, () =>
      batch.listNamespacedJob({ namespace, labelSelector }),
    );
    this.pods = new Stream<V1Pod>("Pod", `/api/v1/namespaces/${namespace}/pods`, () =>
      core.listNamespacedPod({ namespace, labelSelector }),
    );
  }

  /**
   * Lists the run's Jobs and pods and starts watching them. Resolves once both initial lists are in
   * (so {@link snapshot} is current); rejects if a first list fails (e.g. no permission).
   */
  static async start(options: RunWatchOptions): Promise<RunWatch> {
    const k = await k8s();
    const w = new RunWatch(
      options,
      new k.Watch(options.kubeConfig),
      options.kubeConfig.makeApiClient(k.CoreV1Api),
      options.kubeConfig.makeApiClient(k.BatchV1Api),
    );
    await Promise.all([w.relist(w.jobs), w.relist(w.pods)]);
    w.loops.push(w.loop(w.jobs), w.loop(w.pods));
    return w;
  }

  /** How many watch connections and relists each stream made (diagnostics and tests). */
  get stats(): {
    jobConnects: number;
    podConnects: number;
    jobRelists: number;
    podRelists: number;
    jobGone: number;
    podGone: number;
  } {
    return {
      jobConnects: this.jobs.connects,
      podConnects: this.pods.connects,
      jobRelists: this.jobs.relists,
      podRelists: this.pods.relists,
      jobGone: this.jobs.gone,
      podGone: this.pods.gone,
    };
  }

  /**
   * Subscribes to one Job's changes (its own and its pods'). The listener is called at once with the
   * current snapshot when the Job or a pod of it is already known (type ADDED). Returns an unsubscribe function.
   */
  subscribe(jobName: string, listener: RunWatchListener): () => void {
    let set = this.listeners.get(jobName);
    if (!set) this.listeners.set(jobName, (set = new Set()));
    set.add(listener);
    const snap = this.snapshot(jobName);
    if (snap.job || snap.pods.length)
      listener({
        type: "ADDED",
        kind: snap.job ? "Job" : "Pod",
        name: snap.job ? jobName : snap.pods.at(-1)!.metadata!.name!,
        jobName,
        snapshot: snap,
      });
    return () => set!.delete(listener);
  }

  /** Subscribes to every change of the run. Returns an unsubscribe function. */
  subscribeAll(listener: RunWatchListener): () => void {
    this.all.add(listener);
    return () => this.all.delete(listener);
  }

  /**
   * Resolves with the first snapshot of `jobName` for which `predicate` holds (checked now and on every
   * change); rejects after `timeoutMs` or when the watch is closed.
   */
  waitFor(jobName: string, predicate: (s: JobSnapshot) => boolean, timeoutMs = 10 * 60_000): Promise<JobSnapshot> {
    return new Promise((resolve, reject) => {
      const now = this.snapshot(jobName);
      if (predicate(now)) return resolve(now);
      const finish = (err: Error | undefined, snap?: JobSnapshot): void => {
        clearTimeout(timer);
        this.closeWaiters.delete(onClose);
        unsub();
        if (err) reject(err);
        else resolve(snap!);
      };
      const onClose = (): void => finish(new Error(`the watch was closed while waiting for Job ${jobName}`));
      const timer = setTimeout(
        () => finish(new Error(`timed out after ${timeoutMs} ms waiting for Job ${jobName}`)),
        timeoutMs,
      );
      this.closeWaiters.add(onClose);
      const unsub = this.subscribe(jobName, (e) => {
        if (predicate(e.snapshot)) finish(undefined, e.snapshot);
      });
    });
  }

  /** The current state of a Job and its pods. */
  snapshot(jobName: string): JobSnapshot {
    const pods = [...this.pods.objects.values(), ...this.deletedPods.values()]
      .filter((p) => jobOfPod(p) === jobName)
      .sort((a, b) => time(a) - time(b));
    return {
      name: jobName,
      job: this.jobs.objects.get(jobName),
      jobDeleted: this.deletedJobs.has(jobName),
      pods,
      deletedPods: [...this.deletedPods.values()].filter((p) => jobOfPod(p) === jobName).map((p) => p.metadata!.name!),
    };
  }

  /** Names of every Job currently known. */
  jobNames(): string[] {
    return [...this.jobs.objects.keys()];
  }

  /**
   * Aborts the current watch connections as a network failure would (they reconnect by themselves).
   * For tests and for callers that know the connection is stale.
   */
  dropConnections(): void {
    this.jobs.controller?.abort();
    this.pods.controller?.abort();
  }

  /** Forgets the resourceVersions so the next reconnect relists (as after a 410 Gone). For tests. */
  expireResourceVersions(): void {
    this.jobs.rv = "";
    this.pods.rv = "";
  }

  /**
   * Makes the next reconnect watch from `resourceVersion` instead of the last one seen. With a version
   * older than the API server's history (e.g. "1") the server answers 410 Gone, and the watch relists:
   * the real 410 path. For tests.
   */
  rewindResourceVersions(resourceVersion: string): void {
    this.jobs.rv = resourceVersion;
    this.pods.rv = resourceVersion;
  }

  /** Stops watching. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const w of [...this.closeWaiters]) w();
    this.dropConnections();
    await Promise.allSettled(this.loops);
  }

  private emit(stream: Stream<V1Job> | Stream<V1Pod>, type: RunWatchEvent["type"], obj: V1Job | V1Pod): void {
    const name = obj.metadata?.name ?? "";
    const jobName = stream.kind === "Job" ? name : jobOfPod(obj as V1Pod);
    if (!jobName) return;
    const event: RunWatchEvent = { type, kind: stream.kind, name, jobName, snapshot: this.snapshot(jobName) };
    for (const l of [...(this.listeners.get(jobName) ?? []), ...this.all]) {
      try {
        l(event);
      } catch (e) {
        this.options.onDiagnostic?.(`a watch listener threw: ${(e as Error).message}`);
      }
    }
  }

  private apply(stream: Stream<V1Job> | Stream<V1Pod>, type: string, obj: V1Job | V1Pod): void {
    const name = obj.metadata?.name;
    if (!name) return;
    const objects = stream.objects as Map<string, V1Job | V1Pod>;
    const prev = objects.get(name);
    if (type === "DELETED") {
      objects.delete(name);
      if (stream.kind === "Job") this.deletedJobs.add(name);
      else this.deletedPods.set(name, obj as V1Pod);
      this.emit(stream, "DELETED", obj);
      return;
    }
    if (prev?.metadata?.resourceVersion === obj.metadata?.resourceVersion) return;
    objects.set(name, obj);
    if (stream.kind === "Job") this.deletedJobs.delete(name);
    else this.deletedPods.delete(name);
    this.emit(stream, prev ? "MODIFIED" : "ADDED", obj);
  }

  private async relist(stream: Stream<V1Job> | Stream<V1Pod>): Promise<void> {
    stream.relists++;
    const list = await stream.list();
    const seen = new Set<string>();
    for (const o of list.items as Array<V1Job | V1Pod>) {
      seen.add(o.metadata?.name ?? "");
      this.apply(stream, "MODIFIED", o);
    }
    for (const [name, o] of [...(stream.objects as Map<string, V1Job | V1Pod>)])
      if (!seen.has(name)) this.apply(stream, "DELETED", o);
    stream.rv = list.metadata?.resourceVersion ?? "";
  }

  private async loop(stream: Stream<V1Job> | Stream<V1Pod>): Promise<void> {
    const base = this.options.reconnectDelayMs ?? 500;
    let delay = 0;
    while (!this.closed) {
      if (delay) await sleep(delay);
      if (this.closed) break;
      try {
        if (!stream.rv) await this.relist(stream);
        const err = await this.watchOnce(stream);
        if (this.closed) break;
        const info = err ? apiErrorInfo(err) : undefined;
        if (info?.code === 410) {
          stream.gone++;
          this.options.onDiagnostic?.(`${stream.kind} watch: resourceVersion expired (410 Gone); relisting`);
          stream.rv = "";
          delay = 0;
        } else if (err && (err as Error).name !== "TimeoutError" && (err as Error).name !== "AbortError") {
          this.options.onDiagnostic?.(`${stream.kind} watch ended: ${info?.message ?? String(err)}; reconnecting`);
          delay = Math.min(delay ? delay * 2 : base, 30_000);
        } else delay = 0;
      } catch (e) {
        if (this.closed) break;
        this.options.onDiagnostic?.(`${stream.kind} list failed: ${apiErrorInfo(e).message}; retrying`);
        delay = Math.min(delay ? delay * 2 : base, 30_000);
      }
    }
  }

  /** One watch connection from `stream.rv`; resolves with the error that ended it (null for a clean end). */
  private watchOnce(stream: Stream<V1Job> | Stream<V1Pod>): Promise<unknown> {
    return new Promise<unknown>((resolve) => {
      let gone = false;
      stream.connects++;
      this.watch
        .watch(
          stream.path,
          { labelSelector: this.options.labelSelector, resourceVersion: stream.rv, allowWatchBookmarks: true },
          (type: string, obj: V1Job | (V1Pod & { code?: number })) => {
            if (type === "ERROR") {
              if ((obj as { code?: number }).code === 410) gone = true;
              return;
            }
            if (obj?.metadata?.resourceVersion) stream.rv = obj.metadata.resourceVersion;
            if (type === "BOOKMARK") return;
            this.apply(stream, type, obj);
          },
          (err: unknown) => resolve(gone ? { statusCode: 410 } : err),
        )
        .then(
          (c) => {
            stream.controller = c;
            if (this.closed) c.abort();
          },
          (e: unknown) => resolve(e),
        );
    });
  }
}

/** The Job a pod belongs to: its Job owner reference, else the `job-name` label. */
export function jobOfPod(pod: V1Pod): string {
  return pod.metadata?.ownerReferences?.find((o) => o.kind === "Job")?.name ?? pod.metadata?.labels?.["job-name"] ?? "";
}

function time(o: Obj): number {
  const t = o.metadata?.creationTimestamp;
  return t ? new Date(t).getTime() : 0;
}
