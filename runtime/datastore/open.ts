/**
 * Opening a datastore by kind and root, parsing roots (`s3://bucket/prefix`, `gs://bucket/prefix`,
 * `azure://account/container/prefix`, a directory) and choosing the datastore from the command line and
 * the environment (`--datastore`, `KUBESTEP_DEFAULT_DATASTORE`, `KUBESTEP_DATASTORE_SYSROOT_*`).
 *
 * This module loads nothing heavy: each cloud store (and its SDK) is imported only when its kind is opened.
 */
import type { DatastoreKind } from "../environment.js";
import { LocalStorage } from "./local.js";
import type { Storage } from "./storage.js";
import { requirePeer } from "../peers.js";

/** Every datastore kind, in the order they are shown in messages. */
export const DATASTORE_KINDS: readonly DatastoreKind[] = ["local", "s3", "gs", "azure"];

/** The URL scheme each cloud kind's root starts with. */
export const ROOT_SCHEMES: Readonly<Record<Exclude<DatastoreKind, "local">, string>> = {
  s3: "s3://",
  gs: "gs://",
  azure: "azure://",
};

/** The variable that holds each kind's root (its "sysroot"). */
export const SYSROOT_VARS: Readonly<Record<DatastoreKind, string>> = {
  local: "KUBESTEP_DATASTORE_SYSROOT_LOCAL",
  s3: "KUBESTEP_DATASTORE_SYSROOT_S3",
  gs: "KUBESTEP_DATASTORE_SYSROOT_GS",
  azure: "KUBESTEP_DATASTORE_SYSROOT_AZURE",
};

/** The variable that chooses the datastore kind when `--datastore` is not given. */
export const DEFAULT_DATASTORE_VAR = "KUBESTEP_DEFAULT_DATASTORE";

/** Root of the local datastore when nothing else is configured: `.kubestep` in the working directory. */
export const DEFAULT_LOCAL_ROOT = ".kubestep";

/** Thrown for a bad datastore choice or root; the message says what was wrong and what is allowed. */
export class DatastoreConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "DatastoreConfigError";
  }
}

/** A parsed datastore root. */
export type ParsedRoot =
  | {
      /** Local directory store. */
      kind: "local";
      /** The directory (as given; resolved against the working directory when opened). */
      dir: string;
    }
  | {
      /** S3 or Google Cloud Storage. */
      kind: "s3" | "gs";
      /** Bucket name. */
      bucket: string;
      /** Key prefix inside the bucket, without leading or trailing `/` (may be empty). */
      prefix: string;
    }
  | {
      /** Azure Blob Storage. */
      kind: "azure";
      /** Storage account name. */
      account: string;
      /** Blob container name. */
      container: string;
      /** Blob name prefix inside the container, without leading or trailing `/` (may be empty). */
      prefix: string;
    };

function trimSlashes(s: string): string {
  return s.replace(/^\/+/, "").replace(/\/+$/, "");
}

/** Whether `value` is one of the datastore kinds. */
export function isDatastoreKind(value: unknown): value is DatastoreKind {
  return typeof value === "string" && (DATASTORE_KINDS as readonly string[]).includes(value);
}

/**
 * Parses a datastore root for `kind`. Cloud roots must use the kind's scheme (`s3://bucket[/prefix]`,
 * `gs://bucket[/prefix]`, `azure://account/container[/prefix]`); a local root is any non-empty path.
 * @throws DatastoreConfigError naming the bad root and the expected form.
 */
