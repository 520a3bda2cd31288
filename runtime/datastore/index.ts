/** Opens the Storage for a datastore kind and root. The local store loads nothing else. */
import type { DatastoreKind } from "../environment.js";
import { LocalStorage } from "./local.js";
import type { Storage } from "./storage.js";

export type { Storage } from "./storage.js";

/** Opens a store; cloud SDKs are loaded only when their kind is used. */
export async function openStorage(kind: DatastoreKind, root: string): Promise<Storage> {
  if (kind === "local") return new LocalStorage(root);
  // AWS SDK v3 warns about Node 20 on every process; the runtime supports Node 20 deliberately.
  if (kind === "s3") process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";
  const { openStorage: openCloud } = await import("./open.js");
  return openCloud(kind, root);
}
