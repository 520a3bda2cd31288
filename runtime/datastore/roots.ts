/**
 * Datastore roots and keys, shared by every store: parsing a root (`s3://bucket/prefix`,
 * `gs://bucket/prefix`, `azure://account/container/prefix`, a directory), and mapping datastore keys to object
 * names under a root's prefix. No I/O, no SDK: the cloud stores and `open.ts` import it.
 */
import { ROOT_SCHEMES, type DatastoreKind } from "../contract/datastore.js";
import { KubestepError } from "../errors.js";

export { DATASTORE_KINDS, ROOT_SCHEMES, isDatastoreKind } from "../contract/datastore.js";

/** Thrown for a bad datastore choice or root; the message says what was wrong and what is allowed. */
export class DatastoreConfigError extends KubestepError {
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

/**
 * Parses a datastore root for `kind`. Cloud roots must use the kind's scheme (`s3://bucket[/prefix]`,
 * `gs://bucket[/prefix]`, `azure://account/container[/prefix]`); a local root is any non-empty path.
 * @throws DatastoreConfigError naming the bad root and the expected form.
 */
export function parseDatastoreRoot(kind: DatastoreKind, root: string): ParsedRoot {
  if (typeof root !== "string" || root.trim() === "")
    throw new DatastoreConfigError(`the ${kind} datastore root is empty; ${describeRootForm(kind)}`);
  if (kind === "local") {
    if (/^(s3|gs|azure):\/\//.test(root))
      throw new DatastoreConfigError(
        `the local datastore root ${JSON.stringify(root)} is a cloud URL; a local root is a directory path`,
      );
    return { kind, dir: root };
  }
  const scheme = ROOT_SCHEMES[kind];
  if (!root.startsWith(scheme))
    throw new DatastoreConfigError(
      `the ${kind} datastore root ${JSON.stringify(root)} does not start with ${scheme}; ${describeRootForm(kind)}`,
    );
  const rest = root.slice(scheme.length);
  const parts = rest.split("/");
  if (kind === "azure") {
    const [account, container] = parts;
    if (!account || !/^[a-z0-9]{3,24}$/.test(account))
      throw new DatastoreConfigError(
        `the azure datastore root ${JSON.stringify(root)} has no valid storage account name (3-24 lowercase letters and digits); ${describeRootForm(kind)}`,
      );
    if (!container || (!/^[a-z0-9]([a-z0-9-]{1,61}[a-z0-9])?$/.test(container) && container !== "$root"))
      throw new DatastoreConfigError(
        `the azure datastore root ${JSON.stringify(root)} has no valid container name (3-63 lowercase letters, digits, '-'); ${describeRootForm(kind)}`,
      );
    return { kind, account, container, prefix: trimSlashes(parts.slice(2).join("/")) };
  }
  const bucket = parts[0];
  if (!bucket || !/^[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]$/.test(bucket))
    throw new DatastoreConfigError(
      `the ${kind} datastore root ${JSON.stringify(root)} has no valid bucket name (lowercase letters, digits, '.', '-', '_'); ${describeRootForm(kind)}`,
    );
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
      if (seg === "" || seg === "." || seg === "..")
        throw new Error(`datastore key ${JSON.stringify(key)} has an empty, '.' or '..' segment`);
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
