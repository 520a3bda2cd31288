/**
 * Optional peer dependencies of the runtime, loaded only when a run needs them.
 *
 * `npm install kubestep` installs what local flows need (the runtime and esbuild). The cloud datastores'
 * SDKs and the Kubernetes client are optional peers (`peerDependenciesMeta.optional` in package.json):
 * a user installs the ones they use next to kubestep. When a command needs one that is missing, it fails
 * before anything runs with a {@link MissingPeerError} that names what needed it and the exact
 * `npm install` to type, e.g.
 * `--datastore gs needs @google-cloud/storage: npm install @google-cloud/storage@^7.22.0`.
 *
 * The datastore SDKs are imported with literal specifiers, so esbuild bundles the installed ones into the
 * self-contained code package pods run (see `code/package.ts`), where `openStorage` checks them too. The
 * Kubernetes client and @azure/identity are imported by name: pods never needed them in their code
 * package, and the check must not add them to it.
 */
import { KubestepError } from "./errors.js";

/** The runtime's optional peers and their version ranges (the same as package.json `peerDependencies`). */
export const RUNTIME_PEERS = {
  "@aws-sdk/client-s3": "^3.1169.0",
  "@aws-sdk/lib-storage": "^3.1169.0",
  "@aws-sdk/s3-request-presigner": "^3.1163.0",
  "@google-cloud/storage": "^7.22.0",
  "@azure/storage-blob": "^12.32.0",
  "@azure/identity": "^4.13.1",
  "@kubernetes/client-node": "~1.4.0",
} as const;

/** Name of one of the runtime's optional peer packages. */
export type RuntimePeer = keyof typeof RUNTIME_PEERS;

/**
 * The optional peers of `kubestep/components` (the Pulumi components import them statically; the runtime
 * never does). Same ranges as package.json `peerDependencies`.
 */
export const COMPONENT_PEERS = {
  "@pulumi/pulumi": "^3.248.0",
  "@pulumi/kubernetes": "^4.34.2",
  "@pulumi/aws": "^7.48.0",
  "@pulumi/gcp": "^9.37.0",
  "@pulumi/azure-native": "^3.28.0",
} as const;

/** A feature of the runtime that needs optional peers. */
export type PeerFeature = "s3" | "gs" | "azure" | "azure-identity" | "kubernetes";

/** The peers each feature needs, in the order they are named in messages. */
export const FEATURE_PEERS: Readonly<Record<PeerFeature, readonly RuntimePeer[]>> = {
  s3: ["@aws-sdk/client-s3", "@aws-sdk/lib-storage", "@aws-sdk/s3-request-presigner"],
  gs: ["@google-cloud/storage"],
  azure: ["@azure/storage-blob"],
  "azure-identity": ["@azure/identity"],
  kubernetes: ["@kubernetes/client-node"],
};

/** How each feature is described when nothing more precise is known (e.g. in the client API). */
export const FEATURE_DESCRIPTIONS: Readonly<Record<PeerFeature, string>> = {
  s3: "the s3 datastore",
  gs: "the gs datastore",
  azure: "the azure datastore",
  "azure-identity": "the azure datastore with Microsoft Entra ID credentials",
  kubernetes: "running on Kubernetes",
};

/** Imports a package by a name bundlers cannot see (so it stays out of code packages). */
const importByName = (name: string): Promise<unknown> => import(name);

/** Imports each peer (see the module comment for which are literal). The modules' types are not needed here. */
const IMPORTS: Readonly<Record<RuntimePeer, () => Promise<unknown>>> = {
  "@aws-sdk/client-s3": () => import("@aws-sdk/client-s3"),
  "@aws-sdk/lib-storage": () => import("@aws-sdk/lib-storage"),
  "@aws-sdk/s3-request-presigner": () => import("@aws-sdk/s3-request-presigner"),
  "@google-cloud/storage": () => import("@google-cloud/storage"),
  "@azure/storage-blob": () => import("@azure/storage-blob"),
  "@azure/identity": () => importByName("@azure/identity"),
  "@kubernetes/client-node": () => importByName("@kubernetes/client-node"),
};

