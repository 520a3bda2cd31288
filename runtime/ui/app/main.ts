/**
 * The browser app of `kubestep ui`: flows → runs → run (graph, timeline, steps) → step → task (attempts, logs,
 * artifacts, card). Every page has a deep link; open pages follow the datastore through server-sent events.
 * Keyboard: j/k or ↓/↑ move through a list, Enter opens, u or Backspace goes up, / filters, t switches the theme.
 */
import type { ArtifactInfo, FlowSummary, RunDetail, RunPage, TaskDetail, TaskSummary } from "../api.js";
import { badge, duration, fill, h, when, type Child } from "./dom.js";
import { drawDag } from "./dag.js";
import { drawGantt } from "./gantt.js";

const app = document.getElementById("app")!;
const enc = encodeURIComponent;

type Route =
  | { page: "flows" }
  | { page: "runs"; flow: string }
  | { page: "run"; flow: string; run: string }
  | { page: "step"; flow: string; run: string; step: string }
  | { page: "task"; flow: string; run: string; step: string; task: string };

function parseRoute(path: string): Route | undefined {
  const p = path.split("/").filter(Boolean).map(decodeURIComponent);
  if (!p.length) return { page: "flows" };
  if (p[0] !== "flows" || !p[1]) return undefined;
  if (p.length === 2) return { page: "runs", flow: p[1] };
  if (p[2] === "runs" && p[3] && p.length === 4) return { page: "run", flow: p[1], run: p[3] };
  if (p[2] === "runs" && p[3] && p[4] === "steps" && p[5] && p.length === 6)
    return { page: "step", flow: p[1], run: p[3], step: p[5] };
  if (p[2] === "runs" && p[3] && p[4] === "steps" && p[5] && p[6] === "tasks" && p[7] && p.length === 8)
    return { page: "task", flow: p[1], run: p[3], step: p[5], task: p[7] };
  return undefined;
}

const link = {
  flow: (f: string) => `/flows/${enc(f)}`,
  run: (f: string, r: string) => `/flows/${enc(f)}/runs/${enc(r)}`,
  step: (f: string, r: string, s: string) => `/flows/${enc(f)}/runs/${enc(r)}/steps/${enc(s)}`,
  task: (f: string, r: string, s: string, t: string) =>
    `/flows/${enc(f)}/runs/${enc(r)}/steps/${enc(s)}/tasks/${enc(t)}`,
};

// ---- live data ---------------------------------------------------------------------------------------------

let watchers: Array<() => void> = [];
function stopWatching(): void {
  for (const w of watchers) w();
  watchers = [];
}

async function getJson<T>(path: string): Promise<T> {
  const res = await fetch(path, { headers: { accept: "application/json" } });
  const body = (await res.json()) as T & { error?: string };
  if (!res.ok) throw new Error(body.error ?? `${res.status} ${res.statusText}`);
  return body;
}

/** Loads `path` now, then follows it through /api/events; calls `render` whenever the data changed. */
function watch<T>(path: string, render: (data: T) => void, onError: (message: string) => void): void {
  let last = "";
  let closed = false;
  const apply = (text: string) => {
    if (closed || text === last) return;
    last = text;
    render(JSON.parse(text) as T);
  };
  getJson<T>(path).then(
    (d) => apply(JSON.stringify(d)),
    (e: Error) => onError(e.message),
  );
  const es = new EventSource(`/api/events?path=${enc(path)}`);
  es.addEventListener("update", (ev) => apply((ev as MessageEvent<string>).data));
  es.addEventListener("error", (ev) => {
    const data = (ev as MessageEvent<string>).data;
    if (data) onError((JSON.parse(data) as { message: string }).message);
  });
  setLive(true);
  watchers.push(() => {
    closed = true;
    es.close();
  });
}

function setLive(on: boolean): void {
  document.getElementById("live")?.classList.toggle("on", on);
}

// ---- layout --------------------------------------------------------------------------------------------------

