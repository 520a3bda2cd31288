/** How long a pod's pre-signed code URL stays valid: until the attempt's pod can no longer start. */
import { strict as assert } from "node:assert";
import {
  CODE_URL_START_SECONDS,
  CODE_URL_UNBOUNDED_PENDING_SECONDS,
  codeUrlSeconds,
} from "../../../../runtime/exec/kubernetes/executor.js";
import { DEFAULT_PENDING_TIMEOUT_SECONDS } from "../../../../runtime/exec/kubernetes/explain.js";

describe("pre-signed code URL expiry", () => {
  it("outlives the pending timeout by the time to pull the image and start, no more", () => {
    assert.equal(codeUrlSeconds(DEFAULT_PENDING_TIMEOUT_SECONDS), 15 * 60 + 30 * 60);
    assert.equal(codeUrlSeconds(60), 60 + CODE_URL_START_SECONDS);
    assert.equal(codeUrlSeconds(0), CODE_URL_START_SECONDS);
    assert.ok(codeUrlSeconds(DEFAULT_PENDING_TIMEOUT_SECONDS) < 24 * 3600, "far shorter than the former 24 h");
  });
  it("is one day when pods may pend forever, and never beyond the 7 days S3 and GCS allow", () => {
    assert.equal(codeUrlSeconds(null), CODE_URL_UNBOUNDED_PENDING_SECONDS + CODE_URL_START_SECONDS);
    assert.equal(codeUrlSeconds(30 * 24 * 3600), 7 * 24 * 3600);
  });
});
