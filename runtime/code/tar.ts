/**
 * Deterministic tar (POSIX ustar, with a pax `path` record for long names), gzipped: the same entries give the
 * same bytes, whatever the files' owners, times or the order they were found in. Node built-ins only. The
 * matching extractor is the pod's bootstrap (runtime/code/bootstrap.ts), which has nothing but `node`.
 */
import { gzipSync } from "node:zlib";

/** One regular file of an archive. */
export interface TarEntry {
  /** `/`-separated relative path (no `..`, not absolute). */
  path: string;
  /** The file's bytes. */
  data: Uint8Array;
  /** Whether the file is executable (mode 0755, else 0644). */
  executable?: boolean;
}

const BLOCK = 512;

function octal(n: number, width: number): string {
  return n.toString(8).padStart(width - 1, "0") + "\0";
}

function header(name: Buffer, size: number, mode: number, type: "0" | "x"): Buffer {
  const h = Buffer.alloc(BLOCK);
  h.set(name.subarray(0, 100), 0); // a longer name is in the preceding pax record
  h.write(octal(mode, 8), 100, "ascii");
  h.write(octal(0, 8), 108, "ascii"); // uid
  h.write(octal(0, 8), 116, "ascii"); // gid
  h.write(octal(size, 12), 124, "ascii");
  h.write(octal(0, 12), 136, "ascii"); // mtime: the epoch, always
  h.fill(" ", 148, 156); // checksum placeholder
  h.write(type, 156, "ascii");
  h.write("ustar\0", 257, "ascii");
  h.write("00", 263, "ascii");
  let sum = 0;
  for (const b of h) sum += b;
  h.write(octal(sum, 7) + " ", 148, "ascii");
  return h;
}

function pad(size: number): Buffer {
  return Buffer.alloc((BLOCK - (size % BLOCK)) % BLOCK);
}

/** A pax extended header record `"<len> path=<value>\n"` (its length counts itself). */
function paxRecord(key: string, value: string): Buffer {
  const body = ` ${key}=${value}\n`;
  let len = Buffer.byteLength(body) + 1;
  while (String(len).length + Buffer.byteLength(body) !== len) len++;
  return Buffer.from(`${len}${body}`, "utf8");
}

/** Checks an entry path is relative, `/`-separated and stays inside the archive's root. */
export function checkTarPath(path: string): void {
  if (!path || path.startsWith("/") || path.includes("\\") || path.split("/").some((s) => s === ".." || s === ""))
    throw new Error(`tar entry path ${JSON.stringify(path)} must be a relative path inside the archive`);
}

/** The uncompressed tar of `entries`, sorted by path (duplicates refused). */
export function tarBytes(entries: readonly TarEntry[]): Buffer {
  const sorted = [...entries].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const parts: Buffer[] = [];
  for (let i = 0; i < sorted.length; i++) {
    const e = sorted[i]!;
    checkTarPath(e.path);
    if (i && sorted[i - 1]!.path === e.path) throw new Error(`tar entry ${e.path} appears twice`);
    const name = Buffer.from(e.path, "utf8");
    if (name.length > 100) {
      const rec = paxRecord("path", e.path);
      parts.push(header(Buffer.from("PaxHeader"), rec.length, 0o644, "x"), rec, pad(rec.length));
    }
    parts.push(header(name, e.data.byteLength, e.executable ? 0o755 : 0o644, "0"), Buffer.from(e.data));
    parts.push(pad(e.data.byteLength));
  }
  parts.push(Buffer.alloc(2 * BLOCK));
  return Buffer.concat(parts);
}

/** The gzipped deterministic tar of `entries` (gzip header without a time stamp or file name). */
export function tarGzBytes(entries: readonly TarEntry[]): Buffer {
  return gzipSync(tarBytes(entries), { level: 9 });
}
