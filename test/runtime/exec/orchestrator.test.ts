/** The local runtime end to end, through the real CLI: joins, foreach, retries, timeouts, @catch, resume. */
import { strict as assert } from "node:assert";
import { readFileSync, writeFileSync, rmSync, existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { Flow } from "../../../runtime/client/index.js";
import { FLOWS, kubestep, runIdOf, scratch } from "../../helpers/cli.js";

const failing = join(FLOWS, "failing.ts");

describe("local orchestrator", function () {
  this.timeout(120_000);

  it("runs branches, nested foreach, merges and async steps; artifacts of every type survive", async () => {
    const cwd = scratch();
    const r = await kubestep(["run", join(FLOWS, "shapes.ts"), "--width", "3", "--greeting", "yo"], { cwd });
    assert.equal(r.code, 0, r.stderr);
    assert.match(
      r.stdout,
      /rows=\[\["o0:10:0","o0:20:1","o0:30:2"\],\["o1:10:0","o1:20:1","o1:30:2"\],\["o2:10:0","o2:20:1","o2:30:2"\]\] a=1 b=2 greeting=yo flag=false/,
    );
    const run = new Flow("ShapesFlow", { root: join(cwd, ".kubestep") }).latestRun!;
    assert.equal(run.id, runIdOf(r));
    assert.ok(run.successful);
    assert.deepEqual(run.params, { width: 3, greeting: "yo", flag: false });
    // 1 start + 2 branches + merge + 3 outer + 9 inner + 3 inner joins + outer join + end
    assert.equal(
      run.steps.reduce((n, s) => n + s.tasks.length, 0),
      21,
    );
    const types = run.data!.types as Record<string, unknown>;
    assert.deepEqual(types.map, new Map([["k", 1]]));
    assert.deepEqual(types.set, new Set([1, 2]));
    assert.deepEqual(types.date, new Date(0));
    assert.ok(Buffer.isBuffer(types.buf) && (types.buf as Buffer).toString() === "buf");
    assert.deepEqual(types.f64, new Float64Array([1.5, 2.5]));
    assert.equal(types.big, 12345678901234567890n);
    assert.equal(run.data!.shared, "same");
    // Logs are prefixed live and stored per attempt.
    assert.match(r.stdout, new RegExp(`\\[${run.id}/end/\\d+\\] rows=`));
    assert.match(run.step("end").task.logs(), /^rows=/);
    // Every inner task saw its own foreach index.
    const inner = run
      .step("fanInner")
      .tasks.map((t) => t.data.cell)
      .sort();
    assert.equal(inner.length, 9);
    assert.ok(inner.includes("o2:30:2"));
  });

  it("retries a failing task in a fresh process and succeeds on the 2nd attempt", async () => {
    const cwd = scratch();
    const counter = join(cwd, "counter");
    const r = await kubestep(["run", failing, "--flow", "RetryFlow"], { cwd, env: { KS_COUNTER_FILE: counter } });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /attempt 1 failed: step flaky: Error: flaky failure on attempt 1/);
    const task = new Flow("RetryFlow", { root: join(cwd, ".kubestep") }).latestRun!.step("flaky").task;
    assert.deepEqual(
      task.attempts.map((a) => a.status),
      ["failed", "succeeded"],
    );
    assert.equal(task.attempts[0]!.reason, "exception");
    assert.equal(task.data.attempts, 2);
    assert.match(task.logs(0), /flaky failure on attempt 1/);
  });

  it("kills a task that exceeds @timeout and fails the run with the reason", async () => {
    const cwd = scratch();
    const t0 = Date.now();
    const r = await kubestep(["run", failing, "--flow", "TimeoutFlow"], { cwd });
    assert.equal(r.code, 1);
    assert.ok(Date.now() - t0 < 20_000, "the 30 s sleep must have been killed");
    assert.match(r.stderr, /failed after .*: step slow: timed out after 1 s \(@timeout\) and was killed/);
    const run = new Flow("TimeoutFlow", { root: join(cwd, ".kubestep") }).latestRun!;
    assert.equal(run.status, "failed");
    assert.equal(run.step("slow").task.attempts[0]!.reason, "timeout");
  });

  it("@catch records the failure in an artifact and the flow continues", async () => {
    const cwd = scratch();
    const r = await kubestep(["run", failing, "--flow", "CatchFlow"], { cwd });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /value=7/);
    const boom = new Flow("CatchFlow", { root: join(cwd, ".kubestep") }).latestRun!.step("boom").task;
    const failure = boom.data.failure as { type: string; message: string };
    assert.equal(failure.type, "exception");
    assert.match(failure.message, /TypeError: kaboom/);
    assert.match(boom.caught!, /kaboom/);
  });

  it("a task that calls process.exit fails only that task, with the exit code", async () => {
    const cwd = scratch();
    const r = await kubestep(["run", failing, "--flow", "ExitFlow"], { cwd });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /step quit: the task (thread|process) exited with code 3 before finishing the step/);
    assert.match(r.stdout, /\] about to exit/);
    const run = new Flow("ExitFlow", { root: join(cwd, ".kubestep") }).latestRun!;
    assert.equal(run.step("quit").task.attempts[0]!.exitCode, 3);
    assert.equal(run.step("start").task.successful, true);
  });

  it("fails a task whose artifact cannot be stored, naming the field", async () => {
    const cwd = scratch();
    const r = await kubestep(["run", failing, "--flow", "BadArtifactFlow"], { cwd });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /artifact handler\.cb cannot be stored: it is a function/);
  });

  it("resume re-runs from the failed step and reuses finished tasks without recomputing them", async () => {
    const cwd = scratch();
    const counter = join(cwd, "counter");
    const env = { KS_COUNTER_FILE: counter };
    writeFileSync(counter + ".fail", "");
    const first = await kubestep(["run", failing, "--flow", "ResumeFlow"], { cwd, env });
    assert.equal(first.code, 1);
    assert.match(first.stderr, /join failed on purpose/);
    const counts = () =>
      readFileSync(counter, "utf8")
        .trim()
        .split("\n")
        .reduce<Record<string, number>>((m, s) => ({ ...m, [s]: (m[s] ?? 0) + 1 }), {});
    assert.deepEqual(counts(), { start: 1, square: 3, join: 1 });
    rmSync(counter + ".fail");
    const again = await kubestep(["resume", failing, "--flow", "ResumeFlow", "--origin-run-id", runIdOf(first)], {
      cwd,
      env,
    });
    assert.equal(again.code, 0, again.stderr);
    // start and the 3 squares were NOT executed again; join and end ran once more.
    assert.deepEqual(counts(), { start: 1, square: 3, join: 2, end: 1 });
    const flow = new Flow("ResumeFlow", { root: join(cwd, ".kubestep") });
    const run = flow.run(runIdOf(again))!;
    assert.ok(run.successful);
    assert.equal(run.meta.originRunId, runIdOf(first));
    assert.equal(run.step("join").task.data.total, 14);
    const squares = run.step("square").tasks;
    assert.equal(squares.length, 3);
    assert.ok(squares.every((t) => t.meta.clonedFrom?.startsWith(runIdOf(first) + "/square/")));
    assert.equal(run.step("start").task.data.heavy, 42);
    // Resuming from an explicit earlier step re-runs it and everything after.
    const third = await kubestep(["resume", failing, "square", "--flow", "ResumeFlow", "--origin-run-id", run.id], {
      cwd,
      env,
    });
    assert.equal(third.code, 0, third.stderr);
    assert.deepEqual(counts(), { start: 1, square: 6, join: 3, end: 2 });
    assert.ok(existsSync(counter));
  });
});

