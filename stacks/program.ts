/**
 * The kubestep stack program: reads the `kubestep:*` config of the selected stack
 * (Pulumi.<stack>.yaml) and creates one {@link Environment}. `stacks/index.ts` exports its
 * contract as stack output `kubestep`. Config keys are documented in docs/pulumi.md.
 */
import * as pulumi from "@pulumi/pulumi";
import { Environment, type AwsClusterArgs, type AzureClusterArgs, type Cloud, type EnvironmentDatastoreArgs, type EnvironmentGpuPoolArgs, type GcpClusterArgs } from "../components/environment.js";
import type { ContainerLimits, Submitters } from "../components/namespace.js";
import type { ResourceDefaults } from "../runtime/environment.js";

/** Builds the environment from config (default: the `kubestep` config namespace of the current stack). */
export function kubestepStack(config: pulumi.Config = new pulumi.Config("kubestep")): Environment {
  return new Environment("kubestep", {
    cloud: config.require("cloud") as Cloud,
    name: config.get("environmentName") ?? pulumi.getStack(),
    namespace: config.require("namespace"),
    namespaceLabels: config.getObject<Record<string, string>>("namespaceLabels"),
    stepServiceAccount: config.get("stepServiceAccount"),
    submitters: config.requireObject<Submitters>("submitters"),
    parallel: config.getBoolean("parallel"),
    resourceQuota: config.getObject<Record<string, string>>("resourceQuota"),
    limitRange: config.getObject<ContainerLimits>("limitRange"),
    image: config.require("image"),
    imagePullSecrets: config.getObject<string[]>("imagePullSecrets"),
    defaults: config.getObject<ResourceDefaults>("defaults"),
    podLabels: config.getObject<Record<string, string>>("podLabels"),
    podAnnotations: config.getObject<Record<string, string>>("podAnnotations"),
    aws: config.getObject<AwsClusterArgs>("aws"),
    gcp: config.getObject<GcpClusterArgs>("gcp"),
    azure: config.getObject<AzureClusterArgs>("azure"),
    datastore: config.getObject<EnvironmentDatastoreArgs>("datastore"),
    gpuPools: config.getObject<EnvironmentGpuPoolArgs[]>("gpuPools"),
  });
}
