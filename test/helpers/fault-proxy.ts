/**
 * A fault-injecting HTTP proxy for the datastore tests: it forwards every request to a real server (versitygw,
 * fake-gcs-server, azurite) unless a rule says to fail it, N times: an HTTP error with the store's own error
 * body (503, 500, 429 SlowDown XML, GCS JSON), a connection reset, or a stall (no answer until the client gives
 * up). Clients use the proxy's URL as their endpoint and the proxy forwards the request with the SAME Host
 * header (and every other header and the body untouched), so SigV4 signatures, which sign the Host the client
 * sent, verify at the server.
 */
import {
  createServer,
  request as httpRequest,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from "node:http";
import type { AddressInfo, Socket } from "node:net";

/** What to do to a matching request. */
export type Fault =
  | { kind: "status"; status: number; body: string; headers?: Record<string, string> }
  | { kind: "reset" }
  | { kind: "stall" }
  /** Forwards the request but cuts both connections after `bytes` bytes of its body (a write torn midway). */
  | { kind: "cut"; bytes: number };

/** A rule: requests it matches get the fault, `times` times (then pass through). */
export interface FaultRule {
  /** Which requests (default: all). */
  method?: string | RegExp;
  /** Matched against the request path and query. */
  path?: RegExp;
  fault: Fault;
  /** How many requests to fail (Infinity: all). */
  times: number;
}

/** One request the proxy saw. */
export interface SeenRequest {
  method: string;
  url: string;
  /** The fault injected, if any. */
  fault?: Fault["kind"];
}

/** S3's error body (XML). */
export function s3Error(code: string, message: string): string {
  return `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${message}</Message><RequestId>fault-proxy</RequestId></Error>`;
}
/** Azure Blob's error body (XML). */
export function azureError(code: string, message: string): string {
  return `<?xml version="1.0" encoding="utf-8"?><Error><Code>${code}</Code><Message>${message}</Message></Error>`;
}
/** The GCS JSON API's error body. */
export function gcsError(status: number, message: string): string {
  return JSON.stringify({ error: { code: status, message, errors: [{ message, reason: "backendError" }] } });
}

export class FaultProxy {
  /** Every request seen, in order. */
  readonly seen: SeenRequest[] = [];
  private rules: Array<FaultRule & { left: number }> = [];
  private readonly sockets = new Set<Socket>();
  private readonly stalled = new Set<ServerResponse>();

  private constructor(
    private readonly server: Server,
    private readonly target: URL,
  ) {}

  /** Starts a proxy on 127.0.0.1 (a free port) forwarding to `target` (`http://host:port`). */
  static async start(target: string): Promise<FaultProxy> {
    const server = createServer();
    const proxy = new FaultProxy(server, new URL(target));
    server.on("request", (req, res) => proxy.handle(req, res));
    server.on("connection", (s) => {
      proxy.sockets.add(s);
      s.on("close", () => proxy.sockets.delete(s));
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    return proxy;
  }

  /** The URL clients use as their endpoint. */
  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** Adds a rule (checked in the order added). */
  inject(rule: FaultRule): void {
    this.rules.push({ ...rule, left: rule.times });
  }

  /** Removes every rule and forgets the requests seen. */
  reset(): void {
    this.rules = [];
    this.seen.length = 0;
    for (const r of this.stalled) r.destroy();
    this.stalled.clear();
  }

  /** Requests seen matching a method and path. */
  count(method: string, path?: RegExp): number {
    return this.seen.filter((s) => s.method === method && (!path || path.test(s.url))).length;
  }

  /** Faults injected so far. */
  get injected(): number {
    return this.seen.filter((s) => s.fault).length;
  }

  async close(): Promise<void> {
    for (const r of this.stalled) r.destroy();
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((r) => this.server.close(() => r()));
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const method = req.method ?? "GET";
    const url = req.url ?? "/";
    const rule = this.rules.find(
      (r) =>
        r.left > 0 &&
        (r.method === undefined || (typeof r.method === "string" ? r.method === method : r.method.test(method))) &&
        (r.path === undefined || r.path.test(url)),
    );
    if (rule) {
      rule.left--;
      this.seen.push({ method, url, fault: rule.fault.kind });
      const fault = rule.fault;
      if (fault.kind === "reset") {
        req.socket.destroy();
        return;
      }
      if (fault.kind === "stall") {
        // Read the request, never answer: the client's timeout must give up.
        req.resume();
        this.stalled.add(res);
        res.on("close", () => this.stalled.delete(res));
        return;
      }
      if (fault.kind === "cut") {
        const upstream = this.forward(req, res);
        let sent = 0;
        req.on("data", (c: Buffer) => {
          if (sent >= fault.bytes) return;
          const part = c.subarray(0, fault.bytes - sent);
          sent += part.length;
          upstream.write(part);
          if (sent >= fault.bytes) {
            upstream.destroy();
            req.socket.destroy();
          }
        });
        return;
      }
      req.resume();
      req.on("end", () => {
        res.writeHead(fault.status, {
          "content-type": fault.body.startsWith("{") ? "application/json" : "application/xml",
          ...fault.headers,
        });
        res.end(method === "HEAD" ? undefined : fault.body);
      });
      return;
    }
    this.seen.push({ method, url });
    req.pipe(this.forward(req, res));
  }

  /** A request to the server, as received: same method, path, headers (Host included); the body is written by the caller. */
  private forward(req: IncomingMessage, res: ServerResponse) {
    const upstream = httpRequest(
      {
        host: this.target.hostname,
        port: this.target.port,
        method: req.method,
        path: req.url,
        headers: req.headers,
      },
      (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
      },
    );
    upstream.on("error", () => res.destroy());
    return upstream;
  }
}
