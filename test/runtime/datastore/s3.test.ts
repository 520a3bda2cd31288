/**
 * The S3 datastore against a REAL S3-protocol server (s3rver, started here on a free port): the shared
 * conformance suite, plus S3-specific checks (endpoint/region resolution, prefixes, credentials).
 */
import { strict as assert } from "node:assert";
import { S3Storage } from "../../../runtime/datastore/s3.js";
import { startS3rver, TEST_BUCKET, type RunningServer } from "../../tooling/servers/servers.js";
import { storageConformance } from "./conformance.js";

describe("S3 datastore (s3rver)", function () {
  this.timeout(120_000);
  let server: RunningServer;
  let store: S3Storage;

  before(async () => {
    server = await startS3rver();
    store = new S3Storage(`s3://${TEST_BUCKET}/conformance/root`, { env: { ...server.env } });
    // The SDK reads credentials from the standard chain: the process environment here.
    process.env.AWS_ACCESS_KEY_ID = server.env.AWS_ACCESS_KEY_ID;
    process.env.AWS_SECRET_ACCESS_KEY = server.env.AWS_SECRET_ACCESS_KEY;
  });
  after(async () => {
    await server?.stop();
  });

  // s3rver rewrites object files in place, so concurrent readers of a REPLACED object can see a mix (real
  // S3 cannot); every other guarantee, including "a new object is invisible until complete", is checked.
  describe("conformance", () => storageConformance(() => store, { atomicReplace: false }));

  it("resolves the endpoint from KUBESTEP_S3_ENDPOINT_URL and defaults the region to us-east-1 for it", () => {
    const s = new S3Storage("s3://b-1/p", { env: { KUBESTEP_S3_ENDPOINT_URL: "http://10.0.0.1:4568" } });
    assert.equal(s.endpoint, "http://10.0.0.1:4568");
    assert.equal(s.region, "us-east-1");
    const aws = new S3Storage("s3://b-1/p", { env: { AWS_DEFAULT_REGION: "eu-west-3" } });
    assert.equal(aws.endpoint, undefined);
    assert.equal(aws.region, "eu-west-3");
    assert.equal(new S3Storage("s3://b-1", { env: { AWS_REGION: "ap-south-1", AWS_DEFAULT_REGION: "x" } }).region, "ap-south-1");
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
  });

  it("takes credentials from the standard AWS chain (environment): an unknown access key is refused", async () => {
    // s3rver checks the access key id (not SigV4 signatures), so a wrong key id proves which credentials were sent.
    const saved = process.env.AWS_ACCESS_KEY_ID;
    process.env.AWS_ACCESS_KEY_ID = "NOT-A-KNOWN-KEY";
    try {
      const s = new S3Storage(`s3://${TEST_BUCKET}/x`, { env: server.env });
      await assert.rejects(s.put("a", "b"), /Access Key Id/i);
    } finally {
      process.env.AWS_ACCESS_KEY_ID = saved;
    }
  });
});
