/**
 * The code package build cache: an unchanged flow (every input file's content) reuses the previous bundle without
 * starting esbuild; a changed input rebuilds; esbuild's service process does not outlive a build.
 */
import { strict as assert } from "node:assert";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { buildCodePackage } from "../../../runtime/code/package.js";
import { scratch } from "../../helpers/cli.js";

/** Child processes of this process whose command line mentions esbuild. */
function esbuildChildren(): number[] {
  const out: number[] = [];
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (ppid === process.pid && readFileSync(`/proc/${d}/cmdline`, "utf8").includes("esbuild")) out.push(Number(d));
    } catch {
      /* gone */
    }
  }
  return out;
}

describe("code package build cache", function () {
  this.timeout(120_000);

  it("reuses the bundle while every input is unchanged, rebuilds when one changes, and is keyed by content", async () => {
    const dir = scratch();
    const flow = join(dir, "flow.ts");
    const helper = join(dir, "helper.ts");
    writeFileSync(helper, `export const greeting = "hello";\n`);
    writeFileSync(
      flow,
      [
        `import { FlowSpec, step } from "kubestep";`,
        `import { greeting } from "./helper.js";`,
        `export class CacheFlow extends FlowSpec {`,
        `  g = "";`,
        `  @step start() { this.g = greeting; this.next(this.end); }`,
        `  @step end() {}`,
        `}`,
      ].join("\n"),
    );
    const first = await buildCodePackage(flow);
    assert.equal(first.fromCache, undefined, "the first build runs esbuild");
    const again = await buildCodePackage(flow);
    assert.equal(again.fromCache, true, "an unchanged flow reuses the bundle");
    assert.equal(again.sha, first.sha);
    assert.equal(again.path, first.path);
    assert.deepEqual(Buffer.from(again.bytes), Buffer.from(first.bytes));

    // Another option set is another build.
    const other = await buildCodePackage(flow, { selfContained: true, podDatastore: "s3" });
    assert.equal(other.fromCache, undefined);
    assert.notEqual(other.sha, first.sha);

    // An imported file changes: rebuilt, with the new text.
    await new Promise((r) => setTimeout(r, 20));
    writeFileSync(helper, `export const greeting = "changed";\n`);
    const changed = await buildCodePackage(flow);
    assert.equal(changed.fromCache, undefined, "a changed input rebuilds");
    assert.notEqual(changed.sha, first.sha);
    assert.ok(Buffer.from(changed.bytes).toString("utf8").includes(`"changed"`));

    // Back to the first text: the key is the content, not the modification time.
    writeFileSync(helper, `export const greeting = "hello";\n`);
    const back = await buildCodePackage(flow);
    assert.equal(back.sha, first.sha);
  });

  it("stops esbuild's service process after a build", async () => {
    const dir = scratch();
    const flow = join(dir, "flow.ts");
    writeFileSync(
      flow,
      `import { FlowSpec, step } from "kubestep";\nexport class StopFlow extends FlowSpec {\n  @step start() { this.next(this.end); }\n  @step end() {}\n}\n// ${dir}\n`,
    );
    // Other esbuild services may run in this process (tsx's own, another suite's): only new ones count.
    const before = new Set(esbuildChildren());
    const started = () => esbuildChildren().filter((p) => !before.has(p));
    const pkg = await buildCodePackage(flow);
    assert.equal(pkg.fromCache, undefined, "a fresh flow is built");
    // stop() is asynchronous: the service exits shortly after the build resolves.
    for (let i = 0; i < 100 && started().length; i++) await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(started(), [], "no esbuild process started by the build is left running");
  });
});
