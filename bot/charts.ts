import { Composer, InlineKeyboard, InputFile } from "grammy";
import { CHART_KINDS, type ChartKind } from "../tools/charts.js";
import { decodeCallback, encodeCallback } from "./callback-data.js";
import type { CarwatchContext } from "./context.js";
import { esc, html } from "./format.js";
import { callTool, optional } from "./reply.js";

const ALIASES: Record<string, ChartKind> = {
  rule: "alerts_by_rule",
  rules: "alerts_by_rule",
  alerts: "alerts_by_rule",
  color: "alerts_by_color",
  colors: "alerts_by_color",
  speed: "speed_distribution",
  speeds: "speed_distribution",
  readings: "readings",
  throughput: "readings",
};
const LABELS: Record<ChartKind, string> = {
  alerts_by_rule: "📈 Alerts by rule",
  alerts_by_color: "🎨 By color",
  speed_distribution: "🏎 Speeds",
  readings: "📶 Readings",
};

export function chartMenu(): InlineKeyboard {
  const kb = new InlineKeyboard();
  CHART_KINDS.forEach((k, i) => {
    kb.text(LABELS[k], encodeCallback("chart", k));
    if (i % 2 === 1) kb.row();
  });
  return kb;
}

/** Sends a chart render_chart left in the store, as a photo with its caption. */
async function sendChart(ctx: CarwatchContext, chartId: string): Promise<void> {
  const chart = ctx.carwatch.charts?.take(chartId);
  if (!chart) return void (await ctx.reply("⚠️ The chart is no longer available; ask again."));
  await ctx.replyWithPhoto(new InputFile(chart.png, "chart.png"), { caption: esc(chart.caption), parse_mode: "HTML" });
}

/** Charts the agent drew during its turn, sent after its answer. */
export async function sendAgentCharts(ctx: CarwatchContext): Promise<void> {
  const { charts: store } = ctx.carwatch;
  const chatId = ctx.chat?.id;
  if (!store || chatId === undefined) return;
  for (const chart of store.takeUndelivered(chatId)) {
    await ctx.replyWithPhoto(new InputFile(chart.png, "chart.png"), { caption: esc(chart.caption), parse_mode: "HTML" });
  }
}

async function draw(ctx: CarwatchContext, chart: ChartKind, since?: string): Promise<void> {
  optional(ctx.carwatch.log, "sendChatAction", ctx.replyWithChatAction("upload_photo"));
  const r = await callTool(ctx, "render_chart", { chart, since });
  if (r) await sendChart(ctx, r.chartId);
}

/**
 * /chart [rule|color|speed|readings] [1h]: a PNG with a caption, drawn by the
 * render_chart tool; without arguments, buttons to pick one. /dashboards
 * lists the dashboards with their links. Used before the generic button
 * handler, which leaves chart buttons to this one.
 */
export const charts = new Composer<CarwatchContext>();
charts.command("chart", async (ctx) => {
  const [what, since] = typeof ctx.match === "string" ? ctx.match.trim().split(/\s+/).filter(Boolean) : [];
  if (!what) return void (await ctx.reply("Which chart? (or /chart rule 1h, /chart color 6h, /chart speed, /chart readings)", { reply_markup: chartMenu() }));
  const kind = ALIASES[what.toLowerCase()] ?? (CHART_KINDS as readonly string[]).find((k) => k === what.toLowerCase());
  if (!kind)
    return void (await ctx.reply(html`⚠️ Unknown chart "${what}". Charts: rule, color, speed, readings.`, { parse_mode: "HTML", reply_markup: chartMenu() }));
  await draw(ctx, kind as ChartKind, since);
});
charts.callbackQuery(/^chart:/, async (ctx) => {
  const data = decodeCallback(ctx.callbackQuery.data);
  if (data?.action !== "chart") return void (await ctx.answerCallbackQuery({ text: "This button is no longer valid. Please open the menu again." }));
  await ctx.answerCallbackQuery();
  await draw(ctx, data.arg);
});
charts.command("dashboards", async (ctx) => {
  const r = await callTool(ctx, "list_dashboards", {});
  if (!r) return;
  const lines = r.dashboards.map((d) =>
    d.url.startsWith("http") ? html`• <a href="${d.url}">${d.title}</a> — ${d.description}` : html`• <b>${d.title}</b> (${d.url}) — ${d.description}`,
  );
  if (!r.served) lines.push("<i>This process serves no HTTP (CARWATCH_ROLES without http): the built-in dashboards are on the process that does.</i>");
  if (r.superset.configured && !r.superset.ok) lines.push(html`⚠️ ${r.superset.error ?? "Superset is unreachable"}`);
  lines.push("", "/chart draws one here.");
  await ctx.reply(`<b>Dashboards</b>\n${lines.join("\n")}`, { parse_mode: "HTML", link_preview_options: { is_disabled: true } });
});
