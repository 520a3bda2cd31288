// Builds the browser app of `kubestep ui` (runtime/ui/app/main.ts and style.css) with esbuild into dist/ui/:
// the DAG layout library (@dagrejs/dagre, a devDependency) is bundled into app.js, so installs need nothing more.
// Run by `npm run build`; `node runtime/ui/app/build.mjs` alone rebuilds just the app.
import { mkdirSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(HERE, "../../..");

/** Bundles the app; resolves to the output directory. */
export async function buildUi(outdir = join(ROOT, "dist", "ui")) {
  const esbuild = await import("esbuild");
  mkdirSync(outdir, { recursive: true });
  await esbuild.build({
    entryPoints: { app: join(HERE, "main.ts") },
    bundle: true,
    format: "esm",
    platform: "browser",
    target: ["chrome110", "firefox110", "safari16"],
    minify: true,
    sourcemap: false,
    legalComments: "none",
    outdir,
    logLevel: "warning",
  });
  await esbuild.build({
    entryPoints: { app: join(HERE, "style.css") },
    bundle: true,
    minify: true,
    outdir,
    logLevel: "warning",
  });
  return outdir;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const out = await buildUi();
  process.stdout.write(`kubestep ui app built into ${out}\n`);
}
