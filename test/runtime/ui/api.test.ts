/**
 * The `kubestep ui` API over a local datastore written directly through the FlowDatastore: run list ordering,
 * filters, paging and facets, an index that re-reads only new and running runs (so 10,000 runs stay fast), a run's
 * steps, attempts and graph (foreach counts, joins, @parallel gangs, pending steps), task previews, logs, cards,
 * and the HTTP server (routes, downloads, errors, the loopback Host check and the access token).
 */
import { strict as assert } from "node:assert";
import { mkdtempSync } from "node:fs";
import { get as httpGet } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { LocalStorage } from "../../../runtime/datastore/local.js";
import { FlowDatastore, type RunMeta, type StaticGraph, type TaskMeta } from "../../../runtime/datastore/flowstore.js";
import { ArtifactStore } from "../../../runtime/artifacts/store.js";
import { UiApi, UiRequestError, buildGraph } from "../../../runtime/ui/api.js";
import { startUiServer, type UiServer } from "../../../runtime/ui/server.js";
import { buildUi } from "../../../runtime/ui/app/build.mjs";
import type { Storage } from "../../../runtime/datastore/storage.js";

const FLOW = "ApiFlow";

function run(id: string, over: Partial<RunMeta> = {}): RunMeta {
  return {
    flowName: FLOW,
    runId: id,
    status: "succeeded",
    params: { n: 1 },
    tags: [],
    user: "ann",
    codeHash: "c",
    createdAt: new Date(Date.UTC(2026, 0, 1, 0, 0, Number(id.replace(/\D/g, "")) || 0)).toISOString(),
    finishedAt: new Date(Date.UTC(2026, 0, 1, 1)).toISOString(),
    ...over,
  };
}

function task(step: string, taskId: string, over: Partial<TaskMeta> = {}): TaskMeta {
  return {
    step,
    taskId,
    status: "succeeded",
    parents: [],
    foreachStack: [],
    startedAt: "2026-01-01T00:00:01.000Z",
    finishedAt: "2026-01-01T00:00:02.000Z",
    attempts: [
      {
        attempt: 0,
        status: "succeeded",
        startedAt: "2026-01-01T00:00:01.000Z",
        finishedAt: "2026-01-01T00:00:02.000Z",
        executor: "local pid 1",
      },
    ],
    artifacts: {},
    ...over,
  };
}

/** A Storage that counts get() calls of run.json objects. */
function counting(storage: Storage): Storage & { runReads: number } {
  const wrapped = Object.create(storage) as Storage & { runReads: number };
  wrapped.runReads = 0;
  wrapped.get = async (key: string) => {
    if (key.endsWith("/run.json")) wrapped.runReads++;
    return storage.get(key);
  };
  return wrapped;
}

