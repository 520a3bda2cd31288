/** Stored metadata files are parsed with a clear error naming the file and every problem (runtime/datastore/metadata.ts). */
import { strict as assert } from "node:assert";
import { parseMetadata } from "../../../runtime/datastore/metadata.js";
import { isKubestepError } from "../../../runtime/errors.js";

const where = { key: "F/runs/1/start/1/task.json", root: "s3://b/p" };
const task = {
  step: "start",
  taskId: "1",
  status: "succeeded",
  parents: [],
  foreachStack: [],
  attempts: [],
  artifacts: { x: { sha: "a".repeat(64), encoding: "v8", size: 3 } },
};

describe("metadata files", () => {
  it("parses a well-formed file", () => {
    assert.deepEqual(parseMetadata("task", JSON.stringify(task), where), task);
  });
  it("refuses a truncated or empty file, naming it", () => {
    const text = JSON.stringify(task);
    assert.throws(
      () => parseMetadata("task", text.slice(0, 40), where),
      (e: Error) =>
        isKubestepError(e) &&
        e.name === "MetadataError" &&
        /^task metadata F\/runs\/1\/start\/1\/task\.json in the datastore s3:\/\/b\/p is not valid JSON: .*\(40 bytes; truncated\?\)$/.test(
          e.message,
        ),
    );
    assert.throws(() => parseMetadata("run", "  ", where), /is not valid JSON: it is empty/);
  });
  it("refuses valid JSON of the wrong shape, naming every problem", () => {
    assert.throws(() => parseMetadata("run", "[1]", where), /is malformed: it holds an array, not an object/);
    assert.throws(
      () =>
        parseMetadata(
          "task",
          JSON.stringify({
            ...task,
            taskId: 1,
            attempts: undefined,
            artifacts: { x: { sha: "z", encoding: "json", size: -1 } },
          }),
          where,
        ),
      /is malformed: taskId is 1, not a string; attempts is missing; artifacts\.x\.sha is "z", not a sha256 \(64 hex digits\); artifacts\.x\.encoding is "json", not one of v8, buffer, u8; artifacts\.x\.size is -1, not a byte count$/,
    );
  });
});
