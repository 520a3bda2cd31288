import { strict as assert } from "node:assert";
import { FlowSpec, step } from "../../../runtime/index.js";
import { flowMetaOf } from "../../../runtime/flow/meta.js";
import { kubernetes } from "../../../runtime/kubernetes/decorator.js";
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

  it("fails at class definition with the step, option, value and what is allowed", () => {
    expectConfigError(
      () => {
        class F extends FlowSpec {
          @kubernetes({ cpu: 2, memroy: 1000 } as never) @step train() {
            this.next(this.end);
          }
          @step end() {}
        }
        return F;
      },
      { step: "train", option: "@kubernetes memroy", value: 1000, allowedIncludes: "did you mean memory?" },
    );
    expectConfigError(
      () => {
        class F extends FlowSpec {
          @kubernetes({ gpu: 1.5 }) @step fit() {
            this.next(this.end);
          }
          @step end() {}
        }
        return F;
      },
      { step: "fit", option: "@kubernetes gpu", value: 1.5, allowedIncludes: "whole number" },
    );
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
