/**
 * test/tooling/servers/up.sh and down.sh, the way `npm test` uses them (on free ports and a scratch state
 * directory, so they do not disturb the servers of a running `npm test`): the three servers start on 0.0.0.0,
 * the printed exports work with kubestep's datastores, a second up.sh reuses the running servers, and down.sh
 * stops them and removes their data.
 */
import { strict as assert } from "node:assert";
import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AzureStorage } from "../../../runtime/datastore/azure.js";
import { GcsStorage } from "../../../runtime/datastore/gcs.js";
import { S3Storage } from "../../../runtime/datastore/s3.js";
import { ROOT } from "../../helpers/cli.js";
import { freePort, hostIp } from "./servers.js";

function bash(
  script: string,
  env: NodeJS.ProcessEnv,
  args: string[] = [],
): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile(
      "bash",
      [join(ROOT, "test/tooling/servers", script), ...args],
      { env, encoding: "utf8", maxBuffer: 16 * 1024 * 1024 },
      (err, stdout, stderr) => {
        if (err) reject(new Error(`${script} ${args.join(" ")} failed: ${err.message}\n${stderr}`));
        else resolve({ stdout, stderr });
      },
    );
  });
}

/** The variables of `export A=b C='d;e'` lines, as a shell would set them. */
function parseExports(stdout: string): Record<string, string> {
  const vars: Record<string, string> = {};
  for (const line of stdout.split("\n").filter(Boolean)) {
    assert.match(line, /^export /, `every stdout line is an export: ${line}`);
    for (const m of line.slice("export ".length).matchAll(/(\w+)=('[^']*'|\S+)/g))
      vars[m[1]!] = m[2]!.replace(/^'(.*)'$/, "$1");
  }
  return vars;
}

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe("datastore servers (up.sh / down.sh)", function () {
  // A first run may build versitygw and fake-gcs-server from their Go modules (cached afterwards).
  this.timeout(20 * 60_000);

  it("starts versitygw, fake-gcs-server and azurite on 0.0.0.0 with working exports; down.sh stops them and removes their data", async () => {
    const state = mkdtempSync(join(tmpdir(), "ks-servers-state-"));
    const ports = { s3: await freePort(), gcs: await freePort(), azure: await freePort() };
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      KUBESTEP_SERVERS_STATE: state,
      KUBESTEP_S3_PORT: String(ports.s3),
      KUBESTEP_GCS_PORT: String(ports.gcs),
      KUBESTEP_AZURITE_PORT: String(ports.azure),
    };
    const names = ["versitygw", "fake-gcs-server", "azurite"];
    let pids: number[];
    try {
      const up = await bash("up.sh", env);
      pids = names.map((n) => Number(readFileSync(join(state, `${n}.pid`), "utf8")));
      const vars = parseExports(up.stdout);
      const ip = hostIp();
      assert.equal(vars.KUBESTEP_S3_ENDPOINT_URL, `http://${ip}:${ports.s3}`);
      assert.equal(vars.KUBESTEP_GCS_ENDPOINT_URL, `http://${ip}:${ports.gcs}`);
      assert.match(
        vars.AZURE_STORAGE_CONNECTION_STRING ?? "",
        new RegExp(`BlobEndpoint=http://${ip.replace(/\./g, "\\.")}:${ports.azure}/devstoreaccount1;`),
      );
      assert.equal(vars.KUBESTEP_DATASTORE_SYSROOT_S3, "s3://kubestep-test/kubestep");
      assert.equal(vars.KUBESTEP_DATASTORE_SYSROOT_GS, "gs://kubestep-test/kubestep");
      assert.equal(vars.KUBESTEP_DATASTORE_SYSROOT_AZURE, "azure://devstoreaccount1/kubestep-test/kubestep");
      // Listening on every interface: reachable on loopback and at the host IP pods use.
      for (const url of [
        `http://127.0.0.1:${ports.s3}/_health`,
        `http://${ip}:${ports.s3}/_health`,
        `http://127.0.0.1:${ports.gcs}/_internal/healthcheck`,
        `http://${ip}:${ports.gcs}/_internal/healthcheck`,
      ])
        assert.equal((await fetch(url)).status, 200, url);

      // The exports work with kubestep's stores, in the bucket/container up.sh created.
      const saved = { id: process.env.AWS_ACCESS_KEY_ID, secret: process.env.AWS_SECRET_ACCESS_KEY };
      process.env.AWS_ACCESS_KEY_ID = vars.AWS_ACCESS_KEY_ID;
      process.env.AWS_SECRET_ACCESS_KEY = vars.AWS_SECRET_ACCESS_KEY;
      try {
        const s3 = new S3Storage(vars.KUBESTEP_DATASTORE_SYSROOT_S3!, { env: vars });
        await s3.put("up/x", "s3 via up.sh");
        assert.equal((await s3.get("up/x"))?.toString(), "s3 via up.sh");
        assert.equal(await (await fetch(await s3.presignGet("up/x", 60))).text(), "s3 via up.sh");
        // versitygw refuses unsigned requests.
        assert.equal((await fetch(`${vars.KUBESTEP_S3_ENDPOINT_URL}/kubestep-test/kubestep/up/x`)).status, 403);
      } finally {
        for (const [k, v] of [
          ["AWS_ACCESS_KEY_ID", saved.id],
          ["AWS_SECRET_ACCESS_KEY", saved.secret],
        ] as const) {
          if (v === undefined) delete process.env[k];
          else process.env[k] = v;
        }
      }
      const gs = new GcsStorage(vars.KUBESTEP_DATASTORE_SYSROOT_GS!, { env: vars });
      await gs.put("up/x", "gcs via up.sh");
      assert.equal((await gs.get("up/x"))?.toString(), "gcs via up.sh");
      assert.equal(
        await (await fetch(await gs.presignGet("up/x", 60))).text(),
        "gcs via up.sh",
        "signed with the throw-away key of GOOGLE_APPLICATION_CREDENTIALS",
      );
      const az = new AzureStorage(vars.KUBESTEP_DATASTORE_SYSROOT_AZURE!, { env: vars });
      await az.put("up/x", "azure via up.sh");
      assert.equal((await az.get("up/x"))?.toString(), "azure via up.sh");

      // A second up.sh keeps the running servers and prints the same exports.
      const again = await bash("up.sh", env);
      assert.deepEqual(parseExports(again.stdout), vars);
      for (const n of names) assert.match(again.stderr, new RegExp(`${n} already running`));
      assert.deepEqual(
        names.map((n) => Number(readFileSync(join(state, `${n}.pid`), "utf8"))),
        pids,
      );
      assert.ok(
        readdirSync(join(state, "versitygw", "kubestep-test"), { recursive: true }).length > 0,
        "versitygw keeps its data under the state directory",
      );
    } finally {
      await bash("down.sh", env);
    }
    for (const pid of pids) assert.equal(alive(pid), false, `pid ${pid} was stopped`);
    for (const n of names) {
      assert.equal(existsSync(join(state, n)), false, `${n}'s data was removed`);
      assert.equal(existsSync(join(state, `${n}.pid`)), false);
    }
    rmSync(state, { recursive: true, force: true });
  });

  it("refuses an unknown server set", async () => {
    const state = mkdtempSync(join(tmpdir(), "ks-servers-state-"));
    try {
      await assert.rejects(
        bash("up.sh", { ...process.env, KUBESTEP_SERVERS_STATE: state }, ["minio"]),
        /unknown server set 'minio'; use s3, gs, azure or all/,
      );
      assert.deepEqual(readdirSync(state), [], "nothing was started");
    } finally {
      rmSync(state, { recursive: true, force: true });
    }
  });
});
