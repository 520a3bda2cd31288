/**
 * parseDurationSeconds, the parser of the pending timeout (KUBESTEP_KUBERNETES_PENDING_TIMEOUT) and the
 * image pull grace, at its edges: 0, negative, non-numbers and "never".
 */
import { strict as assert } from "node:assert";
import { parseDurationSeconds } from "../../../runtime/contract/units.js";
import { parseVariable, VariableError } from "../../../runtime/variables.js";

describe("parseDurationSeconds (the pending timeout's forms)", () => {
  it("seconds, or a duration with s/m/h; spaces and case do not matter", () => {
    assert.equal(parseDurationSeconds("900"), 900);
    assert.equal(parseDurationSeconds("8s"), 8);
    assert.equal(parseDurationSeconds("15m"), 900);
    assert.equal(parseDurationSeconds(" 15 M "), 900);
    assert.equal(parseDurationSeconds("1.5h"), 5400);
    assert.equal(parseDurationSeconds("0.5"), 0.5);
  });

  it('"never" (any case) waits forever: null', () => {
    assert.equal(parseDurationSeconds("never"), null);
    assert.equal(parseDurationSeconds(" NEVER "), null);
  });

  it("0, negative, non-numbers, other units and exponents are refused (undefined)", () => {
    for (const bad of [
      "0",
      "0s",
      "0.0",
      "-5",
      "-1m",
      "",
      " ",
      "soon",
      "NaN",
      "Infinity",
      "1e3",
      "15min",
      "2d",
      "1h30m",
      "0x10",
      "never!",
      "forever",
    ])
      assert.equal(parseDurationSeconds(bad), undefined, JSON.stringify(bad));
  });

  it("through the variable: a refused value names the variable, the value and the forms", () => {
    for (const bad of ["0", "-5", "ten"])
      assert.throws(
        () => parseVariable("KUBESTEP_KUBERNETES_PENDING_TIMEOUT", { KUBESTEP_KUBERNETES_PENDING_TIMEOUT: bad }),
        (e: unknown) =>
          e instanceof VariableError &&
          e.exitCode === 2 &&
          e.message ===
            `KUBESTEP_KUBERNETES_PENDING_TIMEOUT=${JSON.stringify(bad)} is invalid; use seconds (e.g. 900), a duration with s/m/h (e.g. 15m), or "never"`,
      );
    // Blank is unset (the default applies), not an error.
    assert.equal(
      parseVariable("KUBESTEP_KUBERNETES_PENDING_TIMEOUT", { KUBESTEP_KUBERNETES_PENDING_TIMEOUT: "  " }),
      undefined,
    );
  });
});
