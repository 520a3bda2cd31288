/**
 * A real native addon (bufferutil's prebuilt N-API binary, test/fixtures/native) in a @kubernetes step on the REAL
 * local cluster, with the REAL S3 datastore (versitygw): the addon is left out of the code package and packed
 * into a dependency layer that is uploaded once (a second run finds it by content and does not upload it again),
 * the pod loads the binary from the extracted layer, a tampered layer is refused with both hashes, and local runs
 * of the same flow load the addon from node_modules.
 */
import { strict as assert } from "node:assert";
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import {
  S3Client,
  ListObjectsV2Command,
  HeadObjectCommand,
  PutObjectCommand,
  DeleteObjectsCommand,
} from "@aws-sdk/client-s3";
import { ROOT, kubestep, scratch, type CliResult } from "../../helpers/cli.js";
import { createS3Namespace, required, kubectl } from "../../helpers/cluster-namespace.js";
import { orchestratorObjects } from "../../../components/orchestrator.js";

const FIXTURE = join(ROOT, "test", "fixtures", "native");
const FLOW = join(FIXTURE, "native.ts");
const NS = `ks-native-${Date.now().toString(36)}`;
const PREFIX = `native-${Date.now().toString(36)}`;
const NATIVE_RESULT = "native 6a77616172766674"; // "kubestep" masked with 01 02 03 04 by the addon