function crumbs(route: Route): HTMLElement {
  const items: Child[] = [h("a", { href: "/", "data-link": "" }, "flows")];
  if ("flow" in route) items.push(" / ", h("a", { href: link.flow(route.flow), "data-link": "" }, route.flow));
  if ("run" in route) items.push(" / ", h("a", { href: link.run(route.flow, route.run), "data-link": "" }, route.run));
  if ("step" in route)
    items.push(" / ", h("a", { href: link.step(route.flow, route.run, route.step), "data-link": "" }, route.step));
  if ("task" in route)
    items.push(
      " / ",
      h("a", { href: link.task(route.flow, route.run, route.step, route.task), "data-link": "" }, route.task),
    );
  return h("nav", { class: "crumbs", "aria-label": "breadcrumbs" }, ...items);
}

function frame(route: Route, title: string, body: HTMLElement): void {
  document.title = `${title} · kubestep`;
  app.replaceChildren(
    h(
      "header",
      { class: "top" },
      h("a", { href: "/", "data-link": "", class: "logo" }, "kubestep"),
      crumbs(route),
      h("span", { id: "live", class: "live", title: "live updates from the datastore" }, "live"),
      h("button", { class: "theme", type: "button", title: "switch theme (t)", onclick: toggleTheme }, "◐"),
    ),
    h("main", { id: "main" }, body),
    h("footer", { class: "keys" }, "j/k move · Enter open · u up · / filter · t theme"),
  );
}

function errorBox(message: string): HTMLElement {
  return h("div", { class: "error", role: "alert" }, message);
}

function section(title: string, ...children: Child[]): HTMLElement {
  return h("section", {}, h("h2", {}, title), ...children);
}

function showError(message: string): void {
  const main = document.getElementById("main");
  if (main && !main.querySelector(".error")) main.prepend(errorBox(message));
}

// ---- pages ---------------------------------------------------------------------------------------------------

function flowsPage(route: Route): void {
  const body = h("div", {}, h("p", { class: "muted" }, "loading…"));
  frame(route, "flows", body);
  watch<{ flows: FlowSummary[] }>(
    "/api/flows",
    ({ flows }) => {
      fill(
        body,
        h("h1", {}, "Flows"),
        flows.length
          ? h(
              "table",
              { class: "list" },
              h("thead", {}, h("tr", {}, h("th", {}, "flow"), h("th", { class: "num" }, "runs"))),
              h(
                "tbody",
                {},
                ...flows.map((f) =>
                  h(
                    "tr",
                    { "data-href": link.flow(f.name) },
                    h("td", {}, h("a", { href: link.flow(f.name), "data-link": "" }, f.name)),
                    h("td", { class: "num" }, f.runCount),
                  ),
                ),
              ),
            )
          : h("p", { class: "muted" }, "no runs in this datastore yet: kubestep run <flow.ts>"),
      );
      restoreSelection();
    },
    showError,
  );
}

