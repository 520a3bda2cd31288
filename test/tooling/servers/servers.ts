/**
 * Real object-store servers for tests and CI:
 * - S3: versitygw (posix backend), which verifies every request's SigV4 signature (headers and pre-signed
 *   query strings, including their expiry) against its root user's keys;
 * - GCS: fake-gcs-server (filesystem backend; it does NOT check credentials or signed-URL signatures, see
 *   {@link startGcsServer});
 * - Azure Blob: azurite.
 * versitygw and fake-gcs-server are built from pinned Go modules by `test/tooling/parts/build.sh` (cached
 * after the first build); azurite comes from node_modules. Used programmatically by the datastore tests
 * (random free ports, torn down in `after()`) and by `up.sh` for CI (fixed ports, listening on 0.0.0.0 so
 * pods reach them at the host IP).
 */
import { execFile, execFileSync, spawn, type ChildProcess } from "node:child_process";
import { generateKeyPairSync, randomBytes } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { promises as fsp } from "node:fs";
import { createServer } from "node:net";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = join(HERE, "../../..");

/** Access key id of the S3 server's root user (versitygw verifies SigV4 signatures made with it and {@link S3_SECRET_KEY}). */
export const S3_ACCESS_KEY = "KUBESTEPTESTROOT";
/** Secret access key of the S3 server's root user (test-only). */
export const S3_SECRET_KEY = "kubestep-test-secret-key-0123456789abcdef";
/** Region the S3 server signs for. */
export const S3_REGION = "us-east-1";
/** Bucket the S3 and GCS servers create for tests. */
export const TEST_BUCKET = "kubestep-test";
/** Azurite's well-known development account. */
export const AZURITE_ACCOUNT = "devstoreaccount1";
/** Azurite's well-known development account key (public, documented by Microsoft). */
export const AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
/** Container the azurite helpers create for tests. */
export const TEST_CONTAINER = "kubestep-test";

/** A running server. */
export interface RunningServer {
  /** Base URL reachable from this machine, e.g. `http://127.0.0.1:4568`. */
  url: string;
  /** Port it listens on. */
  port: number;
  /** Environment variables that point kubestep (and the SDKs) at this server. */
  env: Record<string, string>;
  /** Stops the server and removes its temporary data. */
  stop(): Promise<void>;
}

/** A free TCP port on `host`. */
export async function freePort(host = "127.0.0.1"): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, host, () => {
      const addr = srv.address();
      const port = typeof addr === "object" && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/**
 * The IP pods use to reach servers on this machine: `$LOCAL_CLUSTER_STATE/host-ip` (default
 * /tmp/local-cluster/host-ip) if present, else the source IP of the default route, else 127.0.0.1.
 */
export function hostIp(): string {
  const file = join(process.env.LOCAL_CLUSTER_STATE || "/tmp/local-cluster", "host-ip");
  if (existsSync(file)) {
    const ip = readFileSync(file, "utf8").trim();
    if (ip) return ip;
  }
  try {
    const out = execFileSync("ip", ["-4", "route", "get", "1.1.1.1"], {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "ignore"],
    });
    const m = /\bsrc\s+(\d+\.\d+\.\d+\.\d+)/.exec(out);
    if (m) return m[1]!;
  } catch {
    // no ip tool or no default route
  }
  return "127.0.0.1";
}

/** Listen addresses the servers may use: loopback or every local interface, never a remote address. */
function checkListenAddress(address: string, what: string): void {
  if (address !== "127.0.0.1" && address !== "0.0.0.0" && address !== "localhost")
    throw new Error(
      `${what}: listen address ${JSON.stringify(address)} is not allowed; use 127.0.0.1 (this machine only) or 0.0.0.0 (pods reach it at the host IP)`,
    );
}

/**
 * The directory holding a part's binaries, built from its pinned Go module by `test/tooling/parts/build.sh`
 * (cached: instant once built; a cold build takes minutes, so callers allow for it).
 */
