/** @parallel locally: N processes started together, mainIp 127.0.0.1, gang failure semantics. */
import { strict as assert } from "node:assert";
import { join } from "node:path";
import { Flow } from "../../../runtime/client/index.js";
import { FlowSpec, step, parallel, catchFailure } from "../../../runtime/index.js";
import { buildGraph } from "../../../runtime/flow/graph.js";
import { DecoratorArgumentError, FlowDefinitionError } from "../../../runtime/errors.js";
import { FLOWS, kubestep, scratch } from "../../helpers/cli.js";

const flow = join(FLOWS, "parallel.ts");

describe("@parallel (local)", function () {
  this.timeout(60_000);

  it("starts a 3-node gang whose workers reach the control at mainIp:port; the join sees every node", async () => {
    const cwd = scratch();
    const r = await kubestep(["run", flow], { cwd, env: { KS_PARALLEL_PORT: "29611" } });
    assert.equal(r.code, 0, r.stderr);
    const run = new Flow("ParallelFlow", { root: join(cwd, ".kubestep") }).latestRun!;
    const nodes = run.step("train").tasks;
    assert.equal(nodes.length, 3);
    const control = nodes.find((t) => t.data.node === 0)!;
    assert.deepEqual(control.data.received, [
      `hello from 1/3 (control task ${control.id})`,
      `hello from 2/3 (control task ${control.id})`,
    ]);
    for (const w of nodes.filter((t) => t !== control)) assert.match(String(w.data.reply), /^ack hello from [12]\/3/);
    assert.equal(run.step("join").task.data.node, 3);
    assert.match(r.stdout, /nodes=3 received=/);
  });

  it("a failing worker fails the step and stops the other nodes (none left running)", async () => {
    const cwd = scratch();
    const t0 = Date.now();
    const r = await kubestep(["run", flow, "--fail-node", "2"], { cwd, env: { KS_PARALLEL_PORT: "29612" } });
    assert.equal(r.code, 1);
    assert.ok(Date.now() - t0 < 30_000, "the control must not wait forever for the dead worker");
    assert.match(
      r.stderr,
      /step train: parallel node 2 \(task \d+\) failed: step train: Error: node 2 fails on purpose/,
    );
    const run = new Flow("ParallelFlow", { root: join(cwd, ".kubestep") }).latestRun!;
    const nodes = run.step("train").tasks;
    assert.equal(nodes.length, 3);
    assert.ok(nodes.every((t) => !t.successful));
    const control = nodes.find((t) => t.attempts[0]!.reason === "killed");
    assert.ok(control, "the control node was stopped");
    assert.match(
      control!.attempts[0]!.error!,
      /step train: stopped because node 2 \(task \d+\) failed: step train: Error: node 2 fails on purpose/,
    );
  });

  it("rejects numParallel < 2, @parallel with @catch, and a parallel target without a size at start", () => {
    class Small extends FlowSpec {
      @step start() {
        this.next(this.train, { numParallel: 1 });
      }
      @parallel() @step train() {
        this.next(this.end);
      }
      @step end() {}
    }
    assert.throws(
      () => buildGraph(Small),
      (e: Error) =>
        e instanceof FlowDefinitionError && /numParallel = 1 is invalid; use 2 or more nodes/.test(e.message),
    );
    class Caught extends FlowSpec {
      @step start() {
        this.next(this.train, { numParallel: 2 });
      }
      @catchFailure() @parallel() @step train() {
        this.next(this.end);
      }
      @step end() {}
    }
    assert.throws(() => buildGraph(Caught), /step train: @parallel cannot be combined with @catch/);
    class NoSize extends FlowSpec {
      @step start() {
        this.next(this.train);
      }
      @parallel() @step train() {
        this.next(this.end);
      }
      @step end() {}
    }
    assert.throws(() => buildGraph(NoSize), /step start: reaches @parallel step train without a size/);
    assert.throws(
      () => {
        class B extends FlowSpec {
          @parallel({ numNodes: 1 }) @step train() {}
        }
        return buildGraph(B);
      },
      (e: Error) => e instanceof DecoratorArgumentError && /@parallel numNodes = 1 is invalid/.test(e.message),
    );
    class NotParallel extends FlowSpec {
      @step start() {
        this.next(this.train, { numParallel: 2 });
      }
      @step train() {
        this.next(this.end);
      }
      @step end() {}
    }
    assert.throws(() => buildGraph(NotParallel), /targets train, which is not an @parallel step/);
  });
});
