/**
 * The Google Cloud Storage datastore (`gs://bucket/prefix`), on `@google-cloud/storage`.
 *
 * - Credentials: Application Default Credentials, never overridden (`GOOGLE_APPLICATION_CREDENTIALS`,
 *   `gcloud auth application-default login`, GKE Workload Identity through the metadata server).
 * - Endpoint: the `endpoint` option, else `KUBESTEP_GCS_ENDPOINT_URL`, else the SDK's own
 *   `STORAGE_EMULATOR_HOST`, for emulators such as fake-gcs-server (`http://host:port`). Like the SDK, requests
 *   to a custom endpoint carry no credentials; signing URLs still needs a service account key (ADC).
 * - Writes are atomic: an upload (single request or resumable) creates the object generation only when
 *   it completes; a failed upload leaves the previous generation in place.
 * - Retries (retry.ts): the client's own, configured explicitly: `attempts` tries in all with exponential
 *   backoff and jitter (408, 429, 5xx, resets), a per-request timeout, and every operation retried (the
 *   default retries uploads only with preconditions; ours are idempotent: content-addressed data, and
 *   metadata rewritten whole by its only writer).
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
import { keyOf, listPrefix, objectName, parseDatastoreRoot } from "./roots.js";
import { checkEndpointUrl } from "./endpoint.js";
import type { KubestepVariable } from "../variables.js";
import { retryPolicy, type RetryPolicy } from "./retry.js";

/** Environment variable holding a custom GCS endpoint (emulators), e.g. `http://127.0.0.1:4443`. */
export const GCS_ENDPOINT_VAR = "KUBESTEP_GCS_ENDPOINT_URL" satisfies KubestepVariable;
/** The GCS SDK's own emulator variable, honoured when {@link GCS_ENDPOINT_VAR} is not set. */
export const GCS_EMULATOR_HOST_VAR = "STORAGE_EMULATOR_HOST";

/** Options of {@link GcsStorage}. */
export interface GcsStorageOptions {
  /**
   * Custom API endpoint (an `http://` or `https://` URL, e.g. a fake-gcs-server at `http://127.0.0.1:4443`);
   * default `KUBESTEP_GCS_ENDPOINT_URL`, else `STORAGE_EMULATOR_HOST`. Requests to it carry no credentials.
   */
  endpoint?: string;
  /**
   * Service account key file (JSON) used for signed URLs and, without an endpoint, for requests; default
   * `GOOGLE_APPLICATION_CREDENTIALS` of `env`, else the rest of Application Default Credentials.
   */
  keyFilename?: string;
  /** Project for the client; default from Application Default Credentials. */
  projectId?: string;
  /** Environment to read defaults from; default `process.env`. */
  env?: Readonly<Record<string, string | undefined>>;
  /** Retry policy (attempts, backoff, request timeout); default {@link DEFAULT_RETRY_POLICY}. */
  retry?: Partial<RetryPolicy>;
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
  private readonly keyFilename: string | undefined;
  /** The retry policy. */
  readonly retry: RetryPolicy;
  private bucketPromise: Promise<Bucket> | undefined;
  /** Set once the bucket is known to exist (see {@link GcsStorage.missing}). */
  private bucketSeen = false;

  /**
   * @param root `gs://bucket` or `gs://bucket/prefix`.
   * @throws DatastoreConfigError for a malformed root or endpoint (naming the variable, the value and the allowed form).
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
    const [source, endpoint] = options.endpoint
      ? ["endpoint", options.endpoint]
      : env[GCS_ENDPOINT_VAR]?.trim()
        ? [GCS_ENDPOINT_VAR, env[GCS_ENDPOINT_VAR]]
        : env[GCS_EMULATOR_HOST_VAR]?.trim()
          ? [GCS_EMULATOR_HOST_VAR, env[GCS_EMULATOR_HOST_VAR]]
          : [undefined, undefined];
    this.endpoint = source && endpoint ? checkEndpointUrl(endpoint, source, "http://127.0.0.1:4443") : undefined;
    this.projectId = options.projectId;
    this.keyFilename = options.keyFilename || env.GOOGLE_APPLICATION_CREDENTIALS || undefined;
    this.retry = retryPolicy(options.retry);
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
        ...(this.keyFilename ? { keyFilename: this.keyFilename } : {}),
        timeout: this.retry.idleTimeoutMs,
        retryOptions: {
          autoRetry: true,
          maxRetries: this.retry.attempts - 1,
          retryDelayMultiplier: 2,
          maxRetryDelay: Math.max(1, this.retry.maxDelayMs / 1000), // its first backoff is 1 s plus jitter
          totalTimeout: (this.retry.attempts * (this.retry.idleTimeoutMs + this.retry.maxDelayMs)) / 1000,
          idempotencyStrategy: sdk.IdempotencyStrategy.RetryAlways,
        },
      });
      // When STORAGE_EMULATOR_HOST is set in the process environment, the SDK uses it verbatim as the base of
      // its JSON API requests (without /storage/v1), so they miss every emulator route and reads pass for
      // "not found". The JSON API lives under /storage/v1 of the endpoint.
      if (this.endpoint) storage.baseUrl = `${this.endpoint}/storage/v1`;
      return storage.bucket(this.bucketName);
    });
    return this.bucketPromise;
  }

  private async file(key: string) {
    return (await this.bucket()).file(this.objectName(key));
  }

  async put(key: string, data: Uint8Array | string): Promise<void> {
    const body =
      typeof data === "string" ? Buffer.from(data) : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    const f = await this.file(key);
    try {
      await f.save(body, { resumable: body.byteLength > 16 * 1024 * 1024, validation: "crc32c" });
    } catch (e) {
      throw this.bucketError(e);
    }
  }

  async putStream(key: string, data: Readable): Promise<void> {
    const f = await this.file(key);
    try {
      await pipeline(data, f.createWriteStream({ resumable: true, validation: "crc32c" }));
    } catch (e) {
      throw this.bucketError(e);
    }
  }

  async putFile(key: string, path: string): Promise<void> {
    return this.putStream(key, createReadStream(path));
  }

  /**
   * Confirms that a 404 for an object means the object is missing, not the bucket: a missing bucket (or one
   * the credentials cannot list) must fail the read rather than pass for a missing object. Checked with a
   * one-key listing (the object permissions a pod has allow it; `buckets.get` may not be), once per store.
   */
  private async missing(): Promise<void> {
    if (this.bucketSeen) return;
    try {
      await (await this.bucket()).getFiles({ maxResults: 1, autoPaginate: false });
    } catch (e) {
      throw this.bucketError(e);
    }
    this.bucketSeen = true;
  }

