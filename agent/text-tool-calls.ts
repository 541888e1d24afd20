import { parsePartialJson } from "@langchain/core/output_parsers";

export interface TextToolCall {
  name: string;
  args: Record<string, unknown>;
}

/**
 * Tool calls a small model wrote as text instead of as calls: Qwen's native
 * `<tool_call>{…}</tool_call>` (when the server did not parse it), a bare
 * JSON object or array `{"name": …, "arguments": …}`, a fenced ```json
 * block, `<tools><function name="…" arguments='{…}'/></tools>`, or the
 * tool's name as the only key (`{"query": "SELECT …"}`: a string is the
 * tool's one required argument, `soleArgument`). Only names in `known`
 * count, so an answer that merely holds JSON stays an answer. Null when the
 * text holds no call.
 */
export function parseTextToolCalls(
  text: string,
  known: ReadonlySet<string>,
  soleArgument: (tool: string) => string | undefined = () => undefined,
): TextToolCall[] | null {
  const calls = candidates(text)
    .flatMap((v) => callsIn(v, known, soleArgument))
    .filter((c) => known.has(c.name));
  return calls.length ? calls : null;
}

/** The pieces of text that may hold calls, most specific format first. */
function candidates(text: string): unknown[] {
  const tagged = [...text.matchAll(/<tool_call>([\s\S]*?)(?:<\/tool_call>|$)/g)].map((m) => json(m[1]!));
  if (tagged.length) return tagged;
  const functions = [...text.matchAll(/<function\b([^>]*?)\/?>(?:([\s\S]*?)<\/function>)?/g)].map((m) => functionTag(m[1]!, m[2]));
  if (functions.length) return functions;
  // A ```sql block is the query the model meant to run (the query tool's guard still decides what runs).
  const fenced = [...text.matchAll(/```([a-z_]*)\s*\n?([\s\S]*?)```/gi)].map((m) =>
    m[1]!.toLowerCase() === "sql" ? { name: "query", arguments: { sql: m[2]!.trim() } } : json(m[2]!),
  );
  if (fenced.length) return fenced;
  return objectsIn(text).map(json);
}

function json(s: string): unknown {
  const t = s.trim();
  try {
    return JSON.parse(t);
  } catch {
    // Small models cut a call short or leave a brace open (LangChain's partial parser closes it), or write keys unquoted.
    return parsePartialJson(t) ?? parsePartialJson(t.replace(/([{,]\s*)([A-Za-z_]\w*)\s*:/g, '$1"$2":'));
  }
}

const unescapeXml = (s: string) =>
  s
    .replace(/&quot;/g, '"')
    .replace(/&apos;/g, "'")
    .replace(/&lt;/g, "<")
    .replace(/&gt;/g, ">")
    .replace(/&amp;/g, "&");

/** `<function name="x" arguments='{…}'/>`, or `<function name="x">{…}</function>`. */
function functionTag(attributes: string, body: string | undefined): unknown {
  const attr = (key: string) => new RegExp(`\\b${key}\\s*=\\s*(?:"([^"]*)"|'([^']*)')`).exec(attributes);
  const name = attr("name");
  if (!name) return null;
  const args = attr("arguments") ?? attr("parameters");
  const raw = args ? unescapeXml(args[1] ?? args[2] ?? "") : (body ?? "");
  return { name: name[1] ?? name[2], arguments: raw.trim() ? json(raw) : {} };
}

/** Each top-level `{…}` or `[…]` of a text (strings respected), for bare JSON with prose around it. */
function objectsIn(text: string): string[] {
  const found: string[] = [];
  let depth = 0;
  let start = -1;
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quoted) {
      if (c === "\\") i++;
      else if (c === '"') quoted = false;
      continue;
    }
    if (c === '"' && depth > 0) quoted = true;
    else if (c === "{" || c === "[") {
      if (depth++ === 0) start = i;
    } else if ((c === "}" || c === "]") && depth > 0 && --depth === 0) found.push(text.slice(start, i + 1));
  }
  if (depth > 0 && start >= 0) found.push(text.slice(start));
  return found;
}

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === "object" && !Array.isArray(v);

/** The calls one parsed value describes: a call, a list of calls, or OpenAI's own `{type: "function", function: {…}}` shape. */
function callsIn(value: unknown, known: ReadonlySet<string>, soleArgument: (tool: string) => string | undefined): TextToolCall[] {
  if (Array.isArray(value)) return value.flatMap((v) => callsIn(v, known, soleArgument));
  if (!isObject(value)) return [];
  if (isObject(value.function)) return callsIn(value.function, known, soleArgument);
  if (Array.isArray(value.tool_calls)) return callsIn(value.tool_calls, known, soleArgument);
  const keys = Object.keys(value);
  if (keys.length === 1 && known.has(keys[0]!) && !("name" in value)) {
    const [tool] = keys as [string];
    const given = value[tool];
    if (isObject(given)) return [{ name: tool, args: given }];
    const sole = soleArgument(tool);
    return typeof given === "string" && sole ? [{ name: tool, args: { [sole]: given } }] : [];
  }
  const name = value.name ?? value.tool ?? value.function;
  if (typeof name !== "string") return [];
  const given: unknown = value.arguments ?? value.parameters ?? value.args ?? value.input ?? {};
  const args = typeof given === "string" ? (given.trim() ? json(given) : {}) : given;
  return isObject(args) ? [{ name, args }] : [];
}
