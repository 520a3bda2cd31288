/**
 * The pod command (code/bootstrap.ts): plain `node` for images with Node.js, and the `sh` wrapper that picks a
 * Node.js when the runtime brought one. The wrapper is run here by the real /bin/sh with made-up PATHs: an image
 * node that is new enough, one that is too old, none, and a brought node that cannot run (no loader).
 */
import { strict as assert } from "node:assert";
import { spawnSync } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  BOOTSTRAP_FAILURE_EXIT,
  MIN_POD_NODE_MAJOR,
  NODE_CHOOSER,
  podBootstrapCommand,
} from "../../../runtime/code/bootstrap.js";
import { INJECTED_NODE } from "../../../runtime/kubernetes/node-injection.js";

const dir = mkdtempSync(join(tmpdir(), "kubestep-bootstrap-"));
/** A directory holding `node` as a symlink to this process's node (a real, runnable node). */
function realNodeDir(name: string): string {
  const d = join(dir, name);
  mkdirSync(d);
  symlinkSync(process.execPath, join(d, "node"));
  return d;
}
/** A directory holding a fake `node` script that reports `version`. */
function fakeNodeDir(name: string, version: string): string {
  const d = join(dir, name);
  mkdirSync(d);
  writeFileSync(join(d, "node"), `#!/bin/sh\necho ${version}\n`);
  chmodSync(join(d, "node"), 0o755);
  return d;
}
/** An empty PATH directory: the wrapper needs only shell builtins, and this machine's /usr/bin has a node. */
const SYSTEM_PATH = join(dir, "empty-bin");
mkdirSync(SYSTEM_PATH);

/** Runs the wrapper like the pod does, with `script` as the bootstrap; returns status and output. */
function runChooser(path: string, injected: string, script: string) {
  const cmd = ["/bin/sh", "-c", NODE_CHOOSER, "kubestep-bootstrap", injected, script];
  const r = spawnSync(cmd[0]!, cmd.slice(1), { env: { PATH: path }, encoding: "utf8" });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}
const WHO = "console.log(process.execPath)";

describe("code/bootstrap pod command", () => {
  before(() => {
    // No node under SYSTEM_PATH, else the cases below mean nothing.
    assert.notEqual(spawnSync("/bin/sh", ["-c", "command -v node"], { env: { PATH: SYSTEM_PATH } }).status, 0);
  });

  it("is plain node without injection, the sh wrapper with it", () => {
    const plain = podBootstrapCommand();
    assert.deepEqual(plain.slice(0, 4), ["node", "--enable-source-maps", "--input-type=module", "-e"]);
    const wrapped = podBootstrapCommand({ injectedNode: INJECTED_NODE });
    assert.deepEqual(wrapped.slice(0, 5), ["sh", "-c", NODE_CHOOSER, "kubestep-bootstrap", INJECTED_NODE]);
    assert.equal(wrapped[5], plain[4], "the same bootstrap script");
  });

  it("uses the image's node when it is on the PATH and new enough", () => {
    const img = realNodeDir("img");
    const brought = fakeNodeDir("brought", "the-brought-node-ran"); // prints this if it is ever run
    const r = runChooser(`${img}:${SYSTEM_PATH}`, join(brought, "node"), WHO);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.trim(), process.execPath);
    assert.ok(readFileSync(join(img, "node")), "the image's node exists");
  });

  it("uses the brought node when the image has none", () => {
    const brought = realNodeDir("brought2");
    const r = runChooser(SYSTEM_PATH, join(brought, "node"), `${WHO}; process.exit(3)`);
    assert.equal(r.status, 3, "the task's exit status comes through (exec)");
    assert.equal(r.stdout.trim(), process.execPath);
  });

  it(`uses the brought node when the image's node is older than ${MIN_POD_NODE_MAJOR}`, () => {
    const old = fakeNodeDir("old", "v18.19.0");
    const brought = realNodeDir("brought3");
    const r = runChooser(`${old}:${SYSTEM_PATH}`, join(brought, "node"), WHO);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.trim(), process.execPath);
  });

  it("fails with 70, explained, when the brought node cannot run (no dynamic loader, as on Alpine/busybox)", () => {
    const broken = join(dir, "broken-node");
    // An ELF-like stand-in: a script whose interpreter does not exist fails exactly like a glibc binary on musl.
    writeFileSync(broken, "#!/lib/no-such-ld-linux.so.2\n");
    chmodSync(broken, 0o755);
    const r = runChooser(SYSTEM_PATH, broken, WHO);
    assert.equal(r.status, BOOTSTRAP_FAILURE_EXIT);
    assert.match(
      r.stderr,
      /^kubestep bootstrap: the image has no Node\.js >= 20 on its PATH \(found: none\) and the Node\.js kubestep brought from the node image cannot run in it: .+It needs glibc and libstdc\+\+/s,
    );
    assert.match(r.stderr, /Alpine\/musl and distroless images do not/);
  });

  it("fails with 70, explained, when there is no usable node at all", () => {
    const old = fakeNodeDir("old2", "v16.0.0");
    const r = runChooser(`${old}:${SYSTEM_PATH}`, join(dir, "missing", "node"), WHO);
    assert.equal(r.status, BOOTSTRAP_FAILURE_EXIT);
    assert.match(
      r.stderr,
      /the image has no Node\.js >= 20 on its PATH \(found: v16\.0\.0\) and kubestep brought none/,
    );
  });
});
