/**
 * Integrity and concurrent runs over a REAL S3 server (versitygw, verifying SigV4; started by `npm test`),
 * through the real CLI: an artifact whose bytes were overwritten in the bucket is refused by `kubestep dump` and
 * the client API with both hashes, and `kubestep resume` recomputes its task; a damaged code package in the
 * bucket is replaced, not trusted; runs of one flow at once keep their own data.
 */
import { strict as assert } from "node:assert";
import { createHash, randomBytes } from "node:crypto";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Flow } from "../../../runtime/client/index.js";
import { FlowDatastore } from "../../../runtime/datastore/flowstore.js";
import { S3Storage } from "../../../runtime/datastore/s3.js";
import { FLOWS, kubestep, runIdOf, scratch } from "../../helpers/cli.js";
import { runsAtOnce } from "../../helpers/concurrent-runs.js";
import { recordFaults, reportReliabilityAfter } from "../../helpers/reliability.js";

const THIS = fileURLToPath(import.meta.url);
const FLOW = "IntegrityFlow";
const FILE = join(FLOWS, "integrity.ts");
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";

describe("integrity and concurrent runs over S3 (versitygw)", function () {
  this.timeout(180_000);
  reportReliabilityAfter();
  let root: string;
  let env: Record<string, string>;
  let ds: FlowDatastore;

  before(() => {
    for (const v of ["KUBESTEP_S3_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"])
      assert.ok(process.env[v], `${v} must be set (npm test starts versitygw)`);
    root = `s3://kubestep-test/integrity-${randomBytes(4).toString("hex")}`;
    env = { KUBESTEP_DATASTORE_SYSROOT_S3: root };
    ds = new FlowDatastore(new S3Storage(root), FLOW);
  });

  it("dump, the client API and resume refuse an artifact overwritten in the bucket; resume recomputes it", async () => {
    const cwd = scratch();
    const first = await kubestep(["run", FILE, "--label", "s3", "--datastore", "s3"], {
      cwd,
      env: { ...env, KS_FAIL_END: "end fails on purpose" },
    });
    assert.equal(first.code, 1, first.stderr);
    const run = runIdOf(first);
    const meta = (await ds.readTask(run, "start", "1"))!;
    const ref = meta.artifacts!.blob!;
    // Overwrite the object with other bytes of the same size.
    const other = Buffer.from((await ds.storage.get(ds.blobKey(ref.sha)))!).reverse();
    await ds.storage.put(ds.blobKey(ref.sha), other);
    const actual = createHash("sha256").update(other).digest("hex");

    const dump = await kubestep(["dump", `${FLOW}/${run}/start/1`, "--datastore", "s3"], { cwd, env });
    assert.equal(dump.code, 1, dump.stderr);
    assert.match(
      dump.stderr,
      new RegExp(
        `artifact blob of ${FLOW}/${run}/start/1 is corrupt: the stored bytes have sha256 ${actual}, expected ${ref.sha}`,
      ),
    );
    assert.doesNotMatch(dump.stderr, /\n\s+at /);

    const flow = await Flow.connect(FLOW, { datastore: "s3", root });
    const task = flow.run(run)!.step("start").task;
    await task.fetch();
    assert.equal(task.data.label, "s3");
    assert.throws(
      () => task.data.blob,
      (e: Error & { actual?: string }) => e.name === "IntegrityError" && e.actual === actual,
    );

    const resumed = await kubestep(["resume", FILE, "--origin-run-id", run, "--datastore", "s3"], { cwd, env });
    assert.equal(resumed.code, 0, resumed.stderr);
    assert.match(resumed.stderr, new RegExp(`not reusing ${run}/start/1: its artifact blob is damaged`));
    const again = runIdOf(resumed);
    const r2 = (await Flow.connect(FLOW, { datastore: "s3", root })).run(again)!;
    assert.ok(r2.successful);
    await r2.fetch();
    assert.equal(r2.step("start").task.meta.clonedFrom, undefined);
    assert.deepEqual(r2.step("start").task.data.blob, Buffer.from("bytes of s3".repeat(64)));
    assert.equal(
      createHash("sha256")
        .update((await ds.storage.get(ds.blobKey(ref.sha)))!)
        .digest("hex"),
      ref.sha,
    );
    recordFaults("corruption", "overwritten artifact in the bucket: dump, client, resume", THIS, {
      backend: "S3 (versitygw)",
      faultsInjected: 1,
      runsCompleted: 1,
      tasksRerun: 2,
      objectsLost: 0,
      outcome: "refused with both hashes; resume recomputed start and middle and rewrote the object",
    });
  });

  it("a damaged code package in the bucket is replaced, not trusted", async () => {
    const cwd = scratch();
    const r = await kubestep(["run", FILE, "--datastore", "s3"], { cwd, env });
    assert.equal(r.code, 0, r.stderr);
    const sha = (await ds.readRun(runIdOf(r)))!.codeHash;
    const key = ds.codeKey(sha);
    await ds.storage.put(key, "// damaged\n");
    await assert.rejects(ds.getCode(sha), (e: Error) => e.name === "IntegrityError" && e.message.includes(sha));
    const again = await kubestep(["run", FILE, "--datastore", "s3"], { cwd, env });
    assert.equal(again.code, 0, again.stderr);
    assert.equal(
      createHash("sha256")
        .update(await ds.getCode(sha))
        .digest("hex"),
      sha,
    );
    recordFaults("corruption", "damaged code package in the bucket", THIS, {
      backend: "S3 (versitygw)",
      faultsInjected: 1,
      runsCompleted: 1,
      tasksRerun: 0,
      objectsLost: 0,
      outcome: "refused on read (IntegrityError); the next run uploaded an intact copy",
    });
  });

  it("three runs of the same flow at once keep their own artifacts and metadata", async () => {
    const runs = await runsAtOnce("s3", env);
    recordFaults("concurrent-runs", "3 runs of one flow at once", THIS, {
      backend: "S3 (versitygw)",
      faultsInjected: 0,
      runsCompleted: runs,
      tasksRerun: 0,
      objectsLost: 0,
      outcome: "every run's params, artifacts and parents are its own",
    });
  });
});
