/**
 * Artifact encoding. Values go through Node's structured (v8) serialization, so Map, Set, Date,
 * Buffer, typed arrays and bigint survive. Buffers and Uint8Arrays are stored as their raw bytes
 * (no copy on write, one buffer on read), which keeps large binary artifacts cheap.
 */
import { serialize, deserialize } from "node:v8";
import { ArtifactError } from "../errors.js";

/** How an artifact's bytes decode. */
export type Encoding = "v8" | "buffer" | "u8";

/** An artifact ready to store: its bytes (not copied for binary values) and how they decode. */
export interface EncodedArtifact {
  encoding: Encoding;
  bytes: Uint8Array;
}

const OK_PROTOS = new Set<unknown>([
  Object.prototype,
  Array.prototype,
  Map.prototype,
  Set.prototype,
  Date.prototype,
  RegExp.prototype,
  ArrayBuffer.prototype,
  DataView.prototype,
  Error.prototype,
  null,
]);

function typeName(v: object): string {
  const ctor = (v as { constructor?: { name?: string } }).constructor;
  return ctor?.name ?? "object";
}

function hasMethods(proto: object): boolean {
  for (let p: object | null = proto; p && p !== Object.prototype; p = Object.getPrototypeOf(p)) {
    for (const k of Object.getOwnPropertyNames(p)) {
      if (k === "constructor") continue;
      const d = Object.getOwnPropertyDescriptor(p, k);
      if (d && (typeof d.value === "function" || d.get || d.set)) return true;
    }
  }
  return false;
}

/**
 * Checks that a value survives storage; throws an ArtifactError naming the artifact and the path to the
 * offending part (functions, symbols, class instances with methods such as sockets or streams).
 */
export function checkStorable(name: string, value: unknown): void {
  const seen = new Set<object>();
  const fail = (path: string, what: string): never => {
    throw new ArtifactError(
      `artifact ${name}${path} cannot be stored: it is ${what}. Artifacts may be primitives, bigint, plain objects, arrays, Map, Set, Date, RegExp, Error, Buffer, typed arrays and ArrayBuffer (nested freely); keep other values in a local variable instead of a field`,
    );
  };
  const walk = (v: unknown, path: string): void => {
    if (v === null) return;
    const t = typeof v;
    if (t === "function") return fail(path, `a function (${(v as Function).name || "anonymous"})`);
    if (t === "symbol") return fail(path, "a symbol");
    if (t !== "object") return;
    const o = v as object;
    if (seen.has(o)) return;
    seen.add(o);
    if (ArrayBuffer.isView(o)) return;
    const proto = Object.getPrototypeOf(o);
    if (!OK_PROTOS.has(proto) && !(o instanceof Error)) {
      if (o instanceof Promise) return fail(path, "a Promise (did you forget await?)");
      if (hasMethods(proto))
        return fail(path, `an instance of ${typeName(o)} (a class with methods; it would come back without them)`);
    }
    if (o instanceof Map) {
      let i = 0;
      for (const [k, val] of o) {
        walk(k, `${path}<key ${i}>`);
        walk(val, `${path}.get(${typeof k === "string" ? JSON.stringify(k) : i})`);
        i++;
      }
      return;
    }
    if (o instanceof Set) {
      let i = 0;
      for (const val of o) walk(val, `${path}<element ${i++}>`);
      return;
    }
    if (Array.isArray(o)) {
      for (let i = 0; i < o.length; i++) walk(o[i], `${path}[${i}]`);
      return;
    }
    for (const k of Object.keys(o))
      walk(
        (o as Record<string, unknown>)[k],
        /^[A-Za-z_$][\w$]*$/.test(k) ? `${path}.${k}` : `${path}[${JSON.stringify(k)}]`,
      );
  };
  walk(value, "");
}

/** Encodes a value for storage (validating it first). */
export function encodeArtifact(name: string, value: unknown): EncodedArtifact {
  if (Buffer.isBuffer(value)) return { encoding: "buffer", bytes: value };
  if (value instanceof Uint8Array && value.constructor === Uint8Array) return { encoding: "u8", bytes: value };
  checkStorable(name, value);
  try {
    return { encoding: "v8", bytes: serialize(value) };
  } catch (e) {
    throw new ArtifactError(`artifact ${name} cannot be stored: ${(e as Error).message}`);
  }
}

/** Decodes stored bytes. */
export function decodeArtifact(encoding: Encoding, bytes: Buffer): unknown {
  switch (encoding) {
    case "buffer":
      return bytes;
    case "u8":
      return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    case "v8":
      return deserialize(bytes);
  }
}
