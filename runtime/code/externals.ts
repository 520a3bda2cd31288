/**
 * External packages: the npm packages a code package leaves out (esbuild cannot bundle native addons), found in
 * the local node_modules. {@link nativeAddonReason} tells whether a package is a native addon;
 * {@link declaredExternals} reads a flow's `static externals`; {@link buildDependencyLayer} packs the external
 * packages with their transitive production dependencies into a deterministic, content-addressed tar.gz whose
 * `node_modules/` the pod extracts beside its code package (runtime/code/bootstrap.ts).
 */
import { existsSync, lstatSync, readdirSync, readFileSync, realpathSync, statSync } from "node:fs";
import { dirname, join, relative, sep } from "node:path";
import { createHash } from "node:crypto";
import { FlowDefinitionError } from "../errors.js";
import { tarGzBytes, type TarEntry } from "./tar.js";

/** A package a code package leaves external. */
export interface ExternalPackage {
  /** Package name (`sharp`, `@scope/name`). */
  name: string;
  /** Real path of its directory in the local node_modules. */
  dir: string;
  /** Why it is external: `declared` (the flow's `static externals`) or why it is a native addon. */
  reason: string;
}

/** Packages whose use marks a package as a native addon (they locate a `.node` file at run time). */
const NATIVE_LOADERS = ["bindings", "node-gyp-build", "node-gyp-build-optional-packages", "prebuild-install"];
const NATIVE_LOADER_PREFIXES = ["@mapbox/node-pre-gyp", "node-pre-gyp", "@napi-rs/"];

const nativeCache = new Map<string, string | null>();

/** Name of the package a bare import specifier refers to (`@a/b/c` -> `@a/b`, `x/y` -> `x`). */
export function packageNameOf(specifier: string): string {
  const parts = specifier.split("/");
  return specifier.startsWith("@") ? parts.slice(0, 2).join("/") : parts[0]!;
}

/** Whether `name` is a valid npm package name. */
export function isPackageName(name: string): boolean {
  return /^(@[a-z0-9~][a-z0-9._~-]*\/)?[a-z0-9~][a-z0-9._~-]*$/.test(name) && name.length <= 214;
}

/** Folders that hold no native binary (sources, types, tests, docs) and are not searched. */
const NO_BINARIES = new Set([
  "node_modules",
  "src",
  "types",
  "dist-types",
  "dist-es",
  "test",
  "tests",
  "__tests__",
  "docs",
]);

/**
 * The first `.node` file under `dir` (breadth-first, at most 4 levels down, its own node_modules and source, type,
 * test and doc folders excluded), or undefined.
 */
function findNodeBinary(dir: string, budget = { files: 3000 }): string | undefined {
  const queue: Array<[string, number]> = [[dir, 0]];
  while (queue.length && budget.files > 0) {
    const [d, depth] = queue.shift()!;
    let names: string[];
    try {
      names = readdirSync(d).sort();
    } catch {
      continue;
    }
    for (const n of names) {
      if (--budget.files <= 0) break;
      const p = join(d, n);
      if (n.endsWith(".node")) return p;
      if (depth >= 4 || NO_BINARIES.has(n) || n.startsWith(".")) continue;
      try {
        if (lstatSync(p).isDirectory()) queue.push([p, depth + 1]);
      } catch {
        /* vanished */
      }
    }
  }
  return undefined;
}

/**
 * Why the package in `dir` is a native addon (it ships a `.node` binary, has a `binding.gyp`, or loads its
 * binary through bindings / node-gyp-build / prebuild / node-pre-gyp / napi-rs), or undefined when it is not.
 */
export function nativeAddonReason(dir: string): string | undefined {
  const cached = nativeCache.get(dir);
  if (cached !== undefined) return cached ?? undefined;
  let reason: string | undefined;
  let pkg: { dependencies?: Record<string, string>; optionalDependencies?: Record<string, string>; gypfile?: boolean };
  try {
    pkg = JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) as typeof pkg;
  } catch {
    pkg = {};
  }
  const deps = Object.keys({ ...pkg.dependencies, ...pkg.optionalDependencies });
  const loader = deps.find((d) => NATIVE_LOADERS.includes(d) || NATIVE_LOADER_PREFIXES.some((p) => d.startsWith(p)));
  if (loader) reason = `loads its binary with ${loader}`;
  else if (pkg.gypfile || existsSync(join(dir, "binding.gyp"))) reason = "builds a native addon (binding.gyp)";
  else {
    const bin = findNodeBinary(dir);
    if (bin) reason = `ships the native binary ${relative(dir, bin).split(sep).join("/")}`;
  }
  nativeCache.set(dir, reason ?? null);
  return reason;
}

