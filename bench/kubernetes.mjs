#!/usr/bin/env node
// Kubernetes benchmarks (not a test), on the local cluster with the S3 server (versitygw) of test/tooling/servers/up.sh:
//   1. a trivial @kubernetes step, submit to artifacts saved, vs a bare `kubectl create job` of the same
//      image running `node -e` waited to completion;
//   2. an N-way @kubernetes foreach (N = 20 and 50; --sizes 20,50), the whole `kubestep run`, vs N bare Jobs of the
//      same image created at once (one `kubectl apply`) and waited to completion.
// Medians of --repeat runs (default 5), the two alternating run by run; the ratios are median / median, checked
// against issue 16's goal (<= 1.1x). The cluster may be shared: the figures are indicative.
// Needs: KUBECONFIG (test/tooling/cluster/up.sh) and the S3 exports of test/tooling/servers/up.sh.
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
// The tests' one namespace set-up (run with `node --import tsx`, as `npm run bench:kubernetes` does).
import {
  createS3Namespace,
  deleteNamespace,
  kubectl,
  namespaceName,
  NODE_IMAGE,
} from "../test/helpers/cluster-namespace.ts";

const here = dirname(fileURLToPath(import.meta.url));
const BIN = join(here, "..", "bin", "kubestep.mjs");
const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1] : dflt;
};
const repeat = Number(arg("repeat", "5")) || 5;
const sizes = arg("sizes", "20,50").split(",").map(Number);
const NS = namespaceName("ks-bench");
const IMAGE = NODE_IMAGE;
createS3Namespace(NS); // fails saying what to start when the cluster or the S3 server is missing
const cwd = mkdtempSync(join(tmpdir(), "kubestep-kbench-"));
const env = {
  ...process.env,
  KUBESTEP_KUBERNETES_NAMESPACE: NS,
  KUBESTEP_KUBERNETES_CONTAINER_IMAGE: IMAGE,
  KUBESTEP_DEFAULT_DATASTORE: "s3",
  KUBESTEP_DATASTORE_SYSROOT_LOCAL: join(cwd, ".kubestep"),
};

function kubestepRun(flow, extraEnv = {}) {
  const r = spawnSync(process.execPath, [BIN, "run", join(here, "flows", "k8s.ts"), "--flow", flow, "--quiet"], {
    cwd,
    env: { ...env, ...extraEnv },
    encoding: "utf8",
  });
  if (r.status !== 0) {
    console.error(r.stderr);
    process.exitCode = 1;
    throw new Error(`kubestep run --flow ${flow} exited ${r.status}`); // the finally below deletes the namespace
  }
  return /run (\S+) \(datastore/.exec(r.stderr)[1];
}
function stepSeconds(flow, runId, step) {
  const r = spawnSync(
    process.execPath,
    [
      "--input-type=module",
      "-e",
      `
    const { openStorage } = await import(${JSON.stringify(join(here, "..", "dist/runtime/datastore/open.js"))});
    const { FlowDatastore } = await import(${JSON.stringify(join(here, "..", "dist/runtime/datastore/flowstore.js"))});
    const ds = new FlowDatastore(await openStorage("s3", process.env.KUBESTEP_DATASTORE_SYSROOT_S3), ${JSON.stringify(flow)});
    const ids = await ds.listTasks(${JSON.stringify(runId)}, ${JSON.stringify(step)});
    const t = await ds.readTask(${JSON.stringify(runId)}, ${JSON.stringify(step)}, ids[0]);
    const a = t.attempts[0];
    console.log((Date.parse(a.finishedAt) - Date.parse(a.startedAt)) / 1000);`,
    ],
    { env, encoding: "utf8" },
  );
  return Number(r.stdout.trim());
}
function bareJob(i) {
  const name = `bare-${i}`;
  const t0 = Date.now();
  kubectl("create", "job", name, "-n", NS, `--image=${IMAGE}`, "--", "node", "-e", "console.log(1)");
  kubectl("wait", "-n", NS, `job/${name}`, "--for=condition=complete", "--timeout=120s");
  return (Date.now() - t0) / 1000;
}

/** N bare Jobs created at once (one apply) and waited to completion; seconds. */
function bareJobs(n, tag) {
  const items = Array.from({ length: n }, (_, i) => ({
    apiVersion: "batch/v1",
    kind: "Job",
    metadata: { name: `bare-${tag}-${i}`, labels: { bench: tag } },
    spec: {
      backoffLimit: 0,
      template: {
        spec: {
          restartPolicy: "Never",
          containers: [{ name: "main", image: IMAGE, command: ["node", "-e", "console.log(1)"] }],
        },
      },
    },
  }));
  const t0 = Date.now();
  execFileSync("kubectl", ["apply", "-n", NS, "-f", "-"], {
    input: JSON.stringify({ apiVersion: "v1", kind: "List", items }),
    stdio: ["pipe", "ignore", "pipe"],
  });
  kubectl("wait", "-n", NS, "job", "-l", `bench=${tag}`, "--for=condition=complete", "--timeout=600s");
  const secs = (Date.now() - t0) / 1000;
  kubectl("delete", "job", "-n", NS, "-l", `bench=${tag}`, "--wait=false");
  return secs;
}
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const fmt = (xs) => xs.map((x) => x.toFixed(2)).join(" ");

try {
  kubestepRun("TrivialK8sFlow"); // warm-up: uploads the code package once
  const ks = [],
    bare = [];
  for (let i = 0; i < repeat; i++) {
    if (i % 2) bare.push(bareJob(i));
    const id = kubestepRun("TrivialK8sFlow");
    ks.push(stepSeconds("TrivialK8sFlow", id, "trivial"));
    if (!(i % 2)) bare.push(bareJob(i));
  }
  console.log(
    `kubestep Kubernetes benchmarks (medians of ${repeat}, alternating; namespace ${NS}; load ${execFileSync("cat", ["/proc/loadavg"], { encoding: "utf8" }).split(" ").slice(0, 3).join(" ")})`,
  );
  console.log(`trivial @kubernetes step (submit -> artifacts saved): ${median(ks).toFixed(2)} s   [${fmt(ks)}]`);
  console.log(`bare kubectl create job + wait (same image, node -e):   ${median(bare).toFixed(2)} s   [${fmt(bare)}]`);
  const ratio = median(ks) / median(bare);
  console.log(`ratio: ${ratio.toFixed(2)}x (goal <= 1.1x: ${ratio <= 1.1 ? "met" : "MISSED"})`);
  for (const n of sizes) {
    kubestepRun("ForeachK8sFlow", { BENCH_N: String(n) }); // warm-up
    const k = [],
      b = [];
    for (let i = 0; i < repeat; i++) {
      if (i % 2) b.push(bareJobs(n, `n${n}-${i}`));
      const t0 = Date.now();
      kubestepRun("ForeachK8sFlow", { BENCH_N: String(n) });
      k.push((Date.now() - t0) / 1000);
      if (!(i % 2)) b.push(bareJobs(n, `n${n}-${i}`));
    }
    const r = median(k) / median(b);
    console.log(`${n}-way @kubernetes foreach, whole kubestep run: ${median(k).toFixed(2)} s   [${fmt(k)}]`);
    console.log(`${n} bare Jobs created at once + wait:              ${median(b).toFixed(2)} s   [${fmt(b)}]`);
    console.log(`ratio: ${r.toFixed(2)}x (goal <= 1.1x: ${r <= 1.1 ? "met" : "MISSED"})`);
  }
} finally {
  deleteNamespace(NS);
}
