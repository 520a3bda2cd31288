/**
 * The HTTP server of `kubestep ui`: the JSON API (api.ts) under /api, live updates under /api/events (sse.ts),
 * cards as HTML, artifact downloads, the bundled browser app under /assets and the app's page for every other
 * path (deep links). Bound to 127.0.0.1 by default; on any other host every request needs the access token.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { randomBytes, timingSafeEqual } from "node:crypto";
import { createReadStream } from "node:fs";
import { join } from "node:path";
import type { AddressInfo } from "node:net";
import type { Storage } from "../datastore/storage.js";
import { UiApi, UiRequestError, type RunQuery, type UiApiOptions } from "./api.js";
import { streamUpdates } from "./sse.js";
import { appShellHtml, cardToHtml } from "./render.js";
import { requireAssets } from "./assets.js";
import type { Status } from "../datastore/flowstore.js";

/** Options of {@link startUiServer}. */
export interface UiServerOptions extends UiApiOptions {
  /** The datastore to show. */
  storage: Storage;
  /** Address to listen on. Default 127.0.0.1; any other address requires a token (generated when not given). */
  host?: string;
  /** Port. Default 8321; 0 picks a free one. */
  port?: number;
  /** Access token; generated on hosts other than loopback when not given, never needed on loopback unless given. */
  token?: string;
  /** How often live pages poll the datastore (ms). Default 1000. */
  pollMs?: number;
  /** Directory of the bundled browser app (app.js, app.css). Default: dist/ui of the package. */
  assetsDir?: string;
}

/** A running UI server. */
export interface UiServer {
  /** Base URL, e.g. `http://127.0.0.1:8321`. */
  url: string;
  /** The URL to open: with `?token=` when a token is required. */
  openUrl: string;
  /** The access token, when one is required. */
  token?: string;
  /** The underlying API (for tests and benchmarks). */
  api: UiApi;
  /** The HTTP server. */
  server: Server;
  /** Stops listening and closes open connections (event streams included). */
  close(): Promise<void>;
}

const LOOPBACK = new Set(["127.0.0.1", "localhost", "::1", "[::1]"]);
const COOKIE = "kubestep_ui_token";

/** Whether an address is a loopback one (no token needed there). */
export function isLoopback(host: string): boolean {
  return LOOPBACK.has(host) || /^127\.\d+\.\d+\.\d+$/.test(host);
}

function sameToken(given: string | undefined, token: string): boolean {
  if (!given) return false;
  const a = Buffer.from(given);
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}

function cookie(req: IncomingMessage, name: string): string | undefined {
  for (const part of (req.headers.cookie ?? "").split(";")) {
    const [k, ...v] = part.trim().split("=");
    if (k === name) return decodeURIComponent(v.join("="));
  }
  return undefined;
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json; charset=utf-8", "cache-control": "no-store" });
  res.end(text);
}

function sendError(res: ServerResponse, status: number, message: string): void {
  sendJson(res, status, { error: message });
}

const TASK =
  /^\/api\/flows\/([^/]+)\/runs\/([^/]+)\/steps\/([^/]+)\/tasks\/([^/]+)(?:\/(logs|artifacts|card)(?:\/([^/]+))?)?$/;
const RUN = /^\/api\/flows\/([^/]+)\/runs\/([^/]+)$/;
const RUNS = /^\/api\/flows\/([^/]+)\/runs$/;

function decode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    throw new UiRequestError(400, `${JSON.stringify(s)} is not a valid URL path segment`);
  }
}

function intParam(q: URLSearchParams, name: string): number | undefined {
  const v = q.get(name);
  if (v === null || v === "") return undefined;
  const n = Number(v);
  if (!Number.isInteger(n))
    throw new UiRequestError(400, `${name}=${JSON.stringify(v)} is invalid; use a whole number`);
  return n;
}

/** The JSON a GET of an API path answers (also what /api/events streams); undefined for paths that are not JSON resources. */
export async function jsonResource(api: UiApi, pathname: string, q: URLSearchParams): Promise<unknown | undefined> {
  if (pathname === "/api/flows") return { flows: await api.flows() };
  let m = RUNS.exec(pathname);
  if (m) {
    const query: RunQuery = {};
    for (const k of ["status", "user", "tag", "q"] as const) {
      const v = q.get(k);
      if (v) (query as Record<string, string>)[k] = v;
    }
    if (query.status !== undefined) query.status = query.status as Status;
    const offset = intParam(q, "offset");
    const limit = intParam(q, "limit");
    if (offset !== undefined) query.offset = offset;
    if (limit !== undefined) query.limit = limit;
    return api.runs(decode(m[1]!), query);
  }
  m = RUN.exec(pathname);
  if (m) return api.run(decode(m[1]!), decode(m[2]!));
  m = TASK.exec(pathname);
  if (m && !m[5]) return api.task(decode(m[1]!), decode(m[2]!), decode(m[3]!), decode(m[4]!));
  if (m && m[5] === "logs" && m[6] !== undefined) {
    const log = await api.log(decode(m[1]!), decode(m[2]!), decode(m[3]!), decode(m[4]!), Number(decode(m[6])));
    return { stored: log !== undefined, live: log?.live ?? false, text: log?.text ?? "" };
  }
  return undefined;
}

