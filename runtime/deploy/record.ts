/**
 * The deployment record: everything an orchestrator pod needs to run a deployed flow without a laptop. It is
 * stored in the deployment's ConfigMap (`deployment.json`) and copied into every orchestrator Job it starts,
 * so a Job keeps the version it started with when the flow is redeployed. Pure types and parsing.
 */
import type { DependencyLayerRef } from "../code/layer-install.js";
import type { ResolvedKubernetesConfig } from "../kubernetes/config.js";
import type { DatastoreKind } from "../environment.js";
import type { ParamMeta } from "../flow/meta.js";
import { KubestepError } from "../errors.js";

/** Why a run started: `current.trigger` inside its tasks, and `trigger` in its run.json. */
export type RunTrigger =
  | { /** Started by `kubestep trigger`. */ type: "manual"; /** Who triggered it. */ user: string }
  | {
      /** Started by the flow's `@schedule` (its CronJob). */ type: "schedule";
      /** The cron expression. */ cron: string;
      /** Its time zone, when set. */ timezone?: string;
    }
  | {
      /** Started by `kubestep event publish`. */ type: "event";
      /** The event name. */ name: string;
      /** The event's payload. */ payload: Record<string, string>;
    }
  | {
      /** Started because an upstream deployed flow's run succeeded. */ type: "flow";
      /** `Flow/run` of the upstream run. */ pathspec: string;
    };

/** Why a run started, in one line (`kubestep runs`): schedule, event name and payload, upstream run or manual trigger. */
export function describeTrigger(t: RunTrigger): string {
  switch (t.type) {
    case "manual":
      return `manual trigger by ${t.user}`;
    case "schedule":
      return `schedule ${JSON.stringify(t.cron)}${t.timezone ? ` (${t.timezone})` : ""}`;
    case "event": {
      const payload = Object.entries(t.payload ?? {})
        .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
        .join(" ");
      return `event ${t.name}${payload ? ` with ${payload}` : ""}`;
    }
    case "flow":
      return `upstream run ${t.pathspec} succeeded`;
    default:
      return `unknown trigger ${JSON.stringify(t)}`;
  }
}

/** A deployed flow, as `kubestep deploy` records it. */
export interface DeploymentRecord {
  /** Record format version. */
  format: 1;
  /** Flow class name. */
  flowName: string;
  /** Deployment version: increases by one at every `kubestep deploy` of the flow. */
  version: number;
  /** When this version was deployed (ISO 8601). */
  createdAt: string;
  /** Who deployed it. */
  user: string;
  /** Namespace of the deployment's objects and of every Job it starts. */
  namespace: string;
  /** The datastore runs read and write. */
  datastore: { kind: Exclude<DatastoreKind, "local">; root: string };
  /** The task code package every step pod runs (sha256 and datastore key). */
  taskCode: { sha: string; key: string };
  /**
   * The flow's dependency layer (external packages, native addons; runtime/code/layer.ts), when it has one: the
   * orchestrator pod installs it before it imports the flow, and gives it to every step pod.
   */
  deps?: DependencyLayerRef;
  /** The orchestrator code package (with the Kubernetes client): sha256, datastore key, and the ConfigMaps holding its gzipped parts in order. */
  orchestratorCode: { sha: string; key: string; configMaps: string[] };
  /** The flow's parameters (defaults and types), so `kubestep trigger` validates `--name value` without the flow file. */
  params: Record<string, ParamMeta>;
  /** Every step's resolved Kubernetes configuration (every step of a deployed run is a Job). */
  stepConfigs: Record<string, ResolvedKubernetesConfig>;
  /** Extra environment of step pods and of the orchestrator (forwarded datastore settings). */
  podEnv: Record<string, string>;
  /** How the orchestrator pod runs. */
  orchestrator: {
    /** Its service account (the orchestrator Role is bound to it). */
    serviceAccount: string;
    /** Container image. */
    image: string;
    /** Image pull policy; absent = Kubernetes decides (`Always` for `:latest`, else `IfNotPresent`). */
    imagePullPolicy?: string;
    /** Secrets exposed as env (datastore credentials when there is no pod identity). */
    secrets: string[];
    /** Image pull secrets. */
    imagePullSecrets: string[];
    /** Restarts of a killed orchestrator pod before the run is given up (the Job's backoffLimit). */
    backoffLimit: number;
    /**
     * Labels of orchestrator pods from the environment and `--with kubernetes:labels=...` (e.g.
     * `azure.workload.identity/use: "true"`, which gives the pod its datastore identity on AKS); kubestep's own win.
     */
    podLabels?: Record<string, string>;
  };
  /** The schedule, when the flow has `@schedule`. */
  schedule?: { cron: string; timezone?: string; allowOverlap: boolean };
  /** Events that start a run (`@trigger`). */
  events: string[];
  /** Upstream flows whose successful runs start a run (`@triggerOnFinish`). */
  upstreamFlows: string[];
  /** Tags of every run. */
  tags: string[];
  /** `--max-workers` of the orchestrator. */
  maxWorkers: number;
  /** `--max-num-splits` of the orchestrator. */
  maxNumSplits: number;
}

/** What one orchestrator Job runs: the record, and the run's id, parameters and trigger. */
export interface DeployedRunSpec {
  /** The deployment (a copy: the Job keeps its version). */
  deployment: DeploymentRecord;
  /** Run id; absent for scheduled runs (the id is then the Job's name). */
  runId?: string;
  /** Parameter values; absent = the defaults. */
  params?: Record<string, unknown>;
  /** Why the run starts. */
  trigger: RunTrigger;
  /** Resume this failed run of the flow (`kubestep trigger --resume`): its finished tasks are reused, its parameters kept. */
  resume?: {
    /** The run to resume. */ originRunId: string;
    /** Step to re-run from (default: the first that did not finish). */ step?: string;
  };
}

/** A deployment record that cannot be read. */
export class DeploymentRecordError extends KubestepError {
  constructor(message: string) {
    super(message);
    this.name = "DeploymentRecordError";
  }
}

/** Parses a stored record (`deployment.json`), checking the fields every reader relies on. */
export function parseDeploymentRecord(text: string, source: string): DeploymentRecord {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new DeploymentRecordError(`${source}: not JSON (${(e as Error).message})`);
  }
  const r = v as Partial<DeploymentRecord> | null;
  const missing = [
    "flowName",
    "version",
    "namespace",
    "datastore",
    "taskCode",
    "orchestratorCode",
    "stepConfigs",
    "orchestrator",
  ].filter((k) => !r || (r as Record<string, unknown>)[k] === undefined);
  if (!r || r.format !== 1 || missing.length)
    throw new DeploymentRecordError(
      `${source}: not a kubestep deployment record (format ${JSON.stringify(r?.format)}${missing.length ? `, missing ${missing.join(", ")}` : ""})`,
    );
  return r as DeploymentRecord;
}
