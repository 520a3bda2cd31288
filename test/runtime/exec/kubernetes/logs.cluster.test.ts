/**
 * Live pod logs against the REAL local cluster: prefixed lines, archive text, the last lines before an
 * OOM kill, and resumes that neither lose nor repeat lines. Needs KUBECONFIG (fails without it).
 */
import { strict as assert } from "node:assert";
import { Writable } from "node:stream";
import { followPodLogs, logPrefix } from "../../../../runtime/exec/kubernetes/logs.js";
import { RunWatch, type JobSnapshot } from "../../../../runtime/exec/kubernetes/watch.js";
import { createJob, setUpCluster, tearDownCluster, type ClusterEnv } from "./cluster.js";

class Sink extends Writable {
  text = "";
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: () => void): void {
    this.text += chunk.toString();
    cb();
  }
}

const podName = (s: JobSnapshot) => s.pods.at(-1)?.metadata?.name;

describe("pod logs on the real cluster", function () {
  this.timeout(240_000);
  let env: ClusterEnv;
  let watch: RunWatch;
  before(async () => {
    env = await setUpCluster("ks-logs");
    watch = await RunWatch.start({ kubeConfig: env.kc, namespace: env.namespace, labelSelector: env.labelSelector });
  });
  after(async () => {
    await watch?.close();
    await tearDownCluster(env);
  });

  it("streams every line live with the [run/step/task] prefix and collects them for the archive", async () => {
    await createJob(env, "talk", {
      command: [
        "node",
        "-e",
        "let i=0;const t=setInterval(()=>{console.log('line '+(++i));if(i===5){clearInterval(t);setTimeout(()=>console.error('to stderr'),300)}},300)",
      ],
    });
    const snap = await watch.waitFor("talk", (s) => !!podName(s), 60_000);
    const out = new Sink();
    const seenLive: string[] = [];
    const logs = await followPodLogs({
      kubeConfig: env.kc,
      namespace: env.namespace,
      pod: podName(snap)!,
      prefix: logPrefix("42", "talk", "7"),
      out,
      onLine: (l) => seenLive.push(l),
    });
    assert.equal(logs.end, "terminated");
    assert.equal(logs.text, "line 1\nline 2\nline 3\nline 4\nline 5\nto stderr\n");
    assert.equal(logs.lines, 6);
    assert.equal(
      out.text,
      ["line 1", "line 2", "line 3", "line 4", "line 5", "to stderr"].map((l) => `[42/talk/7] ${l}\n`).join(""),
    );
    assert.deepEqual(seenLive, ["line 1", "line 2", "line 3", "line 4", "line 5", "to stderr"]);
  });

  it("captures the last line printed before an OOM kill", async () => {
    const script = "const a=[];for(let i=1;;i++){a.push(Buffer.alloc(4<<20,1));console.log('allocated '+(i*4)+' MB')}";
    await createJob(env, "oom", {
      command: ["node", "-e", script],
      resources: { limits: { memory: "64Mi" }, requests: { memory: "64Mi" } },
    });
    const snap = await watch.waitFor("oom", (s) => !!podName(s), 60_000);
    const logs = await followPodLogs({
      kubeConfig: env.kc,
      namespace: env.namespace,
      pod: podName(snap)!,
      prefix: "[r/oom/1]",
    });
    const done = await watch.waitFor(
      "oom",
      (s) => !!s.pods.at(-1)?.status?.containerStatuses?.[0]?.state?.terminated,
      60_000,
    );
    assert.equal(done.pods.at(-1)!.status!.containerStatuses![0]!.state!.terminated!.reason, "OOMKilled");
    // What the kubelet kept is the truth: the collected log must end with the same last line.
    const full = await env.core.readNamespacedPodLog({ name: podName(snap)!, namespace: env.namespace });
    const lastKept = full.trim().split("\n").at(-1)!;
    assert.match(lastKept, /^allocated \d+ MB$/);
    assert.equal(logs.text.trim().split("\n").at(-1), lastKept);
    assert.equal(logs.text, full.endsWith("\n") ? full : `${full}\n`);
  });

  it("resumes a broken follow stream from the last timestamp without losing or repeating lines", async () => {
    await createJob(env, "long", {
      command: [
        "node",
        "-e",
        "let i=0;const t=setInterval(()=>{console.log('tick '+(++i));if(i===40)clearInterval(t)},150)",
      ],
    });
    const snap = await watch.waitFor(
      "long",
      (s) => !!s.pods.at(-1)?.status?.containerStatuses?.[0]?.state?.running,
      60_000,
    );
    const logs = await followPodLogs({
      kubeConfig: env.kc,
      namespace: env.namespace,
      pod: podName(snap)!,
      prefix: "[r/long/1]",
      maxFollowMs: 700,
    });
    assert.ok(logs.connections >= 3, `the follow stream was cut and resumed (${logs.connections} connections)`);
    assert.equal(logs.text, Array.from({ length: 40 }, (_, i) => `tick ${i + 1}\n`).join(""));
  });

  it("waits for a container that has not started yet, and stops when aborted", async () => {
    await createJob(env, "never", { image: "does-not-exist", command: ["node", "-e", "0"] });
    const snap = await watch.waitFor("never", (s) => !!podName(s), 60_000);
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 3000);
    const t0 = Date.now();
    const logs = await followPodLogs({
      kubeConfig: env.kc,
      namespace: env.namespace,
      pod: podName(snap)!,
      prefix: "[r/never/1]",
      signal: ac.signal,
    });
    assert.equal(logs.end, "aborted");
    assert.equal(logs.lines, 0);
    assert.ok(Date.now() - t0 >= 2900);
  });

  it("returns pod-gone for a pod that does not exist", async () => {
    const logs = await followPodLogs({
      kubeConfig: env.kc,
      namespace: env.namespace,
      pod: "no-such-pod",
      prefix: "[x]",
    });
    assert.equal(logs.end, "pod-gone");
  });
});
