/** The optional-peer loader: the peer table matches package.json, missing peers give the exact npm install. */
import { strict as assert } from "node:assert";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import {
  COMPONENT_PEERS,
  FEATURE_PEERS,
  MissingPeerError,
  RUNTIME_PEERS,
  installCommand,
  isPackageNotFound,
  requirePeer,
  requirePeers,
  type PeerFeature,
  type PeerImporter,
  type RuntimePeer,
} from "../../runtime/peers.js";
import { ROOT } from "../helpers/cli.js";

interface PackageJson {
  dependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  peerDependenciesMeta?: Record<string, { optional?: boolean }>;
}
const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as PackageJson;

/**
 * An importer that really imports from a directory with no node_modules around it, so a missing package
 * fails exactly as Node fails it for a user who did not install the peer.
 */
function isolatedImporter(): { importer: (name: string) => Promise<unknown>; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), "ks-peers-"));
  const file = join(dir, "importer.mjs");
  writeFileSync(file, "export default (name) => import(name);\n");
  let load: ((name: string) => Promise<unknown>) | undefined;
  return {
    importer: async (name) => {
      load ??= ((await import(pathToFileURL(file).href)) as { default: (n: string) => Promise<unknown> }).default;
      return load(name);
    },
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

async function missingPeerError(p: Promise<void>): Promise<MissingPeerError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof MissingPeerError, `expected a MissingPeerError, got ${(e as Error).stack}`);
    return e;
  }
  assert.fail("expected a MissingPeerError, the call succeeded");
}

