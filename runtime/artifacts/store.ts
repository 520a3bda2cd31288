/**
 * Saving and loading artifacts through a FlowDatastore. Values are encoded, hashed, and stored
 * content-addressed (an unchanged value is never written twice). Loading is lazy where the store
 * can read synchronously (local), and prefetched otherwise.
 */
import { decodeArtifact, encodeArtifact } from "./serialize.js";
import { type ArtifactRef, type FlowDatastore } from "../datastore/flowstore.js";

export class ArtifactStore {
  private readonly prefetched = new Map<string, Buffer>();
  constructor(readonly ds: FlowDatastore) {}

  /** Encodes, validates and stores a value; returns its reference. */
  async save(name: string, value: unknown): Promise<ArtifactRef> {
    const { encoding, bytes } = encodeArtifact(name, value);
    const sha = await this.ds.putBlob(bytes);
    return { sha, encoding, size: bytes.byteLength };
  }

  /** Fetches artifacts ahead of use, for stores that cannot read synchronously. */
  async prefetch(refs: ArtifactRef[]): Promise<void> {
    if (this.ds.storage.getSync) return;
    await Promise.all(
      refs
        .filter((r) => !this.prefetched.has(r.sha))
        .map(async (r) => this.prefetched.set(r.sha, await this.ds.getBlob(r.sha))),
    );
  }

  /** Loads a value synchronously (local store, or prefetched). */
  loadSync(name: string, ref: ArtifactRef): unknown {
    const bytes = this.prefetched.get(ref.sha) ?? this.ds.getBlobSync(ref.sha);
    if (!bytes)
      throw new Error(
        `artifact ${name} (${ref.sha.slice(0, 12)}) is in a remote datastore (${this.ds.storage.root}) and was not loaded yet; call \`await task.fetch()\` (or \`await run.fetch()\`) before reading task.data`,
      );
    return decodeArtifact(ref.encoding, bytes);
  }

  /** Loads a value. */
  async load(name: string, ref: ArtifactRef): Promise<unknown> {
    const bytes = this.prefetched.get(ref.sha) ?? this.ds.getBlobSync(ref.sha) ?? (await this.ds.getBlob(ref.sha));
    void name;
    return decodeArtifact(ref.encoding, bytes);
  }
}

/** Tracks, per lazily-defined artifact, whether user code read or replaced it. */
export interface LazyArtifacts {
  /** Artifacts never read nor assigned: carried over by reference, no re-encoding. */
  untouched(): Set<string>;
}

/**
 * Defines `names` on `target` as lazy properties: read loads and caches the value; assignment
 * replaces it. Returns a tracker of which ones stayed untouched.
 */
export function defineLazyArtifacts(
  target: object,
  refs: Record<string, ArtifactRef>,
  store: ArtifactStore,
  skip: Set<string>,
): LazyArtifacts {
  const untouched = new Set<string>();
  for (const [name, ref] of Object.entries(refs)) {
    if (skip.has(name)) continue;
    untouched.add(name);
    let loaded = false;
    let value: unknown;
    Object.defineProperty(target, name, {
      configurable: true,
      enumerable: true,
      get() {
        if (!loaded) {
          value = store.loadSync(name, ref);
          loaded = true;
          untouched.delete(name);
        }
        return value;
      },
      set(v: unknown) {
        untouched.delete(name);
        Object.defineProperty(target, name, { value: v, writable: true, enumerable: true, configurable: true });
      },
    });
  }
  return { untouched: () => untouched };
}

/** A read-only view of a task's artifacts (used for join inputs and the client API). */
export function artifactView(
  refs: Record<string, ArtifactRef>,
  store: ArtifactStore,
  extra: Record<string, unknown> = {},
): Record<string, unknown> {
  const view: Record<string, unknown> = {};
  const cache = new Map<string, unknown>();
  for (const [name, ref] of Object.entries(refs)) {
    Object.defineProperty(view, name, {
      enumerable: true,
      get() {
        if (!cache.has(name)) cache.set(name, store.loadSync(name, ref));
        return cache.get(name);
      },
    });
  }
  for (const [k, v] of Object.entries(extra)) Object.defineProperty(view, k, { value: v, enumerable: false });
  return Object.freeze(view);
}