describe("local orchestrator: context", function () {
  this.timeout(60_000);
  const context = join(FLOWS, "context.ts");

  it("applies @environment before the flow is imported and fills `current`", async () => {
    const cwd = scratch();
    const r = await kubestep(["run", context, "--width", "2", "--tag", "t1"], { cwd, env: { KUBESTEP_USER: "alice" } });
    assert.equal(r.code, 0, r.stderr);
    const run = new Flow("ContextFlow", { root: join(cwd, ".kubestep") }).latestRun!;
    const fan = run.step("fan").tasks[0]!;
    assert.deepEqual(fan.data.seen, {
      atImport: "from-decorator",
      inStep: "from-decorator",
      flowName: "ContextFlow",
      runId: run.id,
      stepName: "fan",
      taskId: fan.id,
      retryCount: 0,
      pathspec: `ContextFlow/${run.id}/fan/${fan.id}`,
      onKubernetes: false,
      user: "alice",
      tags: ["t1"],
    });
    assert.equal(run.meta.user, "alice");
  });

  it("refuses a foreach wider than --max-num-splits, naming the artifact and the limit", async () => {
    const cwd = scratch();
    const r = await kubestep(["run", context, "--width", "5", "--max-num-splits", "3"], { cwd });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /step start: foreach over items would start 5 tasks, more than --max-num-splits 3/);
    const bad = await kubestep(["run", context, "--max-workers", "0"], { cwd });
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--max-workers "0" is invalid; expected a whole number >= 1/);
  });

  it("runs tasks in parallel up to --max-workers", async () => {
    const cwd = scratch();
    const r = await kubestep(["run", context, "--width", "6", "--max-workers", "2"], { cwd });
    assert.equal(r.code, 0, r.stderr);
    const running = [...r.stderr.matchAll(/(\d+) running/g)].map((m) => Number(m[1]));
    // When a task finishes, at most one other is running (2 at once), and the foreach did overlap.
    assert.equal(Math.max(...running), 1, `saw ${running}`);
  });

  it("stores a running task's output in live chunks: kubestep logs shows it before the task ends, then the archive", async () => {
    const cwd = scratch();
    const run = kubestep(["run", join(FLOWS, "ui.ts"), "--pause", "5000", "--run-id", "logs-live"], { cwd });
    const runDir = join(cwd, ".kubestep", "UiFlow", "runs", "logs-live");
    let seen: string | undefined;
    for (let i = 0; i < 100 && seen === undefined; i++) {
      await new Promise((r) => setTimeout(r, 200));
      if (!existsSync(join(runDir, "slowBranch"))) continue;
      const l = await kubestep(["logs", "UiFlow/logs-live/slowBranch"], { cwd });
      if (/slowBranch: sleeping 5000 ms/.test(l.stdout)) {
        seen = l.stdout;
        assert.match(l.stderr, /attempt 0 is still running: this is its output so far/);
      }
    }
    assert.ok(seen, "the live log was readable while the task ran");
    const during = JSON.parse(readFileSync(join(runDir, "run.json"), "utf8")) as { status: string };
    assert.equal(during.status, "running", "read before the run finished");
    const r = await run;
    assert.equal(r.code, 0, r.stderr);
    const after = await kubestep(["logs", "UiFlow/logs-live/slowBranch"], { cwd });
    assert.match(after.stdout, /slowBranch: sleeping 5000 ms/);
    assert.doesNotMatch(after.stderr, /still running/);
    const task = new Flow("UiFlow", { root: join(cwd, ".kubestep") }).run("logs-live")!.step("slowBranch").task;
    const chunkDir = join(runDir, "slowBranch", task.id, "0", "log.live");
    assert.equal(existsSync(chunkDir) ? readdirSync(chunkDir).length : 0, 0, "the chunks are removed once archived");
    assert.match(task.logs(), /slowBranch: sleeping 5000 ms/);
  });
});