export function partBinDir(part: "versitygw" | "fake-gcs-server"): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      "bash",
      [join(ROOT, "test/tooling/parts/build.sh"), part],
      { encoding: "utf8", maxBuffer: 16 * 1024 * 1024 },
      (err, stdout, stderr) => {
        if (err)
          return reject(
            new Error(`building the test part ${part} failed (test/tooling/parts/build.sh ${part}):\n${stderr}`),
          );
        const dir = stdout.trim().split("\n").pop() ?? "";
        if (!existsSync(join(dir, part)))
          return reject(
            new Error(
              `test/tooling/parts/build.sh ${part} printed ${JSON.stringify(dir)}, which holds no ${part} binary:\n${stderr}`,
            ),
          );
        resolve(dir);
      },
    );
  });
}

/** Collects a child's output (for error messages) and rejects `exited` if it exits. */
function watchChild(child: ChildProcess): { output: () => string; exited: Promise<never> } {
  let output = "";
  const onData = (c: Buffer) => {
    output = (output + c.toString()).slice(-20_000);
  };
  child.stdout?.on("data", onData);
  child.stderr?.on("data", onData);
  const exited = new Promise<never>((_, reject) => {
    child.once("exit", (code, signal) => reject(new Error(`exited with ${code ?? signal}`)));
    child.once("error", reject);
  });
  exited.catch(() => undefined);
  return { output: () => output, exited };
}

/** Polls `url` until it answers 200; rejects if the child exits first or after `ms`. */
async function waitHealthy(child: ChildProcess, url: string, what: string, ms = 30_000): Promise<void> {
  const { output, exited } = watchChild(child);
  const deadline = Date.now() + ms;
  for (;;) {
    const ok = await Promise.race([
      fetch(url, { signal: AbortSignal.timeout(2_000) }).then(
        async (r) => {
          await r.arrayBuffer();
          return r.status === 200;
        },
        () => false,
      ),
      exited,
    ]).catch((e: Error) => {
      throw new Error(`${what} ${e.message} before it became ready:\n${output()}`);
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`${what} did not answer ${url} within ${ms / 1000} s:\n${output()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Waits until a child prints `marker`; rejects if it exits first or after `ms`. */
function waitForOutput(child: ChildProcess, marker: string, what: string, ms = 30_000): Promise<void> {
  let output = "";
  return new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what} did not start within ${ms / 1000} s:\n${output}`)), ms);
    const onData = (c: Buffer) => {
      output += c.toString();
      if (output.includes(marker)) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout!.on("data", onData);
    child.stderr!.on("data", onData);
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`${what} exited with ${code}:\n${output}`));
    });
  }).finally(() => {
    child.stdout!.resume();
    child.stderr!.resume();
  });
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once("exit", r));
  child.kill("SIGTERM");
  const t = setTimeout(() => child.kill("SIGKILL"), 5_000);
  await exited;
  clearTimeout(t);
}

/** The environment a server child runs with: only what it needs, so no VGW_* / FAKE_GCS_* setting of the caller leaks in. */
function childEnv(): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH ?? "/usr/bin:/bin",
    HOME: process.env.HOME ?? "/tmp",
    TMPDIR: process.env.TMPDIR ?? "/tmp",
  };
}

/** How {@link startServerProcess} knows a server is ready. */
type Readiness = { healthUrl: string } | { outputMarker: string };

/**
 * The one way a test server starts: spawns `command args` (output kept for error messages), waits until it is
 * ready (its health URL answers 200, or it prints a marker), then runs `setUp` (buckets); on any failure it stops
 * the child and removes `ownDirectory`, and rethrows. `stop` does the same once the tests are done.
 */
async function startServerProcess(o: {
  what: string;
  command: string;
  args: string[];
  ready: Readiness;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  ownDirectory?: string;
  setUp?: () => Promise<void>;
}): Promise<{ child: ChildProcess; stop: () => Promise<void> }> {
  const child = spawn(o.command, o.args, {
    stdio: ["ignore", "pipe", "pipe"],
    ...(o.cwd ? { cwd: o.cwd } : {}),
    ...(o.env ? { env: o.env } : {}),
  });
  const stop = async () => {
    await stopChild(child);
    if (o.ownDirectory) await fsp.rm(o.ownDirectory, { recursive: true, force: true });
  };
  try {
    if ("healthUrl" in o.ready) await waitHealthy(child, o.ready.healthUrl, o.what);
    else await waitForOutput(child, o.ready.outputMarker, o.what);
    await o.setUp?.();
  } catch (e) {
    await stop();
    throw e;
  }
  return { child, stop };
}

