/**
 * What a step pod of an Argo workflow runs (`runArgoTask()` of the code package): one kubestep task, plus the
 * bookkeeping `kubestep run`'s orchestrator does for it, since Argo is the orchestrator here: the run's metadata
 * (written by `start`, finished by `end` or by the task that fails for good), the task's metadata and attempts,
 * its log, and the outputs Argo reads (the task id; the split indices of a foreach step). The run is then a
 * kubestep run like any other: `kubestep runs/logs/dump`, the client API and `kubestep ui` show it.
 */
import { readVariable } from "../variables.js";
import { installDependencyLayer } from "../code/layer-install.js";
import { mkdirSync, writeFileSync } from "node:fs";
import { buildGraph, type FlowGraph } from "../flow/graph.js";
import { FLOWSPEC_MARK } from "../flow/flowspec.js";
import { resolveParams } from "../flow/params.js";
import { openStorage } from "../datastore/open.js";
import { FlowDatastore, type ForeachFrame, type RunMeta, type TaskMeta } from "../datastore/flowstore.js";
import { runTask } from "../exec/task.js";
import type { TaskSpec } from "../exec/spec.js";
import {
  ARGO_INPUTS_ENV,
  ARGO_OUTPUT_DIR,
  ARGO_RUN_PREFIX,
  ARGO_TASK_ENV,
  type ArgoTaskDynamic,
  type ArgoTaskStatic,
} from "./workflow.js";

/** At most this many bytes of a task's output are archived as its log (the rest is counted, not kept). */
const LOG_LIMIT = 8 * 1024 * 1024;

/** The task id of a step's task at foreach path `path` ("" outside foreach; "2.0" = index 2, then 0). */
export function argoTaskId(path: string): string {
  return path === "" ? "1" : `1-${path.split(".").join("-")}`;
}

/** The foreach stack of a task from its parents' (what the orchestrator's `advance` computes for a local run). */
export function argoForeachStack(graph: FlowGraph, step: string, parents: TaskMeta[], path: string): ForeachFrame[] {
  const node = graph.nodes[step]!;
  const first = parents[0];
  if (!first) return [];
  if (node.isJoin) {
    const closing = graph.nodes[node.splitParents[node.splitParents.length - 1]!]!;
    const foreachJoin = closing.type === "foreach" || closing.type === "parallel";
    return foreachJoin ? first.foreachStack.slice(0, -1) : first.foreachStack;
  }
  const parentNode = graph.nodes[first.step]!;
  if (parentNode.type === "foreach") {
    const last = path.split(".").pop() ?? "";
    const index = last === "" ? NaN : Number(last);
    if (!Number.isInteger(index) || index < 0)
      throw new Error(`step ${step}: foreach path ${JSON.stringify(path)} has no split index`);
    return [...first.foreachStack, { step: first.step, index, num: first.foreachNum ?? 0 }];
  }
  return first.foreachStack;
}

function flowClass(mod: Record<string, unknown>, name: string): Function {
  const cls = mod[name];
  if (typeof cls === "function" && (cls as unknown as Record<symbol, unknown>)[FLOWSPEC_MARK]) return cls;
  for (const v of Object.values(mod)) if (typeof v === "function" && v.name === name) return v;
  throw new Error(`the code package does not export flow ${name}`);
}

/** Keeps what the process writes to stdout/stderr (bounded) while still writing it. */
function captureOutput(): () => string {
  const chunks: string[] = [];
  let size = 0;
  let dropped = 0;
  for (const stream of [process.stdout, process.stderr]) {
    const write = stream.write.bind(stream) as (...a: unknown[]) => boolean;
    stream.write = ((chunk: unknown, ...rest: unknown[]) => {
      const text = typeof chunk === "string" ? chunk : Buffer.from(chunk as Uint8Array).toString();
      if (size + text.length <= LOG_LIMIT) {
        chunks.push(text);
        size += text.length;
      } else dropped += text.length;
      return write(chunk, ...rest);
    }) as typeof stream.write;
  }
  return () =>
    chunks.join("") + (dropped ? `\n[kubestep: ${dropped} more characters of output were not archived]\n` : "");
}

/** Runs the Argo task in the environment; exits 0 on success, 1 when the task failed. */
export async function argoTaskMain(loadFlowModule: () => Promise<Record<string, unknown>>): Promise<never> {
  const log = captureOutput();
  try {
    process.exit(await runArgoTaskOnce(loadFlowModule, log));
  } catch (e) {
    process.stderr.write(`${(e as Error)?.stack ?? String(e)}\n`);
    process.exit(1);
  }
}

