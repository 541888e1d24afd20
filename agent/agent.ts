import { AIMessage, type BaseMessage, HumanMessage, RemoveMessage, ToolMessage, trimMessages } from "@langchain/core/messages";
import { tool } from "@langchain/core/tools";
import { Command } from "@langchain/langgraph";
import type { SqliteSaver } from "@langchain/langgraph-checkpoint-sqlite";
import { ChatOpenAI } from "@langchain/openai";
import { createAgent, createMiddleware, dynamicSystemPromptMiddleware, type HITLRequest, humanInTheLoopMiddleware, modelCallLimitMiddleware } from "langchain";
import { z } from "zod";
import { CarwatchError } from "../core/errors.js";
import type { Logger } from "../core/log.js";
import { checkpointSaver } from "../state/checkpoints.js";
import type { StateStore } from "../state/store.js";
import type { Caller, ToolRegistry } from "../tools/registry.js";
import { hasRole, type Role } from "../tools/roles.js";
import { LlmError, toLlmError } from "./errors.js";
import { type PromptFacts, systemPrompt } from "./prompt.js";

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

/** What each turn brings to the role's agent: who asks, and the facts of the moment. */
interface TurnContext {
  caller: Caller;
  facts: PromptFacts;
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
  private readonly agents = new Map<Role | "none", ReturnType<typeof createAgent>>();
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
      // One retry for a dropped connection; 429 and 5xx are told to the user rather than retried for a minute.
      maxRetries: 1,
      timeout: this.limits.turnTimeoutMs,
    });
  }

  /**
   * One agent per role, built on first use: the tools a role may call, the
   * middleware and the prompt template never change between turns. Who is
   * asking and the facts of the moment come with each turn (its runtime
   * context).
   */
  private agentFor(role: Role | null) {
    const key = role ?? "none";
    const built = this.agents.get(key);
    if (built) return built;
    const { registry } = this.deps;
    const allowed = registry.tools.filter((t) => hasRole(role, t.role) && (!t.via || t.via.includes("agent")));
    const limit = this.limits.maxToolResultChars;
    /**
     * Every tool call the model makes runs here, through the registry, which
     * parses the arguments once (so the model reads the registry's own
     * validation message), checks the role, asks for a confirmation and
     * audits. Only a call the user approved with the button (the interrupt
     * below) is passed as confirmed; any other destructive call is refused
     * by the registry, whatever the middleware list says.
     */
    const run = async (request: { toolCall: { name: string; args: unknown; id?: string }; runtime: { context?: unknown } }): Promise<string> => {
      const { caller } = request.runtime.context as TurnContext;
      const id = request.toolCall.id ?? "";
      const confirmed = this.approved.delete(id);
      try {
        const result = await registry.call(request.toolCall.name, request.toolCall.args, { ...caller, via: "agent" }, { confirmed });
        const text = JSON.stringify(result) ?? "null";
        return text.length > limit ? `${text.slice(0, limit)} [truncated: ${text.length - limit} more characters]` : text;
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
        {
          name: t.name,
          description: t.description,
          // The model sees the input side of each schema (transforms cannot be described).
          schema: z.toJSONSchema(t.input, { io: "input", unrepresentable: "any" }) as never,
        },
      ),
    );
    const interruptOn = Object.fromEntries(
      allowed.filter((t) => t.destructive).map((t) => [t.name, { allowedDecisions: ["approve", "reject"] as ("approve" | "reject")[] }]),
    );
    // Calls go straight to the registry, not through LangChain's own JSON-schema check of the arguments.
    const guard = createMiddleware({
      name: "RegistryGuard",
      wrapToolCall: async (request) => new ToolMessage({ content: await run(request), tool_call_id: request.toolCall.id ?? "", name: request.toolCall.name }),
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
    const agent = createAgent({
      model: this.chat,
      tools,
      checkpointer: this.saver,
      middleware: [
        dynamicSystemPromptMiddleware((_state, runtime) => systemPrompt((runtime.context as TurnContext).facts)),
        memory,
        guard,
        humanInTheLoopMiddleware({ interruptOn }),
        modelCallLimitMiddleware({ runLimit: this.limits.maxSteps, exitBehavior: "end" }),
      ],
    });
    this.agents.set(key, agent);
    return agent;
  }

  /** What the prompt states, read through the registry as the user's own internal reads (not audited as actions). */
  private async facts(caller: Caller): Promise<PromptFacts> {
    const { registry } = this.deps;
    return {
      dialect: this.deps.dialect,
      tables: await registry.call("list_tables", { columns: true }, caller, { internal: true }),
      stages: await registry.call("list_stages", {}, caller, { internal: true }),
      role: registry.roleOf(caller.userId) ?? "none",
      now: this.clock(),
    };
  }

  /** The destructive calls waiting for this chat's button, with the ids of the model's tool calls. */
  private async waiting(caller: Caller): Promise<{ tool: string; args: unknown; id: string | undefined }[] | null> {
    const agent = this.agentFor(this.deps.registry.roleOf(caller.userId));
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
    try {
      const agent = this.agentFor(this.deps.registry.roleOf(caller.userId));
      const context: TurnContext = { caller, facts: await this.facts(caller) };
      const result = await agent.invoke(input as never, {
        ...threadOf(caller.chatId, caller.userId),
        context,
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
