#!/usr/bin/env node --expose-gc
// The orchestrator's own cost (not a test): a foreach of N tasks run by the real orchestrator over the real local
// datastore with an executor that does no work (it stores the result a task would store and returns), so what is
// measured is the orchestrator: scheduling, task metadata, logs, result reads. Prints the curve for N = 1k, 5k, 10k:
// CPU of this process per task (the no-work executor's result write included), and memory per task (heap retained
// after the run, peak heap growth during it, and peak RSS growth, which adds allocator and GC slack); then how
// long the client API takes to list and load a 2,000-task run's metadata. Medians over --reps runs (default 3).
//
//   npm run bench:orchestrator            # node --expose-gc bench/orchestrator.mjs
//   npm run bench:orchestrator -- --sizes 1000,5000,10000 --reps 3
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const dist = (p) => new URL(`../dist/runtime/${p}`, import.meta.url).href;
const { loadFlow } = await import(dist("code/load.js"));
const { Orchestrator } = await import(dist("exec/orchestrator.js"));
const { LocalStorage } = await import(dist("datastore/local.js"));
const { FlowDatastore } = await import(dist("datastore/flowstore.js"));
const { Flow } = await import(dist("client/index.js"));

const argv = process.argv.slice(2);
const value = (name, dflt) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 && argv[i + 1] ? argv[i + 1] : dflt;
};
const sizes = value("sizes", "1000,5000,10000").split(",").map(Number);
const reps = Number(value("reps", "3"));
const clientTasks = Number(value("client-tasks", "2000"));
const gc = globalThis.gc ?? (() => undefined);
if (!globalThis.gc) console.log("(run with node --expose-gc for retained-heap figures)");
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

const { graph } = await loadFlow(join(here, "flows", "foreach.ts"));

/** An executor that does no work: it stores the result the task would store (transition, foreach size). */
function noWorkExecutor(storage, n) {
  const ds = new FlowDatastore(storage, graph.flowName);
  return {
    async runAttempt(spec) {
      const node = graph.nodes[spec.step];
      const result = { artifacts: {}, ...(node.out.length ? { transition: { targets: node.out } } : {}) };
      if (node.foreach)
        Object.assign(result, { transition: { targets: node.out, foreach: node.foreach }, foreachNum: n });
      await ds.writeResult(spec.runId, spec.step, spec.taskId, spec.attempt, result);
      return { ok: true, exitCode: 0, signal: null, log: "", where: "bench" };
    },
    async stopAll() {},
  };
}

async function orchestrate(n, root, runId = "r1") {
  const storage = new LocalStorage(root);
  const orch = new Orchestrator({
    graph,
    storage,
    executorFor: () => executor,
    runId,
    params: {},
    tags: [],
    codeHash: "bench",
    flowFile: "bench",
    maxWorkers: 16,
    maxNumSplits: n,
    output: { line: () => undefined, info: () => undefined },
  });
  const executor = noWorkExecutor(storage, n);
  const res = await orch.execute();
  if (!res.ok) throw new Error(`run failed: ${res.error}`);
}

console.log(
  `orchestrator cost with an executor that does no work (foreach of N, local datastore), node ${process.version}, median of ${reps}`,
);
console.log(
  "tasks    wall s   cpu ms/task   retained heap KB/task   peak heap growth KB/task   peak RSS growth KB/task",
);
for (const n of sizes) {
  const rows = [];
  for (let r = 0; r < reps; r++) {
    const root = mkdtempSync(join(tmpdir(), "ks-bench-orch-"));
    gc();
    const heap0 = process.memoryUsage().heapUsed;
    const rss0 = process.memoryUsage().rss;
    let peak = rss0;
    let peakHeap = heap0;
    const timer = setInterval(() => {
      const u = process.memoryUsage();
      peak = Math.max(peak, u.rss);
      peakHeap = Math.max(peakHeap, u.heapUsed);
    }, 10);
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    let orchRef = await orchestrate(n, root);
    const wall = (performance.now() - t0) / 1000;
    const cpu = process.cpuUsage(cpu0);
    clearInterval(timer);
    peak = Math.max(peak, process.memoryUsage().rss);
    gc();
    const heap1 = process.memoryUsage().heapUsed;
    orchRef = undefined;
    const tasks = n + 3;
    rows.push({
      wall,
      cpu: (cpu.user + cpu.system) / 1000 / tasks,
      heap: (heap1 - heap0) / 1024 / tasks,
      rss: (peak - rss0) / 1024 / tasks,
      peakHeap: (peakHeap - heap0) / 1024 / tasks,
    });
    rmSync(root, { recursive: true, force: true });
  }
  const m = (k) => median(rows.map((x) => x[k]));
  console.log(
    `${String(n).padEnd(8)} ${m("wall").toFixed(2).padEnd(8)} ${m("cpu").toFixed(3).padEnd(13)} ${m("heap").toFixed(2).padEnd(23)} ${m("peakHeap").toFixed(2).padEnd(26)} ${m("rss").toFixed(2)}`,
  );
}

// The client API over a finished 2,000-task run: list the steps and tasks, load every task's metadata.
{
  const root = mkdtempSync(join(tmpdir(), "ks-bench-client-"));
  await orchestrate(clientTasks, root);
  const times = [];
  for (let r = 0; r < reps; r++) {
    const t0 = performance.now();
    const run = new Flow(graph.flowName, { root }).latestRun;
    let count = 0;
    for (const s of run.steps) for (const t of s.tasks) count += t.successful ? 1 : 0;
    times.push((performance.now() - t0) / 1000);
    if (count !== clientTasks + 3) throw new Error(`client saw ${count} finished tasks, expected ${clientTasks + 3}`);
  }
  console.log(
    `client API: list and load a ${clientTasks + 3}-task run's metadata: ${median(times).toFixed(3)} s (goal < 1 s: ${median(times) < 1 ? "met" : "MISSED"}) (${times.map((t) => t.toFixed(3)).join(" ")})`,
  );
  rmSync(root, { recursive: true, force: true });
}
