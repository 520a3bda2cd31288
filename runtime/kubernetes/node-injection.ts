/**
 * Bringing kubestep's own Node.js into a step pod whose image has none (CUDA, Python, ... images).
 *
 * The runtime cannot look inside an image cheaply, so it does not try: when {@link ResolvedKubernetesConfig.injectNode}
 * is set, the pod gets an init container running the node image (the environment's default image, which
 * has `node`) that copies its `node` binary into an `emptyDir` volume, mounted read-only in the step container at
 * {@link INJECTED_NODE_DIR}. The step container's command is then the `sh` wrapper of `code/bootstrap.ts`, which
 * uses the image's own `node` when it has one (version 20 or newer) and the copy otherwise.
 *
 * Requirements on the step image: `/bin/sh` (distroless images have none), and for the copy glibc and libstdc++
 * (Alpine/musl images have neither; the wrapper says so and exits 70).
 *
 * Pure: no I/O. Used by {@link buildJob} (and so by the JobSet builder, whose pod templates come from it).
 */
import type { V1Container, V1ResourceRequirements, V1Volume, V1VolumeMount } from "@kubernetes/client-node";
import type { ResolvedKubernetesConfig } from "./config.js";
import { INJECTED_NODE_DIR } from "../contract/kubernetes.js";

/** Name of the init container that copies `node`. */
export const NODE_INIT_CONTAINER = "kubestep-node";
/** Name of the `emptyDir` volume that holds the copy. */
export const NODE_VOLUME = "kubestep-node";
/** Where the volume is mounted, in the init container (read-write) and the step container (read-only). */
export { INJECTED_NODE_DIR };
/** The copied `node` binary, as the step container sees it. */
export const INJECTED_NODE = `${INJECTED_NODE_DIR}/bin/node`;

/**
 * What the init container runs, with the node image's own `node` (no shell needed, so a distroless Node.js
 * image works as the node image): copy `process.execPath` (the real binary, symlinks resolved) under a
 * temporary name, make it executable, then rename it into place.
 */
const COPY_SCRIPT = [
  `const fs = require("node:fs");`,
  `fs.mkdirSync(${JSON.stringify(`${INJECTED_NODE_DIR}/bin`)}, { recursive: true });`,
  `fs.copyFileSync(process.execPath, ${JSON.stringify(`${INJECTED_NODE}.part`)});`,
  `fs.chmodSync(${JSON.stringify(`${INJECTED_NODE}.part`)}, 0o755);`,
  `fs.renameSync(${JSON.stringify(`${INJECTED_NODE}.part`)}, ${JSON.stringify(INJECTED_NODE)});`,
].join(" ");

/** The init container's command. */
export function nodeCopyCommand(): string[] {
  return ["node", "-e", COPY_SCRIPT];
}

/**
 * Resources of the init container: those of the step container without GPUs. Init containers run before the
 * step container, so the pod's effective request is the larger of the two (no extra cost), and giving the same
 * requests and limits keeps the pod's QoS class (Guaranteed needs limits on every container).
 */
export function nodeInitResources(
  config: ResolvedKubernetesConfig,
  stepResources: V1ResourceRequirements,
): V1ResourceRequirements {
  const drop = (r: Record<string, string> | undefined): Record<string, string> | undefined => {
    if (r === undefined) return undefined;
    const { [config.gpuResourceName]: _gpu, ...rest } = r;
    return Object.keys(rest).length ? rest : undefined;
  };
  const requests = drop(stepResources.requests);
  const limits = drop(stepResources.limits);
  return { ...(requests ? { requests } : {}), ...(limits ? { limits } : {}) };
}

/** The volume, init container and step-container mount that bring Node.js into the pod. */
export interface NodeInjection {
  /** The `emptyDir` volume. */
  volume: V1Volume;
  /** The init container. */
  initContainer: V1Container;
  /** The read-only mount of the volume in the step container. */
  mount: V1VolumeMount;
}

/**
 * The pod parts of the injection, or undefined when `config.injectNode` is false. The init container's image
 * pull policy is the step container's: the step's or the environment's `imagePullPolicy` when one is set (a team
 * that pins `Always` or `Never` means it for every image of the pod), otherwise left out like the step
 * container's, so Kubernetes' default for the node image's tag applies (IfNotPresent for a pinned tag).
 * `stepResources` are the step container's (see {@link nodeInitResources}).
 */
export function nodeInjection(
  config: ResolvedKubernetesConfig,
  stepResources: V1ResourceRequirements,
): NodeInjection | undefined {
  if (!config.injectNode) return undefined;
  const resources = nodeInitResources(config, stepResources);
  return {
    volume: { name: NODE_VOLUME, emptyDir: {} },
    initContainer: {
      name: NODE_INIT_CONTAINER,
      image: config.nodeImage,
      ...(config.imagePullPolicy !== undefined ? { imagePullPolicy: config.imagePullPolicy } : {}),
      command: nodeCopyCommand(),
      ...(Object.keys(resources).length ? { resources } : {}),
      volumeMounts: [{ name: NODE_VOLUME, mountPath: INJECTED_NODE_DIR }],
      ...(config.securityContext !== undefined ? { securityContext: { ...config.securityContext } } : {}),
    },
    mount: { name: NODE_VOLUME, mountPath: INJECTED_NODE_DIR, readOnly: true },
  };
}