/** The directory of the package a resolved file belongs to (the nearest package.json named `name`). */
export function packageDirOf(file: string, name: string): string | undefined {
  for (let d = dirname(file); d !== dirname(d); d = dirname(d)) {
    const pj = join(d, "package.json");
    if (existsSync(pj)) {
      try {
        if ((JSON.parse(readFileSync(pj, "utf8")) as { name?: string }).name === name) return realpathSync(d);
      } catch {
        /* not JSON: keep looking */
      }
    }
    if (d.endsWith(`${sep}node_modules`)) break;
  }
  return undefined;
}

/** Node's lookup of package `name` from directory `from`: the real path of the first `node_modules/<name>`. */
export function findPackage(name: string, from: string): string | undefined {
  for (let d = from; ; d = dirname(d)) {
    if (!d.endsWith(`${sep}node_modules`)) {
      const p = join(d, "node_modules", name);
      if (existsSync(join(p, "package.json"))) return realpathSync(p);
    }
    if (d === dirname(d)) return undefined;
  }
}

/**
 * The `static externals` a flow class declares: package names, validated (every problem at once).
 * @throws FlowDefinitionError naming the flow, the option, the bad values and what is allowed.
 */
export function declaredExternals(cls: Function): string[] {
  const v = (cls as { externals?: unknown }).externals;
  if (v === undefined) return [];
  const where = `flow ${cls.name}: static externals`;
  if (!Array.isArray(v))
    throw new FlowDefinitionError(`${where} is ${JSON.stringify(v)}; give an array of npm package names`);
  const bad = v.filter((n) => typeof n !== "string" || !isPackageName(n));
  if (bad.length)
    throw new FlowDefinitionError(
      `${where} has invalid package names ${bad.map((b) => JSON.stringify(b)).join(", ")}; give npm package names such as "sharp" or "@scope/name" (no version, no path)`,
    );
  return [...new Set(v as string[])].sort();
}

/** The platform native addons are built for: `<platform>-<arch>[-<libc>]-abi<NODE_MODULE_VERSION>`. */
export function hostPlatform(): string {
  const libc =
    process.platform === "linux"
      ? (process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined)?.header
          ?.glibcVersionRuntime
        ? "glibc"
        : "musl"
      : "";
  return `${process.platform}-${process.arch}${libc ? "-" + libc : ""}-abi${process.versions.modules}`;
}

/** A package placed in a layer. */
export interface LayerPackage {
  name: string;
  version: string;
  /** Its folder in the layer, e.g. `node_modules/a/node_modules/b`. */
  path: string;
  /** Real path of the local folder it was packed from. */
  dir: string;
}

/** A dependency layer. */
export interface DependencyLayer {
  /** sha256 of the tar.gz (its datastore key). */
  sha: string;
  /** The tar.gz bytes. */
  bytes: Buffer;
  /** Every package packed, by layer path. */
  packages: LayerPackage[];
  /** The external packages that are native addons (empty for pure-JavaScript externals). */
  native: string[];
  /** With native addons: the platform they were built for ({@link hostPlatform}); the pod must match it. */
  platform?: string;
}

/** Name of the manifest at the layer's root. */
export const LAYER_MANIFEST = "kubestep-layer.json";

interface PackageJson {
  name?: string;
  version?: string;
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  peerDependenciesMeta?: Record<string, { optional?: boolean }>;
}

function readPackageJson(dir: string): PackageJson {
  return JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) as PackageJson;
}

/** The layer path a dependency `dep` of the package at `from` resolves to (Node's lookup inside the layer). */
function lookupInLayer(placed: Map<string, string>, from: string, dep: string): string | undefined {
  const segs = from.split("/");
  for (let i = segs.length; i >= 1; i--) {
    if (segs[i - 1] !== "node_modules" && i !== segs.length) continue;
    const base = segs.slice(0, i).join("/");
    const at = base.endsWith("node_modules") ? `${base}/${dep}` : `${base}/node_modules/${dep}`;
    if (placed.has(at)) return at;
  }
  return undefined;
}

