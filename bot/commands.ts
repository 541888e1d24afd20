import { Composer, type Context } from "grammy";
import { SCHEMAS } from "../domain/tables.js";
import type { CarwatchContext } from "./context.js";
import { esc, html } from "./format.js";
import { incidentMenu, MENU, mainMenu, schemasMenu, stageMenu, stagesMenu, tablesMenu } from "./keyboards.js";
import { callerOf, callTool, replyHtml, withProgress } from "./reply.js";
import {
  auditView,
  incidentsView,
  queryCsv,
  queryView,
  runsView,
  silenceView,
  stagesView,
  stageView,
  subscriptionView,
  summaryView,
  topCarsView,
} from "./views.js";

/** The commands Telegram shows (setMyCommands); the old bot's names stay as aliases. */
export const COMMANDS = [
  { command: "start", description: "Main menu" },
  { command: "help", description: "What I can do" },
  { command: "stages", description: "Pipeline stages and their state" },
  { command: "status", description: "Status of a stage: /status enrich" },
  { command: "run", description: 'Start a stage: /run generator {"rate":50}' },
  { command: "stop", description: "Stop a stage (or all): /stop enrich" },
  { command: "recent", description: "Recent runs: /recent [stage]" },
  { command: "alerts", description: "Alert summary: /alerts [1h] [rule|color|model]" },
  { command: "top", description: "Top offending cars: /top [1h]" },
  { command: "incidents", description: "Latest incidents" },
  { command: "silence", description: "Silence: /silence car 12 1h | rule speeding 2h" },
  { command: "rules", description: "Alert rules, with enable and disable buttons" },
  { command: "schemas", description: "Lakehouse schemas" },
  { command: "tables", description: "Tables: /tables [schema]" },
  { command: "query", description: "Read-only SQL: /query SELECT ..." },
  { command: "count", description: "Count rows: /count telemetry.alerts" },
  { command: "subscribe", description: "Minute digests here: /subscribe [empty] [incidents=medium]" },
  { command: "unsubscribe", description: "Stop digests here" },
  { command: "whoami", description: "Your id and role" },
  { command: "audit", description: "Audit log (admins)" },
  { command: "fleet", description: "The fleet: /fleet [all] | import (CSV below) | retire ID" },
  { command: "tokens", description: "API tokens (admins): /tokens new NAME ROLE | revoke ID" },
  { command: "jobs", description: "Maintenance jobs: schedule, next run, last outcome" },
  { command: "runjob", description: "Run a job now: /runjob compaction" },
  { command: "tablestats", description: "Table size: /tablestats telemetry.cars_raw" },
  { command: "compact", description: "Compact a table: /compact telemetry.cars_raw" },
  { command: "chart", description: "A chart: /chart rule|color|speed|readings [1h]" },
  { command: "dashboards", description: "Dashboards and their links" },
  { command: "ai", description: "Ask the assistant (or just write to me)" },
  { command: "reset", description: "The assistant forgets this chat" },
] as const;

const HELP = [
  "<b>carwatch</b> watches the fleet's telemetry pipeline.",
  "",
  ...COMMANDS.map((c) => `/${c.command} — ${esc(c.description)}`),
  "",
  "Old names still work: /dags = /stages, /kill = /stop, /streaming, /info.",
  "/ai question (or just write to me) — ask the assistant; /reset — it forgets this chat.",
].join("\n");

const args = (ctx: Context): string[] => (typeof ctx.match === "string" ? ctx.match.trim().split(/\s+/).filter(Boolean) : []);
const argText = (ctx: Context): string => (typeof ctx.match === "string" ? ctx.match.trim() : "");

async function showStages(ctx: CarwatchContext, title = "Stages"): Promise<void> {
  const stages = await callTool(ctx, "list_stages", {});
  if (stages) await ctx.reply(stagesView(stages, title), { parse_mode: "HTML", reply_markup: stagesMenu(stages) });
}

async function showSchemas(ctx: CarwatchContext): Promise<void> {
  const schemas = await callTool(ctx, "list_schemas", {});
  if (schemas)
    await ctx.reply(`<b>Schemas</b>\n${schemas.map((s) => html`${s.schema} — ${s.tables} tables`).join("\n")}`, {
      parse_mode: "HTML",
      reply_markup: schemasMenu(schemas.map((s) => s.schema)),
    });
}

