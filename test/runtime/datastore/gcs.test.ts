/**
 * The GCS datastore against a REAL GCS API server (fake-gcs-server, started here on a free port): the shared
 * conformance suite (every operation of gcs.ts: single and resumable uploads, streams, files, reads, listings
 * with delimiters, deletes, signed URLs), plus GCS-specific checks (endpoint settings, prefixes, a missing
 * bucket, and V4 signed URLs).
 *
 * fake-gcs-server does NOT verify signed URLs: its `fakestorage` package never reads `X-Goog-Signature` (it looks
 * at `X-Goog-Algorithm` only to route signed uploads) and accepts requests without credentials. So the signed
 * URLs are checked here against the throw-away service account key that signed them, by recomputing Google's V4
 * string-to-sign and verifying the RSA-SHA256 signature with the key's public half.
 */
import { strict as assert } from "node:assert";
import { createHash, createVerify } from "node:crypto";
import { GcsStorage } from "../../../runtime/datastore/gcs.js";
import {
  startGcsServer,
  TEST_BUCKET,
  throwawayServiceAccountKey,
  type RunningServer,
  type ThrowawayServiceAccountKey,
} from "../../tooling/servers/servers.js";
import { storageConformance } from "./conformance.js";

/** RFC 3986 percent-encoding, as Google's V4 canonical query string uses. */
const rfc3986 = (s: string): string =>
  encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);

/**
 * Whether `url` carries a valid GOOG4-RSA-SHA256 signature by `publicKeyPem` for a GET, following Google's V4
 * signing process (canonical request -> string to sign -> RSA-SHA256). The canonical `host` header is the URL's
 * host name without port, as the SDK signs it (GCS itself is served on the default port).
 */
function validV4Signature(url: string, publicKeyPem: string): boolean {
  const u = new URL(url);
  const q = u.searchParams;
  const signature = q.get("X-Goog-Signature");
  const date = q.get("X-Goog-Date");
  const credential = q.get("X-Goog-Credential");
  const signedHeaders = q.get("X-Goog-SignedHeaders");
  if (
    q.get("X-Goog-Algorithm") !== "GOOG4-RSA-SHA256" ||
    !signature ||
    !date ||
    !credential ||
    signedHeaders !== "host"
  )
    return false;
  const query = [...q.entries()]
    .filter(([k]) => k !== "X-Goog-Signature")
    .map(([k, v]) => [rfc3986(k), rfc3986(v)] as const)
    .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join("&");
  const canonicalRequest = ["GET", u.pathname, query, `host:${u.hostname}\n`, signedHeaders, "UNSIGNED-PAYLOAD"].join(
    "\n",
  );
  const scope = credential.split("/").slice(1).join("/");
  const stringToSign = [
    "GOOG4-RSA-SHA256",
    date,
    scope,
    createHash("sha256").update(canonicalRequest).digest("hex"),
  ].join("\n");
  return createVerify("RSA-SHA256").update(stringToSign).verify(publicKeyPem, Buffer.from(signature, "hex"));
}

