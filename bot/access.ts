import type { Context, MiddlewareFn } from "grammy";
import type { Registry } from "../tools/index.js";
import { html } from "./format.js";

export function refusalText(userId: number): string {
  return html`Sorry, this bot is private. Your Telegram user id is <code>${userId}</code>; an admin can add it.`;
}

/**
 * Lets through only users the configuration names. A stranger gets one polite
 * refusal showing their id (in a group, only when they send a command or
 * press a button, so the group is not flooded), and nothing else.
 */
export function accessControl(registry: Registry): MiddlewareFn<Context> {
  return async (ctx, next) => {
    const from = ctx.from;
    if (from && registry.roleOf(from.id) !== null) return next();
    if (!from) return;
    if (ctx.callbackQuery) {
      await ctx.answerCallbackQuery({ text: `Sorry, this bot is private. Your user id is ${from.id}.`, show_alert: true });
      return;
    }
    const isCommand = ctx.msg?.entities?.some((e) => e.type === "bot_command" && e.offset === 0) ?? false;
    if (ctx.chat?.type === "private" || isCommand) await ctx.reply(refusalText(from.id), { parse_mode: "HTML" });
  };
}
