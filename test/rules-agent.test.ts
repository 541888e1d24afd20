import type { Update } from "grammy/types";
import { afterAll, beforeAll, expect, it } from "vitest";
import { ChatAgent } from "../agent/agent.js";
import { createBot } from "../bot/bot.js";
import { esc } from "../bot/format.js";
import { silentLogger } from "../core/log.js";
import { RuleTable } from "../state/rules.js";
import { ADMIN, type BotPipeline, botPipeline, generate, startConsumers } from "./support/bot-pipeline.js";
import { ScriptedOpenAI } from "./support/openai-server.js";
import { BOT_INFO, callbackUpdate, textUpdate } from "./support/telegram-updates.js";

let llm: ScriptedOpenAI;
let p: BotPipeline;

beforeAll(async () => {
  llm = await new ScriptedOpenAI().start();
  p = await botPipeline();
  await startConsumers(p);
  await generate(p, 3000);
}, 60_000);
afterAll(async () => {
  await llm.stop();
  await p.close();
});

interface ApiCall {
  method: string;
  payload: Record<string, unknown>;
}

const ASK = "tell me when a red car goes over 140 for 10 seconds";
const RULE = { name: "red_over_140", expression: "speed > 140 for 10s where color = Red" };

it("turns a plain request into a backtested create_rule whose confirmation shows the backtest, and creates it once the admin confirms", async () => {
  const agent = new ChatAgent({
    registry: p.registry,
    dialect: p.lakehouse.dialect,
    state: p.state,
    model: { apiKey: "test-key", baseURL: llm.baseURL, model: "scripted" },
    log: silentLogger,
    limits: { turnTimeoutMs: 20_000 },
    clock: () => p.now,
  });
  const calls: ApiCall[] = [];
  let messageId = 100;
  const { bot } = createBot({ token: "1:test", registry: p.registry, agent, log: silentLogger, botInfo: BOT_INFO, clock: () => p.now });
  bot.api.config.use(async (_prev, method, payload) => {
    calls.push({ method, payload: payload as Record<string, unknown> });
    const chat = { id: Number((payload as { chat_id?: number }).chat_id ?? 0), type: "private" };
    const result = method === "sendMessage" ? { message_id: ++messageId, date: 0, chat, text: (payload as { text?: string }).text } : true;
    return { ok: true, result } as never;
  });
  const send = (u: Update) => bot.handleUpdate(u);

  let backtest: { summary: string; alerts: number } | null = null;
  llm.answer(
    (req) => {
      // What the model is told is what lets it write the rule: the tools, with the grammar and this very example.
      const tools = new Map(req.tools!.map((t) => [t.function.name, t.function]));
      expect(tools.get("create_rule")!.description).toContain('{"name": "red_over_140", "expression": "speed > 140 for 10s where color = Red"}');
      expect(JSON.stringify(tools.get("backtest_rule")!.parameters)).toContain("silent for 5m");
      return { calls: [{ name: "backtest_rule", args: RULE }] };
    },
    (req) => {
      backtest = JSON.parse(String(req.messages.at(-1)!.content));
      return { calls: [{ name: "create_rule", args: RULE }] };
    },
  );
  await send(textUpdate(ADMIN, ASK));
  expect(backtest).not.toBeNull();
  // The reply takes the place of the "thinking…" message (an edit) or comes as a message of its own.
  const said = () => calls.filter((c) => c.method === "sendMessage" || c.method === "editMessageText").at(-1)!;
  const ask = said();
  expect(String(ask.payload.text)).toBe(
    "The assistant wants to run:\n" +
      `• <b>create_rule</b> <code>${esc(JSON.stringify(RULE))}</code>\n` +
      `New rule red_over_140: speed &gt; 140 for 10s where color = Red\nBacktest, ${backtest!.summary}\n` +
      "<i>Confirm within 60 s.</i>",
  );
  expect(new RuleTable(p.state).get("red_over_140")).toBeUndefined();

  llm.answer({ text: "Done: red_over_140 is live." });
  const yes = (ask.payload.reply_markup as { inline_keyboard: { callback_data: string }[][] }).inline_keyboard[0]![0]!.callback_data;
  await send(callbackUpdate(ADMIN, yes));
  expect(said().payload.text).toBe("Done: red_over_140 is live.");
  expect(new RuleTable(p.state).get("red_over_140")).toMatchObject({
    condition: { kind: "threshold", field: "speed", op: ">", value: 140, for_seconds: 10 },
    scope: { colors: ["Red"] },
    enabled: true,
    version: 1,
    updated_by: `agent:${ADMIN}`,
  });
  expect(
    p.ops
      .recentAudit(10, ADMIN)
      .filter((a) => a.tool.endsWith("_rule"))
      .map((a) => [a.tool, a.via, a.outcome])
      .reverse(),
  ).toEqual([
    ["backtest_rule", "agent", "ok"],
    ["create_rule", "agent", "ok"],
  ]);
  expect(llm.remaining).toBe(0);
}, 60_000);
