import { strict as assert } from "node:assert";
import { resolve } from "node:path";
import { loadFlow } from "../../../runtime/code/load.js";
import { resolveKubernetesConfig } from "../../../runtime/kubernetes/config.js";
import {
  argoNames,
  argoProblems,
  buildArgoCodeConfigMaps,
  buildArgoWorkflows,
  ArgoTranslationError,
  ARGO_INPUTS_ENV,
  ARGO_TASK_ENV,
  type ArgoBuildInput,
  type ArgoObject,
} from "../../../runtime/argo/workflow.js";
import { argoForeachStack, argoTaskId } from "../../../runtime/argo/task.js";
import { argoTemplateName } from "../../../runtime/cli/commands/argo.js";
import type { FlowGraph } from "../../../runtime/flow/graph.js";
import type { TaskMeta } from "../../../runtime/datastore/flowstore.js";

const FLOWS = resolve(import.meta.dirname, "../../fixtures/flows");
const SHA = "c".repeat(64);

async function input(file: string, over: Partial<ArgoBuildInput> = {}, flow?: string): Promise<ArgoBuildInput> {
  const { graph } = await loadFlow(resolve(FLOWS, file), flow);
  const configs = Object.fromEntries(
    graph.order.map((s) => [
      s,
      resolveKubernetesConfig({ step: s, env: {}, withOverrides: { namespace: "ml", secrets: ["kubestep-s3"] } }),
    ]),
  );
  return {
    graph,
    configs,
    code: { sha: SHA, configMaps: ["ks-code-shapesflow-argo-cccccccccccc-0"] },
    datastore: { kind: "s3", root: "s3://bucket/kubestep" },
    podEnv: { KUBESTEP_S3_ENDPOINT_URL: "http://10.0.0.5:4568" },
    name: "kubestep-shapes-flow",
    namespace: "ml",
    tags: ["prod"],
    maxNumSplits: 100,
    ...over,
  };
}

type Template = { name: string; dag?: { tasks: Array<Record<string, unknown>> } } & Record<string, unknown>;
const templatesOf = (wt: ArgoObject) => (wt.spec as { templates: Template[] }).templates;
const tmpl = (wt: ArgoObject, name: string) => templatesOf(wt).find((t) => t.name === name)!;
const task = (t: Template, name: string) => t.dag!.tasks.find((x) => x.name === name)! as Record<string, unknown>;
const arg = (x: Record<string, unknown>, name: string) =>
  (x.arguments as { parameters: Array<{ name: string; value: string }> }).parameters.find((p) => p.name === name)!
    .value;

