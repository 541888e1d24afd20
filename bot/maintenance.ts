import type { Composer, Context } from "grammy";
import { html } from "./format.js";
import { jobsMenu, MENU } from "./keyboards.js";
import { type BotEnv, callTool } from "./reply.js";
import { jobRunView, jobsView, maintenanceView, tableStatsView } from "./views.js";

const firstArg = (ctx: Context): string => (typeof ctx.match === "string" ? (ctx.match.trim().split(/\s+/)[0] ?? "") : "");

/** Maintenance from chat: jobs, running one, table sizes and compaction (the last two confirm first). */
export function registerMaintenance(bot: Composer<Context>, env: BotEnv): void {
  const showJobs = async (ctx: Context) => {
    const jobs = await callTool(ctx, env, "list_jobs", {});
    if (jobs) await ctx.reply(jobsView(jobs, env.clock()), { parse_mode: "HTML", reply_markup: jobsMenu(jobs.map((j) => j.name)) });
  };
  bot.command("jobs", showJobs);
  bot.hears(MENU.maintenance, showJobs);
  bot.command("runjob", async (ctx) => {
    const job = firstArg(ctx);
    if (!job) return showJobs(ctx);
    const run = await callTool(ctx, env, "run_job", { job }, { prompt: html`Run the <b>${job}</b> job now?` });
    if (run) await ctx.reply(jobRunView(run), { parse_mode: "HTML" });
  });
  bot.command("tablestats", async (ctx) => {
    const table = firstArg(ctx);
    if (!table) return void (await ctx.reply("Usage: /tablestats telemetry.cars_raw"));
    const t = await callTool(ctx, env, "table_stats", { table });
    if (t) await ctx.reply(tableStatsView(t), { parse_mode: "HTML" });
  });
  bot.command("compact", async (ctx) => {
    const table = firstArg(ctx);
    if (!table) return void (await ctx.reply("Usage: /compact telemetry.cars_raw"));
    const r = await callTool(ctx, env, "compact_table", { table }, { prompt: html`Compact <b>${table}</b> now?` });
    if (r) await ctx.reply(maintenanceView(r), { parse_mode: "HTML" });
  });
}
