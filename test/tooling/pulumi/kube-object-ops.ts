/**
 * What the test-only `KubeObject` dynamic provider (./kube-object.ts) does to the cluster: create, read,
 * diff, update (server-side apply) and delete one Kubernetes object with @kubernetes/client-node.
 *
 * This module runs inside the dynamic provider process (`pulumi-resource-pulumi-nodejs`, see
 * ./bin/), which the Pulumi engine starts; the serialized provider only imports it by absolute path.
 * It stands in for the Kubernetes resource provider, whose module the Go proxy does not serve here
 * (see test/tooling/README.md). The cluster comes from `KUBECONFIG`.
 */
import type { KubeConfig, KubernetesObject, KubernetesObjectApi } from "@kubernetes/client-node";
import { unknownValue } from "@pulumi/pulumi/runtime/rpc.js";
import { apiErrorInfo } from "../../../runtime/exec/kubernetes/client.js";

/** A Kubernetes object as the program declares it: identity plus whatever the kind takes (`data`, `spec`, ...). */
export interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  [field: string]: unknown;
}

/** The provider's state of one object (its outputs). */
export interface KubeObjectState {
  /** The manifest last applied. */
  manifest: Manifest;
  /** `metadata.uid` the apiserver gave the object (an update in place keeps it). */
  uid: string;
  /** `metadata.resourceVersion` after the last write. */
  resourceVersion: string;
}

/** The field manager of every server-side apply. */
export const FIELD_MANAGER = "kubestep-pulumi-test";
/** How long a delete waits for the object to be gone (namespaces are finalized by the namespace controller). */
const DELETE_TIMEOUT_MS = 180_000;

let api: Promise<KubernetesObjectApi> | undefined;
function client(): Promise<KubernetesObjectApi> {
  api ??= (async () => {
    const path = process.env.KUBECONFIG;
    if (!path)
      throw new Error(
        "KubeObject provider: KUBECONFIG is not set in the provider process (the engine passes its environment on)",
      );
    const k8s = await import("@kubernetes/client-node");
    const kc: KubeConfig = new k8s.KubeConfig();
    kc.loadFromFile(path);
    return k8s.KubernetesObjectApi.makeApiClient(kc);
  })();
  return api;
}

/** `apiVersion kind namespace/name`, for messages and ids. */
export function describe(m: Manifest): string {
  return `${m.apiVersion} ${m.kind} ${m.metadata.namespace ? `${m.metadata.namespace}/` : ""}${m.metadata.name}`;
}

function header(m: Manifest): KubernetesObject & { metadata: { name: string; namespace?: string } } {
  return {
    apiVersion: m.apiVersion,
    kind: m.kind,
    metadata: { name: m.metadata.name, ...(m.metadata.namespace ? { namespace: m.metadata.namespace } : {}) },
  };
}

function stateOf(manifest: Manifest, live: KubernetesObject): KubeObjectState {
  const uid = live.metadata?.uid;
  const resourceVersion = live.metadata?.resourceVersion;
  if (!uid || !resourceVersion)
    throw new Error(`${describe(manifest)}: the apiserver answered without metadata.uid/resourceVersion`);
  return { manifest, uid, resourceVersion };
}

function fail(what: string, m: Manifest, e: unknown): Error {
  const info = apiErrorInfo(e);
  return new Error(`${what} ${describe(m)}: HTTP ${info.code}${info.reason ? ` ${info.reason}` : ""}: ${info.message}`);
}

/** True for a value the engine does not know yet (an output of a resource still to be created, during a preview). */
export function isUnknown(v: unknown): boolean {
  return v === unknownValue;
}

/** Problems with a manifest (empty when it is usable or not known yet). */
export function validate(m: unknown): string[] {
  if (isUnknown(m)) return [];
  const o = m as Partial<Manifest> | undefined;
  const problems: string[] = [];
  if (!o || typeof o !== "object") return ["manifest: expected an object"];
  if (typeof o.apiVersion !== "string" || !o.apiVersion) problems.push("manifest.apiVersion: required");
  if (typeof o.kind !== "string" || !o.kind) problems.push("manifest.kind: required");
  if (typeof o.metadata?.name !== "string" || !o.metadata.name) problems.push("manifest.metadata.name: required");
  return problems;
}

/** Creates the object; an object that already exists is an error (nothing is adopted silently). */
export async function create(manifest: Manifest): Promise<KubeObjectState> {
  const k = await client();
  try {
    return stateOf(manifest, await k.create(manifest as KubernetesObject, undefined, undefined, FIELD_MANAGER));
  } catch (e) {
    throw fail("creating", manifest, e);
  }
}

/** The live object's state, or undefined when it no longer exists. */
export async function read(manifest: Manifest): Promise<KubeObjectState | undefined> {
  const k = await client();
  try {
    return stateOf(manifest, await k.read(header(manifest)));
  } catch (e) {
    if (apiErrorInfo(e).code === 404) return undefined;
    throw fail("reading", manifest, e);
  }
}

function canonical(v: unknown): string {
  return JSON.stringify(v, (_k, x: unknown) =>
    x && typeof x === "object" && !Array.isArray(x)
      ? Object.fromEntries(
          Object.entries(x as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
        )
      : x,
  );
}

/**
 * What changing `olds` into `news` needs: nothing, an update in place, or a replacement (identity changed).
 * A manifest not known yet (preview) counts as changed.
 */
export function diff(olds: Manifest, news: Manifest): { changes: boolean; replace: boolean } {
  if (isUnknown(news)) return { changes: true, replace: false };
  const identity = (m: Manifest) => canonical(header(m));
  if (identity(olds) !== identity(news)) return { changes: true, replace: true };
  return { changes: canonical(olds) !== canonical(news), replace: false };
}

/** Updates the object in place with server-side apply (fields dropped from the manifest are removed). */
export async function update(manifest: Manifest): Promise<KubeObjectState> {
  const k = await client();
  const { PatchStrategy } = await import("@kubernetes/client-node");
  try {
    return stateOf(
      manifest,
      await k.patch(
        manifest as KubernetesObject,
        undefined,
        undefined,
        FIELD_MANAGER,
        true,
        PatchStrategy.ServerSideApply,
      ),
    );
  } catch (e) {
    throw fail("updating", manifest, e);
  }
}

/** Deletes the object and waits until the apiserver answers 404 for it (a namespace is gone only once finalized). */
export async function remove(manifest: Manifest): Promise<void> {
  const k = await client();
  try {
    await k.delete(header(manifest), undefined, undefined, undefined, undefined, "Background");
  } catch (e) {
    if (apiErrorInfo(e).code === 404) return;
    throw fail("deleting", manifest, e);
  }
  const deadline = Date.now() + DELETE_TIMEOUT_MS;
  for (;;) {
    if ((await read(manifest)) === undefined) return;
    if (Date.now() > deadline)
      throw new Error(
        `deleting ${describe(manifest)}: still present ${DELETE_TIMEOUT_MS / 1000} s after the delete was accepted`,
      );
    await new Promise((r) => setTimeout(r, 500));
  }
}
