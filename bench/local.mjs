#!/usr/bin/env node
// Local-runtime benchmarks (not a test), measured side by side with Metaflow in the same run.
//
//   npm run bench                                   # kubestep alone: medians of 5
//   npm run bench -- --vs-metaflow [DIR]            # and Metaflow, interleaved, with ratios and goals
//   npm run bench -- --reps 7 --cases linear,resume
//   npm run bench -- --vs-metaflow --isolation thread,process   # both local task isolations side by side
//
// Cases: (a) linear 5 steps, (b) 100-way foreach with --max-workers 2 and with the default, (c) a 200 MB
// artifact, (d) resume of a linear run that failed in its third step. For every run: wall time, CPU time of
// the whole process tree (user + system, as GNU time counts every waited-for descendant), and peak RSS of the
// whole tree (the sum over every live descendant, sampled every 15 ms); medians over the repetitions, never
// the best. Also the tree's peak PSS (proportional set size: pages shared between processes, such as the node or
// python binary, counted once across the tree rather than once per process). With --vs-metaflow the two tools alternate run by run, so both see the same machine; each
// kubestep/Metaflow ratio is median / median, checked against the goals (time <= 0.25x, tree RSS <= 1x).
// Also printed: processes of a kubestep run still alive after its CLI exited (must be 0).
//
// DIR: a Metaflow checkout (holding metaflow/__init__.py) or a folder holding metaflow-src.tar.gz; default
// ../shared/peers/metaflow. The Metaflow flows are that folder's linear.py, fanout.py, bigartifact.py (or
// --metaflow-flows DIR). Metaflow needs python3 with Debian's python3-requests and python3-boto3, and GNU time.
import { execFileSync, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const BIN = join(here, "..", "bin", "kubestep.mjs");
const FLOWS = join(here, "flows");
const TIME = "/usr/bin/time";

const argv = process.argv.slice(2);
const flag = (name) => argv.includes(`--${name}`);
const value = (name, dflt) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 && argv[i + 1] && !argv[i + 1].startsWith("--") ? argv[i + 1] : dflt;
};
const reps = Number(value("reps", "5"));
if (!Number.isInteger(reps) || reps < 1) fail(`--reps must be a whole number >= 1, got ${value("reps")}`);
const vsMetaflow = flag("vs-metaflow");
// Default peer folder: ../shared/peers/metaflow beside the checkout, or one level up (a worktree under /work/wt/).
const defaultPeer = [join(here, "..", "..", "shared"), join(here, "..", "..", "..", "shared")]
  .map((d) => join(d, "peers", "metaflow"))
  .find((d) => existsSync(d));
const peerDir = resolve(value("vs-metaflow", defaultPeer ?? join(here, "..", "..", "shared", "peers", "metaflow")));

function fail(message) {
  console.error(`bench: ${message}`);
  process.exit(2);
}

// ---------------------------------------------------------------------------------------------------
// Process-tree measurement

