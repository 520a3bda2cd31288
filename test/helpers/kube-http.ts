/**
 * A minimal Kubernetes REST client for cluster tests (node:https only): raw requests with exact status
 * codes, independent of the runtime's own client code under test. Supports kubeconfigs with inline/file
 * CA, client certificates or a bearer token — enough to act as the admin and as a submitter.
 */
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import * as https from "node:https";

/** Credentials of one kubeconfig context. */
export interface KubeAuth {
  /** API server URL. */
  server: string;
  /** CA PEM. */
  ca?: Buffer;
  /** Client certificate PEM. */
  cert?: Buffer;
  /** Client key PEM. */
  key?: Buffer;
  /** Bearer token. */
  token?: string;
  /** Default namespace of the context. */
  namespace?: string;
}

/** An HTTP answer from the API server. */
export interface KubeResponse {
  /** HTTP status. */
  status: number;
  /** Parsed JSON body (or the raw text for non-JSON answers like pod logs). */
  body: unknown;
  /** Raw text. */
  text: string;
}

type Named<T> = { name: string } & T;
interface KubeconfigDoc {
  clusters: Named<{ cluster: Record<string, string> }>[];
  users: Named<{ user: Record<string, string> }>[];
  contexts: Named<{ context: { cluster: string; user: string; namespace?: string } }>[];
  "current-context": string;
}

function bytes(data: string | undefined, file: string | undefined): Buffer | undefined {
  if (data) return Buffer.from(data, "base64");
  if (file) return readFileSync(file);
  return undefined;
}

/** Parses a kubeconfig (YAML or JSON text) and returns the current context's credentials. */
export function parseKubeconfig(text: string): KubeAuth {
  const yaml = createRequire(import.meta.url)("js-yaml") as { load(s: string): unknown };
  const doc = yaml.load(text) as KubeconfigDoc;
  const ctx = doc.contexts.find((c) => c.name === doc["current-context"])?.context;
  if (!ctx) throw new Error(`kubeconfig has no context ${doc["current-context"]}`);
  const cluster = doc.clusters.find((c) => c.name === ctx.cluster)?.cluster;
  const user = doc.users.find((u) => u.name === ctx.user)?.user;
  if (!cluster || !user)
    throw new Error(`kubeconfig context ${doc["current-context"]} names a missing cluster or user`);
  return {
    server: cluster.server,
    ca: bytes(cluster["certificate-authority-data"], cluster["certificate-authority"]),
    cert: bytes(user["client-certificate-data"], user["client-certificate"]),
    key: bytes(user["client-key-data"], user["client-key"]),
    token: user.token,
    namespace: ctx.namespace,
  };
}

/** Loads the kubeconfig file at `path`. */
export function loadKubeconfig(path: string): KubeAuth {
  return parseKubeconfig(readFileSync(path, "utf8"));
}

/** A tiny REST client bound to one identity. */
export class KubeHttp {
  constructor(readonly auth: KubeAuth) {}

  private options(method: string, path: string, headers: Record<string, string>): https.RequestOptions {
    const url = new URL(path, this.auth.server);
    return {
      method,
      hostname: url.hostname,
      port: url.port,
      path: url.pathname + url.search,
      ca: this.auth.ca,
      cert: this.auth.cert,
      key: this.auth.key,
      headers: {
        Accept: "application/json",
        ...(this.auth.token ? { Authorization: `Bearer ${this.auth.token}` } : {}),
        ...headers,
      },
    };
  }

  /** Sends one request; resolves with status and body whatever the status. */
  request(method: string, path: string, body?: unknown): Promise<KubeResponse> {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    return new Promise((resolve, reject) => {
      const req = https.request(
        this.options(method, path, payload ? { "Content-Type": "application/json" } : {}),
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("end", () => {
            const text = Buffer.concat(chunks).toString("utf8");
            let parsed: unknown = text;
            try {
              parsed = JSON.parse(text);
            } catch {
              /* plain text (logs) */
            }
            resolve({ status: res.statusCode ?? 0, body: parsed, text });
          });
        },
      );
      req.on("error", reject);
      if (payload) req.write(payload);
      req.end();
    });
  }

  /** GET; throws unless 2xx. */
  async get<T>(path: string): Promise<T> {
    const r = await this.request("GET", path);
    if (r.status >= 300) throw new Error(`GET ${path}: ${r.status} ${r.text}`);
    return r.body as T;
  }

  /** POST; throws unless 2xx. */
  async create<T>(path: string, body: unknown): Promise<T> {
    const r = await this.request("POST", path, body);
    if (r.status >= 300) throw new Error(`POST ${path}: ${r.status} ${r.text}`);
    return r.body as T;
  }

  /**
   * Opens a watch and collects `TYPE:name` of every event until `stop()`; resolves `started`
   * once the server accepted the watch (rejects with the status otherwise).
   */
  watch(path: string): { events: string[]; status: Promise<number>; stop(): void } {
    const events: string[] = [];
    let req: ReturnType<typeof https.request> | undefined;
    const status = new Promise<number>((resolve, reject) => {
      req = https.request(this.options("GET", `${path}${path.includes("?") ? "&" : "?"}watch=true`, {}), (res) => {
        resolve(res.statusCode ?? 0);
        let buf = "";
        res.on("data", (c: Buffer) => {
          buf += c.toString("utf8");
          let i: number;
          while ((i = buf.indexOf("\n")) >= 0) {
            const line = buf.slice(0, i);
            buf = buf.slice(i + 1);
            if (!line.trim()) continue;
            const ev = JSON.parse(line) as { type: string; object: { metadata?: { name?: string } } };
            events.push(`${ev.type}:${ev.object.metadata?.name}`);
          }
        });
        res.on("error", () => undefined);
      });
      req.on("error", (e) => (events.length ? undefined : reject(e)));
      req.end();
    });
    return { events, status, stop: () => req?.destroy() };
  }
}
