/**
 * The command a Kubernetes pod runs: with nothing but `node` in the image and no SDK, it downloads the
 * code package from a pre-signed URL (`KUBESTEP_CODE_URL`), verifies its sha256 (`KUBESTEP_CODE_SHA`),
 * and runs the task in `KUBESTEP_TASK_SPEC`. When the flow has external packages (`KUBESTEP_DEPS`, a
 * {@link PodDependencyLayer}), it first checks the pod's platform against the native addons', downloads the
 * dependency layer (`KUBESTEP_DEPS_URL`), verifies its sha256 while streaming and extracts its `node_modules`
 * beside the code package; the task saves artifacts to the datastore itself and the container exits with the
 * task's status (70 when the package or layer cannot be fetched or does not verify; why is then also written to
 * the termination log, so the Job's pod status carries it).
 *
 * For images without Node.js (CUDA, Python, ...) the runtime copies its own `node` into the pod (see
 * `kubernetes/node-injection.ts`) and the command becomes a small POSIX `sh` wrapper ({@link NODE_CHOOSER}):
 * the image's own `node` when it is on the PATH and at least {@link MIN_POD_NODE_MAJOR}, else the copy. When
 * neither can run it exits 70 and says why, on stderr and in the container's termination message.
 */

/** What a pod learns of its flow's dependency layer (`KUBESTEP_DEPS`, JSON). */
export interface PodDependencyLayer {
  /** sha256 of the layer's tar.gz. */
  sha: string;
  /** The external packages it holds (not their dependencies). */
  externals: string[];
  /** The native addons among them. */
  native: string[];
  /** With native addons: the platform they were installed for (`linux-x64-glibc-abi115`). */
  platform?: string;
}

/** Exit code of the bootstrap when the code package cannot be downloaded or verified. */
export const BOOTSTRAP_FAILURE_EXIT = 70;

/** Where pods write the code package (and, under `deps-<sha>/`, a dependency layer beside it). */
export const POD_CODE_DIR = "/tmp/kubestep-code";

// The helpers of the scripts below (no SDK: only node's own modules), and `env`, `fail`, `download`, `untar`.
const PRELUDE = `
const { createHash } = await import("node:crypto");
const fs = await import("node:fs");
const { dirname } = await import("node:path");
const { Readable, Transform } = await import("node:stream");
const { pipeline } = await import("node:stream/promises");
const { createGunzip } = await import("node:zlib");
const { pathToFileURL } = await import("node:url");
const env = process.env, url = process.env.KUBESTEP_CODE_URL, sha = process.env.KUBESTEP_CODE_SHA;
const fail = (m) => {
  process.stderr.write("kubestep bootstrap: " + m + "\\n");
  // The kubelet reports the termination log as the container's termination message (explain.ts shows it).
  try { fs.writeFileSync("/dev/termination-log", m.slice(0, 2000)); } catch {}
  process.exit(${BOOTSTRAP_FAILURE_EXIT});
};
// Streamed to disk while hashed: a package or layer is never held whole in memory. Returns the sha256.
const download = async (from, to, what) => {
  for (let i = 1; ; i++) {
    try {
      const r = await fetch(from);
      if (!r.ok) throw new Error("HTTP " + r.status + " " + (await r.text()).slice(0, 300));
      const hash = createHash("sha256");
      await pipeline(Readable.fromWeb(r.body), new Transform({ transform(c, _e, cb) { hash.update(c); cb(null, c); } }), fs.createWriteStream(to));
      return hash.digest("hex");
    } catch (e) {
      fs.rmSync(to, { force: true });
      if (i >= 5) fail("cannot download the " + what + ": " + e.message);
      await new Promise((s) => setTimeout(s, 500 * i));
    }
  }
};
// Extracts a verified tar.gz (ustar files and directories, pax paths) into dest, streamed.
const untar = async (tgz, dest) => {
  let buf = Buffer.alloc(0), left = 0, skip = 0, fd = -1, pax = null, paxPath = null;
  const field = (h, o, n) => { const b = h.subarray(o, o + n), z = b.indexOf(0); return b.subarray(0, z < 0 ? n : z).toString("utf8"); };
  const target = (name) => {
    if (!name || name.startsWith("/") || name.split("/").includes("..")) throw new Error("unsafe path " + JSON.stringify(name));
    return dest + "/" + name;
  };
  for await (const chunk of fs.createReadStream(tgz).pipe(createGunzip())) {
    buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
    for (;;) {
      if (left) {
        const n = Math.min(left, buf.length);
        if (!n) break;
        if (fd >= 0) fs.writeSync(fd, buf.subarray(0, n)); else if (pax) pax.push(buf.subarray(0, n));
        buf = buf.subarray(n); left -= n;
        if (!left && fd >= 0) { fs.closeSync(fd); fd = -1; }
        if (!left && pax) { paxPath = /(?:^|\\n)\\d+ path=([^\\n]*)/.exec(Buffer.concat(pax).toString("utf8"))?.[1] ?? null; pax = null; }
        continue;
      }
      if (skip) { const n = Math.min(skip, buf.length); if (!n) break; buf = buf.subarray(n); skip -= n; continue; }
      if (buf.length < 512) break;
      const h = buf.subarray(0, 512); buf = buf.subarray(512);
      if (h.every((b) => b === 0)) continue;
      const size = parseInt(field(h, 124, 12).trim() || "0", 8), type = String.fromCharCode(h[156] || 48);
      const prefix = field(h, 345, 155), name = paxPath ?? (prefix ? prefix + "/" : "") + field(h, 0, 100);
      left = size; skip = (512 - (size % 512)) % 512;
      if (type === "x") { pax = size ? [] : null; continue; }
      paxPath = null;
      if (type === "5") fs.mkdirSync(target(name), { recursive: true });
      else if (type === "0") {
        const p = target(name);
        fs.mkdirSync(dirname(p), { recursive: true });
        fd = fs.openSync(p, "w", parseInt(field(h, 100, 8), 8) & 0o777);
        if (!size) { fs.closeSync(fd); fd = -1; }
      }
    }
  }
  if (fd >= 0) fs.closeSync(fd);
};
`;