describe("kubestep ui API", function () {
  this.timeout(120_000);
  let root: string;
  let ds: FlowDatastore;

  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), "kubestep-ui-api-"));
    ds = new FlowDatastore(new LocalStorage(root), FLOW);
  });

  it("lists flows with their run counts", async () => {
    await ds.writeRun(run("r1"));
    await new FlowDatastore(new LocalStorage(root), "Other").writeRun({ ...run("r2"), flowName: "Other" });
    assert.deepEqual(await new UiApi(new LocalStorage(root)).flows(), [
      { name: "ApiFlow", runCount: 1 },
      { name: "Other", runCount: 1 },
    ]);
  });

  it("pages runs newest first and filters them by status, user, tag and text, with facets", async () => {
    for (let i = 1; i <= 12; i++)
      await ds.writeRun(
        run(`r${String(i).padStart(2, "0")}`, {
          status: i === 12 ? "running" : i % 3 === 0 ? "failed" : "succeeded",
          user: i % 2 ? "ann" : "bob",
          tags: i % 4 === 0 ? ["nightly"] : [],
          params: { n: i },
        }),
      );
    const api = new UiApi(new LocalStorage(root));
    const first = await api.runs(FLOW, { limit: 5 });
    assert.equal(first.total, 12);
    assert.deepEqual(
      first.runs.map((r) => r.runId),
      ["r12", "r11", "r10", "r09", "r08"],
    );
    assert.deepEqual(
      (await api.runs(FLOW, { limit: 5, offset: 10 })).runs.map((r) => r.runId),
      ["r02", "r01"],
    );
    assert.deepEqual(first.facets, {
      users: ["ann", "bob"],
      tags: ["nightly"],
      statuses: { running: 1, succeeded: 8, failed: 3 },
    });
    assert.deepEqual(
      (await api.runs(FLOW, { status: "failed" })).runs.map((r) => r.runId),
      ["r09", "r06", "r03"],
    );
    assert.deepEqual(
      (await api.runs(FLOW, { user: "bob", tag: "nightly" })).runs.map((r) => r.runId),
      ["r12", "r08", "r04"],
    );
    assert.deepEqual(
      (await api.runs(FLOW, { q: '"n":7' })).runs.map((r) => r.runId),
      ["r07"],
    );
    const running = first.runs[0]!;
    assert.equal(running.status, "running");
    assert.equal(
      first.runs[1]!.durationMs,
      Date.parse(first.runs[1]!.finishedAt!) - Date.parse(first.runs[1]!.createdAt),
    );
    await assert.rejects(
      api.runs(FLOW, { status: "done" as "failed" }),
      /status "done" is not a run status; use one of running, succeeded, failed/,
    );
    await assert.rejects(api.runs(FLOW, { limit: 501 }), /limit 501 is invalid; use a whole number from 1 to 500/);
  });

  it("keeps 10,000 runs in an index that re-reads only new and running runs", async () => {
    const storage = counting(new LocalStorage(root));
    const w = new FlowDatastore(storage, FLOW);
    const ids = Array.from({ length: 10_000 }, (_, i) => `r${String(i).padStart(5, "0")}`);
    for (let i = 0; i < ids.length; i += 500)
      await Promise.all(
        ids.slice(i, i + 500).map((id, j) =>
          w.writeRun(
            run(id, {
              createdAt: new Date(Date.UTC(2026, 0, 1) + (i + j) * 1000).toISOString(),
              status: id === "r09999" ? "running" : "succeeded",
            }),
          ),
        ),
      );
    const api = new UiApi(storage, { indexTtlMs: 0 });
    let t = Date.now();
    const page = await api.runs(FLOW, { limit: 50 });
    const firstMs = Date.now() - t;
    assert.equal(page.total, 10_000);
    assert.equal(page.runs[0]!.runId, "r09999");
    assert.equal(storage.runReads, 10_000);
    storage.runReads = 0;
    t = Date.now();
    const later = await api.runs(FLOW, { offset: 5000, limit: 50, user: "ann" });
    const laterMs = Date.now() - t;
    assert.equal(later.runs[0]!.runId, "r04999");
    assert.equal(storage.runReads, 1, "only the running run is read again");
    await w.writeRun(run("r10000", { createdAt: new Date(Date.UTC(2027, 0, 1)).toISOString() }));
    storage.runReads = 0;
    assert.equal((await api.runs(FLOW, { limit: 1 })).runs[0]!.runId, "r10000");
    assert.equal(storage.runReads, 2, "the new run and the running one");
    process.stdout.write(`      (10,000 runs: first page ${firstMs} ms, a later filtered page ${laterMs} ms)\n`);
  });

  it("gives a run's steps, attempts (a running one included) and graph with foreach counts and joins", async () => {
    await ds.writeRun(run("r1", { status: "running", finishedAt: undefined }));
    await ds.writeTask("r1", task("start", "1", { transition: { targets: ["a", "b"] } }));
    await ds.writeTask(
      "r1",
      task("a", "2", { parents: ["start/1"], transition: { targets: ["body"], foreach: "items" }, foreachNum: 3 }),
    );
    await ds.writeTask("r1", task("b", "3", { parents: ["start/1"], transition: { targets: ["merge"] } }));
    for (const [i, id] of ["4", "5", "6"].entries())
      await ds.writeTask(
        "r1",
        task("body", id, {
          parents: ["a/2"],
          foreachStack: [{ step: "a", index: i, num: 3 }],
          transition: { targets: ["gather"] },
          ...(id === "5"
            ? {
                status: "running",
                finishedAt: undefined,
                attempts: [
                  {
                    attempt: 0,
                    status: "failed",
                    startedAt: "2026-01-01T00:00:01.000Z",
                    finishedAt: "2026-01-01T00:00:03.000Z",
                    reason: "exception",
                    error: "step body: Error: boom",
                    executor: "local pid 7",
                  },
                ],
              }
            : {}),
        }),
      );
    await ds.storage.put(
      ds.cardKey("r1", "body", "4"),
      JSON.stringify({ version: 1, pathspec: "x", attempt: 0, createdAt: "", components: [] }),
    );
    const d = await new UiApi(ds.storage).run(FLOW, "r1");
    assert.deepEqual(
      d.steps.map((s) => [s.name, s.status, s.tasks.length]),
      [
        ["start", "succeeded", 1],
        ["a", "succeeded", 1],
        ["b", "succeeded", 1],
        ["body", "running", 3],
      ],
    );
    const t5 = d.steps[3]!.tasks.find((t) => t.taskId === "5")!;
    assert.deepEqual(
      t5.attempts.map((a) => [a.attempt, a.status, a.startedAt]),
      [
        [0, "failed", "2026-01-01T00:00:01.000Z"],
        [1, "running", "2026-01-01T00:00:03.000Z"],
      ],
    );
    assert.equal(t5.error, "step body: Error: boom");
    assert.equal(t5.where, "local pid 7");
    assert.equal(t5.foreachIndex, 1);
    assert.deepEqual(
      d.steps[3]!.tasks.map((t) => t.hasCard),
      [true, false, false],
    );
    const node = (s: string) => d.graph.nodes.find((n) => n.step === s)!;
    assert.deepEqual(node("a").foreach, { artifact: "items", num: 3 });
    assert.deepEqual([node("body").status, node("body").counts], ["running", { running: 1, succeeded: 2, failed: 0 }]);
    assert.equal(node("gather").status, "pending");
    assert.equal(node("merge").status, "pending");
    const edge = (f: string, t: string) => d.graph.edges.find((e) => e.from === f && e.to === t);
    assert.deepEqual(edge("a", "body"), { from: "a", to: "body", kind: "foreach", count: 3 });
    assert.deepEqual(edge("body", "gather"), { from: "body", to: "gather", kind: "normal" });
    assert.deepEqual(edge("b", "merge"), { from: "b", to: "merge", kind: "normal" });
    await assert.rejects(
      new UiApi(ds.storage).run(FLOW, "nope"),
      (e: unknown) =>
        e instanceof UiRequestError && e.status === 404 && /run ApiFlow\/nope does not exist/.test(e.message),
    );
    await assert.rejects(new UiApi(ds.storage).run(FLOW, ".."), /run "\.\." is not valid/);
  });

  it("marks joins and @parallel gangs in the graph", () => {
    const byStep = new Map<string, TaskMeta[]>([
      ["start", [task("start", "1", { transition: { targets: ["train"], numParallel: 3 } })]],
      [
        "train",
        ["2", "3", "4"].map((id) => task("train", id, { parents: ["start/1"], transition: { targets: ["join"] } })),
      ],
      ["join", [task("join", "5", { parents: ["train/2", "train/3", "train/4"], transition: { targets: ["end"] } })]],
    ]);
    const g = buildGraph(byStep);
    assert.equal(g.nodes.find((n) => n.step === "start")!.parallel, 3);
    assert.equal(g.nodes.find((n) => n.step === "train")!.gangSize, 3);
    assert.equal(g.nodes.find((n) => n.step === "join")!.isJoin, true);
    assert.deepEqual(
      g.edges.find((e) => e.to === "train"),
      { from: "start", to: "train", kind: "parallel", count: 3 },
    );
    assert.deepEqual(
      g.edges.find((e) => e.to === "join"),
      { from: "train", to: "join", kind: "join", count: 3 },
    );
    assert.deepEqual(
      g.edges.find((e) => e.to === "end"),
      { from: "join", to: "end", kind: "normal" },
    );
  });

  it("shows every step of the flow's stored graph: steps not reached (the run failed) are pending", async () => {
    const graph: StaticGraph = {
      steps: [
        { name: "start", type: "foreach", out: ["body"], isJoin: false, foreach: "items" },
        { name: "body", type: "linear", out: ["gather"], isJoin: false },
        { name: "gather", type: "join", out: ["train"], isJoin: true },
        { name: "train", type: "parallel", out: ["merge"], isJoin: false, numParallel: 2 },
        { name: "merge", type: "join", out: ["end"], isJoin: true },
        { name: "end", type: "end", out: [], isJoin: false },
      ],
    };
    await ds.writeRun(run("r1", { status: "failed", graph }));
    await ds.writeTask(
      "r1",
      task("start", "1", { transition: { targets: ["body"], foreach: "items" }, foreachNum: 2 }),
    );
    for (const [id, status] of [
      ["2", "succeeded"],
      ["3", "failed"],
    ] as const)
      await ds.writeTask(
        "r1",
        task("body", id, {
          status,
          parents: ["start/1"],
          foreachStack: [{ step: "start", index: Number(id) - 2, num: 2 }],
          ...(status === "succeeded" ? { transition: { targets: ["gather"] } } : {}),
        }),
      );
    const d = await new UiApi(ds.storage).run(FLOW, "r1");
    const node = (s: string) => d.graph.nodes.find((n) => n.step === s)!;
    assert.deepEqual(
      d.graph.nodes.map((n) => [n.step, n.status]),
      [
        ["start", "succeeded"],
        ["body", "failed"],
        ["gather", "pending"],
        ["train", "pending"],
        ["merge", "pending"],
        ["end", "pending"],
      ],
    );
    assert.equal(node("gather").isJoin, true);
    assert.equal(node("gather").taskCount, 0);
    assert.equal(node("train").parallel, 2);
    const edges = d.graph.edges.map((e) => `${e.from}>${e.to}:${e.kind}${e.count ? `x${e.count}` : ""}`).sort();
    assert.deepEqual(edges, [
      "body>gather:normal",
      "gather>train:normal",
      "merge>end:normal",
      "start>body:foreachx2",
      "train>merge:parallelx2",
    ]);
    // Runs stored before the graph was recorded still show the steps their tasks reached.
    assert.deepEqual(
      buildGraph(new Map([["start", [task("start", "1")]]])).nodes.map((n) => n.step),
      ["start"],
    );
  });

  it("reads a running attempt's live log chunks, then its archived log; records where it ran", async () => {
    await ds.writeRun(run("r1", { status: "running" }));
    const placement = { namespace: "ns", job: "j-1", pod: "j-1-abcde", node: "local-node" };
    await ds.writeTask(
      "r1",
      task("start", "1", {
        status: "running",
        attempts: [{ attempt: 0, status: "running", startedAt: "2026-01-01T00:00:01.000Z", placement }],
      }),
    );
    const api = new UiApi(ds.storage);
    assert.equal(await api.log(FLOW, "r1", "start", "1", 0), undefined);
    await ds.writeLogChunk("r1", "start", "1", 0, 0, "one\n");
    await ds.writeLogChunk("r1", "start", "1", 0, 1, "two\n");
    assert.deepEqual(await api.log(FLOW, "r1", "start", "1", 0), { text: "one\ntwo\n", live: true });
    await ds.writeLogChunk("r1", "start", "1", 0, 10, "three\n");
    assert.deepEqual(await api.log(FLOW, "r1", "start", "1", 0), { text: "one\ntwo\nthree\n", live: true });
    // A restarted orchestrator writes a new series (a later writer prefix) after the old one, never over it.
    await ds.writeLogChunk("r1", "start", "1", 0, 0, "again\n", "b-");
    assert.deepEqual(await api.log(FLOW, "r1", "start", "1", 0), { text: "one\ntwo\nthree\nagain\n", live: true });
    const t = (await api.task(FLOW, "r1", "start", "1")).task;
    assert.deepEqual(
      t.attempts.map((a) => [a.attempt, a.status]),
      [[0, "running"]],
      "a running attempt already in the metadata is not added twice",
    );
    assert.deepEqual(t.placement, placement);
    await ds.writeLog("r1", "start", "1", 0, "one\ntwo\nthree\nfour\n");
    await ds.deleteLogChunks("r1", "start", "1", 0);
    assert.deepEqual(await ds.listLogChunks("r1", "start", "1", 0), []);
    assert.deepEqual(await api.log(FLOW, "r1", "start", "1", 0), { text: "one\ntwo\nthree\nfour\n", live: false });
  });

  it("previews a task's artifacts by type, large ones without decoding them", async () => {
    const store = new ArtifactStore(ds);
    const values: Record<string, unknown> = {
      n: 42,
      s: "hi",
      big: 2n ** 70n,
      m: new Map([["k", 1]]),
      set: new Set([1]),
      d: new Date(0),
      f: new Float32Array([1, 2]),
      buf: Buffer.from("hello world"),
      huge: "x".repeat(3000),
    };
    const artifacts = Object.fromEntries(
      await Promise.all(Object.entries(values).map(async ([k, v]) => [k, await store.save(k, v)] as const)),
    );
    await ds.writeRun(run("r1"));
    await ds.writeTask("r1", task("start", "1", { artifacts }));
    const d = await new UiApi(ds.storage, { previewMaxBytes: 1000 }).task(FLOW, "r1", "start", "1");
    const p = Object.fromEntries(d.artifacts.map((a) => [a.name, a]));
    assert.deepEqual([p.n!.preview!.type, p.n!.preview!.text], ["number", "42"]);
    assert.deepEqual([p.big!.preview!.type, p.big!.preview!.text], ["bigint", "1180591620717411303424n"]);
    assert.deepEqual(
      [p.m!.preview!.summary, p.set!.preview!.summary, p.d!.preview!.text],
      ["Map(1)", "Set(1)", "1970-01-01T00:00:00.000Z"],
    );
    assert.equal(p.f!.preview!.summary, "Float32Array(2) 8 B");
    assert.equal(p.buf!.preview!.summary, "Buffer 11 B");
    assert.match(p.buf!.preview!.text, /^00000000 {2}68 65 6c 6c 6f 20 77 6f 72 6c 64 +\|hello world\|$/);
    assert.equal(p.huge!.preview, undefined);
    assert.match(p.huge!.previewError!, /larger than the preview limit \(1000 B\); download it/);
  });

  describe("server", () => {
    let ui: UiServer | undefined;
    before(async () => {
      await buildUi();
    });
    afterEach(async () => {
      await ui?.close();
      ui = undefined;
    });

    async function seed(): Promise<void> {
      const store = new ArtifactStore(ds);
      await ds.writeRun(run("r1"));
      await ds.writeTask(
        "r1",
        task("start", "1", { artifacts: { blob: await store.save("blob", Buffer.from([1, 2, 3])) } }),
      );
      await ds.writeLog("r1", "start", "1", 0, "hello from start\n");
      await ds.writeCard("r1", "start", "1", {
        version: 1,
        pathspec: `${FLOW}/r1/start/1`,
        attempt: 0,
        createdAt: "2026-01-01T00:00:00.000Z",
        components: [{ type: "markdown", text: "# Report <b>x</b>" }],
      });
    }

    it("serves the API, logs, downloads, cards and the app page for deep links", async () => {
      await seed();
      ui = await startUiServer({ storage: ds.storage, port: 0 });
      assert.equal(ui.token, undefined);
      const get = (p: string) => fetch(ui!.url + p);
      assert.deepEqual(await (await get("/api/flows")).json(), { flows: [{ name: FLOW, runCount: 1 }] });
      assert.deepEqual(await (await get(`/api/flows/${FLOW}/runs/r1/steps/start/tasks/1/logs/0`)).json(), {
        stored: true,
        live: false,
        text: "hello from start\n",
      });
      const dl = await get(`/api/flows/${FLOW}/runs/r1/steps/start/tasks/1/artifacts/blob`);
      assert.equal(dl.headers.get("content-disposition"), 'attachment; filename="blob.bin"');
      assert.deepEqual([...new Uint8Array(await dl.arrayBuffer())], [1, 2, 3]);
      const card = await get(`/api/flows/${FLOW}/runs/r1/steps/start/tasks/1/card`);
      const html = await card.text();
      assert.match(html, /<h1>Report &lt;b&gt;x&lt;\/b&gt;<\/h1>/);
      assert.doesNotMatch(html, /<script/);
      const missing = await get(`/api/flows/${FLOW}/runs/r1/steps/start/tasks/1/artifacts/nope`);
      assert.equal(missing.status, 404);
      assert.match(((await missing.json()) as { error: string }).error, /has no artifact "nope"; it has: blob/);
      const page = await get(`/flows/${FLOW}/runs/r1/steps/start/tasks/1`);
      assert.match(await page.text(), /<script type="module" src="\/assets\/app.js">/);
      assert.equal((await get("/assets/app.js")).status, 200);
      const bad = await get(`/api/flows/${FLOW}/runs?limit=abc`);
      assert.equal(bad.status, 400);
      assert.match(((await bad.json()) as { error: string }).error, /limit="abc" is invalid/);
      // A page on another site reaching 127.0.0.1 through DNS rebinding sends its own Host name.
      const rebind = await new Promise<number>((resolve, reject) =>
        httpGet(
          `${ui!.url}/api/flows`,
          { headers: { host: "evil.example:8321" } },
          (r) => (r.resume(), resolve(r.statusCode!)),
        ).on("error", reject),
      );
      assert.equal(rebind, 403);
    });

    it("streams changes of a resource as server-sent events", async () => {
      await seed();
      ui = await startUiServer({ storage: ds.storage, port: 0, pollMs: 100 });
      const res = await fetch(`${ui.url}/api/events?path=${encodeURIComponent(`/api/flows/${FLOW}/runs`)}`);
      assert.equal(res.headers.get("content-type"), "text/event-stream; charset=utf-8");
      const reader = res.body!.getReader();
      let text = "";
      const until = async (re: RegExp) => {
        while (!re.test(text)) text += new TextDecoder().decode((await reader.read()).value);
      };
      await until(/"total":1/);
      await ds.writeRun(run("r2", { status: "running" }));
      await until(/"total":2/);
      await reader.cancel();
    });

    it("on a non-loopback host, requires the generated token (header, or ?token= that sets a cookie)", async () => {
      await seed();
      ui = await startUiServer({ storage: ds.storage, port: 0, host: "0.0.0.0" });
      assert.ok(ui.token && ui.token.length >= 32);
      const port = new URL(ui.url).port;
      const base = `http://127.0.0.1:${port}`;
      const denied = await fetch(`${base}/api/flows`);
      assert.equal(denied.status, 401);
      assert.match(((await denied.json()) as { error: string }).error, /needs its access token/);
      assert.equal(
        (await fetch(`${base}/api/flows`, { headers: { authorization: `Bearer ${ui.token}` } })).status,
        200,
      );
      assert.equal((await fetch(`${base}/api/flows`, { headers: { authorization: "Bearer wrong" } })).status, 401);
      const login = await fetch(`${base}/flows/${FLOW}?token=${encodeURIComponent(ui.token)}`, { redirect: "manual" });
      assert.equal(login.status, 303);
      assert.equal(login.headers.get("location"), `/flows/${FLOW}`);
      const cookie = login.headers.get("set-cookie")!.split(";")[0]!;
      assert.equal((await fetch(`${base}/api/flows`, { headers: { cookie } })).status, 200);
      assert.ok(ui.openUrl.includes(`?token=${encodeURIComponent(ui.token)}`));
    });
  });
});
