/**
 * Steps on images without Node.js, on the REAL local cluster with the REAL S3 server (versitygw) as the datastore
 * (issue 13): kubestep brings its own node (init container + sh wrapper) into a Debian image without node, the
 * artifacts round-trip through S3, the node image keeps its own node, and every failure is explained (no node and
 * no injection, a node image that cannot be pulled, an image without glibc).
 * The images come from test/tooling/cluster/build.sh (imported by up.sh).
 */
import { strict as assert } from "node:assert";
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { FLOWS, kubestep, runIdOf, scratch, type CliResult } from "../../helpers/cli.js";
import { INJECTED_NODE, NODE_INIT_CONTAINER } from "../../../runtime/kubernetes/node-injection.js";
import { resolveKubernetesConfig } from "../../../runtime/kubernetes/config.js";
import { buildJob } from "../../../runtime/kubernetes/jobspec.js";
import type { QosClass } from "../../../runtime/kubernetes/options.js";
import { createS3Namespace, required, kubectl } from "../../helpers/cluster-namespace.js";

const NS = `ks-anyimg-${Date.now().toString(36)}`;
const flow = join(FLOWS, "k8s", "anyimage.ts");
const NODE_IMAGE = `localhost/node:${process.versions.node.split(".")[0]}-local`;
const IMAGES = ["localhost/nonode:bookworm-local", "localhost/busybox:static-local", NODE_IMAGE];

const cwd = scratch();
const env = (): Record<string, string> => ({
  KUBESTEP_KUBERNETES_NAMESPACE: NS,
  KUBESTEP_KUBERNETES_CONTAINER_IMAGE: NODE_IMAGE,
  KUBESTEP_KUBERNETES_IMAGE_PULL_POLICY: "IfNotPresent",
  KUBESTEP_DEFAULT_DATASTORE: "s3",
  KUBESTEP_KUBERNETES_PENDING_TIMEOUT: "8s",
  KUBESTEP_KUBERNETES_IMAGE_PULL_GRACE: "5s",
});
const run = (flowName: string): Promise<CliResult> => kubestep(["run", flow, "--flow", flowName], { cwd, env: env() });

interface PodLike {
  metadata: { name: string };
  status: { phase: string };
}
interface PodSpecLike {
  initContainers?: { name: string; image: string }[];
  containers: { command: string[]; volumeMounts?: { mountPath: string; readOnly?: boolean }[] }[];
}
function jobPodSpec(step: string): PodSpecLike {
  const jobs = JSON.parse(kubectl("get", "jobs", "-n", NS, "-l", `kubestep.io/step=${step}`, "-o", "json")).items;
  assert.equal(jobs.length, 1, `one Job for step ${step}`);
  return jobs[0].spec.template.spec;
}

