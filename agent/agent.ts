import { type BaseMessage, HumanMessage, RemoveMessage, ToolMessage, trimMessages } from "@langchain/core/messages";
import { tool } from "@langchain/core/tools";
import { Command } from "@langchain/langgraph";
import { SqliteSaver } from "@langchain/langgraph-checkpoint-sqlite";
import { ChatOpenAI } from "@langchain/openai";
import { createAgent, createMiddleware, type HITLRequest, humanInTheLoopMiddleware, modelCallLimitMiddleware } from "langchain";
import { z } from "zod";
import { CarwatchError } from "../core/errors.js";
import type { Logger } from "../core/log.js";
import type { StateStore } from "../pipeline/stores/state.js";
import type { Caller, ToolRegistry } from "../tools/registry.js";
import { LlmError, toLlmError } from "./errors.js";
import { systemPrompt } from "./prompt.js";

export interface AgentModelConfig {
  apiKey: string;
  baseURL?: string;
  model: string;
}

export interface AgentLimits {
  /** Model calls per turn. */
  maxSteps: number;
  turnTimeoutMs: number;
  /** A tool result longer than this is cut before the model sees it. */
  maxToolResultChars: number;
  /** Chat memory kept per chat, in approximate tokens (4 characters each). */
  memoryTokens: number;
}

export const DEFAULT_LIMITS: AgentLimits = { maxSteps: 8, turnTimeoutMs: 60_000, maxToolResultChars: 4000, memoryTokens: 6000 };

export type AgentReply =
  | { kind: "answer"; text: string }
  /** Destructive tool calls wait for the user's button; `actions` says what would run. */
  | { kind: "confirm"; actions: { tool: string; args: unknown }[] }
  | { kind: "error"; text: string };

export interface AgentDeps {
  registry: ToolRegistry;
  /** The lakehouse's SQL dialect, for the prompt. */
  dialect: "sqlite" | "trino";
  state: StateStore;
  model: AgentModelConfig;
  log: Logger;
  limits?: Partial<AgentLimits>;
  clock?: () => number;
}

const threadOf = (chatId: number | null, userId: number) => ({ configurable: { thread_id: `chat:${chatId ?? `user:${userId}`}` } });
const approxTokens = (messages: BaseMessage[]) => messages.reduce((n, m) => n + Math.ceil(JSON.stringify(m.content).length / 4) + 4, 0);

/**
 * The chat agent: LangChain's createAgent over the tools the user's role
 * allows, with LangGraph's human-in-the-loop interrupt before every
 * destructive tool, memory per chat in the state database (SqliteSaver),
 * a step limit and a time limit per turn.
 */
export class ChatAgent {
  private readonly saver: SqliteSaver;
  private readonly chat: ChatOpenAI;
  private readonly limits: AgentLimits;
  private readonly clock: () => number;

  constructor(private readonly deps: AgentDeps) {
    this.saver = new SqliteSaver(deps.state.db);
    this.limits = { ...DEFAULT_LIMITS, ...deps.limits };
    this.clock = deps.clock ?? Date.now;
    this.chat = new ChatOpenAI({
      model: deps.model.model,
      apiKey: deps.model.apiKey,
      configuration: deps.model.baseURL ? { baseURL: deps.model.baseURL } : undefined,
      temperature: 0,
      // One retry for a dropped connection; 429 and 5xx are told to the user rather than retried for a minute.
      maxRetries: 1,
      timeout: this.limits.turnTimeoutMs,
    });
  }

