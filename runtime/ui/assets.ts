/** Where the bundled browser app of `kubestep ui` is: `dist/ui/` of the kubestep package (built by `npm run build`). */
import { existsSync } from "node:fs";
import { dirname, join, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));

/** The directory holding app.js and app.css. */
export function assetsDir(): string {
  // From the source (runtime/ui) or the build (dist/runtime/ui), the package root is two or three levels up.
  const root = here.includes(`${sep}dist${sep}`) ? resolve(here, "..", "..", "..") : resolve(here, "..", "..");
  return join(root, "dist", "ui");
}

/** The assets directory, or an error naming the missing file and the command that builds it. */
export function requireAssets(dir = assetsDir()): string {
  for (const f of ["app.js", "app.css"])
    if (!existsSync(join(dir, f)))
      throw new Error(
        `the kubestep ui browser app is not built: ${join(dir, f)} is missing; run \`npm run build\` in the kubestep package`,
      );
  return dir;
}
