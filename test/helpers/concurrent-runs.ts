/**
 * Two runs of the same flow at once on the same datastore (test/fixtures/flows/integrity.ts, with different
 * `label`s and a slow middle step so that they overlap), through the real CLI: each run's metadata and
 * artifacts must be its own. Shared by the local and the S3 suites.
 */
import { strict as assert } from "node:assert";
import { join } from "node:path";
import { Flow } from "../../runtime/client/index.js";
import { FLOWS, kubestep, runIdOf, scratch } from "./cli.js";

/** Runs the two at once and checks them; resolves to the number of runs completed. */
export async function runsAtOnce(datastore: "local" | "s3", env: Record<string, string> = {}): Promise<number> {
  const cwd = scratch();
  const labels = ["alpha", "beta", "gamma"];
  const results = await Promise.all(
    labels.map((label) =>
      kubestep(["run", join(FLOWS, "integrity.ts"), "--label", label, "--datastore", datastore], {
        cwd,
        env: { KS_SLOW_MS: "1500", ...env },
      }),
    ),
  );
  for (const r of results) assert.equal(r.code, 0, r.stderr);
  const ids = results.map(runIdOf);
  assert.equal(new Set(ids).size, labels.length, `distinct run ids: ${ids.join(", ")}`);
  const flow =
    datastore === "local"
      ? new Flow("IntegrityFlow", { root: join(cwd, ".kubestep") })
      : await Flow.connect("IntegrityFlow", {
          datastore,
          ...(env.KUBESTEP_DATASTORE_SYSROOT_S3 ? { root: env.KUBESTEP_DATASTORE_SYSROOT_S3 } : {}),
        });
  for (const [i, label] of labels.entries()) {
    const run = flow.run(ids[i]!)!;
    assert.ok(run?.successful, `run ${ids[i]} succeeded`);
    assert.deepEqual(run.params, { label });
    for (const step of ["start", "middle", "end"]) {
      const t = run.step(step).task;
      await t.fetch();
      assert.equal(t.meta.step, step);
      for (const p of t.meta.parents)
        assert.ok(run.step(p.split("/")[0]!).taskById(p.split("/")[1]!), `${p} is in ${ids[i]}`);
    }
    const end = run.step("end").task;
    assert.deepEqual(run.step("start").task.data.value, { label, list: [1, 2, 3] });
    assert.equal(end.data.total, `${label}${label}:${`bytes of ${label}`.length * 64}!`);
    assert.equal(end.data.label, label);
  }
  return labels.length;
}