function runsPage(route: Extract<Route, { page: "runs" }>): void {
  const params = new URLSearchParams(location.search);
  const limit = 50;
  const offset = Number(params.get("offset") ?? 0) || 0;
  const body = h("div", {}, h("p", { class: "muted" }, "loading…"));
  frame(route, route.flow, body);
  const setParam = (k: string, v: string) => {
    const q = new URLSearchParams(location.search);
    if (v) q.set(k, v);
    else q.delete(k);
    if (k !== "offset") q.delete("offset");
    navigate(`${location.pathname}${q.toString() ? `?${q}` : ""}`, true);
  };
  const api = new URLSearchParams();
  for (const k of ["status", "user", "tag", "q"]) if (params.get(k)) api.set(k, params.get(k)!);
  api.set("offset", String(offset));
  api.set("limit", String(limit));
  watch<RunPage>(
    `/api/flows/${enc(route.flow)}/runs?${api}`,
    (page) => {
      const select = (name: string, values: string[], label: string) =>
        h(
          "label",
          {},
          `${label} `,
          h(
            "select",
            { name, onchange: (e: Event) => setParam(name, (e.target as HTMLSelectElement).value) },
            h("option", { value: "" }, "any"),
            ...values.map((v) => h("option", { value: v, selected: params.get(name) === v }, v)),
          ),
        );
      const search = h("input", {
        type: "search",
        name: "q",
        placeholder: "filter: id, tag, parameter  (/)",
        value: params.get("q") ?? "",
        id: "filter",
      }) as HTMLInputElement;
      search.addEventListener("keydown", (e) => e.key === "Enter" && setParam("q", search.value));
      const statuses = Object.keys(page.facets.statuses);
      fill(
        body,
        h("h1", {}, route.flow),
        h(
          "div",
          { class: "filters" },
          select("status", statuses, "status"),
          select("user", page.facets.users, "user"),
          select("tag", page.facets.tags, "tag"),
          search,
          h(
            "span",
            { class: "muted" },
            `${page.total} runs · ${statuses.map((s) => `${page.facets.statuses[s as keyof typeof page.facets.statuses]} ${s}`).join(", ")}`,
          ),
        ),
        h(
          "table",
          { class: "list runs" },
          h(
            "thead",
            {},
            h(
              "tr",
              {},
              ...["run", "status", "started", "duration", "user", "tags", "parameters"].map((c) => h("th", {}, c)),
            ),
          ),
          h(
            "tbody",
            {},
            ...page.runs.map((r) =>
              h(
                "tr",
                { "data-href": link.run(route.flow, r.runId), "data-run": r.runId },
                h("td", {}, h("a", { href: link.run(route.flow, r.runId), "data-link": "" }, r.runId)),
                h("td", {}, badge(r.status)),
                h("td", {}, when(r.createdAt)),
                h("td", { class: "num" }, duration(r.durationMs)),
                h("td", {}, r.user),
                h("td", {}, ...r.tags.map((t) => h("span", { class: "tag" }, t))),
                h(
                  "td",
                  { class: "params" },
                  Object.entries(r.params)
                    .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
                    .join(" "),
                ),
              ),
            ),
          ),
        ),
        h(
          "div",
          { class: "pager" },
          h(
            "button",
            {
              type: "button",
              disabled: offset === 0,
              onclick: () => setParam("offset", String(Math.max(0, offset - limit))),
            },
            "← newer",
          ),
          h(
            "span",
            { class: "muted" },
            page.total ? `${offset + 1}–${Math.min(offset + limit, page.total)} of ${page.total}` : "no runs match",
          ),
          h(
            "button",
            {
              type: "button",
              disabled: offset + limit >= page.total,
              onclick: () => setParam("offset", String(offset + limit)),
            },
            "older →",
          ),
        ),
      );
      restoreSelection();
    },
    showError,
  );
}

function whereText(where: string | undefined): string {
  if (!where) return "";
  if (where === "local") return "local process";
  const pid = /^local pid (\d+)$/.exec(where);
  if (pid) return `local process (pid ${pid[1]})`;
  return where.replace(/^kubernetes job /, "Kubernetes Job ");
}

function runHeader(d: { run: RunDetail["run"] }): HTMLElement {
  const r = d.run;
  return h(
    "div",
    { class: "summary" },
    h("h1", {}, `${r.flowName} / ${r.runId} `, badge(r.status)),
    h(
      "dl",
      {},
      h("dt", {}, "started"),
      h("dd", {}, when(r.createdAt)),
      h("dt", {}, "duration"),
      h("dd", {}, duration(r.durationMs), r.status === "running" ? " (running)" : ""),
      h("dt", {}, "user"),
      h("dd", {}, r.user),
      r.tags.length ? [h("dt", {}, "tags"), h("dd", {}, ...r.tags.map((t) => h("span", { class: "tag" }, t)))] : null,
      Object.keys(r.params).length
        ? [
            h("dt", {}, "parameters"),
            h(
              "dd",
              { class: "params" },
              Object.entries(r.params)
                .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
                .join(" "),
            ),
          ]
        : null,
      r.originRunId
        ? [
            h("dt", {}, "resumed from"),
            h("dd", {}, h("a", { href: link.run(r.flowName, r.originRunId), "data-link": "" }, r.originRunId)),
          ]
        : null,
    ),
    r.error ? errorBox(r.error) : null,
  );
}

