import { strict as assert } from "node:assert";
import { waitForHostname } from "../../../runtime/exec/task.js";

describe("task runtime: @parallel control address", () => {
  it("returns at once for IP addresses and for a name that resolves (localhost)", async () => {
    const t0 = Date.now();
    await waitForHostname("10.88.0.7", 1, "train");
    await waitForHostname("127.0.0.1", 1, "train");
    await waitForHostname("localhost", 5, "train");
    assert.ok(Date.now() - t0 < 2000);
  });
});
