import { strict as assert } from "node:assert";
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { LocalStorage } from "../../../runtime/datastore/local.js";
import { ROOT } from "../../helpers/cli.js";

describe("local datastore", () => {
  it("never exposes a half-written object when the writer dies mid-write", async function () {
    this.timeout(60_000);
    const dir = mkdtempSync(join(tmpdir(), "ks-atomic-"));
    // A writer streaming 256 MB is SIGKILLed part-way: the key must not exist, nor be listed.
    const script = `
      import { LocalStorage } from ${JSON.stringify(join(ROOT, "runtime/datastore/local.ts"))};
      import { Readable } from "node:stream";
      const s = new LocalStorage(${JSON.stringify(dir)});
      let n = 0;
      const src = new Readable({ read() { if (n++ === 8) process.stdout.write("writing\\n"); this.push(n > 4096 ? null : Buffer.alloc(65536, 1)); } });
      await s.putStream("F/data/ab/abc", src);
      process.stdout.write("done\\n");`;
    const child = spawn(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], {
      stdio: ["ignore", "pipe", "inherit"],
      cwd: ROOT,
    });
    await new Promise<void>((res) =>
      child.stdout.on("data", (c: Buffer) => {
        if (c.toString().includes("writing")) {
          child.kill("SIGKILL");
          res();
        }
      }),
    );
    await new Promise((r) => child.on("close", r));
    const s = new LocalStorage(dir);
    assert.equal(await s.exists("F/data/ab/abc"), false);
    assert.equal(await s.get("F/data/ab/abc"), undefined);
    assert.deepEqual(await s.list("F"), []);
    // Only a temporary file was left behind, and it is ignored by readers.
    const left = readdirSync(join(dir, "F/data/ab"));
    assert.ok(left.length > 0 && left.every((n) => n.includes(".tmp-")), `unexpected files ${left}`);
    // A complete write replaces atomically.
    await s.put("F/x", "one");
    await s.put("F/x", "two");
    assert.equal((await s.get("F/x"))!.toString(), "two");
    assert.ok(!existsSync(join(dir, "F/x.tmp")));
  });

  it("refuses keys that escape the root", async () => {
    const s = new LocalStorage(mkdtempSync(join(tmpdir(), "ks-esc-")));
    await assert.rejects(s.put("../outside", "x"), /escapes the root/);
  });
});
