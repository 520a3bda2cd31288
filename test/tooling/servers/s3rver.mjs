#!/usr/bin/env node
// Starts s3rver (an S3-protocol server) in the foreground.
//   node --openssl-legacy-provider test/tooling/servers/s3rver.mjs --port 4568 --address 0.0.0.0 \
//        --directory /tmp/kubestep-s3rver --bucket kubestep-test
// Prints "s3rver listening on <address>:<port>" once ready; stops on SIGTERM/SIGINT.
// --openssl-legacy-provider is needed on Node >= 17: s3rver encrypts ListObjectsV2 continuation
// tokens with DES, which OpenSSL 3 only offers in its legacy provider (without it, listing more
// than 1000 keys fails with InternalError).
import { createRequire } from "node:module";
import { mkdirSync } from "node:fs";

const require = createRequire(import.meta.url);
const S3rver = require("s3rver");

const args = process.argv.slice(2);
const opt = (name, def) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : def;
};
const port = Number(opt("port", "4568"));
const address = opt("address", "0.0.0.0");
const directory = opt("directory", "/tmp/kubestep-s3rver");
const buckets = args.flatMap((a, i) => (a === "--bucket" ? [args[i + 1]] : []));
mkdirSync(directory, { recursive: true });

const server = new S3rver({
  port,
  address,
  directory,
  silent: true,
  configureBuckets: (buckets.length ? buckets : ["kubestep-test"]).map((name) => ({ name })),
});
const addr = await server.run();
process.stdout.write(`s3rver listening on ${addr.address}:${addr.port}\n`);
const stop = () => server.close().then(() => process.exit(0), () => process.exit(1));
process.once("SIGTERM", stop);
process.once("SIGINT", stop);
