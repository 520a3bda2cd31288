/**
 * Code packages for pods: a self-contained package bundles the SDK of the run's datastore only (the other
 * datastores' SDKs and the Kubernetes client stay out of what every pod downloads and parses), while an SDK
 * the user's flow imports itself is always bundled.
 */
import { strict as assert } from "node:assert";
import { join } from "node:path";
import { buildCodePackage, podExcludedImports } from "../../../runtime/code/package.js";
import { FLOWS } from "../../helpers/cli.js";

const text = (b: Uint8Array) => Buffer.from(b).toString("utf8");
/** Markers of each SDK's bundled code (package paths esbuild writes as comments, without source maps' noise). */
const has = (code: string, pkg: string) => code.includes(`node_modules/${pkg}/`);

describe("code package for pods (per datastore)", function () {
  this.timeout(120_000);
  const flow = join(FLOWS, "k8s", "mixed.ts");

  it("podExcludedImports leaves out the other datastores' SDKs and the Kubernetes client", () => {
    const ex = podExcludedImports("s3");
    const out = (p: string) => ex.some((re) => re.test(p));
    assert.deepEqual(
      [
        "@aws-sdk/client-s3",
        "@smithy/core",
        "@google-cloud/storage",
        "@azure/storage-blob",
        "@kubernetes/client-node",
      ].map(out),
      [false, false, true, true, true],
    );
    assert.deepEqual(
      ["@google-cloud/storage", "@aws-sdk/client-s3"].map((p) => podExcludedImports("gs").some((re) => re.test(p))),
      [false, true],
    );
  });

  for (const [kind, own, others] of [
    ["s3", "@aws-sdk/client-s3", ["@google-cloud/storage", "@azure/storage-blob", "@kubernetes/client-node"]],
    ["gs", "@google-cloud/storage", ["@aws-sdk/client-s3", "@azure/storage-blob", "@kubernetes/client-node"]],
    ["azure", "@azure/storage-blob", ["@aws-sdk/client-s3", "@google-cloud/storage", "@kubernetes/client-node"]],
  ] as const) {
    it(`--datastore ${kind}: bundles ${own} and none of ${others.join(", ")}`, async () => {
      const all = await buildCodePackage(flow, { selfContained: true });
      const pkg = await buildCodePackage(flow, { selfContained: true, podDatastore: kind });
      const code = text(pkg.bytes);
      assert.ok(has(code, own), `${own} is bundled`);
      for (const o of others) assert.ok(!has(code, o), `${o} is left out`);
      assert.ok(
        pkg.bytes.byteLength < all.bytes.byteLength / 2,
        `${(pkg.bytes.byteLength / 1e6).toFixed(1)} MB vs ${(all.bytes.byteLength / 1e6).toFixed(1)} MB with every SDK`,
      );
    });
  }

  it("an SDK the flow imports itself is bundled whatever the datastore", async () => {
    const pkg = await buildCodePackage(join(FLOWS, "sdkimport.ts"), { selfContained: true, podDatastore: "s3" });
    const code = text(pkg.bytes);
    assert.ok(has(code, "@azure/storage-blob"), "the flow's own @azure/storage-blob import is bundled");
    assert.ok(has(code, "@aws-sdk/client-s3"), "the datastore's SDK is bundled");
  });
});
