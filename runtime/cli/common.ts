/** What several CLI commands share: the lazy Kubernetes modules, run ids, the datastore choice, step configurations. */
import { chooseDatastore as chooseDatastoreFrom, datastoreNeeds, type ChosenDatastore } from "./datastore-choice.js";
import { randomBytes } from "node:crypto";
import { opt, UsageError, type ParsedArgs } from "./args.js";
import type { Storage } from "../datastore/storage.js";
import type { FlowGraph } from "../flow/graph.js";
import type { KubestepEnvironment } from "../environment.js";
import { openStorage } from "../datastore/open.js";
import type { ResolvedKubernetesConfig } from "../kubernetes/config.js";
import type { KubernetesOptions } from "../kubernetes/options.js";
import { requirePeers } from "../peers.js";

// Kubernetes modules load only when a run or command needs them, to keep local start-up fast.
export const k8sModules = async () => {
  const [config, executor, client, explain, jobspec] = await Promise.all([
    import("../kubernetes/config.js"),
    import("../exec/kubernetes/executor.js"),
    import("../exec/kubernetes/client.js"),
    import("../exec/kubernetes/explain.js"),
    import("../kubernetes/jobspec.js"),
  ]);
  return { ...config, ...executor, ...client, ...explain, ...jobspec };
};

/** A new run id. */
export function defaultRunId(): string {
  // 32 random bits: runs started in the same millisecond (two at once on one datastore) never share an id.
  return `${Date.now()}-${randomBytes(4).toString("hex")}`;
}

/** Chooses the datastore from `--datastore` and the environment (one rule for every command: cli/datastore-choice.ts). */
export function chooseDatastore(p: ParsedArgs, environment?: KubestepEnvironment): ChosenDatastore {
  return chooseDatastoreFrom(opt(p, "datastore"), environment);
}

/** Opens the chosen datastore, after checking its SDK is installed. */
export async function storageFrom(p: ParsedArgs, environment?: KubestepEnvironment): Promise<Storage> {
  const d = chooseDatastore(p, environment);
  await requirePeers(datastoreNeeds(d));
  return openStorage(d.kind, d.root);
}

/** Which steps run on Kubernetes, with their resolved configuration (validated before anything runs). */
export async function kubernetesConfigs(
  graph: FlowGraph,
  withSpecs: string[],
  environment: KubestepEnvironment | undefined,
): Promise<Record<string, ResolvedKubernetesConfig>> {
  if (!withSpecs.length && !graph.order.some((s) => graph.nodes[s]!.meta.decorators.kubernetes)) return {};
  const { parseWithKubernetes, resolveKubernetesConfigs } = await import("../kubernetes/config.js");
  let withOverrides: Partial<KubernetesOptions> | undefined;
  for (const w of withSpecs) {
    if (w !== "kubernetes" && !w.startsWith("kubernetes:"))
      throw new UsageError(
        `--with ${JSON.stringify(w)} is not supported; use --with kubernetes or --with kubernetes:cpu=4,memory=8000`,
      );
    withOverrides = { ...withOverrides, ...parseWithKubernetes(w) };
  }
  // Every step is resolved before anything is submitted; every bad option of every step comes in one error.
  return resolveKubernetesConfigs(
    graph.order.flatMap((name) => {
      const d = graph.nodes[name]!.meta.decorators;
      if (!d.kubernetes && !withOverrides) return [];
      return [
        {
          step: name,
          ...(d.kubernetes ? { decorator: d.kubernetes.options } : {}),
          ...(d.resources ? { resources: d.resources.options } : {}),
          ...(d.timeout ? { timeoutSeconds: d.timeout.options.seconds } : {}),
          ...(withOverrides ? { withOverrides } : {}),
          env: process.env,
          ...(environment ? { environment } : {}),
        },
      ];
    }),
  );
}

/** Splits a `Flow/run/step/task` pathspec; at least `min` parts. */
export function splitPathspec(spec: string | undefined, min: number, what: string): string[] {
  const parts = (spec ?? "").split("/").filter(Boolean);
  if (parts.length < min) throw new UsageError(`expected ${what}, got ${JSON.stringify(spec ?? "")}`);
  return parts;
}

/** What the deployment commands (cli/commands/deploy.ts) share with run. */
export const deployHelpers = { chooseDatastore, datastoreNeeds, kubernetesConfigs, defaultRunId };
