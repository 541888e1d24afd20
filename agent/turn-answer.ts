import { AIMessage, type BaseMessage, HumanMessage, ToolMessage } from "@langchain/core/messages";

/** What a repeated call's answer ends with; the next model call then gets no tools, so it answers. */
export const REPEAT_NUDGE = "You already called this tool with these arguments; the result above is its earlier one. Answer the user from it now.";

export const textOf = (content: unknown): string =>
  typeof content === "string"
    ? content
    : Array.isArray(content)
      ? content.map((b: { text?: unknown }) => (typeof b?.text === "string" ? b.text : "")).join("")
      : "";

const words = (s: string) => s.toLowerCase().match(/[a-z]+/g) ?? [];
const NUDGE_RUNS = new Set(words(REPEAT_NUDGE).map((_, i, w) => w.slice(i, i + 5).join(" ")));

/** Whether a model's answer says the repeat nudge back (five words in a row of it): a small model does, instead of answering. */
export function echoesNudge(text: string): boolean {
  const w = words(text);
  return w.some((_, i) => i + 5 <= w.length && NUDGE_RUNS.has(w.slice(i, i + 5).join(" ")));
}

/** Where the current turn starts: the index of the newest human message (-1 if none). */
export function turnStart(messages: readonly BaseMessage[]): number {
  for (let i = messages.length - 1; i >= 0; i--) if (HumanMessage.isInstance(messages[i])) return i;
  return -1;
}

/** Arguments as one comparable string, whatever the order of their keys. */
export function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(",")}]`;
  if (value !== null && typeof value === "object") {
    return `{${Object.keys(value)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical((value as Record<string, unknown>)[k])}`)
      .join(",")}}`;
  }
  return JSON.stringify(value) ?? "null";
}

/**
 * The result of an earlier call of this turn with the same tool and
 * arguments, or null. `normal` gives arguments as the tool reads them
 * (defaults filled), so leaving out a default is still the same call.
 */
export function earlierResult(
  messages: readonly BaseMessage[],
  call: { name: string; args: unknown; id?: string },
  normal: (name: string, args: unknown) => unknown = (_n, a) => a,
): string | null {
  const key = canonical(normal(call.name, call.args ?? {}));
  const turn = messages.slice(turnStart(messages) + 1);
  for (const m of turn) {
    if (!AIMessage.isInstance(m)) continue;
    for (const c of m.tool_calls ?? []) {
      if (c.id === call.id || c.name !== call.name || canonical(normal(c.name, c.args ?? {})) !== key) continue;
      const result = turn.find((t) => ToolMessage.isInstance(t) && t.tool_call_id === c.id);
      if (result) return textOf(result.content).replace(`\n\n${REPEAT_NUDGE}`, "");
    }
  }
  return null;
}

/** The model's answer of this turn: its newest AI message with text, never a human or tool message. */
export function modelAnswer(messages: readonly BaseMessage[]): string | null {
  const turn = messages.slice(turnStart(messages) + 1);
  for (let i = turn.length - 1; i >= 0; i--) {
    const m = turn[i]!;
    if (AIMessage.isInstance(m) && !m.tool_calls?.length && textOf(m.content).trim()) return textOf(m.content).trim();
  }
  return null;
}

const SHORT = 600;

/** A short answer built from this turn's newest tool result, for a model that answered with nothing; null when no tool ran. */
export function answerFromResults(messages: readonly BaseMessage[], preface = ""): string | null {
  const turn = messages.slice(turnStart(messages) + 1);
  const last = [...turn].reverse().find((m) => ToolMessage.isInstance(m)) as ToolMessage | undefined;
  if (!last) return null;
  const text = textOf(last.content).replace(`\n\n${REPEAT_NUDGE}`, "").trim();
  const lead = preface ? `${preface} ` : "";
  if (text.startsWith("Error: ")) return `${lead}${last.name ?? "The tool"} failed: ${text.slice(7)}`;
  const cut = text.length > SHORT ? `${text.slice(0, SHORT)}…` : text;
  return `${lead}${last.name ?? "The tool"} returned: ${cut}`;
}
