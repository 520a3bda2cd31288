/**
 * Task processes run without --enable-source-maps; the stack of a failed step is mapped to the user's file and line
 * from the code package's inline source map.
 */
import { strict as assert } from "node:assert";
import { readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { FLOWS, kubestep, scratch } from "../../helpers/cli.js";
import { mapStack } from "../../../runtime/exec/stack.js";

describe("task stack traces", function () {
  this.timeout(120_000);

  it("a failed step's stack names the flow file and the line that threw", async () => {
    const cwd = scratch();
    const counter = join(cwd, "counter");
    const r = await kubestep(["run", join(FLOWS, "failing.ts"), "--flow", "RetryFlow"], {
      cwd,
      env: { KS_COUNTER_FILE: counter },
    });
    const line =
      readFileSync(join(FLOWS, "failing.ts"), "utf8")
        .split("\n")
        .findIndex((l) => l.includes("flaky failure")) + 1;
    assert.ok(line > 0);
    assert.match(r.stderr, /flaky failure on attempt 1/);
    assert.ok(
      r.stderr.includes(`${join(FLOWS, "failing.ts")}:${line}:`),
      `a frame at failing.ts:${line} in:\n${r.stderr}`,
    );
    rmSync(cwd, { recursive: true, force: true });
  });

  it("mapStack leaves a stack without frames in the bundle as it is", () => {
    const s = "Error: x\n    at f (/somewhere/else.js:1:2)";
    assert.equal(mapStack(s, "/no/such/bundle.mjs"), s);
  });
});
