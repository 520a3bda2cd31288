/** Why a run started, as `kubestep runs` prints it, and `kubestep runs` over runs with and without a trigger. */
import { strict as assert } from "node:assert";
import { join } from "node:path";
import { describeTrigger } from "../../../runtime/deploy/record.js";
import { LocalStorage } from "../../../runtime/datastore/local.js";
import { FlowDatastore, type RunMeta } from "../../../runtime/datastore/flowstore.js";
import { kubestep, scratch } from "../../helpers/cli.js";

describe("deployed runs: why they started", () => {
  it("describes each kind of trigger in one line", () => {
    assert.equal(describeTrigger({ type: "manual", user: "ann" }), "manual trigger by ann");
    assert.equal(describeTrigger({ type: "schedule", cron: "0 * * * *" }), 'schedule "0 * * * *"');
    assert.equal(
      describeTrigger({ type: "schedule", cron: "0 9 * * 1", timezone: "Europe/Paris" }),
      'schedule "0 9 * * 1" (Europe/Paris)',
    );
    assert.equal(
      describeTrigger({ type: "event", name: "data-ready", payload: { table: "sales", day: "2026-01-02" } }),
      'event data-ready with table="sales" day="2026-01-02"',
    );
    assert.equal(describeTrigger({ type: "event", name: "ping", payload: {} }), "event ping");
    assert.equal(describeTrigger({ type: "flow", pathspec: "UpFlow/42" }), "upstream run UpFlow/42 succeeded");
  });

  it("kubestep runs prints the trigger of deployed runs, nothing for runs started by kubestep run", async () => {
    const cwd = scratch();
    const ds = new FlowDatastore(new LocalStorage(join(cwd, ".kubestep")), "TrigFlow");
    const base: RunMeta = {
      flowName: "TrigFlow",
      runId: "",
      status: "succeeded",
      params: {},
      tags: [],
      user: "ann",
      codeHash: "c",
      createdAt: "2026-01-01T00:00:00.000Z",
    };
    await ds.writeRun({ ...base, runId: "a-laptop" });
    await ds.writeRun({
      ...base,
      runId: "b-event",
      trigger: { type: "event", name: "data-ready", payload: { t: "x" } },
    } as RunMeta);
    await ds.writeRun({ ...base, runId: "c-flow", trigger: { type: "flow", pathspec: "UpFlow/7" } } as RunMeta);
    const r = await kubestep(["runs", "TrigFlow"], { cwd });
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trim().split("\n");
    assert.equal(lines.length, 3);
    assert.doesNotMatch(lines[0]!, /started by/);
    assert.match(lines[1]!, /^b-event .* started by: event data-ready with t="x"$/);
    assert.match(lines[2]!, /^c-flow .* started by: upstream run UpFlow\/7 succeeded$/);
  });
});
