/**
 * The command a Kubernetes pod runs: with nothing but `node` in the image and no SDK, it downloads the
 * code package from a pre-signed URL (`KUBESTEP_CODE_URL`), verifies its sha256 (`KUBESTEP_CODE_SHA`),
 * and runs the task in `KUBESTEP_TASK_SPEC`; the task saves artifacts to the datastore itself and the
 * container exits with the task's status (70 when the package cannot be fetched or does not verify).
 */

/** Exit code of the bootstrap when the code package cannot be downloaded or verified. */
export const BOOTSTRAP_FAILURE_EXIT = 70;

const SCRIPT = `
const { createHash } = await import("node:crypto");
const { writeFileSync, mkdirSync } = await import("node:fs");
const { pathToFileURL } = await import("node:url");
const url = process.env.KUBESTEP_CODE_URL, sha = process.env.KUBESTEP_CODE_SHA;
const fail = (m) => { process.stderr.write("kubestep bootstrap: " + m + "\\n"); process.exit(${BOOTSTRAP_FAILURE_EXIT}); };
let body;
for (let i = 1; ; i++) {
  try {
    const r = await fetch(url);
    if (!r.ok) throw new Error("HTTP " + r.status + " " + (await r.text()).slice(0, 300));
    body = Buffer.from(await r.arrayBuffer());
    break;
  } catch (e) {
    if (i >= 5) fail("cannot download the code package " + sha.slice(0, 12) + ": " + e.message);
    await new Promise((s) => setTimeout(s, 500 * i));
  }
}
const got = createHash("sha256").update(body).digest("hex");
if (got !== sha) fail("code package hash mismatch: expected " + sha + ", got " + got);
const dir = "/tmp/kubestep-code"; mkdirSync(dir, { recursive: true });
const file = dir + "/" + sha + ".mjs"; writeFileSync(file, body);
const pkg = await import(pathToFileURL(file).href);
await pkg.runTaskProcess();
`.trim();

/** The container command for a task pod. */
export function podBootstrapCommand(): string[] {
  return ["node", "--enable-source-maps", "--input-type=module", "-e", SCRIPT];
}
