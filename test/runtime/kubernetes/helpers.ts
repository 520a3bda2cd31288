import { strict as assert } from "node:assert";
import { describeValue } from "../../../runtime/errors.js";
import type { KubestepEnvironment } from "../../../runtime/environment.js";
import { resolveKubernetesConfig, type KubernetesConfigInput } from "../../../runtime/kubernetes/config.js";
import { KubernetesConfigError } from "../../../runtime/kubernetes/options.js";

/**
 * Runs `fn`, expects a KubernetesConfigError, and checks that its message names the step, the option,
 * the bad value and what is allowed (and that `allowed` mentions `allowedIncludes`).
 */
export function expectConfigError(
  fn: () => unknown,
  want: { step: string; option: string; value: unknown; allowedIncludes: string },
): KubernetesConfigError {
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  assert.ok(
    err instanceof KubernetesConfigError,
    `expected a KubernetesConfigError, got ${err === undefined ? "no error" : String(err)}`,
  );
  assert.equal(err.step, want.step);
  assert.equal(err.option, want.option);
  assert.deepEqual(err.value, want.value);
  assert.ok(err.message.includes(`step ${want.step}`), `message names the step: ${err.message}`);
  assert.ok(err.message.includes(want.option), `message names the option ${want.option}: ${err.message}`);
  assert.ok(
    err.message.includes(describeValue(want.value)),
    `message shows the value ${describeValue(want.value)}: ${err.message}`,
  );
  assert.ok(err.message.includes(err.allowed), `message says what is allowed: ${err.message}`);
  assert.ok(
    err.allowed.includes(want.allowedIncludes),
    `allowed mentions ${JSON.stringify(want.allowedIncludes)}: ${err.allowed}`,
  );
  assert.equal(err.name, "KubernetesConfigError");
  return err;
}

/** The step the configuration tests resolve. */
export const STEP = "train";

/** Resolves step {@link STEP}'s configuration with no variables, plus `over`. */
export const resolveStep = (over: Partial<KubernetesConfigInput> = {}) =>
  resolveKubernetesConfig({ step: STEP, env: {}, ...over });

/** A valid environment (version 1) of the configuration tests, with `over` on top. */
export function testEnvironment(over: Partial<KubestepEnvironment> = {}): KubestepEnvironment {
  return {
    version: 1,
    name: "dev",
    namespace: "env-ns",
    serviceAccount: "env-sa",
    datastore: { kind: "s3", root: "s3://b/p" },
    image: "env.example.com/img:1",
    imagePullSecrets: ["env-pull"],
    defaults: {},
    podLabels: {},
    podAnnotations: {},
    gpuPools: [],
    ...over,
  };
}
