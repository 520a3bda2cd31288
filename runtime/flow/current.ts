/** `current`: what a running task knows about itself. */
import { taskCard, type Card } from "./card.js";
import type { RunTrigger } from "../deploy/record.js";

/** Parallel-step information (inside an `@parallel` step). */
export interface ParallelInfo {
  /** This node's index; 0 is the control node. */
  nodeIndex: number;
  /** Number of nodes. */
  numNodes: number;
  /** Address of the control node. */
  mainIp: string;
  /** Task id of the control node. */
  controlTaskId: string;
}

/** The fields of `current`. */
export interface CurrentInfo {
  /** Flow class name. */
  flowName: string;
  /** Run id. */
  runId: string;
  /** Step name. */
  stepName: string;
  /** Task id. */
  taskId: string;
  /** Attempt number, 0 for the first. */
  retryCount: number;
  /** `Flow/run/step/task`. */
  pathspec: string;
  /** Whether this task runs in a Kubernetes pod. */
  isRunningOnKubernetes: boolean;
  /** User who started the run. */
  username: string;
  /** Tags of the run. */
  tags: string[];
  /** A scratch directory for the task (tmpfs on Kubernetes when configured). */
  tempdir: string;
  /** Parallel info in an `@parallel` step. */
  parallel?: ParallelInfo;
  /** Why a deployed run started (`kubestep trigger`, its schedule, an event and its payload, an upstream run); undefined for `kubestep run`. */
  trigger?: RunTrigger;
}

const KEY = Symbol.for("kubestep.current");
type Holder = { [KEY]?: CurrentInfo };

/** Sets `current` (the task runtime does this before a step runs). */
export function setCurrent(info: CurrentInfo | undefined): void {
  (globalThis as Holder)[KEY] = info;
}

function get(): CurrentInfo {
  const c = (globalThis as Holder)[KEY];
  if (!c) throw new Error("`current` is only available while a step runs");
  return c;
}

/** What the running task knows about itself: flow, run, step, task, attempt, pathspec, Kubernetes or not. */
export const current: Readonly<CurrentInfo> & {
  readonly isRunning: boolean;
  /** This task's card (a report `kubestep ui` and `kubestep card get` show). */ readonly card: Card;
} = {
  get isRunning() {
    return (globalThis as Holder)[KEY] !== undefined;
  },
  get flowName() {
    return get().flowName;
  },
  get runId() {
    return get().runId;
  },
  get stepName() {
    return get().stepName;
  },
  get taskId() {
    return get().taskId;
  },
  get retryCount() {
    return get().retryCount;
  },
  get pathspec() {
    return get().pathspec;
  },
  get isRunningOnKubernetes() {
    return get().isRunningOnKubernetes;
  },
  get username() {
    return get().username;
  },
  get tags() {
    return get().tags;
  },
  get tempdir() {
    return get().tempdir;
  },
  get parallel() {
    return get().parallel;
  },
  get trigger() {
    return get().trigger;
  },
  get card() {
    get();
    return taskCard();
  },
};
