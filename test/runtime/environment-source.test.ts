import assert from "node:assert/strict";
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { EnvironmentError } from "../../runtime/environment.js";
import { EnvironmentSourceError, loadEnvironment } from "../../runtime/environment-source.js";

const VALID = {
  version: 1,
  name: "dev",
  namespace: "ml-dev",
  serviceAccount: "kubestep-step",
  datastore: { kind: "s3", root: "s3://bucket/kubestep", region: "us-east-1" },
  image: "localhost/node:20-local",
  imagePullSecrets: [],
  defaults: { cpu: 1, memory: 4096, qos: "Burstable" },
  podLabels: {},
  podAnnotations: {},
  gpuPools: [
    {
      name: "gpu",
      vendor: "nvidia",
      resourceName: "nvidia.com/gpu",
      nodeLabels: { "kubestep.io/gpu-pool": "gpu" },
      taints: [{ key: "nvidia.com/gpu", value: "present", effect: "NoSchedule" }],
    },
  ],
};

describe("runtime/environment-source", () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), "ks-envsrc-"));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  /** A fake `pulumi` that behaves like the real CLI for the calls the runtime makes. */
  function fakePulumi(script: string): string {
    const bin = join(dir, `bin-${Math.random().toString(36).slice(2)}`);
    mkdirSync(bin, { recursive: true });
    const p = join(bin, "pulumi");
    writeFileSync(p, `#!/bin/sh\n${script}\n`);
    chmodSync(p, 0o755);
    return bin;
  }
  it("returns undefined when nothing is given", async () => {
    assert.equal(await loadEnvironment({ env: {} }), undefined);
  });

  it("reads --environment file.json and validates it", async () => {
    const f = join(dir, "env.json");
    writeFileSync(f, JSON.stringify(VALID));
    assert.deepEqual(await loadEnvironment({ environment: f, env: {} }), VALID);
  });

  it("reads KUBESTEP_ENVIRONMENT as inline JSON or as a path", async () => {
    assert.deepEqual(await loadEnvironment({ env: { KUBESTEP_ENVIRONMENT: JSON.stringify(VALID) } }), VALID);
    const f = join(dir, "env2.json");
    writeFileSync(f, JSON.stringify(VALID));
    assert.deepEqual(await loadEnvironment({ env: { KUBESTEP_ENVIRONMENT: f } }), VALID);
  });

  it("reports malformed JSON with the file and the position", async () => {
    const f = join(dir, "bad.json");
    writeFileSync(f, '{\n  "version": 1,\n  "name": "dev",\n}\n');
    await assert.rejects(loadEnvironment({ environment: f, env: {} }), (e: Error) => {
      assert.ok(e instanceof EnvironmentSourceError);
      assert.match(e.message, /malformed JSON in environment file .*bad\.json at line 4, column 1/);
      return true;
    });
    await assert.rejects(
      loadEnvironment({ env: { KUBESTEP_ENVIRONMENT: "{ nope" } }),
      /malformed JSON in KUBESTEP_ENVIRONMENT \(inline JSON\) at line 1/,
    );
  });

  it("reports a missing file", async () => {
    await assert.rejects(
      loadEnvironment({ environment: join(dir, "missing.json"), env: {} }),
      /cannot read environment file .*missing\.json: no such file/,
    );
  });

  it("names every bad field", async () => {
    const f = join(dir, "fields.json");
    writeFileSync(
      f,
      JSON.stringify({
        ...VALID,
        namespace: "Bad NS",
        datastore: { kind: "s3", root: "gs://x" },
        defaults: { qos: "Gold" },
        extra: 1,
      }),
    );
    await assert.rejects(loadEnvironment({ environment: f, env: {} }), (e: Error) => {
      assert.ok(e instanceof EnvironmentError);
      const p = (e as EnvironmentError).problems.join("\n");
      assert.match(p, /^namespace: not a valid Kubernetes namespace name/m);
      assert.match(p, /^datastore.root: a s3 root must start with s3:\/\//m);
      assert.match(p, /^defaults.qos: expected one of Guaranteed, Burstable, BestEffort, got "Gold"/m);
      assert.match(p, /^extra: unknown field/m);
      assert.match(e.message, /fields\.json/);
      return true;
    });
  });

  it("says how to install pulumi or use --environment when the CLI is missing", async () => {
    const empty = join(dir, "empty-path");
    await assert.rejects(loadEnvironment({ stack: "dev", env: { PATH: empty } }), (e: Error) => {
      assert.ok(e instanceof EnvironmentSourceError);
      assert.match(e.message, /needs the Pulumi CLI, but `pulumi` was not found on PATH/);
      assert.match(e.message, /get\.pulumi\.com/);
      assert.match(e.message, /--environment <file\.json> or KUBESTEP_ENVIRONMENT/);
      return true;
    });
  });

  it("includes pulumi's own error for an unknown stack", async () => {
    const bin = fakePulumi(`echo "error: no stack named '$6' found" >&2\nexit 255`);
    await assert.rejects(loadEnvironment({ stack: "nope", env: { PATH: `${bin}:/usr/bin:/bin` } }), (e: Error) => {
      assert.ok(e instanceof EnvironmentSourceError);
      assert.match(
        e.message,
        /`pulumi stack output kubestep --json --stack nope` failed \(exit 255\): error: no stack named 'nope' found/,
      );
      return true;
    });
  });

  it("runs `pulumi stack output kubestep --json --stack <name>` and validates the output", async () => {
    const f = join(dir, "stack-out.json");
    writeFileSync(f, JSON.stringify(VALID, null, 4));
    const bin = fakePulumi(
      `[ "$*" = "stack output kubestep --json --stack dev" ] || { echo "unexpected args: $*" >&2; exit 2; }\ncat '${f}'`,
    );
    assert.deepEqual(await loadEnvironment({ stack: "dev", env: { PATH: `${bin}:/usr/bin:/bin` } }), VALID);
    const bad = join(dir, "stack-bad.json");
    writeFileSync(bad, JSON.stringify({ ...VALID, version: 2 }));
    const bin2 = fakePulumi(`cat '${bad}'`);
    await assert.rejects(
      loadEnvironment({ stack: "dev", env: { PATH: `${bin2}:/usr/bin:/bin` } }),
      /pulumi stack dev \(output kubestep\):\n {2}- version: expected 1, got 2/,
    );
  });

  it("refuses --stack together with --environment", async () => {
    await assert.rejects(
      loadEnvironment({ stack: "dev", environment: "x.json", env: {} }),
      /either --stack \(dev\) or --environment \(x\.json\), not both/,
    );
  });
});
