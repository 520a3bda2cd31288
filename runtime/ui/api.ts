/**
 * The data behind `kubestep ui`, read from any datastore (local, S3, GCS, Azure) through its Storage: flows,
 * runs (filtered and paged over an in-memory index that only re-reads new and running runs, so a list of
 * 10,000 runs stays fast), a run's steps, tasks, attempts and graph, logs, artifacts with typed previews, cards.
 * Everything here is JSON-ready; the HTTP routes are in server.ts.
 */
import type { Readable } from "node:stream";
import {
  FlowDatastore,
  type ArtifactRef,
  type AttemptMeta,
  type Placement,
  type RunMeta,
  type StaticGraph,
  type StoredLog,
  type Status,
  type TaskMeta,
} from "../datastore/flowstore.js";
import type { Storage } from "../datastore/storage.js";
import { parseMetadata } from "../datastore/metadata.js";
import { decodeArtifact, type Encoding } from "../artifacts/serialize.js";
import type { CardData } from "../flow/card.js";
import { formatBytes, hexHead, previewValue, type ValuePreview } from "./preview.js";

/** A flow in the datastore. */
export interface FlowSummary {
  /** Flow class name. */
  name: string;
  /** Number of runs stored. */
  runCount: number;
}

/** A run as the run list shows it. */
export interface RunSummary {
  flowName: string;
  runId: string;
  status: Status;
  user: string;
  tags: string[];
  params: Record<string, unknown>;
  createdAt: string;
  finishedAt?: string;
  /** finishedAt - createdAt, or until now while running (ms). */
  durationMs: number;
  error?: string;
  originRunId?: string;
}

/** Filter and page of the run list. */
export interface RunQuery {
  /** Only runs with this status. */
  status?: Status;
  /** Only runs started by this user. */
  user?: string;
  /** Only runs carrying this tag. */
  tag?: string;
  /** Only runs whose id, tags or parameters contain this text. */
  q?: string;
  /** Runs to skip (newest first). Default 0. */
  offset?: number;
  /** Runs to return, 1..500. Default 50. */
  limit?: number;
}

/** One page of runs, newest first, with what the filters can choose from. */
export interface RunPage {
  /** Runs matching the filter (before paging). */
  total: number;
  offset: number;
  limit: number;
  runs: RunSummary[];
  /** Every user, tag and status of the flow's runs (for the filter menus). */
  facets: { users: string[]; tags: string[]; statuses: Record<Status, number> };
}

/** A task as the run page shows it. */
export interface TaskSummary {
  step: string;
  taskId: string;
  status: Status;
  startedAt: string;
  finishedAt?: string;
  /** Every attempt; a running attempt the metadata does not list yet is added with status running. */
  attempts: AttemptMeta[];
  parents: string[];
  /** Index in the innermost foreach, when in one. */
  foreachIndex?: number;
  /** Where the last attempt ran: "local" or "kubernetes job <namespace>/<job>". */
  where?: string;
  /** The Job, pod and node the last Kubernetes attempt ran on, once its pod was scheduled. */
  placement?: Placement;
  /** The last failed attempt's explained error. */
  error?: string;
  /** Failure recorded by @catch. */
  caught?: string;
  /** `run/step/task` this task was reused from by resume. */
  clonedFrom?: string;
  /** Whether the task stored a card. */
  hasCard: boolean;
  /** Number of artifacts stored. */
  artifactCount: number;
}

/** A node of the run's step graph. */
export interface GraphNode {
  step: string;
  /** Aggregate status; "pending" for a step a transition names that has no task yet. */
  status: Status | "pending";
  /** Tasks per status. */
  counts: Record<Status, number>;
  /** Number of tasks. */
  taskCount: number;
  /** Whether it joins several inputs. */
  isJoin: boolean;
  /** The foreach it starts: artifact name and number of splits. */
  foreach?: { artifact: string; num?: number };
  /** The @parallel gang it starts: number of nodes. */
  parallel?: number;
  /** Size of the gang this step runs as (an @parallel step). */
  gangSize?: number;
}

/** An edge of the run's step graph. */
export interface GraphEdge {
  from: string;
  to: string;
  /** normal, foreach (fan-out, with `count`), parallel (a gang, with `count`) or join (fan-in). */
  kind: "normal" | "foreach" | "parallel" | "join";
  count?: number;
}

