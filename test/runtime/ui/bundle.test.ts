/**
 * The UI stays out of what tasks run: the code package (local, and self-contained for pods) of a flow that makes
 * cards holds no `kubestep ui` server or browser code and no DAG layout library; the browser app is its own bundle.
 */
import { strict as assert } from "node:assert";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { buildCodePackage } from "../../../runtime/code/package.js";
import { buildUi } from "../../../runtime/ui/app/build.mjs";
import { FLOWS } from "../../helpers/cli.js";

const UI_MARKERS = ["runtime/ui/", "@dagrejs", "startUiServer", "streamUpdates", "cardToHtml", "drawDag"];

describe("kubestep ui and the code package", function () {
  this.timeout(120_000);
  const flow = join(FLOWS, "ui.ts");

  for (const [name, options] of [
    ["local", {}],
    ["self-contained for pods (s3)", { selfContained: true, podDatastore: "s3" as const }],
  ] as const) {
    it(`the ${name} code package of a flow with cards contains no UI code`, async () => {
      const pkg = await buildCodePackage(flow, options);
      const code = Buffer.from(pkg.bytes).toString("utf8");
      assert.ok(code.includes("card.append"), "the flow (and current.card) is in the package");
      assert.ok(code.includes("runtime/flow/card"), "the card module is bundled (sources are named in the source map)");
      for (const m of UI_MARKERS) assert.ok(!code.includes(m), `${m} is not in the package`);
    });
  }

  it("the browser app bundles the layout library (dagre) and no Node module", async () => {
    const dir = await buildUi(join(FLOWS, "..", "..", "..", "test-output", "ui-bundle"));
    const app = readFileSync(join(dir, "app.js"), "utf8");
    assert.match(app, /rankdir/);
    assert.doesNotMatch(app, /from\s*"node:|require\("node:/);
  });
});
