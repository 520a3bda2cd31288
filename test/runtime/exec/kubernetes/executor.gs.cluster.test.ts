/**
 * @kubernetes steps end to end on the REAL local cluster with the GCS datastore: fake-gcs-server (started by
 * test/tooling/servers/up.sh, as `npm test` does) as the store. The CLI signs the code package's V4 URL with the
 * throw-away service account key of GOOGLE_APPLICATION_CREDENTIALS; the pods get KUBESTEP_GCS_ENDPOINT_URL
 * forwarded (from the environment variable, or from an environment document's datastore endpoint), download the
 * package, and read and write artifacts in the emulator without credentials.
 */
import { strict as assert } from "node:assert";
import { execFileSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { Flow } from "../../../../runtime/client/index.js";
import { FLOWS, kubestep, runIdOf, scratch } from "../../../helpers/cli.js";

const NS = `ks-e2e-gs-${Date.now().toString(36)}`;
const mixed = join(FLOWS, "k8s", "mixed.ts");
const IMAGE = `localhost/node:${process.versions.node.split(".")[0]}-local`;

function kubectl(...args: string[]): string {
  return execFileSync("kubectl", args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
}
function required(name: string): string {
  const v = process.env[name];
  if (!v)
    throw new Error(
      `${name} is not set: run the tests with npm test (it starts the local cluster, fake-gcs-server and the other datastore servers)`,
    );
  return v;
}

const cwd = scratch();
function env(extra: Record<string, string> = {}): Record<string, string> {
  return {
    KUBESTEP_KUBERNETES_NAMESPACE: NS,
    KUBESTEP_KUBERNETES_CONTAINER_IMAGE: IMAGE,
    KUBESTEP_KUBERNETES_IMAGE_PULL_POLICY: "IfNotPresent",
    KUBESTEP_KUBERNETES_PENDING_TIMEOUT: "8s",
    KUBESTEP_KUBERNETES_IMAGE_PULL_GRACE: "5s",
    ...extra,
  };
}

/** The env of the step container of the run's Jobs for `step`. */
function podEnv(runId: string, step: string): Record<string, string> {
  const jobs = JSON.parse(
    kubectl("get", "jobs", "-n", NS, "-l", `kubestep.io/run=${runId},kubestep.io/step=${step}`, "-o", "json"),
  ).items as Array<{
    spec: { template: { spec: { containers: Array<{ env?: Array<{ name: string; value?: string }> }> } } };
  }>;
  assert.ok(jobs.length > 0, `the run ${runId} has Jobs for step ${step}`);
  return Object.fromEntries((jobs[0]!.spec.template.spec.containers[0]!.env ?? []).map((e) => [e.name, e.value ?? ""]));
}

describe("Kubernetes executor on the real cluster with the GCS datastore (fake-gcs-server)", function () {
  this.timeout(300_000);

  before(() => {
    required("KUBECONFIG");
    required("KUBESTEP_DATASTORE_SYSROOT_GS");
    required("KUBESTEP_GCS_ENDPOINT_URL");
    required("GOOGLE_APPLICATION_CREDENTIALS");
    kubectl("create", "namespace", NS);
    // The mixed flow's pods mount the secret "kubestep-s3"; the GCS emulator needs no credentials, so it holds none.
    kubectl("create", "secret", "generic", "kubestep-s3", "-n", NS, "--from-literal=KUBESTEP_E2E_DATASTORE=gs");
  });
  after(() => {
    try {
      kubectl("delete", "namespace", NS, "--wait=false");
    } catch {
      /* best effort */
    }
  });

  it("runs local start -> @kubernetes foreach x3 -> @kubernetes join -> local end with --datastore gs; the run is read back from the emulator", async () => {
    const r = await kubestep(["run", mixed, "--datastore", "gs"], { cwd, env: env() });
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.match(r.stdout, /words=A10,BB10,CCC10 sum=12 onKubernetes=false/);
    const id = runIdOf(r);
    for (const i of [0, 1, 2])
      assert.match(r.stdout, new RegExp(`\\[${id}/fan/\\d+\\] fan ${i} on pod:ks-mixedflow-fan-`));
    // The pods got the emulator's endpoint and the gs root, and no credentials.
    const podVars = podEnv(id, "fan");
    assert.equal(podVars.KUBESTEP_GCS_ENDPOINT_URL, process.env.KUBESTEP_GCS_ENDPOINT_URL);
    assert.equal(podVars.KUBESTEP_DATASTORE_SYSROOT_GS, process.env.KUBESTEP_DATASTORE_SYSROOT_GS);
    assert.equal(podVars.GOOGLE_APPLICATION_CREDENTIALS, undefined);
    assert.match(podVars.KUBESTEP_CODE_URL ?? "", /[?&]X-Goog-Algorithm=GOOG4-RSA-SHA256&/);
    assert.ok(
      (podVars.KUBESTEP_CODE_URL ?? "").startsWith(`${process.env.KUBESTEP_GCS_ENDPOINT_URL}/`),
      podVars.KUBESTEP_CODE_URL,
    );
    // Artifacts the pods wrote are in the emulator.
    const flow = await Flow.connect("MixedFlow", { datastore: "gs" });
    const run = flow.run(id);
    assert.ok(run?.successful, `run ${id} is stored and successful in the gs datastore`);
    const join_ = run.step("join").task;
    await join_.fetch();
    assert.deepEqual(join_.data.words, ["A10", "BB10", "CCC10"]);
    assert.match(String(join_.data.where), /^pod:ks-mixedflow-fan-/);
    const logs = await kubestep(["logs", `MixedFlow/${id}/fan`, "--datastore", "gs"], { cwd, env: env() });
    assert.equal(logs.code, 0, logs.stderr);
    assert.equal((logs.stdout.match(/fan \d on pod:/g) ?? []).length, 3, logs.stdout);
  });

  it("takes the GCS endpoint from an environment document's datastore and forwards it to the pods", async () => {
    const envFile = join(cwd, "environment-gs.json");
    writeFileSync(
      envFile,
      JSON.stringify({
        version: 1,
        name: "e2e-gs",
        namespace: NS,
        serviceAccount: "default",
        image: IMAGE,
        datastore: {
          kind: "gs",
          root: required("KUBESTEP_DATASTORE_SYSROOT_GS"),
          endpoint: required("KUBESTEP_GCS_ENDPOINT_URL"),
        },
      }),
    );
    const r = await kubestep(["run", mixed, "--environment", envFile], {
      cwd,
      unset: [
        "KUBESTEP_GCS_ENDPOINT_URL",
        "STORAGE_EMULATOR_HOST",
        "KUBESTEP_DEFAULT_DATASTORE",
        "KUBESTEP_KUBERNETES_NAMESPACE",
        "KUBESTEP_KUBERNETES_CONTAINER_IMAGE",
      ],
      env: {
        KUBESTEP_KUBERNETES_IMAGE_PULL_POLICY: "IfNotPresent",
        KUBESTEP_KUBERNETES_PENDING_TIMEOUT: "8s",
      },
    });
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.match(r.stdout, /words=A10,BB10,CCC10 sum=12 onKubernetes=false/);
    assert.equal(podEnv(runIdOf(r), "join").KUBESTEP_GCS_ENDPOINT_URL, process.env.KUBESTEP_GCS_ENDPOINT_URL);
  });
});
