/** Opens the Storage for a datastore kind and root. The local store loads nothing else. */
import type { DatastoreKind } from "../environment.js";
import { LocalStorage } from "./local.js";
import type { Storage } from "./storage.js";

export type { Storage } from "./storage.js";

/** Opens a store; cloud SDKs are loaded only when their kind is used. */
export async function openStorage(kind: DatastoreKind, root: string): Promise<Storage> {
  if (kind === "local") return new LocalStorage(root);
  const { openStorage: openCloud } = await import("./open.js");
  return openCloud(kind, root);
}
