/**
 * The local executor's spare task processes: how many a run keeps (a pure rule over the flow's width and the cores)
 * and that none is started after the last step.
 */
import { strict as assert } from "node:assert";
import { join } from "node:path";
import { LocalExecutor, localWidth, spareCount } from "../../../runtime/exec/local.js";
import { buildCodePackage } from "../../../runtime/code/package.js";
import { loadFlow } from "../../../runtime/code/load.js";
import type { TaskSpec } from "../../../runtime/exec/spec.js";
import { FLOWS, scratch } from "../../helpers/cli.js";

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
