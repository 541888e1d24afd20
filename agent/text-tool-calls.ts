import { parsePartialJson } from "@langchain/core/output_parsers";

export interface TextToolCall {
  name: string;
  args: Record<string, unknown>;
}

/** What the parser knows of each tool: its argument names (a JSON object schema's). */
export type ToolShapes = ReadonlyMap<string, { properties: Record<string, unknown>; required?: string[] }>;

/**
 * Tool calls a small model wrote as text instead of as calls: Qwen's native
 * `<tool_call>{…}</tool_call>` (when the server did not parse it), a bare
 * JSON object or array `{"name": …, "arguments": …}` (also wrapped in a
 * second pair of braces, `{{…}}`, as the 1.5B model writes it), a fenced
 * ```json block, tags such as `<function name="…" arguments='{…}'/>`,
 * `<tool name="…" table="…"/>`, `<call function="…" …/>` or the tool's own
 * name as the tag (`<query sql="…"/>`), or the tool's name as the only key
 * (`{"query": "SELECT …"}`: a string is the tool's one required argument).
 * A name that is no tool is read as the one tool that takes exactly the
 * arguments given (`{"name": "dead_letters", "arguments": {"sql": …}}` is a
 * query), and otherwise dropped, so an answer that merely holds JSON stays
 * an answer; arguments that are a JSON Schema (the 0.5B model copies the
 * tool list back) count as none given. Null when the text holds no call.
 */
export function parseTextToolCalls(text: string, tools: ToolShapes): TextToolCall[] | null {
  const calls = candidates(text, tools)
    .flatMap((v) => callsIn(v, tools))
    .flatMap((c) => {
      const name = tools.has(c.name) ? c.name : toolTaking(tools, c.name, c.args);
      return name ? [{ name, args: c.args }] : [];
    });
  return calls.length ? calls : null;
}

/**
 * The one tool whose arguments include all of `args` and whose required ones
 * `args` has, for a call to a tool that does not exist; among several, the
 * one whose name begins with the same word ("stop_enrichment" with a stage
 * is stop_stage, not stage_status). Undefined when none or still several.
 */
function toolTaking(tools: ToolShapes, name: string, args: Record<string, unknown>): string | undefined {
  const given = Object.keys(args);
  if (given.length === 0) return undefined;
  const fits = [...tools.keys()].filter((t) => {
    const s = tools.get(t)!;
    return given.every((k) => k in s.properties) && (s.required ?? []).every((k) => given.includes(k));
  });
  const verb = `${name.split(/[_\s.]/)[0]}_`;
  const named = fits.length > 1 ? fits.filter((t) => t.startsWith(verb)) : fits;
  return named.length === 1 ? named[0] : undefined;
}

