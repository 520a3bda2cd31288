/**
 * The Azure Blob Storage datastore (`azure://account/container/prefix`), on `@azure/storage-blob`.
 *
 * Credentials, first match wins:
 * 1. `AZURE_STORAGE_CONNECTION_STRING` (e.g. azurite's development account). Its `AccountName` must
 *    match the root's account.
 * 2. `AZURE_STORAGE_KEY`: the account key of the root's account (endpoint
 *    `https://<account>.blob.core.windows.net`, or `KUBESTEP_AZURE_BLOB_ENDPOINT`).
 * 3. Microsoft Entra ID (workload identity in AKS pods, `az login` on a laptop) through
 *    `DefaultAzureCredential` of the optional peer `@azure/identity`: install it next to kubestep to
 *    use this. Pre-signed URLs then use a user delegation SAS.
 *
 * Writes are atomic: block blobs become visible only when their block list is committed, at the end
 * of an upload; a failed upload commits nothing. The SDK is imported on first use only.
 *
 * Retries (retry.ts): the SDK's exponential retry policy, configured explicitly (`attempts` tries in all; it
 * retries 500, 503 and reset connections), and around it, for what it does not retry, a bounded loop of ours:
 * 429 throttling, and requests stalled with no progress for the idle timeout (aborted, then tried again).
 */
import { Readable } from "node:stream";
import type { BlobServiceClient, ContainerClient, StorageSharedKeyCredential } from "@azure/storage-blob";
import type { Storage } from "./storage.js";
import { DatastoreConfigError, keyOf, listPrefix, objectName, parseDatastoreRoot } from "./roots.js";
import { installCommand } from "../peers.js";
import type { KubestepVariable } from "../variables.js";
import { idleAbort, retryPolicy, withRetries, type RetryPolicy } from "./retry.js";

/** Connection string variable (takes precedence). */
export const AZURE_CONNECTION_STRING_VAR = "AZURE_STORAGE_CONNECTION_STRING";
/** Account key variable. */
export const AZURE_KEY_VAR = "AZURE_STORAGE_KEY";
/** Optional blob endpoint override used with an account key or Entra ID, e.g. `http://10.0.0.5:10000/devstoreaccount1`. */
export const AZURE_ENDPOINT_VAR = "KUBESTEP_AZURE_BLOB_ENDPOINT" satisfies KubestepVariable;

/** Block size of parallel uploads. */
export const AZURE_BLOCK_SIZE = 8 * 1024 * 1024;

/** Options of {@link AzureStorage}; each defaults from the environment. */
export interface AzureStorageOptions {
  /** Connection string; default `AZURE_STORAGE_CONNECTION_STRING`. */
  connectionString?: string;
  /** Account key; default `AZURE_STORAGE_KEY`. */
  accountKey?: string;
  /** Blob service endpoint; default `KUBESTEP_AZURE_BLOB_ENDPOINT` or `https://<account>.blob.core.windows.net`. */
  endpoint?: string;
  /** Environment to read defaults from; default `process.env`. */
  env?: Readonly<Record<string, string | undefined>>;
  /** Retry policy (attempts, backoff, idle timeout); default {@link DEFAULT_RETRY_POLICY}. */
  retry?: Partial<RetryPolicy>;
}

type AzureSdk = typeof import("@azure/storage-blob");
let sdkPromise: Promise<AzureSdk> | undefined;
const loadSdk = (): Promise<AzureSdk> => (sdkPromise ??= import("@azure/storage-blob"));

/** The minimal shape of `@azure/identity` used here (optional dependency, loaded by name). */
interface IdentityModule {
  DefaultAzureCredential: new () => Exclude<
    ConstructorParameters<typeof BlobServiceClient>[1],
    import("@azure/storage-blob").PipelineLike | undefined
  >;
}

function statusOf(e: unknown): number | undefined {
  return (e as { statusCode?: number })?.statusCode;
}

interface Clients {
  service: BlobServiceClient;
  container: ContainerClient;
  /** Set when authenticated with an account key (connection string or AZURE_STORAGE_KEY). */
  sharedKey?: StorageSharedKeyCredential;
}

export class AzureStorage implements Storage {
  readonly kind = "azure" as const;
  /** Storage account name. */
  readonly account: string;
  /** Container name. */
  readonly container: string;
  /** Blob name prefix (no leading/trailing `/`, may be empty). */
  readonly prefix: string;
  private readonly options: AzureStorageOptions;
  private clientsPromise: Promise<Clients> | undefined;
  /** The retry policy. */
  readonly retry: RetryPolicy;