  /** A 404 from a bucket-level request (upload, listing) means the bucket is missing: say so. */
  private bucketError(e: unknown): unknown {
    if (!isNotFound(e)) return e;
    return new Error(
      `the GCS bucket ${JSON.stringify(this.bucketName)} of the datastore root ${this.root} does not exist${this.endpoint ? ` at ${this.endpoint}` : ""}`,
      { cause: e },
    );
  }

  async get(key: string): Promise<Buffer | undefined> {
    try {
      const [buf] = await (await this.file(key)).download();
      return buf;
    } catch (e) {
      if (!isNotFound(e)) throw e;
      await this.missing();
      return undefined;
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
    if (!yes) await this.missing();
    return yes;
  }

  async size(key: string): Promise<number | undefined> {
    try {
      const [meta] = await (await this.file(key)).getMetadata();
      return Number(meta.size ?? 0);
    } catch (e) {
      if (!isNotFound(e)) throw e;
      await this.missing();
      return undefined;
    }
  }

  async list(prefix: string): Promise<string[]> {
    const bucket = await this.bucket();
    const p = listPrefix(this.prefix, prefix);
    const [files] = await bucket.getFiles({ prefix: p || undefined, autoPaginate: true }).catch((e: unknown) => {
      throw this.bucketError(e);
    });
    return files.filter((f) => !f.name.endsWith("/")).map((f) => this.keyOf(f.name));
  }

  async listChildren(prefix: string): Promise<string[]> {
    const bucket = await this.bucket();
    const p = listPrefix(this.prefix, prefix);
    const out = new Set<string>();
    let pageToken: string | undefined;
    do {
      const [files, next, raw] = await bucket
        .getFiles({ prefix: p || undefined, delimiter: "/", autoPaginate: false, pageToken })
        .catch((e: unknown) => {
          throw this.bucketError(e);
        });
      for (const f of files) if (f.name.length > p.length) out.add(f.name.slice(p.length));
      for (const cp of (raw as { prefixes?: string[] } | undefined)?.prefixes ?? [])
        out.add(cp.slice(p.length).replace(/\/$/, ""));
      pageToken = (next as { pageToken?: string } | null)?.pageToken;
    } while (pageToken);
    out.delete("");
    return [...out];
  }

  async delete(key: string): Promise<void> {
    await (await this.file(key)).delete({ ignoreNotFound: true });
  }

  /**
   * A V4 signed URL (`GOOG4-RSA-SHA256`) for reading the object, valid `seconds` (1 s to 7 days). Signing
   * needs a service account key (`GOOGLE_APPLICATION_CREDENTIALS`) or, with Workload Identity, the IAM
   * `signBlob` permission; with an endpoint the URL points at it (path style, `<endpoint>/<bucket>/<object>`).
   */
  async presignGet(key: string, seconds: number): Promise<string> {
    const f = await this.file(key);
    try {
      const [url] = await f.getSignedUrl({
        version: "v4",
        action: "read",
        expires: Date.now() + Math.max(1, Math.min(Math.round(seconds), 7 * 24 * 3600)) * 1000,
      });
      return url;
    } catch (e) {
      throw new Error(
        `cannot sign a URL for gs://${this.bucketName}/${f.name}: ${(e as Error).message} ` +
          `(signing needs a service account key in GOOGLE_APPLICATION_CREDENTIALS, or Workload Identity with iam.serviceAccounts.signBlob on the pod's service account)`,
        { cause: e },
      );
    }
  }
}
