import { randomUUID } from "node:crypto";
import { AIMessage, type BaseMessage, HumanMessage, RemoveMessage, ToolMessage, trimMessages } from "@langchain/core/messages";
import { tool } from "@langchain/core/tools";
import { Command } from "@langchain/langgraph";
import type { SqliteSaver } from "@langchain/langgraph-checkpoint-sqlite";
import { ChatOpenAI } from "@langchain/openai";
import { createAgent, createMiddleware, type HITLRequest, humanInTheLoopMiddleware } from "langchain";
import { CarwatchError } from "../core/errors.js";
import type { Logger } from "../core/log.js";
import { checkpointSaver } from "../state/checkpoints.js";
import type { StateStore } from "../state/store.js";
import type { Caller, ToolRegistry } from "../tools/registry.js";
import { hasRole, type Role } from "../tools/roles.js";
import { LlmError, toLlmError } from "./errors.js";
import { type Dialect, factsLine, systemPrompt, type TurnFacts, withTables } from "./prompt.js";
import { parseTextToolCalls } from "./text-tool-calls.js";
import { routeTools } from "./tool-router.js";
import { toolShapes, unknownArguments, withSchemaKeys } from "./tool-schema.js";
import { answerFromResults, earlierResult, echoesNudge, modelAnswer, REPEAT_NUDGE, textOf, turnStart } from "./turn-answer.js";

export interface AgentModelConfig {
  apiKey: string;
  baseURL?: string;
  model: string;
}

export interface AgentLimits {
  /** Model calls per turn; the last one is offered no tools, so the turn ends with an answer. */
  maxSteps: number;
  turnTimeoutMs: number;
  /** Tokens the model may write per call (a looping small model otherwise writes until the time limit). */
  maxTokens: number;
  /** A tool result longer than this is cut before the model sees it. */
  maxToolResultChars: number;
  /** Chat memory kept per chat, in approximate tokens (4 characters each). */
  memoryTokens: number;
}

export const DEFAULT_LIMITS: AgentLimits = { maxSteps: 6, turnTimeoutMs: 60_000, maxTokens: 512, maxToolResultChars: 4000, memoryTokens: 6000 };

export type AgentReply =
  | { kind: "answer"; text: string }
  /** Destructive tool calls wait for the user's button; `actions` says what would run. */
  | { kind: "confirm"; actions: { tool: string; args: unknown }[] }
  | { kind: "error"; text: string };

export interface AgentDeps {
  registry: ToolRegistry;
  /** The lakehouse's SQL dialect, for the prompt. */
  dialect: Dialect;
  state: StateStore;
  model: AgentModelConfig;
  log: Logger;
  limits?: Partial<AgentLimits>;
  clock?: () => number;
}

/** What each turn brings to the role's agent: who asks, the facts of the moment, and when the turn began. */
interface TurnContext {
  caller: Caller;
  facts: TurnFacts;
  /** performance.now() at the turn's start: the time limit is wall time, whatever clock the facts use. */
  startedAt: number;
}

interface BuiltAgent {
  agent: ReturnType<typeof createAgent>;
  systemPrompt: string;
}

const threadOf = (chatId: number | null, userId: number) => ({ configurable: { thread_id: `chat:${chatId ?? `user:${userId}`}` } });
const approxTokens = (messages: BaseMessage[]) => messages.reduce((n, m) => n + Math.ceil(JSON.stringify(m.content).length / 4) + 4, 0);
const NO_ANSWER = "I could not find an answer to that; try asking it another way, or name what you want to see.";

/**
 * The chat agent: LangChain's createAgent over the tools the user's role
 * allows, with LangGraph's human-in-the-loop interrupt before every
 * destructive tool, memory per chat in the state database (SqliteSaver),
 * a step limit and a time limit per turn. Shaped for small local models:
 * a prompt prefix that never changes (system prompt, then tools; the facts
 * of the moment go with the question), only the tools the question needs,
 * tool calls written as text turned into calls, a repeated call answered
 * from its earlier result, and a turn that always ends in an answer.
 */
export class ChatAgent {
  private readonly saver: SqliteSaver;
  private readonly chat: ChatOpenAI;
  private readonly limits: AgentLimits;
  private readonly clock: () => number;
  private readonly agents = new Map<Role | "none", Promise<BuiltAgent>>();
  /** Tool call ids the user approved with the button, until they run. */
  private readonly approved = new Set<string>();

