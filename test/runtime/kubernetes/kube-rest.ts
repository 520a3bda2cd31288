/**
 * A minimal Kubernetes REST client for the dry-run cluster test (node:https only).
 *
 * Why not @kubernetes/client-node: the installed 2.x imports undici 8, which needs Node >= 22
 * (`zlib.createZstdDecompress`), and this project runs on Node 20 — importing it throws. Reads the
 * kubeconfig named by KUBECONFIG (current context; inline or file CA / client certificate, or token).
 */
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import * as https from "node:https";

/** An apiserver answer. */
export interface KubeAnswer {
  /** HTTP status. */
  status: number;
  /** Parsed JSON body. */
  body: Record<string, unknown>;
}

type Named<T> = { name: string } & T;
interface KubeconfigDoc {
  clusters: Named<{ cluster: Record<string, string> }>[];
  users: Named<{ user: Record<string, string> }>[];
  contexts: Named<{ context: { cluster: string; user: string } }>[];
  "current-context": string;
}

const pem = (data: string | undefined, file: string | undefined) => (data ? Buffer.from(data, "base64") : file ? readFileSync(file) : undefined);

/** A REST client for the cluster of the kubeconfig at `path`. */
export class KubeRest {
  private readonly server: URL;
  private readonly tls: https.RequestOptions;
  private readonly token?: string;

  constructor(path: string) {
    const yaml = createRequire(import.meta.url)("js-yaml") as { load(s: string): unknown };
    const doc = yaml.load(readFileSync(path, "utf8")) as KubeconfigDoc;
    const ctx = doc.contexts.find((c) => c.name === doc["current-context"])?.context;
    const cluster = doc.clusters.find((c) => c.name === ctx?.cluster)?.cluster;
    const user = doc.users.find((u) => u.name === ctx?.user)?.user;
    if (!ctx || !cluster || !user) throw new Error(`kubeconfig ${path}: current context ${doc["current-context"]} is incomplete`);
    this.server = new URL(cluster.server!);
    this.tls = {
      ca: pem(cluster["certificate-authority-data"], cluster["certificate-authority"]),
      cert: pem(user["client-certificate-data"], user["client-certificate"]),
      key: pem(user["client-key-data"], user["client-key"]),
    };
    this.token = user.token;
  }

  /** Sends one request and resolves with the status and JSON body, whatever the status. */
  request(method: string, path: string, body?: unknown): Promise<KubeAnswer> {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    return new Promise((resolve, reject) => {
      const req = https.request(
        {
          ...this.tls, method, hostname: this.server.hostname, port: this.server.port, path,
          headers: {
            Accept: "application/json",
            ...(payload ? { "Content-Type": "application/json" } : {}),
            ...(this.token ? { Authorization: `Bearer ${this.token}` } : {}),
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("end", () => {
            const text = Buffer.concat(chunks).toString("utf8");
            try {
              resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as Record<string, unknown> });
            } catch {
              resolve({ status: res.statusCode ?? 0, body: { text } });
            }
          });
        },
      );
      req.on("error", reject);
      if (payload) req.write(payload);
      req.end();
    });
  }
}

/** Parses a Kubernetes quantity ("500m", "4096M", "2Gi", "1e3") to a number. */
export function quantityValue(q: string | number): number {
  if (typeof q === "number") return q;
  const m = /^([+-]?[0-9.]+)(?:([eE][+-]?[0-9]+)|(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei))?$/.exec(q);
  if (!m) throw new Error(`not a quantity: ${q}`);
  const n = Number(m[1]);
  if (m[2]) return n * 10 ** Number(m[2].slice(1));
  const f: Record<string, number> = { m: 1e-3, k: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, E: 1e18, Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, Pi: 2 ** 50, Ei: 2 ** 60 };
  return n * (m[3] ? f[m[3]]! : 1);
}
