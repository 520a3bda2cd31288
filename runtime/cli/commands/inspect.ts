/** The commands that read a flow or its runs: `show`, `runs`, `logs`, `dump`. */
import { parseArgs, opt, UsageError } from "../args.js";
import { loadFlow } from "../../code/load.js";
import { FlowDatastore, type RunMeta } from "../../datastore/flowstore.js";
import { describeTrigger, type RunTrigger } from "../../deploy/record.js";
import { paramType } from "../../flow/params.js";
import { redact } from "../../redact.js";
import { ArtifactStore } from "../../artifacts/store.js";
import type { FlowGraph } from "../../flow/graph.js";
import { usage } from "../usage.js";
import { storageFrom, splitPathspec } from "../common.js";

function describeGraph(graph: FlowGraph): string {
  const lines = [`Flow ${graph.flowName}`, ""];
  for (const s of graph.order) {
    const n = graph.nodes[s]!;
    const decos = Object.entries(n.meta.decorators).map(
      ([k, d]) => `@${k}${d.options && Object.keys(d.options as object).length ? JSON.stringify(d.options) : ""}`,
    );
    const to = n.out.length
      ? ` -> ${n.out.join(", ")}${n.foreach ? ` (foreach ${n.foreach})` : ""}${n.numParallel ? ` (parallel ${n.numParallel})` : ""}`
      : "";
    lines.push(`  ${s}${n.isJoin ? "(inputs)" : ""} [${n.type}]${to}${decos.length ? "  " + decos.join(" ") : ""}`);
  }
  const params = Object.values(graph.meta.params);
  if (params.length) {
    lines.push("", "Parameters:");
    for (const pm of params)
      lines.push(
        `  --${pm.name} <${paramType(pm)}>${pm.options.default !== undefined ? ` (default ${JSON.stringify(pm.options.default)})` : pm.options.required ? " (required)" : ""}${pm.options.help ? `  ${pm.options.help}` : ""}`,
      );
  }
  return lines.join("\n");
}

/** `kubestep show <flow.ts>`. */
export async function cmdShow(argv: string[]): Promise<number> {
  const p = parseArgs(argv, ["flow"], ["help"], false);
  if (p.flags.has("help")) return usage("show", 0);
  const file = p.positionals[0];
  if (!file) throw new UsageError("missing the flow file");
  const { graph } = await loadFlow(file, opt(p, "flow"));
  process.stdout.write(describeGraph(graph) + "\n");
  return 0;
}

/** `kubestep runs <Flow>`. */
export async function cmdRuns(argv: string[]): Promise<number> {
  const p = parseArgs(argv, ["datastore"], ["help"], false);
  if (p.flags.has("help")) return usage("runs", 0);
  const [flow] = splitPathspec(p.positionals[0], 1, "a flow name");
  const ds = new FlowDatastore(await storageFrom(p), flow!);
  const runs = await ds.listRuns();
  if (!runs.length) process.stdout.write(`no runs of ${flow}\n`);
  for (const r of runs) {
    const m = (await ds.readRun(r)) as (RunMeta & { trigger?: RunTrigger }) | undefined;
    if (!m) continue;
    // Deployed runs record why they started (run.json `trigger`, `current.trigger` in their tasks).
    process.stdout.write(
      `${r}  ${m.status.padEnd(9)} ${m.createdAt}  user=${m.user}${m.tags.length ? ` tags=${m.tags.join(",")}` : ""}  params=${JSON.stringify(m.params)}${m.originRunId ? ` (resumed ${m.originRunId})` : ""}${m.trigger ? ` started by: ${describeTrigger(m.trigger)}` : ""}\n`,
    );
  }
  return 0;
}

/** `kubestep logs Flow/run/step[/task]`. */
export async function cmdLogs(argv: string[]): Promise<number> {
  const p = parseArgs(argv, ["datastore", "attempt"], ["help"], false);
  if (p.flags.has("help")) return usage("logs", 0);
  const [flow, run, step, task] = splitPathspec(p.positionals[0], 3, "Flow/run/step[/task]");
  const ds = new FlowDatastore(await storageFrom(p), flow!);
  const tasks = task ? [task] : await ds.listTasks(run!, step!);
  if (!tasks.length) throw new UsageError(`no tasks at ${flow}/${run}/${step}`);
  for (const t of tasks) {
    const meta = await ds.readTask(run!, step!, t);
    if (!meta) throw new UsageError(`no task ${flow}/${run}/${step}/${t}`);
    // A running task's attempt is not in its metadata until it ends: its live log is the one after the last.
    const attempt =
      opt(p, "attempt") !== undefined
        ? Number(opt(p, "attempt"))
        : meta.status === "running" && meta.attempts[meta.attempts.length - 1]?.status !== "running"
          ? meta.attempts.length
          : meta.attempts.length - 1;
    const log = attempt >= 0 ? await ds.readLogOrLive(run!, step!, t, attempt) : undefined;
    if (tasks.length > 1 || task === undefined)
      process.stdout.write(`--- ${flow}/${run}/${step}/${t} attempt ${attempt} (${meta.status}) ---\n`);
    process.stdout.write(
      log?.text ??
        (meta.clonedFrom
          ? `(reused from ${meta.clonedFrom}; see its logs)\n`
          : meta.status === "running"
            ? "(running; no output stored yet)\n"
            : "(no log stored)\n"),
    );
    if (log?.live) process.stderr.write(`(attempt ${attempt} is still running: this is its output so far)\n`);
  }
  return 0;
}

/** `kubestep dump Flow/run/step/task`. */
export async function cmdDump(argv: string[]): Promise<number> {
  const p = parseArgs(argv, ["datastore", "artifact"], ["help"], false);
  if (p.flags.has("help")) return usage("dump", 0);
  const [flow, run, step, task] = splitPathspec(p.positionals[0], 4, "Flow/run/step/task");
  const ds = new FlowDatastore(await storageFrom(p), flow!);
  const meta = await ds.readTask(run!, step!, task!);
  if (!meta) throw new UsageError(`no task ${flow}/${run}/${step}/${task}`);
  const store = new ArtifactStore(ds);
  const only = opt(p, "artifact");
  // Where each Kubernetes attempt ran, as comment lines before the artifacts.
  if (!only)
    for (const at of meta.attempts)
      if (at?.placement)
        process.stdout.write(
          `# attempt ${at.attempt} ${at.status}: Kubernetes Job ${at.placement.namespace}/${at.placement.job}, pod ${at.placement.pod}, node ${at.placement.node ?? "(not scheduled)"}\n`,
        );
  const { inspect } = await import("node:util");
  for (const [name, ref] of Object.entries(meta.artifacts ?? {})) {
    if (only && name !== only) continue;
    const v = await store.load(name, ref, `${run}/${step}/${task}`);
    process.stdout.write(
      redact(`${name} = ${inspect(v, { depth: 4, maxArrayLength: 20, maxStringLength: 200, breakLength: 120 })}`) +
        "\n",
    );
  }
  if (only && !meta.artifacts?.[only])
    throw new UsageError(`task has no artifact ${only}; it has: ${Object.keys(meta.artifacts ?? {}).join(", ")}`);
  return 0;
}
