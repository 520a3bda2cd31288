/**
 * External packages: native addon detection, the flow's declared externals, the deterministic dependency layer
 * (its tar read back by the system's tar), the code package leaving native addons out, and the pod bootstrap
 * (run here with `node`, against a local HTTP server) verifying, checking the platform of and extracting a layer.
 */
import { strict as assert } from "node:assert";
import { execFileSync, spawn } from "node:child_process";
import { createServer, type Server } from "node:http";
import { mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createHash } from "node:crypto";
import type { AddressInfo } from "node:net";
import {
  buildDependencyLayer,
  declaredExternals,
  hostPlatform,
  nativeAddonReason,
  planLayer,
  type ExternalPackage,
} from "../../../runtime/code/externals.js";
import { tarGzBytes } from "../../../runtime/code/tar.js";
import { buildCodePackage } from "../../../runtime/code/package.js";
import {
  BOOTSTRAP_FAILURE_EXIT,
  podBootstrapCommand,
  type PodDependencyLayer,
} from "../../../runtime/code/bootstrap.js";
import { FlowDefinitionError } from "../../../runtime/errors.js";
import { ROOT } from "../../helpers/cli.js";

/** Writes a package `name` under `dir` with `files` (package.json from `pj`). */
function pkg(dir: string, name: string, pj: object, files: Record<string, string> = {}): string {
  const d = join(dir, "node_modules", name);
  mkdirSync(d, { recursive: true });
  writeFileSync(join(d, "package.json"), JSON.stringify({ name, version: "1.0.0", main: "index.js", ...pj }));
  writeFileSync(join(d, "index.js"), `module.exports = ${JSON.stringify(name)};`);
  for (const [f, text] of Object.entries(files)) {
    mkdirSync(join(d, f, ".."), { recursive: true });
    writeFileSync(join(d, f), text);
  }
  return d;
}

/** A project: native-a (build/Release/a.node) -> dep-b -> dep-c@2 (nested), native-a -> dep-c@1 (top). */
function project(): { root: string; a: ExternalPackage } {
  const root = mkdtempSync(join(tmpdir(), "kubestep-ext-"));
  const a = pkg(root, "native-a", { dependencies: { "dep-b": "1", "dep-c": "1" } }, { "build/Release/a.node": "ELF" });
  const b = pkg(root, "dep-b", { dependencies: { "dep-c": "2" }, optionalDependencies: { "not-installed": "1" } });
  pkg(root, "dep-c", {});
  pkg(b, "dep-c", { version: "2.0.0" });
  return { root, a: { name: "native-a", dir: a, reason: "ships the native binary build/Release/a.node" } };
}

