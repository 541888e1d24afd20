import { Composer, type Context } from "grammy";
import type { CarwatchContext } from "./context.js";
import { html } from "./format.js";
import { jobsMenu, MENU } from "./keyboards.js";
import { callTool } from "./reply.js";
import { jobRunView, jobsView, maintenanceView, tableStatsView } from "./views.js";

const firstArg = (ctx: Context): string => (typeof ctx.match === "string" ? (ctx.match.trim().split(/\s+/)[0] ?? "") : "");

async function showJobs(ctx: CarwatchContext): Promise<void> {
  const jobs = await callTool(ctx, "list_jobs", {});
  if (jobs) await ctx.reply(jobsView(jobs, ctx.carwatch.clock()), { parse_mode: "HTML", reply_markup: jobsMenu(jobs.map((j) => j.name)) });
}

/** Maintenance from chat: jobs, running one, table sizes and compaction (the last two confirm first). */
export const maintenance = new Composer<CarwatchContext>();
maintenance.command("jobs", showJobs);
maintenance.hears(MENU.maintenance, showJobs);
maintenance.command("runjob", async (ctx) => {
  const job = firstArg(ctx);
  if (!job) return showJobs(ctx);
  const run = await callTool(ctx, "run_job", { job }, { prompt: html`Run the <b>${job}</b> job now?` });
  if (run) await ctx.reply(jobRunView(run), { parse_mode: "HTML" });
});
maintenance.command("tablestats", async (ctx) => {
  const table = firstArg(ctx);
  if (!table) return void (await ctx.reply("Usage: /tablestats telemetry.cars_raw"));
  const t = await callTool(ctx, "table_stats", { table });
  if (t) await ctx.reply(tableStatsView(t), { parse_mode: "HTML" });
});
maintenance.command("compact", async (ctx) => {
  const table = firstArg(ctx);
  if (!table) return void (await ctx.reply("Usage: /compact telemetry.cars_raw"));
  const r = await callTool(ctx, "compact_table", { table }, { prompt: html`Compact <b>${table}</b> now?` });
  if (r) await ctx.reply(maintenanceView(r), { parse_mode: "HTML" });
});