/** Everything the run page shows. */
export interface RunDetail {
  run: RunSummary;
  /** Steps in start order, each with its tasks. */
  steps: Array<{ name: string; status: Status; tasks: TaskSummary[] }>;
  graph: { nodes: GraphNode[]; edges: GraphEdge[] };
}

/** An artifact of a task, with its preview. */
export interface ArtifactInfo {
  name: string;
  sha: string;
  encoding: Encoding;
  size: number;
  /** Preview of the value, or why there is none. */
  preview?: ValuePreview;
  previewError?: string;
}

/** Everything the task page shows. */
export interface TaskDetail {
  run: RunSummary;
  task: TaskSummary;
  artifacts: ArtifactInfo[];
}

/** Options of the API. */
export interface UiApiOptions {
  /** Largest v8-encoded artifact decoded for a preview (bytes). Default 16 MB; larger ones get a download only. */
  previewMaxBytes?: number;
  /** Datastore reads in flight at once. Default 32. */
  concurrency?: number;
  /** How long a run index is reused before the datastore is listed again (ms). Default 1000. */
  indexTtlMs?: number;
}

/** Maps with at most `limit` promises in flight. */
async function mapLimit<T, R>(items: T[], limit: number, fn: (t: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

/** Checks a path segment (flow, run, step, task or artifact name) so it cannot reach outside its place. */
export function checkSegment(what: string, value: string): string {
  if (!value || value === "." || value === ".." || /[/\\\0]/.test(value))
    throw new UiRequestError(
      400,
      `${what} ${JSON.stringify(value)} is not valid; it must be a non-empty name without "/", "\\" or ".."`,
    );
  return value;
}

/** A request the API refuses: its HTTP status and a message naming what is wrong. */
export class UiRequestError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = "UiRequestError";
  }
}

const STATUSES: readonly Status[] = ["running", "succeeded", "failed"];

function summarize(m: RunMeta, now: number): RunSummary {
  const start = Date.parse(m.createdAt);
  const end = m.finishedAt ? Date.parse(m.finishedAt) : now;
  return {
    flowName: m.flowName,
    runId: m.runId,
    status: m.status,
    user: m.user,
    tags: m.tags ?? [],
    params: m.params ?? {},
    createdAt: m.createdAt,
    ...(m.finishedAt ? { finishedAt: m.finishedAt } : {}),
    durationMs: Math.max(0, end - start),
    ...(m.error ? { error: m.error } : {}),
    ...(m.originRunId ? { originRunId: m.originRunId } : {}),
  };
}

interface RunIndex {
  metas: Map<string, RunMeta>;
  /** Newest first. */
  order: string[];
  at: number;
  refreshing?: Promise<void>;
}

/** Reads flows, runs, tasks, logs, artifacts and cards of one datastore for the UI. */
export class UiApi {
  private readonly indexes = new Map<string, RunIndex>();
  /** Finished tasks never change: their metadata is kept. */
  private readonly finishedTasks = new Map<string, TaskMeta>();
  /** Live log chunks read so far (they never change), by key. */
  private readonly chunks = new Map<string, Buffer>();
  private readonly previewMaxBytes: number;
  private readonly concurrency: number;
  private readonly indexTtlMs: number;

  constructor(
    /** The datastore. */
    readonly storage: Storage,
    options: UiApiOptions = {},
  ) {
    this.previewMaxBytes = options.previewMaxBytes ?? 16 * 1024 * 1024;
    this.concurrency = options.concurrency ?? 32;
    this.indexTtlMs = options.indexTtlMs ?? 1000;
  }

  private ds(flow: string): FlowDatastore {
    return new FlowDatastore(this.storage, checkSegment("flow", flow));
  }

  /** Every flow that has runs, by name. */
  async flows(): Promise<FlowSummary[]> {
    const names = (await this.storage.listChildren("")).filter((n) => n && !n.startsWith("."));
    const flows = await mapLimit(names, this.concurrency, async (name) => {
      const runs = await this.storage.listChildren(`${name}/runs`);
      return runs.length ? { name, runCount: runs.length } : undefined;
    });
    return flows.filter((f): f is FlowSummary => !!f).sort((a, b) => a.name.localeCompare(b.name));
  }

