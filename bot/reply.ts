import { type Context, InputFile } from "grammy";
import { CarwatchError, errorMessage, InputError } from "../core/errors.js";
import type { Logger } from "../core/log.js";
import { ConfirmationRequired, PermissionError } from "../tools/errors.js";
import type { Tools } from "../tools/index.js";
import type { Caller, ToolName, ToolOutput } from "../tools/registry.js";
import { CONSOLE_USER_ID } from "../tools/roles.js";
import type { CarwatchContext } from "./context.js";
import { esc, html, splitHtml } from "./format.js";
import { confirmMenu } from "./keyboards.js";

/** The console speaks to the bot as its own user: its calls are the console's, not Telegram's. */
export const viaOf = (userId: number): Caller["via"] => (userId === CONSOLE_USER_ID ? "console" : "telegram");

export function callerOf(ctx: Context): Caller {
  const msg = ctx.msg;
  return {
    userId: ctx.from!.id,
    chatId: ctx.chat?.id ?? null,
    threadId: msg?.is_topic_message ? (msg.message_thread_id ?? null) : null,
    via: viaOf(ctx.from!.id),
  };
}

export function failureText(err: unknown): string {
  if (err instanceof PermissionError) return html`⛔ Not allowed: ${err.message}.`;
  if (err instanceof InputError) return html`⚠️ ${err.message}`;
  if (err instanceof CarwatchError) return html`💥 ${err.message}`;
  return "💥 Something went wrong; it has been logged.";
}

/** Sends HTML, split on line boundaries when longer than one message. */
export async function replyHtml(ctx: Context, text: string, extra: Parameters<Context["reply"]>[1] = {}): Promise<void> {
  const parts = splitHtml(text);
  for (const [i, part] of parts.entries()) {
    await ctx.reply(part, { parse_mode: "HTML", ...(i === parts.length - 1 ? extra : {}) });
  }
}

/**
 * Calls a tool for the user and returns its result, or null after telling
 * the user why not: a refusal, bad input, or (for a destructive tool) a
 * confirmation prompt whose button repeats the call confirmed.
 */
export async function callTool<N extends ToolName<Tools>>(
  ctx: CarwatchContext,
  name: N,
  input: unknown,
  options: { confirmed?: boolean; prompt?: string } = {},
): Promise<ToolOutput<Tools, N> | null> {
  const { registry, confirmations, log } = ctx.carwatch;
  const caller = callerOf(ctx);
  try {
    // The registry types the result by name; TypeScript cannot follow that through a generic N.
    return (await registry.call(name, input, caller, { confirmed: options.confirmed })) as ToolOutput<Tools, N>;
  } catch (err) {
    if (err instanceof ConfirmationRequired && caller.chatId !== null) {
      const token = confirmations.add({ tool: name, input: err.input, userId: caller.userId, chatId: caller.chatId });
      const preview = err.preview ? `\n${esc(err.preview)}` : "";
      await ctx.reply(`${options.prompt ?? html`Run ${name}?`}${preview}\n<i>${esc(`This button expires in ${confirmations.ttlSeconds} s.`)}</i>`, {
        parse_mode: "HTML",
        reply_markup: confirmMenu(token),
      });
      return null;
    }
    if (!(err instanceof CarwatchError)) log.error({ err, tool: name }, "tool call failed");
    await ctx.reply(failureText(err), { parse_mode: "HTML" });
    return null;
  }
}

/** Optional calls (chat actions, command lists) are logged when they fail, never fatal. */
export function optional(log: Logger, what: string, call: Promise<unknown>): void {
  call.catch((err: unknown) => log.warn({ err: errorMessage(err) }, `${what} failed (ignored)`));
}

/**
 * A long operation: "typing…", a progress message, then that message edited
 * into the result, or into why there is none (one message either way). A
 * result longer than one message goes as a file when it has one (a CSV), else in parts.
 */
export async function withProgress(
  ctx: CarwatchContext,
  label: string,
  work: () => Promise<{ html: string; file?: { name: string; content: string; caption: string } }>,
): Promise<void> {
  const { log } = ctx.carwatch;
  optional(log, "sendChatAction", ctx.replyWithChatAction("typing"));
  const progress = await ctx.reply(html`⏳ ${label}…`, { parse_mode: "HTML" });
  const edit = (text: string) => ctx.api.editMessageText(progress.chat.id, progress.message_id, text, { parse_mode: "HTML" });
  let result: Awaited<ReturnType<typeof work>>;
  try {
    result = await work();
  } catch (err) {
    if (!(err instanceof CarwatchError)) log.error({ err, label }, "operation failed");
    await edit(failureText(err));
    return;
  }
  const parts = splitHtml(result.html);
  if (parts.length > 1 && result.file) {
    await edit(result.file.caption);
    await ctx.replyWithDocument(new InputFile(Buffer.from(result.file.content), result.file.name));
    return;
  }
  await edit(parts[0]!);
  for (const part of parts.slice(1)) await ctx.reply(part, { parse_mode: "HTML" });
}
