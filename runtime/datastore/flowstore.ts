/**
 * The datastore layout for one flow, over any Storage:
 *
 *   <Flow>/data/<sha[0:2]>/<sha>                         artifact bytes and dependency layers (tar.gz of the
 *                                                         flow's external packages), content-addressed (sha256)
 *   <Flow>/code/<sha>.mjs                                 code packages
 *   <Flow>/runs/<run>/run.json                            run metadata (status, params, tags, code hash)
 *   <Flow>/runs/<run>/<step>/<task>/task.json             task metadata (status, attempts, artifacts)
 *   <Flow>/runs/<run>/<step>/<task>/card.json             the task's card (`current.card`), when it made one
 *   <Flow>/runs/<run>/<step>/<task>/<attempt>/result.json what the attempt produced (written by the task)
 *   <Flow>/runs/<run>/<step>/<task>/<attempt>/log.txt     the attempt's output (archived when it ends)
 *   <Flow>/runs/<run>/<step>/<task>/<attempt>/log.live/<n> the output so far of a running attempt, in append-only
 *                                                         chunks (removed once log.txt is stored)
 *
 * Every object is written atomically by the Storage, so a reader never accepts half an artifact, and every
 * artifact and code package read is checked against its sha256 (an {@link IntegrityError} names both hashes).
 */
import { createHash } from "node:crypto";
import type { Storage } from "./storage.js";
import { parseMetadata, type MetadataKind } from "./metadata.js";
import { IntegrityError, KubestepError } from "../errors.js";
import { redact } from "../redact.js";
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
  /** The Kubernetes objects it ran as (Kubernetes steps), recorded as soon as the pod is scheduled. */
  placement?: Placement;
}

/** Where a Kubernetes attempt ran: its Job, pod and node. */
export interface Placement {
  /** Namespace of the Job and pod. */
  namespace: string;
  /** Name of the batch/v1 Job. */
  job: string;
  /** Name of the pod that ran the attempt. */
  pod: string;
  /** Name of the node the pod was scheduled on (absent until it is scheduled). */
  node?: string;
}

/** A running attempt's log so far, or an ended attempt's archived log. */
export interface StoredLog {
  /** The text. */
  text: string;
  /** True while it comes from the live chunks (the attempt has not archived its log yet). */
  live: boolean;
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

/** A step of the static graph stored with each run (what the UI draws for steps not reached yet). */
export interface StaticGraphStep {
  /** Step name. */
  name: string;
  /** Node type (the flow graph's `NodeType`). */
  type: "start" | "linear" | "split" | "foreach" | "parallel" | "join" | "end";
  /** Targets of its `this.next(...)`. */
  out: string[];
  /** Whether it joins several inputs. */
  isJoin: boolean;
  /** Foreach artifact name when the step fans out. */
  foreach?: string;
  /** Static @parallel width, when known. */
  numParallel?: number;
}

/** The static step graph of a flow, in topological order (JSON-ready; stored in run.json). */
export interface StaticGraph {
  steps: StaticGraphStep[];
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
  /** The flow's static step graph, stored at run start so steps not reached yet are known. */
  graph?: StaticGraph;
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
  /** Folder of a running attempt's log chunks: `<run>/<step>/<task>/<attempt>/log.live/<seq>`. */
  liveLog: "log.live",
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

  /**
   * Stores bytes under their sha256 unless an intact copy is already there (an existing object of another
   * size is damaged and is replaced); returns the sha.
   */
  async putBlob(bytes: Uint8Array): Promise<string> {
    const sha = sha256(bytes);
    const key = this.blobKey(sha);
    if ((await this.storage.size(key)) !== bytes.byteLength) await this.storage.put(key, bytes);
    return sha;
  }

  /**
   * Reads an artifact's bytes and checks them against their sha256 (hashed in place: no copy is made).
   * @throws IntegrityError when the bytes do not match; a KubestepError when the object is missing.
   */
  async getBlob(sha: string): Promise<Buffer> {
    const key = this.blobKey(sha);
    const b = await this.storage.get(key);
    if (!b) throw this.missingBlob(sha);
    return this.verified(sha, b, key);
  }

  /** {@link getBlob} for stores that read synchronously (local); undefined elsewhere. */
  getBlobSync(sha: string): Buffer | undefined {
    const key = this.blobKey(sha);
    const b = this.storage.getSync?.(key);
    if (!this.storage.getSync) return undefined;
    if (!b) throw this.missingBlob(sha);
    return this.verified(sha, b, key);
  }

  private missingBlob(sha: string): KubestepError {
    return new KubestepError(
      `artifact data ${sha} is missing from the datastore ${this.storage.root} (object ${this.blobKey(sha)})`,
      1,
    );
  }

