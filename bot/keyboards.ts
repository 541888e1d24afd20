import { InlineKeyboard, Keyboard } from "grammy";
import type { StageStatus } from "../domain/stage-status.js";
import { qualifiedName, TABLE_LIST } from "../domain/tables.js";
import { hasRole, type Role } from "../tools/roles.js";
import { encodeCallback as cb } from "./callback-data.js";

/** The reply-keyboard main menu: its labels are matched as text by the bot. */
export const MENU = {
  stages: "📊 Stages",
  alerts: "🚨 Alerts",
  data: "🗄 Data",
  maintenance: "🧰 Maintenance",
  whoami: "👤 Who am I",
  help: "❓ Help",
} as const;

export function mainMenu(): Keyboard {
  return new Keyboard()
    .text(MENU.stages)
    .text(MENU.alerts)
    .row()
    .text(MENU.data)
    .text(MENU.maintenance)
    .row()
    .text(MENU.whoami)
    .text(MENU.help)
    .resized()
    .persistent();
}

export function jobsMenu(jobs: readonly string[]): InlineKeyboard {
  const kb = new InlineKeyboard();
  for (const j of jobs) kb.text(`▶️ ${j}`, cb("job", j));
  return kb;
}

export function stagesMenu(stages: readonly StageStatus[]): InlineKeyboard {
  const kb = new InlineKeyboard();
  stages.forEach((s, i) => {
    kb.text(s.name, cb("stage", s.name));
    if (i % 2 === 1) kb.row();
  });
  return kb;
}

export function stageMenu(stage: string, role: Role | null): InlineKeyboard {
  const kb = new InlineKeyboard();
  if (hasRole(role, "operator")) kb.text("▶️ Start", cb("start", stage)).text("⏹ Stop", cb("stop", stage)).row();
  return kb.text("ℹ️ Status", cb("status", stage)).text("🕘 Recent runs", cb("runs", stage)).row().text("⬅️ Stages", cb("menu", "stages"));
}

export function schemasMenu(schemas: readonly string[]): InlineKeyboard {
  const kb = new InlineKeyboard();
  for (const s of schemas) kb.text(s, cb("schema", s));
  return kb;
}

export function tablesMenu(schema: string): InlineKeyboard {
  const kb = new InlineKeyboard();
  for (const t of TABLE_LIST.filter((t) => t.schema === schema)) kb.text(t.name, cb("table", qualifiedName(t))).row();
  return kb.text("⬅️ Schemas", cb("menu", "schemas"));
}

export function tableMenu(table: string): InlineKeyboard {
  const schema = table.split(".")[0]!;
  return new InlineKeyboard()
    .text("🔢 Count", cb("count", table))
    .text("📋 Describe", cb("describe", table))
    .text("👀 Preview", cb("preview", table))
    .row()
    .text("📦 Size", cb("stats", table))
    .text("⬅️ Tables", cb("schema", schema));
}

export function confirmMenu(token: string): InlineKeyboard {
  return new InlineKeyboard().text("✅ Yes, do it", cb("yes", token)).text("✖️ Cancel", cb("no", token));
}

export function incidentMenu(incidentId: string): InlineKeyboard {
  return new InlineKeyboard().text("✔️ Acknowledge", cb("ack", incidentId)).text("🔕 Silence 1 h", cb("mute", incidentId));
}
