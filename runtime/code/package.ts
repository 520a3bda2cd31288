/**
 * Code packaging: the flow file with its imports and the runtime, bundled by esbuild into one ES module.
 * Run as a program (`node package.mjs`), it executes the task in `KUBESTEP_TASK_SPEC` (or the first line of
 * stdin); imported, it only exposes `loadFlowModule()`. Content-addressed by the sha256 of its bytes.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync, renameSync } from "node:fs";
import { createRequire, isBuiltin } from "node:module";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { createHash, randomBytes } from "node:crypto";
import { FlowDefinitionError } from "../errors.js";
import { RUNTIME_PEERS } from "../peers.js";
import type { DatastoreKind } from "../environment.js";
import {
  findPackage,
  isPackageName,
  nativeAddonReason,
  packageDirOf,
  packageNameOf,
  type ExternalPackage,
} from "./externals.js";
import { cachedBuild, manifestPath, recordBuild } from "./build-cache.js";

/** A built code package. */
export interface CodePackage {
  /** sha256 of the bundle. */
  sha: string;
  /** Local path of the bundle (runnable with `node`). */
  path: string;
  /** The bundle's bytes. */
  bytes: Uint8Array;
  /**
   * The npm packages the bundle leaves out, by name: the flow's declared externals and the native addons found
   * while bundling. A local bundle imports them by absolute path from the local node_modules; a self-contained
   * one by name, from the `node_modules` of the dependency layer the pod extracts beside it.
   */
  externals: ExternalPackage[];
  /** Whether the previous build's bundle was reused (every input file unchanged): esbuild did not run. */
  fromCache?: boolean;
}

/** Options of {@link buildCodePackage}. */
export interface PackageOptions {
  /**
   * Bundle every dependency (the installed cloud SDKs and Kubernetes client) so the file runs anywhere
   * `node` runs (Kubernetes pods). Local runs leave heavy SDKs external to keep task start-up fast.
   */
  selfContained?: boolean;
  /**
   * With `selfContained`: the datastore the pods use. Only its SDK is bundled; the other datastores' SDKs and
   * the Kubernetes client (which a task pod never calls) stay out, so the package a pod downloads, parses and
   * holds in memory is a fraction of the size. Without it, every installed SDK is bundled.
   */
  podDatastore?: Exclude<DatastoreKind, "local">;
  /**
   * With `selfContained`: build the orchestrator package of a deployed flow (`kubestep deploy`): it also bundles
   * the Kubernetes client (the orchestrator pod submits every step as a Job) and exports `runOrchestrator()`,
   * which runs the deployed run in `KUBESTEP_DEPLOYED_RUN` (see runtime/deploy/pod.ts).
   */
  orchestrator?: boolean;
  /**
   * With `selfContained`: also export `runArgoTask()`, the entry point of a step pod of an Argo workflow
   * (`kubestep argo-workflows create`, see runtime/argo/task.ts).
   */
  argo?: boolean;
  /**
   * npm packages to leave out of the bundle (the flow's `static externals`), installed in a node_modules
   * folder above the flow file. Native addons are always left out, without being named here.
   */
  externals?: readonly string[];
}

/** esbuild namespace of the shims that require external CommonJS packages. */
const EXTERNAL_NS = "kubestep-external";

/** Whether Node loads a resolved file as an ES module (`.mjs`, or `.js` in a `"type": "module"` package). */
function isEsmFile(file: string): boolean {
  if (file.endsWith(".mjs")) return true;
  if (!file.endsWith(".js")) return false;
  for (let d = dirname(file); d !== dirname(d); d = dirname(d)) {
    const pj = join(d, "package.json");
    if (existsSync(pj)) {
      try {
        return (JSON.parse(readFileSync(pj, "utf8")) as { type?: string }).type === "module";
      } catch {
        return false;
      }
    }
  }
  return false;
}

