import { strict as assert } from "node:assert";
import { join } from "node:path";
import { Flow, namespaceRoot } from "../../../runtime/client/index.js";
import { FLOWS, ROOT, kubestep, runIdOf, scratch } from "../../helpers/cli.js";

describe("client API", function () {
  this.timeout(60_000);

  it("reads runs by id and tag, steps, tasks, artifacts, status and logs", async () => {
    const cwd = scratch();
    const first = await kubestep(["run", join(ROOT, "examples", "hello.ts"), "--n", "2", "--tag", "a"], { cwd });
    const second = await kubestep(["run", join(ROOT, "examples", "hello.ts"), "--n", "4", "--tag", "b", "--tag", "c"], {
      cwd,
    });
    const failed = await kubestep(["run", join(FLOWS, "failing.ts"), "--flow", "ExitFlow"], { cwd });
    assert.equal(first.code, 0);
    assert.equal(second.code, 0);
    assert.equal(failed.code, 1);
    namespaceRoot(join(cwd, ".kubestep"));
    const flow = new Flow("HelloFlow");
    assert.deepEqual(
      flow.runs.map((r) => r.id),
      [runIdOf(first), runIdOf(second)],
    );
    const latest = flow.latestRun!;
    assert.equal(latest.id, runIdOf(second));
    assert.ok(latest.successful && latest.finished);
    assert.deepEqual(
      flow.runsTagged("b", "c").map((r) => r.id),
      [runIdOf(second)],
    );
    assert.deepEqual(
      flow.runsTagged("a").map((r) => r.id),
      [runIdOf(first)],
    );
    assert.equal(flow.run(runIdOf(first))!.step("join").task.data.total, 1);
    assert.equal(latest.data!.total, 14);
    assert.deepEqual(
      latest.steps.map((s) => s.name),
      ["start", "square", "join", "end"],
    );
    const squares = latest.step("square").tasks;
    assert.deepEqual(squares.map((t) => t.data.sq).sort(), [0, 1, 4, 9]);
    assert.deepEqual(squares.map((t) => t.index).sort(), [0, 1, 2, 3]);
    assert.ok(squares[0]!.artifactNames.includes("sq"));
    assert.match(latest.step("end").task.logs(), /total = 14/);
    assert.equal(flow.run("no-such-run"), undefined);
    const exitRun = new Flow("ExitFlow").latestRun!;
    assert.equal(exitRun.successful, false);
    assert.equal(exitRun.status, "failed");
    assert.match(exitRun.error!, /exited with code 3/);
    assert.equal(exitRun.data, undefined);
    assert.equal(new Flow("NoSuchFlow").latestRun, undefined);
  });
});