describe("native addons in a dependency layer, on the real cluster with the S3 datastore", function () {
  this.timeout(300_000);
  const cwd = scratch();
  let bucket = "";
  let root = "";
  let s3: S3Client;
  const env = () => ({
    KUBESTEP_KUBERNETES_NAMESPACE: NS,
    KUBESTEP_KUBERNETES_CONTAINER_IMAGE: `localhost/node:${process.versions.node.split(".")[0]}-local`,
    KUBESTEP_KUBERNETES_IMAGE_PULL_POLICY: "IfNotPresent",
    KUBESTEP_DEFAULT_DATASTORE: "s3",
    KUBESTEP_DATASTORE_SYSROOT_S3: `s3://${bucket}/${root}`,
    KUBESTEP_KUBERNETES_PENDING_TIMEOUT: "30s",
  });
  const run = (flow: string): Promise<CliResult> => kubestep(["run", "--flow", flow, FLOW], { cwd, env: env() });
  const dataObjects = async () => {
    const r = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: `${root}/NativeAddonFlow/data/` }));
    return (r.Contents ?? []).map((o) => o.Key!);
  };

  before(() => {
    execFileSync("bash", [join(ROOT, "test", "tooling", "native", "setup.sh")], { stdio: "inherit" });
    assert.ok(existsSync(join(FIXTURE, "node_modules", "bufferutil", "prebuilds", "linux-x64", "bufferutil.node")));
    required("KUBECONFIG");
    const sysroot = required("KUBESTEP_DATASTORE_SYSROOT_S3");
    const m = /^s3:\/\/([^/]+)\/?(.*)$/.exec(sysroot)!;
    bucket = m[1]!;
    root = [m[2], PREFIX].filter(Boolean).join("/");
    s3 = new S3Client({
      endpoint: required("KUBESTEP_S3_ENDPOINT_URL"),
      region: process.env.AWS_REGION ?? "us-east-1",
      forcePathStyle: true,
    });
    createS3Namespace(NS);
  });
  after(async () => {
    try {
      kubectl("delete", "namespace", NS, "--wait=false");
    } catch {
      /* best effort */
    }
    const listed = await s3
      .send(new ListObjectsV2Command({ Bucket: bucket, Prefix: `${root}/` }))
      .catch(() => undefined);
    const keys = (listed?.Contents ?? []).map((o) => ({ Key: o.Key! }));
    if (keys.length) await s3.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: keys } }));
  });

  let layerKey = "";
  let layerSha = "";

  it("runs a @kubernetes step that loads the native addon from the uploaded dependency layer", async () => {
    const r = await run("NativeAddonFlow");
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.match(
      r.stderr,
      /native addons left out of the code package \(esbuild cannot bundle them\), packed into its dependency layer: bufferutil \(loads its binary with node-gyp-build\)/,
    );
    const up =
      /uploading the dependency layer ([0-9a-f]{12}) \(2 packages, [\d.]+ MB, native addons for linux-x64-glibc-abi\d+\)/.exec(
        r.stderr,
      );
    assert.ok(up, r.stderr);
    // Locally from node_modules, in the pod from the extracted layer beside the code package.
    assert.match(
      r.stdout,
      new RegExp(`local: ${NATIVE_RESULT} ${FIXTURE}/node_modules/bufferutil/prebuilds/linux-x64/bufferutil\\.node`),
    );
    const pod = new RegExp(
      `pod: ${NATIVE_RESULT} /tmp/kubestep-code/deps-([0-9a-f]{64})/node_modules/bufferutil/prebuilds/linux-x64/bufferutil\\.node`,
    ).exec(r.stdout);
    assert.ok(pod, r.stdout);
    layerSha = pod[1]!;
    assert.equal(layerSha.slice(0, 12), up[1]);
    // Stored content-addressed in the flow's data area (beside the run's artifacts).
    layerKey = `${root}/NativeAddonFlow/data/${layerSha.slice(0, 2)}/${layerSha}`;
    assert.ok((await dataObjects()).includes(layerKey));
  });

  it("a second run finds the layer by its content and does not upload it again", async () => {
    const before = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: layerKey }));
    await new Promise((s) => setTimeout(s, 1100)); // a new upload would get a later LastModified
    const r = await run("NativeAddonFlow");
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.doesNotMatch(r.stderr, /uploading the dependency layer/);
    assert.match(r.stderr, new RegExp(`the dependency layer ${layerSha.slice(0, 12)} \\(.*\\) is already in s3://`));
    assert.match(r.stdout, new RegExp(`pod: ${NATIVE_RESULT} /tmp/kubestep-code/deps-${layerSha}/`));
    const after = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: layerKey }));
    assert.equal(after.LastModified?.getTime(), before.LastModified?.getTime());
    assert.equal(after.ETag, before.ETag);
    assert.ok((await dataObjects()).includes(layerKey));
  });

  it("kubestep deploy ships the layer: the orchestrator pod installs it before importing the flow, every step pod gets it", async () => {
    // The orchestrator's ServiceAccount, Role and RoleBinding exactly as the component builds them.
    const o = orchestratorObjects({ namespace: NS });
    execFileSync("kubectl", ["apply", "-f", "-"], {
      input: JSON.stringify({ apiVersion: "v1", kind: "List", items: [o.serviceAccount, o.role, o.roleBinding] }),
      stdio: ["pipe", "pipe", "pipe"],
    });
    const denv = { ...env(), KUBESTEP_KUBERNETES_SECRETS: "kubestep-s3", KUBESTEP_KUBERNETES_MEMORY: "256" };
    const d = await kubestep(["deploy", FLOW, "--flow", "NativeAddonFlow"], { cwd, env: denv });
    assert.equal(d.code, 0, d.stderr + d.stdout);
    // Found by its content: the layer the runs above uploaded.
    assert.match(d.stderr, new RegExp(`the dependency layer ${layerSha.slice(0, 12)} \\(.*\\) is already in s3://`));
    const runId = `deployed-${Date.now().toString(36)}`;
    const t = await kubestep(["trigger", "NativeAddonFlow", "--run-id", runId, "--wait"], { cwd, env: denv });
    assert.equal(t.code, 0, t.stderr + t.stdout);
    assert.match(t.stderr, new RegExp(`run NativeAddonFlow/${runId} succeeded`));
    // Every step ran in a pod (start too) and loaded the binary from the layer extracted beside the code package.
    const logs = await kubestep(["logs", `NativeAddonFlow/${runId}/end`], { cwd, env: denv });
    assert.equal(logs.code, 0, logs.stderr);
    for (const which of ["local", "pod"])
      assert.match(
        logs.stdout,
        new RegExp(`${which}: ${NATIVE_RESULT} /tmp/kubestep-code/deps-${layerSha}/node_modules/bufferutil/`),
      );
    const del = await kubestep(["deploy", FLOW, "--flow", "NativeAddonFlow", "--delete"], { cwd, env: denv });
    assert.equal(del.code, 0, del.stderr + del.stdout);
  });

  it("a pod refuses a tampered layer, naming it and both hashes", async () => {
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: layerKey, Body: Buffer.from("not the layer") }));
    const r = await run("NativeAddonFlow");
    assert.equal(r.code, 1, r.stderr + r.stdout);
    assert.match(
      r.stdout + r.stderr,
      new RegExp(
        `dependency layer ${layerSha} \\(bufferutil\\) hash mismatch: expected ${layerSha}, got [0-9a-f]{64}; the object in the datastore was changed or damaged`,
      ),
    );
  });

  it("a local run of the flows loads the addon from node_modules (a declared pure-JavaScript external too)", async () => {
    const r = await kubestep(["run", "--flow", "NativeAddonLocalFlow", FLOW], { cwd });
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.match(
      r.stdout,
      new RegExp(`local: ${NATIVE_RESULT} ${FIXTURE}/node_modules/bufferutil/prebuilds/linux-x64/bufferutil\\.node`),
    );
  });
});
