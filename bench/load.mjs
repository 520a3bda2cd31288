#!/usr/bin/env node
// Load figures (not a test; issue 17): the CLI's memory and time under wide foreach runs.
//   --local 1000,5000,10000   a local N-way foreach (test/fixtures/flows/k8s/load.ts, WideLocalFlow) per width, on a
//                             fresh local datastore: wall time, the CLI's peak RSS and the whole tree's peak RSS
//                             (sampled from /proc every 100 ms), and the CLI's RSS growth per task between widths;
//   --kubernetes 500          the N-way @kubernetes foreach (WideKubernetesFlow, tiny Jobs) with --max-workers
//                             (default 50) on the local cluster with the S3 server: wall time, the CLI's peak RSS,
//                             the most Jobs active at once (sampled), and whether any Job or pod is left 5 minutes
//                             after the run (a 20 s ttlSecondsAfterFinished).
// Run: npm run bench:load -- --local 1000,5000,10000 | --kubernetes 500. The cluster case needs KUBECONFIG and the
// S3 exports of test/tooling/servers/up.sh. Figures are from one run per
// width (a 10,000-task run takes minutes); the load test (test/runtime/exec/kubernetes/load.cluster.test.ts)
// asserts the behaviour.
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
// The tests' one namespace set-up (run with `node --import tsx`, as `npm run bench:load` does).
import {
  createS3Namespace,
  deleteNamespace,
  kubectl,
  kubernetesRunEnv,
  namespaceName,
} from "../test/helpers/cluster-namespace.ts";

const here = dirname(fileURLToPath(import.meta.url));
const BIN = join(here, "..", "bin", "kubestep.mjs");
const FLOW = join(here, "..", "test", "fixtures", "flows", "k8s", "load.ts");
const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1] : dflt;
};
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const rssKb = (pid) => {
  try {
    return Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? 0);
  } catch {
    return 0;
  }
};
/** The pids of `root`'s process tree (from /proc's parent links). */
function tree(root) {
  const parent = new Map();
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, "utf8");
      parent.set(Number(d), Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]));
    } catch {
      /* gone */
    }
  }
  const out = [root];
  for (let i = 0; i < out.length; i++) for (const [p, pp] of parent) if (pp === out[i]) out.push(p);
  return out;
}

/** Runs the CLI, sampling its own and its tree's RSS; `onPoll` is called every 20 samples. */
async function measured(args, env, onPoll = () => {}) {
  const started = Date.now();
  const child = spawn(process.execPath, [BIN, ...args], { env, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  child.stdout.on("data", (c) => (out += c));
  child.stderr.on("data", (c) => (out += c));
  let exited = false;
  const closed = new Promise((res) => child.on("close", (code) => ((exited = true), res(code))));
  let cli = 0;
  let treeKb = 0;
  for (let n = 0; !exited; n++) {
    cli = Math.max(cli, rssKb(child.pid));
    if (n % 5 === 0)
      treeKb = Math.max(
        treeKb,
        tree(child.pid).reduce((s, p) => s + rssKb(p), 0),
      );
    if (n % 20 === 0) onPoll();
    await sleep(100);
  }
  const code = await closed;
  if (code !== 0) throw new Error(`kubestep ${args.join(" ")} exited ${code}:\n${out.slice(-3000)}`);
  return { seconds: (Date.now() - started) / 1000, cliMb: cli / 1024, treeMb: treeKb / 1024, out };
}

const local = arg("local", process.argv.includes("--kubernetes") ? "" : "1000,5000,10000");
if (local) {
  console.log("local N-way foreach (WideLocalFlow), one run per width:");
  console.log("  width   wall s   tasks/s   CLI peak RSS MB   tree peak RSS MB");
  const rows = [];
  for (const width of local.split(",").map(Number)) {
    const cwd = mkdtempSync(join(tmpdir(), "kubestep-load-"));
    const env = { ...process.env, KUBESTEP_DATASTORE_SYSROOT_LOCAL: join(cwd, ".kubestep") };
    const args = ["run", FLOW, "--flow", "WideLocalFlow", "--width", `${width}`, "--max-num-splits", `${width}`];
    const r = await measured([...args, "--quiet"], env);
    rows.push({ width, ...r });
    console.log(
      `  ${String(width).padStart(5)}   ${r.seconds.toFixed(1).padStart(6)}   ${(width / r.seconds).toFixed(0).padStart(7)}   ${r.cliMb.toFixed(0).padStart(15)}   ${r.treeMb.toFixed(0).padStart(16)}`,
    );
  }
  if (rows.length > 1) {
    const [a, b] = [rows[0], rows.at(-1)];
    console.log(
      `  CLI RSS growth from ${a.width} to ${b.width} tasks: ${(((b.cliMb - a.cliMb) * 1024) / (b.width - a.width)).toFixed(2)} KB per task`,
    );
  }
}

const width = Number(arg("kubernetes", "0"));
if (width) {
  const maxWorkers = Number(arg("max-workers", "50"));
  const NS = namespaceName("ks-load");
  createS3Namespace(NS); // fails saying what to start when the cluster or the S3 server is missing
  try {
    const cwd = mkdtempSync(join(tmpdir(), "kubestep-load-"));
    const run = `load-${Date.now().toString(36)}`;
    const env = {
      ...process.env,
      ...kubernetesRunEnv(NS, { KUBESTEP_KUBERNETES_JOB_TTL_SECONDS_AFTER_FINISHED: "20" }),
      KUBESTEP_DATASTORE_SYSROOT_LOCAL: join(cwd, ".kubestep"),
    };
    let peakActive = 0;
    const active = () =>
      JSON.parse(kubectl("get", "jobs", "-n", NS, "-l", `kubestep.io/run=${run}`, "-o", "json")).items.filter(
        (j) => (j.status?.active ?? 0) > 0,
      ).length;
    const r = await measured(
      [
        ...["run", FLOW, "--flow", "WideKubernetesFlow", "--run-id", run, "--quiet"],
        ...["--width", `${width}`, "--max-num-splits", `${width}`, "--max-workers", `${maxWorkers}`],
      ],
      env,
      () => (peakActive = Math.max(peakActive, active())),
    );
    let leftAfter = -1;
    for (const until = Date.now() + 300_000; Date.now() < until; await sleep(5000)) {
      leftAfter = kubectl("get", "jobs,pods", "-n", NS, "-o", "name").trim().split("\n").filter(Boolean).length;
      if (!leftAfter) break;
    }
    console.log(`${width}-way @kubernetes foreach (WideKubernetesFlow), --max-workers ${maxWorkers}:`);
    console.log(
      `  wall ${r.seconds.toFixed(0)} s (${(width / r.seconds).toFixed(1)} tasks/s), CLI peak RSS ${r.cliMb.toFixed(0)} MB, most Jobs active at once (sampled every 2 s) ${peakActive}, Jobs and pods left 5 min after: ${leftAfter}`,
    );
  } finally {
    deleteNamespace(NS);
  }
}