/** Regular files of a package folder (its own node_modules and VCS folders left out), symlinks followed. */
function packageFiles(root: string): Array<{ rel: string; abs: string; executable: boolean }> {
  const out: Array<{ rel: string; abs: string; executable: boolean }> = [];
  const seen = new Set<string>();
  const walk = (dir: string, rel: string) => {
    const real = realpathSync(dir);
    if (seen.has(real)) return;
    seen.add(real);
    for (const n of readdirSync(dir)) {
      if ((rel === "" && n === "node_modules") || n === ".git") continue;
      const abs = join(dir, n);
      let st;
      try {
        st = statSync(abs);
      } catch {
        continue; // dangling symlink
      }
      const r = rel ? `${rel}/${n}` : n;
      if (st.isDirectory()) walk(abs, r);
      else if (st.isFile()) out.push({ rel: r, abs, executable: (st.mode & 0o111) !== 0 });
    }
  };
  walk(root, "");
  return out;
}

/**
 * Places the external packages and their transitive production dependencies (dependencies, installed
 * optionalDependencies and installed peerDependencies) in a `node_modules` tree, as Node would resolve them
 * from the local install: a dependency goes to the top unless a different copy of the same name is already
 * visible from its dependent, then beside the dependent.
 * @throws FlowDefinitionError listing every dependency that is not installed, and conflicting externals.
 */
export function planLayer(externals: readonly ExternalPackage[]): LayerPackage[] {
  const placed = new Map<string, string>(); // layer path -> real dir
  const problems: string[] = [];
  const queue: Array<{ path: string; dir: string }> = [];
  for (const e of [...externals].sort((a, b) => (a.name < b.name ? -1 : 1))) {
    const at = `node_modules/${e.name}`;
    const prev = placed.get(at);
    if (prev && prev !== e.dir) problems.push(`two copies of the external package ${e.name}: ${prev} and ${e.dir}`);
    if (prev) continue;
    placed.set(at, e.dir);
    queue.push({ path: at, dir: e.dir });
  }
  while (queue.length) {
    const { path, dir } = queue.shift()!;
    const pj = readPackageJson(dir);
    const wanted: Array<[string, boolean]> = [
      ...Object.keys(pj.dependencies ?? {}).map((d): [string, boolean] => [d, false]),
      ...Object.keys(pj.optionalDependencies ?? {}).map((d): [string, boolean] => [d, true]),
      ...Object.keys(pj.peerDependencies ?? {}).map((d): [string, boolean] => [d, true]),
    ];
    for (const [dep, optional] of wanted.sort((a, b) => (a[0] < b[0] ? -1 : 1))) {
      const real = findPackage(dep, dir);
      if (!real) {
        if (!optional) problems.push(`${pj.name ?? dir} depends on ${dep}, which is not installed (npm install)`);
        continue;
      }
      const visible = lookupInLayer(placed, path, dep);
      if (visible && placed.get(visible) === real) continue;
      const at = visible ? `${path}/node_modules/${dep}` : `node_modules/${dep}`;
      if (placed.has(at)) {
        if (placed.get(at) !== real) problems.push(`cannot place ${dep} (${real}) for ${pj.name}: ${at} is taken`);
        continue;
      }
      placed.set(at, real);
      queue.push({ path: at, dir: real });
    }
  }
  if (problems.length)
    throw new FlowDefinitionError(`cannot pack the external packages:\n  ${[...new Set(problems)].join("\n  ")}`);
  return [...placed.entries()]
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([path, dir]) => {
      const pj = readPackageJson(dir);
      return { name: pj.name ?? path.split("node_modules/").pop()!, version: pj.version ?? "0.0.0", path, dir };
    });
}

/**
 * Packs the external packages with their transitive production dependencies into a deterministic tar.gz:
 * `node_modules/...` plus a `kubestep-layer.json` manifest (packages, native addons, platform). The same
 * installed files give the same sha256.
 */
export function buildDependencyLayer(externals: readonly ExternalPackage[]): DependencyLayer {
  const packages = planLayer(externals);
  const native = externals
    .filter((e) => e.reason !== "declared" || nativeAddonReason(e.dir))
    .map((e) => e.name)
    .sort();
  const platform = native.length ? hostPlatform() : undefined;
  const entries: TarEntry[] = [];
  for (const p of packages)
    for (const f of packageFiles(p.dir))
      entries.push({ path: `${p.path}/${f.rel}`, data: readFileSync(f.abs), executable: f.executable });
  const manifest = {
    packages: packages.map((p) => ({ name: p.name, version: p.version, path: p.path })),
    native,
    ...(platform ? { platform } : {}),
  };
  entries.push({ path: LAYER_MANIFEST, data: Buffer.from(JSON.stringify(manifest, null, 1) + "\n") });
  const bytes = tarGzBytes(entries);
  return {
    sha: createHash("sha256").update(bytes).digest("hex"),
    bytes,
    packages,
    native,
    ...(platform ? { platform } : {}),
  };
}
