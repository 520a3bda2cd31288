import { strict as assert } from "node:assert";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { decodeArtifact, encodeArtifact, checkStorable } from "../../../runtime/artifacts/serialize.js";
import { ArtifactStore } from "../../../runtime/artifacts/store.js";
import { FlowDatastore } from "../../../runtime/datastore/flowstore.js";
import { LocalStorage } from "../../../runtime/datastore/local.js";
import { ArtifactError } from "../../../runtime/errors.js";
import { Socket } from "node:net";

function roundTrip(v: unknown): unknown {
  const e = encodeArtifact("x", v);
  return decodeArtifact(e.encoding, Buffer.from(e.bytes.buffer, e.bytes.byteOffset, e.bytes.byteLength));
}

describe("artifact serialization", () => {
  it("round-trips Map, Set, Date, Buffer, typed arrays, bigint, nested data, Error", () => {
    const values: unknown[] = [
      42,
      "text",
      null,
      true,
      12345678901234567890n,
      new Date(1234),
      new Map<unknown, unknown>([
        ["a", 1],
        [2, new Set([3])],
      ]),
      new Set(["x", "y"]),
      Buffer.from("bytes"),
      new Uint8Array([1, 2, 3]),
      new Float64Array([1.5, -2]),
      new Int32Array([7]),
      { deep: [1, { map: new Map([["k", [1n]]]) }] },
      [undefined, NaN, -0, Infinity],
      /re+/gi,
      new ArrayBuffer(4),
    ];
    for (const v of values) assert.deepEqual(roundTrip(v), v);
    const err = roundTrip(new RangeError("boom")) as Error;
    assert.equal(err.message, "boom");
    assert.ok(Buffer.isBuffer(roundTrip(Buffer.from("b"))));
    assert.ok(roundTrip(new Uint8Array([1])) instanceof Uint8Array);
  });

  it("stores Buffers as raw bytes without copying", () => {
    const b = Buffer.alloc(1024, 7);
    const e = encodeArtifact("blob", b);
    assert.equal(e.encoding, "buffer");
    assert.equal(e.bytes, b);
  });

  it("rejects functions, sockets, class instances with methods and promises, naming the field and what is allowed", () => {
    class Model {
      predict() {
        return 1;
      }
    }
    const cases: Array<[unknown, RegExp]> = [
      [() => 1, /artifact x cannot be stored: it is a function/],
      [{ a: { b: [1, function cb() {}] } }, /artifact x\.a\.b\[1\] cannot be stored: it is a function \(cb\)/],
      [new Model(), /artifact x cannot be stored: it is an instance of Model \(a class with methods/],
      [new Socket(), /artifact x cannot be stored: it is an instance of Socket/],
      [Promise.resolve(1), /a Promise \(did you forget await\?\)/],
      [new Map([["k", Symbol("s")]]), /artifact x\.get\("k"\) cannot be stored: it is a symbol/],
    ];
    for (const [v, re] of cases)
      assert.throws(
        () => checkStorable("x", v),
        (e: Error) => e instanceof ArtifactError && re.test(e.message) && /Artifacts may be/.test(e.message),
      );
  });

  it("accepts instances of classes without methods and cyclic data", () => {
    class Point {
      x = 1;
      y = 2;
    }
    checkStorable("p", new Point());
    const cyc: Record<string, unknown> = { a: 1 };
    cyc.self = cyc;
    const back = roundTrip(cyc) as Record<string, unknown>;
    assert.equal(back.self, back);
  });
});

describe("artifact store", () => {
  it("is content-addressed and deduplicated", async () => {
    const dir = mkdtempSync(join(tmpdir(), "ks-art-"));
    const storage = new LocalStorage(dir);
    const store = new ArtifactStore(new FlowDatastore(storage, "F"));
    const a = await store.save("a", { same: [1, 2, 3] });
    const b = await store.save("b", { same: [1, 2, 3] });
    assert.equal(a.sha, b.sha);
    assert.equal((await storage.list("F/data")).length, 1);
    assert.match(a.sha, /^[0-9a-f]{64}$/);
    assert.deepEqual(store.loadSync("a", a), { same: [1, 2, 3] });
    assert.deepEqual(await store.load("a", a), { same: [1, 2, 3] });
  });
});
