import { strict as assert } from "node:assert";
import {
  FlowSpec,
  step,
  retry,
  resources,
  timeout,
  environment,
  catchFailure,
  type Inputs,
} from "../../../runtime/index.js";
import { buildGraph, parseNextCalls } from "../../../runtime/flow/graph.js";
import { FlowDefinitionError, DecoratorArgumentError, DecoratorUsageError } from "../../../runtime/errors.js";

function graphError(cls: Function): string {
  try {
    buildGraph(cls);
  } catch (e) {
    assert.ok(e instanceof FlowDefinitionError, `expected FlowDefinitionError, got ${e}`);
    return (e as Error).message;
  }
  assert.fail("expected the graph to be rejected");
}

describe("flow graph", () => {
  it("builds a linear flow in order", () => {
    class Lin extends FlowSpec {
      @step start() {
        this.next(this.a);
      }
      @step a() {
        this.next(this.end);
      }
      @step end() {}
    }
    const g = buildGraph(Lin);
    assert.deepEqual(g.order, ["start", "a", "end"]);
    assert.equal(g.nodes.start!.type, "start");
    assert.deepEqual(g.nodes.a!.in, ["start"]);
  });

  it("recognises static branches, foreach, nested foreach and joins", () => {
    class Shapes extends FlowSpec {
      items: number[] = [];
      @step start() {
        this.next(this.l, this.r);
      }
      @step l() {
        this.next(this.j);
      }
      @step r() {
        this.next(this.j);
      }
      @step j(inputs: Inputs) {
        void inputs;
        this.next(this.f, { foreach: "items" });
      }
      @step f() {
        this.next(this.g, { foreach: "items" });
      }
      @step g() {
        this.next(this.gj);
      }
      @step gj(inputs: Inputs) {
        void inputs;
        this.next(this.fj);
      }
      @step fj(inputs: Inputs) {
        void inputs;
        this.next(this.end);
      }
      @step end() {}
    }
    const g = buildGraph(Shapes);
    assert.equal(g.nodes.start!.type, "split");
    assert.equal(g.nodes.j!.type, "foreach");
    assert.equal(g.nodes.j!.isJoin, true);
    assert.equal(g.nodes.f!.foreach, "items");
    assert.deepEqual(g.nodes.g!.splitParents, ["j", "f"]);
    assert.deepEqual(g.nodes.fj!.splitParents, ["j"]);
    assert.deepEqual(g.nodes.end!.splitParents, []);
  });

  it("rejects a flow without start or end, naming what to add", () => {
    class NoStart extends FlowSpec {
      @step begin() {
        this.next(this.end);
      }
      @step end() {}
    }
    assert.match(graphError(NoStart), /has no start step/);
    class NoEnd extends FlowSpec {
      @step start() {
        this.next(this.finish);
      }
      @step finish() {}
    }
    assert.match(graphError(NoEnd), /has no end step/);
  });

  it("rejects an unknown target, naming the step and the known steps", () => {
    class Unknown extends FlowSpec {
      @step start() {
        this.next(this.helper);
      }
      helper() {}
      @step end() {}
    }
    assert.match(
      graphError(Unknown),
      /step start: this.next\(\) targets helper, which is not a @step \(steps: start, end\)/,
    );
  });

  it("rejects a step without next", () => {
    class NoNext extends FlowSpec {
      @step start() {
        this.next(this.a);
      }
      @step a() {}
      @step end() {}
    }
    assert.match(graphError(NoNext), /step a: never calls this.next\(\)/);
  });

  it("rejects a branch without a join", () => {
    class NoJoin extends FlowSpec {
      @step start() {
        this.next(this.a, this.b);
      }
      @step a() {
        this.next(this.end);
      }
      @step b() {
        this.next(this.end);
      }
      @step end() {}
    }
    assert.match(graphError(NoJoin), /step end: is reached from a, b but takes no inputs; make it a join/);
    class ForeachNoJoin extends FlowSpec {
      items = [1];
      @step start() {
        this.next(this.a, { foreach: "items" });
      }
      @step a() {
        this.next(this.end);
      }
      @step end() {}
    }
    assert.match(graphError(ForeachNoJoin), /step start: its foreach never join before end/);
  });

  it("rejects an unreachable step", () => {
    class Orphan extends FlowSpec {
      @step start() {
        this.next(this.end);
      }
      @step lost() {
        this.next(this.end);
      }
      @step end() {}
    }
    assert.match(graphError(Orphan), /step lost: is unreachable from start/);
  });

  it("rejects a cycle, showing it", () => {
    class Loop extends FlowSpec {
      @step start() {
        this.next(this.a);
      }
      @step a() {
        this.next(this.b);
      }
      @step b() {
        this.next(this.a);
      }
      @step end() {}
    }
    assert.match(graphError(Loop), /the flow has a cycle a -> b -> a/);
  });

  it("rejects a join with no split and two next calls", () => {
    class BadJoin extends FlowSpec {
      @step start() {
        this.next(this.j);
      }
      @step j(inputs: Inputs) {
        void inputs;
        this.next(this.end);
      }
      @step end() {}
    }
    assert.match(graphError(BadJoin), /step j: takes inputs \(a join\) but no split or foreach comes before it/);
    class Twice extends FlowSpec {
      flag = true;
      @step start() {
        if (this.flag) this.next(this.end);
        else this.next(this.end);
      }
      @step end() {}
    }
    assert.match(graphError(Twice), /step start: calls this.next\(\) 2 times/);
  });

  it("rejects a decorated method without @step and a non-literal foreach", () => {
    class Forgot extends FlowSpec {
      @step start() {
        this.next(this.end);
      }
      @retry() helper() {}
      @step end() {}
    }
    assert.match(graphError(Forgot), /method helper has @retry but no @step/);
    assert.throws(
      () => parseNextCalls("s", "s() { this.next(this.a, { foreach: name }) }"),
      /step s: foreach must be a string literal/,
    );
    assert.throws(
      () => parseNextCalls("s", "s() { this.next(this.a, { forech: 'x' }) }"),
      /option forech is unknown; allowed: foreach, numParallel/,
    );
  });

  it("validates decorator arguments and reports them when the graph is built, naming step, option, value and what is allowed", () => {
    const cases: Array<[() => unknown, RegExp]> = [
      [
        () => {
          class A extends FlowSpec {
            @retry({ times: -1 }) @step start() {}
          }
          return A;
        },
        /step start: @retry times = -1 is invalid; expected a whole number >= 0/,
      ],
      [
        () => {
          class A extends FlowSpec {
            @retry({ tims: 2 } as never) @step start() {}
          }
          return A;
        },
        /step start: @retry tims = 2 is invalid; unknown option; allowed: times, minutesBetweenRetries/,
      ],
      [
        () => {
          class A extends FlowSpec {
            @timeout({}) @step start() {}
          }
          return A;
        },
        /step start: @timeout = \{\} is invalid; the total of seconds \+ minutes \+ hours must be > 0/,
      ],
      [
        () => {
          class A extends FlowSpec {
            @resources({ memory: "12 parsecs" }) @step train() {}
          }
          return A;
        },
        /step train: @resources memory = "12 parsecs" is invalid; expected MB > 0/,
      ],
      [
        () => {
          class A extends FlowSpec {
            @resources({ gpu: 1.5 }) @step train() {}
          }
          return A;
        },
        /step train: @resources gpu = 1.5 is invalid/,
      ],
      // sharedMemory is in MiB, memory in MB: 960 MiB (1006.6 MB) exceeds 1000 MB.
      [
        () => {
          class A extends FlowSpec {
            @resources({ memory: 1000, sharedMemory: 960 }) @step train() {}
          }
          return A;
        },
        /step train: @resources sharedMemory = 960 is invalid; must not exceed memory \(1000 MB = 953\.67 MiB; sharedMemory is in MiB\)/,
      ],
      [
        () => {
          class A extends FlowSpec {
            @environment({ vars: { "1BAD": "x" } }) @step start() {}
          }
          return A;
        },
        /step start: @environment vars = "1BAD" is invalid/,
      ],
      [
        () => {
          class A extends FlowSpec {
            @catchFailure({ var: "not valid" }) @step start() {}
          }
          return A;
        },
        /step start: @catch var = "not valid" is invalid; expected an identifier/,
      ],
      [
        () => {
          class A extends FlowSpec {
            @retry() @retry() @step start() {}
          }
          return A;
        },
        /step start: @retry is applied twice/,
      ],
    ];
    for (const [define, re] of cases) {
      assert.throws(
        () => buildGraph(define() as Function),
        (e: Error) => (e instanceof DecoratorArgumentError || e instanceof DecoratorUsageError) && re.test(e.message),
        String(re),
      );
    }
    // 953 MiB fits in 1000 MB.
    assert.doesNotThrow(() => {
      class A extends FlowSpec {
        @resources({ memory: 1000, sharedMemory: 953 }) @step train() {}
      }
      return A;
    });
  });

  it("records decorator options in the graph", () => {
    class Deco extends FlowSpec {
      @resources({ cpu: 2, memory: "1GB", gpu: 0 })
      @timeout({ minutes: 1, seconds: 30 })
      @retry({ times: 1, minutesBetweenRetries: 0 })
      @step
      start() {
        this.next(this.end);
      }
      @step end() {}
    }
    const d = buildGraph(Deco).nodes.start!.meta.decorators;
    assert.deepEqual(d.resources!.options, { cpu: 2, memory: 1000, gpu: 0 });
    assert.deepEqual(d.timeout!.options, { seconds: 90 });
    assert.deepEqual(d.retry!.options, { times: 1, minutesBetweenRetries: 0 });
  });
});
