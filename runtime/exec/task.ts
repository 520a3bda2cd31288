/**
 * Runs one task attempt inside its own process (a local child process or a Kubernetes pod): loads the
 * inputs, runs the step (awaiting it when async), stores the artifacts and the transition, exits.
 */
import { mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isMainThread, parentPort, workerData } from "node:worker_threads";
import { ArtifactStore, artifactView, defineLazyArtifacts } from "../artifacts/store.js";
import { FlowDatastore, type ArtifactRef, type TaskMeta, type TaskResult } from "../datastore/flowstore.js";
import { openStorage } from "../datastore/open.js";
import { setCurrent } from "../flow/current.js";
import { takeCard } from "../flow/card.js";
import {
  FLOWSPEC_MARK,
  TASK_STATE,
  type FlowSpec,
  type Inputs,
  type MergeOptions,
  type Transition,
} from "../flow/flowspec.js";
import { buildGraph } from "../flow/graph.js";
import { FlowDefinitionError } from "../errors.js";
import { TASK_SPEC_ENV, type TaskSpec } from "./spec.js";
import { PARALLEL_ENV, parallelNodeFromEnv } from "./gang.js";
import { mapStack } from "./stack.js";
import { parseVariable, readVariable } from "../variables.js";

/** Artifact names that belong to the runtime, not to the user. */
export const RESERVED = new Set(["input", "index"]);

function findFlowClass(mod: Record<string, unknown>, name: string): Function {
  const cls = mod[name];
  if (typeof cls === "function" && (cls as unknown as Record<symbol, unknown>)[FLOWSPEC_MARK]) return cls;
  for (const v of Object.values(mod)) if (typeof v === "function" && v.name === name) return v;
  throw new Error(`the code package does not export flow ${name}`);
}

/**
 * Waits until `host` resolves (an `@parallel` worker waiting for the control node's DNS name, which a
 * JobSet publishes only once the control pod runs). IP addresses return at once.
 * @throws after `timeoutSeconds` with the host and the last resolver error.
 */