  /**
   * @param root `azure://account/container` or `azure://account/container/prefix`.
   * @throws DatastoreConfigError for a malformed root.
   */
  constructor(
    readonly root: string,
    options: AzureStorageOptions = {},
  ) {
    const parsed = parseDatastoreRoot("azure", root);
    if (parsed.kind !== "azure") throw new Error("unreachable");
    this.account = parsed.account;
    this.container = parsed.container;
    this.prefix = parsed.prefix;
    this.options = options;
    this.retry = retryPolicy(options.retry);
  }

  /**
   * Runs one request with our bounded retry on what the SDK does not retry (429, a stall aborted by the idle
   * timeout); `op` gets the abort signal and a `touch` to call on progress.
   */
  private retrying<T>(op: (signal: AbortSignal, touch: () => void) => Promise<T>): Promise<T> {
    return withRetries(
      this.retry,
      async () => {
        const idle = idleAbort(this.retry.idleTimeoutMs);
        try {
          return await op(idle.signal, idle.touch);
        } finally {
          idle.done();
        }
      },
      {
        retryable: (e) =>
          statusOf(e) === 429 || (e as Error)?.name === "AbortError" || (e as Error)?.name === "TimeoutError",
      },
    );
  }

  /** The SDK clients (created on first use). */
  clients(): Promise<Clients> {
    this.clientsPromise ??= this.connect();
    return this.clientsPromise;
  }

  private async connect(): Promise<Clients> {
    const sdk = await loadSdk();
    const env = this.options.env ?? process.env;
    const connectionString = this.options.connectionString ?? env[AZURE_CONNECTION_STRING_VAR];
    const accountKey = this.options.accountKey ?? env[AZURE_KEY_VAR];
    const endpoint =
      this.options.endpoint ?? env[AZURE_ENDPOINT_VAR] ?? `https://${this.account}.blob.core.windows.net`;
    let service: BlobServiceClient;
    let sharedKey: StorageSharedKeyCredential | undefined;
    if (connectionString) {
      const name = /(?:^|;)\s*AccountName=([^;]+)/i.exec(connectionString)?.[1];
      if (name && name !== this.account)
        throw new DatastoreConfigError(
          `${AZURE_CONNECTION_STRING_VAR} is for storage account ${JSON.stringify(name)} but the datastore root ${this.root} names account ${JSON.stringify(this.account)}`,
        );
      service = sdk.BlobServiceClient.fromConnectionString(connectionString, this.pipelineOptions(sdk));
      const key = /(?:^|;)\s*AccountKey=([^;]+)/i.exec(connectionString)?.[1];
      if (name && key) sharedKey = new sdk.StorageSharedKeyCredential(name, key);
    } else if (accountKey) {
      sharedKey = new sdk.StorageSharedKeyCredential(this.account, accountKey);
      service = new sdk.BlobServiceClient(endpoint, sharedKey, this.pipelineOptions(sdk));
    } else {
      const moduleName = "@azure/identity";
      let identity: IdentityModule;
      try {
        identity = (await import(moduleName)) as IdentityModule;
      } catch {
        throw new DatastoreConfigError(
          `no credentials for the azure datastore ${this.root}: set ${AZURE_CONNECTION_STRING_VAR} or ${AZURE_KEY_VAR}, ` +
            `or install @azure/identity next to kubestep to use workload identity / az login (DefaultAzureCredential): ${installCommand(["@azure/identity"])}`,
        );
      }
      service = new sdk.BlobServiceClient(endpoint, new identity.DefaultAzureCredential(), this.pipelineOptions(sdk));
    }
    return { service, container: service.getContainerClient(this.container), sharedKey };
  }

  /** The SDK's retry policy, explicit and bounded. */
  private pipelineOptions(sdk: AzureSdk): import("@azure/storage-blob").BlobServiceClientOptions {
    return {
      retryOptions: {
        retryPolicyType: sdk.StorageRetryPolicyType.EXPONENTIAL,
        maxTries: this.retry.attempts,
        retryDelayInMs: this.retry.baseDelayMs,
        maxRetryDelayInMs: this.retry.maxDelayMs,
      },
    };
  }

  private name(key: string): string {
    const n = objectName(this.prefix, key);
    if (n === "") throw new Error(`datastore key is empty (root ${this.root})`);
    return n;
  }

