/** The step decorators written bare and called, used wrongly, and their bad options reported all at once. */
import { strict as assert } from "node:assert";
import {
  FlowSpec,
  step,
  retry,
  resources,
  timeout,
  environment,
  catchFailure,
  parallel,
  kubernetes,
} from "../../../runtime/index.js";
import { buildGraph } from "../../../runtime/flow/graph.js";
import { flowMetaOf } from "../../../runtime/flow/meta.js";
import {
  DecoratorArgumentError,
  DecoratorUsageError,
  FlowDefinitionError,
  InvalidOptionsError,
  isKubestepError,
} from "../../../runtime/errors.js";

const usage = (fn: () => unknown, re: RegExp) =>
  assert.throws(
    fn,
    (e: Error) => e instanceof DecoratorUsageError && isKubestepError(e) && e.exitCode === 2 && re.test(e.message),
    String(re),
  );

describe("step decorators: bare and called", () => {
  it("@retry, @resources, @catchFailure, @parallel and @kubernetes record the same options bare and called", () => {
    class Bare extends FlowSpec {
      @step start() {
        this.next(this.train, { numParallel: 2 });
      }
      @parallel @retry @resources @kubernetes @step train() {
        this.next(this.join);
      }
      @catchFailure @step join(inputs: unknown[]) {
        void inputs;
        this.next(this.end);
      }
      @step end() {}
    }
    class Called extends FlowSpec {
      @step start() {
        this.next(this.train, { numParallel: 2 });
      }
      @parallel() @retry() @resources() @kubernetes() @step train() {
        this.next(this.join);
      }
      @catchFailure() @step join(inputs: unknown[]) {
        void inputs;
        this.next(this.end);
      }
      @step end() {}
    }
    const bare = { ...flowMetaOf(Bare).steps.train!.decorators, ...flowMetaOf(Bare).steps.join!.decorators };
    const called = { ...flowMetaOf(Called).steps.train!.decorators, ...flowMetaOf(Called).steps.join!.decorators };
    assert.deepEqual(bare, called);
    assert.deepEqual(bare.retry!.options, { times: 3, minutesBetweenRetries: 2 });
    assert.deepEqual(bare.resources!.options, {});
    assert.deepEqual(bare.catch!.options, { var: undefined, printException: true });
    assert.deepEqual(bare.parallel!.options, {});
    assert.deepEqual(bare.kubernetes!.options, {});
    for (const cls of [Bare, Called]) {
      assert.equal(buildGraph(cls).nodes.train!.isJoin, false);
      // The decorators never replace the method.
      assert.match(String(cls.prototype.train), /this\.next\(this\.join\)/);
    }
  });

  it("the called form with options records them", () => {
    class F extends FlowSpec {
      @retry({ times: 1, minutesBetweenRetries: 0 })
      @resources({ cpu: 2 })
      @catchFailure({ var: "failure", printException: false })
      @step
      start() {
        this.next(this.end);
      }
      @step end() {}
    }
    const d = flowMetaOf(F).steps.start!.decorators;
    assert.deepEqual(d.retry!.options, { times: 1, minutesBetweenRetries: 0 });
    assert.deepEqual(d.resources!.options, { cpu: 2 });
    assert.deepEqual(d.catch!.options, { var: "failure", printException: false });
  });
});