  /** Lists the flow's runs again when the index is older than the TTL: reads only new runs and running ones. */
  private async index(flow: string): Promise<RunIndex> {
    let idx = this.indexes.get(flow);
    if (!idx) {
      idx = { metas: new Map(), order: [], at: 0 };
      this.indexes.set(flow, idx);
    }
    if (Date.now() - idx.at < this.indexTtlMs) return idx;
    if (!idx.refreshing) {
      const target = idx;
      target.refreshing = (async () => {
        const ds = this.ds(flow);
        const ids = await ds.listRuns();
        const present = new Set(ids);
        for (const id of [...target.metas.keys()]) if (!present.has(id)) target.metas.delete(id);
        const stale = ids.filter(
          (id) => target.metas.get(id)?.status !== "succeeded" && target.metas.get(id)?.status !== "failed",
        );
        const read = await mapLimit(
          stale,
          this.concurrency,
          async (id) => [id, await ds.readRun(id).catch(() => undefined)] as const,
        );
        for (const [id, m] of read) if (m) target.metas.set(id, m);
        target.order = [...target.metas.values()]
          .sort((a, b) => (a.createdAt < b.createdAt ? 1 : a.createdAt > b.createdAt ? -1 : a.runId < b.runId ? 1 : -1))
          .map((m) => m.runId);
        target.at = Date.now();
      })().finally(() => (target.refreshing = undefined));
    }
    await idx.refreshing;
    return idx;
  }

  /** A page of the flow's runs, newest first, filtered by status, user, tag and text. */
  async runs(flow: string, query: RunQuery = {}): Promise<RunPage> {
    if (query.status !== undefined && !STATUSES.includes(query.status))
      throw new UiRequestError(
        400,
        `status ${JSON.stringify(query.status)} is not a run status; use one of ${STATUSES.join(", ")}`,
      );
    const limit = query.limit ?? 50;
    const offset = query.offset ?? 0;
    if (!Number.isInteger(limit) || limit < 1 || limit > 500)
      throw new UiRequestError(400, `limit ${limit} is invalid; use a whole number from 1 to 500`);
    if (!Number.isInteger(offset) || offset < 0)
      throw new UiRequestError(400, `offset ${offset} is invalid; use a whole number >= 0`);
    const idx = await this.index(flow);
    const users = new Set<string>();
    const tags = new Set<string>();
    const statuses: Record<Status, number> = { running: 0, succeeded: 0, failed: 0 };
    const q = query.q?.toLowerCase();
    const matched: RunMeta[] = [];
    for (const id of idx.order) {
      const m = idx.metas.get(id)!;
      users.add(m.user);
      for (const t of m.tags ?? []) tags.add(t);
      statuses[m.status]++;
      if (query.status && m.status !== query.status) continue;
      if (query.user && m.user !== query.user) continue;
      if (query.tag && !(m.tags ?? []).includes(query.tag)) continue;
      if (q && !`${m.runId} ${(m.tags ?? []).join(" ")} ${JSON.stringify(m.params ?? {})}`.toLowerCase().includes(q))
        continue;
      matched.push(m);
    }
    const now = Date.now();
    return {
      total: matched.length,
      offset,
      limit,
      runs: matched.slice(offset, offset + limit).map((m) => summarize(m, now)),
      facets: { users: [...users].sort(), tags: [...tags].sort(), statuses },
    };
  }

  private async readRun(flow: string, runId: string): Promise<RunMeta> {
    const m = await this.ds(flow).readRun(checkSegment("run", runId));
    if (!m) throw new UiRequestError(404, `run ${flow}/${runId} does not exist in ${this.storage.root}`);
    return m;
  }

  /** Every task of a run (finished ones from memory), and which tasks have a card. */
  private async tasksOf(flow: string, runId: string): Promise<{ metas: TaskMeta[]; cards: Set<string> }> {
    const prefix = `${flow}/runs/${runId}/`;
    const keys = await this.storage.list(prefix);
    const taskKeys: string[] = [];
    const cards = new Set<string>();
    for (const k of keys) {
      const rel = k.slice(prefix.length).split("/");
      if (rel.length !== 3) continue;
      if (rel[2] === "task.json") taskKeys.push(k);
      else if (rel[2] === "card.json") cards.add(`${rel[0]}/${rel[1]}`);
    }
    const metas = await mapLimit(taskKeys, this.concurrency, async (k) => {
      const cached = this.finishedTasks.get(this.storage.root + "\0" + k);
      if (cached) return cached;
      const b = await this.storage.get(k);
      if (!b) return undefined;
      const m = parseMetadata<TaskMeta>("task", b.toString("utf8"), { key: k, root: this.storage.root });
      if (m.status !== "running") this.finishedTasks.set(this.storage.root + "\0" + k, m);
      return m;
    });
    return { metas: metas.filter((m): m is TaskMeta => !!m), cards };
  }

