/**
 * Integrity on the local datastore, through the real CLI: an artifact whose stored bytes were overwritten is
 * refused by `kubestep dump`, the client API and a task reading it as input (naming the flow/run/step/task, the
 * artifact and both hashes); `kubestep resume` recomputes the task instead of reusing it; a truncated or
 * malformed metadata file gives a clear error, never a stack trace.
 */
import { strict as assert } from "node:assert";
import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Flow } from "../../../runtime/client/index.js";
import { FLOWS, kubestep, runIdOf, scratch } from "../../helpers/cli.js";
import { recordFaults, reportReliabilityAfter } from "../../helpers/reliability.js";

const FILE = join(FLOWS, "integrity.ts");
const FLOW = "IntegrityFlow";

interface Ref {
  sha: string;
  size: number;
}

function taskJson(cwd: string, run: string, step: string, task: string): { artifacts: Record<string, Ref> } {
  return JSON.parse(readFileSync(join(cwd, ".kubestep", FLOW, "runs", run, step, task, "task.json"), "utf8"));
}

/** Flips one byte of a stored artifact (same size: only the hash can tell). Returns the object's path. */
function damage(cwd: string, sha: string): string {
  const p = join(cwd, ".kubestep", FLOW, "data", sha.slice(0, 2), sha);
  const b = readFileSync(p);
  b[b.length - 1] ^= 0x01;
  writeFileSync(p, b);
  return p;
}

const sha256 = (b: Buffer) => createHash("sha256").update(b).digest("hex");
const THIS = fileURLToPath(import.meta.url);

