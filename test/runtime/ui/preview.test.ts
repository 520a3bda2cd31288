/** Artifact previews of `kubestep ui`: every type the serializer keeps, with bounded text. */
import { strict as assert } from "node:assert";
import { formatBytes, hexHead, previewValue } from "../../../runtime/ui/preview.js";

describe("kubestep ui previews", () => {
  it("shows numbers, strings, booleans, null, bigint and Dates as themselves", () => {
    assert.deepEqual(previewValue(3.5), { type: "number", summary: "3.5", text: "3.5", truncated: false });
    assert.deepEqual(previewValue(true), { type: "boolean", summary: "true", text: "true", truncated: false });
    assert.deepEqual(previewValue(null), { type: "null", summary: "null", text: "null", truncated: false });
    assert.deepEqual(previewValue(undefined), {
      type: "undefined",
      summary: "undefined",
      text: "undefined",
      truncated: false,
    });
    assert.deepEqual(previewValue(-(2n ** 80n)), {
      type: "bigint",
      summary: "-1208925819614629174706176n",
      text: "-1208925819614629174706176n",
      truncated: false,
    });
    assert.deepEqual(previewValue("héllo"), {
      type: "string",
      summary: "string (5 chars)",
      text: "héllo",
      truncated: false,
    });
    assert.deepEqual(previewValue(new Date("2026-05-06T07:08:09.010Z")), {
      type: "Date",
      summary: "2026-05-06T07:08:09.010Z",
      text: "2026-05-06T07:08:09.010Z",
      truncated: false,
    });
    assert.equal(previewValue(new Date(Number.NaN)).text, "Invalid Date");
  });

  it("truncates long strings and large collections", () => {
    const s = previewValue("y".repeat(50), { maxChars: 10 });
    assert.deepEqual(s, { type: "string", summary: "string (50 chars)", text: `${"y".repeat(10)}…`, truncated: true });
    const a = previewValue(
      Array.from({ length: 500 }, (_, i) => i),
      { maxItems: 5 },
    );
    assert.equal(a.summary, "Array(500)");
    assert.ok(a.truncated);
    assert.match(a.text, /^\[ 0, 1, 2, 3, 4, \.\.\. 495 more items \]$/);
    const text = previewValue({ deep: "z".repeat(10_000) }, { maxChars: 100 });
    assert.ok(text.truncated && text.text.length <= 101);
  });

  it("shows Map, Set and plain objects with their sizes", () => {
    assert.deepEqual(
      previewValue(
        new Map<unknown, unknown>([
          ["a", 1],
          [2, new Set(["b"])],
        ]),
      ),
      { type: "Map", summary: "Map(2)", text: "Map(2) { 'a' => 1, 2 => Set(1) { 'b' } }", truncated: false },
    );
    assert.deepEqual(previewValue(new Set([1, 2, 3])), {
      type: "Set",
      summary: "Set(3)",
      text: "Set(3) { 1, 2, 3 }",
      truncated: false,
    });
    assert.deepEqual(previewValue({ a: 1, b: [true] }), {
      type: "object",
      summary: "object {2 keys}",
      text: "{ a: 1, b: [ true ] }",
      truncated: false,
    });
  });

  it("shows typed arrays with length and size, Buffers as size and a hex head", () => {
    assert.deepEqual(previewValue(new Int16Array([1, -2])), {
      type: "Int16Array",
      summary: "Int16Array(2) 4 B",
      text: "Int16Array(2) [ 1, -2 ]",
      truncated: false,
    });
    const buf = Buffer.alloc(3 * 1024 * 1024, 0xab);
    buf.write("PK", 0, "latin1");
    const p = previewValue(buf, { hexBytes: 16 });
    assert.equal(p.type, "Buffer");
    assert.equal(p.summary, "Buffer 3.0 MB");
    assert.equal(p.text, "00000000  50 4b ab ab ab ab ab ab ab ab ab ab ab ab ab ab  |PK..............|");
    assert.ok(p.truncated);
    assert.equal(previewValue(new Uint8Array([0x41])).summary, "Uint8Array 1 B");
  });

  it("formats sizes and hex dumps", () => {
    assert.deepEqual([0, 1023, 1024, 1536, 5 * 1024 ** 3].map(formatBytes), [
      "0 B",
      "1023 B",
      "1.0 KB",
      "1.5 KB",
      "5.0 GB",
    ]);
    assert.equal(
      hexHead(Buffer.from("0123456789abcdefXY"), 64),
      "00000000  30 31 32 33 34 35 36 37 38 39 61 62 63 64 65 66  |0123456789abcdef|\n00000010  58 59                                            |XY|",
    );
  });
});