describe("argo/workflow: the flow as an Argo WorkflowTemplate", () => {
  it("gives steps unique DNS names", () => {
    assert.deepEqual(argoNames(["start", "trainModel", "train_model", "end"]), {
      start: "start",
      trainModel: "train-model",
      train_model: "train-model-2",
      end: "end",
    });
    assert.equal(argoTemplateName("ShapesFlow"), "kubestep-shapes-flow");
  });

  it("draws branches, joins and nested foreach as DAGs: one per foreach body, invoked withParam", async () => {
    const { workflowTemplate: wt, cronWorkflow } = buildArgoWorkflows(await input("shapes.ts"));
    assert.equal(cronWorkflow, undefined);
    assert.equal(wt.kind, "WorkflowTemplate");
    assert.equal(wt.apiVersion, "argoproj.io/v1alpha1");
    assert.deepEqual(
      templatesOf(wt).map((t) => t.name),
      [
        "foreach-fan-outer",
        "foreach-merge",
        "main",
        "step-end",
        "step-fan-inner",
        "step-fan-outer",
        "step-join-inner",
        "step-join-outer",
        "step-left",
        "step-merge",
        "step-right",
        "step-start",
      ],
    );
    const main = tmpl(wt, "main");
    assert.deepEqual(
      main.dag!.tasks.map((t) => [t.name, t.dependencies ?? []]),
      [
        ["end", ["join-outer"]],
        ["join-outer", ["merge-foreach"]],
        ["left", ["start"]],
        ["merge", ["left", "right"]],
        ["merge-foreach", ["merge"]],
        ["right", ["start"]],
        ["start", []],
      ],
    );
    // The branch join gets one task id from each branch, in the graph's order.
    assert.equal(
      arg(task(main, "merge"), "parents"),
      '[{"step":"left","ids":"{{tasks.left.outputs.parameters.task-id}}"},{"step":"right","ids":"{{tasks.right.outputs.parameters.task-id}}"}]',
    );
    // The foreach runs its body once per split index the foreach step outputs.
    const fan = task(main, "merge-foreach");
    assert.equal(fan.template, "foreach-merge");
    assert.equal(fan.withParam, "{{tasks.merge.outputs.parameters.splits}}");
    assert.equal(arg(fan, "path"), "{{item}}");
    // The join after it receives every body run's task id (Argo's aggregated outputs, a JSON list).
    assert.equal(
      arg(task(main, "join-outer"), "parents"),
      '[{"step":"joinInner","ids":{{tasks.merge-foreach.outputs.parameters.task-id}}}]',
    );
    const body = tmpl(wt, "foreach-merge");
    assert.deepEqual((body.inputs as { parameters: unknown[] }).parameters, [{ name: "parent" }, { name: "path" }]);
    assert.deepEqual(body.outputs, {
      parameters: [{ name: "task-id", valueFrom: { parameter: "{{tasks.join-inner.outputs.parameters.task-id}}" } }],
    });
    assert.equal(arg(task(body, "fan-outer"), "parents"), '[{"step":"merge","ids":"{{inputs.parameters.parent}}"}]');
    assert.equal(task(body, "fan-outer").dependencies, undefined);
    assert.equal(arg(task(body, "fan-outer-foreach"), "path"), "{{inputs.parameters.path}}.{{item}}");
    const inner = tmpl(wt, "foreach-fan-outer");
    assert.deepEqual(
      inner.dag!.tasks.map((t) => t.name),
      ["fan-inner"],
    );
  });

  it("runs each step as a container of the same code package, with @kubernetes resources and secrets", async () => {
    const { workflowTemplate: wt } = buildArgoWorkflows(await input("shapes.ts"));
    const step = tmpl(wt, "step-merge") as Template & {
      container: {
        command: string[];
        env: Array<{ name: string; value?: string }>;
        resources: unknown;
        envFrom: unknown;
      };
      outputs: { parameters: Array<{ name: string }> };
    };
    assert.deepEqual(
      step.outputs.parameters.map((p) => p.name),
      ["task-id", "splits"],
    );
    assert.deepEqual(
      (tmpl(wt, "step-left") as unknown as { outputs: { parameters: Array<{ name: string }> } }).outputs.parameters.map(
        (p) => p.name,
      ),
      ["task-id"],
    );
    const env = Object.fromEntries(step.container.env.map((e) => [e.name, e.value]));
    assert.deepEqual(JSON.parse(env[ARGO_TASK_ENV]!), {
      flowName: "ShapesFlow",
      step: "merge",
      codeSha: SHA,
      datastore: { kind: "s3", root: "s3://bucket/kubestep" },
      tags: ["prod"],
      maxNumSplits: 100,
    });
    assert.match(env[ARGO_INPUTS_ENV]!, /"params":\{\{workflow\.parameters\.json\}\}/);
    assert.match(env[ARGO_INPUTS_ENV]!, /"attempt":"0"/);
    assert.equal(env.KUBESTEP_S3_ENDPOINT_URL, "http://10.0.0.5:4568");
    assert.deepEqual(step.container.envFrom, [{ secretRef: { name: "kubestep-s3" } }]);
    assert.ok(step.container.resources);
    assert.equal(step.container.command[0], "node");
    assert.match(step.container.command.at(-1)!, /runArgoTask/);
    const spec = wt.spec as { arguments: { parameters: unknown[] }; volumes: unknown[]; podGC: unknown };
    assert.deepEqual(spec.arguments.parameters, [
      { name: "flag", value: "false" },
      { name: "greeting", value: "hi" },
      { name: "width", value: "2", description: "outer width" },
    ]);
    assert.deepEqual(spec.volumes[0], {
      name: "kubestep-code",
      projected: { sources: [{ configMap: { name: "ks-code-shapesflow-argo-cccccccccccc-0" } }] },
    });
  });

  it("turns @retry into a retry strategy whose attempt number reaches the task", async () => {
    const { workflowTemplate: wt } = buildArgoWorkflows(await input("failing.ts", {}, "RetryFlow"));
    const retried = templatesOf(wt).filter((t) => t.retryStrategy);
    assert.ok(retried.length >= 1, "failing.ts has a @retry step");
    for (const t of retried) {
      const s = t.retryStrategy as { limit: string; retryPolicy: string };
      assert.ok(Number(s.limit) >= 1);
      assert.equal(s.retryPolicy, "Always");
      const env = (t.container as { env: Array<{ name: string; value?: string }> }).env;
      assert.match(env.find((e) => e.name === ARGO_INPUTS_ENV)!.value!, /"attempt":"\{\{retries\}\}"/);
    }
  });

  it("a flow without parameters passes {} (Argo cannot resolve {{workflow.parameters.json}} in a workflow without any)", async () => {
    const { workflowTemplate: wt } = buildArgoWorkflows(await input("failing.ts", {}, "RetryFlow"));
    assert.equal((wt.spec as { arguments?: unknown }).arguments, undefined);
    for (const t of templatesOf(wt).filter((x) => x.container)) {
      const inputs = (t.container as { env: Array<{ name: string; value?: string }> }).env.find(
        (e) => e.name === ARGO_INPUTS_ENV,
      )!.value!;
      assert.match(inputs, /"params":\{\},/);
      assert.doesNotMatch(inputs, /workflow\.parameters/);
    }
  });

  it("tells each pod the flow's dependency layer by content address, never a URL", async () => {
    const deps = {
      layer: {
        sha: "d".repeat(64),
        externals: ["bufferutil"],
        native: ["bufferutil"],
        platform: "linux-x64-glibc-abi115",
      },
      key: `ShapesFlow/data/dd/${"d".repeat(64)}`,
    };
    const { workflowTemplate: wt } = buildArgoWorkflows(await input("shapes.ts", { deps }));
    const steps = templatesOf(wt).filter((x) => x.container);
    assert.ok(steps.length > 3);
    for (const t of steps) {
      const env = (t.container as { env: Array<{ name: string; value?: string }> }).env;
      assert.deepEqual((JSON.parse(env.find((e) => e.name === ARGO_TASK_ENV)!.value!) as { deps: unknown }).deps, deps);
      assert.ok(!env.some((e) => /URL/.test(e.name) && e.name !== "KUBESTEP_S3_ENDPOINT_URL"), JSON.stringify(env));
    }
  });

  it("is deterministic", async () => {
    const a = buildArgoWorkflows(await input("shapes.ts"));
    const b = buildArgoWorkflows(await input("shapes.ts"));
    assert.deepEqual(JSON.stringify(a), JSON.stringify(b));
  });

  it("adds a CronWorkflow for @schedule, Forbid overlap unless allowed", async () => {
    const { cronWorkflow } = buildArgoWorkflows(
      await input("shapes.ts", { schedule: { cron: "0 * * * *", timezone: "Europe/Paris", allowOverlap: false } }),
    );
    assert.deepEqual(cronWorkflow!.spec, {
      schedules: ["0 * * * *"],
      timezone: "Europe/Paris",
      concurrencyPolicy: "Forbid",
      startingDeadlineSeconds: 300,
      successfulJobsHistoryLimit: 3,
      failedJobsHistoryLimit: 3,
      workflowSpec: { workflowTemplateRef: { name: "kubestep-shapes-flow" } },
    });
  });

  it("refuses what Argo cannot run, every reason at once", async () => {
    const { graph } = await loadFlow(resolve(FLOWS, "parallel.ts"));
    const problems = argoProblems(graph);
    assert.ok(
      problems.some((p) => /@parallel/.test(p) && /kubestep deploy/.test(p)),
      problems.join("\n"),
    );
    const i = await input("parallel.ts");
    assert.throws(
      () => buildArgoWorkflows({ ...i, configs: {} }),
      (e: unknown) =>
        e instanceof ArgoTranslationError &&
        e.problems.some((p) => /@parallel/.test(p)) &&
        e.problems.some((p) => /no @kubernetes configuration/.test(p)) &&
        e.exitCode === 2,
    );
  });

  it("stores the code package in ConfigMaps of gzipped parts", () => {
    const maps = buildArgoCodeConfigMaps("ShapesFlow", "ml", SHA, ["AAAA", "BBBB"]);
    assert.deepEqual(
      maps.map((m) => [m.metadata!.name, Object.keys(m.binaryData!)]),
      [
        ["ks-code-shapesflow-argo-cccccccccccc-0", ["code.mjs.gz.0"]],
        ["ks-code-shapesflow-argo-cccccccccccc-1", ["code.mjs.gz.1"]],
      ],
    );
    assert.equal(maps[0]!.metadata!.annotations!["kubestep.io/code-sha"], SHA);
  });
});

