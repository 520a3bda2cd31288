/**
 * Reading stored metadata files (run.json, task.json, result.json, card.json): a file that is truncated, not
 * JSON, or lacks a field every reader relies on is refused with a {@link MetadataError} naming the file and
 * every problem, never a bare SyntaxError or a TypeError further on.
 */
import { MetadataError } from "../errors.js";

/** The metadata files of the layout, by what they hold. */
export type MetadataKind = "run" | "task" | "result" | "card";

type Check = [field: string, type: "string" | "array" | "object" | "status", optional?: boolean];

/** Fields each kind must have (the ones readers dereference without a guard). */
const REQUIRED: Record<MetadataKind, Check[]> = {
  run: [
    ["flowName", "string"],
    ["runId", "string"],
    ["status", "status"],
    ["params", "object"],
  ],
  task: [
    ["step", "string"],
    ["taskId", "string"],
    ["status", "status"],
    ["parents", "array"],
    ["foreachStack", "array"],
    ["attempts", "array"],
    ["artifacts", "object", true],
  ],
  result: [["artifacts", "object"]],
  card: [],
};

const STATUSES = new Set(["running", "succeeded", "failed"]);

function typeOk(v: unknown, t: Check[1]): boolean {
  switch (t) {
    case "string":
      return typeof v === "string";
    case "array":
      return Array.isArray(v);
    case "object":
      return typeof v === "object" && v !== null && !Array.isArray(v);
    case "status":
      return typeof v === "string" && STATUSES.has(v);
  }
}

/** Problems of an artifact map (`name -> { sha, encoding, size }`), each naming the artifact. */
function artifactProblems(artifacts: unknown): string[] {
  if (typeof artifacts !== "object" || artifacts === null) return [];
  const out: string[] = [];
  for (const [name, ref] of Object.entries(artifacts as Record<string, unknown>)) {
    const r = ref as { sha?: unknown; encoding?: unknown; size?: unknown } | null;
    if (typeof r !== "object" || r === null) out.push(`artifacts.${name} is not an object`);
    else {
      if (typeof r.sha !== "string" || !/^[0-9a-f]{64}$/.test(r.sha))
        out.push(`artifacts.${name}.sha is ${JSON.stringify(r.sha)}, not a sha256 (64 hex digits)`);
      if (r.encoding !== "v8" && r.encoding !== "buffer" && r.encoding !== "u8")
        out.push(`artifacts.${name}.encoding is ${JSON.stringify(r.encoding)}, not one of v8, buffer, u8`);
      if (typeof r.size !== "number" || !(r.size >= 0))
        out.push(`artifacts.${name}.size is ${JSON.stringify(r.size)}, not a byte count`);
    }
  }
  return out;
}

/**
 * Parses a stored metadata file and checks its shape.
 * @param kind what the file holds.
 * @param text its bytes as UTF-8.
 * @param where how to name it in messages: its key and the datastore root.
 * @throws MetadataError naming the file and what is wrong (bad JSON with its position, or every missing/ill-typed field).
 */
export function parseMetadata<T>(kind: MetadataKind, text: string, where: { key: string; root: string }): T {
  const file = `${kind} metadata ${where.key} in the datastore ${where.root}`;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    const hint = text.trim() === "" ? "it is empty" : `${(e as Error).message} (${text.length} bytes; truncated?)`;
    throw new MetadataError(`${file} is not valid JSON: ${hint}`, where.key);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value))
    throw new MetadataError(
      `${file} is malformed: it holds ${Array.isArray(value) ? "an array" : JSON.stringify(value)}, not an object`,
      where.key,
    );
  const o = value as Record<string, unknown>;
  const problems: string[] = [];
  for (const [field, type, optional] of REQUIRED[kind]) {
    if (o[field] === undefined) {
      if (!optional) problems.push(`${field} is missing`);
    } else if (!typeOk(o[field], type))
      problems.push(
        `${field} is ${JSON.stringify(o[field])?.slice(0, 60)}, not ${type === "status" ? "one of running, succeeded, failed" : `a${type === "array" || type === "object" ? "n" : ""} ${type}`}`,
      );
  }
  if (kind === "task" || kind === "result") problems.push(...artifactProblems(o.artifacts));
  if (problems.length) throw new MetadataError(`${file} is malformed: ${problems.join("; ")}`, where.key);
  return value as T;
}