function runPage(route: Extract<Route, { page: "run" }>): void {
  const body = h("div", {}, h("p", { class: "muted" }, "loading…"));
  frame(route, `${route.flow}/${route.run}`, body);
  watch<RunDetail>(
    `/api/flows/${enc(route.flow)}/runs/${enc(route.run)}`,
    (d) => {
      const taskHref = (t: TaskSummary) => link.task(route.flow, route.run, t.step, t.taskId);
      fill(
        body,
        runHeader(d),
        section(
          "Graph",
          h(
            "div",
            { class: "dag-wrap" },
            drawDag(d.graph, (s) => link.step(route.flow, route.run, s)),
          ),
        ),
        section("Timeline", drawGantt(d, taskHref)),
        section(
          "Steps",
          h(
            "table",
            { class: "list steps" },
            h(
              "thead",
              {},
              h("tr", {}, ...["step", "status", "tasks", "attempts", "ran on", "failure"].map((c) => h("th", {}, c))),
            ),
            h(
              "tbody",
              {},
              ...d.steps.map((s) => {
                const wheres = [...new Set(s.tasks.map((t) => whereText(t.where)).filter(Boolean))];
                const failed = s.tasks.find((t) => t.status === "failed" && t.error) ?? s.tasks.find((t) => t.error);
                return h(
                  "tr",
                  { "data-href": link.step(route.flow, route.run, s.name), "data-step-row": s.name },
                  h("td", {}, h("a", { href: link.step(route.flow, route.run, s.name), "data-link": "" }, s.name)),
                  h("td", {}, badge(s.status)),
                  h("td", { class: "num" }, s.tasks.length),
                  h(
                    "td",
                    { class: "num" },
                    s.tasks.reduce((n, t) => n + t.attempts.length, 0),
                  ),
                  h(
                    "td",
                    {},
                    wheres.length > 3 ? `${wheres.slice(0, 3).join(", ")} (+${wheres.length - 3})` : wheres.join(", "),
                  ),
                  h(
                    "td",
                    { class: failed?.status === "failed" ? "err" : "warn" },
                    failed?.error
                      ? `${failed.step}/${failed.taskId}${failed.status === "failed" ? "" : ` (retried, then ${failed.status})`}: ${failed.error}`
                      : "",
                  ),
                );
              }),
            ),
          ),
        ),
      );
      restoreSelection();
    },
    showError,
  );
}

function tasksTable(route: { flow: string; run: string }, tasks: TaskSummary[]): HTMLElement {
  return h(
    "table",
    { class: "list tasks" },
    h(
      "thead",
      {},
      h(
        "tr",
        {},
        ...["task", "status", "index", "attempts", "duration", "ran on", "failure"].map((c) => h("th", {}, c)),
      ),
    ),
    h(
      "tbody",
      {},
      ...tasks.map((t) => {
        const end = t.finishedAt ? Date.parse(t.finishedAt) : Date.now();
        return h(
          "tr",
          { "data-href": link.task(route.flow, route.run, t.step, t.taskId), "data-task-row": t.taskId },
          h("td", {}, h("a", { href: link.task(route.flow, route.run, t.step, t.taskId), "data-link": "" }, t.taskId)),
          h("td", {}, badge(t.status)),
          h("td", { class: "num" }, t.foreachIndex ?? ""),
          h(
            "td",
            { class: "num" },
            t.attempts.length,
            t.attempts.length > 1 ? h("span", { class: "retry-tag" }, "retried") : null,
          ),
          h("td", { class: "num" }, duration(end - Date.parse(t.startedAt))),
          h("td", {}, whereText(t.where)),
          h(
            "td",
            { class: t.status === "failed" ? "err" : "warn" },
            t.caught
              ? `caught: ${t.caught}`
              : t.error
                ? `${t.status === "failed" ? "" : "retried after: "}${t.error}`
                : "",
          ),
        );
      }),
    ),
  );
}

function stepPage(route: Extract<Route, { page: "step" }>): void {
  const body = h("div", {}, h("p", { class: "muted" }, "loading…"));
  frame(route, `${route.flow}/${route.run}/${route.step}`, body);
  watch<RunDetail>(
    `/api/flows/${enc(route.flow)}/runs/${enc(route.run)}`,
    (d) => {
      const step = d.steps.find((s) => s.name === route.step);
      const node = d.graph.nodes.find((n) => n.step === route.step);
      fill(
        body,
        h("h1", {}, `step ${route.step} `, badge(step?.status ?? node?.status ?? "pending")),
        node?.foreach
          ? h("p", {}, `fans out over ${node.foreach.artifact} into ${node.foreach.num ?? "?"} tasks`)
          : null,
        node?.parallel ? h("p", {}, `starts an @parallel gang of ${node.parallel} nodes`) : null,
        node?.gangSize ? h("p", {}, `runs as an @parallel gang of ${node.gangSize} nodes`) : null,
        step ? tasksTable(route, step.tasks) : h("p", { class: "muted" }, "no task of this step has started"),
      );
      restoreSelection();
    },
    showError,
  );
}

