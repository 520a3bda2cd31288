/**
 * The conformance suite every `Storage` implementation must pass (local directory, S3, GCS, Azure Blob).
 * Call {@link storageConformance} inside a mocha `describe` whose `before()` has made the store available.
 * Every test works under its own random key prefix, so suites can share a bucket.
 */
import { strict as assert } from "node:assert";
import { createHash, randomBytes } from "node:crypto";
import { promises as fsp } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { fileURLToPath } from "node:url";
import type { Storage } from "../../../runtime/datastore/storage.js";

/** Downloads a pre-signed URL the way a pod without an SDK does: a plain GET (`file://` read directly). */
export async function download(url: string): Promise<Buffer> {
  if (url.startsWith("file:")) return fsp.readFile(fileURLToPath(url));
  const res = await fetch(url);
  if (res.status !== 200) throw new Error(`GET ${url} -> ${res.status} ${await res.text()}`);
  return Buffer.from(await res.arrayBuffer());
}

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(Buffer.from(c as Uint8Array));
  return Buffer.concat(chunks);
}

const sha = (b: Uint8Array): string => createHash("sha256").update(b).digest("hex");

/** A stream of `total` random bytes in `chunk`-byte pieces, optionally failing after `failAfter` bytes. */
function randomStream(
  total: number,
  chunk: number,
  opts: { failAfter?: number; delayMs?: number } = {},
): { stream: Readable; hash: () => string } {
  const h = createHash("sha256");
  let sent = 0;
  const stream = new Readable({
    read() {
      const go = () => {
        if (opts.failAfter !== undefined && sent >= opts.failAfter) {
          this.destroy(new Error("source failed on purpose"));
          return;
        }
        if (sent >= total) {
          this.push(null);
          return;
        }
        const n = Math.min(chunk, total - sent);
        const b = randomBytes(n);
        h.update(b);
        sent += n;
        this.push(b);
      };
      if (opts.delayMs) setTimeout(go, opts.delayMs);
      else go();
    },
  });
  return { stream, hash: () => h.digest("hex") };
}

/**
 * Registers the conformance tests for the store returned by `store()` (called inside each test, after
 * the enclosing suite's `before()` ran). Every store (local directory, S3, GCS, Azure) must pass all of them.
 */
