/**
 * `kubestep argo-workflows` on the REAL local cluster: Argo Workflows v3.7.4 built from Go modules
 * (test/tooling/parts/argo, started by test/tooling/argo/up.sh: its own CRDs with their schemas, the
 * workflow-controller and an argoexec image), and a REAL S3 server (versitygw).
 * - the objects `create --only-json` prints pass the apiserver's validation against Argo's CRD schemas
 *   (server-side dry-run, strict field validation), and a wrong field is refused the same way;
 * - a branchy, nested-foreach flow runs for real as an Argo workflow with a parameter, and is a kubestep run:
 *   its metadata, artifacts and logs are in the datastore, each task ran once;
 * - @retry is Argo's retryStrategy: the failed first attempt and the successful second are both recorded;
 * - `delete` removes the template and the code ConfigMaps.
 */
import { strict as assert } from "node:assert";
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { FLOWS, ROOT, kubestep, scratch, type CliResult } from "../../helpers/cli.js";
import {
  createS3Namespace,
  deleteNamespace,
  namespaceName,
  kubectl,
  kubectlApply,
  kubernetesRunEnv,
  required,
} from "../../helpers/cluster-namespace.js";
import { openStorage } from "../../../runtime/datastore/open.js";
import { FlowDatastore } from "../../../runtime/datastore/flowstore.js";

const NS = namespaceName("ks-argo");
const cwd = scratch();
const shapes = join(FLOWS, "shapes.ts");
const retryFlow = join(FLOWS, "argo.ts");

const env = (): Record<string, string> => kubernetesRunEnv(NS);
const ks = (...args: string[]): Promise<CliResult> => kubestep(args, { cwd, env: env() });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Workflow {
  metadata: { name: string };
  status?: {
    phase?: string;
    message?: string;
    nodes?: Record<string, { displayName: string; phase: string; type: string }>;
  };
}
async function waitForWorkflow(name: string, seconds: number): Promise<Workflow> {
  const end = Date.now() + seconds * 1000;
  for (;;) {
    const wf = JSON.parse(kubectl("get", "workflow", name, "-n", NS, "-o", "json")) as Workflow;
    if (wf.status?.phase === "Succeeded" || wf.status?.phase === "Failed" || wf.status?.phase === "Error") return wf;
    if (Date.now() > end)
      throw new Error(
        `workflow ${name} did not finish in ${seconds} s: ${JSON.stringify(wf.status ?? {}).slice(0, 2000)}`,
      );
    await sleep(2000);
  }
}
const workflowOf = (r: CliResult): string => {
  const m = /submitted workflow (\S+) in namespace/.exec(r.stdout);
  assert.ok(m, r.stdout + r.stderr);
  return m[1]!;
};
async function datastore(flow: string): Promise<FlowDatastore> {
  return new FlowDatastore(await openStorage("s3", required("KUBESTEP_DATASTORE_SYSROOT_S3")), flow);
}