/** The pieces of text that may hold calls, most specific format first. */
function candidates(text: string, tools: ToolShapes): unknown[] {
  const tagged = [...text.matchAll(/<tool_call>([\s\S]*?)(?:<\/tool_call>|$)/g)].map((m) => json(m[1]!));
  if (tagged.length) return tagged;
  const tags = [...text.matchAll(/<([a-z_]+)\b((?:[^>"']|"[^"]*"|'[^']*')*?)\/?>(?:([^<]*?)<\/\1>)?/gi)].flatMap((m) => callTag(m[1]!, m[2]!, m[3], tools));
  if (tags.length) return tags;
  // A ```sql block is the query the model meant to run (the query tool's guard still decides what runs).
  const fenced = [...text.matchAll(/```([a-z_]*)\s*\n?([\s\S]*?)```/gi)].map((m) =>
    m[1]!.toLowerCase() === "sql" ? { name: "query", arguments: { sql: m[2]!.trim() } } : json(m[2]!),
  );
  if (fenced.length) return fenced;
  const objects = objectsIn(text).map(json);
  return objects.length ? objects : proseCalls(text, tools);
}

/**
 * A call described in words, as the prompt's own examples write them
 * ("call top_cars with since "24h" and limit 5") or as a small model
 * explains one ("I need to call the `list_jobs` function", "you can use the
 * `whoami` function"): the tool's name, then quoted, numeric or true/false
 * values after their argument names.
 */
function proseCalls(text: string, tools: ToolShapes): unknown[] {
  return [...text.matchAll(/\b(?:call|calling|use|using)\s+(?:the\s+)?`?([a-z]+(?:_[a-z]+)*)`?(?:\s+(?:function|tool))?(?:\s+with\s+([^\n]*))?/gi)]
    .filter((m) => tools.has(m[1]!))
    .map((m) => {
      const pairs = [...(m[2] ?? "").matchAll(/\b([a-z_]+)\s+("[^"]*"|'[^']*'|-?\d+(?:\.\d+)?\b|true\b|false\b)/gi)];
      const args = pairs.filter(([, k]) => k! in tools.get(m[1]!)!.properties).map(([, k, v]) => [k, attributeValue(v!.replace(/^'(.*)'$/, '"$1"'))]);
      return { name: m[1], arguments: Object.fromEntries(args) };
    });
}

function json(s: string): unknown {
  const t = s.trim();
  try {
    return JSON.parse(t);
  } catch {
    // A call in doubled braces, `{{"name": …}}`, as if copied from a template: the object inside.
    if (t.startsWith("{{")) return json(objectsIn(t.slice(1))[0] ?? "");
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

const CALL_TAGS = new Set(["function", "tool", "call", "invoke"]);
const NAME_ATTRIBUTES = new Set(["name", "function", "tool"]);
const ARGUMENT_ATTRIBUTES = new Set(["arguments", "parameters", "args"]);

/** An attribute's value as the tool reads it: `true`, `12` and `{…}` as JSON, anything else as the text. */
function attributeValue(raw: string): unknown {
  const text = unescapeXml(raw);
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/**
 * A call written as a tag: `<function name="x" arguments='{…}'/>`,
 * `<function name="x">{…}</function>`, `<tool name="x" table="y"/>`
 * (the other attributes are the arguments), or `<x table="y"/>` with the
 * tool's own name as the tag. Other tags (`<tools>`, HTML) hold no call.
 */
function callTag(tag: string, attributes: string, body: string | undefined, tools: ToolShapes): unknown[] {
  const attrs = new Map([...attributes.matchAll(/([a-z_]+)\s*=\s*(?:"([^"]*)"|'([^']*)')/gi)].map((m) => [m[1]!.toLowerCase(), m[2] ?? m[3] ?? ""]));
  const named = CALL_TAGS.has(tag.toLowerCase()) ? [...NAME_ATTRIBUTES].map((k) => attrs.get(k)).find((v) => v !== undefined) : undefined;
  const name = named ?? (tools.has(tag) ? tag : undefined);
  if (name === undefined) return [];
  const packed = [...ARGUMENT_ATTRIBUTES].map((k) => attrs.get(k)).find((v) => v !== undefined);
  if (packed !== undefined) return [{ name, arguments: packed.trim() ? json(unescapeXml(packed)) : {} }];
  if (body?.trim()) return [{ name, arguments: json(body) }];
  const rest = [...attrs].filter(([k]) => !(named !== undefined && NAME_ATTRIBUTES.has(k)));
  return [{ name, arguments: Object.fromEntries(rest.map(([k, v]) => [k, attributeValue(v)])) }];
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
function callsIn(value: unknown, tools: ToolShapes): TextToolCall[] {
  if (Array.isArray(value)) return value.flatMap((v) => callsIn(v, tools));
  if (!isObject(value)) return [];
  if (isObject(value.function)) return callsIn(value.function, tools);
  if (Array.isArray(value.tool_calls)) return callsIn(value.tool_calls, tools);
  const keys = Object.keys(value);
  if (keys.length === 1 && tools.has(keys[0]!) && !("name" in value)) {
    const [tool] = keys as [string];
    const given = value[tool];
    if (isObject(given)) return [{ name: tool, args: given }];
    const required = tools.get(tool)?.required ?? [];
    return typeof given === "string" && required.length === 1 ? [{ name: tool, args: { [required[0]!]: given } }] : [];
  }
  const name = value.name ?? value.tool ?? value.function;
  if (typeof name !== "string") return [];
  const given: unknown = value.arguments ?? value.parameters ?? value.args ?? value.input ?? {};
  const args = typeof given === "string" ? (given.trim() ? json(given) : {}) : given;
  if (!isObject(args)) return [];
  // Arguments that are a JSON Schema ({"type": "object", "properties": …}) are the tool's definition copied back, not values.
  return [{ name, args: args.type === "object" && isObject(args.properties) ? {} : args }];
}
