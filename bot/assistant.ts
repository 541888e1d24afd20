import { Composer } from "grammy";
import type { InlineKeyboardMarkup, Message } from "grammy/types";
import type { AgentReply } from "../agent/agent.js";
import { sendAgentCharts } from "./charts.js";
import type { CarwatchContext } from "./context.js";
import { esc, html, splitHtml } from "./format.js";
import { confirmMenu } from "./keyboards.js";
import { callerOf, failureText, optional } from "./reply.js";

/** The marker a pending confirmation carries when the agent, not a command, asked for it. */
export const AGENT_CONFIRMATION = "agent";

const NO_MODEL = [
  "The assistant is not configured here: set <code>OPENAI_API_KEY</code> (and <code>OPENAI_BASE_URL</code>, <code>OPENAI_MODEL</code> for a local server such as Ollama or vLLM) and restart.",
  "Meanwhile the menu below and the commands work: /stages, /alerts 1h color, /top, /incidents, /query SELECT …, /help.",
].join("\n");

export const THINKING = "🤔 thinking…";

/**
 * While the agent works (seconds on a small local model): "typing…"
 * repeated (Telegram clears it after 5 s) and a "thinking…" message, which
 * the reply then replaces, so the chat shows one message either way.
 */
async function thinkingWhile(ctx: CarwatchContext, work: () => Promise<AgentReply>): Promise<void> {
  const { log } = ctx.carwatch;
  const send = () => optional(log, "sendChatAction", ctx.replyWithChatAction("typing"));
  send();
  const timer = setInterval(send, 4500);
  const placeholder = await ctx.reply(THINKING).catch((err: unknown) => {
    log.warn({ err }, "thinking message failed (ignored)");
    return null;
  });
  try {
    await showAgentReply(ctx, await work(), placeholder);
  } finally {
    clearInterval(timer);
  }
}

/** The first part of a reply: in place of the "thinking…" message when there is one, else a new message. */
async function firstPart(ctx: CarwatchContext, placeholder: Message | null, text: string, extra: { reply_markup?: InlineKeyboardMarkup } = {}) {
  if (placeholder) {
    try {
      await ctx.api.editMessageText(placeholder.chat.id, placeholder.message_id, text, { parse_mode: "HTML", ...extra });
      return;
    } catch (err) {
      ctx.carwatch.log.warn({ err }, "editing the thinking message failed; sending the reply instead");
    }
  }
  await ctx.reply(text, { parse_mode: "HTML", ...extra });
}

/** Shows the agent's reply: its text escaped, a confirmation with buttons, or one clear sentence. */
export async function showAgentReply(ctx: CarwatchContext, reply: AgentReply, placeholder: Message | null = null): Promise<void> {
  if (reply.kind === "answer") {
    const [first, ...rest] = splitHtml(esc(reply.text));
    await firstPart(ctx, placeholder, first!);
    for (const part of rest) await ctx.reply(part, { parse_mode: "HTML" });
    return;
  }
  if (reply.kind === "error") return firstPart(ctx, placeholder, html`⚠️ ${reply.text}`);
  const { confirmations } = ctx.carwatch;
  const caller = callerOf(ctx);
  // What each call would do (a rule change's backtest), as the registry's own confirmations show it.
  const previews = await Promise.all(
    reply.actions.map((a) =>
      ctx.carwatch.registry.preview(a.tool, a.args, caller).then(
        (p) => (p ? `\n${esc(p)}` : ""),
        (err: unknown) => `\n${failureText(err)}`,
      ),
    ),
  );
  const token = confirmations.add({ tool: AGENT_CONFIRMATION, input: reply.actions, userId: caller.userId, chatId: caller.chatId! });
  const lines = reply.actions.map((a, i) => html`• <b>${a.tool}</b> <code>${JSON.stringify(a.args)}</code>` + previews[i]);
  await firstPart(ctx, placeholder, `The assistant wants to run:\n${lines.join("\n")}\n<i>${esc(`Confirm within ${confirmations.ttlSeconds} s.`)}</i>`, {
    reply_markup: confirmMenu(token),
  });
}

async function ask(ctx: CarwatchContext, text: string): Promise<void> {
  const { agent } = ctx.carwatch;
  if (!agent) return void (await ctx.reply(NO_MODEL, { parse_mode: "HTML" }));
  if (!text) return void (await ctx.reply("Ask me anything about the pipeline, e.g. /ai how many alerts in the last hour?"));
  await thinkingWhile(ctx, () => agent.ask(callerOf(ctx), text));
  await sendAgentCharts(ctx);
}

/** The button's answer to an agent confirmation: the tool runs (or the model hears the decline). */
export async function decideForAgent(ctx: CarwatchContext, approved: boolean): Promise<void> {
  const { agent } = ctx.carwatch;
  if (!agent) return;
  await thinkingWhile(ctx, () => agent.decide(callerOf(ctx), approved));
  await sendAgentCharts(ctx);
}

/**
 * Chat-first: in a private chat, text that is no command or menu button goes
 * to the agent; in groups, text that mentions the bot or replies to it.
 * Used after the commands and menu buttons, which take precedence.
 */
export const assistant = new Composer<CarwatchContext>();
assistant.command("ai", (ctx) => ask(ctx, typeof ctx.match === "string" ? ctx.match.trim() : ""));
assistant.command("reset", async (ctx) => {
  const { agent } = ctx.carwatch;
  if (!agent) return void (await ctx.reply(NO_MODEL, { parse_mode: "HTML" }));
  await agent.reset(callerOf(ctx));
  await ctx.reply("I forgot our conversation in this chat.");
});
assistant.chatType("private").on("message:text", async (ctx) => {
  if (ctx.msg.text.startsWith("/")) return void (await ctx.reply(html`I do not know that command. /help lists what I can do.`, { parse_mode: "HTML" }));
  await ask(ctx, ctx.msg.text);
});
assistant.chatType(["group", "supergroup"]).on("message:text", async (ctx) => {
  const me = ctx.me.username;
  const mention = `@${me}`;
  const repliedToMe = ctx.msg.reply_to_message?.from?.id === ctx.me.id;
  if (!repliedToMe && !ctx.msg.text.includes(mention)) return;
  await ask(ctx, ctx.msg.text.replaceAll(mention, "").trim());
});
// Stickers, photos and the like in a private chat get a pointer rather than silence.
assistant.chatType("private").on("message", (ctx) => ctx.reply(html`I read text only. /help lists what I can do.`, { parse_mode: "HTML" }));