describe("optional peers", () => {
  it("the runtime's and the components' peers are exactly package.json's optional peerDependencies, also devDependencies, never dependencies", () => {
    const table: Record<string, string> = { ...RUNTIME_PEERS, ...COMPONENT_PEERS };
    assert.deepEqual(Object.keys(pkg.peerDependencies ?? {}).sort(), Object.keys(table).sort());
    for (const [name, range] of Object.entries(table)) {
      assert.equal(pkg.peerDependencies![name], range, `peerDependencies ${name}`);
      assert.equal(pkg.peerDependenciesMeta?.[name]?.optional, true, `peerDependenciesMeta ${name} is not optional`);
      assert.equal(pkg.devDependencies?.[name], range, `devDependencies ${name} (this repo's tests need it)`);
      assert.equal(pkg.dependencies?.[name], undefined, `${name} is still a dependency`);
    }
    const features = Object.values(FEATURE_PEERS).flat();
    for (const name of Object.keys(RUNTIME_PEERS))
      assert.ok(features.includes(name as RuntimePeer), `no feature needs ${name}`);
  });

  it("installCommand names each package at the range kubestep supports", () => {
    assert.equal(
      installCommand(["@google-cloud/storage"]),
      `npm install @google-cloud/storage@${pkg.peerDependencies!["@google-cloud/storage"]}`,
    );
    assert.equal(
      installCommand(FEATURE_PEERS.s3),
      `npm install ${FEATURE_PEERS.s3.map((n) => `${n}@${pkg.peerDependencies![n]}`).join(" ")}`,
    );
  });

  it("resolves when every peer a feature needs is installed (this repo has them all)", async () => {
    await requirePeers((Object.keys(FEATURE_PEERS) as PeerFeature[]).map((feature) => ({ feature })));
  });

  it("a peer that is not installed: the reason, the package and the exact npm install", async () => {
    const { importer, cleanup } = isolatedImporter();
    try {
      const e = await missingPeerError(requirePeer("gs", "--datastore gs", importer));
      assert.equal(
        e.message,
        `--datastore gs needs @google-cloud/storage: npm install @google-cloud/storage@${pkg.peerDependencies!["@google-cloud/storage"]}`,
      );
      assert.deepEqual(e.packages, ["@google-cloud/storage"]);
      assert.equal(e.command, `npm install @google-cloud/storage@${pkg.peerDependencies!["@google-cloud/storage"]}`);
      const k = await missingPeerError(requirePeer("kubernetes", undefined, importer));
      assert.equal(
        k.message,
        `running on Kubernetes needs @kubernetes/client-node: npm install @kubernetes/client-node@${pkg.peerDependencies!["@kubernetes/client-node"]}`,
      );
    } finally {
      cleanup();
    }
  });

  it("names every package of a feature that is missing, and only those", async () => {
    const present = new Set<string>(["@aws-sdk/client-s3"]);
    const { importer: isolated, cleanup } = isolatedImporter();
    try {
      const importer: PeerImporter = (name) => (present.has(name) ? Promise.resolve({}) : isolated(name));
      const e = await missingPeerError(requirePeer("s3", "KUBESTEP_DEFAULT_DATASTORE=s3", importer));
      const r = pkg.peerDependencies!;
      assert.equal(
        e.message,
        `KUBESTEP_DEFAULT_DATASTORE=s3 needs @aws-sdk/lib-storage and @aws-sdk/s3-request-presigner: npm install @aws-sdk/lib-storage@${r["@aws-sdk/lib-storage"]} @aws-sdk/s3-request-presigner@${r["@aws-sdk/s3-request-presigner"]}`,
      );
    } finally {
      cleanup();
    }
  });

  it("several needs: one line each, then one npm install for all of them", async () => {
    const { importer, cleanup } = isolatedImporter();
    try {
      const e = await missingPeerError(
        requirePeers(
          [
            { feature: "kubernetes", reason: "step train (@kubernetes)" },
            { feature: "azure", reason: "--datastore azure" },
          ],
          importer,
        ),
      );
      const r = pkg.peerDependencies!;
      assert.deepEqual(e.message.split("\n"), [
        `step train (@kubernetes) needs @kubernetes/client-node: npm install @kubernetes/client-node@${r["@kubernetes/client-node"]}`,
        `--datastore azure needs @azure/storage-blob: npm install @azure/storage-blob@${r["@azure/storage-blob"]}`,
        `install them all with: npm install @kubernetes/client-node@${r["@kubernetes/client-node"]} @azure/storage-blob@${r["@azure/storage-blob"]}`,
      ]);
    } finally {
      cleanup();
    }
  });

  it("a need whose peers are installed is left out of the message", async () => {
    const { importer: isolated, cleanup } = isolatedImporter();
    try {
      const importer: PeerImporter = (name) =>
        name === "@kubernetes/client-node" ? Promise.resolve({}) : isolated(name);
      const e = await missingPeerError(
        requirePeers(
          [
            { feature: "kubernetes", reason: "--with kubernetes" },
            { feature: "gs", reason: "--datastore gs" },
          ],
          importer,
        ),
      );
      assert.deepEqual(e.message.split("\n"), [
        `--datastore gs needs @google-cloud/storage: npm install @google-cloud/storage@${pkg.peerDependencies!["@google-cloud/storage"]}`,
      ]);
    } finally {
      cleanup();
    }
  });

  it("an installed peer that fails to load (or lacks a package of its own) is not reported as missing: its error is rethrown", async () => {
    const boom = new Error("SyntaxError in the SDK");
    await assert.rejects(
      requirePeer("gs", "--datastore gs", () => Promise.reject(boom)),
      (e) => e === boom,
    );
    const { importer: isolated, cleanup } = isolatedImporter();
    try {
      // A dependency of the peer is missing: Node names that package, not the peer.
      const transitive = await isolated("gaxios-not-installed-dependency").then(
        () => assert.fail("imported a package that does not exist"),
        (e: unknown) => e,
      );
      await assert.rejects(
        requirePeer("gs", "--datastore gs", () => Promise.reject(transitive)),
        (e) => e === transitive,
      );
    } finally {
      cleanup();
    }
  });

  it("isPackageNotFound recognizes Node's ESM and CommonJS not-found errors for that package only", () => {
    const esm = Object.assign(new Error("Cannot find package '@azure/identity' imported from /x/y.js"), {
      code: "ERR_MODULE_NOT_FOUND",
    });
    const cjs = Object.assign(new Error("Cannot find module '@azure/identity'\nRequire stack:\n- /x/y.js"), {
      code: "MODULE_NOT_FOUND",
    });
    assert.equal(isPackageNotFound(esm, "@azure/identity"), true);
    assert.equal(isPackageNotFound(cjs, "@azure/identity"), true);
    assert.equal(isPackageNotFound(esm, "@azure/storage-blob"), false);
    assert.equal(isPackageNotFound(new Error("Cannot find package '@azure/identity'"), "@azure/identity"), false);
    assert.equal(isPackageNotFound("text", "@azure/identity"), false);
  });
});
