/**
 * The Azure Blob datastore against a REAL Azure Blob server (azurite, started here on a free port): the
 * shared conformance suite, plus Azure-specific checks (credentials, account checks, SAS URLs).
 */
import { strict as assert } from "node:assert";
import { AzureStorage } from "../../../runtime/datastore/azure.js";
import {
  AZURITE_ACCOUNT,
  AZURITE_KEY,
  TEST_CONTAINER,
  startAzurite,
  type RunningServer,
} from "../../tooling/servers/servers.js";
import { storageConformance } from "./conformance.js";

describe("Azure Blob datastore (azurite)", function () {
  this.timeout(120_000);
  let server: RunningServer;
  let store: AzureStorage;

  before(async () => {
    server = await startAzurite();
    store = new AzureStorage(`azure://${AZURITE_ACCOUNT}/${TEST_CONTAINER}/conformance`, { env: server.env });
    const { container } = await store.clients();
    await container.createIfNotExists();
  });
  after(async () => {
    await server?.stop();
  });

  describe("conformance", () => storageConformance(() => store));

  it("authenticates with an account key (AZURE_STORAGE_KEY) and a custom endpoint", async () => {
    await store.put("by-key/x", "via connection string");
    const s = new AzureStorage(`azure://${AZURITE_ACCOUNT}/${TEST_CONTAINER}/conformance`, {
      env: { AZURE_STORAGE_KEY: AZURITE_KEY, KUBESTEP_AZURE_BLOB_ENDPOINT: `${server.url}/${AZURITE_ACCOUNT}` },
    });
    assert.equal((await s.get("by-key/x"))?.toString(), "via connection string");
    const url = await s.presignGet("by-key/x", 60);
    assert.match(url, /[?&]sig=/);
    assert.equal(await (await fetch(url)).text(), "via connection string");
  });

  it("refuses a connection string for another account, naming both accounts", async () => {
    const s = new AzureStorage(`azure://otheraccount/${TEST_CONTAINER}`, { env: server.env });
    await assert.rejects(
      s.get("x"),
      (e: Error) => e.message.includes("otheraccount") && e.message.includes(AZURITE_ACCOUNT),
    );
  });

  it("a SAS URL is read-only and a wrong signature is refused", async () => {
    await store.put("sas/obj", "secret data");
    const url = await store.presignGet("sas/obj", 60);
    const put = await fetch(url, { method: "PUT", body: "overwrite", headers: { "x-ms-blob-type": "BlockBlob" } });
    assert.equal(put.status, 403);
    const tampered = url.replace(/sig=[^&]+/, "sig=AAAA");
    assert.equal((await fetch(tampered)).status, 403);
    assert.equal((await store.get("sas/obj"))?.toString(), "secret data");
  });
});