export function parseDatastoreRoot(kind: DatastoreKind, root: string): ParsedRoot {
  if (typeof root !== "string" || root.trim() === "") throw new DatastoreConfigError(`the ${kind} datastore root is empty; ${describeRootForm(kind)}`);
  if (kind === "local") {
    if (/^(s3|gs|azure):\/\//.test(root)) throw new DatastoreConfigError(`the local datastore root ${JSON.stringify(root)} is a cloud URL; a local root is a directory path`);
    return { kind, dir: root };
  }
  const scheme = ROOT_SCHEMES[kind];
  if (!root.startsWith(scheme)) throw new DatastoreConfigError(`the ${kind} datastore root ${JSON.stringify(root)} does not start with ${scheme}; ${describeRootForm(kind)}`);
  const rest = root.slice(scheme.length);
  const parts = rest.split("/");
  if (kind === "azure") {
    const [account, container] = parts;
    if (!account || !/^[a-z0-9]{3,24}$/.test(account))
      throw new DatastoreConfigError(`the azure datastore root ${JSON.stringify(root)} has no valid storage account name (3-24 lowercase letters and digits); ${describeRootForm(kind)}`);
    if (!container || !/^[a-z0-9]([a-z0-9-]{1,61}[a-z0-9])?$/.test(container) && container !== "$root")
      throw new DatastoreConfigError(`the azure datastore root ${JSON.stringify(root)} has no valid container name (3-63 lowercase letters, digits, '-'); ${describeRootForm(kind)}`);
    return { kind, account, container, prefix: trimSlashes(parts.slice(2).join("/")) };
  }
  const bucket = parts[0];
  if (!bucket || !/^[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]$/.test(bucket))
    throw new DatastoreConfigError(`the ${kind} datastore root ${JSON.stringify(root)} has no valid bucket name (lowercase letters, digits, '.', '-', '_'); ${describeRootForm(kind)}`);
  return { kind, bucket, prefix: trimSlashes(parts.slice(1).join("/")) };
}

function describeRootForm(kind: DatastoreKind): string {
  switch (kind) {
    case "local":
      return "a local root is a directory path, e.g. .kubestep";
    case "s3":
      return "an s3 root looks like s3://bucket or s3://bucket/prefix";
    case "gs":
      return "a gs root looks like gs://bucket or gs://bucket/prefix";
    case "azure":
      return "an azure root looks like azure://account/container or azure://account/container/prefix";
  }
}

/**
 * Checks a datastore key (a `/`-separated path relative to the root) and joins it to `prefix`.
 * Keys may not be absolute, contain empty, `.` or `..` segments. A trailing `/` is allowed and kept out
 * (so `list("a/")` and `list("a")` mean the same). Used by the cloud stores; exported for tests.
 */
export function objectName(prefix: string, key: string): string {
  const k = key.replace(/\/+$/, "");
  if (k !== "") {
    if (k.startsWith("/")) throw new Error(`datastore key must be relative, got ${JSON.stringify(key)}`);
    for (const seg of k.split("/"))
      if (seg === "" || seg === "." || seg === "..") throw new Error(`datastore key ${JSON.stringify(key)} has an empty, '.' or '..' segment`);
  }
  if (!prefix) return k;
  return k === "" ? prefix : `${prefix}/${k}`;
}

/** The name prefix to list everything under `key` ("directory" semantics): `<prefix>/<key>/`, or `<prefix>/` for the root. */
export function listPrefix(prefix: string, key: string): string {
  const n = objectName(prefix, key);
  return n === "" ? "" : `${n}/`;
}

/** The datastore key (relative to the root) of an object name inside the bucket/container. */
export function keyOf(prefix: string, name: string): string {
  if (!prefix) return name;
  return name.startsWith(`${prefix}/`) ? name.slice(prefix.length + 1) : name;
}

/**
 * Opens the store for `kind` at `root`. Cloud SDKs are imported here, only for the kind asked for.
 * Credentials: see {@link S3Storage}, {@link GcsStorage}, {@link AzureStorage}.
 * @throws DatastoreConfigError when the root is malformed.
 * @throws MissingPeerError when the kind's SDK (an optional peer) is not installed.
 */
export async function openStorage(kind: DatastoreKind, root: string): Promise<Storage> {
  if (!isDatastoreKind(kind)) throw new DatastoreConfigError(`unknown datastore ${JSON.stringify(kind)}; use one of ${DATASTORE_KINDS.join(", ")}`);
  parseDatastoreRoot(kind, root);
  // The cloud SDKs are optional peers: a missing one fails here, with the `npm install` to type.
  if (kind !== "local") await requirePeer(kind);
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
    throw new DatastoreConfigError(`${kindSource} ${JSON.stringify(kindText)} is not a datastore; use one of ${DATASTORE_KINDS.join(", ")}`);
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
  return kind === "s3" ? "s3://my-bucket/kubestep" : kind === "gs" ? "gs://my-bucket/kubestep" : kind === "azure" ? "azure://myaccount/mycontainer/kubestep" : DEFAULT_LOCAL_ROOT;
}