async function showAlerts(ctx: CarwatchContext, since?: string, by?: string): Promise<void> {
  const s = await callTool(ctx, "alert_summary", { since, by });
  if (s) await ctx.reply(summaryView(s, ctx.carwatch.clock()), { parse_mode: "HTML" });
}

async function whoami(ctx: CarwatchContext): Promise<void> {
  const me = await callTool(ctx, "whoami", {});
  if (me)
    await ctx.reply(html`You are <code>${me.userId}</code>, role <b>${me.role}</b>, in chat <code>${me.chatId}</code>.\n` + subscriptionView(me.subscription), {
      parse_mode: "HTML",
    });
}

/** The commands and the main menu's keyboard buttons. */
export const commands = new Composer<CarwatchContext>();
commands.command("start", (ctx) =>
  ctx.reply(html`Hello, ${ctx.from?.first_name ?? ""}! Pick a menu below, or /help.`, { parse_mode: "HTML", reply_markup: mainMenu() }),
);
commands.command("help", (ctx) => ctx.reply(HELP, { parse_mode: "HTML" }));
commands.command(["stages", "dags"], (ctx) => showStages(ctx));
commands.command("streaming", async (ctx) => {
  const stages = await callTool(ctx, "list_stages", {});
  if (stages)
    await ctx.reply(
      stagesView(
        stages.filter((s) => s.kind === "streaming"),
        "Streaming stages",
      ),
      { parse_mode: "HTML" },
    );
});
commands.command("info", async (ctx) => {
  const stages = await callTool(ctx, "list_stages", {});
  if (!stages) return;
  const running = stages.filter((s) => s.state === "running").length;
  await ctx.reply(html`<b>carwatch</b>: ${running} of ${stages.length} stages running. /stages for details, /alerts for the last hour.`, {
    parse_mode: "HTML",
  });
});
commands.command("status", async (ctx) => {
  const [stage] = args(ctx);
  if (!stage) return showStages(ctx);
  const s = await callTool(ctx, "stage_status", { stage });
  if (s)
    await ctx.reply(stageView(s, ctx.carwatch.clock()), { parse_mode: "HTML", reply_markup: stageMenu(s.name, ctx.carwatch.registry.roleOf(ctx.from!.id)) });
});
commands.command("run", async (ctx) => {
  const [stage, ...rest] = argText(ctx).split(/\s+(.*)/s);
  if (!stage) return ctx.reply('Usage: /run <stage> [JSON params], e.g. /run generator {"rate": 50}');
  let params: unknown = {};
  if (rest[0]) {
    try {
      params = JSON.parse(rest[0]);
    } catch {
      return ctx.reply('⚠️ params must be a JSON object, e.g. {"rate": 50}');
    }
  }
  const s = await callTool(ctx, "start_stage", { stage, params });
  if (s) await ctx.reply(html`▶️ ${s.name} is ${s.state} (run #${s.runId}).`, { parse_mode: "HTML" });
});
commands.command(["stop", "kill"], async (ctx) => {
  const [stage] = args(ctx);
  if (!stage) return showStages(ctx, "Which stage? (or /stop all)");
  if (stage === "all") {
    const stopped = await callTool(ctx, "stop_all", {}, { prompt: "Stop <b>every</b> running stage?" });
    if (stopped) await ctx.reply(html`⏹ Stopped ${stopped.length} stages.`, { parse_mode: "HTML" });
    return;
  }
  const s = await callTool(ctx, "stop_stage", { stage }, { prompt: html`Stop <b>${stage}</b>?` });
  if (s) await ctx.reply(html`⏹ ${s.name} is ${s.state}.`, { parse_mode: "HTML" });
});
commands.command("recent", async (ctx) => {
  const [stage] = args(ctx);
  const runs = await callTool(ctx, "recent_runs", { stage });
  if (runs) await ctx.reply(runsView(runs, stage), { parse_mode: "HTML" });
});
commands.command("schemas", (ctx) => showSchemas(ctx));
commands.command("tables", async (ctx) => {
  const [schema] = args(ctx);
  const tables = await callTool(ctx, "list_tables", { schema });
  if (!tables) return;
  const text = `<b>Tables</b>\n${tables.map((t) => html`<code>${t.table}</code> — ${t.doc}`).join("\n")}`;
  const knownSchema = SCHEMAS.find((s) => s === schema);
  await replyHtml(ctx, text, knownSchema ? { reply_markup: tablesMenu(knownSchema) } : {});
});
commands.command("count", async (ctx) => {
  const table = argText(ctx);
  if (!table) return ctx.reply("Usage: /count <schema.table>");
  const r = await callTool(ctx, "count_rows", { table });
  if (r) await ctx.reply(html`<code>${r.table}</code>: ${r.rows} rows`, { parse_mode: "HTML" });
});
commands.command("query", async (ctx) => {
  const sql = argText(ctx);
  if (!sql) return ctx.reply(`Usage: /query SELECT ... (read-only, ${ctx.carwatch.registry.sqlDialect} dialect; at most 100 rows)`);
  await withProgress(ctx, "Running the query", async () => {
    // Not destructive, so no confirmation: a refusal becomes the progress message itself.
    const r = await ctx.carwatch.registry.call("query", { sql }, callerOf(ctx));
    return {
      html: queryView(r),
      file: { name: "result.csv", content: queryCsv(r), caption: html`${r.rows.length} rows${r.truncated ? " (truncated)" : ""}: sent as a file.` },
    };
  });
});
commands.command("alerts", (ctx) => {
  const [since, by] = args(ctx);
  return showAlerts(ctx, since, by);
});
commands.command("top", async (ctx) => {
  const [since] = args(ctx);
  const t = await callTool(ctx, "top_cars", { since });
  if (t) await ctx.reply(topCarsView(t, ctx.carwatch.clock()), { parse_mode: "HTML" });
});
commands.command("incidents", async (ctx) => {
  const [limit] = args(ctx);
  const list = await callTool(ctx, "latest_incidents", { limit });
  if (!list) return;
  await ctx.reply(incidentsView(list), { parse_mode: "HTML" });
  const open = list.find((i) => i.ackedBy === null);
  if (open) await ctx.reply(html`Newest open incident: <code>${open.incidentId}</code>`, { parse_mode: "HTML", reply_markup: incidentMenu(open.incidentId) });
});
commands.command("silence", async (ctx) => {
  const [target, value, period] = args(ctx);
  if (!target || !value) {
    const list = await callTool(ctx, "list_silences", {});
    if (list)
      await ctx.reply(list.length ? list.map(silenceView).join("\n") : "Nothing is silenced. Usage: /silence car 12 1h | rule speeding 2h", {
        parse_mode: "HTML",
      });
    return;
  }
  const s = await callTool(ctx, "silence", { target, value, for: period });
  if (s) await ctx.reply(silenceView(s), { parse_mode: "HTML" });
});
commands.command("subscribe", async (ctx) => {
  const words = args(ctx);
  const incidents = words.find((w) => w.startsWith("incidents="))?.slice("incidents=".length);
  const s = await callTool(ctx, "subscribe", { includeEmpty: words.includes("empty"), incidents });
  if (s) await ctx.reply(subscriptionView(s), { parse_mode: "HTML" });
});
commands.command("unsubscribe", async (ctx) => {
  const r = await callTool(ctx, "unsubscribe", {});
  if (r) await ctx.reply(r.removed ? "Unsubscribed: no more digests here." : "This chat was not subscribed.");
});
commands.command("whoami", whoami);
commands.command("audit", async (ctx) => {
  const [limit] = args(ctx);
  const entries = await callTool(ctx, "audit_log", { limit });
  if (entries) await replyHtml(ctx, auditView(entries));
});

commands.hears(MENU.stages, (ctx) => showStages(ctx));
commands.hears(MENU.data, (ctx) => showSchemas(ctx));
commands.hears(MENU.alerts, (ctx) => showAlerts(ctx));
commands.hears(MENU.whoami, whoami);
commands.hears(MENU.help, (ctx) => ctx.reply(HELP, { parse_mode: "HTML" }));
