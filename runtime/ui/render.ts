/**
 * HTML rendering on the server: a card as one self-contained HTML file (no script, no external resource:
 * images inline as data: URLs, charts as inline SVG), a small safe markdown renderer (raw HTML is escaped),
 * and the shell page that loads the browser app.
 */
import type { CardComponent, CardData, ChartSpec } from "../flow/card.js";

/** Escapes text for HTML content and attribute values. */
export function escapeHtml(s: string): string {
  return s
    .replace(/&/g, "&amp;")
    .replace(/</g, "&lt;")
    .replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;")
    .replace(/'/g, "&#39;");
}

function inline(text: string): string {
  // Code spans first (their content is literal), then links, bold, italic; everything is escaped.
  const parts = text.split(/(`[^`]+`)/g);
  return parts
    .map((p) => {
      if (p.startsWith("`") && p.endsWith("`") && p.length > 1) return `<code>${escapeHtml(p.slice(1, -1))}</code>`;
      let h = escapeHtml(p);
      h = h.replace(
        /\[([^\]]+)\]\((https?:\/\/[^\s)]+)\)/g,
        (_m, label: string, url: string) => `<a href="${url}" rel="noopener noreferrer">${label}</a>`,
      );
      h = h
        .replace(/\*\*([^*]+)\*\*/g, "<strong>$1</strong>")
        .replace(/(^|[^*])\*([^*]+)\*/g, "$1<em>$2</em>")
        .replace(/(^|\W)_([^_]+)_(?=\W|$)/g, "$1<em>$2</em>");
      return h;
    })
    .join("");
}

/** Markdown to HTML: headings, paragraphs, emphasis, code spans and fenced blocks, lists, links, rules. Raw HTML is shown as text. */
export function markdownToHtml(md: string): string {
  const lines = md.replace(/\r\n?/g, "\n").split("\n");
  const out: string[] = [];
  let para: string[] = [];
  let list: { ordered: boolean; items: string[] } | undefined;
  const flush = () => {
    if (para.length) out.push(`<p>${inline(para.join(" "))}</p>`);
    para = [];
    if (list)
      out.push(
        `<${list.ordered ? "ol" : "ul"}>${list.items.map((i) => `<li>${inline(i)}</li>`).join("")}</${list.ordered ? "ol" : "ul"}>`,
      );
    list = undefined;
  };
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const fence = /^```(\w*)\s*$/.exec(line);
    if (fence) {
      flush();
      const code: string[] = [];
      for (i++; i < lines.length && !/^```\s*$/.test(lines[i]!); i++) code.push(lines[i]!);
      out.push(`<pre><code>${escapeHtml(code.join("\n"))}</code></pre>`);
      continue;
    }
    const h = /^(#{1,6})\s+(.*)$/.exec(line);
    if (h) {
      flush();
      out.push(`<h${h[1]!.length}>${inline(h[2]!)}</h${h[1]!.length}>`);
      continue;
    }
    if (/^(\*\s*\*\s*\*|-\s*-\s*-)[\s*-]*$/.test(line)) {
      flush();
      out.push("<hr>");
      continue;
    }
    const li = /^\s*([-*+]|\d+[.)])\s+(.*)$/.exec(line);
    if (li) {
      const ordered = /\d/.test(li[1]!);
      if (para.length || (list && list.ordered !== ordered)) flush();
      list ??= { ordered, items: [] };
      list.items.push(li[2]!);
      continue;
    }
    if (!line.trim()) {
      flush();
      continue;
    }
    if (list) flush();
    para.push(line.trim());
  }
  flush();
  return out.join("\n");
}

const PALETTE = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7"];

/** A chart as inline SVG (line or bar), with axes, min/max labels and a legend. */
export function chartToSvg(spec: ChartSpec): string {
  const W = 640;
  const H = 280;
  const pad = { l: 56, r: 16, t: spec.title ? 32 : 12, b: 40 };
  const all = spec.series.flatMap((s) => s.values);
  const min = Math.min(0, ...all);
  let max = Math.max(...all, 0);
  if (min === max) max = min + 1;
  const n = spec.x.length;
  const iw = W - pad.l - pad.r;
  const ih = H - pad.t - pad.b;
  const y = (v: number) => pad.t + ih - ((v - min) / (max - min)) * ih;
  const parts: string[] = [];
  if (spec.title)
    parts.push(`<text x="${W / 2}" y="20" text-anchor="middle" font-weight="600">${escapeHtml(spec.title)}</text>`);
  parts.push(
    `<line x1="${pad.l}" y1="${pad.t + ih}" x2="${pad.l + iw}" y2="${pad.t + ih}" stroke="currentColor" opacity="0.5"/>`,
  );
  parts.push(
    `<line x1="${pad.l}" y1="${pad.t}" x2="${pad.l}" y2="${pad.t + ih}" stroke="currentColor" opacity="0.5"/>`,
  );
  for (const v of [min, (min + max) / 2, max])
    parts.push(`<text x="${pad.l - 6}" y="${y(v) + 4}" text-anchor="end" font-size="11">${escapeHtml(fmt(v))}</text>`);
  const labelEvery = Math.max(1, Math.ceil(n / 10));
  if (spec.kind === "bar") {
    const group = iw / Math.max(1, n);
    const bw = (group * 0.8) / spec.series.length;
    spec.series.forEach((s, si) =>
      s.values.forEach((v, i) => {
        const x = pad.l + i * group + group * 0.1 + si * bw;
        const top = Math.min(y(v), y(0));
        parts.push(
          `<rect x="${x.toFixed(1)}" y="${top.toFixed(1)}" width="${bw.toFixed(1)}" height="${Math.abs(y(v) - y(0)).toFixed(1)}" fill="${PALETTE[si % PALETTE.length]}"><title>${escapeHtml(`${s.name} ${spec.x[i]}: ${v}`)}</title></rect>`,
        );
      }),
    );
    spec.x.forEach(
      (xv, i) =>
        i % labelEvery === 0 &&
        parts.push(
          `<text x="${(pad.l + i * group + group / 2).toFixed(1)}" y="${pad.t + ih + 16}" text-anchor="middle" font-size="11">${escapeHtml(String(xv))}</text>`,
        ),
    );
  } else {
    const x = (i: number) => pad.l + (n <= 1 ? iw / 2 : (i / (n - 1)) * iw);
    spec.series.forEach((s, si) => {
      const d = s.values.map((v, i) => `${i ? "L" : "M"}${x(i).toFixed(1)},${y(v).toFixed(1)}`).join(" ");
      parts.push(
        `<path d="${d}" fill="none" stroke="${PALETTE[si % PALETTE.length]}" stroke-width="2"><title>${escapeHtml(s.name)}</title></path>`,
      );
    });
    spec.x.forEach(
      (xv, i) =>
        i % labelEvery === 0 &&
        parts.push(
          `<text x="${x(i).toFixed(1)}" y="${pad.t + ih + 16}" text-anchor="middle" font-size="11">${escapeHtml(String(xv))}</text>`,
        ),
    );
  }
  spec.series.forEach((s, si) =>
    parts.push(
      `<rect x="${pad.l + si * 120}" y="${H - 14}" width="10" height="10" fill="${PALETTE[si % PALETTE.length]}"/><text x="${pad.l + si * 120 + 14}" y="${H - 5}" font-size="11">${escapeHtml(s.name)}</text>`,
    ),
  );
  return `<svg class="chart" role="img" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" font-family="system-ui, sans-serif" fill="currentColor">${parts.join("")}</svg>`;
}

function fmt(v: number): string {
  return Math.abs(v) >= 1e4 || (Math.abs(v) < 1e-3 && v !== 0) ? v.toExponential(2) : String(Number(v.toFixed(4)));
}

/** One card block as HTML. */
export function componentToHtml(c: CardComponent): string {
  switch (c.type) {
    case "markdown":
      return `<div class="md">${markdownToHtml(c.text)}</div>`;
    case "table": {
      const head = c.headers
        ? `<thead><tr>${c.headers.map((h) => `<th>${escapeHtml(h)}</th>`).join("")}</tr></thead>`
        : "";
      const body = c.rows
        .map(
          (r) =>
            `<tr>${r.map((cell) => `<td${typeof cell === "number" ? ' class="num"' : ""}>${escapeHtml(cell === null || cell === undefined ? "" : String(cell))}</td>`).join("")}</tr>`,
        )
        .join("");
      return `<table>${head}<tbody>${body}</tbody></table>`;
    }
    case "image":
      return `<img src="data:image/png;base64,${c.pngBase64.replace(/[^A-Za-z0-9+/=]/g, "")}" alt="${escapeHtml(c.alt ?? "")}">`;
    case "chart":
      return chartToSvg(c.spec);
  }
}

const CARD_CSS = `
:root { color-scheme: light dark; --fg: #1d2330; --bg: #ffffff; --muted: #5b6577; --line: #d9dee7; --code: #f3f5f9; }
@media (prefers-color-scheme: dark) { :root { --fg: #e3e7ee; --bg: #14171d; --muted: #9aa4b5; --line: #2d3440; --code: #1e232c; } }
body { font: 14px/1.5 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--fg); background: var(--bg); margin: 0; padding: 16px 20px; }
header { color: var(--muted); font-size: 12px; margin-bottom: 12px; }
.block { margin: 0 0 16px; }
table { border-collapse: collapse; }
th, td { border: 1px solid var(--line); padding: 4px 10px; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
th { background: var(--code); }
code, pre { background: var(--code); border-radius: 4px; font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: 13px; }
code { padding: 1px 4px; } pre { padding: 10px; overflow: auto; } pre code { padding: 0; }
img { max-width: 100%; image-rendering: auto; border: 1px solid var(--line); }
svg.chart { max-width: 100%; height: auto; }
a { color: #3d7be0; }
`;

/** A card as one self-contained HTML document (no script, nothing loaded from elsewhere). */
export function cardToHtml(card: CardData): string {
  const body = card.components.map((c) => `<div class="block">${componentToHtml(c)}</div>`).join("\n");
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src data:; style-src 'unsafe-inline'">
<title>${escapeHtml(card.pathspec)} card</title><style>${CARD_CSS}</style></head>
<body><header>${escapeHtml(card.pathspec)} · attempt ${card.attempt + 1} · ${escapeHtml(card.createdAt)}</header>
${body}
</body></html>
`;
}

/** The page every UI route serves: it loads the bundled browser app. */
export function appShellHtml(): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark"><title>kubestep</title>
<link rel="stylesheet" href="/assets/app.css"></head>
<body><div id="app" aria-live="polite"></div><script type="module" src="/assets/app.js"></script></body></html>
`;
}
