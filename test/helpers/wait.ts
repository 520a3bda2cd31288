/** Waiting in tests: every wait is bounded and says what it waited for when it gives up. */

/** Resolves after `ms` milliseconds. */
export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Polls `probe` every `intervalMs` until it returns a truthy value, which it resolves to; throws naming `what`
 * after `seconds`.
 */
export async function waitFor<T>(
  what: string,
  seconds: number,
  probe: () => T | undefined | false,
  intervalMs = 500,
): Promise<T> {
  const end = Date.now() + seconds * 1000;
  for (;;) {
    const v = probe();
    if (v) return v;
    if (Date.now() > end) throw new Error(`gave up after ${seconds} s waiting for ${what}`);
    await sleep(intervalMs);
  }
}
