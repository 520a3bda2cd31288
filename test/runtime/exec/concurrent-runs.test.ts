/** Runs of one flow at once on one local datastore never corrupt each other's data (test/helpers/concurrent-runs.ts). */
import { fileURLToPath } from "node:url";
import { runsAtOnce } from "../../helpers/concurrent-runs.js";
import { recordFaults, reportReliabilityAfter } from "../../helpers/reliability.js";

describe("concurrent runs (local datastore)", function () {
  this.timeout(120_000);
  reportReliabilityAfter();

  it("three runs of the same flow at once keep their own artifacts and metadata", async () => {
    const runs = await runsAtOnce("local");
    recordFaults("concurrent-runs", "3 runs of one flow at once", fileURLToPath(import.meta.url), {
      backend: "local",
      faultsInjected: 0,
      runsCompleted: runs,
      tasksRerun: 0,
      objectsLost: 0,
      outcome: "every run's params, artifacts and parents are its own",
    });
  });
});
