/**
 * Maps the stack of a task's error to the user's source files. Task processes run the code package without
 * `--enable-source-maps` (which parses the package's source map in every task process: about 5 MB and tens of
 * milliseconds per task); the map is read only when a stack is printed, i.e. when a step fails.
 */
import { readFileSync } from "node:fs";
import { SourceMap } from "node:module";
import { isAbsolute, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/** The inline source map of a bundle's text, or `undefined`. */
function inlineMap(text: string): SourceMap | undefined {
  const m = /\/\/# sourceMappingURL=data:application\/json;base64,([A-Za-z0-9+/=]+)\s*$/.exec(text);
  if (!m) return undefined;
  try {
    return new SourceMap(
      JSON.parse(Buffer.from(m[1]!, "base64").toString("utf8")) as ConstructorParameters<typeof SourceMap>[0],
    );
  } catch {
    return undefined;
  }
}

/**
 * Rewrites the frames of `stack` that point into `bundleFile` to the original file, line and column of the
 * bundle's inline source map; relative sources are resolved against `baseDir` (where the package was built:
 * the run's working directory). Frames it cannot map, and every other line, are left as they are.
 */
export function mapStack(stack: string, bundleFile: string, baseDir: string = process.cwd()): string {
  let map: SourceMap | undefined | null = null;
  const url = bundleFile.startsWith("file:") ? bundleFile : undefined;
  const path = url ? fileURLToPath(url) : bundleFile;
  const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  const frame = new RegExp(`(?:file://)?${escape(path)}:(\\d+):(\\d+)`, "g");
  return stack.replace(frame, (whole, line: string, col: string) => {
    if (map === null) {
      try {
        map = inlineMap(readFileSync(path, "utf8"));
      } catch {
        map = undefined;
      }
    }
    if (!map) return whole;
    const e = map.findEntry(Number(line) - 1, Number(col) - 1) as {
      originalSource?: string;
      originalLine?: number;
      originalColumn?: number;
    };
    if (!e.originalSource || e.originalLine === undefined || e.originalColumn === undefined) return whole;
    const src = e.originalSource.startsWith("file:")
      ? fileURLToPath(e.originalSource)
      : isAbsolute(e.originalSource)
        ? e.originalSource
        : resolve(baseDir, e.originalSource);
    return `${src}:${e.originalLine + 1}:${e.originalColumn + 1}`;
  });
}
