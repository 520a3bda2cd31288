/**
 * The Kubernetes API calls of deployed flows (the objects themselves are built in runtime/kubernetes/deploy.ts):
 * apply and delete a deployment, read the deployment records of a namespace, start an orchestrator Job.
 * Used by the CLI (`kubestep deploy/trigger/deployments/event`) and by orchestrator pods (`@triggerOnFinish`).
 */
import type { KubeConfig, V1ConfigMap, V1CronJob, V1Job } from "@kubernetes/client-node";
import { k8s, apiErrorInfo } from "./client.js";
import { parseDeploymentRecord, type DeployedRunSpec, type DeploymentRecord } from "../../deploy/record.js";
import {
  buildOrchestratorJob,
  codeConfigMapsInUse,
  deploymentName,
  deploymentSelector,
  RECORD_KEY,
} from "../../kubernetes/deploy.js";

/** The three API groups deployments use. */
export interface DeployApis {
  core: import("@kubernetes/client-node").CoreV1Api;
  batch: import("@kubernetes/client-node").BatchV1Api;
}

/** API clients for a configuration. */
export async function deployApis(kc: KubeConfig): Promise<DeployApis> {
  const { CoreV1Api, BatchV1Api } = await k8s();
  return { core: kc.makeApiClient(CoreV1Api), batch: kc.makeApiClient(BatchV1Api) };
}

const notFound = (e: unknown): boolean => apiErrorInfo(e).code === 404;

/** Creates or replaces a ConfigMap. */
export async function applyConfigMap(apis: DeployApis, cm: V1ConfigMap): Promise<void> {
  const namespace = cm.metadata!.namespace!;
  const name = cm.metadata!.name!;
  try {
    await apis.core.replaceNamespacedConfigMap({ namespace, name, body: cm });
  } catch (e) {
    if (!notFound(e)) throw e;
    await apis.core.createNamespacedConfigMap({ namespace, body: cm });
  }
}

/** Creates or replaces a CronJob. */
export async function applyCronJob(apis: DeployApis, cj: V1CronJob): Promise<void> {
  const namespace = cj.metadata!.namespace!;
  const name = cj.metadata!.name!;
  try {
    const old = await apis.batch.readNamespacedCronJob({ namespace, name });
    await apis.batch.replaceNamespacedCronJob({
      namespace,
      name,
      body: { ...cj, metadata: { ...cj.metadata, resourceVersion: old.metadata?.resourceVersion } },
    });
  } catch (e) {
    if (!notFound(e)) throw e;
    await apis.batch.createNamespacedCronJob({ namespace, body: cj });
  }
}

/** The deployment record of `flowName` in `namespace`, or undefined when the flow is not deployed there. */
export async function readDeployment(
  apis: DeployApis,
  namespace: string,
  flowName: string,
): Promise<DeploymentRecord | undefined> {
  try {
    const cm = await apis.core.readNamespacedConfigMap({ namespace, name: deploymentName(flowName) });
    const text = cm.data?.[RECORD_KEY];
    return text ? parseDeploymentRecord(text, `ConfigMap ${namespace}/${cm.metadata?.name}`) : undefined;
  } catch (e) {
    if (notFound(e)) return undefined;
    throw e;
  }
}

/** Every deployment record in `namespace`. */
export async function listDeployments(apis: DeployApis, namespace: string): Promise<DeploymentRecord[]> {
  const list = await apis.core.listNamespacedConfigMap({
    namespace,
    labelSelector: deploymentSelector(undefined, "deployment"),
  });
  return list.items.flatMap((cm) =>
    cm.data?.[RECORD_KEY]
      ? [parseDeploymentRecord(cm.data[RECORD_KEY], `ConfigMap ${namespace}/${cm.metadata?.name}`)]
      : [],
  );
}

/** The orchestrator Jobs of a deployment (triggered and scheduled), oldest first. */
export async function listOrchestratorJobs(apis: DeployApis, namespace: string, flowName: string): Promise<V1Job[]> {
  const list = await apis.batch.listNamespacedJob({
    namespace,
    labelSelector: deploymentSelector(flowName, "orchestrator"),
  });
  return list.items.sort((a, b) =>
    String(a.metadata?.creationTimestamp ?? "").localeCompare(String(b.metadata?.creationTimestamp ?? "")),
  );
}

/** Starts one run now: creates its orchestrator Job. An existing Job of the same run is left as is (idempotent). */
export async function startDeployedRun(
  apis: DeployApis,
  run: DeployedRunSpec & { runId: string },
): Promise<{ job: string; created: boolean }> {
  const job = buildOrchestratorJob(run);
  try {
    await apis.batch.createNamespacedJob({ namespace: run.deployment.namespace, body: job });
    return { job: job.metadata!.name!, created: true };
  } catch (e) {
    if (apiErrorInfo(e).code === 409) return { job: job.metadata!.name!, created: false };
    throw e;
  }
}

/**
 * Deletes the code ConfigMaps of `flowName` that neither the current version (`keep`) nor an unfinished
 * orchestrator Job uses (a redeploy replaces the version; runs in progress keep theirs).
 * @returns the names deleted.
 */
export async function pruneCodeConfigMaps(
  apis: DeployApis,
  namespace: string,
  flowName: string,
  keep: string[],
): Promise<string[]> {
  const inUse = new Set([...keep, ...codeConfigMapsInUse(await listOrchestratorJobs(apis, namespace, flowName))]);
  const cms = await apis.core.listNamespacedConfigMap({
    namespace,
    labelSelector: deploymentSelector(flowName, "code"),
  });
  const pruned: string[] = [];
  for (const name of cms.items.map((c) => c.metadata!.name!).filter((n) => !inUse.has(n))) {
    try {
      await apis.core.deleteNamespacedConfigMap({ namespace, name });
      pruned.push(name);
    } catch (e) {
      if (!notFound(e)) throw e;
    }
  }
  return pruned;
}

/**
 * Removes what `kubestep deploy` created for `flowName`: the CronJob (its running Jobs are orphaned, not killed),
 * the deployment ConfigMap and the code ConfigMaps. Orchestrator Jobs of runs in progress are left to finish.
 * @returns the names of what was deleted.
 */
export async function deleteDeployment(apis: DeployApis, namespace: string, flowName: string): Promise<string[]> {
  const deleted: string[] = [];
  const name = deploymentName(flowName);
  try {
    await apis.batch.deleteNamespacedCronJob({ namespace, name, propagationPolicy: "Orphan" });
    deleted.push(`cronjob/${name}`);
  } catch (e) {
    if (!notFound(e)) throw e;
  }
  const cms = await apis.core.listNamespacedConfigMap({ namespace, labelSelector: deploymentSelector(flowName) });
  for (const cm of cms.items) {
    try {
      await apis.core.deleteNamespacedConfigMap({ namespace, name: cm.metadata!.name! });
      deleted.push(`configmap/${cm.metadata!.name}`);
    } catch (e) {
      if (!notFound(e)) throw e;
    }
  }
  return deleted;
}
