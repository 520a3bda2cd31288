/**
 * The client API: read past runs, their steps, tasks, artifacts and logs from the datastore.
 *
 * ```ts
 * const run = new Flow("HelloFlow").latestRun;
 * run?.successful; run?.step("join").task.data.total;
 * ```
 * Reads are synchronous and lazy (artifacts load on first access). They use the local datastore
 * (`KUBESTEP_DATASTORE_SYSROOT_LOCAL`, default `.kubestep` in the working directory, or `namespaceRoot()`).
 */
import { readdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { LocalStorage } from "../datastore/local.js";
import { FlowDatastore, type AttemptMeta, type RunMeta, type TaskMeta } from "../datastore/flowstore.js";
import { ArtifactStore, artifactView } from "../artifacts/store.js";

let rootOverride: string | undefined;

/** Sets (or with no argument, returns) the datastore root the client reads. */
export function namespaceRoot(root?: string): string {
  if (root !== undefined) rootOverride = resolve(root);
  return rootOverride ?? resolve(process.env.KUBESTEP_DATASTORE_SYSROOT_LOCAL ?? ".kubestep");
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
  /** @internal */ readonly dir: string;
  constructor(
    /** Flow class name. */
    readonly name: string,
    options: { root?: string } = {},
  ) {
    const root = options.root ? resolve(options.root) : namespaceRoot();
    this.ds = new FlowDatastore(new LocalStorage(root), name);
    this.dir = join(root, name);
  }
  /** All runs, oldest first. */
  get runs(): Run[] {
    return children(join(this.dir, "runs"))
      .sort()
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
    const meta = this.ds.readRunSync(id);
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
  get id(): string { return this.meta.runId; }
  /** `Flow/run`. */
  get pathspec(): string { return `${this.flow.name}/${this.id}`; }
  /** Whether the run finished successfully. */
  get successful(): boolean { return this.meta.status === "succeeded"; }
  /** Whether the run has finished (successfully or not). */
  get finished(): boolean { return this.meta.status !== "running"; }
  /** running, succeeded or failed. */
  get status(): RunMeta["status"] { return this.meta.status; }
  /** Parameter values. */
  get params(): Record<string, unknown> { return this.meta.params; }
  /** Tags. */
  get tags(): string[] { return this.meta.tags; }
  /** Why it failed. */
  get error(): string | undefined { return this.meta.error; }
  /** Steps that have tasks, in start order. */
  get steps(): Step[] {
    return children(join(this.flow.dir, "runs", this.id))
      .filter((n) => n !== "run.json")
      .map((n) => new Step(this, n))
      .sort((a, b) => Number(a.tasks[0]?.id ?? 0) - Number(b.tasks[0]?.id ?? 0));
  }
  /** A step by name. */
  step(name: string): Step {
    return new Step(this, name);
  }
  /** The end task's artifacts (undefined when the run did not reach end). */
  get data(): Record<string, unknown> | undefined {
    return this.step("end").tasks[0]?.data;
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
  get pathspec(): string { return `${this.run.pathspec}/${this.name}`; }
  /** Its tasks, by id. */
  get tasks(): Task[] {
    return children(join(this.run.flow.dir, "runs", this.run.id, this.name))
      .sort((a, b) => Number(a) - Number(b))
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
    const meta = this.run.flow.ds.readTaskSync(this.run.id, this.name, id);
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
  get id(): string { return this.meta.taskId; }
  /** `Flow/run/step/task`. */
  get pathspec(): string { return `${this.step.pathspec}/${this.id}`; }
  /** Whether the task succeeded. */
  get successful(): boolean { return this.meta.status === "succeeded"; }
  /** Attempts with their status, timings and failure reasons. */
  get attempts(): AttemptMeta[] { return this.meta.attempts; }
  /** Foreach index, when in a foreach. */
  get index(): number | undefined { return this.meta.foreachStack[this.meta.foreachStack.length - 1]?.index; }
  /** Artifact names. */
  get artifactNames(): string[] { return Object.keys(this.meta.artifacts ?? {}); }
  /** Artifacts, loaded lazily on access: `task.data.total`. */
  get data(): Record<string, unknown> {
    this.dataView ??= artifactView(this.meta.artifacts ?? {}, new ArtifactStore(this.step.run.flow.ds));
    return this.dataView;
  }
  /** The failure @catch recorded, if any. */
  get caught(): string | undefined { return this.meta.caught; }
  /** The output of an attempt (default: the last one). */
  logs(attempt = this.meta.attempts.length - 1): string {
    const b = this.step.run.flow.ds.storage.getSync?.(this.step.run.flow.ds.logKey(this.step.run.id, this.step.name, this.id, attempt));
    return b?.toString("utf8") ?? "";
  }
}
