/**
 * `kubestep ui` in a real browser (Debian's Chromium through playwright-core) over the local datastore: a branchy
 * foreach flow with a failed-then-retried task, clicked through flow → run → step → task; previews of every
 * artifact type; deep links, keyboard navigation and the dark theme; a running run followed live without reload.
 * Screenshots of each page: test-output/ui/.
 */
import { strict as assert } from "node:assert";
import { existsSync } from "node:fs";
import { join } from "node:path";
import type { Browser, Page } from "playwright-core";
import { LocalStorage } from "../../../runtime/datastore/local.js";
import { startUiServer, type UiServer } from "../../../runtime/ui/server.js";
import { buildUi } from "../../../runtime/ui/app/build.mjs";
import { FLOWS, kubestep, runIdOf, scratch } from "../../helpers/cli.js";
import { launchChromium, pageProblems, screenshot } from "../../helpers/browser.js";
import { walkFinishedRun } from "./walk.js";

describe("kubestep ui in a browser (local datastore)", function () {
  this.timeout(180_000);
  let cwd: string;
  let runId: string;
  let ui: UiServer;
  let browser: Browser;
  let page: Page;
  let problems: string[];

  before(async () => {
    await buildUi();
    cwd = scratch();
    const r = await kubestep(["run", join(FLOWS, "ui.ts"), "--tag", "ui-test"], { cwd });
    assert.equal(r.code, 0, r.stderr);
    runId = runIdOf(r);
    ui = await startUiServer({ storage: new LocalStorage(join(cwd, ".kubestep")), port: 0, pollMs: 300 });
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
    await ui?.close();
  });
  beforeEach(async () => {
    page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    problems = pageProblems(page);
  });
  afterEach(async () => {
    await page.close();
    assert.deepEqual(problems, [], "no JavaScript error in the page");
  });

  it("clicks flow → run → step → task: DAG statuses, the retry in the timeline, logs, an artifact preview and the card", async () => {
    await walkFinishedRun(page, ui.url, runId, "local");
  });

  it("previews every artifact type of a task, with downloads", async () => {
    await page.goto(`${ui.url}/flows/UiFlow/runs/${runId}/steps/start/tasks/1`);
    await page.waitForSelector('[data-artifact="blob"]');
    const preview = async (name: string) => ({
      type: await page.locator(`[data-artifact="${name}"] .type`).textContent(),
      summary: await page.locator(`[data-artifact="${name}"] .artifact-head .muted`).textContent(),
      text: await page.locator(`[data-artifact="${name}"] pre.preview`).innerText(),
    });
    assert.deepEqual(await preview("lookup"), {
      type: "Map",
      summary: "Map(2)",
      text: "Map(2) { 'alpha' => 1, 'beta' => 2 }",
    });
    assert.deepEqual(await preview("seen"), { type: "Set", summary: "Set(3)", text: "Set(3) { 'x', 'y', 'z' }" });
    assert.deepEqual(await preview("when"), {
      type: "Date",
      summary: "2026-01-02T03:04:05.000Z",
      text: "2026-01-02T03:04:05.000Z",
    });
    assert.deepEqual(await preview("big"), {
      type: "bigint",
      summary: "12345678901234567890123n",
      text: "12345678901234567890123n",
    });
    assert.deepEqual(await preview("weights"), {
      type: "Float64Array",
      summary: "Float64Array(3) 24 B",
      text: "Float64Array(3) [ 0.5, 1.5, 2.5 ]",
    });
    const blob = await preview("blob");
    assert.deepEqual([blob.type, blob.summary], ["Buffer", "Buffer 300 B"]);
    assert.match(
      blob.text,
      /^00000000 {2}00 01 02 03 04 05 06 07 08 09 0a 0b 0c 0d 0e 0f {2}\|\.{16}\|\n00000010 {2}10 11/,
    );
    assert.match(blob.text, /… truncated$/);
    const long = await preview("long");
    assert.equal(long.summary, "string (15000 chars)");
    assert.match(long.text, /^(abc)+a?b?c?…\n… truncated$/);
    assert.equal((await preview("many")).summary, "Array(1000)");
    const download = await page.request.get(
      `${ui.url}${await page.locator('[data-artifact="blob"] a.download').getAttribute("href")}`,
    );
    assert.equal(download.status(), 200);
    assert.deepEqual([...(await download.body()).subarray(0, 4)], [0, 1, 2, 3]);
    assert.equal((await download.body()).length, 300);
    await screenshot(page, "local-7-artifacts");
  });

  it("opens deep links, moves with the keyboard, and reads in the dark theme", async () => {
    await page.emulateMedia({ colorScheme: "dark" });
    await page.goto(`${ui.url}/flows/UiFlow/runs/${runId}/steps/square/tasks/4`);
    await page.waitForSelector("table.attempts");
    assert.match(await page.locator("h1").innerText(), /task square\/4/);
    const bg = await page.evaluate<string>("getComputedStyle(document.body).backgroundColor");
    assert.equal(bg, "rgb(20, 23, 29)", "dark background from prefers-color-scheme");
    await screenshot(page, "local-8-task-dark");
    await page.keyboard.press("u");
    await page.waitForURL(`**/flows/UiFlow/runs/${runId}/steps/square`);
    await page.keyboard.press("u");
    await page.waitForURL(`**/flows/UiFlow/runs/${runId}`);
    await page.waitForSelector("svg.dag .node");
    await screenshot(page, "local-9-run-dark");
    await page.keyboard.press("u");
    await page.waitForURL(/\/flows\/UiFlow$/);
    await page.waitForSelector(`tr[data-run="${runId}"]`);
    await page.keyboard.press("j");
    assert.equal(await page.locator("tr.selected").getAttribute("data-run"), runId);
    await page.keyboard.press("Enter");
    await page.waitForURL(`**/flows/UiFlow/runs/${runId}`);
    await page.goBack();
    await page.waitForSelector(`tr[data-run="${runId}"]`);
    await page.keyboard.press("/");
    assert.equal(await page.evaluate<string | undefined>("document.activeElement?.id"), "filter");
    await page.keyboard.type("no-such-run");
    await page.keyboard.press("Enter");
    await page.waitForSelector("text=no runs match");
    assert.match(page.url(), /\?q=no-such-run$/);
    await page.keyboard.press("Escape");
    await page.keyboard.press("t");
    assert.equal(
      await page.evaluate<string>("getComputedStyle(document.body).backgroundColor"),
      "rgb(255, 255, 255)",
      "t switches to the light theme",
    );
    const missing = await page.goto(`${ui.url}/flows/UiFlow/runs/no-such-run`);
    assert.equal(missing?.status(), 200);
    await page.waitForSelector(".error");
    assert.match(await page.locator(".error").innerText(), /run UiFlow\/no-such-run does not exist/);
    problems.splice(0, problems.length, ...problems.filter((p) => !/404/.test(p)));
  });

  it("follows a running run live, without reloading the page", async () => {
    const live = kubestep(["run", join(FLOWS, "ui.ts"), "--pause", "6000", "--run-id", "live-run"], { cwd });
    const runJson = join(cwd, ".kubestep", "UiFlow", "runs", "live-run", "run.json");
    for (let i = 0; i < 200 && !existsSync(runJson); i++) await new Promise((r) => setTimeout(r, 50));
    await page.goto(`${ui.url}/flows/UiFlow/runs/live-run`);
    await page.waitForSelector('svg.dag .node[data-step="slowBranch"][data-status="running"]', { timeout: 30_000 });
    assert.equal(await page.locator("h1 .badge").getAttribute("data-status"), "running");
    await page.evaluate("window.marker = 42");
    await screenshot(page, "local-10-live-running");
    // Every step of the flow is in the graph from the start: steps no task reached yet are "not started".
    await page.waitForSelector('svg.dag .node[data-step="end"][data-status="pending"]');
    assert.match((await page.locator('svg.dag .node[data-step="end"]').textContent()) ?? "", /not started/);
    // The running task's log is shown while it runs (live chunks), before the task finishes.
    const slowTask = await (async () => {
      for (let i = 0; i < 300; i++) {
        const t = (await ui.api.run("UiFlow", "live-run")).steps.find((s) => s.name === "slowBranch")?.tasks[0];
        if (t) return t;
        await new Promise((r) => setTimeout(r, 100));
      }
      throw new Error("slowBranch never started");
    })();
    const taskPage = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const taskProblems = pageProblems(taskPage);
    await taskPage.goto(`${ui.url}/flows/UiFlow/runs/live-run/steps/slowBranch/tasks/${slowTask.taskId}`);
    await taskPage.waitForSelector('#log[data-live="true"]', { timeout: 20_000 });
    assert.match(await taskPage.locator("#log").innerText(), /slowBranch: sleeping 6000 ms/);
    assert.equal(
      await taskPage.locator("h1 .badge").getAttribute("data-status"),
      "running",
      "shown before the task finished",
    );
    assert.match(await taskPage.locator(".log-head").innerText(), /live$/);
    await screenshot(taskPage, "local-10b-live-log");
    // Once the attempt ends, the page switches to the archived log by itself.
    await taskPage.waitForSelector('#log[data-live="false"]', { timeout: 30_000 });
    assert.match(await taskPage.locator("#log").innerText(), /slowBranch: sleeping 6000 ms/);
    await taskPage.waitForSelector('h1 .badge[data-status="succeeded"]', { timeout: 10_000 });
    await taskPage.close();
    assert.deepEqual(taskProblems, [], "no JavaScript error in the task page");
    await page.waitForSelector('svg.dag .node[data-step="end"][data-status="succeeded"]', { timeout: 60_000 });
    await page.waitForSelector('h1 .badge[data-status="succeeded"]', { timeout: 10_000 });
    assert.equal(
      await page.evaluate<number | undefined>("window.marker"),
      42,
      "the page was updated in place, not reloaded",
    );
    assert.equal(await page.locator(".gantt-row").count(), 11);
    await screenshot(page, "local-11-live-done");
    const r = await live;
    assert.equal(r.code, 0, r.stderr);
  });
});
