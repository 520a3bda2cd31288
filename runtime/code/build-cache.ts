/**
 * The code package build cache: a build is skipped when every input file of the previous build with the same
 * options still has the same content (sha256 of its bytes). A manifest per (flow file, options, esbuild
 * version) records the input files esbuild read (its metafile) with their hashes, and the sha of the bundle it
 * produced; the bundle itself is the content-addressed `<sha>.mjs` next to it.
 *
 * Not detected: a new file that would change how an unchanged import resolves (e.g. `./util.ts` created next to
 * the `./util/index.ts` it then shadows); delete the package's `.cache/code/builds/` to force a rebuild.
 */
import { createHash, randomBytes } from "node:crypto";
import { mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from "node:fs";
import { isAbsolute, join, resolve } from "node:path";

/** One input file of a build, content-addressed. */
interface CachedInput {
  path: string;
  sha: string;
}

/** What a manifest records. */
interface BuildManifest {
  version: 1;
  /** sha256 of the bundle (its file is `<sha>.mjs` in the cache directory). */
  sha: string;
  inputs: CachedInput[];
}

const sha256 = (b: Uint8Array | string) => createHash("sha256").update(b).digest("hex");

/** The manifest file of a build identified by `key` (anything that selects a distinct build: flow, options, tool versions). */
export function manifestPath(cacheDir: string, key: unknown): string {
  return join(cacheDir, "builds", `${sha256(JSON.stringify(key))}.json`);
}

/**
 * The cached bundle of the build whose manifest is `manifest`, when every recorded input file still has its
 * recorded content and the bundle is intact; `undefined` otherwise (a build is needed).
 */
export function cachedBuild(
  cacheDir: string,
  manifest: string,
): { sha: string; path: string; bytes: Uint8Array } | undefined {
  let m: BuildManifest;
  try {
    m = JSON.parse(readFileSync(manifest, "utf8")) as BuildManifest;
  } catch {
    return undefined;
  }
  if (m.version !== 1 || !Array.isArray(m.inputs) || !m.inputs.length) return undefined;
  for (const input of m.inputs) {
    try {
      if (sha256(readFileSync(input.path)) !== input.sha) return undefined;
    } catch {
      return undefined;
    }
  }
  const path = join(cacheDir, `${m.sha}.mjs`);
  try {
    const bytes = readFileSync(path);
    if (sha256(bytes) !== m.sha) return undefined;
    return { sha: m.sha, path, bytes: new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength) };
  } catch {
    return undefined;
  }
}

/**
 * Records a build: `inputs` are the paths of esbuild's metafile (relative to `workingDir` unless absolute; entries
 * that are not files, `virtual` (absolute paths: the stdin entry) and plugin namespaces, are left out: they are part of the build's key). A build is not
 * recorded when an input changed since `startedMs` (edited while esbuild ran: the bundle may hold the old text).
 */
export function recordBuild(
  manifest: string,
  sha: string,
  inputs: string[],
  workingDir: string,
  startedMs: number,
  virtual: readonly string[] = [],
): void {
  const files: CachedInput[] = [];
  for (const p of inputs) {
    if (p.startsWith("<") || p.includes(":")) continue; // plugin namespaces
    const abs = isAbsolute(p) ? p : resolve(workingDir, p);
    if (virtual.includes(abs)) continue; // the stdin entry
    try {
      if (statSync(abs).mtimeMs >= startedMs) return;
      files.push({ path: abs, sha: sha256(readFileSync(abs)) });
    } catch {
      return; // an input we cannot read again: never cache this build
    }
  }
  const body: BuildManifest = { version: 1, sha, inputs: files };
  mkdirSync(join(manifest, ".."), { recursive: true });
  const tmp = `${manifest}.tmp-${randomBytes(4).toString("hex")}`;
  writeFileSync(tmp, JSON.stringify(body));
  renameSync(tmp, manifest);
}