  private async build(caller: Caller) {
    const { registry } = this.deps;
    const allowed = registry.allowedFor(caller.userId, "agent");
    const limit = this.limits.maxToolResultChars;
    /**
     * Every tool call the model makes runs here, through the registry, which
     * parses the arguments once (so the model reads the registry's own
     * validation message), checks the role and audits. Offered destructive
     * tools only get here after the user's button (the interrupt below); a
     * tool never offered is refused by the registry.
     */
    const run = async (name: string, args: unknown, offered: boolean): Promise<string> => {
      try {
        const result = await registry.call(name, args, { ...caller, via: "agent" }, { confirmed: offered });
        const text = JSON.stringify(result) ?? "null";
        return text.length > limit ? `${text.slice(0, limit)} [truncated: ${text.length - limit} more characters]` : text;
      } catch (err) {
        // Refusals, invalid arguments and failed queries go back to the model so it can correct itself.
        if (err instanceof CarwatchError) return `Error: ${err.message}`;
        throw err;
      }
    };
    const tools = allowed.map((t) =>
      tool((args: unknown) => run(t.name, args, true), {
        name: t.name,
        description: t.description,
        // The model sees the input side of each schema (transforms cannot be described).
        schema: z.toJSONSchema(t.input, { io: "input", unrepresentable: "any" }) as never,
      }),
    );
    const interruptOn = Object.fromEntries(
      allowed.filter((t) => t.destructive).map((t) => [t.name, { allowedDecisions: ["approve", "reject"] as ("approve" | "reject")[] }]),
    );
    // Calls go straight to the registry, not through LangChain's own JSON-schema check of the arguments.
    const guard = createMiddleware({
      name: "RegistryGuard",
      wrapToolCall: async (request) =>
        new ToolMessage({
          content: await run(request.toolCall.name, request.toolCall.args, request.tool !== undefined),
          tool_call_id: request.toolCall.id ?? "",
          name: request.toolCall.name,
        }),
    });
    const budget = this.limits.memoryTokens;
    const memory = createMiddleware({
      name: "ChatMemoryBudget",
      beforeModel: async (state) => {
        const kept = await trimMessages(state.messages, {
          maxTokens: budget,
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
    // What the prompt states comes through the registry too, as the user (not as the agent's own tool calls).
    const facts = {
      dialect: this.deps.dialect,
      tables: await registry.call("list_tables", { columns: true }, caller),
      stages: await registry.call("list_stages", {}, caller),
      role: registry.roleOf(caller.userId) ?? "none",
      now: this.clock(),
    };
    return createAgent({
      model: this.chat,
      tools,
      systemPrompt: systemPrompt(facts),
      checkpointer: this.saver,
      middleware: [memory, guard, humanInTheLoopMiddleware({ interruptOn }), modelCallLimitMiddleware({ runLimit: this.limits.maxSteps, exitBehavior: "end" })],
    });
  }

  /** Whether a destructive call waits for this chat's button. */
  async pending(caller: Caller): Promise<{ tool: string; args: unknown }[] | null> {
    const agent = await this.build(caller);
    const snapshot = await agent.graph.getState(threadOf(caller.chatId, caller.userId));
    for (const task of snapshot.tasks) {
      const request = task.interrupts[0]?.value as HITLRequest | undefined;
      if (request) return request.actionRequests.map((a) => ({ tool: a.name, args: a.args }));
    }
    return null;
  }

  /** One user turn. A confirmation still pending is declined first: the user moved on. */
  async ask(caller: Caller, text: string): Promise<AgentReply> {
    if (await this.pending(caller)) await this.decide(caller, false, "The user did not press the confirmation button and wrote something else instead.");
    return this.turn(caller, { messages: [new HumanMessage(text)] });
  }

  /** The user's answer to a pending confirmation; a decline is told to the model. */
  async decide(caller: Caller, approved: boolean, reason = "The user declined this action with the button."): Promise<AgentReply> {
    const actions = await this.pending(caller);
    if (!actions) return { kind: "error", text: "There is nothing waiting for a confirmation any more." };
    const decision = approved ? { type: "approve" as const } : { type: "reject" as const, message: reason };
    return this.turn(caller, new Command({ resume: { decisions: actions.map(() => decision) } }));
  }

  /** Forgets this chat's conversation. */
  async reset(caller: Caller): Promise<void> {
    await this.saver.deleteThread(threadOf(caller.chatId, caller.userId).configurable.thread_id);
  }

  private async turn(caller: Caller, input: { messages: BaseMessage[] } | Command): Promise<AgentReply> {
    try {
      const agent = await this.build(caller);
      const result = await agent.invoke(input as never, {
        ...threadOf(caller.chatId, caller.userId),
        signal: AbortSignal.timeout(this.limits.turnTimeoutMs),
        recursionLimit: this.limits.maxSteps * 4,
      });
      const interrupt = (result as { __interrupt__?: { value: HITLRequest }[] }).__interrupt__?.[0];
      if (interrupt) return { kind: "confirm", actions: interrupt.value.actionRequests.map((a) => ({ tool: a.name, args: a.args })) };
      const last = result.messages[result.messages.length - 1];
      const answer = typeof last?.content === "string" ? last.content : JSON.stringify(last?.content ?? "");
      return { kind: "answer", text: answer.trim() || "(no answer)" };
    } catch (err) {
      const e = toLlmError(err);
      this.deps.log.warn({ err, chat: caller.chatId }, `agent turn failed: ${e.message}`);
      return { kind: "error", text: e.message };
    }
  }
}

export { LlmError };
