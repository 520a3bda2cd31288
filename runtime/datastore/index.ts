/** Opening a Storage for a datastore kind and root; the local store loads nothing else (see `open.ts`). */
export { openStorage } from "./open.js";
export type { Storage } from "./storage.js";
