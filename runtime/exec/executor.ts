/** What an executor (local processes, Kubernetes Jobs) does for the orchestrator: run one attempt. */
import type { TaskSpec } from "./spec.js";
import type { Placement } from "../datastore/flowstore.js";

/** How an attempt ended. */
export interface AttemptOutcome {
  ok: boolean;
  exitCode?: number | null;
  signal?: string | null;
  /** Short cause when it failed: exception, exit, timeout, killed, oom, unschedulable, image, config, node-lost, ... */
  reason?: string;
  /** Explanation a user can act on. */
  error?: string;
  /**
   * Whether another attempt (`@retry`) can succeed with nothing changed. `false` when only the user can fix
   * the cause (unschedulable, bad image, missing secret / config map / volume, quota, invalid spec): the
   * orchestrator then stops retrying and says why. Absent means retryable (the task's own failures).
   */
  retryable?: boolean;
  /** Everything the attempt printed (stdout and stderr, interleaved), for the log archive. */
  log: string;
  /** Where it ran (e.g. "local", a Job name). */
  where: string;
}

/** What the orchestrator passes with each attempt. */
export interface AttemptOptions {
  /** Kill the attempt after this many seconds (`@timeout`). */
  timeoutSeconds?: number;
  /** Extra environment variables (`@environment`). */
  env: Record<string, string>;
  /** Line prefix for live logs, `[run/step/task]`. */
  prefix: string;
  /** Receives each output line (already prefixed) as it arrives. */
  onLine: (line: string, stream: "stdout" | "stderr") => void;
  /** Aborting stops the attempt (a gang member failed); the reason becomes its error. */
  signal?: AbortSignal;
  /** Called when the executor learns (or learns more about) where the attempt runs: its Job, pod and node. */
  onPlacement?: (placement: Placement) => void;
}

export interface Executor {
  /** Runs one attempt to completion. */
  runAttempt(spec: TaskSpec, options: AttemptOptions): Promise<AttemptOutcome>;
  /** Stops every attempt still running (Ctrl-C, or another task failed). */
  stopAll(reason: string): Promise<void>;
  /** Removes what a finished attempt left behind (a gang that failed as a whole discards its successful nodes). */
  discard?(spec: TaskSpec): Promise<void>;
  /** Releases what the executor keeps between attempts (spare processes, watches); called at the end of a run. */
  close?(): Promise<void>;
}

/** Splits a byte stream into lines, calling `emit` per complete line; `flush` emits the rest. */
export class LineSplitter {
  private rest = "";
  constructor(private readonly emit: (line: string) => void) {}
  push(chunk: Buffer | string): void {
    const text = this.rest + chunk.toString();
    const lines = text.split("\n");
    this.rest = lines.pop()!;
    for (const l of lines) this.emit(l);
  }
  flush(): void {
    if (this.rest) this.emit(this.rest);
    this.rest = "";
  }
}

/** The first line of the last uncaught exception printed by the task (`Error: message`). */
export function lastException(stderrTail: string[]): string | undefined {
  for (let i = stderrTail.length - 1; i >= 0; i--) {
    const l = stderrTail[i]!;
    if (/^\s+at /.test(l)) continue;
    if (/^[A-Za-z_$][\w$]*(Error|Exception)?(\s\[[^\]]+\])?: /.test(l) || /^[A-Z]\w*Error$/.test(l)) {
      // Walk up to the first line of this stack (the message may span lines).
      return l;
    }
  }
  return undefined;
}
