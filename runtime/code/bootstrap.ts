/**
 * The command a Kubernetes pod runs: with nothing but `node` in the image and no SDK, it downloads the
 * code package from a pre-signed URL (`KUBESTEP_CODE_URL`), verifies its sha256 (`KUBESTEP_CODE_SHA`),
 * and runs the task in `KUBESTEP_TASK_SPEC`; the task saves artifacts to the datastore itself and the
 * container exits with the task's status (70 when the package cannot be fetched or does not verify; why
 * is then also written to the termination log, so the Job's pod status carries it).
 *
 * For images without Node.js (CUDA, Python, ...) the runtime copies its own `node` into the pod (see
 * `kubernetes/node-injection.ts`) and the command becomes a small POSIX `sh` wrapper ({@link NODE_CHOOSER}):
 * the image's own `node` when it is on the PATH and at least {@link MIN_POD_NODE_MAJOR}, else the copy. When
 * neither can run it exits 70 and says why, on stderr and in the container's termination message.
 */

/** Exit code of the bootstrap when the code package cannot be downloaded or verified. */
export const BOOTSTRAP_FAILURE_EXIT = 70;

const SCRIPT = `
const { createHash } = await import("node:crypto");
const { createWriteStream, mkdirSync, renameSync, rmSync, writeFileSync } = await import("node:fs");
const { Readable, Transform } = await import("node:stream");
const { pipeline } = await import("node:stream/promises");
const { pathToFileURL } = await import("node:url");
const url = process.env.KUBESTEP_CODE_URL, sha = process.env.KUBESTEP_CODE_SHA;
const fail = (m) => {
  process.stderr.write("kubestep bootstrap: " + m + "\\n");
  // The kubelet reports the termination log as the container's termination message (explain.ts shows it).
  try { writeFileSync("/dev/termination-log", m.slice(0, 2000)); } catch {}
  process.exit(${BOOTSTRAP_FAILURE_EXIT});
};
const dir = "/tmp/kubestep-code"; mkdirSync(dir, { recursive: true });
const file = dir + "/" + sha + ".mjs", tmp = file + ".part";
// Streamed to disk while hashed: the package is never held whole in memory.
let got;
for (let i = 1; ; i++) {
  try {
    const r = await fetch(url);
    if (!r.ok) throw new Error("HTTP " + r.status + " " + (await r.text()).slice(0, 300));
    const hash = createHash("sha256");
    await pipeline(Readable.fromWeb(r.body), new Transform({ transform(c, _e, cb) { hash.update(c); cb(null, c); } }), createWriteStream(tmp));
    got = hash.digest("hex");
    break;
  } catch (e) {
    rmSync(tmp, { force: true });
    if (i >= 5) fail("cannot download the code package " + sha.slice(0, 12) + ": " + e.message);
    await new Promise((s) => setTimeout(s, 500 * i));
  }
}
if (got !== sha) { rmSync(tmp, { force: true }); fail("code package hash mismatch: expected " + sha + ", got " + got); }
renameSync(tmp, file);
const pkg = await import(pathToFileURL(file).href);
await pkg.runTaskProcess();
`.trim();

/** Oldest Node.js major the code package runs on (it is bundled for `node20`, see `code/package.ts`). */
export const MIN_POD_NODE_MAJOR = 20;

/**
 * The `sh` script that picks the Node.js of a pod, given `$1` = the path of the Node.js copied by the runtime
 * and `$2` = the bootstrap script: the image's `node` if on the PATH and new enough, else `$1` after checking
 * it can run here (it needs glibc and libstdc++, which Alpine/musl images lack), else exit 70 explained.
 */
export const NODE_CHOOSER = `
fail() { printf 'kubestep bootstrap: %s\\n' "$1" >&2; printf '%s' "$1" >/dev/termination-log 2>/dev/null; exit ${BOOTSTRAP_FAILURE_EXIT}; }
n=$(command -v node 2>/dev/null) || n=
have=none
if [ -n "$n" ]; then
  have=$("$n" --version 2>/dev/null) || have="a node that does not run"
  v=\${have#v}; v=\${v%%.*}
  case $v in ''|*[!0-9]*) n= ;; *) [ "$v" -ge ${MIN_POD_NODE_MAJOR} ] || n= ;; esac
fi
if [ -z "$n" ]; then
  [ -e "$1" ] || fail "the image has no Node.js >= ${MIN_POD_NODE_MAJOR} on its PATH (found: $have) and kubestep brought none (injectNode is off): install node >= ${MIN_POD_NODE_MAJOR} in the image or set @kubernetes injectNode to always"
  out=$("$1" --version 2>&1) || fail "the image has no Node.js >= ${MIN_POD_NODE_MAJOR} on its PATH (found: $have) and the Node.js kubestep brought from the node image cannot run in it: $out (not found for a file that exists means its dynamic loader, glibc's ld-linux, is missing). It needs glibc and libstdc++ (Debian, Ubuntu, RHEL based images such as CUDA or python:slim have them; Alpine/musl and distroless images do not): use a glibc-based image or install node >= ${MIN_POD_NODE_MAJOR} in it"
  n=$1
fi
exec "$n" --enable-source-maps --input-type=module -e "$2"
`.trim();

/** Name of the wrapper script (its `$0`), shown by `sh` in its own errors. */
const CHOOSER_NAME = "kubestep-bootstrap";

/**
 * The container command for a task pod: `node ...` when the image has Node.js, or, with `injectedNode` (the
 * path of the Node.js the runtime copied into the pod), the {@link NODE_CHOOSER} wrapper run by `sh`.
 */
export function podBootstrapCommand(opts: { injectedNode?: string } = {}): string[] {
  if (opts.injectedNode === undefined) return ["node", "--enable-source-maps", "--input-type=module", "-e", SCRIPT];
  return ["sh", "-c", NODE_CHOOSER, CHOOSER_NAME, opts.injectedNode, SCRIPT];
}