describe("artifact integrity (local datastore)", function () {
  this.timeout(120_000);
  reportReliabilityAfter();

  it("dump, the client API and resume refuse an overwritten artifact; resume recomputes its task", async () => {
    const cwd = scratch();
    const first = await kubestep(["run", FILE, "--label", "x"], { cwd, env: { KS_FAIL_END: "end fails on purpose" } });
    assert.equal(first.code, 1, first.stderr);
    const run = runIdOf(first);
    const ref = taskJson(cwd, run, "start", "1").artifacts.value!;
    const path = damage(cwd, ref.sha);
    const actual = sha256(readFileSync(path));

    // dump: a clear error, exit 1, no stack.
    const dump = await kubestep(["dump", `${FLOW}/${run}/start/1`], { cwd });
    assert.equal(dump.code, 1, dump.stderr);
    assert.match(dump.stderr, new RegExp(`artifact value of ${FLOW}/${run}/start/1 is corrupt`));
    assert.ok(dump.stderr.includes(ref.sha) && dump.stderr.includes(actual), dump.stderr);
    assert.doesNotMatch(dump.stderr, /\n\s+at |deserialize|Unable to/);
    // The intact artifacts of the task still dump (one at a time).
    const blob = await kubestep(["dump", `${FLOW}/${run}/start/1`, "--artifact", "blob"], { cwd });
    assert.equal(blob.code, 0, blob.stderr);

    // The client API.
    const task = new Flow(FLOW, { root: join(cwd, ".kubestep") }).run(run)!.step("start").task;
    assert.equal(task.data.label, "x");
    assert.throws(
      () => task.data.value,
      (e: Error & { expected?: string; actual?: string }) =>
        e.name === "IntegrityError" &&
        e.expected === ref.sha &&
        e.actual === actual &&
        e.message.includes(`artifact value of ${FLOW}/${run}/start/1 is corrupt`),
    );

    // resume: start and middle used the damaged object; both are recomputed, not reused.
    const resumed = await kubestep(["resume", FILE, "--origin-run-id", run], { cwd });
    assert.equal(resumed.code, 0, resumed.stderr);
    assert.match(
      resumed.stderr,
      new RegExp(
        `resume: not reusing ${run}/start/1: its artifact value is damaged in the datastore \\(object \\S+ has sha256 ${actual}, expected ${ref.sha}\\); step start is recomputed`,
      ),
    );
    assert.doesNotMatch(resumed.stderr, /reused /);
    const again = runIdOf(resumed);
    const r2 = new Flow(FLOW, { root: join(cwd, ".kubestep") }).run(again)!;
    assert.ok(r2.successful);
    assert.equal(r2.step("start").task.meta.clonedFrom, undefined, "start ran again");
    assert.deepEqual(r2.step("start").task.data.value, { label: "x", list: [1, 2, 3] });
    assert.equal(r2.step("end").task.data.total, `xx:${"bytes of x".length * 64}!`);
    // The recomputed value was written again: the object is intact now.
    assert.equal(sha256(readFileSync(path)), ref.sha);
    recordFaults("corruption", "overwritten artifact: dump, client, resume", THIS, {
      backend: "local",
      faultsInjected: 1,
      runsCompleted: 1,
      tasksRerun: 2,
      objectsLost: 0,
      outcome: "refused by dump and the client with both hashes; resume recomputed start and middle",
    });
  });

  it("a task reading a damaged input fails, naming the input's task, the artifact and both hashes", async () => {
    const cwd = scratch();
    const running = kubestep(["run", FILE, "--label", "y"], { cwd, env: { KS_SLOW_MS: "4000" } });
    // Damage `value` once start has finished, while middle sleeps before reading it.
    let run: string | undefined;
    let ref: Ref | undefined;
    for (let i = 0; i < 200 && !ref; i++) {
      await new Promise((r) => setTimeout(r, 50));
      const runs = join(cwd, ".kubestep", FLOW, "runs");
      if (!existsSync(runs)) continue;
      run = readdirSync(runs)[0];
      const t = run && join(runs, run, "start", "1", "task.json");
      if (t && existsSync(t)) {
        const meta = JSON.parse(readFileSync(t, "utf8"));
        if (meta.status === "succeeded") ref = meta.artifacts.value;
      }
    }
    assert.ok(ref, "start finished");
    damage(cwd, ref.sha);
    const r = await running;
    assert.equal(r.code, 1, r.stderr);
    assert.match(
      r.stderr,
      new RegExp(
        `artifact value of ${FLOW}/${run}/start/1 is corrupt: the stored bytes have sha256 [0-9a-f]{64}, expected ${ref.sha}`,
      ),
    );
    recordFaults("corruption", "damaged task input", THIS, {
      backend: "local",
      faultsInjected: 1,
      runsCompleted: 0,
      tasksRerun: 0,
      objectsLost: 0,
      outcome: "the reading task failed with an IntegrityError naming the input",
    });
  });

  it("a truncated or malformed task.json gives a clear error naming the file, never a stack trace", async () => {
    const cwd = scratch();
    const r = await kubestep(["run", FILE], { cwd });
    assert.equal(r.code, 0, r.stderr);
    const run = runIdOf(r);
    const file = join(cwd, ".kubestep", FLOW, "runs", run, "middle", "2", "task.json");
    const text = readFileSync(file, "utf8");
    writeFileSync(file, text.slice(0, Math.floor(text.length / 2)));
    const dump = await kubestep(["dump", `${FLOW}/${run}/middle/2`], { cwd });
    assert.equal(dump.code, 1, dump.stderr);
    assert.match(
      dump.stderr,
      new RegExp(
        `task metadata ${FLOW}/runs/${run}/middle/2/task.json in the datastore \\S+ is not valid JSON: .*truncated\\?`,
      ),
    );
    assert.doesNotMatch(dump.stderr, /\n\s+at /);
    assert.throws(
      () => new Flow(FLOW, { root: join(cwd, ".kubestep") }).run(run)!.step("middle").task,
      /task metadata .*middle\/2\/task\.json .* is not valid JSON/,
    );
    // Valid JSON of the wrong shape: every problem is named.
    const meta = JSON.parse(text);
    delete meta.attempts;
    meta.status = "done";
    meta.artifacts.doubled.sha = "abc";
    writeFileSync(file, JSON.stringify(meta));
    const bad = await kubestep(["dump", `${FLOW}/${run}/middle/2`], { cwd });
    assert.equal(bad.code, 1, bad.stderr);
    assert.match(
      bad.stderr,
      /is malformed: status is "done", not one of running, succeeded, failed; attempts is missing; artifacts\.doubled\.sha is "abc", not a sha256/,
    );
    assert.doesNotMatch(bad.stderr, /\n\s+at /);
    recordFaults("corruption", "truncated / malformed task.json", THIS, {
      backend: "local",
      faultsInjected: 2,
      runsCompleted: 0,
      tasksRerun: 0,
      objectsLost: 0,
      outcome: "dump and the client name the file and every problem; no stack trace",
    });
  });
});
