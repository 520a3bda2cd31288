/**
 * The flow graph: read from the class (its `@step` methods and the `this.next(...)` call in each),
 * and validated before anything runs.
 */
import { FlowDefinitionError, OptionProblems } from "../errors.js";
import { flowMetaOf, stepProblemsOf, type FlowMeta, type StepMeta } from "./meta.js";
import type { StaticGraph, StaticGraphStep } from "../datastore/flowstore.js";

/** Kind of a node. */
export type NodeType = StaticGraphStep["type"];

/** One step of the graph. */
export interface GraphNode {
  /** Step name. */
  name: string;
  /** What the step does with its transition (a join is a step that takes `inputs`). */
  type: NodeType;
  /** Targets of its `this.next(...)`. */
  out: string[];
  /** Steps that lead here. */
  in: string[];
  /** Whether the method takes `inputs` (is a join). */
  isJoin: boolean;
  /** Foreach artifact name when this step fans out. */
  foreach?: string;
  /** Static parallel width when this step calls `next(..., { numParallel })` with a literal. */
  numParallel?: number;
  /** The split steps enclosing this node, outermost first. */
  splitParents: string[];
  /** Its declarations (decorators). */
  meta: StepMeta;
}

/** A validated flow graph. */
export interface FlowGraph {
  /** Flow class name. */
  flowName: string;
  /** Nodes by step name. */
  nodes: Record<string, GraphNode>;
  /** Step names in a topological order starting at `start`. */
  order: string[];
  /** The class's declarations. */
  meta: FlowMeta;
}

/** The JSON-ready static graph of a validated flow graph. */
export function staticGraph(graph: FlowGraph): StaticGraph {
  return {
    steps: graph.order.map((name) => {
      const n = graph.nodes[name]!;
      return {
        name,
        type: n.type,
        out: [...n.out],
        isJoin: n.isJoin,
        ...(n.foreach !== undefined ? { foreach: n.foreach } : {}),
        ...(n.numParallel !== undefined ? { numParallel: n.numParallel } : {}),
      };
    }),
  };
}

interface ParsedNext {
  targets: string[];
  foreach?: string;
  numParallel?: number | "dynamic";
}

/** Splits `a, b, {c: d}` at top-level commas. */
function splitArgs(s: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let cur = "";
  let quote: string | null = null;
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (quote) {
      cur += c;
      if (c === "\\") cur += s[++i] ?? "";
      else if (c === quote) quote = null;
      continue;
    }
    if (c === '"' || c === "'" || c === "`") quote = c;
    else if ("([{".includes(c)) depth++;
    else if (")]}".includes(c)) depth--;
    else if (c === "," && depth === 0) {
      out.push(cur.trim());
      cur = "";
      continue;
    }
    cur += c;
  }
  if (cur.trim()) out.push(cur.trim());
  return out;
}