function artifactRow(route: Extract<Route, { page: "task" }>, a: ArtifactInfo): HTMLElement {
  const href = `/api/flows/${enc(route.flow)}/runs/${enc(route.run)}/steps/${enc(route.step)}/tasks/${enc(route.task)}/artifacts/${enc(a.name)}`;
  return h(
    "div",
    { class: "artifact", "data-artifact": a.name },
    h(
      "div",
      { class: "artifact-head" },
      h("strong", {}, a.name),
      " ",
      h("span", { class: "type" }, a.preview?.type ?? a.encoding),
      " ",
      h("span", { class: "muted" }, a.preview?.summary ?? ""),
      h("a", { class: "download", href, download: "" }, "download"),
    ),
    a.preview
      ? h(
          "pre",
          { class: "preview" },
          a.preview.text,
          a.preview.truncated ? h("span", { class: "muted" }, "\n… truncated") : null,
        )
      : h("p", { class: "muted" }, a.previewError ?? ""),
  );
}

function taskPage(route: Extract<Route, { page: "task" }>): void {
  const body = h("div", {}, h("p", { class: "muted" }, "loading…"));
  frame(route, `${route.flow}/${route.run}/${route.step}/${route.task}`, body);
  const base = `/api/flows/${enc(route.flow)}/runs/${enc(route.run)}/steps/${enc(route.step)}/tasks/${enc(route.task)}`;
  const logBox = h("pre", { class: "log", id: "log", tabindex: 0 }, "loading…");
  const logHead = h("div", { class: "log-head" });
  const cardBox = h("div", { id: "card" });
  const info = h("div", {});
  const artifactsBox = h("div", {});
  body.replaceChildren(info, section("Logs", logHead, logBox), cardBox, artifactsBox);
  let attempt: number | undefined;
  let stopLog: (() => void) | undefined;
  let cardShown = false;
  const showLog = (n: number, status: string) => {
    if (attempt === n) return;
    attempt = n;
    stopLog?.();
    const before = watchers.length;
    watch<{ stored: boolean; live: boolean; text: string }>(
      `${base}/logs/${n}`,
      (l) => {
        const atBottom = logBox.scrollTop + logBox.clientHeight >= logBox.scrollHeight - 8;
        logBox.dataset.live = String(l.live);
        logHead.dataset.live = String(l.live);
        logHead.textContent =
          logHead.textContent!.replace(/ · (live|archived)$/, "") +
          (l.stored ? (l.live ? " · live" : " · archived") : "");
        logBox.textContent = l.stored
          ? l.text || "(empty)"
          : status === "running"
            ? "(the attempt is running; its output appears here within seconds of being printed)"
            : "(no log stored)";
        if (atBottom) logBox.scrollTop = logBox.scrollHeight;
      },
      showError,
    );
    const mine = watchers.slice(before);
    stopLog = () => mine.forEach((w) => w());
  };
  watch<TaskDetail>(
    base,
    (d) => {
      const t = d.task;
      fill(
        info,
        h("h1", {}, `task ${t.step}/${t.taskId} `, badge(t.status)),
        h(
          "dl",
          {},
          h("dt", {}, "run"),
          h(
            "dd",
            {},
            h("a", { href: link.run(route.flow, route.run), "data-link": "" }, route.run),
            " ",
            badge(d.run.status),
          ),
          t.foreachIndex !== undefined ? [h("dt", {}, "foreach index"), h("dd", {}, t.foreachIndex)] : null,
          h("dt", {}, "inputs"),
          h(
            "dd",
            {},
            ...t.parents.map((p) => {
              const [ps, pt] = p.split("/");
              return h("a", { href: link.task(route.flow, route.run, ps!, pt!), "data-link": "", class: "tag" }, p);
            }),
          ),
          t.clonedFrom ? [h("dt", {}, "reused from"), h("dd", {}, t.clonedFrom)] : null,
          t.placement
            ? [
                h("dt", {}, "Kubernetes"),
                h(
                  "dd",
                  { class: "placement" },
                  `Job ${t.placement.namespace}/${t.placement.job} · pod `,
                  h("span", { "data-pod": t.placement.pod }, t.placement.pod),
                  " · node ",
                  h("span", { "data-node": t.placement.node ?? "" }, t.placement.node ?? "(not scheduled yet)"),
                ),
              ]
            : null,
        ),
        t.caught ? errorBox(`@catch recorded: ${t.caught}`) : null,
        section(
          "Attempts",
          h(
            "table",
            { class: "list attempts" },
            h(
              "thead",
              {},
              h(
                "tr",
                {},
                ...["attempt", "status", "started", "duration", "ran on", "exit", "failure"].map((c) => h("th", {}, c)),
              ),
            ),
            h(
              "tbody",
              {},
              ...t.attempts.map((a) =>
                h(
                  "tr",
                  { "data-attempt": a.attempt, class: a.attempt === attempt ? "selected-attempt" : "" },
                  h(
                    "td",
                    {},
                    h(
                      "button",
                      {
                        type: "button",
                        class: "linkish",
                        onclick: () => {
                          showLog(a.attempt, a.status);
                          highlightAttempt(a.attempt);
                        },
                      },
                      `#${a.attempt + 1}`,
                    ),
                  ),
                  h("td", {}, badge(a.status)),
                  h("td", {}, when(a.startedAt)),
                  h(
                    "td",
                    { class: "num" },
                    duration((a.finishedAt ? Date.parse(a.finishedAt) : Date.now()) - Date.parse(a.startedAt)),
                  ),
                  h(
                    "td",
                    {},
                    whereText(a.executor),
                    a.placement
                      ? h(
                          "div",
                          { class: "muted" },
                          `pod ${a.placement.pod}${a.placement.node ? ` on node ${a.placement.node}` : ""}`,
                        )
                      : null,
                  ),
                  h("td", { class: "num" }, a.exitCode ?? a.signal ?? ""),
                  h("td", { class: "err" }, a.error ? `${a.reason ? `[${a.reason}] ` : ""}${a.error}` : ""),
                ),
              ),
            ),
          ),
        ),
      );
      fill(
        artifactsBox,
        section(
          `Artifacts (${d.artifacts.length})`,
          ...d.artifacts.map((a) => artifactRow(route, a)),
          d.artifacts.length
            ? null
            : h("p", { class: "muted" }, t.status === "running" ? "stored when the task succeeds" : "none"),
        ),
      );
      const last = t.attempts[t.attempts.length - 1];
      if (last && (attempt === undefined || attempt === t.attempts.length - 2)) showLog(last.attempt, last.status);
      const liveMark = / · (live|archived)$/.exec(logHead.textContent ?? "")?.[0] ?? "";
      logHead.textContent = attempt !== undefined ? `attempt #${attempt + 1} of ${t.attempts.length}${liveMark}` : "";
      highlightAttempt(attempt);
      if (t.hasCard && !cardShown) {
        cardShown = true;
        cardBox.replaceChildren(
          // The card is static HTML (no script; its CSP is default-src 'none'): a same-origin sandbox without
          // allow-scripts keeps scripts off and lets the frame be sized to its content.
          section(
            "Card",
            h("iframe", {
              class: "card",
              src: `${base}/card`,
              title: "card",
              sandbox: "allow-same-origin",
              onload: (e: Event) => fitFrame(e.target as HTMLIFrameElement),
            }),
          ),
        );
      }
    },
    showError,
  );
}

