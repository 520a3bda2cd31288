/**
 * `continueRun` (a deployed run's orchestrator pod restarted): the new Orchestrator goes on with the same run,
 * keeps every finished task, gives an unfinished task the same task id and attempt (so the Kubernetes executor
 * re-attaches to its deterministically named Job), and runs nothing twice. In process, with a scripted executor.
 */
import { strict as assert } from "node:assert";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FlowSpec, step, type Inputs } from "../../../runtime/index.js";
import { buildGraph } from "../../../runtime/flow/graph.js";
import { openStorage } from "../../../runtime/datastore/open.js";
import { FlowDatastore } from "../../../runtime/datastore/flowstore.js";
import { Orchestrator, type Output } from "../../../runtime/exec/orchestrator.js";
import type { AttemptOutcome, Executor } from "../../../runtime/exec/executor.js";
import type { TaskSpec } from "../../../runtime/exec/spec.js";

class ContinueFlow extends FlowSpec {
  items = [1, 2, 3];
  @step start() {
    this.next(this.fan, { foreach: "items" });
  }
  @step fan() {
    this.next(this.join);
  }
  @step join(_inputs: Inputs<ContinueFlow>) {
    this.next(this.end);
  }
  @step end() {}
}

/** Stores each task's result as a real task would; `hang` tasks never finish (their orchestrator "dies"). */
class ScriptedExecutor implements Executor {
  readonly ran: string[] = [];
  constructor(
    private readonly ds: FlowDatastore,
    private readonly hang: (s: TaskSpec) => boolean = () => false,
  ) {}
  async runAttempt(spec: TaskSpec): Promise<AttemptOutcome> {
    this.ran.push(
      `${spec.step}/${spec.taskId}/${spec.attempt}${spec.foreachStack.length ? `#${spec.foreachStack[0]!.index}` : ""}`,
    );
    if (this.hang(spec)) return new Promise<AttemptOutcome>(() => undefined);
    const graph = buildGraph(ContinueFlow);
    const node = graph.nodes[spec.step]!;
    await this.ds.writeResult(spec.runId, spec.step, spec.taskId, spec.attempt, {
      artifacts: {},
      ...(node.out.length
        ? { transition: { targets: node.out, ...(spec.step === "start" ? { foreach: "items" } : {}) } }
        : {}),
      ...(spec.step === "start" ? { foreachNum: 3 } : {}),
    });
    return { ok: true, exitCode: 0, log: "", where: "scripted" };
  }
  async stopAll(): Promise<void> {}
}

const quiet: Output = { line: () => undefined, info: () => undefined };

describe("orchestrator continueRun", () => {
  it("keeps finished tasks, resumes the unfinished one under its task id and attempt, runs nothing twice", async () => {
    const storage = await openStorage("local", mkdtempSync(join(tmpdir(), "ks-continue-")));
    const ds = new FlowDatastore(storage, "ContinueFlow");
    const graph = buildGraph(ContinueFlow);
    const opts = {
      graph,
      storage,
      runId: "r1",
      params: {},
      tags: [],
      codeHash: "c",
      flowFile: "f",
      maxWorkers: 4,
      maxNumSplits: 10,
      output: quiet,
      trigger: { type: "manual" as const, user: "u" },
    };

    // The first orchestrator "dies" while the fan task of item 2 runs.
    const first = new ScriptedExecutor(ds, (s) => s.step === "fan" && s.foreachStack[0]!.index === 2);
    void new Orchestrator({ ...opts, executorFor: () => first, continueRun: true }).execute();
    for (let i = 0; i < 200 && first.ran.length < 4; i++) await new Promise((r) => setTimeout(r, 10));
    await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(first.ran.map((r) => r.replace(/\/\d+\//, "/N/")).sort(), [
      "fan/N/0#0",
      "fan/N/0#1",
      "fan/N/0#2",
      "start/N/0",
    ]);
    const hung = first.ran.find((r) => r.endsWith("#2"))!.split("/")[1]!;

    const second = new ScriptedExecutor(ds);
    const res = await new Orchestrator({ ...opts, executorFor: () => second, continueRun: true }).execute();
    assert.equal(res.ok, true, res.error);
    // Only the unfinished task (same id, attempt 0: its Job is re-attached) and what follows it ran again.
    assert.deepEqual(
      second.ran.map((r) => r.replace(/^(join|end)\/\d+/, "$1/N")),
      [`fan/${hung}/0#2`, "join/N/0", "end/N/0"],
    );
    const run = (await ds.readRun("r1")) as { status: string; trigger?: unknown } | undefined;
    assert.equal(run?.status, "succeeded");
    assert.deepEqual(run?.trigger, { type: "manual", user: "u" });
    assert.equal((await ds.listTasks("r1", "fan")).length, 3, "no fan task was added");
    for (const id of await ds.listTasks("r1", "fan"))
      assert.equal((await ds.readTask("r1", "fan", id))?.attempts.length, 1);
    assert.equal((await ds.listTasks("r1", "start")).length, 1);
  });

  it("with continueRun and no existing run, the run starts from scratch", async () => {
    const storage = await openStorage("local", mkdtempSync(join(tmpdir(), "ks-continue-")));
    const ds = new FlowDatastore(storage, "ContinueFlow");
    const ex = new ScriptedExecutor(ds);
    const res = await new Orchestrator({
      graph: buildGraph(ContinueFlow),
      storage,
      runId: "fresh",
      params: {},
      tags: [],
      codeHash: "c",
      flowFile: "f",
      maxWorkers: 4,
      maxNumSplits: 10,
      output: quiet,
      executorFor: () => ex,
      continueRun: true,
    }).execute();
    assert.equal(res.ok, true);
    assert.equal(ex.ran.length, 6);
  });
});