export async function waitForHostname(host: string, timeoutSeconds: number, step: string): Promise<void> {
  // Loaded here, not by every task: only @parallel workers resolve a host.
  const [{ isIP }, { lookup }] = await Promise.all([import("node:net"), import("node:dns/promises")]);
  if (isIP(host)) return;
  const deadline = Date.now() + timeoutSeconds * 1000;
  for (;;) {
    try {
      await lookup(host);
      return;
    } catch (e) {
      if (Date.now() > deadline)
        throw new Error(
          `step ${step}: the control node ${host} did not resolve within ${timeoutSeconds} s (hostnameResolutionTimeout): ${(e as Error).message}`,
          { cause: e },
        );
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
}

/** Runs the attempt described by `spec` with the flow module `mod`. Resolves to the result it stored. */
export async function runTask(mod: Record<string, unknown>, spec: TaskSpec): Promise<TaskResult> {
  const cls = findFlowClass(mod, spec.flowName);
  const graph = buildGraph(cls);
  const node = graph.nodes[spec.step];
  if (!node) throw new Error(`flow ${spec.flowName} has no step ${spec.step}`);
  const storage = await openStorage(spec.datastore.kind, spec.datastore.root);
  const ds = new FlowDatastore(storage, spec.flowName);
  const store = new ArtifactStore(ds);

  const parents: TaskMeta[] = await Promise.all(
    spec.parents.map(async (p) => {
      const [step, taskId] = p.split("/") as [string, string];
      const t = await ds.readTask(spec.runId, step, taskId);
      if (!t?.artifacts) throw new Error(`input task ${spec.runId}/${p} has no stored artifacts`);
      return t;
    }),
  );
  await store.prefetch(parents.flatMap((p) => Object.values(p.artifacts!)));

  const flow = new (cls as new () => FlowSpec)();
  const self = flow as unknown as Record<string, unknown>;
  const state: {
    transition?: Transition;
    stepName: string;
    merge?: (inputs: Inputs<Record<string, unknown>>, o: MergeOptions) => void;
  } = { stepName: spec.step };
  Object.defineProperty(flow, TASK_STATE, { value: state, enumerable: false });
  const initial = new Map(Object.entries(self)); // field initializers' values

  const paramNames = new Set(Object.keys(graph.meta.params));
  let lazy = { untouched: () => new Set<string>() };
  const inheritedRefs: Record<string, ArtifactRef> = {};
  /** The input task each inherited artifact comes from (`run/step/task`), for error messages. */
  const inheritedFrom = new Map<string, string>();
  let inputs: Inputs<Record<string, unknown>> | undefined;
  if (node.isJoin) {
    const views = parents.map((p) => artifactView(p.artifacts!, store, {}, `${spec.runId}/${p.step}/${p.taskId}`));
    const byStep = (s: string) => {
      const i = parents.findIndex((p) => p.step === s);
      if (i < 0)
        throw new FlowDefinitionError(
          `step ${spec.step}: inputs.byStep(${JSON.stringify(s)}): no input came from step ${s} (inputs came from ${[...new Set(parents.map((p) => p.step))].join(", ")})`,
        );
      return views[i]!;
    };
    inputs = Object.assign(views, { byStep }) as unknown as Inputs<Record<string, unknown>>;
    state.merge = (given, options) => {
      const exclude = new Set(options.exclude ?? []);
      const include = options.include ? new Set(options.include) : undefined;
      const names = new Set(parents.flatMap((p) => Object.keys(p.artifacts!)));
      const conflicts: string[] = [];
      for (const name of names) {
        if (exclude.has(name) || (include && !include.has(name)) || paramNames.has(name)) continue;
        const setByJoin =
          Object.prototype.hasOwnProperty.call(self, name) &&
          !(name in inheritedRefs) &&
          (!initial.has(name) || initial.get(name) !== self[name]);
        if (setByJoin) continue;
        const refs = parents.map((p) => p.artifacts![name]).filter((r): r is ArtifactRef => !!r);
        if (new Set(refs.map((r) => r.sha + r.encoding)).size > 1) {
          conflicts.push(name);
          continue;
        }
        inheritedRefs[name] = refs[0]!;
        const from = parents.find((p) => p.artifacts![name]);
        if (from) inheritedFrom.set(name, `${spec.runId}/${from.step}/${from.taskId}`);
      }
      if (conflicts.length)
        throw new FlowDefinitionError(
          `step ${spec.step}: mergeArtifacts: inputs disagree on ${conflicts.join(", ")}; set them in the join or pass { exclude: [${conflicts.map((c) => JSON.stringify(c)).join(", ")}] }`,
        );
      void given;
      const l = defineLazyArtifacts(flow, inheritedRefs, store, new Set(), (n) => inheritedFrom.get(n));
      const prev = lazy.untouched;
      lazy = { untouched: () => new Set([...prev(), ...l.untouched()]) };
    };
  } else if (parents.length === 1) {
    Object.assign(inheritedRefs, parents[0]!.artifacts);
    const p0 = parents[0]!;
    lazy = defineLazyArtifacts(
      flow,
      inheritedRefs,
      store,
      new Set([...paramNames, ...RESERVED]),
      `${spec.runId}/${p0.step}/${p0.taskId}`,
    );
  }
  for (const [k, v] of Object.entries(spec.params)) self[k] = v;

  // Foreach input: this task's element of the parent's foreach artifact.
  const frame = spec.foreachStack[spec.foreachStack.length - 1];
  const parentNode = frame ? graph.nodes[frame.step] : undefined;
  if (!node.isJoin && frame && parents[0]?.step === frame.step && parentNode?.foreach !== undefined) {
    const items = store.loadSync(
      parentNode.foreach!,
      parents[0].artifacts![parentNode.foreach!]!,
      `${spec.runId}/${parents[0].step}/${parents[0].taskId}`,
    );
    const arr = Array.isArray(items) ? items : Array.from(items as Iterable<unknown>);
    Object.defineProperty(flow, "input", {
      value: arr[frame.index],
      writable: true,
      enumerable: false,
      configurable: true,
    });
    Object.defineProperty(flow, "index", { value: frame.index, writable: true, enumerable: false, configurable: true });
  } else if (!node.isJoin && frame) {
    Object.defineProperty(flow, "index", { value: frame.index, writable: true, enumerable: false, configurable: true });
  }

  if (spec.parallel && spec.parallel.nodeIndex > 0 && spec.parallel.mainIp)
    await waitForHostname(
      spec.parallel.mainIp,
      parseVariable("KUBESTEP_HOSTNAME_RESOLUTION_TIMEOUT") ?? 600,
      spec.step,
    );
  const td = join(tmpdir(), "kubestep", spec.runId, `${spec.step}-${spec.taskId}`);
  mkdirSync(td, { recursive: true });
  setCurrent({
    flowName: spec.flowName,
    runId: spec.runId,
    stepName: spec.step,
    taskId: spec.taskId,
    retryCount: spec.attempt,
    pathspec: `${spec.flowName}/${spec.runId}/${spec.step}/${spec.taskId}`,
    isRunningOnKubernetes: !!spec.kubernetes,
    username: spec.user,
    tags: spec.tags,
    tempdir: readVariable("KUBESTEP_TEMPDIR") ?? td,
    ...(spec.trigger ? { trigger: spec.trigger } : {}),
    ...(spec.parallel
      ? {
          parallel: {
            nodeIndex: spec.parallel.nodeIndex,
            numNodes: spec.parallel.numNodes,
            controlTaskId: spec.parallel.controlTaskId,
            mainIp: spec.parallel.mainIp ?? readVariable(PARALLEL_ENV.mainIp) ?? "127.0.0.1",
          },
        }
      : {}),
  });

  const method = (flow as unknown as Record<string, (...a: unknown[]) => unknown>)[spec.step]!;
  takeCard();
  try {
    await method.call(flow, ...(inputs ? [inputs] : []));
  } finally {
    // The card (current.card) is stored even when the step throws: it may explain the failure.
    const card = takeCard();
    if (card)
      await ds.writeCard(spec.runId, spec.step, spec.taskId, {
        version: 1,
        pathspec: `${spec.flowName}/${spec.runId}/${spec.step}/${spec.taskId}`,
        attempt: spec.attempt,
        createdAt: new Date().toISOString(),
        components: card.components,
      });
  }

  // Transition: exactly the one the graph declares.
  const t = state.transition;
  if (spec.step !== "end") {
    if (!t)
      throw new FlowDefinitionError(
        `step ${spec.step}: finished without calling this.next(); expected this.next(${node.out.map((o) => "this." + o).join(", ")})`,
      );
    if (t.targets.join(",") !== node.out.join(","))
      throw new FlowDefinitionError(
        `step ${spec.step}: called this.next(${t.targets.join(", ")}) but its code declares this.next(${node.out.join(", ")})`,
      );
  }

  // Artifacts: everything the instance holds; untouched inherited ones by reference.
  const untouched = lazy.untouched();
  const artifacts: Record<string, ArtifactRef> = {};
  const names = Object.keys(flow).filter((n) => !RESERVED.has(n));
  await Promise.all(
    names.map(async (name) => {
      artifacts[name] = untouched.has(name) ? inheritedRefs[name]! : await store.save(name, self[name]);
    }),
  );
  const result: TaskResult = { artifacts, ...(t ? { transition: t } : {}) };
  if (t?.foreach !== undefined) {
    const v = self[t.foreach];
    if (v === undefined)
      throw new FlowDefinitionError(
        `step ${spec.step}: foreach artifact ${t.foreach} is not set; assign this.${t.foreach} = [...] before this.next()`,
      );
    const n =
      Array.isArray(v) || ArrayBuffer.isView(v)
        ? (v as ArrayLike<unknown>).length
        : v instanceof Set || v instanceof Map
          ? v.size
          : undefined;
    if (n === undefined)
      throw new FlowDefinitionError(
        `step ${spec.step}: foreach artifact ${t.foreach} must be an array or a Set/Map; got ${typeof v}`,
      );
    if (n > spec.maxNumSplits)
      throw new FlowDefinitionError(
        `step ${spec.step}: foreach over ${t.foreach} would start ${n} tasks, more than --max-num-splits ${spec.maxNumSplits}; raise --max-num-splits if intended`,
      );
    result.foreachNum = n;
  }
  await ds.writeResult(spec.runId, spec.step, spec.taskId, spec.attempt, result);
  setCurrent(undefined);
  return result;
}

/** What a task process receives: the attempt, and the step's extra environment variables. */
export interface TaskLaunch {
  spec: TaskSpec;
  env: Record<string, string>;
}

/** What a task thread is started with (`workerData`): the code package it runs, for mapping stacks. */
export interface TaskThreadData {
  /** Marks a task thread (a worker thread started by the local executor). */
  kubestepTaskThread: true;
  /** The code package's path. */
  codePath: string;
}

/** The data of this task thread, or undefined in a task process (or any other thread). */
export function taskThreadData(): TaskThreadData | undefined {
  const d = workerData as Partial<TaskThreadData> | null | undefined;
  return !isMainThread && d?.kubestepTaskThread ? (d as TaskThreadData) : undefined;
}

function readLaunch(): Promise<TaskLaunch> {
  // A task thread (pre-started or not) receives its task as one message from the local executor.
  if (taskThreadData() && parentPort) {
    const port = parentPort;
    return new Promise((resolveLaunch) => port.once("message", (m: TaskLaunch) => resolveLaunch(m)));
  }
  const inline = readVariable(TASK_SPEC_ENV);
  if (inline) {
    const spec = JSON.parse(inline) as TaskSpec;
    // In a JobSet pod the spec is the control's; the pod's own node and task come from its environment.
    const node = parallelNodeFromEnv(process.env);
    if (node)
      Object.assign(spec, {
        taskId: node.taskId,
        parallel: {
          nodeIndex: node.nodeIndex,
          numNodes: node.numNodes,
          controlTaskId: node.controlTaskId,
          mainIp: node.mainIp,
        },
      });
    return Promise.resolve({ spec, env: {} });
  }
  return new Promise((resolveLaunch, reject) => {
    let buf = "";
    const onData = (c: Buffer) => {
      buf += c.toString();
      const nl = buf.indexOf("\n");
      if (nl < 0) return;
      process.stdin.off("data", onData);
      process.stdin.pause();
      process.stdin.unref?.();
      resolveLaunch(JSON.parse(buf.slice(0, nl)) as TaskLaunch);
    };
    process.stdin.on("data", onData);
    process.stdin.once("end", () => reject(new Error("no task was given on stdin")));
  });
}

/**
 * Entry point of a task process: reads the attempt (from `KUBESTEP_TASK_SPEC`, or one JSON line on stdin
 * for a pre-started process), sets the step's environment, imports the flow, runs the step, and exits
 * with 0 on success or 1 (with the error printed) on failure. In a task thread (see `LocalExecutor`) the same
 * happens in a worker thread: the task arrives as a message and `process.exit` ends only the thread.
 */
export async function taskProcessMain(loadFlowModule: () => Promise<Record<string, unknown>>): Promise<never> {
  try {
    const launch = await readLaunch();
    Object.assign(process.env, launch.env);
    await runTask(await loadFlowModule(), launch.spec);
    process.exit(0);
  } catch (e) {
    const err = e as Error;
    const text = err?.stack ?? String(e);
    // Run as `node package.mjs` or in a task thread: the package's frames are mapped to the user's files (no
    // --enable-source-maps).
    const codePath = taskThreadData()?.codePath ?? process.argv[1];
    process.stderr.write(`${codePath && !process.sourceMapsEnabled ? mapStack(text, codePath) : text}\n`);
    process.exit(1);
  }
}