  private taskSummary(m: TaskMeta, hasCard: boolean): TaskSummary {
    const attempts = [...m.attempts];
    const last = attempts[attempts.length - 1];
    if (m.status === "running" && last?.status !== "running") {
      // The orchestrator records an attempt when it ends (or when its pod is placed); the one under way is
      // shown as running since the last ended.
      attempts.push({ attempt: attempts.length, status: "running", startedAt: last?.finishedAt ?? m.startedAt });
    }
    const lastDone = [...m.attempts].reverse().find((a) => a.executor);
    const placed = [...m.attempts].reverse().find((a) => a.placement);
    const failed = [...m.attempts].reverse().find((a) => a.status === "failed");
    const frame = m.foreachStack[m.foreachStack.length - 1];
    return {
      step: m.step,
      taskId: m.taskId,
      status: m.status,
      startedAt: m.startedAt,
      ...(m.finishedAt ? { finishedAt: m.finishedAt } : {}),
      attempts,
      parents: m.parents,
      ...(frame ? { foreachIndex: frame.index } : {}),
      ...(lastDone?.executor ? { where: lastDone.executor } : {}),
      ...(placed?.placement ? { placement: placed.placement } : {}),
      ...(failed?.error ? { error: failed.error } : {}),
      ...(m.caught ? { caught: m.caught } : {}),
      ...(m.clonedFrom ? { clonedFrom: m.clonedFrom } : {}),
      hasCard,
      artifactCount: Object.keys(m.artifacts ?? {}).length,
    };
  }

  /** A run with its steps, tasks, attempts and step graph. */
  async run(flow: string, runId: string): Promise<RunDetail> {
    const meta = await this.readRun(flow, runId);
    const { metas, cards } = await this.tasksOf(flow, runId);
    const byStep = new Map<string, TaskMeta[]>();
    for (const m of metas) (byStep.get(m.step) ?? byStep.set(m.step, []).get(m.step)!).push(m);
    for (const ts of byStep.values())
      ts.sort((a, b) => Number(a.taskId) - Number(b.taskId) || a.taskId.localeCompare(b.taskId));
    const stepStatus = (ts: TaskMeta[]): Status =>
      ts.some((t) => t.status === "failed")
        ? "failed"
        : ts.some((t) => t.status === "running")
          ? "running"
          : "succeeded";
    const steps = [...byStep.entries()]
      .map(([name, ts]) => ({
        name,
        status: stepStatus(ts),
        tasks: ts.map((t) => this.taskSummary(t, cards.has(`${t.step}/${t.taskId}`))),
      }))
      .sort((a, b) =>
        a.tasks[0]!.startedAt < b.tasks[0]!.startedAt
          ? -1
          : a.tasks[0]!.startedAt > b.tasks[0]!.startedAt
            ? 1
            : Number(a.tasks[0]!.taskId) - Number(b.tasks[0]!.taskId),
      );
    return { run: summarize(meta, Date.now()), steps, graph: buildGraph(byStep, meta.graph) };
  }

  /** A task with its attempts and artifact previews. */
  async task(flow: string, runId: string, step: string, taskId: string): Promise<TaskDetail> {
    const run = await this.readRun(flow, runId);
    const ds = this.ds(flow);
    const meta = await ds.readTask(runId, checkSegment("step", step), checkSegment("task", taskId));
    if (!meta) throw new UiRequestError(404, `task ${flow}/${runId}/${step}/${taskId} does not exist`);
    const hasCard = await this.storage.exists(ds.cardKey(runId, step, taskId));
    const artifacts = await mapLimit(Object.entries(meta.artifacts ?? {}), 8, ([name, ref]) =>
      this.artifactInfo(ds, name, ref),
    );
    return {
      run: summarize(run, Date.now()),
      task: this.taskSummary(meta, hasCard),
      artifacts: artifacts.sort((a, b) => a.name.localeCompare(b.name)),
    };
  }

