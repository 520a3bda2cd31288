/**
 * The datastore layout for one flow, over any Storage:
 *
 *   <Flow>/data/<sha[0:2]>/<sha>                         artifact bytes, content-addressed (sha256)
 *   <Flow>/code/<sha>.mjs                                 code packages
 *   <Flow>/runs/<run>/run.json                            run metadata (status, params, tags, code hash)
 *   <Flow>/runs/<run>/<step>/<task>/task.json             task metadata (status, attempts, artifacts)
 *   <Flow>/runs/<run>/<step>/<task>/card.json             the task's card (`current.card`), when it made one
 *   <Flow>/runs/<run>/<step>/<task>/<attempt>/result.json what the attempt produced (written by the task)
 *   <Flow>/runs/<run>/<step>/<task>/<attempt>/log.txt     the attempt's output
 *
 * Every object is written atomically by the Storage, so a reader never accepts half an artifact.
 */
import { createHash } from "node:crypto";
import type { Storage } from "./storage.js";
import type { Encoding } from "../artifacts/serialize.js";
import type { Transition } from "../flow/flowspec.js";
import type { CardData } from "../flow/card.js";

/** Where an artifact's bytes are and how they decode. */
export interface ArtifactRef {
  /** sha256 of the bytes (hex). */
  sha: string;
  /** Decoding. */
  encoding: Encoding;
  /** Size in bytes. */
  size: number;
}

/** Status of a run, task or attempt. */
export type Status = "running" | "succeeded" | "failed";

/** One attempt of a task. */
export interface AttemptMeta {
  attempt: number;
  status: Status;
  startedAt: string;
  finishedAt?: string;
  /** Process exit code (local) or container exit code (Kubernetes). */
  exitCode?: number | null;
  /** Signal that ended the process, if any. */
  signal?: string | null;
  /** Why it ended when it failed: "exception", "timeout", "exit", "killed", "oom", ... */
  reason?: string;
  /** Human-readable explanation of a failure. */
  error?: string;
  /** Where it ran: "local" or the Kubernetes Job name. */
  executor?: string;
}

/** A level of foreach nesting a task sits in. */
export interface ForeachFrame {
  /** The step that fanned out. */
  step: string;
  /** This task's index in it. */
  index: number;
  /** Number of splits. */
  num: number;
}

/** What an attempt produced, written by the task itself. */
export interface TaskResult {
  artifacts: Record<string, ArtifactRef>;
  transition?: Transition;
  /** Number of elements of the foreach artifact, when the step fans out. */
  foreachNum?: number;
}

/** Task metadata. */
export interface TaskMeta {
  step: string;
  taskId: string;
  status: Status;
  /** `step/taskId` of each input task. */
  parents: string[];
  foreachStack: ForeachFrame[];
  attempts: AttemptMeta[];
  /** Artifacts of the successful attempt. */
  artifacts?: Record<string, ArtifactRef>;
  transition?: Transition;
  foreachNum?: number;
  startedAt: string;
  finishedAt?: string;
  /** `run/step/task` this task was cloned from by `resume`. */
  clonedFrom?: string;
  /** Failure recorded by @catch. */
  caught?: string;
}

/** Run metadata. */
export interface RunMeta {
  flowName: string;
  runId: string;
  status: Status;
  params: Record<string, unknown>;
  tags: string[];
  user: string;
  codeHash: string;
  createdAt: string;
  finishedAt?: string;
  originRunId?: string;
  error?: string;
  /** Path of the flow file. */
  flowFile?: string;
  /**
   * The process driving the run (host name and pid of the CLI or orchestrator pod), so `resume` can tell a run
   * whose driver died (continued in place, its Kubernetes Jobs re-attached) from one still running.
   */
  driver?: { host: string; pid: number };
}

/** sha256 (hex) of bytes. */
export function sha256(bytes: Uint8Array | string): string {
  return createHash("sha256").update(bytes).digest("hex");
}

/** The layout below `<Flow>/`: the folder of the runs and the names of the files clients list. */
export const LAYOUT = {
  /** Folder of every run's metadata: `<Flow>/runs`. */
  runs: "runs",
  /** A run's metadata: `<run>/run.json`. */
  run: "run.json",
  /** A task's metadata: `<run>/<step>/<task>/task.json`. */
  task: "task.json",
  /** An attempt's output: `<run>/<step>/<task>/<attempt>/log.txt`. */
  log: "log.txt",
} as const;

/** Where an object below `<Flow>/runs/` sits in the layout (see {@link parseRunsKey}). */
export type RunsEntry =
  | { kind: "run"; runId: string }
  | { kind: "task"; runId: string; step: string; taskId: string }
  | { kind: "log"; runId: string; step: string; taskId: string; attempt: number };

/**
 * Parses a key relative to `<Flow>/runs/` (`<run>/run.json`, `<run>/<step>/<task>/task.json`,
 * `<run>/<step>/<task>/<attempt>/log.txt`); undefined for every other object (results, cards).
 */
export function parseRunsKey(relative: string): RunsEntry | undefined {
  const p = relative.split("/");
  if (p.length === 2 && p[1] === LAYOUT.run) return { kind: "run", runId: p[0]! };
  if (p.length === 4 && p[3] === LAYOUT.task) return { kind: "task", runId: p[0]!, step: p[1]!, taskId: p[2]! };
  if (p.length === 5 && p[4] === LAYOUT.log)
    return { kind: "log", runId: p[0]!, step: p[1]!, taskId: p[2]!, attempt: Number(p[3]) };
  return undefined;
}