export function storageConformance(store: () => Storage): void {
  let base = "";
  let s: Storage;
  beforeEach(function () {
    s = store();
    base = `conf-${Date.now().toString(36)}-${randomBytes(3).toString("hex")}`;
  });
  const k = (rel: string): string => `${base}/${rel}`;

  it("put/get round-trips strings and bytes, and get of a missing key is undefined", async () => {
    await s.put(k("a.txt"), "hello");
    await s.put(k("b.bin"), new Uint8Array([0, 1, 2, 255]));
    assert.equal((await s.get(k("a.txt")))?.toString(), "hello");
    assert.deepEqual([...((await s.get(k("b.bin"))) ?? [])], [0, 1, 2, 255]);
    assert.equal(await s.get(k("missing")), undefined);
    assert.equal(await s.getStream(k("missing")), undefined);
  });

  it("put of an empty object works", async () => {
    await s.put(k("empty"), "");
    assert.equal((await s.get(k("empty")))?.length, 0);
    assert.equal(await s.exists(k("empty")), true);
  });

  it("put replaces an existing object", async () => {
    await s.put(k("x"), "one");
    await s.put(k("x"), "two, longer");
    assert.equal((await s.get(k("x")))?.toString(), "two, longer");
  });

  it("exists tells objects from missing keys and from 'directories'", async () => {
    await s.put(k("dir/obj"), "1");
    assert.equal(await s.exists(k("dir/obj")), true);
    assert.equal(await s.exists(k("dir/nope")), false);
  });

  it("size gives an object's bytes, 0 for an empty one, undefined for a missing key", async () => {
    await s.put(k("sized.bin"), new Uint8Array(1234));
    await s.put(k("empty"), "");
    assert.equal(await s.size(k("sized.bin")), 1234);
    assert.equal(await s.size(k("empty")), 0);
    assert.equal(await s.size(k("missing")), undefined);
  });

  it("putStream and getStream round-trip a stream of unknown length", async () => {
    const { stream, hash } = randomStream(300_000, 7_000);
    await s.putStream(k("stream.bin"), stream);
    const got = await s.getStream(k("stream.bin"));
    assert.ok(got, "getStream returns a stream");
    assert.equal(sha(await readAll(got)), hash());
  });

  it("putFile uploads a local file", async () => {
    const dir = await fsp.mkdtemp(join(tmpdir(), "ks-conf-"));
    try {
      const data = randomBytes(123_457);
      await fsp.writeFile(join(dir, "f"), data);
      await s.putFile(k("file.bin"), join(dir, "f"));
      assert.equal(sha((await s.get(k("file.bin")))!), sha(data));
    } finally {
      await fsp.rm(dir, { recursive: true, force: true });
    }
  });

  it("list is recursive under a prefix (with or without a trailing /) and returns root-relative keys", async () => {
    await Promise.all(["a/b/1", "a/b/2", "a/c", "ab/d", "z"].map((r) => s.put(k(r), r)));
    assert.deepEqual((await s.list(k("a"))).sort(), [k("a/b/1"), k("a/b/2"), k("a/c")]);
    assert.deepEqual((await s.list(k("a/"))).sort(), [k("a/b/1"), k("a/b/2"), k("a/c")]);
    assert.deepEqual((await s.list(base)).sort(), [k("a/b/1"), k("a/b/2"), k("a/c"), k("ab/d"), k("z")]);
    assert.deepEqual(await s.list(k("nothing-here")), []);
    assert.ok((await s.list("")).includes(k("z")), "list('') lists the whole store");
  });

  it("listChildren returns immediate children names, objects and 'directories'", async () => {
    await Promise.all(["a/b/1", "a/b/2", "a/c", "ab/d"].map((r) => s.put(k(r), r)));
    assert.deepEqual((await s.listChildren(k("a"))).sort(), ["b", "c"]);
    assert.deepEqual((await s.listChildren(base)).sort(), ["a", "ab"]);
    assert.deepEqual(await s.listChildren(k("none")), []);
  });

  it("list handles more keys than one listing page (1000)", async function () {
    this.timeout(120_000);
    const n = 1_050;
    const names = Array.from({ length: n }, (_, i) => `many/${String(i).padStart(5, "0")}`);
    for (let i = 0; i < names.length; i += 50) await Promise.all(names.slice(i, i + 50).map((r) => s.put(k(r), "")));
    const got = await s.list(k("many"));
    assert.equal(got.length, n);
    assert.equal((await s.listChildren(k("many"))).length, n);
  });

  it("delete removes an object; deleting a missing key is not an error", async () => {
    await s.put(k("d"), "bye");
    await s.delete(k("d"));
    assert.equal(await s.exists(k("d")), false);
    assert.equal(await s.get(k("d")), undefined);
    await s.delete(k("never-was"));
  });

  it("keys with spaces, '+', '%', '~', marks and non-ASCII characters round-trip, list, and download through presignGet", async () => {
    const odd = ["space/a b", "plus/c+d", "percent/e%20f%", "unicode/ü €", "marks/!'()*~=,;@$&"];
    await Promise.all(odd.map((r) => s.put(k(`odd/${r}`), `data of ${r}`)));
    for (const r of odd) {
      assert.equal((await s.get(k(`odd/${r}`)))?.toString(), `data of ${r}`, r);
      assert.equal(await s.exists(k(`odd/${r}`)), true, r);
      assert.equal((await download(await s.presignGet(k(`odd/${r}`), 60))).toString(), `data of ${r}`, r);
    }
    assert.deepEqual((await s.list(k("odd"))).sort(), odd.map((r) => k(`odd/${r}`)).sort());
    assert.deepEqual((await s.listChildren(k("odd/plus"))).sort(), ["c+d"]);
    assert.deepEqual((await s.listChildren(k("odd/unicode"))).sort(), ["ü €"]);
    await s.delete(k("odd/space/a b"));
    assert.equal(await s.exists(k("odd/space/a b")), false);
  });

  it("presignGet gives a URL a plain HTTP GET (no SDK, no credentials) downloads", async () => {
    const data = randomBytes(50_000);
    await s.put(k("pkg/code.mjs"), data);
    const url = await s.presignGet(k("pkg/code.mjs"), 600);
    assert.equal(typeof url, "string");
    assert.equal(sha(await download(url)), sha(data));
  });

  it("stores and reads back a multi-MB object (multipart path) via put and putStream", async function () {
    this.timeout(120_000);
    const big = randomBytes(20 * 1024 * 1024 + 12_345);
    await s.put(k("big/put.bin"), big);
    assert.equal(sha((await s.get(k("big/put.bin")))!), sha(big));
    const { stream, hash } = randomStream(18 * 1024 * 1024 + 77, 256 * 1024);
    await s.putStream(k("big/stream.bin"), stream);
    const got = await s.getStream(k("big/stream.bin"));
    assert.equal(sha(await readAll(got!)), hash());
    const url = await s.presignGet(k("big/put.bin"), 300);
    assert.equal(sha(await download(url)), sha(big));
  });

  it("a new object is invisible until its whole stream was uploaded", async function () {
    this.timeout(120_000);
    let sourceEnded = false;
    const { stream, hash } = randomStream(12 * 1024 * 1024, 512 * 1024, { delayMs: 20 });
    stream.on("end", () => (sourceEnded = true));
    const writing = s.putStream(k("new/obj"), stream);
    let done = false;
    void writing.finally(() => (done = true)).catch(() => undefined);
    let polls = 0;
    while (!done) {
      polls++;
      const listed = await s.list(k("new"));
      assert.ok(
        listed.every((x) => x === k("new/obj")),
        `no temporary object is listed (${listed.join(", ")})`,
      );
      // Read the flag after observing visibility: the object may only appear once the source has ended.
      if (listed.length || (await s.exists(k("new/obj"))))
        assert.ok(sourceEnded, "the object became visible before its source stream ended");
      await new Promise((r) => setTimeout(r, 30));
    }
    await writing;
    assert.ok(polls > 3, "the upload was observed while in progress");
    assert.equal(sha((await s.get(k("new/obj")))!), hash());
  });

  it("replacing an object is atomic: readers see the old or the new version, never a mix", async function () {
    this.timeout(120_000);
    await s.put(k("atomic/obj"), "old version");
    const { stream, hash } = randomStream(12 * 1024 * 1024, 512 * 1024, { delayMs: 20 });
    const writing = s.putStream(k("atomic/obj"), stream);
    const seen = new Set<string>();
    let done = false;
    void writing.finally(() => (done = true));
    while (!done) {
      const cur = await s.get(k("atomic/obj"));
      if (cur) seen.add(cur.length === 11 ? cur.toString() : sha(cur));
      assert.ok(!(await s.list(k("atomic"))).some((x) => x !== k("atomic/obj")), "no temporary object is listed");
      await new Promise((r) => setTimeout(r, 50));
    }
    await writing;
    const final = sha((await s.get(k("atomic/obj")))!);
    assert.equal(final, hash());
    for (const v of seen) assert.ok(v === "old version" || v === final, `a reader saw a partial object (${v})`);
    assert.ok(seen.has("old version"), "the old version stayed readable while the new one was written");
  });

  it("a failed stream write leaves the previous object intact and no partial object behind", async function () {
    this.timeout(120_000);
    await s.put(k("fail/obj"), "previous");
    const { stream } = randomStream(20 * 1024 * 1024, 512 * 1024, { failAfter: 9 * 1024 * 1024 });
    await assert.rejects(s.putStream(k("fail/obj"), stream));
    assert.equal((await s.get(k("fail/obj")))?.toString(), "previous");
    const { stream: s2 } = randomStream(1024 * 1024, 64 * 1024, { failAfter: 200 * 1024 });
    await assert.rejects(s.putStream(k("fail/new"), s2));
    assert.equal(await s.exists(k("fail/new")), false);
    assert.deepEqual((await s.list(k("fail"))).sort(), [k("fail/obj")]);
  });

  it("rejects keys that escape the root", async () => {
    await assert.rejects(s.put("../outside", "x"));
  });
}
