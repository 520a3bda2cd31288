import assert from "node:assert/strict";
import {
  DEFAULT_GPU_TAINT,
  parseTaint,
  toAksTaint,
  toEksTaint,
  toGkeTaint,
  toleration,
} from "../../components/taints.js";
import { inputError } from "./mocks.js";

describe("components/taints", () => {
  it("maps one normalized taint to each provider's spelling", () => {
    assert.deepEqual(DEFAULT_GPU_TAINT, { key: "nvidia.com/gpu", value: "present", effect: "NoSchedule" });
    assert.deepEqual(toEksTaint(DEFAULT_GPU_TAINT), { key: "nvidia.com/gpu", value: "present", effect: "NO_SCHEDULE" });
    assert.deepEqual(toGkeTaint(DEFAULT_GPU_TAINT), { key: "nvidia.com/gpu", value: "present", effect: "NO_SCHEDULE" });
    assert.equal(toAksTaint(DEFAULT_GPU_TAINT), "nvidia.com/gpu=present:NoSchedule");
    const t = { key: "dedicated", effect: "PreferNoSchedule" } as const;
    assert.deepEqual(toEksTaint(t), { key: "dedicated", effect: "PREFER_NO_SCHEDULE" });
    assert.deepEqual(toGkeTaint({ ...t, effect: "NoExecute" }), { key: "dedicated", value: "", effect: "NO_EXECUTE" });
    assert.equal(toAksTaint(t), "dedicated:PreferNoSchedule");
  });
  it("parses the k=v:Effect spelling and builds tolerations", () => {
    assert.deepEqual(parseTaint("nvidia.com/gpu=present:NoSchedule"), DEFAULT_GPU_TAINT);
    assert.deepEqual(parseTaint("gpu:NoExecute"), { key: "gpu", effect: "NoExecute" });
    assert.deepEqual(toleration(DEFAULT_GPU_TAINT), {
      key: "nvidia.com/gpu",
      operator: "Equal",
      value: "present",
      effect: "NoSchedule",
    });
    assert.deepEqual(toleration({ key: "gpu", effect: "NoExecute" }), {
      key: "gpu",
      operator: "Exists",
      effect: "NoExecute",
    });
  });
  it("rejects malformed taints naming the property and allowed effects", () => {
    let e = inputError(() => parseTaint("gpu=1:Never", "taints[0]"));
    assert.equal(e.propertyPath, "taints[0].effect");
    assert.match(e.reason, /NoSchedule, PreferNoSchedule, NoExecute.*"Never"/);
    e = inputError(() => parseTaint("no-effect"));
    assert.equal(e.propertyPath, "taint");
  });
});