async function runArgoTaskOnce(
  loadFlowModule: () => Promise<Record<string, unknown>>,
  log: () => string,
): Promise<number> {
  const statics = JSON.parse(readVariable(ARGO_TASK_ENV) ?? "null") as ArgoTaskStatic | null;
  const dynamic = JSON.parse(readVariable(ARGO_INPUTS_ENV) ?? "null") as ArgoTaskDynamic | null;
  if (!statics || !dynamic)
    throw new Error(`${ARGO_TASK_ENV} and ${ARGO_INPUTS_ENV} must be set by the workflow template`);
  const storage = await openStorage(statics.datastore.kind, statics.datastore.root);
  // The flow's external packages (native addons) must be in place before the flow module is imported.
  if (statics.deps) await installDependencyLayer(storage, statics.deps);
  const mod = await loadFlowModule();
  const graph = buildGraph(flowClass(mod, statics.flowName));
  const step = statics.step;
  const node = graph.nodes[step];
  if (!node) throw new Error(`flow ${statics.flowName} has no step ${step}`);
  const runId = `${ARGO_RUN_PREFIX}${dynamic.workflow}`;
  const attempt = Number(dynamic.attempt) || 0;
  const maxAttempts = 1 + (node.meta.decorators.retry?.options.times ?? 0);
  // `{{workflow.parameters.json}}` is Argo's list of { name, value } (values as text).
  const given = Array.isArray(dynamic.params)
    ? Object.fromEntries(
        (dynamic.params as Array<{ name: string; value?: unknown }>).map((p) => [p.name, String(p.value ?? "")]),
      )
    : dynamic.params;
  const params = resolveParams(graph.meta.params, given);
  const ds = new FlowDatastore(storage, statics.flowName);
  const now = () => new Date().toISOString();

  if (step === "start" && !(await ds.readRun(runId))) {
    const run: RunMeta = {
      flowName: statics.flowName,
      runId,
      status: "running",
      params,
      tags: [...statics.tags, `argo-workflow:${dynamic.workflow}`],
      user: "argo",
      codeHash: statics.codeSha,
      createdAt: now(),
    };
    await ds.writeRun(run);
  }
  const parentIds = dynamic.parents.flatMap((p) =>
    (Array.isArray(p.ids) ? p.ids : [p.ids]).map((id) => `${p.step}/${String(id)}`),
  );
  const parents = await Promise.all(
    parentIds.map(async (p) => {
      const [s, id] = p.split("/") as [string, string];
      const t = await ds.readTask(runId, s, id);
      if (!t) throw new Error(`step ${step}: input task ${runId}/${p} has no metadata`);
      return t;
    }),
  );
  // Argo aggregates a fan-out's outputs in the order its nodes finished: a join sees them in foreach order.
  parents.sort((a, b) => (a.foreachStack.at(-1)?.index ?? 0) - (b.foreachStack.at(-1)?.index ?? 0));
  parentIds.splice(0, parentIds.length, ...parents.map((t) => `${t.step}/${t.taskId}`));
  const taskId = argoTaskId(dynamic.path);
  const foreachStack = argoForeachStack(graph, step, parents, dynamic.path);
  const pod = readVariable("KUBESTEP_KUBERNETES_POD_NAME") ?? "argo";
  const meta: TaskMeta = (await ds.readTask(runId, step, taskId)) ?? {
    step,
    taskId,
    status: "running",
    parents: parentIds,
    foreachStack,
    attempts: [],
    startedAt: now(),
  };
  meta.status = "running";
  meta.attempts[attempt] = { attempt, status: "running", startedAt: now(), executor: pod };
  await ds.writeTask(runId, meta);

  const spec: TaskSpec = {
    flowName: statics.flowName,
    runId,
    step,
    taskId,
    attempt,
    parents: parentIds,
    foreachStack,
    params,
    datastore: statics.datastore,
    user: "argo",
    tags: statics.tags,
    maxNumSplits: statics.maxNumSplits,
    kubernetes: true,
  };
  try {
    const result = await runTask(mod, spec);
    if (result.foreachNum === 0)
      throw new Error(
        `step ${step}: foreach over ${result.transition?.foreach} is empty; a foreach needs at least one element`,
      );
    meta.attempts[attempt] = { ...meta.attempts[attempt]!, status: "succeeded", finishedAt: now(), exitCode: 0 };
    Object.assign(meta, {
      status: "succeeded",
      artifacts: result.artifacts,
      transition: result.transition,
      foreachNum: result.foreachNum,
      finishedAt: now(),
    });
    mkdirSync(ARGO_OUTPUT_DIR, { recursive: true });
    writeFileSync(`${ARGO_OUTPUT_DIR}/task-id`, taskId);
    if (result.foreachNum !== undefined)
      writeFileSync(
        `${ARGO_OUTPUT_DIR}/splits`,
        JSON.stringify(Array.from({ length: result.foreachNum }, (_, i) => i)),
      );
    await ds.writeLog(runId, step, taskId, attempt, log());
    await ds.writeTask(runId, meta);
    if (step === "end") {
      const run = await ds.readRun(runId);
      if (run) await ds.writeRun({ ...run, status: "succeeded", finishedAt: now() });
    }
    return 0;
  } catch (e) {
    const error = `step ${step}: ${(e as Error)?.message ?? String(e)}`;
    process.stderr.write(`${(e as Error)?.stack ?? String(e)}\n`);
    meta.attempts[attempt] = {
      ...meta.attempts[attempt]!,
      status: "failed",
      finishedAt: now(),
      exitCode: 1,
      reason: "exception",
      error,
    };
    const final = attempt + 1 >= maxAttempts;
    if (final) Object.assign(meta, { status: "failed", finishedAt: now() });
    await ds.writeLog(runId, step, taskId, attempt, log());
    await ds.writeTask(runId, meta);
    if (final) {
      const run = await ds.readRun(runId);
      if (run) await ds.writeRun({ ...run, status: "failed", finishedAt: now(), error });
    }
    return 1;
  }
}