describe("steps on images without Node.js (real cluster, S3 datastore)", function () {
  this.timeout(300_000);

  before(() => {
    required("KUBECONFIG");
    required("KUBESTEP_DATASTORE_SYSROOT_S3");
    required("KUBESTEP_S3_ENDPOINT_URL");
    // The node's image store must hold the test images (built by build.sh, imported by up.sh).
    const nodeImages = JSON.parse(kubectl("get", "nodes", "-o", "json"))
      .items.flatMap((n: { status: { images?: { names: string[] }[] } }) => n.status.images ?? [])
      .flatMap((i: { names: string[] }) => i.names);
    for (const image of IMAGES)
      assert.ok(
        nodeImages.some(
          (n: string) =>
            n === image || n.endsWith(`/${image}`) || n.startsWith(`${image}@`) || n === `docker.io/${image}`,
        ),
        `image ${image} is not on the cluster's node: rebuild the cluster images (test/tooling/cluster/build.sh) and import them (up.sh, or ctr -n k8s.io images import)`,
      );
    createS3Namespace(NS);
  });
  after(() => {
    try {
      kubectl("delete", "namespace", NS, "--wait=false");
    } catch {
      /* best effort */
    }
  });

  it("runs a step on an image without node with the injected node, artifacts both ways through S3; node images keep their own node", async () => {
    const r = await run("AnyImageFlow");
    assert.equal(r.code, 0, r.stderr + r.stdout);
    // The step on the image without node ran with the copy; the others with the image's node.
    assert.match(r.stdout, new RegExp(`plain: ${INJECTED_NODE} pathNode=false v${process.versions.node} pod=true`));
    assert.match(r.stdout, new RegExp(`forced: /usr/local/bin/node pathNode=true v${process.versions.node} pod=true`));
    assert.match(r.stdout, new RegExp(`default: /usr/local/bin/node pathNode=true v${process.versions.node} pod=true`));
    // Artifacts written on the image without node reached the later steps and the local end.
    assert.match(r.stdout, /plainSum=10 blob=1048576:4/);
    const dump = await kubestep(["dump", `AnyImageFlow/${runIdOf(r)}/onPlainImage/2`], { cwd, env: env() });
    assert.equal(dump.code, 0, dump.stderr);
    assert.match(dump.stdout, /plainSum = 10/);

    // The Jobs: an init container from the node image only where injection is on.
    const plain = jobPodSpec("onPlainImage");
    assert.deepEqual(
      plain.initContainers?.map((c) => [c.name, c.image]),
      [[NODE_INIT_CONTAINER, NODE_IMAGE]],
    );
    assert.equal(plain.containers[0]!.command[0], "sh");
    assert.ok(plain.containers[0]!.volumeMounts?.some((m) => m.mountPath === "/kubestep/node" && m.readOnly));
    assert.equal(jobPodSpec("onNodeImageForced").initContainers?.length, 1);
    const dflt = jobPodSpec("onDefaultImage");
    assert.equal(dflt.initContainers, undefined);
    assert.equal(dflt.containers[0]!.command[0], "node");
  });

  it("the init container keeps the pod's QoS class (the apiserver's verdict on a dry-run pod)", () => {
    for (const qos of ["Guaranteed", "Burstable", "BestEffort"] as QosClass[]) {
      const config = resolveKubernetesConfig({
        step: "s",
        env: { KUBESTEP_KUBERNETES_NAMESPACE: NS, KUBESTEP_KUBERNETES_CONTAINER_IMAGE: NODE_IMAGE },
        decorator: { image: "localhost/nonode:bookworm-local", qos, cpu: 0.5, memory: 256 },
      });
      const job = buildJob(config, {
        flowName: "F",
        runId: "1",
        stepName: "s",
        taskId: "1",
        attempt: 0,
        user: "u",
        command: ["sh"],
        env: {},
      });
      const body = {
        apiVersion: "v1",
        kind: "Pod",
        metadata: { name: "qos", namespace: NS },
        spec: job.spec!.template.spec,
      };
      const out = JSON.parse(
        execFileSync("kubectl", ["create", "--dry-run=server", "-o", "json", "-f", "-"], {
          input: JSON.stringify(body),
          encoding: "utf8",
        }),
      );
      assert.equal(out.spec.initContainers.length, 1, qos);
      assert.equal(out.status.qosClass, qos);
    }
  });

  it("explains an image without node when injection is off (injectNode never)", async () => {
    const r = await run("NoNodeNoInjectFlow");
    assert.equal(r.code, 1, r.stderr + r.stdout);
    assert.match(r.stderr, /step bare failed: its container exited with code 128 \(StartError\)/);
    assert.match(r.stderr, /"node": executable file not found/);
    assert.match(
      r.stderr,
      /The image has no node on its PATH: let kubestep bring Node\.js into the pod \(@kubernetes injectNode/,
    );
  });

  it("explains a node image that cannot be pulled, naming nodeImage", async () => {
    const r = await run("BadNodeImageFlow");
    assert.equal(r.code, 1, r.stderr + r.stdout);
    assert.match(
      r.stderr,
      /step bare cannot start: pulling the image of the init container kubestep-node, which copies Node\.js from the node image localhost\/no-such-node-image:1 \(nodeImage\)/,
    );
    assert.match(r.stderr, /Check the image name and tag \(nodeImage= in @kubernetes/);
  });

  it("explains an image without glibc (static busybox, like Alpine): the injected node cannot run", async () => {
    const r = await run("NoGlibcFlow");
    assert.equal(r.code, 1, r.stderr + r.stdout);
    // From the wrapper's termination message, through explain().
    assert.match(
      r.stderr,
      /step bare failed: its container exited with code 70: the image has no Node\.js >= 20 on its PATH \(found: none\) and the Node\.js kubestep brought from the node image cannot run in it: .*not found/,
    );
    assert.match(r.stderr, /It needs glibc and libstdc\+\+ .*Alpine\/musl and distroless images do not/);
    // Nothing left running: the pod ends (phase Failed, or deleted) within seconds.
    const live = () =>
      (JSON.parse(kubectl("get", "pods", "-n", NS, "-o", "json")).items as PodLike[])
        .filter((p) => p.status.phase === "Running" || p.status.phase === "Pending")
        .map((p) => `${p.metadata.name} ${p.status.phase}`);
    for (let i = 0; i < 60 && live().length; i++) await new Promise((s) => setTimeout(s, 500));
    assert.deepEqual(live(), []);
  });
});