describe("kubestep argo-workflows on the real cluster with Argo Workflows built from Go modules", function () {
  this.timeout(900_000);

  before(() => {
    createS3Namespace(NS);
    // Builds (cached) and starts the controller for this namespace.
    execFileSync("bash", [join(ROOT, "test/tooling/argo/up.sh"), NS], { stdio: ["ignore", "ignore", "inherit"] });
    // The executor's rights for the workflow pods' service account, as Argo documents them.
    kubectlApply([
      {
        apiVersion: "rbac.authorization.k8s.io/v1",
        kind: "Role",
        metadata: { name: "argo-executor", namespace: NS },
        rules: [{ apiGroups: ["argoproj.io"], resources: ["workflowtaskresults"], verbs: ["create", "patch"] }],
      },
      {
        apiVersion: "rbac.authorization.k8s.io/v1",
        kind: "RoleBinding",
        metadata: { name: "argo-executor", namespace: NS },
        roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: "argo-executor" },
        subjects: [{ kind: "ServiceAccount", name: "default", namespace: NS }],
      },
    ]);
  });
  after(() => {
    try {
      execFileSync("bash", [join(ROOT, "test/tooling/argo/down.sh")], { stdio: "ignore" });
    } finally {
      deleteNamespace(NS);
    }
  });

  it("--only-json prints objects the apiserver accepts against Argo's CRD schemas (server-side dry-run, strict)", async () => {
    const r = await ks("argo-workflows", "create", shapes, "--only-json");
    assert.equal(r.code, 0, r.stderr);
    const objects = JSON.parse(r.stdout) as Array<{ kind: string; metadata: { name: string } }>;
    assert.deepEqual(
      objects.map((o) => o.kind),
      ["ConfigMap", "WorkflowTemplate"],
    );
    const scheduled = await ks("argo-workflows", "create", retryFlow, "--only-json");
    assert.equal(scheduled.code, 0, scheduled.stderr);
    const cron = (JSON.parse(scheduled.stdout) as typeof objects).find((o) => o.kind === "CronWorkflow");
    assert.ok(cron, scheduled.stdout.slice(0, 500));
    objects.push(cron);
    for (const o of objects) {
      const out = execFileSync(
        "kubectl",
        ["create", "--dry-run=server", "--validate=strict", "-o", "name", "-f", "-"],
        { input: JSON.stringify(o), encoding: "utf8", stdio: ["pipe", "pipe", "pipe"] },
      );
      assert.match(out, new RegExp(`${o.metadata.name}`));
    }
    // The validation is real: a field Argo's schema does not have is refused.
    const wt = objects.find((o) => o.kind === "WorkflowTemplate") as unknown as {
      spec: { templates: Array<Record<string, unknown>> };
    };
    wt.spec.templates[0]!.retryStrategyy = { limit: "1" };
    assert.throws(
      () =>
        execFileSync("kubectl", ["create", "--dry-run=server", "--validate=strict", "-f", "-"], {
          input: JSON.stringify(wt),
          stdio: ["pipe", "pipe", "pipe"],
        }),
      (e: { stderr?: Buffer }) => /retryStrategyy/.test(String(e.stderr)),
    );
    // Nothing was written.
    assert.equal(kubectl("get", "workflowtemplates", "-n", NS, "-o", "name").trim(), "");
  });

  it("runs a branchy nested-foreach flow for real: the Argo workflow is a kubestep run in the datastore", async () => {
    const c = await ks("argo-workflows", "create", shapes);
    assert.equal(c.code, 0, c.stderr + c.stdout);
    assert.match(c.stdout, new RegExp(`created WorkflowTemplate kubestep-shapes-flow in namespace ${NS}`));
    const t = await ks("argo-workflows", "trigger", shapes, "--width", "3", "--greeting", "argo");
    assert.equal(t.code, 0, t.stderr + t.stdout);
    const name = workflowOf(t);
    const wf = await waitForWorkflow(name, 600);
    assert.equal(wf.status?.phase, "Succeeded", JSON.stringify(wf.status).slice(0, 3000));

    const runId = `argo-${name}`;
    const ds = await datastore("ShapesFlow");
    const run = await ds.readRun(runId);
    assert.equal(run?.status, "succeeded");
    assert.deepEqual(run?.params, { width: 3, greeting: "argo", flag: false });
    // Each task ran exactly once: 1 start, 1 left, 1 right, 1 merge, 3 fanOuter, 9 fanInner, 3 joinInner, 1 joinOuter, 1 end.
    const expected: Record<string, number> = {
      start: 1,
      left: 1,
      right: 1,
      merge: 1,
      fanOuter: 3,
      fanInner: 9,
      joinInner: 3,
      joinOuter: 1,
      end: 1,
    };
    for (const [step, n] of Object.entries(expected)) {
      const ids = await ds.listTasks(runId, step);
      assert.equal(ids.length, n, `${step}: ${ids.join(", ")}`);
      for (const id of ids) {
        const meta = await ds.readTask(runId, step, id);
        assert.equal(meta?.status, "succeeded", `${step}/${id}`);
        assert.equal(meta?.attempts.length, 1, `${step}/${id} ran once`);
      }
    }
    // The join after the nested foreach saw every cell in foreach order; the log is archived in the datastore.
    const logs = await ks("logs", `ShapesFlow/${runId}/end`);
    assert.equal(logs.code, 0, logs.stderr);
    assert.match(
      logs.stdout,
      /rows=\[\["o0:10:0","o0:20:1","o0:30:2"\],\["o1:10:0","o1:20:1","o1:30:2"\],\["o2:10:0","o2:20:1","o2:30:2"\]\] a=1 b=2 greeting=argo flag=false/,
    );
    const runs = await ks("runs", "ShapesFlow");
    assert.match(runs.stdout, new RegExp(`${runId}\\s+succeeded`));
  });

  it("@retry is Argo's retryStrategy: the failed first attempt and the retried one are recorded", async () => {
    const c = await ks("argo-workflows", "create", retryFlow);
    assert.equal(c.code, 0, c.stderr + c.stdout);
    const t = await ks("argo-workflows", "trigger", retryFlow, "--label", "again");
    assert.equal(t.code, 0, t.stderr + t.stdout);
    const name = workflowOf(t);
    const wf = await waitForWorkflow(name, 600);
    assert.equal(wf.status?.phase, "Succeeded", JSON.stringify(wf.status).slice(0, 3000));
    const ds = await datastore("ArgoRetryFlow");
    const runId = `argo-${name}`;
    const [id] = await ds.listTasks(runId, "flaky");
    const meta = await ds.readTask(runId, "flaky", id!);
    assert.deepEqual(
      meta?.attempts.map((a) => a.status),
      ["failed", "succeeded"],
    );
    assert.match(meta!.attempts[0]!.error!, /flaky failure on attempt 1/);
    const log0 = await ds.readLog(runId, "flaky", id!, 0);
    assert.match(log0 ?? "", /flaky failure on attempt 1/);
    const logs = await ks("logs", `ArgoRetryFlow/${runId}/end`);
    assert.match(logs.stdout, /label=again attempts=2/);
  });

  it("a flow with a native addon: every pod installs the dependency layer from the datastore before importing the flow", async () => {
    execFileSync("bash", [join(ROOT, "test", "tooling", "native", "setup.sh")], {
      stdio: ["ignore", "ignore", "inherit"],
    });
    const native = join(ROOT, "test", "fixtures", "native", "native.ts");
    const c = await ks("argo-workflows", "create", native, "--flow", "NativeAddonFlow");
    assert.equal(c.code, 0, c.stderr + c.stdout);
    const layer =
      /the dependency layer ([0-9a-f]{12}) \(2 packages, [\d.]+ MB, native addons for (linux-x64-glibc-abi\d+)\)/.exec(
        c.stderr,
      );
    assert.ok(layer, c.stderr);
    // The template tells each pod the layer's content address, not a URL (a pod pre-signs its own).
    const wt = JSON.parse(kubectl("get", "workflowtemplate", "kubestep-native-addon-flow", "-n", NS, "-o", "json")) as {
      spec: { templates: Array<{ container?: { env?: Array<{ name: string; value?: string }> } }> };
    };
    const statics = wt.spec.templates
      .flatMap((t) => t.container?.env ?? [])
      .filter((e) => e.name === "KUBESTEP_ARGO_TASK")
      .map((e) => JSON.parse(e.value!) as { deps?: { layer: { sha: string; platform?: string }; key: string } });
    assert.equal(statics.length, 3, "start, remote and end");
    for (const st of statics) {
      assert.equal(st.deps?.layer.sha.slice(0, 12), layer[1]);
      assert.equal(st.deps?.layer.platform, layer[2]);
      assert.match(st.deps!.key, new RegExp(`^NativeAddonFlow/data/[0-9a-f]{2}/${st.deps!.layer.sha}$`));
    }
    const t = await ks("argo-workflows", "trigger", native, "--flow", "NativeAddonFlow");
    assert.equal(t.code, 0, t.stderr + t.stdout);
    const name = workflowOf(t);
    const wf = await waitForWorkflow(name, 600);
    assert.equal(wf.status?.phase, "Succeeded", JSON.stringify(wf.status).slice(0, 3000));
    // Both probes (start, remote) ran in pods and loaded the native binary from the extracted, verified layer.
    const logs = await ks("logs", `NativeAddonFlow/argo-${name}/end`);
    assert.equal(logs.code, 0, logs.stderr);
    for (const which of ["local", "pod"])
      assert.match(
        logs.stdout,
        new RegExp(
          `${which}: native 6a77616172766674 /tmp/kubestep-code/deps-${layer[1]}[0-9a-f]{52}/node_modules/bufferutil/prebuilds/linux-x64/bufferutil\\.node`,
        ),
      );
    const d = await ks("argo-workflows", "delete", native, "--flow", "NativeAddonFlow");
    assert.equal(d.code, 0, d.stderr);
  });

  it("refuses a flow Argo cannot run before writing anything, and delete removes what create wrote", async () => {
    const bad = await ks("argo-workflows", "create", join(FLOWS, "parallel.ts"));
    assert.equal(bad.code, 2, bad.stderr);
    assert.match(bad.stderr, /cannot be expressed as an Argo workflow/);
    assert.match(bad.stderr, /@parallel/);

    const d = await ks("argo-workflows", "delete", shapes);
    assert.equal(d.code, 0, d.stderr);
    assert.match(d.stdout, /workflowtemplates\/kubestep-shapes-flow/);
    assert.deepEqual(kubectl("get", "workflowtemplates", "-n", NS, "-o", "name").trim().split("\n"), [
      "workflowtemplate.argoproj.io/kubestep-argo-retry-flow",
    ]);
    const maps = kubectl("get", "configmaps", "-n", NS, "-l", "kubestep.io/argo-code", "-o", "json");
    const flows = (
      JSON.parse(maps) as { items: Array<{ metadata: { annotations: Record<string, string> } }> }
    ).items.map((m) => m.metadata.annotations["kubestep.io/flow"]);
    assert.ok(!flows.includes("ShapesFlow"), flows.join(", "));
    assert.ok(flows.includes("ArgoRetryFlow"), flows.join(", "));
    // The scheduled flow's CronWorkflow stays until its own delete, which removes everything of it.
    assert.equal(
      kubectl("get", "cronworkflows", "-n", NS, "-o", "name").trim(),
      "cronworkflow.argoproj.io/kubestep-argo-retry-flow",
    );
    const d2 = await ks("argo-workflows", "delete", retryFlow);
    assert.equal(d2.code, 0, d2.stderr);
    assert.equal(kubectl("get", "cronworkflows,workflowtemplates", "-n", NS, "-o", "name").trim(), "");
    assert.equal(kubectl("get", "configmaps", "-n", NS, "-l", "kubestep.io/argo-code", "-o", "name").trim(), "");
  });
});