function procTable() {
  const map = new Map();
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      const rss = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${d}/status`, "utf8"))?.[1] ?? 0) * 1024;
      map.set(Number(d), { ppid, rss, pid: Number(d) });
    } catch {
      /* gone */
    }
  }
  return map;
}
/** PSS of a process: its private pages plus its share of pages it shares (e.g. the node binary). */
function pss(pid) {
  try {
    return Number(/^Pss:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, "utf8"))?.[1] ?? 0) * 1024;
  } catch {
    return 0;
  }
}
/** The tree's summed RSS (every process counts the pages it shares in full) and summed PSS. */
function treeMemory(root) {
  const procs = procTable();
  const kids = new Map();
  for (const [pid, p] of procs) kids.set(p.ppid, [...(kids.get(p.ppid) ?? []), pid]);
  let rss = 0;
  let pssTotal = 0;
  const stack = [root];
  while (stack.length) {
    const p = stack.pop();
    if (procs.has(p)) {
      rss += procs.get(p).rss;
      pssTotal += pss(p);
    }
    stack.push(...(kids.get(p) ?? []));
  }
  return { rss, pss: pssTotal };
}
/** Processes whose working directory is inside `dir` (what a run leaves behind after its CLI exited). */
function processesIn(dir) {
  const left = [];
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      if (readlinkSync(`/proc/${d}/cwd`).startsWith(dir)) left.push(Number(d));
    } catch {
      /* gone or not ours */
    }
  }
  return left;
}

/**
 * Runs `cmd args` under GNU time in `cwd`; samples the tree's RSS. Returns exit code, wall seconds, CPU
 * seconds of the tree, peak tree RSS (bytes), stderr, and the processes still alive in `cwd` right after.
 */
function measure(cmd, args, { cwd, env }) {
  return new Promise((resolveRun) => {
    const t0 = process.hrtime.bigint();
    const child = spawn(TIME, ["-f", "KSBENCH %U %S", cmd, ...args], {
      cwd,
      env: { ...process.env, ...env },
      stdio: ["ignore", "ignore", "pipe"],
    });
    let peak = 0;
    let peakPss = 0;
    let err = "";
    child.stderr.on("data", (c) => (err += c));
    const timer = setInterval(() => {
      const m = treeMemory(child.pid);
      peak = Math.max(peak, m.rss);
      peakPss = Math.max(peakPss, m.pss);
    }, 15);
    child.on("close", (code) => {
      clearInterval(timer);
      const secs = Number(process.hrtime.bigint() - t0) / 1e9;
      const m = /KSBENCH ([\d.]+) ([\d.]+)\s*$/.exec(err);
      const cpu = m ? Number(m[1]) + Number(m[2]) : NaN;
      resolveRun({
        code,
        secs,
        cpu,
        peak,
        peakPss,
        err: err.replace(/KSBENCH .*\s*$/, ""),
        left: processesIn(cwd).length,
      });
    });
  });
}

// ---------------------------------------------------------------------------------------------------
// The two tools

function kubestepRunner(isolation, name) {
  const run = (args, cwd, env = {}) =>
    measure(process.execPath, [BIN, ...args, "--quiet"], {
      cwd,
      env: {
        KUBESTEP_DATASTORE_SYSROOT_LOCAL: join(cwd, ".kubestep"),
        ...(isolation ? { KUBESTEP_LOCAL_ISOLATION: isolation } : {}),
        ...env,
      },
    });
  return {
    name,
    linear: (cwd) => run(["run", join(FLOWS, "linear.ts")], cwd),
    foreach: (cwd, workers) =>
      run(["run", join(FLOWS, "foreach.ts"), ...(workers ? ["--max-workers", String(workers)] : [])], cwd),
    big: (cwd) => run(["run", join(FLOWS, "bigartifact.ts")], cwd),
    async resume(cwd) {
      const failed = await run(["run", join(FLOWS, "linear.ts")], cwd, { BENCH_FAIL_C: "1" });
      if (failed.code !== 1)
        throw new Error(`the failing kubestep run did not fail (exit ${failed.code}):\n${failed.err}`);
      const id = /run (\S+) \(datastore/.exec(failed.err)?.[1];
      if (!id) throw new Error(`no run id in:\n${failed.err}`);
      return run(["resume", join(FLOWS, "linear.ts"), "--origin-run-id", id], cwd);
    },
  };
}

function metaflowRunner() {
  const python = value("python", "/usr/bin/python3");
  let src = peerDir;
  if (!existsSync(join(src, "metaflow", "__init__.py"))) {
    const tarball = join(peerDir, "metaflow-src.tar.gz");
    if (!existsSync(tarball))
      fail(
        `--vs-metaflow ${peerDir}: neither a Metaflow checkout (metaflow/__init__.py) nor a folder with metaflow-src.tar.gz`,
      );
    src = mkdtempSync(join(tmpdir(), "ks-bench-metaflow-"));
    execFileSync("tar", ["xzf", tarball, "-C", src]);
    process.on("exit", () => rmSync(src, { recursive: true, force: true }));
  }
  const flows = resolve(value("metaflow-flows", peerDir));
  for (const f of ["linear.py", "fanout.py", "bigartifact.py"])
    if (!existsSync(join(flows, f))) fail(`no ${f} in ${flows} (--metaflow-flows)`);
  const baseEnv = (cwd) => ({
    PYTHONPATH: src,
    METAFLOW_HOME: join(cwd, "mfhome"),
    METAFLOW_DATASTORE_SYSROOT_LOCAL: join(cwd, "mfdata"),
    METAFLOW_DEFAULT_DATASTORE: "local",
    METAFLOW_DEFAULT_METADATA: "local",
    USERNAME: "bench",
  });
  // A pip-installed Metaflow ships .pyc files; a bare checkout does not (each task would recompile it).
  execFileSync(python, ["-m", "compileall", "-q", "-j", "0", join(src, "metaflow")], { stdio: "ignore" });
  try {
    execFileSync(python, ["-c", "import metaflow"], {
      env: { ...process.env, PYTHONPATH: src },
      stdio: ["ignore", "ignore", "pipe"],
    });
  } catch (e) {
    fail(
      `python cannot import metaflow from ${src}: ${String(e.stderr ?? e)
        .trim()
        .split("\n")
        .pop()}\n(Metaflow needs Debian's python3-requests and python3-boto3: apt-get install -y python3-requests python3-boto3 time)`,
    );
  }
  const run = (script, args, cwd, env = {}) =>
    measure(python, [join(flows, script), "--no-pylint", ...args], { cwd, env: { ...baseEnv(cwd), ...env } });
  return {
    name: "Metaflow",
    linear: (cwd) => run("linear.py", ["run"], cwd),
    foreach: (cwd, workers) =>
      run("fanout.py", ["run", "--n", "100", ...(workers ? ["--max-workers", String(workers)] : [])], cwd),
    big: (cwd) => run("bigartifact.py", ["run", "--size", "200"], cwd),
    async resume(cwd) {
      const failed = await run("linear.py", ["run"], cwd, { FAIL_B: "1" });
      if (failed.code === 0) throw new Error("the failing Metaflow run did not fail");
      return run("linear.py", ["resume"], cwd);
    },
  };
}

