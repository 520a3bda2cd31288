/**
 * The local executor's spare task processes: how many a run keeps (a pure rule over the flow's width and the cores)
 * and that none is started after the last step.
 */
import { strict as assert } from "node:assert";
import { join } from "node:path";
import { LocalExecutor, localWidth, spareCount, threadBlocker } from "../../../runtime/exec/local.js";
import { Flow } from "../../../runtime/client/index.js";
import { buildCodePackage } from "../../../runtime/code/package.js";
import { loadFlow } from "../../../runtime/code/load.js";
import type { TaskSpec } from "../../../runtime/exec/spec.js";
import { FLOWS, kubestep, scratch } from "../../helpers/cli.js";

describe("local executor: spare task processes", function () {
  this.timeout(120_000);

  it("spareCount keeps spares only for cores the running tasks leave idle, at most 2", () => {
    assert.deepEqual(
      [
        spareCount(1, 2),
        spareCount(2, 2),
        spareCount(16, 2),
        spareCount(1, 1),
        spareCount(1, 8),
        spareCount(3, 4),
        spareCount(16, 32),
      ],
      [1, 0, 0, 0, 2, 1, 2],
    );
  });

  it("localWidth is 1 for a flow without branches or foreach, else --max-workers", async () => {
    const linear = (await loadFlow(join(FLOWS, "failing.ts"), "RetryFlow")).graph;
    assert.equal(localWidth(linear, 16), 1);
    const wide = (await loadFlow(join(FLOWS, "shapes.ts"))).graph;
    assert.equal(localWidth(wide, 7), 7);
  });

  it("takes a spare per attempt and starts another, except after a last step", async () => {
    const pkg = await buildCodePackage(join(FLOWS, "failing.ts"));
    const exec = new LocalExecutor(pkg.path, { spares: 1, lastSteps: ["end"] });
    const dir = scratch();
    const spec = (step: string): TaskSpec =>
      ({
        flowName: "NoSuchFlow", // the attempt fails at once: only the process bookkeeping is under test
        runId: "r1",
        step,
        taskId: "1",
        attempt: 0,
        parents: [],
        foreachStack: [],
        params: {},
        datastore: { kind: "local", root: dir },
        user: "test",
        tags: [],
        maxNumSplits: 100,
      }) as TaskSpec;
    const opts = { env: {}, prefix: "[t]", onLine: () => undefined };
    try {
      exec.warm();
      assert.equal(exec.spareProcesses, 1);
      const a = await exec.runAttempt(spec("b"), opts);
      assert.equal(a.ok, false);
      assert.match(a.error ?? "", /does not export flow NoSuchFlow/);
      await new Promise((r) => setImmediate(r));
      assert.equal(exec.spareProcesses, 1, "a spare replaces the one taken");
      await exec.runAttempt(spec("end"), opts);
      await new Promise((r) => setImmediate(r));
      assert.equal(exec.spareProcesses, 0, "no spare after the last step");
    } finally {
      await exec.close();
    }
  });
});

