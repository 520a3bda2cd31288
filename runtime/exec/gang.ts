/**
 * The gang contract of `@parallel` inside a task process: the variables an executor puts in each node's
 * environment (today the Kubernetes JobSet path, see `kubernetes/jobset.ts`) and how a task process reads
 * its place in the gang from them. No Kubernetes here: the task runtime imports it.
 */
import type { KubestepVariable } from "../variables.js";

/** Environment variable names set in the pods of a JobSet gang (see `kubernetes/jobset.ts`). */
export const PARALLEL_ENV = {
  mainIp: "KUBESTEP_PARALLEL_MAIN_IP",
  numNodes: "KUBESTEP_PARALLEL_NUM_NODES",
  nodeIndex: "KUBESTEP_PARALLEL_NODE_INDEX",
  workerIndex: "KUBESTEP_PARALLEL_WORKER_INDEX",
  controlTaskId: "KUBESTEP_PARALLEL_CONTROL_TASK_ID",
  workerTaskIds: "KUBESTEP_PARALLEL_WORKER_TASK_IDS",
} as const satisfies Readonly<Record<string, KubestepVariable>>;

/** What a pod of a JobSet gang is, read from its environment. */
export interface ParallelNode {
  /** 0 for the control, 1..N-1 for workers. */
  nodeIndex: number;
  /** N. */
  numNodes: number;
  /** Address of the control node. */
  mainIp: string;
  /** Task id of the control node. */
  controlTaskId: string;
  /** This node's task id. */
  taskId: string;
}

/**
 * Reads the gang variables `buildJobSet` (kubernetes/jobset.ts) puts in a pod (`process.env` in the pod) and returns this
 * node's place in the gang, or undefined when the pod is not a JobSet gang member
 * (`KUBESTEP_PARALLEL_NUM_NODES` unset). Workers get `nodeIndex = KUBESTEP_PARALLEL_WORKER_INDEX + 1` and
 * their task id from `KUBESTEP_PARALLEL_WORKER_TASK_IDS`.
 * @throws Error naming the variable when a variable is missing or malformed.
 */
export function parallelNodeFromEnv(env: Readonly<Record<string, string | undefined>>): ParallelNode | undefined {
  const numText = env[PARALLEL_ENV.numNodes];
  if (numText === undefined || numText === "") return undefined;
  const bad = (variable: string, allowed: string): never => {
    throw new Error(`@parallel: ${variable}=${JSON.stringify(env[variable])} is invalid; expected ${allowed}`);
  };
  const int = (variable: string, min: number): number => {
    const t = env[variable];
    return t !== undefined && /^[0-9]+$/.test(t) && Number(t) >= min
      ? Number(t)
      : bad(variable, `a whole number >= ${min}`);
  };
  const numNodes = int(PARALLEL_ENV.numNodes, 2);
  const mainIp = env[PARALLEL_ENV.mainIp] || bad(PARALLEL_ENV.mainIp, "the control node's address");
  const controlTaskId = env[PARALLEL_ENV.controlTaskId] || bad(PARALLEL_ENV.controlTaskId, "the control task id");
  let workers: unknown;
  try {
    workers = JSON.parse(env[PARALLEL_ENV.workerTaskIds] ?? "");
  } catch {
    workers = undefined;
  }
  if (!Array.isArray(workers) || workers.length !== numNodes - 1 || !workers.every((w) => typeof w === "string"))
    bad(PARALLEL_ENV.workerTaskIds, `a JSON list of ${numNodes - 1} task ids`);
  const workerTaskIds = workers as string[];
  if (env[PARALLEL_ENV.workerIndex] !== undefined) {
    const w = int(PARALLEL_ENV.workerIndex, 0);
    if (w > numNodes - 2) bad(PARALLEL_ENV.workerIndex, `a worker index from 0 to ${numNodes - 2}`);
    return { nodeIndex: w + 1, numNodes, mainIp, controlTaskId, taskId: workerTaskIds[w]! };
  }
  const n = int(PARALLEL_ENV.nodeIndex, 0);
  if (n !== 0) bad(PARALLEL_ENV.nodeIndex, `0 (workers carry ${PARALLEL_ENV.workerIndex})`);
  return { nodeIndex: 0, numNodes, mainIp, controlTaskId, taskId: controlTaskId };
}