// ---------------------------------------------------------------------------------------------------

const CASES = [
  { key: "linear", name: "(a) linear 5 steps", go: (t, cwd) => t.linear(cwd) },
  { key: "foreach-w2", name: "(b) foreach x100, 2 workers", go: (t, cwd) => t.foreach(cwd, 2) },
  { key: "foreach", name: "(b) foreach x100, default workers", go: (t, cwd) => t.foreach(cwd, undefined) },
  { key: "big", name: "(c) 200 MB artifact", go: (t, cwd) => t.big(cwd) },
  { key: "resume", name: "(d) resume failed linear", go: (t, cwd) => t.resume(cwd) },
];
const wanted = value("cases", CASES.map((c) => c.key).join(",")).split(",");
for (const w of wanted)
  if (!CASES.some((c) => c.key === w)) fail(`unknown case ${w}; cases: ${CASES.map((c) => c.key).join(", ")}`);
if (!existsSync(TIME)) fail(`${TIME} (GNU time) is missing: apt-get install -y time`);

// --isolation thread,process: kubestep with each local task isolation (KUBESTEP_LOCAL_ISOLATION), the first
// compared with Metaflow, the others printed beside it ("kubestep/process").
const isolations = value("isolation", "").split(",").filter(Boolean);
for (const i of isolations) if (i !== "thread" && i !== "process") fail(`--isolation ${i}: use thread or process`);
const kubesteps = (isolations.length ? isolations : [undefined]).map((iso, n) =>
  kubestepRunner(iso, n === 0 ? "kubestep" : `kubestep/${iso}`),
);
const tools = [...kubesteps, ...(vsMetaflow ? [metaflowRunner()] : [])];
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const MB = (b) => `${(b / 1048576).toFixed(0)} MB`;