/** Finds the `this.next(...)` calls in a method's source. */
export function parseNextCalls(stepName: string, source: string): ParsedNext[] {
  const calls: ParsedNext[] = [];
  const re = /\bthis\s*\.\s*next\s*\(/g;
  while (re.exec(source)) {
    let depth = 1;
    let i = re.lastIndex;
    let quote: string | null = null;
    for (; i < source.length && depth > 0; i++) {
      const c = source[i]!;
      if (quote) {
        if (c === "\\") i++;
        else if (c === quote) quote = null;
      } else if (c === '"' || c === "'" || c === "`") quote = c;
      else if (c === "(") depth++;
      else if (c === ")") depth--;
    }
    const argText = source.slice(re.lastIndex, i - 1);
    const call: ParsedNext = { targets: [] };
    for (const arg of splitArgs(argText)) {
      const t = /^this\s*\.\s*([A-Za-z_$][\w$]*)$/.exec(arg);
      if (t) {
        call.targets.push(t[1]!);
        continue;
      }
      if (arg.startsWith("{")) {
        const fe = /\bforeach\s*:\s*([^,}]+)/.exec(arg);
        if (fe) {
          const lit = /^\s*(["'`])([A-Za-z_$][\w$]*)\1\s*$/.exec(fe[1]!);
          if (!lit)
            throw new FlowDefinitionError(
              `step ${stepName}: foreach must be a string literal naming an artifact, e.g. { foreach: "items" }; got ${fe[1]!.trim()}`,
            );
          call.foreach = lit[2]!;
        }
        const np = /\bnumParallel\s*:\s*([^,}]+)/.exec(arg);
        if (np) call.numParallel = /^\s*\d+\s*$/.test(np[1]!) ? Number(np[1]) : "dynamic";
        const unknown = [...arg.matchAll(/([A-Za-z_$][\w$]*)\s*:/g)]
          .map((x) => x[1]!)
          .filter((k) => k !== "foreach" && k !== "numParallel");
        if (unknown.length)
          throw new FlowDefinitionError(
            `step ${stepName}: this.next() option ${unknown[0]} is unknown; allowed: foreach, numParallel`,
          );
        continue;
      }
      throw new FlowDefinitionError(
        `step ${stepName}: this.next() arguments must be steps written as this.<step> (and an options object); got ${arg}`,
      );
    }
    calls.push(call);
  }
  return calls;
}

/** Counts the declared parameters of a method (a join declares `inputs`). */
function takesInputs(fn: Function, source: string): boolean {
  if (fn.length > 0) return true;
  // `join(inputs = [])` or destructuring would make length 0: look at the parameter list too.
  const params = /^[^(]*\(([^)]*)\)/.exec(source)?.[1] ?? "";
  return params.trim().length > 0;
}

/** Builds and validates the graph of a flow class. Throws FlowDefinitionError naming the step. */
export function buildGraph(cls: Function): FlowGraph {
  const meta = flowMetaOf(cls);
  // Every bad decorator option of every step, in one error, before the graph is even looked at.
  const problems = new OptionProblems();
  problems.add(...stepProblemsOf(meta));
  problems.throwIfAny();
  const flowName = cls.name;
  const proto = (cls as { prototype: Record<string, unknown> }).prototype;
  const nodes: Record<string, GraphNode> = {};
  for (const [name, sm] of Object.entries(meta.steps)) {
    if (!sm.isStep) {
      const decos = Object.keys(sm.decorators)
        .map((d) => "@" + d)
        .join(", ");
      throw new FlowDefinitionError(`method ${name} has ${decos} but no @step; add @step or remove the decorators`);
    }
    const fn = proto[name];
    if (typeof fn !== "function") throw new FlowDefinitionError(`step ${name}: not a method`);
    const source = Function.prototype.toString.call(fn);
    const calls = parseNextCalls(name, source);
    if (calls.length > 1)
      throw new FlowDefinitionError(
        `step ${name}: calls this.next() ${calls.length} times; a step has exactly one transition (use a static branch this.next(this.a, this.b) instead of conditional next calls)`,
      );
    const call = calls[0];
    const isJoin = takesInputs(fn, source);
    let type: NodeType = "linear";
    if (name === "start") type = "start";
    if (call?.foreach !== undefined) type = "foreach";
    else if (call?.numParallel !== undefined) type = "parallel";
    else if (call && call.targets.length > 1) type = "split";
    if (isJoin) type = "join";
    if (name === "end") type = "end";
    nodes[name] = {
      name,
      type,
      out: call?.targets ?? [],
      in: [],
      isJoin,
      meta: sm,
      splitParents: [],
      ...(call?.foreach !== undefined ? { foreach: call.foreach } : {}),
      ...(typeof call?.numParallel === "number" ? { numParallel: call.numParallel } : {}),
    };
    if (isJoin && (call?.foreach !== undefined || (call && call.targets.length > 1))) {
      // A join that splits again is a valid pattern in Metaflow; keep the split type but remember it joins.
      nodes[name]!.type = call.foreach !== undefined ? "foreach" : "split";
    }
  }

  // @parallel targets: the step before them is a parallel fan-out.
  for (const n of Object.values(nodes)) {
    if (n.meta.decorators.parallel && n.meta.decorators.catch)
      throw new FlowDefinitionError(
        `step ${n.name}: @parallel cannot be combined with @catch (a gang either succeeds as a whole or fails); remove @catch`,
      );
    const parallelTargets = n.out.filter((t) => nodes[t]?.meta.decorators.parallel);
    if (n.type === "parallel" && n.out.some((t) => nodes[t] && !nodes[t]!.meta.decorators.parallel))
      throw new FlowDefinitionError(
        `step ${n.name}: this.next(..., { numParallel }) targets ${n.out.join(", ")}, which is not an @parallel step; add @parallel() to it`,
      );
    if (!parallelTargets.length) continue;
    if (n.out.length !== 1 || n.foreach !== undefined)
      throw new FlowDefinitionError(
        `step ${n.name}: an @parallel step (${parallelTargets.join(", ")}) must be the only target of this.next()`,
      );
    const numNodes = nodes[parallelTargets[0]!]!.meta.decorators.parallel!.options.numNodes;
    if (n.type !== "parallel" && numNodes === undefined)
      throw new FlowDefinitionError(
        `step ${n.name}: reaches @parallel step ${parallelTargets[0]} without a size; use this.next(this.${parallelTargets[0]}, { numParallel: N }) or @parallel({ numNodes: N })`,
      );
    n.type = "parallel";
    if (n.numParallel === undefined && numNodes !== undefined) n.numParallel = numNodes;
  }

  if (!nodes.start)
    throw new FlowDefinitionError(
      `flow ${flowName} has no start step; add \`@step start() { ...; this.next(this.<step>); }\``,
    );
  if (!nodes.end) throw new FlowDefinitionError(`flow ${flowName} has no end step; add \`@step end() {}\``);
  if (nodes.start.isJoin) throw new FlowDefinitionError("step start: must not take inputs (it is the first step)");

  for (const n of Object.values(nodes)) {
    if (n.name === "end") {
      if (n.out.length) throw new FlowDefinitionError("step end: must not call this.next(); it is the last step");
      continue;
    }
    if (!n.out.length)
      throw new FlowDefinitionError(`step ${n.name}: never calls this.next(); end it with e.g. this.next(this.end)`);
    for (const t of n.out) {
      if (!nodes[t]) {
        const known = Object.keys(nodes).join(", ");
        throw new FlowDefinitionError(
          `step ${n.name}: this.next() targets ${t}, which is not a @step (steps: ${known})`,
        );
      }
      if (!nodes[t]!.in.includes(n.name)) nodes[t]!.in.push(n.name);
    }
    if (n.foreach !== undefined && n.out.length !== 1)
      throw new FlowDefinitionError(`step ${n.name}: a foreach fans out to exactly one step; got ${n.out.join(", ")}`);
    if (n.numParallel !== undefined && n.out.length !== 1)
      throw new FlowDefinitionError(
        `step ${n.name}: a parallel fan-out targets exactly one step; got ${n.out.join(", ")}`,
      );
    if (n.numParallel !== undefined && n.numParallel < 2)
      throw new FlowDefinitionError(`step ${n.name}: numParallel = ${n.numParallel} is invalid; use 2 or more nodes`);
  }

  // Cycles (DFS with colours).
  const colour: Record<string, 0 | 1 | 2> = {};
  const order: string[] = [];
  const visit = (name: string, path: string[]): void => {
    if (colour[name] === 2) return;
    if (colour[name] === 1)
      throw new FlowDefinitionError(
        `step ${name}: the flow has a cycle ${[...path.slice(path.indexOf(name)), name].join(" -> ")}; flows are acyclic`,
      );
    colour[name] = 1;
    for (const t of nodes[name]!.out) visit(t, [...path, name]);
    colour[name] = 2;
    order.push(name);
  };
  visit("start", []);
  order.reverse();
  for (const name of Object.keys(nodes)) {
    if (!colour[name])
      throw new FlowDefinitionError(
        `step ${name}: is unreachable from start; call this.next(this.${name}) from some step or remove it`,
      );
  }

  // Split/join structure: every split is closed by a join before end; joins take inputs.
  const assigned = new Set<string>();
  for (const name of order) {
    const n = nodes[name]!;
    if (name === "start") assigned.add(name);
    if (!assigned.has(name)) continue;
    let childParents = n.splitParents;
    if (n.isJoin) {
      if (!n.splitParents.length)
        throw new FlowDefinitionError(
          `step ${name}: takes inputs (a join) but no split or foreach comes before it; remove the inputs parameter`,
        );
      childParents = n.splitParents.slice(0, -1);
    }
    if (n.type === "split" || n.type === "foreach" || n.type === "parallel") childParents = [...childParents, name];
    for (const t of n.out) {
      const target = nodes[t]!;
      if (assigned.has(t)) {
        if (target.splitParents.join("/") !== childParents.join("/"))
          throw new FlowDefinitionError(
            `step ${t}: is reached from inside and outside the same split (from ${target.in.join(", ")}); every branch of a split must meet in one join`,
          );
      } else {
        target.splitParents = childParents;
        assigned.add(t);
      }
    }
  }
  for (const n of Object.values(nodes)) {
    if (n.in.length > 1 && !n.isJoin)
      throw new FlowDefinitionError(
        `step ${n.name}: is reached from ${n.in.join(", ")} but takes no inputs; make it a join: ${n.name}(inputs: Inputs) { ... }`,
      );
    if (n.isJoin) {
      const split = nodes[n.splitParents[n.splitParents.length - 1]!]!;
      if (split.type === "split" && n.in.length < 2)
        throw new FlowDefinitionError(
          `step ${n.name}: joins the branches of ${split.name} but only ${n.in.join(", ")} lead here; every branch must reach the join`,
        );
    }
  }
  if (nodes.end.splitParents.length) {
    const open = nodes.end.splitParents[nodes.end.splitParents.length - 1]!;
    throw new FlowDefinitionError(
      `step ${open}: its ${nodes[open]!.type === "foreach" ? "foreach" : "branches"} never join before end; add a join step that takes inputs`,
    );
  }
  return { flowName, nodes, order, meta };
}
