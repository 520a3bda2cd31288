/** The datastore vocabulary the runtime and the components share: the kinds and their root schemes. Dependency-free. */

/** Every datastore kind, in the order they are shown in messages. */
export const DATASTORE_KINDS = ["local", "s3", "gs", "azure"] as const;
/** Which object store holds artifacts, logs, metadata and code packages. */
export type DatastoreKind = (typeof DATASTORE_KINDS)[number];

/** The URL scheme each cloud kind's root starts with. */
export const ROOT_SCHEMES: Readonly<Record<Exclude<DatastoreKind, "local">, string>> = {
  s3: "s3://",
  gs: "gs://",
  azure: "azure://",
};

/** Whether `value` is one of the datastore kinds. */
export function isDatastoreKind(value: unknown): value is DatastoreKind {
  return typeof value === "string" && (DATASTORE_KINDS as readonly string[]).includes(value);
}
