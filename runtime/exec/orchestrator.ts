/**
 * The orchestrator: walks the flow graph, launches each task through an executor (up to
 * `maxWorkers` at once), handles retries, timeouts, @catch, joins and foreach fan-out, records
 * metadata, streams logs with a `[run/step/task]` prefix, and supports `resume`.
 */
import { hostname, userInfo } from "node:os";
import { ArtifactStore } from "../artifacts/store.js";
import {
  FlowDatastore,
  type AttemptMeta,
  type ForeachFrame,
  type RunMeta,
  type TaskMeta,
  type TaskResult,
} from "../datastore/flowstore.js";
import type { Storage } from "../datastore/storage.js";
import { staticGraph, type FlowGraph, type GraphNode } from "../flow/graph.js";
import type { CatchOptions } from "../flow/decorators.js";
import type { Executor, AttemptOutcome } from "./executor.js";
import type { TaskSpec } from "./spec.js";
import { readVariable } from "../variables.js";
import { redact } from "../redact.js";
import type { RunTrigger } from "../deploy/record.js";
import { LogChunkFlusher } from "./logflush.js";

/** Where the orchestrator writes logs and progress. */
export interface Output {
  /** A task's output line (already prefixed). */
  line(text: string, stream: "stdout" | "stderr"): void;
  /** A runtime message (progress, failures). */
  info(text: string): void;
}

/** What `resume` reuses. */
export interface ResumeFrom {
  /** The failed run to resume. */
  originRunId: string;
  /** Step to re-run from (default: the first step that did not finish). */
  step?: string;
}

export interface OrchestratorOptions {
  graph: FlowGraph;
  storage: Storage;
  /** Chooses the executor for each step (local processes, Kubernetes). */
  executorFor: (node: GraphNode) => Executor;
  runId: string;
  params: Record<string, unknown>;
  tags: string[];
  codeHash: string;
  flowFile: string;
  maxWorkers: number;
  maxNumSplits: number;
  output: Output;
  resume?: ResumeFrom;
  /** Why the run started (deployed runs): recorded in run.json and given to every task as `current.trigger`. */
  trigger?: RunTrigger;
  /**
   * Go on with run `runId` if it exists (a deployed run's orchestrator pod restarted): finished tasks are kept,
   * unfinished ones keep their task ids and attempt numbers, so their Jobs (named deterministically) are re-attached.
   */
  continueRun?: boolean;
  /** Sleep used between retries (tests may shorten it; the default honours minutesBetweenRetries). */
  sleep?: (ms: number) => Promise<void>;
  /** How a running attempt's output is stored as live chunks (default every 2 s or 256 KiB). */
  liveLog?: {
    /** Longest time a line waits before it is stored (ms). */
    intervalMs?: number;
    /** A chunk is stored as soon as this many bytes are buffered. */
    maxBytes?: number;
  };
}

/** Result of a run. */
export interface RunOutcome {
  runId: string;
  ok: boolean;
  error?: string;
}

/** User name recorded with runs (`KUBESTEP_USER` overrides). */
export function currentUser(): string {
  return (
    readVariable("KUBESTEP_USER") ||
    process.env.USER ||
    (() => {
      try {
        return userInfo().username;
      } catch {
        return "unknown";
      }
    })()
  );
}

/** This process as a run's driver. */
export function currentDriver(): { host: string; pid: number } {
  return { host: hostname(), pid: process.pid };
}

/**
 * Whether a run's recorded driver is a live process on this host (a run driven from another host, or
 * with no driver recorded, counts as not alive: nothing here can tell).
 */
