#!/usr/bin/env node
// What bringing Node.js into a pod costs (issue 13; not a test), on the local cluster: Jobs built by the runtime's
// own buildJob, created and waited to completion (kubectl create + kubectl wait), alternating run by run:
//   a. the node image, plain `node` (no init container): the peer;
//   b. the node image with injectNode "always": init container + sh wrapper, the image's own node;
//   c. the image without node (localhost/nonode:bookworm-local): init container + sh wrapper, the copied node.
// Prints the median of each and the extra time of b and c over a (absolute and as a ratio).
// Needs: KUBECONFIG (test/tooling/cluster/up.sh), the images of test/tooling/cluster/build.sh, `npm run build`.
//   node bench/node-injection.mjs [--repeat 5]
import { execFileSync } from "node:child_process";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const dist = (p) => import(join(here, "..", "dist", "runtime", p));
const { resolveKubernetesConfig } = await dist("kubernetes/config.js");
const { buildJob } = await dist("kubernetes/jobspec.js");
const { NODE_CHOOSER } = await dist("code/bootstrap.js");
const { INJECTED_NODE } = await dist("kubernetes/node-injection.js");

if (!process.env.KUBECONFIG) {
  console.error("KUBECONFIG is not set: start the cluster first (test/tooling/cluster/up.sh)");
  process.exit(2);
}
const repeat = Number(process.argv[process.argv.indexOf("--repeat") + 1]) || 5;
const NS = `ks-bench-inject-${Date.now().toString(36)}`;
const NODE_IMAGE = `localhost/node:${process.versions.node.split(".")[0]}-local`;
const kubectl = (args, input) =>
  execFileSync("kubectl", args, { encoding: "utf8", input, stdio: [input ? "pipe" : "ignore", "pipe", "pipe"] });

const SCRIPT = "0"; // the task: nothing, so only the start of the pod is measured
const cases = {
  "a. node image, plain node": { deco: { image: NODE_IMAGE }, command: ["node", "--input-type=module", "-e", SCRIPT] },
  "b. node image, injected": {
    deco: { image: NODE_IMAGE, injectNode: "always" },
    command: ["sh", "-c", NODE_CHOOSER, "kubestep-bootstrap", INJECTED_NODE, SCRIPT],
  },
  "c. image without node, injected": {
    deco: { image: "localhost/nonode:bookworm-local" },
    command: ["sh", "-c", NODE_CHOOSER, "kubestep-bootstrap", INJECTED_NODE, SCRIPT],
  },
};

function once(name, i) {
  const { deco, command } = cases[name];
  const config = resolveKubernetesConfig({
    step: "bench",
    env: { KUBESTEP_KUBERNETES_CONTAINER_IMAGE: NODE_IMAGE, KUBESTEP_KUBERNETES_NAMESPACE: NS },
    decorator: { cpu: 0.1, memory: 200, disk: 300, ...deco },
  });
  const jobName = `${name[0]}-${i}`;
  const job = buildJob(config, {
    flowName: "Bench",
    runId: "1",
    stepName: "bench",
    taskId: String(i),
    attempt: 0,
    user: "bench",
    command,
    env: {},
    jobName,
  });
  if (!!job.spec.template.spec.initContainers !== (name[0] !== "a")) throw new Error(`${name}: wrong injection`);
  const t0 = Date.now();
  kubectl(["create", "-f", "-"], JSON.stringify(job));
  kubectl(["wait", "-n", NS, `job/${jobName}`, "--for=condition=complete", "--timeout=120s"]);
  return (Date.now() - t0) / 1000;
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
kubectl(["create", "namespace", NS]);
try {
  for (let i = 0; i < 60; i++) {
    try {
      kubectl(["get", "serviceaccount", "default", "-n", NS]);
      break;
    } catch {
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  const names = Object.keys(cases);
  for (const n of names) once(n, 99); // warm-up: the first container of each image
  const times = Object.fromEntries(names.map((n) => [n, []]));
  for (let i = 0; i < repeat; i++) for (const n of names) times[n].push(once(n, i));
  const base = median(times[names[0]]);
  console.log(`pod start to Job complete, median of ${repeat} (namespace ${NS}):`);
  for (const n of names) {
    const m = median(times[n]);
    const extra = n === names[0] ? "" : `   +${(m - base).toFixed(2)} s, ${(m / base).toFixed(2)}x`;
    console.log(`  ${n.padEnd(34)} ${m.toFixed(2)} s${extra}   [${times[n].map((x) => x.toFixed(2)).join(", ")}]`);
  }
} finally {
  kubectl(["delete", "namespace", NS, "--wait=false"]);
}
