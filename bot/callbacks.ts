import { type CallbackQueryContext, Composer, type Context } from "grammy";
import type { MaintenanceReport } from "../domain/catalog.js";
import { findTable, qualifiedName } from "../domain/tables.js";
import type { ApiToken } from "../state/api-tokens-table.js";
import type { JobRun } from "../state/job-runs.js";
import type { FleetPlan } from "../tools/fleet.js";
import type { RuleView } from "../tools/rules.js";
import { AGENT_CONFIRMATION, decideForAgent } from "./assistant.js";
import { type Action, type CallbackData, decodeCallback } from "./callback-data.js";
import type { CarwatchContext } from "./context.js";
import { fleetPlanView } from "./fleet.js";
import { html } from "./format.js";
import { schemasMenu, stageMenu, stagesMenu, tableMenu, tablesMenu } from "./keyboards.js";
import { callTool, failureText, viaOf } from "./reply.js";
import { ruleChangedView } from "./rules.js";
import { describeView, jobRunView, maintenanceView, queryView, runsView, silenceView, stagesView, stageView, tableStatsView } from "./views.js";

const STALE = "This button is no longer valid. Please open the menu again.";

type Edit = (text: string, markup?: Parameters<Context["editMessageText"]>[1]) => Promise<unknown>;
/** One press of a button: its parsed argument, who pressed it, and how to edit the message it is on. */
interface Press<A extends Action> {
  ctx: CallbackQueryContext<CarwatchContext>;
  arg: Extract<CallbackData, { action: A }>["arg"];
  userId: number;
  edit: Edit;
}
// Chart and rule buttons are their features' own (bot/charts.ts, bot/rules.ts).
type Handlers = { [A in Exclude<Action, "chart" | "rule_on" | "rule_off">]: (p: Press<A>) => Promise<unknown> };

/** A stage's card with its buttons: what "stage" and "status" show. */
async function stageCard({ ctx, arg, userId, edit }: Press<"stage"> | Press<"status">): Promise<void> {
  await ctx.answerCallbackQuery();
  const s = await callTool(ctx, "stage_status", { stage: arg });
  if (s) await edit(stageView(s, ctx.carwatch.clock()), { reply_markup: stageMenu(s.name, ctx.carwatch.registry.roleOf(userId)) });
}

