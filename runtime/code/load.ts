/** Loads a flow file: bundles it (no separate build step for users) and finds its FlowSpec class. */
import { pathToFileURL } from "node:url";
import { buildCodePackage, type CodePackage } from "./package.js";
import { isFlowClass } from "../flow/flowspec.js";
import { buildGraph, type FlowGraph } from "../flow/graph.js";
import { FlowDefinitionError } from "../errors.js";
import { declaredExternals } from "./externals.js";

/** A loaded flow. */
export interface LoadedFlow {
  /** The flow class. */
  cls: Function;
  /** Its validated graph. */
  graph: FlowGraph;
  /** The code package it runs from. */
  code: CodePackage;
  /** The npm packages the flow declares external (its `static externals`). */
  externals: string[];
}

/** Bundles and imports `flowFile`, picks the flow class (`flowName` when it exports several), validates its graph. */
export async function loadFlow(flowFile: string, flowName?: string): Promise<LoadedFlow> {
  let code = await buildCodePackage(flowFile);
  let cls = await importFlowClass(flowFile, code, flowName);
  const externals = declaredExternals(cls);
  // The flow's declared externals are known once its class is loaded: the package is built again without
  // them, so local runs too import them from node_modules rather than bundled.
  if (externals.some((n) => !code.externals.some((e) => e.name === n))) {
    code = await buildCodePackage(flowFile, { externals });
    cls = await importFlowClass(flowFile, code, flowName);
  }
  return { cls, graph: buildGraph(cls), code, externals };
}

async function importFlowClass(flowFile: string, code: CodePackage, flowName?: string): Promise<Function> {
  const pkg = (await import(pathToFileURL(code.path).href)) as {
    loadFlowModule: () => Promise<Record<string, unknown>>;
  };
  const classes = Object.values(await pkg.loadFlowModule()).filter(isFlowClass) as Function[];
  let cls: Function | undefined;
  if (flowName) {
    cls = classes.find((c) => c.name === flowName);
    if (!cls)
      throw new FlowDefinitionError(
        `${flowFile} exports no flow named ${flowName}; it exports: ${classes.map((c) => c.name).join(", ") || "none"}`,
      );
  } else if (classes.length === 1) cls = classes[0];
  else if (!classes.length)
    throw new FlowDefinitionError(
      `${flowFile} exports no FlowSpec subclass; write \`export class MyFlow extends FlowSpec { ... }\``,
    );
  else
    throw new FlowDefinitionError(
      `${flowFile} exports several flows (${classes.map((c) => c.name).join(", ")}); choose one with --flow <Name>`,
    );
  return cls!;
}
