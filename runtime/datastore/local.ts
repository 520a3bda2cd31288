/** The local-directory store: the default datastore (`.kubestep/` in the working directory). */
import { createReadStream, createWriteStream, existsSync, promises as fsp, readFileSync } from "node:fs";
import { dirname, join, resolve, sep } from "node:path";
import { pipeline } from "node:stream/promises";
import type { Readable } from "node:stream";
import { pathToFileURL } from "node:url";
import { randomBytes } from "node:crypto";
import type { Storage } from "./storage.js";

/** Temporary names are `<name>.tmp-<random>` beside their target; renamed into place when complete. */
function tmpName(path: string): string {
  return `${path}.tmp-${randomBytes(6).toString("hex")}`;
}

export class LocalStorage implements Storage {
  readonly kind = "local" as const;
  readonly dir: string;
  constructor(readonly root: string) {
    this.dir = resolve(root);
  }

  private path(key: string): string {
    const p = resolve(this.dir, key);
    if (p !== this.dir && !p.startsWith(this.dir + sep)) throw new Error(`datastore key escapes the root: ${key}`);
    return p;
  }

  private async atomically(key: string, write: (tmp: string) => Promise<void>): Promise<void> {
    const target = this.path(key);
    await fsp.mkdir(dirname(target), { recursive: true });
    const tmp = tmpName(target);
    try {
      await write(tmp);
      await fsp.rename(tmp, target);
    } catch (e) {
      await fsp.rm(tmp, { force: true });
      throw e;
    }
  }

  put(key: string, data: Uint8Array | string): Promise<void> {
    return this.atomically(key, (tmp) => fsp.writeFile(tmp, data));
  }

  putStream(key: string, data: Readable): Promise<void> {
    return this.atomically(key, (tmp) => pipeline(data, createWriteStream(tmp)));
  }

  putFile(key: string, path: string): Promise<void> {
    return this.atomically(key, (tmp) => fsp.copyFile(path, tmp));
  }

  async get(key: string): Promise<Buffer | undefined> {
    try {
      return await fsp.readFile(this.path(key));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw e;
    }
  }

  getSync(key: string): Buffer | undefined {
    try {
      return readFileSync(this.path(key));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw e;
    }
  }

  async getStream(key: string): Promise<Readable | undefined> {
    const p = this.path(key);
    return existsSync(p) ? createReadStream(p) : undefined;
  }

  async size(key: string): Promise<number | undefined> {
    try {
      return (await fsp.stat(this.path(key))).size;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw e;
    }
  }

  async exists(key: string): Promise<boolean> {
    return existsSync(this.path(key));
  }

  async list(prefix: string): Promise<string[]> {
    const base = this.path(prefix);
    const out: string[] = [];
    const walk = async (dir: string, rel: string): Promise<void> => {
      let entries;
      try {
        entries = await fsp.readdir(dir, { withFileTypes: true });
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === "ENOENT" || (e as NodeJS.ErrnoException).code === "ENOTDIR") return;
        throw e;
      }
      for (const e of entries) {
        if (e.name.includes(".tmp-")) continue;
        const r = rel ? `${rel}/${e.name}` : e.name;
        if (e.isDirectory()) await walk(join(dir, e.name), r);
        else out.push(prefix ? `${prefix.replace(/\/$/, "")}/${r}` : r);
      }
    };
    await walk(base, "");
    return out;
  }

  async listChildren(prefix: string): Promise<string[]> {
    try {
      return (await fsp.readdir(this.path(prefix))).filter((n) => !n.includes(".tmp-"));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") return [];
      throw e;
    }
  }

  async delete(key: string): Promise<void> {
    await fsp.rm(this.path(key), { force: true });
  }

  async presignGet(key: string): Promise<string> {
    return pathToFileURL(this.path(key)).href;
  }
}
