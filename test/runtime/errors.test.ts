/** One error base: every error kubestep raises for bad input carries its exit code and a brand the CLI maps by. */
import { strict as assert } from "node:assert";
import {
  ArtifactError,
  DecoratorArgumentError,
  FlowDefinitionError,
  isKubestepError,
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
});