  constructor(private readonly deps: AgentDeps) {
    this.saver = checkpointSaver(deps.state);
    this.limits = { ...DEFAULT_LIMITS, ...deps.limits };
    this.clock = deps.clock ?? Date.now;
    this.chat = new ChatOpenAI({
      model: deps.model.model,
      apiKey: deps.model.apiKey,
      configuration: deps.model.baseURL ? { baseURL: deps.model.baseURL } : undefined,
      temperature: 0,
      maxTokens: this.limits.maxTokens,
      // One retry for a dropped connection; 429 and 5xx are told to the user rather than retried for a minute.
      maxRetries: 1,
      timeout: this.limits.turnTimeoutMs,
    });
  }

  /**
   * One agent per role, built on first use: the tools a role may call, the
   * middleware and the system prompt never change between turns. The
   * tables (for the query tool's description) are read once, through the
   * registry as the first caller's internal read.
   */
  private agentFor(caller: Caller): Promise<BuiltAgent> {
    const role = this.deps.registry.roleOf(caller.userId);
    const key = role ?? "none";
    let built = this.agents.get(key);
    if (!built) {
      built = this.build(role, caller);
      this.agents.set(key, built);
      built.catch(() => this.agents.delete(key));
    }
    return built;
  }

  private async build(role: Role | null, caller: Caller): Promise<BuiltAgent> {
    const { registry } = this.deps;
    const allowed = registry.tools.filter((t) => hasRole(role, t.role) && (!t.via || t.via.includes("agent")));
    const tables = allowed.some((t) => t.name === "query") ? await registry.call("list_tables", { columns: true }, caller, { internal: true }) : [];
    // Every tool's arguments, not only the role's: a text call of a tool the role lacks still becomes a call, which the registry refuses.
    const schemas = toolShapes(registry.tools);
    const limits = this.limits;
    const normal = (name: string, args: unknown) => {
      const parsed = registry.get(name)?.input.safeParse(args);
      return parsed?.success ? parsed.data : args;
    };

    /**
     * Every tool call the model makes runs here, through the registry, which
     * parses the arguments once (so the model reads the registry's own
     * validation message), checks the role, asks for a confirmation and
     * audits. Only a call the user approved with the button (the interrupt
     * below) is passed as confirmed; any other destructive call is refused
     * by the registry, whatever the middleware list says.
     */
    const run = async (request: {
      toolCall: { name: string; args: unknown; id?: string };
      state: { messages: BaseMessage[] };
      runtime: { context?: unknown };
    }) => {
      const { caller } = request.runtime.context as TurnContext;
      const { name, id = "" } = request.toolCall;
      const confirmed = this.approved.delete(id);
      // A small model repeats a call whose answer it already has: the earlier result, not a second run.
      const earlier = earlierResult(request.state.messages, request.toolCall, normal);
      if (earlier !== null) return `${earlier}\n\n${REPEAT_NUDGE}`;
      const schema = schemas.get(name);
      const args = schema ? withSchemaKeys(schema, request.toolCall.args) : request.toolCall.args;
      const unknown = schema ? unknownArguments(name, schema, args) : null;
      if (unknown) return `Error: ${unknown}`;
      try {
        const result = await registry.call(name, args, { ...caller, via: "agent" }, { confirmed });
        const brief = registry.get(name)?.brief;
        const text = JSON.stringify(brief ? brief(result) : result) ?? "null";
        return text.length > limits.maxToolResultChars
          ? `${text.slice(0, limits.maxToolResultChars)} [truncated: ${text.length - limits.maxToolResultChars} more characters]`
          : text;
      } catch (err) {
        // Refusals, invalid arguments and failed queries go back to the model so it can correct itself.
        if (err instanceof CarwatchError) return `Error: ${err.message}`;
        throw err;
      }
    };
    const tools = allowed.map((t) =>
      tool(
        () => {
          throw new Error(`${t.name} runs through the RegistryGuard middleware`);
        },
        { name: t.name, description: t.name === "query" ? withTables(t.description, tables) : t.description, schema: schemas.get(t.name) as never },
      ),
    );
    const interruptOn = Object.fromEntries(
      allowed.filter((t) => t.destructive).map((t) => [t.name, { allowedDecisions: ["approve", "reject"] as ("approve" | "reject")[] }]),
    );
    // Calls go straight to the registry, not through LangChain's own JSON-schema check of the arguments.
    const guard = createMiddleware({
      name: "RegistryGuard",
      wrapToolCall: async (request) =>
        new ToolMessage({ content: await run(request as never), tool_call_id: request.toolCall.id ?? "", name: request.toolCall.name }),
    });
    /**
     * Each model call of a turn: the question with the facts line in front
     * (for this call only, never stored), the tools its words need, and on
     * the turn's last allowed step (or after a repeated call, or past half
     * the time limit with a result in hand) no tools at all, so the model
     * answers. What it wrote as text tool calls becomes real calls here,
     * before the loop routes on them; every answer gets an id of its own (a
     * server that repeats response ids would make LangGraph replace an
     * earlier message instead of adding this one).
     */
    const shape = createMiddleware({
      name: "TurnShape",
      wrapModelCall: async (request, handler) => {
        const context = request.runtime.context as TurnContext;
        const messages = request.messages;
        const start = turnStart(messages);
        const turn = messages.slice(start + 1);
        const steps = turn.filter((m) => AIMessage.isInstance(m)).length;
        const last = turn.at(-1);
        const hasResult = turn.some((m) => ToolMessage.isInstance(m));
        const final =
          steps >= limits.maxSteps - 1 ||
          (last !== undefined && ToolMessage.isInstance(last) && textOf(last.content).endsWith(REPEAT_NUDGE)) ||
          (hasResult && performance.now() - context.startedAt > limits.turnTimeoutMs / 2);
        const history = messages.slice(0, start + 1);
        const question = start >= 0 ? textOf(messages[start]!.content) : "";
        const recent = history.flatMap((m) => (AIMessage.isInstance(m) ? (m.tool_calls ?? []).map((c) => c.name) : []));
        const offered = final
          ? []
          : routeTools(
              question,
              request.tools.map((t) => String(t.name)),
              recent,
            );
        const withFacts = [...messages];
        if (start >= 0) withFacts[start] = new HumanMessage({ content: `${factsLine(context.facts)}\n${question}`, id: messages[start]!.id });
        const response = await handler({ ...request, messages: withFacts, tools: request.tools.filter((t) => offered.includes(String(t.name))) });
        if (!AIMessage.isInstance(response)) return response;
        const content = textOf(response.content);
        // Any tool named in the text marks a call; only the tools offered for this step may run from it.
        const named = response.tool_calls?.length ? null : parseTextToolCalls(content, schemas);
        const written = named && parseTextToolCalls(content, new Map([...schemas].filter(([t]) => offered.includes(t))));
        const fields = { content: response.content, response_metadata: response.response_metadata, usage_metadata: response.usage_metadata, id: randomUUID() };
        // A call the step may not make, or the nudge said back, is no answer: the turn answers from the results instead.
        if (final || (named && !written)) return new AIMessage({ ...fields, content: named || echoesNudge(content) ? "" : content });
        if (!written) return new AIMessage({ ...fields, tool_calls: response.tool_calls });
        return new AIMessage({
          ...fields,
          content: "",
          tool_calls: written.map((c) => ({ id: `text_${randomUUID()}`, name: c.name, args: c.args, type: "tool_call" as const })),
        });
      },
    });
    const memory = createMiddleware({
      name: "ChatMemoryBudget",
      beforeModel: async (state) => {
        const kept = await trimMessages(state.messages, {
          maxTokens: limits.memoryTokens,
          strategy: "last",
          tokenCounter: approxTokens,
          startOn: "human",
          allowPartial: false,
        });
        if (kept.length === state.messages.length) return undefined;
        const keep = new Set(kept.map((m) => m.id));
        return { messages: state.messages.filter((m) => !keep.has(m.id)).map((m) => new RemoveMessage({ id: m.id! })) };
      },
    });
    const prompt = systemPrompt({
      dialect: this.deps.dialect,
      role: role ?? "none",
      confirmed: allowed.filter((t) => t.destructive).map((t) => t.name),
    });
    const agent = createAgent({
      model: this.chat,
      tools,
      systemPrompt: prompt,
      checkpointer: this.saver,
      middleware: [shape, memory, guard, humanInTheLoopMiddleware({ interruptOn })],
    });
    return { agent, systemPrompt: prompt };
  }

