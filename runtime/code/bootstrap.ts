/**
 * The command a Kubernetes pod runs: with nothing but `node` in the image and no SDK, it downloads the
 * code package from a pre-signed URL (`KUBESTEP_CODE_URL`), verifies its sha256 (`KUBESTEP_CODE_SHA`),
 * and runs the task in `KUBESTEP_TASK_SPEC`; the task saves artifacts to the datastore itself and the
 * container exits with the task's status (70 when the package cannot be fetched or does not verify; why
 * is then also written to the termination log, so the Job's pod status carries it).
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

/** The container command for a task pod. */
export function podBootstrapCommand(): string[] {
  return ["node", "--enable-source-maps", "--input-type=module", "-e", SCRIPT];
}
