/** The run's timeline: one row per task attempt (retries as extra rows of their task), bars coloured by status. */
import type { RunDetail, TaskSummary } from "../api.js";
import { duration, h } from "./dom.js";

const MAX_ROWS = 2000;

/** Draws the timeline of every attempt of the run; `href(task)` links each row to its task. */
export function drawGantt(detail: RunDetail, href: (t: TaskSummary) => string, now = Date.now()): HTMLElement {
  const start = Date.parse(detail.run.createdAt);
  const rows: Array<{ t: TaskSummary; a: TaskSummary["attempts"][number] }> = [];
  for (const step of detail.steps) for (const t of step.tasks) for (const a of t.attempts) rows.push({ t, a });
  rows.sort((x, y) => Date.parse(x.a.startedAt) - Date.parse(y.a.startedAt) || x.a.attempt - y.a.attempt);
  const endOf = (a: { finishedAt?: string }) => (a.finishedAt ? Date.parse(a.finishedAt) : now);
  const end = Math.max(
    detail.run.finishedAt ? Date.parse(detail.run.finishedAt) : now,
    ...rows.map((r) => endOf(r.a)),
    start + 1,
  );
  const span = end - start;
  const pct = (ms: number) => `${((Math.max(0, ms - start) / span) * 100).toFixed(3)}%`;
  const shown = rows.slice(0, MAX_ROWS);
  const ticks = [0, 0.25, 0.5, 0.75, 1].map((f) =>
    h("span", { class: "tick", style: `left:${f * 100}%` }, duration(f * span)),
  );
  return h(
    "div",
    { class: "gantt", role: "table", "aria-label": "timeline of attempts" },
    h(
      "div",
      { class: "gantt-axis" },
      h("span", { class: "gantt-label" }),
      h("span", { class: "gantt-track" }, ...ticks),
    ),
    ...shown.map(({ t, a }) => {
      const s0 = Date.parse(a.startedAt);
      const e0 = endOf(a);
      const retry = a.attempt > 0;
      const label = `${t.step}/${t.taskId}${t.attempts.length > 1 ? ` #${a.attempt + 1}` : ""}`;
      return h(
        "a",
        {
          class: `gantt-row${retry ? " retry" : ""}`,
          href: href(t),
          "data-link": "",
          "data-task": `${t.step}/${t.taskId}`,
          "data-attempt": a.attempt,
          "data-status": a.status,
          role: "row",
        },
        h(
          "span",
          { class: "gantt-label" },
          label,
          retry ? h("span", { class: "retry-tag" }, `retry ${a.attempt}`) : null,
        ),
        h(
          "span",
          { class: "gantt-track" },
          h("span", {
            class: `bar st-${a.status}`,
            style: `left:${pct(s0)};width:max(2px, calc(${pct(e0)} - ${pct(s0)}))`,
            title: `${label}: ${a.status}, ${duration(e0 - s0)}${a.placement ? `, pod ${a.placement.namespace}/${a.placement.pod}${a.placement.node ? ` on node ${a.placement.node}` : ""}` : ""}${a.error ? ` — ${a.error}` : ""}`,
          }),
        ),
      );
    }),
    rows.length > MAX_ROWS ? h("p", { class: "muted" }, `${rows.length - MAX_ROWS} more attempts not drawn`) : null,
  );
}