describe("local executor: tasks in worker threads", function () {
  this.timeout(120_000);
  const flow = join(FLOWS, "isolation.ts");
  const runOf = (cwd: string, name: string) => new Flow(name, { root: join(cwd, ".kubestep") }).latestRun!;

  it("runs each task in its own thread with a fresh module state and environment (nothing leaks between tasks)", async () => {
    const cwd = scratch();
    const r = await kubestep(["run", flow, "--flow", "FreshStateFlow"], { cwd });
    assert.equal(r.code, 0, r.stderr);
    const each = '"loaded=1,env=unset,global=unset,thread=true"';
    assert.match(r.stdout, new RegExp(`seen=\\[${each},${each},${each}\\]`));
    const run = runOf(cwd, "FreshStateFlow");
    for (const t of run.step("each").tasks) assert.match(t.attempts[0]!.executor!, /^local thread \d+ \(pid \d+\)$/);
  });

  it("--isolation process (or KUBESTEP_LOCAL_ISOLATION=process) runs each task in its own process, with the same isolation", async () => {
    for (const how of [["--isolation", "process"], []]) {
      const cwd = scratch();
      const r = await kubestep(["run", flow, "--flow", "FreshStateFlow", ...how], {
        cwd,
        env: how.length ? {} : { KUBESTEP_LOCAL_ISOLATION: "process" },
      });
      assert.equal(r.code, 0, r.stderr);
      const each = '"loaded=1,env=unset,global=unset,thread=false"';
      assert.match(r.stdout, new RegExp(`seen=\\[${each},${each},${each}\\]`));
      for (const t of runOf(cwd, "FreshStateFlow").step("each").tasks)
        assert.match(t.attempts[0]!.executor!, /^local pid \d+$/);
    }
    const bad = await kubestep(["run", flow, "--isolation", "fiber"], { cwd: scratch() });
    assert.equal(bad.code, 2, bad.stderr);
    assert.match(bad.stderr, /--isolation "fiber" is invalid; use thread or process/);
  });

  it("@timeout stops a step that busy-loops in its thread", async () => {
    const cwd = scratch();
    const t0 = Date.now();
    const r = await kubestep(["run", flow, "--flow", "BusyFlow"], { cwd });
    assert.equal(r.code, 1);
    assert.ok(Date.now() - t0 < 20_000, "the busy loop must have been stopped");
    assert.match(r.stderr, /step spin: timed out after 1 s \(@timeout\) and was killed/);
    assert.match(r.stdout, /\] spinning/);
    assert.equal(runOf(cwd, "BusyFlow").step("spin").task.attempts[0]!.reason, "timeout");
  });

  it("an exception thrown from a timer, or a rejection nobody handles, fails only that task with the user's file and line", async () => {
    for (const [name, stepName, message] of [
      ["StrayErrorFlow", "stray", "RangeError: thrown from a timer"],
      ["RejectFlow", "reject", "SyntaxError: a rejection nobody handled"],
    ] as const) {
      const cwd = scratch();
      const r = await kubestep(["run", flow, "--flow", name], { cwd });
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, new RegExp(`step ${stepName}: ${message}`));
      const task = runOf(cwd, name).step(stepName).task;
      assert.equal(task.attempts[0]!.reason, "exception");
      assert.match(task.logs(0), new RegExp(`${message}\\n\\s+at .*isolation\\.ts:\\d+:\\d+`));
      assert.equal(runOf(cwd, name).step("start").task.successful, true);
    }
  });

  it("code that a thread cannot run (process.chdir) runs in processes by itself", async () => {
    const cwd = scratch();
    const r = await kubestep(["run", join(FLOWS, "chdir.ts")], { cwd });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /where=\/tmp thread=false/);
    assert.match(
      r.stderr,
      /local tasks run in their own processes, not in threads: the flow's code calls process\.chdir\(\), which a worker thread cannot/,
    );
    assert.match(runOf(cwd, "ChdirFlow").step("start").task.attempts[0]!.executor!, /^local pid \d+$/);
    assert.equal(threadBlocker("process.chdir(dir)"), "calls process.chdir(), which a worker thread cannot");
    assert.equal(threadBlocker("process.umask()"), undefined, "reading the umask works in a thread");
    assert.match(threadBlocker("process.umask(0o22)") ?? "", /process\.umask/);
    assert.match(threadBlocker("", ["sharp"]) ?? "", /external packages \(sharp\)/);
    assert.equal(threadBlocker("console.log(process.cwd())"), undefined);
    assert.match(threadBlocker('import { execSync } from "node:child_process";') ?? "", /child_process/);
    assert.match(threadBlocker('const cp = require("child_process");') ?? "", /child_process/);
  });

  it("a task that runs out of memory fails with reason oom, not the CLI; close() leaves no thread", async () => {
    const pkg = await buildCodePackage(join(FLOWS, "isolation.ts"));
    const exec = new LocalExecutor(pkg.path, { spares: 1, threadHeapMb: 64 });
    const dir = scratch();
    try {
      exec.warm();
      const spec = {
        flowName: "FreshStateFlow",
        runId: "r1",
        step: "start",
        taskId: "1",
        attempt: 0,
        parents: [],
        foreachStack: [],
        params: {},
        datastore: { kind: "local", root: dir },
        user: "test",
        tags: [],
        maxNumSplits: 100,
      } as TaskSpec;
      const lines: string[] = [];
      // The step's environment: the flow module is imported after it is applied; a huge allocation fills the heap.
      const a = await exec.runAttempt(spec, {
        env: { KS_GROW: "1" },
        prefix: "[t]",
        onLine: (l) => lines.push(l),
      });
      assert.equal(a.ok, false);
      assert.equal(a.reason, "oom", a.error);
      assert.match(a.error!, /step start: ran out of memory \(the task's heap limit is 64 MB\)/);
    } finally {
      await exec.close();
    }
    assert.equal(exec.spareProcesses, 0);
    assert.equal(exec.runningTasks, 0);
  });
});
