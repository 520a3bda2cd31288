/** Decorators bare and called in a flow that runs, and every bad option of every step in one CLI error. */
import { strict as assert } from "node:assert";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { FLOWS, kubestep, scratch } from "../../helpers/cli.js";

describe("kubestep CLI: decorator forms and bad options", function () {
  this.timeout(60_000);

  it("runs a flow whose decorators are written bare and called (@parallel, @retry, @resources, @catchFailure)", async () => {
    const cwd = scratch();
    const r = await kubestep(["run", join(FLOWS, "decoforms.ts"), "--flow", "DecoratorFormsFlow"], { cwd });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout + r.stderr, /nodes=\[0,1,0,1\] failure=step risky: Error: boom on attempt 1/);
    assert.match(r.stderr, /attempt 2 failed: step risky: Error: boom on attempt 1/, "@retry({ times: 1 }) retried");
    const show = await kubestep(["show", join(FLOWS, "decoforms.ts"), "--flow", "DecoratorFormsK8sFlow"], { cwd });
    assert.equal(show.code, 0, show.stderr);
    assert.match(show.stdout, /start \[start\] -> end {2}@kubernetes/);
    assert.match(show.stdout, /end \[end\] {2}@kubernetes/);
  });

  it("reports every bad option of every step in one error, exit 2, before anything runs", async () => {
    const cwd = scratch();
    const r = await kubestep(["run", join(FLOWS, "badoptions.ts")], { cwd });
    assert.equal(r.code, 2, r.stderr);
    const lines = [
      /step start: @retry times = 2\.5 is invalid; expected a whole number >= 0/,
      /step train: @resources gpu = -2 is invalid; expected a whole number >= 0/,
      /step train: @kubernetes cpu = -1 is invalid; expected a number of cores > 0/,
      /step train: @kubernetes memroy = 10 is invalid; unknown option; did you mean memory\?/,
      /step end: @kubernetes cudaVersion = "twelve" is invalid; expected a CUDA version "major\.minor"/,
      /step end: @kubernetes imagePullPolicy = "Sometimes" is invalid; allowed: Always, IfNotPresent, Never/,
      /step end: @timeout minutes = -5 is invalid; expected a number >= 0/,
    ];
    assert.match(r.stderr, /^kubestep run: 7 invalid options:\n/);
    for (const re of lines) assert.match(r.stderr, new RegExp(`\\n  - ${re.source}`));
    assert.doesNotMatch(r.stderr, /\n\s+at /, "no stack trace");
    assert.equal(existsSync(join(cwd, ".kubestep", "BadOptionsFlow")), false, "nothing may be stored");
  });
});
