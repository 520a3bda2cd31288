/** loadKubeConfig: sources, --kube-context selection, clear errors. Uses temporary kubeconfig files only. */
import { strict as assert } from "node:assert";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { apiErrorInfo, loadKubeConfig } from "../../../../runtime/exec/kubernetes/client.js";

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
