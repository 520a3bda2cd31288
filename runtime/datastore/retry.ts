/**
 * How the cloud datastores retry: one bounded policy (attempts, exponential backoff with full jitter, a
 * per-request idle timeout), given explicitly to each SDK (the AWS SDK's standard retry strategy, the GCS
 * client's retryOptions, the Azure pipeline's retryOptions), and {@link withRetries} for what an SDK does not
 * retry itself (a response body cut off mid-read, Azure's 429, a stalled Azure request).
 *
 * A write that never succeeds fails after `attempts` tries with the store's own message; writes go to their
 * final key only when complete (single PUT / completed multipart upload / committed block list), so a failed
 * write never leaves a half-written object that could be read as valid.
 */

/** A bounded retry policy. */
export interface RetryPolicy {
  /** Tries in all, the first included (≥ 1). */
  attempts: number;
  /** Backoff before the second try, doubled each time (full jitter: a random delay up to it), in ms. */
  baseDelayMs: number;
  /** Upper bound of one backoff, in ms. */
  maxDelayMs: number;
  /** A request whose connection stays idle this long (no byte sent or received) is abandoned and retried, in ms. */
  idleTimeoutMs: number;
  /** Time allowed to open a connection, in ms. */
  connectTimeoutMs: number;
}

/** The policy every cloud datastore uses unless told otherwise: at most 5 tries, about 3 s of backoff in all. */
export const DEFAULT_RETRY_POLICY: Readonly<RetryPolicy> = Object.freeze({
  attempts: 5,
  baseDelayMs: 200,
  maxDelayMs: 10_000,
  idleTimeoutMs: 60_000,
  connectTimeoutMs: 10_000,
});

/** The policy with some fields replaced (each checked). */
export function retryPolicy(overrides: Partial<RetryPolicy> = {}): RetryPolicy {
  const p = { ...DEFAULT_RETRY_POLICY, ...overrides };
  const problems = Object.entries(p)
    .filter(([k, v]) => !Number.isFinite(v) || v < (k === "attempts" ? 1 : 0))
    .map(([k, v]) => `${k} = ${v}`);
  if (problems.length)
    throw new RangeError(`invalid datastore retry policy: ${problems.join(", ")} (finite, attempts ≥ 1)`);
  return p;
}

/** The backoff before try `attempt + 1` (attempt counts from 1): full jitter up to base·2^(attempt-1), capped. */
export function backoffMs(p: RetryPolicy, attempt: number, random: () => number = Math.random): number {
  return Math.floor(random() * Math.min(p.maxDelayMs, p.baseDelayMs * 2 ** (attempt - 1)));
}

const TRANSIENT_CODES = new Set([
  "ECONNRESET",
  "ECONNREFUSED",
  "ECONNABORTED",
  "EPIPE",
  "ETIMEDOUT",
  "ESOCKETTIMEDOUT",
  "EAI_AGAIN",
  "UND_ERR_SOCKET",
  "ERR_STREAM_PREMATURE_CLOSE",
  "REQUEST_SEND_ERROR",
]);

/** Whether an error is worth another try: a throttling or server status, a reset or timed-out connection. */
export function isTransient(e: unknown): boolean {
  for (let err = e as Record<string, unknown> | undefined, depth = 0; err && depth < 5; depth++) {
    const status =
      (err.$metadata as { httpStatusCode?: number } | undefined)?.httpStatusCode ??
      (err.statusCode as number | undefined) ??
      (typeof err.code === "number" ? err.code : undefined);
    if (status === 408 || status === 429 || (status !== undefined && status >= 500 && status <= 599)) return true;
    if (typeof err.code === "string" && TRANSIENT_CODES.has(err.code)) return true;
    if (err.name === "TimeoutError" || err.name === "AbortError" || err.name === "RequestTimeout") return true;
    if (
      typeof err.message === "string" &&
      /socket hang up|aborted|premature close|ECONNRESET|timed? ?out/i.test(err.message)
    )
      return true;
    err = err.cause as Record<string, unknown> | undefined;
  }
  return false;
}

/**
 * Runs `op` up to `policy.attempts` times while it fails with a transient error, with backoff between tries;
 * each try gets an AbortSignal that fires after `timeoutMs` (when given) so a stalled request is abandoned.
 * The last error is rethrown as it is (the store's message).
 */
export async function withRetries<T>(
  policy: RetryPolicy,
  op: (signal: AbortSignal | undefined, attempt: number) => Promise<T>,
  options: { timeoutMs?: number; retryable?: (e: unknown) => boolean } = {},
): Promise<T> {
  const retryable = options.retryable ?? isTransient;
  for (let attempt = 1; ; attempt++) {
    const signal = options.timeoutMs ? AbortSignal.timeout(options.timeoutMs) : undefined;
    try {
      return await op(signal, attempt);
    } catch (e) {
      if (attempt >= policy.attempts || !retryable(e)) throw e;
      await new Promise((r) => setTimeout(r, backoffMs(policy, attempt)));
    }
  }
}

/**
 * An AbortSignal that fires once nothing happened for `ms` (an idle timeout, not a total one: a long transfer
 * that keeps moving is never cut off). Call `touch()` on progress and `done()` when finished.
 */
export function idleAbort(ms: number): { signal: AbortSignal; touch(): void; done(): void } {
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const arm = () => {
    clearTimeout(timer);
    timer = setTimeout(
      () => controller.abort(Object.assign(new Error(`no progress for ${ms} ms`), { name: "TimeoutError" })),
      ms,
    );
    timer.unref?.();
  };
  arm();
  return { signal: controller.signal, touch: arm, done: () => clearTimeout(timer) };
}
