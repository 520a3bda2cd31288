/**
 * The cloud datastores under faults, for real: each store talks to its real server (versitygw with SigV4,
 * fake-gcs-server, azurite; started by `npm test`) through test/helpers/fault-proxy.ts, which answers chosen
 * requests with 503 / 500, 429 throttling (S3's SlowDown XML), resets their connection, stalls them past the
 * idle timeout, or tears a write midway. Retries are bounded, a write that never succeeds fails with the
 * store's message, and no torn write is ever read as an object.
 */
import { strict as assert } from "node:assert";
import { randomBytes } from "node:crypto";
import { fileURLToPath } from "node:url";
import { S3Storage } from "../../../runtime/datastore/s3.js";
import { GcsStorage } from "../../../runtime/datastore/gcs.js";
import { AzureStorage } from "../../../runtime/datastore/azure.js";
import type { Storage } from "../../../runtime/datastore/storage.js";
import type { RetryPolicy } from "../../../runtime/datastore/retry.js";
import { FLOWS, kubestep, runIdOf, scratch } from "../../helpers/cli.js";
import { join } from "node:path";
import { azureError, FaultProxy, gcsError, s3Error, type Fault } from "../../helpers/fault-proxy.js";
import { recordFaults, reportReliabilityAfter, type FaultKind } from "../../helpers/reliability.js";

const THIS = fileURLToPath(import.meta.url);
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";
/** Short delays and timeouts, so that the test takes seconds; the same code paths as the defaults. */
const RETRY: RetryPolicy = {
  attempts: 4,
  baseDelayMs: 50,
  maxDelayMs: 400,
  idleTimeoutMs: 1500,
  connectTimeoutMs: 2000,
};

interface Backend {
  name: string;
  vars: string[];
  target: () => string;
  open: (proxy: string, prefix: string) => Storage;
  unavailable: (message: string) => Fault;
  throttled: (message: string) => Fault;
}

const backends: Backend[] = [
  {
    name: "S3 (versitygw)",
    vars: ["KUBESTEP_S3_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"],
    target: () => process.env.KUBESTEP_S3_ENDPOINT_URL!,
    open: (proxy, prefix) => new S3Storage(`s3://kubestep-test/${prefix}`, { endpoint: proxy, retry: RETRY }),
    unavailable: (m) => ({ kind: "status", status: 503, body: s3Error("ServiceUnavailable", m) }),
    throttled: (m) => ({ kind: "status", status: 429, body: s3Error("SlowDown", m) }),
  },
  {
    name: "GCS (fake-gcs-server)",
    vars: ["KUBESTEP_GCS_ENDPOINT_URL"],
    target: () => process.env.KUBESTEP_GCS_ENDPOINT_URL!,
    open: (proxy, prefix) => new GcsStorage(`gs://kubestep-test/${prefix}`, { endpoint: proxy, retry: RETRY }),
    unavailable: (m) => ({ kind: "status", status: 503, body: gcsError(503, m) }),
    throttled: (m) => ({ kind: "status", status: 429, body: gcsError(429, m) }),
  },
  {
    name: "Azure (azurite)",
    vars: ["AZURE_STORAGE_CONNECTION_STRING"],
    target: () => new URL(/BlobEndpoint=([^;]+)/.exec(process.env.AZURE_STORAGE_CONNECTION_STRING!)![1]!).origin,
    open: (proxy, prefix) =>
      new AzureStorage(`azure://devstoreaccount1/kubestep-test/${prefix}`, {
        connectionString: process.env.AZURE_STORAGE_CONNECTION_STRING!.replace(
          /BlobEndpoint=[^;]+/,
          `BlobEndpoint=${proxy}/devstoreaccount1`,
        ),
        retry: RETRY,
      }),
    unavailable: (m) => ({
      kind: "status",
      status: 503,
      body: azureError("ServerBusy", m),
      headers: { "x-ms-error-code": "ServerBusy" },
    }),
    throttled: (m) => ({
      kind: "status",
      status: 429,
      body: azureError("TooManyRequests", m),
      headers: { "x-ms-error-code": "TooManyRequests" },
    }),
  },
];

/** Bound on the time a request may take in all: every try timing out, every backoff at its cap, plus slack. */
const BOUND_MS = RETRY.attempts * (RETRY.idleTimeoutMs + RETRY.maxDelayMs) + 15_000;

