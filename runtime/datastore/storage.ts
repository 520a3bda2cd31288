/**
 * The byte-level object store under every datastore (local directory, S3, GCS, Azure Blob).
 * Keys are `/`-separated relative paths under the store's root. Every write is atomic: a reader
 * sees either nothing or the whole object, never a partial one.
 */
import type { Readable } from "node:stream";
import type { DatastoreKind } from "../environment.js";

export interface Storage {
  /** Kind of store. */
  readonly kind: DatastoreKind;
  /** Root as the user gave it (`s3://bucket/prefix`, a directory, ...). */
  readonly root: string;
  /** Writes an object atomically (replaces an existing one). */
  put(key: string, data: Uint8Array | string): Promise<void>;
  /** Writes an object atomically from a stream of unknown length (multipart where the store has it). */
  putStream(key: string, data: Readable): Promise<void>;
  /** Writes an object atomically from a local file (streamed, never buffered whole). */
  putFile(key: string, path: string): Promise<void>;
  /** Reads a whole object; `undefined` when it does not exist. */
  get(key: string): Promise<Buffer | undefined>;
  /** Reads a whole object synchronously, where the store can (local directory only). */
  getSync?(key: string): Buffer | undefined;
  /** Streams an object; `undefined` when it does not exist. */
  getStream(key: string): Promise<Readable | undefined>;
  /** Size in bytes of an object; `undefined` when it does not exist. */
  size(key: string): Promise<number | undefined>;
  /** Whether an object exists. */
  exists(key: string): Promise<boolean>;
  /** Keys under a prefix (recursive), in no particular order. */
  list(prefix: string): Promise<string[]>;
  /** Names of the immediate children (objects or "directories") under a prefix. */
  listChildren(prefix: string): Promise<string[]>;
  /** Deletes an object if it exists. */
  delete(key: string): Promise<void>;
  /**
   * A URL that lets a process with no SDK and no credentials download the object with a plain
   * HTTP GET, valid for `seconds` (pre-signed URL / SAS). Local stores return a `file://` URL.
   */
  presignGet(key: string, seconds: number): Promise<string>;
}