  private verified(sha: string, bytes: Buffer, key: string): Buffer {
    const actual = sha256(bytes);
    if (actual !== sha)
      throw new IntegrityError(
        `object ${key} in the datastore ${this.storage.root} is corrupt: its ${bytes.byteLength} bytes have sha256 ${actual}, expected ${sha}`,
        sha,
        actual,
        key,
      );
    return bytes;
  }

  /**
   * Checks a stored artifact without holding it: exists, has `size` bytes, and (streamed through the hash)
   * matches its sha256. Resolves to undefined when intact, else to what is wrong.
   */
  async checkBlob(sha: string, size: number): Promise<string | undefined> {
    const key = this.blobKey(sha);
    const stored = await this.storage.size(key);
    if (stored === undefined) return `object ${key} is missing`;
    if (stored !== size) return `object ${key} has ${stored} bytes, expected ${size}`;
    const stream = await this.storage.getStream(key);
    if (!stream) return `object ${key} is missing`;
    const hash = createHash("sha256");
    for await (const chunk of stream) hash.update(chunk as Uint8Array);
    const actual = hash.digest("hex");
    return actual === sha ? undefined : `object ${key} has sha256 ${actual}, expected ${sha}`;
  }

  /** Deletes a damaged artifact object, so that recomputing its value writes it again. */
  async discardBlob(sha: string): Promise<void> {
    await this.storage.delete(this.blobKey(sha));
  }

  /** Key of a dependency layer (runtime/code/externals.ts): content-addressed, in the data area. */
  layerKey(sha: string): string {
    return this.blobKey(sha);
  }

  codeKey(sha: string): string {
    return this.k("code", `${sha}.mjs`);
  }

  /**
   * Stores a code package under its sha256 unless an intact copy is there (a damaged one is replaced).
   * Resolves to whether it uploaded.
   */
  async putCode(sha: string, bytes: Uint8Array): Promise<boolean> {
    const key = this.codeKey(sha);
    const existing = (await this.storage.size(key)) === bytes.byteLength ? await this.storage.get(key) : undefined;
    if (existing && sha256(existing) === sha) return false;
    await this.storage.put(key, bytes);
    return true;
  }

  /**
   * Reads a code package and checks it against its sha256.
   * @throws IntegrityError when its bytes do not match; a KubestepError when it is missing.
   */
  async getCode(sha: string): Promise<Buffer> {
    const key = this.codeKey(sha);
    const b = await this.storage.get(key);
    if (!b)
      throw new KubestepError(
        `code package ${sha} is missing from the datastore ${this.storage.root} (object ${key})`,
        1,
      );
    return this.verified(sha, b, key);
  }

  private async putJson(key: string, value: unknown): Promise<void> {
    await this.storage.put(key, JSON.stringify(value, null, 1));
  }
  private async getJson<T>(kind: MetadataKind, key: string): Promise<T | undefined> {
    const b = await this.storage.get(key);
    return b ? this.parse<T>(kind, key, b.toString("utf8")) : undefined;
  }
  private getJsonSync<T>(kind: MetadataKind, key: string): T | undefined {
    const b = this.storage.getSync?.(key);
    return b ? this.parse<T>(kind, key, b.toString("utf8")) : undefined;
  }
  /** Parses a metadata file read by other means (a snapshot), with the same checks as the readers here. */
  parse<T>(kind: MetadataKind, key: string, text: string): T {
    return parseMetadata<T>(kind, text, { key, root: this.storage.root });
  }

  /** Prefix of every run's metadata: `<Flow>/runs` (keys below it parse with {@link parseRunsKey}). */
  runsPrefix(): string {
    return this.k(LAYOUT.runs);
  }
  runKey(runId: string): string {
    return this.k(LAYOUT.runs, runId, LAYOUT.run);
  }
  /** Writes run metadata; its failure message goes through {@link redact}. */
  writeRun(run: RunMeta): Promise<void> {
    return this.putJson(this.runKey(run.runId), run.error ? { ...run, error: redact(run.error) } : run);
  }
  readRun(runId: string): Promise<RunMeta | undefined> {
    return this.getJson("run", this.runKey(runId));
  }
  readRunSync(runId: string): RunMeta | undefined {
    return this.getJsonSync("run", this.runKey(runId));
  }
  async listRuns(): Promise<string[]> {
    return (await this.storage.listChildren(this.runsPrefix())).sort();
  }

