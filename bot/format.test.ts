import { describe, expect, it } from "vitest";
import { esc, html, preTable, splitHtml, textTable } from "./format.js";

describe("escaping", () => {
  it("escapes the characters HTML parse mode reads", () => {
    expect(esc(`<b>Tom & "Jerry"</b>`)).toBe("&lt;b&gt;Tom &amp; &quot;Jerry&quot;&lt;/b&gt;");
    expect(html`<b>${"a<b"}</b> ${42} ${null}`).toBe("<b>a&lt;b</b> 42 ");
  });
});

describe("textTable", () => {
  it("aligns numbers right and text left", () => {
    expect(
      textTable(
        ["color", "n"],
        [
          ["Gray", 3],
          ["Red", 12],
        ],
      ),
    ).toBe(["color  n", "───── ──", "Gray   3", "Red   12"].join("\n"));
  });

  it("cuts the widest column so the table fits a phone", () => {
    const t = textTable(["id", "doc"], [[1, "x".repeat(100)]], 30);
    for (const line of t.split("\n")) expect([...line].length).toBeLessThanOrEqual(30);
    expect(t.split("\n")[2]).toBe(` 1 ${"x".repeat(26)}…`);
  });

  it("cuts a huge cell before measuring it", () => {
    const t = textTable(["big"], [["x".repeat(10_000_000)]], 42);
    expect(t.split("\n")[2]).toBe(`${"x".repeat(41)}…`);
  });

  it("shows rows as records when there are too many columns", () => {
    const cols = Array.from({ length: 10 }, (_, i) => `c${i}`);
    const t = textTable(cols, [cols.map((_, i) => i)], 42);
    expect(t.split("\n")).toHaveLength(10);
    expect(t.split("\n")[3]).toBe("c3: 3");
  });

  it("escapes cell values inside <pre>", () => {
    expect(preTable(["v"], [["<i>&"]])).toBe("<pre>v\n────\n&lt;i&gt;&amp;</pre>");
  });
});

describe("splitHtml", () => {
  it("keeps short messages whole", () => {
    expect(splitHtml("<b>hi</b>", 100)).toEqual(["<b>hi</b>"]);
  });

  it("splits on line boundaries and re-opens a <pre> block across parts", () => {
    const lines = Array.from({ length: 50 }, (_, i) => `row ${String(i).padStart(2, "0")} ${"x".repeat(20)}`);
    const text = `<b>Result</b>\n<pre>${lines.join("\n")}</pre>`;
    const parts = splitHtml(text, 300);
    expect(parts.length).toBeGreaterThan(4);
    for (const p of parts) {
      expect(p.length).toBeLessThanOrEqual(300);
      expect(p.match(/<pre>/g)?.length ?? 0).toBe(p.match(/<\/pre>/g)?.length ?? 0);
    }
    expect(parts[1]!.startsWith("<pre>row")).toBe(true);
    const rejoined = parts.map((p) => p.replace(/<\/?pre>/g, "")).join("");
    expect(rejoined).toBe(text.replace(/<\/?pre>/g, ""));
  });

  it("cuts a single over-long line without breaking a tag or an entity", () => {
    const text = `<i>${"a&amp;".repeat(100)}</i>`;
    const parts = splitHtml(text, 64);
    for (const p of parts) {
      expect(p.length).toBeLessThanOrEqual(64);
      expect(p.startsWith("<i>")).toBe(true);
      expect(p.endsWith("</i>")).toBe(true);
      expect(p.replace(/<\/?i>/g, "")).toMatch(/^(a|&amp;)*$/);
    }
    expect(parts.map((p) => p.replace(/<\/?i>/g, "")).join("")).toBe("a&amp;".repeat(100));
  });
});
