/**
 * The client API over remote datastores: a run stored in a REAL S3 server (versitygw, verifying SigV4) and in a
 * REAL GCS API server (fake-gcs-server), both started by `npm test` (test/tooling/servers/up.sh), read with
 * Flow.connect.
 */
import { strict as assert } from "node:assert";
import { join } from "node:path";
import { Flow } from "../../../runtime/client/index.js";
import { ROOT, kubestep, runIdOf, scratch } from "../../helpers/cli.js";

const remotes = [
  {
    kind: "s3",
    name: "S3",
    server: "versitygw",
    vars: ["KUBESTEP_DATASTORE_SYSROOT_S3", "KUBESTEP_S3_ENDPOINT_URL", "AWS_ACCESS_KEY_ID"],
  },
  {
    kind: "gs",
    name: "GCS",
    server: "fake-gcs-server",
    vars: ["KUBESTEP_DATASTORE_SYSROOT_GS", "KUBESTEP_GCS_ENDPOINT_URL"],
  },
] as const;

for (const { kind, name, server, vars } of remotes)
  describe(`client API over ${name}`, function () {
    this.timeout(60_000);

    it(`connects to the ${name} datastore, lists runs and reads artifacts after fetch()`, async () => {
      for (const v of vars)
        assert.ok(process.env[v], `${v} must be set (npm test starts the ${name} server, ${server})`);
      const cwd = scratch();
      const r = await kubestep(
        ["run", join(ROOT, "examples", "hello.ts"), "--n", "4", "--datastore", kind, "--tag", "remote"],
        { cwd },
      );
      assert.equal(r.code, 0, r.stderr);
      const id = runIdOf(r);
      const flow = await Flow.connect("HelloFlow", { datastore: kind });
      const run = flow.run(id)!;
      assert.ok(run, `run ${id} is listed`);
      assert.ok(run.successful);
      assert.deepEqual(run.tags, ["remote"]);
      assert.deepEqual(
        run.steps.map((s) => s.name),
        ["start", "square", "join", "end"],
      );
      const join_ = run.step("join").task;
      assert.throws(() => join_.data.total, /is in a remote datastore .* call `await task.fetch\(\)`/);
      await join_.fetch();
      assert.equal(join_.data.total, 14);
      await run.fetch();
      assert.deepEqual(
        run
          .step("square")
          .tasks.map((t) => t.data.sq)
          .sort(),
        [0, 1, 4, 9],
      );
      assert.match(run.step("end").task.logs(), /total = 14/);
      assert.ok(flow.runsTagged("remote").some((x) => x.id === id));
    });
  });
