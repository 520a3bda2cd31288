#!/usr/bin/env node
// Local-runtime benchmarks (not a test): wall time and peak RSS of the whole process tree for
// (a) a linear 5-step flow, (b) a 100-way foreach, (c) a 200 MB artifact, and resume of a failed
// linear run; each with --max-workers 2 and the default. Prints figures and ratios to the targets.
// Usage: npm run bench [-- --repeat N]
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const BIN = join(here, "..", "bin", "kubestep.mjs");
const repeat = Number(process.argv[process.argv.indexOf("--repeat") + 1]) || 3;

function children() {
  const map = new Map();
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      const rss = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${d}/status`, "utf8"))?.[1] ?? 0) * 1024;
      map.set(Number(d), { ppid, rss });
    } catch { /* gone */ }
  }
  return map;
}
function treeRss(root) {
  const procs = children();
  let total = 0;
  const stack = [root];
  while (stack.length) {
    const p = stack.pop();
    total += procs.get(p)?.rss ?? 0;
    for (const [pid, info] of procs) if (info.ppid === p) stack.push(pid);
  }
  return total;
}

function run(args, env = {}) {
  return new Promise((resolve) => {
    const cwd = mkdtempSync(join(tmpdir(), "kubestep-bench-"));
    const t0 = process.hrtime.bigint();
    const child = spawn(process.execPath, [BIN, ...args, "--quiet"], { cwd, env: { ...process.env, KUBESTEP_DATASTORE_SYSROOT_LOCAL: join(cwd, ".kubestep"), ...env }, stdio: ["ignore", "ignore", "pipe"] });
    let peak = 0;
    let err = "";
    child.stderr.on("data", (c) => (err += c));
    const timer = setInterval(() => (peak = Math.max(peak, treeRss(child.pid))), 15);
    child.on("close", (code) => {
      clearInterval(timer);
      const secs = Number(process.hrtime.bigint() - t0) / 1e9;
      resolve({ code, secs, peak, cwd, err });
    });
  });
}

const flows = join(here, "flows");
const mb = (b) => (b / 1048576).toFixed(0) + " MB";
const cases = [
  { name: "(a) linear 5 steps", file: "linear.ts", ref: 1.8, target: 0.6 },
  { name: "(b) foreach x100", file: "foreach.ts", ref: 17.1, target: 5.5 },
  { name: "(c) 200 MB artifact", file: "bigartifact.ts", ref: 7.5, target: 2.5, rssTarget: 2.5 * 200 * 1048576 },
];
console.log(`kubestep local benchmarks (node ${process.version}, best of ${repeat})`);
console.log("case                    workers  wall      peak RSS   reference  target   vs target");
for (const c of cases) {
  for (const workers of [2, 16]) {
    let best;
    for (let i = 0; i < repeat; i++) {
      const r = await run(["run", join(flows, c.file), "--max-workers", String(workers)]);
      if (r.code !== 0) { console.error(`${c.name} failed:\n${r.err}`); process.exit(1); }
      rmSync(r.cwd, { recursive: true, force: true });
      if (!best || r.secs < best.secs) best = r;
    }
    const ok = best.secs <= c.target && (!c.rssTarget || best.peak <= c.rssTarget);
    console.log(`${c.name.padEnd(24)}${String(workers === 16 ? "16 (default)" : workers).padEnd(9)}${(best.secs.toFixed(2) + " s").padEnd(10)}${mb(best.peak).padEnd(11)}${(c.ref + " s").padEnd(11)}${("<= " + c.target + " s").padEnd(9)}${(best.secs / c.target).toFixed(2)}x ${ok ? "OK" : "MISSED"}${c.rssTarget ? ` (RSS ${(best.peak / (200 * 1048576)).toFixed(2)}x the artifact, target <= 2.5x)` : ""}`);
  }
}
// Resume of a failed linear run (reference 1.2 s with Metaflow).
let bestResume;
for (let i = 0; i < repeat; i++) {
  const failed = await run(["run", join(flows, "linear.ts")], { BENCH_FAIL_C: "1" });
  if (failed.code !== 1) { console.error("the failing run did not fail"); process.exit(1); }
  const id = /run (\S+) \(datastore/.exec(failed.err)[1];
  const t0 = process.hrtime.bigint();
  const r = await new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, "resume", join(flows, "linear.ts"), "--origin-run-id", id, "--quiet"], { cwd: failed.cwd, env: { ...process.env, KUBESTEP_DATASTORE_SYSROOT_LOCAL: join(failed.cwd, ".kubestep") }, stdio: "ignore" });
    child.on("close", (code) => resolve({ code, secs: Number(process.hrtime.bigint() - t0) / 1e9 }));
  });
  if (r.code !== 0) { console.error("resume failed"); process.exit(1); }
  rmSync(failed.cwd, { recursive: true, force: true });
  if (!bestResume || r.secs < bestResume.secs) bestResume = r;
}
console.log(`${"resume failed linear".padEnd(24)}${"16".padEnd(9)}${(bestResume.secs.toFixed(2) + " s").padEnd(10)}${"".padEnd(11)}${"1.2 s".padEnd(11)}${"<= 0.4 s".padEnd(9)}${(bestResume.secs / 0.4).toFixed(2)}x ${bestResume.secs <= 0.4 ? "OK" : "MISSED"}`);