for (const b of backends)
  describe(`datastore faults: ${b.name}`, function () {
    this.timeout(120_000);
    reportReliabilityAfter();
    let proxy: FaultProxy;
    let store: Storage;
    const prefix = `faults-${randomBytes(4).toString("hex")}`;
    const key = (name: string) => `obj-${name}-${randomBytes(3).toString("hex")}`;
    const record = (kind: FaultKind, test: string, faults: number, outcome: string) =>
      recordFaults(kind, test, THIS, {
        backend: b.name,
        faultsInjected: faults,
        runsCompleted: 0,
        tasksRerun: 0,
        objectsLost: 0,
        outcome,
      });

    before(async () => {
      for (const v of b.vars) assert.ok(process.env[v], `${v} must be set (npm test starts the ${b.name} server)`);
      proxy = await FaultProxy.start(b.target());
      store = b.open(proxy.url, prefix);
    });
    afterEach(() => proxy.reset());
    after(() => proxy?.close());

    it("retries a write answered 503 twice, then reads it back intact", async () => {
      const k = key("put503");
      const bytes = randomBytes(3000);
      proxy.inject({
        method: /PUT|POST/,
        path: new RegExp(k),
        fault: b.unavailable("injected: unavailable"),
        times: 2,
      });
      await store.put(k, bytes);
      assert.equal(proxy.injected, 2);
      assert.ok(proxy.seen.filter((s) => !s.fault && /PUT|POST/.test(s.method) && s.url.includes(k)).length >= 1);
      assert.deepEqual(await store.get(k), bytes);
      record("store-errors", "503 twice on a write", 2, "retried with backoff; written once, read back intact");
    });

    it("retries reads throttled with 429 twice", async () => {
      const k = key("get429");
      await store.put(k, "throttled");
      proxy.inject({ method: "GET", path: new RegExp(k), fault: b.throttled("injected: slow down"), times: 2 });
      assert.equal((await store.get(k))?.toString(), "throttled");
      assert.equal(proxy.injected, 2);
      record("throttling", "429 twice on a read", 2, "retried with backoff; read succeeded");
    });

    it("retries requests whose connection is reset", async () => {
      const k = key("reset");
      proxy.inject({ method: /PUT|POST/, path: new RegExp(k), fault: { kind: "reset" }, times: 2 });
      proxy.inject({ method: "GET", path: new RegExp(k), fault: { kind: "reset" }, times: 2 });
      await store.put(k, "after resets");
      assert.equal((await store.get(k))?.toString(), "after resets");
      assert.equal(proxy.injected, 4);
      record("connection-resets", "2 resets on a write, 2 on a read", 4, "both retried and succeeded");
    });

    it("abandons a request stalled past the idle timeout and tries again, within a bounded time", async () => {
      const k = key("stall");
      await store.put(k, "after a stall");
      proxy.inject({ method: "GET", path: new RegExp(k), fault: { kind: "stall" }, times: 1 });
      const t0 = Date.now();
      assert.equal((await store.get(k))?.toString(), "after a stall");
      const ms = Date.now() - t0;
      assert.equal(proxy.injected, 1);
      assert.ok(ms >= RETRY.idleTimeoutMs * 0.9, `waited for the idle timeout (${ms} ms)`);
      assert.ok(ms < BOUND_MS, `bounded (${ms} ms)`);
      record(
        "stalls",
        "a read stalled past the idle timeout",
        1,
        `abandoned after the idle timeout, retried (${ms} ms)`,
      );
    });

    it("a write that never succeeds fails after the bounded tries with the store's message, leaving no object", async () => {
      const k = key("never");
      const message = `injected: the store is down ${randomBytes(3).toString("hex")}`;
      proxy.inject({ method: /PUT|POST/, path: new RegExp(k), fault: b.unavailable(message), times: Infinity });
      const t0 = Date.now();
      await assert.rejects(store.put(k, randomBytes(1000)), (e: Error) => {
        assert.ok(
          e.message.includes(message) || String((e as { cause?: Error }).cause?.message).includes(message),
          `the store's message in: ${e.message}`,
        );
        return true;
      });
      const ms = Date.now() - t0;
      const tries = proxy.injected;
      assert.ok(tries >= RETRY.attempts && tries <= RETRY.attempts * 2, `bounded tries: ${tries}`);
      assert.ok(ms < BOUND_MS, `bounded time (${ms} ms)`);
      proxy.reset();
      assert.equal(await store.exists(k), false);
      record(
        "write-failures",
        "503 on every try of a write",
        tries,
        `failed after ${tries} tries (${ms} ms) with the store's message; nothing written`,
      );
    });

    if (b.name.startsWith("S3"))
      it("a write torn midway is never visible: the retry writes the whole object", async () => {
        const k = key("torn");
        const bytes = randomBytes(256 * 1024);
        proxy.inject({ method: "PUT", path: new RegExp(k), fault: { kind: "cut", bytes: 100 * 1024 }, times: 1 });
        await store.put(k, bytes);
        assert.equal(proxy.injected, 1);
        assert.deepEqual(await store.get(k), bytes);
        // And with every try torn, nothing is left behind.
        const k2 = key("torn-always");
        proxy.inject({ method: "PUT", path: new RegExp(k2), fault: { kind: "cut", bytes: 1024 }, times: Infinity });
        await assert.rejects(store.put(k2, bytes));
        proxy.reset();
        assert.equal(await store.exists(k2), false, "no half-written object");
        record(
          "connection-resets",
          "writes torn midway",
          1 + RETRY.attempts,
          "never visible half-written; retried write complete",
        );
      });
  });

