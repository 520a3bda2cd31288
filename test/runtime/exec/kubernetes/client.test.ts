/** loadKubeConfig: sources, --kube-context selection, clear errors. Uses temporary kubeconfig files only. */
import { strict as assert } from "node:assert";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  apiErrorInfo,
  isTransientApiError,
  loadKubeConfig,
  retryAfterMs,
  withApiRetry,
} from "../../../../runtime/exec/kubernetes/client.js";

const CONFIG = `apiVersion: v1
kind: Config
clusters:
- name: c1
  cluster: { server: "https://10.0.0.1:6443" }
- name: c2
  cluster: { server: "https://10.0.0.2:6443" }
users:
- name: u
  user: { token: abc }
contexts:
- name: dev
  context: { cluster: c1, user: u, namespace: team-a }
- name: prod
  context: { cluster: c2, user: u }
current-context: dev
`;

describe("loadKubeConfig", () => {
  let dir = "";
  before(() => {
    dir = mkdtempSync(join(tmpdir(), "ks-kc-"));
    writeFileSync(join(dir, "config"), CONFIG);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("reads KUBECONFIG and uses its current context and namespace", async () => {
    const l = await loadKubeConfig({ env: { KUBECONFIG: join(dir, "config"), HOME: dir } });
    assert.equal(l.source, "KUBECONFIG");
    assert.equal(l.context, "dev");
    assert.equal(l.namespace, "team-a");
    assert.equal(l.kubeConfig.getCurrentCluster()?.server, "https://10.0.0.1:6443");
  });

  it("selects --kube-context", async () => {
    const l = await loadKubeConfig({ context: "prod", env: { KUBECONFIG: join(dir, "config") } });
    assert.equal(l.context, "prod");
    assert.equal(l.kubeConfig.getCurrentCluster()?.server, "https://10.0.0.2:6443");
  });

  it("an unknown context lists the available ones", async () => {
    await assert.rejects(
      loadKubeConfig({ context: "staging", env: { KUBECONFIG: join(dir, "config") } }),
      /kube context "staging" \(--kube-context\) is not in the kubeconfig .*available contexts: dev, prod/,
    );
  });

  it("falls back to ~/.kube/config, and says what to do when nothing is configured", async () => {
    const home = mkdtempSync(join(tmpdir(), "ks-home-"));
    try {
      await assert.rejects(
        loadKubeConfig({ env: { HOME: home } }),
        /no Kubernetes configuration found: set KUBECONFIG/,
      );
      const { mkdirSync } = await import("node:fs");
      mkdirSync(join(home, ".kube"));
      writeFileSync(join(home, ".kube", "config"), CONFIG);
      assert.equal((await loadKubeConfig({ env: { HOME: home } })).source, "default-file");
      await assert.rejects(loadKubeConfig({ env: { KUBECONFIG: join(home, "nope") } }), /names no existing file/);
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  });

  it("apiErrorInfo reads client-node ApiException bodies (JSON text or object) and plain errors", () => {
    assert.deepEqual(apiErrorInfo({ code: 403, body: '{"reason":"Forbidden","message":"no","code":403}' }), {
      code: 403,
      reason: "Forbidden",
      message: "no",
    });
    assert.deepEqual(apiErrorInfo({ statusCode: 410 }), { code: 410, message: "[object Object]" });
    assert.equal(apiErrorInfo(new Error("boom")).message, "boom");
  });
});

describe("Kubernetes API calls that fail for a while: withApiRetry", () => {
  const status = (code: number, reason: string) => ({
    code,
    body: JSON.stringify({ kind: "Status", code, reason, message: `${reason} (${code})` }),
  });

  it("retries what passes (429 from priority and fairness, 5xx, the API server unreachable) and nothing else", () => {
    for (const e of [
      status(429, "TooManyRequests"),
      status(503, "ServiceUnavailable"),
      new Error("connect ECONNREFUSED"),
    ])
      assert.ok(isTransientApiError(e), JSON.stringify(e));
    for (const e of [
      status(403, "Forbidden"),
      status(409, "AlreadyExists"),
      status(422, "Invalid"),
      status(404, "NotFound"),
    ])
      assert.ok(!isTransientApiError(e), JSON.stringify(e));
  });

  it("a create answered 429 then 503 succeeds on the third call, after backing off", async () => {
    const answers: unknown[] = [status(429, "TooManyRequests"), status(503, "ServiceUnavailable")];
    let calls = 0;
    const started = Date.now();
    const got = await withApiRetry(async () => {
      calls++;
      const a = answers.shift();
      if (a) throw a;
      return "created";
    });
    assert.equal(got, "created");
    assert.equal(calls, 3);
    assert.ok(Date.now() - started >= 1400, "waited 500 ms, then 1 s (plus jitter)");
  });

  it("waits at least what a 429's Retry-After asks for (priority and fairness)", async () => {
    const throttled = { ...status(429, "TooManyRequests"), headers: { "Retry-After": "2" } };
    assert.equal(retryAfterMs(throttled), 2000);
    assert.equal(retryAfterMs({ headers: { "retry-after": "0" } }), 0);
    assert.equal(retryAfterMs(status(429, "TooManyRequests")), undefined);
    assert.equal(retryAfterMs({ headers: { "retry-after": "soon" } }), undefined);
    let calls = 0;
    const started = Date.now();
    await withApiRetry(async () => {
      if (calls++ === 0) throw throttled;
    });
    assert.equal(calls, 2);
    assert.ok(Date.now() - started >= 1990, "the second call came after the 2 s asked for, not after 500 ms");
    // A Retry-After beyond the budget ends the retries with the 429.
    await assert.rejects(
      withApiRetry(async () => {
        throw { ...throttled, headers: { "retry-after": "30" } };
      }, 5000),
      (e: unknown) => apiErrorInfo(e).code === 429,
    );
  });

  it("a refusal is thrown at once, and a transient failure outlasting the budget is thrown with its message", async () => {
    let calls = 0;
    await assert.rejects(
      withApiRetry(async () => {
        calls++;
        throw status(403, "Forbidden");
      }),
      (e: unknown) => apiErrorInfo(e).code === 403,
    );
    assert.equal(calls, 1);
    calls = 0;
    await assert.rejects(
      withApiRetry(async () => {
        calls++;
        throw status(429, "TooManyRequests");
      }, 1200),
      (e: unknown) => /TooManyRequests/.test(apiErrorInfo(e).message),
    );
    assert.equal(calls, 2, "one retry fits in 1.2 s (500 ms, then 1 s would not)");
  });
});
