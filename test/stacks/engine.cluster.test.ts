/**
 * The real Pulumi engine against the local cluster: `pulumi up` of a small stack (a Namespace and a
 * ConfigMap, test/tooling/pulumi/small-stack.ts), `pulumi preview` with no changes, a config change
 * applied in place, `pulumi destroy`, then the stack removed. The CLI is built from Go modules
 * (test/tooling/pulumi/setup.sh), the state is in a file backend, secrets use the passphrase provider,
 * and nothing goes to the network.
 *
 * The Kubernetes objects are managed by a dynamic provider of ours (test/tooling/pulumi/kube-object.ts),
 * not by the Kubernetes resource provider, which cannot be built here (test/tooling/README.md). Needs
 * KUBECONFIG and Go (first run) and fails, never skips, without them.
 */
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { CoreV1Api, V1ConfigMap, V1Namespace } from "@kubernetes/client-node";
import { apiErrorInfo } from "../../runtime/exec/kubernetes/client.js";
import { pulumiEnvironment, runEngine, type EngineRequest, type EngineResult } from "../tooling/pulumi/engine.js";
import { CONFIG_MAP, TEST_LABEL } from "../tooling/pulumi/small-stack.js";

const suffix = `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
const NS = `ks-engine-${suffix}`;
const STACK = `engine-${suffix}`;
const TOKEN = `token-${suffix}-never-in-plaintext`;
const KUBE_OBJECT = "pulumi-nodejs:dynamic/kubestep-test:KubeObject";
/** The CLI version the part builds (the `// version:` line of its go.mod). */
const PART_VERSION = /^\/\/ version: v(\S+)/m.exec(
  readFileSync(fileURLToPath(new URL("../tooling/parts/pulumi/go.mod", import.meta.url)), "utf8"),
)?.[1];

/** Every file under `dir`, recursively. */
function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? filesUnder(p) : [p];
  });
}

/** The change counts without zero entries, for exact comparisons. */
function nonZero(changes: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(changes).filter(([, n]) => n !== 0));
}

