import { Composer, InlineKeyboard } from "grammy";
import { hasRole } from "../tools/roles.js";
import type { RuleView } from "../tools/rules.js";
import { decodeCallback, encodeCallback } from "./callback-data.js";
import type { CarwatchContext } from "./context.js";
import { html } from "./format.js";
import { callTool, replyHtml } from "./reply.js";

/** Buttons for so many rules at most (Telegram allows 100 per message); list_rules has them all. */
const MAX_BUTTONS = 50;

const line = (r: RuleView) => html`${r.enabled ? "🟢" : "⚪️"} <b>${r.name}</b> v${r.version} ${r.severity}: <code>${r.expression}</code>`;

export function rulesView(rules: readonly RuleView[]): string {
  if (rules.length === 0) return "No rules. An admin creates one with the assistant or the API (create_rule).";
  return [`<b>Rules</b> (${rules.filter((r) => r.enabled).length} of ${rules.length} enabled)`, ...rules.map(line)].join("\n");
}

/** What the confirmation's button answers once a rule tool ran. */
export function ruleChangedView(tool: string, r: RuleView): string {
  if (tool === "delete_rule") return html`🗑 Rule <b>${r.name}</b> is deleted.`;
  return `✅ ${line(r)}\n${html`Changed by ${r.updatedBy}; live at the alert stages' next batch.`}`;
}

function rulesMenu(rules: readonly RuleView[]): InlineKeyboard {
  const kb = new InlineKeyboard();
  for (const r of rules.slice(0, MAX_BUTTONS)) {
    kb.text(r.enabled ? `⏸ Disable ${r.name}` : `▶️ Enable ${r.name}`, encodeCallback(r.enabled ? "rule_off" : "rule_on", r.name)).row();
  }
  return kb;
}

/** /rules: every rule with its expression; admins get an Enable or Disable button per rule, whose press asks for a confirmation showing the backtest. */
export const rules = new Composer<CarwatchContext>();
rules.command("rules", async (ctx) => {
  const list = await callTool(ctx, "list_rules", {});
  if (!list) return;
  const admin = hasRole(ctx.carwatch.registry.roleOf(ctx.from!.id), "admin");
  await replyHtml(ctx, rulesView(list), admin && list.length > 0 ? { reply_markup: rulesMenu(list) } : {});
});
rules.callbackQuery(/^rule_(on|off):/, async (ctx) => {
  const data = decodeCallback(ctx.callbackQuery.data);
  if (data?.action !== "rule_on" && data?.action !== "rule_off")
    return ctx.answerCallbackQuery({ text: "This button is no longer valid. Please send /rules again." });
  await ctx.answerCallbackQuery();
  const on = data.action === "rule_on";
  // Through the registry: the role is checked there, and the confirmation it asks for carries the rule's backtest.
  await callTool(ctx, on ? "enable_rule" : "disable_rule", { name: data.arg }, { prompt: html`${on ? "Enable" : "Disable"} rule <b>${data.arg}</b>?` });
});
