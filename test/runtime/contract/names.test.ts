import { strict as assert } from "node:assert";
import {
  annotationKeyProblem,
  dnsFragment,
  isDnsLabel,
  isDnsSubdomain,
  labelKeyProblem,
  labelValueProblem,
  sanitizeLabelValue,
} from "../../../runtime/contract/names.js";

describe("kubernetes labels", () => {
  it("accepts valid label keys and rejects invalid ones", () => {
    for (const k of ["app", "team.name", "example.com/x", "a-b_c.d", "kubestep.io/flow", "A1"])
      assert.equal(labelKeyProblem(k), undefined, k);
    for (const k of [
      "",
      "-a",
      "a-",
      "a/b/c",
      "Example.com/x",
      "ex_ample.com/x",
      "/x",
      "x/",
      "a b",
      "x".repeat(64),
      `${"a".repeat(254)}/x`,
    ])
      assert.ok(labelKeyProblem(k), `should reject ${JSON.stringify(k)}`);
    assert.equal(annotationKeyProblem("example.com/any-key"), undefined);
    assert.ok(annotationKeyProblem("bad key"));
  });

  it("accepts valid label values (including empty) and rejects invalid ones", () => {
    for (const v of ["", "a", "a.b-c_d", "x".repeat(63), "20240101T000000"])
      assert.equal(labelValueProblem(v), undefined, v);
    for (const v of ["-a", "a-", "a b", "é", "x".repeat(64), "a/b", 5])
      assert.ok(labelValueProblem(v), `should reject ${JSON.stringify(v)}`);
  });

  it("leaves valid values unchanged", () => {
    assert.equal(sanitizeLabelValue("HelloFlow"), "HelloFlow");
    assert.equal(sanitizeLabelValue(""), "");
    assert.equal(sanitizeLabelValue("x".repeat(63)), "x".repeat(63));
  });

  it("sanitizes invalid values into valid, stable, distinct ones", () => {
    const inputs = [
      "alice@example.com",
      "alice#example.com",
      "-lead-",
      "x".repeat(200),
      "x".repeat(201),
      "日本語",
      "a b/c",
      "_x_",
    ];
    const outs = inputs.map(sanitizeLabelValue);
    for (const [i, o] of outs.entries()) {
      assert.equal(labelValueProblem(o), undefined, `${inputs[i]} -> ${o}`);
      assert.ok(o.length <= 63);
      assert.equal(sanitizeLabelValue(inputs[i]!), o, "stable");
    }
    assert.equal(new Set(outs).size, outs.length, "distinct inputs stay distinct");
    assert.match(outs[0]!, /^alice-example\.com-[0-9a-f]{8}$/);
    assert.match(outs[3]!, /^x{54}-[0-9a-f]{8}$/);
    assert.match(outs[5]!, /^[0-9a-f]{8}$/);
  });

  it("checks DNS names and builds DNS fragments", () => {
    assert.ok(isDnsLabel("ns-1"));
    assert.ok(!isDnsLabel("ns.1"));
    assert.ok(!isDnsLabel("x".repeat(64)));
    assert.ok(isDnsSubdomain("a.b-c"));
    assert.ok(!isDnsSubdomain("A"));
    assert.equal(dnsFragment("Hello_World Flow", 50), "hello-world-flow");
    assert.equal(dnsFragment("__abc--", 50), "abc");
    assert.equal(dnsFragment("abcdef-ghi", 7), "abcdef");
  });
});
