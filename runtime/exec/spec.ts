/** The description of one task attempt, handed from the orchestrator to the process (or pod) that runs it. */
import type { DatastoreKind } from "../environment.js";
import type { ForeachFrame } from "../datastore/flowstore.js";
import type { KubestepVariable } from "../variables.js";
import type { RunTrigger } from "../deploy/record.js";

/** Environment variable that carries a TaskSpec (JSON) to a task process. */
export const TASK_SPEC_ENV = "KUBESTEP_TASK_SPEC" satisfies KubestepVariable;

export interface TaskSpec {
  /** Flow class name (also the export to run). */
  flowName: string;
  runId: string;
  step: string;
  taskId: string;
  attempt: number;
  /** `step/taskId` of the input tasks. */
  parents: string[];
  /** Foreach nesting of this task. */
  foreachStack: ForeachFrame[];
  /** Parameter values of the run. */
  params: Record<string, unknown>;
  /** Datastore to read inputs from and write results to. */
  datastore: { kind: DatastoreKind; root: string };
  user: string;
  tags: string[];
  /** Maximum number of foreach splits allowed. */
  maxNumSplits: number;
  /** Set for the nodes of an `@parallel` step. `mainIp` is filled by the executor. */
  parallel?: { nodeIndex: number; numNodes: number; controlTaskId: string; mainIp?: string; taskIds?: string[] };
  /** Why the run started (deployed runs): `current.trigger`. */
  trigger?: RunTrigger;
  /** Whether the task runs on Kubernetes. */
  kubernetes?: boolean;
}
