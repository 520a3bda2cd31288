/**
 * The one way a cluster test gets what its pods need: a throw-away namespace holding the `kubestep-s3` secret
 * (the S3 test server's keys, which task pods read through `envFrom`), `kubectl`, and the variables a CLI run needs
 * to send its steps there. The executor, verdict, placement, deploy, Argo, node-injection and native-addon
 * cluster tests all start from it. Fails (never skips) without the local cluster and the datastore servers.
 */
import { execFileSync } from "node:child_process";

/** The image every test pod uses (built with the local cluster, present on its node). */
export const NODE_IMAGE = `localhost/node:${process.versions.node.split(".")[0]}-local`;

/** The secret holding the S3 server's keys in a test namespace (`KUBESTEP_KUBERNETES_SECRETS`). */
export const S3_SECRET = "kubestep-s3";

/** A variable the tests cannot run without; throws saying how to get it. */
export function required(name: string): string {
  const v = process.env[name];
  if (!v)
    throw new Error(
      `${name} is not set: run with the local cluster (KUBECONFIG) and the datastore servers (test/tooling/servers/up.sh), as npm test does`,
    );
  return v;
}

/** Runs kubectl (the cluster's, first on PATH) and returns its output. */
export function kubectl(...args: string[]): string {
  return execFileSync("kubectl", args, {
    encoding: "utf8",
    stdio: ["pipe", "pipe", "pipe"],
    maxBuffer: 64 * 1024 * 1024,
  });
}

/** kubectl's JSON output of `args`, parsed. */
export function kubectlJson<T>(...args: string[]): T {
  return JSON.parse(kubectl(...args, "-o", "json")) as T;
}

/** Applies (or creates) Kubernetes objects given as JSON. */
export function kubectlApply(objects: object | object[], verb: "apply" | "create" = "apply"): void {
  const items = Array.isArray(objects) ? objects : [objects];
  execFileSync("kubectl", [verb, "-f", "-"], {
    input: JSON.stringify({ apiVersion: "v1", kind: "List", items }),
    stdio: ["pipe", "pipe", "pipe"],
  });
}

/** A unique namespace name: `<prefix>-<time>`. */
export function namespaceName(prefix: string): string {
  return `${prefix}-${Date.now().toString(36)}`;
}

/** Creates namespace `ns` with the {@link S3_SECRET} secret, after checking the cluster and the S3 server are there. */
export function createS3Namespace(ns: string): void {
  required("KUBECONFIG");
  required("KUBESTEP_DATASTORE_SYSROOT_S3");
  required("KUBESTEP_S3_ENDPOINT_URL");
  kubectl("create", "namespace", ns);
  kubectl(
    "create",
    "secret",
    "generic",
    S3_SECRET,
    "-n",
    ns,
    `--from-literal=AWS_ACCESS_KEY_ID=${required("AWS_ACCESS_KEY_ID")}`,
    `--from-literal=AWS_SECRET_ACCESS_KEY=${required("AWS_SECRET_ACCESS_KEY")}`,
  );
}

/** Deletes namespace `ns` and everything in it (in the background; best effort). */
export function deleteNamespace(ns: string): void {
  try {
    kubectl("delete", "namespace", ns, "--wait=false");
  } catch {
    /* already gone */
  }
}

/** Registers mocha hooks: `before` creates `ns` with the S3 secret (then runs `setUp`), `after` deletes it. */
export function useS3Namespace(ns: string, setUp?: () => void | Promise<void>): void {
  before(async () => {
    createS3Namespace(ns);
    await setUp?.();
  });
  after(() => deleteNamespace(ns));
}

/**
 * The variables of a `kubestep` CLI run whose steps run in `ns` on the local cluster against the S3 datastore:
 * the node image (present on the node), the S3 secret, small requests, and `extra` on top.
 */
export function kubernetesRunEnv(ns: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    KUBESTEP_KUBERNETES_NAMESPACE: ns,
    KUBESTEP_KUBERNETES_CONTAINER_IMAGE: NODE_IMAGE,
    KUBESTEP_KUBERNETES_IMAGE_PULL_POLICY: "IfNotPresent",
    KUBESTEP_KUBERNETES_SECRETS: S3_SECRET,
    KUBESTEP_KUBERNETES_CPU: "0.1",
    KUBESTEP_KUBERNETES_MEMORY: "256",
    KUBESTEP_DEFAULT_DATASTORE: "s3",
    ...extra,
  };
}