  private async artifactInfo(ds: FlowDatastore, name: string, ref: ArtifactRef): Promise<ArtifactInfo> {
    const base = { name, sha: ref.sha, encoding: ref.encoding, size: ref.size };
    try {
      if (ref.encoding !== "v8") {
        // Bytes: only the head is read.
        const head = await this.readHead(ds, ref.sha, 64);
        const type = ref.encoding === "buffer" ? "Buffer" : "Uint8Array";
        return {
          ...base,
          preview: {
            type,
            summary: `${type} ${formatBytes(ref.size)}`,
            text: hexHead(head, 64),
            truncated: ref.size > 64,
          },
        };
      }
      if (ref.size > this.previewMaxBytes)
        return {
          ...base,
          previewError: `${formatBytes(ref.size)} is larger than the preview limit (${formatBytes(this.previewMaxBytes)}); download it`,
        };
      return { ...base, preview: previewValue(decodeArtifact(ref.encoding, await ds.getBlob(ref.sha))) };
    } catch (e) {
      return { ...base, previewError: (e as Error).message };
    }
  }

  private async readHead(ds: FlowDatastore, sha: string, n: number): Promise<Uint8Array> {
    const stream = await this.storage.getStream(ds.blobKey(sha));
    if (!stream) throw new Error(`artifact data ${sha} is missing from the datastore ${this.storage.root}`);
    const chunks: Buffer[] = [];
    let got = 0;
    for await (const c of stream as AsyncIterable<Buffer>) {
      chunks.push(c);
      got += c.length;
      if (got >= n) break;
    }
    (stream as Readable).destroy();
    return Buffer.concat(chunks).subarray(0, n);
  }

  /**
   * The log of an attempt: archived once it ended, its live chunks so far while it runs (chunks never change,
   * so each is read once); undefined while it has stored neither.
   */
  async log(
    flow: string,
    runId: string,
    step: string,
    taskId: string,
    attempt: number,
  ): Promise<StoredLog | undefined> {
    if (!Number.isInteger(attempt) || attempt < 0)
      throw new UiRequestError(400, `attempt ${attempt} is invalid; use a whole number >= 0`);
    const ds = this.ds(flow);
    const args = [
      checkSegment("run", runId),
      checkSegment("step", step),
      checkSegment("task", taskId),
      attempt,
    ] as const;
    const log = await ds.readLogOrLive(...args, async (key) => {
      const cached = this.chunks.get(key);
      if (cached) return cached;
      const b = await this.storage.get(key);
      if (b) this.chunks.set(key, b);
      return b;
    });
    if (!log?.live) {
      // Ended: its chunks are gone from the datastore, drop them from memory too.
      const prefix = ds.liveLogPrefix(...args) + "/";
      for (const k of this.chunks.keys()) if (k.startsWith(prefix)) this.chunks.delete(k);
    }
    return log;
  }

  /** An artifact's stored bytes as a stream, with its reference, for download. */
  async artifactStream(
    flow: string,
    runId: string,
    step: string,
    taskId: string,
    name: string,
  ): Promise<{ ref: ArtifactRef; stream: Readable }> {
    const ds = this.ds(flow);
    const meta = await ds.readTask(
      checkSegment("run", runId),
      checkSegment("step", step),
      checkSegment("task", taskId),
    );
    if (!meta) throw new UiRequestError(404, `task ${flow}/${runId}/${step}/${taskId} does not exist`);
    const ref = meta.artifacts?.[name];
    if (!ref)
      throw new UiRequestError(
        404,
        `task ${flow}/${runId}/${step}/${taskId} has no artifact ${JSON.stringify(name)}; it has: ${Object.keys(meta.artifacts ?? {}).join(", ") || "none"}`,
      );
    const stream = await this.storage.getStream(ds.blobKey(ref.sha));
    if (!stream)
      throw new UiRequestError(404, `artifact data ${ref.sha} is missing from the datastore ${this.storage.root}`);
    return { ref, stream };
  }

  /** A task's card (undefined when it made none). */
  async card(flow: string, runId: string, step: string, taskId: string): Promise<CardData | undefined> {
    return this.ds(flow).readCard(checkSegment("run", runId), checkSegment("step", step), checkSegment("task", taskId));
  }
}

/**
 * The step graph of a run, from its tasks: parents give the edges, transitions give fan-outs and the steps not
 * reached yet; the flow's static graph (stored with the run) adds every step no task reached, "pending" (not started).
 */
