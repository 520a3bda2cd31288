/**
 * The kubestep stack program: reads the `kubestep:*` config of the selected stack
 * (Pulumi.<stack>.yaml) and creates one {@link Environment}. `stacks/index.ts` exports its
 * contract as stack output `kubestep`. Config keys are documented in docs/pulumi.md.
 */
import * as pulumi from "@pulumi/pulumi";
import { Provider as KubernetesProvider } from "@pulumi/kubernetes/provider.js";
import {
  Environment,
  type AwsClusterArgs,
  type AzureClusterArgs,
  type Cloud,
  type EnvironmentDatastoreArgs,
  type EnvironmentDeploymentsArgs,
  type EnvironmentGpuPoolArgs,
  type GcpClusterArgs,
} from "../components/environment.js";
import type { ContainerLimits, NetworkPolicies, PodSecurity, Submitters } from "../components/namespace.js";
import { validateAll } from "../components/validate.js";
import type { ResourceDefaults } from "../runtime/environment.js";

/** The cluster a stack deploys to (`kubestep:kubernetes`). */
export interface StackKubernetesConfig {
  /** Context of the kubeconfig naming the stack's cluster (required: never the current context). */
  context: string;
  /** Kubeconfig file path or contents; default the usual kubeconfig file (`KUBECONFIG` / `~/.kube/config`). */
  kubeconfig?: string;
}

/**
 * The explicit Kubernetes provider of the stack, from `kubestep:kubernetes` ({ context, kubeconfig? }):
 * every Kubernetes object goes to the cluster the stack names, whatever kubectl context is current.
 */
export function kubernetesProvider(config: pulumi.Config = new pulumi.Config("kubestep")): KubernetesProvider {
  const k = config.getObject<StackKubernetesConfig>("kubernetes");
  validateAll("stack config kubestep:kubernetes", (p) => {
    if (typeof k !== "object" || k === null) {
      p.ensure(
        false,
        "kubernetes",
        "is required: { context, kubeconfig? } naming the stack's cluster (the current kubectl context is never used)",
      );
      return;
    }
    p.ensure(
      typeof k.context === "string" && k.context !== "",
      "kubernetes.context",
      `must name the kubeconfig context of the stack's cluster (got ${JSON.stringify(k.context)})`,
    );
    if (k.kubeconfig !== undefined)
      p.ensure(
        typeof k.kubeconfig === "string" && k.kubeconfig !== "",
        "kubernetes.kubeconfig",
        "must be a kubeconfig path or its contents",
      );
    for (const key of Object.keys(k))
      p.ensure(
        ["context", "kubeconfig"].includes(key),
        `kubernetes.${key}`,
        "unknown field (allowed: context, kubeconfig)",
      );
  });
  return new KubernetesProvider("kubestep-kubernetes", {
    context: k!.context,
    ...(k!.kubeconfig !== undefined ? { kubeconfig: k!.kubeconfig } : {}),
  });
}

/** Builds the environment from config (default: the `kubestep` config namespace of the current stack). */
export function kubestepStack(config: pulumi.Config = new pulumi.Config("kubestep")): Environment {
  const kubernetes = kubernetesProvider(config);
  return new Environment(
    "kubestep",
    {
      cloud: config.require("cloud") as Cloud,
      name: config.get("environmentName") ?? pulumi.getStack(),
      namespace: config.require("namespace"),
      namespaceLabels: config.getObject<Record<string, string>>("namespaceLabels"),
      stepServiceAccount: config.get("stepServiceAccount"),
      submitters: config.requireObject<Submitters>("submitters"),
      parallel: config.getBoolean("parallel"),
      resourceQuota: config.getObject<Record<string, string>>("resourceQuota"),
      limitRange: config.getObject<ContainerLimits>("limitRange"),
      podSecurity: config.getObject<PodSecurity | false>("podSecurity"),
      networkPolicies: config.getObject<NetworkPolicies>("networkPolicies"),
      image: config.require("image"),
      nodeImage: config.get("nodeImage"),
      imagePullSecrets: config.getObject<string[]>("imagePullSecrets"),
      defaults: config.getObject<ResourceDefaults>("defaults"),
      podLabels: config.getObject<Record<string, string>>("podLabels"),
      podAnnotations: config.getObject<Record<string, string>>("podAnnotations"),
      aws: config.getObject<AwsClusterArgs>("aws"),
      gcp: config.getObject<GcpClusterArgs>("gcp"),
      azure: config.getObject<AzureClusterArgs>("azure"),
      datastore: config.getObject<EnvironmentDatastoreArgs>("datastore"),
      gpuPools: config.getObject<EnvironmentGpuPoolArgs[]>("gpuPools"),
      deployments: config.getObject<boolean | EnvironmentDeploymentsArgs>("deployments"),
    },
    { providers: { kubernetes } },
  );
}