/** Options of {@link startS3Server}. */
export interface S3ServerOptions {
  /** Port; default a free one. */
  port?: number;
  /** Listen address: 127.0.0.1 (default) or 0.0.0.0 (for pods). */
  address?: string;
  /** Data directory (the posix backend's root: one directory per bucket); default a new temporary directory (removed on stop). */
  directory?: string;
  /** Host in the advertised URL; default the listen address (or the host IP for 0.0.0.0). */
  advertiseHost?: string;
  /** Buckets to create; default [TEST_BUCKET]. */
  buckets?: string[];
}

/**
 * Starts versitygw (S3 gateway, posix backend) as a child process and creates the buckets. It verifies the
 * SigV4 signature of every request with the root user's keys ({@link S3_ACCESS_KEY} / {@link S3_SECRET_KEY}).
 * `env` holds KUBESTEP_S3_ENDPOINT_URL, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION and
 * KUBESTEP_DATASTORE_SYSROOT_S3.
 */
export async function startS3Server(options: S3ServerOptions = {}): Promise<RunningServer & { process: ChildProcess }> {
  const address = options.address ?? "127.0.0.1";
  checkListenAddress(address, "the S3 server (versitygw)");
  const bin = join(await partBinDir("versitygw"), "versitygw");
  const port = options.port ?? (await freePort(address === "0.0.0.0" ? "127.0.0.1" : address));
  const ownDir = options.directory === undefined;
  const directory = options.directory ?? (await fsp.mkdtemp("/tmp/ks-versitygw-"));
  await fsp.mkdir(directory, { recursive: true });
  const buckets = options.buckets ?? [TEST_BUCKET];
  const local = `http://127.0.0.1:${port}`;
  const { child, stop } = await startServerProcess({
    what: "versitygw",
    command: bin,
    args: [
      "--port",
      `${address}:${port}`,
      "--access",
      S3_ACCESS_KEY,
      "--secret",
      S3_SECRET_KEY,
      "--region",
      S3_REGION,
      "--health",
      "/_health",
      "--quiet",
      "posix",
      directory,
    ],
    env: childEnv(),
    ready: { healthUrl: `${local}/_health` },
    ...(ownDir ? { ownDirectory: directory } : {}),
    setUp: () => createS3Buckets(local, buckets),
  });
  const host = options.advertiseHost ?? (address === "0.0.0.0" ? hostIp() : address);
  const url = `http://${host}:${port}`;
  return {
    url,
    port,
    process: child,
    env: {
      KUBESTEP_S3_ENDPOINT_URL: url,
      AWS_ACCESS_KEY_ID: S3_ACCESS_KEY,
      AWS_SECRET_ACCESS_KEY: S3_SECRET_KEY,
      AWS_REGION: S3_REGION,
      KUBESTEP_DATASTORE_SYSROOT_S3: `s3://${buckets[0]}/kubestep`,
    },
    stop,
  };
}

/** Creates buckets on an S3 endpoint with the root user's keys (an existing bucket of ours is fine). */
export async function createS3Buckets(endpoint: string, buckets: readonly string[]): Promise<void> {
  const s3 = await import("@aws-sdk/client-s3");
  const client = new s3.S3Client({
    endpoint,
    region: S3_REGION,
    forcePathStyle: true,
    credentials: { accessKeyId: S3_ACCESS_KEY, secretAccessKey: S3_SECRET_KEY },
  });
  try {
    for (const Bucket of buckets) {
      try {
        await client.send(new s3.CreateBucketCommand({ Bucket }));
      } catch (e) {
        if ((e as { name?: string }).name !== "BucketAlreadyOwnedByYou")
          throw new Error(`creating bucket ${Bucket} on ${endpoint} failed: ${(e as Error).message}`, { cause: e });
      }
    }
  } finally {
    client.destroy();
  }
}

