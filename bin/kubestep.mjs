#!/usr/bin/env node
// The kubestep CLI. Runs the compiled runtime (npm install builds it); see `kubestep --help`.
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
const cli = new URL("../dist/runtime/cli/main.js", import.meta.url);
if (!existsSync(fileURLToPath(cli))) {
  process.stderr.write(
    "kubestep: the runtime is not built; run `npm install` (or `npm run build`) in the kubestep package\n",
  );
  process.exit(2);
}
const { main } = await import(cli.href);
process.exitCode = await main(process.argv.slice(2));
