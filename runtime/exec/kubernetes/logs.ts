/**
 * Live logs of a step's pod: follows the task container's log, writes each line with a
 * `[run/step/task]` prefix to a writable (the terminal), and collects the raw lines for the datastore
 * log archive.
 *
 * Nothing is lost at the end: the follow stream is read until the server closes it (the container
 * exited, including an OOM kill, whose last lines are already in the container log). If the follow
 * connection breaks while the container still runs, it resumes from the last timestamp seen; when the
 * container has terminated, a final non-follow read from the last timestamp fetches whatever the broken
 * stream did not deliver. Lines are requested with timestamps so resumes never duplicate or drop lines.
 */
import http from "node:http";
import https from "node:https";
import type { Writable } from "node:stream";
import type { KubeConfig, V1Pod } from "@kubernetes/client-node";
import { apiErrorInfo, k8s } from "./client.js";

/** The line prefix for a task: `[run/step/task]`. */
export function logPrefix(runId: string, step: string, taskId: string): string {
  return `[${runId}/${step}/${taskId}]`;
}

/** Options of {@link followPodLogs}. */
export interface FollowLogsOptions {
  /** Client configuration. */
  kubeConfig: KubeConfig;
  /** Namespace of the pod. */
  namespace: string;
  /** Pod name. */
  pod: string;
  /** Container name; default the pod's only (first) container. */
  container?: string;
  /** Prefix written before every line, e.g. `[42/train/3]` (see {@link logPrefix}); a space follows it. */
  prefix: string;
  /** Where prefixed lines go live (e.g. process.stderr); default nowhere. */
  out?: Writable;
  /** Called with every raw line (no prefix, no timestamp), in order. */
  onLine?: (line: string) => void;
  /** Stops following (the lines read so far are still returned). */
  signal?: AbortSignal;
  /** How long to keep retrying while the container has not started yet; default 15 minutes. */
  startTimeoutMs?: number;
  /** First delay before reconnecting when the API server does not answer, doubled up to 10 s; default 500 ms. */
  reconnectDelayMs?: number;
  /**
   * Reconnect a follow stream after this long even if it is healthy (some proxies cut long streams
   * anyway); default never. Lines are neither lost nor repeated across reconnects.
   */
  maxFollowMs?: number;
}

/** What was collected. */
export interface CollectedLogs {
  /** Every line (raw, newline-terminated), for the log archive. */
  text: string;
  /** Number of lines. */
  lines: number;
  /** How many times the stream was (re)opened. */
  connections: number;
  /** How the collection ended: the container terminated, the pod vanished, or the caller aborted. */
  end: "terminated" | "pod-gone" | "aborted";
}

/** A timestamp as nanoseconds since the epoch (kubelet timestamps are RFC3339 with up to 9 fraction digits). */
function tsNanos(ts: string): bigint {
  const m = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)$/.exec(ts);
  if (!m) return -1n;
  const secs = BigInt(Math.floor(Date.parse(`${m[1]}${m[3]}`) / 1000));
  const frac = BigInt((m[2] ?? "").padEnd(9, "0").slice(0, 9));
  return secs * 1_000_000_000n + frac;
}

interface LogResponse {
  status: number;
  body: string | undefined;
  stream: http.IncomingMessage | undefined;
  request: http.ClientRequest;
}

async function openLog(kc: KubeConfig, path: string, signal: AbortSignal): Promise<LogResponse> {
  const server = kc.getCurrentCluster()?.server;
  if (!server) throw new Error("the kubeconfig has no current cluster");
  const url = new URL(server.replace(/\/$/, "") + path);
  const opts: https.RequestOptions = { method: "GET", headers: {} };
  await kc.applyToHTTPSOptions(opts);
  const mod = url.protocol === "http:" ? http : https;
  return new Promise<LogResponse>((resolve, reject) => {
    const req = mod.request(url, { ...opts, signal }, (res) => {
      if (res.statusCode === 200) return resolve({ status: 200, body: undefined, stream: res, request: req });
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => (body += c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body, stream: undefined, request: req }));
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end();
  });
}

const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((r) => {
    const t = setTimeout(r, ms);
    signal.addEventListener("abort", () => (clearTimeout(t), r()), { once: true });
  });

/**
 * Follows a container's log until the container terminates (or the pod disappears, or `signal`
 * aborts), streaming prefixed lines to `out` and returning every raw line.
 */
