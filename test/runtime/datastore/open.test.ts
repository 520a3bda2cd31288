/** Choosing and opening datastores: root parsing, key mapping, `datastoreFromEnv` errors. */
import { strict as assert } from "node:assert";
import { resolve } from "node:path";
import {
  DatastoreConfigError,
  datastoreFromEnv,
  keyOf,
  listPrefix,
  objectName,
  openStorage,
  parseDatastoreRoot,
} from "../../../runtime/datastore/open.js";
import { LocalStorage } from "../../../runtime/datastore/local.js";
import { S3Storage } from "../../../runtime/datastore/s3.js";
import { AzureStorage } from "../../../runtime/datastore/azure.js";
import { GcsStorage } from "../../../runtime/datastore/gcs.js";

describe("datastore roots and selection", () => {
  it("parses roots of every kind", () => {
    assert.deepEqual(parseDatastoreRoot("s3", "s3://my-bucket/a/b/"), {
      kind: "s3",
      bucket: "my-bucket",
      prefix: "a/b",
    });
    assert.deepEqual(parseDatastoreRoot("s3", "s3://my-bucket"), { kind: "s3", bucket: "my-bucket", prefix: "" });
    assert.deepEqual(parseDatastoreRoot("gs", "gs://bkt.example/p"), {
      kind: "gs",
      bucket: "bkt.example",
      prefix: "p",
    });
    assert.deepEqual(parseDatastoreRoot("azure", "azure://acct1/ctr/x/y"), {
      kind: "azure",
      account: "acct1",
      container: "ctr",
      prefix: "x/y",
    });
    assert.deepEqual(parseDatastoreRoot("azure", "azure://acct1/ctr"), {
      kind: "azure",
      account: "acct1",
      container: "ctr",
      prefix: "",
    });
    assert.deepEqual(parseDatastoreRoot("local", "/tmp/x"), { kind: "local", dir: "/tmp/x" });
  });

  it("rejects malformed roots with the expected form", () => {
    const bad: Array<[Parameters<typeof parseDatastoreRoot>[0], string, RegExp]> = [
      ["s3", "gs://b/p", /does not start with s3:\/\/.*s3:\/\/bucket/],
      ["s3", "s3://", /no valid bucket name/],
      ["s3", "s3://Bad_Bucket!", /no valid bucket name/],
      ["gs", "s3://b/p", /does not start with gs:\/\//],
      ["azure", "azure://acct1", /no valid container name.*azure:\/\/account\/container/],
      ["azure", "azure://Bad-Account/ctr", /storage account name/],
      ["local", "s3://b", /cloud URL/],
      ["local", "", /empty/],
    ];
    for (const [kind, root, re] of bad)
      assert.throws(
        () => parseDatastoreRoot(kind, root),
        (e: Error) => e instanceof DatastoreConfigError && re.test(e.message),
        `${kind} ${root}`,
      );
  });

  it("maps keys to object names under the prefix and back, refusing escaping keys", () => {
    assert.equal(objectName("root/p", "a/b"), "root/p/a/b");
    assert.equal(objectName("", "a/b"), "a/b");
    assert.equal(objectName("root", "a/"), "root/a");
    assert.equal(listPrefix("root", "a"), "root/a/");
    assert.equal(listPrefix("root", ""), "root/");
    assert.equal(listPrefix("", ""), "");
    assert.equal(keyOf("root", "root/a/b"), "a/b");
    assert.equal(keyOf("", "a/b"), "a/b");
    for (const k of ["../x", "a/../../x", "/abs", "a//b", "./a"])
      assert.throws(() => objectName("root", k), /segment|relative/, k);
  });

  it("GCS maps roots and keys without contacting GCS (no emulator here)", () => {
    const g = new GcsStorage("gs://my-bucket/runs/prod", { env: {} });
    assert.equal(g.bucketName, "my-bucket");
    assert.equal(g.prefix, "runs/prod");
    assert.equal(g.objectName("F/1/start/0.json"), "runs/prod/F/1/start/0.json");
    assert.equal(g.keyOf("runs/prod/F/1"), "F/1");
    assert.equal(
      new GcsStorage("gs://my-bucket", { env: { KUBESTEP_GCS_ENDPOINT_URL: "http://127.0.0.1:4443" } }).endpoint,
      "http://127.0.0.1:4443",
    );
    assert.throws(() => g.objectName("../x"), /segment/);
  });

  it("datastoreFromEnv: --datastore wins over KUBESTEP_DEFAULT_DATASTORE; local defaults to .kubestep", () => {
    assert.deepEqual(datastoreFromEnv({}), {
      kind: "local",
      root: ".kubestep",
      kindSource: "default",
      rootSource: "default",
    });
    const env = {
      KUBESTEP_DEFAULT_DATASTORE: "s3",
      KUBESTEP_DATASTORE_SYSROOT_S3: "s3://b-1/ks",
      KUBESTEP_DATASTORE_SYSROOT_AZURE: "azure://acct1/ctr",
    };
    assert.deepEqual(datastoreFromEnv(env), {
      kind: "s3",
      root: "s3://b-1/ks",
      kindSource: "KUBESTEP_DEFAULT_DATASTORE",
      rootSource: "KUBESTEP_DATASTORE_SYSROOT_S3",
    });
    assert.equal(datastoreFromEnv(env, "azure").root, "azure://acct1/ctr");
    assert.equal(datastoreFromEnv(env, "local").root, ".kubestep");
    assert.equal(datastoreFromEnv({ KUBESTEP_DATASTORE_SYSROOT_LOCAL: "/data/ks" }).root, "/data/ks");
  });

  it("datastoreFromEnv: names the variable to set when a cloud kind has no root", () => {
    assert.throws(
      () => datastoreFromEnv({}, "s3"),
      (e: Error) =>
        e instanceof DatastoreConfigError &&
        /KUBESTEP_DATASTORE_SYSROOT_S3/.test(e.message) &&
        /--datastore/.test(e.message) &&
        /s3:\/\//.test(e.message),
    );
    assert.throws(
      () => datastoreFromEnv({ KUBESTEP_DEFAULT_DATASTORE: "gs" }),
      /KUBESTEP_DATASTORE_SYSROOT_GS.*gs:\/\//,
    );
    assert.throws(() => datastoreFromEnv({}, "azure"), /KUBESTEP_DATASTORE_SYSROOT_AZURE/);
  });

  it("datastoreFromEnv: rejects unknown kinds and bad roots, saying where they came from", () => {
    assert.throws(
      () => datastoreFromEnv({}, "ftp"),
      /--datastore "ftp" is not a datastore; use one of local, s3, gs, azure/,
    );
    assert.throws(
      () => datastoreFromEnv({ KUBESTEP_DEFAULT_DATASTORE: "dropbox" }),
      /KUBESTEP_DEFAULT_DATASTORE "dropbox"/,
    );
    assert.throws(
      () => datastoreFromEnv({ KUBESTEP_DATASTORE_SYSROOT_S3: "bucket/prefix" }, "s3"),
      /KUBESTEP_DATASTORE_SYSROOT_S3: .*does not start with s3:\/\//,
    );
  });

  it("openStorage returns the right store per kind without contacting anything", async () => {
    // Compared by class name: mocha's loader and the dynamic import() may instantiate a module twice.
    const local = await openStorage("local", ".kubestep");
    assert.equal(local.constructor.name, LocalStorage.name);
    assert.equal((local as LocalStorage).dir, resolve(".kubestep"));
    const cases: Array<[Parameters<typeof openStorage>[0], string, string]> = [
      ["s3", "s3://b-1/p", S3Storage.name],
      ["gs", "gs://b-1/p", GcsStorage.name],
      ["azure", "azure://acct1/ctr/p", AzureStorage.name],
    ];
    for (const [kind, root, cls] of cases) {
      const s = await openStorage(kind, root);
      assert.equal(s.constructor.name, cls);
      assert.equal(s.kind, kind);
      assert.equal(s.root, root);
    }
    await assert.rejects(
      openStorage("s3", "not-a-url"),
      (e: Error) => e.name === "DatastoreConfigError" && /s3:\/\/bucket/.test(e.message),
    );
  });

  it("an azure store without a connection string or key uses @azure/identity when installed, else names the variables to set", async () => {
    const s = new AzureStorage("azure://acct1/ctr", { env: {} });
    let identityInstalled = true;
    try {
      await import("@azure/identity" as string);
    } catch {
      identityInstalled = false;
    }
    if (identityInstalled) {
      const { service } = await s.clients();
      assert.equal(service.url.replace(/\/$/, ""), "https://acct1.blob.core.windows.net");
      assert.equal(service.credential.constructor.name, "DefaultAzureCredential");
    } else {
      await assert.rejects(s.clients(), /AZURE_STORAGE_CONNECTION_STRING.*AZURE_STORAGE_KEY.*@azure\/identity/);
    }
  });
});
