// Benchmark of `kubestep ui` (not a test): a local datastore with 10,000 runs of one flow and a run with a
// 1,000-way foreach (written directly through the built runtime's FlowDatastore, as the orchestrator writes them),
// then times, in Debian's Chromium: the run list (first open, cold index; then a filtered page) and the run page
// of the 1,000-way foreach (graph, timeline of 1,000+ attempts). Prints the times; needs `npm run build`.
// Usage: npm run bench:ui -- [--runs 10000] [--width 1000]
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
// The tests' one Chromium launch (Debian's chromium, the project's flags): run with `node --import tsx`.
import { launchChromium } from "../test/helpers/browser.ts";

const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};
const RUNS = arg("runs", 10_000);
const WIDTH = arg("width", 1000);
const { LocalStorage } = await import("../dist/runtime/datastore/local.js");
const { FlowDatastore } = await import("../dist/runtime/datastore/flowstore.js");
const { startUiServer } = await import("../dist/runtime/ui/server.js");

const root = mkdtempSync(join(tmpdir(), "kubestep-bench-ui-"));
const storage = new LocalStorage(root);
const t0 = Date.UTC(2026, 0, 1);
const iso = (ms) => new Date(t0 + ms).toISOString();

// 10,000 runs of ManyRuns.
const many = new FlowDatastore(storage, "ManyRuns");
let t = Date.now();
for (let i = 0; i < RUNS; i += 500)
  await Promise.all(
    Array.from({ length: Math.min(500, RUNS - i) }, (_, j) => {
      const n = i + j;
      return many.writeRun({
        flowName: "ManyRuns",
        runId: `r${String(n).padStart(6, "0")}`,
        status: n % 17 === 0 ? "failed" : "succeeded",
        params: { n },
        tags: n % 10 === 0 ? ["nightly"] : [],
        user: n % 3 ? "ann" : "bob",
        codeHash: "c",
        createdAt: iso(n * 60_000),
        finishedAt: iso(n * 60_000 + 30_000),
      });
    }),
  );
console.log(`wrote ${RUNS} runs in ${Date.now() - t} ms`);

// One run with a WIDTH-way foreach: start -> body (foreach) -> join -> end.
const wide = new FlowDatastore(storage, "WideFlow");
t = Date.now();
const task = (step, taskId, start, end, extra = {}) => ({
  step,
  taskId: String(taskId),
  status: "succeeded",
  parents: [],
  foreachStack: [],
  startedAt: iso(start),
  finishedAt: iso(end),
  attempts: [{ attempt: 0, status: "succeeded", startedAt: iso(start), finishedAt: iso(end), executor: "local pid 1" }],
  artifacts: {},
  ...extra,
});
await wide.writeRun({
  flowName: "WideFlow",
  runId: "wide",
  status: "succeeded",
  params: {},
  tags: [],
  user: "ann",
  codeHash: "c",
  createdAt: iso(0),
  finishedAt: iso(200_000),
});
await wide.writeTask(
  "wide",
  task("start", 1, 0, 1000, { transition: { targets: ["body"], foreach: "items" }, foreachNum: WIDTH }),
);
for (let i = 0; i < WIDTH; i += 200)
  await Promise.all(
    Array.from({ length: Math.min(200, WIDTH - i) }, (_, j) => {
      const k = i + j;
      return wide.writeTask(
        "wide",
        task("body", k + 2, 1000 + k * 100, 5000 + k * 150, {
          parents: ["start/1"],
          foreachStack: [{ step: "start", index: k, num: WIDTH }],
          transition: { targets: ["join"] },
        }),
      );
    }),
  );
await wide.writeTask(
  "wide",
  task("join", WIDTH + 2, 160_000, 161_000, {
    parents: Array.from({ length: WIDTH }, (_, k) => `body/${k + 2}`),
    transition: { targets: ["end"] },
  }),
);
await wide.writeTask("wide", task("end", WIDTH + 3, 161_000, 162_000, { parents: [`join/${WIDTH + 2}`] }));
console.log(`wrote a ${WIDTH}-way foreach run in ${Date.now() - t} ms`);

const ui = await startUiServer({ storage, port: 0 });
const browser = await launchChromium();
const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
page.on("pageerror", (e) => console.error(`page error: ${e.message}`));
page.on("console", (m) => m.type() === "error" && console.error(`console error: ${m.text()}`));
const timed = async (label, url, selector) => {
  const start = Date.now();
  await page.goto(url);
  await page.waitForSelector(selector, { timeout: 120_000 });
  const ms = Date.now() - start;
  console.log(`${label.padEnd(58)} ${String(ms).padStart(6)} ms`);
  return ms;
};
try {
  await timed(`run list of ${RUNS} runs, first open (cold index)`, `${ui.url}/flows/ManyRuns`, "tr[data-run]");
  await timed(`run list of ${RUNS} runs, again (warm index)`, `${ui.url}/flows/ManyRuns`, "tr[data-run]");
  await timed(
    `run list, filtered (user=bob tag=nightly), page 3`,
    `${ui.url}/flows/ManyRuns?user=bob&tag=nightly&offset=100`,
    "tr[data-run]",
  );
  await timed(
    `run page of a ${WIDTH}-way foreach (graph + timeline), first`,
    `${ui.url}/flows/WideFlow/runs/wide`,
    `.gantt-row >> nth=${WIDTH + 2}`,
  );
  await timed(
    `run page of a ${WIDTH}-way foreach, again (finished tasks cached)`,
    `${ui.url}/flows/WideFlow/runs/wide`,
    `.gantt-row >> nth=${WIDTH + 2}`,
  );
  await timed(
    `a task page in the foreach`,
    `${ui.url}/flows/WideFlow/runs/wide/steps/body/tasks/500`,
    "table.attempts",
  );
  let start = Date.now();
  const detail = await (await fetch(`${ui.url}/api/flows/WideFlow/runs/wide`)).json();
  console.log(
    `${"API: the foreach run's JSON (" + (JSON.stringify(detail).length / 1e6).toFixed(1) + " MB)"}`.padEnd(58),
    String(Date.now() - start).padStart(6),
    "ms",
  );
  start = Date.now();
  await (await fetch(`${ui.url}/api/flows/ManyRuns/runs?status=failed&offset=100&limit=50`)).json();
  console.log(`${"API: a filtered page of the run list"}`.padEnd(58), String(Date.now() - start).padStart(6), "ms");
} finally {
  await browser.close();
  await ui.close();
  rmSync(root, { recursive: true, force: true });
}