/** A throw-away Google service account key (JSON key file contents) and its public key, for signed URLs in tests. */
export interface ThrowawayServiceAccountKey {
  /** The key file's JSON object (`type: "service_account"`, `client_email`, `private_key`, ...). */
  json: {
    type: "service_account";
    project_id: string;
    private_key_id: string;
    private_key: string;
    client_email: string;
    client_id: string;
    token_uri: string;
  };
  /** PEM of the public key, to verify signatures made with the private key. */
  publicKeyPem: string;
}

/** Generates a fresh 2048-bit RSA service account key that no Google service knows (test-only). */
export function throwawayServiceAccountKey(project = "kubestep-test"): ThrowawayServiceAccountKey {
  const { privateKey, publicKey } = generateKeyPairSync("rsa", {
    modulusLength: 2048,
    privateKeyEncoding: { type: "pkcs8", format: "pem" },
    publicKeyEncoding: { type: "spki", format: "pem" },
  });
  return {
    json: {
      type: "service_account",
      project_id: project,
      private_key_id: randomBytes(20).toString("hex"),
      private_key: privateKey,
      client_email: `kubestep-test@${project}.iam.gserviceaccount.com`,
      client_id: String(BigInt(`0x${randomBytes(8).toString("hex")}`)),
      token_uri: "https://oauth2.googleapis.com/token",
    },
    publicKeyPem: publicKey,
  };
}

/** Options of {@link startGcsServer}. */
export interface GcsServerOptions {
  /** Port; default a free one. */
  port?: number;
  /** Listen address: 127.0.0.1 (default) or 0.0.0.0 (for pods). */
  address?: string;
  /** Data directory (filesystem backend); default a new temporary directory (removed on stop). */
  directory?: string;
  /** Host in the advertised URL; default the listen address (or the host IP for 0.0.0.0). */
  advertiseHost?: string;
  /** Buckets to create; default [TEST_BUCKET]. */
  buckets?: string[];
}

/**
 * Starts fake-gcs-server (GCS JSON/XML API emulator, http, filesystem backend) as a child process and creates
 * the buckets. It accepts any request without credentials and does not verify signed URLs (its
 * `fakestorage` package never reads `X-Goog-Signature`; `X-Goog-Algorithm` only routes signed uploads), so
 * tests verify signed URLs' signatures themselves. `-public-host` is the advertised `host:port`, so path-style
 * URLs (`/bucket/object`, as signed URLs use) are served; `-external-url` makes resumable-upload locations
 * point at the advertised URL.
 *
 * `env` holds KUBESTEP_GCS_ENDPOINT_URL, KUBESTEP_DATASTORE_SYSROOT_GS and GOOGLE_APPLICATION_CREDENTIALS (a
 * throw-away service account key written to the data directory, used to sign URLs); `key` is that key.
 */