/** Starts the UI server; resolves once it listens. */
export async function startUiServer(options: UiServerOptions): Promise<UiServer> {
  const host = options.host ?? "127.0.0.1";
  const port = options.port ?? 8321;
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new Error(`port ${port} is invalid; use a whole number from 0 to 65535`);
  const token = options.token ?? (isLoopback(host) ? undefined : randomBytes(24).toString("base64url"));
  const assets = requireAssets(options.assetsDir);
  const api = new UiApi(options.storage, options);
  const pollMs = options.pollMs ?? 1000;
  const shell = appShellHtml();

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? "/", "http://localhost");
    // On loopback, refuse other Host names (a web page cannot reach the UI through DNS rebinding).
    const hostName = (req.headers.host ?? "").replace(/:\d+$/, "");
    if (isLoopback(host) && !isLoopback(hostName))
      return sendError(
        res,
        403,
        `host ${JSON.stringify(hostName)} is not allowed; open the UI at http://127.0.0.1:${(server.address() as AddressInfo).port}`,
      );
    if (token) {
      const given =
        url.searchParams.get("token") ??
        (req.headers.authorization?.startsWith("Bearer ") ? req.headers.authorization.slice(7) : undefined) ??
        cookie(req, COOKIE);
      if (!sameToken(given, token))
        return sendError(
          res,
          401,
          "this kubestep ui needs its access token: open the URL it printed (with ?token=...) or send Authorization: Bearer <token>",
        );
      if (url.searchParams.has("token")) {
        url.searchParams.delete("token");
        res.writeHead(303, {
          location: url.pathname + url.search,
          "set-cookie": `${COOKIE}=${encodeURIComponent(token)}; HttpOnly; SameSite=Strict; Path=/`,
        });
        return void res.end();
      }
    }
    if (req.method !== "GET" && req.method !== "HEAD")
      return sendError(res, 405, `${req.method} is not supported; the UI only reads (GET)`);
    const path = url.pathname;
    if (path === "/assets/app.js" || path === "/assets/app.css") {
      res.writeHead(200, {
        "content-type": path.endsWith(".js") ? "text/javascript; charset=utf-8" : "text/css; charset=utf-8",
        "cache-control": "no-cache",
      });
      return void createReadStream(join(assets, path.slice("/assets/".length))).pipe(res);
    }
    if (path === "/api/events") {
      const target = url.searchParams.get("path") ?? "";
      const targetUrl = new URL(target, "http://localhost");
      if (!target.startsWith("/api/") || targetUrl.pathname === "/api/events")
        return sendError(
          res,
          400,
          `path ${JSON.stringify(target)} is invalid; give an API path such as /api/flows/HelloFlow/runs/<id>`,
        );
      const probe = await jsonResource(api, targetUrl.pathname, targetUrl.searchParams);
      if (probe === undefined)
        return sendError(res, 404, `${targetUrl.pathname} is not an API resource that can be watched`);
      return streamUpdates(req, res, async () => jsonResource(api, targetUrl.pathname, targetUrl.searchParams), {
        intervalMs: pollMs,
      });
    }
    if (path.startsWith("/api/")) {
      const m = TASK.exec(path);
      if (m && m[5] === "artifacts" && m[6] !== undefined) {
        const name = decode(m[6]);
        const { ref, stream } = await api.artifactStream(
          decode(m[1]!),
          decode(m[2]!),
          decode(m[3]!),
          decode(m[4]!),
          name,
        );
        const ext = ref.encoding === "v8" ? "v8" : "bin";
        res.writeHead(200, {
          "content-type": "application/octet-stream",
          "content-length": String(ref.size),
          "content-disposition": `attachment; filename="${name.replace(/[^\w.-]/g, "_")}.${ext}"`,
          "x-kubestep-encoding": ref.encoding,
        });
        stream.on("error", () => res.destroy());
        return void stream.pipe(res);
      }
      if (m && m[5] === "card" && m[6] === undefined) {
        const card = await api.card(decode(m[1]!), decode(m[2]!), decode(m[3]!), decode(m[4]!));
        if (!card)
          return sendError(
            res,
            404,
            `task ${decode(m[1]!)}/${decode(m[2]!)}/${decode(m[3]!)}/${decode(m[4]!)} has no card`,
          );
        res.writeHead(200, {
          "content-type": "text/html; charset=utf-8",
          "content-security-policy":
            "default-src 'none'; img-src data:; style-src 'unsafe-inline'; sandbox allow-same-origin",
          "cache-control": "no-store",
        });
        return void res.end(cardToHtml(card));
      }
      const body = await jsonResource(api, path, url.searchParams);
      if (body === undefined) return sendError(res, 404, `no API resource at ${path}; see /api/flows`);
      return sendJson(res, 200, body);
    }
    res.writeHead(200, {
      "content-type": "text/html; charset=utf-8",
      "cache-control": "no-store",
      "content-security-policy":
        "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; frame-src 'self'; object-src 'none'; base-uri 'none'",
    });
    res.end(shell);
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((e: unknown) => {
      const status = e instanceof UiRequestError ? e.status : 500;
      if (!res.headersSent) sendError(res, status, (e as Error).message);
      else res.destroy();
    });
  });
  await new Promise<void>((resolveListen, reject) => {
    server.once("error", (e: NodeJS.ErrnoException) =>
      reject(e.code === "EADDRINUSE" ? new Error(`port ${port} on ${host} is in use; choose another with --port`) : e),
    );
    server.listen(port, host, () => resolveListen());
  });
  const addr = server.address() as AddressInfo;
  const shown = host.includes(":") ? `[${host}]` : host;
  const base = `http://${shown}:${addr.port}`;
  return {
    url: base,
    openUrl: token ? `${base}/?token=${encodeURIComponent(token)}` : base,
    ...(token ? { token } : {}),
    api,
    server,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
