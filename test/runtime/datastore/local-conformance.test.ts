/** The shared Storage conformance suite against the local-directory store. */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { LocalStorage } from "../../../runtime/datastore/local.js";
import { storageConformance } from "./conformance.js";

describe("local datastore conformance", function () {
  this.timeout(120_000);
  let dir = "";
  let store: LocalStorage;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), "ks-local-conf-"));
    store = new LocalStorage(dir);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));
  storageConformance(() => store);
});