/** pluginData of a resolution kubestep's own hooks start, so that they do not see it again. */
const RESOLVING = { kubestepResolving: true } as const;
const isOwnResolve = (data: unknown) => (data as { kubestepResolving?: boolean } | undefined)?.kubestepResolving;

const here = dirname(fileURLToPath(import.meta.url));
/** Root of the kubestep package (holds package.json and node_modules). */
export const PACKAGE_ROOT = resolve(here, "..", "..", here.includes(`${"/"}dist${"/"}`) ? ".." : ".");

function runtimeFile(rel: string): string {
  const base = resolve(here, "..", rel);
  for (const ext of [".js", ".ts"]) if (existsSync(base + ext)) return base + ext;
  throw new Error(`kubestep runtime file ${rel} not found under ${resolve(here, "..")}`);
}

/** Packages that stay external in local bundles (resolved from kubestep's node_modules at run time). */
const HEAVY = [/^@kubernetes\/client-node/, /^@aws-sdk\//, /^@smithy\//, /^@google-cloud\//, /^@azure\//, /^esbuild$/];

/** The SDK packages of each remote datastore (bare import prefixes), and of the Kubernetes client. */
const SDK_IMPORTS: Readonly<Record<Exclude<DatastoreKind, "local"> | "kubernetes", RegExp>> = {
  s3: /^@(aws-sdk|smithy)\//,
  gs: /^@google-cloud\//,
  azure: /^@azure\//,
  kubernetes: /^@kubernetes\/client-node(\/|$)/,
};

/** Bare imports a pod bundle for `datastore` leaves out: the other datastores' SDKs and the Kubernetes client. */
export function podExcludedImports(datastore: Exclude<DatastoreKind, "local">): RegExp[] {
  return Object.entries(SDK_IMPORTS)
    .filter(([k]) => k !== datastore)
    .map(([, re]) => re);
}

/** Bare imports of the runtime's optional peers (and their subpaths). */
const OPTIONAL_PEER_FILTER = new RegExp(
  `^(${Object.keys(RUNTIME_PEERS)
    .map((n) => n.replace(/[/.-]/g, "\\$&"))
    .join("|")})(/|$)`,
);

/** The installed esbuild's version (part of a cached build's key), read without loading esbuild. */
function esbuildVersion(): string {
  try {
    const req = createRequire(import.meta.url);
    return (JSON.parse(readFileSync(req.resolve("esbuild/package.json"), "utf8")) as { version: string }).version;
  } catch {
    return "unknown";
  }
}

/** The name esbuild gives the generated entry module (stdin). */
const ENTRY_NAME = "kubestep-entry.ts";

/** esbuild builds in progress: its service process is stopped when the last one ends (it is not kept for the run). */
let activeBuilds = 0;

/**
 * Bundles a flow file into a code package and caches it under the package's `.cache/code/`. When every input
 * file of the previous build with the same options is unchanged (by content), that bundle is reused and esbuild
 * is not started at all (see build-cache.ts).
 */
export async function buildCodePackage(flowFile: string, options: PackageOptions = {}): Promise<CodePackage> {
  const abs = resolve(flowFile);
  if (!existsSync(abs)) throw new FlowDefinitionError(`flow file ${flowFile} does not exist`);
  const dir = join(PACKAGE_ROOT, ".cache", "code");
  const manifest = manifestPath(dir, { abs, options, here, esbuild: esbuildVersion(), format: 1 });
  const cached = cachedBuild(dir, manifest);
  if (cached) return { ...cached, fromCache: true, externals: [] };
  const esbuild = await import("esbuild");
  const startedMs = Date.now();
  // The flow module is imported lazily: a warm task process boots (node + runtime) before it knows
  // its task, then applies the step's environment, then imports the user's code.
  const entry = [
    `import { taskProcessMain } from ${JSON.stringify(runtimeFile("exec/task"))};`,
    `import { pathToFileURL } from "node:url";`,
    `export const loadFlowModule = () => import(${JSON.stringify(abs)});`,
    `export const runTaskProcess = () => taskProcessMain(loadFlowModule);`,
    `if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) taskProcessMain(loadFlowModule);`,
    ...(options.orchestrator
      ? [
          `import { orchestratorMain } from ${JSON.stringify(runtimeFile("deploy/pod"))};`,
          `export const runOrchestrator = () => orchestratorMain(loadFlowModule);`,
        ]
      : []),
    ...(options.argo
      ? [
          `import { argoTaskMain } from ${JSON.stringify(runtimeFile("argo/task"))};`,
          `export const runArgoTask = () => argoTaskMain(loadFlowModule);`,
        ]
      : []),
  ].join("\n");
  const indexFile = runtimeFile("index");
  const flowDir = dirname(abs);
  const declared = new Set(options.externals ?? []);
  const externals = new Map<string, ExternalPackage>(); // by name + dir
  const keep = (e: ExternalPackage) => externals.set(`${e.name}\0${e.dir}`, e);
  const lookups = new Map<string, string | null>(); // resolveDir + package name -> package dir
  const missing: string[] = [];
  for (const name of declared) {
    const dir = findPackage(name, flowDir);
    if (dir) keep({ name, dir, reason: "declared" });
    else missing.push(name);
  }
  if (missing.length)
    throw new FlowDefinitionError(
      `the external packages ${missing.join(", ")} of ${flowFile} are not installed in a node_modules folder above ${flowDir}; npm install them there`,
    );
  activeBuilds++;
  const result = await esbuild
    .build({
      metafile: true,
      stdin: { contents: entry, resolveDir: dirname(abs), sourcefile: ENTRY_NAME, loader: "ts" },
      bundle: true,
      write: false,
      format: "esm",
      platform: "node",
      target: "node20",
      sourcemap: "inline",
      sourcesContent: false,
      logLevel: "silent",
      banner: {
        js: "import { createRequire as __ksCreateRequire } from 'node:module'; const require = __ksCreateRequire(import.meta.url);",
      },
      plugins: [
        {
          name: "kubestep",
          setup(build) {
            build.onResolve({ filter: /^kubestep$/ }, () => ({ path: indexFile }));
            if (!options.selfContained)
              build.onResolve({ filter: /^[@a-z]/ }, (args) =>
                HEAVY.some((re) => re.test(args.path)) ? { path: args.path, external: true } : undefined,
              );
            else if (options.podDatastore) {
              // Only the runtime's own imports are left out (the user's flow may import any SDK, which is then
              // bundled with everything it imports): they stay dynamic imports a pod never reaches, since each
              // datastore loads its SDK lazily.
              const excluded = podExcludedImports(options.podDatastore).filter(
                (re) => !(options.orchestrator && re === SDK_IMPORTS.kubernetes),
              );
              const runtimeDir = dirname(here);
              build.onResolve({ filter: /^@/ }, (args) =>
                args.importer.startsWith(runtimeDir + "/") && excluded.some((re) => re.test(args.path))
                  ? { path: args.path, external: true }
                  : undefined,
              );
            }
            if (options.selfContained)
              // Optional peers (cloud SDKs, the Kubernetes client) are bundled when the user installed them;
              // one that is not installed stays an import that fails, if ever reached, with the npm install to type.
              build.onResolve({ filter: OPTIONAL_PEER_FILTER }, async (args) => {
                if (isOwnResolve(args.pluginData)) return undefined;
                const r = await build.resolve(args.path, {
                  kind: args.kind,
                  resolveDir: args.resolveDir,
                  importer: args.importer,
                  pluginData: RESOLVING,
                });
                return r.errors.length
                  ? { path: args.path, external: true }
                  : {
                      path: r.path,
                      external: r.external,
                      sideEffects: r.sideEffects,
                      namespace: r.namespace,
                      pluginData: r.pluginData,
                    };
              });
            // External packages: the declared ones and every native addon (esbuild cannot bundle `.node`
            // binaries, and bindings-style loaders look for them beside the package's own files). A local bundle
            // imports them by real path; a self-contained one by name, from the pod's dependency layer.
            build.onResolve({ filter: /^[^./]/ }, async (args) => {
              if (isOwnResolve(args.pluginData) || isBuiltin(args.path) || args.namespace === EXTERNAL_NS)
                return undefined;
              const name = packageNameOf(args.path);
              if (!isPackageName(name) || name === "kubestep") return undefined;
              // Cheap first look (Node's node_modules lookup, cached): a package that is neither declared nor
              // native is left to esbuild's own resolution.
              const key = `${args.resolveDir}\0${name}`;
              let found = lookups.get(key);
              if (found === undefined) lookups.set(key, (found = findPackage(name, args.resolveDir) ?? null));
              if (found && !declared.has(name) && !nativeAddonReason(found)) return undefined;
              const r = await build.resolve(args.path, {
                kind: args.kind,
                resolveDir: args.resolveDir,
                importer: args.importer,
                pluginData: RESOLVING,
              });
              if (r.errors.length || r.external || r.namespace !== "file") return undefined;
              const dir = packageDirOf(r.path, name);
              const reason = dir && (declared.has(name) ? "declared" : nativeAddonReason(dir));
              if (!dir || !reason)
                return { path: r.path, sideEffects: r.sideEffects, namespace: r.namespace, pluginData: r.pluginData };
              keep({ name, dir, reason });
              const spec = options.selfContained ? args.path : r.path;
              // A CommonJS package is required through a shim, so that named imports of it work as when
              // bundled (esbuild's interop); an ES module stays an import.
              return isEsmFile(r.path)
                ? { path: spec, external: true }
                : { path: spec, namespace: EXTERNAL_NS, sideEffects: r.sideEffects };
            });
            build.onResolve({ filter: /.*/, namespace: EXTERNAL_NS }, (args) => ({ path: args.path, external: true }));
            build.onLoad({ filter: /.*/, namespace: EXTERNAL_NS }, (args) => ({
              contents: `module.exports = require(${JSON.stringify(args.path)});`,
              loader: "js",
            }));
          },
        },
      ],
    })
    .catch(
      (e: { errors?: Array<{ text: string; location?: { file: string; line: number; column: number } | null }> }) => {
        const msgs = (e.errors ?? []).map((m) =>
          m.location ? `${m.location.file}:${m.location.line}:${m.location.column}: ${m.text}` : m.text,
        );
        throw new FlowDefinitionError(
          `cannot build the code package for ${flowFile}:\n  ${msgs.join("\n  ") || String(e)}`,
        );
      },
    )
    .finally(() => {
      if (--activeBuilds === 0) void esbuild.stop();
    });
  const bytes = result.outputFiles[0]!.contents;
  const sha = createHash("sha256").update(bytes).digest("hex");
  const path = join(dir, `${sha}.mjs`);
  // The cached file is what task processes run: one whose bytes no longer match its name is replaced.
  if (!existsSync(path) || createHash("sha256").update(readFileSync(path)).digest("hex") !== sha) {
    mkdirSync(dir, { recursive: true });
    const tmp = `${path}.tmp-${randomBytes(4).toString("hex")}`;
    writeFileSync(tmp, bytes);
    renameSync(tmp, path);
  }
  const left = [...externals.values()].sort((a, b) => (a.name < b.name ? -1 : 1));
  // A bundle with external packages is not cached: whether a package is a native addon depends on files of
  // node_modules that esbuild never reads (so the build's inputs would not show a change).
  if (!left.length)
    recordBuild(manifest, sha, Object.keys(result.metafile.inputs), process.cwd(), startedMs, [
      join(dirname(abs), ENTRY_NAME),
    ]);
  return { sha, path, bytes, externals: left };
}
