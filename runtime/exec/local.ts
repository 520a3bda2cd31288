/**
 * The local executor: each attempt is its own `node` child process running the code package, so a
 * crash or `process.exit` in user code fails that attempt, never the orchestrator.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { availableParallelism } from "node:os";
import { LineSplitter, lastException, type AttemptOptions, type AttemptOutcome, type Executor } from "./executor.js";
import { TASK_SPEC_ENV, type TaskSpec } from "./spec.js";
import type { FlowGraph } from "../flow/graph.js";

/** Seconds between SIGTERM and SIGKILL when an attempt is stopped. */
const KILL_GRACE_MS = 2000;

/** Options of the local executor. */
export interface LocalExecutorOptions {
  /**
   * Task processes started ahead of need (default 2; see {@link spareCount}). A spare boots Node and the runtime
   * while other tasks run and takes exactly one task; user code is imported only once the task is known.
   */
  spares?: number;
  /** Steps after whose start no spare is started (`end`: nothing runs after it). */
  lastSteps?: readonly string[];
}

/**
 * How many spare task processes a local run keeps: a spare boots the next task on a core the running tasks
 * leave idle, so it only pays when `maxTasks` (the tasks that can run at once: the flow's width bounded by
 * `--max-workers`) is below the number of cores; otherwise it competes with running tasks for CPU and holds
 * a booted Node (about 45 MB) for the whole run. At most 2; at least 0.
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

export class LocalExecutor implements Executor {
  private readonly running = new Set<ChildProcess>();
  private readonly spares: ChildProcess[] = [];
  private stopReason: string | undefined;
  private closed = false;
  private readonly spareCount: number;
  private readonly lastSteps: ReadonlySet<string>;

  constructor(
    private readonly codePath: string,
    options: LocalExecutorOptions = {},
  ) {
    this.spareCount = options.spares ?? 2;
    this.lastSteps = new Set(options.lastSteps ?? []);
  }

  /** Task processes started ahead of need and not yet given a task. */
  get spareProcesses(): number {
    return this.spares.length;
  }

  private spawnProcess(): ChildProcess {
    return spawn(process.execPath, [this.codePath], {
      env: { ...process.env, [TASK_SPEC_ENV]: "" },
      stdio: ["pipe", "pipe", "pipe"],
      detached: true, // own process group: Ctrl-C reaches the orchestrator, which stops the group
    });
  }

  /** Starts spare task processes up to the configured count. */
  warm(): void {
    while (!this.closed && !this.stopReason && this.spares.length < this.spareCount) {
      const c = this.spawnProcess();
      c.on("error", () => undefined);
      this.spares.push(c);
    }
  }

  private take(step: string): ChildProcess {
    let child: ChildProcess | undefined;
    while ((child = this.spares.shift()) && (child.exitCode !== null || child.signalCode !== null));
    child ??= this.spawnProcess();
    if (!this.lastSteps.has(step)) setImmediate(() => this.warm());
    return child;
  }

  /** Stops the spare processes (end of run). */
  async close(): Promise<void> {
    this.closed = true;
    for (const c of this.spares.splice(0)) {
      c.stdin?.destroy();
      killGroup(c);
    }
  }

  runAttempt(spec: TaskSpec, o: AttemptOptions): Promise<AttemptOutcome> {
    return new Promise((resolvePromise) => {
      const child = this.take(spec.step);
      if (spec.parallel) spec = { ...spec, parallel: { ...spec.parallel, mainIp: "127.0.0.1" } };
      child.stdin!.on("error", () => undefined);
      child.stdin!.end(JSON.stringify({ spec, env: o.env }) + "\n");
      let aborted: string | undefined;
      const onAbort = () => {
        aborted = String(o.signal?.reason ?? "stopped");
        killGroup(child);
      };
      if (o.signal?.aborted) onAbort();
      else o.signal?.addEventListener("abort", onAbort, { once: true });
      this.running.add(child);
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
      child.stdout!.on("data", (c: Buffer) => out.push(c));
      child.stderr!.on("data", (c: Buffer) => err.push(c));
      let timedOut = false;
      const timer = o.timeoutSeconds
        ? setTimeout(() => {
            timedOut = true;
            killGroup(child);
          }, o.timeoutSeconds * 1000)
        : undefined;
      child.on("error", (e) => {
        log.push(String(e));
      });
      child.on("close", (code, signal) => {
        if (timer) clearTimeout(timer);
        o.signal?.removeEventListener("abort", onAbort);
        out.flush();
        err.flush();
        this.running.delete(child);
        const base = {
          exitCode: code,
          signal,
          log: log.join("\n") + (log.length ? "\n" : ""),
          where: `local pid ${child.pid}`,
        };
        if (code === 0 && !timedOut) return resolvePromise({ ok: true, ...base });
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
        } else if (signal) {
          reason = "killed";
          error = `step ${spec.step}: the task process was killed by ${signal}`;
        } else {
          const exc = lastException(tail);
          if (exc) error = `step ${spec.step}: ${exc}`;
          else {
            reason = "exit";
            error = `step ${spec.step}: the task process exited with code ${code} before finishing the step (process.exit() or a crash in user code)`;
          }
        }
        resolvePromise({ ok: false, reason, error, ...base });
      });
    });
  }

  async stopAll(reason: string): Promise<void> {
    this.stopReason = reason;
    void this.close();
    const children = [...this.running];
    await Promise.all(
      children.map(
        (c) =>
          new Promise<void>((r) => {
            if (c.exitCode !== null || c.signalCode !== null) return r();
            c.once("close", () => r());
            killGroup(c);
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
