/** The CLI's commands and exit codes, through the real binary. */
import { strict as assert } from "node:assert";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { FLOWS, ROOT, kubestep, runIdOf, scratch } from "../../helpers/cli.js";

const hello = join(ROOT, "examples", "hello.ts");

describe("kubestep CLI", function () {
  this.timeout(60_000);

  it("prints help for every command and exits 0", async () => {
    const cwd = scratch();
    for (const cmd of [[], ["run"], ["resume"], ["show"], ["runs"], ["logs"], ["dump"]]) {
      const r = await kubestep([...cmd, "--help"], { cwd });
      assert.equal(r.code, 0, `${cmd} --help: ${r.stderr}`);
      assert.match(r.stdout, /Usage: kubestep/);
    }
    const none = await kubestep([], { cwd });
    assert.equal(none.code, 2);
    const unknown = await kubestep(["frobnicate"], { cwd });
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /unknown command "frobnicate"/);
  });

  it("runs the example with a typed parameter and exits 0; runs/logs/dump read it back", async () => {
    const cwd = scratch();
    const r = await kubestep(["run", hello, "--n", "5", "--tag", "smoke"], { cwd });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /total = 30/);
    const id = runIdOf(r);
    const runs = await kubestep(["runs", "HelloFlow"], { cwd });
    assert.equal(runs.code, 0);
    assert.match(runs.stdout, new RegExp(`${id}\\s+succeeded .* tags=smoke\\s+params=\\{"n":5\\}`));
    const logs = await kubestep(["logs", `HelloFlow/${id}/end`], { cwd });
    assert.equal(logs.code, 0);
    assert.match(logs.stdout, /total = 30/);
    const joinTask = /\[\S+\/join\/(\d+)\] finished/.exec(r.stderr)![1];
    const dump = await kubestep(["dump", `HelloFlow/${id}/join/${joinTask}`, "--artifact", "total"], { cwd });
    assert.equal(dump.code, 0, dump.stderr);
    assert.equal(dump.stdout.trim(), "total = 30");
  });

  it("rejects bad parameters before anything runs (exit 2, names the parameter and what is allowed)", async () => {
    const cwd = scratch();
    const bad = await kubestep(["run", hello, "--n", "many"], { cwd });
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /parameter --n: "many" is not a number/);
    const unknown = await kubestep(["run", hello, "--m", "1"], { cwd });
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /unknown parameter --m; this flow's parameters: --n/);
    assert.equal(existsSync(join(cwd, ".kubestep", "HelloFlow")), false, "nothing may be stored");
  });

  it("rejects an invalid graph and a bad decorator with exit 2 and nothing run", async () => {
    const cwd = scratch();
    const counter = join(cwd, "ran");
    const g = await kubestep(["run", join(FLOWS, "broken.ts")], { cwd, env: { KS_COUNTER_FILE: counter } });
    assert.equal(g.code, 2);
    assert.match(g.stderr, /step end: is reached from a, b but takes no inputs; make it a join/);
    assert.equal(existsSync(counter), false);
    const d = await kubestep(["run", join(FLOWS, "baddeco.ts")], { cwd });
    assert.equal(d.code, 2);
    assert.match(d.stderr, /step start: @retry times = 2\.5 is invalid; expected a whole number >= 0/);
  });

  it("asks for --flow when a file exports several flows, and names them", async () => {
    const cwd = scratch();
    const r = await kubestep(["run", join(FLOWS, "failing.ts")], { cwd });
    assert.equal(r.code, 2);
    assert.match(
      r.stderr,
      /exports several flows \(BadArtifactFlow, CatchFlow, ExitFlow, ResumeFlow, RetryFlow, SleepLocalFlow, TimeoutFlow\); choose one with --flow <Name>/,
    );
    const missing = await kubestep(["run", join(cwd, "nope.ts")], { cwd });
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /flow file .*nope\.ts does not exist/);
  });

  it("rejects a bad S3 or GCS endpoint with exit 2, naming the variable, the value and the allowed form", async () => {
    const cwd = scratch();
    const cases: Array<[string, Record<string, string>]> = [
      ["gs", { KUBESTEP_DATASTORE_SYSROOT_GS: "gs://b-1/ks", KUBESTEP_GCS_ENDPOINT_URL: "localhost:4443" }],
      ["s3", { KUBESTEP_DATASTORE_SYSROOT_S3: "s3://b-1/ks", KUBESTEP_S3_ENDPOINT_URL: "ftp://10.0.0.1" }],
    ];
    for (const [kind, env] of cases) {
      const r = await kubestep(["run", hello, "--datastore", kind], { cwd, env });
      assert.equal(r.code, 2, r.stderr);
      const [variable, value] = Object.entries(env).find(([k]) => k.endsWith("_ENDPOINT_URL"))!;
      assert.match(
        r.stderr,
        new RegExp(
          `^kubestep run: ${variable}="${value.replace(/[.]/g, "\\.")}" is not a valid endpoint: .*; use an http:// or https:// URL such as `,
          "m",
        ),
      );
      assert.doesNotMatch(r.stderr, /\n\s+at /, "no stack trace");
    }
  });

  it("show prints the graph, decorators and parameters", async () => {
    const r = await kubestep(["show", hello], { cwd: scratch() });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /start \[foreach\] -> square \(foreach items\)/);
    assert.match(r.stdout, /join\(inputs\) \[join\] -> end/);
    assert.match(r.stdout, /--n <number> \(default 3\) {2}how many items/);
  });

  it("Ctrl-C stops every task, marks the run failed and exits 130", async () => {
    const cwd = scratch();
    const { spawn } = await import("node:child_process");
    const { BIN } = await import("../../helpers/cli.js");
    const child = spawn(process.execPath, [BIN, "run", join(FLOWS, "failing.ts"), "--flow", "SleepLocalFlow"], {
      cwd,
      env: { ...process.env, KUBESTEP_DATASTORE_SYSROOT_LOCAL: join(cwd, ".kubestep") },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let err = "";
    child.stderr.on("data", (c) => {
      err += c;
    });
    child.stdout.on("data", (c) => {
      if (/\] napping/.test(String(c)) && !child.killed) child.kill("SIGINT");
    });
    const code = await new Promise((r) => child.on("close", r));
    assert.equal(code, 130);
    assert.match(err, /SIGINT: stopping every task/);
    const { Flow } = await import("../../../runtime/client/index.js");
    const run = new Flow("SleepLocalFlow", { root: join(cwd, ".kubestep") }).latestRun!;
    assert.equal(run.status, "failed");
    assert.match(run.error!, /interrupted by SIGINT/);
    assert.equal(run.step("nap").task.attempts[0]!.reason, "killed");
  });
});