export function buildGraph(
  byStep: Map<string, TaskMeta[]>,
  flowGraph?: StaticGraph,
): { nodes: GraphNode[]; edges: GraphEdge[] } {
  const nodes = new Map<string, GraphNode>();
  const edges = new Map<string, GraphEdge>();
  const node = (step: string): GraphNode => {
    let n = nodes.get(step);
    if (!n) {
      n = { step, status: "pending", counts: { running: 0, succeeded: 0, failed: 0 }, taskCount: 0, isJoin: false };
      nodes.set(step, n);
    }
    return n;
  };
  for (const [step, tasks] of byStep) {
    const n = node(step);
    n.taskCount = tasks.length;
    for (const t of tasks) n.counts[t.status]++;
    n.status = n.counts.failed ? "failed" : n.counts.running ? "running" : "succeeded";
    n.isJoin = tasks.some((t) => t.parents.length > 1);
    for (const t of tasks) {
      const tr = t.transition;
      if (tr?.foreach !== undefined)
        n.foreach = { artifact: tr.foreach, ...(t.foreachNum !== undefined ? { num: t.foreachNum } : {}) };
      if (tr?.numParallel) n.parallel = tr.numParallel;
      for (const target of tr?.targets ?? []) node(target);
    }
  }
  for (const [step, tasks] of byStep) {
    const parentSteps = new Map<string, number>();
    for (const t of tasks)
      for (const p of t.parents) {
        const ps = p.split("/")[0]!;
        parentSteps.set(ps, (parentSteps.get(ps) ?? 0) + 1);
      }
    for (const [ps, count] of parentSteps) {
      const from = nodes.get(ps);
      const kind: GraphEdge["kind"] = from?.foreach
        ? "foreach"
        : from?.parallel
          ? "parallel"
          : nodes.get(step)!.isJoin && count > 1
            ? "join"
            : "normal";
      edges.set(`${ps}\0${step}`, {
        from: ps,
        to: step,
        kind,
        ...(kind === "foreach"
          ? { count: from?.foreach?.num ?? tasks.length }
          : kind === "parallel"
            ? { count: from!.parallel! }
            : kind === "join"
              ? { count }
              : {}),
      });
    }
    const n = nodes.get(step)!;
    const from = [...parentSteps.keys()].map((s) => nodes.get(s)).find((f) => f?.parallel);
    if (from?.parallel) n.gangSize = from.parallel;
  }
  // Steps a transition names that have no task yet: pending, with the declared edge.
  for (const [step, tasks] of byStep)
    for (const t of tasks)
      for (const target of t.transition?.targets ?? [])
        if (!byStep.has(target) && !edges.has(`${step}\0${target}`)) {
          const from = nodes.get(step)!;
          const kind: GraphEdge["kind"] = from.foreach ? "foreach" : from.parallel ? "parallel" : "normal";
          edges.set(`${step}\0${target}`, {
            from: step,
            to: target,
            kind,
            ...(kind === "foreach" && from.foreach?.num !== undefined
              ? { count: from.foreach.num }
              : kind === "parallel"
                ? { count: from.parallel! }
                : {}),
          });
        }
  // Steps of the flow no task reached (not started, or never reached because the run failed), with their edges.
  for (const st of flowGraph?.steps ?? []) {
    const n = node(st.name);
    if (!byStep.has(st.name)) {
      n.isJoin = st.isJoin;
      if (st.foreach !== undefined) n.foreach = { artifact: st.foreach };
      if (st.numParallel !== undefined) n.parallel = st.numParallel;
    }
  }
  for (const st of flowGraph?.steps ?? [])
    for (const target of st.out) {
      if (edges.has(`${st.name}\0${target}`)) continue;
      // An edge both of whose ends have tasks is already known from their parents (or was not taken).
      if (byStep.has(st.name) && byStep.has(target)) continue;
      const from = nodes.get(st.name)!;
      const kind: GraphEdge["kind"] = from.foreach
        ? "foreach"
        : from.parallel
          ? "parallel"
          : nodes.get(target)?.isJoin
            ? "join"
            : "normal";
      edges.set(`${st.name}\0${target}`, {
        from: st.name,
        to: target,
        kind,
        ...(kind === "foreach" && from.foreach?.num !== undefined
          ? { count: from.foreach.num }
          : kind === "parallel" && from.parallel
            ? { count: from.parallel }
            : {}),
      });
    }
  // In the flow's order when it is known (steps it does not name, if any, last).
  const rank = new Map((flowGraph?.steps ?? []).map((st, i) => [st.name, i]));
  const ordered = [...nodes.values()].sort((a, b) => (rank.get(a.step) ?? rank.size) - (rank.get(b.step) ?? rank.size));
  return { nodes: ordered, edges: [...edges.values()] };
}
