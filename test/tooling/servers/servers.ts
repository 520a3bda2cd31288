/**
 * Real object-store servers for tests and CI: `s3rver` (S3 protocol) and `azurite` (Azure Blob).
 * Used programmatically by the datastore tests (random free ports, torn down in `after()`) and by
 * `run.ts` / `up.sh` for CI (fixed ports, listening on 0.0.0.0 so pods reach them at the host IP).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { promises as fsp } from "node:fs";
import { createServer } from "node:net";
import { execFileSync } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = join(HERE, "../../..");

/** Access key id and secret s3rver accepts (it checks the signature with these). */
export const S3RVER_KEY = "S3RVER";
/** Bucket the servers create for tests. */
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
    const out = execFileSync("ip", ["-4", "route", "get", "1.1.1.1"], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] });
    const m = /\bsrc\s+(\d+\.\d+\.\d+\.\d+)/.exec(out);
    if (m) return m[1]!;
  } catch {
    // no ip tool or no default route
  }
  return "127.0.0.1";
}

/** Options of {@link startS3rver}. */
export interface S3rverOptions {
  /** Port; default a free one. */
  port?: number;
  /** Listen address; default 127.0.0.1 (use 0.0.0.0 for pods). */
  address?: string;
  /** Data directory; default a new temporary directory (removed on stop). */
  directory?: string;
  /** Host in the advertised URL; default the listen address (or the host IP for 0.0.0.0). */
  advertiseHost?: string;
  /** Buckets to create; default [TEST_BUCKET]. */
  buckets?: string[];
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

/**
 * Starts s3rver as a child process (`s3rver.mjs`, with `--openssl-legacy-provider`, see there).
 * `env` holds KUBESTEP_S3_ENDPOINT_URL, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION and
 * KUBESTEP_DATASTORE_SYSROOT_S3.
 */
export async function startS3rver(options: S3rverOptions = {}): Promise<RunningServer & { process: ChildProcess }> {
  const address = options.address ?? "127.0.0.1";
  const port = options.port ?? (await freePort(address === "0.0.0.0" ? "127.0.0.1" : address));
  const ownDir = options.directory === undefined;
  const directory = options.directory ?? (await fsp.mkdtemp("/tmp/ks-s3rver-"));
  const buckets = options.buckets ?? [TEST_BUCKET];
  const child = spawn(
    process.execPath,
    ["--openssl-legacy-provider", join(HERE, "s3rver.mjs"), "--port", String(port), "--address", address, "--directory", directory, ...buckets.flatMap((b) => ["--bucket", b])],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  await waitForOutput(child, "s3rver listening", "s3rver");
  const host = options.advertiseHost ?? (address === "0.0.0.0" ? hostIp() : address);
  const url = `http://${host}:${port}`;
  return {
    url,
    port,
    process: child,
    env: {
      KUBESTEP_S3_ENDPOINT_URL: url,
      AWS_ACCESS_KEY_ID: S3RVER_KEY,
      AWS_SECRET_ACCESS_KEY: S3RVER_KEY,
      AWS_REGION: "us-east-1",
      KUBESTEP_DATASTORE_SYSROOT_S3: `s3://${buckets[0]}/kubestep`,
    },
    async stop() {
      await stopChild(child);
      if (ownDir) await fsp.rm(directory, { recursive: true, force: true });
    },
  };
}

/** Options of {@link startAzurite}. */
export interface AzuriteOptions {
  /** Port; default a free one. */
  port?: number;
  /** Listen address; default 127.0.0.1 (use 0.0.0.0 for pods). */
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
  const port = options.port ?? (await freePort(host === "0.0.0.0" ? "127.0.0.1" : host));
  const ownDir = options.location === undefined;
  const location = options.location ?? (await fsp.mkdtemp("/tmp/ks-azurite-"));
  const main = join(ROOT, "node_modules/azurite/dist/src/blob/main.js");
  const child = spawn(
    process.execPath,
    [main, "--blobHost", host, "--blobPort", String(port), "--inMemoryPersistence", "--loose", "--skipApiVersionCheck", "--disableTelemetry", "--silent"],
    { stdio: ["ignore", "pipe", "pipe"], cwd: location },
  );
  await waitForOutput(child, "successfully listens", "azurite");
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
    async stop() {
      await stopChild(child);
      if (ownDir) await fsp.rm(location, { recursive: true, force: true });
    },
  };
}
