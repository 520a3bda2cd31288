/**
 * The S3 datastore (`s3://bucket/prefix`), on `@aws-sdk/client-s3`. Works with AWS S3 and S3-compatible
 * servers (MinIO, versitygw, ...) through a custom endpoint with path-style addressing.
 *
 * - Credentials: the standard AWS provider chain, never overridden (environment variables, shared
 *   config/credentials files and profiles, IRSA web identity tokens in EKS pods, ECS/EC2 metadata).
 * - Region: the `region` option, else `AWS_REGION` / `AWS_DEFAULT_REGION`, else `us-east-1` when a
 *   custom endpoint is used, else the SDK's own resolution (profile).
 * - Endpoint: the `endpoint` option, else `KUBESTEP_S3_ENDPOINT_URL`; with an endpoint, path-style
 *   addressing is used and request checksums are only sent when an operation requires them (many
 *   S3-compatible servers reject the SDK's default trailing checksums).
 * - Writes are atomic: a PUT and a completed multipart upload replace the object in one step; a failed
 *   multipart upload is aborted and leaves nothing visible.
 * - Retries (retry.ts): the SDK's standard strategy with `attempts` tries in all (backoff with jitter; 500/502/
 *   503/504, throttling such as 429 and SlowDown, resets and timeouts), an idle-socket timeout and a connect
 *   timeout; a read whose body is cut off is read again (bounded likewise). Bodies are buffers, so every try
 *   can resend them.
 *
 * The AWS SDK is imported on first use only, so importing this module costs nothing.
 */
import { createReadStream, promises as fsp } from "node:fs";
import { Readable } from "node:stream";
import type { S3Client } from "@aws-sdk/client-s3";
import type { Storage } from "./storage.js";
import { keyOf, listPrefix, objectName, parseDatastoreRoot } from "./roots.js";
import { checkEndpointUrl } from "./endpoint.js";
import type { KubestepVariable } from "../variables.js";
import { retryPolicy, withRetries, type RetryPolicy } from "./retry.js";

/** Environment variable holding the endpoint of an S3-compatible server, e.g. `http://192.0.2.2:4568`. */
export const S3_ENDPOINT_VAR = "KUBESTEP_S3_ENDPOINT_URL" satisfies KubestepVariable;

/** Objects up to this size are written with one PUT; bigger ones (and all streams) with a multipart upload. */
export const S3_SINGLE_PUT_MAX = 16 * 1024 * 1024;
/** Part size of multipart uploads (S3's minimum is 5 MiB). */
export const S3_PART_SIZE = 8 * 1024 * 1024;

/** Options of {@link S3Storage}; each defaults from the environment. */
export interface S3StorageOptions {
  /** Bucket region; default `AWS_REGION`, `AWS_DEFAULT_REGION`, or `us-east-1` with a custom endpoint. */
  region?: string;
  /** Custom endpoint URL (http:// or https://) of an S3-compatible server; default `KUBESTEP_S3_ENDPOINT_URL`. Enables path-style addressing. */
  endpoint?: string;
  /** Force path-style addressing (`endpoint/bucket/key`); default true when an endpoint is set. */
  forcePathStyle?: boolean;
  /** Environment to read defaults from; default `process.env`. */
  env?: Readonly<Record<string, string | undefined>>;
  /** Retry policy (attempts, backoff, idle timeout); default {@link DEFAULT_RETRY_POLICY}. */
  retry?: Partial<RetryPolicy>;
}

interface S3Sdk {
  s3: typeof import("@aws-sdk/client-s3");
  storage: typeof import("@aws-sdk/lib-storage");
  presigner: typeof import("@aws-sdk/s3-request-presigner");
}

let sdkPromise: Promise<S3Sdk> | undefined;
function loadSdk(): Promise<S3Sdk> {
  sdkPromise ??= Promise.all([
    import("@aws-sdk/client-s3"),
    import("@aws-sdk/lib-storage"),
    import("@aws-sdk/s3-request-presigner"),
  ]).then(([s3, storage, presigner]) => ({ s3, storage, presigner }));
  return sdkPromise;
}

/**
 * Whether an error means "no such object". Decided by the error code, not by the status alone: a 404 may
 * also mean a missing bucket (NoSuchBucket) or, on some S3-compatible servers, an unknown access key,
 * which must fail the read rather than pass for a missing object. HEAD responses have no body, so the SDK
 * names every 404 of HeadObject "NotFound".
 */
function isNotFound(e: unknown): boolean {
  const err = e as { name?: string; Code?: string };
  return err?.name === "NoSuchKey" || err?.Code === "NoSuchKey" || err?.name === "NotFound";
}

