/**
 * Cards: a per-task report a step builds with `current.card.append(...)`. The task process stores the card
 * in the datastore next to the task's metadata (see `FlowDatastore.cardKey`); `kubestep ui` shows it and
 * `kubestep card get <pathspec>` writes it as one self-contained HTML file.
 *
 * ```ts
 * current.card.append("# Training\nloss went **down**");                 // markdown
 * current.card.append({ table: [[1, 0.5], [2, 0.25]], headers: ["epoch", "loss"] });
 * current.card.append(pngBytes);                                          // a PNG image (Buffer / Uint8Array)
 * current.card.append({ chart: { kind: "line", x: [1, 2, 3], series: [{ name: "loss", values: [0.9, 0.5, 0.3] }] } });
 * ```
 */

/** A chart a card draws (as inline SVG): one or more series of numbers over shared x values. */
export interface ChartSpec {
  /** `line` (default) or `bar`. */
  kind?: "line" | "bar";
  /** Title shown above the chart. */
  title?: string;
  /** The x values (numbers or labels), one per point of every series. */
  x: Array<number | string>;
  /** The series: each has a name and one value per x. */
  series: Array<{ name: string; values: number[] }>;
}

/** A markdown block of a card. */
export interface MarkdownComponent {
  type: "markdown";
  /** Markdown text (headings, emphasis, code, lists, links; raw HTML is shown as text). */
  text: string;
}
/** A table of a card. */
export interface TableComponent {
  type: "table";
  /** Column headers, if any. */
  headers?: string[];
  /** Rows of cells (rendered as text). */
  rows: unknown[][];
}
/** A PNG image of a card. */
export interface ImageComponent {
  type: "image";
  /** The PNG bytes, base64. */
  pngBase64: string;
  /** Alternative text. */
  alt?: string;
}
/** A chart of a card. */
export interface ChartComponent {
  type: "chart";
  /** What to draw. */
  spec: ChartSpec;
}
/** One block of a card. */
export type CardComponent = MarkdownComponent | TableComponent | ImageComponent | ChartComponent;

/** A stored card: its blocks in order. */
export interface CardData {
  /** Format version. */
  version: 1;
  /** `Flow/run/step/task` of the task that made it. */
  pathspec: string;
  /** The attempt that stored it (0 for the first). */
  attempt: number;
  /** When it was stored (ISO 8601). */
  createdAt: string;
  /** Its blocks, in the order they were appended. */
  components: CardComponent[];
}

/** What `card.append` accepts. */
export type CardInput =
  | string
  | Uint8Array
  | { table: unknown[][]; headers?: string[] }
  | { image: Uint8Array; alt?: string }
  | { chart: ChartSpec }
  | { markdown: string };

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

function isPng(bytes: Uint8Array): boolean {
  return bytes.byteLength >= 8 && PNG_SIGNATURE.every((b, i) => bytes[i] === b);
}

/** Turns what `append` got into a stored component; throws naming what is wrong and what is allowed. */
export function toComponent(input: CardInput): CardComponent {
  const allowed =
    "a markdown string, PNG bytes (Buffer/Uint8Array), { table: rows[][], headers? }, { image: pngBytes, alt? }, { chart: { x, series } } or { markdown }";
  if (typeof input === "string") return { type: "markdown", text: input };
  const image = (bytes: Uint8Array, alt?: string): ImageComponent => {
    if (!isPng(bytes))
      throw new TypeError(
        `card.append: the image is not a PNG (its first bytes are not the PNG signature 89 50 4E 47 0D 0A 1A 0A); encode it as PNG first`,
      );
    return {
      type: "image",
      pngBase64: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64"),
      ...(alt ? { alt } : {}),
    };
  };
  if (input instanceof Uint8Array) return image(input);
  if (input && typeof input === "object") {
    if ("markdown" in input && typeof input.markdown === "string") return { type: "markdown", text: input.markdown };
    if ("image" in input && input.image instanceof Uint8Array) return image(input.image, input.alt);
    if ("table" in input) {
      if (!Array.isArray(input.table) || !input.table.every((r) => Array.isArray(r)))
        throw new TypeError(`card.append: table must be an array of rows (arrays of cells); got ${typeof input.table}`);
      if (
        input.headers !== undefined &&
        (!Array.isArray(input.headers) || !input.headers.every((h) => typeof h === "string"))
      )
        throw new TypeError("card.append: table headers must be an array of strings");
      return {
        type: "table",
        rows: input.table.map((r) => r.map((c) => cellText(c))),
        ...(input.headers ? { headers: input.headers } : {}),
      };
    }
    if ("chart" in input) return { type: "chart", spec: checkChart(input.chart) };
  }
  throw new TypeError(`card.append: cannot add ${input === null ? "null" : typeof input}; pass ${allowed}`);
}

function cellText(c: unknown): string | number | boolean | null {
  if (c === null || c === undefined) return null;
  if (typeof c === "number" || typeof c === "boolean" || typeof c === "string") return c;
  if (typeof c === "bigint") return `${c}n`;
  if (c instanceof Date) return c.toISOString();
  try {
    return JSON.stringify(c);
  } catch {
    return String(c);
  }
}

function checkChart(spec: ChartSpec): ChartSpec {
  if (!spec || typeof spec !== "object")
    throw new TypeError("card.append: chart must be { kind?, title?, x: [...], series: [{ name, values }] }");
  if (spec.kind !== undefined && spec.kind !== "line" && spec.kind !== "bar")
    throw new TypeError(`card.append: chart kind ${JSON.stringify(spec.kind)} is not supported; use "line" or "bar"`);
  if (!Array.isArray(spec.x)) throw new TypeError("card.append: chart.x must be an array of numbers or labels");
  if (!Array.isArray(spec.series) || !spec.series.length)
    throw new TypeError("card.append: chart.series must be a non-empty array of { name, values }");
  for (const s of spec.series) {
    if (
      !Array.isArray(s.values) ||
      s.values.length !== spec.x.length ||
      !s.values.every((v) => typeof v === "number" && Number.isFinite(v))
    )
      throw new TypeError(
        `card.append: chart series ${JSON.stringify(s.name)} must have ${spec.x.length} finite numbers (one per x value)`,
      );
  }
  return {
    ...(spec.kind ? { kind: spec.kind } : {}),
    ...(spec.title ? { title: spec.title } : {}),
    x: [...spec.x],
    series: spec.series.map((s) => ({ name: String(s.name), values: [...s.values] })),
  };
}

/** The card of the running task. */
export class Card {
  /** Blocks appended so far. */
  readonly components: CardComponent[] = [];
  /**
   * Adds a block: a markdown string, PNG bytes, `{ table, headers? }`, `{ image, alt? }`, `{ chart }` or
   * `{ markdown }`. Returns the card, so calls chain.
   * @throws TypeError naming what was passed and what is allowed.
   */
  append(input: CardInput): this {
    this.components.push(toComponent(input));
    return this;
  }
  /** Removes every block. */
  clear(): this {
    this.components.length = 0;
    return this;
  }
}

const KEY = Symbol.for("kubestep.card");
type Holder = { [KEY]?: Card };

/** The running task's card (created on first use). */
export function taskCard(): Card {
  const h = globalThis as Holder;
  return (h[KEY] ??= new Card());
}

/** Takes the running task's card (undefined when nothing was appended) and forgets it. */
export function takeCard(): Card | undefined {
  const h = globalThis as Holder;
  const c = h[KEY];
  h[KEY] = undefined;
  return c && c.components.length ? c : undefined;
}
