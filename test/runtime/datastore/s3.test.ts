/**
 * The S3 datastore against a REAL S3 server that verifies SigV4 signatures (versitygw, started here on a free
 * port): the shared conformance suite, plus S3-specific checks (endpoint/region resolution, prefixes,
 * credentials, and that tampered, expired or wrongly signed requests are refused).
 */
import { strict as assert } from "node:assert";
import { S3Storage } from "../../../runtime/datastore/s3.js";
import {
  S3_ACCESS_KEY,
  S3_SECRET_KEY,
  startS3Server,
  TEST_BUCKET,
  type RunningServer,
} from "../../tooling/servers/servers.js";
import { storageConformance } from "./conformance.js";

/** Runs `fn` with process.env changed (the SDK reads credentials from the standard chain: the process environment). */
async function withEnv<T>(vars: Record<string, string>, fn: () => Promise<T>): Promise<T> {
  const saved = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]));
  Object.assign(process.env, vars);
  try {
    return await fn();
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}

describe("S3 datastore (versitygw)", function () {
  this.timeout(120_000);
  let server: RunningServer;
  let store: S3Storage;
  const saved = {
    AWS_ACCESS_KEY_ID: process.env.AWS_ACCESS_KEY_ID,
    AWS_SECRET_ACCESS_KEY: process.env.AWS_SECRET_ACCESS_KEY,
  };

  before(async function () {
    // The first start may build versitygw from its pinned Go module (cached afterwards).
    this.timeout(20 * 60_000);
    server = await startS3Server();
    store = new S3Storage(`s3://${TEST_BUCKET}/conformance/root`, { env: { ...server.env } });
    // The SDK reads credentials from the standard chain: the process environment here.
    process.env.AWS_ACCESS_KEY_ID = server.env.AWS_ACCESS_KEY_ID;
    process.env.AWS_SECRET_ACCESS_KEY = server.env.AWS_SECRET_ACCESS_KEY;
  });
  after(async () => {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
    await server?.stop();
  });

  describe("conformance", () => storageConformance(() => store));

  it("resolves the endpoint from KUBESTEP_S3_ENDPOINT_URL and defaults the region to us-east-1 for it", () => {
    const s = new S3Storage("s3://b-1/p", { env: { KUBESTEP_S3_ENDPOINT_URL: "http://10.0.0.1:4568/" } });
    assert.equal(s.endpoint, "http://10.0.0.1:4568");
    assert.equal(s.region, "us-east-1");
    const aws = new S3Storage("s3://b-1/p", { env: { AWS_DEFAULT_REGION: "eu-west-3" } });
    assert.equal(aws.endpoint, undefined);
    assert.equal(aws.region, "eu-west-3");
    assert.equal(
      new S3Storage("s3://b-1", { env: { AWS_REGION: "ap-south-1", AWS_DEFAULT_REGION: "x" } }).region,
      "ap-south-1",
    );
  });

  it("refuses a bad endpoint, naming the variable, the value and the allowed form", () => {
    for (const bad of [
      "10.0.0.1:4568",
      "ftp://10.0.0.1",
      "http://user:pw@10.0.0.1:4568",
      "http://10.0.0.1:4568/?x=1",
      "not a url",
    ])
      assert.throws(
        () => new S3Storage("s3://b-1/p", { env: { KUBESTEP_S3_ENDPOINT_URL: bad } }),
        (e: Error) =>
          e.name === "DatastoreConfigError" &&
          e.message.includes(`KUBESTEP_S3_ENDPOINT_URL=${JSON.stringify(bad)}`) &&
          /http:\/\/ or https:\/\/ URL/.test(e.message),
        bad,
      );
    assert.throws(
      () => new S3Storage("s3://b-1/p", { endpoint: "s3.example" }),
      /endpoint="s3.example" is not a valid endpoint/,
    );
  });

  it("keeps keys under the root's prefix in the bucket, and a bare-bucket root works", async () => {
    await store.put("k/one", "1");
    const bare = new S3Storage(`s3://${TEST_BUCKET}`, { env: server.env });
    assert.equal((await bare.get("conformance/root/k/one"))?.toString(), "1");
    assert.ok((await bare.list("conformance/root/k")).includes("conformance/root/k/one"));
    const sibling = new S3Storage(`s3://${TEST_BUCKET}/conformance/other`, { env: server.env });
    assert.equal(await sibling.exists("k/one"), false);
  });

  it("reports a missing bucket as an error, not as a missing object", async () => {
    const s = new S3Storage("s3://no-such-bucket-here/x", { env: server.env });
    await assert.rejects(s.put("a", "b"), /bucket/i);
    await assert.rejects(s.get("a"), /bucket/i);
    await assert.rejects(s.list(""), /bucket/i);
  });

  it("takes credentials from the standard AWS chain (environment): an unknown access key is refused", async () => {
    await withEnv({ AWS_ACCESS_KEY_ID: "NOTAKNOWNKEY" }, async () => {
      const s = new S3Storage(`s3://${TEST_BUCKET}/x`, { env: server.env });
      // versitygw answers XAdminUserNotFound ("No user exists with the provided access key ID") with status 404:
      // a read must still fail, never pass for a missing object.
      await assert.rejects(s.put("a", "b"), /access key/i);
      await assert.rejects(s.get("a"), /access key/i);
      await assert.rejects(s.getStream("a"), /access key/i);
    });
  });

  it("refuses requests signed with a wrong secret key (the server verifies SigV4)", async () => {
    await store.put("signed/obj", "genuine");
    await withEnv({ AWS_ACCESS_KEY_ID: S3_ACCESS_KEY, AWS_SECRET_ACCESS_KEY: `${S3_SECRET_KEY}-wrong` }, async () => {
      const s = new S3Storage(`s3://${TEST_BUCKET}/conformance/root`, { env: server.env });
      await assert.rejects(s.put("signed/obj", "forged"), (e: Error) => e.name === "SignatureDoesNotMatch");
      await assert.rejects(s.get("signed/obj"), (e: Error) => e.name === "SignatureDoesNotMatch");
      // A URL pre-signed with the wrong secret is refused too.
      const url = await s.presignGet("signed/obj", 60);
      assert.equal((await fetch(url)).status, 403);
    });
    // Unsigned requests are refused.
    assert.equal((await fetch(`${server.url}/${TEST_BUCKET}/conformance/root/signed/obj`)).status, 403);
    assert.equal((await store.get("signed/obj"))?.toString(), "genuine");
  });

  it("refuses a pre-signed URL whose signature, expiry, key or method was changed, and one that expired", async () => {
    await store.put("presigned/obj", "secret data");
    await store.put("presigned/other", "other data");
    const url = await store.presignGet("presigned/obj", 60);
    assert.equal(await (await fetch(url)).text(), "secret data");
    const sig = /X-Amz-Signature=([0-9a-f]{64})/.exec(url)?.[1];
    assert.ok(sig, url);
    const flipped = sig.slice(0, -1) + (sig.endsWith("0") ? "1" : "0");
    const tampered = {
      signature: url.replace(sig, flipped),
      expiry: url.replace(/X-Amz-Expires=60\b/, "X-Amz-Expires=600"),
      key: url.replace("/presigned/obj?", "/presigned/other?"),
      // Signed "now"; claiming a later start would extend the validity window.
      date: url.replace(
        /(X-Amz-Date=\d{8}T\d{4})(\d)(\d)Z/,
        (_, hm: string, s1: string, s2: string) => `${hm}${s1}${s2 === "9" ? "8" : Number(s2) + 1}Z`,
      ),
    };
    for (const [what, u] of Object.entries(tampered)) {
      assert.notEqual(u, url, `the ${what} was changed`);
      const res = await fetch(u);
      assert.equal(res.status, 403, `a URL with a changed ${what} is refused: ${await res.text()}`);
    }
    // The signature covers the method: the same URL cannot overwrite the object.
    assert.equal((await fetch(url, { method: "PUT", body: "overwrite" })).status, 403);
    assert.equal((await store.get("presigned/obj"))?.toString(), "secret data");
    // Expiry is enforced.
    const shortLived = await store.presignGet("presigned/obj", 1);
    await new Promise((r) => setTimeout(r, 2_500));
    const expired = await fetch(shortLived);
    assert.equal(expired.status, 403);
    assert.match(await expired.text(), /expired/i);
  });
});
