/**
 * Helpers for the executor's cluster tests: a throw-away namespace on the REAL local cluster and
 * Jobs labelled like a kubestep run. Fails (never skips) without KUBECONFIG.
 */
import { strict as assert } from "node:assert";
import type { BatchV1Api, CoreV1Api, KubeConfig, V1Container, V1Job, V1Volume } from "@kubernetes/client-node";
import { kubeApis, loadKubeConfig } from "../../../../runtime/exec/kubernetes/client.js";

/** The image every test Job uses (present on the local cluster's node). */
export const NODE_IMAGE = `localhost/node:${process.versions.node.split(".")[0]}-local`;

/** A test namespace and clients. */
export interface ClusterEnv {
  kc: KubeConfig;
  core: CoreV1Api;
  batch: BatchV1Api;
  namespace: string;
  runId: string;
  labelSelector: string;
}

/** Creates a namespace (and waits for its default service account). */
export async function setUpCluster(prefix: string): Promise<ClusterEnv> {
  assert.ok(
    process.env.KUBECONFIG,
    "KUBECONFIG must be set: these tests need the real local cluster (export KUBECONFIG=/tmp/local-cluster/admin.kubeconfig)",
  );
  const { kubeConfig: kc } = await loadKubeConfig();
  const { core, batch } = await kubeApis(kc);
  const namespace = `${prefix}-${Date.now().toString(36)}`;
  await core.createNamespace({ body: { metadata: { name: namespace } } });
  for (let i = 0; i < 100; i++) {
    try {
      await core.readNamespacedServiceAccount({ name: "default", namespace });
      break;
    } catch {
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  const runId = `run-${Date.now().toString(36)}`;
  return { kc, core, batch, namespace, runId, labelSelector: `kubestep.io/run=${runId}` };
}

/** Deletes the namespace (and everything in it). */
export async function tearDownCluster(env: ClusterEnv | undefined): Promise<void> {
  if (!env) return;
  await env.core.deleteNamespace({ name: env.namespace, propagationPolicy: "Background" }).catch(() => undefined);
}

/** Creates a run-labelled Job with one container `task` (restartPolicy Never, no retries). */
export async function createJob(
  env: ClusterEnv,
  name: string,
  container: Partial<V1Container>,
  extra: { activeDeadlineSeconds?: number; volumes?: V1Volume[] } = {},
): Promise<V1Job> {
  const labels = { "kubestep.io/run": env.runId, "kubestep.io/step": name };
  return env.batch.createNamespacedJob({
    namespace: env.namespace,
    body: {
      metadata: { name, labels },
      spec: {
        backoffLimit: 0,
        ...(extra.activeDeadlineSeconds ? { activeDeadlineSeconds: extra.activeDeadlineSeconds } : {}),
        template: {
          metadata: { labels },
          spec: {
            restartPolicy: "Never",
            automountServiceAccountToken: false,
            terminationGracePeriodSeconds: 1,
            containers: [{ name: "task", image: NODE_IMAGE, imagePullPolicy: "IfNotPresent", ...container }],
            ...(extra.volumes ? { volumes: extra.volumes } : {}),
          },
        },
      },
    },
  });
}
