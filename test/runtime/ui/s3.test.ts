/**
 * `kubestep ui` over the S3 datastore, in a real browser: the run is stored in a REAL S3 server (versitygw, which
 * verifies every SigV4 signature; started here on a free port) and the same click-through as over the local
 * datastore must show the same graph, retry, logs, previews and card. Also `kubestep card get --datastore s3`.
 */
import { strict as assert } from "node:assert";
import { join } from "node:path";
import type { Browser, Page } from "playwright-core";
import { openStorage } from "../../../runtime/datastore/open.js";
import { startUiServer, type UiServer } from "../../../runtime/ui/server.js";
import { buildUi } from "../../../runtime/ui/app/build.mjs";
import { FLOWS, kubestep, runIdOf, scratch } from "../../helpers/cli.js";
import { launchChromium, pageProblems } from "../../helpers/browser.js";
import { startS3Server, type RunningServer } from "../../tooling/servers/servers.js";
import { walkFinishedRun } from "./walk.js";

describe("kubestep ui in a browser (S3 datastore)", function () {
  this.timeout(240_000);
  let s3: RunningServer;
  let ui: UiServer;
  let browser: Browser;
  let page: Page;
  let runId: string;
  let cwd: string;
  const saved: Record<string, string | undefined> = {};

  before(async () => {
    await buildUi();
    s3 = await startS3Server();
    for (const [k, v] of Object.entries(s3.env)) {
      saved[k] = process.env[k];
      process.env[k] = v;
    }
    cwd = scratch();
    const r = await kubestep(["run", join(FLOWS, "ui.ts"), "--datastore", "s3"], { cwd, env: s3.env });
    assert.equal(r.code, 0, r.stderr);
    runId = runIdOf(r);
    ui = await startUiServer({
      storage: await openStorage("s3", s3.env.KUBESTEP_DATASTORE_SYSROOT_S3!),
      port: 0,
      pollMs: 500,
    });
    browser = await launchChromium();
    page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  });
  after(async () => {
    await browser?.close();
    await ui?.close();
    await s3?.stop();
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  });

  it("clicks flow → run → step → task over S3: DAG statuses, the retry, logs, an artifact preview and the card", async () => {
    const problems = pageProblems(page);
    await walkFinishedRun(page, ui.url, runId, "s3");
    assert.deepEqual(problems, []);
  });

  it("kubestep card get reads the card from S3", async () => {
    const detail = await ui.api.run("UiFlow", runId);
    const task = detail.steps.find((s) => s.name === "square")!.tasks.find((t) => t.attempts.length === 2)!;
    const r = await kubestep(["card", "get", `UiFlow/${runId}/square/${task.taskId}`, "--datastore", "s3"], {
      cwd,
      env: s3.env,
    });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /<h1>Square of 2<\/h1>/);
    assert.match(r.stdout, /<img src="data:image\/png;base64,iVBORw0KGgo/);
  });
});