export class FlowDatastore {
  constructor(
    readonly storage: Storage,
    readonly flowName: string,
  ) {}

  private k(...parts: Array<string | number>): string {
    return [this.flowName, ...parts].join("/");
  }

  blobKey(sha: string): string {
    return this.k("data", sha.slice(0, 2), sha);
  }

  /** Stores bytes under their sha256 unless already there; returns the sha. */
  async putBlob(bytes: Uint8Array): Promise<string> {
    const sha = sha256(bytes);
    const key = this.blobKey(sha);
    if (!(await this.storage.exists(key))) await this.storage.put(key, bytes);
    return sha;
  }

  async getBlob(sha: string): Promise<Buffer> {
    const b = await this.storage.get(this.blobKey(sha));
    if (!b) throw new Error(`artifact data ${sha} is missing from the datastore ${this.storage.root}`);
    return b;
  }

  getBlobSync(sha: string): Buffer | undefined {
    return this.storage.getSync?.(this.blobKey(sha));
  }

  codeKey(sha: string): string {
    return this.k("code", `${sha}.mjs`);
  }

  private async putJson(key: string, value: unknown): Promise<void> {
    await this.storage.put(key, JSON.stringify(value, null, 1));
  }
  private async getJson<T>(key: string): Promise<T | undefined> {
    const b = await this.storage.get(key);
    return b ? (JSON.parse(b.toString("utf8")) as T) : undefined;
  }
  private getJsonSync<T>(key: string): T | undefined {
    const b = this.storage.getSync?.(key);
    return b ? (JSON.parse(b.toString("utf8")) as T) : undefined;
  }

  /** Prefix of every run's metadata: `<Flow>/runs` (keys below it parse with {@link parseRunsKey}). */
  runsPrefix(): string {
    return this.k(LAYOUT.runs);
  }
  runKey(runId: string): string {
    return this.k(LAYOUT.runs, runId, LAYOUT.run);
  }
  writeRun(run: RunMeta): Promise<void> {
    return this.putJson(this.runKey(run.runId), run);
  }
  readRun(runId: string): Promise<RunMeta | undefined> {
    return this.getJson(this.runKey(runId));
  }
  readRunSync(runId: string): RunMeta | undefined {
    return this.getJsonSync(this.runKey(runId));
  }
  async listRuns(): Promise<string[]> {
    return (await this.storage.listChildren(this.runsPrefix())).sort();
  }

  taskKey(runId: string, step: string, taskId: string): string {
    return this.k(LAYOUT.runs, runId, step, taskId, LAYOUT.task);
  }
  writeTask(runId: string, t: TaskMeta): Promise<void> {
    return this.putJson(this.taskKey(runId, t.step, t.taskId), t);
  }
  readTask(runId: string, step: string, taskId: string): Promise<TaskMeta | undefined> {
    return this.getJson(this.taskKey(runId, step, taskId));
  }
  readTaskSync(runId: string, step: string, taskId: string): TaskMeta | undefined {
    return this.getJsonSync(this.taskKey(runId, step, taskId));
  }
  async listSteps(runId: string): Promise<string[]> {
    return (await this.storage.listChildren(this.k(LAYOUT.runs, runId))).filter((n) => n !== LAYOUT.run);
  }
  async listTasks(runId: string, step: string): Promise<string[]> {
    return (await this.storage.listChildren(this.k(LAYOUT.runs, runId, step))).sort((a, b) => Number(a) - Number(b));
  }

  resultKey(runId: string, step: string, taskId: string, attempt: number): string {
    return this.k("runs", runId, step, taskId, attempt, "result.json");
  }
  writeResult(runId: string, step: string, taskId: string, attempt: number, r: TaskResult): Promise<void> {
    return this.putJson(this.resultKey(runId, step, taskId, attempt), r);
  }
  readResult(runId: string, step: string, taskId: string, attempt: number): Promise<TaskResult | undefined> {
    return this.getJson(this.resultKey(runId, step, taskId, attempt));
  }

  logKey(runId: string, step: string, taskId: string, attempt: number): string {
    return this.k(LAYOUT.runs, runId, step, taskId, attempt, LAYOUT.log);
  }
  writeLog(runId: string, step: string, taskId: string, attempt: number, text: string): Promise<void> {
    return this.storage.put(this.logKey(runId, step, taskId, attempt), text);
  }
  async readLog(runId: string, step: string, taskId: string, attempt: number): Promise<string | undefined> {
    return (await this.storage.get(this.logKey(runId, step, taskId, attempt)))?.toString("utf8");
  }

  cardKey(runId: string, step: string, taskId: string): string {
    return this.k("runs", runId, step, taskId, "card.json");
  }
  writeCard(runId: string, step: string, taskId: string, card: CardData): Promise<void> {
    return this.putJson(this.cardKey(runId, step, taskId), card);
  }
  readCard(runId: string, step: string, taskId: string): Promise<CardData | undefined> {
    return this.getJson(this.cardKey(runId, step, taskId));
  }
}
