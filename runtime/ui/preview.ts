/**
 * Typed previews of artifact values for `kubestep ui`: a type, a one-line summary and a bounded text, for every
 * type the serializer keeps (numbers, strings, bigint, arrays, Map, Set, Date, typed arrays, Buffers as size +
 * hex head, plain objects). Large values are truncated, never sent whole.
 */
import { inspect } from "node:util";

/** Limits of a preview. */
export interface PreviewLimits {
  /** Longest text sent (characters); longer texts end with "…" and `truncated: true`. Default 4000. */
  maxChars?: number;
  /** Elements shown of an array, Map, Set or typed array. Default 100. */
  maxItems?: number;
  /** Bytes shown (as hex) of a Buffer, Uint8Array or ArrayBuffer. Default 64. */
  hexBytes?: number;
}

/** What the UI shows for one artifact value. */
export interface ValuePreview {
  /** The value's type: number, string, bigint, boolean, null, undefined, Date, Array, Map, Set, Buffer, Uint8Array, Float64Array, ..., object. */
  type: string;
  /** One line: `Array(1000)`, `Map(3)`, `Buffer 2.0 MB`, `string (12 chars)`, the number itself, ... */
  summary: string;
  /** The value as text (bounded by the limits); hex with offsets for bytes. */
  text: string;
  /** Whether `text` was cut short. */
  truncated: boolean;
}

/** Human size: 512 B, 2.0 KB, 3.4 MB, 1.2 GB. */
export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ["KB", "MB", "GB", "TB"];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(1)} ${units[i]}`;
}

/** Hex dump of the first `n` bytes: `00000000  89 50 4e 47 ...  |.PNG....|`. */
export function hexHead(bytes: Uint8Array, n: number): string {
  const lines: string[] = [];
  const end = Math.min(n, bytes.byteLength);
  for (let off = 0; off < end; off += 16) {
    const row = bytes.subarray(off, Math.min(off + 16, end));
    const hex = [...row].map((b) => b.toString(16).padStart(2, "0")).join(" ");
    const ascii = [...row].map((b) => (b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : ".")).join("");
    lines.push(`${off.toString(16).padStart(8, "0")}  ${hex.padEnd(47)}  |${ascii}|`);
  }
  return lines.join("\n");
}

function cut(text: string, max: number): { text: string; truncated: boolean } {
  return text.length > max ? { text: `${text.slice(0, max)}…`, truncated: true } : { text, truncated: false };
}

/** A preview of any stored artifact value. */
export function previewValue(value: unknown, limits: PreviewLimits = {}): ValuePreview {
  const maxChars = limits.maxChars ?? 4000;
  const maxItems = limits.maxItems ?? 100;
  const hexBytes = limits.hexBytes ?? 64;
  const shown = (v: unknown) =>
    inspect(v, {
      depth: 3,
      maxArrayLength: maxItems,
      maxStringLength: maxChars,
      breakLength: 100,
      compact: 3,
      sorted: false,
    });
  if (value === null) return { type: "null", summary: "null", text: "null", truncated: false };
  switch (typeof value) {
    case "undefined":
      return { type: "undefined", summary: "undefined", text: "undefined", truncated: false };
    case "number":
    case "boolean":
      return { type: typeof value, summary: String(value), text: String(value), truncated: false };
    case "bigint":
      return { type: "bigint", summary: `${value}n`, text: `${value}n`, truncated: false };
    case "string": {
      const c = cut(value, maxChars);
      return { type: "string", summary: `string (${value.length} chars)`, ...c };
    }
    default:
      break;
  }
  if (
    Buffer.isBuffer(value) ||
    value instanceof ArrayBuffer ||
    (value instanceof Uint8Array && value.constructor === Uint8Array)
  ) {
    const bytes = value instanceof ArrayBuffer ? new Uint8Array(value) : (value as Uint8Array);
    const type = Buffer.isBuffer(value) ? "Buffer" : value instanceof ArrayBuffer ? "ArrayBuffer" : "Uint8Array";
    return {
      type,
      summary: `${type} ${formatBytes(bytes.byteLength)}`,
      text: hexHead(bytes, hexBytes),
      truncated: bytes.byteLength > hexBytes,
    };
  }
  if (ArrayBuffer.isView(value)) {
    const type = value.constructor.name;
    const length = (value as unknown as ArrayLike<unknown>).length ?? value.byteLength;
    const c = cut(shown(value), maxChars);
    return {
      type,
      summary: `${type}(${length}) ${formatBytes(value.byteLength)}`,
      text: c.text,
      truncated: c.truncated || length > maxItems,
    };
  }
  if (value instanceof Date) {
    const text = Number.isNaN(value.getTime()) ? "Invalid Date" : value.toISOString();
    return { type: "Date", summary: text, text, truncated: false };
  }
  if (Array.isArray(value)) {
    const c = cut(shown(value), maxChars);
    return {
      type: "Array",
      summary: `Array(${value.length})`,
      text: c.text,
      truncated: c.truncated || value.length > maxItems,
    };
  }
  if (value instanceof Map || value instanceof Set) {
    const type = value instanceof Map ? "Map" : "Set";
    const c = cut(shown(value), maxChars);
    return { type, summary: `${type}(${value.size})`, text: c.text, truncated: c.truncated || value.size > maxItems };
  }
  if (value instanceof RegExp) return { type: "RegExp", summary: String(value), text: String(value), truncated: false };
  if (value instanceof Error) {
    const c = cut(value.stack ?? `${value.name}: ${value.message}`, maxChars);
    return { type: "Error", summary: `${value.name}: ${value.message}`.slice(0, 200), ...c };
  }
  const keys = Object.keys(value as object);
  const c = cut(shown(value), maxChars);
  return { type: "object", summary: `object {${keys.length} ${keys.length === 1 ? "key" : "keys"}}`, ...c };
}
