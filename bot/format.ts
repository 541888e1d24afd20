/** Telegram's limit on a message's text. */
export const MESSAGE_LIMIT = 4096;
/** Monospace characters a phone shows on one line without wrapping. */
export const PHONE_WIDTH = 42;

/** Escapes text for Telegram's HTML parse mode: every dynamic value goes through this. */
export function esc(value: unknown): string {
  return String(value ?? "")
    .replace(/&/g, "&amp;")
    .replace(/</g, "&lt;")
    .replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;");
}

/** A tagged template that escapes every interpolated value. */
export function html(strings: TemplateStringsArray, ...values: unknown[]): string {
  return strings.reduce((out, s, i) => out + s + (i < values.length ? esc(values[i]) : ""), "");
}

/** Characters of one cell a chat table can show at most (a phone line); more is cut before any measuring. */
const CELL_CHARS = 120;

export function cell(v: unknown): string {
  if (v === null || v === undefined) return "∅";
  if (typeof v === "number") return Number.isInteger(v) ? String(v) : String(Math.round(v * 100) / 100);
  if (typeof v === "boolean") return v ? "yes" : "no";
  const s = typeof v === "object" ? JSON.stringify(v) : String(v);
  // Cut first (one pass over a bounded prefix), then collapse white space: never a spread of the whole value.
  return (s.length > CELL_CHARS ? `${s.slice(0, CELL_CHARS)}…` : s).replace(/\s+/g, " ");
}

const clip = (s: string, w: number) => ([...s].length <= w ? s : `${[...s].slice(0, Math.max(1, w - 1)).join("")}…`);
const pad = (s: string, w: number, right: boolean) => {
  const gap = " ".repeat(Math.max(0, w - [...s].length));
  return right ? gap + s : s + gap;
};

/**
 * A result table as plain text fitted to `width`: the widest columns are cut
 * (with …) until the table fits; when even 4 characters per column do not
 * fit, each row is shown as "column: value" lines instead.
 */
export function textTable(columns: readonly string[], rows: readonly (readonly unknown[])[], width = PHONE_WIDTH): string {
  if (columns.length === 0) return "(no columns)";
  const cells = rows.map((r) => columns.map((_, i) => cell(r[i])));
  const numeric = columns.map((_, i) => rows.length > 0 && rows.every((r) => r[i] === null || typeof r[i] === "number"));
  const widths = columns.map((c, i) => Math.max([...c].length, ...cells.map((r) => [...r[i]!].length)));
  const total = () => widths.reduce((a, w) => a + w, 0) + (widths.length - 1);
  const minWidth = 4;
  if (columns.length * (minWidth + 1) - 1 > width) return recordLayout(columns, cells, width);
  while (total() > width) {
    const widest = widths.indexOf(Math.max(...widths));
    widths[widest] = Math.max(minWidth, widths[widest]! - (total() - width));
  }
  const line = (vals: readonly string[]) =>
    vals
      .map((v, i) => pad(clip(v, widths[i]!), widths[i]!, numeric[i]!))
      .join(" ")
      .trimEnd();
  return [line(columns), widths.map((w) => "─".repeat(w)).join(" "), ...cells.map(line)].join("\n");
}

function recordLayout(columns: readonly string[], cells: readonly string[][], width: number): string {
  return cells.map((r) => columns.map((c, i) => clip(`${c}: ${r[i]}`, width)).join("\n")).join(`\n${"─".repeat(Math.min(width, 12))}\n`);
}

/** A table in a <pre> block, escaped. */
export function preTable(columns: readonly string[], rows: readonly (readonly unknown[])[], width = PHONE_WIDTH): string {
  return `<pre>${esc(textTable(columns, rows, width))}</pre>`;
}

const TOKEN = /<(\/?)([a-z][a-z0-9-]*)(?:\s[^>]*)?>|&[#a-z0-9]+;|[\s\S]/gi;

/**
 * Splits an HTML message into parts of at most `limit` characters, on line
 * boundaries where possible. Tags open at a cut are closed at the end of one
 * part and opened again at the start of the next, so every part parses; an
 * over-long line is cut between characters, never inside a tag or an entity.
 */
export function splitHtml(text: string, limit = MESSAGE_LIMIT): string[] {
  if (text.length <= limit) return [text];
  const parts: string[] = [];
  let open: { name: string; tag: string }[] = [];
  let current = "";
  const closing = (stack = open) =>
    stack
      .map((t) => `</${t.name}>`)
      .reverse()
      .join("");
  const reopening = () => open.map((t) => t.tag).join("");
  const after = (piece: string) => {
    let stack = open;
    for (const m of piece.matchAll(TOKEN)) {
      if (!m[2]) continue;
      const name = m[2].toLowerCase();
      if (m[1]) {
        const at = stack.map((t) => t.name).lastIndexOf(name);
        if (at >= 0) stack = stack.slice(0, at);
      } else stack = [...stack, { name, tag: m[0] }];
    }
    return stack;
  };
  const fits = (piece: string) => current.length + piece.length + closing(after(piece)).length <= limit;
  const add = (piece: string) => {
    open = after(piece);
    current += piece;
  };
  const flush = () => {
    parts.push(current + closing());
    current = reopening();
  };
  const fresh = () => current.length === reopening().length;
  const lines = text.split("\n");
  lines.forEach((raw, i) => {
    const line = i < lines.length - 1 ? `${raw}\n` : raw;
    if (fits(line)) return add(line);
    if (!fresh()) {
      flush();
      if (fits(line)) return add(line);
    }
    for (const [token] of line.matchAll(TOKEN)) {
      if (!fits(token) && !fresh()) flush();
      add(token);
    }
  });
  if (!fresh()) parts.push(current + closing());
  return parts;
}

export function when(ms: number | null): string {
  return ms === null ? "–" : new Date(ms).toISOString().slice(0, 19).replace("T", " ");
}

export function ago(ms: number, now: number): string {
  const s = Math.round((now - ms) / 1000);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.round(s / 60)}m`;
  if (s < 86400) return `${Math.round(s / 3600)}h`;
  return `${Math.round(s / 86400)}d`;
}