/** An error reading a response body (after the SDK handed it over), transient by nature. */
class BodyReadError extends Error {}
const isBodyError = (e: unknown): boolean => e instanceof BodyReadError;

/** Reads a stream whole; an error while reading is a {@link BodyReadError} (its cause the original). */
export async function readBody(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  try {
    for await (const c of stream) chunks.push(Buffer.isBuffer(c) ? c : Buffer.from(c as Uint8Array));
  } catch (e) {
    throw new BodyReadError(`reading the object failed midway: ${(e as Error).message}`, { cause: e });
  }
  return Buffer.concat(chunks);
}

export class S3Storage implements Storage {
  readonly kind = "s3" as const;
  /** Bucket name. */
  readonly bucket: string;
  /** Key prefix inside the bucket (no leading/trailing `/`, may be empty). */
  readonly prefix: string;
  /** Resolved region, when known before the SDK's own resolution. */
  readonly region: string | undefined;
  /** Resolved custom endpoint, if any. */
  readonly endpoint: string | undefined;
  private readonly forcePathStyle: boolean;
  /** The retry policy. */
  readonly retry: RetryPolicy;
  private clientPromise: Promise<S3Client> | undefined;
  /** Set once the bucket is known to be listable with these credentials (see {@link S3Storage.exists}). */
  private bucketSeen = false;

  /**
   * @param root `s3://bucket` or `s3://bucket/prefix`.
   * @throws DatastoreConfigError for a malformed root or endpoint (naming the variable, the value and the allowed form).
   */
  constructor(
    readonly root: string,
    options: S3StorageOptions = {},
  ) {
    const parsed = parseDatastoreRoot("s3", root);
    if (parsed.kind !== "s3") throw new Error("unreachable");
    this.bucket = parsed.bucket;
    this.prefix = parsed.prefix;
    const env = options.env ?? process.env;
    const endpoint = options.endpoint
      ? (["endpoint", options.endpoint] as const)
      : env[S3_ENDPOINT_VAR]?.trim()
        ? ([S3_ENDPOINT_VAR, env[S3_ENDPOINT_VAR]!] as const)
        : undefined;
    this.endpoint = endpoint ? checkEndpointUrl(endpoint[1], endpoint[0], "http://192.0.2.2:4568") : undefined;
    this.region =
      options.region || env.AWS_REGION || env.AWS_DEFAULT_REGION || (this.endpoint ? "us-east-1" : undefined);
    this.forcePathStyle = options.forcePathStyle ?? this.endpoint !== undefined;
    this.retry = retryPolicy(options.retry);
  }

  /** The SDK client (created on first use). */
  client(): Promise<S3Client> {
    this.clientPromise ??= loadSdk().then(({ s3 }) => {
      return new s3.S3Client({
        ...(this.region ? { region: this.region } : {}),
        ...(this.endpoint
          ? {
              endpoint: this.endpoint,
              requestChecksumCalculation: "WHEN_REQUIRED" as const,
              responseChecksumValidation: "WHEN_REQUIRED" as const,
            }
          : {}),
        forcePathStyle: this.forcePathStyle,
        // Bounded, explicit retries (the SDK's standard strategy: exponential backoff with full jitter).
        maxAttempts: this.retry.attempts,
        retryMode: "standard",
        requestHandler: {
          connectionTimeout: this.retry.connectTimeoutMs,
          socketTimeout: this.retry.idleTimeoutMs,
        },
      });
    });
    return this.clientPromise;
  }

  private name(key: string): string {
    const n = objectName(this.prefix, key);
    if (n === "") throw new Error(`datastore key is empty (root ${this.root})`);
    return n;
  }

  async put(key: string, data: Uint8Array | string): Promise<void> {
    const body = typeof data === "string" ? Buffer.from(data) : data;
    if (body.byteLength > S3_SINGLE_PUT_MAX) return this.upload(key, body);
    const [{ s3 }, client] = await Promise.all([loadSdk(), this.client()]);
    await client.send(
      new s3.PutObjectCommand({ Bucket: this.bucket, Key: this.name(key), Body: body, ContentLength: body.byteLength }),
    );
  }

  putStream(key: string, data: Readable): Promise<void> {
    return this.upload(key, data);
  }

  async putFile(key: string, path: string): Promise<void> {
    const { size } = await fsp.stat(path);
    // A small file is read whole, so that a retried PUT can send it again (a consumed stream cannot be).
    if (size <= S3_SINGLE_PUT_MAX) return this.put(key, await fsp.readFile(path));
    return this.upload(key, createReadStream(path));
  }

