/**
 * The small stack the engine tests deploy for real (an inline Pulumi program): a Namespace and a
 * ConfigMap in it, both `KubeObject`s (./kube-object.ts).
 *
 * Config (project `kubestep-engine-test`):
 * - `namespace` (required): the namespace to create;
 * - `greeting` (required): the ConfigMap's `data.greeting` (changing it updates the ConfigMap in place);
 * - `token` (required, secret): exported as the secret output `token` (proves the passphrase secrets
 *   provider encrypts it in the backend).
 */
import * as pulumi from "@pulumi/pulumi";
import { KubeObject } from "./kube-object.js";

/** The project name the driver uses. */
export const PROJECT = "kubestep-engine-test";
/** The ConfigMap's name. */
export const CONFIG_MAP = "kubestep-engine";
/** Label put on the namespace (so a test can find leftovers). */
export const TEST_LABEL = "kubestep.io/engine-test";

/** The stack's outputs. */
export interface SmallStackOutputs {
  namespace: pulumi.Output<string>;
  configMap: pulumi.Output<string>;
  configMapUid: pulumi.Output<string>;
  greeting: pulumi.Output<string>;
  token: pulumi.Output<string>;
}

/** The program: call it inside a Pulumi run (the driver passes it to the Automation API as an inline program). */
export function smallStack(): SmallStackOutputs {
  const config = new pulumi.Config();
  const namespace = config.require("namespace");
  const greeting = config.require("greeting");
  const ns = new KubeObject("namespace", {
    manifest: { apiVersion: "v1", kind: "Namespace", metadata: { name: namespace, labels: { [TEST_LABEL]: "true" } } },
  });
  const cm = new KubeObject("settings", {
    // Built from the namespace's output: the ConfigMap depends on it (created after, deleted before).
    manifest: ns.manifest.apply((n) => ({
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: { name: CONFIG_MAP, namespace: n.metadata.name },
      data: { greeting },
    })),
  });
  return {
    namespace: ns.manifest.apply((m) => m.metadata.name),
    configMap: cm.manifest.apply((m) => `${m.metadata.namespace}/${m.metadata.name}`),
    configMapUid: cm.uid,
    greeting: cm.manifest.apply((m) => String((m.data as Record<string, string>).greeting)),
    token: config.requireSecret("token"),
  };
}