describe("datastore faults: a task whose writes never succeed (S3 through the proxy, real CLI)", function () {
  this.timeout(120_000);
  reportReliabilityAfter();

  it("fails the task with the store's message after bounded retries; the run writes no artifact object", async () => {
    assert.ok(process.env.KUBESTEP_S3_ENDPOINT_URL, "KUBESTEP_S3_ENDPOINT_URL must be set (npm test starts versitygw)");
    const proxy = await FaultProxy.start(process.env.KUBESTEP_S3_ENDPOINT_URL);
    try {
      const root = `s3://kubestep-test/faults-run-${randomBytes(4).toString("hex")}`;
      const message = `injected: artifact writes are refused ${randomBytes(3).toString("hex")}`;
      // Every write of artifact data fails; metadata, logs and the code package go through.
      proxy.inject({
        method: "PUT",
        path: /\/IntegrityFlow\/data\//,
        fault: backends[0]!.unavailable(message),
        times: Infinity,
      });
      const cwd = scratch();
      const t0 = Date.now();
      const r = await kubestep(["run", join(FLOWS, "integrity.ts"), "--datastore", "s3"], {
        cwd,
        env: { KUBESTEP_S3_ENDPOINT_URL: proxy.url, KUBESTEP_DATASTORE_SYSROOT_S3: root },
      });
      const ms = Date.now() - t0;
      assert.equal(r.code, 1, r.stderr);
      const run = runIdOf(r);
      assert.match(
        r.stderr,
        new RegExp(`${run}/start/1\\] attempt 1 failed: step start: ServiceUnavailable: ${message}`),
      );
      assert.ok(r.stderr.includes(message), `the store's message is in the failure:\n${r.stderr}`);
      const puts = proxy.count("PUT", /\/IntegrityFlow\/data\//);
      // One artifact write failing ends the task: at most the default 5 tries per artifact written at once.
      assert.ok(puts >= 5 && puts <= 5 * 5, `bounded tries: ${puts}`);
      const direct = new S3Storage(root);
      assert.deepEqual(await direct.list("IntegrityFlow/data"), [], "no artifact object, whole or partial");
      const task = JSON.parse((await direct.get(`IntegrityFlow/runs/${run}/start/1/task.json`))!.toString());
      assert.equal(task.status, "failed");
      assert.ok(task.attempts[0].error.includes(message), task.attempts[0].error);
      recordFaults("write-failures", "every artifact write of a task refused (503), real run", THIS, {
        backend: "S3 (versitygw)",
        faultsInjected: puts,
        runsCompleted: 0,
        tasksRerun: 0,
        objectsLost: 0,
        outcome: `task failed in ${(ms / 1000).toFixed(1)} s with the store's message; no artifact object written`,
      });
    } finally {
      await proxy.close();
    }
  });
});
