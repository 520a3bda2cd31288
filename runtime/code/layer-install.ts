/**
 * Installing a flow's dependency layer (runtime/code/layer.ts) in a pod whose code package did not come through
 * the task pod bootstrap: a deployed flow's orchestrator pod and Argo task pods get their package from ConfigMaps,
 * which cannot hold a layer of native addons. The pod pre-signs a short-lived URL of the layer with its own
 * datastore credentials and runs the layer part of the very bootstrap task pods run
 * ({@link LAYER_INSTALL_SCRIPT}: platform check, sha256 verified while streaming, extraction), then links the
 * layer's `node_modules` beside the code package, where the bundle's `require` of an external package resolves.
 */
import { spawn } from "node:child_process";
import { existsSync, lstatSync, renameSync, rmSync, symlinkSync } from "node:fs";
import { join } from "node:path";
import type { Storage } from "../datastore/storage.js";
import { KubestepError } from "../errors.js";
import { LAYER_INSTALL_SCRIPT, POD_CODE_DIR, type PodDependencyLayer } from "./bootstrap.js";

/** A stored dependency layer as a pod needs it: what it holds and its datastore key. */
export interface DependencyLayerRef {
  /** What the bootstrap checks (sha256, packages, native addons' platform). */
  layer: PodDependencyLayer;
  /** Datastore key of the layer's tar.gz. */
  key: string;
}

/** Lifetime of the URL a pod pre-signs for its own download of the layer. */
export const LAYER_URL_SECONDS = 15 * 60;

/** The layer could not be installed in this pod (download, hash, platform or extraction); the message says which. */
export class LayerInstallError extends KubestepError {
  constructor(message: string) {
    super(message, 70);
    this.name = "LayerInstallError";
  }
}

/**
 * Installs `ref`'s layer under `codeDir` (default the pods' code directory, where the orchestrator and Argo
 * bootstraps write their package) unless it is already there, and links `codeDir/node_modules` to it.
 * Returns the layer's directory.
 */
export async function installDependencyLayer(
  storage: Storage,
  ref: DependencyLayerRef,
  codeDir: string = POD_CODE_DIR,
): Promise<string> {
  const url = await storage.presignGet(ref.key, LAYER_URL_SECONDS);
  const stderr = await new Promise<{ code: number | null; text: string }>((resolveRun, reject) => {
    const child = spawn(process.execPath, ["--input-type=module", "-e", LAYER_INSTALL_SCRIPT], {
      env: {
        ...process.env,
        KUBESTEP_DEPS: JSON.stringify(ref.layer),
        KUBESTEP_DEPS_URL: url,
        KUBESTEP_DEPS_DIR: codeDir,
      },
      stdio: ["ignore", "ignore", "pipe"],
    });
    let text = "";
    child.stderr.setEncoding("utf8").on("data", (c: string) => (text += c));
    child.on("error", reject);
    child.on("close", (code) => resolveRun({ code, text }));
  });
  if (stderr.code !== 0)
    throw new LayerInstallError(
      stderr.text.trim().replace(/^kubestep bootstrap: /, "") ||
        `installing the dependency layer ${ref.layer.sha} ended with exit code ${stderr.code}`,
    );
  const dir = join(codeDir, `deps-${ref.layer.sha}`);
  const link = join(codeDir, "node_modules");
  if (!existsSync(join(dir, "node_modules")))
    throw new LayerInstallError(`the dependency layer ${ref.layer.sha} has no node_modules after its extraction`);
  // Replaced atomically: a restarted process of the same pod may find a link from an earlier run.
  const tmp = `${link}.${process.pid}.part`;
  rmSync(tmp, { force: true });
  symlinkSync(join(dir, "node_modules"), tmp);
  if (existsSync(link) && !lstatSync(link).isSymbolicLink())
    throw new LayerInstallError(`${link} exists and is not kubestep's link to a dependency layer`);
  renameSync(tmp, link);
  return dir;
}
