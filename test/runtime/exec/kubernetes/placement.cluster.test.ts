/**
 * Where a @kubernetes task ran, recorded on the REAL local cluster with a REAL S3 server as the datastore: each
 * attempt's metadata names its Job, pod and node (checked against the pods the cluster ran), `kubestep dump`
 * prints them, the `kubestep ui` API returns them and the task page and timeline tooltip show them (Chromium).
 */
import { strict as assert } from "node:assert";
import { join } from "node:path";
import { FLOWS, kubestep, runIdOf, scratch } from "../../../helpers/cli.js";
import { openStorage } from "../../../../runtime/datastore/open.js";
import { FlowDatastore } from "../../../../runtime/datastore/flowstore.js";
import { UiApi } from "../../../../runtime/ui/api.js";
import { startUiServer } from "../../../../runtime/ui/server.js";
import { buildUi } from "../../../../runtime/ui/app/build.mjs";
import { launchChromium, pageProblems, screenshot } from "../../../helpers/browser.js";
import { createS3Namespace, required, kubectl } from "../../../helpers/cluster-namespace.js";

const NS = `ks-place-${Date.now().toString(36)}`;
const NODE = process.env.LOCAL_CLUSTER_NODE ?? "local-node";

describe("Kubernetes placement of attempts on the real cluster", function () {
  this.timeout(300_000);
  const cwd = scratch();
  const env = () => ({
    KUBESTEP_KUBERNETES_NAMESPACE: NS,
    KUBESTEP_KUBERNETES_CONTAINER_IMAGE: `localhost/node:${process.versions.node.split(".")[0]}-local`,
    KUBESTEP_KUBERNETES_IMAGE_PULL_POLICY: "IfNotPresent",
    KUBESTEP_DEFAULT_DATASTORE: "s3",
  });

  before(() => {
    createS3Namespace(NS);
  });
  after(() => {
    try {
      kubectl("delete", "namespace", NS, "--wait=false");
    } catch {
      /* best effort */
    }
  });

  it("records the Job, pod and node of every @kubernetes attempt; dump and the UI API show them", async () => {
    const r = await kubestep(["run", join(FLOWS, "k8s", "mixed.ts")], { cwd, env: env() });
    assert.equal(r.code, 0, r.stderr + r.stdout);
    const id = runIdOf(r);
    // The pods the cluster ran for this run (finished Jobs keep their pods until their TTL).
    const pods = JSON.parse(kubectl("get", "pods", "-n", NS, "-l", `kubestep.io/run=${id}`, "-o", "json")) as {
      items: Array<{ metadata: { name: string; labels: Record<string, string> }; spec: { nodeName: string } }>;
    };
    const byPod = new Map(pods.items.map((p) => [p.metadata.name, p]));
    assert.equal(byPod.size, 4, "3 fan pods and 1 join pod");
    const ds = new FlowDatastore(await openStorage("s3", required("KUBESTEP_DATASTORE_SYSROOT_S3")), "MixedFlow");
    const api = new UiApi(ds.storage);
    const seen = new Set<string>();
    for (const step of ["fan", "join"])
      for (const taskId of await ds.listTasks(id, step)) {
        const meta = (await ds.readTask(id, step, taskId))!;
        const p = meta.attempts[0]!.placement;
        assert.ok(p, `${step}/${taskId} has its placement recorded`);
        const pod = byPod.get(p.pod);
        assert.ok(pod, `${step}/${taskId}: pod ${p.pod} is one the cluster ran`);
        assert.equal(p.namespace, NS);
        assert.equal(p.job, pod.metadata.labels["job-name"]);
        assert.equal(p.node, pod.spec.nodeName);
        assert.equal(p.node, NODE);
        assert.equal(meta.attempts[0]!.executor, `kubernetes job ${NS}/${p.job}`);
        seen.add(p.pod);
        const t = (await api.task("MixedFlow", id, step, taskId)).task;
        assert.deepEqual(t.placement, p);
        assert.deepEqual(t.attempts[0]!.placement, p);
        const dump = await kubestep(["dump", `MixedFlow/${id}/${step}/${taskId}`], { cwd, env: env() });
        assert.equal(dump.code, 0, dump.stderr);
        assert.match(
          dump.stdout,
          new RegExp(`^# attempt 0 succeeded: Kubernetes Job ${NS}/${p.job}, pod ${p.pod}, node ${NODE}$`, "m"),
        );
      }
    assert.equal(seen.size, 4);
    // Local steps ran as processes: no placement.
    const start = (await ds.readTask(id, "start", "1"))!;
    assert.equal(start.attempts[0]!.placement, undefined);
    // The UI shows them: the task page and the timeline's tooltip.
    await buildUi();
    const ui = await startUiServer({ storage: ds.storage, port: 0 });
    const browser = await launchChromium();
    try {
      const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
      const problems = pageProblems(page);
      const joinId = (await ds.listTasks(id, "join"))[0]!;
      const p = (await ds.readTask(id, "join", joinId))!.attempts[0]!.placement!;
      await page.goto(`${ui.url}/flows/MixedFlow/runs/${id}/steps/join/tasks/${joinId}`);
      await page.waitForSelector(".placement [data-pod]");
      assert.equal(await page.locator(".placement [data-pod]").textContent(), p.pod);
      assert.equal(await page.locator(".placement [data-node]").textContent(), NODE);
      assert.match((await page.locator(".placement").textContent()) ?? "", new RegExp(`Job ${NS}/${p.job}`));
      assert.match(await page.locator("table.attempts").innerText(), new RegExp(`pod ${p.pod} on node ${NODE}`));
      await screenshot(page, "k8s-task-placement");
      await page.goto(`${ui.url}/flows/MixedFlow/runs/${id}`);
      await page.waitForSelector(`.gantt-row[data-task="join/${joinId}"] .bar`);
      assert.match(
        (await page.locator(`.gantt-row[data-task="join/${joinId}"] .bar`).getAttribute("title")) ?? "",
        new RegExp(`pod ${NS}/${p.pod} on node ${NODE}`),
      );
      assert.deepEqual(problems, []);
    } finally {
      await browser.close();
      await ui.close();
    }
  });
});
