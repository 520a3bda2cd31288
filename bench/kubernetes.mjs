#!/usr/bin/env node
// Kubernetes benchmarks (not a test), on the local cluster with the S3 server (versitygw) of test/tooling/servers/up.sh:
//   1. a trivial @kubernetes step, submit to artifacts saved, vs a bare `kubectl create job` of the same
//      image running `node -e` waited to completion: prints both and the ratio (target <= 1.5x);
//   2. the wall time of a 20-way @kubernetes foreach.
// Needs: KUBECONFIG (test/tooling/cluster/up.sh) and the S3 exports of test/tooling/servers/up.sh.
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const BIN = join(here, "..", "bin", "kubestep.mjs");
for (const v of ["KUBECONFIG", "KUBESTEP_DATASTORE_SYSROOT_S3", "KUBESTEP_S3_ENDPOINT_URL", "AWS_ACCESS_KEY_ID"]) {
  if (!process.env[v]) {
    console.error(
      `${v} is not set: start the cluster (test/tooling/cluster/up.sh) and the datastore servers (eval "$(bash test/tooling/servers/up.sh s3)") first`,
    );
    process.exit(2);
  }
}
const repeat = Number(process.argv[process.argv.indexOf("--repeat") + 1]) || 3;
const NS = `ks-bench-${Date.now().toString(36)}`;
const IMAGE = `localhost/node:${process.versions.node.split(".")[0]}-local`;
const kubectl = (...a) => execFileSync("kubectl", a, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
kubectl("create", "namespace", NS);
kubectl(
  "create",
  "secret",
  "generic",
  "kubestep-s3",
  "-n",
  NS,
  `--from-literal=AWS_ACCESS_KEY_ID=${process.env.AWS_ACCESS_KEY_ID}`,
  `--from-literal=AWS_SECRET_ACCESS_KEY=${process.env.AWS_SECRET_ACCESS_KEY}`,
);
const cwd = mkdtempSync(join(tmpdir(), "kubestep-kbench-"));
const env = {
  ...process.env,
  KUBESTEP_KUBERNETES_NAMESPACE: NS,
  KUBESTEP_KUBERNETES_CONTAINER_IMAGE: IMAGE,
  KUBESTEP_DEFAULT_DATASTORE: "s3",
  KUBESTEP_DATASTORE_SYSROOT_LOCAL: join(cwd, ".kubestep"),
};

function kubestepRun(flow) {
  const r = spawnSync(process.execPath, [BIN, "run", join(here, "flows", "k8s.ts"), "--flow", flow, "--quiet"], {
    cwd,
    env,
    encoding: "utf8",
  });
  if (r.status !== 0) {
    console.error(r.stderr);
    process.exit(1);
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

try {
  kubestepRun("TrivialK8sFlow"); // warm-up: uploads the code package once
  const ks = [],
    bare = [];
  for (let i = 0; i < repeat; i++) {
    const id = kubestepRun("TrivialK8sFlow");
    ks.push(stepSeconds("TrivialK8sFlow", id, "trivial"));
    bare.push(bareJob(i));
  }
  const best = (a) => Math.min(...a);
  console.log(`kubestep Kubernetes benchmarks (best of ${repeat}, namespace ${NS})`);
  console.log(
    `trivial @kubernetes step (submit -> artifacts saved): ${best(ks).toFixed(2)} s   [${ks.map((x) => x.toFixed(2)).join(", ")}]`,
  );
  console.log(
    `bare kubectl create job + wait (same image, node -e):   ${best(bare).toFixed(2)} s   [${bare.map((x) => x.toFixed(2)).join(", ")}]`,
  );
  const ratio = best(ks) / best(bare);
  console.log(`ratio: ${ratio.toFixed(2)}x (target <= 1.5x) ${ratio <= 1.5 ? "OK" : "MISSED"}`);
  const t0 = Date.now();
  kubestepRun("Foreach20K8sFlow");
  console.log(`20-way @kubernetes foreach, whole run: ${((Date.now() - t0) / 1000).toFixed(2)} s`);
} finally {
  kubectl("delete", "namespace", NS, "--wait=false");
}