export function driverAlive(driver: { host: string; pid: number } | undefined): boolean {
  if (!driver || driver.host !== hostname() || driver.pid === process.pid) return false;
  try {
    process.kill(driver.pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

function stackKey(stack: ForeachFrame[]): string {
  return stack.map((f) => `${f.step}:${f.index}`).join(",");
}

/**
 * The attempt a continued task resumes at: its running attempt (re-attached), or the one after its failed
 * ones; 0 for a new task.
 */
function resumeAttempt(attempts: TaskMeta["attempts"] | undefined): number {
  if (!attempts) return 0;
  const running = attempts.findIndex((x) => x?.status === "running");
  return running >= 0 ? running : attempts.length;
}

interface PendingJoin {
  expected: number;
  arrived: Array<{ order: number; task: TaskMeta }>;
  stack: ForeachFrame[];
}

export class Orchestrator {
  private readonly ds: FlowDatastore;
  private readonly store: ArtifactStore;
  private nextTaskId = 1;
  private readonly queue: Array<() => Promise<void>> = [];
  private active = 0;
  private done = 0;
  private failed = 0;
  private cloned = 0;
  /** Damaged artifact objects `resume` found (and recomputes instead of reusing). */
  integrityFailures = 0;
  private firstError: string | undefined;
  private stopping = false;
  private readonly joins = new Map<string, PendingJoin>();
  private readonly origin = new Map<string, TaskMeta>();
  private rerun = new Set<string>();
  private readonly executors = new Set<Executor>();
  private finish!: () => void;
  private run!: RunMeta;
  private readonly sleep: (ms: number) => Promise<void>;
  /** Tasks of the run found when continuing it, by step and foreach stack. */
  private readonly existing = new Map<string, TaskMeta>();

  private readonly o: OrchestratorOptions;
  constructor(options: OrchestratorOptions) {
    // Everything the run prints goes through the one redaction (secrets, tokens, pre-signed URLs).
    const out = options.output;
    this.o = {
      ...options,
      output: { line: (t, stream) => out.line(redact(t), stream), info: (t) => out.info(redact(t)) },
    };
    const o = this.o;
    this.ds = new FlowDatastore(o.storage, o.graph.flowName);
    this.store = new ArtifactStore(this.ds);
    this.sleep = o.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms)));
  }

  /** Runs the flow to completion (or failure). */
  async execute(): Promise<RunOutcome> {
    const { graph, runId } = this.o;
    if (this.o.resume) await this.loadOrigin(this.o.resume);
    const previous = this.o.continueRun ? await this.loadExisting() : undefined;
    const fresh: RunMeta & { trigger?: RunTrigger } = {
      flowName: graph.flowName,
      runId,
      status: "running",
      params: this.o.params,
      tags: this.o.tags,
      user: currentUser(),
      codeHash: this.o.codeHash,
      createdAt: new Date().toISOString(),
      flowFile: this.o.flowFile,
      graph: staticGraph(graph),
      ...(this.o.resume ? { originRunId: this.o.resume.originRunId } : {}),
      ...(this.o.trigger ? { trigger: this.o.trigger } : {}),
    };
    this.run = {
      ...(previous ? { graph: fresh.graph, ...previous, status: "running" } : fresh),
      driver: currentDriver(),
    };
    await this.ds.writeRun(this.run);
    const finished = new Promise<void>((r) => (this.finish = r));
    this.launch("start", [], [], 0);
    this.pump();
    await finished;
    await Promise.all([...this.executors].map((e) => e.close?.()));
    const ok = this.failed === 0 && !this.firstError;
    this.run = {
      ...this.run,
      status: ok ? "succeeded" : "failed",
      finishedAt: new Date().toISOString(),
      ...(this.firstError ? { error: this.firstError } : {}),
    };
    await this.ds.writeRun(this.run);
    return { runId, ok, ...(this.firstError ? { error: this.firstError } : {}) };
  }

  /** Stops everything (Ctrl-C): running attempts are killed, the run is marked failed. */
  async interrupt(reason: string): Promise<void> {
    this.firstError ??= reason;
    this.stopping = true;
    this.queue.length = 0;
    await Promise.all([...this.executors].map((e) => e.stopAll(reason)));
  }

  /** Reads the tasks of run `runId` when it exists (continueRun); returns its run.json. */
  private async loadExisting(): Promise<RunMeta | undefined> {
    const { runId } = this.o;
    const run = await this.ds.readRun(runId);
    if (!run) return undefined;
    let maxId = 0;
    for (const step of await this.ds.listSteps(runId))
      for (const id of await this.ds.listTasks(runId, step)) {
        maxId = Math.max(maxId, Number(id) || 0);
        const t = await this.ds.readTask(runId, step, id);
        if (t) this.existing.set(`${step}|${stackKey(t.foreachStack)}`, t);
      }
    this.nextTaskId = Math.max(this.nextTaskId, maxId + 1);
    this.o.output.info(
      `continuing run ${runId}: ${[...this.existing.values()].filter((t) => t.status === "succeeded").length} finished task(s) kept, ${[...this.existing.values()].filter((t) => t.status !== "succeeded").length} unfinished re-attached`,
    );
    return run;
  }

  private async loadOrigin(r: ResumeFrom): Promise<void> {
    const { graph } = this.o;
    const originRun = await this.ds.readRun(r.originRunId);
    if (!originRun)
      throw new Error(`resume: run ${graph.flowName}/${r.originRunId} does not exist in ${this.o.storage.root}`);
    let maxId = 0;
    const ok = new Set<string>();
    const unfinished = new Set<string>();
    const steps = await this.ds.listSteps(r.originRunId);
    const tasks = (
      await Promise.all(
        steps.map(async (step) => (await this.ds.listTasks(r.originRunId, step)).map((id) => ({ step, id }))),
      )
    ).flat();
    const metas = await Promise.all(tasks.map(({ step, id }) => this.ds.readTask(r.originRunId, step, id)));
    for (const [i, { step, id }] of tasks.entries()) {
      maxId = Math.max(maxId, Number(id) || 0);
      const t = metas[i];
      if (t?.status === "succeeded" && t.artifacts) {
        this.origin.set(`${step}|${stackKey(t.foreachStack)}`, {
          ...t,
          clonedFrom: t.clonedFrom ?? `${r.originRunId}/${step}/${id}`,
        });
        ok.add(step);
      } else unfinished.add(step);
    }
    this.nextTaskId = maxId + 1;
    let from = r.step;
    if (from !== undefined && !graph.nodes[from])
      throw new Error(`resume: step ${from} is not in flow ${graph.flowName} (steps: ${graph.order.join(", ")})`);
    if (from === undefined) {
      from = graph.order.find((s) => !ok.has(s) || unfinished.has(s));
      if (from === undefined)
        throw new Error(`resume: run ${r.originRunId} finished successfully; name a step to re-run from`);
    }
    // Re-run the chosen step and everything after it, and so the steps of any task whose artifacts are damaged.
    const closure = (starts: Iterable<string>): Set<string> => {
      const rerun = new Set<string>(starts);
      for (const s of graph.order) if (rerun.has(s)) for (const t of graph.nodes[s]!.out) rerun.add(t);
      return rerun;
    };
    let rerun = closure([from]);
    const damaged = await this.damagedOrigin(rerun);
    if (damaged.size) rerun = closure([from, ...damaged]);
    this.rerun = rerun;
    this.o.output.info(
      `resuming run ${r.originRunId} from step ${from}; reusing finished tasks of ${graph.order.filter((s) => !rerun.has(s)).join(", ") || "no step"}`,
    );
  }

  /**
   * Checks every artifact `resume` would reuse (tasks of steps outside `rerun`): each object must exist, have
   * its size and its sha256 (streamed, each distinct object once). A damaged object is deleted (so that the
   * recomputed value is written again) and the steps of the tasks that used it are returned, to be recomputed.
   */
  private async damagedOrigin(rerun: Set<string>): Promise<Set<string>> {
    const blobs = new Map<string, { size: number; users: Array<{ task: TaskMeta; name: string }> }>();
    for (const t of this.origin.values()) {
      if (rerun.has(t.step)) continue;
      for (const [name, ref] of Object.entries(t.artifacts ?? {})) {
        const b = blobs.get(ref.sha) ?? { size: ref.size, users: [] };
        b.users.push({ task: t, name });
        blobs.set(ref.sha, b);
      }
    }
    const entries = [...blobs.entries()];
    const problems: Array<string | undefined> = new Array(entries.length);
    let next = 0;
    await Promise.all(
      Array.from({ length: Math.min(8, entries.length) }, async () => {
        while (next < entries.length) {
          const i = next++;
          const [sha, { size }] = entries[i]!;
          problems[i] = await this.ds.checkBlob(sha, size);
        }
      }),
    );
    const steps = new Set<string>();
    for (const [i, [sha, { users }]] of entries.entries()) {
      const problem = problems[i];
      if (!problem) continue;
      await this.ds.discardBlob(sha);
      this.integrityFailures++;
      for (const { task, name } of users) {
        steps.add(task.step);
        this.o.output.info(
          `resume: not reusing ${task.clonedFrom}: its artifact ${name} is damaged in the datastore (${problem}); step ${task.step} is recomputed`,
        );
      }
    }
    return steps;
  }

  private enqueue(job: () => Promise<void>): void {
    this.queue.push(job);
  }

  private pump(): void {
    while (!this.stopping && this.active < this.o.maxWorkers && this.queue.length) {
      const job = this.queue.shift()!;
      this.active++;
      job()
        .catch((e: Error) => this.fail(`internal error: ${e.stack ?? e.message}`))
        .finally(() => {
          this.active--;
          this.pump();
          if (this.active === 0 && (this.queue.length === 0 || this.stopping)) this.finish();
        });
    }
    if (this.active === 0 && (this.queue.length === 0 || this.stopping)) this.finish();
  }

  private fail(message: string): void {
    this.failed++;
    if (!this.firstError) {
      this.firstError = message;
      this.stopping = true;
      this.queue.length = 0;
      void Promise.all([...this.executors].map((e) => e.stopAll(`another task failed: ${message.split("\n")[0]}`)));
    }
  }

  private launch(step: string, parents: TaskMeta[], stack: ForeachFrame[], order: number): void {
    const taskId = String(this.nextTaskId++);
    void order;
    this.enqueue(() => this.runTask(step, taskId, parents, stack));
  }

  private progress(): string {
    return `${this.done} done, ${this.active - 1} running, ${this.queue.length} queued, ${this.failed} failed${this.cloned ? `, ${this.cloned} reused` : ""}`;
  }

  private async runTask(step: string, taskId: string, parents: TaskMeta[], stack: ForeachFrame[]): Promise<void> {
    const { runId } = this.o;
    const node = this.o.graph.nodes[step]!;
    const prior = this.existing.get(`${step}|${stackKey(stack)}`);
    if (prior) {
      // The run is being continued: a finished task is kept as it is, an unfinished one keeps its id and attempts.
      this.existing.delete(`${step}|${stackKey(stack)}`);
      if (prior.status === "succeeded" && prior.artifacts) {
        this.done++;
        this.o.output.info(`[${runId}/${step}/${prior.taskId}] finished before the restart; kept (${this.progress()})`);
        this.advance(node, prior);
        return;
      }
      await this.runGroup(node, [{ taskId: prior.taskId, stack, prior }], parents);
      return;
    }
    const reuse = !this.rerun.has(step) ? this.origin.get(`${step}|${stackKey(stack)}`) : undefined;
    if (reuse) {
      const meta: TaskMeta = {
        step,
        taskId,
        status: "succeeded",
        parents: parents.map((p) => `${p.step}/${p.taskId}`),
        foreachStack: stack,
        attempts: [],
        startedAt: new Date().toISOString(),
        finishedAt: new Date().toISOString(),
        artifacts: reuse.artifacts!,
        ...(reuse.transition ? { transition: reuse.transition } : {}),
        ...(reuse.foreachNum !== undefined ? { foreachNum: reuse.foreachNum } : {}),
        clonedFrom: reuse.clonedFrom!,
      };
      await this.ds.writeTask(runId, meta);
      this.cloned++;
      this.done++;
      this.o.output.info(`[${runId}/${step}/${taskId}] reused ${reuse.clonedFrom} (${this.progress()})`);
      this.advance(node, meta);
      return;
    }
    await this.runGroup(node, [{ taskId, stack }], parents);
  }

  /**
   * Runs a group of tasks of one step as a unit: one task normally, or the N nodes of an `@parallel` step
   * (gang semantics: all start together; one failing stops the others and fails the group). Retries
   * re-run the whole group.
   */
  private async runGroup(
    node: GraphNode,
    members: Array<{ taskId: string; stack: ForeachFrame[]; prior?: TaskMeta }>,
    parents: TaskMeta[],
  ): Promise<void> {
    const { graph, runId } = this.o;
    const step = node.name;
    const now = () => new Date().toISOString();
    const metas: TaskMeta[] = members.map((m) =>
      m.prior
        ? { ...m.prior, status: "running" }
        : {
            step,
            taskId: m.taskId,
            status: "running",
            parents: parents.map((p) => `${p.step}/${p.taskId}`),
            foreachStack: m.stack,
            attempts: [],
            startedAt: now(),
          },
    );
    // A continued task resumes at its running attempt (re-attached), or after its failed ones.
    // (A gang's nodes share their attempts: the control node's decide.)
    const firstAttempt = resumeAttempt(members[0]!.prior?.attempts);
    await Promise.all(metas.map((m) => this.ds.writeTask(runId, m)));
    const retry = node.meta.decorators.retry?.options;
    const timeoutSeconds = node.meta.decorators.timeout?.options.seconds;
    const envVars = node.meta.decorators.environment?.options.vars ?? {};
    const catchOpts: CatchOptions | undefined = node.meta.decorators.catch?.options;
    const executor = this.o.executorFor(node);
    this.executors.add(executor);
    const maxAttempts = 1 + (retry?.times ?? 0);
    const prefixes = metas.map((m) => `[${runId}/${step}/${m.taskId}]`);
    const gang = members.length > 1;
    let outcomes: AttemptOutcome[] = [];
    let gangFailure: string | undefined;
    let notRetried: string | undefined;
    let results: Array<TaskResult | undefined> = [];
    for (let attempt = firstAttempt; attempt < maxAttempts && !this.stopping; attempt++) {
      if (attempt > firstAttempt) {
        const wait = (retry?.minutesBetweenRetries ?? 0) * 60_000;
        this.o.output.info(
          `${prefixes[0]}${gang ? ` (+${members.length - 1} nodes)` : ""} retrying (attempt ${attempt + 1} of ${maxAttempts})${wait ? ` in ${retry!.minutesBetweenRetries} min` : ""}`,
        );
        if (wait) await this.sleep(wait);
        if (this.stopping) break;
      }
      const abort = new AbortController();
      let firstFailure: string | undefined;
      gangFailure = undefined;
      const runOne = async (meta: TaskMeta, i: number): Promise<[AttemptOutcome, TaskResult | undefined, TaskSpec]> => {
        const spec: TaskSpec = {
          flowName: graph.flowName,
          runId,
          step,
          taskId: meta.taskId,
          attempt,
          parents: meta.parents,
          foreachStack: meta.foreachStack,
          params: this.o.params,
          datastore: { kind: this.o.storage.kind, root: this.o.storage.root },
          user: this.run.user,
          tags: this.o.tags,
          maxNumSplits: this.o.maxNumSplits,
          ...(this.o.trigger ? { trigger: this.o.trigger } : {}),
          ...(gang
            ? {
                parallel: {
                  nodeIndex: i,
                  numNodes: members.length,
                  controlTaskId: metas[0]!.taskId,
                  taskIds: metas.map((m) => m.taskId),
                },
              }
            : {}),
        };
        const a: AttemptMeta = { attempt, status: "running", startedAt: now() };
        meta.attempts[attempt] = a;
        const prefix = prefixes[i]!;
        // The output so far is stored in chunks while the attempt runs (kubestep logs / ui show it live).
        // Chunks are keyed by when this orchestrator started the attempt, so a restarted one never overwrites them.
        const writer = `${Date.now().toString(36).padStart(10, "0")}-`;
        const live = new LogChunkFlusher({
          ...this.o.liveLog,
          write: (seq, text) => this.ds.writeLogChunk(runId, step, meta.taskId, attempt, seq, text, writer),
          onError: (e) => this.o.output.info(`${prefix} the live log could not be stored: ${e.message}`),
        });
        // Where the attempt runs (a Kubernetes pod and node) is recorded as soon as the executor knows it.
        let placed: Promise<void> = Promise.resolve();
        let outcome: AttemptOutcome;
        try {
          outcome = await executor.runAttempt(spec, {
            timeoutSeconds,
            env: envVars,
            prefix,
            onLine: (l, s) => {
              this.o.output.line(l, s);
              live.push(l.startsWith(prefix + " ") ? l.slice(prefix.length + 1) : l);
            },
            onPlacement: (p) => {
              a.placement = p;
              placed = placed.then(() => this.ds.writeTask(runId, meta).catch(() => undefined));
            },
            signal: abort.signal,
          });
        } finally {
          // The whole log is archived next: what was not stored yet as a chunk needs no chunk.
          await live.close({ flushRest: false });
          await placed;
        }
        await this.ds.writeLog(runId, step, meta.taskId, attempt, outcome.log);
        if (live.chunks) await this.ds.deleteLogChunks(runId, step, meta.taskId, attempt).catch(() => undefined);
        let result: TaskResult | undefined;
        if (outcome.ok) {
          result = await this.ds.readResult(runId, step, meta.taskId, attempt);
          if (!result)
            outcome = {
              ...outcome,
              ok: false,
              reason: "exit",
              error: `step ${step}: the task exited without storing its result`,
            };
        }
        if (!outcome.ok && gang) {
          if (firstFailure === undefined) {
            firstFailure = `node ${i} (task ${meta.taskId}) failed: ${outcome.error}`;
            gangFailure = firstFailure;
            abort.abort(`step ${step}: ${firstFailure}; stopping the other nodes of the gang`);
          } else if (outcome.reason === "killed")
            outcome = { ...outcome, error: `step ${step}: stopped because ${firstFailure}` };
        }
        meta.attempts[attempt] = {
          ...a,
          status: outcome.ok ? "succeeded" : "failed",
          finishedAt: now(),
          exitCode: outcome.exitCode ?? null,
          signal: outcome.signal ?? null,
          executor: outcome.where,
          ...(outcome.ok ? {} : { reason: outcome.reason, error: outcome.error }),
        };
        if (!outcome.ok) this.o.output.info(`${prefixes[i]} attempt ${attempt + 1} failed: ${outcome.error}`);
        return [outcome, result, spec];
      };
      const settled = await Promise.all(metas.map(runOne));
      outcomes = settled.map((x) => x[0]);
      results = settled.map((x) => x[1]);
      if (outcomes.every((o) => o.ok)) break;
      // A gang fails as a whole: nodes that finished are discarded too.
      if (gang) await Promise.all(settled.filter((x) => x[0].ok).map((x) => executor.discard?.(x[2])));
      await Promise.all(metas.map((m) => this.ds.writeTask(runId, m)));
      // A failure only the user can fix (bad image, unschedulable, missing secret, ...) is not retried.
      const fatal = outcomes.find((o) => !o.ok && o.retryable === false && o.reason !== "killed");
      if (fatal && attempt + 1 < maxAttempts) {
        notRetried = `not retried although @retry allows ${maxAttempts - attempt - 1} more attempt(s): ${fatal.reason ?? "this failure"} cannot succeed on another attempt until its cause is fixed`;
        this.o.output.info(`${prefixes[0]} ${notRetried}`);
        break;
      }
    }

    if (outcomes.length && outcomes.every((o) => o.ok)) {
      for (const [i, meta] of metas.entries()) {
        const result = results[i]!;
        Object.assign(meta, {
          status: "succeeded",
          artifacts: result.artifacts,
          transition: result.transition,
          foreachNum: result.foreachNum,
          finishedAt: now(),
        });
        await this.ds.writeTask(runId, meta);
        this.done++;
        this.o.output.info(`${prefixes[i]} finished (${this.progress()})`);
      }
      for (const meta of metas) this.advance(node, meta);
      return;
    }

    const failedOutcome = outcomes.find((o) => !o.ok && o.reason !== "killed") ?? outcomes.find((o) => !o.ok);
    const error =
      ((gang && gangFailure ? `step ${step}: parallel ${gangFailure}` : failedOutcome?.error) ??
        `step ${step}: stopped before it ran`) + (notRetried ? `; ${notRetried}` : "");
    if (catchOpts && !this.stopping && node.foreach === undefined && !gang) {
      // @catch: record the failure and continue along the declared transition.
      const meta = metas[0]!;
      const parentArtifacts = !node.isJoin && parents[0]?.artifacts ? parents[0].artifacts : {};
      const artifacts = { ...parentArtifacts };
      if (catchOpts.var)
        artifacts[catchOpts.var] = await this.store.save(catchOpts.var, {
          type: failedOutcome?.reason ?? "exception",
          message: redact(error),
          step,
          attempts: meta.attempts.length,
        });
      Object.assign(meta, {
        status: "succeeded",
        artifacts,
        transition: { targets: node.out },
        caught: error,
        finishedAt: now(),
      });
      await this.ds.writeTask(runId, meta);
      this.done++;
      if (catchOpts.printException !== false)
        this.o.output.info(
          `${prefixes[0]} @catch: ${error}; continuing${catchOpts.var ? ` (failure stored in ${catchOpts.var})` : ""}`,
        );
      this.advance(node, meta);
      return;
    }
    for (const meta of metas) {
      Object.assign(meta, { status: "failed", finishedAt: now() });
      await this.ds.writeTask(runId, meta);
    }
    if (catchOpts && node.foreach !== undefined && !this.stopping)
      this.o.output.info(
        `${prefixes[0]} @catch cannot continue a failed foreach step (the number of splits is unknown)`,
      );
    this.fail(error);
  }

  /**
   * The nodes of an `@parallel` gang: new task ids, or, when the run is being continued, the ids (and attempts)
   * its nodes had before the restart, so the gang's JobSet or Jobs (named deterministically) are re-attached.
   */
  private gangMembers(
    target: string,
    stack: ForeachFrame[],
    splitStep: string,
    num: number,
  ): Array<{ taskId: string; stack: ForeachFrame[]; prior?: TaskMeta }> {
    return Array.from({ length: num }, (_, i) => {
      const s = [...stack, { step: splitStep, index: i, num }];
      const key = `${target}|${stackKey(s)}`;
      const prior = this.existing.get(key);
      this.existing.delete(key);
      return prior ? { taskId: prior.taskId, stack: s, prior } : { taskId: String(this.nextTaskId++), stack: s };
    });
  }

  /** Runs a gang, or advances past it when every node had finished before the run was continued. */
  private async runGang(
    node: GraphNode,
    members: Array<{ taskId: string; stack: ForeachFrame[]; prior?: TaskMeta }>,
    parents: TaskMeta[],
  ): Promise<void> {
    if (members.every((m) => m.prior?.status === "succeeded" && m.prior.artifacts)) {
      for (const m of members) {
        this.done++;
        this.o.output.info(
          `[${this.o.runId}/${node.name}/${m.taskId}] finished before the restart; kept (${this.progress()})`,
        );
      }
      for (const m of members) this.advance(node, m.prior!);
      return;
    }
    await this.runGroup(node, members, parents);
  }

  /** Schedules what follows a finished task. */
  private advance(node: GraphNode, task: TaskMeta): void {
    if (this.stopping) return;
    const { graph } = this.o;
    const t = task.transition;
    if (!t) return; // end
    for (const [bi, target] of t.targets.entries()) {
      const tn = graph.nodes[target]!;
      if (tn.isJoin) {
        const closing = graph.nodes[tn.splitParents[tn.splitParents.length - 1]!]!;
        const foreachJoin = closing.type === "foreach" || closing.type === "parallel";
        const stack = foreachJoin ? task.foreachStack.slice(0, -1) : task.foreachStack;
        const key = `${target}|${stackKey(stack)}`;
        const order = foreachJoin ? task.foreachStack[task.foreachStack.length - 1]!.index : tn.in.indexOf(node.name);
        const expected = foreachJoin ? task.foreachStack[task.foreachStack.length - 1]!.num : tn.in.length;
        const pj = this.joins.get(key) ?? { expected, arrived: [], stack };
        pj.arrived.push({ order, task });
        this.joins.set(key, pj);
        if (pj.arrived.length === pj.expected) {
          this.joins.delete(key);
          const parents = pj.arrived.sort((a, b) => a.order - b.order).map((a) => a.task);
          this.launch(target, parents, stack, 0);
        }
      } else if (node.type === "parallel") {
        const num = t.numParallel ?? node.numParallel ?? tn.meta.decorators.parallel?.options.numNodes;
        if (!num || num < 2 || !Number.isInteger(num)) {
          this.fail(
            `step ${node.name}: @parallel step ${target} needs numParallel >= 2 (got ${num}); use this.next(this.${target}, { numParallel: N }) or @parallel({ numNodes: N })`,
          );
          return;
        }
        const members = this.gangMembers(target, task.foreachStack, node.name, num);
        this.enqueue(() => this.runGang(tn, members, [task]));
      } else if (t.foreach !== undefined) {
        const num = task.foreachNum ?? 0;
        if (num === 0) {
          this.fail(`step ${node.name}: foreach over ${t.foreach} is empty; a foreach needs at least one element`);
          return;
        }
        for (let i = 0; i < num; i++)
          this.launch(target, [task], [...task.foreachStack, { step: node.name, index: i, num }], i);
      } else {
        this.launch(target, [task], task.foreachStack, bi);
      }
    }
    this.pump();
  }
}
