import { strict as assert } from "node:assert";
import { FlowSpec, step } from "../../../runtime/index.js";
import { flowMetaOf } from "../../../runtime/flow/meta.js";
import { kubernetes } from "../../../runtime/kubernetes/decorator.js";
import { buildGraph } from "../../../runtime/flow/graph.js";
import { DecoratorUsageError, InvalidOptionsError } from "../../../runtime/errors.js";
import { expectConfigError } from "./helpers.js";

describe("@kubernetes decorator", () => {
  it("works bare and records empty options", () => {
    class F extends FlowSpec {
      @kubernetes @step start() {
        this.next(this.end);
      }
      @step end() {}
    }
    const rec = flowMetaOf(F).steps.start!.decorators.kubernetes;
    assert.deepEqual(rec, { name: "kubernetes", options: {} });
    assert.equal(flowMetaOf(F).steps.end!.decorators.kubernetes, undefined);
  });

  it("works with options and records them validated and normalized", () => {
    class F extends FlowSpec {
      @kubernetes({ cpu: 2, memory: "16GB", nodeSelector: "disk=ssd", qos: "Guaranteed" })
      @step
      start() {
        this.next(this.end);
      }
      @kubernetes() @step end() {}
    }
    const meta = flowMetaOf(F);
    assert.deepEqual(meta.steps.start!.decorators.kubernetes!.options, {
      cpu: 2,
      memory: 16000,
      nodeSelector: { disk: "ssd" },
      qos: "Guaranteed",
    });
    assert.deepEqual(meta.steps.end!.decorators.kubernetes!.options, {});
  });

  it("records bad options; the graph builder reports every bad option of every step in one error", () => {
    class F extends FlowSpec {
      @kubernetes({ cpu: 2, memroy: 1000 } as never) @step start() {
        this.next(this.fit);
      }
      @kubernetes({ gpu: 1.5, qos: "Gold" as never }) @step fit() {
        this.next(this.end);
      }
      @step end() {}
    }
    let err: unknown;
    try {
      buildGraph(F);
    } catch (e) {
      err = e;
    }
    assert.ok(err instanceof InvalidOptionsError, String(err));
    assert.deepEqual(
      err.problems.map((p) => [p.step, p.option, p.value]),
      [
        ["start", "@kubernetes memroy", 1000],
        ["fit", "@kubernetes gpu", 1.5],
        ["fit", "@kubernetes qos", "Gold"],
      ],
    );
    assert.match(err.message, /did you mean memory\?/);
    // One bad option alone is that option's own error.
    class G extends FlowSpec {
      @kubernetes({ gpu: 1.5 }) @step start() {
        this.next(this.end);
      }
      @step end() {}
    }
    expectConfigError(() => buildGraph(G), {
      step: "start",
      option: "@kubernetes gpu",
      value: 1.5,
      allowedIncludes: "whole number",
    });
  });

  it("used wrongly, fails where it is written and never replaces the method", () => {
    const usage = (fn: () => unknown, re: RegExp) =>
      assert.throws(fn, (e: Error) => e instanceof DecoratorUsageError && re.test(e.message), String(re));
    usage(() => kubernetes(4 as never), /@kubernetes: takes no argument or one options object .*; got 4/);
    usage(() => kubernetes("cpu=4" as never), /got "cpu=4"/);
    usage(() => kubernetes([] as never), /got \[\]/);
    usage(() => {
      // @ts-expect-error: a class is not a step method
      @kubernetes
      class F extends FlowSpec {}
      return F;
    }, /@kubernetes: applies to step methods; here it is on the class F/);
    usage(() => {
      class F extends FlowSpec {
        // @ts-expect-error: a field is not a step method
        @kubernetes() x = 1;
      }
      return F;
    }, /here it is on the field x/);
    usage(() => {
      class F extends FlowSpec {
        @kubernetes static s() {}
      }
      return F;
    }, /applies to public instance methods; s is static/);
    class H extends FlowSpec {
      @kubernetes @step start() {
        this.next(this.end);
      }
      @kubernetes() @step end() {}
    }
    assert.equal(typeof H.prototype.start, "function");
    assert.match(String(H.prototype.start), /this\.next\(this\.end\)/, "the method is the one written");
  });

  it("refuses being applied twice", () => {
    assert.throws(() => {
      class F extends FlowSpec {
        @kubernetes @kubernetes({ cpu: 1 }) @step start() {
          this.next(this.end);
        }
        @step end() {}
      }
      return F;
    }, /applied twice/);
  });
});