  taskKey(runId: string, step: string, taskId: string): string {
    return this.k(LAYOUT.runs, runId, step, taskId, LAYOUT.task);
  }
  /** Writes task metadata; the failure messages of its attempts and of @catch go through {@link redact}. */
  writeTask(runId: string, t: TaskMeta): Promise<void> {
    const safe: TaskMeta = {
      ...t,
      attempts: t.attempts.map((a) => (a.error ? { ...a, error: redact(a.error) } : a)),
      ...(t.caught ? { caught: redact(t.caught) } : {}),
    };
    return this.putJson(this.taskKey(runId, t.step, t.taskId), safe);
  }
  readTask(runId: string, step: string, taskId: string): Promise<TaskMeta | undefined> {
    return this.getJson("task", this.taskKey(runId, step, taskId));
  }
  readTaskSync(runId: string, step: string, taskId: string): TaskMeta | undefined {
    return this.getJsonSync("task", this.taskKey(runId, step, taskId));
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
    return this.getJson("result", this.resultKey(runId, step, taskId, attempt));
  }

  logKey(runId: string, step: string, taskId: string, attempt: number): string {
    return this.k(LAYOUT.runs, runId, step, taskId, attempt, LAYOUT.log);
  }
  /** Archives an attempt's output, through {@link redact}. */
  writeLog(runId: string, step: string, taskId: string, attempt: number, text: string): Promise<void> {
    return this.storage.put(this.logKey(runId, step, taskId, attempt), redact(text));
  }
  async readLog(runId: string, step: string, taskId: string, attempt: number): Promise<string | undefined> {
    return (await this.storage.get(this.logKey(runId, step, taskId, attempt)))?.toString("utf8");
  }

  /** Folder of a running attempt's log chunks. */
  liveLogPrefix(runId: string, step: string, taskId: string, attempt: number): string {
    return this.k(LAYOUT.runs, runId, step, taskId, attempt, LAYOUT.liveLog);
  }
  /**
   * Key of chunk `seq` of a writer (zero-padded so keys sort in order). `writer` is a sortable prefix naming who
   * writes (an orchestrator restarted on the same attempt starts a new series after the old one, never over it).
   */
  logChunkKey(runId: string, step: string, taskId: string, attempt: number, seq: number, writer = ""): string {
    return `${this.liveLogPrefix(runId, step, taskId, attempt)}/${writer}${String(seq).padStart(8, "0")}`;
  }
  /** Stores one chunk of a running attempt's output (a new object each time: nothing is rewritten). */
  writeLogChunk(
    runId: string,
    step: string,
    taskId: string,
    attempt: number,
    seq: number,
    text: string,
    writer = "",
  ): Promise<void> {
    return this.storage.put(this.logChunkKey(runId, step, taskId, attempt, seq, writer), text);
  }
  /** Keys of a running attempt's log chunks, in order. */
  async listLogChunks(runId: string, step: string, taskId: string, attempt: number): Promise<string[]> {
    return (await this.storage.list(this.liveLogPrefix(runId, step, taskId, attempt))).sort();
  }
  /** Removes the chunks once the archived log is stored. */
  async deleteLogChunks(runId: string, step: string, taskId: string, attempt: number): Promise<void> {
    const keys = await this.listLogChunks(runId, step, taskId, attempt);
    await Promise.all(keys.map((k) => this.storage.delete(k)));
  }
  /**
   * The archived log of an attempt, or while it runs its chunks so far; undefined when there is neither.
   * `readChunk` may serve chunks from a cache (they never change).
   */
  async readLogOrLive(
    runId: string,
    step: string,
    taskId: string,
    attempt: number,
    readChunk: (key: string) => Promise<Buffer | undefined> = (k) => this.storage.get(k),
  ): Promise<StoredLog | undefined> {
    const archived = await this.readLog(runId, step, taskId, attempt);
    if (archived !== undefined) return { text: archived, live: false };
    const keys = await this.listLogChunks(runId, step, taskId, attempt);
    if (!keys.length) return undefined;
    const chunks = await Promise.all(keys.map(readChunk));
    // A chunk gone between the listing and the read: the attempt ended and archived its log meanwhile.
    if (chunks.some((c) => c === undefined)) {
      const text = await this.readLog(runId, step, taskId, attempt);
      return text !== undefined ? { text, live: false } : undefined;
    }
    return { text: chunks.map((c) => c!.toString("utf8")).join(""), live: true };
  }

  cardKey(runId: string, step: string, taskId: string): string {
    return this.k("runs", runId, step, taskId, "card.json");
  }
  writeCard(runId: string, step: string, taskId: string, card: CardData): Promise<void> {
    return this.putJson(this.cardKey(runId, step, taskId), card);
  }
  readCard(runId: string, step: string, taskId: string): Promise<CardData | undefined> {
    return this.getJson("card", this.cardKey(runId, step, taskId));
  }
}