describe("external packages and dependency layers", function () {
  this.timeout(120_000);
  const dirs: string[] = [];
  // The native-addon fixture's packages (npm ci, once; a no-op when installed).
  before(() => execFileSync("bash", [join(ROOT, "test", "tooling", "native", "setup.sh")], { stdio: "inherit" }));
  after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

  it("detects native addons: a .node binary, a binding.gyp, a bindings / node-gyp-build / prebuild loader", () => {
    const root = mkdtempSync(join(tmpdir(), "kubestep-ext-"));
    dirs.push(root);
    assert.equal(
      nativeAddonReason(pkg(root, "bin", {}, { "prebuilds/linux-x64/x.node": "" })),
      "ships the native binary prebuilds/linux-x64/x.node",
    );
    assert.equal(
      nativeAddonReason(pkg(root, "gyp", {}, { "binding.gyp": "{}" })),
      "builds a native addon (binding.gyp)",
    );
    assert.equal(
      nativeAddonReason(pkg(root, "b", { dependencies: { bindings: "1" } })),
      "loads its binary with bindings",
    );
    assert.equal(
      nativeAddonReason(pkg(root, "g", { dependencies: { "node-gyp-build": "4" } })),
      "loads its binary with node-gyp-build",
    );
    assert.equal(
      nativeAddonReason(pkg(root, "p", { dependencies: { "prebuild-install": "7" } })),
      "loads its binary with prebuild-install",
    );
    // A dependency's binary (in the package's own node_modules) does not make a pure package native.
    const pure = pkg(root, "pure", { dependencies: { lodash: "4" } }, { "lib/a.js": "" });
    pkg(pure, "inner", {}, { "x.node": "" });
    assert.equal(nativeAddonReason(pure), undefined);
    // The real fixture.
    assert.equal(
      nativeAddonReason(join(ROOT, "test", "fixtures", "native", "node_modules", "bufferutil")),
      "loads its binary with node-gyp-build",
    );
  });

  it("reads a flow's static externals, refusing every bad name at once", () => {
    class Good {
      static externals = ["sharp", "@scope/pkg", "sharp"];
    }
    class Bad {
      static externals = ["ok", "../x", "Sharp", 3, "pkg@1.0"];
    }
    class NotArray {
      static externals = "sharp";
    }
    assert.deepEqual(declaredExternals(Good), ["@scope/pkg", "sharp"]);
    assert.deepEqual(declaredExternals(class None {}), []);
    assert.throws(
      () => declaredExternals(Bad),
      (e: Error) =>
        e instanceof FlowDefinitionError &&
        e.message ===
          'flow Bad: static externals has invalid package names "../x", "Sharp", 3, "pkg@1.0"; give npm package names such as "sharp" or "@scope/name" (no version, no path)',
    );
    assert.throws(() => declaredExternals(NotArray), /flow NotArray: static externals is "sharp"; give an array/);
  });

  it("places transitive production dependencies as Node resolves them, nesting a conflicting version", () => {
    const { root, a } = project();
    dirs.push(root);
    assert.deepEqual(
      planLayer([a]).map((p) => `${p.path}@${p.version}`),
      [
        "node_modules/dep-b@1.0.0",
        "node_modules/dep-b/node_modules/dep-c@2.0.0",
        "node_modules/dep-c@1.0.0",
        "node_modules/native-a@1.0.0",
      ],
    );
    rmSync(join(root, "node_modules", "dep-b"), { recursive: true });
    assert.throws(
      () => planLayer([a]),
      /cannot pack the external packages:\n {2}native-a depends on dep-b, which is not installed \(npm install\)/,
    );
  });

  it("a layer is deterministic: same files, same sha256, whatever their times; other bytes, another sha", () => {
    const { root, a } = project();
    dirs.push(root);
    const first = buildDependencyLayer([a]);
    utimesSync(join(a.dir, "index.js"), new Date(2001, 1, 1), new Date(2001, 1, 1));
    const again = buildDependencyLayer([a]);
    assert.equal(again.sha, first.sha);
    assert.ok(again.bytes.equals(first.bytes));
    assert.equal(first.sha, createHash("sha256").update(first.bytes).digest("hex"));
    assert.deepEqual(first.native, ["native-a"]);
    assert.equal(first.platform, hostPlatform());
    assert.match(first.platform!, /^linux-x64-glibc-abi\d+$/);
    writeFileSync(join(a.dir, "index.js"), "module.exports = 2;");
    assert.notEqual(buildDependencyLayer([a]).sha, first.sha);
  });

  it("the layer's tar reads back with the system tar: sorted, owner 0, time 0, long paths kept", () => {
    const long = `node_modules/${"deep/".repeat(25)}file.js`;
    const bytes = tarGzBytes([
      { path: "b.txt", data: Buffer.from("b") },
      { path: long, data: Buffer.from("long") },
      { path: "a.sh", data: Buffer.from("#!/bin/sh"), executable: true },
    ]);
    const dir = mkdtempSync(join(tmpdir(), "kubestep-tar-"));
    dirs.push(dir);
    writeFileSync(join(dir, "l.tgz"), bytes);
    const listing = execFileSync("tar", ["-tvzf", join(dir, "l.tgz"), "--numeric-owner"], { encoding: "utf8" });
    const lines = listing.trim().split("\n");
    assert.equal(lines.length, 3, listing);
    assert.match(lines[0]!, /^-rwxr-xr-x 0\/0\s+9 1970-01-01 00:00 a\.sh$/);
    assert.match(lines[1]!, /^-rw-r--r-- 0\/0\s+1 1970-01-01 00:00 b\.txt$/);
    assert.ok(lines[2]!.endsWith(long), lines[2]);
    assert.throws(() => tarGzBytes([{ path: "../x", data: Buffer.alloc(0) }]), /must be a relative path/);
  });

  it("the code package leaves the native addon out: by real path locally, by name for pods", async () => {
    const flow = join(ROOT, "test", "fixtures", "native", "native.ts");
    const local = await buildCodePackage(flow);
    assert.deepEqual(
      local.externals.map((e) => [e.name, e.reason]),
      [["bufferutil", "loads its binary with node-gyp-build"]],
    );
    const localCode = Buffer.from(local.bytes).toString("utf8");
    assert.ok(localCode.includes(`require(${JSON.stringify(join(local.externals[0]!.dir, "index.js"))})`));
    assert.ok(!localCode.includes("node_modules/node-gyp-build/"), "node-gyp-build was bundled");
    const pod = await buildCodePackage(flow, {
      selfContained: true,
      podDatastore: "s3",
      externals: ["node-gyp-build"],
    });
    assert.deepEqual(
      pod.externals.map((e) => [e.name, e.reason]),
      [
        ["bufferutil", "loads its binary with node-gyp-build"],
        ["node-gyp-build", "declared"],
      ],
    );
    assert.ok(Buffer.from(pod.bytes).toString("utf8").includes(`require("bufferutil")`));
    await assert.rejects(
      buildCodePackage(flow, { externals: ["not-installed-x", "not-installed-y"] }),
      /the external packages not-installed-x, not-installed-y of .*native\.ts are not installed in a node_modules folder above/,
    );
  });

  describe("the pod bootstrap", () => {
    let server: Server;
    let base = "";
    const objects = new Map<string, Buffer>();
    before(async () => {
      server = createServer((req, res) => {
        const b = objects.get(req.url ?? "");
        res.writeHead(b ? 200 : 404).end(b ?? "no such object");
      });
      await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
      base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    });
    after(() => server.close());

    const code = Buffer.from(
      `export async function runTaskProcess() { const { createRequire } = await import("node:module"); ` +
        `const req = createRequire(import.meta.url); console.log("resolved " + req.resolve("native-a") + " " + req("dep-b")); }`,
    );
    const codeSha = createHash("sha256").update(code).digest("hex");
    const boot = (deps: PodDependencyLayer): Promise<{ code: number | null; out: string }> => {
      objects.set("/code", code);
      const [node, ...args] = podBootstrapCommand();
      return new Promise((res) => {
        const child = spawn(node!, args, {
          env: {
            PATH: process.env.PATH,
            KUBESTEP_CODE_URL: `${base}/code`,
            KUBESTEP_CODE_SHA: codeSha,
            KUBESTEP_DEPS: JSON.stringify(deps),
            KUBESTEP_DEPS_URL: `${base}/layer`,
          },
        });
        let out = "";
        child.stdout.on("data", (c) => (out += c));
        child.stderr.on("data", (c) => (out += c));
        child.on("close", (c) => res({ code: c, out }));
      });
    };

    it("extracts a verified layer beside the code package, where its imports resolve", async () => {
      const { root, a } = project();
      dirs.push(root);
      const layer = buildDependencyLayer([a]);
      objects.set("/layer", layer.bytes);
      const at = `/tmp/kubestep-code/deps-${layer.sha}`;
      dirs.push(at);
      const r = await boot({
        sha: layer.sha,
        externals: ["native-a"],
        native: layer.native,
        platform: layer.platform!,
      });
      assert.equal(r.code, 0, r.out);
      assert.equal(r.out.trim(), `resolved ${at}/node_modules/native-a/index.js dep-b`);
      assert.ok(existsSync(`${at}/node_modules/dep-b/node_modules/dep-c/package.json`));
      assert.ok(existsSync(`${at}/node_modules/native-a/build/Release/a.node`));
    });

    it("refuses a layer whose bytes do not match, naming it and both hashes", async () => {
      const wanted = "ab".repeat(32);
      objects.set("/layer", Buffer.from("tampered"));
      const got = createHash("sha256").update("tampered").digest("hex");
      const r = await boot({ sha: wanted, externals: ["sharp"], native: [] });
      assert.equal(r.code, BOOTSTRAP_FAILURE_EXIT, r.out);
      assert.equal(
        r.out.trim(),
        `kubestep bootstrap: dependency layer ${wanted} (sharp) hash mismatch: expected ${wanted}, got ${got}; the object in the datastore was changed or damaged: delete it and run again to upload it anew`,
      );
      assert.ok(!existsSync(`/tmp/kubestep-code/deps-${wanted}`));
    });

    it("refuses native addons installed for another platform, saying what to do", async () => {
      const r = await boot({
        sha: "cd".repeat(32),
        externals: ["sharp"],
        native: ["sharp"],
        platform: "darwin-arm64-abi115",
      });
      assert.equal(r.code, BOOTSTRAP_FAILURE_EXIT, r.out);
      assert.equal(
        r.out.trim(),
        `kubestep bootstrap: the dependency layer ${"cd".repeat(32)} (sharp) holds native addons (sharp) installed for darwin-arm64-abi115 on the machine that submitted the run, but this pod is ${hostPlatform()} (platform-arch-libc-abi<Node.js module version>): submit the run from a machine or container of the pods' platform with the pods' Node.js major version (npm install there, so node_modules holds the binaries for ${hostPlatform()}), or run the step in an image of darwin-arm64-abi115`,
      );
    });
  });
});
