/** The bounded retry policy of the cloud datastores (runtime/datastore/retry.ts), on fixtures. */
import { strict as assert } from "node:assert";
import {
  DEFAULT_RETRY_POLICY,
  backoffMs,
  idleAbort,
  isTransient,
  retryPolicy,
  withRetries,
} from "../../../runtime/datastore/retry.js";

describe("datastore retry policy", () => {
  it("backs off exponentially with full jitter, capped", () => {
    const p = retryPolicy({ baseDelayMs: 100, maxDelayMs: 1000 });
    assert.deepEqual(
      [1, 2, 3, 4, 5, 6].map((a) => backoffMs(p, a, () => 0.999999)),
      [99, 199, 399, 799, 999, 999],
    );
    assert.equal(
      backoffMs(p, 3, () => 0),
      0,
    );
    // The defaults bound a failing request: at most 5 tries and a few seconds of backoff in all.
    const worst = [1, 2, 3, 4].reduce((n, a) => n + backoffMs(DEFAULT_RETRY_POLICY, a, () => 1), 0);
    assert.equal(DEFAULT_RETRY_POLICY.attempts, 5);
    assert.ok(worst <= 3000, `${worst} ms`);
  });

  it("refuses a policy that is not bounded, naming every bad field", () => {
    assert.throws(() => retryPolicy({ attempts: 0, maxDelayMs: Infinity }), /attempts = 0, maxDelayMs = Infinity/);
  });

  it("tells transient failures (throttling, 5xx, resets, timeouts) from permanent ones", () => {
    for (const e of [
      { $metadata: { httpStatusCode: 503 } },
      { $metadata: { httpStatusCode: 429 } },
      { statusCode: 500 },
      { code: 503 },
      { code: "ECONNRESET" },
      { name: "TimeoutError" },
      new Error("socket hang up"),
      new Error("wrapped", { cause: Object.assign(new Error("x"), { code: "EPIPE" }) }),
    ])
      assert.ok(isTransient(e), JSON.stringify(e));
    for (const e of [{ $metadata: { httpStatusCode: 403 } }, { code: 404 }, new Error("AccessDenied"), undefined])
      assert.ok(!isTransient(e), JSON.stringify(e));
  });

  it("tries at most `attempts` times and rethrows the last error as it is", async () => {
    let tries = 0;
    const p = retryPolicy({ attempts: 3, baseDelayMs: 1, maxDelayMs: 2 });
    const err = Object.assign(new Error("ServiceUnavailable: the store's own message"), { statusCode: 503 });
    await assert.rejects(
      withRetries(p, async () => {
        tries++;
        throw err;
      }),
      (e) => e === err,
    );
    assert.equal(tries, 3);
    tries = 0;
    await assert.rejects(
      withRetries(p, async () => {
        tries++;
        throw Object.assign(new Error("denied"), { statusCode: 403 });
      }),
    );
    assert.equal(tries, 1, "a permanent error is not retried");
    tries = 0;
    assert.equal(await withRetries(p, async () => (++tries < 3 ? Promise.reject(err) : "ok")), "ok");
  });

  it("an idle abort fires only without progress", async () => {
    const idle = idleAbort(80);
    const t = setInterval(() => idle.touch(), 20);
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(idle.signal.aborted, false);
    clearInterval(t);
    await new Promise((r) => setTimeout(r, 150));
    assert.equal(idle.signal.aborted, true);
    assert.equal((idle.signal.reason as Error).name, "TimeoutError");
    idle.done();
  });
});
