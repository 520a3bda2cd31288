/** The live log flusher: chunks in order, by time and by size, the rest on close, one error report. */
import { strict as assert } from "node:assert";
import { setTimeout as sleep } from "node:timers/promises";
import { LogChunkFlusher } from "../../../runtime/exec/logflush.js";

describe("LogChunkFlusher", () => {
  it("stores buffered lines as numbered chunks every interval, and the rest on close", async () => {
    const chunks: Array<[number, string]> = [];
    const f = new LogChunkFlusher({ intervalMs: 50, write: async (seq, text) => void chunks.push([seq, text]) });
    f.push("a");
    f.push("b");
    await sleep(150);
    assert.deepEqual(chunks, [[0, "a\nb\n"]], "one chunk for the lines of one interval; none while idle");
    f.push("c");
    await f.close();
    assert.deepEqual(chunks, [
      [0, "a\nb\n"],
      [1, "c\n"],
    ]);
    assert.equal(f.chunks, 2);
    f.push("after close");
    await sleep(100);
    assert.equal(chunks.length, 2, "nothing after close");
  });

  it("drops the rest on close({ flushRest: false }) (the archive follows): a short attempt stores no chunk", async () => {
    const chunks: string[] = [];
    const f = new LogChunkFlusher({ intervalMs: 60_000, write: async (_seq, text) => void chunks.push(text) });
    f.push("only line");
    await f.close({ flushRest: false });
    assert.deepEqual(chunks, []);
    assert.equal(f.chunks, 0);
  });

  it("stores a chunk as soon as maxBytes are buffered, writes one at a time in order", async () => {
    const chunks: string[] = [];
    let inFlight = 0;
    let maxInFlight = 0;
    const f = new LogChunkFlusher({
      intervalMs: 60_000,
      maxBytes: 10,
      write: async (_seq, text) => {
        maxInFlight = Math.max(maxInFlight, ++inFlight);
        await sleep(10);
        chunks.push(text);
        inFlight--;
      },
    });
    for (const l of ["12345", "6789", "abcdefghij", "x"]) f.push(l);
    await f.flush();
    assert.deepEqual(chunks, ["12345\n6789\n", "abcdefghij\n", "x\n"]);
    assert.equal(maxInFlight, 1);
    await f.close();
  });

  it("reports the first failed write once and goes on with the next chunks", async () => {
    const errors: string[] = [];
    const stored: number[] = [];
    let calls = 0;
    const f = new LogChunkFlusher({
      intervalMs: 60_000,
      write: async (seq) => {
        if (calls++ < 2) throw new Error(`store down (${seq})`);
        stored.push(seq);
      },
      onError: (e) => errors.push(e.message),
    });
    for (const l of ["a", "b", "c"]) {
      f.push(l);
      await f.flush();
    }
    await f.close();
    assert.deepEqual(errors, ["store down (0)"]);
    assert.deepEqual(stored, [2]);
  });
});
