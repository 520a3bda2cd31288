/** The run's step graph as SVG, laid out by dagre (layered layout), nodes coloured by status. */
import dagre from "@dagrejs/dagre";
import type { GraphEdge, GraphNode } from "../api.js";
import { s } from "./dom.js";

const NODE_W = 168;
const NODE_H = 52;

function nodeLabel(n: GraphNode): string {
  if (n.status === "pending") return "not started";
  const parts: string[] = [];
  if (n.taskCount > 1) parts.push(`${n.counts.succeeded}/${n.taskCount} tasks`);
  if (n.counts.failed) parts.push(`${n.counts.failed} failed`);
  if (n.counts.running) parts.push(`${n.counts.running} running`);
  if (!parts.length) parts.push(n.status);
  return parts.join(" · ");
}

function edgeLabel(e: GraphEdge): string | undefined {
  if (e.kind === "foreach") return `foreach ×${e.count ?? "?"}`;
  if (e.kind === "parallel") return `@parallel ×${e.count ?? "?"}`;
  if (e.kind === "join") return `join ×${e.count ?? "?"}`;
  return undefined;
}

/** Draws the graph; `href(step)` gives each node's link. */
export function drawDag(graph: { nodes: GraphNode[]; edges: GraphEdge[] }, href: (step: string) => string): SVGElement {
  const g = new dagre.graphlib.Graph();
  g.setGraph({ rankdir: "TB", nodesep: 36, ranksep: 56, marginx: 12, marginy: 12 });
  g.setDefaultEdgeLabel(() => ({}));
  for (const n of graph.nodes) g.setNode(n.step, { width: NODE_W, height: NODE_H });
  for (const e of graph.edges) {
    const label = edgeLabel(e);
    g.setEdge(e.from, e.to, label ? { label, width: label.length * 7 + 10, height: 18, labelpos: "c" } : {});
  }
  dagre.layout(g);
  const { width = 0, height = 0 } = g.graph();
  const svg = s("svg", {
    class: "dag",
    viewBox: `0 0 ${width} ${height}`,
    width,
    height,
    role: "img",
    "aria-label": "step graph",
  });
  svg.append(
    s(
      "defs",
      {},
      s(
        "marker",
        {
          id: "arrow",
          viewBox: "0 0 10 10",
          refX: 9,
          refY: 5,
          markerWidth: 7,
          markerHeight: 7,
          orient: "auto-start-reverse",
        },
        s("path", { d: "M 0 0 L 10 5 L 0 10 z", class: "arrowhead" }),
      ),
    ),
  );
  for (const e of graph.edges) {
    const le = g.edge(e.from, e.to) as {
      points: Array<{ x: number; y: number }>;
      x?: number;
      y?: number;
      label?: string;
    };
    const d = le.points.map((p, i) => `${i ? "L" : "M"}${p.x.toFixed(1)},${p.y.toFixed(1)}`).join(" ");
    svg.append(
      s("path", { d, class: `edge edge-${e.kind}`, "marker-end": "url(#arrow)", "data-from": e.from, "data-to": e.to }),
    );
    if (le.label && le.x !== undefined && le.y !== undefined) {
      const w = le.label.length * 7 + 10;
      svg.append(
        s(
          "g",
          { class: `edge-label edge-${e.kind}`, "data-edge": `${e.from}->${e.to}` },
          s("rect", { x: le.x - w / 2, y: le.y - 9, width: w, height: 18, rx: 9 }),
          s("text", { x: le.x, y: le.y + 4, "text-anchor": "middle" }, le.label),
        ),
      );
    }
  }
  for (const n of graph.nodes) {
    const p = g.node(n.step) as { x: number; y: number };
    const x = p.x - NODE_W / 2;
    const y = p.y - NODE_H / 2;
    const kind = n.isJoin ? "join" : n.gangSize ? "gang" : "";
    const node = s(
      "a",
      {
        href: href(n.step),
        class: `node st-${n.status}${kind ? ` node-${kind}` : ""}`,
        "data-step": n.step,
        "data-status": n.status,
        "data-link": "",
        tabindex: 0,
        "aria-label": `step ${n.step}: ${n.status}`,
      },
      n.gangSize ? s("rect", { x: x + 5, y: y + 5, width: NODE_W, height: NODE_H, rx: 8, class: "gang-shadow" }) : null,
      s("rect", { x, y, width: NODE_W, height: NODE_H, rx: 8 }),
      s("text", { x: p.x, y: y + 21, "text-anchor": "middle", class: "node-name" }, n.step + (n.isJoin ? " ⋈" : "")),
      s(
        "text",
        { x: p.x, y: y + 39, "text-anchor": "middle", class: "node-sub" },
        nodeLabel(n) + (n.gangSize ? ` · gang ×${n.gangSize}` : ""),
      ),
      s("title", {}, `${n.step}: ${n.status}${n.foreach ? ` · foreach over ${n.foreach.artifact}` : ""}`),
    );
    svg.append(node);
  }
  return svg;
}
