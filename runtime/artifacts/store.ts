/**
 * Saving and loading artifacts through a FlowDatastore. Values are encoded, hashed, and stored
 * content-addressed (an unchanged value is never written twice). Loading is lazy where the store
 * can read synchronously (local), and prefetched otherwise.
 */
import { decodeArtifact, encodeArtifact } from "./serialize.js";
import { type ArtifactRef, type FlowDatastore } from "../datastore/flowstore.js";
import { IntegrityError, KubestepError, isKubestepError } from "../errors.js";

/** The task an artifact belongs to, for messages: `run/step/task` (the flow is the datastore's). */
export type ArtifactOwner = string;

export class ArtifactStore {
  /** Verified bytes, or the error reading them gave (thrown when the artifact is read, naming it). */
  private readonly prefetched = new Map<string, Buffer | Error>();
  constructor(readonly ds: FlowDatastore) {}

  /** Encodes, validates and stores a value; returns its reference. */
  async save(name: string, value: unknown): Promise<ArtifactRef> {
    const { encoding, bytes } = encodeArtifact(name, value);
    const sha = await this.ds.putBlob(bytes);
    return { sha, encoding, size: bytes.byteLength };
  }

  /**
   * Fetches (and verifies) artifacts ahead of use, for stores that cannot read synchronously. A damaged or
   * missing one fails when it is read, with its name.
   */
  async prefetch(refs: ArtifactRef[]): Promise<void> {
    if (this.ds.storage.getSync) return;
    await Promise.all(
      refs
        .filter((r) => !this.prefetched.has(r.sha))
        .map(async (r) =>
          this.prefetched.set(
            r.sha,
            await this.ds.getBlob(r.sha).catch((e: unknown) => {
              if (isKubestepError(e)) return e;
              throw e;
            }),
          ),
        ),
    );
  }

  /** Loads a value synchronously (local store, or prefetched). `owner` (`run/step/task`) names it in errors. */
  loadSync(name: string, ref: ArtifactRef, owner?: ArtifactOwner): unknown {
    const bytes = this.attempt(name, ref, owner, () => this.prefetched.get(ref.sha) ?? this.ds.getBlobSync(ref.sha));
    if (!bytes)
      throw new Error(
        `artifact ${name} (${ref.sha.slice(0, 12)}) is in a remote datastore (${this.ds.storage.root}) and was not loaded yet; call \`await task.fetch()\` (or \`await run.fetch()\`) before reading task.data`,
      );
    return this.decode(name, ref, owner, bytes);
  }

  /** Loads a value. `owner` (`run/step/task`) names it in errors. */
  async load(name: string, ref: ArtifactRef, owner?: ArtifactOwner): Promise<unknown> {
    const bytes =
      this.attempt(name, ref, owner, () => this.prefetched.get(ref.sha) ?? this.ds.getBlobSync(ref.sha)) ??
      (await this.ds.getBlob(ref.sha).catch((e: unknown) => this.attempt(name, ref, owner, () => e as Error)));
    return this.decode(name, ref, owner, bytes!);
  }

  /** Runs a read; an error (thrown or prefetched) is rethrown naming the artifact and its task. */
  private attempt(
    name: string,
    ref: ArtifactRef,
    owner: ArtifactOwner | undefined,
    read: () => Buffer | Error | undefined,
  ): Buffer | undefined {
    let got: Buffer | Error | undefined;
    try {
      got = read();
    } catch (e) {
      got = e as Error;
    }
    if (!(got instanceof Error)) return got;
    const what = `artifact ${name} of ${this.ds.flowName}/${owner ?? "?"}`;
    if (got instanceof IntegrityError)
      throw new IntegrityError(
        `${what} is corrupt: the stored bytes have sha256 ${got.actual}, expected ${ref.sha} (object ${got.key} in the datastore ${this.ds.storage.root}); it was changed or damaged after it was written, so it is refused. \`kubestep resume\` recomputes the task that produced it`,
        got.expected,
        got.actual,
        got.key,
      );
    if (isKubestepError(got)) throw new KubestepError(`${what}: ${got.message}`, got.exitCode);
    throw got;
  }

  private decode(name: string, ref: ArtifactRef, owner: ArtifactOwner | undefined, bytes: Buffer): unknown {
    try {
      return decodeArtifact(ref.encoding, bytes);
    } catch (e) {
      throw new KubestepError(
        `artifact ${name} of ${this.ds.flowName}/${owner ?? "?"} (sha256 ${ref.sha}) cannot be decoded as ${ref.encoding}: ${(e as Error).message}`,
        1,
      );
    }
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
  owner?: ArtifactOwner | ((name: string) => ArtifactOwner | undefined),
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
          value = store.loadSync(name, ref, typeof owner === "function" ? owner(name) : owner);
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
  owner?: ArtifactOwner,
): Record<string, unknown> {
  const view: Record<string, unknown> = {};
  const cache = new Map<string, unknown>();
  for (const [name, ref] of Object.entries(refs)) {
    Object.defineProperty(view, name, {
      enumerable: true,
      get() {
        if (!cache.has(name)) cache.set(name, store.loadSync(name, ref, owner));
        return cache.get(name);
      },
    });
  }
  for (const [k, v] of Object.entries(extra)) Object.defineProperty(view, k, { value: v, enumerable: false });
  return Object.freeze(view);
}