/** Sizes the card's frame to its content. */
function fitFrame(frame: HTMLIFrameElement): void {
  const doc = frame.contentDocument;
  if (doc?.documentElement) frame.style.height = `${Math.min(4000, doc.documentElement.scrollHeight + 4)}px`;
}

function highlightAttempt(n: number | undefined): void {
  for (const tr of document.querySelectorAll<HTMLElement>("table.attempts tr[data-attempt]"))
    tr.classList.toggle("selected-attempt", Number(tr.dataset.attempt) === n);
  const head = document.querySelector(".log-head");
  if (head && n !== undefined) head.textContent = head.textContent?.replace(/#\d+/, `#${n + 1}`) ?? "";
}

// ---- navigation and keyboard ------------------------------------------------------------------------------------

let selected = -1;
function rows(): HTMLElement[] {
  return [...document.querySelectorAll<HTMLElement>("#main tr[data-href]")];
}
function select(i: number): void {
  const rs = rows();
  if (!rs.length) return;
  selected = Math.max(0, Math.min(rs.length - 1, i));
  rs.forEach((r, j) => r.classList.toggle("selected", j === selected));
  rs[selected]!.scrollIntoView({ block: "nearest" });
}
function restoreSelection(): void {
  if (selected >= 0) select(selected);
}

function render(): void {
  stopWatching();
  setLive(false);
  selected = -1;
  const route = parseRoute(location.pathname);
  if (!route) {
    frame(
      { page: "flows" },
      "not found",
      errorBox(`no page at ${location.pathname}; pages are /flows/<Flow>[/runs/<run>[/steps/<step>[/tasks/<task>]]]`),
    );
    return;
  }
  switch (route.page) {
    case "flows":
      return flowsPage(route);
    case "runs":
      return runsPage(route);
    case "run":
      return runPage(route);
    case "step":
      return stepPage(route);
    case "task":
      return taskPage(route);
  }
}

function navigate(url: string, replace = false): void {
  if (replace) history.replaceState(null, "", url);
  else history.pushState(null, "", url);
  render();
  window.scrollTo(0, 0);
}

function up(): void {
  const p = location.pathname.split("/").filter(Boolean);
  if (!p.length) return;
  // /flows/F/runs/R/steps/S/tasks/T → .../steps/S → /flows/F/runs/R → /flows/F → /
  const n = p.length >= 8 ? 6 : p.length >= 6 ? 4 : p.length >= 4 ? 2 : 0;
  navigate(`/${p.slice(0, n).map(decodeURIComponent).map(enc).join("/")}`);
}

function toggleTheme(): void {
  const root = document.documentElement;
  const dark = root.dataset.theme ? root.dataset.theme === "dark" : matchMedia("(prefers-color-scheme: dark)").matches;
  root.dataset.theme = dark ? "light" : "dark";
  localStorage.setItem("kubestep-theme", root.dataset.theme);
}

document.addEventListener("click", (e) => {
  if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
  const a = (e.target as Element).closest?.("a[data-link]");
  if (a) {
    e.preventDefault();
    navigate(a.getAttribute("href")!);
    return;
  }
  const tr = (e.target as Element).closest?.("tr[data-href]") as HTMLElement | null;
  if (tr && !(e.target as Element).closest("a, button, select, input")) navigate(tr.dataset.href!);
});

document.addEventListener("keydown", (e) => {
  const target = e.target as HTMLElement;
  if (e.metaKey || e.ctrlKey || e.altKey) return;
  if (target.matches("input, select, textarea")) {
    if (e.key === "Escape") target.blur();
    return;
  }
  switch (e.key) {
    case "j":
    case "ArrowDown":
      if (!rows().length) return;
      e.preventDefault();
      select(selected + 1);
      break;
    case "k":
    case "ArrowUp":
      if (!rows().length) return;
      e.preventDefault();
      select(selected - 1);
      break;
    case "Enter":
      if (selected >= 0 && target === document.body) {
        e.preventDefault();
        navigate(rows()[selected]!.dataset.href!);
      }
      break;
    case "u":
    case "Backspace":
      e.preventDefault();
      up();
      break;
    case "/":
      if (document.getElementById("filter")) {
        e.preventDefault();
        document.getElementById("filter")!.focus();
      }
      break;
    case "t":
      toggleTheme();
      break;
  }
});

window.addEventListener("popstate", render);
const saved = localStorage.getItem("kubestep-theme");
if (saved === "dark" || saved === "light") document.documentElement.dataset.theme = saved;
render();
