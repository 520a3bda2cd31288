/**
 * Cards: what `current.card.append` accepts (and how it refuses the rest), the self-contained HTML a card renders
 * to (escaped markdown, tables, inline PNG, SVG charts, no script), and `kubestep card get` over a stored card.
 */
import { strict as assert } from "node:assert";
import { join } from "node:path";
import { Card, toComponent } from "../../../runtime/flow/card.js";
import { cardToHtml, chartToSvg, markdownToHtml } from "../../../runtime/ui/render.js";
import { FlowDatastore } from "../../../runtime/datastore/flowstore.js";
import { LocalStorage } from "../../../runtime/datastore/local.js";
import { kubestep, scratch } from "../../helpers/cli.js";

const PNG = Buffer.from("89504e470d0a1a0a0000000d49484452", "hex");

describe("cards", () => {
  it("turns markdown, tables, PNG bytes and charts into components", () => {
    const card = new Card()
      .append("# Hi")
      .append({ table: [[1, 2n, new Date(0), { a: 1 }, null]], headers: ["a", "b", "c", "d", "e"] })
      .append(PNG)
      .append({ image: PNG, alt: "plot" })
      .append({ chart: { kind: "bar", x: ["a", "b"], series: [{ name: "n", values: [1, 2] }] } });
    assert.deepEqual(
      card.components.map((c) => c.type),
      ["markdown", "table", "image", "image", "chart"],
    );
    assert.deepEqual(card.components[1], {
      type: "table",
      rows: [[1, "2n", "1970-01-01T00:00:00.000Z", '{"a":1}', null]],
      headers: ["a", "b", "c", "d", "e"],
    });
    assert.deepEqual(card.components[3], { type: "image", pngBase64: PNG.toString("base64"), alt: "plot" });
    assert.equal(card.clear().components.length, 0);
  });

  it("refuses what it cannot show, naming what is allowed", () => {
    assert.throws(() => toComponent(Buffer.from("GIF89a")), /the image is not a PNG .* encode it as PNG first/);
    assert.throws(() => toComponent(42 as unknown as string), /cannot add number; pass a markdown string, PNG bytes/);
    assert.throws(() => toComponent({ table: "x" as unknown as unknown[][] }), /table must be an array of rows/);
    assert.throws(
      () => toComponent({ chart: { x: [1, 2], series: [{ name: "s", values: [1] }] } }),
      /chart series "s" must have 2 finite numbers/,
    );
    assert.throws(
      () => toComponent({ chart: { kind: "pie" as "bar", x: [], series: [{ name: "s", values: [] }] } }),
      /chart kind "pie" is not supported; use "line" or "bar"/,
    );
  });

  it("renders markdown safely: raw HTML is text, links only http(s)", () => {
    assert.equal(
      markdownToHtml(
        "# T *i* **b** `<x>`\n\n- a\n- b\n\n1. one\n\n<script>alert(1)</script> [ok](https://e.com) [no](javascript:alert(1))",
      ),
      '<h1>T <em>i</em> <strong>b</strong> <code>&lt;x&gt;</code></h1>\n<ul><li>a</li><li>b</li></ul>\n<ol><li>one</li></ol>\n<p>&lt;script&gt;alert(1)&lt;/script&gt; <a href="https://e.com" rel="noopener noreferrer">ok</a> [no](javascript:alert(1))</p>',
    );
    assert.equal(markdownToHtml("```\n<b>\n```"), "<pre><code>&lt;b&gt;</code></pre>");
  });

  it("renders a card as one self-contained HTML file", () => {
    const card = new Card()
      .append("# Report")
      .append({ table: [["<td>", 1.5]], headers: ["k", "v"] })
      .append(PNG)
      .append({ chart: { title: "loss", x: [1, 2, 3], series: [{ name: "loss", values: [3, 2, 1] }] } });
    const html = cardToHtml({
      version: 1,
      pathspec: "F/1/s/2",
      attempt: 1,
      createdAt: "2026-01-01T00:00:00.000Z",
      components: card.components,
    });
    assert.match(html, /^<!doctype html>/);
    assert.match(html, /<h1>Report<\/h1>/);
    assert.match(html, /<td>&lt;td&gt;<\/td><td class="num">1.5<\/td>/);
    assert.match(
      html,
      new RegExp(`<img src="data:image/png;base64,${PNG.toString("base64").replace(/[+/]/g, "\\$&")}"`),
    );
    assert.match(html, /<svg class="chart"[^>]*>.*<path d="M/s);
    assert.match(html, /F\/1\/s\/2 · attempt 2 ·/, "attempts are counted from 1, as in the UI");
    assert.doesNotMatch(html, /<script|src="http|href="http/);
    assert.match(
      chartToSvg({ kind: "bar", x: ["a"], series: [{ name: "n", values: [2] }] }),
      /<rect x="[\d.]+" y="[\d.]+" width="[\d.]+" height="[\d.]+" fill="#4e79a7"><title>n a: 2<\/title><\/rect>/,
    );
  });

  it("kubestep card get writes the stored card as HTML, and says when there is none", async function () {
    this.timeout(60_000);
    const cwd = scratch();
    const ds = new FlowDatastore(new LocalStorage(join(cwd, ".kubestep")), "CardFlow");
    await ds.writeCard("r1", "train", "3", {
      version: 1,
      pathspec: "CardFlow/r1/train/3",
      attempt: 0,
      createdAt: "2026-01-01T00:00:00.000Z",
      components: [{ type: "markdown", text: "**accuracy** 0.9" }],
    });
    await ds.writeTask("r1", {
      step: "train",
      taskId: "4",
      status: "succeeded",
      parents: [],
      foreachStack: [],
      attempts: [],
      startedAt: "",
    });
    const r = await kubestep(["card", "get", "CardFlow/r1/train/3"], { cwd });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /<p><strong>accuracy<\/strong> 0.9<\/p>/);
    const none = await kubestep(["card", "get", "CardFlow/r1/train/4"], { cwd });
    assert.equal(none.code, 2);
    assert.match(
      none.stderr,
      /task CardFlow\/r1\/train\/4 made no card \(a step makes one with current.card.append\(...\)\)/,
    );
    const bad = await kubestep(["card", "get", "CardFlow/r1"], { cwd });
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /expected one task pathspec Flow\/run\/step\/task, got "CardFlow\/r1"/);
  });
});
