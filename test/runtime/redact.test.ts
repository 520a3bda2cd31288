/**
 * Secrets stay secret, through the real CLI: a flow prints and fails with pre-signed URLs (S3, GCS, Azure SAS),
 * an Azure connection string, a token and an AWS secret key; none of them reaches the task or run metadata,
 * the log archive, `kubestep logs`, `kubestep dump` or the CLI's output. The redaction itself (runtime/redact.ts)
 * is checked on each form.
 */
import { strict as assert } from "node:assert";
import { randomBytes } from "node:crypto";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { redact, REDACTED } from "../../runtime/redact.js";
import { FLOWS, kubestep, runIdOf, scratch } from "../helpers/cli.js";
import { recordFaults, reportReliabilityAfter } from "../helpers/reliability.js";

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? files(p) : [p];
  });
}

describe("secrets stay secret", function () {
  this.timeout(120_000);
  reportReliabilityAfter();

  it("redacts pre-signed URL signatures, keys, tokens and credential variables, keeping the rest", () => {
    const env = {
      AWS_SECRET_ACCESS_KEY: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
      AWS_ACCESS_KEY_ID: "AKIAEXAMPLE",
      AZURE_STORAGE_CONNECTION_STRING:
        "DefaultEndpointsProtocol=http;AccountName=a;AccountKey=c2VjcmV0a2V5c2VjcmV0a2V5;",
      GITHUB_TOKEN: "ghp_0123456789abcdef",
      HOME: "/home/someone-long",
    };
    const text = [
      "GET http://h:1/b/k?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIA%2F1&X-Amz-Signature=deadbeef01&x-id=GetObject",
      "https://storage.googleapis.com/b/o?X-Goog-Credential=sa%40p&X-Goog-Signature=0a1b2c3d",
      "https://a.blob.core.windows.net/c/b?sv=2025&sr=b&sp=r&sig=AbC%2Bd%3D",
      "key wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY and c2VjcmV0a2V5c2VjcmV0a2V5 and ghp_0123456789abcdef",
      "Authorization: Bearer abc.def.ghi",
      "aws_secret_access_key = abcdefghijkl",
      "home /home/someone-long",
    ].join("\n");
    const out = redact(text, env);
    for (const secret of [
      "deadbeef01",
      "AKIA%2F1",
      "0a1b2c3d",
      "sa%40p",
      "AbC%2Bd%3D",
      env.AWS_SECRET_ACCESS_KEY,
      "c2VjcmV0a2V5c2VjcmV0a2V5",
      env.GITHUB_TOKEN,
      "abc.def.ghi",
      "abcdefghijkl",
    ])
      assert.ok(!out.includes(secret), `${secret} is redacted in:\n${out}`);
    // What is not secret stays readable.
    for (const kept of [
      "http://h:1/b/k?",
      "X-Amz-Algorithm=AWS4-HMAC-SHA256",
      "x-id=GetObject",
      "sv=2025",
      "home /home/someone-long",
    ])
      assert.ok(out.includes(kept), `${kept} kept in:\n${out}`);
    assert.ok(out.split(REDACTED).length - 1 >= 10);
  });

  it("no secret reaches metadata, the log archive, kubestep logs / dump or the CLI's output", async () => {
    const cwd = scratch();
    const secrets = {
      KS_SIG_S3: randomBytes(32).toString("hex"),
      KS_SIG_GCS: randomBytes(64).toString("hex"),
      KS_SIG_AZ: randomBytes(24).toString("base64url"),
      AWS_SECRET_ACCESS_KEY: `aws-secret-${randomBytes(12).toString("hex")}`,
      MY_SERVICE_TOKEN: `tok-${randomBytes(12).toString("hex")}`,
    };
    const accountKey = randomBytes(48).toString("base64");
    const env = {
      ...secrets,
      AZURE_STORAGE_CONNECTION_STRING: `DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=${accountKey};BlobEndpoint=http://192.0.2.2:10000/devstoreaccount1;`,
    };
    const values = [...Object.values(secrets), accountKey];
    const file = join(FLOWS, "secrets.ts");
    const r = await kubestep(["run", file], { cwd, env });
    assert.equal(r.code, 1, r.stderr);
    const run = runIdOf(r);
    const outputs: Array<[string, string]> = [["run stdout+stderr", r.stdout + r.stderr]];
    assert.match(r.stdout + r.stderr, /X-Amz-Signature=<redacted>/, "the task output is printed, redacted");
    assert.match(r.stderr, /cannot read http:\/\/192\.0\.2\.2:10000\/\S+sig=<redacted> with key <redacted>/);
    for (const step of ["start", "boom", "end"]) {
      const task = readdirSync(join(cwd, ".kubestep", "SecretsFlow", "runs", run, step))[0]!;
      const logs = await kubestep(["logs", `SecretsFlow/${run}/${step}/${task}`], { cwd, env });
      const dump = await kubestep(["dump", `SecretsFlow/${run}/${step}/${task}`], { cwd, env });
      outputs.push([`logs ${step}`, logs.stdout + logs.stderr], [`dump ${step}`, dump.stdout + dump.stderr]);
    }
    assert.match(outputs.find(([k]) => k === "dump boom")![1], /failure = .*X-Goog-Credential=<redacted>/s);
    // Every stored file except artifact data (user values, stored as given): metadata, results, logs, cards.
    for (const f of files(join(cwd, ".kubestep", "SecretsFlow")).filter(
      (f) => !f.includes("/data/") && !f.includes("/code/"),
    ))
      outputs.push([f, readFileSync(f, "utf8")]);
    assert.ok(
      outputs.some(([k]) => k.endsWith("log.txt")),
      "logs were archived",
    );
    for (const [where, text] of outputs)
      for (const v of values) assert.ok(!text.includes(v), `a secret appears in ${where}:\n${text}`);
    recordFaults("secrets", "pre-signed URLs, keys and tokens in output and failures", fileURLToPath(import.meta.url), {
      backend: "local",
      faultsInjected: values.length,
      runsCompleted: 0,
      tasksRerun: 0,
      objectsLost: 0,
      outcome: `0 of ${values.length} secrets found in metadata, log archive, logs, dump or CLI output`,
    });
  });
});
