/**
 * The client API: read past runs, their steps, tasks, artifacts and logs from the datastore.
 *
 * ```ts
 * const run = new Flow("HelloFlow").latestRun;
 * run?.successful; run?.step("join").task.data.total;
 * ```
 * Reads are synchronous and lazy (artifacts load on first access). `new Flow(name)` reads the local datastore
 * (`KUBESTEP_DATASTORE_SYSROOT_LOCAL`, default `.kubestep` in the working directory, or `namespaceRoot()`).
 * For S3, GCS or Azure, `await Flow.connect(name, { datastore: "s3" })` takes a snapshot of the flow's metadata;
 * artifacts then load with `await task.fetch()` (or `await run.fetch()`) before `task.data` is read.
 */
import { readVariable } from "../variables.js";
import { readdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { LocalStorage } from "../datastore/local.js";
import {
  FlowDatastore,
  LAYOUT,
  parseRunsKey,
  type AttemptMeta,
  type RunMeta,
  type TaskMeta,
} from "../datastore/flowstore.js";
import { ArtifactStore, artifactView } from "../artifacts/store.js";
import type { DatastoreKind } from "../environment.js";
import type { Storage } from "../datastore/storage.js";

/** Where the client reads metadata from, synchronously. */
interface ClientSource {
  runIds(): string[];
  stepNames(runId: string): string[];
  taskIds(runId: string, step: string): string[];
  run(runId: string): RunMeta | undefined;
  task(runId: string, step: string, taskId: string): TaskMeta | undefined;
  log(runId: string, step: string, taskId: string, attempt: number): string | undefined;
}

function localSource(ds: FlowDatastore, dir: string): ClientSource {
  return {
    runIds: () => children(join(dir, LAYOUT.runs)).sort(),
    stepNames: (runId) => children(join(dir, LAYOUT.runs, runId)).filter((n) => n !== LAYOUT.run),
    taskIds: (runId, step) => children(join(dir, LAYOUT.runs, runId, step)).sort((a, b) => Number(a) - Number(b)),
    run: (runId) => ds.readRunSync(runId),
    task: (runId, step, taskId) => ds.readTaskSync(runId, step, taskId),
    log: (runId, step, taskId, attempt) =>
      ds.storage.getSync?.(ds.logKey(runId, step, taskId, attempt))?.toString("utf8"),
  };
}

/** Reads every metadata object and log of a flow from a store into memory (artifacts stay remote). */
async function snapshotSource(ds: FlowDatastore): Promise<ClientSource> {
  const prefix = ds.runsPrefix();
  const entries = (await ds.storage.list(prefix)).flatMap((key) => {
    const entry = parseRunsKey(key.slice(prefix.length + 1));
    return entry ? [{ key, entry }] : [];
  });
  const objects = new Map<string, string>();
  await Promise.all(
    entries.map(async ({ key }) => objects.set(key, (await ds.storage.get(key))?.toString("utf8") ?? "")),
  );
  const tasks = entries.flatMap(({ entry }) => (entry.kind === "task" ? [entry] : []));
  const uniq = (xs: string[]) => [...new Set(xs)];
  const json = <T>(kind: "run" | "task", k: string): T | undefined =>
    objects.has(k) ? ds.parse<T>(kind, k, objects.get(k)!) : undefined;
  return {
    runIds: () => uniq(entries.flatMap(({ entry }) => (entry.kind === "run" ? [entry.runId] : []))).sort(),
    stepNames: (runId) => uniq(tasks.filter((t) => t.runId === runId).map((t) => t.step)),
    taskIds: (runId, step) =>
      uniq(tasks.filter((t) => t.runId === runId && t.step === step).map((t) => t.taskId)).sort(
        (a, b) => Number(a) - Number(b),
      ),
    run: (runId) => json<RunMeta>("run", ds.runKey(runId)),
    task: (runId, step, taskId) => json<TaskMeta>("task", ds.taskKey(runId, step, taskId)),
    log: (runId, step, taskId, attempt) => objects.get(ds.logKey(runId, step, taskId, attempt)),
  };
}

let rootOverride: string | undefined;

/** Sets (or with no argument, returns) the datastore root the client reads. */
export function namespaceRoot(root?: string): string {
  if (root !== undefined) rootOverride = resolve(root);
  return rootOverride ?? resolve(readVariable("KUBESTEP_DATASTORE_SYSROOT_LOCAL") ?? ".kubestep");
}

function children(dir: string): string[] {
  try {
    return readdirSync(dir).filter((n) => !n.includes(".tmp-"));
  } catch {
    return [];
  }
}

/** A flow and its runs. */
export class Flow {
  /** @internal */ readonly ds: FlowDatastore;
  /** @internal */ readonly source: ClientSource;
  /** @internal */ readonly store: ArtifactStore;
  constructor(
    /** Flow class name. */
    readonly name: string,
    options: { root?: string } = {},
    /** @internal */ remote?: { ds: FlowDatastore; source: ClientSource },
  ) {
    if (remote) {
      this.ds = remote.ds;
      this.source = remote.source;
    } else {
      const root = options.root ? resolve(options.root) : namespaceRoot();
      this.ds = new FlowDatastore(new LocalStorage(root), name);
      this.source = localSource(this.ds, join(root, name));
    }
    this.store = new ArtifactStore(this.ds);
  }

  /**
   * Reads a flow from any datastore (S3, GCS, Azure, or a local directory): the flow's run and task metadata
   * and logs are read now; artifacts load with `await task.fetch()` / `await run.fetch()`.
   */
  static async connect(
    name: string,
    options: { datastore: DatastoreKind; root?: string } | { storage: Storage },
  ): Promise<Flow> {
    let storage: Storage;
    if ("storage" in options) storage = options.storage;
    else {
      const { openStorage, datastoreFromEnv } = await import("../datastore/open.js");
      const root = options.root ?? datastoreFromEnv(process.env, options.datastore).root;
      storage = await openStorage(options.datastore, root);
    }
    const ds = new FlowDatastore(storage, name);
    return new Flow(name, {}, { ds, source: await snapshotSource(ds) });
  }

  /** All runs, oldest first. */
  get runs(): Run[] {
    return this.source
      .runIds()
      .map((id) => this.run(id))
      .filter((r): r is Run => !!r);
  }
  /** The newest run, or undefined when there is none. */
  get latestRun(): Run | undefined {
    return this.runs.pop();
  }
  /** The newest successful run. */
  get latestSuccessfulRun(): Run | undefined {
    return this.runs.filter((r) => r.successful).pop();
  }
  /** A run by id (undefined when it does not exist). */
  run(id: string): Run | undefined {
    const meta = this.source.run(id);
    return meta ? new Run(this, meta) : undefined;
  }
  /** Runs carrying every one of the tags. */
  runsTagged(...tags: string[]): Run[] {
    return this.runs.filter((r) => tags.every((t) => r.tags.includes(t)));
  }
}

/** One run of a flow. */
export class Run {
  constructor(
    /** The flow. */
    readonly flow: Flow,
    /** Stored metadata. */
    readonly meta: RunMeta,
  ) {}
  /** Run id. */
  get id(): string {
    return this.meta.runId;
  }
  /** `Flow/run`. */
  get pathspec(): string {
    return `${this.flow.name}/${this.id}`;
  }
  /** Whether the run finished successfully. */
  get successful(): boolean {
    return this.meta.status === "succeeded";
  }
  /** Whether the run has finished (successfully or not). */
  get finished(): boolean {
    return this.meta.status !== "running";
  }
  /** running, succeeded or failed. */
  get status(): RunMeta["status"] {
    return this.meta.status;
  }
  /** Parameter values. */
  get params(): Record<string, unknown> {
    return this.meta.params;
  }
  /** Tags. */
  get tags(): string[] {
    return this.meta.tags;
  }
  /** Why it failed. */
  get error(): string | undefined {
    return this.meta.error;
  }
  /** Steps that have tasks, in start order. */
  get steps(): Step[] {
    // Ordered by each step's first task id: from the listing, without reading any task's metadata.
    const src = this.flow.source;
    return src
      .stepNames(this.id)
      .map((n) => ({ n, first: Number(src.taskIds(this.id, n)[0] ?? 0) }))
      .sort((a, b) => a.first - b.first)
      .map(({ n }) => new Step(this, n));
  }
  /** A step by name. */
  step(name: string): Step {
    return new Step(this, name);
  }
  /** The end task's artifacts (undefined when the run did not reach end). */
  get data(): Record<string, unknown> | undefined {
    return this.step("end").tasks[0]?.data;
  }
  /** Loads the artifacts of every task of the run (needed before `data` for remote datastores). */
  async fetch(): Promise<this> {
    await Promise.all(this.steps.flatMap((s) => s.tasks.map((t) => t.fetch())));
    return this;
  }
}

/** One step of a run. */
export class Step {
  constructor(
    /** The run. */
    readonly run: Run,
    /** Step name. */
    readonly name: string,
  ) {}
  /** `Flow/run/step`. */
  get pathspec(): string {
    return `${this.run.pathspec}/${this.name}`;
  }
  /** Its tasks, by id. */
  get tasks(): Task[] {
    return this.run.flow.source
      .taskIds(this.run.id, this.name)
      .map((id) => this.taskById(id))
      .filter((t): t is Task => !!t);
  }
  /** The step's (first) task. */
  get task(): Task {
    const t = this.tasks[0];
    if (!t) throw new Error(`${this.pathspec} has no tasks`);
    return t;
  }
  /** A task by id. */
  taskById(id: string): Task | undefined {
    const meta = this.run.flow.source.task(this.run.id, this.name, id);
    return meta ? new Task(this, meta) : undefined;
  }
}

/** One task, its artifacts and logs. */
export class Task {
  private dataView: Record<string, unknown> | undefined;
  constructor(
    /** The step. */
    readonly step: Step,
    /** Stored metadata. */
    readonly meta: TaskMeta,
  ) {}
  /** Task id. */
  get id(): string {
    return this.meta.taskId;
  }
  /** `Flow/run/step/task`. */
  get pathspec(): string {
    return `${this.step.pathspec}/${this.id}`;
  }
  /** Whether the task succeeded. */
  get successful(): boolean {
    return this.meta.status === "succeeded";
  }
  /** Attempts with their status, timings and failure reasons. */
  get attempts(): AttemptMeta[] {
    return this.meta.attempts;
  }
  /** Foreach index, when in a foreach. */
  get index(): number | undefined {
    return this.meta.foreachStack[this.meta.foreachStack.length - 1]?.index;
  }
  /** Artifact names. */
  get artifactNames(): string[] {
    return Object.keys(this.meta.artifacts ?? {});
  }
  /** Artifacts, loaded lazily on access: `task.data.total`. */
  get data(): Record<string, unknown> {
    this.dataView ??= artifactView(
      this.meta.artifacts ?? {},
      this.step.run.flow.store,
      {},
      `${this.step.run.id}/${this.step.name}/${this.id}`,
    );
    return this.dataView;
  }
  /** Loads this task's artifacts from the datastore (needed before `data` for remote datastores). */
  async fetch(): Promise<this> {
    await this.step.run.flow.store.prefetch(Object.values(this.meta.artifacts ?? {}));
    return this;
  }
  /** The failure @catch recorded, if any. */
  get caught(): string | undefined {
    return this.meta.caught;
  }
  /** The output of an attempt (default: the last one). */
  logs(attempt = this.meta.attempts.length - 1): string {
    return this.step.run.flow.source.log(this.step.run.id, this.step.name, this.id, attempt) ?? "";
  }
}