describe("stacks: the real Pulumi engine on the local cluster (up / preview / update / destroy)", function () {
  // The first run builds the CLI from Go modules (minutes); later runs take seconds per operation.
  this.timeout(300_000);

  let env: Record<string, string>;
  let core: CoreV1Api;
  let workDir: string;
  let backendDir: string;
  let deployed = false;
  let firstUid = "";
  const steps: string[] = [];

  const engine = (req: Omit<EngineRequest, "stack" | "workDir">): Promise<EngineResult> =>
    runEngine({ ...req, stack: STACK, workDir }, env);

  async function readOrGone<T>(what: string, read: () => Promise<T>): Promise<T | "gone"> {
    try {
      return await read();
    } catch (e) {
      const info = apiErrorInfo(e);
      if (info.code === 404) return "gone";
      throw new Error(`reading ${what}: HTTP ${info.code}: ${info.message}`, { cause: e });
    }
  }
  const namespace = () => readOrGone<V1Namespace>(`namespace ${NS}`, () => core.readNamespace({ name: NS }));
  const configMap = () =>
    readOrGone<V1ConfigMap>(`configmap ${NS}/${CONFIG_MAP}`, () =>
      core.readNamespacedConfigMap({ name: CONFIG_MAP, namespace: NS }),
    );

  /** Fails a later step with the reason when an earlier one did not get the stack where it needs it. */
  function needs(step: string): void {
    if (!steps.includes(step))
      throw new Error(`the "${step}" step did not succeed (see its failure above), so this step cannot run`);
  }

  before(async function () {
    this.timeout(45 * 60_000);
    const kubeconfig = process.env.KUBECONFIG;
    if (!kubeconfig)
      throw new Error(
        "KUBECONFIG is not set: this test needs the local cluster (export KUBECONFIG=/tmp/local-cluster/admin.kubeconfig)",
      );
    const k8s = await import("@kubernetes/client-node");
    const kc = new k8s.KubeConfig();
    kc.loadFromFile(kubeconfig);
    core = kc.makeApiClient(k8s.CoreV1Api);
    env = await pulumiEnvironment(40 * 60_000);
    backendDir = fileURLToPath(env.PULUMI_BACKEND_URL);
    workDir = mkdtempSync(join(tmpdir(), "kubestep-engine-"));
  });

  after(async function () {
    this.timeout(300_000);
    const problems: string[] = [];
    if (env && workDir && deployed) {
      try {
        await engine({ op: "destroy" });
      } catch (e) {
        problems.push(`cleanup destroy: ${String(e)}`);
      }
    }
    if (core) {
      try {
        if ((await namespace()) !== "gone") await core.deleteNamespace({ name: NS });
      } catch (e) {
        problems.push(`cleanup of namespace ${NS}: ${String(e)}`);
      }
    }
    if (env && workDir && !steps.includes("rm")) {
      try {
        await runEngine({ op: "rm", stack: STACK, workDir }, env);
      } catch {
        // the stack may never have been created
      }
    }
    if (workDir) rmSync(workDir, { recursive: true, force: true });
    if (problems.length) throw new Error(problems.join("\n"));
  });

  it("pulumi up creates the Namespace and the ConfigMap in the cluster and exports the outputs", async () => {
    // No Node.js language host exists here: the program runs in the driver process, served to the CLI over --client.
    const hosts = env.PATH.split(":")
      .map((d) => join(d, "pulumi-language-nodejs"))
      .filter((f) => existsSync(f));
    assert.deepEqual(
      hosts,
      [],
      "a pulumi-language-nodejs is on the engine's PATH: this test is meant to prove the inline-program path",
    );
    deployed = true; // from here on, clean up with a destroy
    const r = await engine({
      op: "up",
      config: { namespace: { value: NS }, greeting: { value: "hello" }, token: { value: TOKEN, secret: true } },
    });
    assert.equal(r.cliVersion, PART_VERSION, "the CLI that ran is the one built from test/tooling/parts/pulumi");
    assert.equal(r.backendUrl, env.PULUMI_BACKEND_URL, "the stack lives in the file backend");
    assert.match(r.backendUrl, /^file:\/\//);
    assert.equal(r.result, "succeeded", r.log);
    // The stack resource and the two objects (provider resources are not counted).
    assert.deepEqual(nonZero(r.changes), { create: 3 }, r.log);
    assert.deepEqual(r.resources.map((x) => x.type).sort(), [
      "pulumi-nodejs:dynamic/kubestep-test:KubeObject",
      "pulumi-nodejs:dynamic/kubestep-test:KubeObject",
      "pulumi:providers:pulumi-nodejs",
      "pulumi:pulumi:Stack",
    ]);
    assert.equal(r.outputs.namespace?.value, NS);
    assert.equal(r.outputs.configMap?.value, `${NS}/${CONFIG_MAP}`);
    assert.equal(r.outputs.greeting?.value, "hello");
    assert.deepEqual(r.outputs.token, { value: TOKEN, secret: true });

    // The objects are really in the cluster.
    const ns = await namespace();
    assert.notEqual(ns, "gone", `namespace ${NS} does not exist after pulumi up`);
    if (ns === "gone") return;
    assert.equal(ns.metadata?.labels?.[TEST_LABEL], "true");
    assert.equal(ns.status?.phase, "Active");
    const cm = await configMap();
    assert.notEqual(cm, "gone", `configmap ${NS}/${CONFIG_MAP} does not exist after pulumi up`);
    if (cm === "gone") return;
    assert.deepEqual(cm.data, { greeting: "hello" });
    assert.equal(cm.metadata?.uid, r.outputs.configMapUid?.value, "the recorded uid is the live object's");
    firstUid = String(cm.metadata?.uid);
    const states = r.resources
      .filter((x) => x.type === KUBE_OBJECT)
      .map((x) => x.id)
      .sort();
    assert.deepEqual(
      states,
      [ns.metadata?.uid, cm.metadata?.uid].sort(),
      "each object's resource id in the state is its uid",
    );

    // The passphrase secrets provider: the token is only stored encrypted, in the backend and in the stack's config.
    const stateFiles = filesUnder(backendDir).filter((f) => f.includes(STACK));
    assert.ok(stateFiles.length > 0, `no state file of stack ${STACK} under ${backendDir}`);
    for (const f of stateFiles)
      assert.ok(!readFileSync(f, "utf8").includes(TOKEN), `${f} holds the secret in plaintext`);
    assert.ok(
      stateFiles.some((f) => readFileSync(f, "utf8").includes('"ciphertext"')),
      "the state holds the secret as ciphertext",
    );
    const stackConfig = readFileSync(join(workDir, `Pulumi.${STACK}.yaml`), "utf8");
    assert.match(stackConfig, /encryptionsalt: /);
    assert.match(stackConfig, /token:\s*\n\s*secure: /);
    assert.ok(!stackConfig.includes(TOKEN), "Pulumi.<stack>.yaml holds the secret in plaintext");
    steps.push("up");
  });

  it("pulumi preview right after up proposes no change", async () => {
    needs("up");
    const r = await engine({ op: "preview", expectNoChanges: true });
    assert.deepEqual(nonZero(r.changes), { same: 3 }, r.log);
    steps.push("preview");
  });

  it("a changed config value is previewed as one update and applied in place (same object, new data)", async () => {
    needs("up");
    const before = await configMap();
    assert.notEqual(before, "gone");
    if (before === "gone") return;

    const p = await engine({ op: "preview", config: { greeting: { value: "hello again" } } });
    assert.deepEqual(nonZero(p.changes), { same: 2, update: 1 }, p.log);
    const untouched = await configMap();
    assert.ok(untouched !== "gone" && untouched.data?.greeting === "hello", "preview changed the cluster");

    const r = await engine({ op: "up" });
    assert.equal(r.result, "succeeded", r.log);
    assert.deepEqual(nonZero(r.changes), { same: 2, update: 1 }, r.log);
    assert.equal(r.outputs.greeting?.value, "hello again");
    const after = await configMap();
    assert.notEqual(after, "gone");
    if (after === "gone") return;
    assert.deepEqual(after.data, { greeting: "hello again" });
    assert.equal(after.metadata?.uid, firstUid, "the ConfigMap was replaced, not updated in place");
    assert.notEqual(after.metadata?.resourceVersion, before.metadata?.resourceVersion);
    assert.equal(r.outputs.configMapUid?.value, firstUid);
    assert.deepEqual(nonZero((await engine({ op: "preview", expectNoChanges: true })).changes), { same: 3 });
    steps.push("update");
  });

  it("pulumi destroy deletes every object from the cluster and the state, and the stack can be removed", async () => {
    needs("up");
    const r = await engine({ op: "destroy" });
    assert.equal(r.result, "succeeded", r.log);
    assert.deepEqual(nonZero(r.changes), { delete: 3 }, r.log);
    deployed = false;
    assert.deepEqual(r.resources, [], "the state still holds resources after destroy");
    assert.deepEqual(r.outputs, {});
    assert.equal(await configMap(), "gone", `configmap ${NS}/${CONFIG_MAP} still exists after destroy`);
    assert.equal(await namespace(), "gone", `namespace ${NS} still exists after destroy`);
    assert.ok(r.stacks.includes(STACK));

    const rm = await engine({ op: "rm" });
    steps.push("rm");
    assert.ok(!rm.stacks.includes(STACK), `stack ${STACK} is still listed after removal: ${rm.stacks.join(", ")}`);
  });
});