  /** The facts of the moment, read through the registry as the user's own internal reads (not audited as actions). */
  private async facts(caller: Caller): Promise<TurnFacts> {
    return { stages: await this.deps.registry.call("list_stages", {}, caller, { internal: true }), now: this.clock() };
  }

  /** The system prompt this caller's role reads (the same every turn). */
  async systemPromptFor(caller: Caller): Promise<string> {
    return (await this.agentFor(caller)).systemPrompt;
  }

  /** The destructive calls waiting for this chat's button, with the ids of the model's tool calls. */
  private async waiting(caller: Caller): Promise<{ tool: string; args: unknown; id: string | undefined }[] | null> {
    const { agent } = await this.agentFor(caller);
    const snapshot = await agent.graph.getState(threadOf(caller.chatId, caller.userId));
    for (const task of snapshot.tasks) {
      const request = task.interrupts[0]?.value as HITLRequest | undefined;
      if (!request) continue;
      const messages = (snapshot.values as { messages?: BaseMessage[] }).messages ?? [];
      const calls = [...messages].reverse().find((m) => AIMessage.isInstance(m))?.tool_calls ?? [];
      return request.actionRequests.map((a) => ({
        tool: a.name,
        args: a.args,
        id: calls.find((c) => c.name === a.name && JSON.stringify(c.args) === JSON.stringify(a.args))?.id,
      }));
    }
    return null;
  }