// The dependency layer (`KUBESTEP_DEPS`, `KUBESTEP_DEPS_URL`): checked, downloaded, verified and extracted into
// `dir/deps-<sha>/node_modules`; `dir` then names `dir/deps-<sha>`. Shared by task pods and {@link LAYER_INSTALL_SCRIPT}.
const DEPS = `
// The dependency layer (external packages, native addons): verified, then extracted into dir/node_modules, beside
// the code package, where its imports resolve.
if (env.KUBESTEP_DEPS) {
  const deps = JSON.parse(env.KUBESTEP_DEPS), what = "dependency layer " + deps.sha + " (" + deps.externals.join(", ") + ")";
  if (deps.platform) {
    const libc = process.platform === "linux" ? (process.report.getReport().header.glibcVersionRuntime ? "glibc" : "musl") : "";
    const here = process.platform + "-" + process.arch + (libc ? "-" + libc : "") + "-abi" + process.versions.modules;
    if (here !== deps.platform)
      fail("the " + what + " holds native addons (" + deps.native.join(", ") + ") installed for " + deps.platform +
        " on the machine that submitted the run, but this pod is " + here + " (platform-arch-libc-abi<Node.js module version>): " +
        "submit the run from a machine or container of the pods' platform with the pods' Node.js major version " +
        "(npm install there, so node_modules holds the binaries for " + here + "), or run the step in an image of " + deps.platform);
  }
  dir += "/deps-" + deps.sha;
  if (!fs.existsSync(dir)) {
    fs.mkdirSync(dirname(dir), { recursive: true });
    const tgz = dir + ".tgz.part", part = dir + ".part";
    const got = await download(env.KUBESTEP_DEPS_URL, tgz, what);
    if (got !== deps.sha) { fs.rmSync(tgz, { force: true }); fail(what + " hash mismatch: expected " + deps.sha + ", got " + got + "; the object in the datastore was changed or damaged: delete it and run again to upload it anew"); }
    fs.rmSync(part, { recursive: true, force: true });
    try { await untar(tgz, part); } catch (e) { fail("cannot extract the " + what + ": " + e.message); }
    fs.rmSync(tgz, { force: true });
    fs.renameSync(part, dir);
  }
}
`;

const SCRIPT = `${PRELUDE}let dir = ${JSON.stringify(POD_CODE_DIR)};${DEPS}fs.mkdirSync(dir, { recursive: true });
const file = dir + "/" + sha + ".mjs", tmp = file + ".part";
const got = await download(url, tmp, "code package " + sha.slice(0, 12));
if (got !== sha) { fs.rmSync(tmp, { force: true }); fail("code package hash mismatch: expected " + sha + ", got " + got); }
fs.renameSync(tmp, file);
const pkg = await import(pathToFileURL(file).href);
await pkg.runTaskProcess();
`.trim();

/**
 * The layer part of the pod bootstrap alone, for pods whose code package comes from elsewhere (a deployed
 * flow's orchestrator pod, an Argo task pod: ConfigMaps): with `KUBESTEP_DEPS`, `KUBESTEP_DEPS_URL` and
 * `KUBESTEP_DEPS_DIR` (the base directory) set, it installs the layer into `<base>/deps-<sha>/node_modules`
 * exactly as a task pod does (platform check, verified streaming download, extraction; exit 70 explained when
 * any fails). Run by runtime/code/layer-install.ts.
 */
export const LAYER_INSTALL_SCRIPT = `${PRELUDE}let dir = env.KUBESTEP_DEPS_DIR;${DEPS}`.trim();

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
