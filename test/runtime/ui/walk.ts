/**
 * The click-through both browser suites (local and S3 datastores) make over a finished run of UiFlow
 * (test/fixtures/flows/ui.ts): flows → runs → run → step → task, asserting what each page shows.
 */
import { strict as assert } from "node:assert";
import type { Page } from "playwright-core";
import { screenshot } from "../../helpers/browser.js";

/** The page's globals the tests read (the test program has no DOM types). */
type PageGlobals = { document: { getElementById(id: string): { textContent: string | null } | null } };

export const STEPS = ["start", "fan", "slowBranch", "square", "gather", "merge", "end"];

/** Walks the UI from its home page to the retried square task; `tag` prefixes the screenshots. */
export async function walkFinishedRun(page: Page, baseUrl: string, runId: string, tag: string): Promise<void> {
  await page.goto(baseUrl);
  await page.waitForSelector('main a[href="/flows/UiFlow"]');
  await screenshot(page, `${tag}-1-flows`);
  await page.click('main a[href="/flows/UiFlow"]');

  // Runs: the run with its status, user and parameters.
  const runLink = `main a[href="/flows/UiFlow/runs/${runId}"]`;
  await page.waitForSelector(runLink);
  const row = page.locator(`tr[data-run="${runId}"]`);
  assert.equal(await row.locator(".badge").getAttribute("data-status"), "succeeded");
  assert.match(await row.innerText(), /n=4 pause=0/);
  await screenshot(page, `${tag}-2-runs`);
  await page.click(runLink);

  // Run: the DAG with every step succeeded, fan-out and join counts; the retry in the timeline.
  await page.waitForSelector('svg.dag .node[data-step="end"]');
  assert.equal(new URL(page.url()).pathname, `/flows/UiFlow/runs/${runId}`);
  const nodes = await page.$$eval("svg.dag .node", (els) =>
    els.map((e) => [e.getAttribute("data-step"), e.getAttribute("data-status")]),
  );
  assert.deepEqual(nodes.map((n) => n[0]).sort(), [...STEPS].sort());
  for (const [step, status] of nodes) assert.equal(status, "succeeded", `step ${step} is drawn succeeded`);
  const labels = await page.$$eval("svg.dag .edge-label text", (els) => els.map((e) => e.textContent));
  assert.deepEqual(labels.sort(), ["foreach ×4", "join ×4"]);
  assert.match((await page.locator('svg.dag .node[data-step="square"] .node-sub').textContent()) ?? "", /4\/4 tasks/);
  const retries = await page.$$eval(".gantt-row.retry", (els) =>
    els.map((e) => [
      e.getAttribute("data-task"),
      e.getAttribute("data-attempt"),
      e.getAttribute("data-status"),
      e.textContent,
    ]),
  );
  assert.equal(retries.length, 1, "one retried attempt in the timeline");
  const [retried, attempt, status, text] = retries[0]!;
  assert.match(retried!, /^square\/\d+$/);
  assert.deepEqual([attempt, status], ["1", "succeeded"]);
  assert.match(text!, /retry 1/);
  assert.equal(
    await page.locator(`.gantt-row[data-task="${retried}"][data-attempt="0"]`).getAttribute("data-status"),
    "failed",
  );
  assert.equal(await page.locator(".gantt-row").count(), 11, "10 tasks, one of them with two attempts");
  assert.match(await page.locator('tr[data-step-row="square"]').innerText(), /flaky on purpose/);
  await screenshot(page, `${tag}-3-run`);

  // Step: its four tasks, the retried one marked.
  await page.click('svg.dag .node[data-step="square"]');
  await page.waitForSelector("table.tasks tbody tr");
  assert.equal(new URL(page.url()).pathname, `/flows/UiFlow/runs/${runId}/steps/square`);
  assert.equal(await page.locator("table.tasks tbody tr").count(), 4);
  const taskId = retried!.split("/")[1]!;
  assert.match(
    await page.locator(`tr[data-task-row="${taskId}"]`).innerText(),
    /retried[\s\S]*retried after: step square: Error: flaky on purpose/,
  );
  await screenshot(page, `${tag}-4-step`);
  await page.click(`tr[data-task-row="${taskId}"] a`);

  // Task: attempts, logs of each attempt, artifact previews, the card.
  await page.waitForFunction(() =>
    /square: input 2, attempt 1/.test(
      (globalThis as unknown as PageGlobals).document.getElementById("log")?.textContent ?? "",
    ),
  );
  assert.equal(new URL(page.url()).pathname, `/flows/UiFlow/runs/${runId}/steps/square/tasks/${taskId}`);
  const attempts = await page.$$eval("table.attempts tbody tr", (els) =>
    els.map((e) => [e.querySelector(".badge")?.getAttribute("data-status"), e.querySelector(".err")?.textContent]),
  );
  assert.deepEqual(
    attempts.map((a) => a[0]),
    ["failed", "succeeded"],
  );
  assert.match(attempts[0]![1]!, /\[exception\] step square: Error: flaky on purpose: first attempt of item 2 fails/);
  assert.equal(await page.locator('[data-artifact="sq"] pre.preview').textContent(), "4");
  assert.equal(await page.locator('[data-artifact="sq"] .type').textContent(), "number");
  const card = page.frameLocator("iframe.card");
  assert.equal(await card.locator("h1").textContent(), "Square of 2");
  assert.match((await card.locator("p").first().textContent()) ?? "", /The result is 4 \(attempt 2\)/);
  assert.deepEqual(await card.locator("tbody td").allTextContents(), ["2", "4"]);
  assert.equal(
    await card.locator("img").evaluate((img) => (img as unknown as { naturalWidth: number }).naturalWidth),
    24,
  );
  assert.equal(await card.locator("svg.chart path").count(), 1);
  await screenshot(page, `${tag}-5-task`);
  await page.click('table.attempts tr[data-attempt="0"] button');
  await page.waitForFunction(() =>
    /attempt 0[\s\S]*Error: flaky on purpose/.test(
      (globalThis as unknown as PageGlobals).document.getElementById("log")?.textContent ?? "",
    ),
  );
  assert.equal(await page.locator("tr.selected-attempt").getAttribute("data-attempt"), "0");
  await screenshot(page, `${tag}-6-task-attempt-1-log`);
}