/** What each button does, by its action. */
const HANDLERS: Handlers = {
  menu: async ({ ctx, arg, edit }) => {
    await ctx.answerCallbackQuery();
    if (arg === "schemas") {
      const schemas = await callTool(ctx, "list_schemas", {});
      if (schemas) await edit("<b>Schemas</b>", { reply_markup: schemasMenu(schemas.map((s) => s.schema)) });
    } else {
      const stages = await callTool(ctx, "list_stages", {});
      if (stages) await edit(stagesView(stages), { reply_markup: stagesMenu(stages) });
    }
  },
  stage: (p) => stageCard(p),
  status: (p) => stageCard(p),
  runs: async ({ ctx, arg }) => {
    await ctx.answerCallbackQuery();
    const runs = await callTool(ctx, "recent_runs", { stage: arg, limit: 5 });
    if (runs) await ctx.reply(runsView(runs, arg), { parse_mode: "HTML" });
  },
  start: async ({ ctx, arg }) => {
    await ctx.answerCallbackQuery();
    const s = await callTool(ctx, "start_stage", { stage: arg });
    if (s) await ctx.reply(html`▶️ ${s.name} is ${s.state} (run #${s.runId}).`, { parse_mode: "HTML" });
  },
  stop: async ({ ctx, arg }) => {
    await ctx.answerCallbackQuery();
    const s = await callTool(ctx, "stop_stage", { stage: arg }, { prompt: html`Stop <b>${arg}</b>?` });
    if (s) await ctx.reply(html`⏹ ${s.name} is ${s.state}.`, { parse_mode: "HTML" });
  },
  yes: async ({ ctx, arg, userId, edit }) => {
    const pending = ctx.carwatch.confirmations.take(arg, userId);
    if (pending === "unknown") return ctx.answerCallbackQuery({ text: "This confirmation is no longer valid; ask again." });
    if (pending === "not_yours") return ctx.answerCallbackQuery({ text: "Only the person who asked can confirm this." });
    if (pending === "expired") {
      await ctx.answerCallbackQuery({ text: "This confirmation expired; ask again." });
      await edit("⌛ Confirmation expired; nothing was done.");
      return;
    }
    await ctx.answerCallbackQuery({ text: "Working…" });
    if (pending.tool === AGENT_CONFIRMATION) {
      await edit("✅ Confirmed.");
      return decideForAgent(ctx, true);
    }
    await edit(html`⏳ ${pending.tool}…`);
    try {
      // The tool name came from our own pending entry, never from the button.
      const out = await ctx.carwatch.registry.call(
        pending.tool as "stop_stage",
        pending.input,
        { userId, chatId: pending.chatId, via: viaOf(userId) },
        { confirmed: true },
      );
      await edit(confirmedText(pending.tool, out));
    } catch (err) {
      await edit(failureText(err));
    }
  },
  no: async ({ ctx, arg, userId, edit }) => {
    const pending = ctx.carwatch.confirmations.take(arg, userId);
    const cancelled = typeof pending !== "string";
    await ctx.answerCallbackQuery({ text: cancelled ? "Cancelled." : "Nothing to cancel." });
    if (!cancelled) return;
    await edit("✖️ Cancelled; nothing was done.");
    // The model hears the decline, so it does not try again on its own.
    if (pending.tool === AGENT_CONFIRMATION) await decideForAgent(ctx, false);
  },
  schema: async ({ ctx, arg, edit }) => {
    await ctx.answerCallbackQuery();
    const tables = await callTool(ctx, "list_tables", { schema: arg });
    if (tables) await edit(html`<b>${arg}</b>: pick a table`, { reply_markup: tablesMenu(arg) });
  },
  table: async ({ ctx, arg, edit }) => {
    const t = findTable(arg);
    if (!t) return ctx.answerCallbackQuery({ text: STALE });
    await ctx.answerCallbackQuery();
    await edit(html`<b>${qualifiedName(t)}</b> — ${t.doc}`, { reply_markup: tableMenu(qualifiedName(t)) });
  },
  count: async ({ ctx, arg }) => {
    await ctx.answerCallbackQuery();
    const r = await callTool(ctx, "count_rows", { table: arg });
    if (r) await ctx.reply(html`<code>${r.table}</code>: ${r.rows} rows`, { parse_mode: "HTML" });
  },
  describe: async ({ ctx, arg }) => {
    await ctx.answerCallbackQuery();
    const d = await callTool(ctx, "describe_table", { table: arg });
    if (d) await ctx.reply(describeView(d), { parse_mode: "HTML" });
  },
  stats: async ({ ctx, arg }) => {
    await ctx.answerCallbackQuery();
    const t = await callTool(ctx, "table_stats", { table: arg });
    if (t) await ctx.reply(tableStatsView(t), { parse_mode: "HTML" });
  },
  job: async ({ ctx, arg }) => {
    await ctx.answerCallbackQuery();
    const run = await callTool(ctx, "run_job", { job: arg }, { prompt: html`Run the <b>${arg}</b> job now?` });
    if (run) await ctx.reply(jobRunView(run), { parse_mode: "HTML" });
  },
  preview: async ({ ctx, arg }) => {
    const t = findTable(arg);
    if (!t) return ctx.answerCallbackQuery({ text: STALE });
    await ctx.answerCallbackQuery();
    // The table name comes from the catalog entry the button pointed to.
    const r = await callTool(ctx, "query", { sql: `SELECT * FROM ${qualifiedName(t)} LIMIT 5`, maxRows: 5 });
    if (r) await ctx.reply(queryView(r), { parse_mode: "HTML" });
  },
  ack: async ({ ctx, arg }) => {
    const r = await callTool(ctx, "ack_incident", { incidentId: arg });
    if (!r) return ctx.answerCallbackQuery();
    await ctx.answerCallbackQuery({ text: r.alreadyAcked ? "Already acknowledged." : "Acknowledged." });
    const who = ctx.from.username ? `@${ctx.from.username}` : ctx.from.first_name;
    if (!r.alreadyAcked)
      await ctx.reply(html`✔️ Incident <code>${r.incidentId}</code> (car ${r.carId}, ${r.rule}) acknowledged by ${who}.`, { parse_mode: "HTML" });
  },
  mute: async ({ ctx, arg }) => {
    const s = await callTool(ctx, "silence", { incidentId: arg, for: "1h" });
    await ctx.answerCallbackQuery(s ? { text: "Silenced for 1 hour." } : {});
    if (s) await ctx.reply(silenceView(s), { parse_mode: "HTML" });
  },
};

/**
 * Inline buttons: one callbackQuery handler per action. Every press is
 * answered (Telegram shows a spinner until then); data that does not parse
 * is stale or forged and gets a polite answer; every action goes through the
 * tool registry, so a button can do no more than the same user's command.
 */
export const callbacks = new Composer<CarwatchContext>();
for (const action of Object.keys(HANDLERS) as (keyof Handlers)[]) {
  callbacks.callbackQuery(new RegExp(`^${action}:`), (ctx) => {
    const data = decodeCallback(ctx.callbackQuery.data);
    if (data?.action !== action) return ctx.answerCallbackQuery({ text: STALE });
    const edit: Edit = (text, markup) =>
      ctx.editMessageText(text, { parse_mode: "HTML", ...markup }).catch((err: unknown) => {
        // "message is not modified" when a menu is pressed twice: nothing to do.
        ctx.carwatch.log.debug({ err }, "editMessageText failed");
      });
    const handler = HANDLERS[action] as (p: Press<keyof Handlers>) => Promise<unknown>;
    return handler({ ctx, arg: data.arg, userId: ctx.from.id, edit });
  });
}
callbacks.on("callback_query:data", (ctx) => ctx.answerCallbackQuery({ text: STALE }));

function confirmedText(tool: string, out: unknown): string {
  if (tool === "stop_all" && Array.isArray(out)) return html`⏹ Stopped ${out.length} stages.`;
  if (tool === "compact_table") return maintenanceView(out as MaintenanceReport);
  if (tool === "run_job") return jobRunView(out as JobRun);
  if (tool === "import_fleet") return `Imported.\n${fleetPlanView(out as FleetPlan)}`;
  if (tool === "retire_car") return html`Car ${(out as { carId: number }).carId} is retired: its readings are refused from now on.`;
  if (tool.endsWith("_rule")) return ruleChangedView(tool, out as RuleView);
  if (tool === "revoke_token") return html`Token #${(out as ApiToken).id} (${(out as ApiToken).name}) is revoked.`;
  const s = out as { name?: string; state?: string };
  return html`✅ Done: ${s.name ?? tool} is ${s.state ?? "done"}.`;
}
