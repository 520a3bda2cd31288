/**
 * The local executor: each attempt runs in its own worker thread of the CLI (a fresh V8 isolate with its own
 * module state, `process.env` and heap limit) or, for code that cannot run in a thread or when asked, in its own
 * `node` child process. Either way a crash or `process.exit` in user code fails that attempt, never the orchestrator.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import { pathToFileURL } from "node:url";
import { getHeapStatistics } from "node:v8";
import { Worker } from "node:worker_threads";
import type { Readable } from "node:stream";
import { LineSplitter, lastException, type AttemptOptions, type AttemptOutcome, type Executor } from "./executor.js";
import { TASK_SPEC_ENV, type TaskSpec } from "./spec.js";
import { mapStack } from "./stack.js";
import type { TaskLaunch, TaskThreadData } from "./task.js";
import type { FlowGraph } from "../flow/graph.js";

/** Seconds between SIGTERM and SIGKILL when an attempt is stopped. */
const KILL_GRACE_MS = 2000;

/** How long the output streams of an ended task thread may take to end. */
const STREAM_END_GRACE_MS = 1000;

/** How local tasks are isolated: a worker thread of the CLI each, or a `node` process each. */
export type LocalIsolation = "thread" | "process";

/** Options of the local executor. */
export interface LocalExecutorOptions {
  /**
   * Tasks started ahead of need (default 2; see {@link spareCount}). A spare boots (a thread or a process) and
   * loads the runtime while other tasks run and takes exactly one task; user code is imported only once the task
   * is known.
   */
  spares?: number;
  /** Steps after whose start no spare is started (`end`: nothing runs after it). */
  lastSteps?: readonly string[];
  /** Worker threads (default) or processes; see {@link chooseIsolation}. */
  isolation?: LocalIsolation;
  /** The heap limit of a task thread in MB (default: the CLI's own, as a task process would have). */
  threadHeapMb?: number;
}

/**
 * Why the code package at `codePath` cannot run in worker threads, or undefined when it can: the operations Node
 * refuses in a worker (`process.chdir`, `process.setuid` and the like, `process.umask(mask)`), native addons
 * or other external packages (an addon must be context-aware to load in a thread), and `child_process` (a task
 * process stops the subprocesses of its step with its process group; a thread blocked in `execSync` cannot be
 * stopped).
 */
