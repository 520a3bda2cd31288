/** One error base: every error kubestep raises for bad input carries its exit code and a brand the CLI maps by. */
import { strict as assert } from "node:assert";
import {
  ArtifactError,
  DecoratorArgumentError,
  DecoratorUsageError,
  FlowDefinitionError,
  InvalidOptionsError,
  isKubestepError,
  OptionProblems,
  optionProblemsOf,
  KubestepError,
  ParameterError,
} from "../../runtime/errors.js";
import { UsageError } from "../../runtime/cli/args.js";
import { DatastoreConfigError } from "../../runtime/datastore/roots.js";
import { EnvironmentSourceError } from "../../runtime/environment-source.js";
import { EnvironmentError } from "../../runtime/environment.js";
import { KubeConfigError } from "../../runtime/exec/kubernetes/client.js";
import { KubernetesConfigError } from "../../runtime/kubernetes/options.js";
import { MissingPeerError } from "../../runtime/peers.js";

describe("errors: one base with an exit code", () => {
  it("every input/configuration error is a KubestepError with exit code 2, keeping its name", () => {
    const errors: Array<[Error, string]> = [
      [new FlowDefinitionError("x"), "FlowDefinitionError"],
      [new DecoratorArgumentError("s", "@retry times", -1, "0..10"), "DecoratorArgumentError"],
      [new KubernetesConfigError("s", "@kubernetes cpu", -1, "> 0"), "KubernetesConfigError"],
      [new InvalidOptionsError([new DecoratorArgumentError("s", "@retry times", -1, "0..10")]), "InvalidOptionsError"],
      [new DecoratorUsageError("@retry", "applies to step methods"), "DecoratorUsageError"],
      [new ParameterError("x"), "ParameterError"],
      [new UsageError("x"), "UsageError"],
      [new DatastoreConfigError("x"), "DatastoreConfigError"],
      [new EnvironmentError("file", ["a: b"]), "EnvironmentError"],
      [new EnvironmentSourceError("x"), "EnvironmentSourceError"],
      [new KubeConfigError("x"), "KubeConfigError"],
      [
        new MissingPeerError([{ need: { feature: "kubernetes" }, packages: ["@kubernetes/client-node"] }]),
        "MissingPeerError",
      ],
    ];
    for (const [e, name] of errors) {
      assert.ok(e instanceof KubestepError, name);
      assert.ok(isKubestepError(e), name);
      assert.equal(e.name, name);
      assert.equal((e as KubestepError).exitCode, 2, name);
    }
    assert.equal(new ArtifactError("x").exitCode, 1);
  });

  it("recognises a KubestepError of another copy of the runtime (a flow's code package) by its brand", () => {
    const foreign = Object.assign(new Error("step s: bad"), { [Symbol.for("kubestep.error")]: true, exitCode: 2 });
    assert.ok(isKubestepError(foreign));
    assert.equal(isKubestepError(new Error("plain")), false);
    assert.equal(isKubestepError(Object.assign(new Error("x"), { name: "KubernetesConfigError" })), false);
    assert.equal(isKubestepError(undefined), false);
  });

  it("OptionProblems collects bad options (and only those), then throws one or all of them", () => {
    const p = new OptionProblems();
    const a = new DecoratorArgumentError("a", "@retry times", -1, "0..10");
    const b = new KubernetesConfigError("b", "@kubernetes cpu", 0, "> 0");
    assert.equal(
      p.check(() => 5),
      5,
    );
    assert.equal(
      p.check(() => {
        throw a;
      }),
      undefined,
    );
    assert.doesNotThrow(() => new OptionProblems().throwIfAny());
    assert.throws(
      () => p.throwIfAny(),
      (e: unknown) => e === a,
      "one problem: itself",
    );
    p.check(() => {
      throw new InvalidOptionsError([b, a]);
    });
    assert.deepEqual(p.list, [a, b], "flattened, repeats dropped");
    assert.throws(
      () => p.throwIfAny(),
      (e: unknown) =>
        e instanceof InvalidOptionsError &&
        e.exitCode === 2 &&
        e.message === `2 invalid options:\n  - ${a.message}\n  - ${b.message}`,
    );
    const other = new TypeError("not an option problem");
    assert.throws(
      () =>
        p.check(() => {
          throw other;
        }),
      (e: unknown) => e === other,
    );
    assert.equal(optionProblemsOf(other), undefined);
    assert.equal(optionProblemsOf(new FlowDefinitionError("x")), undefined);
  });
});