  private async blob(key: string) {
    const { container } = await this.clients();
    return container.getBlockBlobClient(this.name(key));
  }

  async put(key: string, data: Uint8Array | string): Promise<void> {
    const body =
      typeof data === "string" ? Buffer.from(data) : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    const blob = await this.blob(key);
    await this.retrying((abortSignal, touch) =>
      blob.uploadData(body, {
        blockSize: AZURE_BLOCK_SIZE,
        concurrency: 4,
        maxSingleShotSize: 16 * 1024 * 1024,
        abortSignal,
        onProgress: touch,
      }),
    );
  }

  async putStream(key: string, data: Readable): Promise<void> {
    const blob = await this.blob(key);
    await blob.uploadStream(data, AZURE_BLOCK_SIZE, 4);
  }

  async putFile(key: string, path: string): Promise<void> {
    const blob = await this.blob(key);
    await blob.uploadFile(path, { blockSize: AZURE_BLOCK_SIZE, concurrency: 4, maxSingleShotSize: 16 * 1024 * 1024 });
  }

  async get(key: string): Promise<Buffer | undefined> {
    const blob = await this.blob(key);
    return this.retrying(async (abortSignal, touch) => {
      let res;
      try {
        res = await blob.download(0, undefined, { abortSignal });
      } catch (e) {
        if (statusOf(e) === 404) return undefined;
        throw e;
      }
      const chunks: Buffer[] = [];
      for await (const c of res.readableStreamBody ?? []) {
        touch();
        chunks.push(Buffer.from(c as Uint8Array));
      }
      return Buffer.concat(chunks);
    });
  }

  async getStream(key: string): Promise<Readable | undefined> {
    const blob = await this.blob(key);
    try {
      const res = await blob.download();
      const body = res.readableStreamBody;
      if (!body) return Readable.from([]);
      return body instanceof Readable ? body : Readable.from(body as AsyncIterable<Buffer>);
    } catch (e) {
      if (statusOf(e) === 404) return undefined;
      throw e;
    }
  }

  async exists(key: string): Promise<boolean> {
    const blob = await this.blob(key);
    return this.retrying((abortSignal) => blob.exists({ abortSignal }));
  }

  async size(key: string): Promise<number | undefined> {
    try {
      const blob = await this.blob(key);
      return (await this.retrying((abortSignal) => blob.getProperties({ abortSignal }))).contentLength ?? 0;
    } catch (e) {
      if (statusOf(e) === 404) return undefined;
      throw e;
    }
  }

  async list(prefix: string): Promise<string[]> {
    const { container } = await this.clients();
    const p = listPrefix(this.prefix, prefix);
    const out: string[] = [];
    for await (const b of container.listBlobsFlat({ prefix: p || undefined })) out.push(keyOf(this.prefix, b.name));
    return out;
  }

  async listChildren(prefix: string): Promise<string[]> {
    const { container } = await this.clients();
    const p = listPrefix(this.prefix, prefix);
    const out = new Set<string>();
    for await (const item of container.listBlobsByHierarchy("/", { prefix: p || undefined })) {
      const name = item.name.slice(p.length).replace(/\/$/, "");
      if (name) out.add(name);
    }
    return [...out];
  }

  async delete(key: string): Promise<void> {
    const blob = await this.blob(key);
    await this.retrying((abortSignal) => blob.deleteIfExists({ abortSignal }));
  }

  /**
   * A read-only SAS URL for the blob, valid `seconds` (started 5 minutes in the past for clock skew).
   * Account-key credentials sign it directly; Entra ID credentials use a user delegation key.
   */
  async presignGet(key: string, seconds: number): Promise<string> {
    const sdk = await loadSdk();
    const { service, sharedKey } = await this.clients();
    const blob = await this.blob(key);
    const startsOn = new Date(Date.now() - 5 * 60_000);
    const expiresOn = new Date(Date.now() + Math.max(1, seconds) * 1000);
    const values = {
      containerName: this.container,
      blobName: this.name(key),
      permissions: sdk.BlobSASPermissions.parse("r"),
      startsOn,
      expiresOn,
    };
    if (sharedKey) return `${blob.url}?${sdk.generateBlobSASQueryParameters(values, sharedKey).toString()}`;
    const delegation = await service.getUserDelegationKey(startsOn, expiresOn);
    return `${blob.url}?${sdk.generateBlobSASQueryParameters(values, delegation, this.account).toString()}`;
  }
}