export function threadBlocker(codeText: string, externals: readonly string[] = []): string | undefined {
  if (externals.length) return `loads external packages (${externals.join(", ")})`;
  for (const m of codeText.matchAll(
    /\bprocess\.(chdir|setuid|setgid|seteuid|setegid|setgroups|initgroups|umask)\s*\(\s*([^)\s])?/g,
  ))
    if (m[1] !== "umask" || m[2]) return `calls process.${m[1]}(), which a worker thread cannot`;
  if (/\.node["']\s*\)/.test(codeText) || /process\.dlopen\s*\(/.test(codeText)) return "loads a native addon";
  // A step's subprocesses are stopped with its task process's group (@timeout, Ctrl-C), and a thread blocked in
  // execSync/spawnSync cannot be stopped by terminate(): code that starts processes gets processes.
  if (/["'](node:)?child_process["']/.test(codeText)) return "starts subprocesses (child_process)";
  return undefined;
}

/**
 * The isolation of a local run: `requested` (`--isolation` or `KUBESTEP_LOCAL_ISOLATION`, default thread), except
 * that code that cannot run in a thread (see {@link threadBlocker}) runs in processes; `reason` says why then.
 */
export function chooseIsolation(
  requested: LocalIsolation | undefined,
  codePath: string,
  externals: readonly string[] = [],
): { isolation: LocalIsolation; reason?: string } {
  if (requested === "process") return { isolation: "process" };
  const blocker = threadBlocker(readFileSync(codePath, "utf8"), externals);
  return blocker ? { isolation: "process", reason: blocker } : { isolation: "thread" };
}

/**
 * How many spare tasks a local run keeps: a spare boots the next task on a core the running tasks leave idle,
 * so it only pays when `maxTasks` (the tasks that can run at once: the flow's width bounded by `--max-workers`)
 * is below the number of cores; otherwise it competes with running tasks for CPU and holds a booted runtime for
 * the whole run. At most 2; at least 0.
 */
export function spareCount(maxTasks: number, cores: number = availableParallelism()): number {
  return Math.max(0, Math.min(2, cores - maxTasks));
}

/** How many tasks of `graph` can run at once under `maxWorkers`: 1 for a flow without branches, foreach or @parallel. */
export function localWidth(graph: FlowGraph, maxWorkers: number): number {
  const fansOut = graph.order.some((s) => {
    const n = graph.nodes[s]!;
    return (
      n.out.length > 1 ||
      n.foreach !== undefined ||
      n.type === "foreach" ||
      n.type === "parallel" ||
      !!n.meta.decorators.parallel
    );
  });
  return fansOut ? maxWorkers : 1;
}

/** One started task (a worker thread or a child process), before and after it is given its attempt. */
interface TaskHandle {
  readonly stdout: Readable;
  readonly stderr: Readable;
  /** "local thread 3 (pid 123)", "local pid 456". */
  readonly where: string;
  /** Whether it already ended (a spare that died). */
  ended(): boolean;
  /** Hands it its attempt. */
  start(launch: TaskLaunch): void;
  /** Stops it: terminates the thread, or SIGTERM then SIGKILL to the process group. */
  stop(): void;
  /** Called once when it ended and its output was read to the end; `error` is a thread's uncaught error. */
  onEnd(cb: (code: number | null, signal: NodeJS.Signals | null, error?: Error) => void): void;
  /** Registers that a failure to start must not crash the CLI. */
  ignoreErrors(): void;
}

/** The default heap limit of a task thread: the CLI's own, so a step can use as much as a process could. */
const THREAD_HEAP_MB = Math.ceil(getHeapStatistics().heap_size_limit / 2 ** 20);

class ThreadTask implements TaskHandle {
  private readonly worker: Worker;
  readonly where: string;
  private exitCode: number | null = null;
  private error: Error | undefined;
  private done = false;
  private readonly waiters: ((code: number | null, signal: NodeJS.Signals | null, error?: Error) => void)[] = [];

  constructor(codePath: string, heapMb: number) {
    const data: TaskThreadData = { kubestepTaskThread: true, codePath };
    // The package's own entry check (`argv[1]` is the package) does not fire in a thread: the task is run here.
    this.worker = new Worker(
      `import(${JSON.stringify(pathToFileURL(codePath).href)}).then((m) => m.runTaskProcess());`,
      {
        eval: true,
        workerData: data,
        env: { ...process.env, [TASK_SPEC_ENV]: "" },
        stdout: true,
        stderr: true,
        stdin: false,
        resourceLimits: { maxOldGenerationSizeMb: heapMb },
      },
    );
    this.where = `local thread ${this.worker.threadId} (pid ${process.pid})`;
    let open = 3; // exit, stdout end, stderr end
    const end = () => {
      if (--open > 0 || this.done) return;
      this.done = true;
      for (const w of this.waiters.splice(0)) w(this.exitCode, null, this.error);
    };
    this.worker.on("error", (e) => {
      this.error = e;
    });
    this.worker.once("exit", (code) => {
      this.exitCode = code;
      end();
      // The output the thread wrote before it ended is read to the end first; a stream that never ends does not hold it.
      setTimeout(() => {
        open = 1;
        end();
      }, STREAM_END_GRACE_MS).unref();
    });
    this.worker.stdout.once("end", end);
    this.worker.stderr.once("end", end);
  }
  get stdout(): Readable {
    return this.worker.stdout;
  }
  get stderr(): Readable {
    return this.worker.stderr;
  }
  ended(): boolean {
    return this.done || this.exitCode !== null;
  }
  start(launch: TaskLaunch): void {
    this.worker.postMessage(launch);
  }
  stop(): void {
    void this.worker.terminate();
  }
  onEnd(cb: (code: number | null, signal: NodeJS.Signals | null, error?: Error) => void): void {
    if (this.done) cb(this.exitCode, null, this.error);
    else this.waiters.push(cb);
  }
  ignoreErrors(): void {
    /* a thread's errors arrive as its 'error' event, always listened to */
  }
}

class ProcessTask implements TaskHandle {
  private readonly child: ChildProcess;
  /** Its exit code and signal once it closed (exited and its output ended). */
  private closedWith: [number | null, NodeJS.Signals | null] | undefined;
  constructor(codePath: string) {
    this.child = spawn(process.execPath, [codePath], {
      env: { ...process.env, [TASK_SPEC_ENV]: "" },
      stdio: ["pipe", "pipe", "pipe"],
      detached: true, // own process group: Ctrl-C reaches the orchestrator, which stops the group
    });
    this.child.once("close", (code, signal) => (this.closedWith = [code, signal]));
  }
  get stdout(): Readable {
    return this.child.stdout!;
  }
  get stderr(): Readable {
    return this.child.stderr!;
  }
  get where(): string {
    return `local pid ${this.child.pid}`;
  }
  ended(): boolean {
    return this.child.exitCode !== null || this.child.signalCode !== null;
  }
  start(launch: TaskLaunch): void {
    this.child.stdin!.on("error", () => undefined);
    this.child.stdin!.end(JSON.stringify(launch) + "\n");
  }
  stop(): void {
    killGroup(this.child);
  }
  onEnd(cb: (code: number | null, signal: NodeJS.Signals | null, error?: Error) => void): void {
    if (this.closedWith) cb(...this.closedWith);
    else this.child.once("close", (code, signal) => cb(code, signal));
  }
  ignoreErrors(): void {
    this.child.on("error", () => undefined);
    this.child.stdin?.on("error", () => undefined);
  }
  /** Closes the stdin of a spare never given a task, then stops it. */
  discard(): void {
    this.child.stdin?.destroy();
    killGroup(this.child);
  }
}

export class LocalExecutor implements Executor {
  private readonly running = new Set<TaskHandle>();
  private readonly spares: TaskHandle[] = [];
  private stopReason: string | undefined;
  private closed = false;
  private readonly spareCount: number;
  private readonly lastSteps: ReadonlySet<string>;
  /** How the tasks of this executor are isolated. */
  readonly isolation: LocalIsolation;
  private readonly threadHeapMb: number;

  constructor(
    private readonly codePath: string,
    options: LocalExecutorOptions = {},
  ) {
    this.spareCount = options.spares ?? 2;
    this.lastSteps = new Set(options.lastSteps ?? []);
    this.isolation = options.isolation ?? "thread";
    this.threadHeapMb = options.threadHeapMb ?? THREAD_HEAP_MB;
  }

  /** Attempts running now. */
  get runningTasks(): number {
    return this.running.size;
  }

  /** Tasks started ahead of need and not yet given a task. */
  get spareProcesses(): number {
    return this.spares.length;
  }

  private startTask(): TaskHandle {
    return this.isolation === "thread"
      ? new ThreadTask(this.codePath, this.threadHeapMb)
      : new ProcessTask(this.codePath);
  }

  /** Starts spare tasks up to the configured count. */
  warm(): void {
    while (!this.closed && !this.stopReason && this.spares.length < this.spareCount) {
      const t = this.startTask();
      t.ignoreErrors();
      this.spares.push(t);
    }
  }

  private take(step: string): TaskHandle {
    let task: TaskHandle | undefined;
    while ((task = this.spares.shift()) && task.ended());
    task ??= this.startTask();
    if (!this.lastSteps.has(step)) setImmediate(() => this.warm());
    return task;
  }

  /** Stops the spare tasks (end of run). */
  async close(): Promise<void> {
    this.closed = true;
    const spares = this.spares.splice(0);
    await Promise.all(
      spares.map(
        (t) =>
          new Promise<void>((r) => {
            t.onEnd(() => r());
            if (t instanceof ProcessTask) t.discard();
            else t.stop();
          }),
      ),
    );
  }

  runAttempt(spec: TaskSpec, o: AttemptOptions): Promise<AttemptOutcome> {
    return new Promise((resolvePromise) => {
      const task = this.take(spec.step);
      if (spec.parallel) spec = { ...spec, parallel: { ...spec.parallel, mainIp: "127.0.0.1" } };
      task.start({ spec, env: o.env });
      let aborted: string | undefined;
      const onAbort = () => {
        aborted = String(o.signal?.reason ?? "stopped");
        task.stop();
      };
      if (o.signal?.aborted) onAbort();
      else o.signal?.addEventListener("abort", onAbort, { once: true });
      this.running.add(task);
      const log: string[] = [];
      const tail: string[] = [];
      const onLine = (stream: "stdout" | "stderr") => (line: string) => {
        log.push(line);
        if (stream === "stderr") {
          tail.push(line);
          if (tail.length > 30) tail.shift();
        }
        o.onLine(`${o.prefix} ${line}`, stream);
      };
      const out = new LineSplitter(onLine("stdout"));
      const err = new LineSplitter(onLine("stderr"));
      task.stdout.on("data", (c: Buffer) => out.push(c));
      task.stderr.on("data", (c: Buffer) => err.push(c));
      let timedOut = false;
      const timer = o.timeoutSeconds
        ? setTimeout(() => {
            timedOut = true;
            task.stop();
          }, o.timeoutSeconds * 1000)
        : undefined;
      task.onEnd((code, signal, thrown) => {
        if (timer) clearTimeout(timer);
        o.signal?.removeEventListener("abort", onAbort);
        out.flush();
        // A thread's uncaught exception (outside the step's own promise chain) or memory error: printed as a
        // process would print it, with the user's files and lines.
        const oom = (thrown as NodeJS.ErrnoException | undefined)?.code === "ERR_WORKER_OUT_OF_MEMORY";
        if (thrown && !oom && !timedOut && !aborted && !this.stopReason)
          err.push(`${mapStack(thrown.stack ?? String(thrown), this.codePath)}\n`);
        err.flush();
        this.running.delete(task);
        const base = {
          exitCode: code,
          signal,
          log: log.join("\n") + (log.length ? "\n" : ""),
          where: task.where,
        };
        if (code === 0 && !timedOut && !thrown) return resolvePromise({ ok: true, ...base });
        let reason = "exception";
        let error: string;
        if (timedOut) {
          reason = "timeout";
          error = `step ${spec.step}: timed out after ${o.timeoutSeconds} s (@timeout) and was killed`;
        } else if (aborted) {
          reason = "killed";
          error = aborted;
        } else if (this.stopReason) {
          reason = "killed";
          error = `step ${spec.step}: stopped (${this.stopReason})`;
        } else if (oom) {
          reason = "oom";
          error = `step ${spec.step}: ran out of memory (the task's heap limit is ${this.threadHeapMb} MB): ${thrown!.message}`;
        } else if (signal) {
          reason = "killed";
          error = `step ${spec.step}: the task process was killed by ${signal}`;
        } else {
          const exc = lastException(tail);
          if (exc) error = `step ${spec.step}: ${exc}`;
          else {
            reason = "exit";
            error = `step ${spec.step}: the task ${this.isolation} exited with code ${code} before finishing the step (process.exit() or a crash in user code)`;
          }
        }
        resolvePromise({ ok: false, reason, error, ...base });
      });
    });
  }

  async stopAll(reason: string): Promise<void> {
    this.stopReason = reason;
    void this.close();
    const tasks = [...this.running];
    await Promise.all(
      tasks.map(
        (t) =>
          new Promise<void>((r) => {
            t.onEnd(() => r());
            t.stop();
          }),
      ),
    );
  }
}

function killGroup(child: ChildProcess): void {
  const signal = (s: NodeJS.Signals) => {
    try {
      process.kill(-child.pid!, s);
    } catch {
      try {
        child.kill(s);
      } catch {
        /* already gone */
      }
    }
  };
  signal("SIGTERM");
  const t = setTimeout(() => signal("SIGKILL"), KILL_GRACE_MS);
  t.unref();
  child.once("close", () => clearTimeout(t));
}