  /** Whether a destructive call waits for this chat's button. */
  async pending(caller: Caller): Promise<{ tool: string; args: unknown }[] | null> {
    return (await this.waiting(caller))?.map(({ tool, args }) => ({ tool, args })) ?? null;
  }

  /** One user turn. A confirmation still pending is declined first: the user moved on. */
  async ask(caller: Caller, text: string): Promise<AgentReply> {
    if (await this.pending(caller)) await this.decide(caller, false, "The user did not press the confirmation button and wrote something else instead.");
    return this.turn(caller, { messages: [new HumanMessage(text)] });
  }

  /** The user's answer to a pending confirmation; a decline is told to the model. */
  async decide(caller: Caller, approved: boolean, reason = "The user declined this action with the button."): Promise<AgentReply> {
    const actions = await this.waiting(caller);
    if (!actions) return { kind: "error", text: "There is nothing waiting for a confirmation any more." };
    // The registry runs a destructive call as confirmed only when its id is here: the ones the user approved.
    if (approved) for (const a of actions) if (a.id) this.approved.add(a.id);
    const decision = approved ? { type: "approve" as const } : { type: "reject" as const, message: reason };
    return this.turn(caller, new Command({ resume: { decisions: actions.map(() => decision) } }));
  }

  /** Forgets this chat's conversation. */
  async reset(caller: Caller): Promise<void> {
    await this.saver.deleteThread(threadOf(caller.chatId, caller.userId).configurable.thread_id);
  }

  private async turn(caller: Caller, input: { messages: BaseMessage[] } | Command): Promise<AgentReply> {
    const thread = threadOf(caller.chatId, caller.userId);
    let agent: BuiltAgent["agent"] | null = null;
    try {
      agent = (await this.agentFor(caller)).agent;
      const context: TurnContext = { caller, facts: await this.facts(caller), startedAt: performance.now() };
      const result = await agent.invoke(input as never, {
        ...thread,
        context,
        signal: AbortSignal.timeout(this.limits.turnTimeoutMs),
        // Only a backstop: the last step is offered no tools, so a turn ends well before this.
        recursionLimit: (this.limits.maxSteps + 2) * 8,
      });
      const interrupt = (result as { __interrupt__?: { value: HITLRequest }[] }).__interrupt__?.[0];
      if (interrupt) return { kind: "confirm", actions: interrupt.value.actionRequests.map((a) => ({ tool: a.name, args: a.args })) };
      const messages = result.messages as BaseMessage[];
      return { kind: "answer", text: modelAnswer(messages) ?? answerFromResults(messages) ?? NO_ANSWER };
    } catch (err) {
      const e = toLlmError(err);
      this.deps.log.warn({ err, chat: caller.chatId }, `agent turn failed: ${e.message}`);
      // Out of time or steps with a result in hand: that result is the answer, not an error.
      if (agent && /too long|more steps/.test(e.message)) {
        const saved = (await agent.graph.getState(thread).catch(() => null))?.values as { messages?: BaseMessage[] } | undefined;
        const fallback = answerFromResults(saved?.messages ?? [], e.message);
        if (fallback) return { kind: "answer", text: fallback };
      }
      return { kind: "error", text: e.message };
    }
  }
}

export { LlmError };
