/**
 * JobSet API calls (`jobset.x-k8s.io/v1alpha2`): discovery, create, get, delete. The objects themselves are
 * built, without I/O, by `kubernetes/jobset.ts`. `@kubernetes/client-node` is loaded lazily (see `client.ts`).
 */
import type { KubeConfig } from "@kubernetes/client-node";
import { JOBSET_GROUP, JOBSET_PLURAL, JOBSET_VERSION, type JobSet } from "../../kubernetes/jobset.js";
import { k8s } from "./client.js";

/**
 * Whether the cluster serves the JobSet API `jobset.x-k8s.io/v1alpha2`, from the apiserver's discovery
 * (`GET /apis`). A cluster that does not know the group answers false; an unreachable apiserver throws.
 * Note: this says the API (the CRD) is served, not that a JobSet controller runs.
 */
export async function hasJobSetApi(kubeConfig: KubeConfig): Promise<boolean> {
  const { ApisApi } = await k8s();
  const groups = await kubeConfig.makeApiClient(ApisApi).getAPIVersions();
  const group = groups.groups.find((g) => g.name === JOBSET_GROUP);
  return !!group && group.versions.some((v) => v.version === JOBSET_VERSION);
}

/** Creates `body` in `namespace` and returns the JobSet as the apiserver stored it. */
export async function createJobSet(kubeConfig: KubeConfig, namespace: string, body: JobSet): Promise<JobSet> {
  const { CustomObjectsApi } = await k8s();
  return (await kubeConfig.makeApiClient(CustomObjectsApi).createNamespacedCustomObject({
    group: JOBSET_GROUP,
    version: JOBSET_VERSION,
    namespace,
    plural: JOBSET_PLURAL,
    body,
  })) as JobSet;
}

/** Reads a JobSet. */
export async function getJobSet(kubeConfig: KubeConfig, namespace: string, name: string): Promise<JobSet> {
  const { CustomObjectsApi } = await k8s();
  return (await kubeConfig.makeApiClient(CustomObjectsApi).getNamespacedCustomObject({
    group: JOBSET_GROUP,
    version: JOBSET_VERSION,
    namespace,
    plural: JOBSET_PLURAL,
    name,
  })) as JobSet;
}

/** Deletes a JobSet and (in the background) its Jobs and pods. */
export async function deleteJobSet(kubeConfig: KubeConfig, namespace: string, name: string): Promise<void> {
  const { CustomObjectsApi } = await k8s();
  await kubeConfig.makeApiClient(CustomObjectsApi).deleteNamespacedCustomObject({
    group: JOBSET_GROUP,
    version: JOBSET_VERSION,
    namespace,
    plural: JOBSET_PLURAL,
    name,
    propagationPolicy: "Background",
  });
}

/**
 * JobSets in `namespace` matching `labelSelector` (kubestep labels its JobSets like its Jobs). A cluster
 * without the JobSet API has none: an empty list, not an error.
 */
export async function listJobSets(kubeConfig: KubeConfig, namespace: string, labelSelector: string): Promise<JobSet[]> {
  if (!(await hasJobSetApi(kubeConfig))) return [];
  const { CustomObjectsApi } = await k8s();
  const list = (await kubeConfig.makeApiClient(CustomObjectsApi).listNamespacedCustomObject({
    group: JOBSET_GROUP,
    version: JOBSET_VERSION,
    namespace,
    plural: JOBSET_PLURAL,
    labelSelector,
  })) as { items: JobSet[] };
  return list.items;
}
