import type { Update } from "grammy/types";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { ChatAgent } from "../agent/agent.js";
import { THINKING } from "../bot/assistant.js";
import { createBot } from "../bot/bot.js";
import { silentLogger } from "../core/log.js";
import { type BotPipeline, botPipeline, OPERATOR, startConsumers } from "./support/bot-pipeline.js";
import { ScriptedOpenAI } from "./support/openai-server.js";
import { BOT_INFO, callbackUpdate, textUpdate } from "./support/telegram-updates.js";

interface ApiCall {
  method: string;
  payload: Record<string, unknown>;
}

let p: BotPipeline;
let llm: ScriptedOpenAI;
let calls: ApiCall[] = [];
let messageId = 100;

/** A bot fed updates directly, its API calls recorded and answered locally. */
function recordingBot(agent: ChatAgent | null) {
  const { bot } = createBot({ token: "1:test", registry: p.registry, agent, log: silentLogger, botInfo: BOT_INFO, flood: { limit: 100, timeFrameMs: 60_000 } });
  bot.api.config.use(async (_prev, method, payload) => {
    calls.push({ method, payload: payload as Record<string, unknown> });
    const chat = { id: Number((payload as { chat_id?: number }).chat_id ?? 0), type: "private" };
    return { ok: true, result: method === "sendMessage" ? { message_id: ++messageId, date: 0, chat, text: "" } : true } as never;
  });
  return (...updates: Update[]) => updates.reduce((prev, u) => prev.then(() => bot.handleUpdate(u)), Promise.resolve());
}
const texts = () => calls.filter((c) => c.method === "sendMessage" || c.method === "editMessageText").map((c) => String(c.payload.text));
const buttons = () =>
  calls.flatMap((c) =>
    ((c.payload.reply_markup as { inline_keyboard?: { callback_data: string }[][] })?.inline_keyboard ?? []).flat().map((b) => b.callback_data),
  );

beforeAll(async () => {
  llm = await new ScriptedOpenAI().start();
  p = await botPipeline();
  await startConsumers(p);
});
afterAll(async () => {
  await p.close();
  await llm.stop();
});
beforeEach(() => {
  calls = [];
  llm.clear();
});

describe("chat-first assistant in the bot", () => {
  it("without a model, free text gets what to set and what works now", async () => {
    const send = recordingBot(null);
    await send(textUpdate(OPERATOR, "how many alerts today?"));
    expect(texts()).toHaveLength(1);
    expect(texts()[0]).toContain("set <code>OPENAI_API_KEY</code>");
    expect(texts()[0]).toContain("/stages");
  });

  it("sends free text to the agent, shows typing, and escapes the model's text", async () => {
    const agent = new ChatAgent({
      registry: p.registry,
      dialect: p.lakehouse.dialect,
      state: p.state,
      model: { apiKey: "k", baseURL: llm.baseURL, model: "m" },
      log: silentLogger,
    });
    const send = recordingBot(agent);
    llm.answer({ text: "All <b>fine</b> & dandy" });
    await send(textUpdate(OPERATOR, "status?"));
    expect(calls[0]).toMatchObject({ method: "sendChatAction", payload: { action: "typing" } });
    // A "thinking…" message, edited into the answer.
    expect(texts()).toEqual([THINKING, "All &lt;b&gt;fine&lt;/b&gt; &amp; dandy"]);
    expect(calls.filter((c) => c.method === "editMessageText").map((c) => c.payload.message_id)).toEqual([messageId]);
    expect(ScriptedOpenAI.text(llm.requests.at(-1)!.messages.at(-1)!.content)).toMatch(/\]\nstatus\?$/);
  });

  it("in a group, answers only when mentioned or replied to", async () => {
    const agent = new ChatAgent({
      registry: p.registry,
      dialect: p.lakehouse.dialect,
      state: p.state,
      model: { apiKey: "k", baseURL: llm.baseURL, model: "m" },
      log: silentLogger,
    });
    const send = recordingBot(agent);
    const group = { id: -100123, type: "supergroup" as const };
    await send(textUpdate(OPERATOR, "just chatting", group));
    expect(calls).toEqual([]);
    llm.answer({ text: "hi" });
    await send(textUpdate(OPERATOR, `@${BOT_INFO.username} hello`, group));
    expect(texts()).toEqual([THINKING, "hi"]);
    expect(ScriptedOpenAI.text(llm.requests.at(-1)!.messages.at(-1)!.content)).toMatch(/\]\nhello$/);
  });

  it("a destructive request waits for the button; Yes runs it, Cancel tells the model", async () => {
    const agent = new ChatAgent({
      registry: p.registry,
      dialect: p.lakehouse.dialect,
      state: p.state,
      model: { apiKey: "k", baseURL: llm.baseURL, model: "m" },
      log: silentLogger,
    });
    const send = recordingBot(agent);
    llm.answer({ calls: [{ name: "stop_stage", args: { stage: "aggregate" } }] });
    await send(textUpdate(OPERATOR, "stop the aggregation"));
    expect(texts().at(-1)).toContain("The assistant wants to run:\n• <b>stop_stage</b>");
    const [yes, no] = buttons();
    expect(yes).toMatch(/^yes:/);
    expect(no).toMatch(/^no:/);
    expect(p.supervisor.status("aggregate").state).toBe("running");
    llm.answer({ text: "aggregate stopped" });
    calls = [];
    await send(callbackUpdate(OPERATOR, yes!));
    expect(p.supervisor.status("aggregate").state).toBe("stopped");
    expect(texts()).toEqual(["✅ Confirmed.", THINKING, "aggregate stopped"]);
    // Pressing it again does nothing.
    calls = [];
    await send(callbackUpdate(OPERATOR, yes!));
    expect(calls.map((c) => c.method)).toEqual(["answerCallbackQuery"]);

    llm.answer({ calls: [{ name: "stop_stage", args: { stage: "alert" } }] }, { text: "ok, leaving alert alone" });
    calls = [];
    await send(textUpdate(OPERATOR, "stop alert"));
    const cancel = buttons()[1]!;
    await send(callbackUpdate(OPERATOR, cancel));
    expect(p.supervisor.status("alert").state).toBe("running");
    expect(texts().slice(-3)).toEqual(["✖️ Cancelled; nothing was done.", THINKING, "ok, leaving alert alone"]);
    await p.supervisor.start("aggregate");
  });
});