  /** Multipart upload (one PUT when the body turns out smaller than a part); aborted on failure. */
  private async upload(key: string, body: Readable | Uint8Array): Promise<void> {
    const [{ storage }, client] = await Promise.all([loadSdk(), this.client()]);
    const upload = new storage.Upload({
      client,
      params: { Bucket: this.bucket, Key: this.name(key), Body: body },
      partSize: S3_PART_SIZE,
      queueSize: 4,
      leavePartsOnError: false,
    });
    await upload.done();
  }

  /** Reads a whole object; a body cut off mid-read (reset, stall) is read again, within the retry policy. */
  async get(key: string): Promise<Buffer | undefined> {
    // The request itself is retried by the SDK; only a body cut off after the response began is retried here.
    return withRetries(
      this.retry,
      async () => {
        const stream = await this.getStream(key);
        if (!stream) return undefined;
        return readBody(stream);
      },
      { retryable: isBodyError },
    );
  }

  async getStream(key: string): Promise<Readable | undefined> {
    const [{ s3 }, client] = await Promise.all([loadSdk(), this.client()]);
    try {
      const out = await client.send(new s3.GetObjectCommand({ Bucket: this.bucket, Key: this.name(key) }));
      const body = out.Body;
      if (body === undefined) return Readable.from([]);
      if (body instanceof Readable) return body;
      return Readable.fromWeb(
        (body as { transformToWebStream(): import("node:stream/web").ReadableStream }).transformToWebStream(),
      );
    } catch (e) {
      if (isNotFound(e)) return undefined;
      throw e;
    }
  }

  async exists(key: string): Promise<boolean> {
    return (await this.size(key)) !== undefined;
  }

  async size(key: string): Promise<number | undefined> {
    const [{ s3 }, client] = await Promise.all([loadSdk(), this.client()]);
    try {
      const head = await client.send(new s3.HeadObjectCommand({ Bucket: this.bucket, Key: this.name(key) }));
      return head.ContentLength ?? 0;
    } catch (e) {
      if (!isNotFound(e)) throw e;
    }
    // A HEAD 404 has no body: it may mean a missing bucket (or, on some servers, unknown credentials). A
    // one-key listing, once per store, turns those into errors instead of "no such object".
    if (!this.bucketSeen) {
      await client.send(new s3.ListObjectsV2Command({ Bucket: this.bucket, MaxKeys: 1 }));
      this.bucketSeen = true;
    }
    return undefined;
  }

  async list(prefix: string): Promise<string[]> {
    const [{ s3 }, client] = await Promise.all([loadSdk(), this.client()]);
    const p = listPrefix(this.prefix, prefix);
    const out: string[] = [];
    let token: string | undefined;
    do {
      const page = await client.send(
        new s3.ListObjectsV2Command({ Bucket: this.bucket, Prefix: p || undefined, ContinuationToken: token }),
      );
      for (const o of page.Contents ?? [])
        if (o.Key !== undefined && !o.Key.endsWith("/")) out.push(keyOf(this.prefix, o.Key));
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    return out;
  }

  async listChildren(prefix: string): Promise<string[]> {
    const [{ s3 }, client] = await Promise.all([loadSdk(), this.client()]);
    const p = listPrefix(this.prefix, prefix);
    const out = new Set<string>();
    let token: string | undefined;
    do {
      const page = await client.send(
        new s3.ListObjectsV2Command({
          Bucket: this.bucket,
          Prefix: p || undefined,
          Delimiter: "/",
          ContinuationToken: token,
        }),
      );
      for (const o of page.Contents ?? []) if (o.Key && o.Key.length > p.length) out.add(o.Key.slice(p.length));
      for (const cp of page.CommonPrefixes ?? []) if (cp.Prefix) out.add(cp.Prefix.slice(p.length).replace(/\/$/, ""));
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    out.delete("");
    return [...out];
  }

  async delete(key: string): Promise<void> {
    const [{ s3 }, client] = await Promise.all([loadSdk(), this.client()]);
    await client.send(new s3.DeleteObjectCommand({ Bucket: this.bucket, Key: this.name(key) }));
  }

  async presignGet(key: string, seconds: number): Promise<string> {
    const [{ s3, presigner }, client] = await Promise.all([loadSdk(), this.client()]);
    return presigner.getSignedUrl(client, new s3.GetObjectCommand({ Bucket: this.bucket, Key: this.name(key) }), {
      expiresIn: Math.max(1, Math.min(Math.round(seconds), 7 * 24 * 3600)),
    });
  }
}
