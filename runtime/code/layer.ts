/**
 * The dependency layer of a pod code package: packs its external packages (runtime/code/externals.ts), stores the
 * layer in the flow's datastore under its sha256 unless it is already there, and describes it for the pods
 * (runtime/code/bootstrap.ts).
 */
import type { FlowDatastore } from "../datastore/flowstore.js";
import type { DependencyLayerRef } from "./layer-install.js";
import { buildDependencyLayer, type ExternalPackage } from "./externals.js";

/** A stored dependency layer. */
export interface StoredLayer extends DependencyLayerRef {
  /** Whether this call uploaded it (false: it was already in the datastore). */
  uploaded: boolean;
}

/**
 * Packs `externals` into a dependency layer and uploads it to the flow's datastore unless an object with its
 * sha256 is already there. Returns undefined when there is nothing external.
 */
export async function storeDependencyLayer(
  ds: FlowDatastore,
  externals: readonly ExternalPackage[],
  info: (text: string) => void,
): Promise<StoredLayer | undefined> {
  if (!externals.length) return undefined;
  const detected = externals.filter((e) => e.reason !== "declared");
  if (detected.length)
    info(
      `native addons left out of the code package (esbuild cannot bundle them), packed into its dependency layer: ${detected.map((e) => `${e.name} (${e.reason})`).join(", ")}`,
    );
  const built = buildDependencyLayer(externals);
  const key = ds.layerKey(built.sha);
  const what = `the dependency layer ${built.sha.slice(0, 12)} (${built.packages.length} packages, ${(built.bytes.byteLength / 1e6).toFixed(1)} MB${built.platform ? `, native addons for ${built.platform}` : ""})`;
  const uploaded = !(await ds.storage.exists(key));
  if (uploaded) {
    info(`uploading ${what} to ${ds.storage.root}`);
    await ds.storage.put(key, built.bytes);
  } else info(`${what} is already in ${ds.storage.root}`);
  const names = [...new Set(externals.map((e) => e.name))].sort();
  return {
    layer: {
      sha: built.sha,
      externals: names,
      native: built.native,
      ...(built.platform ? { platform: built.platform } : {}),
    },
    key,
    uploaded,
  };
}