describe("step decorators: used wrongly", () => {
  const optional = [
    ["@retry", retry],
    ["@resources", resources],
    ["@catch", catchFailure],
    ["@parallel", parallel],
    ["@kubernetes", kubernetes],
  ] as const;

  it("called with something that is not an options object: fails at the call", () => {
    for (const [name, deco] of optional) {
      const f = deco as (x: unknown) => unknown;
      for (const bad of [3, "x", null, [1], true])
        usage(() => f(bad), new RegExp(`^${name}: takes no argument or one options object .*; got `));
      usage(() => f(() => 1), new RegExp(`^${name}: takes no argument or one options object`));
    }
    usage(() => timeout(5 as never), /^@timeout: takes one options object \{ seconds\?, minutes\?, hours\? \}; got 5/);
    usage(() => environment(null as never), /^@environment: takes one options object/);
  });

  it("bare where options are needed: @timeout and @environment", () => {
    usage(() => {
      class F extends FlowSpec {
        // @ts-expect-error: @timeout needs its options
        @timeout @step start() {}
      }
      return F;
    }, /^@timeout: needs its options: write @timeout\(\{ seconds\?, minutes\?, hours\? \}\)/);
    usage(() => {
      class F extends FlowSpec {
        // @ts-expect-error: @environment needs its options
        @environment @step start() {}
      }
      return F;
    }, /^@environment: needs its options/);
  });

  it("on a class, a field, a static or private method: fails where it is written", () => {
    for (const [name, deco] of optional) {
      const bare = deco as unknown as (v: unknown, c: unknown) => unknown;
      const called = (deco as unknown as (o?: object) => (v: unknown, c: unknown) => unknown)();
      const ctxs: Array<[unknown, RegExp]> = [
        [{ kind: "class", name: "MyFlow" }, /here it is on the class MyFlow/],
        [{ kind: "field", name: "x", static: false, private: false }, /here it is on the field x/],
        [{ kind: "getter", name: "g", static: false, private: false }, /here it is on the getter g/],
        [{ kind: "method", name: "s", static: true, private: false }, /s is static/],
        [{ kind: "method", name: "#p", static: false, private: true }, /#p is private/],
        ["start", /legacy \(experimentalDecorators\)/],
      ];
      for (const [ctx, re] of ctxs) {
        const target = (ctx as { kind?: string }).kind === "class" ? class {} : () => 1;
        usage(() => bare(target, ctx), new RegExp(`^${name}: .*${re.source}`));
        usage(() => called(target, ctx), new RegExp(`^${name}: .*${re.source}`));
      }
    }
    usage(() => {
      // @ts-expect-error: @retry is not a class decorator
      @retry
      class F extends FlowSpec {}
      return F;
    }, /^@retry: applies to step methods; here it is on the class F/);
    usage(() => {
      class F extends FlowSpec {
        // @ts-expect-error: @step is not a field decorator
        @step x = 1;
      }
      return F;
    }, /^@step: applies to step methods; here it is on the field x/);
    usage(() => {
      class F extends FlowSpec {
        // eslint-disable-next-line no-unused-private-class-members -- the misuse under test
        @parallel() #hidden() {}
      }
      return F;
    }, /^@parallel: applies to public instance methods; #hidden is private/);
  });

  it("applied twice: fails where it is written", () => {
    usage(() => {
      class F extends FlowSpec {
        @retry @retry({ times: 1 }) @step start() {}
      }
      return F;
    }, /^@retry: step start: @retry is applied twice; keep one/);
  });
});

describe("step decorators: every bad option of every step in one error", () => {
  it("bad values are recorded when the class is defined and reported together when the graph is built", () => {
    class Bad extends FlowSpec {
      @retry({ times: -1, minutesBetweenRetries: "soon" as never }) @step start() {
        this.next(this.train);
      }
      @resources({ cpu: 0, memory: "12 parsecs" }) @timeout({ hours: -1 }) @step train() {
        this.next(this.end);
      }
      @catchFailure({ var: "not valid", extra: 1 } as never) @kubernetes({ cpu: "x" }) @step end() {}
    }
    let err: unknown;
    try {
      buildGraph(Bad);
    } catch (e) {
      err = e;
    }
    assert.ok(err instanceof InvalidOptionsError && err instanceof FlowDefinitionError, String(err));
    assert.equal(err.exitCode, 2);
    assert.deepEqual(
      err.problems.map((p) => `${p.step}: ${p.option} = ${JSON.stringify(p.value)}`),
      [
        "start: @retry times = -1",
        'start: @retry minutesBetweenRetries = "soon"',
        "train: @timeout hours = -1",
        "train: @resources cpu = 0",
        'train: @resources memory = "12 parsecs"',
        'end: @kubernetes cpu = "x"',
        "end: @catch extra = 1",
        'end: @catch var = "not valid"',
      ],
    );
    for (const p of err.problems) {
      assert.ok(p instanceof DecoratorArgumentError);
      assert.ok(err.message.includes(`step ${p.step}: ${p.option} = `), p.message);
      assert.ok(p.allowed.length > 0);
    }
    assert.match(
      err.message,
      /^8 invalid options:\n {2}- step start: @retry times = -1 is invalid; expected a whole number >= 0/,
    );
  });

  it("a subclass keeps the parent's problems without adding to the parent's", () => {
    class Parent extends FlowSpec {
      @retry({ times: -1 }) @step start() {
        this.next(this.end);
      }
      @step end() {}
    }
    class Child extends Parent {
      @resources({ cpu: -2 }) @step override end() {}
    }
    assert.throws(() => buildGraph(Parent), /step start: @retry times = -1 is invalid/);
    assert.equal(flowMetaOf(Parent).steps.start!.problems!.length, 1);
    assert.throws(
      () => buildGraph(Child),
      (e: Error) => e instanceof InvalidOptionsError && e.problems.length === 2,
    );
    assert.equal(flowMetaOf(Parent).steps.start!.problems!.length, 1);
  });
});