describe("argo/task: task ids and foreach stacks without an orchestrator", () => {
  it("names a task by its foreach path", () => {
    assert.equal(argoTaskId(""), "1");
    assert.equal(argoTaskId("2"), "1-2");
    assert.equal(argoTaskId("2.0"), "1-2-0");
  });

  it("computes the foreach stack as the orchestrator does", async () => {
    const { graph } = (await loadFlow(resolve(FLOWS, "shapes.ts"))) as { graph: FlowGraph };
    const meta = (step: string, stack: TaskMeta["foreachStack"], foreachNum?: number): TaskMeta => ({
      step,
      taskId: "x",
      status: "succeeded",
      parents: [],
      foreachStack: stack,
      attempts: [],
      startedAt: "",
      ...(foreachNum !== undefined ? { foreachNum } : {}),
    });
    const merge = meta("merge", [], 3);
    const outer = [{ step: "merge", index: 2, num: 3 }];
    assert.deepEqual(argoForeachStack(graph, "fanOuter", [merge], "2"), outer);
    const fanOuter = meta("fanOuter", outer, 3);
    const inner = [...outer, { step: "fanOuter", index: 1, num: 3 }];
    assert.deepEqual(argoForeachStack(graph, "fanInner", [fanOuter], "2.1"), inner);
    assert.deepEqual(argoForeachStack(graph, "joinInner", [meta("fanInner", inner)], "2"), outer);
    assert.deepEqual(argoForeachStack(graph, "joinOuter", [meta("joinInner", outer)], ""), []);
    assert.deepEqual(argoForeachStack(graph, "merge", [meta("left", []), meta("right", [])], ""), []);
    assert.throws(() => argoForeachStack(graph, "fanOuter", [merge], ""), /no split index/);
  });
});