console.log(
  `kubestep local benchmarks: node ${process.version}, ${reps} runs per case and tool (medians), load ${readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ")}`,
);
if (vsMetaflow) console.log(`side by side with Metaflow from ${peerDir}, alternating run by run`);
const results = [];
for (const c of CASES.filter((x) => wanted.includes(x.key))) {
  const runs = Object.fromEntries(tools.map((t) => [t.name, []]));
  for (let i = 0; i < reps; i++) {
    for (const t of i % 2 ? [...tools].reverse() : tools) {
      const cwd = mkdtempSync(join(tmpdir(), "ks-bench-"));
      try {
        const r = await c.go(t, cwd);
        if (r.code !== 0) throw new Error(`${t.name} ${c.name} exited ${r.code}:\n${r.err.slice(-2000)}`);
        runs[t.name].push(r);
      } finally {
        rmSync(cwd, { recursive: true, force: true });
      }
    }
  }
  const row = { case: c.name };
  for (const t of tools) {
    const rs = runs[t.name];
    row[t.name] = {
      wall: median(rs.map((r) => r.secs)),
      cpu: median(rs.map((r) => r.cpu)),
      rss: median(rs.map((r) => r.peak)),
      pss: median(rs.map((r) => r.peakPss)),
      walls: rs.map((r) => r.secs),
      left: Math.max(...rs.map((r) => r.left)),
    };
  }
  results.push(row);
  const k = row.kubestep;
  const line = kubesteps.map(
    (t, n) =>
      `${(n ? "" : c.name).padEnd(34)} ${t.name} ${row[t.name].wall.toFixed(2)} s wall, ${row[t.name].cpu.toFixed(2)} s cpu, ${MB(row[t.name].rss)} tree RSS, ${MB(row[t.name].pss)} PSS, left running ${row[t.name].left} (${row[t.name].walls.map((w) => w.toFixed(2)).join(" ")})`,
  );
  if (vsMetaflow) {
    const m = row.Metaflow;
    const tr = k.wall / m.wall;
    const rr = k.rss / m.rss;
    line.push(
      `${"".padEnd(34)} Metaflow ${m.wall.toFixed(2)} s wall, ${m.cpu.toFixed(2)} s cpu, ${MB(m.rss)} tree RSS, ${MB(m.pss)} PSS (${m.walls.map((w) => w.toFixed(2)).join(" ")})`,
    );
    line.push(
      `${"".padEnd(34)} ratio: time ${tr.toFixed(2)}x (goal <= 0.25x: ${tr <= 0.25 ? "met" : "MISSED"}), cpu ${(k.cpu / m.cpu).toFixed(2)}x, tree RSS ${rr.toFixed(2)}x (goal <= 1x: ${rr <= 1 ? "met" : "MISSED"}), PSS ${(k.pss / m.pss).toFixed(2)}x`,
    );
  }
  console.log(line.join("\n"));
}
if (vsMetaflow) {
  console.log("\nsummary (kubestep / Metaflow, medians)");
  console.log("case                               time    cpu     tree RSS  PSS");
  for (const r of results)
    console.log(
      kubesteps
        .map(
          (t, n) =>
            `${(n ? `  ${t.name}` : r.case).padEnd(34)} ${(r[t.name].wall / r.Metaflow.wall).toFixed(2).padEnd(7)} ${(r[t.name].cpu / r.Metaflow.cpu).toFixed(2).padEnd(7)} ${(r[t.name].rss / r.Metaflow.rss).toFixed(2).padEnd(9)} ${(r[t.name].pss / r.Metaflow.pss).toFixed(2)}`,
        )
        .join("\n"),
    );
}
