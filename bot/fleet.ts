import { Composer } from "grammy";
import { errorMessage } from "../core/errors.js";
import type { FleetPlan } from "../tools/fleet.js";
import type { CarwatchContext } from "./context.js";
import { html, preTable } from "./format.js";
import { callTool, replyHtml } from "./reply.js";

const USAGE = [
  "/fleet — the active cars; /fleet all | retired",
  "/fleet import — followed, on the next lines of the same message, by CSV with the header car_id,brand,model,color,driver_id[,name,plate]; or send a CSV or JSON file with the caption /fleet import",
  "/fleet retire ID",
].join("\n");

export function fleetPlanView(p: FleetPlan): string {
  const lines = [
    html`<b>${p.rows} cars</b> read: ${p.newCars} new, ${p.changedCars} changed, ${p.unchangedCars} unchanged.`,
    ...(p.newModels.length > 0 ? [html`New models: ${p.newModels.join(", ")}`] : []),
    ...(p.newColors.length > 0 ? [html`New colors: ${p.newColors.join(", ")}`] : []),
    ...(p.errors.length > 0 ? [html`<b>${p.errors.length} bad rows</b>:`, ...p.errors.slice(0, 10).map((e) => html`line ${e.line}: ${e.reason}`)] : []),
  ];
  return lines.join("\n");
}

const MAX_FILE_BYTES = 8 << 20;

/** Previews an import, then asks: the confirmation button applies it (bot/callbacks.ts shows the result). */
async function importFile(ctx: CarwatchContext, content: string, format: "csv" | "json"): Promise<void> {
  const preview = await callTool(ctx, "preview_fleet_import", { format, content });
  if (!preview) return;
  if (preview.rows === 0) return void (await replyHtml(ctx, `${fleetPlanView(preview)}\nNothing to import.`));
  const applyGoodRows = preview.errors.length > 0;
  const question = applyGoodRows ? html`Apply the ${preview.rows} good rows?` : "Import these cars?";
  await callTool(ctx, "import_fleet", { format, content, applyGoodRows }, { prompt: `${fleetPlanView(preview)}\n${question}` });
}

/** /fleet: the operator's cars from chat; an import (CSV below the command, or a file sent with it as caption) is previewed, then confirmed. */
export const fleet = new Composer<CarwatchContext>();
fleet.on("message:document", async (ctx, next) => {
  if (!/^\/fleet(@\w+)?\s+import\b/.test(ctx.msg.caption ?? "")) return next();
  const doc = ctx.msg.document;
  if ((doc.file_size ?? 0) > MAX_FILE_BYTES) return void (await ctx.reply(`The file is larger than ${MAX_FILE_BYTES >> 20} MiB.`));
  let content: string;
  try {
    const file = await ctx.getFile();
    if (!file.file_path) throw new Error("Telegram gave no path for the file");
    content = (await ctx.carwatch.download(file.file_path)).toString("utf8");
  } catch (err) {
    return void (await ctx.reply(`Could not read the file: ${errorMessage(err)}`));
  }
  await importFile(ctx, content, /\.json$/i.test(doc.file_name ?? "") || doc.mime_type === "application/json" ? "json" : "csv");
});
fleet.command("fleet", async (ctx) => {
  const text = typeof ctx.match === "string" ? ctx.match : "";
  const [first = "", ...restLines] = text.split("\n");
  const [verb, arg] = first.trim().split(/\s+/);
  if (verb === "import") {
    const content = restLines.join("\n").trim();
    if (!content) return void (await ctx.reply(USAGE));
    return importFile(ctx, content, "csv");
  }
  if (verb === "retire" && arg) {
    await callTool(ctx, "retire_car", { carId: arg }, { prompt: html`Retire car ${arg}? Its readings are refused from now on.` });
    return;
  }
  if (verb && !["all", "retired", "active"].includes(verb)) return void (await ctx.reply(USAGE));
  const cars = await callTool(ctx, "list_cars", { status: verb ?? "active", limit: 50 });
  if (!cars) return;
  const rows = cars.map((c) => [c.car_id, c.name ?? c.plate ?? "", `${c.brand} ${c.model}`, c.color, c.retired_at ? "retired" : ""]);
  await replyHtml(
    ctx,
    cars.length === 0 ? `No cars.\n${USAGE}` : `<b>Fleet</b> (first ${cars.length})\n${preTable(["car", "name", "model", "color", ""], rows)}`,
  );
});
