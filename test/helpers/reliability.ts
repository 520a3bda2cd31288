/**
 * Figures of the fault-injection tests, recorded while they run and written to docs/reliability.md.
 *
 * Each test that injects a fault calls {@link recordFaults} with what it injected and what came out (runs
 * completed, tasks re-run, objects lost). The figures are merged into docs/reliability.json (one row per test,
 * replaced when the test runs again) and docs/reliability.md is rewritten from the whole file after each suite
 * that recorded something: running only some suites (e.g. `npm run test:unit`) updates their rows and keeps the
 * others', so the document always covers every suite's last run. One table per fault kind.
 */
import { existsSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { ROOT } from "./cli.js";

/** The kinds of fault, one table each (in this order). */
export const FAULT_KINDS = {
  corruption: "Corrupted artifacts, code packages and metadata",
  "store-errors": "Datastore answering 500 / 503",
  throttling: "Datastore throttling (429 / SlowDown)",
  "connection-resets": "Datastore resetting connections",
  stalls: "Datastore stalling past the request timeout",
  "write-failures": "Writes that never succeed",
  "concurrent-runs": "Two runs of one flow at once on one datastore",
  secrets: "Secrets in failure messages and logs",
  "cli-killed": "The CLI killed (SIGKILL) mid-run",
  "apiserver-restart": "The API server restarted mid-run",
  load: "Load",
} as const;

/** A fault kind (a table of docs/reliability.md). */
export type FaultKind = keyof typeof FAULT_KINDS;

/** What one test injected and what came out. */
export interface FaultFigures {
  /** Datastore or executor the fault hit, e.g. `local`, `S3 (versitygw)`. */
  backend: string;
  /** Faults injected (failed requests, damaged objects, kills, restarts). */
  faultsInjected: number;
  /** Runs that completed successfully despite them. */
  runsCompleted: number;
  /** Tasks that ran again because of them (recomputed or retried). */
  tasksRerun: number;
  /** Stored objects lost or accepted damaged (must be 0). */
  objectsLost: number;
  /** What happened, in a few words. */
  outcome: string;
}

interface Row extends FaultFigures {
  test: string;
  file: string;
  date: string;
}

/** Where the figures and the document live. */
export const RELIABILITY_JSON = join(ROOT, "docs", "reliability.json");
export const RELIABILITY_MD = join(ROOT, "docs", "reliability.md");

const pending = new Map<string, Row & { kind: FaultKind }>();

/** Records the figures of one test (`test`: a stable name, unique within its kind and backend). */
export function recordFaults(kind: FaultKind, test: string, file: string, figures: FaultFigures): void {
  pending.set(`${kind}\0${rowKey(test, figures.backend)}`, {
    kind,
    test,
    file: relative(ROOT, file),
    date: new Date().toISOString().slice(0, 10),
    ...figures,
  });
}

/** A row's key in docs/reliability.json: one row per test and backend. */
function rowKey(test: string, backend: string): string {
  return `${test} [${backend}]`;
}

function atomicWrite(path: string, text: string): void {
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, text);
  renameSync(tmp, path);
}

/** Merges the recorded figures into docs/reliability.json and rewrites docs/reliability.md. */
export function writeReliabilityReport(): void {
  if (!pending.size) return;
  const all: Record<string, Record<string, Row>> = existsSync(RELIABILITY_JSON)
    ? (JSON.parse(readFileSync(RELIABILITY_JSON, "utf8")) as Record<string, Record<string, Row>>)
    : {};
  for (const { kind, ...row } of pending.values()) (all[kind] ??= {})[rowKey(row.test, row.backend)] = row;
  pending.clear();
  const sorted = Object.fromEntries(
    Object.keys(FAULT_KINDS)
      .filter((k) => all[k])
      .map((k) => [k, Object.fromEntries(Object.entries(all[k]!).sort(([a], [b]) => a.localeCompare(b)))]),
  );
  atomicWrite(RELIABILITY_JSON, JSON.stringify(sorted, null, 1) + "\n");
  atomicWrite(RELIABILITY_MD, renderReliability(sorted));
}

/** The document: totals, then one table per fault kind. */
export function renderReliability(all: Record<string, Record<string, Row>>): string {
  const rows = Object.values(all).flatMap((r) => Object.values(r));
  const sum = (f: (r: Row) => number) => rows.reduce((n, r) => n + f(r), 0);
  const out = [
    "# Reliability: faults injected and survived",
    "",
    "Written by the tests themselves (test/helpers/reliability.ts, from docs/reliability.json): every row is one",
    "test that injected a fault for real (damaged objects on disk and in S3, a proxy answering 503 / 429 /",
    "resets / stalls in front of versitygw, fake-gcs-server and azurite, ...) and its last run's figures. Do not",
    "edit by hand; run the tests.",
    "",
    `Totals: ${sum((r) => r.faultsInjected)} faults injected, ${sum((r) => r.runsCompleted)} runs completed, ${sum((r) => r.tasksRerun)} tasks re-run, ${sum((r) => r.objectsLost)} objects lost.`,
    "",
  ];
  for (const [kind, title] of Object.entries(FAULT_KINDS)) {
    const table = all[kind];
    if (!table) continue;
    out.push(`## ${title}`, "");
    out.push(
      "| Test | Backend | Faults injected | Runs completed | Tasks re-run | Objects lost | Outcome | Test file | Last run |",
    );
    out.push("|---|---|---:|---:|---:|---:|---|---|---|");
    for (const r of Object.values(table))
      out.push(
        `| ${r.test} | ${r.backend} | ${r.faultsInjected} | ${r.runsCompleted} | ${r.tasksRerun} | ${r.objectsLost} | ${r.outcome.replace(/\|/g, "\\|")} | ${r.file} | ${r.date} |`,
      );
    out.push("");
  }
  return out.join("\n");
}

/** Registers, in the calling `describe`, an `after` hook writing the suite's figures to the document. */
export function reportReliabilityAfter(): void {
  after(() => writeReliabilityReport());
}
