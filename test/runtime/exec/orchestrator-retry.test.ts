/**
 * How the orchestrator's `@retry` loop treats an attempt's `retryable`: a failure only the user can fix
 * (retryable false: bad image, unschedulable, missing secret, ...) is not retried, with a message saying why;
 * other failures use every attempt. In process, with a scripted executor (the verdicts themselves are tested
 * on the real cluster in verdicts.cluster.test.ts).
 */
import { strict as assert } from "node:assert";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FlowSpec, step, retry } from "../../../runtime/index.js";
import { buildGraph } from "../../../runtime/flow/graph.js";
import { openStorage } from "../../../runtime/datastore/open.js";
import { FlowDatastore } from "../../../runtime/datastore/flowstore.js";
import { Orchestrator } from "../../../runtime/exec/orchestrator.js";
import type { AttemptOutcome, Executor } from "../../../runtime/exec/executor.js";
import type { TaskSpec } from "../../../runtime/exec/spec.js";

class RetryingFlow extends FlowSpec {
  @step start() {
    this.next(this.work);
  }
  @retry({ times: 3, minutesBetweenRetries: 0 })
  @step
  work() {
    this.next(this.end);
  }
  @step end() {}
}

/** `start` succeeds; every attempt of `work` fails with the given outcome. */
class FailingExecutor implements Executor {
  readonly attempts: number[] = [];
  constructor(
    private readonly ds: FlowDatastore,
    private readonly failure: Partial<AttemptOutcome>,
  ) {}
  async runAttempt(spec: TaskSpec): Promise<AttemptOutcome> {
    if (spec.step === "work") {
      this.attempts.push(spec.attempt);
      return { ok: false, log: "", where: "scripted", ...this.failure };
    }
    await this.ds.writeResult(spec.runId, spec.step, spec.taskId, spec.attempt, {
      artifacts: {},
      transition: { targets: ["work"] },
    });
    return { ok: true, exitCode: 0, log: "", where: "scripted" };
  }
  async stopAll(): Promise<void> {}
}

async function runWith(failure: Partial<AttemptOutcome>) {
  const storage = await openStorage("local", mkdtempSync(join(tmpdir(), "ks-retry-")));
  const ds = new FlowDatastore(storage, "RetryingFlow");
  const executor = new FailingExecutor(ds, failure);
  const info: string[] = [];
  const res = await new Orchestrator({
    graph: buildGraph(RetryingFlow),
    storage,
    executorFor: () => executor,
    runId: "r1",
    params: {},
    tags: [],
    codeHash: "c",
    flowFile: "f",
    maxWorkers: 2,
    maxNumSplits: 10,
    output: { line: () => undefined, info: (t) => info.push(t) },
  }).execute();
  const taskId = (await ds.listTasks("r1", "work"))[0]!;
  const task = (await ds.readTask("r1", "work", taskId))!;
  return { res, info: info.join("\n"), attempts: executor.attempts, task };
}

describe("orchestrator @retry and retryable outcomes", () => {
  it("a failure that is not retryable ends the step after one attempt, saying why", async () => {
    const { res, info, attempts, task } = await runWith({
      reason: "image",
      error: "step work cannot start: pulling image x failed",
      retryable: false,
    });
    assert.equal(res.ok, false);
    assert.deepEqual(attempts, [0]);
    assert.match(
      info,
      /\[r1\/work\/\d+\] not retried although @retry allows 3 more attempt\(s\): image cannot succeed on another attempt until its cause is fixed/,
    );
    assert.doesNotMatch(info, /retrying/);
    assert.equal(
      res.error,
      "step work cannot start: pulling image x failed; not retried although @retry allows 3 more attempt(s): image cannot succeed on another attempt until its cause is fixed",
    );
    assert.deepEqual(
      task.attempts.map((a) => [a.status, a.reason]),
      [["failed", "image"]],
    );
  });

  it("retryable failures (and outcomes that do not say) use every attempt", async () => {
    for (const failure of [
      { reason: "node-lost", error: "step work: the node was lost", retryable: true },
      { reason: "exception", error: "step work: Error: boom" },
    ]) {
      const { res, info, attempts } = await runWith(failure);
      assert.equal(res.ok, false);
      assert.deepEqual(attempts, [0, 1, 2, 3]);
      assert.match(info, /retrying \(attempt 4 of 4\)/);
      assert.doesNotMatch(info, /not retried/);
      assert.equal(res.error, failure.error);
    }
  });
});
