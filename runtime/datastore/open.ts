/**
 * Opening a datastore by kind and root (the one `openStorage`) and choosing the datastore from the command
 * line and the environment (`--datastore`, `KUBESTEP_DEFAULT_DATASTORE`, `KUBESTEP_DATASTORE_SYSROOT_*`).
 * Parsing roots and mapping keys live in `roots.ts` (re-exported here).
 *
 * This module loads nothing heavy: each cloud store (and its SDK) is imported only when its kind is opened.
 */
import type { DatastoreKind } from "../environment.js";
import { LocalStorage } from "./local.js";
import type { Storage } from "./storage.js";
import { requirePeer } from "../peers.js";
import { DATASTORE_KINDS, DatastoreConfigError, isDatastoreKind, parseDatastoreRoot } from "./roots.js";
import type { KubestepVariable } from "../variables.js";

export {
  DATASTORE_KINDS,
  ROOT_SCHEMES,
  DatastoreConfigError,
  isDatastoreKind,
  parseDatastoreRoot,
  objectName,
  listPrefix,
  keyOf,
  type ParsedRoot,
} from "./roots.js";

/** The variable that holds each kind's root (its "sysroot"). */
export const SYSROOT_VARS: Readonly<Record<DatastoreKind, KubestepVariable>> = {
  local: "KUBESTEP_DATASTORE_SYSROOT_LOCAL",
  s3: "KUBESTEP_DATASTORE_SYSROOT_S3",
  gs: "KUBESTEP_DATASTORE_SYSROOT_GS",
  azure: "KUBESTEP_DATASTORE_SYSROOT_AZURE",
};

/** The variable that chooses the datastore kind when `--datastore` is not given. */
export const DEFAULT_DATASTORE_VAR = "KUBESTEP_DEFAULT_DATASTORE" satisfies KubestepVariable;

/** Root of the local datastore when nothing else is configured: `.kubestep` in the working directory. */
export const DEFAULT_LOCAL_ROOT = ".kubestep";

/**
 * Opens the store for `kind` at `root`. Cloud SDKs are imported here, only for the kind asked for.
 * Credentials: see {@link S3Storage}, {@link GcsStorage}, {@link AzureStorage}.
 * @throws DatastoreConfigError when the root is malformed.
 * @throws MissingPeerError when the kind's SDK (an optional peer) is not installed.
 */
export async function openStorage(kind: DatastoreKind, root: string): Promise<Storage> {
  if (!isDatastoreKind(kind))
    throw new DatastoreConfigError(
      `unknown datastore ${JSON.stringify(kind)}; use one of ${DATASTORE_KINDS.join(", ")}`,
    );
  parseDatastoreRoot(kind, root);
  // The cloud SDKs are optional peers: a missing one fails here, with the `npm install` to type.
  if (kind !== "local") await requirePeer(kind);
  // AWS SDK v3 warns about Node 20 on every process; the runtime supports Node 20 deliberately.
  if (kind === "s3") process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";
  switch (kind) {
    case "local":
      return new LocalStorage(root);
    case "s3": {
      const { S3Storage } = await import("./s3.js");
      return new S3Storage(root);
    }
    case "gs": {
      const { GcsStorage } = await import("./gcs.js");
      return new GcsStorage(root);
    }
    case "azure": {
      const { AzureStorage } = await import("./azure.js");
      return new AzureStorage(root);
    }
  }
}

/** The datastore a run uses: its kind and root (not yet opened). */
export interface DatastoreChoice {
  /** Kind of store. */
  kind: DatastoreKind;
  /** Root as configured (`s3://bucket/prefix`, a directory, ...). */
  root: string;
  /** Where the kind came from, for messages: `--datastore`, `KUBESTEP_DEFAULT_DATASTORE` or `default`. */
  kindSource: string;
  /** Where the root came from, for messages: the sysroot variable or `default`. */
  rootSource: string;
}

/**
 * Chooses the datastore from the `--datastore` option (`flag`, wins when given) or
 * `KUBESTEP_DEFAULT_DATASTORE`, defaulting to `local`; the root comes from
 * `KUBESTEP_DATASTORE_SYSROOT_{LOCAL,S3,GS,AZURE}` (local defaults to `.kubestep` in the working directory).
 * @param env the process environment (or a test's).
 * @param flag the value of `--datastore`, when given.
 * @throws DatastoreConfigError for an unknown kind (naming where it came from and the allowed kinds), a
 *   cloud kind without its sysroot variable (naming the variable to set), or a malformed root.
 */
export function datastoreFromEnv(env: Readonly<Record<string, string | undefined>>, flag?: string): DatastoreChoice {
  let kindText: string;
  let kindSource: string;
  if (flag !== undefined && flag !== "") {
    kindText = flag;
    kindSource = "--datastore";
  } else if (env[DEFAULT_DATASTORE_VAR]) {
    kindText = env[DEFAULT_DATASTORE_VAR]!.trim();
    kindSource = DEFAULT_DATASTORE_VAR;
  } else {
    kindText = "local";
    kindSource = "default";
  }
  if (kindText === "gcs") kindText = "gs";
  if (!isDatastoreKind(kindText))
    throw new DatastoreConfigError(
      `${kindSource} ${JSON.stringify(kindText)} is not a datastore; use one of ${DATASTORE_KINDS.join(", ")}`,
    );
  const kind = kindText;
  const variable = SYSROOT_VARS[kind];
  const fromEnv = env[variable]?.trim();
  let root: string;
  let rootSource: string;
  if (fromEnv) {
    root = fromEnv;
    rootSource = variable;
  } else if (kind === "local") {
    root = DEFAULT_LOCAL_ROOT;
    rootSource = "default";
  } else {
    throw new DatastoreConfigError(
      `the ${kind} datastore was chosen (${kindSource}) but ${variable} is not set; set it to the root, e.g. ${variable}=${exampleRoot(kind)}`,
    );
  }
  try {
    parseDatastoreRoot(kind, root);
  } catch (e) {
    if (e instanceof DatastoreConfigError) throw new DatastoreConfigError(`${rootSource}: ${e.message}`);
    throw e;
  }
  return { kind, root, kindSource, rootSource };
}

function exampleRoot(kind: DatastoreKind): string {
  return kind === "s3"
    ? "s3://my-bucket/kubestep"
    : kind === "gs"
      ? "gs://my-bucket/kubestep"
      : kind === "azure"
        ? "azure://myaccount/mycontainer/kubestep"
        : DEFAULT_LOCAL_ROOT;
}
