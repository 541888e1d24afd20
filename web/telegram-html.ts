/**
 * Telegram's HTML parse mode, parsed the way Telegram does it, into a tree
 * the console page turns into DOM nodes with textContent (never innerHTML).
 * Only Telegram's tags are known; anything else is refused with Telegram's
 * own error, so a message the console shows is one Telegram would accept.
 */
export type RichTag = "b" | "i" | "u" | "s" | "code" | "pre" | "a" | "spoiler" | "blockquote";
export type RichNode = string | { tag: RichTag; href?: string; children: RichNode[] };

export class HtmlParseError extends Error {}

const TAGS: Record<string, RichTag> = {
  b: "b",
  strong: "b",
  i: "i",
  em: "i",
  u: "u",
  ins: "u",
  s: "s",
  strike: "s",
  del: "s",
  code: "code",
  pre: "pre",
  a: "a",
  "tg-spoiler": "spoiler",
  span: "spoiler",
  blockquote: "blockquote",
  "tg-emoji": "spoiler",
};
const ENTITIES: Record<string, string> = { lt: "<", gt: ">", amp: "&", quot: '"' };
const SAFE_HREF = /^(https?:|tg:|mailto:)/i;

function decodeEntity(body: string, at: number): string {
  if (body.startsWith("#x") || body.startsWith("#X")) {
    const code = Number.parseInt(body.slice(2), 16);
    if (Number.isFinite(code) && code <= 0x10ffff) return String.fromCodePoint(code);
  } else if (body.startsWith("#")) {
    const code = Number.parseInt(body.slice(1), 10);
    if (Number.isFinite(code) && code <= 0x10ffff) return String.fromCodePoint(code);
  } else if (Object.hasOwn(ENTITIES, body)) return ENTITIES[body]!;
  throw new HtmlParseError(`Unsupported HTML entity "&${body};" at byte offset ${at}`);
}

function unescapeAttr(v: string): string {
  return v.replace(/&(#x[0-9a-f]+|#\d+|[a-z]+);/gi, (_, b: string) => decodeEntity(b, 0));
}

/** Parses `text` sent with parse_mode HTML; throws HtmlParseError where Telegram would answer "can't parse entities". */
export function parseTelegramHtml(text: string): RichNode[] {
  const root: RichNode[] = [];
  const stack: { name: string; node: Exclude<RichNode, string> }[] = [];
  const children = () => (stack.length ? stack[stack.length - 1]!.node.children : root);
  const addText = (t: string) => {
    if (!t) return;
    const list = children();
    const last = list[list.length - 1];
    if (typeof last === "string") list[list.length - 1] = last + t;
    else list.push(t);
  };
  let i = 0;
  while (i < text.length) {
    const ch = text[i]!;
    if (ch === "&") {
      const end = text.indexOf(";", i);
      const body = end > i ? text.slice(i + 1, end) : "";
      if (end < 0 || !/^(#x[0-9a-f]+|#\d+|[a-z]+)$/i.test(body)) {
        // Telegram leaves a bare ampersand as text.
        addText("&");
        i++;
        continue;
      }
      addText(decodeEntity(body, i));
      i = end + 1;
      continue;
    }
    if (ch !== "<") {
      const next = text.slice(i).search(/[<&]/);
      const stop = next < 0 ? text.length : i + next;
      addText(text.slice(i, stop));
      i = stop;
      continue;
    }
    const close = text.indexOf(">", i);
    if (close < 0) throw new HtmlParseError(`Unclosed start tag at byte offset ${i}`);
    const raw = text.slice(i + 1, close);
    i = close + 1;
    if (raw.startsWith("/")) {
      const name = raw.slice(1).trim().toLowerCase();
      const top = stack.pop();
      if (!top || top.name !== name)
        throw new HtmlParseError(`Unmatched end tag at byte offset ${close}, expected "</${top?.name ?? ""}>", found "</${name}>"`);
      continue;
    }
    const m = /^([a-z][a-z0-9-]*)([\s\S]*)$/i.exec(raw);
    if (!m) throw new HtmlParseError(`Unsupported start tag "${raw}" at byte offset ${i}`);
    const name = m[1]!.toLowerCase();
    const tag = TAGS[name];
    if (!tag) throw new HtmlParseError(`Unsupported start tag "${name}" at byte offset ${i}`);
    const attrs = new Map<string, string>();
    for (const a of m[2]!.matchAll(/([a-z-]+)\s*=\s*("([^"]*)"|'([^']*)'|([^\s"'>]+))/gi))
      attrs.set(a[1]!.toLowerCase(), unescapeAttr(a[3] ?? a[4] ?? a[5] ?? ""));
    const node: Exclude<RichNode, string> = { tag, children: [] };
    if (tag === "a") {
      const href = attrs.get("href") ?? "";
      if (SAFE_HREF.test(href)) node.href = href;
    }
    if (name === "code" && stack[stack.length - 1]?.name === "pre") {
      // <pre><code class="language-x"> is one pre block.
      stack.push({ name, node: stack[stack.length - 1]!.node });
      continue;
    }
    children().push(node);
    stack.push({ name, node });
  }
  if (stack.length) throw new HtmlParseError(`Can't find end tag corresponding to start tag "${stack[stack.length - 1]!.name}"`);
  return root;
}

/** The text Telegram keeps of an HTML message (the tags become entities, which the console does not need). */
export function plainText(nodes: readonly RichNode[]): string {
  return nodes.map((n) => (typeof n === "string" ? n : plainText(n.children))).join("");
}