export async function followPodLogs(options: FollowLogsOptions): Promise<CollectedLogs> {
  const { kubeConfig: kc, namespace, pod } = options;
  const { CoreV1Api } = await k8s();
  const core = kc.makeApiClient(CoreV1Api);
  const stop = new AbortController();
  const onAbort = () => stop.abort();
  options.signal?.addEventListener("abort", onAbort, { once: true });
  if (options.signal?.aborted) stop.abort();

  const chunks: string[] = [];
  let lines = 0;
  let connections = 0;
  let lastTs: bigint = -1n;
  let lastTsText: string | undefined;
  let atLastTs = 0; // lines already taken whose timestamp equals lastTs
  let container = options.container;

  const take = (raw: string): void => {
    const sp = raw.indexOf(" ");
    const tsText = sp > 0 ? raw.slice(0, sp) : raw;
    const ts = tsNanos(tsText);
    const line = sp > 0 ? raw.slice(sp + 1) : "";
    if (ts >= 0n) {
      if (ts < lastTs) return;
      if (ts === lastTs) {
        if (skip > 0) {
          skip--;
          return;
        }
        atLastTs++;
      } else {
        lastTs = ts;
        lastTsText = tsText;
        atLastTs = 1;
      }
    }
    chunks.push(line + "\n");
    lines++;
    options.onLine?.(line);
    options.out?.write(`${options.prefix} ${line}\n`);
  };
  let skip = 0;

  /** Reads one log response (follow or not) to its end; returns whether it ended cleanly. */
  const read = async (follow: boolean): Promise<{ ok: boolean; status: number; body?: string }> => {
    const q = new URLSearchParams({ timestamps: "true" });
    if (container) q.set("container", container);
    if (follow) q.set("follow", "true");
    if (lastTsText) q.set("sinceTime", lastTsText);
    skip = atLastTs; // the lines at the resume timestamp we already have
    const conn = new AbortController();
    const abortConn = () => conn.abort();
    stop.signal.addEventListener("abort", abortConn, { once: true });
    const cut = follow && options.maxFollowMs ? setTimeout(abortConn, options.maxFollowMs) : undefined;
    connections++;
    try {
      const res = await openLog(kc, `/api/v1/namespaces/${namespace}/pods/${pod}/log?${q}`, conn.signal);
      if (!res.stream) return { ok: false, status: res.status, body: res.body };
      let rest = "";
      try {
        res.stream.setEncoding("utf8");
        for await (const c of res.stream as AsyncIterable<string>) {
          rest += c;
          let nl: number;
          while ((nl = rest.indexOf("\n")) >= 0) {
            take(rest.slice(0, nl));
            rest = rest.slice(nl + 1);
          }
        }
        if (rest) take(rest);
        return { ok: true, status: 200 };
      } catch {
        if (rest && !conn.signal.aborted) take(rest);
        return { ok: false, status: 200 };
      }
    } catch (e) {
      return { ok: false, status: 0, body: (e as Error).message };
    } finally {
      if (cut) clearTimeout(cut);
      stop.signal.removeEventListener("abort", abortConn);
    }
  };

  /** The container's state; "unreachable" while the API server does not answer (it restarts, the network breaks). */
  const containerState = async (): Promise<"waiting" | "running" | "terminated" | "gone" | "unreachable"> => {
    let p: V1Pod;
    try {
      p = await core.readNamespacedPod({ name: pod, namespace });
    } catch (e) {
      const code = apiErrorInfo(e).code;
      if (code === 404) return "gone";
      if (code === 401 || code === 403) throw e;
      return "unreachable";
    }
    container ??= p.spec?.containers[0]?.name;
    const st = p.status?.containerStatuses?.find((c) => c.name === container);
    if (st?.state?.terminated) return "terminated";
    if (p.status?.phase === "Succeeded" || p.status?.phase === "Failed") return "terminated";
    if (st?.state?.running) return "running";
    return "waiting";
  };

  const started = Date.now();
  const startTimeout = options.startTimeoutMs ?? 15 * 60_000;
  const backoff = reconnectBackoff(options.reconnectDelayMs ?? 500);
  let end: CollectedLogs["end"] = "aborted";
  try {
    while (!stop.signal.aborted) {
      const r = await read(true);
      if (stop.signal.aborted) break;
      if (r.status === 404) {
        end = "pod-gone";
        break;
      }
      const state = await containerState();
      if (state === "gone") {
        end = "pod-gone";
        break;
      }
      if (state === "unreachable") {
        // The API server is away: reconnect with backoff, resuming from the last line's timestamp.
        await sleep(backoff.next(), stop.signal);
        continue;
      }
      backoff.reset();
      if (state === "terminated") {
        // The follow stream may have broken before delivering everything: read the rest (from the last
        // timestamp; lines already taken are skipped), retrying while the API server is away.
        if (await readRest(read, stop.signal, backoff)) end = "terminated";
        else end = (await containerState()) === "gone" ? "pod-gone" : "aborted";
        break;
      }
      if (state === "waiting" || r.status === 400) {
        if (Date.now() - started > startTimeout)
          throw new Error(
            `container ${container ?? ""} of pod ${namespace}/${pod} did not start within ${startTimeout / 1000} s`,
          );
        await sleep(1000, stop.signal);
      } else if (!r.ok) await sleep(500, stop.signal);
    }
  } finally {
    options.signal?.removeEventListener("abort", onAbort);
  }
  return { text: chunks.join(""), lines, connections, end };
}

/** A doubling reconnect delay, capped at 10 s, with up to 20 % jitter. */
function reconnectBackoff(baseMs: number): { next(): number; reset(): void } {
  let delay = 0;
  return {
    next() {
      delay = Math.min(delay ? delay * 2 : baseMs, 10_000);
      return Math.round(delay * (1 + Math.random() * 0.2));
    },
    reset() {
      delay = 0;
    },
  };
}

/**
 * The final non-follow read of a terminated container's log, retried with backoff while the API server does
 * not answer (bounded: 2 minutes). Returns whether the read completed.
 */
async function readRest(
  read: (follow: boolean) => Promise<{ ok: boolean; status: number }>,
  signal: AbortSignal,
  backoff: { next(): number },
): Promise<boolean> {
  const until = Date.now() + 120_000;
  for (;;) {
    const r = await read(false);
    if (r.ok) return true;
    if (r.status === 404 || signal.aborted || Date.now() > until) return false;
    await sleep(backoff.next(), signal);
  }
}
