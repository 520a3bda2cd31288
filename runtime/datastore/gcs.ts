/**
 * The Google Cloud Storage datastore (`gs://bucket/prefix`), on `@google-cloud/storage`.
 *
 * - Credentials: Application Default Credentials, never overridden (`GOOGLE_APPLICATION_CREDENTIALS`,
 *   `gcloud auth application-default login`, GKE Workload Identity through the metadata server).
 * - Endpoint: `KUBESTEP_GCS_ENDPOINT_URL` (or the `endpoint` option) for emulators.
 * - Writes are atomic: an upload (single request or resumable) creates the object generation only when
 *   it completes; a failed upload leaves the previous generation in place.
 * - Pre-signed URLs are V4 signed URLs; with Workload Identity the SDK signs through the IAM
 *   `signBlob` API, so the pod's service account needs `iam.serviceAccounts.signBlob` on itself.
 *
 * The SDK is imported on first use only.
 */
import { createReadStream } from "node:fs";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { Bucket } from "@google-cloud/storage";
import type { Storage } from "./storage.js";
import { keyOf, listPrefix, objectName, parseDatastoreRoot } from "./open.js";

/** Environment variable holding a custom GCS endpoint (emulators), e.g. `http://127.0.0.1:4443`. */
export const GCS_ENDPOINT_VAR = "KUBESTEP_GCS_ENDPOINT_URL";

/** Options of {@link GcsStorage}. */
export interface GcsStorageOptions {
  /** Custom API endpoint; default `KUBESTEP_GCS_ENDPOINT_URL`. */
  endpoint?: string;
  /** Project for the client; default from Application Default Credentials. */
  projectId?: string;
  /** Environment to read defaults from; default `process.env`. */
  env?: Readonly<Record<string, string | undefined>>;
}

type GcsSdk = typeof import("@google-cloud/storage");
let sdkPromise: Promise<GcsSdk> | undefined;
const loadSdk = (): Promise<GcsSdk> => (sdkPromise ??= import("@google-cloud/storage"));

function isNotFound(e: unknown): boolean {
  return (e as { code?: number })?.code === 404;
}

export class GcsStorage implements Storage {
  readonly kind = "gs" as const;
  /** Bucket name. */
  readonly bucketName: string;
  /** Object name prefix (no leading/trailing `/`, may be empty). */
  readonly prefix: string;
  /** Custom endpoint, if any. */
  readonly endpoint: string | undefined;
  private readonly projectId: string | undefined;
  private bucketPromise: Promise<Bucket> | undefined;

  /**
   * @param root `gs://bucket` or `gs://bucket/prefix`.
   * @throws DatastoreConfigError for a malformed root.
   */
  constructor(
    readonly root: string,
    options: GcsStorageOptions = {},
  ) {
    const parsed = parseDatastoreRoot("gs", root);
    if (parsed.kind !== "gs") throw new Error("unreachable");
    this.bucketName = parsed.bucket;
    this.prefix = parsed.prefix;
    const env = options.env ?? process.env;
    this.endpoint = options.endpoint || env[GCS_ENDPOINT_VAR] || undefined;
    this.projectId = options.projectId;
  }

  /** The object name in the bucket for a datastore key (exported for tests and callers that log it). */
  objectName(key: string): string {
    const n = objectName(this.prefix, key);
    if (n === "") throw new Error(`datastore key is empty (root ${this.root})`);
    return n;
  }

  /** The datastore key for an object name in the bucket. */
  keyOf(name: string): string {
    return keyOf(this.prefix, name);
  }

  /** The SDK bucket handle (created on first use). */
  bucket(): Promise<Bucket> {
    this.bucketPromise ??= loadSdk().then((sdk) => {
      const storage = new sdk.Storage({
        ...(this.endpoint ? { apiEndpoint: this.endpoint } : {}),
        ...(this.projectId ? { projectId: this.projectId } : {}),
      });
      return storage.bucket(this.bucketName);
    });
    return this.bucketPromise;
  }

  private async file(key: string) {
    return (await this.bucket()).file(this.objectName(key));
  }

  async put(key: string, data: Uint8Array | string): Promise<void> {
    const body = typeof data === "string" ? Buffer.from(data) : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    await (await this.file(key)).save(body, { resumable: body.byteLength > 16 * 1024 * 1024, validation: "crc32c" });
  }

  async putStream(key: string, data: Readable): Promise<void> {
    const f = await this.file(key);
    await pipeline(data, f.createWriteStream({ resumable: true, validation: "crc32c" }));
  }

  async putFile(key: string, path: string): Promise<void> {
    return this.putStream(key, createReadStream(path));
  }

  async get(key: string): Promise<Buffer | undefined> {
    try {
      const [buf] = await (await this.file(key)).download();
      return buf;
    } catch (e) {
      if (isNotFound(e)) return undefined;
      throw e;
    }
  }

  async getStream(key: string): Promise<Readable | undefined> {
    const f = await this.file(key);
    // Existence first: createReadStream reports a missing object only once read.
    if (!(await this.exists(key))) return undefined;
    return f.createReadStream();
  }

  async exists(key: string): Promise<boolean> {
    const [yes] = await (await this.file(key)).exists();
    return yes;
  }

  async list(prefix: string): Promise<string[]> {
    const bucket = await this.bucket();
    const p = listPrefix(this.prefix, prefix);
    const [files] = await bucket.getFiles({ prefix: p || undefined, autoPaginate: true });
    return files.filter((f) => !f.name.endsWith("/")).map((f) => this.keyOf(f.name));
  }

  async listChildren(prefix: string): Promise<string[]> {
    const bucket = await this.bucket();
    const p = listPrefix(this.prefix, prefix);
    const out = new Set<string>();
    let pageToken: string | undefined;
    do {
      const [files, next, raw] = await bucket.getFiles({ prefix: p || undefined, delimiter: "/", autoPaginate: false, pageToken });
      for (const f of files) if (f.name.length > p.length) out.add(f.name.slice(p.length));
      for (const cp of (raw as { prefixes?: string[] } | undefined)?.prefixes ?? []) out.add(cp.slice(p.length).replace(/\/$/, ""));
      pageToken = (next as { pageToken?: string } | null)?.pageToken;
    } while (pageToken);
    out.delete("");
    return [...out];
  }

  async delete(key: string): Promise<void> {
    await (await this.file(key)).delete({ ignoreNotFound: true });
  }

  async presignGet(key: string, seconds: number): Promise<string> {
    const [url] = await (await this.file(key)).getSignedUrl({
      version: "v4",
      action: "read",
      expires: Date.now() + Math.max(1, Math.min(seconds, 7 * 24 * 3600)) * 1000,
    });
    return url;
  }
}
