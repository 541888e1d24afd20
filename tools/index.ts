import { ALERT_TOOLS } from "./alerts.js";
import { CHART_TOOLS } from "./charts.js";
import { DASHBOARD_TOOLS } from "./dashboards.js";
import { DATA_TOOLS } from "./data.js";
import { FLEET_TOOLS } from "./fleet.js";
import { MAINTENANCE_TOOLS } from "./maintenance.js";
import { type ToolContext, ToolRegistry } from "./registry.js";
import { RULE_TOOLS } from "./rules.js";
import { SESSION_TOOLS } from "./session.js";
import { STAGE_TOOLS } from "./stages.js";
import { TOKEN_TOOLS } from "./tokens.js";

/** Every tool, in the order menus and the agent list them. */
export const TOOLS = [
  ...STAGE_TOOLS,
  ...DATA_TOOLS,
  ...FLEET_TOOLS,
  ...ALERT_TOOLS,
  ...RULE_TOOLS,
  ...CHART_TOOLS,
  ...DASHBOARD_TOOLS,
  ...MAINTENANCE_TOOLS,
  ...SESSION_TOOLS,
  ...TOKEN_TOOLS,
] as const;
export type Tools = typeof TOOLS;
export type Registry = ToolRegistry<Tools>;

export function createRegistry(ctx: ToolContext): Registry {
  return new ToolRegistry(TOOLS, ctx);
}