export async function startGcsServer(
  options: GcsServerOptions = {},
): Promise<RunningServer & { process: ChildProcess; key: ThrowawayServiceAccountKey }> {
  const address = options.address ?? "127.0.0.1";
  checkListenAddress(address, "the GCS server (fake-gcs-server)");
  const bin = join(await partBinDir("fake-gcs-server"), "fake-gcs-server");
  const port = options.port ?? (await freePort(address === "0.0.0.0" ? "127.0.0.1" : address));
  const ownDir = options.directory === undefined;
  const directory = options.directory ?? (await fsp.mkdtemp("/tmp/ks-fake-gcs-"));
  const buckets = options.buckets ?? [TEST_BUCKET];
  const host = options.advertiseHost ?? (address === "0.0.0.0" ? hostIp() : address);
  const url = `http://${host}:${port}`;
  await fsp.mkdir(join(directory, "data"), { recursive: true });
  const key = throwawayServiceAccountKey();
  const keyFile = join(directory, "service-account.json");
  await fsp.writeFile(keyFile, JSON.stringify(key.json, null, 2), { mode: 0o600 });
  const local = `http://127.0.0.1:${port}`;
  const { child, stop } = await startServerProcess({
    what: "fake-gcs-server",
    command: bin,
    args: [
      "-scheme",
      "http",
      "-host",
      address,
      "-port",
      String(port),
      "-backend",
      "filesystem",
      "-filesystem-root",
      join(directory, "data"),
      "-public-host",
      `${host}:${port}`,
      "-external-url",
      url,
      "-log-level",
      "warn",
    ],
    env: childEnv(),
    ready: { healthUrl: `${local}/_internal/healthcheck` },
    ...(ownDir ? { ownDirectory: directory } : {}),
    setUp: () => createGcsBuckets(local, buckets),
  });
  return {
    url,
    port,
    process: child,
    key,
    env: {
      KUBESTEP_GCS_ENDPOINT_URL: url,
      KUBESTEP_DATASTORE_SYSROOT_GS: `gs://${buckets[0]}/kubestep`,
      GOOGLE_APPLICATION_CREDENTIALS: keyFile,
    },
    stop,
  };
}

/** Creates buckets on a GCS emulator through the JSON API (an existing bucket is fine). */
export async function createGcsBuckets(endpoint: string, buckets: readonly string[]): Promise<void> {
  for (const name of buckets) {
    const res = await fetch(`${endpoint}/storage/v1/b?project=kubestep-test`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ name }),
    });
    const text = await res.text();
    if (res.status !== 200 && res.status !== 409)
      throw new Error(`creating bucket ${name} on ${endpoint} failed: ${res.status} ${text}`);
  }
}

/** Options of {@link startAzurite}. */
export interface AzuriteOptions {
  /** Port; default a free one. */
  port?: number;
  /** Listen address: 127.0.0.1 (default) or 0.0.0.0 (for pods). */
  host?: string;
  /** Host in the advertised URL; default the listen address (or the host IP for 0.0.0.0). */
  advertiseHost?: string;
  /** Working directory of the server process; default a new temporary directory (removed on stop). Data is kept in memory. */
  location?: string;
}

/** The connection string for azurite's development account at `blobUrl` (`http://host:port`). */
export function azuriteConnectionString(blobUrl: string): string {
  return `DefaultEndpointsProtocol=http;AccountName=${AZURITE_ACCOUNT};AccountKey=${AZURITE_KEY};BlobEndpoint=${blobUrl}/${AZURITE_ACCOUNT};`;
}

/** Starts azurite's blob service as a child process (in-memory, loose mode). */
export async function startAzurite(options: AzuriteOptions = {}): Promise<RunningServer & { process: ChildProcess }> {
  const host = options.host ?? "127.0.0.1";
  checkListenAddress(host, "azurite");
  const port = options.port ?? (await freePort(host === "0.0.0.0" ? "127.0.0.1" : host));
  const ownDir = options.location === undefined;
  const location = options.location ?? (await fsp.mkdtemp("/tmp/ks-azurite-"));
  const main = join(ROOT, "node_modules/azurite/dist/src/blob/main.js");
  const { child, stop } = await startServerProcess({
    what: "azurite",
    command: process.execPath,
    args: [
      main,
      "--blobHost",
      host,
      "--blobPort",
      String(port),
      "--inMemoryPersistence",
      "--loose",
      "--skipApiVersionCheck",
      "--disableTelemetry",
      "--silent",
    ],
    cwd: location,
    ready: { outputMarker: "successfully listens" },
    ...(ownDir ? { ownDirectory: location } : {}),
  });
  const adv = options.advertiseHost ?? (host === "0.0.0.0" ? hostIp() : host);
  const url = `http://${adv}:${port}`;
  return {
    url,
    port,
    process: child,
    env: {
      AZURE_STORAGE_CONNECTION_STRING: azuriteConnectionString(url),
      KUBESTEP_DATASTORE_SYSROOT_AZURE: `azure://${AZURITE_ACCOUNT}/${TEST_CONTAINER}/kubestep`,
    },
    stop,
  };
}