/** One thing that needs optional peers, and why (for the message). */
export interface PeerNeed {
  /** The feature that needs its peers. */
  feature: PeerFeature;
  /**
   * What asked for the feature, as the user wrote it: `--datastore gs`, `KUBESTEP_DEFAULT_DATASTORE=s3`,
   * `step train (@kubernetes)`. Default: the feature's description ({@link FEATURE_DESCRIPTIONS}).
   */
  reason?: string;
}

/** The `npm install` command that installs `packages` at the ranges kubestep supports. */
export function installCommand(packages: readonly RuntimePeer[]): string {
  return `npm install ${packages.map((p) => `${p}@${RUNTIME_PEERS[p]}`).join(" ")}`;
}

function listNames(names: readonly string[]): string {
  return names.length <= 1 ? (names[0] ?? "") : `${names.slice(0, -1).join(", ")} and ${names[names.length - 1]}`;
}

/**
 * Thrown when optional peers a command needs are not installed. The message has one line per need,
 * `<reason> needs <packages>: npm install <package@range ...>`, and, when several needs are missing
 * peers, a last line with one `npm install` for all of them.
 */
export class MissingPeerError extends KubestepError {
  constructor(
    /** Every need that lacks a peer, with the peers it lacks. */
    readonly missing: ReadonlyArray<{ need: PeerNeed; packages: readonly RuntimePeer[] }>,
  ) {
    const lines = missing.map(
      ({ need, packages }) =>
        `${need.reason ?? FEATURE_DESCRIPTIONS[need.feature]} needs ${listNames(packages)}: ${installCommand(packages)}`,
    );
    const all = [...new Set(missing.flatMap((m) => m.packages))];
    if (missing.length > 1) lines.push(`install them all with: ${installCommand(all)}`);
    super(lines.join("\n"));
    this.name = "MissingPeerError";
  }

  /** Every missing package, once. */
  get packages(): RuntimePeer[] {
    return [...new Set(this.missing.flatMap((m) => m.packages))];
  }

  /** The one `npm install` command that installs every missing package. */
  get command(): string {
    return installCommand(this.packages);
  }
}

/**
 * Whether `err` (thrown by importing `name`) says that the package `name` itself is not installed (as
 * opposed to a broken installation or an error inside the package, which are rethrown as they are).
 */
export function isPackageNotFound(err: unknown, name: string): boolean {
  const e = err as { code?: unknown; message?: unknown } | undefined;
  if (typeof e?.message !== "string") return false;
  if (e.code === "ERR_MODULE_NOT_FOUND") return e.message.includes(`Cannot find package '${name}'`);
  if (e.code === "MODULE_NOT_FOUND") return e.message.includes(`Cannot find module '${name}'`);
  return false;
}

/** Importers of peers, replaceable in tests. */
export type PeerImporter = (name: RuntimePeer) => Promise<unknown>;

/**
 * Imports every peer the `needs` use (each once, all in parallel) and resolves when all are there.
 * Importing is what a run does anyway; Node caches the modules, so the features load them again for free.
 * @param importer how to import a peer; default `import()` of the package from kubestep's location.
 * @throws MissingPeerError naming every need that lacks a package, with the `npm install` to type.
 */
export async function requirePeers(
  needs: readonly PeerNeed[],
  importer: PeerImporter = (name) => IMPORTS[name](),
): Promise<void> {
  const names = [...new Set(needs.flatMap((n) => FEATURE_PEERS[n.feature]))];
  const absent = new Set<RuntimePeer>();
  await Promise.all(
    names.map(async (name) => {
      try {
        await importer(name);
      } catch (e) {
        if (isPackageNotFound(e, name)) absent.add(name);
        else throw e;
      }
    }),
  );
  if (!absent.size) return;
  const missing = needs
    .map((need) => ({ need, packages: FEATURE_PEERS[need.feature].filter((p) => absent.has(p)) }))
    .filter((m) => m.packages.length > 0);
  throw new MissingPeerError(missing);
}

/** Like {@link requirePeers} for one feature. */
export function requirePeer(feature: PeerFeature, reason?: string, importer?: PeerImporter): Promise<void> {
  return requirePeers([{ feature, ...(reason !== undefined ? { reason } : {}) }], importer);
}