describe("GCS datastore (fake-gcs-server)", function () {
  this.timeout(120_000);
  let server: RunningServer & { key: ThrowawayServiceAccountKey };
  let store: GcsStorage;

  before(async function () {
    // The first start may build fake-gcs-server from its pinned Go module (cached afterwards).
    this.timeout(20 * 60_000);
    server = await startGcsServer();
    // GOOGLE_APPLICATION_CREDENTIALS in the store's env: the throw-away key signs the URLs.
    store = new GcsStorage(`gs://${TEST_BUCKET}/conformance/root`, { env: server.env });
  });
  after(async () => {
    await server?.stop();
  });

  describe("conformance", () => storageConformance(() => store));

  it("resolves the endpoint from the option, KUBESTEP_GCS_ENDPOINT_URL, then STORAGE_EMULATOR_HOST", () => {
    assert.equal(new GcsStorage("gs://b-1", { env: {} }).endpoint, undefined);
    assert.equal(
      new GcsStorage("gs://b-1", { env: { KUBESTEP_GCS_ENDPOINT_URL: "http://10.0.0.1:4443/" } }).endpoint,
      "http://10.0.0.1:4443",
    );
    assert.equal(
      new GcsStorage("gs://b-1", { env: { STORAGE_EMULATOR_HOST: "http://10.0.0.2:4443" } }).endpoint,
      "http://10.0.0.2:4443",
    );
    assert.equal(
      new GcsStorage("gs://b-1", {
        env: { KUBESTEP_GCS_ENDPOINT_URL: "http://10.0.0.1:4443", STORAGE_EMULATOR_HOST: "http://10.0.0.2:4443" },
      }).endpoint,
      "http://10.0.0.1:4443",
    );
    assert.equal(
      new GcsStorage("gs://b-1", {
        endpoint: "https://storage.example",
        env: { KUBESTEP_GCS_ENDPOINT_URL: "http://10.0.0.1:4443" },
      }).endpoint,
      "https://storage.example",
    );
  });

  it("refuses a bad endpoint, naming the variable, the value and the allowed form", () => {
    for (const [variable, bad] of [
      ["KUBESTEP_GCS_ENDPOINT_URL", "127.0.0.1:4443"],
      ["KUBESTEP_GCS_ENDPOINT_URL", "gs://bucket"],
      ["KUBESTEP_GCS_ENDPOINT_URL", "http://127.0.0.1:4443/#x"],
      ["STORAGE_EMULATOR_HOST", "localhost"],
    ] as const)
      assert.throws(
        () => new GcsStorage("gs://b-1/p", { env: { [variable]: bad } }),
        (e: Error) =>
          e.name === "DatastoreConfigError" &&
          e.message.includes(`${variable}=${JSON.stringify(bad)}`) &&
          /http:\/\/ or https:\/\/ URL such as http:\/\/127\.0\.0\.1:4443/.test(e.message),
        `${variable}=${bad}`,
      );
  });

  it("talks to the emulator named by STORAGE_EMULATOR_HOST, also when the SDK reads it from the process environment", async () => {
    await store.put("emulator/x", "via KUBESTEP_GCS_ENDPOINT_URL");
    const saved = process.env.STORAGE_EMULATOR_HOST;
    process.env.STORAGE_EMULATOR_HOST = server.url;
    try {
      const s = new GcsStorage(`gs://${TEST_BUCKET}/conformance/root`, { env: { STORAGE_EMULATOR_HOST: server.url } });
      assert.equal((await s.get("emulator/x"))?.toString(), "via KUBESTEP_GCS_ENDPOINT_URL");
      assert.deepEqual(await s.list("emulator"), ["emulator/x"]);
    } finally {
      if (saved === undefined) delete process.env.STORAGE_EMULATOR_HOST;
      else process.env.STORAGE_EMULATOR_HOST = saved;
    }
  });

  it("keeps keys under the root's prefix in the bucket, and a bare-bucket root works", async () => {
    await store.put("k/one", "1");
    const bare = new GcsStorage(`gs://${TEST_BUCKET}`, { env: server.env });
    assert.equal((await bare.get("conformance/root/k/one"))?.toString(), "1");
    assert.ok((await bare.list("conformance/root/k")).includes("conformance/root/k/one"));
    const sibling = new GcsStorage(`gs://${TEST_BUCKET}/conformance/other`, { env: server.env });
    assert.equal(await sibling.exists("k/one"), false);
  });

  it("reports a missing bucket as an error naming it, not as a missing object", async () => {
    const s = new GcsStorage("gs://no-such-bucket-here/x", { env: server.env });
    const names = (e: Error) =>
      /bucket "no-such-bucket-here" of the datastore root gs:\/\/no-such-bucket-here\/x does not exist/.test(e.message);
    await assert.rejects(s.get("a"), names);
    await assert.rejects(s.exists("a"), names);
    await assert.rejects(s.getStream("a"), names);
    await assert.rejects(s.put("a", "b"), names);
    await assert.rejects(s.list(""), names);
    await assert.rejects(s.listChildren(""), names);
  });

  it("signs V4 URLs with the service account key: the signature verifies, covers path and expiry, and the URL downloads", async () => {
    await store.put("signed/obj", "secret data");
    await store.put("signed/other", "other data");
    const url = await store.presignGet("signed/obj", 600);
    const u = new URL(url);
    assert.equal(`${u.protocol}//${u.host}`, server.url, "the URL points at the endpoint");
    assert.equal(u.pathname, `/${TEST_BUCKET}/conformance/root/signed/obj`);
    assert.equal(u.searchParams.get("X-Goog-Expires"), "600");
    assert.match(
      u.searchParams.get("X-Goog-Credential") ?? "",
      new RegExp(`^${server.key.json.client_email.replace(/[.]/g, "\\.")}/\\d{8}/auto/storage/goog4_request$`),
    );
    assert.ok(validV4Signature(url, server.key.publicKeyPem), "the signature verifies with the key's public half");
    assert.equal(await (await fetch(url)).text(), "secret data");
    const sig = u.searchParams.get("X-Goog-Signature")!;
    const tampered = {
      signature: url.replace(sig, sig.slice(0, -1) + (sig.endsWith("0") ? "1" : "0")),
      expiry: url.replace("X-Goog-Expires=600", "X-Goog-Expires=6000"),
      object: url.replace("/signed/obj?", "/signed/other?"),
    };
    for (const [what, t] of Object.entries(tampered)) {
      assert.notEqual(t, url);
      assert.equal(validV4Signature(t, server.key.publicKeyPem), false, `a URL with a changed ${what} does not verify`);
    }
    // The signature is the key's: another key's public half does not verify it.
    assert.equal(validV4Signature(url, throwawayServiceAccountKey().publicKeyPem), false);
  });

  it("signs object names with spaces, '+', '%' and non-ASCII characters so that they verify and download", async () => {
    const key = "odd names/a b+c%d ü~!'()*.txt";
    await store.put(key, "odd");
    const url = await store.presignGet(key, 60);
    assert.ok(validV4Signature(url, server.key.publicKeyPem), url);
    assert.equal(await (await fetch(url)).text(), "odd");
  });

  it("explains that signing needs a service account key when there is none", async () => {
    const s = new GcsStorage(`gs://${TEST_BUCKET}/conformance/root`, {
      env: { KUBESTEP_GCS_ENDPOINT_URL: server.url },
    });
    const saved = process.env.GOOGLE_APPLICATION_CREDENTIALS;
    // A key file that does not exist: Application Default Credentials fail without probing anything else.
    process.env.GOOGLE_APPLICATION_CREDENTIALS = "/nonexistent/kubestep-test-key.json";
    try {
      await assert.rejects(
        s.presignGet("signed/obj", 60),
        (e: Error) =>
          e.message.includes(`cannot sign a URL for gs://${TEST_BUCKET}/conformance/root/signed/obj`) &&
          /GOOGLE_APPLICATION_CREDENTIALS/.test(e.message),
      );
    } finally {
      if (saved === undefined) delete process.env.GOOGLE_APPLICATION_CREDENTIALS;
      else process.env.GOOGLE_APPLICATION_CREDENTIALS = saved;
    }
  });
});
