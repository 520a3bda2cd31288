/**
 * Live updates for `kubestep ui`: a server-sent event stream that polls one API resource in the datastore and
 * sends it again whenever it changed, so an open page follows a running run without reloading.
 */
import { createHash } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";

/** Options of {@link streamUpdates}. */
export interface StreamOptions {
  /** How often the datastore is polled (ms). Default 1000. */
  intervalMs?: number;
  /** Comment lines keep proxies from closing an idle stream (ms). Default 15000. */
  keepAliveMs?: number;
}

/**
 * Answers `req` with an event stream: `event: update` with the JSON `load()` returns, first at once, then each
 * time it differs; `event: error` with `{ message }` when a load fails. Stops when the client goes away.
 */
export function streamUpdates(
  req: IncomingMessage,
  res: ServerResponse,
  load: () => Promise<unknown>,
  options: StreamOptions = {},
): void {
  const intervalMs = options.intervalMs ?? 1000;
  // The client may have gone while the resource was first loaded: then its 'close' events are already past.
  if (req.destroyed || res.destroyed) return;
  res.writeHead(200, {
    "content-type": "text/event-stream; charset=utf-8",
    "cache-control": "no-store",
    connection: "keep-alive",
    "x-accel-buffering": "no",
  });
  res.write("retry: 2000\n\n");
  let last = "";
  let closed = false;
  let timer: NodeJS.Timeout | undefined;
  const send = (event: string, data: string) => res.write(`event: ${event}\ndata: ${data}\n\n`);
  const tick = async () => {
    if (res.destroyed) stop();
    if (closed) return;
    try {
      const json = JSON.stringify(await load());
      const hash = createHash("sha1").update(json).digest("hex");
      if (hash !== last && !closed) {
        last = hash;
        send("update", json);
      }
    } catch (e) {
      if (!closed) send("error", JSON.stringify({ message: (e as Error).message }));
    }
    if (!closed) timer = setTimeout(tick, intervalMs);
  };
  const keepAlive = setInterval(
    () => (res.destroyed ? stop() : res.write(": keep-alive\n\n")),
    options.keepAliveMs ?? 15000,
  );
  const stop = () => {
    closed = true;
    clearTimeout(timer);
    clearInterval(keepAlive);
  };
  req.on("close", stop);
  res.on("close", stop);
  void tick();
}
